"""playbooks/bursting.yml, run by ansible-playbook as an admin runs it: it writes the
instance's ec2_driver.conf and partner_driver.conf (mode 600, credentials from Ansible
Vault or the environment, never from the inventory in clear) and adds each region and
partner as a host; a second run changes nothing. The region is a real moto_server."""

from __future__ import annotations

import os
import re
import stat
import subprocess

import yaml
from conftest import REPO, VENV_BIN, instance_env
from support.moto import MotoServer
from support.plays import ok, sqlite_only
from support.ports import free_port

from ansible_collections.onekit.cloud.plugins.module_utils.core.states import HostState
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts

VAULT_PASSWORD = "vault-pw"


def vaulted(tmp_path, value: str) -> str:
    """``ansible-vault encrypt_string``'s YAML for ``value`` (the value indented)."""
    pw = tmp_path / "vault-pass"
    pw.write_text(VAULT_PASSWORD)
    out = subprocess.run(
        [str(VENV_BIN / "ansible-vault"), "encrypt_string", "--vault-password-file", str(pw),
         value],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip()


def run(instance: Instance, tmp_path, extra_vars: str, env: dict) -> subprocess.CompletedProcess:
    vars_file = tmp_path / "bursting.yml"
    vars_file.write_text(extra_vars)
    return subprocess.run(
        [
            str(VENV_BIN / "ansible-playbook"), "-i", str(REPO / "inventories" / "local"),
            str(REPO / "playbooks" / "bursting.yml"), "-e", f"@{vars_file}",
            "--vault-password-file", str(tmp_path / "vault-pass"),
        ],
        capture_output=True, text=True, timeout=300,
        env={**instance_env(instance), **env},
    )  # fmt: skip


@sqlite_only
def test_the_playbook_writes_the_regions_and_adds_them_as_hosts(
    instance: Instance, admin, moto: MotoServer, tmp_path
):
    secret = vaulted(tmp_path, "s3cret-from-vault")
    extra_vars = f"""
bursting_regions:
  - name: us-east-1
    endpoint_url: {moto.url}
    capacity: {{m1.small: 5}}
  - name: eu-west-1
    endpoint_url: {moto.url}
    capacity: {{m1.large: 2}}
    access_key_id: AKIAVAULTED
    secret_access_key: {secret}
bursting_partners:
  - name: partner
    endpoint: http://127.0.0.1:{free_port()}
    user: burst
    password: {secret}
    capacity: {{cpu: 8, memory: 16384}}
"""
    env = {"AWS_ACCESS_KEY_ID": "AKIAFROMENV", "AWS_SECRET_ACCESS_KEY": "from-the-env"}
    first = ok(run(instance, tmp_path, extra_vars, env))
    assert "s3cret-from-vault" not in first.stdout + first.stderr  # no_log
    assert "from-the-env" not in first.stdout + first.stderr

    conf = instance.home / "etc" / "ec2_driver.conf"
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o600
    regions = yaml.safe_load(conf.read_text())["regions"]
    assert regions["us-east-1"]["access_key_id"] == "AKIAFROMENV"
    assert regions["us-east-1"]["secret_access_key"] == "from-the-env"
    assert regions["eu-west-1"]["secret_access_key"] == "s3cret-from-vault"
    assert regions["eu-west-1"]["region_name"] == "eu-west-1"

    east, west = hosts.show(admin, "us-east-1"), hosts.show(admin, "eu-west-1")
    assert (east["VM_MAD"], east["STATE"]) == ("ec2", HostState.MONITORED), east["TEMPLATE"]
    assert east["HOST_SHARE"]["MAX_CPU"] == 500  # 5 x m1.small
    assert west["HOST_SHARE"]["MAX_CPU"] == 400  # 2 x m1.large
    assert east["TEMPLATE"]["PUBLIC_CLOUD"] == "YES"

    partners = instance.home / "etc" / "partner_driver.conf"
    assert stat.S_IMODE(os.stat(partners).st_mode) == 0o600
    entry = yaml.safe_load(partners.read_text())["partner"]
    assert (entry["user"], entry["password"]) == ("burst", "s3cret-from-vault")
    assert entry["capacity"] == {"cpu": 8, "memory": 16384}
    partner = hosts.show(admin, "partner")  # its server is not there: ERROR, named
    assert (partner["VM_MAD"], partner["STATE"]) == ("onekit", HostState.ERROR)

    again = ok(run(instance, tmp_path, extra_vars, env))
    assert re.search(r"changed=0\b", again.stdout), again.stdout


@sqlite_only
def test_a_region_without_credentials_fails_before_anything_is_written(
    instance: Instance, admin, moto: MotoServer, tmp_path
):
    vaulted(tmp_path, "unused")  # the vault password file the run names
    extra_vars = f"bursting_regions:\n  - name: us-east-1\n    endpoint_url: {moto.url}\n"
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    result = run(instance, tmp_path, extra_vars, env)
    assert result.returncode != 0
    assert "region us-east-1: no EC2 credentials" in result.stdout
    assert not (instance.home / "etc" / "ec2_driver.conf").exists()
    assert hosts.list_hosts(admin) == []

"""A federation of three zones on this machine, made by the real playbook
(``playbooks/federation.yml`` with ``inventories/federation-local``) on three real MariaDB
servers: users, groups and zones are shared through MySQL replication, writes on a slave
go to the master, VMs stay in their zone, and a slave keeps working while the master's
database is down."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import created_id
from support.federation import LocalFederation
from support.mariadb import PASSWORD, USER

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import NotFound
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import mysql_config
from ansible_collections.onekit.cloud.plugins.module_utils.objects import users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import vms


@pytest.fixture
def federation() -> Iterator[LocalFederation]:
    fed = LocalFederation(Path(tempfile.mkdtemp(prefix="okfed-", dir="/tmp")))
    try:
        yield fed.start()
    finally:
        fed.stop()


def ok(result) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def recap(stdout: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP: host -> {ok, changed, failed, ...}."""
    found = {}
    for host, counts in re.findall(r"^(zone-\w+)\s+:\s+(.*)$", stdout, re.M):
        found[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return found


def eventually(check, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except NotFound:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def user_in(fed: LocalFederation, zone: str, name: str) -> dict:
    session = fed.instance(zone).session()
    try:
        return users.show(session, name)
    finally:
        session.db.close()


def test_the_playbook_makes_a_federation_that_shares_users_and_keeps_vms_local(federation):
    fed = federation
    first = fed.playbook("--limit", "zone-a,zone-b")  # a master and one slave first
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert not fed.instance("zone-c").home.exists()
    grown = fed.playbook()  # the same playbook with one more host: zone-c joins
    assert grown.returncode == 0, grown.stdout[-4000:] + grown.stderr[-2000:]
    assert recap(grown.stdout)["zone-b"]["changed"] == 0
    again = fed.playbook()
    assert again.returncode == 0, again.stdout[-4000:]
    assert {host: counts["changed"] for host, counts in recap(again.stdout).items()} == {
        "zone-a": 0,
        "zone-b": 0,
        "zone-c": 0,
    }, again.stdout[-3000:]

    # every zone sees the three zones, written on the master
    listed = ok(fed.cli("zone-c", "onezone", "list")).splitlines()[1:]
    assert [row.split()[-3:-1] for row in listed] == [
        ["0", "OpenNebula"],
        ["100", "zone-b"],
        ["101", "zone-c"],
    ]
    assert "FEDERATION" in fed.instance("zone-b").config_path.read_text()
    assert fed.instance("zone-b").config().federation.zone_id == 100

    # a user made on the master appears in every zone
    alice = created_id(fed.cli("zone-a", "oneuser", "create", "alice", "pw"))
    for zone in ("zone-b", "zone-c"):
        assert (
            eventually(lambda z=zone: user_in(fed, z, "alice"), f"alice in {zone}")["ID"] == alice
        )
    # one made through a slave is proxied to the master, and replicated everywhere
    bob = created_id(fed.cli("zone-b", "oneuser", "create", "bob", "pw"))
    assert user_in(fed, "zone-a", "bob")["ID"] == bob
    assert eventually(lambda: user_in(fed, "zone-c", "bob"), "bob in zone-c")["ID"] == bob
    # and can log in on any zone
    bob_auth = fed.base / "bob_auth"
    bob_auth.write_text("bob:pw\n")
    assert "bob" in ok(fed.cli("zone-c", "oneuser", "show", env={"ONE_AUTH": str(bob_auth)}))

    # a VM made in a slave zone is that zone's: the master's vm table does not have it
    tpl = fed.base / "small.tmpl"
    tpl.write_text('NAME = "small"\nCPU = 0.1\nMEMORY = 32\n')
    ok(fed.cli("zone-b", "onetemplate", "create", str(tpl)))
    made = ok(fed.cli("zone-b", "onetemplate", "instantiate", "small", "--hold"))
    vm_id = int(re.search(r"VM ID: (\d+)", made).group(1))
    master_rows = fed.mysql["zone-a"].execute("SELECT COUNT(*) FROM vm_pool", "opennebula")
    assert master_rows == [(0,)]
    slave_session = fed.instance("zone-b").session()
    assert vms.show(slave_session, vm_id)["NAME"].startswith("small")
    slave_session.db.close()
    # ...and the master's CLI reaches it after `onezone set`
    ok(fed.cli("zone-a", "onezone", "set", "zone-b"))
    assert f"{vm_id} " in ok(fed.cli("zone-a", "onevm", "list"))
    ok(fed.cli("zone-a", "onezone", "set", "0"))
    assert "small" not in ok(fed.cli("zone-a", "onevm", "list"))

    # the master's database goes down: the slave reads and works locally; shared writes fail
    fed.mysql["zone-a"].stop()
    assert "alice" in ok(fed.cli("zone-b", "oneuser", "list"))
    ok(fed.cli("zone-b", "onevm", "release", str(vm_id)))
    refused = fed.cli("zone-b", "oneuser", "create", "carol", "pw")
    assert refused.returncode == 1 and refused.stderr.startswith("oneuser create: "), refused
    # whose store is down: the master's, not the slave's own
    assert "the federation master at http://" in refused.stderr, refused.stderr
    assert "cannot use its store: cannot reach MySQL" in refused.stderr, refused.stderr
    with pytest.raises(NotFound):
        user_in(fed, "zone-b", "carol")

    # it comes back: replication catches up, nothing written before is lost
    fed.mysql["zone-a"].start()
    dave = created_id(fed.cli("zone-b", "oneuser", "create", "dave", "pw"))
    for zone in ("zone-b", "zone-c"):
        assert eventually(lambda z=zone: user_in(fed, z, "dave"), f"dave in {zone}")["ID"] == dave
        assert user_in(fed, zone, "alice")["ID"] == alice


def test_a_failed_set_up_stops_at_its_task_and_the_next_run_finishes(federation):
    """Wrong MySQL credentials, then the master's server down: each run stops at the task
    that met the problem, with MySQL's own error; once it is fixed, a run completes."""
    fed = federation
    bad = fed.playbook(env={"ONEKIT_FEDERATION_MYSQL_PASSWORD": "not-the-password"})
    assert bad.returncode != 0
    assert "Read the master's binary log" in bad.stdout and "Access denied" in bad.stdout

    fed.mysql["zone-a"].stop()
    down = fed.playbook()
    assert down.returncode != 0
    assert "Can't connect" in down.stdout or "2003" in down.stdout, down.stdout[-3000:]
    fed.mysql["zone-a"].start()

    # zone-b's front-end is a standalone instance with a user of its own: replicating
    # would overwrite it, so the run stops and says to import it first
    standalone = fed.instance("zone-b")
    server = fed.mysql["zone-b"]
    port = int(fed.env["ONEKIT_FEDERATION_ZONE_B_PORT"])
    standalone.init(
        mysql_config(
            "127.0.0.1", server.port, USER, PASSWORD, "opennebula", InstanceConfig(port=port)
        )
    )
    users.create(standalone.session(), "mallory", "pw")
    refused = fed.playbook()
    assert refused.returncode != 0
    assert "mallory" in refused.stdout and "onedb import-slave" in refused.stdout
    users.delete(standalone.session(), "mallory")

    done = fed.playbook()
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert user_in(fed, "zone-c", "oneadmin")["ID"] == 0
    assert not list(fed.base.glob("*/shared-tables.sql"))  # the dumps hold hashes: gone

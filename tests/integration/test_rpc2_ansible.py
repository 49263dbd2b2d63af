"""community.general's OpenNebula modules (one_template, one_host, one_vm) and its
opennebula inventory plugin, from the ``ansible`` PyPI package and unmodified, run by
real ``ansible-playbook`` and ``ansible-inventory`` against /RPC2; and, through pyone,
what they rely on that the playbooks cannot show: the cluster and the datastores
onekit presents, the refusals of one.vm.rename/updateconf/disksaveas."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyone
import pytest
from pyone import bindings
from support.cloud import wait
from support.rpc2 import validate
from support.stores import sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    HostState,
    Lcm,
    VmState,
)
from ansible_collections.onekit.cloud.plugins.module_utils.vm import vms
from onekit.server.rpc2.documents import vms as documents

# community.general's modules behave the same on either store, and these ansible-playbook
# runs are among the suite's slowest: SQLite alone here (pyone covers MariaDB in the other
# test_rpc2*.py files)
pytestmark = sqlite_only  # an adapter's tests: see support.stores

PYTHON = sys.executable  # the venv's: pyone is there
NETWORK = (
    'NAME = "pub"\nBRIDGE = "br0"\nTYPE = "RANGED"\nIP_START = "10.9.0.10"\nIP_END = "10.9.0.40"\n'
)
DATABLOCK = 'NAME = "blk"\nTYPE = "DATABLOCK"\nSIZE = 1\n'
WEB = 'CPU = 0.1\nVCPU = 1\nMEMORY = 32\nNIC = [ NETWORK = "pub" ]\n'


class Ansible:
    """ansible-playbook and ansible-inventory as a user runs them, as oneadmin through
    ONE_URL/ONE_USERNAME/ONE_PASSWORD (the OpenNebula modules' environment)."""

    def __init__(self, rpc2, work: Path):
        self.rpc2 = rpc2
        self.work = work
        user, password = rpc2.session_of("oneadmin").split(":", 1)
        self.credentials = {
            "api_url": rpc2.endpoint,
            "api_username": user,
            "api_password": password,
        }
        self.env = rpc2.env(
            ONE_URL=rpc2.endpoint,
            ONE_USERNAME=user,
            ONE_PASSWORD=password,
            ANSIBLE_HOME=str(work / "ansible-home"),
            ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
            ANSIBLE_NOCOLOR="1",
        )
        (work / "hosts").write_text(
            f"localhost ansible_connection=local ansible_python_interpreter={PYTHON}\n"
        )
        self.runs = 0

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            args, capture_output=True, text=True, env=self.env, cwd=self.work, timeout=600
        )

    def play(self, tasks: str) -> dict[str, dict[str, Any]]:
        """Run ``tasks`` (YAML, indented by 4) in one play on localhost; each task's
        result by its name. Fails the test if the play fails where no task ignores it."""
        self.runs += 1
        playbook = self.work / f"play{self.runs}.yml"
        playbook.write_text(f"- hosts: localhost\n  gather_facts: false\n  tasks:\n{tasks}")
        done = self._run("ansible-playbook", "-i", "hosts", playbook.name)
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"ansible-playbook: {done.stderr}{done.stdout}") from None
        results = {t["task"]["name"]: t["hosts"]["localhost"] for t in report["plays"][0]["tasks"]}
        assert done.returncode == 0, json.dumps(results, indent=1)[-3000:]
        return results

    def inventory(self) -> dict[str, Any]:
        source = self.work / "cloud.opennebula.yml"
        config = {"plugin": "community.general.opennebula", **self.credentials}
        source.write_text(json.dumps(config))  # JSON is YAML: the password stays data
        done = self._run("ansible-inventory", "-i", source.name, "--list")
        assert done.returncode == 0, done.stderr
        return _plain(json.loads(done.stdout))


def _plain(value: Any) -> Any:
    """ansible-inventory's JSON with its ``__ansible_unsafe`` wrappers taken off."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@pytest.fixture(scope="module")
def ansible(rpc2, tmp_path_factory: pytest.TempPathFactory) -> Ansible:
    """The cloud with a network ``pub`` and a DATABLOCK image ``blk`` (made with the
    CLIs), and a second host ``sim-b`` on the embedded host's simulated hypervisor."""
    work = tmp_path_factory.mktemp("ansible")
    (work / "net.tmpl").write_text(NETWORK)
    (work / "blk.tmpl").write_text(DATABLOCK)
    rpc2.run("onevnet", "create", str(work / "net.tmpl"))
    rpc2.run("oneimage", "create", str(work / "blk.tmpl"))
    uri = next(
        line.split(":", 1)[1].strip()
        for line in rpc2.run("onehost", "show", "localhost").stdout.splitlines()
        if line.startswith("URI")
    )
    rpc2.run("onehost", "create", "sim-b", "--uri", uri)
    return Ansible(rpc2, work)


def _vms(one, **attributes: str) -> list:
    """The VMs that are not DONE whose USER_TEMPLATE has ``attributes``."""
    return [
        vm
        for vm in one.vmpool.infoextended(-2, -1, -1, -1).VM
        if all(vm.USER_TEMPLATE.get(k) == v for k, v in attributes.items())
    ]


def _state(one, vm_id: int) -> tuple[int, int]:
    vm = one.vm.info(vm_id)
    return vm.STATE, vm.LCM_STATE


def _templates(one) -> dict[str, Any]:
    return {t.NAME: t for t in one.templatepool.info(-2, -1, -1).VMTEMPLATE}


def test_one_template_creates_updates_and_removes_a_template(ansible, rpc2):
    one = rpc2.one()
    results = ansible.play(
        """
    - name: create
      community.general.one_template:
        name: tpl-a
        template: |
          CPU = 1
          MEMORY = 64
          NOTE = "{{ '{{' }} 7*7 }}"
    - name: same again
      community.general.one_template:
        name: tpl-a
        template: |
          CPU = 1
          MEMORY = 64
          NOTE = "{{ '{{' }} 7*7 }}"
    - name: update (check)
      community.general.one_template: {name: tpl-a, template: "CPU = 2\\nMEMORY = 128\\n"}
      check_mode: true
"""
    )
    created = results["create"]
    assert created["changed"] is True and created["name"] == "tpl-a"
    assert created["template"] == {"NAME": "tpl-a", "CPU": "1", "MEMORY": "64", "NOTE": "{{ 7*7 }}"}
    assert results["same again"]["changed"] is False
    assert results["update (check)"]["changed"] is True  # the module cannot tell in check mode
    template = _templates(one)["tpl-a"]  # nothing the check-mode tasks did is stored
    assert (template.ID, template.TEMPLATE["MEMORY"]) == (created["id"], "64")
    assert template.TEMPLATE["NOTE"] == "{{ 7*7 }}"

    results = ansible.play(
        """
    - name: update
      community.general.one_template: {name: tpl-a, template: "CPU = 2\\nMEMORY = 128\\n"}
    - name: absent (check)
      community.general.one_template: {name: tpl-a, state: absent}
      check_mode: true
    - name: seen before absent
      community.general.one_template: {name: tpl-a, template: "CPU = 2\\nMEMORY = 128\\n"}
    - name: absent
      community.general.one_template: {name: tpl-a, state: absent}
    - name: absent again
      community.general.one_template: {name: tpl-a, state: absent}
    - name: unknown id
      community.general.one_template: {id: 9999, template: "CPU = 1\\nMEMORY = 8\\n"}
      ignore_errors: true
"""
    )
    assert results["update"]["changed"] is True
    assert results["update"]["template"] == {"CPU": "2", "MEMORY": "128", "NAME": "tpl-a"}
    assert results["absent (check)"]["changed"] is True
    assert results["seen before absent"]["id"] == created["id"]  # still there
    assert results["seen before absent"]["changed"] is False
    assert (results["absent"]["changed"], results["absent again"]["changed"]) == (True, False)
    assert results["unknown id"]["msg"] == "There is no template with id=9999"
    assert "tpl-a" not in _templates(one)


def test_one_host_changes_a_hosts_state_and_attributes_in_cluster_default(ansible, rpc2):
    one = rpc2.one()
    host_id = next(h.ID for h in one.hostpool.info().HOST if h.NAME == "sim-b")
    results = ansible.play(
        """
    - name: labels
      community.general.one_host:
        name: sim-b
        labels: [gold, ssd]
        template: {NOTE: !unsafe "{{ 7*7 }}"}
    - name: labels again
      community.general.one_host:
        name: sim-b
        labels: [gold, ssd]
        template: {NOTE: !unsafe "{{ 7*7 }}"}
        cluster_name: default
    - name: disabled
      community.general.one_host: {name: sim-b, state: disabled}
    - name: disabled again
      community.general.one_host: {name: sim-b, state: disabled}
"""
    )
    # cluster 0 holds every host: present with the default cluster_id changes nothing more
    assert [results[t]["changed"] for t in ("labels", "labels again")] == [True, False]
    assert [results[t]["changed"] for t in ("disabled", "disabled again")] == [True, False]
    host = one.host.info(host_id)
    assert (host.STATE, host.CLUSTER_ID, host.CLUSTER) == (HostState.DISABLED, 0, "default")
    assert (host.TEMPLATE["LABELS"], host.TEMPLATE["NOTE"]) == ("gold, ssd", "{{ 7*7 }}")

    results = ansible.play(
        """
    - name: enabled
      community.general.one_host: {name: sim-b, state: enabled}
    - name: another cluster
      community.general.one_host: {name: sim-b, cluster_id: 5}
      ignore_errors: true
    - name: unreachable
      community.general.one_host: {name: nowhere.invalid, im_mad_name: kvm, vmm_mad_name: kvm}
      ignore_errors: true
    - name: remove unreachable
      community.general.one_host: {name: nowhere.invalid, state: absent}
    - name: remove
      community.general.one_host: {name: sim-b, state: absent}
    - name: remove again
      community.general.one_host: {name: sim-b, state: absent}
"""
    )
    assert results["enabled"]["changed"] is True  # it waited for MONITORED
    assert "cluster 5 does not exist" in results["another cluster"]["msg"]
    # a new host is qemu+ssh://<name>/system: monitoring finds nobody there
    assert results["unreachable"]["msg"] == "invalid host state ERROR"
    assert results["remove unreachable"]["changed"] is True
    assert (results["remove"]["changed"], results["remove again"]["changed"]) == (True, False)
    assert [h.NAME for h in one.hostpool.info().HOST] == ["localhost"]


def test_one_vm_deploys_an_exact_count_once_and_the_inventory_lists_it(ansible, rpc2):
    one = rpc2.one()
    ansible.play(
        f"""
    - name: template
      community.general.one_template: {{name: web, template: {json.dumps(WEB)}}}
"""
    )
    deploy = """
      community.general.one_vm:
        template_name: web
        exact_count: 2
        count_attributes: {ROLE: web}
        attributes: {NAME: "web-#", ROLE: web, NOTE: !unsafe "{{ 7*7 }}"}
        labels: [front]
        wait: true
"""
    results = ansible.play(
        f"""
    - name: deploy (check){deploy}      check_mode: true
    - name: deploy{deploy}
    - name: deploy again{deploy}
    - name: unknown template
      community.general.one_vm: {{template_name: no-such-template}}
      ignore_errors: true
"""
    )
    assert results["deploy (check)"]["changed"] is True
    deployed = results["deploy"]
    assert deployed["changed"] is True and len(deployed["instances"]) == 2
    assert {(i["vm_name"], i["state"], i["lcm_state"]) for i in deployed["instances"]} == {
        ("web-0", "ACTIVE", "RUNNING"),
        ("web-1", "ACTIVE", "RUNNING"),
    }
    first = deployed["instances"][0]
    assert first["attributes"] == {"ROLE": "web", "NOTE": "{{ 7*7 }}"}
    assert (first["labels"], first["memory"], first["vcpu"]) == (["front"], "32 MB", "1")
    assert first["networks"][0]["name"] == "pub" and first["networks"][0]["ip"].startswith(
        "10.9.0."
    )
    again = results["deploy again"]
    assert again["changed"] is False and again["instances"] == []
    assert sorted(i["vm_id"] for i in again["tagged_instances"]) == sorted(
        deployed["instances_ids"]
    )
    assert results["unknown template"]["msg"] == "There is no template with name: no-such-template"
    web = _vms(one, ROLE="web")
    assert sorted(vm.ID for vm in web) == sorted(deployed["instances_ids"])  # check mode made none
    assert {vm.USER_TEMPLATE["NOTE"] for vm in web} == {"{{ 7*7 }}"}

    listed = ansible.inventory()
    ips = {vm.NAME: vm.TEMPLATE["NIC"]["IP"] for vm in web}
    assert sorted(listed["front"]["hosts"]) == ["web-0", "web-1"]
    for name, ip in ips.items():
        facts = listed["_meta"]["hostvars"][name]
        assert (facts["ansible_host"], facts["v4_first_ip"]) == (ip, ip)
        assert (facts["ROLE"], facts["NOTE"], facts["LABELS"]) == ("web", "{{ 7*7 }}", ["front"])
        assert facts["host"] in ("localhost", "sim-b")


def test_one_vm_powers_off_reconfigures_resumes_and_terminates(ansible, rpc2):
    one = rpc2.one()
    ansible.play(
        f"""
    - name: template
      community.general.one_template: {{name: life, template: {json.dumps(WEB)}}}
"""
    )
    results = ansible.play(
        """
    - name: deploy
      community.general.one_vm:
        template_name: life
        exact_count: 1
        count_attributes: {ROLE: life}
      register: made
    - name: poweroff (check)
      community.general.one_vm:
        instance_ids: "{{ made.tagged_instances | map(attribute='vm_id') }}"
        state: poweredoff
      check_mode: true
"""
    )
    vm_id = results["deploy"]["tagged_instances"][0]["vm_id"]
    assert results["poweroff (check)"]["changed"] is True
    assert _state(one, vm_id) == (VmState.ACTIVE, Lcm.RUNNING)

    ids = f"instance_ids: [{vm_id}]"
    results = ansible.play(
        f"""
    - name: poweroff
      community.general.one_vm: {{{ids}, state: poweredoff, hard: true}}
    - name: poweroff again
      community.general.one_vm: {{{ids}, state: poweredoff}}
    - name: updateconf
      community.general.one_vm:
        {ids}
        updateconf:
          OS: {{ARCH: x86_64, BOOT: hd}}
          GRAPHICS: {{TYPE: vnc, LISTEN: 127.0.0.1}}
    - name: running
      community.general.one_vm: {{{ids}, state: running}}
    - name: running again
      community.general.one_vm: {{{ids}, state: running}}
    - name: absent (check)
      community.general.one_vm: {{{ids}, state: absent}}
      check_mode: true
"""
    )
    changed = [
        results[t]["changed"]
        for t in ("poweroff", "poweroff again", "updateconf", "running", "running again")
    ]
    assert changed == [True, False, True, True, False]
    assert results["poweroff"]["instances"][0]["state"] == "POWEROFF"
    assert results["updateconf"]["instances"][0]["updateconf"] == {
        "OS": {"ARCH": "x86_64", "BOOT": "hd"},
        "GRAPHICS": {"TYPE": "vnc", "LISTEN": "127.0.0.1"},
    }
    assert results["running"]["instances"][0]["lcm_state"] == "RUNNING"
    assert results["absent (check)"]["changed"] is True
    vm = one.vm.info(vm_id)
    assert (vm.STATE, vm.LCM_STATE) == (VmState.ACTIVE, Lcm.RUNNING)
    assert vm.TEMPLATE["OS"] == {"ARCH": "x86_64", "BOOT": "hd"}
    assert vm.TEMPLATE["GRAPHICS"]["TYPE"] == "vnc"

    results = ansible.play(
        f"""
    - name: absent
      community.general.one_vm: {{{ids}, state: absent, hard: true}}
    - name: no such VM
      community.general.one_vm: {{instance_ids: [98765], state: poweredoff}}
      ignore_errors: true
"""
    )
    assert results["absent"]["changed"] is True
    assert results["absent"]["instances"][0]["state"] == "DONE"
    assert results["no such VM"]["msg"] == "There is no VM with id=98765"
    assert one.vm.info(vm_id).STATE == VmState.DONE


def test_one_vm_saves_a_powered_off_vms_disk_as_an_image(ansible, rpc2):
    one = rpc2.one()
    images_before = list(one.datastore.info(1).IMAGES.ID)
    results = ansible.play(
        """
    - name: template
      community.general.one_template:
        name: disky
        template: "CPU = 0.1\\nVCPU = 1\\nMEMORY = 32\\nDISK = [ IMAGE = \\"blk\\" ]\\n"
    - name: deploy
      community.general.one_vm: {template_name: disky, attributes: {NAME: disky}}
      register: made
    - name: save while running
      community.general.one_vm:
        instance_ids: "{{ made.instances_ids }}"
        disk_saveas: {name: blk-copy}
      ignore_errors: true
    - name: poweroff
      community.general.one_vm: {instance_ids: "{{ made.instances_ids }}", state: poweredoff}
    - name: save
      community.general.one_vm:
        instance_ids: "{{ made.instances_ids }}"
        disk_saveas: {name: blk-copy, disk_id: 0}
"""
    )
    assert results["deploy"]["instances"][0]["disk_size"] == ["1 MB"]
    assert "POWEROFF" in results["save while running"]["msg"]
    assert results["save"]["changed"] is True
    assert results["save"]["instances"][0]["state"] == "POWEROFF"
    (new,) = set(one.datastore.info(1).IMAGES.ID) - set(images_before)
    lines = rpc2.run("oneimage", "show", str(new)).stdout.splitlines()
    shown = {k.strip(): v.strip() for k, _, v in (line.partition(" : ") for line in lines)}
    assert [shown[f] for f in ("NAME", "TYPE", "STATE", "SIZE")] == [
        "blk-copy",
        "DATABLOCK",
        "READY",
        "1M",
    ]


def test_the_cluster_and_the_datastores_as_opennebula_shows_them(rpc2):
    admin, alice = rpc2.one(), rpc2.one(rpc2.user("dora"))
    hosts = [h.ID for h in admin.hostpool.info().HOST]
    (cluster,) = admin.clusterpool.info().CLUSTER
    assert (cluster.ID, cluster.NAME, list(cluster.HOSTS.ID)) == (0, "default", hosts)
    assert list(admin.cluster.info(0).DATASTORES.ID) == [0, 1]
    assert admin.cluster.addhost(0, hosts[0]) == 0
    with pytest.raises(pyone.OneNoExistsException, match="cluster 1 does not exist"):
        admin.cluster.info(1)
    with pytest.raises(pyone.OneNoExistsException, match="cluster 2 does not exist"):
        admin.cluster.addhost(2, hosts[0])
    with pytest.raises(pyone.OneNoExistsException):
        admin.cluster.addhost(0, 4242)
    assert rpc2.raw("one.cluster.info", "zero")[2] == 0x1000  # wrong type: named, refused

    # a user sees no cluster (no ACL rule gives CLUSTER) and may not change one
    assert alice.clusterpool.info().CLUSTER == []
    with pytest.raises(pyone.OneAuthorizationException):
        alice.cluster.info(0)
    with pytest.raises(pyone.OneAuthorizationException):
        alice.cluster.addhost(0, hosts[0])

    # everyone may use the datastores (um- u-- u--); onekit has no files datastore (2)
    for one in (admin, alice):
        shown = [
            (d.ID, d.NAME, d.TYPE, list(d.CLUSTERS.ID)) for d in one.datastorepool.info().DATASTORE
        ]
        assert shown == [(0, "system", 1, [0]), (1, "default", 0, [0])]
    images = admin.datastore.info(1)
    assert images.TOTAL_MB > 0 and images.FREE_MB + images.USED_MB == images.TOTAL_MB
    with pytest.raises(pyone.OneNoExistsException, match="datastore 2 does not exist"):
        alice.datastore.info(2)


def test_vm_rename_updateconf_and_disksaveas_refuse_what_oned_refuses(rpc2):
    admin, stranger = rpc2.one(), rpc2.one(rpc2.user("sam"))
    tiny = _templates(admin)["tiny"].ID
    vm_id = admin.template.instantiate(tiny, "re-0", False, 'CONTEXT = [ NOTE = "a" ]', False)
    wait(lambda: _state(admin, vm_id) == (VmState.ACTIVE, Lcm.RUNNING), "re-0 RUNNING")

    assert admin.vm.rename(vm_id, "{{7*7}}") == vm_id  # user text is data
    assert admin.vm.info(vm_id).NAME == "{{7*7}}"
    with pytest.raises(pyone.OneActionException, match="name"):
        admin.vm.rename(vm_id, "two words")
    with pytest.raises(pyone.OneActionException, match="POWEROFF"):
        admin.vm.updateconf(vm_id, 'OS = [ BOOT = "hd" ]', 1)
    with pytest.raises(pyone.OneActionException, match="POWEROFF"):
        admin.vm.disksaveas(vm_id, 0, "copy", "", -1)
    for refused in (
        lambda: stranger.vm.rename(vm_id, "mine"),
        lambda: stranger.vm.updateconf(vm_id, 'OS = [ BOOT = "hd" ]', 1),
        lambda: stranger.vm.disksaveas(vm_id, 0, "copy", "", -1),
    ):
        with pytest.raises(pyone.OneAuthorizationException):
            refused()

    admin.vm.action("poweroff-hard", vm_id)
    wait(lambda: admin.vm.info(vm_id).STATE == VmState.POWEROFF, "re-0 POWEROFF")
    with pytest.raises(pyone.OneActionException, match="MEMORY"):
        admin.vm.updateconf(vm_id, "MEMORY = 64", 1)
    with pytest.raises(pyone.OneActionException, match="OS/DISK"):
        admin.vm.updateconf(vm_id, 'OS = [ DISK = "x" ]', 1)
    with pytest.raises(pyone.OneActionException, match="ETH0_IP"):
        admin.vm.updateconf(vm_id, 'CONTEXT = [ ETH0_IP = "1.2.3.4" ]', 1)
    assert rpc2.raw("one.vm.updateconf", vm_id, 'OS = [ BOOT = "hd" ]', 7)[2] == 0x1000
    admin.vm.updateconf(vm_id, 'CONTEXT = [ GREETING = "{{ 7*7 }}" ]\nOS = [ BOOT = "hd" ]', 1)
    machine = admin.vm.info(vm_id).TEMPLATE
    assert machine["CONTEXT"]["GREETING"] == "{{ 7*7 }}" and machine["CONTEXT"]["NOTE"] == "a"
    assert machine["OS"] == {"BOOT": "hd"}
    admin.vm.updateconf(vm_id, 'CONTEXT = [ NOTE = "b" ]', 0)  # replace: OS goes
    machine = admin.vm.info(vm_id).TEMPLATE
    assert "OS" not in machine and machine["CONTEXT"] == {"NOTE": "b"}
    with pytest.raises(pyone.OneNoExistsException, match="no disk 0"):
        admin.vm.disksaveas(vm_id, 0, "copy", "", -1)
    with pytest.raises(pyone.OneActionException, match="snapshot"):
        admin.vm.disksaveas(vm_id, 0, "copy", "", 3)
    with pytest.raises(pyone.OneNoExistsException):
        admin.vm.rename(98765, "x")
    admin.vm.action("resume", vm_id)
    wait(lambda: _state(admin, vm_id) == (VmState.ACTIVE, Lcm.RUNNING), "re-0 RUNNING again")
    admin.vm.action("terminate-hard", vm_id)


def test_a_vm_in_a_transient_state_parses_with_the_state_it_left(rpc2):
    """A VM caught while it boots (one_vm polls it then) keeps the state it left as a
    pair; its document shows it as PREV_STATE and PREV_LCM_STATE, numbers pyone reads."""
    one = rpc2.one()
    vm_id = one.template.instantiate(_templates(one)["tiny"].ID, "boot-0")
    body = vms.show(rpc2.admin, vm_id)
    booting = {**body, "STATE": 3, "LCM_STATE": 2, "PREV_STATE": [1, 0]}  # PENDING → BOOT
    document = documents.vm(booting)
    validate(document)
    parsed = bindings.parseString(document.encode(), silence=True)
    assert (parsed.STATE, parsed.LCM_STATE, parsed.PREV_STATE, parsed.PREV_LCM_STATE) == (
        3,
        2,
        1,
        0,
    )
    one.vm.action("terminate-hard", vm_id)

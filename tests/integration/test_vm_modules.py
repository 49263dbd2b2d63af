"""The modules onekit.cloud.{host,vm_template,vm} and the inventory plugin onekit.cloud.vms
through real ansible-playbook / ansible-inventory / ansible-doc runs.

Each playbook checks what the tasks report (``register`` + ``assert``); the test then checks
the store from Python with the core and, for VMs, the guests in the simulated hosts' libvirt
(``cloud.guest_state``). Runs are few and batched: ansible-playbook costs ~2 s to start
and ~0.5 s a module task.

``cloud`` has two MONITORED simulated hosts, sim0 (id 0) and sim1 (id 1), 16 cores and
3 GiB each; the default scheduling policy (striping) places VMs taken in id order on sim0,
sim1, sim0... So a host id is also the index of its simulated host in ``cloud.sims``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO, VENV_BIN, instance_env, store_snapshot
from support.plays import HEAD, ok, sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import NotFound
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    HostState,
    Lcm,
    VmState,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts, networks
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, templates, vms

NET = 'NAME = "net"\nBRIDGE = "br0"\nTYPE = "RANGED"\nIP_START = "10.0.0.10"\nIP_END = "10.0.0.20"'


class ProductBug(AssertionError):
    """The playbook ran as expected up to the assert showing the bug, which failed."""


def shows_bug(result: subprocess.CompletedProcess) -> None:
    """Raise ProductBug when the play's last assert (``fail_msg: BUG SHOWN``) failed; any
    other failure is a plain one, so an xfail(raises=ProductBug) test cannot pass by it."""
    if '"msg": "BUG SHOWN"' in result.stdout:
        raise ProductBug(result.stdout[-1500:])
    ok(result)


def extra_vars(**values) -> tuple[str, str]:
    return ("-e", json.dumps(values))


def failing(task: str, module: str, args: str, *needles: str, error: str | None = None) -> str:
    """A task expected to fail without a change, and the assert on its message."""
    checks = "".join(f"\n          - {json.dumps(f'{needle!r} in r.msg')}" for needle in needles)
    if error:
        checks += f"\n          - {json.dumps(f'r.error == {error!r}')}"
    return f"""
    - name: {task}
      onekit.cloud.{module}: {args}
      register: r
      ignore_errors: true
    - assert:
        that:
          - r is failed
          - r is not changed{checks}
"""


def all_vms(admin) -> dict[int, dict]:
    return {vm["ID"]: vm for vm in vms.list_vms(admin, include_done=True)}


def state_of(vm: dict) -> tuple[str, str]:
    return VmState(vm["STATE"]).name, Lcm(vm["LCM_STATE"]).name


def last_host(vm: dict) -> int:
    """The host (id, also the index of its simulated host) the VM was last placed on."""
    return vm["HISTORY_RECORDS"][-1]["HID"]


def guests(cloud, vm_ids) -> dict[int, str]:
    """Each VM's guest, as the libvirt of the host it was last placed on shows it."""
    bodies = all_vms(cloud.admin)
    return {i: cloud.guest_state(last_host(bodies[i]), i) for i in vm_ids}


def running_vm_on_sim0(cloud) -> int:
    templates.create(cloud.admin, {"CPU": "0.1", "MEMORY": "32"}, "small")
    (vm,) = templates.instantiate(cloud.admin, "small", 1)
    cloud.schedule([vm["ID"]])
    assert cloud.guest_state(0, vm["ID"]) == "running"
    return vm["ID"]


# ---- host ----------------------------------------------------------------------------------
HOST_PLAY = (
    HEAD
    + """
    - name: register a third simulated host, with a priority
      onekit.cloud.host:
        name: sim2
        uri: "{{ sim_uri }}"
        template: {PRIORITY: 5}
      register: r
    - assert:
        that:
          - r is changed
          - r.host.id == 2
          - r.host.name == 'sim2'
          - r.host.state == 'MONITORED'
          - r.host.uri == sim_uri
          - r.host.max_cpu == 1600
          - r.host.max_mem == 3145728
          - r.host.running_vms == 0
          - r.host.error is none
          - "r.diff.before == {}"
          - r.diff.after.state == 'MONITORED'

    - name: the same again
      onekit.cloud.host:
        name: sim2
        uri: "{{ sim_uri }}"
        template: {PRIORITY: 5}
      register: r
    - assert:
        that:
          - r is not changed
          - r.host.id == 2
          - r.host.state == 'MONITORED'

    - name: another attribute is merged into the template (monitored again)
      onekit.cloud.host: {name: sim2, template: {reserved_cpu: 100}}
      register: r
    - assert:
        that:
          - r is changed
          - r.host.uri == sim_uri
          - r.host.max_cpu == 1500

    - name: disable
      onekit.cloud.host: {name: sim2, state: disabled}
      register: r
    - assert:
        that:
          - r is changed
          - r.host.state == 'DISABLED'
          - r.diff.before.state == 'MONITORED'
          - r.diff.after.state == 'DISABLED'

    - name: enable, monitored at once
      onekit.cloud.host: {name: sim2, state: enabled}
      register: r
    - assert:
        that:
          - r is changed
          - r.host.state == 'MONITORED'

    - name: a host whose libvirt does not answer
      onekit.cloud.host:
        name: dead
        uri: "test+unix:///default?socket=/nonexistent/onekit-sock"
      register: r
    - assert:
        that:
          - r is changed
          - r.host.id == 3
          - r.host.state == 'ERROR'
          - "'cannot connect to libvirt at test+unix:///default?socket=/nonexistent/onekit-sock'
             in r.host.error"

    - name: remove it (it runs no VM)
      onekit.cloud.host: {name: dead, state: absent}
      register: r
    - assert:
        that:
          - r is changed
          - r.host.name == 'dead'
          - r.diff.before.name == 'dead'
          - "r.diff.after == {}"

    - name: remove it again
      onekit.cloud.host: {name: dead, state: absent}
      register: r
    - assert:
        that:
          - r is not changed
          - "r.host == {}"
"""
)


def test_host_module(cloud, playbook, sim_hosts):
    (extra,) = sim_hosts(1)
    result = ok(playbook(HOST_PLAY, "--diff", *extra_vars(sim_uri=extra.uri)))
    assert "changed=6" in result.stdout
    found = {h["NAME"]: h for h in hosts.list_hosts(cloud.admin)}
    assert sorted(found) == ["sim0", "sim1", "sim2"]
    sim2 = found["sim2"]
    assert sim2["STATE"] == HostState.MONITORED
    assert (sim2["IM_MAD"], sim2["VM_MAD"]) == ("kvm", "kvm")
    assert sim2["TEMPLATE"]["URI"] == extra.uri
    # merged, not replaced: the priority is still there
    assert (sim2["TEMPLATE"]["PRIORITY"], sim2["TEMPLATE"]["RESERVED_CPU"]) == ("5", "100")
    assert sim2["HOST_SHARE"]["MAX_CPU"] == 1500  # RESERVED_CPU is held back
    # the new host takes VMs: a rank on PRIORITY picks it
    templates.create(cloud.admin, {"CPU": "0.1", "MEMORY": "32", "SCHED_RANK": "PRIORITY"}, "t")
    (vm,) = templates.instantiate(cloud.admin, "t", 1)
    cloud.schedule([vm["ID"]])
    assert vms.show(cloud.admin, vm["ID"])["HISTORY_RECORDS"][-1]["HOSTNAME"] == "sim2"
    assert extra.hold.lookupByName(f"one-{vm['ID']}").isActive() == 1
    # --diff shows the state change
    assert '-    "state": "MONITORED"' in result.stdout
    assert '+    "state": "DISABLED"' in result.stdout


# ---- refusals and check mode, for the three modules ---------------------------------------
BAD_TASKS = [
    failing(
        "remove a host that runs a VM",
        "host",
        "{name: sim0, state: absent}",
        "host sim0 still runs VMs",
        error="Conflict",
    ),
    failing(
        "a new host with a bad URI",
        "host",
        '{name: sim9, uri: "kvm1/system"}',
        "URI 'kvm1/system' is not a libvirt URI",
        error="InvalidInput",
    ),
    failing(
        "a template with a SCHED_REQUIREMENTS syntax error",
        "vm_template",
        "{name: small, template: {CPU: 1, MEMORY: 64, SCHED_REQUIREMENTS: 'FREE_CPU > > 50'}}",
        "SCHED_REQUIREMENTS: syntax error at column 12",
        error="InvalidInput",
    ),
    failing(
        "exact_count with nothing to tell its VMs",
        "vm",
        "{template_name: small, exact_count: 3, state: running}",
        "exact_count needs count_attributes or count_labels",
        "deleting unrelated VMs",
        error="InvalidInput",
    ),
    failing(
        "an unknown template",
        "vm",
        "{template_name: nosuch, attributes: {NAME: x}, state: running}",
        "'nosuch' does not exist",
        error="NotFound",
    ),
]

CHECK_TASKS = """
    - name: a new host, in check mode
      onekit.cloud.host: {name: ghost, uri: "test+unix:///default"}
      check_mode: true
      register: r
    - assert:
        that:
          - r is changed
          - r.host.name == 'ghost'
          - r.host.state == 'INIT'

    - name: a new template, in check mode
      onekit.cloud.vm_template: {name: fresh, template: {CPU: 1, MEMORY: 64}}
      check_mode: true
      register: r
    - assert:
        that:
          - r is changed
          - r.vm_template.name == 'fresh'

    - name: delete the running VM, in check mode
      onekit.cloud.vm: {instance_ids: [0], state: absent}
      check_mode: true
      register: r
    - assert:
        that:
          - r is changed
          - r.instances_ids == [0]
"""


def test_refusals_and_check_mode_change_nothing(cloud, playbook):
    vm_id = running_vm_on_sim0(cloud)
    before = store_snapshot(cloud.admin.db)
    result = ok(playbook(HEAD + "".join(BAD_TASKS) + CHECK_TASKS))
    assert f"ignored={len(BAD_TASKS)}" in result.stdout
    assert store_snapshot(cloud.admin.db) == before
    assert cloud.guest_state(0, vm_id) == "running"


NO_STORE_PLAY = (
    HEAD
    + """
    - name: check mode against a home whose store was never made
      onekit.cloud.vm: {template_name: tiny, exact_count: 2, count_labels: [web]}
      check_mode: true
      register: no_store
      ignore_errors: true
    - name: check mode against a home that is no instance at all
      onekit.cloud.vm:
        template_name: tiny
        exact_count: 2
        count_labels: [web]
        onekit_home: "{{ nowhere }}"
      check_mode: true
      register: no_instance
      ignore_errors: true
    - assert:
        that:
          - no_store is failed and no_store is not changed
          - no_store.error == 'StoreError'
          - "'run `onekit-server init` to create it' in no_store.msg"
          - no_instance is failed and no_instance is not changed
          - no_instance.error == 'ConfigError'
          - "'no onekit instance at ' ~ nowhere in no_instance.msg"
"""
)


@sqlite_only
def test_check_mode_without_a_store_says_how_to_make_one_and_makes_nothing(
    instance, playbook, tmp_path
):
    """The module opens the store only when it needs it, and then the missing store (or
    instance) is still the clear error it was, in check mode too; no empty store is left."""
    instance.sqlite_path.unlink()
    ok(playbook(NO_STORE_PLAY, *extra_vars(nowhere=str(tmp_path / "nowhere"))))
    assert not instance.sqlite_path.exists()
    assert not (tmp_path / "nowhere").exists()


# ---- vm_template ---------------------------------------------------------------------------
WEB_TEMPLATE = """
      onekit.cloud.vm_template:
        name: web
        template:
          cpu: 0.5
          MEMORY: {memory}
          DISK:
            - {{IMAGE: debian, TARGET: vda}}
            - {{TYPE: swap, SIZE: 512}}
          NIC: {{NETWORK: private, MODEL: virtio}}
          SCHED_REQUIREMENTS: 'FREE_CPU > 50 & HYPERVISOR = "test"'
      register: r"""

TEMPLATE_PLAY = (
    HEAD
    + """
    - name: a template as a mapping, with vectors"""
    + WEB_TEMPLATE.format(memory=128)
    + """
    - assert:
        that:
          - r is changed
          - r.vm_template.id == 0
          - r.vm_template.name == 'web'
          - r.vm_template.template.NAME == 'web'
          - r.vm_template.template.CPU == '0.5'
          - r.vm_template.template.MEMORY == '128'
          - r.vm_template.template.DISK | length == 2
          - r.vm_template.template.DISK[1].SIZE == '512'
          - r.vm_template.template.NIC.NETWORK == 'private'
          - "r.diff.before == {}"

    - name: the same again"""
    + WEB_TEMPLATE.format(memory=128)
    + """
    - assert:
        that:
          - r is not changed
          - r.vm_template.id == 0

    - name: the same in OpenNebula's syntax
      onekit.cloud.vm_template:
        name: web
        template: |
          CPU = "0.5"
          MEMORY = 128
          DISK = [ IMAGE = "debian", TARGET = "vda" ]
          DISK = [ TYPE = "swap", SIZE = "512" ]
          NIC = [ NETWORK = "private", MODEL = "virtio" ]
          SCHED_REQUIREMENTS = "FREE_CPU > 50 & HYPERVISOR = \\"test\\""
      register: r
    - assert:
        that:
          - r is not changed

    - name: one attribute changes"""
    + WEB_TEMPLATE.format(memory=256)
    + """
    - assert:
        that:
          - r is changed
          - r.vm_template.id == 0
          - r.diff.before.template.MEMORY == '128'
          - r.diff.after.template.MEMORY == '256'
          - r.diff.after.template.DISK == r.diff.before.template.DISK

    - name: a small one, as text
      onekit.cloud.vm_template:
        name: tiny
        template: |
          CPU = 0.1
          MEMORY = 32
          ROLE = "test"
      register: r
    - assert:
        that:
          - r is changed
          - r.vm_template.id == 1
          - "r.vm_template.template == {'CPU': '0.1', 'MEMORY': '32', 'ROLE': 'test',
                                        'NAME': 'tiny'}"

    - name: remove tiny
      onekit.cloud.vm_template: {name: tiny, state: absent}
      register: r
    - assert:
        that:
          - r is changed
          - r.vm_template.name == 'tiny'
          - "r.diff.after == {}"

    - name: remove tiny again
      onekit.cloud.vm_template: {name: tiny, state: absent}
      register: r
    - assert:
        that:
          - r is not changed
          - "r.vm_template == {}"
"""
)


def test_vm_template_module(playbook, admin):
    result = ok(playbook(TEMPLATE_PLAY, "--diff"))
    assert "changed=4" in result.stdout
    assert templates.show(admin, "web")["TEMPLATE"] == {
        "NAME": "web",
        "CPU": "0.5",
        "MEMORY": "256",
        "DISK": [{"IMAGE": "debian", "TARGET": "vda"}, {"TYPE": "swap", "SIZE": "512"}],
        "NIC": {"NETWORK": "private", "MODEL": "virtio"},
        "SCHED_REQUIREMENTS": 'FREE_CPU > 50 & HYPERVISOR = "test"',
    }
    with pytest.raises(NotFound):
        templates.show(admin, "tiny")
    assert [t["NAME"] for t in templates.list_templates(admin)] == ["web"]
    assert '-        "MEMORY": "128"' in result.stdout
    assert '+        "MEMORY": "256"' in result.stdout


# ---- vm: exact_count, names ----------------------------------------------------------------
WEB = """
      onekit.cloud.vm:
        template_name: small
        exact_count: {n}
        count_attributes: {{ROLE: web}}
        attributes: {{NAME: web-###}}
        state: running
      register: r"""

DB = """
      onekit.cloud.vm:
        template_id: 0
        attributes: {NAME: db, TIER: back}
        labels: [blue]
        state: running
      register: r"""

COUNT_PLAY = (
    HEAD
    + """
    - name: five web servers"""
    + WEB.format(n=5)
    + """
    - assert:
        that:
          - r is changed
          - r.created == 5
          - r.deleted_ids == []
          - r.instances_ids == [0, 1, 2, 3, 4]
          - r.instances | map(attribute='vm_id') | list == [0, 1, 2, 3, 4]
          - r.instances | map(attribute='vm_name') | list
            == ['web-1', 'web-2', 'web-3', 'web-4', 'web-5']
          - r.instances | map(attribute='state') | unique | list == ['ACTIVE']
          - r.instances | map(attribute='lcm_state') | unique | list == ['RUNNING']
          - r.instances | map(attribute='host') | list
            == ['sim0', 'sim1', 'sim0', 'sim1', 'sim0']
          - r.instances | map(attribute='attributes') | map(attribute='ROLE') | unique | list
            == ['web']
          - r.tagged_instances | map(attribute='vm_id') | list == [0, 1, 2, 3, 4]

    - name: five again"""
    + WEB.format(n=5)
    + """
    - assert:
        that:
          - r is not changed
          - r.created == 0
          - r.deleted_ids == []
          - r.instances_ids == [0, 1, 2, 3, 4]
          - r.tagged_instances | length == 5

    - name: seven, in check mode"""
    + WEB.format(n=7)
    + """
      check_mode: true
    - assert:
        that:
          - r is changed
          - r.created == 2
          - r.deleted_ids == []
          - r.instances_ids == [0, 1, 2, 3, 4]

    - name: down to two"""
    + WEB.format(n=2)
    + """
    - assert:
        that:
          - r is changed
          - r.created == 0
          - r.deleted_ids == [0, 1, 2]
          - r.instances_ids == [3, 4]
          - r.instances | map(attribute='vm_name') | list == ['web-4', 'web-5']
          - r.tagged_instances | map(attribute='vm_id') | list == [3, 4]

    - name: one VM named db, without a count (its name names the set)"""
    + DB
    + """
    - assert:
        that:
          - r is changed
          - r.created == 1
          - r.instances_ids == [5]
          - r.instances[0].vm_name == 'db'
          - r.instances[0].attributes.TIER == 'back'
          - r.instances[0].labels == ['blue']
          - r.instances[0].lcm_state == 'RUNNING'
          - r.tagged_instances == []

    - name: db again"""
    + DB
    + """
    - assert:
        that:
          - r is not changed
          - r.created == 0
          - r.instances_ids == [5]
"""
)


def test_vm_exact_count_and_names(cloud, playbook):
    templates.create(cloud.admin, {"CPU": "0.1", "MEMORY": "32"}, "small")
    result = ok(playbook(COUNT_PLAY))
    assert "changed=4" in result.stdout
    bodies = all_vms(cloud.admin)
    assert sorted(bodies) == [0, 1, 2, 3, 4, 5]  # check mode made none
    assert {i: state_of(vm) for i, vm in bodies.items()} == {
        **dict.fromkeys((0, 1, 2), ("DONE", "LCM_INIT")),
        **dict.fromkeys((3, 4, 5), ("ACTIVE", "RUNNING")),
    }
    assert [vm["NAME"] for vm in bodies.values()] == [
        "web-1",
        "web-2",
        "web-3",
        "web-4",
        "web-5",
        "db",
    ]
    assert [bodies[i]["USER_TEMPLATE"].get("ROLE") for i in range(6)] == ["web"] * 5 + [None]
    # the guests: the deleted ones are gone from their host, the others run there
    assert guests(cloud, range(6)) == {
        **dict.fromkeys((0, 1, 2), "missing"),
        **dict.fromkeys((3, 4, 5), "running"),
    }
    share = [h["HOST_SHARE"] for h in hosts.list_hosts(cloud.admin)]
    assert sum(s["RUNNING_VMS"] for s in share) == 3
    assert sum(s["MEM_USAGE"] for s in share) == 3 * 32 * 1024


# ---- vm: states ----------------------------------------------------------------------------
def to(ids: list[int], state: str, hard: bool = False, again: bool = False, **expect) -> str:
    """A task taking VMs to a state and the assert on what it reports (and the same again).

    Whether the first run reports a change is test_vm_state_change_is_reported's business."""
    args = f"{{instance_ids: {ids}, state: {state}{', hard: true' if hard else ''}}}"
    checks = "".join(f"\n          - {json.dumps(f'{k} == {v!r}')}" for k, v in expect.items())
    task = f"""
    - name: "VMs {ids} {state}{" (hard)" if hard else ""}"
      onekit.cloud.vm: {args}
      register: r
    - assert:
        that:
          - r is not failed{checks}
"""
    if again:
        task += f"""
    - name: "VMs {ids} {state} again"
      onekit.cloud.vm: {args}
      register: r
    - assert:
        that:
          - r is not changed
          - r.instances_ids == {ids}
"""
    return task


STATES_PLAY = (
    HEAD
    + to(
        [0],
        "poweroff",
        again=True,
        **{"r.instances[0].state": "POWEROFF", "r.instances[0].host": "sim0"},
    )
    + to([1], "suspended", **{"r.instances[0].state": "SUSPENDED", "r.instances[0].host": "sim1"})
    + to([2], "stopped", **{"r.instances[0].state": "STOPPED", "r.instances[0].host": None})
    + to([3], "undeployed", hard=True, **{"r.instances[0].state": "UNDEPLOYED"})
    + to([4], "poweroff", hard=True, **{"r.instances[0].state": "POWEROFF"})
    + to([5], "absent", **{"r.instances": [], "r.instances_ids": []})
)

RUNNING_PLAY = HEAD + to(
    [0, 1, 2, 3, 4],
    "running",
    again=True,
    **{
        "r.instances | map(attribute='state') | unique | list": ["ACTIVE"],
        "r.instances | map(attribute='lcm_state') | unique | list": ["RUNNING"],
        "r.instances_ids": [0, 1, 2, 3, 4],
    },
)


def test_vm_states(cloud, playbook):
    templates.create(cloud.admin, {"CPU": "0.1", "MEMORY": "32"}, "small")
    templates.instantiate(cloud.admin, "small", 6)
    cloud.schedule()
    assert guests(cloud, range(6)) == dict.fromkeys(range(6), "running")

    ok(playbook(STATES_PLAY))
    bodies = all_vms(cloud.admin)
    assert {i: state_of(vm) for i, vm in bodies.items()} == {
        0: ("POWEROFF", "LCM_INIT"),
        1: ("SUSPENDED", "LCM_INIT"),
        2: ("STOPPED", "LCM_INIT"),
        3: ("UNDEPLOYED", "LCM_INIT"),
        4: ("POWEROFF", "LCM_INIT"),
        5: ("DONE", "LCM_INIT"),
    }
    assert guests(cloud, range(6)) == {
        0: "missing",
        1: "paused",
        2: "missing",
        3: "missing",
        4: "missing",
        5: "missing",
    }
    # POWEROFF and SUSPENDED VMs keep their place; the others gave it back
    assert [sorted(h["VMS"]) for h in hosts.list_hosts(cloud.admin)] == [[0, 4], [1]]

    ok(playbook(RUNNING_PLAY))
    bodies = all_vms(cloud.admin)
    assert {i: state_of(bodies[i]) for i in range(5)} == dict.fromkeys(
        range(5), ("ACTIVE", "RUNNING")
    )
    assert guests(cloud, range(5)) == dict.fromkeys(range(5), "running")
    assert last_host(bodies[2]) == 0  # the stopped VM is back where its checkpoint is
    assert sorted(vm for h in hosts.list_hosts(cloud.admin) for vm in h["VMS"]) == [0, 1, 2, 3, 4]


CHANGED_PLAY = (
    HEAD
    + """
    - name: power off VM 0
      onekit.cloud.vm: {instance_ids: [0], state: poweroff, hard: true}
      register: r
    - assert:
        that:
          - r.instances[0].state == 'POWEROFF'
    - name: a VM that changed state is a change
      assert:
        that:
          - r is changed
        fail_msg: BUG SHOWN
"""
)


def test_vm_state_change_is_reported(cloud, playbook):
    vm_id = running_vm_on_sim0(cloud)
    shows_bug(playbook(CHANGED_PLAY))
    assert state_of(vms.show(cloud.admin, vm_id)) == ("POWEROFF", "LCM_INIT")
    assert cloud.guest_state(0, vm_id) == "missing"


# ---- vm: networks and capacity -------------------------------------------------------------
NET_PLAY = (
    HEAD
    + """
    - name: three VMs on net
      onekit.cloud.vm:
        template_name: netted
        exact_count: 3
        count_labels: [front]
        state: running
      register: r
    - set_fact:
        ips: "{{ r.instances | map(attribute='networks') | map('first')
                 | map(attribute='ip') | list }}"
    - assert:
        that:
          - r is changed
          - r.instances_ids == [0, 1, 2]
          - r.instances | map(attribute='networks') | map('length') | list == [1, 1, 1]
          - r.instances | map(attribute='networks') | map('first')
            | map(attribute='name') | unique | list == ['net']
          - ips | unique | length == 3
          - ips | select('match', '^10[.]0[.]0[.](1[0-9]|20)$') | list | length == 3
          - r.instances[0].networks[0].mac is match('^02:00:0a:00:00:')

    - name: six VMs of 1500 MiB, where four fit
      onekit.cloud.vm:
        template_id: 1
        exact_count: 6
        count_attributes: {ROLE: big}
        state: running
      register: r
      ignore_errors: true
    - assert:
        that:
          - r is failed
          - r is changed
          - "'stays PENDING' in r.msg"
          - "'no host with enough free capacity for CPU 1 and MEMORY 1500 MiB' in r.msg"
          - r.created == 6
          - r.instances_ids == [3, 4, 5, 6, 7, 8]
          - r.instances | selectattr('lcm_state', 'eq', 'RUNNING') | list | length == 4
          - r.instances | selectattr('state', 'eq', 'PENDING') | map(attribute='vm_id') | list
            == [7, 8]

    - name: no VM on net any more
      onekit.cloud.vm:
        template_name: netted
        exact_count: 0
        count_labels: [front]
      register: r
    - assert:
        that:
          - r is changed
          - r.deleted_ids == [0, 1, 2]
          - r.instances == []
"""
)


def test_vm_network_and_capacity(cloud, playbook):
    admin = cloud.admin
    networks.create(admin, NET)
    templates.create(admin, {"CPU": "0.1", "MEMORY": "32", "NIC": {"NETWORK": "net"}}, "netted")
    templates.create(admin, {"CPU": "1", "MEMORY": "1500"}, "big")
    result = ok(playbook(NET_PLAY))
    assert "ignored=1" in result.stdout
    bodies = all_vms(admin)
    nics = [bodies[i]["TEMPLATE"]["NIC"] for i in range(3)]
    assert len({nic["IP"] for nic in nics}) == 3
    assert {nic["IP"] for nic in nics} <= {f"10.0.0.{n}" for n in range(10, 21)}
    assert [nic["BRIDGE"] for nic in nics] == ["br0"] * 3
    with admin.read() as w:
        net = pool.resolve(w.tx, schema.NETWORKS, "net")
    assert net["LEASES"] == {}  # the deleted VMs gave their leases back
    assert {i: state_of(bodies[i]) for i in range(3, 9)} == {
        **dict.fromkeys(range(3, 7), ("ACTIVE", "RUNNING")),
        **dict.fromkeys((7, 8), ("PENDING", "LCM_INIT")),
    }
    assert "no host with enough free capacity" in bodies[7]["USER_TEMPLATE"]["SCHED_MESSAGE"]
    assert guests(cloud, range(3, 7)) == dict.fromkeys(range(3, 7), "running")
    assert [sorted(h["VMS"]) for h in hosts.list_hosts(admin)] == [
        [4, 6],
        [3, 5],
    ]  # sim1 had fewer VMs: it came first


# ---- vm: bugs ------------------------------------------------------------------------------
LONELY = """
      onekit.cloud.vm:
        template_name: small
        exact_count: 1
        count_labels: [lonely]
        state: running
      ignore_errors: true"""

RERUN_PENDING_PLAY = (
    HEAD
    + """
    - name: a VM with no host to run on"""
    + LONELY
    + """
      register: first
    - name: the same task again"""
    + LONELY
    + """
      register: r
    - assert:
        that:
          - first is failed
          - "'VM 0 stays PENDING: no host is MONITORED' in first.msg"
          - r.instances_ids == [0]
          - r.instances[0].state == 'PENDING'
    - name: the VM is still not running, the task must say so
      assert:
        that:
          - r is failed
          - "'VM 0 stays PENDING' in r.msg"
        fail_msg: BUG SHOWN
"""
)


def test_vm_rerun_does_not_hide_pending_vms(playbook, admin):
    templates.create(admin, {"CPU": "0.1", "MEMORY": "32"}, "small")  # and no host at all
    shows_bug(playbook(RERUN_PENDING_PLAY))


ABSENT_AGAIN_PLAY = (
    HEAD
    + """
    - name: delete VM 0
      onekit.cloud.vm: {instance_ids: [0], state: absent}
      register: first
    - name: delete VM 0 again
      onekit.cloud.vm: {instance_ids: [0], state: absent}
      register: r
      ignore_errors: true
    - assert:
        that:
          - first is not failed
          - first.instances == []
    - name: a second run of the same task is no change
      assert:
        that:
          - r is not failed
          - r is not changed
        fail_msg: BUG SHOWN
"""
)


def test_vm_absent_by_id_is_idempotent(playbook, admin):
    templates.create(admin, {"CPU": "0.1", "MEMORY": "32"}, "small")
    templates.instantiate(admin, "small", 1)  # PENDING: no host needed to delete it
    shows_bug(playbook(ABSENT_AGAIN_PLAY))
    assert state_of(vms.show(admin, 0)) == ("DONE", "LCM_INIT")


# ---- inventory plugin ----------------------------------------------------------------------
def inventory(cloud, tmp_path: Path, **options) -> dict:
    path = tmp_path / "cloud.onekit_vms.yml"
    config = {"plugin": "onekit.cloud.vms", "onekit_home": str(cloud.instance.home), **options}
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [str(VENV_BIN / "ansible-inventory"), "-i", str(path), "--list"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=instance_env(cloud.instance),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr  # a plugin that fails only warns
    return plain(json.loads(result.stdout))


def plain(value):
    """ansible-core 2.19 writes inventory strings as {"__ansible_unsafe": "..."}."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def members(listing: dict, group: str) -> list[str]:
    return sorted(listing.get(group, {}).get("hosts", []))


def test_inventory_plugin(cloud, tmp_path):
    admin = cloud.admin
    networks.create(admin, NET)
    templates.create(admin, {"CPU": "0.1", "MEMORY": "32", "NIC": {"NETWORK": "net"}}, "web")
    templates.create(admin, {"CPU": "0.1", "MEMORY": "32"}, "db")
    made = templates.instantiate(admin, "web", 2, extra={"LABELS": "front,blue", "ROLE": "www"})
    made += templates.instantiate(admin, "db", 1, extra={"LABELS": "back"})
    made += templates.instantiate(admin, "web", 1)
    cloud.schedule()
    lifecycle.act(admin, [3], "poweroff-hard")
    templates.instantiate(admin, "db", 1)  # PENDING: no host yet
    bodies = all_vms(admin)
    assert [vm["NAME"] for vm in made] == ["web-0", "web-1", "db-2", "web-3"]
    ip = {i: bodies[i]["TEMPLATE"].get("NIC", {}).get("IP") for i in range(4)}
    on = {i: f"sim{last_host(bodies[i])}" for i in range(4)}

    listing = inventory(
        cloud, tmp_path, keyed_groups=[{"key": "onekit_attributes.ROLE", "prefix": "role"}]
    )
    hostvars = listing["_meta"]["hostvars"]
    assert sorted(hostvars) == ["db-2", "web-0", "web-1"]  # RUNNING ones only
    assert members(listing, "template_web") == ["web-0", "web-1"]
    assert members(listing, "template_db") == ["db-2"]
    for host in ("sim0", "sim1"):
        expected = sorted(f"{bodies[i]['NAME']}" for i in range(3) if on[i] == host)
        assert members(listing, f"host_{host}") == expected
    assert members(listing, "label_front") == ["web-0", "web-1"]
    assert members(listing, "label_blue") == ["web-0", "web-1"]
    assert members(listing, "label_back") == ["db-2"]
    assert members(listing, "role_www") == ["web-0", "web-1"]
    web0 = hostvars["web-0"]
    assert web0["ansible_host"] == ip[0]
    assert web0["onekit_vm_id"] == 0
    assert web0["onekit_host"] == on[0]
    assert web0["onekit_lcm_state"] == "RUNNING"
    assert web0["onekit_labels"] == ["blue", "front"]
    assert web0["onekit_ips"] == [ip[0]]
    assert "ansible_host" not in hostvars["db-2"]

    listing = inventory(cloud, tmp_path, hostname="ip", states=["RUNNING", "POWEROFF"])
    hostvars = listing["_meta"]["hostvars"]
    assert sorted(hostvars) == sorted([ip[0], ip[1], ip[3]])  # db-2 has no IP
    assert members(listing, "template_web") == sorted([ip[0], ip[1], ip[3]])
    assert hostvars[ip[3]]["onekit_state"] == "POWEROFF"
    assert hostvars[ip[1]]["onekit_vm_id"] == 1


def test_inventory_values_are_data_in_a_playbook(cloud, tmp_path):
    """A guest writes its VM's attributes (OneGate): a playbook over the inventory sees
    them as written, and no lookup in them runs."""
    marker = tmp_path / "ran"
    text = f"{{{{ lookup('pipe', 'touch {marker}') }}}}{{{{ 7*7 }}}}"
    templates.create(cloud.admin, {"CPU": "0.1", "MEMORY": "32"}, "g")
    templates.instantiate(cloud.admin, "g", 1, extra={"NOTE": text})
    cloud.schedule()
    path = tmp_path / "cloud.onekit_vms.yml"
    path.write_text(
        yaml.safe_dump({"plugin": "onekit.cloud.vms", "onekit_home": str(cloud.instance.home)})
    )
    play = tmp_path / "play.yml"
    play.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.copy:\n"
        f'        content: "{{{{ onekit_attributes.NOTE }}}}"\n        dest: {tmp_path}/seen\n'
        "      delegate_to: localhost\n"
    )
    result = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(path), str(play)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=instance_env(cloud.instance),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "seen").read_text() == text
    assert not marker.exists()


# ---- ansible-doc ---------------------------------------------------------------------------
def ansible_doc(*args: str, home: Path) -> str:
    env = {
        "PATH": str(VENV_BIN),
        "HOME": str(home),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "LANG": "C.UTF-8",
    }
    result = subprocess.run(
        [str(VENV_BIN / "ansible-doc"), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr and "ERROR" not in result.stderr, result.stderr
    return result.stdout


def test_ansible_doc_renders_the_modules_and_the_inventory_plugin(tmp_path):
    out = ansible_doc(
        "onekit.cloud.host", "onekit.cloud.vm_template", "onekit.cloud.vm", home=tmp_path
    )
    parts = {p.split(" ", 1)[0]: p for p in out.split("> MODULE onekit.cloud.")[1:]}
    assert sorted(parts) == ["host", "vm", "vm_template"], out[:300]
    for module, words in (
        ("host", ("uri", "im_mad_name", "vmm_mad_name", "monitor", "PRIORITY", "max_mem")),
        ("vm_template", ("SCHED_REQUIREMENTS", "template", "onekit_home")),
        (
            "vm",
            (
                "exact_count",
                "count_attributes",
                "count_labels",
                "instance_ids",
                "hard",
                "instances_ids",
                "tagged_instances",
                "deleted_ids",
            ),
        ),
    ):
        for word in words:
            assert word in parts[module], (module, word)

    out = ansible_doc("-t", "inventory", "onekit.cloud.vms", home=tmp_path)
    assert out.startswith("> INVENTORY onekit.cloud.vms "), out[:200]
    for option in ("onekit_home", "hostname", "states", "group_by_labels", "keyed_groups"):
        assert option in out, option
    assert "onekit_vms.yml" in out
    listing = ansible_doc("-t", "inventory", "-l", "onekit.cloud", home=tmp_path)
    assert "onekit.cloud.vms" in listing and "onekit VMs as inventory hosts" in listing

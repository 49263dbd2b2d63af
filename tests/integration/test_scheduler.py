"""The scheduler on simulated hosts (sim0, sim1: 16 CPUs, ~3 GiB each), on both backends.

What a user notices: where the VMs land (the store's history and the hypervisor agree), the
SCHED_MESSAGE a VM left PENDING shows in ``onevm show``, and the hosts' allocated capacity.
"""

from __future__ import annotations

import re
import time

import pytest
from conftest import Cloud

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    HostState,
    Lcm,
    VmState,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls, hosts, users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, templates, vms

SMALL = "CPU = 0.1\nMEMORY = 32\n"
RUNNING = (VmState.ACTIVE, Lcm.RUNNING)
PENDING = (VmState.PENDING, Lcm.LCM_INIT)


def pending_vms(session, text: str, count: int) -> list[int]:
    """``count`` new PENDING VMs of a new template (not scheduled yet)."""
    tpl = templates.create(session, text, name=f"t{time.monotonic_ns()}")
    return [vm["ID"] for vm in templates.instantiate(session, tpl["ID"], count)]


def state(cloud: Cloud, vm_id: int) -> tuple[int, int]:
    vm = vms.show(cloud.admin, vm_id)
    return vm["STATE"], vm["LCM_STATE"]


def host_of(cloud: Cloud, vm_id: int) -> str | None:
    """The host a RUNNING VM is on, checked against the hypervisors."""
    vm = vms.show(cloud.admin, vm_id)
    if (vm["STATE"], vm["LCM_STATE"]) != RUNNING:
        return None
    name = vm["HISTORY_RECORDS"][-1]["HOSTNAME"]
    index = int(name.removeprefix("sim"))
    assert cloud.guest_state(index, vm_id) == "running", f"VM {vm_id} is not on {name}"
    for other, sim in enumerate(cloud.sims):
        if other != index and sim.hold is not None:  # a killed host shows nothing
            assert cloud.guest_state(other, vm_id) == "missing", f"VM {vm_id} also on sim{other}"
    return name


def placement(cloud: Cloud, ids: list[int]) -> dict[int, str | None]:
    return {vm_id: host_of(cloud, vm_id) for vm_id in ids}


def sched_message(session, vm_id: int) -> str | None:
    return vms.show(session, vm_id)["USER_TEMPLATE"].get("SCHED_MESSAGE")


def share(cloud: Cloud, name: str) -> dict:
    return hosts.show(cloud.admin, name)["HOST_SHARE"]


def write_sched_conf(cloud: Cloud, text: str) -> None:
    cloud.instance.sched_config_path.write_text(text)


# ---- policies -------------------------------------------------------------------------------
def test_striping_by_default_spreads_vms_over_both_hosts(cloud: Cloud):
    ids = pending_vms(cloud.admin, SMALL, 4)
    outcomes = cloud.schedule()
    assert sorted(o.vm["ID"] for o in outcomes) == ids
    assert [o.error for o in outcomes] == [None] * 4
    where = placement(cloud, ids)
    assert sorted(where.values()) == ["sim0", "sim0", "sim1", "sim1"]
    assert share(cloud, "sim0")["RUNNING_VMS"] == share(cloud, "sim1")["RUNNING_VMS"] == 2


@pytest.mark.parametrize(
    ("policy", "host_tpl", "target"),
    [
        ("POLICY = 0", None, "sim0"),  # packing: the first VM's host takes the rest
        ("POLICY = 4", "PRIORITY = 7", "sim1"),  # fixed: the host with the highest PRIORITY
        ('POLICY = 3, RANK = "ID"', None, "sim1"),  # custom rank
        ('POLICY = 3, RANK = "- ID"', None, "sim0"),
    ],
)
def test_policies_with_room_for_all_on_one_host(cloud: Cloud, policy, host_tpl, target):
    write_sched_conf(cloud, f"MAX_HOST = 10\nDEFAULT_SCHED = [ {policy} ]\n")
    if host_tpl:
        hosts.update(cloud.admin, target, host_tpl, append=True)
    ids = pending_vms(cloud.admin, SMALL, 4)
    cloud.schedule(ids)
    assert placement(cloud, ids) == dict.fromkeys(ids, target)


def test_packing_follows_the_vms_already_running(cloud: Cloud):
    write_sched_conf(cloud, "MAX_HOST = 10\nDEFAULT_SCHED = [ POLICY = 0 ]\n")
    first = pending_vms(cloud.admin, SMALL + 'SCHED_REQUIREMENTS = "NAME = \\"sim1\\""\n', 1)
    cloud.schedule(first)
    later = pending_vms(cloud.admin, SMALL, 1)
    cloud.schedule(later)
    assert placement(cloud, first + later) == {first[0]: "sim1", later[0]: "sim1"}


def test_a_vms_sched_rank_beats_the_policy(cloud: Cloud):
    write_sched_conf(cloud, "MAX_HOST = 10\nDEFAULT_SCHED = [ POLICY = 0 ]\n")
    ids = pending_vms(cloud.admin, SMALL + 'SCHED_RANK = "ID"\n', 3)
    cloud.schedule(ids)
    assert placement(cloud, ids) == dict.fromkeys(ids, "sim1")


def test_cli_instantiate_places_vms_per_the_policy(cloud: Cloud, cli, tmp_path):
    path = tmp_path / "web.tmpl"
    path.write_text('NAME = "web"\n' + SMALL)
    cli("onetemplate", "create", str(path), check=True)
    result = cli("onetemplate", "instantiate", "web", "--multiple", "2", check=True)
    ids = [int(n) for n in re.findall(r"^VM ID: (\d+)$", result.stdout, re.M)]
    assert len(ids) == 2
    assert sorted(placement(cloud, ids).values()) == ["sim0", "sim1"]
    listing = cli("onevm", "list", check=True).stdout
    assert len(re.findall(r"\bsim[01]\b", listing)) == 2


# ---- MAX_HOST and MAX_DISPATCH, whoever places the VMs -------------------------------------
def test_a_command_takes_only_what_the_limits_leave_and_the_rest_waits(cloud: Cloud, cli, tmp_path):
    """MAX_HOST 1 per 30 s on two hosts: `--multiple 3` deploys two VMs at once, one per
    host; the third waits, PENDING, saying for what (not an error: exit 0), and a second
    command in the same window deploys nothing more."""
    write_sched_conf(cloud, "SCHED_INTERVAL = 30\nMAX_HOST = 1\n")
    path = tmp_path / "web.tmpl"
    path.write_text('NAME = "web"\n' + SMALL)
    cli("onetemplate", "create", str(path), check=True)
    result = cli("onetemplate", "instantiate", "web", "--multiple", "3")
    assert result.returncode == 0, result.stderr
    ids = [int(n) for n in re.findall(r"^VM ID: (\d+)$", result.stdout, re.M)]
    where = placement(cloud, ids)
    assert sorted(h for h in where.values() if h) == ["sim0", "sim1"]
    (waiting,) = [vm_id for vm_id, host in where.items() if host is None]
    note = (
        f"onetemplate instantiate: VM {waiting} waits for the next scheduling cycle: "
        "MAX_HOST (1) VMs dispatched in 30 s to every host that fits it\n"
    )
    assert result.stderr == note
    assert sched_message(cloud.admin, waiting).startswith("waiting for the next scheduling")
    again = cli("onetemplate", "instantiate", "web")
    assert again.returncode == 0 and "waits for the next scheduling cycle" in again.stderr
    assert [h for h in placement(cloud, ids).values() if h] == [where[i] for i in ids if where[i]]
    # once the window has passed (the hosts' dispatch times are older), the rest goes
    with cloud.admin.write() as w:
        for name in ("sim0", "sim1"):
            host = pool.resolve(w.tx, schema.HOSTS, name, lock=True)
            host["DISPATCHED"] = [t - 60 for t in host["DISPATCHED"]]
            pool.update(w.tx, schema.HOSTS, host)
    cloud.schedule()
    assert None not in placement(cloud, ids).values()


def test_max_dispatch_counts_every_placement_of_the_window(cloud: Cloud):
    write_sched_conf(cloud, "MAX_HOST = 10\nMAX_DISPATCH = 3\n")
    first = pending_vms(cloud.admin, SMALL, 2)
    cloud.schedule(first)
    later = pending_vms(cloud.admin, SMALL, 2)
    cloud.schedule(later)
    assert None not in placement(cloud, first).values()
    where = placement(cloud, later)
    assert len([h for h in where.values() if h]) == 1  # 2 + 1 = MAX_DISPATCH in 30 s
    (held,) = [vm_id for vm_id, host in where.items() if host is None]
    assert sched_message(cloud.admin, held) == (
        "waiting for the next scheduling cycle: MAX_DISPATCH (3) VMs dispatched in 30 s"
    )


# ---- capacity -------------------------------------------------------------------------------
def test_a_vm_with_no_room_stays_pending_and_onevm_show_says_why(cloud: Cloud, cli, tmp_path):
    path = tmp_path / "huge.tmpl"
    path.write_text('NAME = "huge"\nCPU = 1\nMEMORY = 65536\n')  # 64 GiB: no sim host has it
    cli("onetemplate", "create", str(path), check=True)
    result = cli("onetemplate", "instantiate", "huge", check=True)
    (vm_id,) = [int(n) for n in re.findall(r"^VM ID: (\d+)$", result.stdout, re.M)]
    assert state(cloud, vm_id) == PENDING
    shown = cli("onevm", "show", str(vm_id), check=True).stdout
    assert "no host with enough free capacity for CPU 1 and MEMORY 65536 MiB" in shown
    assert re.search(r"^SCHED_MESSAGE\b", shown, re.M)
    assert cloud.guest_state(0, vm_id) == cloud.guest_state(1, vm_id) == "missing"


def test_freeing_capacity_lets_the_waiting_vm_run(cloud: Cloud):
    ids = pending_vms(cloud.admin, "CPU = 12\nMEMORY = 64\n", 3)  # one per 16-CPU host
    cloud.schedule()
    first, second, waiting = ids
    assert placement(cloud, ids) == {first: "sim0", second: "sim1", waiting: None}
    assert state(cloud, waiting) == PENDING
    assert "no host with enough free capacity for CPU 12" in sched_message(cloud.admin, waiting)
    assert cloud.schedule() == []  # still no room: nothing happens

    lifecycle.act(cloud.admin, [second], "delete")
    assert state(cloud, second)[0] == VmState.DONE
    cloud.schedule()
    assert placement(cloud, [waiting]) == {waiting: "sim1"}
    assert sched_message(cloud.admin, waiting) is None  # the reason no longer holds


def test_capacity_accounting_rises_on_deploy_and_falls_on_delete_and_shutdown(cloud: Cloud):
    before = share(cloud, "sim0")
    assert (before["CPU_USAGE"], before["MEM_USAGE"], before["RUNNING_VMS"]) == (0, 0, 0)
    text = 'CPU = 0.5\nMEMORY = 64\nSCHED_REQUIREMENTS = "NAME = \\"sim0\\""\n'
    a, b = pending_vms(cloud.admin, text, 2)
    cloud.schedule()
    assert placement(cloud, [a, b]) == {a: "sim0", b: "sim0"}
    usage = share(cloud, "sim0")
    assert (usage["CPU_USAGE"], usage["MEM_USAGE"], usage["RUNNING_VMS"]) == (100, 128 * 1024, 2)
    assert sorted(hosts.show(cloud.admin, "sim0")["VMS"]) == [a, b]
    assert share(cloud, "sim1")["CPU_USAGE"] == 0
    cloud.monitor()  # monitoring measures; it does not undo the allocation
    usage = share(cloud, "sim0")
    assert (usage["CPU_USAGE"], usage["MEM_USAGE"], usage["RUNNING_VMS"]) == (100, 128 * 1024, 2)

    lifecycle.act(cloud.admin, [a], "delete")
    usage = share(cloud, "sim0")
    assert (usage["CPU_USAGE"], usage["MEM_USAGE"], usage["RUNNING_VMS"]) == (50, 64 * 1024, 1)

    lifecycle.act(cloud.admin, [b], "shutdown")
    cloud.monitor()  # finishes the shutdown if the guest took its time
    assert state(cloud, b)[0] == VmState.DONE
    usage = share(cloud, "sim0")
    assert (usage["CPU_USAGE"], usage["MEM_USAGE"], usage["RUNNING_VMS"]) == (0, 0, 0)
    assert hosts.show(cloud.admin, "sim0")["VMS"] == []
    assert cloud.guest_state(0, a) == cloud.guest_state(0, b) == "missing"


# ---- host states ----------------------------------------------------------------------------
def _disable_sim0(cloud: Cloud) -> None:
    hosts.disable(cloud.admin, "sim0")


def _kill_sim0(cloud: Cloud) -> None:
    cloud.sims[0].kill()
    cloud.monitor()


@pytest.mark.parametrize(
    ("make_unavailable", "host_state"),
    [(_disable_sim0, HostState.DISABLED), (_kill_sim0, HostState.ERROR)],
)
def test_a_disabled_or_error_host_gets_no_vm(cloud: Cloud, make_unavailable, host_state):
    make_unavailable(cloud)
    assert hosts.show(cloud.admin, "sim0")["STATE"] == host_state
    ids = pending_vms(cloud.admin, SMALL, 3)
    cloud.schedule()
    assert [state(cloud, vm_id) for vm_id in ids] == [RUNNING] * 3
    assert {
        vm_id: vms.show(cloud.admin, vm_id)["HISTORY_RECORDS"][-1]["HOSTNAME"] for vm_id in ids
    } == dict.fromkeys(ids, "sim1")
    for vm_id in ids:
        assert cloud.guest_state(1, vm_id) == "running"
    assert share(cloud, "sim0")["RUNNING_VMS"] == 0


def test_with_no_monitored_host_vms_wait_with_a_message(cloud: Cloud):
    hosts.disable(cloud.admin, "sim0")
    cloud.sims[1].kill()
    cloud.monitor()
    ids = pending_vms(cloud.admin, SMALL, 2)
    assert cloud.schedule() == []
    for vm_id in ids:
        assert state(cloud, vm_id) == PENDING
        assert sched_message(cloud.admin, vm_id) == (
            "no host is MONITORED (enabled and reachable) to run VMs"
        )
    hosts.enable(cloud.admin, "sim0")
    cloud.monitor()
    cloud.schedule()
    assert placement(cloud, ids) == dict.fromkeys(ids, "sim0")


# ---- requirements ---------------------------------------------------------------------------
def test_requirements_put_every_vm_on_sim1(cloud: Cloud, cli, tmp_path):
    path = tmp_path / "pinned.tmpl"
    path.write_text('NAME = "pinned"\n' + SMALL + 'SCHED_REQUIREMENTS = "NAME = \\"sim1\\""\n')
    cli("onetemplate", "create", str(path), check=True)
    result = cli("onetemplate", "instantiate", "pinned", "-m", "3", check=True)
    ids = [int(n) for n in re.findall(r"^VM ID: (\d+)$", result.stdout, re.M)]
    assert len(ids) == 3
    for vm_id in ids:
        assert state(cloud, vm_id) == RUNNING
        assert cloud.guest_state(1, vm_id) == "running"
        assert cloud.guest_state(0, vm_id) == "missing"
    assert share(cloud, "sim1")["RUNNING_VMS"] == 3


def test_unmet_requirements_leave_the_vm_pending_with_a_message(cloud: Cloud):
    (vm_id,) = pending_vms(cloud.admin, SMALL + 'SCHED_REQUIREMENTS = "NAME = \\"sim9\\""\n', 1)
    assert cloud.schedule() == []
    assert state(cloud, vm_id) == PENDING
    assert sched_message(cloud.admin, vm_id) == 'no host meets SCHED_REQUIREMENTS: NAME = "sim9"'


def test_a_malformed_requirement_blocks_only_its_vm(cloud: Cloud):
    bad, good = pending_vms(cloud.admin, SMALL, 2)
    with pytest.raises(InvalidInput, match="SCHED_REQUIREMENTS: syntax error"):
        vms.update_user_template(cloud.admin, bad, 'SCHED_REQUIREMENTS = "NAME = sim-1"')
    with cloud.admin.db.transaction() as tx:  # a store edited by hand, say
        body = pool.get(tx, schema.VMS, bad, lock=True)
        body["USER_TEMPLATE"]["SCHED_REQUIREMENTS"] = "NAME = sim-1"
        pool.update(tx, schema.VMS, body)
    cloud.schedule()
    assert state(cloud, good) == RUNNING
    assert state(cloud, bad) == PENDING
    assert "SCHED_REQUIREMENTS" in (sched_message(cloud.admin, bad) or "")


# ---- ACL: the VM's owner needs MANAGE on the host -------------------------------------------
def test_a_user_needs_manage_on_a_host_and_a_rule_opens_only_that_host(cloud: Cloud):
    alice_body = users.create(cloud.admin, "alice", "alice-pw")
    alice = cloud.instance.session("alice", "alice-pw")
    try:
        ids = pending_vms(alice, SMALL, 2)
        assert cloud.schedule() == []
        for vm_id in ids:
            assert state(cloud, vm_id) == PENDING
            message = sched_message(alice, vm_id)
            assert "MANAGE" in message and "ACL" in message
        assert hosts.show(cloud.admin, "sim1")["ID"] == 1

        acls.create(cloud.admin, f"#{alice_body['ID']} HOST/#1 MANAGE")
        cloud.schedule()
        assert placement(cloud, ids) == dict.fromkeys(ids, "sim1")  # striping would use sim0
        assert all(sched_message(alice, vm_id) is None for vm_id in ids)
        # oneadmin's VM still goes anywhere: the emptiest host
        mine = pending_vms(cloud.admin, SMALL, 1)
        cloud.schedule()
        assert placement(cloud, mine) == {mine[0]: "sim0"}
    finally:
        alice.db.close()


# ---- scale ----------------------------------------------------------------------------------
def test_200_vms_over_4_hosts_in_one_schedule_call(cloud: Cloud, sim_hosts):
    for index, sim in enumerate(sim_hosts(2), start=2):
        hosts.create(cloud.admin, f"sim{index}", uri=sim.uri)
        cloud.sims.append(sim)
    cloud.monitor()
    names = [f"sim{i}" for i in range(4)]
    assert [hosts.show(cloud.admin, n)["STATE"] for n in names] == [HostState.MONITORED] * 4
    write_sched_conf(cloud, "MAX_HOST = 50\nMAX_DISPATCH = 200\n")  # room for all at once
    ids = pending_vms(cloud.admin, SMALL, 200)

    started = time.monotonic()
    outcomes = cloud.schedule()
    elapsed = time.monotonic() - started
    print(f"\nscheduled and deployed 200 VMs on 4 simulated hosts in {elapsed:.2f} s")

    assert len(outcomes) == 200 and not [o.error for o in outcomes if o.error]
    assert all(state(cloud, vm_id) == RUNNING for vm_id in ids)
    for index, name in enumerate(names):
        usage = share(cloud, name)
        assert usage["CPU_USAGE"] <= usage["MAX_CPU"] and usage["MEM_USAGE"] <= usage["MAX_MEM"]
        assert usage["RUNNING_VMS"] == 50  # striping: even
        assert (usage["CPU_USAGE"], usage["MEM_USAGE"]) == (50 * 10, 50 * 32 * 1024)
        guests = [d.name() for d in cloud.sims[index].hold.listAllDomains()]
        assert len([g for g in guests if g.startswith("one-")]) == 50  # really running there

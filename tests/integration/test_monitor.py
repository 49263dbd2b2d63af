"""Host monitoring and the reconciler, on simulated hosts whose libvirtd really dies.

What a user notices: a host whose hypervisor is gone turns ERROR with the reason and its
VMs UNKNOWN, and comes back by itself; a VM left half-way by a process that died is
finished or failed by the next monitoring cycle, from what the hypervisor shows; a guest
the store says is DONE does not keep running.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from conftest import Cloud
from support.cli import login_as
from support.plays import sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, remote, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    InvalidInput,
    NotFound,
    StoreError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    HostState,
    Lcm,
    VmState,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts, users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import (
    lifecycle,
    monitor,
    templates,
    vms,
)

TINY = 'NAME = "tiny"\nCPU = 0.1\nMEMORY = 32\n'


def running_vms(cloud: Cloud, count: int, requirements: str | None = None) -> list[dict]:
    text = TINY + (f'SCHED_REQUIREMENTS = "{requirements}"\n' if requirements else "")
    tpl = templates.create(cloud.admin, text, name=f"t{time.monotonic_ns()}")
    made = templates.instantiate(cloud.admin, tpl["ID"], count)
    outcomes = cloud.schedule([vm["ID"] for vm in made])
    assert [o.error for o in outcomes] == [None] * count
    return [vms.show(cloud.admin, vm["ID"]) for vm in made]


def state(cloud: Cloud, vm_id: int) -> tuple[int, int]:
    vm = vms.show(cloud.admin, vm_id)
    return vm["STATE"], vm["LCM_STATE"]


def host_state(cloud: Cloud, name: str) -> dict:
    return hosts.show(cloud.admin, name)


def test_a_good_poll_records_capacity_and_usage(cloud: Cloud):
    vm = running_vms(cloud, 1, 'NAME = \\"sim0\\"')[0]
    cloud.monitor()
    host = host_state(cloud, "sim0")
    assert host["STATE"] == HostState.MONITORED
    assert host["HOST_SHARE"]["MAX_CPU"] == 1600  # the test driver: 16 CPUs
    assert host["HOST_SHARE"]["MAX_MEM"] > 0
    assert host["TEMPLATE"]["HYPERVISOR"]
    assert host["HOST_SHARE"]["CPU_USAGE"] == 10 and host["HOST_SHARE"]["RUNNING_VMS"] == 1
    assert vms.show(cloud.admin, vm["ID"])["MONITORING"]["MEMORY"] == 32 * 1024


def test_a_host_with_hundreds_of_vms_has_every_vm_checked(cloud: Cloud):
    """The cycle reads a host's VMs as lists of ids, one per host and state: a list longer
    than MySQL's default GROUP_CONCAT limit (1 KB, ~250 ids here) still holds them all."""
    tpl = templates.create(cloud.admin, "CPU = 0.01\nMEMORY = 1\n", name="speck")
    ids = [vm["ID"] for vm in templates.instantiate(cloud.admin, tpl["ID"], 400)]
    outcomes = lifecycle.deploy_by_hand(cloud.admin, [(vm_id, "sim0") for vm_id in ids])
    assert [o.error for o in outcomes] == [None] * len(ids)
    last = max(ids)
    cloud.sims[0].hold.lookupByName(f"one-{last}").destroy()  # behind onekit's back
    cloud.monitor()
    seen = vms.list_by_ids(cloud.admin, ids)
    assert {vm["ID"] for vm in seen if vm.get("MONITORING", {}).get("MEMORY")} == set(ids) - {last}
    assert state(cloud, last) == (VmState.POWEROFF, Lcm.LCM_INIT)


def test_a_dead_host_turns_error_and_its_vms_unknown_then_comes_back(cloud: Cloud):
    on0 = running_vms(cloud, 2, 'NAME = \\"sim0\\"')
    on1 = running_vms(cloud, 1, 'NAME = \\"sim1\\"')
    cloud.sims[0].kill()
    reports = {r.name: r for r in cloud.monitor()}
    assert reports["sim0"].went_error and not reports["sim1"].went_error
    dead = host_state(cloud, "sim0")
    assert dead["STATE"] == HostState.ERROR
    assert "cannot connect to libvirt" in dead["TEMPLATE"]["ERROR"]
    assert {state(cloud, vm["ID"]) for vm in on0} == {(VmState.ACTIVE, Lcm.UNKNOWN)}
    assert state(cloud, on1[0]["ID"]) == (VmState.ACTIVE, Lcm.RUNNING)
    # a second failed poll is not a new transition (hooks fire once per transition)
    assert not {r.name: r for r in cloud.monitor()}["sim0"].went_error

    cloud.sims[0].start()  # the hypervisor is back, empty: its guests are gone
    cloud.monitor()
    assert host_state(cloud, "sim0")["STATE"] == HostState.MONITORED
    assert "ERROR" not in host_state(cloud, "sim0")["TEMPLATE"]
    assert {state(cloud, vm["ID"]) for vm in on0} == {(VmState.POWEROFF, Lcm.LCM_INIT)}
    out = lifecycle.act(cloud.admin, [on0[0]["ID"]], "boot")
    assert out[0].error is None
    assert state(cloud, on0[0]["ID"]) == (VmState.ACTIVE, Lcm.RUNNING)
    assert cloud.guest_state(0, on0[0]["ID"]) == "running"


def test_a_frozen_host_costs_the_others_only_its_timeout(cloud: Cloud):
    """SIGSTOP on one libvirtd: that host is ERROR after its IM_MAD's -w, the other is
    polled as usual, and the cycle ends soon after the timeout; the next cycle does not
    ask the host again while the first poll is stuck, and says so."""
    running_vms(cloud, 1, 'NAME = \\"sim1\\"')
    conf = cloud.instance.config_path.read_text()
    conf += 'IM_MAD = [ name = "kvm", executable = "one_im_ssh", arguments = "-t 15 -w 2 kvm" ]\n'
    cloud.instance.config_path.write_text(conf)
    cloud.instance.session_settings()  # the process reads its drivers' settings again
    os.kill(cloud.sims[0].pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        reports = {r.name: r for r in cloud.monitor()}
        elapsed = time.monotonic() - started
        again = {r.name: r for r in cloud.monitor()}
    finally:
        os.kill(cloud.sims[0].pid, signal.SIGCONT)
    assert elapsed < 8, f"one frozen host held the cycle {elapsed:.1f} s"
    assert reports["sim0"].state == HostState.ERROR
    assert "monitor on host sim0" in reports["sim0"].error
    assert "no answer within 2 s" in reports["sim0"].error
    assert again["sim0"].state == HostState.ERROR
    assert "not asked: an earlier call has had no answer" in again["sim0"].error
    assert again["sim1"].state == HostState.MONITORED
    assert reports["sim1"].state == HostState.MONITORED and reports["sim1"].error is None


def test_a_disabled_host_stays_disabled_and_empty_ones_are_not_polled(cloud: Cloud):
    vm = running_vms(cloud, 1, 'NAME = \\"sim0\\"')[0]
    hosts.disable(cloud.admin, "sim0")
    hosts.disable(cloud.admin, "sim1")
    reports = {r.name for r in cloud.monitor()}
    assert reports == {"sim0"}  # sim1 is disabled and holds nothing
    assert host_state(cloud, "sim0")["STATE"] == HostState.DISABLED
    assert state(cloud, vm["ID"]) == (VmState.ACTIVE, Lcm.RUNNING)


# ---- monitoring history ------------------------------------------------------------------
def _age(cloud: Cloud, seconds: int) -> None:
    """Make every sample ``seconds`` older, as if that much time had passed."""
    with cloud.admin.db.transaction() as tx:
        tx.execute("UPDATE host_monitoring SET last_mon_time = last_mon_time - ?", (seconds,))
        tx.execute("UPDATE vm_monitoring SET last_poll = last_poll - ?", (seconds,))


def _later_cycle(cloud: Cloud, **overrides) -> None:
    """A cycle 100 s after the samples so far (one sample per host and second)."""
    _age(cloud, 100)
    cloud.monitor(**overrides)


def _counts(cloud: Cloud) -> tuple[int, int]:
    with cloud.admin.db.snapshot() as tx:
        return (
            tx.row("SELECT COUNT(*) FROM host_monitoring")[0],
            tx.row("SELECT COUNT(*) FROM vm_monitoring")[0],
        )


def test_monitoring_history_is_kept_for_the_expiration_times(cloud: Cloud):
    vm = running_vms(cloud, 1, 'NAME = \\"sim0\\"')[0]
    host_id = host_state(cloud, "sim0")["ID"]
    _later_cycle(cloud)
    _later_cycle(cloud)
    samples = monitor.host_monitoring(cloud.admin, "sim0")
    assert [s["STATE"] for s in samples] == [HostState.MONITORED] * 3  # the fixture's too
    assert samples[-1]["HOST_SHARE"]["RUNNING_VMS"] == 1
    assert samples == sorted(samples, key=lambda s: s["TIME"])
    figures = monitor.vm_monitoring(cloud.admin, vm["ID"])
    assert len(figures) == 2 and figures[-1]["MEMORY"] == 32 * 1024
    assert figures[-1]["MEMORY"] == vms.show(cloud.admin, vm["ID"])["MONITORING"]["MEMORY"]
    # a window: the newest samples, or those since a time
    assert monitor.host_monitoring(cloud.admin, host_id, limit=1) == samples[-1:]
    assert monitor.vm_monitoring(cloud.admin, vm["ID"], since=figures[-1]["TIME"]) == figures[1:]

    # older than the expiration times: gone at the next cycle, the new samples stay
    _later_cycle(cloud, host_expiration=50, vm_expiration=50)
    assert len(monitor.host_monitoring(cloud.admin, host_id)) == 1
    assert len(monitor.vm_monitoring(cloud.admin, vm["ID"])) == 1


def test_expiration_0_records_nothing_and_keeps_nothing(cloud: Cloud):
    vm = running_vms(cloud, 1, 'NAME = \\"sim0\\"')[0]
    _later_cycle(cloud)
    assert _counts(cloud) == (4, 1)
    _later_cycle(cloud, vm_expiration=0)  # the VMs' history only: the hosts' goes on
    assert _counts(cloud) == (6, 0)
    assert monitor.vm_monitoring(cloud.admin, vm["ID"]) == []
    cloud.monitor(host_expiration=0, vm_expiration=0)
    assert _counts(cloud) == (0, 0)
    assert monitor.vm_monitoring(cloud.admin, vm["ID"]) == []
    # the VM's own figures are still those of the last poll
    assert vms.show(cloud.admin, vm["ID"])["MONITORING"]["MEMORY"] == 32 * 1024


def test_a_backlog_of_old_samples_expires_a_batch_per_cycle(cloud: Cloud):
    """After a long outage: each cycle deletes at most the batch, the next ones go on,
    and the current samples are never touched."""
    vm = running_vms(cloud, 1, 'NAME = \\"sim0\\"')[0]
    old = int(time.time()) - 100_000
    sim0 = host_state(cloud, "sim0")["ID"]
    with cloud.admin.db.transaction() as tx:
        for i in range(25):
            tx.execute(
                "INSERT INTO vm_monitoring (hid, last_poll, body) VALUES (?, ?, '{}')",
                (sim0, old + i),
            )
            tx.execute(
                "INSERT INTO host_monitoring (hid, last_mon_time, body) VALUES (?, ?, '{}')",
                (1, old + i),
            )
    expired = []
    for _ in range(3):
        _age(cloud, 100)
        before = _counts(cloud)
        cloud.monitor(expiry_batch=10)
        written = (2, 1)  # a sample per host, and one row of VM samples (sim0's)
        expired.append(
            tuple(b + w - a for b, w, a in zip(before, written, _counts(cloud), strict=True))
        )
    assert expired == [(10, 10), (10, 10), (5, 5)]
    assert len(monitor.vm_monitoring(cloud.admin, vm["ID"])) == 3
    assert len(monitor.host_monitoring(cloud.admin, "sim1")) == 4  # the fixture's too


def test_onevm_show_has_the_last_cycles_figures_and_time(cloud: Cloud, cli):
    """The figures are stored a row per host and cycle, not in each VM: what `onevm
    show` prints is still the last cycle's (its time as LAST_POLL), also with no history
    kept, and a VM that left the host keeps the last figures it had there."""
    vm = running_vms(cloud, 1, 'NAME = \\"sim0\\"')[0]
    polls = []
    for _ in range(2):
        time.sleep(1.1)  # samples are by the second
        cloud.monitor(vm_expiration=0)
        shown = cli.json("onevm", "show", str(vm["ID"]))["VM"]
        assert shown["MONITORING"]["MEMORY"] == 32 * 1024
        assert shown["LAST_POLL"] == host_state(cloud, "sim0")["LAST_MON_TIME"]
        polls.append(shown["LAST_POLL"])
    assert polls[1] > polls[0]
    listed = {v["ID"]: v for v in vms.list_vms(cloud.admin)}
    assert listed[vm["ID"]]["LAST_POLL"] == polls[1]
    assert lifecycle.act(cloud.admin, [vm["ID"]], "poweroff-hard")[0].error is None
    cloud.monitor()
    off = vms.show(cloud.admin, vm["ID"])
    assert off["MONITORING"]["MEMORY"] == 32 * 1024 and off["LAST_POLL"] >= polls[1]


def test_a_vm_that_moved_keeps_its_samples_from_every_host(cloud: Cloud, cli):
    """The VMs' samples are stored a row per host and cycle: a VM that left sim0 for
    sim1 (undeployed, deployed again there) still shows its samples from sim0 before
    those from sim1 in `onevm show --monitoring`, and a VM still on sim0 is unaffected."""
    moved, stayed = running_vms(cloud, 2, 'NAME = \\"sim0\\"')
    cloud.monitor()
    on_sim0 = monitor.vm_monitoring(cloud.admin, moved["ID"])
    assert len(on_sim0) == 1
    assert lifecycle.act(cloud.admin, [moved["ID"]], "undeploy-hard")[0].error is None
    assert lifecycle.act(cloud.admin, [moved["ID"]], "resume")[0].error is None
    sim1 = host_state(cloud, "sim1")["ID"]
    assert [o.error for o in lifecycle.deploy(cloud.admin, [(moved["ID"], sim1)])] == [None]
    time.sleep(1.1)  # samples are by the second: the next cycle's is a new one
    cloud.monitor()
    shown = cli.json("onevm", "show", str(moved["ID"]), "--monitoring", "-n", "10")
    history = shown["MONITORING_DATA"]
    assert [h["HOSTNAME"] for h in shown["VM"]["HISTORY_RECORDS"]] == ["sim0", "sim1"]
    assert len(history) == 2 and history[0] == on_sim0[0]
    assert history[1]["TIME"] > history[0]["TIME"]
    assert history[1]["MEMORY"] == 32 * 1024
    assert len(monitor.vm_monitoring(cloud.admin, stayed["ID"])) == 2
    # the window still counts samples, not rows: the newest one is sim1's
    assert monitor.vm_monitoring(cloud.admin, moved["ID"], limit=1) == history[1:]
    assert monitor.vm_monitoring(cloud.admin, moved["ID"], since=history[1]["TIME"]) == history[1:]


def test_a_store_of_the_previous_schema_version_is_upgraded(cloud: Cloud, cli):
    """A store made by the release before (local version 3: a row per VM sample) is
    refused with the command that upgrades it; `onedb upgrade` does, and the
    cycle then records and reads the samples as usual."""
    vm = running_vms(cloud, 1, 'NAME = \\"sim0\\"')[0]
    db = cloud.admin.db
    with db.transaction() as tx:
        tx.execute("DROP TABLE vm_monitoring")
        tx.execute("DROP TABLE user_quotas")  # version 5's
        tx.execute("DROP TABLE group_quotas")
    with db.transaction() as tx:
        tx.execute(
            "CREATE TABLE vm_monitoring (vmid INTEGER, last_poll INTEGER, body TEXT, "
            "PRIMARY KEY (vmid, last_poll))"
        )
        tx.execute("INSERT INTO vm_monitoring VALUES (?, 1, '{}')", (vm["ID"],))
        tx.execute("UPDATE local_db_versioning SET version = '3'")
    with pytest.raises(
        StoreError, match=r"local schema version 3, .* needs version 5; run `onedb upgrade`"
    ):
        cloud.instance.open_store()
    refused = cli("onevm", "show", str(vm["ID"]))
    assert refused.returncode != 0 and "onedb upgrade" in refused.stderr

    lock = db.try_leader_lock("loops")  # what a server on another front-end holds
    try:
        busy = cli("onedb", "upgrade")
    finally:
        lock.release()
    assert busy.returncode != 0 and "an onekit-server is running" in busy.stderr
    assert "every server stopped" in busy.stderr
    done = cli("onedb", "upgrade", check=True).stdout
    assert "local version 3 -> 4" in done and "per-VM samples of version 3 are dropped" in done
    assert "local version 4 -> 5: user_quotas and group_quotas" in done
    assert "nothing to do" in cli("onedb", "upgrade", check=True).stdout
    cloud.instance.open_store().close()
    assert monitor.vm_monitoring(cloud.admin, vm["ID"]) == []  # the old samples are gone
    cloud.monitor()
    assert [s["MEMORY"] for s in monitor.vm_monitoring(cloud.admin, vm["ID"])] == [32 * 1024]
    assert cli.json("onevm", "show", str(vm["ID"]), "--monitoring")["MONITORING_DATA"]
    cli("onegroup", "quota", "users", "-", input="VM = [ VMS = 1 ]", check=True)
    assert cli.json("onegroup", "show", "users")["GROUP"]["VM_QUOTA"]["VMS"] == 1

    with db.transaction() as tx:  # a version no upgrade starts from
        tx.execute("UPDATE local_db_versioning SET version = '2'")
    old = cli("onedb", "upgrade")
    assert old.returncode != 0
    assert "local schema version 2; this onekit upgrades versions 3, 4 to 5" in old.stderr


def test_reading_samples_checks_the_reference_the_rights_and_the_window(cloud: Cloud):
    vm = running_vms(cloud, 1, 'NAME = \\"sim0\\"')[0]
    users.create(cloud.admin, "eve", "pw")
    eve = cloud.instance.session("eve", "pw")
    with pytest.raises(NotFound, match="host 99 does not exist"):
        monitor.host_monitoring(cloud.admin, 99)
    with pytest.raises(NotFound, match="VM named 'nope' does not exist"):
        monitor.vm_monitoring(cloud.admin, "nope")
    with pytest.raises(AuthorizationError, match="not authorized to perform USE VM"):
        monitor.vm_monitoring(eve, vm["ID"])
    for bad in (0, 10001, "5", True):
        with pytest.raises(InvalidInput, match="limit must be a whole number from 1 to 10000"):
            monitor.vm_monitoring(cloud.admin, vm["ID"], limit=bad)
    with pytest.raises(InvalidInput, match="since must be epoch seconds"):
        monitor.host_monitoring(cloud.admin, 0, since=-1)


@sqlite_only
def test_onehost_and_onevm_show_print_the_samples(cloud: Cloud, cli, tmp_path):
    vm = running_vms(cloud, 1, 'NAME = \\"sim0\\"')[0]
    _later_cycle(cloud)
    _later_cycle(cloud)
    shown = cli("onehost", "show", "sim0", "--monitoring", check=True).stdout
    history = shown.split("MONITORING HISTORY\n", 1)[1].splitlines()
    assert history[0].split() == [
        "TIME", "STAT", "USED_CPU", "USED_MEM", "ALLOCATED_CPU", "ALLOCATED_MEM", "RVM"
    ]  # fmt: skip
    assert len(history) == 4 and history[-1].split()[2] == "on"  # 3 samples; "on": MONITORED
    assert "MONITORING HISTORY" not in cli("onehost", "show", "sim0", check=True).stdout

    out = cli("onevm", "show", str(vm["ID"]), "-n", "1", check=True).stdout
    rows = out.split("VIRTUAL MACHINE MONITORING HISTORY\n", 1)[1].splitlines()
    assert rows[0].split() == ["TIME", "UCPU", "UMEM", "NET_TX", "NET_RX"]
    assert len(rows) == 2 and rows[1].split()[3] == "32M"
    data = cli.json("onevm", "show", str(vm["ID"]), "--monitoring")
    assert data["VM"]["ID"] == vm["ID"]
    assert [s["MEMORY"] for s in data["MONITORING_DATA"]] == [32 * 1024] * 2

    unknown = cli("onevm", "show", "77", "--monitoring")
    assert (unknown.returncode, unknown.stderr) == (1, "onevm show: VM 77 does not exist\n")
    bad = cli("onehost", "show", "sim0", "--samples", "0")
    assert bad.returncode == 2 and "--samples/-n: must be a whole number from 1" in bad.stderr
    cli("oneuser", "create", "bob", "pw", check=True)
    refused = cli("onevm", "show", str(vm["ID"]), "-m", env=login_as(tmp_path, "bob", "pw"))
    assert refused.returncode == 1
    assert f"not authorized to perform USE VM [{vm['ID']}]" in refused.stderr


@sqlite_only
def test_the_samples_are_read_through_another_zones_core_api(cloud: Cloud, cli):
    """What `onezone set` makes of `onevm show --monitoring`: the core API's operation,
    as the caller, over HTTP."""
    vm = running_vms(cloud, 1, 'NAME = \\"sim0\\"')[0]
    users.create(cloud.admin, "eve", "pw")
    cli("onekit-server", "start", check=True)
    try:
        endpoint = cloud.instance.config().endpoint
        admin = cloud.instance.credentials()
        got = remote.call(endpoint, admin, "monitor.vm_monitoring", [vm["ID"]], {"limit": 5})
        assert got and got[-1]["MEMORY"] == 32 * 1024
        hosts_seen = remote.call(endpoint, admin, "monitor.host_monitoring", ["sim0"])
        assert hosts_seen[-1]["STATE"] == HostState.MONITORED
        with pytest.raises(AuthorizationError, match="not authorized to perform USE VM"):
            remote.call(endpoint, ("eve", "pw"), "monitor.vm_monitoring", [vm["ID"]])
        with pytest.raises(InvalidInput, match="limit"):
            remote.call(endpoint, admin, "monitor.vm_monitoring", [vm["ID"]], {"limit": 0})
    finally:
        cli("onekit-server", "stop")


# ---- the reconciler: a process died half-way ------------------------------------------
def _stage(cloud: Cloud, vm_id: int, lcm: Lcm, age: int = 0) -> None:
    """Leave a VM as a dead process would have: in a transient state since ``age`` s."""
    with cloud.admin.db.transaction() as tx:
        vm = pool.get(tx, schema.VMS, vm_id, lock=True)
        vm["STATE"], vm["LCM_STATE"] = int(VmState.ACTIVE), int(lcm)
        vm["TRANSIENT_SINCE"] = int(time.time()) - age
        pool.update(tx, schema.VMS, vm)


def _define_guest(cloud: Cloud, index: int, vm_id: int) -> None:
    """A guest on the host, made behind onekit's back."""
    xml = (
        f"<domain type='test'><name>one-{vm_id}</name><memory>32768</memory>"
        "<os><type>hvm</type></os></domain>"
    )
    cloud.sims[index].hold.createXML(xml)


def test_boot_interrupted_after_the_guest_started_concludes_running(cloud: Cloud):
    vm = running_vms(cloud, 1, 'NAME = \\"sim0\\"')[0]
    _stage(cloud, vm["ID"], Lcm.BOOT)  # the guest runs; the process died before RUNNING
    cloud.monitor()
    assert state(cloud, vm["ID"]) == (VmState.ACTIVE, Lcm.RUNNING)


def test_boot_interrupted_before_the_guest_started_is_resubmitted_after_the_grace(
    cloud: Cloud,
):
    """Whoever deployed it died before the hypervisor was asked: nothing ran, so the VM
    is PENDING again for the scheduler (no FAILED, no onevm recover)."""
    vm = running_vms(cloud, 1, 'NAME = \\"sim0\\"')[0]
    cloud.sims[0].hold.lookupByName(f"one-{vm['ID']}").destroy()
    _stage(cloud, vm["ID"], Lcm.BOOT)
    cloud.monitor(grace=60)
    assert state(cloud, vm["ID"]) == (VmState.ACTIVE, Lcm.BOOT)  # may still be starting
    _stage(cloud, vm["ID"], Lcm.BOOT, age=120)
    report = {r.name: r for r in cloud.monitor(grace=60)}["sim0"]
    assert any("no guest appeared" in change for change in report.changes)
    again = vms.show(cloud.admin, vm["ID"])
    assert (again["STATE"], again["DEPLOY_ID"]) == (VmState.PENDING, "")
    assert "interrupted before the guest started" in again["USER_TEMPLATE"]["ERROR"]["MESSAGE"]
    assert again["HISTORY_RECORDS"][-1]["REASON"] == "ERROR"
    assert host_state(cloud, "sim0")["HOST_SHARE"]["RUNNING_VMS"] == 0  # capacity freed
    cloud.schedule([vm["ID"]])
    assert state(cloud, vm["ID"]) == (VmState.ACTIVE, Lcm.RUNNING)


def test_shutdown_interrupted_concludes_from_the_guest(cloud: Cloud):
    gone, still = running_vms(cloud, 2, 'NAME = \\"sim0\\"')
    cloud.sims[0].hold.lookupByName(f"one-{gone['ID']}").destroy()
    _stage(cloud, gone["ID"], Lcm.SHUTDOWN)
    _stage(cloud, still["ID"], Lcm.SHUTDOWN, age=1000)  # ACPI ignored for too long
    cloud.monitor(shutdown_timeout=300)
    assert state(cloud, gone["ID"]) == (VmState.DONE, Lcm.LCM_INIT)
    back = vms.show(cloud.admin, still["ID"])
    assert (back["STATE"], back["LCM_STATE"]) == (VmState.ACTIVE, Lcm.RUNNING)
    assert "SHUTDOWN did not finish within 300 s" in back["USER_TEMPLATE"]["ERROR"]["MESSAGE"]


def test_a_guest_whose_vm_is_done_is_destroyed_and_foreign_ones_are_left(cloud: Cloud):
    vm = running_vms(cloud, 1, 'NAME = \\"sim0\\"')[0]
    lifecycle.act(cloud.admin, [vm["ID"]], "delete")
    _define_guest(cloud, 0, vm["ID"])  # it comes back behind onekit's back
    _define_guest(cloud, 0, 99999)  # an id this store never issued: not onekit's
    report = {r.name: r for r in cloud.monitor()}["sim0"]
    assert report.orphans == [f"one-{vm['ID']}"]
    assert cloud.guest_state(0, vm["ID"]) == "missing"
    assert cloud.guest_state(0, 99999) == "running"


def test_recover_decides_a_stuck_vm_by_hand(cloud: Cloud):
    a, b = running_vms(cloud, 2, 'NAME = \\"sim0\\"')
    _stage(cloud, a["ID"], Lcm.SAVE_SUSPEND)
    _stage(cloud, b["ID"], Lcm.SAVE_SUSPEND)
    assert lifecycle.recover(cloud.admin, a["ID"], success=True)["STATE"] == VmState.SUSPENDED
    failed = lifecycle.recover(cloud.admin, b["ID"], success=False)
    assert (failed["STATE"], failed["LCM_STATE"]) == (VmState.ACTIVE, Lcm.RUNNING)
    with pytest.raises(lifecycle.WrongState, match="recover needs a transient ACTIVE state"):
        lifecycle.recover(cloud.admin, b["ID"], success=True)

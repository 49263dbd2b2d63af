"""Life-cycle edge cases that once went wrong: an old checkpoint restored twice, a failed
action reporting RUNNING for an UNKNOWN VM, a guest left behind by a lost race, a batch
refused whole for one VM, a STOPPED VM's host deleted under it."""

from __future__ import annotations

import pytest
from conftest import Cloud

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import Conflict
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import Lcm, VmState
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, templates, vms


def running(cloud: Cloud, count: int = 1, on: str = "sim0") -> list[int]:
    tpl = templates.create(
        cloud.admin,
        f'NAME = "t{count}{on}"\nCPU = 0.1\nMEMORY = 32\n'
        f'SCHED_REQUIREMENTS = "NAME = \\"{on}\\""\n',
    )
    ids = [vm["ID"] for vm in templates.instantiate(cloud.admin, tpl["ID"], count)]
    assert [o.error for o in cloud.schedule(ids)] == [None] * count
    return ids


def state(cloud: Cloud, vm_id: int) -> tuple[str, str]:
    vm = vms.show(cloud.admin, vm_id)
    return VmState(vm["STATE"]).name, Lcm(vm["LCM_STATE"]).name


def checkpoint_dir(cloud: Cloud, tmp_path) -> None:
    for name in ("sim0", "sim1"):
        hosts.update(cloud.admin, name, f'CHECKPOINT_DIR = "{tmp_path}"', append=True)


def test_a_checkpoint_is_restored_once(cloud: Cloud, tmp_path):
    checkpoint_dir(cloud, tmp_path)
    (vm_id,) = running(cloud)
    lifecycle.act(cloud.admin, [vm_id], "stop")
    assert vms.show(cloud.admin, vm_id)["CHECKPOINT"]["HID"] == 0
    lifecycle.act(cloud.admin, [vm_id], "resume")  # PENDING, restored on sim0 only
    cloud.schedule([vm_id])
    assert state(cloud, vm_id) == ("ACTIVE", "RUNNING")
    assert "CHECKPOINT" not in vms.show(cloud.admin, vm_id)  # used up
    lifecycle.act(cloud.admin, [vm_id], "undeploy-hard")
    lifecycle.act(cloud.admin, [vm_id], "resume")
    cloud.schedule([vm_id])
    history = vms.show(cloud.admin, vm_id)["HISTORY_RECORDS"]
    assert state(cloud, vm_id) == ("ACTIVE", "RUNNING")
    # booted afresh (striping may pick sim1 now): no stale memory restored
    assert history[-1]["HOSTNAME"] in ("sim0", "sim1")


def test_a_failed_stop_keeps_no_checkpoint(cloud: Cloud):
    (vm_id,) = running(cloud)
    hosts.update(cloud.admin, "sim0", 'CHECKPOINT_DIR = "/nonexistent/dir"', append=True)
    outcome = lifecycle.act(cloud.admin, [vm_id], "stop")[0]
    assert outcome.error
    body = vms.show(cloud.admin, vm_id)
    assert state(cloud, vm_id) == ("ACTIVE", "RUNNING")
    assert "CHECKPOINT" not in body and "SAVING_TO" not in body


def test_a_failed_action_on_an_unknown_vm_leaves_it_unknown(cloud: Cloud):
    (vm_id,) = running(cloud)
    cloud.sims[0].kill()
    cloud.monitor()
    assert state(cloud, vm_id) == ("ACTIVE", "UNKNOWN")
    for action in ("shutdown", "poweroff-hard"):
        outcome = lifecycle.act(cloud.admin, [vm_id], action)[0]
        assert outcome.error and "cannot connect" in outcome.error
        assert state(cloud, vm_id) == ("ACTIVE", "UNKNOWN")


def test_a_guest_of_a_vm_that_holds_no_host_is_removed(cloud: Cloud):
    """e.g. a deploy that lost the race with a delete-recreate: the VM is PENDING again,
    its old guest still runs on sim0; the monitor removes it."""
    (vm_id,) = running(cloud)
    with cloud.admin.db.transaction() as tx:  # the store moved on without the host
        body = pool.get(tx, schema.VMS, vm_id, lock=True)
        body["STATE"], body["LCM_STATE"] = int(VmState.PENDING), 0
        pool.update(tx, schema.VMS, body)
    report = {r.name: r for r in cloud.monitor()}["sim0"]
    assert report.orphans == [f"one-{vm_id}"]
    assert cloud.guest_state(0, vm_id) == "missing"


def test_one_vm_placed_elsewhere_does_not_refuse_the_batch(cloud: Cloud):
    tpl = templates.create(cloud.admin, 'NAME = "b"\nCPU = 0.1\nMEMORY = 32\n')
    a, b = (vm["ID"] for vm in templates.instantiate(cloud.admin, tpl["ID"], 2))
    lifecycle.deploy(cloud.admin, [(a, 0)])  # another process won the race for a
    outcomes = {o.vm["ID"]: o for o in lifecycle.deploy(cloud.admin, [(a, 1), (b, 1)])}
    assert "deploy needs PENDING" in outcomes[a].error
    assert outcomes[b].error is None
    assert state(cloud, b) == ("ACTIVE", "RUNNING")
    assert vms.show(cloud.admin, a)["HISTORY_RECORDS"][-1]["HOSTNAME"] == "sim0"


def test_a_host_keeping_a_stopped_vms_memory_cannot_be_deleted(cloud: Cloud, tmp_path):
    checkpoint_dir(cloud, tmp_path)
    (vm_id,) = running(cloud)
    lifecycle.act(cloud.admin, [vm_id], "stop")
    with pytest.raises(Conflict, match=f"still runs VMs {vm_id}"):
        hosts.delete(cloud.admin, "sim0")
    lifecycle.act(cloud.admin, [vm_id], "delete")
    assert not list(tmp_path.glob("*.checkpoint"))  # its saved memory went with it
    hosts.delete(cloud.admin, "sim0")


@pytest.mark.parametrize("backend", ["mysql"])
def test_a_lost_leader_lock_is_noticed(instance, mariadb):
    db = instance.database()
    lock = db.try_leader_lock("loops")
    assert lock is not None and lock.held()
    assert db.try_leader_lock("loops") is None  # a second server stands by
    conn_ids = [
        r[0]
        for r in mariadb.execute(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO IS NULL AND DB = "
            f"'{instance.config().db.db_name}'"
        )
    ]
    for conn_id in conn_ids:  # the server drops idle connections (wait_timeout)
        mariadb.execute(f"KILL {conn_id}")
    assert not lock.held()
    second = db.try_leader_lock("loops")
    assert second is not None and second.held()
    second.release()

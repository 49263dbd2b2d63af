"""The VM life cycle: deploy and every ``onevm`` action, in three steps.

1. *Plan*, in one transaction: lock the VMs, check rights and states, and write the
   transient state the action leads through (SHUTDOWN, SAVE_SUSPEND, BOOT...).
2. *Act*: the driver calls, outside any transaction, grouped by host.
3. *Conclude*, in one transaction: each VM still in the transient state written in step 1
   gets the outcome: the final state, or on failure the state oned falls back to, with the
   hypervisor's message in ``USER_TEMPLATE/ERROR``.

Every state is written before the action it leads to, so a process killed anywhere leaves
a VM in a transient state that the monitor's reconciler resolves by asking the hypervisor
(``conclude_from_host``), and ``onevm recover --success|--failure`` resolves by hand. The
same ``complete``/``fail`` functions serve all three, so an outcome means the same
whichever way it is reached. A transition is identified by its state and the time it
began: a driver call whose VM was concluded meanwhile (the reconciler gave up on a slow
deploy) is skipped, or its fresh guest removed, and the monitor removes any guest no live
VM holds on that host. Writers lock VMs by id, then hosts by id.

Slow guest-side actions (ACPI shutdown) ask and return; the VM stays transient until a
poll shows the guest gone (briefly here, else by the monitor), or SHUTDOWN_TIMEOUT passes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import drivers, objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import events, pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    OneError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    STABLE_LCM,
    Lcm,
    VmState,
    state_name,
)
from ansible_collections.onekit.cloud.plugins.module_utils.drivers import driver_for, executor
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import (
    MISSING,
    PAUSED,
    RUNNING,
    SHUTOFF,
    Driver,
    DriverError,
    HostUnreachable,
    VmSpec,
    deploy_id_for,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts, images, networks
from ansible_collections.onekit.cloud.plugins.module_utils.vm import context as context_cd
from ansible_collections.onekit.cloud.plugins.module_utils.vm import disks, vms

log = logging.getLogger("onekit.lifecycle")
Body = dict[str, Any]
Ref = int | str
A = VmState.ACTIVE

ACTIONS = (
    "shutdown",
    "shutdown-hard",
    "undeploy",
    "undeploy-hard",
    "poweroff",
    "poweroff-hard",
    "hold",
    "release",
    "stop",
    "suspend",
    "resume",
    "boot",
    "reboot",
    "reboot-hard",
    "delete",
    "delete-recreate",
    "snapshot-create",
)
# How long a guest may take to power off after ACPI before the VM returns to RUNNING.
DEFAULT_SHUTDOWN_TIMEOUT = 300
# How long a transient state may wait for its outcome before the reconciler decides it.
DEFAULT_TRANSIENT_GRACE = 60


class WrongState(Conflict):
    """The action is not allowed in the VM's current state."""


@dataclass
class Outcome:
    """What became of one VM: its body after the action, and the error if it failed."""

    vm: Body
    error: str | None = None
    pending: bool = False  # the hypervisor has been asked; the monitor will finish it


@dataclass
class _Step:
    """Phase-2 work for one VM: a driver call on a host, and how to read its result."""

    vm_id: int
    transient: tuple[int, int, int]  # STATE, LCM_STATE, TRANSIENT_SINCE written in phase 1
    host: Body
    call: Callable[[Driver], Any]
    wait_for: frozenset[str] = field(default_factory=frozenset)  # async: poll until one
    creates_guest: bool = False  # deploy/restore: a guest to remove if nobody wants it


# ---- outcomes: complete / fail for each transient state --------------------------------
def _lock_host(w: AuthTx, host_id: int | None) -> Body | None:
    return pool.get(w.tx, schema.HOSTS, host_id, lock=True) if host_id is not None else None


def _leave_host(w: AuthTx, vm: Body, reason: str, action: str) -> Body | None:
    """Give the VM's capacity back to its host and close its history record; returns
    the host (None if it is gone)."""
    host = _lock_host(w, vms.current_host_id(vm))
    if host is not None:
        cpu, memory = hosts.vm_demand(vm["TEMPLATE"])
        hosts.release(host, vm["ID"], cpu, memory)
        pool.update(w.tx, schema.HOSTS, host)
    vms.close_history(vm, reason, action)
    return host


def _to_running(w: AuthTx, vm: Body, result: Any = None) -> None:
    if isinstance(result, str) and result:  # a deploy's or restore's answer: the guest's
        vm["DEPLOY_ID"] = result  # name on its host (libvirt one-<id>, EC2 i-...)
    vms.set_state(vm, A, Lcm.RUNNING)


def _release_after_commit(w: AuthTx, host: Body | None, vm_id: int) -> None:
    """Once the VM has left ``host`` for good, let its driver drop what it staged there."""
    if host is None:
        return
    host = dict(host)

    def release() -> None:
        try:
            driver_for(host).release(deploy_id_for(vm_id))
        except OneError as err:
            log.warning("VM %s: %s", vm_id, err)

    w.after_commit.append(release)


def _to_done(w: AuthTx, vm: Body, result: Any = None) -> None:
    if vm["STATE"] in schema.HOSTED_STATES:
        _release_after_commit(w, _leave_host(w, vm, "USER", "delete"), vm["ID"])
    elif vm.get("CHECKPOINT"):  # a STOPPED VM: its image waited for a resume there
        _release_after_commit(w, pool.get(w.tx, schema.HOSTS, vm["CHECKPOINT"]["HID"]), vm["ID"])
    networks.release_leases(w, vm)
    images.release_disks(w, vm)
    vms.set_state(vm, VmState.DONE)
    vm["ETIME"] = int(time.time())
    vm.pop("CHECKPOINT", None)


def _to_poweroff(w: AuthTx, vm: Body, result: Any = None) -> None:
    vms.set_state(vm, VmState.POWEROFF)


def _to_undeployed(w: AuthTx, vm: Body, result: Any = None) -> None:
    _release_after_commit(w, _leave_host(w, vm, "USER", "undeploy"), vm["ID"])
    vms.set_state(vm, VmState.UNDEPLOYED)


def _to_stopped(w: AuthTx, vm: Body, result: Any = None) -> None:
    saving = vm.pop("SAVING_TO", None)
    if saving:  # the saved memory is what a later resume restores, on that host only
        vm["CHECKPOINT"] = saving
    _leave_host(w, vm, "USER", "stop")
    vms.set_state(vm, VmState.STOPPED)


def _restored(w: AuthTx, vm: Body, result: Any = None) -> None:
    vm.pop("CHECKPOINT", None)  # used: restoring it again would bring back old memory
    _to_running(w, vm, result)


def _back(w: AuthTx, vm: Body, result: Any = None) -> None:
    """Back to the state the action started from (RUNNING or UNKNOWN)."""
    vm.pop("SAVING_TO", None)
    state, lcm = vm.pop("PREV_STATE", (int(A), int(Lcm.RUNNING)))
    vms.set_state(vm, VmState(state), Lcm(lcm))


def _to_suspended(w: AuthTx, vm: Body, result: Any = None) -> None:
    vms.set_state(vm, VmState.SUSPENDED)


def _to_unknown(w: AuthTx, vm: Body, result: Any = None) -> None:
    vms.set_state(vm, A, Lcm.UNKNOWN)


def _to_pending(w: AuthTx, vm: Body, result: Any = None) -> None:
    _leave_host(w, vm, "USER", "delete-recreate")
    vms.set_state(vm, VmState.PENDING)
    vm["DEPLOY_ID"] = ""
    vm.pop("CHECKPOINT", None)


def _not_started(w: AuthTx, vm: Body) -> None:
    """A deploy whose guest never appeared (whoever ran it died before asking the
    hypervisor): nothing ran, so the VM is simply PENDING again and the scheduler places
    it; the history record and ERROR say what happened."""
    _release_after_commit(w, _leave_host(w, vm, "ERROR", "deploy"), vm["ID"])
    vms.set_state(vm, VmState.PENDING)
    vm["DEPLOY_ID"] = ""
    vms.set_error(vm, "the deploy was interrupted before the guest started; resubmitted")
    for key in _TRANSIENT_KEYS:
        vm.pop(key, None)


def _to_failed(w: AuthTx, vm: Body, result: Any = None) -> None:
    """A deploy that failed (oned 4.x: BOOT failure -> FAILED); its capacity is freed,
    and the server's VM_HOOK on FAILED is due (``hooks.claim_failed``)."""
    _leave_host(w, vm, "ERROR", "deploy")
    vms.set_state(vm, VmState.FAILED)
    events.publish(events.VM_FAILED, vm)


def _snapshot_taken(w: AuthTx, vm: Body, result: Any = None) -> None:
    if result is not None:
        snapshots = vm["TEMPLATE"].setdefault("SNAPSHOT", [])
        if not isinstance(snapshots, list):
            snapshots = vm["TEMPLATE"]["SNAPSHOT"] = [snapshots]
        snapshots.append(
            {"SNAPSHOT_ID": str(len(snapshots)), "NAME": result, "TIME": str(int(time.time()))}
        )
    _to_running(w, vm)


def _hotplugged(w: AuthTx, vm: Body, result: Any = None) -> None:
    """The guest has the disk (or no longer has it): now the template says so."""
    _apply_disk_change(w, vm, vm.get("HOTPLUG_DISK"))
    _to_running(w, vm)


def _hotplug_failed(w: AuthTx, vm: Body, result: Any = None) -> None:
    """The template is unchanged (no DISK half-written); an attach gives back the image
    it took when it was planned."""
    change = vm.get("HOTPLUG_DISK")
    if isinstance(change, dict) and isinstance(change.get("ATTACH"), dict):
        disks.release_unused(w, vm, change["ATTACH"])
    _back(w, vm)


def _apply_disk_change(w: AuthTx, vm: Body, change: dict | None) -> None:
    if not isinstance(change, dict):
        return  # recover --success on a VM whose change was not recorded
    if "ATTACH" in change:
        disks.attached(vm["TEMPLATE"], change["ATTACH"])
    elif "DETACH" in change:
        gone = disks.detached(vm["TEMPLATE"], change["DETACH"])
        if gone is not None:
            disks.release_unused(w, vm, gone)


Outcomes = dict[Lcm, Callable[[AuthTx, Body, Any], None]]
COMPLETE: Outcomes = {
    Lcm.BOOT: _to_running,
    Lcm.BOOT_UNKNOWN: _to_running,
    Lcm.BOOT_POWEROFF: _to_running,
    Lcm.BOOT_SUSPENDED: _to_running,
    Lcm.BOOT_STOPPED: _restored,
    Lcm.SHUTDOWN: _to_done,
    Lcm.CANCEL: _to_done,
    Lcm.SHUTDOWN_POWEROFF: _to_poweroff,
    Lcm.SHUTDOWN_UNDEPLOY: _to_undeployed,
    Lcm.SAVE_STOP: _to_stopped,
    Lcm.SAVE_SUSPEND: _to_suspended,
    Lcm.HOTPLUG_SNAPSHOT: _snapshot_taken,
    Lcm.HOTPLUG: _hotplugged,
    Lcm.CLEANUP_DELETE: _to_done,
    Lcm.CLEANUP_RESUBMIT: _to_pending,
}
# What a failed transition falls back to (a cleanup completes anyway: its host may be gone).
FAIL: Outcomes = {
    Lcm.BOOT: _to_failed,
    Lcm.BOOT_STOPPED: _to_failed,
    Lcm.BOOT_UNKNOWN: _to_unknown,
    Lcm.BOOT_POWEROFF: _to_poweroff,
    Lcm.BOOT_SUSPENDED: _to_suspended,
    Lcm.SHUTDOWN: _back,
    Lcm.CANCEL: _back,
    Lcm.SHUTDOWN_POWEROFF: _back,
    Lcm.SHUTDOWN_UNDEPLOY: _back,
    Lcm.SAVE_STOP: _back,
    Lcm.SAVE_SUSPEND: _back,
    Lcm.HOTPLUG_SNAPSHOT: _back,
    Lcm.HOTPLUG: _hotplug_failed,
    Lcm.CLEANUP_DELETE: _to_done,
    Lcm.CLEANUP_RESUBMIT: _to_pending,
}


# What a transition keeps while it lasts; ``TRANSIENT_ACTION`` is the action that began
# it, which ``recover --retry`` runs again.
_TRANSIENT_KEYS = (
    "TRANSIENT_SINCE",
    "PREV_STATE",
    "SAVING_TO",
    "TRANSIENT_ACTION",
    "HOTPLUG_DISK",  # the disk change a HOTPLUG waits to write: {"ATTACH": DISK} or DETACH
)


def complete(w: AuthTx, vm: Body, result: Any = None) -> None:
    """The transient state's action succeeded."""
    COMPLETE[Lcm(vm["LCM_STATE"])](w, vm, result)
    vms.set_error(vm, None)
    for key in _TRANSIENT_KEYS:
        vm.pop(key, None)


def fail(w: AuthTx, vm: Body, message: str) -> None:
    """The transient state's action failed: fall back, keep the reason."""
    FAIL[Lcm(vm["LCM_STATE"])](w, vm, None)
    vms.set_error(vm, message)
    for key in _TRANSIENT_KEYS:
        vm.pop(key, None)


def is_transient(vm: Body) -> bool:
    return vm["STATE"] == A and Lcm(vm["LCM_STATE"]) not in STABLE_LCM


# ---- planning ---------------------------------------------------------------------------
def _wrong_state(vm: Body, action: str, wanted: str) -> WrongState:
    return WrongState(
        f"cannot {action} VM {vm['ID']} ({vm['NAME']}): it is "
        f"{state_name(vm['STATE'], vm['LCM_STATE'])}; {action} needs {wanted}"
    )


def _is(vm: Body, state: VmState, *lcms: Lcm) -> bool:
    return vm["STATE"] == state and (not lcms or vm["LCM_STATE"] in lcms)


def _enter(vm: Body, lcm: Lcm) -> tuple[int, int, int]:
    """Write a transient state, remembering the one it leaves (failures go back to it);
    the triple identifies this very transition (phase 3 and the reconciler check it)."""
    vm["PREV_STATE"] = [vm["STATE"], vm["LCM_STATE"]]
    vms.set_state(vm, A, lcm)
    vm["TRANSIENT_SINCE"] = time.time()
    return (int(A), int(lcm), vm["TRANSIENT_SINCE"])


def _mark(vm: Body) -> tuple[Any, Any, Any]:
    return (vm["STATE"], vm["LCM_STATE"], vm.get("TRANSIENT_SINCE"))


def _host_of(w: AuthTx, vm: Body) -> Body:
    host = pool.get(w.tx, schema.HOSTS, vms.current_host_id(vm))
    if host is None:
        raise NotFound(f"VM {vm['ID']} is on host {vms.current_host_id(vm)}, which is gone")
    return host


def _spec(vm: Body, session: Session | None = None) -> VmSpec:
    """What the driver deploys; with a session of an instance, the VM's CONTEXT comes
    with a CD-ROM image (``vm.context``) unless CONTEXT_ISO names one already."""
    context = vm["TEMPLATE"].get("CONTEXT")
    image = text = None
    if (
        session is not None
        and session.context_dir
        and session.gate_secret
        and isinstance(context, dict)
        and "CONTEXT_ISO" not in context
    ):
        image, text = context_cd.build_with_text(Path(session.context_dir), session.gate_secret, vm)
    stays = vm.get("HISTORY_RECORDS") or [{}]
    key = f"{stays[-1].get('SEQ', 0)}-{stays[-1].get('STIME', 0)}"
    return VmSpec(
        vm["ID"],
        vm["NAME"],
        vm["TEMPLATE"],
        str(image) if image else None,
        context_text=text,
        deploy_key=key,
        user_template=vm.get("USER_TEMPLATE") or {},
    )


def checkpoint_path(vm: Body, host: Body) -> str:
    directory = host["TEMPLATE"].get("CHECKPOINT_DIR") or "/var/tmp"
    return os.path.join(directory, f"{deploy_id_for(vm['ID'])}.checkpoint")


_RUNNING_OR_UNKNOWN = "RUNNING or UNKNOWN"
_GONE = frozenset({MISSING, SHUTOFF})  # what a guest asked to power off becomes
VmTest = Callable[[Body], bool]


@dataclass
class _Planning:
    """One VM's action being planned (phase 1): what each planning step of ``_RULES``
    works on."""

    w: AuthTx
    vm: Body
    action: str
    options: dict
    did: str  # the guest's name on its host, as planning began

    def step(
        self, lcm: Lcm, call: Callable[[Driver], Any], wait: frozenset[str] = frozenset()
    ) -> _Step:
        """Enter transient state ``lcm``; ``call`` runs in phase 2 on the VM's host."""
        host = _host_of(self.w, self.vm)
        return _Step(self.vm["ID"], _enter(self.vm, lcm), host, call, wait)


PlanStep = Callable[[_Planning], "_Step | None"]


@dataclass(frozen=True)
class _Rule:
    """One action: the states it is allowed in (``wanted`` names them when it is
    refused), and how it is planned there."""

    allowed: VmTest
    wanted: str
    plan: PlanStep


def _in(state: VmState, *lcms: Lcm) -> VmTest:
    return lambda vm: _is(vm, state, *lcms)


def _in_any(*states: int) -> VmTest:
    return lambda vm: vm["STATE"] in states


def _either(*tests: VmTest) -> VmTest:
    return lambda vm: any(test(vm) for test in tests)


def _check_driver_method(method: str) -> None:
    if not callable(getattr(Driver, method, None)):  # a typo in _RULES fails at import
        raise AttributeError(f"drivers have no method {method!r}")


# ---- planning steps: the table's plain kinds, then the actions that need their own -----
def _becomes(state: VmState) -> PlanStep:
    """No driver work: the action is a change of state (hold, release)."""

    def plan(p: _Planning) -> None:
        vms.set_state(p.vm, state)

    return plan


def _driver_call(lcm: Lcm, method: str, wait: frozenset[str] = frozenset()) -> PlanStep:
    """The driver's ``method`` on the guest, through transient state ``lcm``; ``wait``:
    the guest states that end it (an ACPI shutdown only asks the guest, then polls)."""
    _check_driver_method(method)

    def plan(p: _Planning) -> _Step:
        did = p.did
        return p.step(lcm, lambda d: getattr(d, method)(did), wait)

    return plan


def _in_place(method: str) -> PlanStep:
    """A driver call with no state change: the VM stays RUNNING (oned's reboot too)."""
    _check_driver_method(method)

    def plan(p: _Planning) -> _Step:
        host, did = _host_of(p.w, p.vm), p.did
        return _Step(p.vm["ID"], _mark(p.vm), host, lambda d: getattr(d, method)(did))

    return plan


def _plan_stop(p: _Planning) -> _Step:
    """The guest's memory is saved on its host; a resume restores it there only."""
    host, did = _host_of(p.w, p.vm), p.did
    path = checkpoint_path(p.vm, host)
    p.vm["SAVING_TO"] = {"HID": host["ID"], "PATH": path}
    return p.step(Lcm.SAVE_STOP, lambda d: d.save(did, path))


def _plan_resume(p: _Planning) -> _Step | None:
    """resume: SUSPENDED -> RUNNING, STOPPED/UNDEPLOYED -> PENDING, POWEROFF -> boot.
    boot: UNKNOWN or POWEROFF -> deploy again on the same host."""
    vm, did = p.vm, p.did
    if _is(vm, VmState.SUSPENDED):
        return p.step(Lcm.BOOT_SUSPENDED, lambda d: d.resume(did))
    if vm["STATE"] in (VmState.STOPPED, VmState.UNDEPLOYED):
        vms.set_state(vm, VmState.PENDING)  # the scheduler places it (restoring a checkpoint)
        return None
    lcm = Lcm.BOOT_POWEROFF if vm["STATE"] == VmState.POWEROFF else Lcm.BOOT_UNKNOWN
    spec = _spec(vm, p.w.session)
    return p.step(lcm, lambda d: d.deploy(spec))


def _plan_snapshot(p: _Planning) -> _Step:
    name = p.options.get("name") or f"snapshot-{int(time.time())}"
    did = p.did

    def snap(d: Driver) -> str:
        d.snapshot_create(did, name)
        return name

    return p.step(Lcm.HOTPLUG_SNAPSHOT, snap)


def _plan_disk_attach(p: _Planning) -> _Step | None:
    """RUNNING: the disk is hot-plugged (HOTPLUG), and written in the template once the
    hypervisor has it. POWEROFF: there is no guest to plug it into; the template gets it
    now and the next boot starts the guest with it (oned 4.6 attaches there too)."""
    retried = p.vm.pop("HOTPLUG_DISK", None)  # recover --retry: the disk of the first try
    if "image" not in p.options and isinstance(retried, dict) and "ATTACH" in retried:
        disk = retried["ATTACH"]
    else:
        disk = disks.new_disk(p.w, p.vm, p.options.get("image"), p.options.get("target"))
    change = {"ATTACH": disk}
    if _is(p.vm, VmState.POWEROFF):
        _apply_disk_change(p.w, p.vm, change)
        return None
    did = p.did
    step = p.step(Lcm.HOTPLUG, lambda d: d.attach_disk(did, disk))
    p.vm["HOTPLUG_DISK"] = change
    return step


def _plan_disk_detach(p: _Planning) -> _Step | None:
    """As disk-attach, the other way: the template loses the DISK once the guest has."""
    retried = p.vm.pop("HOTPLUG_DISK", None)
    if "disk_id" not in p.options and isinstance(retried, dict) and "DETACH" in retried:
        disk_id = retried["DETACH"]
    else:
        disk_id = p.options.get("disk_id")
    disk = disks.find(p.vm, "" if disk_id is None else disk_id)
    change = {"DETACH": disk["DISK_ID"]}
    if _is(p.vm, VmState.POWEROFF):
        _apply_disk_change(p.w, p.vm, change)
        return None
    did = p.did
    step = p.step(Lcm.HOTPLUG, lambda d: d.detach_disk(did, disk))
    p.vm["HOTPLUG_DISK"] = change
    return step


def _plan_delete(p: _Planning) -> _Step | None:
    """A hosted VM's guest is removed, a STOPPED VM's saved memory too (oned too); any
    other VM is DONE at once."""
    vm, did = p.vm, p.did
    if vm["STATE"] in schema.HOSTED_STATES:
        return p.step(Lcm.CLEANUP_DELETE, lambda d: d.cancel(did))
    checkpoint = vm.get("CHECKPOINT")
    has_host = checkpoint and pool.get(p.w.tx, schema.HOSTS, checkpoint["HID"]) is not None
    if _is(vm, VmState.STOPPED) and has_host:
        path = checkpoint["PATH"]
        return p.step(Lcm.CLEANUP_DELETE, lambda d: d.remove_checkpoint(path))
    _to_done(p.w, vm)
    return None


def _plan_delete_recreate(p: _Planning) -> _Step | None:
    """A FAILED VM is PENDING again at once; a hosted one's guest is discarded first."""
    if _is(p.vm, VmState.FAILED):
        vms.set_state(p.vm, VmState.PENDING)
        return None
    did = p.did
    return p.step(Lcm.CLEANUP_RESUBMIT, lambda d: d.cancel(did))


_RUNNING = _in(A, Lcm.RUNNING)
_UP = _in(A, Lcm.RUNNING, Lcm.UNKNOWN)
_HOTPLUG_STATES = _either(_RUNNING, _in(VmState.POWEROFF))
# Every onevm action (ACTIONS): the states it is allowed in, and how it is planned there.
_RULES: dict[str, _Rule] = {
    "hold": _Rule(_in(VmState.PENDING), "PENDING", _becomes(VmState.HOLD)),
    "release": _Rule(_in(VmState.HOLD), "HOLD", _becomes(VmState.PENDING)),
    "shutdown": _Rule(_UP, _RUNNING_OR_UNKNOWN, _driver_call(Lcm.SHUTDOWN, "shutdown", _GONE)),
    "poweroff": _Rule(
        _UP, _RUNNING_OR_UNKNOWN, _driver_call(Lcm.SHUTDOWN_POWEROFF, "shutdown", _GONE)
    ),
    "undeploy": _Rule(
        _UP, _RUNNING_OR_UNKNOWN, _driver_call(Lcm.SHUTDOWN_UNDEPLOY, "shutdown", _GONE)
    ),
    "shutdown-hard": _Rule(_UP, _RUNNING_OR_UNKNOWN, _driver_call(Lcm.CANCEL, "cancel")),
    "poweroff-hard": _Rule(_UP, _RUNNING_OR_UNKNOWN, _driver_call(Lcm.SHUTDOWN_POWEROFF, "cancel")),
    "undeploy-hard": _Rule(_UP, _RUNNING_OR_UNKNOWN, _driver_call(Lcm.SHUTDOWN_UNDEPLOY, "cancel")),
    "stop": _Rule(_RUNNING, "RUNNING", _plan_stop),
    "suspend": _Rule(_RUNNING, "RUNNING", _driver_call(Lcm.SAVE_SUSPEND, "suspend")),
    "resume": _Rule(
        _in_any(VmState.SUSPENDED, VmState.STOPPED, VmState.UNDEPLOYED, VmState.POWEROFF),
        "SUSPENDED, STOPPED, UNDEPLOYED or POWEROFF",
        _plan_resume,
    ),
    "boot": _Rule(
        _either(_in(A, Lcm.UNKNOWN), _in(VmState.POWEROFF)), "UNKNOWN or POWEROFF", _plan_resume
    ),
    "reboot": _Rule(_RUNNING, "RUNNING", _in_place("reboot")),
    "reboot-hard": _Rule(_RUNNING, "RUNNING", _in_place("reset")),
    "snapshot-create": _Rule(_RUNNING, "RUNNING", _plan_snapshot),
    # not in ACTIONS: they take a disk, and act on one VM (disk_attach, disk_detach)
    "disk-attach": _Rule(_HOTPLUG_STATES, "RUNNING or POWEROFF", _plan_disk_attach),
    "disk-detach": _Rule(_HOTPLUG_STATES, "RUNNING or POWEROFF", _plan_disk_detach),
    "delete": _Rule(lambda vm: not _is(vm, VmState.DONE), "a VM that is not DONE", _plan_delete),
    # SUSPENDED and POWEROFF too (4.x refused them, "resume it first", which broke
    # host_error -f; 5.x's recover --recreate takes them): the guest is discarded.
    "delete-recreate": _Rule(
        _in_any(VmState.FAILED, *schema.HOSTED_STATES),
        "an ACTIVE or FAILED VM, or a SUSPENDED or POWEROFF one (resume a STOPPED or "
        "UNDEPLOYED one first)",
        _plan_delete_recreate,
    ),
}


def _plan(w: AuthTx, vm: Body, action: str, options: dict) -> _Step | None:
    """Check the action against the VM's state (``_RULES``), write the transient state,
    return the driver work (None when the action is complete already)."""
    rule = _RULES.get(action)
    if rule is None:
        raise AssertionError(f"action {action!r} has no plan")  # act() checked the name
    if not rule.allowed(vm):
        raise _wrong_state(vm, action, rule.wanted)
    did = vm.get("DEPLOY_ID") or deploy_id_for(vm["ID"])
    return rule.plan(_Planning(w, vm, action, options, did))


# ---- running actions --------------------------------------------------------------------
def act(
    session: Session,
    refs: Iterable[Ref],
    action: str,
    quick_wait: float = 2.0,
    dry_run: bool = False,
    **options: Any,
) -> list[Outcome]:
    """Run one action on VMs (``onevm <action> <ids>``); all are checked and moved to
    their transient state in one transaction first, so a refused one stops the lot.
    ``quick_wait`` is how long to watch a guest that was asked to power off.
    ``dry_run`` (check mode) makes every check, then rolls back and calls no driver."""
    if action not in ACTIONS:
        raise InvalidInput(f"unknown VM action {action!r}; actions are {', '.join(ACTIONS)}")
    return _act(session, refs, action, quick_wait, dry_run, Right.MANAGE, _plan, **options)


def terminate(
    session: Session, ref: Ref, hard: bool = False, quick_wait: float = 2.0
) -> list[Outcome]:
    """OpenNebula 5's ``terminate`` (what 4.6 split in two): a VM that holds a host
    (ACTIVE) is shut down (``hard``: destroyed), one in any other state but DONE is
    deleted; each by its own rule of ``_RULES``, which checks the state again."""
    vm = vms.show(session, ref)
    if vm["STATE"] == VmState.ACTIVE:
        action = "shutdown-hard" if hard else "shutdown"
    else:
        action = "delete"
    return act(session, [vm["ID"]], action, quick_wait=quick_wait)


Planner = Callable[[AuthTx, Body, str, dict], "_Step | None"]


def disk_attach(
    session: Session, vm_ref: Ref, image: Ref, target: str | None = None, dry_run: bool = False
) -> Body:
    """``onevm disk-attach <vm> --image <image> [--target vdb]``: MANAGE on the VM, USE
    on the image; a RUNNING VM goes through HOTPLUG (``_plan_disk_attach``). Returns the
    VM with its new DISK; a hypervisor's refusal raises DriverError, the VM RUNNING again
    with the reason in ERROR and no DISK added."""
    return _one_vm(session, vm_ref, "disk-attach", dry_run, image=image, target=target)


def disk_detach(session: Session, vm_ref: Ref, disk_id: int | str, dry_run: bool = False) -> Body:
    """``onevm disk-detach <vm> <disk_id>``: MANAGE on the VM; the boot disk (DISK_ID 0)
    and CD-ROMs are refused. Returns the VM without the DISK; a hypervisor's refusal
    raises DriverError, the VM RUNNING again with the reason in ERROR and its DISK kept."""
    return _one_vm(session, vm_ref, "disk-detach", dry_run, disk_id=disk_id)


def _one_vm(session: Session, ref: Ref, action: str, dry_run: bool, **options: Any) -> Body:
    outcomes = _act(session, [ref], action, 0, dry_run, Right.MANAGE, _plan, **options)
    if not outcomes:  # concluded by someone else (the reconciler) while the driver worked
        with session.read() as w:
            return pool.resolve(w.tx, schema.VMS, ref)
    if outcomes[0].error:
        raise DriverError(f"VM {outcomes[0].vm['ID']}: {action}: {outcomes[0].error}")
    return outcomes[0].vm


def _act(
    session: Session,
    refs: Iterable[Ref],
    action: str,
    quick_wait: float,
    dry_run: bool,
    right: Right,
    planner: Planner,
    **options: Any,
) -> list[Outcome]:
    steps: list[_Step] = []
    done: list[Body] = []
    checked: list[Body] = []
    with session.write(dry_run=dry_run) as w:
        for vm in _lock_vms(w, [pool.resolve(w.tx, schema.VMS, ref)["ID"] for ref in refs]):
            checked.append(vm)
            w.authorize(objects.target(schema.VMS, vm), right)
            step = planner(w, vm, action, options)
            again = vm.pop("RETRYING", None)  # recover --retry: the action it runs again
            if step is not None and is_transient(vm):
                vm["TRANSIENT_ACTION"] = again or action
            pool.update(w.tx, schema.VMS, vm)
            if step is None:
                done.append(vm)
            else:
                steps.append(step)
    if dry_run:  # the VMs as the action would leave them at first (rolled back)
        return [Outcome(vm) for vm in checked]
    return [Outcome(vm) for vm in done] + _run(session, steps, quick_wait)


def _lock_vms(w: AuthTx, vm_ids: Iterable[int]) -> list[Body]:
    """Lock VMs in id order. Every writer locks VMs first (by id), then hosts (by id):
    one order for all, so two transactions never wait on each other in a circle."""
    locked = [pool.get(w.tx, schema.VMS, i, lock=True) for i in sorted(set(vm_ids))]
    return [vm for vm in locked if vm is not None]


def _lock_hosts(w: AuthTx, host_ids: Iterable[int | None]) -> dict[int, Body]:
    wanted = sorted({i for i in host_ids if i is not None})
    locked = {i: pool.get(w.tx, schema.HOSTS, i, lock=True) for i in wanted}
    return {i: h for i, h in locked.items() if h is not None}


def deploy(
    session: Session, placements: Iterable[tuple[int, int]], enforce: bool = True
) -> list[Outcome]:
    """Deploy PENDING VMs on the hosts chosen for them (the scheduler, ``onevm deploy``).

    The claim (capacity, history, BOOT) is written before the hypervisor is asked; a VM
    that is no longer PENDING (another process placed it), or with ``enforce`` a host that
    no longer has room, is refused for that VM alone."""
    placements = dict(placements)
    steps: list[_Step] = []
    refused: list[Outcome] = []
    with session.write() as w:
        vms_locked = _lock_vms(w, placements)
        hosts_locked = _lock_hosts(w, placements.values())
        for vm in vms_locked:
            host = hosts_locked.get(placements[vm["ID"]])
            if host is None:
                refused.append(Outcome(vm, f"host {placements[vm['ID']]} does not exist"))
                continue
            if not _is(vm, VmState.PENDING):
                refused.append(Outcome(vm, str(_wrong_state(vm, "deploy", "PENDING"))))
                continue
            cpu, memory = hosts.vm_demand(vm["TEMPLATE"])
            if enforce and not hosts.fits(host, cpu, memory):
                refused.append(Outcome(vm, f"host {host['NAME']} has no room left"))
                continue
            hosts.allocate(host, vm["ID"], cpu, memory)
            pool.update(w.tx, schema.HOSTS, host)
            vms.open_history(vm, host, "deploy")
            vm["DEPLOY_ID"] = deploy_id_for(vm["ID"])
            vms.set_sched_message(vm, None)
            checkpoint = vm.get("CHECKPOINT")
            if checkpoint and checkpoint.get("HID") == host["ID"]:
                transient = _enter(vm, Lcm.BOOT_STOPPED)
                call = _restore_call(checkpoint["PATH"])
            else:
                transient = _enter(vm, Lcm.BOOT)
                call = _deploy_call(_spec(vm, session))
            vm["TRANSIENT_ACTION"] = "deploy"
            pool.update(w.tx, schema.VMS, vm)
            steps.append(_Step(vm["ID"], transient, host, call, creates_guest=True))
    return refused + _run(session, steps, 0)


def _deploy_call(spec: VmSpec) -> Callable[[Driver], Any]:
    return lambda driver: driver.deploy(spec)


def _restore_call(path: str) -> Callable[[Driver], Any]:
    return lambda driver: driver.restore(path)


def authorize_deploy(session: Session, vm_ref: Ref, host_ref: Ref) -> tuple[int, int]:
    """``onevm deploy <vm> <host>``: ADMIN on the VM and MANAGE on the host, as oned's
    one.vm.deploy asks."""
    with session.read() as w:
        vm = pool.resolve(w.tx, schema.VMS, vm_ref)
        host = pool.resolve(w.tx, schema.HOSTS, host_ref)
        w.authorize(objects.target(schema.VMS, vm), Right.ADMIN)
        w.authorize(objects.target(schema.HOSTS, host), Right.MANAGE)
        return vm["ID"], host["ID"]


def deploy_by_hand(
    session: Session, targets: list[tuple[Ref, Ref]], enforce: bool = True
) -> list[Outcome]:
    """``onevm deploy`` from a caller who has not been checked: ``authorize_deploy`` on
    every (VM, host) first, so one refused target deploys none, then ``deploy``. The core
    API serves it as ``lifecycle.deploy``: a remote client (another zone's CLI) may have
    asked ``lifecycle.authorize_deploy`` first, but the server never relies on that.
    ``deploy`` itself checks nothing: its in-process callers are the scheduler (the
    server's own placement) and the CLI and tests, which ask ``authorize_deploy`` first
    where a user deploys."""
    checked = [authorize_deploy(session, vm, host) for vm, host in targets]
    return deploy(session, checked, enforce=enforce)


def _run(session: Session, steps: list[_Step], quick_wait: float) -> list[Outcome]:
    """Phase 2 (driver calls, hosts in parallel) and phase 3 (outcomes in one tx).

    A VM concluded by someone else meanwhile (the reconciler, recover, delete) keeps that
    conclusion; if our call made a guest nobody wants any more, it is removed."""
    if not steps:
        return []
    results = _call_drivers(session, steps, quick_wait)
    outcomes = []
    strays: list[_Step] = []
    with session.write() as w:
        vms_locked = {vm["ID"]: vm for vm in _lock_vms(w, (s.vm_id for s in steps))}
        _lock_hosts(w, (vms.current_host_id(vm) for vm in vms_locked.values()))
        for step in sorted(steps, key=lambda s: s.vm_id):
            vm = vms_locked.get(step.vm_id)
            result, error, finished = results[step.vm_id]
            if vm is None or _mark(vm) != step.transient:
                if step.creates_guest and error is None:
                    strays.append(step)
                continue
            if error is not None:
                if is_transient(vm):
                    fail(w, vm, error)
                else:
                    vms.set_error(vm, error)
            elif finished and is_transient(vm):
                complete(w, vm, result)
            pool.update(w.tx, schema.VMS, vm)
            outcomes.append(Outcome(vm, error, pending=error is None and not finished))
    for step in strays:
        try:
            driver_for(step.host).cancel(deploy_id_for(step.vm_id))
            log.warning("removed the guest of VM %s: it was concluded meanwhile", step.vm_id)
        except OneError as err:
            log.warning("could not remove the stray guest of VM %s: %s", step.vm_id, err)
    return outcomes


Result = tuple[Any, "str | None", bool]


def _call_drivers(session: Session, steps: list[_Step], quick_wait: float) -> dict[int, Result]:
    """{vm id: (result, error message, finished)} for every step. The steps run at once,
    as many as their hosts' drivers have threads (``drivers.executor``): a slow or hung
    host delays only its own VMs, and each call gives up after the host's timeout."""

    def still_wanted(step: _Step) -> bool:
        """Re-read just before the call: the VM may have been concluded meanwhile."""
        with session.read() as w:
            vm = pool.get(w.tx, schema.VMS, step.vm_id)
        return vm is not None and _mark(vm) == step.transient

    def run_step(step: _Step) -> Result:
        try:
            driver = driver_for(step.host)
            if not still_wanted(step):
                return (None, "the VM changed while it waited its turn", False)
            result = step.call(driver)
        except HostUnreachable as err:
            if Lcm(step.transient[1]) in (Lcm.CLEANUP_DELETE, Lcm.CLEANUP_RESUBMIT):
                return (None, None, True)  # nothing left to clean up there
            return (None, str(err), False)
        except OneError as err:  # the hypervisor's refusal, or a template it cannot take
            return (None, str(err), False)
        except Exception as err:  # a driver bug must not lose the other VMs' outcomes
            log.exception("VM %s: driver call failed", step.vm_id)
            return (None, f"{type(err).__name__}: {err}", False)
        finished = not step.wait_for or _wait(driver, step, quick_wait)
        return (result, None, finished)

    width = drivers.width([step.host for step in steps])
    results = executor.each(steps, run_step, width)
    return {step.vm_id: result for step, result in zip(steps, results, strict=True)}


def _wait(driver: Driver, step: _Step, seconds: float) -> bool:
    """Poll a guest asked to power off, briefly; True once it is gone."""
    deadline = time.monotonic() + seconds
    did = deploy_id_for(step.vm_id)
    while True:
        try:
            if driver.poll(did).state in step.wait_for:
                return True
        except DriverError:
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


# ---- recover and the reconciler ---------------------------------------------------------
RECOVER_OPERATIONS = ("success", "failure", "retry", "delete", "recreate")


def recover(
    session: Session, ref: Ref, success: bool | None = None, operation: str | None = None
) -> Body:
    """``onevm recover``, as an admin (ADMIN on the VM):

    * ``success`` / ``failure`` (4.2): decide a transient state by hand, as if the lost
      driver answer had come (``success=True|False`` says the same);
    * ``retry`` (4.14): run the transient state's driver action again (deploy, shutdown,
      save...) and conclude it from that call;
    * ``delete`` (5.0, replaces ``onevm delete``): delete the VM in any state but DONE;
    * ``recreate`` (5.0, replaces ``onevm delete --recreate``): resubmit it (PENDING, its
      state lost) from any state that holds or held a host: ACTIVE (transient ones too),
      SUSPENDED, POWEROFF, FAILED, and STOPPED or UNDEPLOYED (whose saved state is
      dropped).

    Returns the VM; a driver call that failed raises, the VM concluded as a failure."""
    if operation is None:
        if success is None:
            raise InvalidInput(
                "recover needs an operation: success, failure, retry, delete or recreate"
            )
        operation = "success" if success else "failure"
    elif success is not None:
        raise InvalidInput("give recover either success or operation, not both")
    if operation not in RECOVER_OPERATIONS:
        raise InvalidInput(
            f"recover operations are {', '.join(RECOVER_OPERATIONS)}; got {operation!r}"
        )
    if operation in ("success", "failure"):
        with session.write() as w:
            vm = pool.resolve(w.tx, schema.VMS, ref, lock=True)
            w.authorize(objects.target(schema.VMS, vm), Right.ADMIN)
            if not is_transient(vm):
                raise _wrong_state(vm, "recover", "a transient ACTIVE state (BOOT, SHUTDOWN...)")
            if operation == "success":
                complete(w, vm)
            else:
                fail(w, vm, "recovered by hand as a failure")
            return pool.update(w.tx, schema.VMS, vm)
    planner = {"retry": _plan_retry, "delete": _plan, "recreate": _plan_recreate}[operation]
    action = {"retry": "retry", "delete": "delete", "recreate": "delete-recreate"}[operation]
    outcomes = _act(session, [ref], action, 2.0, False, Right.ADMIN, planner)
    if not outcomes:  # concluded by someone else (the reconciler) while the driver worked
        with session.read() as w:
            return pool.resolve(w.tx, schema.VMS, ref)
    if outcomes[0].error:
        raise OneError(f"VM {outcomes[0].vm['ID']}: recover --{operation}: {outcomes[0].error}")
    return outcomes[0].vm


def _plan_recreate(w: AuthTx, vm: Body, action: str, options: dict) -> _Step | None:
    """5.0's recreate: delete-recreate, and STOPPED or UNDEPLOYED VMs too."""
    if vm["STATE"] in (VmState.STOPPED, VmState.UNDEPLOYED):
        checkpoint = vm.pop("CHECKPOINT", None)
        if checkpoint:  # the saved memory is not what a recreated VM starts from
            host = pool.get(w.tx, schema.HOSTS, checkpoint["HID"])
            if host is not None:
                _remove_after_commit(w, host, checkpoint["PATH"], vm["ID"])
        vms.set_state(vm, VmState.PENDING)
        vm["DEPLOY_ID"] = ""
        return None
    if vm["STATE"] not in (*schema.HOSTED_STATES, VmState.FAILED):
        raise _wrong_state(
            vm, "recover --recreate", "a VM that holds or held a host (not PENDING, HOLD or DONE)"
        )
    return _plan(w, vm, "delete-recreate", options)


def _remove_after_commit(w: AuthTx, host: Body, path: str, vm_id: int) -> None:
    host = dict(host)

    def remove() -> None:
        try:
            driver_for(host).remove_checkpoint(path)
        except OneError as err:
            log.warning("VM %s: could not remove its checkpoint %s: %s", vm_id, path, err)

    w.after_commit.append(remove)


# For a transient VM that did not record the action that began it (made before onekit
# recorded it, or written by hand): the action, and the state it began from.
_R = (int(A), int(Lcm.RUNNING))
_RETRY_FALLBACK: dict[Lcm, tuple[str, tuple[int, int]]] = {
    Lcm.BOOT: ("deploy", _R),
    Lcm.BOOT_STOPPED: ("deploy", _R),
    Lcm.BOOT_UNKNOWN: ("boot", (int(A), int(Lcm.UNKNOWN))),
    Lcm.BOOT_POWEROFF: ("resume", (int(VmState.POWEROFF), 0)),
    Lcm.BOOT_SUSPENDED: ("resume", (int(VmState.SUSPENDED), 0)),
    Lcm.SHUTDOWN: ("shutdown", _R),
    Lcm.CANCEL: ("shutdown-hard", _R),
    Lcm.SHUTDOWN_POWEROFF: ("poweroff", _R),
    Lcm.SHUTDOWN_UNDEPLOY: ("undeploy", _R),
    Lcm.SAVE_STOP: ("stop", _R),
    Lcm.SAVE_SUSPEND: ("suspend", _R),
    Lcm.HOTPLUG_SNAPSHOT: ("snapshot-create", _R),
    Lcm.CLEANUP_DELETE: ("delete", _R),
    Lcm.CLEANUP_RESUBMIT: ("delete-recreate", _R),
}


def _plan_retry(w: AuthTx, vm: Body, action: str, options: dict) -> _Step | None:
    """4.14's retry: the transient state's driver action once more. A deploy (BOOT,
    BOOT_STOPPED) is sent again to the same host; any other action is planned again
    from the state it began in, so it takes the same path (and the same checks)."""
    if not is_transient(vm):
        raise _wrong_state(vm, "recover --retry", "a transient ACTIVE state (BOOT, SHUTDOWN...)")
    lcm = Lcm(vm["LCM_STATE"])
    fallback = _RETRY_FALLBACK.get(lcm)
    again = vm.get("TRANSIENT_ACTION") or (fallback[0] if fallback else None)
    if again is None:
        raise _wrong_state(vm, "recover --retry", "a state onekit knows how to retry")
    vm["RETRYING"] = again  # recorded again by _act
    if again == "deploy":
        host = _host_of(w, vm)
        checkpoint = vm.get("CHECKPOINT")
        if lcm == Lcm.BOOT_STOPPED and checkpoint:
            call = _restore_call(checkpoint["PATH"])
        else:
            call = _deploy_call(_spec(vm, w.session))
        vm["TRANSIENT_SINCE"] = time.time()
        return _Step(vm["ID"], _mark(vm), host, call, creates_guest=True)
    state, lcm_before = vm.get("PREV_STATE") or (fallback[1] if fallback else _R)
    vms.set_state(vm, VmState(state), Lcm(lcm_before))
    for key in ("TRANSIENT_SINCE", "PREV_STATE", "SAVING_TO"):
        vm.pop(key, None)
    return _plan(w, vm, again, options)


def conclude_from_host(
    w: AuthTx, vm: Body, guest_state: str, now: float, grace: float, shutdown_timeout: float
) -> str | None:
    """What a good poll of the VM's host says about it (the monitor calls this with the VM
    locked); returns a line for the log when it changed the VM, else None."""
    lcm = Lcm(vm["LCM_STATE"]) if vm["STATE"] == A else None
    since = vm.get("TRANSIENT_SINCE", 0)
    age = now - since
    name = f"VM {vm['ID']} ({vm['NAME']})"
    if lcm is not None and lcm not in STABLE_LCM:
        succeeded = {
            Lcm.SHUTDOWN: guest_state in (MISSING, SHUTOFF),
            Lcm.SHUTDOWN_POWEROFF: guest_state in (MISSING, SHUTOFF),
            Lcm.SHUTDOWN_UNDEPLOY: guest_state in (MISSING, SHUTOFF),
            Lcm.CANCEL: guest_state == MISSING,
            Lcm.CLEANUP_DELETE: guest_state == MISSING,
            Lcm.CLEANUP_RESUBMIT: guest_state == MISSING,
            Lcm.SAVE_STOP: guest_state == MISSING,
            Lcm.SAVE_SUSPEND: guest_state == PAUSED,
            Lcm.BOOT_SUSPENDED: guest_state == RUNNING,
            Lcm.HOTPLUG_SNAPSHOT: False,  # a guest shows no sign of a snapshot: failure
            Lcm.HOTPLUG: False,  # nor its state of a disk: the template stays as it was
        }.get(lcm, guest_state == RUNNING)  # the BOOT family
        if succeeded:
            complete(w, vm)
            return f"{name}: {lcm.name} concluded as success: the guest is {guest_state}"
        limit = shutdown_timeout if lcm.name.startswith("SHUTDOWN") else grace
        if age > limit and lcm == Lcm.BOOT and guest_state == MISSING:
            _not_started(w, vm)
            return (
                f"{name}: BOOT concluded: no guest appeared in {int(age)} s (the deploy never "
                "reached the hypervisor); PENDING again, for the scheduler"
            )
        if age > limit:
            fail(
                w,
                vm,
                f"{lcm.name} did not finish within {int(limit)} s (the guest is {guest_state})",
            )
            return (
                f"{name}: {lcm.name} concluded as failure: no outcome in {int(age)} s "
                f"(the guest is {guest_state})"
            )
        return None
    if lcm in (Lcm.RUNNING, Lcm.UNKNOWN) or vm["STATE"] in (VmState.POWEROFF, VmState.SUSPENDED):
        new = {RUNNING: (A, Lcm.RUNNING), PAUSED: (VmState.SUSPENDED, Lcm.LCM_INIT)}.get(
            guest_state, (VmState.POWEROFF, Lcm.LCM_INIT)
        )
        if (vm["STATE"], vm["LCM_STATE"]) != (int(new[0]), int(new[1])):
            old = state_name(vm["STATE"], vm["LCM_STATE"])
            vms.set_state(vm, new[0], new[1])
            return f"{name}: {old} -> {state_name(*map(int, new))} (the guest is {guest_state})"
    return None


# ---- a hypervisor that forgot its guests ------------------------------------------------
def restore_guests(session: Session, host_id: int) -> list[str]:
    """Give their guests back to the VMs the store has on a host whose hypervisor lost
    them all: libvirt's test driver keeps its domains only while its daemon runs, so the
    embedded host comes back from a restart empty. RUNNING and UNKNOWN VMs are started
    again, SUSPENDED ones started and paused; the others have no guest to restore. The
    VMs' states are left as they are (the monitor's next poll confirms them). Returns a
    line per VM restored, or that could not be."""
    with session.read() as w:
        host = pool.get(w.tx, schema.HOSTS, host_id)
        on_host = pool.all_bodies(w.tx, schema.VMS, "hid = ?", (host_id,)) if host else []
    if host is None:
        raise NotFound(f"host {host_id} does not exist")
    driver = driver_for(host)
    present = driver.monitor().vms
    notes = []
    for vm in sorted(on_host, key=lambda body: body["ID"]):
        suspended = vm["STATE"] == VmState.SUSPENDED
        running = vm["STATE"] == A and vm["LCM_STATE"] in (Lcm.RUNNING, Lcm.UNKNOWN)
        deploy_id = vm.get("DEPLOY_ID") or deploy_id_for(vm["ID"])
        if not (running or suspended) or deploy_id_for(vm["ID"]) in present:
            continue
        try:
            driver.deploy(_spec(vm, session))
            if suspended:
                driver.suspend(deploy_id)
        except OneError as err:
            notes.append(f"VM {vm['ID']} ({vm['NAME']}): its guest could not be restored: {err}")
            continue
        notes.append(
            f"VM {vm['ID']} ({vm['NAME']}): guest restored ({'paused' if suspended else 'running'})"
        )
    return notes

"""OpenNebula VM states as EC2 instance states (code, name), as OpenNebula 5 maps them
(4.6 answered ``pending`` for a powered-off VM, so boto3's ``instance_stopped`` waiter
never finished)."""

from __future__ import annotations

from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.states import Lcm, VmState

PENDING, RUNNING, SHUTTING_DOWN = (0, "pending"), (16, "running"), (32, "shutting-down")
TERMINATED, STOPPING, STOPPED = (48, "terminated"), (64, "stopping"), (80, "stopped")

_BY_STATE = {
    VmState.INIT: PENDING,
    VmState.PENDING: PENDING,
    VmState.HOLD: PENDING,
    VmState.STOPPED: STOPPED,
    VmState.SUSPENDED: STOPPED,
    VmState.POWEROFF: STOPPED,
    VmState.UNDEPLOYED: STOPPED,
    VmState.DONE: TERMINATED,
    VmState.FAILED: TERMINATED,
}
_STOPPING = {Lcm.SAVE_STOP, Lcm.SAVE_SUSPEND, Lcm.SHUTDOWN_POWEROFF, Lcm.EPILOG_STOP}
_GOING = {Lcm.EPILOG, Lcm.SHUTDOWN, Lcm.CANCEL, Lcm.CLEANUP_RESUBMIT, Lcm.CLEANUP_DELETE}
_STARTING = {
    Lcm.LCM_INIT,
    Lcm.PROLOG,
    Lcm.BOOT,
    Lcm.PROLOG_RESUME,
    Lcm.BOOT_POWEROFF,
    Lcm.BOOT_SUSPENDED,
    Lcm.BOOT_STOPPED,
    Lcm.BOOT_UNKNOWN,
}


def of(vm: dict[str, Any]) -> tuple[int, str]:
    state = VmState(vm["STATE"])
    if state != VmState.ACTIVE:
        return _BY_STATE.get(state, PENDING)
    lcm = Lcm(vm["LCM_STATE"])
    if lcm in _STOPPING:
        return STOPPING
    if lcm in _GOING:
        return SHUTTING_DOWN
    if lcm in _STARTING:
        return PENDING
    if lcm in (Lcm.FAILURE, Lcm.UNKNOWN):
        return TERMINATED  # as econe maps fail and unkn
    return RUNNING  # RUNNING, MIGRATE, HOTPLUG*, snapshots


def state_item(pair: tuple[int, str]) -> dict[str, Any]:
    return {"code": pair[0], "name": pair[1]}

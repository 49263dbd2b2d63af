"""VM, host and image states with OpenNebula 4.6's names and codes (include/VirtualMachine.h,
include/Host.h, include/Image.h), and the short forms its CLIs print."""

from __future__ import annotations

import enum


class VmState(enum.IntEnum):
    INIT = 0
    PENDING = 1
    HOLD = 2
    ACTIVE = 3
    STOPPED = 4
    SUSPENDED = 5
    DONE = 6
    FAILED = 7
    POWEROFF = 8
    UNDEPLOYED = 9


class Lcm(enum.IntEnum):
    """LCM_STATE: only meaningful while STATE is ACTIVE (4.0-4.12 codes)."""

    LCM_INIT = 0
    PROLOG = 1
    BOOT = 2
    RUNNING = 3
    MIGRATE = 4
    SAVE_STOP = 5
    SAVE_SUSPEND = 6
    SAVE_MIGRATE = 7
    PROLOG_MIGRATE = 8
    PROLOG_RESUME = 9
    EPILOG_STOP = 10
    EPILOG = 11
    SHUTDOWN = 12
    CANCEL = 13
    FAILURE = 14
    CLEANUP_RESUBMIT = 15
    UNKNOWN = 16
    HOTPLUG = 17
    SHUTDOWN_POWEROFF = 18
    BOOT_UNKNOWN = 19
    BOOT_POWEROFF = 20
    BOOT_SUSPENDED = 21
    BOOT_STOPPED = 22
    CLEANUP_DELETE = 23
    HOTPLUG_SNAPSHOT = 24
    HOTPLUG_NIC = 25
    HOTPLUG_SAVEAS = 26
    HOTPLUG_SAVEAS_POWEROFF = 27
    HOTPLUG_SAVEAS_SUSPENDED = 28
    SHUTDOWN_UNDEPLOY = 29
    EPILOG_UNDEPLOY = 30
    PROLOG_UNDEPLOY = 31
    BOOT_UNDEPLOY = 32


# Stable ACTIVE states; every other ACTIVE state waits for a driver outcome.
STABLE_LCM = frozenset({Lcm.RUNNING, Lcm.UNKNOWN})

_VM_SHORT = {
    VmState.INIT: "init",
    VmState.PENDING: "pend",
    VmState.HOLD: "hold",
    VmState.STOPPED: "stop",
    VmState.SUSPENDED: "susp",
    VmState.DONE: "done",
    VmState.FAILED: "fail",
    VmState.POWEROFF: "poff",
    VmState.UNDEPLOYED: "unde",
}
_LCM_SHORT = {
    Lcm.LCM_INIT: "init",
    Lcm.PROLOG: "prol",
    Lcm.BOOT: "boot",
    Lcm.RUNNING: "runn",
    Lcm.MIGRATE: "migr",
    Lcm.SAVE_STOP: "save",
    Lcm.SAVE_SUSPEND: "save",
    Lcm.SAVE_MIGRATE: "save",
    Lcm.PROLOG_MIGRATE: "migr",
    Lcm.PROLOG_RESUME: "prol",
    Lcm.EPILOG_STOP: "epil",
    Lcm.EPILOG: "epil",
    Lcm.SHUTDOWN: "shut",
    Lcm.CANCEL: "shut",
    Lcm.FAILURE: "fail",
    Lcm.CLEANUP_RESUBMIT: "clea",
    Lcm.UNKNOWN: "unkn",
    Lcm.HOTPLUG: "hotp",
    Lcm.SHUTDOWN_POWEROFF: "shut",
    Lcm.BOOT_UNKNOWN: "boot",
    Lcm.BOOT_POWEROFF: "boot",
    Lcm.BOOT_SUSPENDED: "boot",
    Lcm.BOOT_STOPPED: "boot",
    Lcm.CLEANUP_DELETE: "clea",
    Lcm.HOTPLUG_SNAPSHOT: "snap",
    Lcm.HOTPLUG_NIC: "hotp",
    Lcm.HOTPLUG_SAVEAS: "hotp",
    Lcm.HOTPLUG_SAVEAS_POWEROFF: "hotp",
    Lcm.HOTPLUG_SAVEAS_SUSPENDED: "hotp",
    Lcm.SHUTDOWN_UNDEPLOY: "shut",
    Lcm.EPILOG_UNDEPLOY: "epil",
    Lcm.PROLOG_UNDEPLOY: "prol",
    Lcm.BOOT_UNDEPLOY: "boot",
}


def state_name(state: int, lcm: int) -> str:
    """``RUNNING`` for ACTIVE/RUNNING, else the STATE name (as ``onevm show`` prints)."""
    if state == VmState.ACTIVE:
        return Lcm(lcm).name
    return VmState(state).name


def short_state(state: int, lcm: int) -> str:
    """The four letters of ``onevm list``'s STAT column."""
    if state == VmState.ACTIVE:
        return _LCM_SHORT[Lcm(lcm)]
    return _VM_SHORT[VmState(state)]


class HostState(enum.IntEnum):
    INIT = 0
    MONITORING_MONITORED = 1
    MONITORED = 2
    ERROR = 3
    DISABLED = 4
    MONITORING_ERROR = 5
    MONITORING_INIT = 6
    MONITORING_DISABLED = 7


_HOST_SHORT = {
    HostState.INIT: "init",
    HostState.MONITORING_INIT: "init",
    HostState.MONITORING_MONITORED: "update",
    HostState.MONITORED: "on",
    HostState.ERROR: "err",
    HostState.MONITORING_ERROR: "retry",
    HostState.DISABLED: "off",
    HostState.MONITORING_DISABLED: "off",
}


def host_short_state(state: int) -> str:
    return _HOST_SHORT[HostState(state)]


class ImageState(enum.IntEnum):
    INIT = 0
    READY = 1
    USED = 2
    DISABLED = 3
    LOCKED = 4  # its file is being copied (an upload, a clone)
    ERROR = 5
    CLONE = 6
    DELETE = 7
    USED_PERS = 8  # a persistent image a VM uses (one VM at most)


_IMAGE_SHORT = {
    ImageState.INIT: "init",
    ImageState.READY: "rdy",
    ImageState.USED: "used",
    ImageState.DISABLED: "disa",
    ImageState.LOCKED: "lock",
    ImageState.ERROR: "err",
    ImageState.CLONE: "clon",
    ImageState.DELETE: "dele",
    ImageState.USED_PERS: "used",
}


def image_short_state(state: int) -> str:
    """The STAT column of ``oneimage list``."""
    return _IMAGE_SHORT[ImageState(state)]

"""``VM`` and ``VM_POOL`` (vm.xsd, vm_pool.xsd, vm_pool_extended.xsd)."""

from __future__ import annotations

from collections.abc import Iterable

from onekit.server.rpc2.documents import (
    Body,
    attributes,
    element,
    elements,
    ids,
    ordered,
    ownership,
    permissions,
    pool,
)

# the VM's TEMPLATE of vm.xsd, in its order: what OpenNebula keeps there (the rest of
# what a user wrote is the USER_TEMPLATE); onekit's own machine attributes that are not
# among them (PARTNER) are shown in the USER_TEMPLATE
TEMPLATE_ORDER = (
    "AUTOMATIC_DS_REQUIREMENTS", "AUTOMATIC_NIC_REQUIREMENTS", "AUTOMATIC_REQUIREMENTS",
    "CLONING_TEMPLATE_ID", "CONTEXT", "CPU", "CPU_COST", "DISK", "DISK_COST", "EMULATOR",
    "FEATURES", "HYPERV_OPTIONS", "GRAPHICS", "VIDEO", "IMPORTED", "INPUT", "MEMORY",
    "MEMORY_COST", "MEMORY_MAX", "MEMORY_SLOTS", "MEMORY_RESIZE_MODE", "NIC", "NIC_ALIAS",
    "NIC_DEFAULT", "NUMA_NODE", "OS", "PCI", "QEMU_GA_EXEC", "RAW", "SECURITY_GROUP_RULE",
    "SNAPSHOT", "SPICE_OPTIONS", "SUBMIT_ON_HOLD", "TEMPLATE_ID", "TM_MAD_SYSTEM",
    "TOPOLOGY", "TPM", "MEMORY_ENCRYPTION", "VCPU", "VCPU_MAX", "VMGROUP", "VMID",
    "VROUTER_ID", "VROUTER_KEEPALIVED_ID", "VROUTER_KEEPALIVED_PASSWORD", "SCHED_ACTION",
)  # fmt: skip
_IN_TEMPLATE = frozenset(TEMPLATE_ORDER)
# vm_pool.xsd's short VM TEMPLATE (one.vmpool.info)
SHORT_TEMPLATE_ORDER = ("CPU", "MEMORY", "VCPU", "DISK", "NIC", "GRAPHICS")
# MONITORING's figures, in vm.xsd's order (decimals, all optional)
MONITORING_ORDER = (
    "CPU", "DISKRDBYTES", "DISKRDIOPS", "DISKWRBYTES", "DISKWRIOPS", "ID", "MEMORY",
    "NETRX", "NETTX", "TIMESTAMP",
)  # fmt: skip
# HISTORY/ACTION is a number in OpenNebula (VMActions, the list in vm.xsd); onekit keeps
# the action's name
HISTORY_ACTIONS = (
    "none", "migrate", "live-migrate", "shutdown", "shutdown-hard", "undeploy",
    "undeploy-hard", "hold", "release", "stop", "suspend", "resume", "boot", "delete",
    "delete-recreate", "reboot", "reboot-hard", "resched", "unresched", "poweroff",
    "poweroff-hard", "disk-attach", "disk-detach", "nic-attach", "nic-detach",
    "disk-snapshot-create", "disk-snapshot-delete", "terminate", "terminate-hard",
    "disk-resize", "deploy", "chown", "chmod", "updateconf", "rename", "resize", "update",
    "snapshot-create", "snapshot-delete", "snapshot-revert", "disk-saveas",
    "disk-snapshot-revert", "recover", "retry", "monitor",
)  # fmt: skip
_ACTION_NUMBER = {name: number for number, name in enumerate(HISTORY_ACTIONS)}


def action_number(action: object) -> int:
    """A history record's ACTION as OpenNebula's number (0, none, for one it lacks)."""
    if isinstance(action, int):
        return action
    return _ACTION_NUMBER.get(str(action).lower().replace("_", "-"), 0)


def _state(vm: Body) -> str:
    return elements(vm, ("STATE", "LCM_STATE"), 0)


def _previous(vm: Body) -> str:
    """PREV_STATE and PREV_LCM_STATE: onekit keeps the pair a VM in a transient state
    left (``[state, lcm]``, to go back to on a failure); a stable VM's are its own."""
    previous = vm.get("PREV_STATE")
    if not (isinstance(previous, list | tuple) and len(previous) == 2):
        previous = (vm.get("STATE", 0), vm.get("LCM_STATE", 0))
    return element("PREV_STATE", previous[0]) + element("PREV_LCM_STATE", previous[1])


def _monitoring(vm: Body) -> str:
    figures = vm.get("MONITORING") or {}
    return f"<MONITORING>{ordered(figures, MONITORING_ORDER)}</MONITORING>"


def _templates(vm: Body) -> str:
    machine = dict(vm.get("TEMPLATE") or {})
    machine.setdefault("TM_MAD_SYSTEM", "")
    machine.setdefault("VMID", vm.get("ID", ""))
    user = dict(vm.get("USER_TEMPLATE") or {})
    for name, value in machine.items():  # onekit's own, shown beside the user's
        if name not in _IN_TEMPLATE and name != "NAME":
            user.setdefault(name, value)
    return (
        f"<TEMPLATE>{ordered(machine, TEMPLATE_ORDER)}</TEMPLATE>"
        f"<USER_TEMPLATE>{attributes(user)}</USER_TEMPLATE>"
    )


def _history(vm: Body, full: bool) -> str:
    records = []
    for seq, record in enumerate(vm.get("HISTORY_RECORDS") or []):
        head = (
            element("OID", vm.get("ID", 0))
            + element("SEQ", record.get("SEQ", seq))
            + element("HOSTNAME", record.get("HOSTNAME", ""))
            + element("HID", record.get("HID", -1))
            + element("CID", record.get("CID", -1))
        )
        action = element("ACTION", action_number(record.get("ACTION", 0)))
        if full:
            start, end = record.get("STIME", 0), record.get("ETIME", 0)
            body = (
                head
                + element("STIME", start)
                + element("ETIME", end)
                + element("VM_MAD", record.get("VM_MAD", ""))
                + element("TM_MAD", record.get("TM_MAD", ""))
                + element("DS_ID", record.get("DS_ID", 0))
                + element("PLAN_ID", -1)
                + element("ACTION_ID", -1)
                + elements(record, ("PSTIME", "PETIME"), 0)
                + element("RSTIME", start)
                + element("RETIME", end)
                + elements(record, ("ESTIME", "EETIME"), 0)
                + action
                + elements(vm, ("UID", "GID"), 0)
                + element("REQUEST_ID", record.get("REQUEST_ID", ""))
            )
        else:
            body = (
                head
                + element("DS_ID", record.get("DS_ID", 0))
                + element("VM_MAD", record.get("VM_MAD", ""))
                + element("TM_MAD", record.get("TM_MAD", ""))
                + action
            )
        records.append(f"<HISTORY>{body}</HISTORY>")
    return f"<HISTORY_RECORDS>{''.join(records)}</HISTORY_RECORDS>"


def vm(body: Body) -> str:
    """The full ``VM`` (one.vm.info, one.vmpool.infoextended)."""
    return (
        "<VM>"
        + ownership(body)
        + permissions(body)
        + element("LAST_POLL", body.get("LAST_POLL", 0))
        + _state(body)
        + _previous(body)
        + elements(body, ("RESCHED", "STIME", "ETIME"), 0)
        + element("DEPLOY_ID", body.get("DEPLOY_ID", ""))
        + _monitoring(body)
        + ids("SCHED_ACTIONS", ())
        + _templates(body)
        + _history(body, full=True)
        + "<BACKUPS><BACKUP_CONFIG/><BACKUP_IDS/></BACKUPS>"
        + "</VM>"
    )


def short_vm(body: Body) -> str:
    """The ``VM`` of ``VM_POOL`` as one.vmpool.info gives it (vm_pool.xsd)."""
    machine = body.get("TEMPLATE") or {}
    return (
        "<VM>"
        + ownership(body)
        + element("LAST_POLL", body.get("LAST_POLL", 0))
        + _state(body)
        + elements(body, ("RESCHED", "STIME", "ETIME"), 0)
        + element("DEPLOY_ID", body.get("DEPLOY_ID", ""))
        + f"<TEMPLATE>{ordered(machine, SHORT_TEMPLATE_ORDER)}</TEMPLATE>"
        + _monitoring(body)
        + f"<USER_TEMPLATE>{attributes(body.get('USER_TEMPLATE') or {})}</USER_TEMPLATE>"
        + _history(body, full=False)
        + "</VM>"
    )


def vm_pool(bodies: Iterable[Body], extended: bool) -> str:
    return pool("VM_POOL", (vm(b) if extended else short_vm(b) for b in bodies))

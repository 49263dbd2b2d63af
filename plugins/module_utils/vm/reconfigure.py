"""Changing a VM outside its life cycle: its name, its machine configuration
(``onevm updateconf``) and a copy of one of its disks as a new image (``onevm
disk-saveas``). Each needs MANAGE on the VM, as oned's VM_MANAGE_OPERATIONS.

``update_conf`` follows oned's ``VirtualMachine::updateconf``: the sections OS, FEATURES,
INPUT, GRAPHICS, RAW and CONTEXT of the VM's TEMPLATE, each sub-attribute of a section
replaced (or, with ``append``, only those given); without ``append`` a section the new
text lacks is removed. The change is taken at the VM's next boot: onekit builds the
domain from the template when it deploys or resumes the VM, and has no live update, so a
VM must not be on a hypervisor: PENDING, HOLD, POWEROFF or UNDEPLOYED (oned also changes
a RUNNING VM's context live). What would not make a domain is refused before it is
stored, as at allocation.
"""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import VmState, state_name
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import VmSpec
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.domain_xml import check_domain
from ansible_collections.onekit.cloud.plugins.module_utils.objects import images
from ansible_collections.onekit.cloud.plugins.module_utils.vm import disks, vms

Body = dict[str, Any]
Ref = int | str

# the sections updateconf changes and, for each, the sub-attributes it may set
# (oned's VirtualMachineTemplate::UPDATECONF_ATTRS, less what onekit's domains lack:
# VIDEO, CPU_MODEL, BACKUP_CONFIG; plus GRAPHICS/PORT, which onekit takes from the user)
SECTIONS: dict[str, tuple[str, ...]] = {
    "OS": (
        "ARCH", "MACHINE", "KERNEL", "INITRD", "BOOTLOADER", "BOOT", "KERNEL_CMD", "ROOT",
        "SD_DISK_BUS", "UUID", "FIRMWARE", "FIRMWARE_FORMAT",
    ),
    "FEATURES": (
        "PAE", "ACPI", "APIC", "LOCALTIME", "HYPERV", "GUEST_AGENT", "VIRTIO_SCSI_QUEUES",
        "VIRTIO_BLK_QUEUES", "IOTHREADS", "GIC", "RAS", "MIGRATE_AUTO_CONVERGE",
        "MIGRATE_COMPRESSED",
    ),
    "INPUT": ("TYPE", "BUS"),
    "GRAPHICS": ("TYPE", "LISTEN", "PORT", "PASSWD", "KEYMAP", "COMMAND"),
    "RAW": ("TYPE", "DATA", "VALIDATE", "DATA_VMX"),
}  # fmt: skip
CONTEXT = "CONTEXT"
# the states in which a VM is on no hypervisor, so its next boot takes the new template
CONFIGURABLE = (VmState.PENDING, VmState.HOLD, VmState.POWEROFF, VmState.UNDEPLOYED)
_NETWORK_CONTEXT = re.compile(r"ETH\d+_\w+")
_KEPT_CONTEXT = ("ONEGATE_URL",)  # what onekit wrote in a CONTEXT (OneGate's address)


def _manage(w: AuthTx, ref: Ref) -> Body:
    vm = pool.resolve(w.tx, schema.VMS, ref, lock=True)
    w.authorize(objects.target(schema.VMS, vm), Right.MANAGE)
    return vm


def rename(session: Session, ref: Ref, name: str) -> Body:
    """``onevm rename``: in any state (``objects.rename``, its TEMPLATE's NAME too); the
    VM's domain keeps its DEPLOY_ID (one-<id>) and takes the new name as its title at its
    next deploy."""
    return objects.rename(session, schema.VMS, ref, name)


def _check(tpl: Body) -> None:
    unknown = sorted(set(tpl) - set(SECTIONS) - {CONTEXT})
    if unknown:
        allowed = ", ".join((*SECTIONS, CONTEXT))
        raise InvalidInput(
            f"updateconf changes only {allowed}; {', '.join(unknown)} "
            f"{'is' if len(unknown) == 1 else 'are'} not among them"
        )
    for name, subs in SECTIONS.items():
        if name not in tpl:
            continue
        section = tpl[name]
        if not isinstance(section, dict):
            raise InvalidInput(f"{name} must be one vector attribute, {name} = [ ... ]")
        extra = sorted(set(section) - set(subs))
        if extra:
            raise InvalidInput(
                f"updateconf cannot set {name}/{', '.join(extra)}; {name} takes {', '.join(subs)}"
            )
    context = tpl.get(CONTEXT)
    if context is not None:
        if not isinstance(context, dict):
            raise InvalidInput("CONTEXT must be one vector attribute, CONTEXT = [ ... ]")
        network = sorted(k for k in context if _NETWORK_CONTEXT.fullmatch(k))
        if network:
            raise InvalidInput(
                f"CONTEXT/{network[0]} comes from the VM's NIC: update the NIC, not the context"
            )


def _section(old: Body | None, new: Body | None, subs: tuple[str, ...], append: bool) -> Any:
    """oned's replace_vector_values: the section after the update (None: removed)."""
    if new is None:
        return old if append else None
    if old is None:
        return dict(new)
    merged = dict(old)
    for sub in subs:
        if sub in new:
            merged[sub] = new[sub]
        elif not append:
            merged.pop(sub, None)
    return merged


def _context(old: Any, new: Body | None, append: bool) -> Any:
    if new is None:
        return old
    if not isinstance(old, dict):
        raise Conflict("the VM has no CONTEXT: updateconf changes a context, never adds one")
    if append:
        return {**old, **new}
    kept = {k: v for k, v in old.items() if k in _KEPT_CONTEXT or _NETWORK_CONTEXT.fullmatch(k)}
    return {**new, **kept}


def update_conf(session: Session, ref: Ref, tpl: template.Source, append: bool = False) -> Body:
    """``onevm updateconf``: OS, FEATURES, INPUT, GRAPHICS, RAW and CONTEXT of a VM that
    is on no hypervisor (see the module's docstring)."""
    parsed = template.load(tpl, "the configuration")
    _check(parsed)
    vms.check_restricted(session.subject, parsed, "the configuration")
    with session.write() as w:
        vm = _manage(w, ref)
        if vm["STATE"] not in CONFIGURABLE:
            now = state_name(vm["STATE"], vm["LCM_STATE"])
            raise Conflict(
                f"VM {vm['ID']} is {now}: its configuration changes only when it is on no "
                "hypervisor (PENDING, HOLD, POWEROFF or UNDEPLOYED); power it off first"
            )
        machine = dict(vm["TEMPLATE"])
        for name, subs in SECTIONS.items():
            value = _section(machine.get(name), parsed.get(name), subs, append)
            if value is None:
                machine.pop(name, None)
            else:
                machine[name] = value
        context = _context(machine.get(CONTEXT), parsed.get(CONTEXT), append)
        if context is not None:
            machine[CONTEXT] = context
        check_domain(VmSpec(vm["ID"], vm["NAME"], machine), "kvm")
        vm["TEMPLATE"] = machine
        return pool.update(w.tx, schema.VMS, vm)


def disk_save_as(
    session: Session, ref: Ref, disk_id: int, name: str, kind: str = "", snapshot: int = -1
) -> Body:
    """``onevm disk-saveas``: a new image of the caller, a copy of the file of disk
    ``disk_id`` of a POWEROFF VM (its guest writes nothing then). The disk must come from
    an image whose file is on this front-end (an upload, a DATABLOCK, a clone): the copy
    is ``images.clone``'s, with its rights (USE on that image, CREATE on images), and
    keeps that image's TYPE (``kind``, oned's type of the new image, may be any image
    type or empty: onekit's clone has no other). onekit keeps no disk snapshots:
    ``snapshot`` must be -1."""
    if snapshot != -1:
        raise InvalidInput(
            f"onekit keeps no disk snapshots: the snapshot id must be -1, got {snapshot}"
        )
    with session.read() as w:
        vm = pool.resolve(w.tx, schema.VMS, ref)
        w.authorize(objects.target(schema.VMS, vm), Right.MANAGE)
    if vm["STATE"] != VmState.POWEROFF:
        now = state_name(vm["STATE"], vm["LCM_STATE"])
        raise Conflict(f"VM {vm['ID']} is {now}: a disk is saved when the VM is POWEROFF")
    disk = next((d for d in disks.numbered(vm["TEMPLATE"]) if d["DISK_ID"] == str(disk_id)), None)
    if disk is None:
        raise NotFound(f"VM {vm['ID']} has no disk {disk_id}")
    if "IMAGE_ID" not in disk:
        raise InvalidInput(
            f"disk {disk_id} of VM {vm['ID']} is a file of the hosts ({disk.get('SOURCE', '')}), "
            "not an image: onekit saves disks made from images"
        )
    if kind and kind.upper() not in images.TYPES:
        raise InvalidInput(f"image type {kind!r} is unknown; use one of {', '.join(images.TYPES)}")
    source = objects.show(session, schema.IMAGES, int(disk["IMAGE_ID"]))
    if source.get("PERSISTENT") and source.get("VMS"):
        raise Conflict(
            f"disk {disk_id} is the persistent image {source['NAME']}, which is the VM's own: "
            "onekit saves copies of non-persistent disks only"
        )
    return images.clone(session, source["ID"], name, persistent=False)

"""Disk hot-plug's rules: which DISK ``onevm disk-attach`` gives a VM, which one
``onevm disk-detach`` takes away, and how the VM's template reads after either.

The state machine (HOTPLUG, the driver call, the outcome) is ``vm.lifecycle``'s; this
module only shapes DISK vectors. A disk is named by its ``DISK_ID``: a VM made before
its first hot-plug has DISKs without one, whose id is their place in the list (as oned
numbers them). The first hot-plug that changes the list writes every DISK's ``DISK_ID``
and ``TARGET`` (the device name the domain was built with, ``domain_xml.settled_disks``),
so removing a disk never renames the others, in the store or at the next deploy.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import template
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    InvalidInput,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx
from ansible_collections.onekit.cloud.plugins.module_utils.drivers import domain_xml
from ansible_collections.onekit.cloud.plugins.module_utils.objects import images

Body = dict[str, Any]
Ref = int | str
BOOT_DISK_ID = 0
DEFAULT_BUS = "virtio"


def _has_context_cd(tpl: Body) -> bool:
    """The VM's context CD-ROM holds ``hdb`` (``lifecycle._spec`` gives one to every VM
    with a CONTEXT, and a CONTEXT_ISO names one)."""
    return isinstance(tpl.get("CONTEXT"), dict) or "CONTEXT_ISO" in tpl


def numbered(tpl: Body) -> list[Body]:
    """The VM's DISKs, each with its ``DISK_ID`` and ``TARGET`` written in."""
    settled = domain_xml.settled_disks(tpl, _has_context_cd(tpl))
    disks = []
    for index, (raw, seen) in enumerate(zip(template.as_list(tpl, "DISK"), settled, strict=True)):
        disks.append({**raw, "DISK_ID": str(_disk_id(raw, index)), "TARGET": seen["target"]})
    return disks


def _disk_id(disk: Body, index: int) -> int:
    text = str(disk.get("DISK_ID", index)).strip()
    return int(text) if text.isdigit() else index


def _write(tpl: Body, disks: list[Body]) -> None:
    """DISK as the rest of the store keeps it: one vector, a list of them, or none."""
    if not disks:
        tpl.pop("DISK", None)
    else:
        tpl["DISK"] = disks[0] if len(disks) == 1 else disks


def _name(disk: Body) -> str:
    what = f"image {disk['IMAGE']}" if disk.get("IMAGE") else disk.get("SOURCE", "")
    return f"disk {disk['DISK_ID']} ({what})"


def new_disk(w: AuthTx, vm: Body, image: Ref, target: str | None) -> Body:
    """The DISK ``image`` becomes on ``vm``: the image resolved (USE on it), the next
    DISK_ID, and ``target`` (checked free), or else the next free name on the bus of the
    VM's first hard disk (virtio: ``vdb``...)."""
    tpl = vm["TEMPLATE"]
    disks = numbered(tpl)
    if isinstance(image, bool) or image is None or not str(image).strip():
        raise InvalidInput("disk-attach needs an image: its name or id")
    ref = int(image) if isinstance(image, int) else str(image).strip()
    key = "IMAGE_ID" if isinstance(ref, int) or ref.isdigit() else "IMAGE"
    # the VM takes the image now (a persistent one is held by one VM): a failed
    # hot-plug gives it back (``release_unused``)
    disk = images.resolve_disk(w, {key: str(ref)}, vm["ID"])
    if disk.get("TYPE") == "cdrom":
        raise InvalidInput(
            f"image {disk['IMAGE']} is a CDROM image: only OS and DATABLOCK images are "
            "hot-plugged (a CD-ROM's IDE bus takes no new device while the VM runs)"
        )
    taken = {d["TARGET"]: _name(d) for d in disks}
    if _has_context_cd(tpl):
        taken[domain_xml.CONTEXT_TARGET] = "the context CD-ROM"
    if target is not None and str(target).strip():
        target = domain_xml.check_target("TARGET", str(target))
        if target in taken:
            raise InvalidInput(
                f"TARGET {target} is already used by {taken[target]} of VM {vm['ID']}: "
                "give another, or none for the next free one"
            )
    else:
        settled = domain_xml.settled_disks(tpl, _has_context_cd(tpl))
        hard = [d["bus"] for d in settled if d["kind"] != "cdrom"]
        prefix = domain_xml.bus_prefix(hard[0] if hard else DEFAULT_BUS)
        target = domain_xml.free_name(prefix, taken, "the new disk")
    # from 1: DISK_ID 0 is the boot disk, which a diskless VM simply lacks
    next_id = max((int(d["DISK_ID"]) for d in disks), default=BOOT_DISK_ID) + 1
    disk = {**disk, "DISK_ID": str(next_id), "TARGET": target}
    domain_xml.disk_xml(disk, f"DISK {next_id}")  # what the hypervisor would refuse
    return disk


def find(vm: Body, disk_id: int | str) -> Body:
    """The DISK ``onevm disk-detach <vm> <disk_id>`` takes away; the boot disk and
    CD-ROMs are refused."""
    text = str(disk_id).strip()
    if isinstance(disk_id, bool) or not text.isdigit():
        raise InvalidInput(f"the disk id must be a whole number (a DISK_ID), got {disk_id!r}")
    disks = numbered(vm["TEMPLATE"])
    found = [d for d in disks if int(d["DISK_ID"]) == int(text)]
    if not found:
        ids = ", ".join(d["DISK_ID"] for d in disks) or "none"
        raise NotFound(f"VM {vm['ID']} has no disk {int(text)} (its DISK_IDs: {ids})")
    disk = found[0]
    if int(disk["DISK_ID"]) == BOOT_DISK_ID:
        raise InvalidInput(
            f"disk {BOOT_DISK_ID} is VM {vm['ID']}'s boot disk: it cannot be detached"
        )
    if str(disk.get("TYPE", "")).lower() == "cdrom":
        raise InvalidInput(
            f"{_name(disk)} of VM {vm['ID']} is a CD-ROM: only hard disks are detached"
        )
    return disk


def release_unused(w: AuthTx, vm: Body, disk: Body) -> None:
    """Give ``disk``'s image back unless another DISK of the VM still uses it (the same
    non-persistent image attached twice is held once)."""
    image_id = str(disk.get("IMAGE_ID", ""))
    if not image_id.isdigit():
        return
    if any(d.get("IMAGE_ID") == image_id for d in template.as_list(vm["TEMPLATE"], "DISK")):
        return
    images.give_back(w, int(image_id), vm["ID"])


def attached(tpl: Body, disk: Body) -> None:
    """``tpl`` once ``disk`` is on the guest (every DISK numbered, the new one last)."""
    _write(tpl, [*numbered(tpl), disk])


def detached(tpl: Body, disk_id: str) -> Body | None:
    """``tpl`` once disk ``disk_id`` has left the guest; returns that DISK."""
    disks = numbered(tpl)
    _write(tpl, [d for d in disks if d["DISK_ID"] != str(disk_id)])
    gone = [d for d in disks if d["DISK_ID"] == str(disk_id)]
    return gone[0] if gone else None

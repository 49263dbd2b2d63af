"""COMPUTE resources: VMs made from an instance type, changed by PUTs of their STATE or
a disk's SAVE_AS, and disks hot-plugged by actions. Every change is a core operation as
the caller (``vms``, ``lifecycle``, ``reconfigure``), with its rights and rules."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import DriverError
from ansible_collections.onekit.cloud.plugins.module_utils.occi import states
from ansible_collections.onekit.cloud.plugins.module_utils.occi.config import (
    InstanceType,
    OcciConfig,
)
from ansible_collections.onekit.cloud.plugins.module_utils.occi.errors import Forbidden
from ansible_collections.onekit.cloud.plugins.module_utils.occi.hrefs import id_of, text
from ansible_collections.onekit.cloud.plugins.module_utils.occi.renderer import COMMON, Renderer
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, reconfigure, vms

Body = dict[str, Any]


def instance_type_of(doc: ET.Element, config: OcciConfig) -> InstanceType:
    """The COMPUTE's INSTANCE_TYPE, by its text or its href (4.6 took either)."""
    element = doc.find("INSTANCE_TYPE")
    if element is None:
        raise InvalidInput(
            "COMPUTE/INSTANCE_TYPE is missing: name one of "
            + ", ".join(t.name for t in config.instance_types)
        )
    href = element.get("href")
    name = href.rstrip("/").split("/")[-1] if href else (element.text or "").strip()
    found = config.instance_type(name)
    if found is None:
        raise InvalidInput(
            f"COMPUTE/INSTANCE_TYPE {name[:40]!r} is unknown: the instance types are "
            + ", ".join(t.name for t in config.instance_types)
        )
    return found


def _usable(session: Session, spec: schema.PoolSpec, oid: int, field: str) -> None:
    """The storage or network an href names exists for the caller (else 400 naming the
    field); the core checks the right to use it when the VM takes it."""
    try:
        objects.show(session, spec, oid)
    except NotFound:
        raise InvalidInput(f"{field} names {spec.noun} {oid}, which does not exist") from None


def _referenced(
    session: Session, parent: ET.Element, child: str, spec: schema.PoolSpec, field: str
) -> int:
    """The id of the storage or network the ``href`` of ``parent``'s ``child`` names
    (``<STORAGE href=".../storage/3"/>``; ``child`` may be a path, ``PARAMS/STORAGE``),
    one that exists for the caller."""
    kind = child.rsplit("/", 1)[-1].lower()
    element = parent.find(child)
    oid = id_of(None if element is None else element.get("href"), kind, field)
    _usable(session, spec, oid, field)
    return oid


def _request(session: Session, doc: ET.Element, itype: InstanceType) -> dict[str, Any]:
    """What the templates get from the COMPUTE: values only, never template code."""
    disks = []
    for index, disk in enumerate(doc.findall("DISK")):
        field = f"COMPUTE/DISK[{index}]/STORAGE"
        image_id = _referenced(session, disk, "STORAGE", schema.IMAGES, field)
        disks.append({"image_id": image_id, "target": text(disk, "TARGET")})
    nics = []
    for index, nic in enumerate(doc.findall("NIC")):
        field = f"COMPUTE/NIC[{index}]/NETWORK"
        net_id = _referenced(session, nic, "NETWORK", schema.NETWORKS, field)
        nics.append({"network_id": net_id, "ip": text(nic, "IP")})
    context = []
    section = doc.find("CONTEXT")
    for element in [] if section is None else list(section):
        if not template.is_name(element.tag):
            raise InvalidInput(
                f"COMPUTE/CONTEXT/{element.tag[:40]} cannot be a CONTEXT attribute: "
                "names are letters, digits and _"
            )
        context.append((element.tag, "".join(element.itertext()).strip()))
    leaves = {e.tag: (e.text or "").strip() for e in doc if len(e) == 0 and not e.attrib}
    return {
        "name": text(doc, "NAME") or None,
        "disks": disks,
        "nics": nics,
        "context": context,
        "instance_type": itype.name,
        "type": {"name": itype.name, "cpu": itype.cpu_text, "memory": itype.memory},
        "compute": leaves,
    }


def create(session: Session, config: OcciConfig, renderer: Renderer, doc: ET.Element) -> Body:
    """POST /compute: common's template and the instance type's, filled with the
    COMPUTE's values, allocated as the caller (``vms.create``)."""
    itype = instance_type_of(doc, config)
    data = _request(session, doc, itype)
    tpl = template.parse(renderer.render_text(COMMON, itype.template, **data))
    return vms.create(session, tpl)


def _act(session: Session, vm_id: int, action: str) -> None:
    try:
        outcomes = lifecycle.act(session, [vm_id], action, quick_wait=0.0)
    except lifecycle.WrongState as err:
        raise Forbidden(str(err)) from None
    failed = [o.error for o in outcomes if o.error]
    if failed:
        raise DriverError(f"VM {vm_id}: {action}: {failed[0]}")


def _save_as(doc: ET.Element) -> list[tuple[int, str]]:
    found = []
    for disk in doc.findall("DISK"):
        for save in disk.findall("SAVE_AS"):
            name = save.get("name")
            if not name:
                continue
            disk_id = disk.get("id", "")
            if not disk_id.isdigit():
                raise InvalidInput('COMPUTE/DISK/SAVE_AS needs the DISK\'s id (<DISK id="0">)')
            found.append((int(disk_id), name))
    return found


def update(session: Session, vm_id: int, doc: ET.Element) -> bool:
    """PUT /compute/<id>: a new STATE (``states.OCCI_ACTION``) or one disk's SAVE_AS,
    never both; whether anything changed (202) or not (200)."""
    vm = vms.show(session, vm_id)
    wanted = text(doc, "STATE")
    action = None if wanted is None else states.action_for(states.state_str(vm["STATE"]), wanted)
    saves = _save_as(doc)
    if saves and action is not None:
        raise Forbidden(
            "Changing the state of the resource and saving a disk is not allowed in the "
            "same request"
        )
    if len(saves) > 1:
        raise Forbidden("Only one disk can be saved per request")
    if action is not None:
        _act(session, vm["ID"], action)
        return True
    if saves:
        disk_id, name = saves[0]
        try:
            reconfigure.disk_save_as(session, vm["ID"], disk_id, name)
        except Conflict as err:
            raise Forbidden(str(err)) from None
        return True
    return False


def delete(session: Session, vm_id: int) -> None:
    """DELETE /compute/<id>: 4.6's finalize, onekit's ``delete``."""
    _act(session, vm_id, "delete")


def attach_disk(session: Session, vm_id: int, action: ET.Element) -> Body:
    """``attachdisk``: PARAMS/STORAGE href, optional PARAMS/TARGET (the core's disk
    hot-plug: MANAGE on the VM, USE on the image)."""
    field = "ACTION/PARAMS/STORAGE"
    image_id = _referenced(session, action, "PARAMS/STORAGE", schema.IMAGES, field)
    try:
        return lifecycle.disk_attach(session, vm_id, image_id, target=text(action, "PARAMS/TARGET"))
    except lifecycle.WrongState as err:
        raise Forbidden(str(err)) from None


def detach_disk(session: Session, vm_id: int, action: ET.Element) -> Body:
    """``detachdisk``: PARAMS/DISK id."""
    disk = action.find("PARAMS/DISK")
    disk_id = "" if disk is None else disk.get("id", "")
    if not disk_id.isdigit():
        raise InvalidInput('ACTION/PARAMS/DISK needs the id of the disk to detach (<DISK id="1"/>)')
    try:
        return lifecycle.disk_detach(session, vm_id, int(disk_id))
    except lifecycle.WrongState as err:
        raise Forbidden(str(err)) from None

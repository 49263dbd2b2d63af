"""AttachVolume and DetachVolume: an EBS volume (an image with ``EBS_VOLUME = YES``)
hot-plugged into an instance (a VM) through the core's disk hot-plug
(``lifecycle.disk_attach`` / ``disk_detach``), as 4.6's econe does.

- The disk's TARGET is the request's ``Device`` without ``/dev/`` (``/dev/sdf``: ``sdf``).
- The attachment is recorded on the volume's TEMPLATE as 4.6 records it,
  ``EBS = [ INSTANCE_ID = "i-00000007", DEVICE = "/dev/sdf", ATTACH_TIME = "<epoch>" ]``,
  once the hypervisor has the disk; DescribeVolumes (``econe.volumes``) reads it, so a
  volume is ``in-use`` from then until DetachVolume removes it.
- An instance takes a volume where the core's hot-plug does: RUNNING (the guest gets it
  at once) or stopped by StopInstances (POWEROFF: at its next start), as AWS attaches to
  a stopped instance too; any other state is ``IncorrectInstanceState``.
- Another user's volume or instance reads as one that does not exist (``*.NotFound``), and
  a refused request changes nothing.
"""

from __future__ import annotations

import time
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    Conflict,
    InvalidInput,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import VmState
from ansible_collections.onekit.cloud.plugins.module_utils.drivers import domain_xml
from ansible_collections.onekit.cloud.plugins.module_utils.econe import (
    ids,
    instances,
    kinds,
    volumes,
)
from ansible_collections.onekit.cloud.plugins.module_utils.econe import images as amis
from ansible_collections.onekit.cloud.plugins.module_utils.econe.call import Call
from ansible_collections.onekit.cloud.plugins.module_utils.econe.errors import Ec2Error, invalid
from ansible_collections.onekit.cloud.plugins.module_utils.objects import images
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, vms

Body = dict[str, Any]


def _volume(call: Call, text: str) -> Body:
    """The volume ``vol-N`` names (``econe.images.find``), which the caller must also
    MANAGE (its TEMPLATE gets the record); anything else does not exist for them."""
    volume = amis.find(call, text, kinds.VOLUMES)
    with call.session.read() as w:
        if not w.allowed(objects.target(schema.IMAGES, volume), Right.MANAGE):
            raise Ec2Error(kinds.VOLUMES.not_found, f"The volume '{text[:40]}' does not exist.")
    return volume


def _write_record(call: Call, volume_id: int, record: Body | None) -> None:
    """Write the attachment record on the volume (``images.update``), or remove it."""
    if record is not None:
        images.update(call.session, volume_id, {volumes.ATTACHMENT: record}, append=True)
        return
    try:
        fresh = objects.show(call.session, schema.IMAGES, volume_id)
    except NotFound:  # deleted meanwhile: no record left to remove
        return
    kept = {k: v for k, v in (fresh.get("TEMPLATE") or {}).items() if k != volumes.ATTACHMENT}
    images.update(call.session, volume_id, kept)


def _target(device: str) -> str:
    name = device.removeprefix("/dev/")
    try:
        return domain_xml.check_target("Device", name)
    except InvalidInput:
        raise invalid(
            "Device", device, "Give a device name such as /dev/sdf or /dev/vdb."
        ) from None


def _instance(call: Call, text: str) -> Body:
    (vm,) = instances.visible(call, [text], include_done=False)
    return vm


def _answer(volume_id: str, record: Body, status: str) -> Body:
    return {
        "volumeId": volume_id,
        "instanceId": record.get("INSTANCE_ID"),
        "device": record.get("DEVICE"),
        "status": status,
        "attachTime": ids.iso_time(record.get("ATTACH_TIME")),
    }


def _core_refusal(err: Exception, vm: Body, volume_id: str) -> Ec2Error:
    """What a refusal of the core's hot-plug is in EC2's words."""
    if isinstance(err, lifecycle.WrongState):
        return Ec2Error(
            "IncorrectInstanceState",
            f"The instance '{instances.instance_id(vm)}' is not in a state in which a "
            f"volume can be attached or detached ({err}).",
        )
    if isinstance(err, AuthorizationError | NotFound):
        return Ec2Error(
            instances.NOT_FOUND,
            f"The instance ID '{instances.instance_id(vm)}' does not exist",
        )
    if isinstance(err, Conflict):  # the image is held by another VM (a persistent one)
        return Ec2Error("VolumeInUse", f"{volume_id} is already attached to an instance")
    return Ec2Error("InvalidParameterValue", str(err))  # the Device's target is taken


def attach_volume(call: Call) -> Body:
    params = call.params
    volume_id = params.required("VolumeId")
    instance_text = params.required("InstanceId")
    device = params.required("Device")
    volume = _volume(call, volume_id)
    vm = _instance(call, instance_text)
    target = _target(device)
    shown_id = ids.format_id("vol", volume["ID"])
    status = volumes.volume_status(volume)
    if status == "in-use":
        raise Ec2Error("VolumeInUse", f"{shown_id} is already attached to an instance")
    if status != "available":
        raise Ec2Error("IncorrectState", f"Volume '{shown_id}' is in the '{status}' state.")
    try:
        lifecycle.disk_attach(call.session, vm["ID"], volume["ID"], target=target)
    except (lifecycle.WrongState, AuthorizationError, NotFound, Conflict, InvalidInput) as err:
        raise _core_refusal(err, vm, shown_id) from None
    record = {
        "INSTANCE_ID": instances.instance_id(vm),
        "DEVICE": device,
        "ATTACH_TIME": str(int(time.time())),
    }
    _write_record(call, volume["ID"], record)
    return _answer(shown_id, record, "attached")


def _disk_of(vm: Body, image_id: int, target: str) -> Body | None:
    """The VM's DISK of the volume on ``target`` (the device the record names)."""
    for disk in template.as_list(vm["TEMPLATE"], "DISK"):
        if not isinstance(disk, dict):
            continue
        if disk.get("IMAGE_ID") == str(image_id) and disk.get("TARGET") == target:
            return disk
    return None


def detach_volume(call: Call) -> Body:
    params = call.params
    volume_id = params.required("VolumeId")
    volume = _volume(call, volume_id)
    shown_id = ids.format_id("vol", volume["ID"])
    record = volumes.attachment(volume)
    if record is None:
        raise Ec2Error("IncorrectState", f"Volume '{shown_id}' is in the 'available' state.")
    given_instance = params.get("InstanceId")
    if given_instance:
        wanted = ids.parse_id("i", given_instance, "InvalidInstanceID")
        recorded = ids.parse_id("i", str(record["INSTANCE_ID"]), "InvalidInstanceID")
        if wanted != recorded:
            raise Ec2Error(
                "InvalidAttachment.NotFound",
                f"Volume '{shown_id}' is not attached to instance '{given_instance[:40]}'",
            )
    given_device = params.get("Device")
    if given_device and given_device != record.get("DEVICE"):
        raise Ec2Error(
            "InvalidAttachment.NotFound",
            f"Volume '{shown_id}' is not attached as device '{given_device[:40]}'",
        )
    vm_id = ids.parse_id("i", str(record["INSTANCE_ID"]), "InvalidInstanceID")
    found = [vm for vm in vms.list_by_ids(call.session, [vm_id]) if vm["STATE"] != VmState.DONE]
    disk = _disk_of(found[0], volume["ID"], _target(str(record.get("DEVICE")))) if found else None
    if found and disk is not None:  # a terminated instance has let its volumes go already
        try:
            lifecycle.disk_detach(call.session, vm_id, disk["DISK_ID"])
        except (lifecycle.WrongState, AuthorizationError, NotFound, Conflict, InvalidInput) as err:
            raise _core_refusal(err, found[0], shown_id) from None
    _write_record(call, volume["ID"], None)
    return _answer(shown_id, record, "detached")


ACTIONS = {
    "AttachVolume": attach_volume,
    "DetachVolume": detach_volume,
}

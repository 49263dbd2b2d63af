"""EBS volumes and snapshots are onekit images, as 4.6 makes them:

- a **volume** is a persistent DATABLOCK flagged ``EBS_VOLUME = YES``: CreateVolume makes
  an empty one of ``Size`` GiB (``Size*1024`` MB, econe.conf's ``:ebs_fstype:``), or a
  clone of a snapshot (``EBS_SNAPSHOT_ID`` says which);
- a **snapshot** is a clone of a volume flagged ``EBS_SNAPSHOT = YES`` (``EBS_VOLUME_ID``
  says which), complete once made;
- the **attachment** (AttachVolume, disk hot-plug) is the record ``EBS = [ INSTANCE_ID,
  DEVICE, ATTACH_TIME ]`` on the volume's TEMPLATE, and the VM holds the image: a volume
  is ``in-use`` while either says so, ``available`` when READY.

Ids are ``vol-%08i`` and ``snap-%08i`` of the image id. A user sees the volumes and
snapshots it may USE and deletes those it may MANAGE; another user's id reads as one that
does not exist (``InvalidVolume.NotFound``, ``InvalidSnapshot.NotFound``).
"""

from __future__ import annotations

import math
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import template
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import ImageState
from ansible_collections.onekit.cloud.plugins.module_utils.econe import filters, ids, kinds, tags
from ansible_collections.onekit.cloud.plugins.module_utils.econe import images as amis
from ansible_collections.onekit.cloud.plugins.module_utils.econe.call import Call
from ansible_collections.onekit.cloud.plugins.module_utils.econe.errors import Ec2Error, invalid
from ansible_collections.onekit.cloud.plugins.module_utils.econe.instances import ZONE
from ansible_collections.onekit.cloud.plugins.module_utils.objects import images

Body = dict[str, Any]
MAX_GIB = 16384  # the largest EBS volume
ATTACHMENT = "EBS"
FROM_SNAPSHOT, FROM_VOLUME = "EBS_SNAPSHOT_ID", "EBS_VOLUME_ID"
# what a clone does not inherit from its source's TEMPLATE
_OWN = (kinds.VOLUME, kinds.SNAPSHOT, ATTACHMENT, FROM_SNAPSHOT, FROM_VOLUME, tags.ATTRIBUTE)
VOLUME_FILTERS = (
    "volume-id",
    "status",
    "size",
    "snapshot-id",
    "availability-zone",
    "volume-type",
    "attachment.instance-id",
    "attachment.device",
    "attachment.status",
    "tag:",
    "tag-key",
)
SNAPSHOT_FILTERS = (
    "snapshot-id",
    "volume-id",
    "status",
    "owner-id",
    "description",
    "volume-size",
    "progress",
    "tag:",
    "tag-key",
)


def _gib(image: Body) -> int:
    return max(1, math.ceil(int(image.get("SIZE") or 0) / 1024))


def _volume(call: Call, text: str) -> Body:
    return amis.find(call, text, kinds.VOLUMES)


def _snapshot(call: Call, text: str) -> Body:
    return amis.find(call, text, kinds.SNAPSHOTS)


def _inherited(source: Body, **flags: str) -> Body:
    """A clone's TEMPLATE: its source's, less EC2's own records, with ``flags``."""
    tpl = {k: v for k, v in (source.get("TEMPLATE") or {}).items() if k not in _OWN}
    tpl.update(flags)
    return tpl


# ---- volumes --------------------------------------------------------------------------------
def attachment(volume: Body) -> Body | None:
    """The volume's EBS record (AttachVolume's), or None; None too when its instance no
    longer holds the image (it was terminated: a VM gives its images back when it is
    DONE), so the volume is available again, as AWS makes it."""
    records = template.as_list(volume.get("TEMPLATE") or {}, ATTACHMENT)
    record = records[0] if records and isinstance(records[0], dict) else None
    if not record or not record.get("INSTANCE_ID"):
        return None
    holder = str(record["INSTANCE_ID"]).removeprefix("i-")
    held_by = {int(v) for v in volume.get("VMS") or []}
    return record if holder.isdigit() and int(holder) in held_by else None


def volume_status(volume: Body) -> str:
    state = amis.state_of(volume)
    if attachment(volume) is not None or state in (ImageState.USED, ImageState.USED_PERS):
        return "in-use"
    return {
        ImageState.READY: "available",
        ImageState.ERROR: "error",
    }.get(state, "creating")


def _attachment_set(volume: Body) -> list[Body]:
    record = attachment(volume)
    if record is None:
        return []
    return [
        {
            "volumeId": ids.format_id("vol", volume["ID"]),
            "instanceId": record.get("INSTANCE_ID"),
            "device": record.get("DEVICE"),
            "status": "attached",
            "attachTime": ids.iso_time(record.get("ATTACH_TIME")),
            "deleteOnTermination": False,
        }
    ]


def volume_item(volume: Body) -> Body:
    tpl = volume.get("TEMPLATE") or {}
    return {
        "volumeId": ids.format_id("vol", volume["ID"]),
        "size": _gib(volume),
        "snapshotId": tpl.get(FROM_SNAPSHOT) or None,
        "availabilityZone": ZONE,
        "status": volume_status(volume),
        "createTime": ids.iso_time(volume.get("REGTIME")),
        "attachmentSet": _attachment_set(volume),
        "volumeType": "standard",
        "encrypted": False,
        "multiAttachEnabled": False,
        "tagSet": tags.tag_set(tpl),
    }


def _volume_values(volume: Body) -> dict[str, list[str]]:
    shown = volume_item(volume)
    attached = shown["attachmentSet"]
    values = {
        "volume-id": [shown["volumeId"]],
        "status": [shown["status"]],
        "size": [str(shown["size"])],
        "snapshot-id": [s for s in [shown["snapshotId"]] if s],
        "availability-zone": [ZONE],
        "volume-type": ["standard"],
        "attachment.instance-id": [str(a["instanceId"]) for a in attached],
        "attachment.device": [str(a["device"]) for a in attached],
        "attachment.status": [a["status"] for a in attached],
    }
    values.update(filters.tag_values(tags.read(volume.get("TEMPLATE") or {})))
    return values


def _size(call: Call) -> int | None:
    return call.params.int("Size", None, 1, MAX_GIB)


def create_volume(call: Call) -> Body:
    """An empty persistent DATABLOCK of Size GiB, or a clone of SnapshotId."""
    size = _size(call)
    snapshot_text = call.params.get("SnapshotId")
    if snapshot_text:
        snapshot = _snapshot(call, snapshot_text)
        if size is not None and size != _gib(snapshot):
            raise invalid(
                "Size", size, f"A volume from {snapshot_text[:40]} has its size, {_gib(snapshot)}."
            )
        flags = {kinds.VOLUME: "YES", FROM_SNAPSHOT: ids.format_id("snap", snapshot["ID"])}
        volume = images.clone(
            call.session,
            snapshot["ID"],
            amis.new_name(),
            datastore=call.config.datastore_id,
            persistent=True,
            tpl=_inherited(snapshot, **flags),
        )
    else:
        if size is None:
            raise Ec2Error("MissingParameter", "The request must contain the parameter Size")
        volume = images.create(
            call.session,
            {
                "NAME": amis.new_name(),
                "TYPE": "DATABLOCK",
                "SIZE": str(size * 1024),
                "FSTYPE": call.config.ebs_fstype,
                "PERSISTENT": "YES",
                kinds.VOLUME: "YES",
            },
            call.config.datastore_id,
        )
    return volume_item(volume)


def delete_volume(call: Call) -> Body:
    volume = _volume(call, call.params.required("VolumeId"))
    if volume_status(volume) == "in-use":
        record = attachment(volume) or {}
        holder = record.get("INSTANCE_ID") or ", ".join(
            ids.format_id("i", v) for v in volume.get("VMS") or []
        )
        raise Ec2Error(
            "VolumeInUse",
            f"Volume {ids.format_id('vol', volume['ID'])} is attached to {holder}: detach it first",
        )
    images.delete(call.session, volume["ID"])
    return {"return": True}


def describe_volumes(call: Call) -> Body:
    listing = amis.Listing(
        kinds.VOLUMES, "VolumeId", VOLUME_FILTERS, _volume_values, volume_item, "volumeSet"
    )
    return amis.describe(call, listing)


# ---- snapshots ------------------------------------------------------------------------------
def snapshot_status(snapshot: Body) -> str:
    state = amis.state_of(snapshot)
    if state in (ImageState.INIT, ImageState.LOCKED):
        return "pending"
    return "error" if state == ImageState.ERROR else "completed"


def snapshot_item(snapshot: Body) -> Body:
    tpl = snapshot.get("TEMPLATE") or {}
    status = snapshot_status(snapshot)
    return {
        "snapshotId": ids.format_id("snap", snapshot["ID"]),
        "volumeId": tpl.get(FROM_VOLUME) or None,
        "status": status,
        "startTime": ids.iso_time(snapshot.get("REGTIME")),
        "progress": "100%" if status == "completed" else "0%",
        "ownerId": snapshot["UNAME"],
        "volumeSize": _gib(snapshot),
        "description": tpl.get("DESCRIPTION"),
        "encrypted": False,
        "tagSet": tags.tag_set(tpl),
    }


def _snapshot_values(snapshot: Body) -> dict[str, list[str]]:
    shown = snapshot_item(snapshot)
    values = {
        "snapshot-id": [shown["snapshotId"]],
        "volume-id": [v for v in [shown["volumeId"]] if v],
        "status": [shown["status"]],
        "owner-id": [snapshot["UNAME"], str(snapshot["UID"])],
        "description": [d for d in [shown["description"]] if d is not None],
        "volume-size": [str(shown["volumeSize"])],
        "progress": [shown["progress"]],
    }
    values.update(filters.tag_values(tags.read(snapshot.get("TEMPLATE") or {})))
    return values


def create_snapshot(call: Call) -> Body:
    """A copy of the volume's file, as it is now: a volume a VM holds is refused (its
    guest is writing it; 4.6 took a disk snapshot of the running VM instead)."""
    volume = _volume(call, call.params.required("VolumeId"))
    description = amis.text_param(call, "Description", amis.MAX_DESCRIPTION)
    vol_id = ids.format_id("vol", volume["ID"])
    if volume_status(volume) == "in-use":
        raise Ec2Error(
            "IncorrectState",
            f"Volume {vol_id} is in use: detach it (DetachVolume) to snapshot it",
        )
    flags = {kinds.SNAPSHOT: "YES", FROM_VOLUME: vol_id}
    tpl = _inherited(volume, **flags)
    tpl.pop("DESCRIPTION", None)
    if description is not None:
        tpl["DESCRIPTION"] = description
    snapshot = images.clone(
        call.session,
        volume["ID"],
        amis.new_name(),
        datastore=call.config.datastore_id,
        persistent=False,
        tpl=tpl,
    )
    return snapshot_item(snapshot)


def delete_snapshot(call: Call) -> Body:
    snapshot = _snapshot(call, call.params.required("SnapshotId"))
    images.delete(call.session, snapshot["ID"])
    return {"return": True}


def describe_snapshots(call: Call) -> Body:
    listing = amis.Listing(
        kinds.SNAPSHOTS,
        "SnapshotId",
        SNAPSHOT_FILTERS,
        _snapshot_values,
        snapshot_item,
        "snapshotSet",
        by_owner=True,
    )
    return amis.describe(call, listing)


ACTIONS = {
    "CreateVolume": create_volume,
    "DeleteVolume": delete_volume,
    "DescribeVolumes": describe_volumes,
    "CreateSnapshot": create_snapshot,
    "DeleteSnapshot": delete_snapshot,
    "DescribeSnapshots": describe_snapshots,
}

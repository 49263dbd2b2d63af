"""EBS volumes: econe-create-volume, -delete-, -describe-, -attach- and -detach-volume(s)
(the guide's 7.5.3). A volume is a persistent DATABLOCK image, hot-plugged on attach."""

from __future__ import annotations

import argparse

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from onekit.cli.common import Column, arg
from onekit.cli.econe.base import Command, Ec2, fields, show, when


def _attachment(volume: dict, key: str) -> str:
    attachments = volume.get("Attachments") or [{}]
    return str(attachments[0].get(key, ""))


VOLUME_COLUMNS = [
    Column("volumeId", lambda d: d.get("VolumeId", ""), width=12),
    Column("size", lambda d: d.get("Size", ""), right=True, width=6),
    Column("status", lambda d: d.get("State", ""), width=10),
    Column("createTime", lambda d: when(d.get("CreateTime")), width=28),
    Column("instanceId", lambda d: _attachment(d, "InstanceId"), width=12),
    Column("device", lambda d: _attachment(d, "Device"), width=8),
]


def _create(ec2: Ec2, args: argparse.Namespace) -> None:
    if args.size is None and args.snapshot is None:
        raise InvalidInput("give the volume's size (-s/--size, in GiB) or a snapshot to copy")
    params: dict = {}
    if args.size is not None:
        params["Size"] = args.size
    if args.snapshot:
        params["SnapshotId"] = args.snapshot
    answer = ec2.call("create_volume", **params)
    fields(
        [
            ("volumeId", answer.get("VolumeId")),
            ("size", answer.get("Size")),
            ("createTime", when(answer.get("CreateTime"))),
        ]
    )


def _delete(ec2: Ec2, args: argparse.Namespace) -> None:
    ec2.call("delete_volume", VolumeId=args.volume_id)


def _describe(ec2: Ec2, args: argparse.Namespace) -> None:
    show(ec2.items("describe_volumes", "Volumes"), VOLUME_COLUMNS)


def _attachment_fields(answer: dict) -> None:
    fields([(k, answer.get(v)) for k, v in _ATTACHMENT_FIELDS])


_ATTACHMENT_FIELDS = [
    ("volumeId", "VolumeId"),
    ("instanceId", "InstanceId"),
    ("status", "State"),
    ("device", "Device"),
]


def _attach(ec2: Ec2, args: argparse.Namespace) -> None:
    answer = ec2.call(
        "attach_volume", VolumeId=args.volume_id, InstanceId=args.instance, Device=args.device
    )
    _attachment_fields(answer)


def _detach(ec2: Ec2, args: argparse.Namespace) -> None:
    params = {"VolumeId": args.volume_id}
    if args.instance:
        params["InstanceId"] = args.instance
    if args.device:
        params["Device"] = args.device
    _attachment_fields(ec2.call("detach_volume", **params))


def _size(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f"the size is a whole number of GiB from 1 up, got {text!r}"
        )
    return int(text)


VOLUME_ID = arg("volume_id", metavar="VOLUME-ID", help="the volume's id (vol-00000003)")
DEVICE_HELP = "the device name exposed to the instance, e.g. /dev/sdf"

create_volume = Command(
    "econe-create-volume",
    "Create a new volume: an empty DATABLOCK of the given size, or a copy of a snapshot.",
    _create,
    [
        arg("-s", "--size", type=_size, metavar="SIZE", help="the size of the volume, in GiB"),
        arg("--snapshot", metavar="SNAPSHOT-ID", help="the snapshot to copy (snap-00000004)"),
    ],
)

delete_volume = Command("econe-delete-volume", "Deletes the target volume.", _delete, [VOLUME_ID])

describe_volumes = Command("econe-describe-volumes", "List and describe volumes.", _describe)

attach_volume = Command(
    "econe-attach-volume",
    "Attaches a DATABLOCK to a running instance and exposes it as the specified device.",
    _attach,
    [
        VOLUME_ID,
        arg("-i", "--instance", required=True, metavar="INSTANCE-ID", help="the instance"),
        arg("-d", "--device", required=True, help=DEVICE_HELP),
    ],
)

detach_volume = Command(
    "econe-detach-volume",
    "Detaches a volume from an instance. Unmount any file system on the device within the "
    "instance's operating system first.",
    _detach,
    [
        VOLUME_ID,
        arg("-i", "--instance", metavar="INSTANCE-ID", help="the instance it is attached to"),
        arg("-d", "--device", help=DEVICE_HELP),
    ],
)

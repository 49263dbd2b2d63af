"""EBS snapshots: econe-create-snapshot, -delete-snapshot, -describe-snapshots (the guide's
7.5.3 lists the actions; 4.6 shipped no command for them)."""

from __future__ import annotations

import argparse

from onekit.cli.common import Column, arg
from onekit.cli.econe.base import Command, Ec2, fields, show, when

SNAPSHOT_COLUMNS = [
    Column("snapshotId", lambda d: d.get("SnapshotId", ""), width=13),
    Column("volumeId", lambda d: d.get("VolumeId", ""), width=12),
    Column("status", lambda d: d.get("State", ""), width=10),
    Column("startTime", lambda d: when(d.get("StartTime")), width=20),
    Column("size", lambda d: d.get("VolumeSize", ""), right=True, width=6),
    Column("description", lambda d: d.get("Description", ""), width=11),
]


def _create(ec2: Ec2, args: argparse.Namespace) -> None:
    params = {"VolumeId": args.volume_id}
    if args.description is not None:
        params["Description"] = args.description
    answer = ec2.call("create_snapshot", **params)
    fields(
        [
            ("snapshotId", answer.get("SnapshotId")),
            ("volumeId", answer.get("VolumeId")),
            ("status", answer.get("State")),
            ("startTime", when(answer.get("StartTime"))),
        ]
    )


def _delete(ec2: Ec2, args: argparse.Namespace) -> None:
    ec2.call("delete_snapshot", SnapshotId=args.snapshot_id)


def _describe(ec2: Ec2, args: argparse.Namespace) -> None:
    show(ec2.items("describe_snapshots", "Snapshots"), SNAPSHOT_COLUMNS)


create_snapshot = Command(
    "econe-create-snapshot",
    "Create a snapshot of a volume (a copy of its DATABLOCK).",
    _create,
    [
        arg("volume_id", metavar="VOLUME-ID", help="the volume's id (vol-00000003)"),
        arg("-d", "--description", help="the snapshot's description"),
    ],
)

delete_snapshot = Command(
    "econe-delete-snapshot",
    "Delete a snapshot.",
    _delete,
    [arg("snapshot_id", metavar="SNAPSHOT-ID", help="the snapshot's id (snap-00000004)")],
)

describe_snapshots = Command(
    "econe-describe-snapshots", "List and describe the snapshots of volumes.", _describe
)

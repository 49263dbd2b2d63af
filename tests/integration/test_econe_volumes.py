"""EBS volumes and snapshots through the EC2 Query server with real boto3 clients (waiters
and paginators included), on both stores: CreateVolume (empty, or from a snapshot),
DescribeVolumes (status from the image's state and its EBS attachment record),
DeleteVolume, CreateSnapshot, DescribeSnapshots, DeleteSnapshot.

What a user sees is checked: the answers, a second Describe, and the image and its file
in the datastore. A refusal is a 400 with AWS's code and leaves the image pool as it was.
"""

from __future__ import annotations

import os
from pathlib import Path

from support.econe import REGION, refused

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema

GIB = 1024**3
FAST = {"Delay": 1, "MaxAttempts": 30}


def image_pool(econe) -> list[dict]:
    return objects.list_visible(econe.admin, schema.IMAGES)


def image_of(econe, ec2_id: str) -> dict:
    return objects.show(econe.admin, schema.IMAGES, int(ec2_id.split("-")[1]))


def new_volume(ec2, size: int = 1) -> str:
    return ec2.create_volume(Size=size, AvailabilityZone=REGION)["VolumeId"]


# ---- volumes --------------------------------------------------------------------------------
def test_create_volume_makes_a_persistent_datablock(econe):
    user = econe.user("vol1")
    ec2 = econe.client(user)
    made = ec2.create_volume(Size=2, AvailabilityZone=REGION)
    volume_id = made["VolumeId"]
    assert volume_id.startswith("vol-") and len(volume_id) == 12
    assert (made["Size"], made["State"], made["AvailabilityZone"]) == (2, "available", REGION)
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig=FAST)
    shown = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    assert [(v["VolumeId"], v["Size"], v["State"], v["Attachments"]) for v in shown] == [
        (volume_id, 2, "available", [])
    ]
    body = image_of(econe, volume_id)
    assert (body["UNAME"], body["TYPE"], body["SIZE"], body["PERSISTENT"]) == (
        user,
        "DATABLOCK",
        2048,
        1,
    )
    assert (body["TEMPLATE"]["EBS_VOLUME"], body["FSTYPE"]) == ("YES", "ext3")
    assert body["NAME"].startswith("ec2-")
    source = Path(body["SOURCE"])
    assert (source.stat().st_size, source.stat().st_blocks) == (2 * GIB, 0)
    # its snapshot copies the data, not the holes: an empty volume's takes no space
    snapshot = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    copy = Path(image_of(econe, snapshot)["SOURCE"])
    assert (copy.stat().st_size, copy.stat().st_blocks) == (2 * GIB, 0)
    ec2.delete_snapshot(SnapshotId=snapshot)

    ec2.delete_volume(VolumeId=volume_id)
    refused("InvalidVolume.NotFound", lambda: ec2.describe_volumes(VolumeIds=[volume_id]))
    assert not source.exists()


def test_a_bad_size_is_refused(econe):
    ec2 = econe.client(econe.user("size1"), parameter_validation=False)
    before = image_pool(econe)
    for size in ("0", "-1", "abc", "20000", "1.5", "16385"):
        message = refused(
            "InvalidParameterValue",
            lambda size=size: ec2.create_volume(Size=size, AvailabilityZone=REGION),
        )
        assert "Size" in message, size
    assert image_pool(econe) == before


def test_a_volume_needs_a_size_or_a_snapshot(econe):
    ec2 = econe.client(econe.user("vol2"), parameter_validation=False)
    before = image_pool(econe)
    refused("MissingParameter", lambda: ec2.create_volume(AvailabilityZone=REGION))
    refused("MissingParameter", lambda: ec2.delete_volume())
    refused("MissingParameter", lambda: ec2.create_snapshot())
    assert image_pool(econe) == before


def test_attached_and_used_volumes_are_in_use(econe):
    user = econe.user("vol3")
    ec2 = econe.client(user)
    volume_id = new_volume(ec2)
    ami = econe.ami("vol3-img", owner=user)
    made = ec2.run_instances(ImageId=ami, InstanceType="m1.small", MinCount=1, MaxCount=1)
    instance_id = made["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig=FAST)
    ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdb")
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[volume_id], WaiterConfig=FAST)
    shown = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert shown["State"] == "in-use"
    (attached,) = shown["Attachments"]
    assert (attached["InstanceId"], attached["Device"], attached["State"]) == (
        instance_id,
        "/dev/sdb",
        "attached",
    )
    assert attached["AttachTime"].year >= 2026
    filtered = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}]
    )["Volumes"]
    assert [v["VolumeId"] for v in filtered] == [volume_id]
    before = image_pool(econe)
    assert instance_id in refused("VolumeInUse", lambda: ec2.delete_volume(VolumeId=volume_id))
    refused("IncorrectState", lambda: ec2.create_snapshot(VolumeId=volume_id))
    assert image_pool(econe) == before
    ec2.detach_volume(VolumeId=volume_id)
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig=FAST)
    ec2.terminate_instances(InstanceIds=[instance_id])


def test_another_users_volumes_and_snapshots_do_not_exist_for_you(econe):
    owner, stranger = econe.user("vol4"), econe.user("vol5")
    mine = econe.client(owner)
    volume_id = new_volume(mine)
    snapshot_id = mine.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    theirs = econe.client(stranger)
    assert theirs.describe_volumes()["Volumes"] == []
    assert theirs.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []
    assert snapshot_id not in [s["SnapshotId"] for s in theirs.describe_snapshots()["Snapshots"]]
    before = image_pool(econe)
    for call, code in (
        (lambda: theirs.describe_volumes(VolumeIds=[volume_id]), "InvalidVolume.NotFound"),
        (lambda: theirs.delete_volume(VolumeId=volume_id), "InvalidVolume.NotFound"),
        (lambda: theirs.create_snapshot(VolumeId=volume_id), "InvalidVolume.NotFound"),
        (lambda: theirs.delete_snapshot(SnapshotId=snapshot_id), "InvalidSnapshot.NotFound"),
        (
            lambda: theirs.describe_snapshots(SnapshotIds=[snapshot_id]),
            "InvalidSnapshot.NotFound",
        ),
        (
            lambda: theirs.create_volume(SnapshotId=snapshot_id, AvailabilityZone=REGION),
            "InvalidSnapshot.NotFound",
        ),
        (lambda: theirs.describe_volumes(VolumeIds=["vol-x"]), "InvalidVolumeID.Malformed"),
        (lambda: theirs.delete_snapshot(SnapshotId="snap"), "InvalidSnapshotID.Malformed"),
        (  # a snapshot is not a volume, nor a volume a snapshot
            lambda: mine.delete_volume(VolumeId="vol-" + snapshot_id[5:]),
            "InvalidVolume.NotFound",
        ),
        (
            lambda: mine.describe_volumes(Filters=[{"Name": "color", "Values": ["x"]}]),
            "InvalidParameterValue",
        ),
    ):
        refused(code, call)
    assert image_pool(econe) == before


# ---- snapshots ------------------------------------------------------------------------------
def test_snapshot_and_a_volume_from_it_keep_the_data(econe):
    user = econe.user("snap1")
    ec2 = econe.client(user)
    volume_id = new_volume(ec2)
    source = Path(image_of(econe, volume_id)["SOURCE"])
    data = os.urandom(4096)
    with open(source, "r+b") as disk:  # what a guest wrote on it
        disk.seek(GIB // 2)
        disk.write(data)

    made = ec2.create_snapshot(VolumeId=volume_id, Description="{{ 7*7 }}")
    snapshot_id = made["SnapshotId"]
    assert snapshot_id.startswith("snap-") and len(snapshot_id) == 13
    assert (made["VolumeId"], made["State"], made["VolumeSize"], made["Description"]) == (
        volume_id,
        "completed",
        1,
        "{{ 7*7 }}",
    )
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snapshot_id], WaiterConfig=FAST)
    shown = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert [(s["SnapshotId"], s["OwnerId"], s["Progress"]) for s in shown] == [
        (snapshot_id, user, "100%")
    ]
    by_volume = ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": [volume_id]}])
    assert [s["SnapshotId"] for s in by_volume["Snapshots"]] == [snapshot_id]
    snapshot = image_of(econe, snapshot_id)
    assert (snapshot["TEMPLATE"]["EBS_SNAPSHOT"], snapshot["PERSISTENT"]) == ("YES", 0)
    assert "EBS_VOLUME" not in snapshot["TEMPLATE"]
    # a snapshot is not listed as a volume, nor the volume as an AMI
    assert [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]] == [volume_id]

    restored = ec2.create_volume(SnapshotId=snapshot_id, AvailabilityZone=REGION)
    assert (restored["SnapshotId"], restored["Size"]) == (snapshot_id, 1)
    ec2.get_waiter("volume_available").wait(VolumeIds=[restored["VolumeId"]], WaiterConfig=FAST)
    body = image_of(econe, restored["VolumeId"])
    assert (body["PERSISTENT"], body["TEMPLATE"]["EBS_VOLUME"]) == (1, "YES")
    with open(body["SOURCE"], "rb") as disk:
        disk.seek(GIB // 2)
        assert disk.read(4096) == data

    loose = econe.client(user, parameter_validation=False)
    refused(
        "InvalidParameterValue",
        lambda: loose.create_volume(SnapshotId=snapshot_id, Size=5, AvailabilityZone=REGION),
    )
    ec2.delete_snapshot(SnapshotId=snapshot_id)
    refused("InvalidSnapshot.NotFound", lambda: ec2.describe_snapshots(SnapshotIds=[snapshot_id]))
    assert not Path(snapshot["SOURCE"]).exists()
    # the volume made from it stands on its own
    assert ec2.describe_volumes(VolumeIds=[restored["VolumeId"]])["Volumes"][0]["Size"] == 1


def test_volumes_page_through_the_paginator(econe):
    ec2 = econe.client(econe.user("page2"))
    made = [new_volume(ec2) for _ in range(6)]
    pages = list(ec2.get_paginator("describe_volumes").paginate(PaginationConfig={"PageSize": 5}))
    assert [len(p["Volumes"]) for p in pages] == [5, 1]
    assert [v["VolumeId"] for p in pages for v in p["Volumes"]] == made

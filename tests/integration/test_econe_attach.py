"""AttachVolume and DetachVolume with real boto3 against the running EC2 server (both
stores): the answer, the VM's DISK (``onevm show``), the guest's devices read from the
embedded host's libvirt, and the EBS record on the volume. Every refusal is a 400 with
AWS's code, and the VM and the volume are as they were."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import datetime

import libvirt
import pytest
from botocore.exceptions import ClientError
from support.econe import EconeServer, refused

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls, hosts, users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import vms

_names = itertools.count()


def user(econe: EconeServer) -> str:
    """A new user who may run instances on the embedded host (MANAGE on it)."""
    name = econe.user(f"att{next(_names)}")
    acls.create(econe.admin, f"#{users.show(econe.admin, name)['ID']} HOST/* MANAGE")
    return name


def volume(econe: EconeServer, owner: str) -> str:
    """A 1 GiB volume of ``owner``'s, made by CreateVolume and available; its vol- id."""
    ec2 = econe.client(owner)
    made = ec2.create_volume(Size=1, AvailabilityZone="opennebula")["VolumeId"]
    ec2.get_waiter("volume_available").wait(
        VolumeIds=[made], WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    return made


WAIT = {"Delay": 1, "MaxAttempts": 30}


def running_instance(econe: EconeServer, owner: str) -> str:
    ec2 = econe.client(owner)
    ami = econe.ami(f"ami-of-{owner}", owner=owner)
    made = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="m1.small")
    instance_id = made["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(
        InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    return instance_id


def number(aws_id: str) -> int:
    return int(aws_id.split("-")[1])


def guest_disks(econe: EconeServer, instance_id: str) -> dict[str, str]:
    """{target: source} of the guest, from the embedded host's libvirt."""
    uri = hosts.show(econe.admin, "localhost")["TEMPLATE"]["URI"]
    conn = libvirt.open(uri)
    try:
        xml = ET.fromstring(conn.lookupByName(f"one-{number(instance_id)}").XMLDesc())
    finally:
        conn.close()
    return {d.find("target").get("dev"): d.find("source").get("file") for d in xml.iter("disk")}


def vm_disks(econe: EconeServer, instance_id: str) -> list[dict]:
    return template.as_list(vms.show(econe.admin, number(instance_id))["TEMPLATE"], "DISK")


def volume_template(econe: EconeServer, volume_id: str) -> dict:
    return objects.show(econe.admin, schema.IMAGES, number(volume_id))["TEMPLATE"]


def test_attach_and_detach_a_volume(econe: EconeServer):
    ann = user(econe)
    instance_id = running_instance(econe, ann)
    vol = volume(econe, ann)
    ec2 = econe.client(ann)
    path = images_path(econe, vol)

    answer = ec2.attach_volume(VolumeId=vol, InstanceId=instance_id, Device="/dev/sdf")
    assert {k: answer[k] for k in ("VolumeId", "InstanceId", "Device", "State")} == {
        "VolumeId": vol,
        "InstanceId": instance_id,
        "Device": "/dev/sdf",
        "State": "attached",
    }
    assert isinstance(answer["AttachTime"], datetime)
    assert guest_disks(econe, instance_id)["sdf"] == path
    (_root, plugged) = vm_disks(econe, instance_id)
    assert (plugged["IMAGE_ID"], plugged["TARGET"], plugged["DISK_ID"]) == (
        str(number(vol)),
        "sdf",
        "1",
    )
    record = volume_template(econe, vol)["EBS"]
    assert (record["INSTANCE_ID"], record["DEVICE"]) == (f"i-{number(instance_id):08d}", "/dev/sdf")
    assert int(record["ATTACH_TIME"]) == int(answer["AttachTime"].timestamp())
    assert econe.run("onevm", "show", str(number(instance_id))).stdout.count('TARGET = "sdf"') == 1
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[vol], WaiterConfig=WAIT)
    (described,) = ec2.describe_volumes(VolumeIds=[vol])["Volumes"]
    assert described["State"] == "in-use"
    assert [(a["InstanceId"], a["Device"], a["State"]) for a in described["Attachments"]] == [
        (instance_id, "/dev/sdf", "attached")
    ]

    # attached once: again, here or elsewhere, is VolumeInUse
    other = running_instance(econe, ann)
    for target in (instance_id, other):
        message = refused(
            "VolumeInUse",
            lambda t=target: ec2.attach_volume(VolumeId=vol, InstanceId=t, Device="/dev/sdg"),
        )
        assert vol in message
    assert len(vm_disks(econe, other)) == 1 and "sdg" not in guest_disks(econe, instance_id)

    # a detach that names another instance or device finds no such attachment
    refused("InvalidAttachment.NotFound", lambda: ec2.detach_volume(VolumeId=vol, InstanceId=other))
    refused(
        "InvalidAttachment.NotFound", lambda: ec2.detach_volume(VolumeId=vol, Device="/dev/sdz")
    )
    assert "sdf" in guest_disks(econe, instance_id)

    answer = ec2.detach_volume(VolumeId=vol, InstanceId=instance_id, Device="/dev/sdf")
    assert (answer["VolumeId"], answer["InstanceId"], answer["State"]) == (
        vol,
        instance_id,
        "detached",
    )
    assert "sdf" not in guest_disks(econe, instance_id)
    assert [d["DISK_ID"] for d in vm_disks(econe, instance_id)] == ["0"]
    assert "EBS" not in volume_template(econe, vol)
    ec2.get_waiter("volume_available").wait(VolumeIds=[vol], WaiterConfig=WAIT)
    assert ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["Attachments"] == []
    refused("IncorrectState", lambda: ec2.detach_volume(VolumeId=vol))

    # detached, it goes to the other instance
    ec2.attach_volume(VolumeId=vol, InstanceId=other, Device="/dev/vdb")
    assert guest_disks(econe, other)["vdb"] == path
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[vol], WaiterConfig=WAIT)
    ec2.detach_volume(VolumeId=vol)
    assert "vdb" not in guest_disks(econe, other)
    ec2.get_waiter("volume_available").wait(VolumeIds=[vol], WaiterConfig=WAIT)


def images_path(econe: EconeServer, vol: str) -> str:
    image = objects.show(econe.admin, schema.IMAGES, number(vol))
    return image.get("SOURCE") or image["PATH"]


def test_refusals_change_nothing(econe: EconeServer):
    ann, bob = user(econe), user(econe)
    instance_id = running_instance(econe, ann)
    bobs_instance = running_instance(econe, bob)
    vol, bobs_vol = volume(econe, ann), volume(econe, bob)
    ec2 = econe.client(ann)
    disks_before = vm_disks(econe, instance_id)
    volume_before = volume_template(econe, vol)

    def attach(**given):
        args = {"VolumeId": vol, "InstanceId": instance_id, "Device": "/dev/sdf", **given}
        return lambda: ec2.attach_volume(**args)

    for given, code in (
        ({"VolumeId": "vol-99999"}, "InvalidVolume.NotFound"),
        ({"VolumeId": "vol-x"}, "InvalidVolumeID.Malformed"),
        ({"VolumeId": bobs_vol}, "InvalidVolume.NotFound"),  # another user's
        ({"VolumeId": econe.ami(f"not-a-volume-{next(_names)}", owner=ann).replace("ami", "vol")},
         "InvalidVolume.NotFound"),  # an image that is no volume
        ({"InstanceId": "i-99999"}, "InvalidInstanceID.NotFound"),
        ({"InstanceId": "x-1"}, "InvalidInstanceID.Malformed"),
        ({"InstanceId": bobs_instance}, "InvalidInstanceID.NotFound"),
        ({"Device": "/dev/xvd$(id)"}, "InvalidParameterValue"),
        ({"Device": "/dev/vda"}, "InvalidParameterValue"),  # the instance's root disk
    ):  # fmt: skip
        message = refused(code, attach(**given))
        assert "Traceback" not in message
    refused("InvalidVolume.NotFound", lambda: ec2.detach_volume(VolumeId=bobs_vol))
    with pytest.raises(ClientError, match="MissingParameter"):
        econe.client(ann).attach_volume(VolumeId=vol, InstanceId=instance_id, Device="")
    assert vm_disks(econe, instance_id) == disks_before
    assert volume_template(econe, vol) == volume_before

    # a stopped instance takes the volume at its next start; a terminated one none
    ec2.stop_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_stopped").wait(
        InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    ec2.attach_volume(VolumeId=vol, InstanceId=instance_id, Device="/dev/sdf")
    ec2.start_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_running").wait(
        InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    assert "sdf" in guest_disks(econe, instance_id)
    ec2.terminate_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_terminated").wait(
        InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    refused("InvalidInstanceID.NotFound", attach(VolumeId=volume(econe, ann)))
    # the terminated instance let its volume go (as AWS): available, nothing to detach
    ec2.get_waiter("volume_available").wait(VolumeIds=[vol], WaiterConfig=WAIT)
    refused("IncorrectState", lambda: ec2.detach_volume(VolumeId=vol))


def test_a_terminated_instance_lets_its_volume_go(econe: EconeServer):
    owner = user(econe)
    ec2 = econe.client(owner)
    vol = volume(econe, owner)
    instance_id = running_instance(econe, owner)
    ec2.attach_volume(VolumeId=vol, InstanceId=instance_id, Device="/dev/vdc")
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[vol], WaiterConfig=WAIT)
    ec2.terminate_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[instance_id], WaiterConfig=WAIT)
    # as AWS: the volume is available again, with no attachment, and can be deleted
    ec2.get_waiter("volume_available").wait(VolumeIds=[vol], WaiterConfig=WAIT)
    (described,) = ec2.describe_volumes(VolumeIds=[vol])["Volumes"]
    assert described["Attachments"] == []
    ec2.delete_volume(VolumeId=vol)
    assert ec2.describe_volumes()["Volumes"] == [] or vol not in {
        v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]
    }

"""The EC2 section of a VM as a RunInstances request (``drivers.ec2_template``): every
attribute of the guide's table, the section's choice, and bad input refused by name."""

from __future__ import annotations

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.ec2_template import (
    block_devices,
    choose_section,
    run_request,
    tags,
)


def request(**section):
    return run_request({"AMI": "ami-1", **section}, 7, "one-7-0-1")


def test_the_minimum_is_an_ami_with_onekits_token_and_tag():
    req = request()
    assert req.run["ImageId"] == "ami-1"
    assert req.run["MinCount"] == req.run["MaxCount"] == 1
    assert req.run["ClientToken"] == "one-7-0-1"
    assert req.run["TagSpecifications"] == [
        {"ResourceType": "instance", "Tags": [{"Key": "ONE_ID", "Value": "7"}]}
    ]
    assert req.elastic_ip is None and "UserData" not in req.run


@pytest.mark.parametrize(
    ("attribute", "value", "param", "sent"),
    [
        ("AKI", "aki-1", "KernelId", "aki-1"),
        ("RAMDISK", "ari-1", "RamdiskId", "ari-1"),
        ("INSTANCETYPE", "m1.large", "InstanceType", "m1.large"),
        ("KEYPAIR", "mykey", "KeyName", "mykey"),
        ("CLIENTTOKEN", "mine", "ClientToken", "mine"),
        ("PRIVATEIP", "10.0.0.5", "PrivateIpAddress", "10.0.0.5"),
        ("SUBNETID", "subnet-1", "SubnetId", "subnet-1"),
        ("USERDATA", "{{ 7*7 }}", "UserData", "{{ 7*7 }}"),
        ("SECURITYGROUPS", "web, db", "SecurityGroups", ["web", "db"]),
        ("PLACEMENTGROUP", "pg", "Placement", {"GroupName": "pg"}),
        ("TENANCY", "dedicated", "Placement", {"Tenancy": "dedicated"}),
        ("AVAILABILITYZONE", "us-east-1b", "Placement", {"AvailabilityZone": "us-east-1b"}),
        ("EBS_OPTIMIZED", "yes", "EbsOptimized", True),
        ("EBS_OPTIMIZED", "false", "EbsOptimized", False),
        (
            "BLOCKDEVICEMAPPING",
            "/dev/sdh=:20",
            "BlockDeviceMappings",
            [{"DeviceName": "/dev/sdh", "Ebs": {"VolumeSize": 20}}],
        ),
    ],
)
def test_each_attribute(attribute, value, param, sent):
    assert request(**{attribute: value}).run[param] == sent


def test_placement_attributes_together():
    req = request(PLACEMENTGROUP="pg", TENANCY="default", AVAILABILITYZONE="us-east-1a")
    assert req.run["Placement"] == {
        "GroupName": "pg",
        "Tenancy": "default",
        "AvailabilityZone": "us-east-1a",
    }


def test_elastic_ip_and_tags_and_ignored_selectors():
    req = request(ELASTICIP="1.2.3.4", TAGS="env=test, team = a b", HOST="x", LICENSEPOOL="p")
    assert req.elastic_ip == "1.2.3.4"
    assert req.tags == {"env": "test", "team": "a b", "ONE_ID": "7"}
    assert {"Key": "env", "Value": "test"} in req.run["TagSpecifications"][0]["Tags"]
    assert not {"HOST", "LICENSEPOOL"} & set(req.run)


def test_user_data_defaults_to_the_context_but_never_overrides_userdata():
    section = {"AMI": "ami-1"}
    assert run_request(section, 1, "t", "ONEGATE='x'\n").run["UserData"] == "ONEGATE='x'\n"
    mine = run_request({**section, "USERDATA": "mine"}, 1, "t", "context").run
    assert mine["UserData"] == "mine"


def test_block_device_mappings_every_form():
    assert block_devices("/dev/sda1=snap-1:10:false:io1:100 /dev/sdb=none /dev/sdc=ephemeral0") == [
        {
            "DeviceName": "/dev/sda1",
            "Ebs": {
                "SnapshotId": "snap-1",
                "VolumeSize": 10,
                "DeleteOnTermination": False,
                "VolumeType": "io1",
                "Iops": 100,
            },
        },
        {"DeviceName": "/dev/sdb", "NoDevice": ""},
        {"DeviceName": "/dev/sdc", "VirtualName": "ephemeral0"},
    ]
    assert block_devices("/dev/sdd=snap-2") == [
        {"DeviceName": "/dev/sdd", "Ebs": {"SnapshotId": "snap-2"}}
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/dev/sdh", "is not dev=snapshot:size"),
        ("/dev/sdh=", "is not dev=snapshot:size"),
        ("=:20", "is not dev=snapshot:size"),
        ("/dev/sdh=:twenty", "size (GiB) of /dev/sdh must be a whole number"),
        ("/dev/sdh=:0", "must be a whole number > 0"),
        ("/dev/sdh=::maybe", "must be yes or no"),
        ("/dev/sdh=:1:true:io1:-5", "IOPS of /dev/sdh"),
        ("/dev/sdh=a:1:true:io1:5:6", "at most 5"),
        ("/dev/sdh=::::", "neither a snapshot nor a size"),
    ],
)
def test_malformed_block_device_mappings_are_refused(text, message):
    with pytest.raises(InvalidInput, match="BLOCKDEVICEMAPPING") as err:
        block_devices(text)
    assert message in str(err.value)


def test_bad_tags_are_refused():
    with pytest.raises(InvalidInput, match="is not key=value"):
        tags("a=1,b")
    with pytest.raises(InvalidInput, match="onekit's own tag"):
        tags("ONE_ID=3")
    with pytest.raises(InvalidInput, match="ONE_FRONTEND is onekit's own tag"):
        tags("a=b, ONE_FRONTEND=dc2")
    assert tags("") == {} and tags("a=1,,b=") == {"a": "1", "b": ""}


def test_ami_is_mandatory_and_unknown_attributes_are_named():
    with pytest.raises(InvalidInput, match="EC2/AMI is mandatory"):
        run_request({"INSTANCETYPE": "m1.small"}, 1, "t")
    with pytest.raises(InvalidInput, match="INSTANCE_TYPE unknown"):
        run_request({"AMI": "ami-1", "INSTANCE_TYPE": "m1.large"}, 1, "t")
    with pytest.raises(InvalidInput, match="single value"):
        run_request({"AMI": ["a", "b"]}, 1, "t")
    with pytest.raises(InvalidInput, match="yes or no"):
        run_request({"AMI": "a", "EBS_OPTIMIZED": "sometimes"}, 1, "t")


def test_the_section_by_host_then_the_only_one():
    east = {"HOST": "US-East-1", "AMI": "ami-e"}
    west = {"CLOUD": "us-west-1", "AMI": "ami-w"}  # CLOUD: the deprecated name
    assert choose_section({"EC2": [east, west]}, "us-east-1") is east
    assert choose_section({"EC2": [east, west]}, "us-west-1") is west
    only = {"AMI": "ami-o"}
    assert choose_section({"EC2": only}, "anything") is only
    assert choose_section({"EC2": [east]}, "eu-west-1") is east  # the only one
    with pytest.raises(InvalidInput, match='none has HOST = "eu-west-1"'):
        choose_section({"EC2": [east, west]}, "eu-west-1")
    with pytest.raises(InvalidInput, match="no EC2 section"):
        choose_section({"CPU": "1"}, "us-east-1")
    with pytest.raises(InvalidInput, match="must be a vector"):
        choose_section({"EC2": "ami-1"}, "us-east-1")


def test_the_front_end_tag_goes_with_onekits_id():
    req = run_request({"AMI": "ami-1"}, 7, "tok", frontend="dc1")
    assert req.tags == {"ONE_ID": "7", "ONE_FRONTEND": "dc1"}

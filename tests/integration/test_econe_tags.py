"""Tags through real boto3 against a running EC2 server (SQLite: see support.stores): CreateTags,
DeleteTags, DescribeTags (filters, boto3's paginator) on instances and on AMIs, volumes
and snapshots, and the tags DescribeInstances shows.

What a user sees is checked: the answers, a second describe, and ``onevm show`` of the
VM (its USER_TEMPLATE's ``EC2_TAGS``). Refusals are 400s with AWS's codes and change
nothing, on any of the resources a request names.
"""

from __future__ import annotations

import json

from support.econe import refused
from support.stores import sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.objects import images

pytestmark = sqlite_only  # an adapter's tests: see support.stores


def run(econe, ec2, image: str, count: int = 1) -> list[str]:
    args = {"ImageId": image, "InstanceType": "m1.small", "MinCount": count, "MaxCount": count}
    return [i["InstanceId"] for i in ec2.run_instances(**args)["Instances"]]


def number(resource_id: str) -> int:
    return int(resource_id.split("-")[1])


def vm_tags(econe, instance: str) -> dict[str, str]:
    """The tags as ``onevm show`` prints the VM's USER_TEMPLATE."""
    shown = json.loads(econe.run("onevm", "show", str(number(instance)), "-j").stdout)["VM"]
    return json.loads(shown["USER_TEMPLATE"].get("EC2_TAGS", "{}"))


def tags_of(ec2, **kwargs) -> list[tuple[str, str, str, str]]:
    found = ec2.describe_tags(**kwargs)["Tags"]
    return [(t["ResourceId"], t["ResourceType"], t["Key"], t["Value"]) for t in found]


def test_tags_on_instances(econe):
    ec2 = econe.client(econe.user("tag-alice"))
    web, db = run(econe, ec2, econe.ami("tag-image"), 2)
    ec2.create_tags(
        Resources=[web, db],
        Tags=[
            {"Key": "Name", "Value": "web"},
            {"Key": "template", "Value": "{{ 7*7 }}"},
            {"Key": "cmd", "Value": "$(id)"},
            {"Key": "aws-like key: with spaces", "Value": ""},
            {"Key": "novalue"},
        ],
    )
    expected = {
        "Name": "web",
        "template": "{{ 7*7 }}",
        "cmd": "$(id)",
        "aws-like key: with spaces": "",
        "novalue": "",
    }
    assert vm_tags(econe, web) == vm_tags(econe, db) == expected
    ec2.create_tags(Resources=[db], Tags=[{"Key": "Name", "Value": "db"}])  # overwrites
    assert vm_tags(econe, db)["Name"] == "db" and vm_tags(econe, web)["Name"] == "web"

    described = ec2.describe_instances(InstanceIds=[db])["Reservations"][0]["Instances"][0]
    assert {t["Key"]: t["Value"] for t in described["Tags"]} == {**expected, "Name": "db"}
    by_tag = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["web"]}])
    assert [i["InstanceId"] for r in by_tag["Reservations"] for i in r["Instances"]] == [web]

    listed = tags_of(ec2)
    assert len(listed) == 10
    assert (web, "instance", "template", "{{ 7*7 }}") in listed
    assert tags_of(ec2, Filters=[{"Name": "resource-id", "Values": [db]}]) == sorted(
        (db, "instance", k, v) for k, v in {**expected, "Name": "db"}.items()
    )
    assert tags_of(ec2, Filters=[{"Name": "key", "Values": ["Name"]}]) == [
        (web, "instance", "Name", "web"),
        (db, "instance", "Name", "db"),
    ]
    assert tags_of(
        ec2,
        Filters=[
            {"Name": "value", "Values": ["$(id)", "d?"]},
            {"Name": "resource-type", "Values": ["instance"]},
        ],
    ) == [
        (web, "instance", "cmd", "$(id)"),
        (db, "instance", "Name", "db"),
        (db, "instance", "cmd", "$(id)"),
    ]
    assert tags_of(ec2, Filters=[{"Name": "resource-type", "Values": ["image"]}]) == []
    # another user sees none of them
    assert tags_of(econe.client(econe.user("tag-bob"))) == []

    # delete: by key (any value), by key and value (only when it matches), or all
    ec2.delete_tags(Resources=[web, db], Tags=[{"Key": "cmd"}, {"Key": "Name", "Value": "web"}])
    assert "cmd" not in vm_tags(econe, web) and "Name" not in vm_tags(econe, web)
    assert vm_tags(econe, db)["Name"] == "db" and "cmd" not in vm_tags(econe, db)
    ec2.delete_tags(Resources=[web], Tags=[{"Key": "novalue", "Value": ""}])
    assert "novalue" not in vm_tags(econe, web)
    ec2.delete_tags(Resources=[db])
    assert vm_tags(econe, db) == {}
    assert [t[0] for t in tags_of(ec2)] == [web] * 2


def test_refused_requests_change_nothing(econe):
    ec2 = econe.client(econe.user("tag-carol"))
    other = econe.client(econe.user("tag-dave"))
    image = econe.ami("tag-image-2")
    (mine,) = run(econe, ec2, image)
    (theirs,) = run(econe, other, image)
    ec2.create_tags(Resources=[mine], Tags=[{"Key": "keep", "Value": "1"}])
    other.create_tags(Resources=[theirs], Tags=[{"Key": "keep", "Value": "2"}])
    before = vm_tags(econe, mine), vm_tags(econe, theirs)
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]  # 51 with "keep"
    one = [{"Key": "new", "Value": "x"}]
    for code, resources, tags, needle in (
        ("InvalidInstanceID.NotFound", [mine, theirs], one, theirs),  # the first not tagged
        ("InvalidInstanceID.NotFound", [mine, "i-9999"], one, "i-9999"),
        ("InvalidInstanceID.Malformed", [mine, "i-x"], one, "i-x"),
        ("InvalidID", ["sg-1234"], one, "sg-1234"),
        ("InvalidAMIID.NotFound", ["ami-99999"], one, "ami-99999"),
        ("InvalidParameterValue", [mine], [{"Key": "k" * 129, "Value": "v"}], "Tag.1.Key"),
        ("InvalidParameterValue", [mine], [{"Key": "", "Value": "v"}], "Tag.1.Key"),
        ("InvalidParameterValue", [mine], [{"Key": "k", "Value": "v" * 257}], "Tag.1.Value"),
        ("InvalidParameterValue", [mine], [*one, {"Key": "aws:x", "Value": "v"}], "Tag.2.Key"),
        ("TagLimitExceeded", [mine], many, "51 tags"),
    ):
        assert needle in refused(code, ec2.create_tags, Resources=resources, Tags=tags)
    refused("InvalidInstanceID.NotFound", ec2.delete_tags, Resources=[mine, theirs])
    refused("InvalidParameterValue", ec2.describe_tags, Filters=[{"Name": "x", "Values": ["1"]}])
    assert (vm_tags(econe, mine), vm_tags(econe, theirs)) == before
    # exactly 50 is fine
    ec2.create_tags(Resources=[mine], Tags=many[:49])
    assert len(vm_tags(econe, mine)) == 50


def test_describe_tags_pages(econe):
    ec2 = econe.client(econe.user("tag-erin"))
    (instance,) = run(econe, ec2, econe.ami("tag-image-3"))
    twelve = [{"Key": f"k{i:02d}", "Value": "v"} for i in range(12)]
    ec2.create_tags(Resources=[instance], Tags=twelve)
    pages = list(ec2.get_paginator("describe_tags").paginate(PaginationConfig={"PageSize": 5}))
    assert [len(p["Tags"]) for p in pages] == [5, 5, 2]
    assert [t["Key"] for p in pages for t in p["Tags"]] == [f"k{i:02d}" for i in range(12)]
    refused("InvalidParameterValue", ec2.describe_tags, MaxResults=4)


def test_tags_on_images_volumes_and_snapshots(econe):
    user = econe.user("tag-frank")
    ec2 = econe.client(user)
    made = {}
    for kind, flag in (("ami", "EC2_AMI"), ("vol", "EBS_VOLUME"), ("snap", "EBS_SNAPSHOT")):
        path = f"/var/lib/images/{kind}.img"
        tpl = {"NAME": f"tag-{kind}", "PATH": path, "TYPE": "DATABLOCK", flag: "YES"}
        body = images.create(econe.admin, tpl)
        objects.chown(econe.admin, schema.IMAGES, body["ID"], user)
        made[kind] = f"{kind}-{body['ID']:08d}"
    ec2.create_tags(Resources=list(made.values()), Tags=[{"Key": "team", "Value": "{{ 7*7 }}"}])
    assert tags_of(ec2) == [
        (made["ami"], "image", "team", "{{ 7*7 }}"),
        (made["vol"], "volume", "team", "{{ 7*7 }}"),
        (made["snap"], "snapshot", "team", "{{ 7*7 }}"),
    ]
    stored = objects.show(econe.admin, schema.IMAGES, number(made["ami"]))
    assert json.loads(stored["TEMPLATE"]["EC2_TAGS"]) == {"team": "{{ 7*7 }}"}
    # an id of the wrong kind is that kind's NotFound; a public AMI is not the caller's
    one = [{"Key": "a", "Value": "b"}]
    wrong_kind = "ami-" + made["vol"].split("-")[1]
    refused("InvalidAMIID.NotFound", ec2.create_tags, Resources=[wrong_kind], Tags=one)
    public = econe.ami("tag-public")  # oneadmin's, mode 644: the user may use it, not tag it
    refused("InvalidAMIID.NotFound", ec2.create_tags, Resources=[public], Tags=one)
    ec2.delete_tags(Resources=[made["vol"]], Tags=[{"Key": "team"}])
    assert [t[0] for t in tags_of(ec2)] == [made["ami"], made["snap"]]
    assert tags_of(ec2, Filters=[{"Name": "resource-type", "Values": ["snapshot"]}]) == [
        (made["snap"], "snapshot", "team", "{{ 7*7 }}")
    ]


def test_a_character_xml_cannot_hold_does_not_break_the_listing(econe):
    ec2 = econe.client(econe.user("tag-ctl"))
    (instance,) = run(econe, ec2, econe.ami("tag-ctl-image"), 1)
    ec2.create_tags(Resources=[instance], Tags=[{"Key": "bell", "Value": "ding\x07dong"}])
    (tag,) = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["bell"]}])["Tags"]
    assert tag["Value"] == "ding\ufffddong"  # shown replaced; the store keeps what was sent
    ec2.terminate_instances(InstanceIds=[instance])

"""EC2 instances through real boto3 (client and resource APIs, waiters, paginators)
against the running server: they are onekit VMs, placed and run on the embedded
libvirt host by the server's loops."""

from __future__ import annotations

import base64

from support.econe import error_of

from ansible_collections.onekit.cloud.plugins.module_utils.core import template
from ansible_collections.onekit.cloud.plugins.module_utils.econe import tags
from ansible_collections.onekit.cloud.plugins.module_utils.vm import vms

FAST = {"Delay": 1, "MaxAttempts": 90}


def run(client, ami: str, count: int = 1, **kwargs) -> list[str]:
    made = client.run_instances(
        ImageId=ami, InstanceType="m1.small", MinCount=count, MaxCount=count, **kwargs
    )
    return [i["InstanceId"] for i in made["Instances"]]


def vm_of(econe, instance_id: str) -> dict:
    return vms.show(econe.admin, int(instance_id.split("-")[1]))


def test_run_describe_stop_start_terminate_with_waiters(econe):
    econe.user("amy")
    ami = econe.ami("amy-img")
    client = econe.client("amy")
    made = client.run_instances(ImageId=ami, InstanceType="m1.small", MinCount=2, MaxCount=2)
    ids = [i["InstanceId"] for i in made["Instances"]]
    assert [i["State"]["Name"] for i in made["Instances"]] == ["pending", "pending"]
    assert made["OwnerId"] == "amy" and made["ReservationId"].startswith("r-")
    client.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig=FAST)

    described = client.describe_instances(InstanceIds=ids)["Reservations"]
    assert len(described) == 1  # one RunInstances, one reservation
    instances = described[0]["Instances"]
    assert [i["InstanceId"] for i in instances] == ids
    assert [i["AmiLaunchIndex"] for i in instances] == [0, 1]
    for instance in instances:
        assert instance["ImageId"] == ami and instance["InstanceType"] == "m1.small"
        assert instance["State"] == {"Code": 16, "Name": "running"}
        assert instance["Placement"]["AvailabilityZone"] == "opennebula"
        assert instance["LaunchTime"].year >= 2026
    # what the core holds: amy's VM, the AMI as its first disk
    vm = vm_of(econe, ids[0])
    assert vm["UNAME"] == "amy"
    disks = template.as_list(vm["TEMPLATE"], "DISK")
    assert disks[0]["IMAGE_ID"] == str(int(ami.split("-")[1]))

    stopped = client.stop_instances(InstanceIds=ids[:1])["StoppingInstances"][0]
    assert stopped["PreviousState"]["Name"] == "running"
    client.get_waiter("instance_stopped").wait(InstanceIds=ids[:1], WaiterConfig=FAST)
    client.start_instances(InstanceIds=ids[:1])
    client.get_waiter("instance_running").wait(InstanceIds=ids[:1], WaiterConfig=FAST)
    assert client.reboot_instances(InstanceIds=ids[1:])["ResponseMetadata"]["HTTPStatusCode"] == 200

    gone = client.terminate_instances(InstanceIds=ids)["TerminatingInstances"]
    assert {g["PreviousState"]["Name"] for g in gone} == {"running"}
    client.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig=FAST)
    # terminated instances stay listed (econe.conf's expiration time), as terminated
    listed = client.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["terminated"]}]
    )["Reservations"]
    assert {i["InstanceId"] for r in listed for i in r["Instances"]} >= set(ids)
    # terminating them again is no error: they stay terminated
    again = client.terminate_instances(InstanceIds=ids)["TerminatingInstances"]
    assert {a["CurrentState"]["Name"] for a in again} == {"terminated"}
    # a stopped-only action on a terminated instance is refused, nothing changed
    assert error_of(client.start_instances, InstanceIds=ids[:1]) == ("IncorrectInstanceState", 400)


def test_the_resource_api_and_user_data(econe):
    econe.user("ben")
    ami = econe.ami("ben-img")
    ec2 = econe.resource("ben")
    data = "#!/bin/sh\necho {{ 7*7 }} $(id)\n"
    (instance,) = ec2.create_instances(
        ImageId=ami, InstanceType="m1.small", MinCount=1, MaxCount=1, UserData=data
    )
    instance.wait_until_running(WaiterConfig=FAST)
    instance.reload()
    assert instance.state["Name"] == "running" and instance.image_id == ami
    context = vm_of(econe, instance.id)["TEMPLATE"]["CONTEXT"]
    # the user data reaches the guest's context as sent (base64), never evaluated
    assert base64.b64decode(context["EC2_USER_DATA"]).decode() == data
    instance.terminate()
    instance.wait_until_terminated(WaiterConfig=FAST)


def test_client_token_makes_instances_once(econe):
    econe.user("cal")
    ami = econe.ami("cal-img")
    client = econe.client("cal")
    first = run(client, ami, 2, ClientToken="deploy-42")
    again = run(client, ami, 2, ClientToken="deploy-42")
    assert again == first
    mine = client.describe_instances()["Reservations"]
    assert sorted(i["InstanceId"] for r in mine for i in r["Instances"]) == sorted(first)
    # the same token with other parameters is refused, as AWS does
    assert error_of(run, client, ami, 3, ClientToken="deploy-42") == (
        "IdempotentParameterMismatch",
        400,
    )
    # another token makes new ones
    assert run(client, ami, 1, ClientToken="deploy-43")[0] not in first
    client.terminate_instances(InstanceIds=first)


def test_bad_run_instances_requests_make_nothing(econe):
    econe.user("dee")
    ami = econe.ami("dee-img")
    client = econe.client("dee")
    before = len(vms.list_vms(econe.admin, include_done=True))
    cases = [
        ({"ImageId": ami, "InstanceType": "m9.huge"}, "InvalidParameterValue"),
        ({"ImageId": "ami-99999999", "InstanceType": "m1.small"}, "InvalidAMIID.NotFound"),
        ({"ImageId": "img-1", "InstanceType": "m1.small"}, "InvalidAMIID.Malformed"),
        ({"ImageId": ami, "InstanceType": "m1.small", "MinCount": 3, "MaxCount": 2},
         "InvalidParameterValue"),
        ({"ImageId": ami, "InstanceType": "m1.small", "MaxCount": 1000}, "InvalidParameterValue"),
        ({"InstanceType": "m1.small"}, "MissingParameter"),
    ]  # fmt: skip
    for given, code in cases:
        counts = {"MinCount": given.pop("MinCount", 1), "MaxCount": given.pop("MaxCount", 1)}
        assert error_of(client.run_instances, **given, **counts) == (code, 400), given
    # UserData must be base64 (boto3 encodes it; a hand-made request may not)
    from support.econe import post, signed

    params = {"Action": "RunInstances", "ImageId": ami, "InstanceType": "m1.small",
              "MinCount": "1", "MaxCount": "1", "UserData": "not base64!"}  # fmt: skip
    status, body = post(econe.url, *signed(econe.url, "dee", econe.secret("dee"), params))
    assert status == 400 and "<Code>InvalidParameterValue</Code>" in body and "UserData" in body
    # an image that is no AMI (EC2_AMI not set) is not one
    from ansible_collections.onekit.cloud.plugins.module_utils.objects import images

    plain = images.create(econe.admin, {"NAME": "dee-plain", "PATH": "/var/lib/x.img"})
    assert error_of(
        client.run_instances, ImageId=f"ami-{plain['ID']:08d}", InstanceType="m1.small",
        MinCount=1, MaxCount=1,
    ) == ("InvalidAMIID.NotFound", 400)  # fmt: skip
    assert len(vms.list_vms(econe.admin, include_done=True)) == before


def test_another_users_instances_are_not_found(econe):
    econe.user("eli")
    econe.user("fay")
    ami = econe.ami("eli-img")
    (mine,) = run(econe.client("eli"), ami)
    theirs = econe.client("fay")
    assert theirs.describe_instances()["Reservations"] == []
    for action in ("describe_instances", "terminate_instances", "stop_instances"):
        assert error_of(getattr(theirs, action), InstanceIds=[mine]) == (
            "InvalidInstanceID.NotFound",
            400,
        )
    assert vm_of(econe, mine)["STATE"] != 6  # not DONE: fay's terminate did nothing
    # ids in the guide's short form are read by value
    assert (
        econe.client("eli").describe_instances(InstanceIds=[f"i-{int(mine[2:])}"])["Reservations"][
            0
        ]["Instances"][0]["InstanceId"]
        == mine
    )
    assert error_of(theirs.describe_instances, InstanceIds=["vm-3"]) == (
        "InvalidInstanceID.Malformed",
        400,
    )
    econe.client("eli").terminate_instances(InstanceIds=[mine])


def test_filters(econe):
    econe.user("gus")
    ami = econe.ami("gus-img")
    client = econe.client("gus")
    web, db = run(client, ami), run(client, ami)
    for (instance,), role in ((web, "web"), (db, "db")):
        vm = vm_of(econe, instance)
        user = dict(vm["USER_TEMPLATE"])
        tags.write(user, {"role": role, "stack": "{{ 7*7 }}"})
        vms.update_user_template(econe.admin, vm["ID"], user)

    def found(*filters) -> set[str]:
        answer = client.describe_instances(Filters=list(filters))["Reservations"]
        return {i["InstanceId"] for r in answer for i in r["Instances"]}

    assert found({"Name": "tag:role", "Values": ["web"]}) == set(web)
    assert found({"Name": "tag:role", "Values": ["w*", "d?"]}) == set(web + db)
    assert found({"Name": "tag:stack", "Values": ["{{ 7*7 }}"]}) == set(web + db)
    assert found({"Name": "tag-key", "Values": ["nothing"]}) == set()
    assert found({"Name": "instance-id", "Values": web}) == set(web)
    assert found({"Name": "image-id", "Values": [ami]},
                 {"Name": "instance-type", "Values": ["m1.small"]}) == set(web + db)  # fmt: skip
    tag_set = client.describe_instances(InstanceIds=web)["Reservations"][0]["Instances"][0]["Tags"]
    assert {t["Key"]: t["Value"] for t in tag_set} == {"role": "web", "stack": "{{ 7*7 }}"}
    assert error_of(client.describe_instances, Filters=[{"Name": "vpc-id", "Values": ["x"]}]) == (
        "InvalidParameterValue",
        400,
    )
    client.terminate_instances(InstanceIds=web + db)


def test_two_hundred_instances_through_the_paginator(econe):
    econe.user("hal")
    ami = econe.ami("hal-img")
    client = econe.client("hal")
    made = run(client, ami, 100) + run(client, ami, 100)
    paginator = client.get_paginator("describe_instances")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 60}))
    seen = [i["InstanceId"] for p in pages for r in p["Reservations"] for i in r["Instances"]]
    assert len(pages) == 4 and sorted(seen) == sorted(made) and len(set(seen)) == 200
    assert error_of(client.describe_instances, MaxResults=5, InstanceIds=made[:1]) == (
        "InvalidParameterCombination",
        400,
    )
    assert error_of(client.describe_instances, MaxResults=5, NextToken="garbage") == (
        "InvalidParameterValue",
        400,
    )
    assert error_of(client.describe_instances, MaxResults=4) == ("InvalidParameterValue", 400)
    client.terminate_instances(InstanceIds=made)


def test_an_administrator_sees_each_reservation_as_its_owners(econe):
    econe.user("ivy")
    ami = econe.ami("ivy-img")
    (mine,) = run(econe.client("ivy"), ami)
    seen = econe.client().describe_instances(InstanceIds=[mine])["Reservations"]
    assert [(r["OwnerId"], r["Instances"][0]["InstanceId"]) for r in seen] == [("ivy", mine)]
    econe.client("ivy").terminate_instances(InstanceIds=[mine])


def test_an_instance_seen_but_not_managed_is_unauthorized(econe):
    from ansible_collections.onekit.cloud.plugins.module_utils import objects
    from ansible_collections.onekit.cloud.plugins.module_utils.core import schema

    econe.user("joe")
    econe.user("kim")
    ami = econe.ami("joe-img")
    joe = econe.client("joe")
    (shared,) = run(joe, ami)
    # running first: the scheduler would otherwise deploy it while kim is refused
    joe.get_waiter("instance_running").wait(InstanceIds=[shared], WaiterConfig=FAST)
    # joe's group (users) may USE it, not MANAGE it: kim sees it, may not stop it
    objects.chmod(econe.admin, schema.VMS, int(shared[2:]), "640")
    kim = econe.client("kim")
    seen = kim.describe_instances(InstanceIds=[shared])["Reservations"][0]["Instances"][0]
    assert seen["InstanceId"] == shared
    before = vm_of(econe, shared)["STATE"]
    for action in ("terminate_instances", "stop_instances"):
        assert error_of(getattr(kim, action), InstanceIds=[shared]) == (
            "UnauthorizedOperation",
            403,
        )
    assert vm_of(econe, shared)["STATE"] == before
    joe.terminate_instances(InstanceIds=[shared])

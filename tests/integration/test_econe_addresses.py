"""Elastic IPs through real boto3 against a running EC2 server (both stores): Allocate,
Describe, Associate, Disassociate and ReleaseAddress on the leases of the network
econe.conf names, with real associate/disassociate scripts that write down the arguments
they got (so a test sees exactly what ran, and that nothing ran through a shell).

What a user sees is checked: the answers, a second describe, and ``onevnet show`` of the
network (its held leases and its ``EC2_ADDRESSES``). Refusals are 400s with AWS's codes
and change nothing.
"""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from support.econe import refused, wait

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.objects import networks, users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates

PUBLIC = (
    'NAME = "ElasticIPs"\nNOTE = "$(touch {pwned})"\nTYPE = "FIXED"\nBRIDGE = "brhm"\n'
    'LEASES = [ IP = "10.0.0.1" ]\nLEASES = [ IP = "10.0.0.2" ]\nLEASES = [ IP = "10.0.0.3" ]\n'
    'GATEWAY = "130.10.0.1"\n'
)
PRIVATE = (
    'NAME = "private"\nTYPE = "RANGED"\nBRIDGE = "br0"\n'
    'IP_START = "192.168.7.10"\nIP_END = "192.168.7.40"\n'
)
WITH_NIC = (
    'NAME = "m1.net"\nEC2_INSTANCE_TYPE = "m1.net"\nCPU = 0.1\nMEMORY = 32\n'
    'NIC = [ NETWORK = "private" ]\n'
)
SCRIPT = """#!{python}
import json, sys
with open({log!r}, "a") as log:
    log.write(json.dumps([{name!r}, *sys.argv[1:]]) + "\\n")
if {fail!r} and open({fail!r}).read().strip() == "fail":
    sys.stderr.write("no route to the router\\n")
    sys.exit(3)
"""


@dataclass
class Eip:
    econe: object
    vnet: int
    log: Path
    fail: Path  # "fail" in it: both scripts fail
    pwned: Path
    unconfigured: dict  # AllocateAddress's error before econe.conf named the network

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def network(self) -> dict:
        return objects.show(self.econe.admin, schema.NETWORKS, self.vnet)

    def entries(self) -> list[dict]:
        return template.as_list(self.network()["TEMPLATE"], "EC2_ADDRESSES")


def script(path: Path, name: str, log: Path, fail: Path) -> str:
    path.write_text(SCRIPT.format(python=sys.executable, log=str(log), name=name, fail=str(fail)))
    path.chmod(0o755)
    return str(path)


@pytest.fixture(scope="module")
def eip(econe, tmp_path_factory) -> Eip:
    """The module's server, restarted with econe.conf naming the Elastic IP network and
    the scripts; an instance type whose VMs get a NIC on a private network."""
    base = tmp_path_factory.mktemp("eip")
    with pytest.raises(ClientError) as caught:
        econe.client().allocate_address()
    unconfigured = caught.value.response

    log, fail, pwned = base / "calls.log", base / "fail", base / "pwned"
    fail.write_text("ok")
    vnet = networks.create(econe.admin, PUBLIC.format(pwned=pwned))["ID"]
    private = networks.create(econe.admin, PRIVATE)["ID"]
    objects.chmod(econe.admin, schema.NETWORKS, private, "644")
    kind = templates.create(econe.admin, WITH_NIC)["ID"]
    objects.chgrp(econe.admin, schema.TEMPLATES, kind, "users")
    objects.chmod(econe.admin, schema.TEMPLATES, kind, "640")
    conf = econe.instance.econe_config_path
    conf.write_text(
        conf.read_text()
        + f":elasticips_vnet_id: {vnet}\n:elasticips_per_user: 2\n"
        + f":associate_script: {script(base / 'associate', 'associate', log, fail)}\n"
        + f":disassociate_script: {script(base / 'disassociate', 'disassociate', log, fail)}\n"
    )
    econe.run("onekit-server", "stop")
    econe.run("onekit-server", "start")
    wait(lambda: " on" in econe.run("onehost", "list").stdout, "host localhost monitored")
    return Eip(econe, vnet, log, fail, pwned, unconfigured)


def run_instance(eip: Eip, ec2, image: str) -> tuple[str, str]:
    """A new instance of type m1.net: its id and private IP."""
    args = {"ImageId": image, "InstanceType": "m1.net", "MinCount": 1, "MaxCount": 1}
    instance = ec2.run_instances(**args)["Instances"][0]
    return instance["InstanceId"], instance["PrivateIpAddress"]


def addresses(ec2, **kwargs) -> list[tuple[str, str | None]]:
    found = ec2.describe_addresses(**kwargs)["Addresses"]
    return [(a["PublicIp"], a.get("InstanceId")) for a in found]


def test_without_a_network_elastic_ips_are_disabled(eip):
    assert eip.unconfigured["Error"]["Code"] == "UnsupportedOperation"
    assert ":elasticips_vnet_id:" in eip.unconfigured["Error"]["Message"]
    assert eip.unconfigured["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_allocate_associate_disassociate_release(eip):
    econe = eip.econe
    alice = econe.user("eip-alice")
    ec2 = econe.client(alice)
    uid = str(users.show(econe.admin, alice)["ID"])
    made = ec2.allocate_address()
    assert (made["PublicIp"], made["Domain"]) == ("10.0.0.1", "standard")
    assert eip.network()["LEASES"] == {"10.0.0.1": -1}
    assert eip.entries() == [{"IP": "10.0.0.1", "UID": uid}]
    assert addresses(ec2) == [("10.0.0.1", None)]
    shown = econe.run("onevnet", "show", str(eip.vnet)).stdout
    assert "IP = 10.0.0.1, MAC = 02:00:0a:00:00:01, HELD" in shown.splitlines()

    image = econe.ami("eip-image")
    instance, private_ip = run_instance(eip, ec2, image)
    ec2.associate_address(PublicIp="10.0.0.1", InstanceId=instance)
    ((name, eip_ip, got_private, encoded),) = eip.calls()
    assert (name, eip_ip, got_private) == ("associate", "10.0.0.1", private_ip)
    sent = template.parse(base64.b64decode(encoded).decode())
    assert sent["GATEWAY"] == "130.10.0.1" and sent["ID"] == str(eip.vnet)
    assert (sent["NAME"], sent["NOTE"]) == ("ElasticIPs", f"$(touch {eip.pwned})")  # data
    number = str(int(instance.split("-")[1]))
    assert eip.entries() == [{"IP": "10.0.0.1", "UID": uid, "VMID": number}]
    assert addresses(ec2) == [("10.0.0.1", instance)]
    assert addresses(ec2, Filters=[{"Name": "instance-id", "Values": [instance]}]) == [
        ("10.0.0.1", instance)
    ]
    assert addresses(ec2, Filters=[{"Name": "public-ip", "Values": ["10.9.*"]}]) == []

    # moving it to another instance disassociates it first
    other, other_ip = run_instance(eip, ec2, image)
    ec2.associate_address(PublicIp="10.0.0.1", InstanceId=other)
    assert eip.calls()[1:] == [
        ["disassociate", "10.0.0.1"],
        ["associate", "10.0.0.1", other_ip, eip.calls()[2][3]],
    ]
    assert addresses(ec2) == [("10.0.0.1", other)]
    # DescribeInstances shows it as the instance's public address, and filters on it
    public = ec2.describe_instances(Filters=[{"Name": "ip-address", "Values": ["10.0.0.1"]}])
    ((shown,),) = [r["Instances"] for r in public["Reservations"]]
    assert (shown["InstanceId"], shown["PublicIpAddress"]) == (other, "10.0.0.1")

    ec2.disassociate_address(PublicIp="10.0.0.1")
    assert eip.calls()[-1] == ["disassociate", "10.0.0.1"]
    assert addresses(ec2) == [("10.0.0.1", None)]
    assert "not associated" in refused(
        "InvalidAddress.NotFound", ec2.disassociate_address, PublicIp="10.0.0.1"
    )

    # release: associated again first, so release runs the disassociate script too
    ec2.associate_address(PublicIp="10.0.0.1", InstanceId=other)
    count = len(eip.calls())
    ec2.release_address(PublicIp="10.0.0.1")
    assert eip.calls()[count:] == [["disassociate", "10.0.0.1"]]
    assert addresses(ec2) == []
    assert eip.network()["LEASES"] == {} and eip.entries() == []
    assert not eip.pwned.exists()
    ec2.terminate_instances(InstanceIds=[instance, other])


def test_refusals_change_nothing(eip):
    econe = eip.econe
    bob, carol = econe.user("eip-bob"), econe.user("eip-carol")
    ec2, theirs = econe.client(bob), econe.client(carol)
    ip = ec2.allocate_address()["PublicIp"]
    mine, _ = run_instance(eip, ec2, econe.ami("eip-image-bob"))
    their_vm, _ = run_instance(eip, theirs, econe.ami("eip-image-carol"))
    before, calls = eip.network(), len(eip.calls())

    shell = f"$(touch {eip.pwned})"
    unknown, no_vm = "InvalidAddress.NotFound", "InvalidInstanceID.NotFound"
    bad_filter = {"Filters": [{"Name": "x", "Values": ["1"]}]}
    for code, call, kwargs in (
        # another user's address is as unknown as one never allocated
        (unknown, theirs.release_address, {"PublicIp": ip}),
        (unknown, theirs.associate_address, {"PublicIp": ip, "InstanceId": their_vm}),
        (unknown, theirs.disassociate_address, {"PublicIp": ip}),
        (unknown, theirs.describe_addresses, {"PublicIps": [ip]}),
        (unknown, ec2.release_address, {"PublicIp": "10.0.0.9"}),
        # shell-looking text is an unknown address or a malformed id, never run
        (unknown, ec2.release_address, {"PublicIp": shell}),
        (
            "InvalidInstanceID.Malformed",
            ec2.associate_address,
            {"PublicIp": ip, "InstanceId": shell},
        ),
        # another user's instance, or none
        (no_vm, ec2.associate_address, {"PublicIp": ip, "InstanceId": their_vm}),
        (no_vm, ec2.associate_address, {"PublicIp": ip, "InstanceId": "i-9999"}),
        ("MissingParameter", ec2.associate_address, {"PublicIp": ip}),
        ("InvalidParameterValue", ec2.describe_addresses, bad_filter),
    ):
        refused(code, call, **kwargs)
    assert theirs.describe_addresses()["Addresses"] == []

    # a failing script: an error naming it, and nothing recorded
    eip.fail.write_text("fail")
    message = refused("ElasticIpScriptFailed", ec2.associate_address, PublicIp=ip, InstanceId=mine)
    assert "associate script" in message and "exit 3" in message and "no route" in message
    eip.fail.write_text("ok")
    assert eip.network() == before
    assert len(eip.calls()) == calls + 1  # the one that failed
    assert not eip.pwned.exists()

    # a user holds at most econe.conf's :elasticips_per_user: (2 here)
    ec2.allocate_address()
    assert "you hold 2" in refused("AddressLimitExceeded", ec2.allocate_address)
    theirs.allocate_address()
    # no lease left: AddressLimitExceeded (even for the oneadmin group, which has no
    # per-user limit), and what was held stays held
    held = eip.network()["LEASES"]
    assert len(held) == 3
    admin = eip.econe.client()
    assert "no Elastic IP is left" in refused("AddressLimitExceeded", admin.allocate_address)
    assert eip.network()["LEASES"] == held
    for client in (ec2, theirs):
        for address, _ in addresses(client):
            client.release_address(PublicIp=address)
    assert eip.network()["LEASES"] == {}
    ec2.terminate_instances(InstanceIds=[mine])
    theirs.terminate_instances(InstanceIds=[their_vm])

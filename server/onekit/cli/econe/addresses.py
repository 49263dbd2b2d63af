"""Elastic IPs: econe-allocate-address, -release-, -describe-, -associate- and
-disassociate-address(es) (the guide's 7.5.4): leases of the network econe.conf names."""

from __future__ import annotations

import argparse

from onekit.cli.common import Column, arg
from onekit.cli.econe.base import Command, Ec2, fields, show

ADDRESS_COLUMNS = [
    Column("publicIp", lambda d: d.get("PublicIp", ""), width=10),
    Column("instanceId", lambda d: d.get("InstanceId", ""), width=25),
]


def _allocate(ec2: Ec2, args: argparse.Namespace) -> None:
    print(ec2.call("allocate_address").get("PublicIp", ""))


def _release(ec2: Ec2, args: argparse.Namespace) -> None:
    ec2.call("release_address", PublicIp=args.public_ip)
    fields([("publicIP", args.public_ip)])


def _describe(ec2: Ec2, args: argparse.Namespace) -> None:
    show(ec2.items("describe_addresses", "Addresses"), ADDRESS_COLUMNS)


def _associate(ec2: Ec2, args: argparse.Namespace) -> None:
    ec2.call("associate_address", PublicIp=args.public_ip, InstanceId=args.instance_id)


def _disassociate(ec2: Ec2, args: argparse.Namespace) -> None:
    ec2.call("disassociate_address", PublicIp=args.public_ip)


PUBLIC_IP = arg(
    "public_ip",
    metavar="PUBLIC-IP",
    help="an elastic IP of the user (econe-describe-addresses lists them)",
)

allocate_address = Command(
    "econe-allocate-address", "Allocate a new elastic IP address for the user.", _allocate
)

release_address = Command(
    "econe-release-address", "Release a public IP of the user.", _release, [PUBLIC_IP]
)

describe_addresses = Command("econe-describe-addresses", "List elastic IP addresses.", _describe)

associate_address = Command(
    "econe-associate-address",
    "Associate a public IP of the user with a given instance.",
    _associate,
    [
        PUBLIC_IP,
        arg("instance_id", metavar="INSTANCE-ID", help="the instance to give the elastic IP"),
    ],
)

disassociate_address = Command(
    "econe-disassociate-address",
    "Disassociate a public IP of the user from the instance it is associated with.",
    _disassociate,
    [PUBLIC_IP],
)

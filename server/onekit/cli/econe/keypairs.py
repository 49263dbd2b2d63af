"""Key pairs: econe-create-keypair, -delete-keypair, -describe-keypairs (the guide's
7.5.5). The private key is printed once, at creation; the server keeps only the public one."""

from __future__ import annotations

import argparse

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import Conflict
from onekit.cli.common import Column, arg
from onekit.cli.econe.base import Command, Ec2, show

KEYPAIR_COLUMNS = [
    Column("keyName", lambda d: d.get("KeyName", ""), width=15),
    Column("keyFingerprint", lambda d: d.get("KeyFingerprint", ""), width=60),
]


def _create(ec2: Ec2, args: argparse.Namespace) -> None:
    answer = ec2.call("create_key_pair", KeyName=args.key_name)
    print(f"keyName: {answer.get('KeyName', '')}")
    print(f"Fingerprint: {answer.get('KeyFingerprint', '')}")
    print("Private Key:")
    material = answer.get("KeyMaterial", "")
    print(material, end="" if material.endswith("\n") else "\n")  # as Ruby's puts


def _delete(ec2: Ec2, args: argparse.Namespace) -> None:
    if ec2.call("delete_key_pair", KeyName=args.key_name).get("Return") is False:
        raise Conflict(f"Key {args.key_name} could not be removed")


def _describe(ec2: Ec2, args: argparse.Namespace) -> None:
    show(ec2.items("describe_key_pairs", "KeyPairs"), KEYPAIR_COLUMNS)


KEY_NAME = arg("key_name", metavar="KEYPAIR-NAME", help="the key pair's name")

create_keypair = Command(
    "econe-create-keypair",
    "Creates the named keypair. Prints its name, its fingerprint and the private key.",
    _create,
    [KEY_NAME],
)

delete_keypair = Command(
    "econe-delete-keypair",
    "Deletes the named keypair, removing the associated keys.",
    _delete,
    [KEY_NAME],
)

describe_keypairs = Command(
    "econe-describe-keypairs", "List and describe the key pairs available to you.", _describe
)

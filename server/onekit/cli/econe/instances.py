"""Instances: econe-run-instances, -describe-, -terminate-, -reboot-, -start- and
-stop-instances (the guide's 7.5.2)."""

from __future__ import annotations

import argparse
import base64
import binascii
import re
from collections.abc import Iterator

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from onekit.cli.common import Column, arg
from onekit.cli.econe.base import Command, Ec2, Run, id_args, show, state_name

DEFAULT_TYPE = "m1.small"  # 4.6's econe-run-instances
_COUNT = re.compile(r"([0-9]+)(?:-([0-9]+))?")

INSTANCE_COLUMNS = [
    Column("instanceId", lambda d: d.get("InstanceId", ""), width=12),
    Column("ImageId", lambda d: d.get("ImageId", ""), width=13),
    Column("State", lambda d: state_name(d, "State"), width=14),
    Column("IP", lambda d: d.get("PrivateIpAddress", ""), width=18),
    Column("instanceType", lambda d: d.get("InstanceType", ""), width=12),
]


def counts(text: str | None) -> tuple[int, int]:
    """``-n 5`` or ``-n 5-10``: MinCount and MaxCount."""
    if text is None:
        return 1, 1
    match = _COUNT.fullmatch(text.strip())
    low, high = (int(match[1]), int(match[2] or match[1])) if match else (0, 0)
    if not match or low < 1 or high < low:
        raise InvalidInput(
            f"-n/--instance-count must be a number (5) or a range min-max (5-10) from 1 up, "
            f"got {text!r}"
        )
    return low, high


def user_data(text: str | None) -> bytes | None:
    """-d: base64 as 4.6 took it; boto3 encodes what it is given, so it gets the bytes."""
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise InvalidInput(f"-d/--user-data must be base64-encoded data: {err}") from err


def _run(ec2: Ec2, args: argparse.Namespace) -> None:
    low, high = counts(args.instance_count)
    params: dict = {
        "ImageId": args.image_id,
        "InstanceType": args.type,
        "MinCount": low,
        "MaxCount": high,
    }
    data = user_data(args.user_data)
    if data is not None:
        params["UserData"] = data
    if args.keypair:
        params["KeyName"] = args.keypair
    show(ec2.call("run_instances", **params).get("Instances", []), INSTANCE_COLUMNS)


def instances(ec2: Ec2) -> Iterator[dict]:
    """Every instance of every reservation, page by page."""
    for reservation in ec2.items("describe_instances", "Reservations"):
        yield from reservation.get("Instances", [])


def _describe(ec2: Ec2, args: argparse.Namespace) -> None:
    show(instances(ec2), INSTANCE_COLUMNS)


def _changes(operation: str, key: str, verb: str) -> Run:
    """A state change's run: the action, then 4.6's ``Success: <verb> <id> in <previous
    state> state`` for each instance of the answer."""

    def run(ec2: Ec2, args: argparse.Namespace) -> None:
        answer = ec2.call(operation, InstanceIds=id_args(args.instance_ids, "instance id"))
        for item in answer.get(key, []):
            previous = state_name(item, "PreviousState")
            print(f"Success: {verb} {item.get('InstanceId', '')} in {previous} state")

    return run


def _reboot(ec2: Ec2, args: argparse.Namespace) -> None:
    ec2.call("reboot_instances", InstanceIds=id_args(args.instance_ids, "instance id"))
    print("Success: Rebooting")


INSTANCE_IDS = arg(
    "instance_ids",
    metavar="INSTANCE-ID[,INSTANCE-ID...]",
    nargs="+",
    help="the instances' ids (i-00000015, or i-15), as econe-run-instances printed them",
)

run_instances = Command(
    "econe-run-instances",
    "Runs an instance of a particular image.",
    _run,
    [
        arg("image_id", metavar="IMAGE-ID", help="the ImageId econe-upload printed"),
        arg(
            "-t",
            "--type",
            default=DEFAULT_TYPE,
            help=f"the instance type: the OpenNebula template it is based on (default: "
            f"{DEFAULT_TYPE})",
        ),
        arg("-k", "--keypair", help="the name of the key pair (econe-create-keypair)"),
        arg(
            "-d",
            "--user-data",
            metavar="DATA",
            help="base64-encoded user data made available to the instance",
        ),
        arg(
            "-n",
            "--instance-count",
            metavar="COUNT",
            help="how many instances: a number, or a range min-max (5-10: as many as "
            "possible up to 10, and no fewer than 5)",
        ),
    ],
)

describe_instances = Command(
    "econe-describe-instances", "List and describe running instances.", _describe
)

terminate_instances = Command(
    "econe-terminate-instances",
    "Terminate the selected running instances.",
    _changes("terminate_instances", "TerminatingInstances", "Terminating"),
    [INSTANCE_IDS],
)

reboot_instances = Command(
    "econe-reboot-instances", "Reboot the selected running instances.", _reboot, [INSTANCE_IDS]
)

start_instances = Command(
    "econe-start-instances",
    "Start the selected stopped instances.",
    _changes("start_instances", "StartingInstances", "Starting"),
    [INSTANCE_IDS],
)

stop_instances = Command(
    "econe-stop-instances",
    "Stop the selected running instances.",
    _changes("stop_instances", "StoppingInstances", "Stopping"),
    [INSTANCE_IDS],
)

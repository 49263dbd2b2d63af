"""The real AWS CLI (``aws ec2 ...``, awscli from PyPI, unmodified) against econe-server:
a subprocess each, credentials in its environment as a user sets them
(AWS_ACCESS_KEY_ID = the user's name, AWS_SECRET_ACCESS_KEY = the user's EC2 secret),
``--endpoint-url`` and ``--region opennebula`` on the command line, ``--output json``
parsed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from support.stores import sqlite_only

pytestmark = sqlite_only  # an adapter's tests: see support.stores

# awscli 1's exit status for an error (awscli 2 has 254 for one the server answered)
CLIENT_ERROR = 255


def endpoint_args(econe) -> list[str]:
    return ["--endpoint-url", econe.url, "--region", "opennebula", "--output", "json"]


def aws(econe, *args: str, user: str = "oneadmin", secret: str | None = None):
    env = econe.env(
        AWS_ACCESS_KEY_ID=user,
        AWS_SECRET_ACCESS_KEY=econe.secret(user) if secret is None else secret,
        AWS_CONFIG_FILE=os.devnull,  # no profile of the machine's user
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_MAX_ATTEMPTS="1",
    )
    return subprocess.run(
        [sys.executable, "-m", "awscli", "ec2", *args, *endpoint_args(econe)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def answer(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, (result.returncode, result.stderr)
    return json.loads(result.stdout) if result.stdout.strip() else {}


def instances(econe, *args: str, user: str = "oneadmin") -> dict[str, dict]:
    reservations = answer(aws(econe, "describe-instances", *args, user=user))["Reservations"]
    return {i["InstanceId"]: i for r in reservations for i in r["Instances"]}


@pytest.fixture(scope="module")
def m1_image(econe) -> str:
    return econe.ami("awscli-ttylinux")


def test_aws_cli_version_is_real():
    result = subprocess.run(
        [sys.executable, "-m", "awscli", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("aws-cli/1."), result.stdout


def test_run_describe_terminate(econe, m1_image):
    """run-instances, the waiter instance-running, describe-instances (by id and by
    filter), terminate-instances, as the AWS CLI sends them."""
    user = econe.user("aws-helen")
    econe.run("oneimage", "chown", m1_image[4:].lstrip("0") or "0", user)
    ran = answer(
        aws(
            econe,
            "run-instances",
            "--image-id",
            m1_image,
            "--instance-type",
            "m1.small",
            "--count",
            "2",
            user=user,
        )
    )
    ids = [i["InstanceId"] for i in ran["Instances"]]
    assert len(ids) == 2 and all(re.fullmatch(r"i-\d{8}", i) for i in ids), ran
    assert {i["State"]["Name"] for i in ran["Instances"]} <= {"pending", "running"}
    assert {i["InstanceType"] for i in ran["Instances"]} == {"m1.small"}
    assert {i["ImageId"] for i in ran["Instances"]} == {m1_image}

    waited = aws(econe, "wait", "instance-running", "--instance-ids", *ids, user=user)
    assert waited.returncode == 0, waited.stderr
    seen = instances(econe, "--instance-ids", *ids, user=user)
    assert set(seen) == set(ids)
    assert {i["State"]["Name"] for i in seen.values()} == {"running"}
    running = instances(econe, "--filters", "Name=instance-state-name,Values=running", user=user)
    assert set(ids) <= set(running)
    assert instances(econe, "--filters", "Name=instance-type,Values=m9.huge", user=user) == {}
    # another user sees none of them
    other = econe.user("aws-paul")
    assert not set(ids) & set(instances(econe, user=other))

    gone = answer(aws(econe, "terminate-instances", "--instance-ids", ids[0], user=user))
    change = gone["TerminatingInstances"]
    assert [c["InstanceId"] for c in change] == [ids[0]]
    assert change[0]["PreviousState"]["Name"] == "running"
    waited = aws(econe, "wait", "instance-terminated", "--instance-ids", ids[0], user=user)
    assert waited.returncode == 0, waited.stderr
    assert (
        instances(econe, "--instance-ids", ids[1], user=user)[ids[1]]["State"]["Name"] == "running"
    )


def test_describe_images(econe, m1_image):
    images = answer(aws(econe, "describe-images", "--image-ids", m1_image))["Images"]
    assert [i["ImageId"] for i in images] == [m1_image]
    assert images[0]["State"] == "available"
    assert m1_image in {i["ImageId"] for i in answer(aws(econe, "describe-images"))["Images"]}


def test_regions_and_zones(econe):
    regions = answer(aws(econe, "describe-regions"))["Regions"]
    assert [r["RegionName"] for r in regions] == ["opennebula"]
    zones = answer(aws(econe, "describe-availability-zones"))["AvailabilityZones"]
    assert len(zones) == 1


def test_errors_exit_non_zero_with_aws_code(econe):
    """A client error: awscli's error exit status and AWS's code on stderr, nothing on
    stdout; the server's 400s are not retried."""
    for args, code in (
        (("terminate-instances", "--instance-ids", "i-99999999"), "InvalidInstanceID.NotFound"),
        (("describe-instances", "--instance-ids", "i-99999999"), "InvalidInstanceID.NotFound"),
        (("describe-instances", "--instance-ids", "vm-7"), "InvalidInstanceID.Malformed"),
        (("describe-images", "--image-ids", "ami-99999999"), "InvalidAMIID.NotFound"),
    ):
        result = aws(econe, *args)
        assert result.returncode == CLIENT_ERROR, (args, result.returncode, result.stderr)
        assert f"({code})" in result.stderr, result.stderr
        assert result.stdout == ""


def test_a_wrong_secret_is_auth_failure(econe):
    result = aws(econe, "describe-instances", secret=econe.secret() + "0")
    assert result.returncode == CLIENT_ERROR, result.stderr
    assert "(AuthFailure)" in result.stderr

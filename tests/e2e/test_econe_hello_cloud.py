"""The guide's "Hello Cloud!" (7.5, OpenNebula EC2 User Guide), run as its user does: the
econe-* commands as subprocesses, against econe-server, with the guide's environment
(EC2_URL, EC2_ACCESS_KEY = the user's name, EC2_SECRET_KEY = the user's stored password
hash). Each step's output is what the guide (and 4.6's commands) print.

The guide's ids are 3.x-era: ``i-15`` for what 4.6 and onekit print ``i-00000015``; the
short form is accepted, and the test terminates with it as the guide does.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable

from support.econe_cli import econe as econe_run
from support.econe_cli import ok, rows

IMAGE_HEADER = ["Owner", "ImageId", "Status", "Visibility", "Location"]
INSTANCE_HEADER = ["instanceId", "ImageId", "State", "IP", "instanceType"]


def until(check: Callable[[], object], what: str, timeout: float = 90) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"timed out waiting for {what}"
            return value
        time.sleep(0.5)


def row_of(table: list[list[str]], first: str) -> list[str] | None:
    """The row of a table (header first) whose first column is ``first``."""
    return next((row for row in table[1:] if row[0] == first), None)


def test_hello_cloud(econe, tmp_path):
    server = econe
    helen = server.user("helen")
    env = server.env(EC2_URL=server.url, EC2_ACCESS_KEY=helen, EC2_SECRET_KEY=server.secret(helen))

    def run(*args: str) -> str:
        return ok(econe_run(*args, env=env))

    # upload_image: "econe-upload /images/gentoo.img" -> "Success: ImageId ami-00000001"
    image = tmp_path / "gentoo.img"
    content = bytes(range(256)) * (3 * 4096 + 1)  # 3 MiB and a bit: several chunks
    image.write_bytes(content)
    out = run("econe-upload", str(image))
    match = re.fullmatch(r"Success: ImageId (ami-\d{8})\n", out)
    assert match, out
    ami = match[1]
    stored = server.run("oneimage", "show", str(int(ami[4:])), "--json").stdout
    source = json.loads(stored)["IMAGE"]["SOURCE"]
    with open(source, "rb") as handle:  # the server stored the bytes sent, whole
        assert hashlib.sha256(handle.read()).digest() == hashlib.sha256(content).digest()

    # register: "econe-register ami-00000001" -> "Success: ImageId ami-00000001"
    assert run("econe-register", ami) == f"Success: ImageId {ami}\n"
    described = server.client(helen).describe_images(ImageIds=[ami])["Images"]
    assert described[0]["Name"] == "gentoo.img"  # the upload's name, kept

    # describe_images: the table lists it, helen's, private, available once copied
    def image_row() -> list[str] | None:
        table = rows(run("econe-describe-images"))
        assert table[0] == IMAGE_HEADER
        row = next((r for r in table[1:] if r[1:2] == [ami]), None)
        return row if row and row[2] == "available" else None

    found = until(image_row, f"{ami} available")
    assert found[:4] == [helen, ami, "available", "private"]

    # run_instance: "econe-run-instances -t m1.small ami-00000001"
    table = rows(run("econe-run-instances", "-t", "m1.small", ami))
    assert table[0] == INSTANCE_HEADER
    assert len(table) == 2, table
    instance = table[1][0]
    assert re.fullmatch(r"i-\d{8}", instance)
    assert table[1][1:3] == [ami, "pending"] and table[1][-1] == "m1.small"

    # describe instances: pending, then running "after a short while"
    def state() -> str:
        table = rows(run("econe-describe-instances"))
        assert table[0] == INSTANCE_HEADER
        row = row_of(table, instance)
        assert row is not None and row[1] == ami and row[-1] == "m1.small", table
        return row[2]

    until(lambda: state() == "running", f"{instance} running")

    # terminate_instances: "econe-terminate-instances i-15" ->
    # "Success: Terminating i-15 in running state"
    short = f"i-{int(instance[2:])}"
    assert run("econe-terminate-instances", short) == (
        f"Success: Terminating {instance} in running state\n"
    )
    until(lambda: state() == "terminated", f"{instance} terminated")

"""The econe-* commands as a user runs them: help, credentials, errors.

Each runs as a real subprocess (``support.econe_cli``). The tests that need no server
(help, a missing credential, a refused connection, bad options) use a closed port; the
others the ``econe`` fixture's running econe-server.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import time
import tomllib

import pytest
from conftest import REPO
from support.cli import created_id, peak_memory_run, usage_error
from support.econe import wait as econe_wait
from support.econe_cli import clean_env, ok, refused, rows
from support.econe_cli import econe as econe_run
from support.stores import sqlite_only

from onekit.cli.econe import COMMANDS

pytestmark = sqlite_only  # an adapter's tests: see support.stores

# the guide's commands (7.5), plus the snapshot and tag actions it lists
GUIDE = {
    "econe-upload",
    "econe-register",
    "econe-describe-images",
    "econe-run-instances",
    "econe-describe-instances",
    "econe-terminate-instances",
    "econe-reboot-instances",
    "econe-start-instances",
    "econe-stop-instances",
    "econe-create-volume",
    "econe-delete-volume",
    "econe-describe-volumes",
    "econe-attach-volume",
    "econe-detach-volume",
    "econe-create-snapshot",
    "econe-delete-snapshot",
    "econe-describe-snapshots",
    "econe-allocate-address",
    "econe-release-address",
    "econe-describe-addresses",
    "econe-associate-address",
    "econe-disassociate-address",
    "econe-create-keypair",
    "econe-delete-keypair",
    "econe-describe-keypairs",
    "econe-create-tags",
    "econe-describe-tags",
    "econe-delete-tags",
}


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_every_command_is_a_console_script():
    """pyproject.toml installs each command under its name, calling the same object
    ``python -m onekit.cli.econe`` runs."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    econe_scripts = {name: target for name, target in scripts.items() if name.startswith("econe-")}
    econe_scripts.pop("econe-server", None)  # the server, not a client command
    assert set(econe_scripts) == set(COMMANDS) == GUIDE
    for name, target in econe_scripts.items():
        module, _, attr = target.partition(":")
        assert getattr(__import__(module, fromlist=[attr]), attr) is COMMANDS[name], name


@pytest.mark.parametrize("name", sorted(GUIDE))
def test_help(name, tmp_path):
    """-h needs no server, no credentials and no instance, and names the guide's options
    and environment."""
    result = econe_run(name, "-h", env=clean_env(tmp_path))
    out = ok(result)
    assert out.startswith(f"usage: {name} "), out
    for option in ("-U URL, --url URL", "-K ID, --access-key ID", "-S KEY, --secret-key KEY"):
        assert option in out, option
    for var in ("EC2_URL", "EC2_ACCESS_KEY", "EC2_SECRET_KEY", "ONE_AUTH"):
        assert var in out, var
    assert list(tmp_path.iterdir()) == []


def test_usage_errors_exit_2(tmp_path):
    env = clean_env(tmp_path)
    for args, message in (
        (("econe-run-instances",), "the following arguments are required: IMAGE-ID"),
        (("econe-terminate-instances",), "the following arguments are required"),
        (("econe-attach-volume", "vol-1"), "the following arguments are required: -i/--instance"),
        (("econe-create-volume", "-s", "0"), "the size is a whole number of GiB from 1 up"),
        (("econe-create-tags", "i-1", "-t", "=v"), "a tag is KEY=VALUE or KEY"),
        (("econe-describe-tags", "-f", "key"), "a filter is NAME=VALUE"),
        (("econe-describe-images", "-T", "-1"), "the timeout is seconds from 0 to 86400"),
    ):
        usage_error(econe_run(*args, env=env), args[0], message)


def test_a_missing_credential_is_named(tmp_path):
    """Options and environment go in pairs: one of them alone names the missing one."""
    url = f"http://127.0.0.1:{closed_port()}"
    env = clean_env(tmp_path, EC2_URL=url)
    refused(
        econe_run("econe-describe-images", "-K", "alice", env=env),
        "econe-describe-images",
        "-K/--access-key is given but not -S/--secret-key",
    )
    refused(
        econe_run("econe-describe-images", "-S", "x", env=env),
        "econe-describe-images",
        "-S/--secret-key is given but not -K/--access-key",
    )
    refused(
        econe_run("econe-describe-images", env={**env, "EC2_ACCESS_KEY": "alice"}),
        "econe-describe-images",
        "EC2_ACCESS_KEY is given but not EC2_SECRET_KEY",
    )


def test_no_credentials_at_all(tmp_path):
    """Neither options, nor EC2_* nor a readable ONE_AUTH: the guide's three ways named."""
    env = clean_env(tmp_path / "no-instance", ONE_AUTH=str(tmp_path / "missing"))
    line = refused(econe_run("econe-describe-instances", env=env), "econe-describe-instances")
    assert "the EC2 credentials come from -K and -S, else EC2_ACCESS_KEY and " in line
    assert "EC2_SECRET_KEY, else ONE_AUTH" in line


def test_connection_refused_names_the_url(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}"
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * 4096)
    keys = ("-K", "alice", "-S", "secret")
    for args in (
        ("econe-describe-instances", *keys),
        ("econe-terminate-instances", "i-1", *keys),
        ("econe-upload", str(image), *keys),
    ):
        result = econe_run(*args, env=clean_env(tmp_path, EC2_URL=url))
        refused(result, args[0], f"cannot connect to {url}: connection refused")
    # -U wins over EC2_URL
    result = econe_run(
        "econe-describe-images", "-U", url, *keys, env=clean_env(tmp_path, EC2_URL="http://h")
    )
    refused(result, "econe-describe-images", f"cannot connect to {url}")


def test_bad_input_is_named_before_any_request(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}"
    env = clean_env(tmp_path, EC2_URL=url, EC2_ACCESS_KEY="alice", EC2_SECRET_KEY="x")
    for args, needle in (
        (("econe-run-instances", "ami-1", "-n", "10-5"), "-n/--instance-count must be a number"),
        (("econe-run-instances", "ami-1", "-n", "0"), "-n/--instance-count"),
        (("econe-run-instances", "ami-1", "-d", "not base64!"), "-d/--user-data must be base64"),
        (("econe-upload", str(tmp_path / "nope.img")), "cannot read image file"),
        (("econe-create-volume",), "give the volume's size (-s/--size, in GiB)"),
    ):
        refused(econe_run(*args, env=env), args[0], needle)
    result = econe_run("econe-describe-images", env={**env, "EC2_URL": "ftp://host"})
    refused(result, "econe-describe-images", "EC2_URL (or -U/--url) must be an http or https URL")


# ---- against the server -------------------------------------------------------------------
def keys_env(econe, user: str = "oneadmin", **extra: str) -> dict[str, str]:
    """The guide's environment: EC2_URL, EC2_ACCESS_KEY (the user's name), EC2_SECRET_KEY
    (the user's stored password hash)."""
    return econe.env(
        EC2_URL=econe.url, EC2_ACCESS_KEY=user, EC2_SECRET_KEY=econe.secret(user), **extra
    )


def test_a_wrong_secret_is_refused(econe):
    env = {**keys_env(econe), "EC2_SECRET_KEY": econe.secret("oneadmin") + "x"}
    for name in ("econe-describe-instances", "econe-describe-images"):
        refused(econe_run(name, env=env), name, "AuthFailure: ")
    refused(
        econe_run("econe-describe-instances", "-K", "nobody", "-S", "x", env=keys_env(econe)),
        "econe-describe-instances",
        "AuthFailure: ",
    )


def test_options_win_over_the_environment(econe):
    """-K/-S are used before EC2_ACCESS_KEY/EC2_SECRET_KEY (the guide's order)."""
    env = {**keys_env(econe), "EC2_SECRET_KEY": "wrong"}
    out = ok(econe_run("econe-describe-instances", "-K", "oneadmin", "-S", econe.secret(), env=env))
    assert rows(out)[0] == ["instanceId", "ImageId", "State", "IP", "instanceType"]


def test_one_auth(econe, tmp_path):
    """Without EC2_*: ONE_AUTH's user logs in on the front-end and signs with its own
    secret; what it runs is its own (another user does not see it)."""
    user, other = econe.user("cli-helen"), econe.user("cli-paul")
    ami = econe.ami("cli-one-auth", owner=user)
    auth = tmp_path / "one_auth"
    auth.write_text(f"{user}:pw-{user}\n")
    env = econe.env(EC2_URL=econe.url, ONE_AUTH=str(auth))
    table = rows(ok(econe_run("econe-run-instances", ami, env=env)))
    instance = table[1][0]
    assert re.fullmatch(r"i-\d{8}", instance), table
    assert ids_of(econe.client(user)) == {instance}
    assert instance not in ids_of(econe.client(other))
    assert [instance] == [
        r[0] for r in rows(ok(econe_run("econe-describe-instances", env=env)))[1:]
    ]

    auth.write_text(f"{user}:wrong\n")
    line = refused(econe_run("econe-describe-instances", env=env), "econe-describe-instances")
    assert "else ONE_AUTH" in line


def ids_of(client) -> set[str]:
    return {
        i["InstanceId"]
        for r in client.describe_instances()["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    }


def test_server_errors_print_aws_code(econe):
    env = keys_env(econe)
    for args, code in (
        (("econe-terminate-instances", "i-99999999"), "InvalidInstanceID.NotFound: "),
        (("econe-start-instances", "vm-1"), "InvalidInstanceID.Malformed: "),
        (("econe-run-instances", "ami-99999999"), "InvalidAMIID.NotFound: "),
    ):
        refused(econe_run(*args, env=env), args[0], code)


def test_user_data_is_data(econe):
    """-d's base64 reaches the VM's context as sent: ``{{ 7*7 }}`` is not rendered."""
    env = keys_env(econe)
    text = base64.b64encode(b"{{ 7*7 }} $(id)").decode()
    ami = econe.ami("cli-user-data")
    instance = rows(ok(econe_run("econe-run-instances", ami, "-d", text, env=env)))[1][0]
    vm = json.loads(econe.run("onevm", "show", str(int(instance[2:])), "--json").stdout)["VM"]
    assert vm["TEMPLATE"]["CONTEXT"]["EC2_USER_DATA"] == text


def test_an_access_key_of_the_users_own(econe, tmp_path):
    """``oneuser ec2-key create`` prints EC2_ACCESS_KEY/EC2_SECRET_KEY lines a user puts in
    the environment; the commands sign with them until the key is revoked."""
    user = econe.user("cli-keys")
    auth = tmp_path / "one_auth"
    auth.write_text(f"{user}:pw-{user}\n")
    made = econe.run("oneuser", "ec2-key", "create", ONE_AUTH=str(auth)).stdout
    keys = dict(line.split("=", 1) for line in made.splitlines() if line.startswith("EC2_"))
    env = econe.env(EC2_URL=econe.url, **keys)
    header = rows(ok(econe_run("econe-describe-instances", env=env)))[0]
    assert header == ["instanceId", "ImageId", "State", "IP", "instanceType"]
    econe.run("oneuser", "ec2-key", "delete", keys["EC2_ACCESS_KEY"], ONE_AUTH=str(auth))
    refused(
        econe_run("econe-describe-instances", env=env), "econe-describe-instances", "AuthFailure"
    )


# ---- each group of commands, as 4.6's print ---------------------------------------------------
def lines_of(out: str) -> dict[str, str]:
    """``name: value`` lines (create-volume, attach-volume...) as a dict."""
    return dict(line.split(": ", 1) for line in out.splitlines())


def until(check, what: str, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)
    return value


def running(econe, env: dict[str, str], ami: str, kind: str = "m1.small") -> str:
    """A new instance of the type (econe-run-instances), once running."""
    instance = rows(ok(econe_run("econe-run-instances", ami, "-t", kind, env=env)))[1][0]
    econe.client().get_waiter("instance_running").wait(
        InstanceIds=[instance], WaiterConfig={"Delay": 1, "MaxAttempts": 90}
    )
    return instance


def test_volume_and_snapshot_commands(econe):
    env = keys_env(econe)
    made = lines_of(ok(econe_run("econe-create-volume", "-s", "1", env=env)))
    volume = made["volumeId"]
    assert re.fullmatch(r"vol-\d{8}", volume) and made["size"] == "1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", made["createTime"]), made

    def volume_row(status: str):
        table = rows(ok(econe_run("econe-describe-volumes", env=env)))
        assert table[0] == ["volumeId", "size", "status", "createTime", "instanceId", "device"]
        row = next((r for r in table[1:] if r[0] == volume), None)
        return row if row and row[2] == status else None

    assert until(lambda: volume_row("available"), "available")[:2] == [volume, "1"]

    instance = running(econe, env, econe.ami("cli-volumes"))
    attach = ("econe-attach-volume", volume, "-i", instance, "-d", "/dev/sdf")
    attached = lines_of(ok(econe_run(*attach, env=env)))
    assert attached.pop("status") in ("attaching", "attached")
    assert attached == {"volumeId": volume, "instanceId": instance, "device": "/dev/sdf"}
    assert until(lambda: volume_row("in-use"), "in-use")[-2:] == [instance, "/dev/sdf"]
    detached = lines_of(ok(econe_run("econe-detach-volume", volume, env=env)))
    assert detached["volumeId"] == volume and detached["status"] in ("detaching", "detached")
    until(lambda: volume_row("available"), "available again")

    snap = lines_of(ok(econe_run("econe-create-snapshot", volume, "-d", "{{ 7*7 }}", env=env)))
    snapshot = snap["snapshotId"]
    assert re.fullmatch(r"snap-\d{8}", snapshot) and snap["volumeId"] == volume
    table = ok(econe_run("econe-describe-snapshots", env=env))
    assert table.splitlines()[0].split() == [
        "snapshotId", "volumeId", "status", "startTime", "size", "description"
    ]  # fmt: skip
    row = next(line for line in table.splitlines() if line.startswith(snapshot))
    assert row.split()[1] == volume and row.endswith("{{ 7*7 }}")  # user text, verbatim
    assert ok(econe_run("econe-delete-snapshot", snapshot, env=env)) == ""
    assert ok(econe_run("econe-delete-volume", volume, env=env)) == ""
    until(lambda: volume not in ok(econe_run("econe-describe-volumes", env=env)), "volume deleted")
    refused(
        econe_run("econe-delete-volume", volume, env=env),
        "econe-delete-volume",
        "InvalidVolume.NotFound: ",
    )


def test_keypair_commands(econe):
    env = keys_env(econe)
    out = ok(econe_run("econe-create-keypair", "cli-key", env=env))
    lines = out.splitlines()
    assert lines[0] == "keyName: cli-key"
    fingerprint = lines[1].removeprefix("Fingerprint: ")
    assert re.fullmatch(r"([0-9a-f]{2}:){15}[0-9a-f]{2}", fingerprint), lines[1]
    assert lines[2] == "Private Key:"
    assert lines[3].startswith("-----BEGIN") and lines[-1].startswith("-----END"), out
    table = rows(ok(econe_run("econe-describe-keypairs", env=env)))
    assert table == [["keyName", "keyFingerprint"], ["cli-key", fingerprint]]
    refused(
        econe_run("econe-create-keypair", "cli-key", env=env),
        "econe-create-keypair",
        "InvalidKeyPair.Duplicate: ",
    )
    instance = rows(
        ok(econe_run("econe-run-instances", econe.ami("cli-keys"), "-k", "cli-key", env=env))
    )[1][0]
    vm = json.loads(econe.run("onevm", "show", str(int(instance[2:])), "--json").stdout)["VM"]
    assert vm["TEMPLATE"]["CONTEXT"]["EC2_KEYNAME"] == "cli-key"
    ok(econe_run("econe-terminate-instances", instance, env=env))
    assert ok(econe_run("econe-delete-keypair", "cli-key", env=env)) == ""
    assert rows(ok(econe_run("econe-describe-keypairs", env=env))) == [
        ["keyName", "keyFingerprint"]
    ]


ELASTIC_IPS = (
    'NAME = "cli-eips"\nTYPE = "FIXED"\nBRIDGE = "br9"\n'
    'LEASES = [ IP = "10.9.0.1" ]\nLEASES = [ IP = "10.9.0.2" ]\n'
)
PRIVATE = (
    'NAME = "cli-private"\nTYPE = "RANGED"\nBRIDGE = "br8"\n'
    'IP_START = "192.168.8.10"\nIP_END = "192.168.8.40"\n'
)
WITH_NIC = (
    'NAME = "m1.cli"\nEC2_INSTANCE_TYPE = "m1.cli"\nCPU = 0.1\nMEMORY = 32\n'
    'NIC = [ NETWORK = "cli-private" ]\n'
)


def test_address_commands(econe, tmp_path):
    """With econe.conf naming a FIXED network, its leases are the Elastic IPs."""
    env = keys_env(econe)
    for name, text in (("eips", ELASTIC_IPS), ("private", PRIVATE), ("m1.cli", WITH_NIC)):
        (tmp_path / name).write_text(text)
    vnet = created_id(econe.run("onevnet", "create", str(tmp_path / "eips")))
    econe.run("onevnet", "create", str(tmp_path / "private"))
    econe.run("onetemplate", "create", str(tmp_path / "m1.cli"))  # a type with a NIC
    log = tmp_path / "scripts.log"
    for name in ("associate", "disassociate"):  # the router's scripts: write down their call
        (tmp_path / name).write_text(f'#!/bin/sh\necho {name} "$1" >> {log}\n')
        (tmp_path / name).chmod(0o755)
    conf = econe.instance.econe_config_path
    conf.write_text(
        conf.read_text()
        + f":elasticips_vnet_id: {vnet}\n"
        + f":associate_script: {tmp_path / 'associate'}\n"
        + f":disassociate_script: {tmp_path / 'disassociate'}\n"
    )
    econe.run("onekit-server", "stop")
    econe.run("onekit-server", "start")
    econe_wait(lambda: " on" in econe.run("onehost", "list").stdout, "host monitored")

    ip = ok(econe_run("econe-allocate-address", env=env)).strip()
    assert ip in ("10.9.0.1", "10.9.0.2")
    assert rows(ok(econe_run("econe-describe-addresses", env=env))) == [
        ["publicIp", "instanceId"],
        [ip],
    ]
    instance = running(econe, env, econe.ami("cli-eips"), "m1.cli")
    assert ok(econe_run("econe-associate-address", ip, instance, env=env)) == ""
    assert rows(ok(econe_run("econe-describe-addresses", env=env)))[1] == [ip, instance]
    assert ok(econe_run("econe-disassociate-address", ip, env=env)) == ""
    assert rows(ok(econe_run("econe-describe-addresses", env=env)))[1] == [ip]
    assert log.read_text().splitlines()[:2] == [f"associate {ip}", f"disassociate {ip}"]
    assert ok(econe_run("econe-release-address", ip, env=env)) == f"publicIP: {ip}\n"
    assert rows(ok(econe_run("econe-describe-addresses", env=env))) == [["publicIp", "instanceId"]]
    refused(
        econe_run("econe-release-address", ip, env=env),
        "econe-release-address",
        "InvalidAddress.NotFound: ",
    )


def test_tag_commands(econe):
    env = keys_env(econe)
    ami = econe.ami("cli-tags")
    instance = rows(ok(econe_run("econe-run-instances", ami, env=env)))[1][0]
    create = ("econe-create-tags", f"{instance},{ami}", "-t", "Name=web", "-t", "note={{ 7*7 }}")
    assert ok(econe_run(*create, "-t", "empty", env=env)) == ""

    def tags(*filters: str) -> list[tuple[str, ...]]:
        args = [arg for f in filters for arg in ("-f", f)]
        lines = ok(econe_run("econe-describe-tags", *args, env=env)).splitlines()
        assert lines[0].split() == ["resourceId", "resourceType", "key", "value"]
        # a value may hold blanks: the first three columns, then the rest as it is
        return sorted(tuple(line.split(None, 3)) for line in lines[1:])

    assert tags(f"resource-id={instance}") == [
        (instance, "instance", "Name", "web"),
        (instance, "instance", "empty"),
        (instance, "instance", "note", "{{ 7*7 }}"),  # user text, verbatim
    ]
    assert tags("key=Name") == [
        (ami, "image", "Name", "web"),
        (instance, "instance", "Name", "web"),
    ]
    assert ok(econe_run("econe-delete-tags", instance, "-t", "Name", env=env)) == ""
    assert [t[2] for t in tags(f"resource-id={instance}")] == ["empty", "note"]
    assert ok(econe_run("econe-delete-tags", instance, env=env)) == ""
    assert tags(f"resource-id={instance}") == []
    assert len(tags(f"resource-id={ami}")) == 3
    refused(
        econe_run("econe-create-tags", "i-99999999", "-t", "a=b", env=env),
        "econe-create-tags",
        "InvalidInstanceID.NotFound: ",
    )


def test_upload_and_register(econe, tmp_path):
    """econe-upload's answer and errors come from its own request (not boto3's): the
    server's AWS code on a wrong secret; econe-register keeps the uploaded name, or sets
    the one given, verbatim."""
    env = keys_env(econe)
    image = tmp_path / "named.img"
    image.write_bytes(b"\x00\x01" * 70000)
    wrong = {**env, "EC2_SECRET_KEY": "wrong"}
    refused(econe_run("econe-upload", str(image), env=wrong), "econe-upload", "AuthFailure: ")
    out = ok(econe_run("econe-upload", str(image), env=env))
    ami = re.fullmatch(r"Success: ImageId (ami-\d{8})\n", out)[1]
    assert ok(econe_run("econe-register", ami, env=env)) == f"Success: ImageId {ami}\n"
    ec2 = econe.client()
    assert ec2.describe_images(ImageIds=[ami])["Images"][0]["Name"] == "named.img"
    named = ok(econe_run("econe-register", ami, "-n", "{{ 7*7 }} $(id)", env=env))
    assert named == f"Success: ImageId {ami}\n"
    assert ec2.describe_images(ImageIds=[ami])["Images"][0]["Name"] == "{{ 7*7 }} $(id)"
    refused(
        econe_run("econe-register", "ami-99999999", env=env),
        "econe-register",
        "InvalidAMIID.NotFound: ",
    )


def test_a_large_upload_is_streamed(econe, tmp_path):
    """A 256 MiB image goes up without the command holding it: its peak memory stays far
    below the file's size (the file is read twice, a chunk at a time: hash, then send)."""
    env = keys_env(econe)
    image = tmp_path / "large.img"
    size = 256 * 1024 * 1024
    with open(image, "wb") as handle:  # sparse: no disk for the source itself
        handle.truncate(size)
    status, peak_kib, out = peak_memory_run(
        "onekit.cli.econe", "econe-upload", str(image), env=env, timeout=300
    )
    assert status == 0, out
    assert re.fullmatch(r"Success: ImageId ami-\d{8}", out.splitlines()[0])
    assert peak_kib * 1024 < size / 2, f"peak memory {peak_kib} KiB for a {size} byte upload"
    ami = out.splitlines()[0].rsplit(" ", 1)[1]
    stored = json.loads(econe.run("oneimage", "show", str(int(ami[4:])), "--json").stdout)
    assert os.path.getsize(stored["IMAGE"]["SOURCE"]) == size
    econe.run("oneimage", "delete", str(int(ami[4:])))


def test_stop_start_reboot_terminate(econe):
    """The state changes print 4.6's lines, one per instance of a comma-separated list."""
    env = keys_env(econe)
    ami = econe.ami("cli-states")
    first, second = (running(econe, env, ami) for _ in range(2))
    ec2 = econe.client()

    def waiter(name: str, *ids: str) -> None:
        config = {"Delay": 1, "MaxAttempts": 90}
        ec2.get_waiter(name).wait(InstanceIds=list(ids), WaiterConfig=config)

    assert ok(econe_run("econe-stop-instances", f"{first},{second}", env=env)) == (
        f"Success: Stopping {first} in running state\nSuccess: Stopping {second} in running state\n"
    )
    waiter("instance_stopped", first, second)
    assert ok(econe_run("econe-start-instances", first, env=env)) == (
        f"Success: Starting {first} in stopped state\n"
    )
    waiter("instance_running", first)
    assert ok(econe_run("econe-reboot-instances", first, env=env)) == "Success: Rebooting\n"
    short = f"i-{int(second[2:])}"  # the guide's form
    assert ok(econe_run("econe-terminate-instances", first, short, env=env)) == (
        f"Success: Terminating {first} in running state\n"
        f"Success: Terminating {second} in stopped state\n"
    )
    waiter("instance_terminated", first, second)

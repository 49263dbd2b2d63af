"""The econe-* commands as a user runs them: help, credentials, errors.

Each runs as a real subprocess (``support.econe_cli``). The tests that need no server
(help, a missing credential, a refused connection, bad options) use a closed port; the
others the ``econe`` fixture's running econe-server.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import tomllib

import pytest
from conftest import REPO
from support.econe_cli import clean_env, ok, refused, rows
from support.econe_cli import econe as econe_run

from onekit.cli.econe import COMMANDS

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
    ):
        result = econe_run(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith(f"usage: {args[0]}"), result.stderr
        assert message in result.stderr, (message, result.stderr)


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

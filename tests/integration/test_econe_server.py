"""``econe-server start|stop|status`` (the guide's 7.2.4) and the EC2 API inside
onekit-server when etc/econe.conf exists."""

from __future__ import annotations

import boto3
from support.ports import free_port
from support.stores import sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils.econe import access_keys

pytestmark = sqlite_only  # an adapter's tests: see support.stores


def client(url: str, instance):
    session = instance.session()
    secret = access_keys.password_secret(session, "oneadmin")
    session.db.close()
    return boto3.client(
        "ec2",
        endpoint_url=url,
        region_name="opennebula",
        aws_access_key_id="oneadmin",
        aws_secret_access_key=secret,
    )


def test_econe_server_runs_the_api_alone(instance, cli):
    port = free_port()
    instance.econe_config_path.write_text(f":host: localhost\n:port: {port}\n:auth: ec2\n")
    assert cli("econe-server", "status").returncode == 3
    started = cli("econe-server", "start", check=True)
    try:
        assert "econe-server started" in started.stdout
        status = cli("econe-server", "status", check=True)
        assert f"http://127.0.0.1:{port}/health" in status.stdout
        regions = client(f"http://127.0.0.1:{port}", instance).describe_regions()["Regions"]
        assert [r["RegionName"] for r in regions] == ["opennebula"]
        again = cli("econe-server", "start")
        assert again.returncode != 0 and "already running" in again.stderr
        # onekit-server would serve the same port: it says so instead of failing to bind
        clash = cli("onekit-server", "start")
        assert clash.returncode != 0 and ":port:" in clash.stderr + clash.stdout
    finally:
        stopped = cli("econe-server", "stop")
    assert stopped.returncode == 0 and "econe-server stopped" in stopped.stdout
    assert cli("econe-server", "status").returncode == 3
    assert "econe-server listening on" in instance.log_path("econe-server").read_text()


def test_onekit_server_serves_the_api_when_econe_conf_exists(instance, cli):
    port = free_port()
    cli("onekit-server", "start", check=True)
    try:
        # no econe.conf: no EC2 API
        assert "EC2 on" not in instance.log_path().read_text()
    finally:
        cli("onekit-server", "stop", check=True)
    instance.econe_config_path.write_text(f":port: {port}\n")
    cli("onekit-server", "start", check=True)
    try:
        assert f"EC2 on http://127.0.0.1:{port}" in instance.log_path().read_text()
        assert (
            client(f"http://127.0.0.1:{port}", instance).describe_instances()["Reservations"] == []
        )
        refused = cli("econe-server", "start")
        assert refused.returncode != 0 and "onekit-server" in refused.stderr
    finally:
        cli("onekit-server", "stop")


def test_a_broken_econe_conf_names_the_key(instance, cli):
    instance.econe_config_path.write_text(":port: 99999\n")
    for command in ("econe-server", "onekit-server"):
        result = cli(command, "start")
        assert result.returncode != 0
        assert ":port: must be an integer from 1 to 65535" in result.stderr, result.stderr
    assert cli("econe-server", "status").returncode == 3


def test_help(cli):
    result = cli("econe-server", "-h", check=True)
    for word in ("start", "stop", "status", "run"):
        assert word in result.stdout

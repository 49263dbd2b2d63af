"""``occi-server start|stop|status`` (the guide's 7.3.4), the OCCI API inside
onekit-server when etc/occi-server.conf exists, and its port shared with econe's."""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.request

from support.occi import occi_server_command
from support.ports import free_port


def occi(cli, *args: str) -> subprocess.CompletedProcess:
    from conftest import instance_env

    return subprocess.run(
        occi_server_command(*args),
        capture_output=True,
        text=True,
        env=instance_env(cli.instance),
        timeout=120,
    )


def get(url: str, instance) -> tuple[int, str]:
    user, password = instance.auth_path.read_text().strip().split(":", 1)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_occi_server_runs_the_api_alone(instance, cli):
    port = free_port()
    instance.occi_config_path.write_text(
        f":host: localhost\n:port: {port}\n:auth: occi\n:ssl_server: https://cloud.example:8443\n"
    )
    assert occi(cli, "status").returncode == 3
    started = occi(cli, "start")
    assert started.returncode == 0, started.stderr
    try:
        assert "occi-server started" in started.stdout
        status = occi(cli, "status")
        assert status.returncode == 0 and f"http://127.0.0.1:{port}/health" in status.stdout
        code, body = get(f"http://127.0.0.1:{port}/", instance)
        # :ssl_server: is the base of every href
        assert code == 200 and 'href="https://cloud.example:8443/compute"' in body
        again = occi(cli, "start")
        assert again.returncode != 0 and "already running" in again.stderr
        clash = cli("onekit-server", "start")
        assert clash.returncode != 0 and ":port:" in clash.stderr + clash.stdout
    finally:
        stopped = occi(cli, "stop")
    assert stopped.returncode == 0 and "occi-server stopped" in stopped.stdout
    assert occi(cli, "status").returncode == 3
    assert "occi-server listening on" in instance.log_path("occi-server").read_text()


def test_onekit_server_serves_the_api_when_the_conf_exists(instance, cli):
    port = free_port()
    instance.occi_config_path.write_text(f":port: {port}\n")
    cli("onekit-server", "start", check=True)
    try:
        assert f"OCCI on http://127.0.0.1:{port}" in instance.log_path().read_text()
        code, body = get(f"http://127.0.0.1:{port}/compute", instance)
        assert (code, body) == (200, "<COMPUTE_COLLECTION></COMPUTE_COLLECTION>")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as answer:
            assert json.load(answer)["status"] == "ok"
        refused = occi(cli, "start")
        assert refused.returncode != 0 and "onekit-server" in refused.stderr
    finally:
        cli("onekit-server", "stop")


def test_econe_and_occi_on_one_port_refuse_to_start(instance, cli):
    # both files as shipped: 4.6 put both servers on 127.0.0.1:4567
    instance.econe_config_path.write_text(":host: 127.0.0.1\n:port: 4567\n")
    instance.occi_config_path.write_text(":host: 127.0.0.1\n:port: 4567\n")
    for result in (cli("onekit-server", "start"), occi(cli, "start"), cli("econe-server", "start")):
        assert result.returncode != 0
        message = result.stderr
        assert str(instance.econe_config_path) in message, message
        assert str(instance.occi_config_path) in message and "another :port:" in message
    assert occi(cli, "status").returncode == 3


def test_a_broken_conf_names_the_key(instance, cli):
    for text, needle in (
        (":port: 99999\n", ":port: must be an integer from 1 to 65535"),
        (":prot: 4567\n", ":prot: is not a setting of the OCCI server"),
        (":auth: ldap\n", ":auth: 'ldap' is not supported"),
        (
            ":instance_types:\n  :gpu:\n    :template: gpu.erb\n    :cpu: 1\n    :memory: 512\n",
            "no template gpu.j2",
        ),
    ):
        instance.occi_config_path.write_text(
            f":port: {free_port()}\n" + text if "port" not in text else text
        )
        result = occi(cli, "start")
        assert result.returncode != 0 and needle in result.stderr + result.stdout, result.stderr
    assert occi(cli, "status").returncode == 3


def test_help(cli):
    result = occi(cli, "-h")
    for word in ("start", "stop", "status", "run"):
        assert word in result.stdout

"""onekit-server: init, run, start/stop/status, /health — as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import time

import pytest
from conftest import VENV_BIN, Cli, instance_env
from support.mariadb import PASSWORD, USER
from support.ports import free_port

from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import GateConfig


def curl(url: str) -> tuple[int, dict]:
    out = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", url],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    body, _, code = out.rpartition("\n")
    return int(code), json.loads(body)


def test_init_prints_what_it_made_and_protects_one_auth(tmp_path):
    home = tmp_path / "fresh"
    env = {**os.environ, "ONEKIT_HOME": str(home)}
    result = subprocess.run(
        [VENV_BIN / "onekit-server", "init", "--port", "2701"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert f"onekit instance created in {home}" in result.stdout
    assert f"SQLite {home}/var/one.db" in result.stdout
    auth = (home / "one_auth").read_text().strip()
    assert auth.startswith("oneadmin:") and len(auth) > len("oneadmin:") + 16
    assert stat.S_IMODE((home / "one_auth").stat().st_mode) == 0o600
    assert 'PORT = "2701"' in (home / "etc/oned.conf").read_text()

    again = subprocess.run(
        [VENV_BIN / "onekit-server", "init"], capture_output=True, text=True, env=env
    )
    assert again.returncode == 1
    assert "already an onekit instance" in again.stderr
    assert (home / "one_auth").read_text().strip() == auth  # not overwritten

    ok = subprocess.run(
        [VENV_BIN / "onekit-server", "init", "--exist-ok"], capture_output=True, text=True, env=env
    )
    assert ok.returncode == 0 and "already initialised" in ok.stdout


def test_init_on_mysql_creates_the_database(tmp_path, mariadb):
    home = tmp_path / "my"
    env = {**os.environ, "ONEKIT_HOME": str(home)}
    result = subprocess.run(
        [
            VENV_BIN / "onekit-server",
            "init",
            "--db-backend",
            "mysql",
            "--db-server",
            "127.0.0.1",
            "--db-port",
            str(mariadb.port),
            "--db-user",
            USER,
            "--db-passwd",
            PASSWORD,
            "--db-name",
            "onekit_init_test",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    try:
        assert result.returncode == 0, result.stderr
        assert "MySQL onekit@127.0.0.1" in result.stdout
        tables = {r[0] for r in mariadb.execute("SHOW TABLES", "onekit_init_test")}
        assert {"user_pool", "group_pool", "acl", "vm_pool"} <= tables
        listing = subprocess.run(
            [VENV_BIN / "oneuser", "list"], capture_output=True, text=True, env=env, check=True
        ).stdout
        assert "oneadmin" in listing
    finally:
        mariadb.execute("DROP DATABASE IF EXISTS onekit_init_test")


def test_init_fails_cleanly_when_mysql_is_unreachable(tmp_path):
    home = tmp_path / "nomysql"
    env = {**os.environ, "ONEKIT_HOME": str(home)}
    result = subprocess.run(
        [
            VENV_BIN / "onekit-server",
            "init",
            "--db-backend",
            "mysql",
            "--db-server",
            "127.0.0.1",
            "--db-port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 1
    assert "cannot reach MySQL" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (home / "etc/oned.conf").exists()  # a failed init can simply be rerun
    assert not (home / "one_auth").exists()


def test_start_status_health_stop(server: Instance, cli: Cli):
    status = cli("onekit-server", "status")
    assert status.returncode == 0 and "is running (pid" in status.stdout
    code, body = curl(f"http://127.0.0.1:{server.config().port}/health")
    # what a load balancer needs, and nothing about the store for anonymous callers
    assert (code, body) == (200, {"status": "ok", "loops": "leader"})

    again = cli("onekit-server", "start")
    assert again.returncode == 1 and "already running" in again.stderr
    for args, env, named in (
        (["--timeout", "0"], {}, "--timeout"),
        (["--timeout", "soon"], {}, "--timeout"),
        ([], {"ONEKIT_SERVER_TIMEOUT": "nan"}, "ONEKIT_SERVER_TIMEOUT"),
        ([], {"ONEKIT_SERVER_TIMEOUT": "1e9"}, "ONEKIT_SERVER_TIMEOUT"),
    ):
        bad = cli("onekit-server", "stop", *args, env=env)
        assert bad.returncode == 1 and f"{named} must be seconds from 1 to 3600" in bad.stderr
        assert cli("onekit-server", "status").returncode == 0  # still running: nothing done

    stopped = cli("onekit-server", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not server.pid_path().exists()
    gone = cli("onekit-server", "status")
    assert gone.returncode == 3 and "not running" in gone.stdout
    assert cli("onekit-server", "stop").returncode == 1


def test_health_reports_a_store_of_another_version(server: Instance):
    with server.database().transaction() as tx:
        tx.execute("UPDATE db_versioning SET version = '42' WHERE oid = 0")
    code, body = curl(f"http://127.0.0.1:{server.config().port}/health")
    assert (code, body) == (503, {"status": "error"})
    assert "schema version 42" in server.log_path().read_text()  # the why is in the log


def test_start_fails_with_the_reason_when_the_port_is_taken(instance: Instance, cli: Cli):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", instance.config().port))
        busy.listen()
        result = cli("onekit-server", "start")
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{instance.config().port}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # onekit's line, none of the HTTP server's
    assert "is in use by another program" not in instance.log_path().read_text()
    assert not instance.pid_path().exists()


def test_run_in_foreground_stops_on_sigterm(instance: Instance):
    proc = subprocess.Popen(
        [VENV_BIN / "onekit-server", "run"],
        env=instance_env(instance),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{instance.config().port}/health"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if curl(url)[0] == 200:
                    break
            except subprocess.CalledProcessError:
                time.sleep(0.1)
        assert instance.pid_path().read_text().strip() == str(proc.pid)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "listening on http://127.0.0.1" in output and "stopped" in output
    assert not instance.pid_path().exists()


def test_two_instances_run_side_by_side(tmp_path, instance: Instance, cli: Cli):
    other = Instance(tmp_path / "second")
    # never the default ports (2633, 2474): tests run in parallel
    other.init(
        InstanceConfig(port=free_port()),
        flow=FlowConfig(port=free_port()),
        onegate=GateConfig(port=free_port()),
    )
    other_cli = Cli(other)
    assert cli("onekit-server", "start").returncode == 0
    try:
        started = other_cli("onekit-server", "start")
        assert started.returncode == 0, started.stderr
        try:
            assert cli("oneuser", "create", "only-in-first", "pw").returncode == 0
            assert "only-in-first" not in other_cli("oneuser", "list", check=True).stdout
            ports = {instance.config().port, other.config().port}
            assert all(curl(f"http://127.0.0.1:{p}/health")[0] == 200 for p in ports)
        finally:
            other_cli("onekit-server", "stop")
    finally:
        cli("onekit-server", "stop")


def _init(home, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ONEKIT_HOME": str(home)}
    return subprocess.run(
        [VENV_BIN / "onekit-server", "init", *args], capture_output=True, text=True, env=env
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--port", "99999"), "PORT must be a whole number from 1 to 65535"),
        (("--listen-address", ""), "LISTEN_ADDRESS is empty"),
        (("--db-user", "x"), "need --db-backend mysql"),
        (("--flow-port", "0"), ":port: must be an integer of at least 1"),
    ],
)
def test_init_refuses_bad_settings_before_writing_anything(tmp_path, args, message):
    home = tmp_path / "bad"
    result = _init(home, *args)
    assert result.returncode == 1 and message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (home / "etc/oned.conf").exists() and not (home / "one_auth").exists()
    assert _init(home).returncode == 0  # and the instance can still be made


def test_init_uses_a_hand_edited_oned_conf(tmp_path, mariadb):
    """As with oned: write DB = [...] into oned.conf, then create the store from it."""
    home = tmp_path / "edited"
    (home / "etc").mkdir(parents=True)
    (home / "etc/oned.conf").write_text(
        f'PORT = 2702\nDB = [ BACKEND = "mysql", SERVER = "127.0.0.1", PORT = {mariadb.port},\n'
        f'       USER = "{USER}", PASSWD = "{PASSWORD}", DB_NAME = "onekit_edited" ]\n'
    )
    try:
        result = _init(home)
        assert result.returncode == 0, result.stderr
        assert "MySQL onekit@127.0.0.1" in result.stdout and "127.0.0.1:2702" in result.stdout
        assert "user_pool" in {r[0] for r in mariadb.execute("SHOW TABLES", "onekit_edited")}
        again = _init(home)
        assert again.returncode == 1 and "already an onekit instance" in again.stderr
        with_settings = _init(home, "--port", "2703")
        assert "edit it instead of giving settings" in with_settings.stderr
    finally:
        mariadb.execute("DROP DATABASE IF EXISTS onekit_edited")


def test_store_and_secrets_are_private(tmp_path):
    home = tmp_path / "private"
    assert _init(home).returncode == 0
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "var").stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "var/one.db").stat().st_mode) == 0o600  # password hashes


def test_oneflow_and_onegate_server_commands_start_the_one_server(instance, cli):
    """The guide starts OneFlow and OneGate with their own commands: the same server."""
    started = cli("oneflow-server", "start")
    try:
        assert started.returncode == 0, started.stderr
        assert "oneflow-server started" in started.stdout
        status = cli("onegate-server", "status")
        assert status.returncode == 0 and "is running" in status.stdout
        for url in (instance.flow_config().url, instance.gate_config().url):
            assert curl(f"{url}/health")[0] == 200
    finally:
        stopped = cli("onegate-server", "stop")
    assert stopped.returncode == 0 and "onegate-server stopped" in stopped.stdout
    assert cli("oneflow-server", "status").returncode == 3

"""oned.conf's MAX_CONN and MAX_CONN_BACKLOG reach the running server, as a user sees it:
an API serves MAX_CONN connections at once and keeps the others waiting (none refused),
with no thread per connection; each API listens with MAX_CONN_BACKLOG (``ss``); a bad
value stops the server at start with a line naming the file, the key and the range."""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import Cli
from support.plays import sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance

pytestmark = sqlite_only  # the store is not what these are about


def set_api_bounds(instance: Instance, text: str) -> None:
    """Replace the MAX_CONN lines ``init`` wrote with ``text`` (as an admin edits them)."""
    path = instance.config_path
    kept = re.sub(r"(?m)^MAX_CONN(_BACKLOG)? = .*\n", "", path.read_text())
    path.write_text(kept + text)


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError(f"no process {pid}")


def backlog(port: int) -> int:
    """The listen backlog of the socket on ``port``, as ``ss`` shows it (Send-Q)."""
    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out and out[0] == "LISTEN", out
    return int(out[2])


def status_of(sock: socket.socket) -> int:
    """The status of the answer on ``sock`` (read to the end: Connection: close)."""
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return int(answer.split(b" ", 2)[1])


HEAD = b"GET /health HTTP/1.1\r\nHost: onekit\r\n"
END = b"Connection: close\r\n\r\n"


def slow_request(port: int, statuses: list[int]) -> None:
    """GET /health sent in two halves 0.3 s apart: the connection holds a worker."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(HEAD)
        time.sleep(0.3)
        sock.sendall(END)
        statuses.append(status_of(sock))


@pytest.fixture
def small_server(instance: Instance, cli: Cli):
    set_api_bounds(instance, "MAX_CONN = 2\nMAX_CONN_BACKLOG = 7\n")
    started = cli("onekit-server", "start")
    assert started.returncode == 0, started.stderr
    yield instance
    cli("onekit-server", "stop")


def test_an_api_serves_max_conn_connections_at_once_and_keeps_the_next_waiting(small_server):
    port = small_server.config().port
    held = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(2)]
    waiting = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        for sock in held:  # both workers now wait for these two requests...
            sock.sendall(HEAD)
        waiting.sendall(HEAD + END)
        waiting.settimeout(1.5)
        with pytest.raises(TimeoutError):  # ...so the third is not served meanwhile
            waiting.recv(1)
        waiting.settimeout(30)
        for sock in held:
            sock.sendall(END)
            assert status_of(sock) == 200
        assert status_of(waiting) == 200  # a worker was free: served, not refused
    finally:
        for sock in (*held, waiting):
            sock.close()


def test_more_slow_clients_than_max_conn_are_all_served_without_new_threads(small_server):
    pid = int(small_server.pid_path().read_text())
    port = small_server.config().port
    idle = threads(pid)
    statuses: list[int] = []
    clients = [threading.Thread(target=slow_request, args=(port, statuses)) for _ in range(12)]
    for client in clients:
        client.start()
    peak = idle
    while any(client.is_alive() for client in clients):
        peak = max(peak, threads(pid))
        time.sleep(0.02)
    assert statuses == [200] * 12  # none refused
    # a thread per connection would have added about 12 (werkzeug's did); the pool none
    assert peak - idle < 4, (idle, peak)


def test_the_guides_lines_load_and_set_every_apis_listen_backlog(instance: Instance, cli: Cli):
    set_api_bounds(instance, "MAX_CONN = 240\nMAX_CONN_BACKLOG = 480\n")  # chapter 3.2
    started = cli("onekit-server", "start")
    try:
        assert started.returncode == 0, started.stderr
        ports = (instance.config().port, instance.flow_config().port, instance.gate_config().port)
        assert [backlog(port) for port in ports] == [480, 480, 480]
    finally:
        cli("onekit-server", "stop")


@pytest.mark.parametrize(
    ("lines", "needle"),
    [
        ("MAX_CONN = 0\n", "MAX_CONN must be a whole number from 1 to 4096, got '0'"),
        ("MAX_CONN_BACKLOG = 100000\n", "MAX_CONN_BACKLOG must be a whole number from 1 to 65535"),
    ],
)
def test_a_bad_value_stops_the_server_at_start_with_one_clear_line(
    instance: Instance, cli: Cli, lines: str, needle: str
):
    set_api_bounds(instance, lines)
    for command in ("start", "run"):
        result = cli("onekit-server", command)
        assert result.returncode == 1, (command, result)
        assert needle in result.stderr and str(instance.config_path) in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert not instance.pid_path().exists()

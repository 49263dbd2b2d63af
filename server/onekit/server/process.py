"""Running the server: in the foreground (``run``) or as a daemon (``start``/``stop``/``status``).

``run`` serves the three apps (and with ``etc/econe.conf`` the EC2 Query API, with
``etc/occi-server.conf`` the OCCI API) with
``http_server`` (a bounded pool each, sized by oned.conf's MAX_CONN and
MAX_CONN_BACKLOG) and runs the loops, which act only while this
process holds the store's leader lock.

``run`` owns the pid file ``$ONEKIT_HOME/var/onekit-server.pid``: it refuses to start when
a live server already holds it, writes its own pid, and removes it on exit. ``start``
launches ``run`` detached with its output in ``var/onekit-server.log`` and returns once
``/health`` answers, or fails with the end of that log.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from flask import Flask

from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Database
from ansible_collections.onekit.cloud.plugins.module_utils.core.login_guard import LoginGuard
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from onekit.server.app import create_app
from onekit.server.http_server import HttpServer, ServerError, bound_malloc, listen
from onekit.server.loops import Loops

log = logging.getLogger("onekit.server")


SERVER = "onekit-server"
ECONE = "econe-server"  # the EC2 Query API alone (``econe-server start``)
OCCI = "occi-server"  # the OCCI API alone (``occi-server start``)
RUN_COMMANDS = {SERVER: "run", ECONE: "econe-run", OCCI: "occi-run"}


def read_pid(instance: Instance, name: str = SERVER) -> int | None:
    """The pid of a live server of this instance, or None (a stale pid file is ignored)."""
    try:
        pid = int(instance.pid_path(name).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"onekit" in cmdline else None


def health_url(instance: Instance, name: str = SERVER) -> str:
    if name == ECONE:
        return f"{instance.econe_config().url}/health"
    if name == OCCI:
        return f"{instance.occi_config().url}/health"
    config = instance.config()
    host = "127.0.0.1" if config.listen_address in ("0.0.0.0", "") else config.listen_address
    return f"http://{host}:{config.port}/health"


Endpoint = tuple[Flask, str, int, str, Path]  # app, host, port, its setting and file


def _servers(endpoints: list[Endpoint], config: InstanceConfig) -> list[HttpServer]:
    """A server for each endpoint; when one cannot listen, the ServerError that names its
    setting, with the sockets opened before it closed."""
    sockets: list[socket.socket] = []
    try:
        for _app, host, port, key, path in endpoints:
            sockets.append(listen(host, port, config.max_conn_backlog, key, path))
    except ServerError:
        for sock in sockets:
            sock.close()
        raise
    return [
        HttpServer(app, sock, config.max_conn, config.max_conn_backlog)
        for (app, *_), sock in zip(endpoints, sockets, strict=True)
    ]


def run(instance: Instance) -> None:
    """Serve in the foreground until SIGTERM or Ctrl-C: the core API on oned.conf's
    LISTEN_ADDRESS:PORT, OneFlow on oneflow-server.conf's :host:/:port:, OneGate on
    onegate-server.conf's, and the loops."""
    config = instance.config()
    flow = instance.flow_config()
    gate = instance.gate_config()
    pid = read_pid(instance)
    if pid is not None and pid != os.getpid():
        raise ServerError(f"a server of {instance.home} is already running (pid {pid})")
    bound_malloc()
    # one set of login bounds per process; refusals held back in the tarpit may take at
    # most half of an API's MAX_CONN workers, so a flood never puts all of them to sleep
    check_cloud_ports(instance)
    guard = LoginGuard(tarpit_slots=max(1, config.max_conn // 2))
    app = create_app(instance, login_guard=guard)
    db = app.extensions["onekit.db"]
    flow_app = create_app(instance, db, "oneflow", guard)
    gate_app = create_app(instance, db, "onegate", guard)
    endpoints: list[Endpoint] = [
        (app, config.listen_address, config.port, "PORT", instance.config_path),
        (flow_app, flow.host, flow.port, ":port:", instance.flow_config_path),
        (gate_app, gate.host, gate.port, ":port:", instance.gate_config_path),
    ]
    names = ["oneflow-api", "onegate-api"]
    econe = _econe_endpoint(instance, db, guard) if instance.econe_config_path.exists() else None
    if econe is not None:
        endpoints.append(econe)
        names.append("econe-api")
    occi = _occi_endpoint(instance, db, guard) if instance.occi_config_path.exists() else None
    if occi is not None:
        endpoints.append(occi)
        names.append("occi-api")
    server, *extra_servers = _servers(endpoints, config)
    instance.pid_path().write_text(f"{os.getpid()}\n")
    loops = Loops(instance, db)
    for each, *_rest in endpoints:
        each.extensions["onekit.loops"] = loops
    loops.start()
    threads = [
        threading.Thread(target=extra.serve, name=name)
        for extra, name in zip(extra_servers, names, strict=True)
    ]
    for thread in threads:
        thread.start()

    def _stop(signum, _frame):
        log.info("signal %s: stopping", signal.Signals(signum).name)
        threading.Thread(target=server.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    log.info(
        "onekit-server listening on http://%s:%s, OneFlow on %s, OneGate on %s%s "
        "(MAX_CONN %s, MAX_CONN_BACKLOG %s; store: %s)",
        config.listen_address,
        config.port,
        flow.url,
        gate.url,
        ("" if econe is None else f", EC2 on {instance.econe_config().url}")
        + ("" if occi is None else f", OCCI on {instance.occi_config().url}"),
        config.max_conn,
        config.max_conn_backlog,
        db.description,
    )
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        for each in (server, *extra_servers):
            each.stop()
        for thread in threads:
            thread.join(10)
        loops.stop()
        with contextlib.suppress(OSError):
            if read_pid(instance) == os.getpid():
                instance.pid_path().unlink()
        log.info("onekit-server stopped")


def _econe_endpoint(instance: Instance, db: Database, guard: LoginGuard) -> Endpoint:
    econe = instance.econe_config()
    app = create_app(instance, db, "econe", guard)
    return (app, econe.listen_host, econe.port, ":port:", instance.econe_config_path)


def _occi_endpoint(instance: Instance, db: Database, guard: LoginGuard) -> Endpoint:
    occi = instance.occi_config()
    app = create_app(instance, db, "occi", guard)
    return (app, occi.listen_host, occi.port, ":port:", instance.occi_config_path)


def _same_socket(one: tuple[str, int], other: tuple[str, int]) -> bool:
    anywhere = ("0.0.0.0", "")
    hosts_meet = one[0] == other[0] or one[0] in anywhere or other[0] in anywhere
    return one[1] == other[1] and hosts_meet


def check_cloud_ports(instance: Instance) -> None:
    """The EC2 and the OCCI servers both default to port 4567 (4.6's defaults): with
    both configured on one address, refuse to start, naming both files and the fix,
    rather than fail to bind one of them."""
    if not (instance.econe_config_path.exists() and instance.occi_config_path.exists()):
        return
    econe, occi = instance.econe_config(), instance.occi_config()
    if _same_socket((econe.listen_host, econe.port), (occi.listen_host, occi.port)):
        raise ServerError(
            f"{instance.econe_config_path} and {instance.occi_config_path} both put their "
            f"server on {occi.listen_host}:{occi.port}: give one of them another :port: "
            "(4.6 used 4567 for both)"
        )


def _run_alone(instance: Instance, name: str, endpoint: Endpoint, url: str) -> None:
    """Serve one cloud API in the foreground, with no loops (an onekit-server of the
    same store places and runs the VMs it makes), under its own pid file."""
    config = instance.config()
    (server,) = _servers([endpoint], config)
    instance.pid_path(name).write_text(f"{os.getpid()}\n")
    signal.signal(
        signal.SIGTERM, lambda *_: threading.Thread(target=server.stop, daemon=True).start()
    )
    log.info("%s listening on %s", name, url)
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        with contextlib.suppress(OSError):
            if read_pid(instance, name) == os.getpid():
                instance.pid_path(name).unlink()
        log.info("%s stopped", name)


def _refuse_second(instance: Instance, name: str, api: str, path: Path, url: str) -> None:
    pid = read_pid(instance, name)
    if pid is not None and pid != os.getpid():
        raise ServerError(f"an {name} of {instance.home} is already running (pid {pid})")
    served = read_pid(instance)
    if served is not None and path.exists():
        raise ServerError(
            f"onekit-server (pid {served}) already serves the {api} API of {instance.home}, "
            f"as {path} exists: {url}"
        )
    check_cloud_ports(instance)


def run_econe(instance: Instance) -> None:
    """``econe-server run``: the EC2 Query API alone, on econe.conf's :host:/:port:."""
    url = instance.econe_config().url
    _refuse_second(instance, ECONE, "EC2", instance.econe_config_path, url)
    bound_malloc()
    endpoint = _econe_endpoint(instance, instance.open_store(), LoginGuard())
    _run_alone(instance, ECONE, endpoint, url)


def run_occi(instance: Instance) -> None:
    """``occi-server run``: the OCCI API alone, on occi-server.conf's :host:/:port:."""
    url = instance.occi_config().url
    _refuse_second(instance, OCCI, "OCCI", instance.occi_config_path, url)
    bound_malloc()
    endpoint = _occi_endpoint(instance, instance.open_store(), LoginGuard())
    _run_alone(instance, OCCI, endpoint, url)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return json.load(answer).get("status") == "ok"
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(instance: Instance, timeout: float, name: str = SERVER) -> int:
    """Start a detached server; returns its pid once /health answers (within ``timeout``
    seconds: the CLI's --timeout, one default for start and stop)."""
    pid = read_pid(instance, name)
    if pid is not None:
        raise ServerError(f"a server of {instance.home} is already running (pid {pid})")
    url = health_url(instance, name)  # reads the config: fails early on a broken one
    check_cloud_ports(instance)
    log_path = instance.log_path(name)
    command = RUN_COMMANDS[name]
    with open(log_path, "ab") as log_file:
        child = subprocess.Popen(
            [sys.executable, "-m", "onekit.cli.server", command],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "ONEKIT_HOME": str(instance.home)},
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise ServerError(f"the server exited at start ({_log_tail(log_path)})")
        if read_pid(instance, name) == child.pid and _healthy(url):
            return child.pid
        time.sleep(0.1)
    child.terminate()
    raise ServerError(
        f"the server did not answer {url} within {timeout:.0f} s ({_log_tail(log_path)})"
    )


def stop(instance: Instance, timeout: float, name: str = SERVER) -> int:
    """SIGTERM the server (SIGKILL after ``timeout``); returns the pid it stopped."""
    pid = read_pid(instance, name)
    if pid is None:
        raise ServerError(f"no {name} of {instance.home} is running")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and read_pid(instance, name) == pid:
        time.sleep(0.05)
    if read_pid(instance, name) == pid:
        os.kill(pid, signal.SIGKILL)
        instance.pid_path(name).unlink(missing_ok=True)
    return pid

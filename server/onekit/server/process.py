"""Running the server: in the foreground (``run``) or as a daemon (``start``/``stop``/``status``).

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

from werkzeug.serving import make_server

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import OneError
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from onekit.server.app import create_app
from onekit.server.loops import Loops

log = logging.getLogger("onekit.server")


class ServerError(OneError):
    """The server could not be started or stopped."""


def read_pid(instance: Instance) -> int | None:
    """The pid of a live server of this instance, or None (a stale pid file is ignored)."""
    try:
        pid = int(instance.pid_path().read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"onekit" in cmdline else None


def health_url(instance: Instance) -> str:
    config = instance.config()
    host = "127.0.0.1" if config.listen_address in ("0.0.0.0", "") else config.listen_address
    return f"http://{host}:{config.port}/health"


LISTEN_BACKLOG = 1024  # connections the kernel keeps waiting (werkzeug's own is 128)


def _listen(app, host: str, port: int, key: str, path: Path):
    """A server for ``app`` on a socket bound here: werkzeug binding it itself prints its
    own lines and exits on "address in use"; this says one line, with the fix."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(LISTEN_BACKLOG)
        except OSError as err:
            raise ServerError(
                f"cannot listen on {host}:{port} ({err.strerror or err}); change {key} in {path}"
            ) from None
        return make_server(host, port, app, threaded=True, fd=sock.fileno())  # dups it


def run(instance: Instance) -> None:
    """Serve in the foreground until SIGTERM or Ctrl-C: the core API on oned.conf's
    LISTEN_ADDRESS:PORT, OneFlow on oneflow-server.conf's :host:/:port:, and the loops."""
    config = instance.config()
    flow = instance.flow_config()
    pid = read_pid(instance)
    if pid is not None and pid != os.getpid():
        raise ServerError(f"a server of {instance.home} is already running (pid {pid})")
    app = create_app(instance)
    db = app.extensions["onekit.db"]
    guard = app.extensions["onekit.login_guard"]  # one set of login bounds per process
    flow_app = create_app(instance, db, "oneflow", guard)
    gate = instance.gate_config()
    gate_app = create_app(instance, db, "onegate", guard)
    listening = [_listen(app, config.listen_address, config.port, "PORT", instance.config_path)]
    try:
        for extra_app, conf, path in (
            (flow_app, flow, instance.flow_config_path),
            (gate_app, gate, instance.gate_config_path),
        ):
            listening.append(_listen(extra_app, conf.host, conf.port, ":port:", path))
    except ServerError:
        for opened in listening:
            opened.server_close()
        raise
    server, extra_servers = listening[0], listening[1:]
    instance.pid_path().write_text(f"{os.getpid()}\n")
    loops = Loops(instance, db)
    for each in (app, flow_app, gate_app):
        each.extensions["onekit.loops"] = loops
    loops.start()
    threads = [
        threading.Thread(target=extra.serve_forever, name=name)
        for extra, name in zip(extra_servers, ("oneflow-api", "onegate-api"), strict=True)
    ]
    for thread in threads:
        thread.start()

    def _stop(signum, _frame):
        log.info("signal %s: stopping", signal.Signals(signum).name)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    log.info(
        "onekit-server listening on http://%s:%s, OneFlow on %s, OneGate on %s (store: %s)",
        config.listen_address,
        config.port,
        flow.url,
        gate.url,
        db.description,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for extra, thread in zip(extra_servers, threads, strict=True):
            extra.shutdown()
            thread.join(10)
        loops.stop()
        with contextlib.suppress(OSError):
            if read_pid(instance) == os.getpid():
                instance.pid_path().unlink()
        log.info("onekit-server stopped")


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


def start(instance: Instance, timeout: float = 20.0) -> int:
    """Start a detached server; returns its pid once /health answers."""
    pid = read_pid(instance)
    if pid is not None:
        raise ServerError(f"a server of {instance.home} is already running (pid {pid})")
    url = health_url(instance)  # reads the config: fails early on a broken one
    log_path = instance.log_path()
    with open(log_path, "ab") as log_file:
        child = subprocess.Popen(
            [sys.executable, "-m", "onekit.cli.server", "run"],
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
        if read_pid(instance) == child.pid and _healthy(url):
            return child.pid
        time.sleep(0.1)
    child.terminate()
    raise ServerError(
        f"the server did not answer {url} within {timeout:.0f} s ({_log_tail(log_path)})"
    )


def stop(instance: Instance, timeout: float = 20.0) -> int:
    """SIGTERM the server (SIGKILL after ``timeout``); returns the pid it stopped."""
    pid = read_pid(instance)
    if pid is None:
        raise ServerError(f"no server of {instance.home} is running")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and read_pid(instance) == pid:
        time.sleep(0.05)
    if read_pid(instance) == pid:
        os.kill(pid, signal.SIGKILL)
        instance.pid_path().unlink(missing_ok=True)
    return pid

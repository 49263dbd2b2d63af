"""Which WSGI server serves onekit's APIs: werkzeug (today's) against waitress, cheroot and
gunicorn (gthread), on the real core app, under a login flood.

Each candidate serves the core API app of one initialised instance (SQLite, in a temp
directory) in a process of its own, sized as oned.conf's defaults say: MAX_CONN = 240
worker threads / simultaneous connections, MAX_CONN_BACKLOG = 480 pending connections
(werkzeug has no pool: one thread per connection, as onekit-server ran until now). Then,
for DURATION seconds, 200 concurrent clients, each opening a new connection per request:

* VALID clients (from 127.0.0.1) call ``POST /api/users.show`` for themselves as a valid
  user (oneadmin and a few others, their logins cached after the first);
* INVALID clients (from 127.0.0.2-9) send wrong passwords, for oneadmin and made-up
  users: after 10 failures an address is throttled (429, held ``tarpit`` = 1 s by
  ``core.login_guard``), so each holds a worker thread about a second per request.

Printed for each: valid req/s, p50/p99 latency of valid requests, the server's peak RSS
and thread count (all its processes), what the flood got, and the ratios to werkzeug.
The last line checks issue 14's goal on the chosen server (onekit-server's own serving
code, ``onekit.server.http_server``): p99 of valid requests under 1 s.

Run: .venv/bin/python bench/http_server.py   (about 2 minutes; others' load skews the
absolute figures, not much the ratios). waitress and gunicorn are not onekit's
dependencies: ``.venv/bin/pip install waitress gunicorn`` first, or their rows are skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib.util
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.ports import free_port

from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import GateConfig
from ansible_collections.onekit.cloud.plugins.module_utils.objects import users

MAX_CONN, MAX_CONN_BACKLOG = 240, 480  # the guide's values, oned.conf's defaults
VALID, INVALID = 40, 160  # 200 concurrent clients
VALID_USERS = 8
DURATION = 10.0  # seconds of load per candidate
GOAL_P99 = 1.0  # seconds: issue 14's "p99 of valid requests under a second"
CHOSEN = "onekit (cheroot)"  # onekit.server.http_server, as onekit-server runs it
BASELINE = "werkzeug"  # as onekit-server ran until now
CANDIDATES = (BASELINE, "werkzeug+malloc", "waitress", "cheroot", "gunicorn-gthread", CHOSEN)


# ---------------------------------------------------------------- the servers (child)


def _bound(port: int, backlog: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(backlog)
    return sock


def _stop_on_sigterm(stop) -> None:
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=stop, daemon=True).start())


def serve(name: str, home: Path, port: int) -> None:
    """Serve the core app of ``home`` on ``port`` with candidate ``name`` until SIGTERM."""
    logging.basicConfig(level=logging.INFO)  # as onekit-server run does
    from onekit.server import http_server
    from onekit.server.app import create_app

    if name != BASELINE:  # every candidate gets onekit-server's malloc setting
        http_server.bound_malloc()
    instance = Instance(home)
    if name == "gunicorn-gthread":  # gunicorn forks: the app is made in its worker
        _gunicorn(instance, port)
        return
    app = create_app(instance)
    if name.startswith("werkzeug"):
        from werkzeug.serving import make_server

        sock = _bound(port, 1024)  # onekit-server's LISTEN_BACKLOG until now
        server = make_server("127.0.0.1", port, app, threaded=True, fd=sock.fileno())
        _stop_on_sigterm(server.shutdown)
        server.serve_forever()
    elif name == "waitress":
        import waitress

        sock = _bound(port, MAX_CONN_BACKLOG)
        server = waitress.create_server(
            app,
            sockets=[sock],
            threads=MAX_CONN,
            connection_limit=MAX_CONN,
            backlog=MAX_CONN_BACKLOG,
            # waitress reads a whole body before the app sees it: bound it by the app's
            max_request_body_size=app.config["MAX_CONTENT_LENGTH"] + 1,
        )
        _stop_on_sigterm(server.close)
        with contextlib.suppress(OSError, ValueError):
            server.run()
    elif name == "cheroot":
        from cheroot.wsgi import Server

        server = Server(
            ("127.0.0.1", port),
            app,
            numthreads=MAX_CONN,
            max=MAX_CONN,
            request_queue_size=MAX_CONN_BACKLOG,
        )
        _stop_on_sigterm(server.stop)
        server.safe_start()
    elif name == CHOSEN:
        sock = http_server.listen("127.0.0.1", port, MAX_CONN_BACKLOG, "PORT", home)
        server = http_server.HttpServer(app, sock, MAX_CONN, MAX_CONN_BACKLOG)
        _stop_on_sigterm(server.stop)
        server.serve()
    else:
        raise SystemExit(f"unknown candidate {name}")


def _gunicorn(instance: Instance, port: int) -> None:
    from gunicorn.app.base import BaseApplication

    class App(BaseApplication):
        def load_config(self) -> None:
            settings = {
                "bind": f"127.0.0.1:{port}",
                "worker_class": "gthread",
                "workers": 1,
                "threads": MAX_CONN,
                "worker_connections": MAX_CONN,
                "backlog": MAX_CONN_BACKLOG,
                "keepalive": 0,
            }
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self):
            from onekit.server.app import create_app

            return create_app(instance)

    App().run()


# ---------------------------------------------------------------- the load (parent)


async def _request(
    port: int, source: str, user: str, password: str, uid: int = 0
) -> tuple[int, float]:
    """One ``POST /api/users.show`` of user ``uid`` on a new connection: (status,
    seconds); status 0 when the connection failed."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    body = json.dumps({"args": [uid]}).encode()
    head = (
        f"POST /api/users.show HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Basic {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), 60
        )
        try:
            writer.write(head + body)
            status_line = await asyncio.wait_for(reader.readline(), 60)
            await asyncio.wait_for(reader.read(), 60)  # to the end: Connection: close
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        status = int(status_line.split()[1])
    except (TimeoutError, OSError, IndexError, ValueError):
        status = 0
    return status, time.perf_counter() - started


async def _load(port: int, valid_users: list[tuple[str, str, int]], seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    valid_status: Counter = Counter()
    flood_status: Counter = Counter()

    async def valid(n: int) -> None:
        k = n
        while time.monotonic() < deadline:
            status, took = await _request(port, "127.0.0.1", *valid_users[k % len(valid_users)])
            valid_status[status] += 1
            if status == 200:
                latencies.append(took)
            k += 1

    async def invalid(n: int) -> None:
        k = 0
        while time.monotonic() < deadline:
            user = "oneadmin" if k % 2 else f"guess{n}-{k}"
            status, _ = await _request(port, f"127.0.0.{2 + n % 8}", user, f"wrong-{n}-{k}")
            flood_status[status] += 1
            k += 1

    started = time.monotonic()
    await asyncio.gather(*(valid(n) for n in range(VALID)), *(invalid(n) for n in range(INVALID)))
    elapsed = time.monotonic() - started
    return {
        "latencies": sorted(latencies),
        "elapsed": elapsed,
        "valid": valid_status,
        "flood": flood_status,
    }


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (gunicorn's workers)."""
    found = [pid]
    for each in found:
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{each}/task").iterdir():
                children = (task / "children").read_text().split()
                found.extend(int(c) for c in children)
    return found


def _status(pid: int, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    """The server's peak threads (all its processes), sampled every 50 ms."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.threads = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.threads = max(self.threads, sum(_status(p, "Threads") for p in _tree(self.pid)))

    def peak_rss_mib(self) -> float:
        return sum(_status(p, "VmHWM") for p in _tree(self.pid)) / 1024


def _wait_healthy(port: int, child: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"the server exited at start ({child.returncode})")
        url = f"http://127.0.0.1:{port}/health"
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as answer:
            if json.load(answer)["status"] == "ok":
                return
        time.sleep(0.1)
    raise SystemExit(f"the server did not answer on {port} within {timeout} s")


def measure(name: str, home: Path, valid_users: list[tuple[str, str, int]]) -> dict[str, Any]:
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", name, str(home), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ONEKIT_HOME": str(home)},
    )
    try:
        _wait_healthy(port, child)
        for user in valid_users:  # their logins cached, as a working client's are
            asyncio.run(_request(port, "127.0.0.1", *user))
        sampler = Sampler(child.pid)
        sampler.start()
        result = asyncio.run(_load(port, valid_users, DURATION))
        sampler.done.set()
        sampler.join()
        result["threads"] = sampler.threads
        result["rss"] = sampler.peak_rss_mib()
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    lat = result["latencies"]
    result["rps"] = len(lat) / result["elapsed"]
    result["p50"] = lat[len(lat) // 2] if lat else float("nan")
    result["p99"] = lat[int(0.99 * (len(lat) - 1))] if lat else float("nan")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", nargs=3, metavar=("NAME", "HOME", "PORT"))
    parser.add_argument("--only", nargs="*", choices=CANDIDATES, default=list(CANDIDATES))
    args = parser.parse_args()
    if args.serve:
        name, home, port = args.serve
        serve(name, Path(home), int(port))
        return
    if BASELINE not in args.only:
        args.only.insert(0, BASELINE)
    for name, module in (("waitress", "waitress"), ("gunicorn-gthread", "gunicorn")):
        if name in args.only and importlib.util.find_spec(module) is None:
            print(f"skipping {name}: .venv/bin/pip install {module}", file=sys.stderr)
            args.only.remove(name)  # the baseline of every ratio
    top = Path(tempfile.mkdtemp(prefix="onekit-bench-http-"))
    try:
        home = top / "onekit"
        instance = Instance(home)
        instance.init(
            InstanceConfig(port=free_port()),
            flow=FlowConfig(port=free_port()),
            onegate=GateConfig(port=free_port()),
        )
        valid_users = [(*instance.credentials(), 0)]
        session = instance.session()
        for i in range(VALID_USERS - 1):
            made = users.create(session, f"user{i}", f"user{i}-pw")
            valid_users.append((f"user{i}", f"user{i}-pw", made["ID"]))
        session.db.close()
        results = {}
        for name in args.only:
            print(f"measuring {name}...", file=sys.stderr, flush=True)
            results[name] = measure(name, home, valid_users)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    report(results)


def report(results: dict[str, dict[str, Any]]) -> None:
    base = results[BASELINE]
    print(
        f"{VALID + INVALID} concurrent clients for {DURATION:.0f} s each: {VALID} valid "
        f"(POST /api/users.show, cached logins), {INVALID} sending wrong passwords; "
        f"MAX_CONN={MAX_CONN}, MAX_CONN_BACKLOG={MAX_CONN_BACKLOG}"
    )
    print(
        "every server but the baseline (werkzeug, as onekit-server ran until now) with "
        "onekit-server's malloc setting (http_server.bound_malloc); ratios: req/s higher "
        "is better, p99 and RSS lower; RSS and threads summed over the server's processes"
    )
    print(
        f"{'server':18s} {'valid req/s':>11s} {'p50 ms':>8s} {'p99 ms':>8s} "
        f"{'peak RSS':>9s} {'threads':>7s}   ratio to werkzeug (req/s, p99, RSS)   flood got"
    )
    for name, r in results.items():
        ratios = (
            f"{r['rps'] / base['rps']:5.2f}x {r['p99'] / base['p99']:5.2f}x "
            f"{r['rss'] / base['rss']:5.2f}x"
        )
        failed = {k: v for k, v in r["valid"].items() if k != 200}
        print(
            f"{name:18s} {r['rps']:11.0f} {r['p50'] * 1000:8.1f} {r['p99'] * 1000:8.1f} "
            f"{r['rss']:6.0f} MiB {r['threads']:7d}   {ratios:34s}   "
            f"{dict(sorted(r['flood'].items()))}" + (f"  valid not 200: {failed}" if failed else "")
        )
    if CHOSEN in results:
        p99 = results[CHOSEN]["p99"]
        verdict = "met" if p99 < GOAL_P99 else "NOT met"
        print(
            f"goal (issue 14): p99 of valid requests < {GOAL_P99 * 1000:.0f} ms under "
            f"{VALID + INVALID} clients: {CHOSEN} {p99 * 1000:.0f} ms: {verdict}"
        )


if __name__ == "__main__":
    main()

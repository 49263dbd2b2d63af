"""OneGate under load: 20 concurrent guests x 200 PUTs each against the real onekit-server,
on SQLite and on MariaDB, next to a bare Flask endpoint doing the equivalent write (one
transaction: read the VM row locked, merge one attribute, write it back) on the same store,
measured in the same run. Prints requests/s, p50/p99 latency, the ratio onekit/bare and the
goal (issue 14: >= 0.7x on MariaDB).

The baseline is what a well-built endpoint does: it reuses its connections (a small pool of
bare sqlite3 / pymysql connections) and runs in a process of its own, served the way
onekit-server serves its apps (``serve_like_onekit_server``). Both runs are checked: a
request that failed, or a VM whose attributes are not the last ones PUT, stops the bench.

Run: .venv/bin/python bench/onegate.py   (about a minute; MariaDB from Debian's package)
"""

from __future__ import annotations

import json
import math
import multiprocessing
import queue
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import pymysql
from flask import Flask, request
from support.mariadb import PASSWORD, USER, MariaDB
from support.ports import free_port

from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import (
    Instance,
    mysql_config,
)
from ansible_collections.onekit.cloud.plugins.module_utils.gate import tokens as gate
from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import GateConfig
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates, vms
from onekit.server.http_server import HttpServer, listen

GUESTS, PUTS = 20, 200
GOAL = 0.7  # onekit/bare throughput on MariaDB (issue 14)
VENV_BIN = Path(sys.executable).parent


class BenchFailed(SystemExit):
    """The bench measured something other than what it claims: say so and stop."""

    def __init__(self, message: str):
        super().__init__(f"bench/onegate.py: {message}")


# ---- the load ------------------------------------------------------------------------------
def load(
    what: str, url_of: Callable[[int], str], token_of: Callable[[int], str], offset: int
) -> tuple[float, float, float]:
    """GUESTS threads, each PUTting METRIC_<k % 5> = offset + k to its own VM; (requests/s,
    p50 ms, p99 ms). Any request that does not answer 200 fails the bench."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def guest(n: int) -> None:
        mine = []
        for k in range(PUTS):
            req = urllib.request.Request(
                url_of(n),
                data=f"METRIC_{k % 5} = {offset + k}".encode(),
                method="PUT",
                headers={"X-ONEGATE-TOKEN": token_of(n)},
            )
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(req, timeout=30) as answer:
                    answer.read()
            except (urllib.error.URLError, OSError) as err:
                body = err.read().decode(errors="replace")[:300] if hasattr(err, "read") else ""
                with lock:
                    failures.append(f"{err} {body}".strip())
                continue
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=guest, args=(n,)) for n in range(GUESTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - started
    if failures:
        raise BenchFailed(
            f"{what}: {len(failures)} of {GUESTS * PUTS} requests failed; first: {failures[0]}"
        )
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    return len(latencies) / took, statistics.median(latencies) * 1000, p99 * 1000


def check_written(what: str, instance: Instance, ids: list[int], offset: int) -> None:
    """Every VM holds the last value of each metric the run PUT (read through onekit)."""
    admin = instance.session()
    try:
        for vm_id in ids:
            got = vms.show(admin, vm_id)["USER_TEMPLATE"]
            want = {f"METRIC_{k % 5}": str(offset + k) for k in range(PUTS - 5, PUTS)}
            wrong = {name: got.get(name) for name, value in want.items() if got.get(name) != value}
            if wrong:
                raise BenchFailed(f"{what}: VM {vm_id} holds {wrong}, the last PUTs were {want}")
    finally:
        admin.db.close()


# ---- the baseline: a bare endpoint, in a process of its own ----------------------------------
def serve_like_onekit_server(app: Flask, port: int) -> Any:
    """A server for ``app`` built as onekit-server builds its apps' servers
    (``onekit.server.process``): cheroot through ``onekit.server.http_server``, with
    oned.conf's default MAX_CONN/MAX_CONN_BACKLOG."""
    defaults = InstanceConfig()
    sock = listen("127.0.0.1", port, defaults.max_conn_backlog, "PORT", Path("bench"))
    return HttpServer(app, sock, defaults.max_conn, defaults.max_conn_backlog)


class BarePool:
    """What a well-built endpoint keeps: connections reused across requests (LIFO)."""

    def __init__(self, connect: Callable[[], Any], size: int = 25):
        self._connect = connect
        self._idle: queue.LifoQueue = queue.LifoQueue(size)

    def get(self) -> Any:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return self._connect()

    def put(self, conn: Any) -> None:
        try:
            self._idle.put_nowait(conn)
        except queue.Full:
            conn.close()


def bare_app(store: dict[str, Any]) -> Flask:
    """One PUT = one transaction on the store's own vm_pool row, nothing else."""
    app = Flask("bare")
    backend = store["backend"]
    if backend == "sqlite":

        def connect() -> Any:
            conn = sqlite3.connect(
                store["path"], timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA synchronous = NORMAL")  # as onekit (the file is in WAL mode)
            return conn

        begin, lock, mark = "BEGIN IMMEDIATE", "", "?"
    else:

        def connect() -> Any:
            return pymysql.connect(autocommit=True, **store["mysql"])

        begin, lock, mark = "START TRANSACTION", " FOR UPDATE", "%s"
    pool = BarePool(connect)

    @app.put("/vm/<int:vm_id>")
    def put(vm_id: int):
        name, _, value = request.get_data(as_text=True).partition("=")
        conn = pool.get()
        cur = conn.cursor()
        try:
            cur.execute(begin)
            cur.execute(f"SELECT body FROM vm_pool WHERE oid = {mark}{lock}", (vm_id,))
            body = json.loads(cur.fetchone()[0])
            body["USER_TEMPLATE"][name.strip()] = value.strip()
            cur.execute(
                f"UPDATE vm_pool SET body = {mark} WHERE oid = {mark}", (json.dumps(body), vm_id)
            )
            cur.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        pool.put(conn)
        return "{}"

    return app


def run_bare(store: dict[str, Any], port: int, ready: Any) -> None:
    """The baseline server's process: serves until terminated."""
    server = serve_like_onekit_server(bare_app(store), port)
    ready.set()
    server.serve()


def bare_server(store: dict[str, Any]) -> tuple[str, multiprocessing.Process]:
    port = free_port()
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    process = context.Process(target=run_bare, args=(store, port, ready), daemon=True)
    process.start()
    if not ready.wait(60):
        process.terminate()
        raise BenchFailed("the bare baseline server did not start within 60 s")
    return f"http://127.0.0.1:{port}", process


# ---- one backend -----------------------------------------------------------------------------
def run(backend: str, home: Path, mariadb: MariaDB | None) -> None:
    instance = Instance(home)
    base = InstanceConfig(port=free_port())
    config = (
        mysql_config("127.0.0.1", mariadb.port, USER, PASSWORD, "bench", base) if mariadb else base
    )
    instance.init(config, flow=FlowConfig(port=free_port()), onegate=GateConfig(port=free_port()))
    admin = instance.session()
    tpl = templates.create(admin, 'NAME = "g"\nCPU = 0.1\nMEMORY = 32\nCONTEXT = [ TOKEN = "YES" ]')
    guests = templates.instantiate(admin, tpl["ID"], GUESTS, hold=True)
    admin.db.close()
    secret = instance.gate_secret()
    tokens = [gate.token(secret, vm) for vm in guests]
    ids = [vm["ID"] for vm in guests]
    env = {"ONEKIT_HOME": str(home), "PATH": f"{VENV_BIN}:/usr/bin:/bin"}
    subprocess.run([str(VENV_BIN / "onekit-server"), "start"], env=env, check=True)
    try:
        url = instance.gate_config().url
        ours = load("onekit", lambda n: f"{url}/vm/{ids[n]}", lambda n: tokens[n], 0)
    finally:
        subprocess.run([str(VENV_BIN / "onekit-server"), "stop"], env=env, check=True)
    check_written("onekit", instance, ids, 0)

    store: dict[str, Any] = {"backend": backend, "path": str(instance.sqlite_path)}
    if mariadb:
        store["mysql"] = {
            "host": "127.0.0.1",
            "port": mariadb.port,
            "user": USER,
            "password": PASSWORD,
            "database": "bench",
        }
    bare_url, process = bare_server(store)
    try:
        bare = load("bare baseline", lambda n: f"{bare_url}/vm/{ids[n]}", lambda n: "", 1000)
    finally:
        process.terminate()
        process.join()
    check_written("bare baseline", instance, ids, 1000)

    ratio = ours[0] / bare[0]
    verdict = "met" if ratio >= GOAL else "NOT met"
    shown = math.floor(ratio * 100) / 100  # never rounded up to the goal
    print(
        f"{backend:7} onekit: {ours[0]:6.0f} req/s  p50 {ours[1]:6.1f} ms  p99 {ours[2]:6.1f} ms"
        f" | bare: {bare[0]:6.0f} req/s  p50 {bare[1]:6.1f} ms  p99 {bare[2]:6.1f} ms"
        f" | onekit/bare {shown:.2f}x (goal >= {GOAL}x: {verdict})"
    )


def main() -> None:
    print(
        f"{GUESTS} guests x {PUTS} PUTs each. bare: the same transaction with the bare driver,"
        " its connections pooled, in its own process, served as onekit-server serves"
        " (serve_like_onekit_server). The goal is issue 14's, for MariaDB."
    )
    with tempfile.TemporaryDirectory(prefix="okgate-") as tmp:
        run("sqlite", Path(tmp) / "sqlite", None)
        mariadb = MariaDB(Path(tmp) / "mariadb").start()
        try:
            mariadb.execute("CREATE DATABASE bench")
            run("mysql", Path(tmp) / "mysql", mariadb)
        finally:
            mariadb.stop()


if __name__ == "__main__":
    main()

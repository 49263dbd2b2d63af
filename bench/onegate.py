"""OneGate under load: 20 concurrent guests x 200 PUTs each, against the real server, on
SQLite and on MariaDB, next to a bare Flask endpoint that does the equivalent write (one
transaction: read the VM row locked, merge one attribute, write it back) on the same
store, measured in the same run. Prints requests/s, p50/p99 latency and the ratio.

Run: .venv/bin/python bench/onegate.py   (about a minute; MariaDB from Debian's package)
"""

from __future__ import annotations

import json
import logging
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import pymysql
from flask import Flask, request
from support.mariadb import PASSWORD, USER, MariaDB
from support.ports import free_port
from werkzeug.serving import make_server

from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import (
    FlowConfig,
)
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import (
    InstanceConfig,
)
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import (
    Instance,
    mysql_config,
)
from ansible_collections.onekit.cloud.plugins.module_utils.gate import tokens as gate
from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import (
    GateConfig,
)
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates

GUESTS, PUTS = 20, 200
VENV_BIN = Path(sys.executable).parent


def load(url_of, token_of) -> tuple[float, float, float]:
    """GUESTS threads, each PUTting to its own VM; (requests/s, p50 ms, p99 ms)."""
    latencies: list[float] = []
    lock = threading.Lock()

    def guest(n: int) -> None:
        mine = []
        for k in range(PUTS):
            req = urllib.request.Request(
                url_of(n),
                data=f"METRIC_{k % 5} = {k}".encode(),
                method="PUT",
                headers={"X-ONEGATE-TOKEN": token_of(n)},
            )
            started = time.perf_counter()
            with urllib.request.urlopen(req, timeout=30) as answer:
                answer.read()
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
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    return len(latencies) / took, statistics.median(latencies) * 1000, p99 * 1000


def bare_app(connect, backend: str) -> Flask:
    """One PUT = one transaction on the store's own vm_pool row, nothing else."""
    app = Flask("bare")
    local = threading.local()

    @app.put("/vm/<int:vm_id>")
    def put(vm_id: int):
        if not hasattr(local, "conn"):
            local.conn = connect()
        conn = local.conn
        name, _, value = request.get_data(as_text=True).partition("=")
        cur = conn.cursor()
        if backend == "sqlite":
            cur.execute("BEGIN IMMEDIATE")
            cur.execute("SELECT body FROM vm_pool WHERE oid = ?", (vm_id,))
        else:
            cur.execute("SELECT body FROM vm_pool WHERE oid = %s FOR UPDATE", (vm_id,))
        body = json.loads(cur.fetchone()[0])
        body["USER_TEMPLATE"][name.strip()] = value.strip()
        mark = "?" if backend == "sqlite" else "%s"
        cur.execute(
            f"UPDATE vm_pool SET body = {mark} WHERE oid = {mark}", (json.dumps(body), vm_id)
        )
        conn.commit()
        return "{}"

    return app


def serve(app: Flask) -> tuple[str, object]:
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{port}", server


def run(backend: str, home: Path, mariadb: MariaDB | None) -> None:
    instance = Instance(home)
    base = InstanceConfig(port=free_port())
    config = (
        mysql_config("127.0.0.1", mariadb.port, USER, PASSWORD, "bench", base) if mariadb else base
    )
    instance.init(config, flow=FlowConfig(port=free_port()), onegate=GateConfig(port=free_port()))
    admin = instance.session()
    tpl = templates.create(admin, 'NAME = "g"\nCPU = 0.1\nMEMORY = 32\nCONTEXT = [ TOKEN = "YES" ]')
    vms = templates.instantiate(admin, tpl["ID"], GUESTS, hold=True)
    secret = instance.gate_secret()
    tokens = [gate.token(secret, vm) for vm in vms]
    ids = [vm["ID"] for vm in vms]
    env = {"ONEKIT_HOME": str(home), "PATH": f"{VENV_BIN}:/usr/bin:/bin"}
    subprocess.run([str(VENV_BIN / "onekit-server"), "start"], env=env, check=True)
    try:
        url = instance.gate_config().url
        ours = load(lambda n: f"{url}/vm/{ids[n]}", lambda n: tokens[n])
    finally:
        subprocess.run([str(VENV_BIN / "onekit-server"), "stop"], env=env, check=True)
    if mariadb:

        def connect():
            return pymysql.connect(
                host="127.0.0.1",
                port=mariadb.port,
                user=USER,
                password=PASSWORD,
                database="bench",
                autocommit=False,
            )
    else:

        def connect():
            conn = sqlite3.connect(
                instance.sqlite_path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            return conn

    bare_url, server = serve(bare_app(connect, backend))
    try:
        bare = load(lambda n: f"{bare_url}/vm/{ids[n]}", lambda n: "")
    finally:
        server.shutdown()
    print(
        f"{backend:7} onekit: {ours[0]:7.0f} req/s  p50 {ours[1]:6.1f} ms  p99 {ours[2]:6.1f} ms"
        f" | bare: {bare[0]:7.0f} req/s  p50 {bare[1]:6.1f} ms  p99 {bare[2]:6.1f} ms"
        f" | onekit/bare throughput {ours[0] / bare[0]:.2f}"
    )


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    print(f"{GUESTS} guests x {PUTS} PUTs each, one new connection per request")
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

"""How much the onekit store layer costs, and how it scales with concurrent writers.

Prints, for SQLite and for a MariaDB server it starts itself:
  * single-writer update transactions per second, through onekit (pool.get with lock,
    pool.update) against the same SQL run with the bare driver (sqlite3 / pymysql): the
    ratio is the layer's overhead;
  * four processes doing the same: total rate and its ratio to one writer, plus a check
    that no update was lost;
  * one login (scrypt verification) against one plain read, the cost of per-request auth.

Run: .venv/bin/python bench/store.py   (about 30 s)
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.mariadb import PASSWORD, USER, MariaDB

from ansible_collections.onekit.cloud.plugins.module_utils.core import auth, pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Database
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import bootstrap

ROUNDS = 400


def onekit_updates(kind: str, args: dict, rounds: int) -> float:
    db = Database.sqlite(**args) if kind == "sqlite" else Database.mysql(**args)
    start = time.perf_counter()
    for _ in range(rounds):
        with db.transaction() as tx:
            body = pool.get(tx, schema.USERS, 0, lock=True)
            body["TEMPLATE"]["N"] = str(int(body["TEMPLATE"].get("N", "0")) + 1)
            pool.update(tx, schema.USERS, body)
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def raw_updates(kind: str, args: dict, rounds: int) -> float:
    """The same statements with the bare driver: BEGIN, SELECT (FOR UPDATE), UPDATE, COMMIT."""
    if kind == "sqlite":
        conn = sqlite3.connect(args["path"], isolation_level=None, timeout=30)
        conn.execute("PRAGMA synchronous = NORMAL")  # as onekit (the file is in WAL mode)
        begin, lock, mark = "BEGIN IMMEDIATE", "", "?"
    else:
        import pymysql

        conn = pymysql.connect(autocommit=True, **args)
        begin, lock, mark = "START TRANSACTION", " FOR UPDATE", "%s"
    cur = conn.cursor()
    start = time.perf_counter()
    for _ in range(rounds):
        cur.execute(begin)
        cur.execute(f"SELECT body FROM user_pool WHERE oid = {mark}{lock}", (0,))
        body = json.loads(cur.fetchone()[0])
        body["TEMPLATE"]["N"] = str(int(body["TEMPLATE"].get("N", "0")) + 1)
        cur.execute(f"UPDATE user_pool SET body = {mark} WHERE oid = {mark}", (json.dumps(body), 0))
        cur.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def _worker(job: tuple[str, dict, int, float]) -> tuple[float, float]:
    """Wait for the common start time (so process start-up is not measured), then run."""
    kind, args, rounds, start_at = job
    time.sleep(max(0.0, start_at - time.time()))
    begin = time.time()
    onekit_updates(kind, args, rounds)
    return begin, time.time()


def counter(kind: str, args: dict) -> int:
    db = Database.sqlite(**args) if kind == "sqlite" else Database.mysql(**args)
    with db.snapshot() as tx:
        return int(pool.get(tx, schema.USERS, 0)["TEMPLATE"].get("N", "0"))


def measure(kind: str, args: dict) -> None:
    raw = raw_updates(kind, args, ROUNDS)
    ours = onekit_updates(kind, args, ROUNDS)
    before = counter(kind, args)
    start_at = time.time() + 3.0
    with multiprocessing.get_context("spawn").Pool(4) as workers:
        spans = workers.map(_worker, [(kind, args, ROUNDS, start_at)] * 4)
    parallel = max(end for _, end in spans) - min(begin for begin, _ in spans)
    lost = before + 4 * ROUNDS - counter(kind, args)
    print(
        f"{kind:7} 1 writer : bare driver {ROUNDS / raw:8.0f} tx/s | onekit "
        f"{ROUNDS / ours:8.0f} tx/s | onekit/bare time ratio {ours / raw:5.2f}"
    )
    print(
        f"{kind:7} 4 writers: onekit {4 * ROUNDS / parallel:8.0f} tx/s total "
        f"(x{(4 * ROUNDS / parallel) / (ROUNDS / ours):.2f} of one writer), "
        f"lost updates: {lost}"
    )


def login_cost(args: dict) -> None:
    db = Database.sqlite(**args)
    start = time.perf_counter()
    for _ in range(50):
        with db.snapshot() as tx:
            pool.get(tx, schema.USERS, 0)
    read = (time.perf_counter() - start) / 50
    password = "bench-password"
    with db.transaction() as tx:
        body = pool.get(tx, schema.USERS, 0, lock=True)
        body["PASSWORD"] = auth.hash_password(password)
        pool.update(tx, schema.USERS, body)
    start = time.perf_counter()
    for _ in range(10):
        auth.login(db, "oneadmin", password)
    login = (time.perf_counter() - start) / 10
    print(
        f"login (scrypt n=2^14) {login * 1000:6.1f} ms vs one read {read * 1000:6.3f} ms: "
        f"x{login / read:.0f}"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        sqlite_db = Database.sqlite(path, create=True)
        bootstrap(sqlite_db, "x")
        sqlite_db.close()
        measure("sqlite", {"path": str(path)})
        login_cost({"path": str(path)})

        server = MariaDB(Path(tmp) / "mariadb").start()
        try:
            args = {
                "host": "127.0.0.1",
                "port": server.port,
                "user": USER,
                "password": PASSWORD,
                "database": "bench",
            }
            bootstrap(Database.mysql(**args), "x")
            measure("mysql", args)
        finally:
            server.stop()


if __name__ == "__main__":
    main()

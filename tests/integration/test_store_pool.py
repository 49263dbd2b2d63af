"""The store's connection pool (core.connections), seen from a real MariaDB server: threads
reuse a bounded set of connections, never share one within a transaction, and a connection
the server dropped (KILL, a restart) is replaced without failing the caller; a forked child
opens its own. On SQLite, threads of one process writing at once still lose no update."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Cli
from support.mariadb import PASSWORD, USER, MariaDB
from support.ports import free_port
from support.waiting import wait_until as wait_for

from ansible_collections.onekit.cloud.plugins.module_utils.core import connections, pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Database
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import StoreError
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import (
    Instance,
    bootstrap,
    mysql_config,
)
from ansible_collections.onekit.cloud.plugins.module_utils.gate import tokens
from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import GateConfig
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates, vms


@pytest.fixture
def store(mariadb: MariaDB) -> Iterator[tuple[Database, str]]:
    """A bootstrapped onekit store in a database of its own on the shared server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    mariadb.execute(f"CREATE DATABASE {name}")
    db = Database.mysql("127.0.0.1", mariadb.port, USER, PASSWORD, name)
    bootstrap(db, "pw")
    yield db, name
    db.close()
    mariadb.execute(f"DROP DATABASE IF EXISTS {name}")


def connected(mariadb: MariaDB, database: str) -> list[int]:
    """The ids of the server's connections to ``database`` (the observer's own has none)."""
    rows = mariadb.execute(
        f"SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{database}' ORDER BY ID"
    )
    return [r[0] for r in rows]


def settled(mariadb: MariaDB, database: str, at_most: int) -> list[int]:
    """The connections to ``database`` once the ones just closed have left the server's
    list (a QUIT is answered before its thread is gone)."""
    for _ in range(100):
        ids = connected(mariadb, database)
        if len(ids) <= at_most:
            return ids
        time.sleep(0.05)
    return ids


def increment(db: Database) -> int:
    """One read-modify-write of oneadmin's counter; returns the connection's server id."""
    with db.transaction() as tx:
        body = pool.get(tx, schema.USERS, 0, lock=True)
        body["TEMPLATE"]["COUNTER"] = str(int(body["TEMPLATE"].get("COUNTER", "0")) + 1)
        pool.update(tx, schema.USERS, body)
        return tx.row("SELECT CONNECTION_ID()")[0] if db.dialect == "mysql" else 0


def counter(db: Database) -> str:
    with db.snapshot() as tx:
        return pool.get(tx, schema.USERS, 0)["TEMPLATE"].get("COUNTER")


def one_thread_per_transaction(db: Database, total: int, at_once: int) -> list[int]:
    """``total`` increments, each in a new thread (as a threaded HTTP server serves each
    request), ``at_once`` threads alive at a time; the connection ids they used."""
    ids: list[int] = []
    errors: list[BaseException] = []
    slots = threading.Semaphore(at_once)

    def work() -> None:
        try:
            ids.append(increment(db))
        except BaseException as err:  # reported by the test
            errors.append(err)
        finally:
            slots.release()

    threads = []
    for _ in range(total):
        slots.acquire()
        threads.append(threading.Thread(target=work))
        threads[-1].start()
    for thread in threads:
        thread.join()
    assert errors == []
    return ids


def test_threads_of_one_request_each_reuse_a_bounded_set_of_connections(mariadb, store):
    db, name = store
    ids = one_thread_per_transaction(db, total=200, at_once=8)
    assert counter(db) == "200"  # and no update was lost
    assert len(set(ids)) <= 8  # 200 transactions in 200 threads: at most 8 connections
    assert 1 <= len(connected(mariadb, name)) <= 8  # the idle ones wait in the pool
    db.close()
    assert settled(mariadb, name, 0) == []


def test_transactions_at_once_never_share_a_connection_and_idle_ones_are_bounded(mariadb, store):
    db, name = store
    n = connections.MAX_IDLE + 5
    inside = threading.Barrier(n, timeout=60)
    ids: list[int] = []

    def read() -> None:
        with db.snapshot() as tx:
            ids.append(tx.row("SELECT CONNECTION_ID()")[0])
            inside.wait()  # every transaction is open at once

    threads = [threading.Thread(target=read) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == n and len(set(ids)) == n  # one connection per open transaction
    idle = settled(mariadb, name, connections.MAX_IDLE)
    assert len(idle) == connections.MAX_IDLE  # the pool keeps MAX_IDLE, closes the rest
    assert set(idle) <= set(ids)


def test_connections_killed_by_the_server_are_replaced(mariadb, store):
    db, name = store
    one_thread_per_transaction(db, total=12, at_once=4)  # a few idle connections
    killed = connected(mariadb, name)
    assert killed
    for conn_id in killed:
        mariadb.execute(f"KILL {conn_id}")
    ids = one_thread_per_transaction(db, total=12, at_once=4)  # no error
    assert counter(db) == "24"
    assert not set(ids) & set(killed)


def test_a_forked_child_opens_its_own_connection(store):
    db, _ = store
    parent = increment(db)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its connection's id, or what went wrong
        try:
            answer = str(increment(db))
        except BaseException as err:
            answer = f"{type(err).__name__}: {err}"
        os.write(write, answer.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    assert child.isdigit(), child
    assert int(child) != parent
    assert increment(db) == parent  # the parent's connection is still its own, and alive
    assert counter(db) == "3"


def test_concurrent_threads_never_lose_an_update(instance: Instance):
    db = instance.database()
    one_thread_per_transaction(db, total=120, at_once=6)
    assert counter(db) == "120"
    db.close()


def test_a_nested_transaction_is_refused_and_the_outer_one_commits(instance: Instance):
    db = instance.database()
    with db.transaction() as tx:
        body = pool.get(tx, schema.USERS, 0, lock=True)
        body["TEMPLATE"]["COUNTER"] = "1"
        pool.update(tx, schema.USERS, body)
        with pytest.raises(StoreError, match="already open in this thread"), db.snapshot():
            pass
    assert counter(db) == "1"
    db.close()


# ---- a MariaDB restart under a running server --------------------------------------------
GUESTS = 4


def put(url: str, token: str, text: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=text.encode(), method="PUT", headers={"X-ONEGATE-TOKEN": token}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_the_server_keeps_working_across_a_mariadb_restart(tmp_path: Path):
    server = MariaDB(tmp_path / "mariadb").start()  # its own: the test restarts it
    try:
        instance = Instance(tmp_path / "onekit")
        base = InstanceConfig(port=free_port(), monitoring_interval=1)
        instance.init(
            mysql_config("127.0.0.1", server.port, USER, PASSWORD, "restart", base),
            flow=FlowConfig(port=free_port()),
            onegate=GateConfig(port=free_port()),
        )
        admin = instance.session()
        tpl = templates.create(
            admin, 'NAME = "g"\nCPU = 0.1\nMEMORY = 32\nCONTEXT = [ TOKEN = "YES" ]'
        )
        guests = templates.instantiate(admin, tpl["ID"], GUESTS, hold=True)
        secret = instance.gate_secret()
        url = instance.gate_config().url
        cli = Cli(instance)
        cli("onekit-server", "start", check=True)
        try:
            wait_for(lambda: "running the loops" in log(instance), "the loops")
            _restart_under_load(
                server, instance, url, [(vm["ID"], tokens.token(secret, vm)) for vm in guests]
            )
        finally:
            cli("onekit-server", "stop")
        for vm in guests:
            assert vms.show(admin, vm["ID"])["USER_TEMPLATE"]["ROUND"] == "after"
        admin.db.close()
    finally:
        server.stop()


def _restart_under_load(
    server: MariaDB, instance: Instance, url: str, guests: list[tuple[int, str]]
) -> None:
    def round_of(text: str) -> list[tuple[int, dict]]:
        answers: list[tuple[int, dict]] = []
        threads = [
            threading.Thread(target=lambda g=g: answers.append(put(f"{url}/vm/{g[0]}", g[1], text)))
            for g in guests
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return answers

    assert {status for status, _ in round_of("ROUND = before")} == {200}  # the pool fills
    server.stop()
    status, answer = put(f"{url}/vm/{guests[0][0]}", guests[0][1], "ROUND = down")
    assert status == 503 and "cannot reach MySQL" in answer["error"]["message"]
    wait_for(lambda: "lost the leader lock" in log(instance), "the loops to notice")
    server.start()
    answers = round_of("ROUND = after")
    assert [a for a in answers if a[0] != 200] == []  # every idle connection was replaced
    # the loops lead again (the leader lock has a connection of its own)
    wait_for(lambda: log(instance).count("running the loops") == 2, "the loops to lead again")


def log(instance: Instance) -> str:
    return instance.log_path().read_text(errors="replace")

"""The state store on both backends: schema, versions, errors, concurrent writers."""

from __future__ import annotations

import json
import multiprocessing

import pytest
from conftest import store_snapshot

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Database
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    Conflict,
    StoreError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.objects import users


def test_init_creates_shared_and_local_tables(instance: Instance):
    tables = instance.database().existing_tables()
    assert set(schema.SHARED_TABLE_NAMES) <= tables
    assert set(schema.LOCAL_TABLE_NAMES) <= tables
    assert set(schema.SHARED_TABLE_NAMES) == {
        "user_pool",
        "group_pool",
        "zone_pool",
        "acl",
        "db_versioning",
    }


def test_bootstrap_objects(admin):
    assert [(u["ID"], u["NAME"], u["GID"]) for u in users.list_users(admin)] == [(0, "oneadmin", 0)]
    with admin.read() as w:
        groups = pool.all_bodies(w.tx, schema.GROUPS)
    assert [(g["ID"], g["NAME"], g["USERS"]) for g in groups] == [
        (0, "oneadmin", [0]),
        (1, "users", []),
    ]


def test_password_is_stored_hashed(instance: Instance, admin):
    users.create(admin, "alice", "s3cret-pw")
    with admin.read() as w:
        raw = w.tx.row("SELECT body FROM user_pool WHERE name = 'alice'")[0]
    assert "s3cret-pw" not in raw
    assert '"PASSWORD":"scrypt$' in raw


def test_schema_version_mismatch_is_refused(instance: Instance):
    db = instance.database()
    with db.transaction() as tx:
        tx.execute("UPDATE db_versioning SET version = '99' WHERE oid = 0")
    with pytest.raises(StoreError, match="shared schema version 99, this onekit needs version 1"):
        instance.open_store()
    with db.transaction() as tx:
        tx.execute("UPDATE db_versioning SET version = '1' WHERE oid = 0")
        tx.execute("UPDATE local_db_versioning SET version = '0' WHERE oid = 0")
    with pytest.raises(StoreError, match="local schema version 0"):
        instance.open_store()


def test_init_twice_is_refused_and_changes_nothing(instance: Instance):
    db = instance.database()
    before = store_snapshot(db)
    with pytest.raises(StoreError, match="already holds onekit tables"):
        db.create_schema()
    assert store_snapshot(db) == before


def test_unique_names_hold_in_the_store(admin):
    users.create(admin, "bob", "pw")
    with pytest.raises(Conflict, match="user named 'bob' already exists"):
        users.create(admin, "bob", "pw2")


def test_update_many_writes_each_object_its_own_body_and_columns(admin):
    """More objects than one statement may carry (SQLite's 999 parameters)."""
    made = [users.create(admin, f"u{i}", "pw") for i in range(70)]
    with admin.db.transaction() as tx:
        bodies = [pool.get(tx, schema.USERS, user["ID"]) for user in made]
        for i, body in enumerate(bodies):
            body["NAME"] = f"renamed-{i}"
            body["TEMPLATE"]["NOTE"] = "{{ 7*7 }}" if i % 2 else f"note '{i}'"
        pool.update_many(tx, schema.USERS, bodies[10:])
    with admin.db.transaction() as tx:
        stored = {row[0]: row[1:] for row in tx.rows("SELECT oid, name, body FROM user_pool")}
    for i, user in enumerate(made):
        name, text = stored[user["ID"]]
        if i < 10:  # not in the call: untouched
            assert name == f"u{i}" and "NOTE" not in text
        else:
            assert name == f"renamed-{i}" == json.loads(text)["NAME"]
            note = json.loads(text)["TEMPLATE"]["NOTE"]
            assert note == ("{{ 7*7 }}" if i % 2 else f"note '{i}'")


def test_failed_transaction_leaves_store_unchanged(admin):
    before = store_snapshot(admin.db)
    with pytest.raises(RuntimeError), admin.db.transaction() as tx:
        tx.execute("UPDATE user_pool SET name = 'renamed' WHERE oid = 0")
        raise RuntimeError("boom")
    assert store_snapshot(admin.db) == before


def test_dry_run_transaction_is_rolled_back(admin):
    before = store_snapshot(admin.db)
    changed, _, after = users.ensure(admin, "carol", password="pw", dry_run=True)
    assert changed and after["NAME"] == "carol"
    assert store_snapshot(admin.db) == before


def _increment(args: tuple[str, dict, int]) -> None:
    kind, connect, rounds = args
    db = Database.sqlite(**connect) if kind == "sqlite" else Database.mysql(**connect)
    for _ in range(rounds):
        with db.transaction() as tx:
            body = pool.get(tx, schema.USERS, 0, lock=True)
            body["TEMPLATE"]["COUNTER"] = str(int(body["TEMPLATE"].get("COUNTER", "0")) + 1)
            pool.update(tx, schema.USERS, body)
    db.close()


def _connect_args(instance: Instance) -> tuple[str, dict]:
    config = instance.config().db
    if config.backend == "sqlite":
        return "sqlite", {"path": str(instance.sqlite_path)}
    return "mysql", {
        "host": config.server,
        "port": config.port,
        "user": config.user,
        "password": config.passwd,
        "database": config.db_name,
    }


def test_concurrent_writers_never_lose_an_update(instance: Instance):
    """Four processes each increment one object's counter 50 times: 200 at the end."""
    kind, connect = _connect_args(instance)
    with multiprocessing.get_context("spawn").Pool(4) as workers:
        workers.map(_increment, [(kind, connect, 50)] * 4)
    with instance.database().snapshot() as tx:
        assert pool.get(tx, schema.USERS, 0)["TEMPLATE"]["COUNTER"] == "200"


def test_concurrent_creates_get_distinct_ids(instance: Instance):
    kind, connect = _connect_args(instance)
    with multiprocessing.get_context("spawn").Pool(4) as workers:
        workers.map(_allocate, [(kind, connect, i) for i in range(4)])
    with instance.database().snapshot() as tx:
        ids = [b["ID"] for b in pool.all_bodies(tx, schema.DOCUMENTS)]
    assert sorted(ids) == list(range(40))


def _allocate(args: tuple[str, dict, int]) -> None:
    kind, connect, worker = args
    db = Database.sqlite(**connect) if kind == "sqlite" else Database.mysql(**connect)
    for i in range(10):
        with db.transaction() as tx:
            pool.insert(
                tx, schema.DOCUMENTS, {"NAME": f"w{worker}-{i}", "UID": 0, "GID": 0, "TYPE": 100}
            )
    db.close()


def test_missing_sqlite_store_is_a_clear_error(tmp_path):
    db = Database.sqlite(tmp_path / "nothing.db")
    with pytest.raises(StoreError, match="onekit-server init"):
        db.check_schema()
    assert not (tmp_path / "nothing.db").exists()


def test_unreachable_mysql_is_a_clear_error():
    from support.ports import free_port

    db = Database.mysql("127.0.0.1", free_port(), "x", "y", "z", connect_timeout=2)
    with pytest.raises(StoreError, match=r"cannot reach MySQL x@127.0.0.1:\d+/z"):
        db.check_schema()


def test_mysql_wrong_password_is_a_clear_error(mariadb):
    db = Database.mysql("127.0.0.1", mariadb.port, "onekit", "wrong", "opennebula")
    with pytest.raises(StoreError, match="refused the credentials"):
        db.check_schema()


def test_mysql_connection_dropped_by_the_server_is_replaced(mariadb, tmp_path):
    from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import mysql_config

    instance = Instance(tmp_path / "i")
    instance.init(mysql_config("127.0.0.1", mariadb.port, "onekit", "onekit-test-pw", "t_dropped"))
    try:
        session = instance.session()
        users.create(session, "before", "pw")
        with session.db.snapshot() as tx:
            conn_id = tx.row("SELECT CONNECTION_ID()")[0]
        mariadb.execute(f"KILL {conn_id}")
        users.create(session, "after", "pw")  # a new connection, no error
        assert [u["NAME"] for u in users.list_users(session)] == ["oneadmin", "before", "after"]
        session.db.close()
    finally:
        mariadb.execute("DROP DATABASE IF EXISTS t_dropped")


def _ensure_users(args: tuple[str, int]) -> list[str]:
    """One process creating ten users through the module's path; returns its errors."""
    home, worker = args
    session = Instance.locate(home).session()
    errors = []
    for i in range(10):
        try:
            users.ensure(session, f"w{worker}-{i}", password="pw", groups=["users", "team"])
        except Exception as err:  # the test reports every failure
            errors.append(f"{type(err).__name__}: {err}")
    session.db.close()
    return errors


def test_concurrent_ensures_neither_deadlock_nor_lose_members(instance: Instance, admin):
    """Four processes create users in the same two groups at once (both groups' member
    lists are read-modify-written by every call)."""
    from ansible_collections.onekit.cloud.plugins.module_utils.objects import groups

    groups.create(admin, "team")
    with multiprocessing.get_context("spawn").Pool(4) as workers:
        errors = workers.map(_ensure_users, [(str(instance.home), w) for w in range(4)])
    assert errors == [[]] * 4
    team = groups.show(admin, "team")
    assert len(team["USERS"]) == 40
    assert len(groups.show(admin, "users")["USERS"]) == 40


def test_a_failing_init_leaves_no_tables_and_can_be_rerun(tmp_path, backend, request):
    """create_schema is all or nothing: tables made before the failure are dropped."""
    if backend == "sqlite":
        db = Database.sqlite(tmp_path / "s.db", create=True)
    else:
        server = request.getfixturevalue("mariadb")
        server.execute("CREATE DATABASE t_atomic")
        request.addfinalizer(lambda: server.execute("DROP DATABASE IF EXISTS t_atomic"))
        db = Database.mysql("127.0.0.1", server.port, "onekit", "onekit-test-pw", "t_atomic")

    def fail(tx):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        db.create_schema(fill=fail)
    assert not db.existing_tables() & set(schema.SHARED_TABLE_NAMES + schema.LOCAL_TABLE_NAMES)
    from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import bootstrap

    bootstrap(db, "pw")
    db.check_schema()


def test_an_interrupted_init_is_named_as_such(instance: Instance):
    db = instance.database()
    with db.transaction() as tx:
        tx.execute("DELETE FROM db_versioning")
    with pytest.raises(StoreError, match=r"no schema version \(an interrupted init\?\)"):
        db.create_schema()


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "one.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="file is not a database"):
        Database.sqlite(path).check_schema()


def test_work_after_commit_runs_only_when_the_transaction_commits(admin):
    ran: list[str] = []
    with admin.write() as w:
        w.after_commit.append(lambda: ran.append("committed"))
    with pytest.raises(RuntimeError), admin.write() as w:
        w.after_commit.append(lambda: ran.append("rolled back"))
        raise RuntimeError("the operation failed")
    with admin.write(dry_run=True) as w:
        w.after_commit.append(lambda: ran.append("check mode"))
    with admin.write() as w:  # a failing action is logged; the commit and the rest stand
        w.after_commit.append(lambda: 1 / 0)
        w.after_commit.append(lambda: ran.append("after a failure"))
    assert ran == ["committed", "after a failure"]

"""One thin DB-API layer over SQLite (the embedded default) and MySQL/MariaDB (pymysql).

Callers write SQL once, with ``?`` placeholders, and run it inside a transaction:

    with db.transaction() as tx:          # a write: serialised against other writers
        row = tx.row("SELECT body FROM user_pool WHERE oid = ?" + tx.for_update, (5,))
        tx.execute("UPDATE user_pool SET body = ? WHERE oid = ?", (body, 5))

Why no update is ever lost with several processes: on SQLite a write transaction starts
with ``BEGIN IMMEDIATE`` (the database write lock is taken before the first read); on MySQL
the read of a row that will be written is ``SELECT ... FOR UPDATE`` (``tx.for_update``).
Driver errors become the core's errors with a message that names the store.

Each transaction borrows a connection from the process's pool (``core.connections``) and
gives it back when it ends; the leader lock keeps a connection of its own.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.connections import (
    ConnectionPool,
    Lease,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import Conflict, StoreError

INIT_HINT = "run `onekit-server init` to create it"
UPGRADE_HINT = "run `onedb upgrade` (the server stopped) to upgrade it"


def _ping(conn: Any) -> None:
    """Raise if the MySQL server is no longer there for this connection."""
    conn.ping(reconnect=False)


class Tx:
    """A transaction: ``execute`` / ``rows`` / ``row`` with ``?`` placeholders.

    On MySQL every ``?`` becomes ``%s``: SQL text must hold no literal ``?`` or ``%``
    (values always go in as parameters)."""

    def __init__(self, db: Database, cursor: Any):
        self.db = db
        self._cursor = cursor
        self.for_update = " FOR UPDATE" if db.dialect == "mysql" else ""

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.db.dialect == "mysql" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self.db.translate_errors():
            self._cursor.execute(self._sql(sql), tuple(params))
            return self._cursor.rowcount

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self.db.translate_errors():
            self._cursor.execute(self._sql(sql), tuple(params))
            return list(self._cursor.fetchall())

    def row(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        rows = self.rows(sql, params)
        return rows[0] if rows else None


class LeaderLock:
    """A held leader lock; ``release()`` (or the process's end) gives it up. ``held()``
    checks it is still ours (a MySQL server drops idle connections, and their locks)."""

    def __init__(self, release: Callable[[], Any], check: Callable[[], bool] = lambda: True):
        self._release = release
        self._check = check

    def held(self) -> bool:
        if self._release is None:
            return False
        try:
            return self._check()
        except Exception:  # the connection is gone: so is the lock
            return False

    def release(self) -> None:
        if self._release is not None:
            self._release()
            self._release = None


class Database:
    """A store: SQLite file or MySQL database. Its connections are pooled per process
    (``core.connections``): a transaction borrows one and gives it back when it ends."""

    def __init__(self, dialect: str, description: str, connect_args: dict[str, Any]):
        self.dialect = dialect
        self.description = description
        self._connect_args = connect_args
        self._pool = ConnectionPool(self._connect, _ping if dialect == "mysql" else None)
        self._local = threading.local()  # is a transaction open in this thread

    # ---- construction ---------------------------------------------------------------
    @classmethod
    def sqlite(cls, path: str | os.PathLike, create: bool = False) -> Database:
        path = os.fspath(path)
        return cls("sqlite", f"SQLite {path}", {"path": path, "create": create})

    @classmethod
    def mysql(
        cls,
        host: str = "localhost",
        port: int = 0,
        user: str = "oneadmin",
        password: str = "",
        database: str = "opennebula",
        unix_socket: str | None = None,
        connect_timeout: int = 5,
    ) -> Database:
        where = unix_socket or f"{host}:{port or 3306}"
        args = {
            "host": host,
            "port": port or 3306,
            "user": user,
            "password": password,
            "database": database,
            "unix_socket": unix_socket,
            "connect_timeout": connect_timeout,
        }
        return cls("mysql", f"MySQL {user}@{where}/{database}", args)

    @classmethod
    def from_config(cls, db: Any, sqlite_path: str | os.PathLike, create: bool = False) -> Database:
        """The store an instance's ``DB = [...]`` names (a ``frontend.config.DbConfig``)."""
        if db.backend == "sqlite":
            return cls.sqlite(sqlite_path, create=create)
        return cls.mysql(db.server, db.port, db.user, db.passwd, db.db_name)

    # ---- connections ------------------------------------------------------------------
    def _connect(self) -> Any:
        if self.dialect == "sqlite":
            path = self._connect_args["path"]
            mode = "rwc" if self._connect_args["create"] else "rw"
            try:
                conn = sqlite3.connect(
                    f"file:{path}?mode={mode}",
                    uri=True,
                    isolation_level=None,
                    timeout=30,
                    check_same_thread=False,
                )
            except sqlite3.OperationalError as err:
                raise StoreError(f"cannot open {self.description} ({err}); {INIT_HINT}") from err
            try:
                with self.translate_errors():  # e.g. "file is not a database"
                    conn.execute("PRAGMA busy_timeout = 30000")
                    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        conn.execute("PRAGMA journal_mode = WAL")
                    conn.execute("PRAGMA synchronous = NORMAL")
            except StoreError:
                conn.close()
                raise
            return conn
        import pymysql  # imported here: SQLite-only installs never need it

        args = dict(self._connect_args)
        try:
            # READ COMMITTED: no InnoDB gap locks, so a locking read of a name that does not
            # exist yet (ensure) cannot deadlock two creators; row locks still serialise
            # every read-modify-write.
            conn = pymysql.connect(
                autocommit=True,
                charset="utf8mb4",
                init_command="SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                **args,
            )
            # GROUP_CONCAT's lists (the monitor's VMs by host) are cut at 1 KB by default;
            # the largest a packet can carry is the real limit.
            try:
                conn.cursor().execute("SET SESSION group_concat_max_len = @@max_allowed_packet")
            except pymysql.err.MySQLError:
                conn.close()
                raise
            return conn
        except pymysql.err.MySQLError as err:
            raise StoreError(self._mysql_message(err)) from err

    def close(self) -> None:
        """Close this process's idle connections; those lent to running transactions are
        closed when they end. The store stays usable: the next transaction connects again."""
        self._pool.clear()

    # ---- leadership -------------------------------------------------------------------
    def try_leader_lock(self, name: str) -> LeaderLock | None:
        """Take a named lock held for as long as the returned object lives, or None if
        another process holds it: the server's loops run only where it is held.

        SQLite: an exclusive ``flock`` on ``<store>.<name>.lock``; MySQL: ``GET_LOCK`` on
        a connection of its own (the server frees it when that connection dies), named
        after the database: MySQL locks are server-wide, and a federation's zones may
        share a server."""
        if self.dialect == "sqlite":
            import fcntl

            handle = open(f"{self._connect_args['path']}.{name}.lock", "a")  # noqa: SIM115
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return None
            return LeaderLock(handle.close)
        conn = self._connect()
        lock_name = f"onekit.{self._connect_args['database']}.{name}"[:64]
        try:
            with self.translate_errors(), conn.cursor() as cursor:
                cursor.execute("SELECT GET_LOCK(%s, 0)", (lock_name,))
                taken = cursor.fetchone()[0] == 1
        except BaseException:
            conn.close()
            raise
        if not taken:
            conn.close()
            return None

        def check() -> bool:
            with conn.cursor() as cursor:
                cursor.execute("SELECT IS_USED_LOCK(%s) = CONNECTION_ID()", (lock_name,))
                return cursor.fetchone()[0] == 1

        return LeaderLock(conn.close, check)

    # ---- transactions -----------------------------------------------------------------
    @contextmanager
    def transaction(self, dry_run: bool = False) -> Iterator[Tx]:
        """A write transaction: committed when the block ends, rolled back on any error.

        ``dry_run`` rolls back even on success: check mode runs the real operation and
        reports what it would have changed, with one code path for both.
        """
        with self._transaction(write=True, dry_run=dry_run) as tx:
            yield tx

    @contextmanager
    def snapshot(self) -> Iterator[Tx]:
        """A read-only transaction with a consistent view."""
        with self._transaction(write=False) as tx:
            yield tx

    @contextmanager
    def _transaction(self, write: bool, dry_run: bool = False) -> Iterator[Tx]:
        if getattr(self._local, "open", False):
            # one thread, two connections: the inner transaction would wait for the
            # outer one's locks (SQLite's write lock, MySQL's row locks) forever
            raise StoreError(
                f"{self.description}: a transaction is already open in this thread; "
                "finish it before starting another (nested transactions are not supported)"
            )
        lease, cursor = self._begin(write)
        self._local.open = True
        try:
            try:
                yield Tx(self, cursor)
            except BaseException:
                self._finish(lease, "ROLLBACK")
                raise
            self._finish(lease, "ROLLBACK" if dry_run else "COMMIT")
        finally:
            self._local.open = False

    def _begin(self, write: bool) -> tuple[Lease, Any]:
        """A pooled connection with a transaction begun on it. A MySQL connection that
        fails at BEGIN (the server dropped it: idle timeout, restart, KILL) is replaced
        once by a new one, and the idle ones are pinged before their next use. No ping
        per transaction: it would cost a round trip."""
        lease = self._pool.check_out()
        if self.dialect == "sqlite":
            try:
                cursor = lease.conn.cursor()
                with self.translate_errors():
                    cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except BaseException:
                self._pool.discard(lease)
                raise
            return lease, cursor
        import pymysql

        begin = "START TRANSACTION" if write else "START TRANSACTION READ ONLY"
        for attempt in (1, 2):
            try:
                cursor = lease.conn.cursor()
                cursor.execute(begin)
                return lease, cursor
            except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as err:
                self._pool.discard(lease)
                if attempt == 2:
                    raise StoreError(self._mysql_message(err)) from err
                self._pool.suspect_idle()
                lease = self._pool.fresh()
            except BaseException:
                self._pool.discard(lease)
                raise
        raise AssertionError("unreachable")

    def _finish(self, lease: Lease, statement: str) -> None:
        """COMMIT or ROLLBACK, then the connection goes back to the pool; one that failed
        is closed (closing also rolls back what it held). A failed ROLLBACK is not the
        error to report: the one that caused it is."""
        finished = False
        try:
            with self.translate_errors():
                lease.conn.cursor().execute(statement)
            finished = True
        except StoreError:
            if statement == "COMMIT":
                raise
        finally:
            (self._pool.give_back if finished else self._pool.discard)(lease)

    # ---- errors -----------------------------------------------------------------------
    def _mysql_message(self, err: Exception) -> str:
        code = err.args[0] if err.args else None
        text = err.args[1] if len(err.args) > 1 else str(err)
        if code in (2003, 2005, 2006, 2013):
            return f"cannot reach {self.description}: {text}"
        if code == 1045:
            return f"{self.description} refused the credentials: {text}"
        if code == 1049:
            return f"{self.description}: the database does not exist; {INIT_HINT}"
        if code == 1146:
            return f"{self.description} holds no onekit schema ({text}); {INIT_HINT}"
        return f"{self.description}: {text}"

    @contextmanager
    def translate_errors(self) -> Iterator[None]:
        if self.dialect == "sqlite":
            try:
                yield
            except sqlite3.IntegrityError as err:
                raise Conflict(f"{self.description}: {err}") from err
            except sqlite3.OperationalError as err:
                if "no such table" in str(err):
                    raise StoreError(
                        f"{self.description} holds no onekit schema ({err}); {INIT_HINT}"
                    ) from err
                raise StoreError(f"{self.description}: {err}") from err
            except sqlite3.DatabaseError as err:
                raise StoreError(f"{self.description}: {err}") from err
            return
        import pymysql

        try:
            yield
        except pymysql.err.IntegrityError as err:
            raise Conflict(self._mysql_message(err)) from err
        except pymysql.err.MySQLError as err:
            raise StoreError(self._mysql_message(err)) from err

    # ---- schema -----------------------------------------------------------------------
    def ensure_database(self) -> None:
        """Create the MySQL database if it does not exist yet (as oned does); SQLite: no-op."""
        if self.dialect != "mysql":
            return
        import pymysql

        args = dict(self._connect_args)
        name = args.pop("database")
        if not re.fullmatch(r"[A-Za-z0-9_]{1,64}", name):
            raise StoreError(f"MySQL database name {name!r} must be letters, digits or _")
        try:
            conn = pymysql.connect(autocommit=True, charset="utf8mb4", **args)
            with conn.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{name}`")
            conn.close()
        except pymysql.err.MySQLError as err:
            raise StoreError(self._mysql_message(err)) from err

    def existing_tables(self) -> set[str]:
        with self.snapshot() as tx:
            if self.dialect == "sqlite":
                rows = tx.rows("SELECT name FROM sqlite_master WHERE type = 'table'")
            else:
                rows = tx.rows("SHOW TABLES")
        return {r[0] for r in rows}

    def create_schema(
        self,
        shared: bool = True,
        local: bool = True,
        fill: Callable[[Tx], None] | None = None,
    ) -> None:
        """Create the tables and, in one transaction, ``fill``'s rows and the versions.

        All or nothing: on any failure the tables made here are dropped again, so a failed
        ``init`` can simply be rerun. The version rows are written last; a store whose
        tables have none is an interrupted one. Refuses a store that already holds any of
        the tables. A federation slave creates only the local part: its shared tables
        arrive by replication from the master.
        """
        tables = (schema.SHARED_TABLES if shared else ()) + (schema.LOCAL_TABLES if local else ())
        clash = sorted(self.existing_tables() & {t.name for t in tables})
        if clash:
            raise StoreError(
                f"{self.description} already holds onekit tables ({', '.join(clash)})"
                + (
                    ""
                    if self.has_versions()
                    else "; they have no schema version (an interrupted init?): drop them, or use "
                    "an empty database, and run init again"
                )
            )
        try:
            # MySQL commits DDL implicitly: the tables first, then every row in one tx.
            with self.transaction() as tx:
                for table in tables:
                    for statement in table.create_sql(self.dialect):
                        tx.execute(statement)
            with self.transaction() as tx:
                if local:
                    for pool in schema.POOLS:
                        tx.execute(
                            "INSERT INTO pool_control (tablename, last_oid) VALUES (?, ?)",
                            (pool.table, pool.first_oid - 1),
                        )
                    tx.execute("INSERT INTO pool_control (tablename, last_oid) VALUES ('acl', -1)")
                if fill is not None:
                    fill(tx)
                self._write_versions(tx, shared, local)
        except BaseException:
            self._drop_tables([t.name for t in tables])
            raise

    def _write_versions(self, tx: Tx, shared: bool, local: bool) -> None:
        now = int(time.time())
        for wanted, table, version, comment in (
            (shared, "db_versioning", schema.SHARED_VERSION, "onekit shared tables"),
            (local, "local_db_versioning", schema.LOCAL_VERSION, "onekit local tables"),
        ):
            if wanted:
                tx.execute(
                    f"INSERT INTO {table} (oid, version, timestamp, comment, is_slave) "
                    "VALUES (0, ?, ?, ?, 0)",
                    (str(version), now, comment),
                )

    def _drop_tables(self, names: list[str]) -> None:
        try:
            with self.transaction() as tx:
                for name in names:
                    tx.execute(f"DROP TABLE IF EXISTS {name}")
        except StoreError:
            pass  # the original error is the one to report

    def has_versions(self) -> bool:
        try:
            with self.snapshot() as tx:
                return tx.row("SELECT COUNT(*) FROM db_versioning")[0] > 0
        except StoreError:
            return False

    def check_schema(self) -> None:
        """Refuse to work on a store that is missing or of another schema version."""
        with self.snapshot() as tx:
            for table, expected, part in (
                ("db_versioning", schema.SHARED_VERSION, "shared"),
                ("local_db_versioning", schema.LOCAL_VERSION, "local"),
            ):
                row = tx.row(f"SELECT version FROM {table} ORDER BY oid DESC LIMIT 1")
                if row is None:
                    raise StoreError(
                        f"{self.description} has no {part} schema version; {INIT_HINT}"
                    )
                if str(row[0]) != str(expected):
                    upgradable = part == "local" and _upgradable(row[0])
                    raise StoreError(
                        f"{self.description} has {part} schema version {row[0]}, this onekit "
                        f"needs version {expected}; "
                        + (
                            f"{UPGRADE_HINT} (onekit never upgrades a store silently)"
                            if upgradable
                            else "use the onekit release that created it "
                            "(onekit never upgrades a store silently)"
                        )
                    )

    def local_version(self) -> str | None:
        with self.snapshot() as tx:
            row = tx.row("SELECT version FROM local_db_versioning ORDER BY oid DESC LIMIT 1")
        return None if row is None else str(row[0])

    def upgrade_schema(self) -> list[str]:
        """Bring the local tables of an older version to ``schema.LOCAL_VERSION``, one
        version at a time (``schema.LOCAL_UPGRADES``), each recorded as a new row of
        ``local_db_versioning`` once its statements are done (a failed upgrade leaves the
        version as it was and can be rerun). Returns what was done, one line a version;
        nothing for a store already current; StoreError for a version with no upgrade."""
        self.check_shared_version()
        done: list[str] = []
        while True:
            version = self.local_version()
            if version is None:
                raise StoreError(f"{self.description} has no local schema version; {INIT_HINT}")
            if version == str(schema.LOCAL_VERSION):
                return done
            if not _upgradable(version):
                raise StoreError(
                    f"{self.description} has local schema version {version}; this onekit "
                    f"upgrades versions {', '.join(map(str, sorted(schema.LOCAL_UPGRADES)))} to "
                    f"{schema.LOCAL_VERSION}: use the onekit release that created it"
                )
            upgrade = schema.LOCAL_UPGRADES[int(version)]
            # MySQL commits DDL implicitly: the statements first, then the version row.
            with self.transaction() as tx:
                for statement in upgrade.statements(self.dialect):
                    tx.execute(statement)
            with self.transaction() as tx:
                tx.execute(
                    "INSERT INTO local_db_versioning (oid, version, timestamp, comment, is_slave) "
                    "SELECT MAX(oid) + 1, ?, ?, ?, 0 FROM local_db_versioning",
                    (str(int(version) + 1), int(time.time()), f"upgraded from {version}"),
                )
            done.append(f"local version {version} -> {int(version) + 1}: {upgrade.what}")

    def check_shared_version(self) -> None:
        with self.snapshot() as tx:
            row = tx.row("SELECT version FROM db_versioning ORDER BY oid DESC LIMIT 1")
        if row is None:
            raise StoreError(f"{self.description} has no shared schema version; {INIT_HINT}")
        if str(row[0]) != str(schema.SHARED_VERSION):
            raise StoreError(
                f"{self.description} has shared schema version {row[0]}, this onekit needs "
                f"version {schema.SHARED_VERSION}; use the onekit release that created it"
            )


def _upgradable(version: object) -> bool:
    text = str(version)
    return text.isascii() and text.isdigit() and int(text) in schema.LOCAL_UPGRADES

"""MySQL/MariaDB replication of a federation's shared tables (the ``mysql_replication`` module).

OpenNebula 4.4-5.2 federations replicate the shared tables (``schema.SHARED_TABLE_NAMES``)
from the master's MySQL to every slave with plain MySQL replication: binary log on the
master, ``replicate-do-table`` on the slaves, a user with ``REPLICATION SLAVE``, and a dump
taken under ``FLUSH TABLES WITH READ LOCK`` that records the binlog position. These are the
steps, as functions over a pymysql connection wrapped in a :class:`Server`:

    server = Server(connect(host="127.0.0.1", port=3306, user="root", password="..."))
    changed = ensure_replication_user(server, "oneslave", "pw", ["%"])
    server.queries            # ["CREATE USER 'oneslave'@'%' IDENTIFIED BY '********'", ...]

With ``Server(conn, check_mode=True)`` reads run and every statement that would change the
server is only recorded in ``queries``. Failures raise :class:`ReplicationError` whose
message says what was being done, then the MySQL error (``(1045, "Access denied ...")``).
Written for MariaDB (10.11 is what the tests run); GTID handling is MariaDB's.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import schema

MASK = "********"
DEFAULT_TABLES = list(schema.SHARED_TABLE_NAMES)
GTID_MODES = ("slave_pos", "current_pos", "no")
ACCESS_DENIED = 1045
DUMP_MARK = "-- onekit.cloud.mysql_replication dump"

_NAME = re.compile(r"[A-Za-z0-9_$]{1,64}")


class ReplicationError(Exception):
    """A step failed; the message names the step and carries the MySQL error text."""


def _mysql_errors() -> tuple[type[BaseException], ...]:
    import pymysql  # imported here: the module's argument parsing never needs it

    return (pymysql.err.MySQLError,)


@contextmanager
def doing(what: str) -> Iterator[None]:
    """Turn a MySQL error raised inside into ``ReplicationError("<what>: <error>")``."""
    errors = _mysql_errors()
    try:
        yield
    except errors as err:
        raise ReplicationError(f"{what}: {err}") from err


def connect(
    host: str = "127.0.0.1",
    port: int = 3306,
    user: str | None = None,
    password: str | None = None,
    unix_socket: str | None = None,
    connect_timeout: int = 30,
    config_file: str | None = None,
    database: str | None = None,
) -> Any:
    """A pymysql connection (autocommit, utf8mb4); ``config_file``'s [client] group fills in
    what is not given, as the mysql client does."""
    import pymysql

    args: dict[str, Any] = {
        "host": host,
        "port": int(port),
        "user": user,
        "password": password or "",
        "connect_timeout": connect_timeout,
        "autocommit": True,
        "charset": "utf8mb4",
    }
    if unix_socket:
        args["unix_socket"] = unix_socket
    if database:
        args["database"] = database
    if config_file and os.path.exists(os.path.expanduser(config_file)):
        args["read_default_file"] = os.path.expanduser(config_file)
    where = unix_socket or f"{host}:{port}"
    with doing(f"cannot connect to {where} as {user or '(default user)'}"):
        return pymysql.connect(**args)


def _plain(value: Any) -> Any:
    """A value Ansible can return as JSON."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta)):
        return str(value)
    return value


def quote_name(name: str) -> str:
    """`name`, refusing anything but letters, digits, _ and $ (database and table names)."""
    if not _NAME.fullmatch(name or ""):
        raise ReplicationError(f"{name!r} is not a plain MySQL name (letters, digits, _ or $)")
    return f"`{name}`"


class Server:
    """A connection plus the statements run (or, in check mode, that would be run)."""

    def __init__(self, conn: Any, check_mode: bool = False):
        self.conn = conn
        self.check_mode = check_mode
        self.queries: list[str] = []

    def shown(self, sql: str, params: Sequence[Any] = (), secret: Sequence[int] = ()) -> str:
        """The statement as text, with the parameters at ``secret`` positions masked."""
        if not params:
            return sql
        values = [f"'{MASK}'" if i in secret else self.conn.escape(p) for i, p in enumerate(params)]
        return sql % tuple(values)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.conn.cursor() as cursor:
            cursor.execute(sql, tuple(params) or None)
            if cursor.description is None:
                return []
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, map(_plain, row), strict=True)) for row in cursor.fetchall()]

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.rows(sql, params)
        return next(iter(rows[0].values())) if rows else None

    def change(
        self, sql: str, params: Sequence[Any] = (), secret: Sequence[int] = (), run: bool = True
    ) -> None:
        """Record a statement that changes the server; run it unless in check mode."""
        self.queries.append(self.shown(sql, params, secret))
        if run and not self.check_mode:
            with self.conn.cursor() as cursor:
                cursor.execute(sql, tuple(params) or None)

    def is_mariadb(self) -> bool:
        return "mariadb" in str(self.value("SELECT VERSION()")).lower()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already gone
            self.conn.close()


# ---- status ---------------------------------------------------------------------------------
def primary_status(server: Server) -> dict[str, Any]:
    """``SHOW MASTER STATUS`` plus ``@@gtid_binlog_pos`` and ``@@server_id``."""
    with doing("reading the primary status"):
        rows = server.rows("SHOW MASTER STATUS")
        server_id = server.value("SELECT @@server_id")
        gtid = server.value("SELECT @@gtid_binlog_pos") if server.is_mariadb() else None
    status: dict[str, Any] = rows[0] if rows else {}
    return {
        "is_primary": bool(rows),
        "File": status.get("File"),
        "Position": status.get("Position"),
        "Binlog_Do_DB": status.get("Binlog_Do_DB"),
        "Binlog_Ignore_DB": status.get("Binlog_Ignore_DB"),
        "Gtid_Binlog_Pos": gtid,
        "server_id": server_id,
    }


REPLICA_FIELDS = (
    "Slave_IO_Running",
    "Slave_SQL_Running",
    "Seconds_Behind_Master",
    "Last_IO_Errno",
    "Last_IO_Error",
    "Last_SQL_Errno",
    "Last_SQL_Error",
    "Master_Host",
    "Master_Port",
    "Master_User",
    "Master_Server_Id",
    "Using_Gtid",
    "Replicate_Do_Table",
    "Gtid_IO_Pos",
)


def replica_status(server: Server) -> dict[str, Any]:
    """``is_replica``, ``server_id`` and every field of ``SHOW SLAVE STATUS`` (the ones in
    REPLICA_FIELDS are there, None, even when the server is no replica)."""
    with doing("reading the replica status"):
        rows = server.rows("SHOW SLAVE STATUS")
        server_id = server.value("SELECT @@server_id")
    status = dict.fromkeys(REPLICA_FIELDS)
    if rows:
        status.update(rows[0])
    status["is_replica"] = bool(rows)
    status["server_id"] = server_id
    return status


def running(status: dict[str, Any]) -> bool:
    """Either replication thread runs (or is connecting)."""
    return status.get("Slave_IO_Running") not in (None, "No") or status.get(
        "Slave_SQL_Running"
    ) not in (None, "No")


def replicating(status: dict[str, Any]) -> bool:
    """Both replication threads run."""
    return status.get("Slave_IO_Running") == "Yes" and status.get("Slave_SQL_Running") == "Yes"


# ---- the replication user -------------------------------------------------------------------
_GLOBAL_GRANT = re.compile(r"^GRANT (?P<privs>.+?) ON \*\.\* TO ", re.S)


def _grants_ok(lines: list[str]) -> tuple[bool, bool]:
    """(has REPLICATION SLAVE on *.*, has anything else)."""
    has, extra = False, False
    for line in lines:
        match = _GLOBAL_GRANT.match(line)
        if match is None:  # a database, table, column, proxy or role grant
            extra = True
            continue
        if "WITH GRANT OPTION" in line.upper():
            extra = True
        for priv in (p.strip().upper() for p in match.group("privs").split(",")):
            if priv in ("REPLICATION SLAVE", "REPLICATION REPLICA"):
                has = True
            elif priv != "USAGE":
                extra = True
    return has, extra


def _password_matches(
    server: Server, user: str, host: str, password: str, login: Callable[[str, str], Any] | None
) -> bool:
    """Whether ``password`` authenticates the account: by its mysql_native_password hash when
    it has one, else by logging in as it (``login(user, password)``)."""
    row = server.rows(
        "SELECT plugin, authentication_string FROM mysql.user WHERE User = %s AND Host = %s",
        (user, host),
    )
    if row and row[0]["plugin"] in ("mysql_native_password", "", None):
        try:
            return (
                server.value("SELECT PASSWORD(%s)", (password,)) == row[0]["authentication_string"]
            )
        except _mysql_errors():  # no PASSWORD() (MySQL 8): try to log in
            pass
    if login is None:
        return False
    try:
        login(user, password).close()
    except ReplicationError:
        return False
    return True


def ensure_replication_user(
    server: Server,
    user: str,
    password: str,
    hosts: Sequence[str] = ("%",),
    update_password: str = "always",
    login: Callable[[str, str], Any] | None = None,
) -> tuple[bool, list[dict[str, str]]]:
    """Each ``user@host`` exists with only ``REPLICATION SLAVE ON *.*``, and (with
    ``update_password="always"``) ``password`` authenticates it. Returns (changed, accounts)
    where each account says ``created``, ``updated`` or ``unchanged``."""
    if not user:
        raise ReplicationError("replication_user must not be empty")
    if not hosts:
        raise ReplicationError("replication_hosts must name at least one host")
    accounts = []
    for host in hosts:
        account = (user, host)
        shown = f"{user}@{host}"
        with doing(f"checking the replication user {shown}"):
            exists = bool(
                server.rows("SELECT 1 FROM mysql.user WHERE User = %s AND Host = %s", account)
            )
            if exists:
                grants = [
                    next(iter(r.values())) for r in server.rows("SHOW GRANTS FOR %s@%s", account)
                ]
                has, extra = _grants_ok(grants)
                password_ok = update_password != "always" or _password_matches(
                    server, user, host, password, login
                )
        action = "unchanged"
        with doing(f"setting up the replication user {shown}"):
            if not exists:
                server.change("CREATE USER %s@%s IDENTIFIED BY %s", (*account, password), (2,))
                server.change("GRANT REPLICATION SLAVE ON *.* TO %s@%s", account)
                action = "created"
            else:
                if not password_ok:
                    server.change("ALTER USER %s@%s IDENTIFIED BY %s", (*account, password), (2,))
                if extra:
                    server.change("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@%s", account)
                if extra or not has:
                    server.change("GRANT REPLICATION SLAVE ON *.* TO %s@%s", account)
                if not password_ok or extra or not has:
                    action = "updated"
        accounts.append({"user": user, "host": host, "action": action})
    return any(a["action"] != "unchanged" for a in accounts), accounts


# ---- dumps ---------------------------------------------------------------------------------
_HEADER = re.compile(r"^-- (?P<key>[A-Za-z_ ]+): (?P<value>.*)$")
_CHANGE = re.compile(
    r"CHANGE MASTER TO MASTER_LOG_FILE\s*=\s*'(?P<file>[^']+)',"
    r"\s*MASTER_LOG_POS\s*=\s*(?P<pos>\d+)",
    re.I,
)
_GTID = re.compile(r"SET GLOBAL gtid_slave_pos\s*=\s*'(?P<gtid>[^']*)'", re.I)
INSERT_BATCH = 1 << 20  # characters of VALUES per INSERT (max_allowed_packet is 16 MiB+)


def read_dump_header(path: str) -> dict[str, Any]:
    """What a dump's leading comments say: ``onekit`` (made by dumpprimary), ``database``,
    ``tables``, ``server_id``, ``File``, ``Position``, ``Gtid_Binlog_Pos``. Reads the
    position lines of mariadb-dump's ``--master-data --gtid`` too."""
    info: dict[str, Any] = {
        "onekit": False,
        "database": None,
        "tables": None,
        "server_id": None,
        "File": None,
        "Position": None,
        "Gtid_Binlog_Pos": None,
    }
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        for number, line in enumerate(handle):
            line = line.rstrip("\n")
            if number == 0 and line == DUMP_MARK:
                info["onekit"] = True
            if info["onekit"] and (match := _HEADER.match(line)):
                key, value = match.group("key"), match.group("value").strip()
                if key == "Database":
                    info["database"] = value
                elif key == "Tables":
                    info["tables"] = value.split()
                elif key == "Server_id":
                    info["server_id"] = int(value)
            if match := _CHANGE.search(line):
                info["File"], info["Position"] = match.group("file"), int(match.group("pos"))
            if match := _GTID.search(line):
                info["Gtid_Binlog_Pos"] = match.group("gtid")
            if number > 200 or line.upper().startswith("INSERT INTO"):
                break
    return info


def _dump_table(server: Server, database: str, table: str, write: Callable[[str], None]) -> int:
    name = quote_name(table)
    source = f"{quote_name(database)}.{name}"
    create = server.rows(f"SHOW CREATE TABLE {source}")[0]["Create Table"]
    write(f"\n-- Table {table}\nDROP TABLE IF EXISTS {name};\n{create};\n")
    count = 0
    with server.conn.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {source}")
        batch: list[str] = []
        size = 0
        for row in cursor.fetchall():
            values = "(" + ",".join(server.conn.escape(v) for v in row) + ")"
            batch.append(values)
            size += len(values)
            count += 1
            if size >= INSERT_BATCH:
                write(f"INSERT INTO {name} VALUES {','.join(batch)};\n")
                batch, size = [], 0
        if batch:
            write(f"INSERT INTO {name} VALUES {','.join(batch)};\n")
    return count


_READ_LOCK = "FLUSH TABLES WITH READ LOCK"


@dataclass(frozen=True)
class _TablesRead:
    """What one read of the tables under the lock gave: the binlog position at the read
    (``primary_status``), the dump's statements and the rows per table."""

    status: dict[str, Any]
    body: list[str]
    rows: dict[str, int]


def dump_primary(
    server: Server,
    database: str,
    tables: Sequence[str],
    dest: str,
    force: bool = False,
    where: str = "",
) -> tuple[bool, dict[str, Any]]:
    """Write a consistent dump of ``tables`` of ``database`` to ``dest`` (mode 0600: it holds
    password hashes), with the binlog position and GTID in its leading comments.

    The tables are read under ``FLUSH TABLES WITH READ LOCK``, after the position. An existing
    ``dest`` that is a dump of the same tables of the same database and server is kept
    unless ``force``. Returns (changed, info) with ``File``, ``Position``,
    ``Gtid_Binlog_Pos``, ``server_id``, ``rows`` (per table) and ``dumped``."""
    tables = _dump_tables(database, tables)
    with doing("reading the primary's server_id"):
        server_id = server.value("SELECT @@server_id")
    if os.path.exists(dest) and not force:
        kept = _kept_dump(dest, database, tables, server_id)
        if kept is not None:
            return False, kept
    if server.check_mode:
        _record_dump(server, database, tables)
        return True, {"dest": dest, "dumped": False, "server_id": server_id, "rows": {}}
    # the temporary file comes first: a dest that cannot be written fails before the lock
    with _replaced_atomically(dest) as handle:
        read = _read_tables_locked(server, database, tables, where)
        handle.write("\n".join(_dump_header(database, tables, where, server_id, read)) + "\n")
        for piece in read.body:
            handle.write(piece)
    return True, {
        "dest": dest,
        "dumped": True,
        "onekit": True,
        "database": database,
        "tables": tables,
        "server_id": server_id,
        "File": read.status["File"],
        "Position": read.status["Position"],
        "Gtid_Binlog_Pos": read.status["Gtid_Binlog_Pos"],
        "rows": read.rows,
    }


def _dump_tables(database: str, tables: Sequence[str]) -> list[str]:
    """``tables`` as a list, once the database and every table are known to be plain names
    (they are put into SQL as names)."""
    quote_name(database)
    tables = list(tables)
    for table in tables:
        quote_name(table)
    if not tables:
        raise ReplicationError("tables must name at least one table")
    return tables


def _kept_dump(
    dest: str, database: str, tables: list[str], server_id: Any
) -> dict[str, Any] | None:
    """The info of the dump at ``dest`` when it is onekit's dump of the same tables of the
    same database and server (nothing to do), else None."""
    header = read_dump_header(dest)
    if (
        header["onekit"]
        and header["database"] == database
        and header["tables"] == tables
        and header["server_id"] == server_id
    ):
        return {**header, "dest": dest, "dumped": False, "rows": {}}
    return None


def _record_dump(server: Server, database: str, tables: list[str]) -> None:
    """Check mode: the statements a dump would run, none of them run."""
    db = quote_name(database)
    server.change(_READ_LOCK, run=False)
    server.queries += [f"SELECT * FROM {db}.{quote_name(t)}" for t in tables]
    server.change("UNLOCK TABLES", run=False)


@contextmanager
def _replaced_atomically(dest: str) -> Iterator[IO[str]]:
    """A temporary file next to ``dest`` to write; on success it becomes ``dest`` (mode 0600),
    on any failure it is removed and ``dest`` is left as it was."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (renamed or removed below)
        "w",
        dir=os.path.dirname(os.path.abspath(dest)),
        prefix=".dump-",
        suffix=".sql",
        delete=False,
        encoding="utf-8",
        errors="surrogateescape",
    )
    try:
        yield handle
        handle.close()
        os.chmod(handle.name, 0o600)
        os.replace(handle.name, dest)
    except BaseException:
        handle.close()
        if os.path.exists(handle.name):
            os.unlink(handle.name)
        raise


def _read_tables_locked(
    server: Server, database: str, tables: list[str], where: str
) -> _TablesRead:
    """The binlog position and every table, read under one ``FLUSH TABLES WITH READ LOCK``
    (so the position is the dump's), the lock released whatever happens."""
    db = quote_name(database)
    rows: dict[str, int] = {}
    body: list[str] = []
    with doing(f"dumping {database} ({', '.join(tables)})"):
        server.change(_READ_LOCK)
        try:
            status = primary_status(server)
            if not status["is_primary"]:
                raise ReplicationError(
                    f"the server at {where or 'login_host'} has no binary log: start it "
                    "with log-bin (and binlog-format=ROW) to make it a primary"
                )
            for table in tables:
                server.queries.append(f"SELECT * FROM {db}.{quote_name(table)}")
                rows[table] = _dump_table(server, database, table, body.append)
        finally:
            server.change("UNLOCK TABLES")
    return _TablesRead(status, body, rows)


def _dump_header(
    database: str, tables: list[str], where: str, server_id: Any, read: _TablesRead
) -> list[str]:
    """The dump's leading lines: what ``read_dump_header`` reads back, the position as
    (commented) ``CHANGE MASTER TO``, and the session settings the load needs."""
    status = read.status
    taken = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    header = [
        DUMP_MARK,
        f"-- Database: {database}",
        f"-- Tables: {' '.join(tables)}",
        f"-- Primary: {where}",
        f"-- Server_id: {server_id}",
        f"-- Taken: {taken}",
        f"-- File: {status['File']}",
        f"-- Position: {status['Position']}",
        f"-- Gtid_Binlog_Pos: {status['Gtid_Binlog_Pos'] or ''}",
        "--",
        "-- Position of the primary's binary log at the dump (for CHANGE MASTER TO):",
        f"-- CHANGE MASTER TO MASTER_LOG_FILE='{status['File']}', "
        f"MASTER_LOG_POS={status['Position']};",
    ]
    if status["Gtid_Binlog_Pos"] is not None:
        header.append(f"-- SET GLOBAL gtid_slave_pos='{status['Gtid_Binlog_Pos']}';")
    return [
        *header,
        "",
        "SET NAMES utf8mb4;",
        "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO';",
        "SET SESSION foreign_key_checks = 0;",
    ]


_TOKEN = re.compile(
    r"""
      (?P<sq>'(?:[^'\\]|\\.)*')
    | (?P<dq>"(?:[^"\\]|\\.)*")
    | (?P<bq>`[^`]*`)
    | (?P<exec>/\*!.*?\*/)
    | (?P<block>/\*.*?\*/)
    | (?P<line>(?:--(?=[ \t\r\n]|\Z)|\#)[^\n]*)
    | (?P<semi>;)
    | (?P<other>[^'"`/;\-\#]+|.)
    """,
    re.S | re.X,
)


def split_statements(text: str) -> list[str]:
    """The statements of an SQL script, split at ``;`` outside strings and comments.

    Comments are dropped, executable comments (``/*!40101 ... */``) kept. ``DELIMITER``
    (mysql client syntax for routines) is refused."""
    statements: list[str] = []
    piece: list[str] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind in ("line", "block"):
            piece.append(" ")
            continue
        if kind != "semi":
            piece.append(match.group())
            continue
        statement = "".join(piece).strip()
        piece = []
        if statement:
            statements.append(statement)
    statement = "".join(piece).strip()
    if statement:
        statements.append(statement)
    for statement in statements:
        if statement.upper().startswith("DELIMITER"):
            raise ReplicationError(
                "the dump uses DELIMITER (mysql client syntax); load it with the mysql client"
            )
    return statements


def load_replica(
    server: Server,
    src: str,
    database: str,
    force: bool = False,
    primary_host: str | None = None,
    primary_port: int | None = None,
) -> tuple[bool, dict[str, Any]]:
    """Load the dump ``src`` into ``database``, then set ``gtid_slave_pos`` to the dump's GTID
    position (MariaDB), so ``MASTER_USE_GTID=slave_pos`` starts right after the dump.

    Skipped (unless ``force``) when the replica already replicates, both threads running,
    from the dump's primary: the same ``Master_Server_Id`` as the dump's header, else the
    same ``primary_host``/``primary_port``, else any primary. A running replica is stopped
    first and left stopped (``changeprimary`` and ``startreplica`` start it)."""
    db = quote_name(database)
    exists = os.path.exists(src)
    if not exists and not server.check_mode:
        raise ReplicationError(f"src {src} does not exist")
    header = read_dump_header(src) if exists else {}
    info = {"src": src, "loaded": False, "statements": 0, **header}
    status = replica_status(server)
    if not force and replicating(status):
        if header.get("server_id") is not None:
            same = status.get("Master_Server_Id") == header["server_id"]
        elif primary_host:
            same = status.get("Master_Host") == primary_host and (
                primary_port is None or status.get("Master_Port") == primary_port
            )
        else:
            same = True
        if same:
            return False, info
    statements = []
    if exists:
        with open(src, encoding="utf-8", errors="surrogateescape") as handle:
            statements = split_statements(handle.read())
    info["statements"] = len(statements)
    with doing(f"loading {src} into {database}"):
        if running(status):
            server.change("STOP SLAVE")
        server.change(f"CREATE DATABASE IF NOT EXISTS {db}")
        server.change(f"USE {db}")
        server.queries.append(f"SOURCE {src}")
        if not server.check_mode:
            with server.conn.cursor() as cursor:
                for number, statement in enumerate(statements, 1):
                    try:
                        cursor.execute(statement)
                    except _mysql_errors() as err:
                        raise ReplicationError(
                            f"loading {src} into {database} (statement {number}: "
                            f"{statement[:60]}...): {err}"
                        ) from err
        gtid = header.get("Gtid_Binlog_Pos")
        if gtid is not None and server.is_mariadb():
            server.change("SET GLOBAL gtid_slave_pos = %s", (gtid,))
    info["loaded"] = not server.check_mode
    return True, info


# ---- CHANGE MASTER, START / STOP SLAVE --------------------------------------------------------
@dataclass(frozen=True)
class _PrimarySettings:
    """Where ``change_primary`` points the replica, as ``CHANGE MASTER TO`` gets it (None:
    left as the replica has it)."""

    host: str
    port: int
    user: str | None
    password: str | None = field(repr=False)
    log_file: str | None
    log_pos: int | None
    use_gtid: str | None
    connect_retry: int | None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def change_primary(
    server: Server,
    host: str,
    port: int = 3306,
    user: str | None = None,
    password: str | None = None,
    log_file: str | None = None,
    log_pos: int | None = None,
    use_gtid: str | None = None,
    connect_retry: int | None = None,
    force: bool = False,
    connect_timeout: int = 30,
    login: Callable[..., Any] = connect,
) -> bool:
    """Point the replica at a primary (``CHANGE MASTER TO``).

    Nothing changes when host, port, user and, when given, ``use_gtid`` and
    ``connect_retry`` match (log file and position only apply to a change), unless
    ``force`` or the IO thread reports access denied (the stored password is wrong: the
    server never shows it). Before a change the primary is reached with the given
    credentials: it must answer, log binary and have another ``server_id``. A running
    replica is stopped for the change and started again."""
    if use_gtid is not None and use_gtid not in GTID_MODES:
        raise ReplicationError(f"primary_use_gtid must be one of {', '.join(GTID_MODES)}")
    wanted = _PrimarySettings(
        host, port, user, password, log_file, log_pos, use_gtid, connect_retry
    )
    status = replica_status(server)
    if not force and _points_at(status, wanted):
        return False
    _check_primary(wanted, status["server_id"], connect_timeout, login)
    _point_replica_at(server, wanted, was_running=running(status))
    return True


def _points_at(status: dict[str, Any], wanted: _PrimarySettings) -> bool:
    """The replica already replicates from ``wanted``: host, port, user and, when given,
    ``use_gtid`` and ``connect_retry`` match, as SHOW SLAVE STATUS shows them (any case),
    and its IO thread is not denied access (the password, which the server never shows,
    may be what is wrong)."""
    shown: dict[str, Any] = {
        "Master_Host": wanted.host,
        "Master_Port": wanted.port,
        "Master_User": wanted.user,
    }
    if wanted.use_gtid is not None:
        shown["Using_Gtid"] = wanted.use_gtid
    if wanted.connect_retry is not None:
        shown["Connect_Retry"] = wanted.connect_retry
    return (
        status["is_replica"]
        and status.get("Last_IO_Errno") != ACCESS_DENIED
        and all(
            value is None or str(status.get(key) or "").lower() == str(value).lower()
            for key, value in shown.items()
        )
    )


def _check_primary(
    wanted: _PrimarySettings, replica_id: Any, connect_timeout: int, login: Callable[..., Any]
) -> None:
    """Refuse a primary the replica could not replicate from: one that shares its
    ``server_id`` or has no binary log (``_primary_settings`` refuses one that does not
    answer)."""
    primary_id, log_bin = _primary_settings(wanted, connect_timeout, login)
    if primary_id == replica_id:
        raise ReplicationError(
            f"server-id clash: both servers have server_id {primary_id}; give each a unique "
            f"server-id (the primary {wanted.where} and this replica)"
        )
    if not log_bin:
        raise ReplicationError(
            f"the primary {wanted.where} has no binary log: start it with log-bin "
            "(and binlog-format=ROW)"
        )


def _primary_settings(
    wanted: _PrimarySettings, connect_timeout: int, login: Callable[..., Any]
) -> tuple[Any, Any]:
    """The primary's ``@@server_id`` and ``@@log_bin``, read over a connection of its own
    made with the replication credentials (so wrong ones fail here, before any change)."""
    try:
        conn = login(
            host=wanted.host,
            port=wanted.port,
            user=wanted.user,
            password=wanted.password,
            connect_timeout=connect_timeout,
        )
    except ReplicationError as err:
        raise ReplicationError(
            f"cannot connect to the primary {wanted.where} as {wanted.user}: {err.__cause__ or err}"
        ) from err
    primary = Server(conn)
    try:
        with doing(f"reading the primary {wanted.where}'s settings"):
            return primary.value("SELECT @@server_id"), primary.value("SELECT @@log_bin")
    finally:
        primary.close()


def _change_master(wanted: _PrimarySettings) -> tuple[str, list[Any], list[int]]:
    """The ``CHANGE MASTER TO`` statement, its parameters and the positions of the secret
    ones (the password, masked in ``queries``). Options left None are not named."""
    options = ["MASTER_HOST = %s", "MASTER_PORT = %s"]
    params: list[Any] = [wanted.host, int(wanted.port)]
    secret: list[int] = []
    if wanted.user is not None:
        options.append("MASTER_USER = %s")
        params.append(wanted.user)
    if wanted.password is not None:
        options.append("MASTER_PASSWORD = %s")
        secret.append(len(params))
        params.append(wanted.password)
    if wanted.log_file is not None:
        options.append("MASTER_LOG_FILE = %s")
        params.append(wanted.log_file)
    if wanted.log_pos is not None:
        options.append("MASTER_LOG_POS = %s")
        params.append(int(wanted.log_pos))
    if wanted.connect_retry is not None:
        options.append("MASTER_CONNECT_RETRY = %s")
        params.append(int(wanted.connect_retry))
    if wanted.use_gtid is not None:
        options.append(f"MASTER_USE_GTID = {wanted.use_gtid}")  # a keyword, checked first
    return "CHANGE MASTER TO " + ", ".join(options), params, secret


def _point_replica_at(server: Server, wanted: _PrimarySettings, was_running: bool) -> None:
    """``CHANGE MASTER TO``; a running replica is stopped for it (the server refuses the
    change while the threads run) and started again."""
    sql, params, secret = _change_master(wanted)
    with doing(f"pointing the replica at {wanted.where}"):
        if was_running:
            server.change("STOP SLAVE")
        server.change(sql, params, secret)
        if was_running:
            server.change("START SLAVE")


def _failure(status: dict[str, Any]) -> str:
    parts = []
    for thread in ("IO", "SQL"):
        error = status.get(f"Last_{thread}_Error")
        if error:
            parts.append(f"Last_{thread}_Error: {error}")
    return "; ".join(parts) or "no error reported"


def start_replica(
    server: Server, timeout: float = 30, sleep: Callable[[float], Any] = time.sleep
) -> tuple[bool, dict[str, Any]]:
    """``START SLAVE`` unless both threads run, then wait up to ``timeout`` seconds until both
    are ``Yes``; a thread that stopped with an error fails at once."""
    status = replica_status(server)
    if not status["is_replica"]:
        raise ReplicationError(
            "the server is not a replica yet: point it at a primary first (mode changeprimary)"
        )
    changed = False
    if not (status["Slave_IO_Running"] != "No" and status["Slave_SQL_Running"] != "No"):
        with doing("starting the replica"):
            server.change("START SLAVE")
        changed = True
    if server.check_mode:
        return changed, status
    deadline = time.monotonic() + timeout
    while True:
        status = replica_status(server)
        if replicating(status):
            return changed, status
        stopped = [
            t
            for t in ("IO", "SQL")
            if status[f"Slave_{t}_Running"] == "No" and status[f"Last_{t}_Error"]
        ]
        if stopped or time.monotonic() >= deadline:
            raise ReplicationError(
                "the replica did not start: Slave_IO_Running "
                f"{status['Slave_IO_Running']}, Slave_SQL_Running {status['Slave_SQL_Running']}"
                + (f" after {timeout:g} s" if not stopped else "")
                + f"; {_failure(status)}"
            )
        sleep(0.1)


def stop_replica(server: Server) -> tuple[bool, dict[str, Any]]:
    """``STOP SLAVE`` if either thread runs."""
    status = replica_status(server)
    if not running(status):
        return False, status
    with doing("stopping the replica"):
        server.change("STOP SLAVE")
    return True, status if server.check_mode else replica_status(server)

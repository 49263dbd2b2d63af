"""The tables of the state store, split as OpenNebula splits them.

*Shared* tables are the federation's: a federation master replicates exactly these to its
slaves (MySQL ``replicate-do-table``). *Local* tables stay with their zone. Each pool table
holds ``oid, name, body (JSON), uid, gid, owner_u, group_u, other_u`` plus the columns that
are queried; the body is the whole object.

A change to a table bumps SHARED_VERSION or LOCAL_VERSION; a store of another version is
refused at start with a clear error, never upgraded silently: a store of an older local
version that ``LOCAL_UPGRADES`` knows is upgraded by ``onedb upgrade``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SHARED_VERSION = 1
# 2: vm_pool.hid, host/vm monitoring tables
# 3: vm_pool.service_id and vm_pool.written_ns (the OneFlow LCM reads only the VMs of the
#    services whose inputs changed); the monitoring tables' time indexes (expiry in
#    bounded batches, oldest first), WITHOUT ROWID on SQLite, body TEXT on MySQL
# 4: vm_monitoring holds one row per host and cycle, its VMs' figures as one JSON object
#    keyed by VM id (a cycle writes a row per host, not one per VM)
# 5: user_quotas and group_quotas (VM quotas: each zone keeps its own, as 4.6)
LOCAL_VERSION = 5


@dataclass(frozen=True)
class Column:
    name: str
    sqlite: str
    mysql: str


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: str = "oid"
    unique: tuple[tuple[str, ...], ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()
    without_rowid: bool = False  # SQLite: the table is its primary key's B-tree

    def create_sql(self, dialect: str) -> list[str]:
        cols = [f"{c.name} {getattr(c, dialect)}" for c in self.columns]
        cols.append(f"PRIMARY KEY ({self.primary_key})")
        cols += [f"UNIQUE ({', '.join(u)})" for u in self.unique]
        # utf8mb4_bin: names compare exactly, as on SQLite (the default *_ci collation
        # would make 'ALICE' log in as alice and refuse 'Alice' beside 'alice').
        tail = (
            " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
            if dialect == "mysql"
            else " WITHOUT ROWID"
            if self.without_rowid
            else ""
        )
        statements = [f"CREATE TABLE {self.name} ({', '.join(cols)}){tail}"]
        for index in self.indexes:
            statements.append(
                f"CREATE INDEX {self.name}_{'_'.join(index)} ON {self.name} ({', '.join(index)})"
            )
        return statements


def _int(name: str) -> Column:
    return Column(name, "INTEGER", "INTEGER")


def _bigint(name: str) -> Column:
    return Column(name, "INTEGER", "BIGINT")


def _text(name: str, size: int) -> Column:
    return Column(name, "TEXT", f"VARCHAR({size})")


_BODY = Column("body", "TEXT", "MEDIUMTEXT")
POOL_COLUMNS = (
    _int("oid"),
    _text("name", 128),
    _BODY,
    _int("uid"),
    _int("gid"),
    _int("owner_u"),
    _int("group_u"),
    _int("other_u"),
)


_NOUNS = {"VM": "VM", "NET": "network"}


@dataclass(frozen=True)
class PoolSpec:
    """A pool of objects: its table, the ACL resource type, and the first oid it hands out."""

    table: str
    resource: str
    first_oid: int = 0
    extra: tuple[Column, ...] = ()
    unique_name: bool = False
    unique_per_owner: bool = False  # names unique among one owner's objects (checked in code)
    shared: bool = False
    indexes: tuple[tuple[str, ...], ...] = field(default=())
    #: the values of the ``extra`` columns for a body (default: the body's upper-case keys)
    derive: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    @property
    def noun(self) -> str:
        """How messages name one object of the pool."""
        return _NOUNS.get(self.resource, self.resource.lower())

    def extra_values(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.derive is not None:
            return self.derive(body)
        return {c.name: body.get(c.name.upper()) for c in self.extra}

    def table_def(self) -> Table:
        return Table(
            self.table,
            POOL_COLUMNS + self.extra,
            unique=(("name",),) if self.unique_name else (),
            indexes=self.indexes,
        )


# User-created groups and zones start at 100 as in OpenNebula (0-99 are reserved).
USERS = PoolSpec("user_pool", "USER", unique_name=True, shared=True)
GROUPS = PoolSpec("group_pool", "GROUP", first_oid=100, unique_name=True, shared=True)
ZONES = PoolSpec("zone_pool", "ZONE", first_oid=100, unique_name=True, shared=True)
HOSTS = PoolSpec("host_pool", "HOST", extra=(_int("state"),), unique_name=True)
# STATE values whose VM holds capacity on a host (its last history record's).
HOSTED_STATES = (3, 5, 8)  # ACTIVE, SUSPENDED, POWEROFF


_last_write_ns = 0


def _write_ns() -> int:
    """A VM row's write stamp: the wall clock in ns, always above this process's last
    stamp, so every write of a row gives it a new value (the LCM compares stamps for
    equality only, so clocks of different front-ends need not agree)."""
    global _last_write_ns
    _last_write_ns = max(time.time_ns(), _last_write_ns + 1)
    return _last_write_ns


def service_id_of(body: dict[str, Any]) -> int | None:
    """The OneFlow service a VM is tagged for (its USER_TEMPLATE/SERVICE_ID), or None."""
    sid = str((body.get("USER_TEMPLATE") or {}).get("SERVICE_ID", ""))
    ok = sid.isascii() and sid.isdigit() and len(sid) <= 10 and int(sid) < 2**31
    return int(sid) if ok else None


def hosted_hid(body: dict[str, Any]) -> int:
    """The host a VM holds (its last history record's), or -1 (it holds none)."""
    history = body.get("HISTORY_RECORDS") or []
    return int(history[-1]["HID"]) if body["STATE"] in HOSTED_STATES and history else -1


def _vm_columns(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": body["STATE"],
        "lcm_state": body["LCM_STATE"],
        "hid": hosted_hid(body),
        "service_id": service_id_of(body),
        "written_ns": _write_ns(),
    }


# service_id: a OneFlow step reads the VMs of the services it decides for, not every VM;
# written_ns: it tells which services' VMs changed (state, OneGate metrics: every write
# through pool.update) since their last decision without reading their bodies. A poll
# that only brings new MONITORING figures leaves the row alone (they go to
# VM_MONITORING_LAST), as it leaves the stamp: a state change is a pool.update.
VMS = PoolSpec(
    "vm_pool",
    "VM",
    extra=(
        _int("state"),
        _int("lcm_state"),
        _int("hid"),
        _int("service_id"),
        _bigint("written_ns"),
    ),
    # (the service_id index covers the LCM's light read: no body page is read for it)
    indexes=(("state",), ("hid",), ("service_id", "oid", "state", "written_ns")),
    derive=_vm_columns,
)
TEMPLATES = PoolSpec("template_pool", "TEMPLATE", unique_per_owner=True)
IMAGES = PoolSpec("image_pool", "IMAGE", unique_per_owner=True)
NETWORKS = PoolSpec("network_pool", "NET", unique_per_owner=True)
DOCUMENTS = PoolSpec("document_pool", "DOCUMENT", extra=(_int("type"),), indexes=(("type",),))
POOLS = (USERS, GROUPS, ZONES, HOSTS, VMS, TEMPLATES, IMAGES, NETWORKS, DOCUMENTS)

_VERSIONING = (
    _int("oid"),
    Column("version", "TEXT", "VARCHAR(64)"),
    _int("timestamp"),
    Column("comment", "TEXT", "VARCHAR(256)"),
    _int("is_slave"),
)
DB_VERSIONING = Table("db_versioning", _VERSIONING)
LOCAL_DB_VERSIONING = Table("local_db_versioning", _VERSIONING)
ACL = Table(
    "acl",
    (_int("oid"), _bigint("user"), _bigint("resource"), _bigint("rights"), _bigint("zone")),
    unique=(("user", "resource", "rights", "zone"),),
)
# Next oid per pool (and for acl). Local: a slave never allocates ids of shared pools.
POOL_CONTROL = Table(
    "pool_control",
    (Column("tablename", "TEXT", "VARCHAR(32)"), _bigint("last_oid")),
    primary_key="tablename",
)

SHARED_TABLES: tuple[Table, ...] = (
    *(p.table_def() for p in POOLS if p.shared),
    ACL,
    DB_VERSIONING,
)
# Monitoring history, kept for HOST_/VM_MONITORING_EXPIRATION_TIME seconds: one sample
# per host (its HOST_SHARE and state) and per VM (its MONITORING) each cycle. The primary
# key reads one object's samples in time order (onehost/onevm show, graphs); the time
# index finds the oldest rows, which the monitor expires in bounded batches. On SQLite
# the table is its key's B-tree (WITHOUT ROWID): two B-trees per sample written, not three.
_SAMPLE = Column("body", "TEXT", "TEXT")  # a sample: 30-300 bytes of JSON
HOST_MONITORING = Table(
    "host_monitoring",
    (_int("hid"), _int("last_mon_time"), _SAMPLE),
    primary_key="hid, last_mon_time",
    indexes=(("last_mon_time", "hid"),),
    without_rowid=True,
)
# VMs' samples: one row per host and cycle, ``{"<vm id>": figures, ...}`` for the VMs the
# poll saw there (a VM's samples are found through its HISTORY_RECORDS: which host, when).
# A cycle inserts a row per host, not per VM: at 10k VMs one sample per VM touched ~10k
# leaf pages of a (vmid, time) key, which was most of a cycle's time.
_SAMPLES = Column("body", "TEXT", "MEDIUMTEXT")  # ~30 bytes a VM; 100k VMs on a host fit
VM_MONITORING = Table(
    "vm_monitoring",
    (_int("hid"), _int("last_poll"), _SAMPLES),
    primary_key="hid, last_poll",
    indexes=(("last_poll", "hid"),),
    without_rowid=True,
)

# The newest poll's figures of each host's VMs, one row per host replaced every cycle
# (``{"<vm id>": figures}``): a VM's MONITORING and LAST_POLL as users see them are these
# (``pool`` lays them over the body it reads), so a cycle writes a row per host instead
# of rewriting every VM's body in place (10k bodies: ~0.3-0.9 s of a SQLite cycle).
VM_MONITORING_LAST = Table(
    "vm_monitoring_last", (_int("hid"), _int("last_poll"), _SAMPLES), primary_key="hid"
)


# VM quotas (``objects.quotas``): one row per user or group that has one, its limits as
# ``{"VM": {"VMS": n, "CPU": x, "MEMORY": m}}``. Local, as 4.6's tables of the same names:
# a federation shares users and groups, each zone limits the VMs it runs.
USER_QUOTAS = Table("user_quotas", (_int("user_oid"), Column("body", "TEXT", "TEXT")), "user_oid")
GROUP_QUOTAS = Table(
    "group_quotas", (_int("group_oid"), Column("body", "TEXT", "TEXT")), "group_oid"
)


@dataclass(frozen=True)
class Upgrade:
    """How a store of local version ``LOCAL_UPGRADES`` keys moves to the next one."""

    what: str  # what it changes, as ``onedb upgrade`` reports it
    statements: Callable[[str], list[str]]  # by dialect; each may be rerun after a failure


LOCAL_UPGRADES: dict[int, Upgrade] = {
    3: Upgrade(
        "vm_monitoring holds one row per host and cycle (the VMs' figures together), "
        "vm_monitoring_last each host's VMs' newest figures; the per-VM samples of version "
        "3 are dropped (they expire within VM_MONITORING_EXPIRATION_TIME anyway; each VM "
        "keeps its last MONITORING)",
        lambda dialect: [
            "DROP TABLE IF EXISTS vm_monitoring",
            "DROP TABLE IF EXISTS vm_monitoring_last",
            *VM_MONITORING.create_sql(dialect),
            *VM_MONITORING_LAST.create_sql(dialect),
        ],
    ),
    4: Upgrade(
        "user_quotas and group_quotas hold the users' and groups' VM quotas (none set)",
        lambda dialect: [
            "DROP TABLE IF EXISTS user_quotas",
            "DROP TABLE IF EXISTS group_quotas",
            *USER_QUOTAS.create_sql(dialect),
            *GROUP_QUOTAS.create_sql(dialect),
        ],
    ),
}

LOCAL_TABLES: tuple[Table, ...] = (
    *(p.table_def() for p in POOLS if not p.shared),
    HOST_MONITORING,
    VM_MONITORING,
    VM_MONITORING_LAST,
    USER_QUOTAS,
    GROUP_QUOTAS,
    POOL_CONTROL,
    LOCAL_DB_VERSIONING,
)
SHARED_TABLE_NAMES = tuple(t.name for t in SHARED_TABLES)
LOCAL_TABLE_NAMES = tuple(t.name for t in LOCAL_TABLES)

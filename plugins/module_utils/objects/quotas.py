"""VM quotas of users and groups, as OpenNebula 4.6's ``oneuser quota``/``onegroup quota``.

A quota is ``VM = [ VMS = <n>, CPU = <cores>, MEMORY = <MiB> ]``; each limit is ``-1``
(unlimited, the default), ``0`` (none allowed) or a positive figure. Default quotas
(``-2``) and the datastore, network and image quotas of 4.6 are not implemented: such a
template is refused, naming what it asks.

**Where they live.** In the local tables ``user_quotas`` and ``group_quotas`` (one row,
``{"VM": {...}}``, per user or group that has one), as 4.6 keeps them out of the user and
group bodies: a federation replicates the users and groups, and each zone keeps its own
quotas (its own VMs count against them). So ``set`` is not ``@federated``: a slave writes
its own table, and nothing is forwarded or replicated.

**Usage** is never stored: it is read, in the transaction that needs it, from the VMs the
user (or group) owns that are not DONE: their count, and the sum of their TEMPLATE's CPU
and MEMORY. A VM that ends (DONE) or is deleted stops counting with no bookkeeping to keep
right, and a chown moves its usage with its owner.

**Enforcement.** ``check_allocation`` is called by ``vm.vms.allocate_in``, the one
allocation path (``onevm create``, ``onetemplate instantiate``, the ``vm`` module,
OneFlow), inside the allocation's transaction: a VM that would take the owner or its
group over a limit refuses the whole request (AuthorizationError, as 4.6's quota
failure), and nothing is written. ``check_chown`` (``objects.chown_in``) asks the same of a
VM's new owner and group. The quota rows are read ``FOR UPDATE`` first, so two allocations
for one owner (or group) on MySQL are serialised and count each other's VMs (the store
reads committed rows: READ COMMITTED). The usage read scans ``vm_pool`` by its uid or gid
column, which has no index: a cost per allocation for limited owners only. The oneadmin
user (uid 0) and the VMs of group oneadmin (gid 0) are never limited, and their quotas
cannot be set.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import (
    ONEADMIN_GID,
    ONEADMIN_UID,
    Target,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Tx
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    InvalidInput,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import VmState

Body = dict[str, Any]
Ref = int | str

UNLIMITED = -1
LIMITS = ("VMS", "CPU", "MEMORY")  # the VM quota's limits, in 4.6's order
_UNITS = {"VMS": "", "CPU": "", "MEMORY": " MB"}


class Kind:
    """A user's or a group's quotas: its table, pool, resource and owner column."""

    def __init__(self, noun: str, spec: schema.PoolSpec, table: schema.Table, column: str):
        self.noun, self.spec, self.table, self.column = noun, spec, table, column

    @property
    def key(self) -> str:
        return self.table.primary_key


USER = Kind("user", schema.USERS, schema.USER_QUOTAS, "uid")
GROUP = Kind("group", schema.GROUPS, schema.GROUP_QUOTAS, "gid")


# ---- the template ------------------------------------------------------------------------
def _limit(key: str, value: Any) -> float:
    text = str(value).strip()
    try:
        number = float(text) if key == "CPU" else int(text)
    except ValueError:
        number = None
    if number is None or not math.isfinite(number):
        kind = "number" if key == "CPU" else "whole number"
        raise InvalidInput(
            f"VM/{key} must be a {kind}: -1 (unlimited), 0 or more, got {pool.shorten(text)!r}"
        )
    if number == -2:
        raise InvalidInput(
            f"VM/{key} = -2 (the default quota) is not supported by onekit: give -1 "
            "(unlimited) or a limit"
        )
    if number < 0 and number != UNLIMITED:
        raise InvalidInput(f"VM/{key} must be -1 (unlimited), 0 or more, got {text}")
    return number


def parse(source: template.Source) -> dict[str, float]:
    """The limits a quota template gives (only those it names): ``VM = [ ... ]``."""
    tpl = template.load(source, "a quota template")
    unknown = sorted(k for k in tpl if k != "VM")
    if unknown:
        raise InvalidInput(
            f"the quota template has {', '.join(unknown)}: onekit has VM quotas only, "
            "VM = [ VMS = <n>, CPU = <cores>, MEMORY = <MB> ]"
        )
    vm = tpl.get("VM")
    if not isinstance(vm, dict):
        raise InvalidInput(
            "the quota template needs one VM = [ VMS = <n>, CPU = <cores>, MEMORY = <MB> ]"
        )
    extra = sorted(k for k in vm if k not in LIMITS)
    if extra:
        raise InvalidInput(
            f"the quota's VM has {', '.join('VM/' + k for k in extra)}: its limits are "
            f"{', '.join(LIMITS)}"
        )
    return {key: _limit(key, vm[key]) for key in LIMITS if key in vm}


# ---- reading -------------------------------------------------------------------------------
def _limits_from(text: str) -> dict[str, float]:
    vm = json.loads(text).get("VM") or {}
    return {key: vm.get(key, UNLIMITED) for key in LIMITS}


def _limits_of(tx: Tx, kind: Kind, oid: int, lock: bool = False) -> dict[str, float] | None:
    sql = f"SELECT body FROM {kind.table.name} WHERE {kind.key} = ?"
    row = tx.row(sql + (tx.for_update if lock else ""), (oid,))
    return None if row is None else _limits_from(row[0])


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _figure(value: Any) -> float:
    try:
        number = float(str(value))
    except ValueError:
        return 0.0
    return number if math.isfinite(number) else 0.0


def size_of(vm_template: Body) -> dict[str, float]:
    """What one VM of this TEMPLATE counts: 1 VM, its CPU and MEMORY (MB)."""
    return {
        "VMS": 1,
        "CPU": _figure(vm_template.get("CPU", 0)),
        "MEMORY": _figure(vm_template.get("MEMORY", 0)),
    }


def usages(tx: Tx, kind: Kind, ids: list[int]) -> dict[int, dict[str, float]]:
    """The VMs (not DONE) each user or group of ``ids`` owns: how many, their CPU and
    MEMORY, in one read of their VMs. Read without locks: the caller of ``_check`` holds
    the quota row, which serialises the allocations it limits, and MySQL reads committed
    rows (the VMs' rows stay free for the life cycle, which may hold one through a driver
    call)."""
    used = {oid: {key: 0.0 for key in LIMITS} for oid in ids}
    for chunk in _chunks(list(used)):
        marks = ", ".join("?" * len(chunk))
        sql = (
            f"SELECT {kind.column}, body FROM vm_pool "
            f"WHERE {kind.column} IN ({marks}) AND state != ?"
        )
        for oid, text in tx.rows(sql, (*chunk, int(VmState.DONE))):
            for key, value in size_of(json.loads(text).get("TEMPLATE") or {}).items():
                used[oid][key] += value
    for figures in used.values():
        figures["VMS"] = int(figures["VMS"])
    return used


def usage(tx: Tx, kind: Kind, oid: int) -> dict[str, float]:
    """What one user or group uses (``usages``)."""
    return usages(tx, kind, [oid])[oid]


def view(limits: dict[str, float] | None, used: dict[str, float]) -> Body:
    """A quota as shown: each limit (-1: unlimited) and its usage, ``<KEY>_USED``."""
    limits = limits or {}
    shown: Body = {}
    for key in LIMITS:
        shown[key] = _plain(limits.get(key, UNLIMITED))
        shown[f"{key}_USED"] = _plain(used[key])
    return {"VM": shown}


def _plain(number: float) -> float | int:
    return int(number) if float(number).is_integer() else round(float(number), 2)


def _exempt(kind: Kind, oid: int) -> bool:
    return oid == (ONEADMIN_UID if kind is USER else ONEADMIN_GID)


def show(session: Session, kind: Kind, ref: Ref) -> Body:
    """The quota of a user or group with its usage, to a caller with USE on it (a user
    reads its own; members read their groups')."""
    with session.read() as w:
        body = pool.resolve(w.tx, kind.spec, ref)
        w.authorize(Target.of(kind.spec.resource, body), Right.USE)
        shown = view(_limits_of(w.tx, kind, body["ID"]), usage(w.tx, kind, body["ID"]))
        return {"ID": body["ID"], "NAME": body["NAME"], **shown}


def show_each(session: Session, kind: Kind, ids: list[int]) -> list[Body]:
    """The quotas of the users or groups ``ids`` (what oned's user and group pools show
    beside each), as ``show`` gives one, in one read: their limits, and their usage in
    one pass over their VMs rather than one per user or group. USE on each, as ``show``;
    one deleted since the listing is left out."""
    with session.read() as w:
        found = (pool.get(w.tx, kind.spec, oid) for oid in ids)
        bodies = [body for body in found if body is not None]
        for body in bodies:
            w.authorize(Target.of(kind.spec.resource, body), Right.USE)
        limits: dict[int, dict[str, float]] = {}
        for chunk in _chunks([body["ID"] for body in bodies]):
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT {kind.key}, body FROM {kind.table.name} WHERE {kind.key} IN ({marks})"
            limits.update((oid, _limits_from(text)) for oid, text in w.tx.rows(sql, tuple(chunk)))
        used = usages(w.tx, kind, [body["ID"] for body in bodies])
        return [
            {"ID": b["ID"], "NAME": b["NAME"], **view(limits.get(b["ID"]), used[b["ID"]])}
            for b in bodies
        ]


# ---- writing -------------------------------------------------------------------------------
def set_quota(session: Session, kind: Kind, ref: Ref, source: template.Source) -> Body:
    """Set (some of) the limits of a user's or group's VM quota: ADMIN on it, as 4.6's
    ``oneuser quota`` / ``onegroup quota``. Limits the template does not name are kept."""
    given = parse(source)
    with session.write() as w:
        body = pool.resolve(w.tx, kind.spec, ref, lock=True)
        w.authorize(Target.of(kind.spec.resource, body), Right.ADMIN)
        if _exempt(kind, body["ID"]):
            raise InvalidInput(f"the oneadmin {kind.noun} has no quotas: it is never limited")
        old = _limits_of(w.tx, kind, body["ID"], lock=True)
        limits = {**(old or {key: UNLIMITED for key in LIMITS}), **given}
        text = json.dumps({"VM": {k: _plain(v) for k, v in limits.items()}})
        if old is None:
            w.tx.execute(
                f"INSERT INTO {kind.table.name} ({kind.key}, body) VALUES (?, ?)",
                (body["ID"], text),
            )
        else:
            w.tx.execute(
                f"UPDATE {kind.table.name} SET body = ? WHERE {kind.key} = ?", (text, body["ID"])
            )
        shown = view(limits, usage(w.tx, kind, body["ID"]))
        return {"ID": body["ID"], "NAME": body["NAME"], **shown}


def forget(tx: Tx, kind: Kind, oid: int) -> None:
    """Drop the quota of a user or group being deleted (in this zone's table)."""
    tx.execute(f"DELETE FROM {kind.table.name} WHERE {kind.key} = ?", (oid,))


# ---- enforcing -------------------------------------------------------------------------------
def _check(tx: Tx, kind: Kind, oid: int, asked: dict[str, float]) -> None:
    if _exempt(kind, oid):
        return
    limits = _limits_of(tx, kind, oid, lock=True)
    if limits is None or all(limits[k] == UNLIMITED for k in LIMITS):
        return
    used = usage(tx, kind, oid)
    for key in LIMITS:
        limit = limits[key]
        if limit != UNLIMITED and used[key] + asked[key] > limit + 1e-9:
            unit = _UNITS[key]
            body = pool.get(tx, kind.spec, oid)
            raise AuthorizationError(
                f"{kind.noun} {body['NAME'] if body else oid}'s VM quota: {key} "
                f"{_plain(used[key])}{unit} of {_plain(limit)} in use, this asks "
                f"{_plain(asked[key])}{unit} more"
            )


def check_allocation(w: AuthTx, uid: int, gid: int, vm_template: Body) -> None:
    """Refuse a new VM of ``vm_template`` owned by ``uid``/``gid`` that would exceed the
    user's or the group's VM quota (inside the allocation's transaction)."""
    asked = size_of(vm_template)
    _check(w.tx, USER, uid, asked)
    _check(w.tx, GROUP, gid, asked)


def check_chown(w: AuthTx, vm: Body, uid: int, gid: int) -> None:
    """Refuse moving a live VM to an owner or group whose quota it would exceed (its
    usage moves with it; 4.6's chown checks the new owner's quota)."""
    if vm.get("STATE") == int(VmState.DONE):
        return
    asked = size_of(vm.get("TEMPLATE") or {})
    if uid != vm["UID"]:
        _check(w.tx, USER, uid, asked)
    if gid != vm["GID"]:
        _check(w.tx, GROUP, gid, asked)

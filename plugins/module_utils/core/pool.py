"""Objects in pool tables: allocate, read, lock, update, delete.

An object is a JSON body in OpenNebula's shape (``ID``, ``NAME``, ``UID``, ``GID``, ``UNAME``,
``GNAME``, ``PERMISSIONS``, ...); the table's other columns are derived from it on every
write, so they never disagree with the body. All functions run inside a caller's
transaction (see ``db``); nothing here commits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Tx
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.schema import PoolSpec

Body = dict[str, Any]
MAX_OID = 2**31 - 1  # ids are 32-bit signed in oned (and in both stores' INTEGER columns)


def shorten(text: str, limit: int = 64) -> str:
    """Text fit for a one-line message (a name may be anything a caller typed)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _columns(spec: PoolSpec, body: Body) -> dict[str, Any]:
    perms = body.get("PERMISSIONS", {})
    values = {
        "oid": body["ID"],
        "name": body["NAME"],
        "body": json.dumps(body, separators=(",", ":"), sort_keys=False),
        "uid": body["UID"],
        "gid": body["GID"],
        "owner_u": int(perms.get("OWNER_U", 0)),
        "group_u": int(perms.get("GROUP_U", 0)),
        "other_u": int(perms.get("OTHER_U", 0)),
    }
    values.update(spec.extra_values(body))
    return values


def next_oid(tx: Tx, table: str) -> int:
    """Take the next id of a pool (ids are never reused, as in OpenNebula)."""
    row = tx.row("SELECT last_oid FROM pool_control WHERE tablename = ?" + tx.for_update, (table,))
    oid = (row[0] if row else -1) + 1
    tx.execute("UPDATE pool_control SET last_oid = ? WHERE tablename = ?", (oid, table))
    return oid


def insert(tx: Tx, spec: PoolSpec, body: Body, oid: int | None = None) -> Body:
    """Store a new object; ``body["ID"]`` is set from the pool's counter unless given."""
    if spec.unique_name and find_by_name(tx, spec, body["NAME"]) is not None:
        raise Conflict(f"{spec.noun} named {body['NAME']!r} already exists")
    if oid is None:
        body["ID"] = next_oid(tx, spec.table)
    else:  # a reserved id (oneadmin, system groups): the counter moves past it
        body["ID"] = oid
        tx.execute(
            "UPDATE pool_control SET last_oid = ? WHERE tablename = ? AND last_oid < ?",
            (oid, spec.table, oid),
        )
    values = _columns(spec, body)
    names = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    try:
        tx.execute(f"INSERT INTO {spec.table} ({names}) VALUES ({marks})", list(values.values()))
    except Conflict:  # a concurrent writer committed the same name meanwhile
        raise Conflict(f"{spec.noun} named {body['NAME']!r} already exists") from None
    return body


def update(tx: Tx, spec: PoolSpec, body: Body) -> Body:
    values = _columns(spec, body)
    oid = values.pop("oid")
    assignments = ", ".join(f"{name} = ?" for name in values)
    tx.execute(f"UPDATE {spec.table} SET {assignments} WHERE oid = ?", [*values.values(), oid])
    return body


def update_many(tx: Tx, spec: PoolSpec, bodies: Sequence[Body]) -> None:
    """``update`` of many objects in few statements (``SET col = CASE oid WHEN ..``): on
    MySQL each statement is a round trip, which a busy server process pays for twice
    (the reply, then the interpreter's lock back from the threads that ran meanwhile)."""
    rows = [_columns(spec, body) for body in bodies]
    if not rows:
        return
    names = [name for name in rows[0] if name != "oid"]
    per_row = 2 * len(names) + 1
    size = max(1, _MAX_VARIABLES // per_row)
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        cases = " ".join("WHEN ? THEN ?" for _ in chunk)
        assignments = ", ".join(f"{name} = CASE oid {cases} END" for name in names)
        marks = ", ".join("?" for _ in chunk)
        params = [v for name in names for row in chunk for v in (row["oid"], row[name])]
        tx.execute(
            f"UPDATE {spec.table} SET {assignments} WHERE oid IN ({marks})",
            [*params, *(row["oid"] for row in chunk)],
        )


def delete(tx: Tx, spec: PoolSpec, oid: int) -> None:
    tx.execute(f"DELETE FROM {spec.table} WHERE oid = ?", (oid,))


def _decoded(tx: Tx, spec: PoolSpec, texts: Iterable[str]) -> list[Body]:
    """Stored bodies as callers see them: a VM's with its host's newest figures."""
    bodies = [json.loads(text) for text in texts]
    if spec.table == schema.VMS.table:
        current_figures(tx, bodies)
    return bodies


def current_figures(tx: Tx, vms: Iterable[Body]) -> None:
    """Set each VM's MONITORING and LAST_POLL to its host's newest poll of it
    (``schema.VM_MONITORING_LAST``: a cycle writes the figures a row per host, not into
    every VM's body), where that poll is newer than the body's own and was taken during
    the VM's current stay on the host. One query for the VMs' hosts."""
    by_host: dict[int, list[Body]] = {}
    for vm in vms:
        hid = schema.hosted_hid(vm)
        if hid >= 0:
            by_host.setdefault(hid, []).append(vm)
    hids = sorted(by_host)
    for start in range(0, len(hids), _IN_CHUNK):
        chunk = hids[start : start + _IN_CHUNK]
        marks = ", ".join("?" for _ in chunk)
        rows = tx.rows(
            f"SELECT hid, last_poll, body FROM {schema.VM_MONITORING_LAST.name} "
            f"WHERE hid IN ({marks})",
            tuple(chunk),
        )
        for hid, at, text in rows:
            figures = json.loads(text)
            for vm in by_host[hid]:
                seen = figures.get(str(vm["ID"]))
                since = vm["HISTORY_RECORDS"][-1].get("STIME", 0)
                if seen is not None and at >= since and at >= (vm.get("LAST_POLL") or 0):
                    vm["MONITORING"], vm["LAST_POLL"] = seen, at


_MAX_VARIABLES = 999  # parameters per statement: SQLite's smallest build limit
_IN_CHUNK = 500  # ids per IN (...): under SQLite's 999 variables


def get(tx: Tx, spec: PoolSpec, oid: int, lock: bool = False) -> Body | None:
    """The object, or None. ``lock`` holds it until the transaction ends (for a write)."""
    sql = f"SELECT body FROM {spec.table} WHERE oid = ?" + (tx.for_update if lock else "")
    row = tx.row(sql, (oid,))
    return _decoded(tx, spec, [row[0]])[0] if row else None


def find_by_name(tx: Tx, spec: PoolSpec, name: str, lock: bool = False) -> Body | None:
    sql = f"SELECT body FROM {spec.table} WHERE name = ?" + (tx.for_update if lock else "")
    rows = tx.rows(sql, (name,))
    if len(rows) > 1:
        raise Conflict(f"there are {len(rows)} {spec.noun}s named {name!r}; use the ID")
    return _decoded(tx, spec, [rows[0][0]])[0] if rows else None


def resolve(tx: Tx, spec: PoolSpec, ref: int | str, lock: bool = False) -> Body:
    """The object named by id (an int or a string of digits) or by name; NotFound if none."""
    kind = spec.noun
    if isinstance(ref, bool) or ref is None or (isinstance(ref, str) and not ref.strip()):
        raise InvalidInput(f"a {kind} id or name is required")
    if isinstance(ref, int) or re.fullmatch(r"-?[0-9]+", str(ref).strip()):
        oid = int(ref)
        body = get(tx, spec, oid, lock=lock) if 0 <= oid <= MAX_OID else None
        if body is None:
            raise NotFound(f"{kind} {shorten(str(ref).strip())} does not exist")
        return body
    body = find_by_name(tx, spec, str(ref).strip(), lock=lock)
    if body is None:
        raise NotFound(f"{kind} named {shorten(str(ref).strip())!r} does not exist")
    return body


def all_bodies(tx: Tx, spec: PoolSpec, where: str = "", params: tuple = ()) -> list[Body]:
    sql = f"SELECT body FROM {spec.table}" + (f" WHERE {where}" if where else "") + " ORDER BY oid"
    return _decoded(tx, spec, [r[0] for r in tx.rows(sql, params)])


# ---- paging (ONE_POOL_PAGE_SIZE) --------------------------------------------------------
# A listing pages as oned's pool info calls do: objects in id order from a start id, at
# most a page size of them. A full page means more may follow, from ``next_start``; a
# shorter one is the last. Every listing that pages takes ``start`` and ``page_size``
# (None: everything), so callers page the same way in-process and through the core API.
READ_CHUNK = 1000  # rows per query when a listing reads everything


def check_page(start: int, page_size: int | None) -> None:
    """Refuse a page request out of range, naming the parameter."""
    if not 0 <= start <= MAX_OID:
        raise InvalidInput(f"start must be an object id from 0 to {MAX_OID}, got {start}")
    if page_size is not None and not 1 <= page_size <= MAX_OID:
        raise InvalidInput(
            f"page_size must be from 1 to {MAX_OID} (or null for every object), got {page_size}"
        )


def bodies_from(
    tx: Tx,
    spec: PoolSpec,
    start: int = 0,
    where: str = "",
    params: tuple = (),
    chunk: int = READ_CHUNK,
) -> Iterator[Body]:
    """The objects with ID >= ``start`` in ID order, read ``chunk`` rows per query, so
    a caller that stops early (a page) reads no more than it needs, and one that reads
    everything holds one chunk of rows at a time."""
    sql = (
        f"SELECT oid, body FROM {spec.table} WHERE oid >= ?"
        + (f" AND ({where})" if where else "")
        + " ORDER BY oid LIMIT ?"
    )
    cursor = start
    while True:
        rows = tx.rows(sql, (cursor, *params, chunk))
        yield from _decoded(tx, spec, [body for _oid, body in rows])
        if len(rows) < chunk:
            return
        cursor = rows[-1][0] + 1


def next_start(page: list[Any], page_size: int | None) -> int | None:
    """Where the page after ``page`` starts, or None when ``page`` was the last (not
    full, or no paging): the next-page marker of a listing."""
    if page_size is None or len(page) < page_size or not page:
        return None
    return int(page[-1]["ID"]) + 1


def pages(
    fetch: Callable[[int, int | None], list[Any]], page_size: int | None, start: int = 0
) -> Iterator[list[Any]]:
    """Every page of a listing, ``fetch(start, page_size)`` one after another: the first
    page always (it may be empty), later ones until a page is the last."""

    def page_at(at: int) -> tuple[list[Any], int | None]:
        page = fetch(at, page_size)
        return page, next_start(page, page_size)

    return follow(page_at, start)


def follow(fetch: Callable[[Any], tuple[list[Any], Any]], first: Any) -> Iterator[list[Any]]:
    """The pages a listing's next-page markers lead to: ``fetch(marker)`` answers a page
    and the next marker (None after the last), starting from ``first``. The first page
    is yielded always (it may be empty), a later empty one never. One loop for every
    way a listing says where it goes on: computed here (``pages``), the core API's
    ``next`` (``remote.pages``), OneFlow's ``Link`` header (the CLI's REST client)."""
    marker, is_first = first, True
    while marker is not None:
        page, marker = fetch(marker)
        if page or is_first:
            yield page
        is_first = False


def check_name(kind: str, name: Any) -> str:
    """A valid object name: 1-128 characters, no blanks, control characters or ':', not
    only digits (the CLIs read a number as an ID)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{kind} name is required")
    if len(name) > 128:
        raise InvalidInput(f"{kind} name is longer than 128 characters")
    if any(c.isspace() or not c.isprintable() or c == ":" for c in name):
        raise InvalidInput(
            f"{kind} name {shorten(name)!r} is invalid: no spaces, control or invisible "
            "characters, or ':'"
        )
    if re.fullmatch(r"[0-9]+", name):
        raise InvalidInput(f"{kind} name {name!r} is invalid: it would read as an ID")
    return name


STATES = ("present", "absent")


def check_state(state: Any) -> str:
    if state not in STATES:
        raise InvalidInput(f"state must be present or absent, got {state!r}")
    return state

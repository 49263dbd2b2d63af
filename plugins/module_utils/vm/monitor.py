"""Host and VM monitoring: one cycle polls every host (concurrently), records capacity and
usage, moves host and VM states, and reconciles the store with the hypervisors.

Per host, one poll (``Driver.monitor``), its result applied in one transaction (shared
with the hosts whose polls arrived at the same time; retried alone if that fails):

* a good poll: the host is MONITORED (a DISABLED one stays DISABLED), its capacity and
  usage are recorded; each of its VMs gets its usage, and its state is concluded from
  what the hypervisor shows (``lifecycle.conclude_from_host``): a transient state whose
  outcome is visible is finished, a RUNNING VM whose guest is gone is POWEROFF...;
* a failed poll (the URI does not answer, or not within its IM_MAD's ``-w``): the host is ERROR
  with the reason in ``TEMPLATE/ERROR``, and its RUNNING VMs are UNKNOWN.

Guests named ``one-<id>`` that no live VM holds on that host are destroyed after the
transaction (the VM is DONE, holds no host, or lives on another hypervisor). A guest
whose id the store never issued is left alone: it belongs to someone else (another
instance, another tool on the same hypervisor).

A VM's figures (its MONITORING and LAST_POLL as users read them) are written a row per
host: each good poll replaces the host's row of ``vm_monitoring_last``, ``{"<vm id>":
figures}`` for the VMs seen, and ``core.pool`` lays them over every VM body it reads. A
VM whose state did not move is not written at all (its body is rewritten only when its
state moves, with the figures).

Monitoring history (the guide's 3.2.2): each good poll writes one sample per host
(``host_monitoring``: its HOST_SHARE and state) and one row of its VMs' samples
(``vm_monitoring``: the same ``{"<vm id>": figures}`` object), kept for
HOST_/VM_MONITORING_EXPIRATION_TIME seconds; 0 records none and expires what is left.
Expiry runs once per cycle, while the polls are under way (never inside the hosts'
transactions), oldest rows first, at most ``expiry_batch`` rows per statement (each its
own short transaction) and at most ``max(expiry_batch, 2 x the rows the cycle writes)``
rows per table and cycle (a row per host in each): a steady cycle expires what it
writes, a backlog (a long outage) drains over the next cycles without holding the store.
``host_monitoring``/``vm_monitoring`` read the samples back with the caller's rights
(``onehost show --monitoring``, the graphs); a VM's are found through its
HISTORY_RECORDS (which host, when), so a VM that moved keeps them all.

What makes a cycle cheap at 10k VMs: polls submitted at once to ``drivers.executor``
(threads kept between cycles); the expiry done while the hypervisors answer; a
transaction's VMs, then its hosts, read and locked in one statement each; per host one
row of figures and one of samples, so a cycle writes a few pages per host, not one (or
more) per VM; rows inserted many per statement; few commits (``_apply``).
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import events, pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import Target
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Tx
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    InvalidInput,
    OneError,
    StoreError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    STABLE_LCM,
    HostState,
    Lcm,
    VmState,
)
from ansible_collections.onekit.cloud.plugins.module_utils.drivers import driver_for
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import (
    MISSING,
    DriverError,
    HostStatus,
    VmStatus,
    deploy_id_for,
    vm_id_of,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, vms

log = logging.getLogger("onekit.monitor")
Body = dict[str, Any]
EXPIRY_BATCH = 5000
ROWS_PER_STATEMENT = 250  # batched writes: 3-4 values a row, under SQLite's 999 variables
MAX_SAMPLES = 10000  # what one read of the history returns at most
MAX_VMS_PER_TRANSACTION = 2000  # hosts' results applied together (see _apply)
_HOST_ATTRIBUTES = ("PUBLIC_CLOUD", "PRIORITY")  # HostStatus.extra written to the template


@dataclass(frozen=True)
class MonitorConfig:
    interval: int = 60
    host_expiration: int = 43200
    vm_expiration: int = 14400
    shutdown_timeout: int = lifecycle.DEFAULT_SHUTDOWN_TIMEOUT
    grace: int = lifecycle.DEFAULT_TRANSIENT_GRACE
    expiry_batch: int = EXPIRY_BATCH  # history rows one expiry statement deletes at most


@dataclass
class HostReport:
    host_id: int
    name: str
    state: int
    error: str | None = None
    went_error: bool = False  # this cycle moved the host into ERROR (hooks fire on it)
    changes: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    samples: int = 0  # VM samples written (its host's one aside)


def _monitored_hosts(session: Session, host_ids: list[int] | None) -> list[Body]:
    """Enabled hosts, and DISABLED ones that still hold VMs (as oned monitors them)."""
    with session.read() as w:
        found = pool.all_bodies(w.tx, schema.HOSTS)
    if host_ids is not None:
        found = [h for h in found if h["ID"] in host_ids]
    return [h for h in found if h["STATE"] != HostState.DISABLED or h["VMS"]]


def _start_poll(host: Body) -> concurrent.futures.Future[HostStatus]:
    """The host's poll, under way: a call of its IM_MAD through ``drivers.executor``
    (its -t threads; its -w bounds the poll; a host whose earlier call is still stuck
    is not asked, its future fails at once)."""
    try:
        return driver_for(host).start_monitor()
    except OneError as err:  # no driver for the host: its poll failed
        failed: concurrent.futures.Future[HostStatus] = concurrent.futures.Future()
        failed.set_exception(err)
        return failed


def cycle(
    session: Session, config: MonitorConfig, host_ids: list[int] | None = None
) -> list[HostReport]:
    """Poll the hosts (all, or ``host_ids``) at once (as many at a time as their IM_MAD's
    -t); one host that hangs costs the others nothing, and is itself reported as ERROR
    once its poll has had no answer for the IM_MAD's -w seconds. Results
    are applied as they arrive, those that arrived together in one transaction (see
    ``_apply``). The history is expired while the first polls are under way (the
    store is idle then: the cycle waits on the hypervisors), by as many rows as the
    cycle will write."""
    targets = _monitored_hosts(session, host_ids)
    if not targets:
        return []
    polled_at = time.time()
    waiting = {_start_poll(host): host for host in targets}
    host_rows = len(targets) if config.host_expiration else 0
    vm_rows = len(targets) if config.vm_expiration else 0  # a row per host: its VMs'
    try:
        expire(session, config, host_rows, vm_rows)
    except OneError as err:  # the store is busy: the next cycle expires more
        log.error("expiring monitoring history: %s", err)
    reports: dict[int, HostReport] = {}
    while waiting:  # every poll ends: answered, failed, or given up at its -w
        done, _ = concurrent.futures.wait(waiting, return_when=concurrent.futures.FIRST_COMPLETED)
        arrived = [(waiting.pop(f), f) for f in done]
        for report in _apply(session, arrived, config, polled_at):
            reports[report.host_id] = report
    ordered = [reports[h["ID"]] for h in targets]
    for report in ordered:
        for line in report.changes:
            log.info("%s", line)
    return ordered


@dataclass
class _Poll:
    """One host's poll as the cycle applies it."""

    host: Body
    status: HostStatus | None
    error: str | None

    @classmethod
    def of(cls, host: Body, future: concurrent.futures.Future) -> _Poll:
        """What the (done) future gave: a status, or why not (no answer within the
        IM_MAD's -w, an earlier call still stuck, a driver error)."""
        try:
            return cls(host, future.result(), None)
        except OneError as err:
            return cls(host, None, str(err))
        except Exception as err:  # a driver bug must not stop the other hosts' cycle
            return cls(host, None, f"monitoring failed: {type(err).__name__}: {err}")


def _apply(
    session: Session,
    arrived: list[tuple[Body, concurrent.futures.Future]],
    config: MonitorConfig,
    polled_at: float,
) -> list[HostReport]:
    """Apply polls that arrived together, up to MAX_VMS_PER_TRANSACTION VMs per
    transaction: on SQLite a commit costs as much as a host's writes, so 100 hosts in
    100 transactions took three times as long as in a few. A transaction that fails is
    retried host by host, so a host whose result cannot be written (or the store is
    busy) waits for the next cycle alone."""
    polls = [_Poll.of(host, future) for host, future in arrived]
    reports: list[HostReport] = []
    group: list[_Poll] = []
    size = 0
    for poll in polls:
        weight = len(poll.host.get("VMS") or ()) + 1
        if group and size + weight > MAX_VMS_PER_TRANSACTION:
            reports += _apply_group(session, group, config, polled_at)
            group, size = [], 0
        group.append(poll)
        size += weight
    if group:
        reports += _apply_group(session, group, config, polled_at)
    return reports


@dataclass
class _Writes:
    """What the hosts of a transaction write many rows per statement, at its end."""

    hosts: list[Body] = field(default_factory=list)  # polled hosts none of whose VMs moved
    figures: list[tuple[int, int, str]] = field(default_factory=list)  # a host's VMs' newest
    vm_samples: list[tuple[int, int, str]] = field(default_factory=list)  # a row per host
    host_samples: list[tuple[int, int, str]] = field(default_factory=list)
    # (STATE, LCM_STATE, guest) -> does a poll leave a stable VM so (see _settled)
    settled: dict[tuple[int, int, str], bool] = field(default_factory=dict)

    def flush(self, tx: Tx, now: int) -> None:
        pool.update_many(tx, schema.HOSTS, self.hosts)
        _insert_rows(tx, "vm_monitoring_last (hid, last_poll, body)", self.figures)
        _insert_rows(tx, "vm_monitoring (hid, last_poll, body)", self.vm_samples)
        _insert_rows(tx, "host_monitoring (hid, last_mon_time, body)", self.host_samples)


def _apply_group(
    session: Session, polls: list[_Poll], config: MonitorConfig, polled_at: float
) -> list[HostReport]:
    now = time.time()
    try:
        with session.write() as w:
            # VMs before their hosts, the order every writer follows (no lock-order
            # deadlock), and every host's VMs before any host.
            ids = [p.host["ID"] for p in polls]
            held = _lock_vms_on(w, ids)
            stored = _lock_hosts(w, ids)
            writes = _Writes()
            done = [
                _apply_host(
                    w, p, stored.get(p.host["ID"]), held.get(p.host["ID"], []), config,
                    polled_at, now, writes,
                )
                for p in polls
            ]  # fmt: skip
            writes.flush(w.tx, int(now))
    except OneError as err:
        if len(polls) > 1:
            return [r for p in polls for r in _apply_group(session, [p], config, polled_at)]
        host = polls[0].host
        log.error("monitoring host %s: %s", host["NAME"], err)
        return [HostReport(host["ID"], host["NAME"], host["STATE"], str(err))]
    for poll, (report, host) in zip(polls, done, strict=True):
        if poll.status is not None and host is not None:
            here = {vm.oid for vm in held.get(poll.host["ID"], [])}
            report.orphans = _destroy_orphans(session, host, poll.status, here)
    return [report for report, _ in done]


def _apply_host(
    w: AuthTx,
    poll: _Poll,
    host: Body | None,
    vms_here: list[_Held],
    config: MonitorConfig,
    polled_at: float,
    now: float,
    writes: _Writes,
) -> tuple[HostReport, Body | None]:
    """``host``: the stored host (locked), None if it was deleted meanwhile."""
    host_id = poll.host["ID"]
    if host is None:
        return HostReport(host_id, "?", -1, "deleted while it was polled"), None
    report = HostReport(host_id, host["NAME"], host["STATE"], poll.error)
    host["LAST_MON_TIME"] = int(now)
    if poll.status is None:
        _host_failed(w, host, vms_here, poll.error or "unknown error", report)
    else:
        _host_ok(w, host, vms_here, poll.status, now, config, report, polled_at, writes)
    report.state = host["STATE"]
    if config.host_expiration:
        sample = _dumps({"HOST_SHARE": host["HOST_SHARE"], "STATE": host["STATE"]})
        writes.host_samples.append((host_id, int(now), sample))
    return report, host


def _host_failed(
    w: AuthTx, host: Body, vms_here: list[_Held], error: str, report: HostReport
) -> None:
    if host["STATE"] != HostState.DISABLED:
        report.went_error = host["STATE"] != HostState.ERROR
        host["STATE"] = int(HostState.ERROR)
    if report.went_error:  # the server's HOST_HOOK on ERROR is due (hooks.claim_host_errors)
        events.publish(events.HOST_ERROR, host)
    host["TEMPLATE"]["ERROR"] = error
    pool.update(w.tx, schema.HOSTS, host)
    if report.went_error:
        report.changes.append(f"host {host['NAME']} is ERROR: {error}")
    for held in vms_here:
        if held.state == VmState.ACTIVE and held.lcm_state == Lcm.RUNNING:
            vm = held.body(w)
            vms.set_state(vm, VmState.ACTIVE, Lcm.UNKNOWN)
            pool.update(w.tx, schema.VMS, vm)
            report.changes.append(
                f"VM {vm['ID']} ({vm['NAME']}) is UNKNOWN: its host {host['NAME']} is ERROR"
            )


def _host_ok(
    w: AuthTx,
    host: Body,
    vms_here: list[_Held],
    status: HostStatus,
    now: float,
    config: MonitorConfig,
    report: HostReport,
    polled_at: float,
    writes: _Writes,
) -> None:
    if host["STATE"] != HostState.DISABLED:
        if host["STATE"] == HostState.ERROR:
            report.changes.append(f"host {host['NAME']} is MONITORED again")
        host["STATE"] = int(HostState.MONITORED)
    tpl = host["TEMPLATE"]
    tpl.pop("ERROR", None)
    tpl.update(
        HOSTNAME=host["NAME"],
        HYPERVISOR=status.hypervisor,
        TOTALCPU=str(status.total_cpu),
        TOTALMEMORY=str(status.total_memory),
        USEDCPU=str(status.used_cpu),
        USEDMEMORY=str(status.used_memory),
        FREECPU=str(status.total_cpu - status.used_cpu),
        FREEMEMORY=str(status.total_memory - status.used_memory),
        CPUSPEED=str(status.cpu_mhz),
        MODELNAME=status.cpu_model,
    )
    # what a driver says its host is (a partner cloud: PUBLIC_CLOUD, PRIORITY)
    tpl.update({k: str(v) for k, v in status.extra.items() if k in _HOST_ATTRIBUTES})
    share = host["HOST_SHARE"]
    share["MAX_CPU"] = max(0, status.total_cpu - _reserved(tpl, "RESERVED_CPU"))
    share["MAX_MEM"] = max(0, status.total_memory - _reserved(tpl, "RESERVED_MEM"))
    share["USED_CPU"], share["USED_MEM"] = status.used_cpu, status.used_memory
    share["FREE_CPU"] = status.total_cpu - status.used_cpu
    share["FREE_MEM"] = status.total_memory - status.used_memory
    samples: list[str] = []  # '"<vm id>":<figures>' of the VMs seen
    moving: list[tuple[_Held, str, str | None]] = []  # VMs whose state the poll may move
    for held in vms_here:
        seen = status.vms.get(deploy_id_for(held.oid))  # DEPLOY_ID is this or ""
        monitoring = _dumps(_figures(seen)) if seen is not None else None
        if monitoring is not None:
            samples.append(f'"{held.oid}":{monitoring}')
        guest = seen.state if seen else MISSING
        if not _settled(w, held, guest, now, config, writes):
            moving.append((held, guest, monitoring))
    if not moving:  # written with the transaction's other hosts, in one statement
        writes.hosts.append(host)
    else:
        # Written before the VMs are concluded: a VM that leaves the host releases its
        # capacity on the stored host row, which must already hold this poll's figures.
        pool.update(w.tx, schema.HOSTS, host)
    for held, guest, monitoring in moving:
        vm = held.body(w)
        if monitoring is not None:
            vm["MONITORING"], vm["LAST_POLL"] = json.loads(monitoring), int(now)
        # A VM changed after the poll was taken is judged by the next poll.
        if vm.get("STATE_TIME", 0) <= polled_at:
            change = lifecycle.conclude_from_host(
                w, vm, guest, now, config.grace, config.shutdown_timeout
            )
            if change:
                report.changes.append(change)
        pool.update(w.tx, schema.VMS, vm)
    # The host's VMs' figures, one JSON object keyed by VM id: their MONITORING as users
    # read it (the row replaces the host's last; ``pool`` lays it over the VMs' bodies),
    # and the cycle's sample in the history. A VM whose state did not move is not written.
    figures = "{" + ",".join(samples) + "}"
    writes.figures.append((host["ID"], int(now), figures))
    if samples and config.vm_expiration:
        writes.vm_samples.append((host["ID"], int(now), figures))
        report.samples = len(samples)


def _settled(
    w: AuthTx, held: _Held, guest: str, now: float, config: MonitorConfig, writes: _Writes
) -> bool:
    """Would the poll leave the VM's state as it is (most VMs, most cycles)? Then its
    body need not even be read. A transient state is concluded with the whole body. For
    a stable one, ``conclude_from_host`` (the one place of the rule) is asked about a
    copy made of the row's columns: it reads only them (a stable state's outcome is its
    state and the guest's, so the answer is kept for the transaction's other VMs: 10k
    calls a cycle were a tenth of its CPU), and changes nothing but the copy."""
    if held.state == VmState.ACTIVE and held.lcm_state not in _STABLE_LCM:
        return False
    key = (held.state, held.lcm_state, guest)
    settled = writes.settled.get(key)
    if settled is None:
        copy = {"ID": held.oid, "NAME": "", "STATE": held.state, "LCM_STATE": held.lcm_state}
        change = lifecycle.conclude_from_host(
            w, copy, guest, now, config.grace, config.shutdown_timeout
        )
        settled = writes.settled[key] = change is None
    return settled


_STABLE_LCM = frozenset(int(lcm) for lcm in STABLE_LCM)


def _figures(seen: VmStatus) -> dict[str, Any]:
    """A VM's MONITORING: what the hypervisor gave of its usage."""
    figures = (
        ("CPU", seen.cpu),
        ("MEMORY", seen.memory),
        ("NETTX", seen.net_tx),
        ("NETRX", seen.net_rx),
    )
    return {key: value for key, value in figures if value is not None}


# one encoder for every sample: json.dumps with separators builds a new one each call,
# which at 10k VMs was ~5% of the apply phase (measured with bench/monitor.py --profile)
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def _chunks(rows: list, size: int = ROWS_PER_STATEMENT) -> Iterator[list]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _insert_rows(tx: Tx, into: str, rows: list[tuple[int, int, str]]) -> None:
    """Samples, many per statement; REPLACE: a second poll within the same second (a
    forceupdate right after a cycle) overwrites the first sample of that second."""
    for chunk in _chunks(rows):
        values = ", ".join("(?, ?, ?)" for _ in chunk)
        tx.execute(f"REPLACE INTO {into} VALUES {values}", [v for row in chunk for v in row])


def _reserved(tpl: dict, key: str) -> int:
    try:
        return int(float(tpl.get(key, 0) or 0))
    except ValueError:
        return 0


@dataclass(frozen=True)
class _Held:
    """A VM holding the host, as its locked row's columns show it."""

    oid: int
    state: int
    lcm_state: int

    def body(self, w: AuthTx) -> Body:
        """The whole VM (already locked), for a VM whose state may move."""
        vm = pool.get(w.tx, schema.VMS, self.oid)
        if vm is None:  # the row is locked: it cannot have gone
            raise AssertionError(f"VM {self.oid} vanished under its lock")
        return vm


def _lock_vms_on(w: AuthTx, host_ids: list[int]) -> dict[int, list[_Held]]:
    """The VMs holding these hosts (running, transient, suspended, powered off) by host,
    locked, in one statement that reads what a poll needs of them: their ids grouped by
    host and state, not bodies (a guest's name is ``deploy_id_for`` its id: DEPLOY_ID is
    that or empty; reading it out of 10k bodies was a fifth of a cycle) and not a row per
    VM (on MariaDB, pymysql decoding 10k rows took a third of the cycle's store time)."""
    marks = ", ".join("?" for _ in host_ids)
    rows = w.tx.rows(
        f"SELECT hid, state, lcm_state, COUNT(*), GROUP_CONCAT(oid) FROM vm_pool "
        f"WHERE hid IN ({marks}) GROUP BY hid, state, lcm_state" + w.tx.for_update,
        tuple(host_ids),
    )
    held: dict[int, list[_Held]] = {}
    for hid, state, lcm, count, oids in rows:
        ids = oids.split(",")
        if len(ids) != count:  # a list cut short (MySQL's group_concat_max_len)
            raise StoreError(
                f"the store listed {len(ids)} of the {count} VMs of host {hid}: "
                "raise the server's group_concat_max_len"
            )
        held.setdefault(hid, []).extend(_Held(int(oid), state, lcm) for oid in ids)
    return held


def _lock_hosts(w: AuthTx, host_ids: list[int]) -> dict[int, Body]:
    """The stored hosts, locked, in one statement (after their VMs: the lock order)."""
    marks = ", ".join("?" for _ in host_ids)
    rows = w.tx.rows(
        f"SELECT body FROM {schema.HOSTS.table} WHERE oid IN ({marks}) ORDER BY oid"
        + w.tx.for_update,
        tuple(host_ids),
    )
    return {host["ID"]: host for host in (json.loads(row[0]) for row in rows)}


def _destroy_orphans(session: Session, host: Body, status: HostStatus, held: set[int]) -> list[str]:
    """Guests named one-<id> that no live VM holds on this host (``held``: the VMs that
    held it this poll): the VM is DONE, holds no host at all (PENDING, STOPPED, FAILED...:
    a deploy that lost a race, a recreate whose host was cut off), or lives on another
    hypervisor. Destroy them."""
    expected = {deploy_id_for(vm_id) for vm_id in held}
    ids = {vm_id_of(d): d for d in status.vms if d not in expected}
    ids.pop(None, None)
    if not ids:  # the usual case: every guest is one of the host's VMs
        return []
    with session.read() as w:
        marks = ", ".join("?" for _ in ids)
        rows = w.tx.rows(
            f"SELECT oid, state, lcm_state, hid FROM vm_pool WHERE oid IN ({marks})", tuple(ids)
        )
        elsewhere = {r[3] for r in rows} - {-1, host["ID"]}
        uris = {h["ID"]: hosts.uri_of(h) for h in pool.all_bodies(w.tx, schema.HOSTS) if elsewhere}
    here = hosts.uri_of(host)
    orphans = []
    for vm_id, state, lcm, hid in rows:  # ids the store never issued are someone else's
        transient = state == VmState.ACTIVE and Lcm(lcm) not in STABLE_LCM
        if (
            state == VmState.DONE
            or (hid == -1 and not transient)
            or (hid not in (-1, host["ID"]) and uris.get(hid) != here)
        ):
            orphans.append(ids[vm_id])
    driver = driver_for(host)
    for deploy in orphans:
        try:
            driver.cancel(deploy)
            log.warning("host %s: destroyed %s, which no live VM holds here", host["NAME"], deploy)
        except DriverError as err:
            log.warning("host %s: could not destroy orphan %s: %s", host["NAME"], deploy, err)
    return orphans


# ---- expiry ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _History:
    table: str
    key: str  # the object's id column
    time: str  # the sample's time column


_HOSTS_HISTORY = _History("host_monitoring", "hid", "last_mon_time")
_VMS_HISTORY = _History("vm_monitoring", "hid", "last_poll")


def expire(
    session: Session, config: MonitorConfig, host_rows: int = 0, vm_rows: int = 0
) -> tuple[int, int]:
    """Delete samples older than their expiration time (all of them where it is 0),
    oldest first: at most ``config.expiry_batch`` rows per statement, each statement its
    own transaction, and at most ``max(expiry_batch, 2 x rows written)`` per table (the
    rows the cycle writes). Returns the rows deleted (hosts', VMs')."""
    batch = max(1, config.expiry_batch)
    now = int(time.time())
    deleted = []
    for history, keep, written in (
        (_HOSTS_HISTORY, config.host_expiration, host_rows),
        (_VMS_HISTORY, config.vm_expiration, vm_rows),
    ):
        cutoff = now - keep if keep else now + 1  # 0 keeps none
        budget, done = max(batch, 2 * written), 0
        while done < budget:
            size = min(batch, budget - done)
            with session.write() as w:
                count = _expire_batch(w.tx, history, cutoff, size)
            done += count
            if count < size:
                break
        deleted.append(done)
    return deleted[0], deleted[1]


def _expire_batch(tx: Tx, history: _History, cutoff: int, size: int) -> int:
    """Delete the ``size`` oldest samples older than ``cutoff`` (fewer if there are not
    as many). The boundary is the size-th oldest (time, id) on the time index, so the
    statement is bounded on SQLite and MySQL alike (neither DELETE ... LIMIT nor a LIMIT
    subquery works on both)."""
    table, key, at = history.table, history.key, history.time
    boundary = tx.row(
        f"SELECT {at}, {key} FROM {table} WHERE {at} < ? ORDER BY {at}, {key} LIMIT 1 OFFSET ?",
        (cutoff, size - 1),
    )
    if boundary is None:  # fewer than size rows to expire: all of them
        return tx.execute(f"DELETE FROM {table} WHERE {at} < ?", (cutoff,))
    last_time, last_id = boundary
    return tx.execute(
        f"DELETE FROM {table} WHERE {at} <= ? AND ({at} < ? OR {key} <= ?)",
        (last_time, last_time, last_id),
    )


# ---- reading the history -----------------------------------------------------------------
Ref = int | str


def host_monitoring(
    session: Session, ref: Ref, since: int | None = None, limit: int = 60
) -> list[Body]:
    """A host's monitoring samples, oldest first: ``{"TIME", "STATE", "HOST_SHARE"}``, the
    newest ``limit`` (1-10000) taken at or after ``since`` (epoch seconds), for a caller
    who may USE the host (``onehost show --monitoring``, the web UI's graphs)."""
    return _samples(session, schema.HOSTS, _HOSTS_HISTORY, ref, since, limit)


def vm_monitoring(
    session: Session, ref: Ref, since: int | None = None, limit: int = 60
) -> list[Body]:
    """A VM's monitoring samples, oldest first: ``{"TIME", "CPU", "MEMORY", "NETTX",
    "NETRX"}`` (the figures its hypervisor gave), as ``host_monitoring``. A cycle stores
    the VMs' samples one row per host (see ``_host_ok``): the VM's HISTORY_RECORDS say on
    which hosts it stayed and when, so a VM that moved keeps its samples from every host;
    each host's rows of the stay are read newest first, only the VM's figures taken out
    (by the store: ``json_extract``), until ``limit`` samples are found."""
    _check_window(since, limit)
    with session.read() as w:
        vm = pool.resolve(w.tx, schema.VMS, ref)
        w.authorize(Target.of(schema.VMS.resource, vm), Right.USE)
        extract = "json_extract" if w.tx.db.dialect == "sqlite" else "JSON_EXTRACT"
        member = f'$."{int(vm["ID"])}"'
        # by (time, host): two stays on one host may share a second (each reads it)
        found: dict[tuple[int, int], str] = {}
        records = vm.get("HISTORY_RECORDS") or []
        for index in range(len(records) - 1, -1, -1):
            if len(found) >= limit:
                break  # older stays only hold older samples
            # a stay's rows: from the end of the one before (not its own start: a sample
            # is only ever in the rows of the host that held the VM, and the clock of the
            # process that deployed it need not be the monitor's) to its own end
            low = max(since or 0, int(records[index - 1]["ETIME"]) if index else 0)
            high = int(records[index]["ETIME"]) or 2**62  # an open stay: up to now
            if high < low:
                continue
            rows = w.tx.rows(
                f"SELECT last_poll, {extract}(body, ?) FROM {_VMS_HISTORY.table} "
                "WHERE hid = ? AND last_poll >= ? AND last_poll <= ? "
                f"AND {extract}(body, ?) IS NOT NULL ORDER BY last_poll DESC LIMIT ?",
                (member, int(records[index]["HID"]), low, high, member, limit),
            )
            for at, figures in rows:
                found.setdefault((at, int(records[index]["HID"])), figures)
    newest = sorted(found)[-limit:]
    return [{"TIME": key[0], **json.loads(found[key])} for key in newest]


def _check_window(since: int | None, limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_SAMPLES:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_SAMPLES}, got {limit!r}")
    if since is not None and (isinstance(since, bool) or not isinstance(since, int) or since < 0):
        raise InvalidInput(f"since must be epoch seconds (a whole number >= 0), got {since!r}")


def _samples(
    session: Session,
    spec: schema.PoolSpec,
    history: _History,
    ref: Ref,
    since: int | None,
    limit: int,
) -> list[Body]:
    _check_window(since, limit)
    table, key, at = history.table, history.key, history.time
    with session.read() as w:
        body = pool.resolve(w.tx, spec, ref)
        w.authorize(Target.of(spec.resource, body), Right.USE)
        rows = w.tx.rows(
            f"SELECT {at}, body FROM {table} WHERE {key} = ? AND {at} >= ? "
            f"ORDER BY {at} DESC LIMIT ?",
            (body["ID"], since or 0, limit),
        )
    return [{"TIME": t, **json.loads(b)} for t, b in reversed(rows)]


def first_poll(session: Session, config: MonitorConfig, host_ids: list[int]) -> list[HostReport]:
    """The first monitoring pass of hosts the caller has just registered, so they are
    usable at once. oned monitors every host it knows, whoever registered it: the pass runs
    with the system's rights, not the caller's (who may lack ADMIN on the host)."""
    return cycle(Session.system(session.db), config, host_ids)


def poll_now(
    session: Session, config: MonitorConfig, host_ids: list[int] | None = None
) -> list[HostReport]:
    """``onehost forceupdate``: a cycle now, for a caller with ADMIN on every host polled
    (it also runs the reconciler, which is the server's to run)."""
    with session.read() as w:
        for host in pool.all_bodies(w.tx, schema.HOSTS):
            if host_ids is None or host["ID"] in host_ids:
                w.authorize(Target.of("HOST", host), Right.ADMIN)
    return cycle(Session.system(session.db), config, host_ids)

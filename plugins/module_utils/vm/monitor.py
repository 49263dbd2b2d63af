"""Host and VM monitoring: one cycle polls every host (concurrently), records capacity and
usage, moves host and VM states, and reconciles the store with the hypervisors.

Per host, one poll (``Driver.monitor``) and one transaction:

* a good poll: the host is MONITORED (a DISABLED one stays DISABLED), its capacity and
  usage are recorded; each of its VMs gets its usage, and its state is concluded from
  what the hypervisor shows (``lifecycle.conclude_from_host``): a transient state whose
  outcome is visible is finished, a RUNNING VM whose guest is gone is POWEROFF...;
* a failed poll (the URI does not answer, or not within ``timeout``): the host is ERROR
  with the reason in ``TEMPLATE/ERROR``, and its RUNNING VMs are UNKNOWN.

Guests named ``one-<id>`` that no live VM holds on that host are destroyed after the
transaction (the VM is DONE, holds no host, or lives on another hypervisor). A guest
whose id the store never issued is left alone: it belongs to someone else (another
instance, another tool on the same hypervisor). Monitoring rows are kept for
HOST_/VM_MONITORING_EXPIRATION_TIME seconds (0 keeps none).
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import events, pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import Target
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import OneError
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
    deploy_id_for,
    vm_id_of,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, vms

log = logging.getLogger("onekit.monitor")
Body = dict[str, Any]


@dataclass(frozen=True)
class MonitorConfig:
    interval: int = 60
    timeout: float = 30.0  # one host's poll
    host_expiration: int = 43200
    vm_expiration: int = 14400
    shutdown_timeout: int = lifecycle.DEFAULT_SHUTDOWN_TIMEOUT
    grace: int = lifecycle.DEFAULT_TRANSIENT_GRACE


@dataclass
class HostReport:
    host_id: int
    name: str
    state: int
    error: str | None = None
    went_error: bool = False  # this cycle moved the host into ERROR (hooks fire on it)
    changes: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)


def _monitored_hosts(session: Session, host_ids: list[int] | None) -> list[Body]:
    """Enabled hosts, and DISABLED ones that still hold VMs (as oned monitors them)."""
    with session.read() as w:
        found = pool.all_bodies(w.tx, schema.HOSTS)
    if host_ids is not None:
        found = [h for h in found if h["ID"] in host_ids]
    return [h for h in found if h["STATE"] != HostState.DISABLED or h["VMS"]]


def cycle(
    session: Session, config: MonitorConfig, host_ids: list[int] | None = None
) -> list[HostReport]:
    """Poll the hosts (all, or ``host_ids``) at once; one host that hangs costs the others
    nothing, and is itself reported as ERROR after ``config.timeout`` seconds."""
    targets = _monitored_hosts(session, host_ids)
    if not targets:
        return []
    workers = concurrent.futures.ThreadPoolExecutor(max_workers=min(256, len(targets)))
    polled_at = time.time()
    futures = {h["ID"]: workers.submit(_poll, h) for h in targets}
    deadline = time.monotonic() + config.timeout
    reports = []
    for host in targets:
        future = futures[host["ID"]]
        try:
            status = future.result(timeout=max(0.0, deadline - time.monotonic()))
            error = None
        except concurrent.futures.TimeoutError:
            status, error = None, f"the host did not answer within {config.timeout:g} s"
        except OneError as err:
            status, error = None, str(err)
        except Exception as err:  # a driver bug must not stop the other hosts' cycle
            status, error = None, f"monitoring failed: {type(err).__name__}: {err}"
        try:
            reports.append(_apply(session, host["ID"], status, error, config, polled_at))
        except OneError as err:  # e.g. the store is busy: this host waits for the next cycle
            log.error("monitoring host %s: %s", host["NAME"], err)
            reports.append(HostReport(host["ID"], host["NAME"], host["STATE"], str(err)))
    workers.shutdown(wait=False, cancel_futures=True)
    for report in reports:
        for line in report.changes:
            log.info("%s", line)
    return reports


def _poll(host: Body) -> HostStatus:
    return driver_for(host).monitor()


def _apply(
    session: Session,
    host_id: int,
    status: HostStatus | None,
    error: str | None,
    config: MonitorConfig,
    polled_at: float,
) -> HostReport:
    now = time.time()
    with session.write() as w:
        # VMs before their host, the order every writer follows (no lock-order deadlock).
        vms_here = _lock_vms_on(w, host_id)
        host = pool.get(w.tx, schema.HOSTS, host_id, lock=True)
        if host is None:
            return HostReport(host_id, "?", -1, "deleted while it was polled")
        report = HostReport(host_id, host["NAME"], host["STATE"], error)
        host["LAST_MON_TIME"] = int(now)
        if status is None:
            _host_failed(w, host, vms_here, error or "unknown error", report)
        else:
            _host_ok(w, host, vms_here, status, now, config, report, polled_at)
        report.state = host["STATE"]
        _record(w, host, now, config)
    if status is not None:
        report.orphans = _destroy_orphans(session, host, status)
    return report


def _host_failed(
    w: AuthTx, host: Body, vms_here: list[Body], error: str, report: HostReport
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
    for vm in vms_here:
        if vm["STATE"] == VmState.ACTIVE and vm["LCM_STATE"] == Lcm.RUNNING:
            vms.set_state(vm, VmState.ACTIVE, Lcm.UNKNOWN)
            pool.update(w.tx, schema.VMS, vm)
            report.changes.append(
                f"VM {vm['ID']} ({vm['NAME']}) is UNKNOWN: its host {host['NAME']} is ERROR"
            )


def _host_ok(
    w: AuthTx,
    host: Body,
    vms_here: list[Body],
    status: HostStatus,
    now: float,
    config: MonitorConfig,
    report: HostReport,
    polled_at: float,
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
    share = host["HOST_SHARE"]
    share["MAX_CPU"] = max(0, status.total_cpu - _reserved(tpl, "RESERVED_CPU"))
    share["MAX_MEM"] = max(0, status.total_memory - _reserved(tpl, "RESERVED_MEM"))
    share["USED_CPU"], share["USED_MEM"] = status.used_cpu, status.used_memory
    share["FREE_CPU"] = status.total_cpu - status.used_cpu
    share["FREE_MEM"] = status.total_memory - status.used_memory
    # Written before the VMs are concluded: a VM that leaves the host releases its
    # capacity on the stored host row, which must already hold this poll's figures.
    pool.update(w.tx, schema.HOSTS, host)
    for vm in vms_here:
        seen = status.vms.get(vm.get("DEPLOY_ID") or deploy_id_for(vm["ID"]))
        if seen is not None:
            vm["MONITORING"] = {
                k: v
                for k, v in (
                    ("CPU", seen.cpu),
                    ("MEMORY", seen.memory),
                    ("NETTX", seen.net_tx),
                    ("NETRX", seen.net_rx),
                )
                if v is not None
            }
            vm["LAST_POLL"] = int(now)
        # A VM changed after the poll was taken is judged by the next poll, not this one.
        if vm.get("STATE_TIME", 0) <= polled_at:
            change = lifecycle.conclude_from_host(
                w,
                vm,
                seen.state if seen else MISSING,
                now,
                config.grace,
                config.shutdown_timeout,
            )
            if change:
                report.changes.append(change)
        pool.update(w.tx, schema.VMS, vm)
        if config.vm_expiration and seen is not None:
            w.tx.execute(
                "DELETE FROM vm_monitoring WHERE vmid = ? AND last_poll = ?",
                (vm["ID"], int(now)),
            )
            w.tx.execute(
                "INSERT INTO vm_monitoring (vmid, last_poll, body) VALUES (?, ?, ?)",
                (vm["ID"], int(now), json.dumps(vm["MONITORING"])),
            )


def _reserved(tpl: dict, key: str) -> int:
    try:
        return int(float(tpl.get(key, 0) or 0))
    except ValueError:
        return 0


def _lock_vms_on(w: AuthTx, host_id: int) -> list[Body]:
    """The VMs holding this host (running, transient, suspended, powered off), locked."""
    rows = w.tx.rows(
        "SELECT oid FROM vm_pool WHERE hid = ? ORDER BY oid" + w.tx.for_update, (host_id,)
    )
    return [b for b in (pool.get(w.tx, schema.VMS, r[0], lock=True) for r in rows) if b]


def _record(w: AuthTx, host: Body, now: float, config: MonitorConfig) -> None:
    """A monitoring row for the host, and the expiry of old rows (host's and its VMs')."""
    if config.host_expiration:
        w.tx.execute(
            "DELETE FROM host_monitoring WHERE hid = ? AND last_mon_time = ?",
            (host["ID"], int(now)),
        )
        w.tx.execute(
            "INSERT INTO host_monitoring (hid, last_mon_time, body) VALUES (?, ?, ?)",
            (
                host["ID"],
                int(now),
                json.dumps({"HOST_SHARE": host["HOST_SHARE"], "STATE": host["STATE"]}),
            ),
        )
    w.tx.execute(
        "DELETE FROM host_monitoring WHERE hid = ? AND last_mon_time < ?",
        (host["ID"], int(now - config.host_expiration)),
    )
    w.tx.execute(
        "DELETE FROM vm_monitoring WHERE last_poll < ?", (int(now - config.vm_expiration),)
    )


def _destroy_orphans(session: Session, host: Body, status: HostStatus) -> list[str]:
    """Guests named one-<id> that no live VM holds on this host: the VM is DONE, holds no
    host at all (PENDING, STOPPED, FAILED...: a deploy that lost a race, a recreate whose
    host was cut off), or lives on another hypervisor. Destroy them."""
    ids = {vm_id_of(d): d for d in status.vms}
    ids.pop(None, None)
    if not ids:
        return []
    with session.read() as w:
        marks = ", ".join("?" for _ in ids)
        rows = w.tx.rows(
            f"SELECT oid, state, lcm_state, hid FROM vm_pool WHERE oid IN ({marks})", tuple(ids)
        )
        uris = {h["ID"]: hosts.uri_of(h) for h in pool.all_bodies(w.tx, schema.HOSTS)}
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


def history(session: Session, host_id: int) -> list[dict]:
    """The host's monitoring rows, oldest first (``onehost show`` graphs, tests)."""
    with session.read() as w:
        rows = w.tx.rows(
            "SELECT last_mon_time, body FROM host_monitoring WHERE hid = ? ORDER BY last_mon_time",
            (host_id,),
        )
    return [{"TIME": t, **json.loads(b)} for t, b in rows]


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

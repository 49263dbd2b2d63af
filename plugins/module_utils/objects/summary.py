"""The cloud's size at a glance, for operators: hosts and VMs by state, and each host's
capacity (``HOST_SHARE``), read in one snapshot of the store.

It is what the server's ``/metrics`` exposes (``onekit.server.metrics``), computed when a
scrape asks, never cached: the counts come from ``GROUP BY`` over the indexed state
columns (no VM body is read, so 100k VMs cost one small query), the capacity from the host
bodies (one row per hypervisor).

Only the oneadmin group may read it (uid 0 or a member of group 0, as ``auth.allowed``
treats them): it tells how big the cloud is and how full every host is, which other
users' own listings never show them. The check comes before any query.

Units are oned's, as in ``HOST_SHARE``: CPU in hundredths of a core, memory in KiB.
"""

from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import AuthorizationError
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    HostState,
    Lcm,
    VmState,
)


@dataclass(frozen=True)
class HostCapacity:
    """One host's ``HOST_SHARE``: what it has (``max_*``, monitoring's figure less the
    reserved part), what its VMs were given (``*_usage``, as the scheduler counts) and what
    they use (``used_*``, as the last monitoring cycle measured)."""

    id: int
    max_cpu: float
    cpu_usage: float
    used_cpu: float
    max_mem: float
    mem_usage: float
    used_mem: float
    running_vms: float


@dataclass(frozen=True)
class CloudSummary:
    hosts: dict[HostState, int]  # every state, 0 included
    vms: dict[VmState, int]  # every state, DONE included (``onevm list`` hides DONE)
    active_vms: dict[Lcm, int]  # the ACTIVE ones by LCM_STATE, every LCM state
    capacity: list[HostCapacity]  # by host id


def cloud_summary(session: Session) -> CloudSummary:
    """Hosts and VMs by state and every host's capacity; AuthorizationError unless the
    caller is in the oneadmin group."""
    subject = session.subject
    if not subject.is_admin:
        raise AuthorizationError(
            f"user {subject.name} [{subject.uid}] is not authorized to read the cloud's "
            "summary: only users of the oneadmin group may"
        )
    hosts = dict.fromkeys(HostState, 0)
    vms = dict.fromkeys(VmState, 0)
    active = dict.fromkeys(Lcm, 0)
    with session.read() as w:
        for state, count in w.tx.rows(
            f"SELECT state, COUNT(*) FROM {schema.HOSTS.table} GROUP BY state"
        ):
            hosts[HostState(state)] += count
        for state, lcm, count in w.tx.rows(
            f"SELECT state, lcm_state, COUNT(*) FROM {schema.VMS.table} GROUP BY state, lcm_state"
        ):
            vms[VmState(state)] += count
            if state == VmState.ACTIVE:
                active[Lcm(lcm)] += count
        capacity = [_capacity(body) for body in pool.all_bodies(w.tx, schema.HOSTS)]
    return CloudSummary(hosts, vms, active, capacity)


def _capacity(host: dict) -> HostCapacity:
    share = host.get("HOST_SHARE") or {}

    def value(key: str) -> float:
        return float(share.get(key) or 0)

    return HostCapacity(
        id=host["ID"],
        max_cpu=value("MAX_CPU"),
        cpu_usage=value("CPU_USAGE"),
        used_cpu=value("USED_CPU"),
        max_mem=value("MAX_MEM"),
        mem_usage=value("MEM_USAGE"),
        used_mem=value("USED_MEM"),
        running_vms=value("RUNNING_VMS"),
    )

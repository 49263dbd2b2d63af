"""Placement of PENDING VMs on hosts, as OpenNebula's mm_sched does.

One cycle (``plan``, a pure function of VMs, hosts, ACL rules and the configuration):
candidate hosts are MONITORED ones where the VM's owner has MANAGE (ACL), that have room
(``MAX_CPU - CPU_USAGE >= CPU*100`` and ``MAX_MEM - MEM_USAGE >= MEMORY*1024``, allocated
not measured) and meet ``SCHED_REQUIREMENTS``; they are ranked by ``SCHED_RANK`` or the
policy (0 packing, 1 striping, 2 load-aware, 3 custom rank, 4 fixed PRIORITY); the best is
taken, at most ``MAX_HOST`` VMs per host and ``MAX_DISPATCH`` per cycle, capacity updated
in memory as it goes. A VM with no host gets the reason in ``SCHED_MESSAGE``.

``schedule`` runs cycles until the VMs are placed or no progress is made, so a batch of
VMs created at once (``--multiple``, ``exact_count``) is placed in one call, with the
policy applied between cycles as mm_sched applies it between its 30 s cycles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import (
    auth,
    hosts,
    lifecycle,
    pool,
    sched_expr,
    schema,
    template,
    vms,
)
from ansible_collections.onekit.cloud.plugins.module_utils.acl import AclRule, Right
from ansible_collections.onekit.cloud.plugins.module_utils.errors import ConfigError, InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.vm_states import HostState, VmState

Body = dict[str, Any]
POLICY_RANKS = {0: "RUNNING_VMS", 1: "- RUNNING_VMS", 2: "FREE_CPU", 4: "PRIORITY"}
CANDIDATE_STATES = (int(HostState.MONITORED), int(HostState.MONITORING_MONITORED))


@dataclass(frozen=True)
class SchedConfig:
    """``etc/sched.conf`` (mm_sched's file and defaults)."""

    interval: int = 30
    max_vm: int = 5000
    max_dispatch: int = 30
    max_host: int = 1
    policy: int = 1
    rank: str = ""

    @classmethod
    def parse(cls, text: str, where: str) -> SchedConfig:
        try:
            tpl = template.parse(text)
        except InvalidInput as err:
            raise ConfigError(f"{where}: {err}") from err
        values: dict[str, Any] = {}
        for key, attr, low in (
            ("SCHED_INTERVAL", "interval", 1),
            ("MAX_VM", "max_vm", 0),
            ("MAX_DISPATCH", "max_dispatch", 1),
            ("MAX_HOST", "max_host", 1),
        ):
            if key in tpl:
                value = str(tpl[key]).strip()
                if not re.fullmatch(r"[0-9]{1,9}", value) or int(value) < low:
                    raise ConfigError(f"{where}: {key} must be a whole number >= {low}")
                values[attr] = int(value)
        default = tpl.get("DEFAULT_SCHED", {})
        if default:
            if not isinstance(default, dict):
                raise ConfigError(f"{where}: DEFAULT_SCHED must be a vector [ POLICY = ... ]")
            policy = str(default.get("POLICY", "1")).strip()
            if policy not in ("0", "1", "2", "3", "4"):
                raise ConfigError(f"{where}: DEFAULT_SCHED/POLICY must be 0 to 4")
            values["policy"] = int(policy)
            values["rank"] = str(default.get("RANK", ""))
            if values["policy"] == 3:
                try:
                    sched_expr.parse_rank(values["rank"])
                except InvalidInput as err:
                    raise ConfigError(f"{where}: DEFAULT_SCHED/RANK: {err}") from err
        return cls(**values)

    def rank_source(self) -> str:
        return self.rank if self.policy == 3 else POLICY_RANKS[self.policy]


@dataclass
class Plan:
    placements: list[tuple[int, int]]  # (vm id, host id)
    messages: dict[int, str]  # vm id -> why it has no host


def plan(
    pending: list[Body],
    candidates: list[Body],
    owners: dict[int, auth.Subject],
    rules: list[AclRule],
    config: SchedConfig,
) -> Plan:
    """One scheduling cycle: where each VM goes (pure: the inputs are not changed)."""
    share = {h["ID"]: dict(h["HOST_SHARE"]) for h in candidates}
    given = dict.fromkeys(share, 0)
    default_rank = sched_expr.parse_rank(config.rank_source())
    placements: list[tuple[int, int]] = []
    messages: dict[int, str] = {}
    for vm in pending[: config.max_vm or None]:
        if len(placements) >= config.max_dispatch:
            break
        cpu, memory = hosts.vm_demand(vm["TEMPLATE"])
        owner = owners.get(vm["UID"])
        hosts_left = [
            h
            for h in candidates
            if owner is not None
            and auth.allowed(owner, rules, auth.Target.of("HOST", h), Right.MANAGE)
        ]
        if not candidates:
            messages[vm["ID"]] = "no host is MONITORED (enabled and reachable) to run VMs"
            continue
        if not hosts_left:
            messages[vm["ID"]] = (
                "the VM's owner may not deploy on any host: it needs "
                "MANAGE on one (an ACL rule such as @<group> HOST/* MANAGE)"
            )
            continue
        checkpoint = vm.get("CHECKPOINT")
        if checkpoint:
            hosts_left = [h for h in hosts_left if h["ID"] == checkpoint.get("HID")]
        requirements = str(vm["USER_TEMPLATE"].get("SCHED_REQUIREMENTS", ""))
        rank_text = vm["USER_TEMPLATE"].get("SCHED_RANK")
        try:  # a bad expression keeps its own VM pending, never the others (mm_sched)
            matcher = sched_expr.parse_requirements(requirements)
            rank = sched_expr.parse_rank(str(rank_text)) if rank_text else default_rank
        except InvalidInput as err:
            messages[vm["ID"]] = f"cannot schedule the VM: {err}"
            continue
        # Requirements and rank see the hosts as the cycle began; only capacity is
        # re-counted as VMs are given out (mm_sched ranks once per cycle).
        hosts_left = [
            h for h in hosts_left if matcher.matches(hosts.lookup(h), current_vms=h["VMS"])
        ]
        if not hosts_left:
            messages[vm["ID"]] = (
                f"no host meets SCHED_REQUIREMENTS: {requirements}"
                if requirements
                else "the checkpoint's host is not available"
            )
            continue
        hosts_left = [h for h in hosts_left if hosts.share_fits(share[h["ID"]], cpu, memory)]
        if not hosts_left:
            messages[vm["ID"]] = (
                f"no host with enough free capacity for CPU {cpu / 100:g} "
                f"and MEMORY {memory / 1024:g} MiB"
            )
            continue
        open_hosts = [h for h in hosts_left if given[h["ID"]] < config.max_host]
        if not open_hosts:
            continue  # the next cycle, as mm_sched would
        best = max(open_hosts, key=lambda h: (rank.evaluate(hosts.lookup(h)), -h["ID"]))
        placements.append((vm["ID"], best["ID"]))
        given[best["ID"]] += 1
        _take(share[best["ID"]], cpu, memory)
    return Plan(placements, messages)


def _take(share: dict, cpu: int, memory: int) -> None:
    share["CPU_USAGE"] += cpu
    share["MEM_USAGE"] += memory
    share["RUNNING_VMS"] += 1


def schedule(
    session: Session,
    config: SchedConfig,
    vm_ids: Iterable[int] | None = None,
    max_cycles: int = 1000,
) -> list[lifecycle.Outcome]:
    """Place PENDING VMs (all, or just ``vm_ids``) until done or stuck; returns what was
    deployed. Runs with the session's rights for reading; the placement rights checked
    are those of each VM's owner."""
    wanted = set(vm_ids) if vm_ids is not None else None
    outcomes: list[lifecycle.Outcome] = []
    for _ in range(max_cycles):
        pending, candidates, owners, rules = _read(session, wanted)
        if not pending:
            break
        cycle = plan(pending, candidates, owners, rules, config)
        _record_messages(session, cycle.messages)
        if not cycle.placements:
            break
        outcomes += lifecycle.deploy(session, cycle.placements)
    return outcomes


def _read(session: Session, wanted: set[int] | None):
    with session.read() as w:
        pending = pool.all_bodies(w.tx, schema.VMS, "state = ?", (int(VmState.PENDING),))
        if wanted is not None:
            pending = [vm for vm in pending if vm["ID"] in wanted]
        candidates = [
            h for h in pool.all_bodies(w.tx, schema.HOSTS) if h["STATE"] in CANDIDATE_STATES
        ]
        owners = {}
        for uid in {vm["UID"] for vm in pending}:
            user = pool.get(w.tx, schema.USERS, uid)
            if user is not None:
                owners[uid] = auth.Subject.of_user(user)
        return pending, candidates, owners, list(w.rules)


def _record_messages(session: Session, messages: dict[int, str]) -> None:
    if not messages:
        return
    with session.write() as w:
        for vm_id, message in messages.items():
            vm = pool.get(w.tx, schema.VMS, vm_id, lock=True)
            if (
                vm is not None
                and vm["STATE"] == VmState.PENDING
                and vms.set_sched_message(vm, message)
            ):
                pool.update(w.tx, schema.VMS, vm)


def still_pending(session: Session, vm_ids: Iterable[int]) -> list[str]:
    """``VM <id> stays PENDING: <why>`` for each of these VMs no host took."""
    wanted = set(vm_ids)
    return [
        f"VM {vm['ID']} stays PENDING: "
        f"{vm['USER_TEMPLATE'].get('SCHED_MESSAGE', 'no host for it yet')}"
        for vm in vms.list_vms(session)
        if vm["ID"] in wanted and vm["STATE"] == VmState.PENDING
    ]

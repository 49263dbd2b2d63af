"""Placement of PENDING VMs on hosts, as OpenNebula's mm_sched does.

One cycle (``plan``, a pure function of VMs, hosts, ACL rules and the configuration):
candidate hosts are MONITORED ones where the VM's owner has MANAGE (ACL), that have room
(``MAX_CPU - CPU_USAGE >= CPU*100`` and ``MAX_MEM - MEM_USAGE >= MEMORY*1024``, allocated
not measured) and meet ``SCHED_REQUIREMENTS``; they are ranked by ``SCHED_RANK`` or the
policy (0 packing, 1 striping, 2 load-aware, 3 custom rank, 4 fixed PRIORITY); the best is
taken, at most ``MAX_HOST`` VMs per host and ``MAX_DISPATCH`` per cycle, capacity updated
in memory as it goes. A VM with no host gets the reason in ``SCHED_MESSAGE``. A cycle
keeps what it works out for one VM for the next ones that ask the same (``_Cycle``), so
its cost follows the kinds of VM and the placements, not VMs x hosts.

``MAX_HOST`` and ``MAX_DISPATCH`` limit deployments per ``SCHED_INTERVAL``, whoever asks
for the placement: the server's cycle, ``onetemplate instantiate``, the vm module, a
OneFlow step. Each host keeps the times of its recent dispatches (``DISPATCHED``), so
every scheduler shares one budget: a placement asked for now takes what the last
``SCHED_INTERVAL`` seconds left, and the VMs it cannot take stay PENDING with
``SCHED_MESSAGE`` saying they wait (``WAITING``) until the server's next cycle places
them. ``schedule`` runs cycles until the VMs are placed or no progress is made, with the
policy applied between cycles as mm_sched applies it between its cycles.
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import drivers
from ansible_collections.onekit.cloud.plugins.module_utils.core import auth, pool, schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import AclRule, Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    ConfigError,
    InvalidInput,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import HostState, VmState
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import (
    lifecycle,
    vms,
)
from ansible_collections.onekit.cloud.plugins.module_utils.vm import (
    placement as sched_expr,
)

Body = dict[str, Any]
POLICY_RANKS = {0: "RUNNING_VMS", 1: "- RUNNING_VMS", 2: "FREE_CPU", 4: "PRIORITY"}
# SCHED_MESSAGE of a VM held back by MAX_HOST or MAX_DISPATCH: not a failure to place it
WAITING = "waiting for the next scheduling cycle: "
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
    deferred: dict[int, str] = field(default_factory=dict)  # vm id -> the limit that held it


_NO_MONITORED_HOST = "no host is MONITORED (enabled and reachable) to run VMs"
_NO_MANAGE = (
    "the VM's owner may not deploy on any host: it needs "
    "MANAGE on one (an ACL rule such as @<group> HOST/* MANAGE)"
)


def plan(
    pending: list[Body],
    candidates: list[Body],
    owners: dict[int, auth.Subject],
    rules: list[AclRule],
    config: SchedConfig,
    dispatched: Mapping[int, int] | None = None,
) -> Plan:
    """One scheduling cycle: where each VM goes (pure: the inputs are not changed).
    ``dispatched``: host id -> VMs dispatched to it in the last SCHED_INTERVAL, which
    count against this cycle's MAX_HOST and MAX_DISPATCH."""
    cycle = _Cycle.begin(candidates, owners, rules, config, dispatched or {})
    considered = pending[: config.max_vm or None]
    for index, vm in enumerate(considered):
        if cycle.dispatch_spent():
            cycle.defer(considered[index:], _max_dispatch_wait(config))
            break
        cpu, memory = hosts.vm_demand(vm["TEMPLATE"])
        chosen = _host_for(cycle, vm, cpu, memory)
        if isinstance(chosen, _NoHost):
            cycle.keep_pending(vm["ID"], chosen)
        else:
            cycle.take(vm["ID"], chosen, cpu, memory)
    return cycle.result()


@dataclass(frozen=True)
class _NoHost:
    """Why a VM gets no host this cycle; ``limit``: MAX_HOST held it back (it waits for the
    next cycle), else no host can take it."""

    why: str
    limit: bool = False


class _Full(Enum):
    """Why none of the hosts a VM may go to takes it."""

    NO_ROOM = "no host has room for it"
    MAX_HOST = "MAX_HOST closed every host with room for it"


@dataclass
class _Ranking:
    """The open hosts (below MAX_HOST) of one ``_Eligible``, best first for one rank.

    ``order`` holds (-rank, host id) sorted: the first is the highest rank, a tie goes to
    the lowest id (what ``max`` by (rank, -id) over the hosts picks). A host that takes a
    VM moves to its new rank (its HOST_SHARE changed) or, at MAX_HOST, leaves."""

    rank: sched_expr.Rank
    order: list[tuple[int, int]]
    keys: dict[int, tuple[int, int]]  # host id -> its entry in ``order``

    @classmethod
    def of(cls, rank: sched_expr.Rank, values: dict[int, int]) -> _Ranking:
        """``values``: host id -> its rank."""
        keys = {host_id: (-value, host_id) for host_id, value in values.items()}
        return cls(rank, sorted(keys.values()), keys)

    def first_with_room(self, share: dict[int, dict], cpu: int, memory: int) -> int | None:
        """The best open host with room for the VM, if any."""
        for _key, host_id in self.order:
            if hosts.share_fits(share[host_id], cpu, memory):
                return host_id
        return None

    def move(self, host_id: int, value: int | None) -> None:
        """The host's new rank, or (None) it left: MAX_HOST closed it."""
        del self.order[bisect.bisect_left(self.order, self.keys.pop(host_id))]
        if value is not None:
            self.keys[host_id] = key = (-value, host_id)
            bisect.insort(self.order, key)


@dataclass
class _Eligible:
    """The hosts some VMs may go to, fixed for the cycle: their owner may manage them,
    they hold the checkpoint if there is one, they meet SCHED_REQUIREMENTS (as the cycle
    began). VMs whose steps leave the same hosts share one.

    ``verdicts``: the demands (cpu, memory) no open host has room for, and why. Within a
    cycle room only shrinks and hosts only close (each placement takes capacity and a
    MAX_HOST place) and a closed host takes nothing more, so a verdict holds for the rest
    of the cycle: a VM asking as much as one that found no host gets its message without
    looking at the hosts again."""

    host_ids: tuple[int, ...]
    rankings: dict[str, _Ranking] = field(default_factory=dict)  # by the rank's source
    verdicts: dict[tuple[int, int], _Full] = field(default_factory=dict)


_Expressions = tuple[str, sched_expr.Requirements, sched_expr.Rank]


@dataclass
class _Cycle:
    """One cycle's inputs and what it has given out so far. ``share`` and ``given`` start
    as the hosts were and count each placement, so capacity, MAX_HOST and the rank see
    the VMs placed earlier in the cycle; the inputs themselves are never changed.

    What the steps work out is kept for the cycle, so that a cycle costs about a look at
    each kind of VM rather than at every host for every VM: the hosts each owner may
    manage, the parsed expressions (by text), the ``_Eligible`` hosts (by owner,
    checkpoint and requirements), each host's rank (by rank, until the host takes a VM)
    and the open hosts in rank order (``_Ranking``)."""

    candidates: list[Body]
    owners: dict[int, auth.Subject]
    rules: list[AclRule]
    config: SchedConfig
    default_rank: sched_expr.Rank  # the policy's (or sched.conf's) rank
    share: dict[int, dict]  # host id -> its HOST_SHARE, this cycle's VMs included
    given: dict[int, int]  # host id -> VMs dispatched in SCHED_INTERVAL, this cycle's too
    budget: int  # MAX_DISPATCH less what the interval already dispatched
    placements: list[tuple[int, int]] = field(default_factory=list)
    messages: dict[int, str] = field(default_factory=dict)
    deferred: dict[int, str] = field(default_factory=dict)
    by_id: dict[int, Body] = field(default_factory=dict)  # the candidates by id
    clouds: list[Body] = field(default_factory=list)  # the candidates libvirt does not serve
    # kept for the cycle (see the class's doc): by owner uid; by (requirements, rank)
    # text; by (owner uid, checkpoint, requirements); by host ids; by rank source, then
    # host id; by host id, the rankings that hold it
    manageable_by: dict[int, list[Body]] = field(default_factory=dict)
    parsed: dict[tuple[str, str | None], _Expressions | _NoHost] = field(default_factory=dict)
    eligible_for: dict[tuple, _Eligible | _NoHost] = field(default_factory=dict)
    eligible_sets: dict[tuple[int, ...], _Eligible] = field(default_factory=dict)
    ranks: dict[str, dict[int, int]] = field(default_factory=dict)
    rankings_of: dict[int, list[_Ranking]] = field(default_factory=dict)

    @classmethod
    def begin(
        cls,
        candidates: list[Body],
        owners: dict[int, auth.Subject],
        rules: list[AclRule],
        config: SchedConfig,
        dispatched: Mapping[int, int],
    ) -> _Cycle:
        share = {h["ID"]: dict(h["HOST_SHARE"]) for h in candidates}
        given = {host_id: dispatched.get(host_id, 0) for host_id in share}
        budget = config.max_dispatch - sum(dispatched.values())
        default_rank = sched_expr.parse_rank(config.rank_source())
        by_id = {h["ID"]: h for h in candidates}
        clouds = [h for h in candidates if h.get("VM_MAD") not in drivers.LIBVIRT_MADS]
        return cls(
            candidates, owners, rules, config, default_rank, share, given, budget,
            by_id=by_id, clouds=clouds,
        )  # fmt: skip

    def dispatch_spent(self) -> bool:
        """MAX_DISPATCH reached: no more placements this cycle."""
        return len(self.placements) >= self.budget

    def defer(self, vms: list[Body], why: str) -> None:
        for vm in vms:
            self.deferred[vm["ID"]] = why

    def keep_pending(self, vm_id: int, no_host: _NoHost) -> None:
        (self.deferred if no_host.limit else self.messages)[vm_id] = no_host.why

    def take(self, vm_id: int, host_id: int, cpu: int, memory: int) -> None:
        """The VM goes to the host: its capacity, MAX_HOST count and ranks follow."""
        self.placements.append((vm_id, host_id))
        self.given[host_id] += 1
        _take(self.share[host_id], cpu, memory)
        if cpu < 0 or memory < 0:  # room grew (a body edited by hand): no verdict holds
            for eligible in self.eligible_sets.values():
                eligible.verdicts.clear()
        for values in self.ranks.values():
            values.pop(host_id, None)
        still_open = self.given[host_id] < self.config.max_host
        for ranking in self.rankings_of.get(host_id, ()):
            ranking.move(host_id, self.rank_of(ranking.rank, host_id) if still_open else None)

    def result(self) -> Plan:
        return Plan(self.placements, self.messages, self.deferred)

    def manageable(self, uid: int) -> list[Body]:
        """The hosts where the owner has MANAGE."""
        if uid not in self.manageable_by:
            self.manageable_by[uid] = _manageable(self.candidates, self.owners.get(uid), self.rules)
        return self.manageable_by[uid]

    def expressions(self, vm: Body) -> _Expressions | _NoHost:
        """The VM's requirements (text and parsed) and rank, or why they cannot be used."""
        texts = _expression_texts(vm)
        if texts not in self.parsed:
            try:
                self.parsed[texts] = _parse(*texts, self.default_rank)
            except InvalidInput as err:
                self.parsed[texts] = _NoHost(f"cannot schedule the VM: {err}")
        return self.parsed[texts]

    def eligible(
        self, vm: Body, requirements: str, matcher: sched_expr.Requirements
    ) -> _Eligible | _NoHost:
        """The hosts the VM may go to, whatever the cycle gave out (see ``_Eligible``),
        or why there are none: none meets the requirements, or the cloud hosts that do
        could not run the VM (``drivers.refusal``: an EC2 region a VM without an EC2
        section for it)."""
        refused = self.refused(vm)
        key = (vm["UID"], _checkpoint_key(vm), requirements, tuple(refused))
        if key not in self.eligible_for:
            hosts_left = _checkpoint_hosts(vm, self.manageable(vm["UID"]))
            met = [h["ID"] for h in _meeting(matcher, hosts_left)]
            host_ids = tuple(h for h in met if h not in refused)
            if host_ids:
                found: _Eligible | _NoHost = self.eligible_sets.setdefault(
                    host_ids, _Eligible(host_ids)
                )
            elif met:
                found = _NoHost(f"no host it may go to can run it: {refused[met[0]]}")
            else:
                found = _NoHost(_unmet(requirements))
            self.eligible_for[key] = found
        return self.eligible_for[key]

    def refused(self, vm: Body) -> dict[int, str]:
        """The cloud hosts (EC2 regions, partners) whose driver could not run the VM, and
        why; a libvirt host runs any VM (so a cycle asks this of few hosts)."""
        found = {}
        for host in self.clouds:
            why = drivers.refusal(host, vm)
            if why is not None:
                found[host["ID"]] = why
        return found

    def place(
        self, eligible: _Eligible, rank: sched_expr.Rank, cpu: int, memory: int
    ) -> int | _Full:
        """The best open host of ``eligible`` with room for the VM, or why none. Room is
        checked before MAX_HOST (mm_sched's order): with no open host with room, a closed
        one with room makes the VM wait, else it has no room."""
        demand = (cpu, memory)
        if demand in eligible.verdicts:
            return eligible.verdicts[demand]
        found = self.ranking(eligible, rank).first_with_room(self.share, cpu, memory)
        if found is not None:
            return found
        room = any(hosts.share_fits(self.share[h], cpu, memory) for h in eligible.host_ids)
        verdict = _Full.MAX_HOST if room else _Full.NO_ROOM
        eligible.verdicts[demand] = verdict
        return verdict

    def ranking(self, eligible: _Eligible, rank: sched_expr.Rank) -> _Ranking:
        """The open hosts of ``eligible`` in ``rank``'s order, kept up to date by ``take``."""
        if rank.source not in eligible.rankings:
            max_host = self.config.max_host
            open_ids = [h for h in eligible.host_ids if self.given[h] < max_host]
            ranking = _Ranking.of(rank, {h: self.rank_of(rank, h) for h in open_ids})
            eligible.rankings[rank.source] = ranking
            for host_id in open_ids:
                self.rankings_of.setdefault(host_id, []).append(ranking)
        return eligible.rankings[rank.source]

    def rank_of(self, rank: sched_expr.Rank, host_id: int) -> int:
        """The host's rank, with the VMs the cycle gave it so far."""
        values = self.ranks.setdefault(rank.source, {})
        if host_id not in values:
            view = {**self.by_id[host_id], "HOST_SHARE": self.share[host_id]}
            values[host_id] = rank.evaluate(hosts.lookup(view))
        return values[host_id]


def _host_for(cycle: _Cycle, vm: Body, cpu: int, memory: int) -> int | _NoHost:
    """The host the VM goes to, or why none. Each step narrows the hosts, in mm_sched's
    order (the owner's rights, the checkpoint's host, SCHED_REQUIREMENTS, free capacity,
    MAX_HOST); the first that leaves none gives the VM's message. The cycle keeps what
    each step found for the next VMs that ask the same (see ``_Cycle``)."""
    if not cycle.candidates:
        return _NoHost(_NO_MONITORED_HOST)
    if not cycle.manageable(vm["UID"]):
        return _NoHost(_NO_MANAGE)
    expressions = cycle.expressions(vm)
    if isinstance(expressions, _NoHost):  # a bad expression keeps its own VM pending,
        return expressions  # never the others (mm_sched)
    requirements, matcher, rank = expressions
    # Requirements see the hosts as the cycle began. Capacity and the rank see the VMs
    # given out so far in the cycle (mm_sched ranks once per cycle, which with
    # MAX_HOST > 1 stacks a batch on one host): striping spreads it, packing fills.
    eligible = cycle.eligible(vm, requirements, matcher)
    if isinstance(eligible, _NoHost):
        return eligible
    found = cycle.place(eligible, rank, cpu, memory)
    if found is _Full.NO_ROOM:
        return _NoHost(_no_room(cpu, memory))
    if found is _Full.MAX_HOST:  # the next cycle, as mm_sched would
        return _NoHost(_max_host_wait(cycle.config), limit=True)
    return found


def _manageable(
    candidates: list[Body], owner: auth.Subject | None, rules: list[AclRule]
) -> list[Body]:
    """The hosts where the VM's owner has MANAGE (none when the owner is gone)."""
    if owner is None:
        return []
    return [
        h for h in candidates if auth.allowed(owner, rules, auth.Target.of("HOST", h), Right.MANAGE)
    ]


def _checkpoint_key(vm: Body) -> tuple[Any, ...]:
    """What ``_checkpoint_hosts`` depends on: () without a checkpoint, else its host."""
    checkpoint = vm.get("CHECKPOINT")
    return (checkpoint.get("HID"),) if checkpoint else ()


def _checkpoint_hosts(vm: Body, hosts_left: list[Body]) -> list[Body]:
    """Only the host holding the VM's checkpoint, when it has one."""
    checkpoint = vm.get("CHECKPOINT")
    if not checkpoint:
        return hosts_left
    return [h for h in hosts_left if h["ID"] == checkpoint.get("HID")]


def _expression_texts(vm: Body) -> tuple[str, str | None]:
    """The VM's SCHED_REQUIREMENTS and SCHED_RANK (None: the cycle's rank)."""
    user_template = vm["USER_TEMPLATE"]
    rank_text = user_template.get("SCHED_RANK")
    return str(user_template.get("SCHED_REQUIREMENTS", "")), str(rank_text) if rank_text else None


def _parse(requirements: str, rank_text: str | None, default_rank: sched_expr.Rank) -> _Expressions:
    """The requirements (text and parsed) and the rank. Raises InvalidInput for a
    malformed expression."""
    matcher = sched_expr.parse_requirements(requirements)
    rank = sched_expr.parse_rank(rank_text) if rank_text is not None else default_rank
    return requirements, matcher, rank


def _meeting(matcher: sched_expr.Requirements, hosts_left: list[Body]) -> list[Body]:
    """The hosts that meet the requirements, as they were when the cycle began."""
    return [h for h in hosts_left if matcher.matches(hosts.lookup(h), current_vms=h["VMS"])]


def _unmet(requirements: str) -> str:
    """No host left once SCHED_REQUIREMENTS applied; without requirements, it was the
    checkpoint's host that is gone."""
    if requirements:
        return f"no host meets SCHED_REQUIREMENTS: {requirements}"
    return "the checkpoint's host is not available"


def _no_room(cpu: int, memory: int) -> str:
    return (
        f"no host with enough free capacity for CPU {cpu / 100:g} and MEMORY {memory / 1024:g} MiB"
    )


def _max_host_wait(config: SchedConfig) -> str:
    """A VM MAX_HOST holds back: every host that fits it had its share this interval."""
    return (
        f"MAX_HOST ({config.max_host}) VMs dispatched in {config.interval} s to "
        "every host that fits it"
    )


def _max_dispatch_wait(config: SchedConfig) -> str:
    """The VMs MAX_DISPATCH holds back: the cycle dispatched all it may."""
    return f"MAX_DISPATCH ({config.max_dispatch}) VMs dispatched in {config.interval} s"


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
        now = time.time()
        recent = {h["ID"]: len(_recent(h, now, config)) for h in candidates}
        cycle = plan(pending, candidates, owners, rules, config, recent)
        placements, held = _reserve(session, cycle.placements, now, config)
        waiting = {vm_id: WAITING + why for vm_id, why in {**cycle.deferred, **held}.items()}
        _record_messages(session, {**cycle.messages, **waiting})
        if not placements:
            break
        outcomes += lifecycle.deploy(session, placements)
    return outcomes


def _recent(host: Body, now: float, config: SchedConfig) -> list[float]:
    """The host's dispatch times within the last SCHED_INTERVAL."""
    return [t for t in host.get("DISPATCHED", ()) if now - config.interval < t <= now]


def _reserve(
    session: Session, placements: list[tuple[int, int]], now: float, config: SchedConfig
) -> tuple[list[tuple[int, int]], dict[int, str]]:
    """Take each placement's place in its host's dispatch budget, under the host's lock:
    two schedulers planning at once (the server's cycle, a command) never give a host more
    than MAX_HOST in SCHED_INTERVAL. Returns the placements that got a place, and the VMs
    that did not with why."""
    if not placements:
        return [], {}
    accepted: list[tuple[int, int]] = []
    held: dict[int, str] = {}
    with session.write() as w:
        locked = {
            host_id: pool.get(w.tx, schema.HOSTS, host_id, lock=True)
            for host_id in sorted({host_id for _vm, host_id in placements})
        }
        for host in locked.values():
            if host is not None:
                host["DISPATCHED"] = _recent(host, now, config)
        for vm_id, host_id in placements:
            host = locked[host_id]
            if host is None:
                continue  # deleted meanwhile: the next cycle finds another
            if len(host["DISPATCHED"]) >= config.max_host:
                held[vm_id] = (
                    f"MAX_HOST ({config.max_host}) VMs dispatched to {host['NAME']} in "
                    f"{config.interval} s"
                )
                continue
            host["DISPATCHED"].append(now)
            accepted.append((vm_id, host_id))
        for host in locked.values():
            if host is not None:
                pool.update(w.tx, schema.HOSTS, host)
    return accepted, held


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
    """``VM <id> stays PENDING: <why>`` for each of these VMs no host took because none
    can (those only waiting for the next cycle are in ``waiting``)."""
    return [
        f"VM {vm['ID']} stays PENDING: {message}"
        for vm, message in _pending(session, vm_ids)
        if not message.startswith(WAITING)
    ]


def waiting(session: Session, vm_ids: Iterable[int]) -> list[str]:
    """``VM <id> waits for the next scheduling cycle: <limit>`` for each of these VMs
    that MAX_HOST or MAX_DISPATCH held back (the server's cycle places them)."""
    return [
        f"VM {vm['ID']} {message.replace('waiting for', 'waits for', 1)}"
        for vm, message in _pending(session, vm_ids)
        if message.startswith(WAITING)
    ]


def _pending(session: Session, vm_ids: Iterable[int]) -> list[tuple[Body, str]]:
    return [
        (vm, str(vm["USER_TEMPLATE"].get("SCHED_MESSAGE", "no host for it yet")))
        for vm in vms.list_by_ids(session, vm_ids)
        if vm["STATE"] == VmState.PENDING
    ]

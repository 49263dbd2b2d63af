"""The front-end HA cluster (the ``ha_cluster`` module): OpenNebula's guide, ch. 4.2, on
Pacemaker/Corosync instead of cman/rgmanager.

The guide's cluster (``cluster.conf``) maps to a Pacemaker CIB like this:

===============================================  ==========================================
guide (cman / rgmanager)                          Pacemaker CIB built here
===============================================  ==========================================
``<cman two_node="1" expected_votes="1"/>``      corosync ``quorum { two_node: 1 }`` (see
                                                 :func:`corosync_quorum`), so the survivor
                                                 keeps quorum; ``no-quorum-policy=stop``
``<ip address=... monitor_link="1"/>``            ``ocf:heartbeat:IPaddr2`` with ``ip``,
                                                 ``cidr_netmask``, ``nic`` (one-deploy's
                                                 ``one_vip``, ``one_vip_cidr``,
                                                 ``one_vip_if``), monitor every 20 s
``<script file="/etc/init.d/opennebula"/>``       ``ocf:onekit:server`` (the role installs the
                                                 agent) or ``systemd:onekit-server``;
                                                 optionally a local DB (``systemd:mariadb``)
``<service ...>`` holding ip + scripts           a group ``onekit`` = [vip, (db), server]:
                                                 colocated and started in that order
``failoverdomain ordered`` prio 1, 2              ``rsc_location`` scores 200, 100 (the better
                                                 the priority, the higher the score)
``nofailback="0"`` / ``"1"``                      ``resource-stickiness`` 0 (fails back) /
                                                 higher than any score difference (stays)
``recovery="restart"``                            monitor ``on-fail=restart``;
                                                 ``migration-threshold`` = ``max_restarts``
                                                 (0: restart in place forever, as rgmanager's
                                                 default), ``failure-timeout`` =
                                                 ``restart_expire_time``;
                                                 ``recovery="relocate"``: threshold 1
``fence_xvm`` per node                            one ``stonith`` device per node (never run on
                                                 the node it fences), ``pcmk_host_list``,
                                                 ``pcmk_delay_base`` different for every node,
                                                 ``stonith-enabled=true``
===============================================  ==========================================

Fence delays: the device that fences the preferred node waits longest, so in a fence race
(both nodes alive, the link between them cut) the preferred node shoots first and keeps the
services: with ``fence_delay`` 15, priorities 1, 2 give delays 15 s and 0 s.

Applying it follows linux-system-roles/ha_cluster: read the live CIB (``cibadmin --query``),
build the desired one offline from it (:func:`desired_cib`), ``crm_diff`` the two and push
only the difference (``cibadmin --patch``); when nothing differs nothing is pushed. With a
``cib_file`` the same tools work on a file (``CIB_file``), so no daemon is needed.

Only what this module owns is rewritten: resources and constraints whose id is the prefix
(``onekit``) or starts with ``<prefix>-``, and the cluster properties it sets; other
resources, constraints, properties and the whole status section are left as they are.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The fence agent shipped with onekit (share/fence/fence_onekit_libvirt); always known.
ONEKIT_FENCE_AGENT = "fence_onekit_libvirt"
FENCE_AGENT_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
DEFAULT_SERVER_AGENT = "ocf:onekit:server"
RESOURCE_CLASSES = ("ocf", "systemd", "lsb", "service")
NO_QUORUM_POLICIES = ("stop", "freeze", "ignore", "demote", "suicide")
RECOVERY = ("restart", "relocate")
SCORE_STEP = 100  # location score between two successive priorities
MIN_STICKY = 1000  # stickiness with failback off: more than any score difference

_AGENT_NAME = re.compile(r"fence_[A-Za-z0-9_]+")
_TYPE_NAME = re.compile(r"[A-Za-z0-9_.@:-]+")
_ID_BAD = re.compile(r"[^A-Za-z0-9_.-]")
_NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_HOST_NAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
)


class SpecError(ValueError):
    """The spec is wrong; ``problems`` lists ``(field, message)``, the message says the fix."""

    def __init__(self, problems: Sequence[tuple[str, str]]):
        self.problems = list(problems)
        super().__init__("; ".join(f"{where}: {what}" for where, what in self.problems))


class CibError(RuntimeError):
    """A Pacemaker tool failed; the message names the command and carries its output."""


# ---- the spec ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Agent:
    """A resource agent, as ``class:provider:type`` (ocf) or ``class:type``."""

    cls: str
    type: str
    provider: str | None = None

    def __str__(self) -> str:
        return ":".join(p for p in (self.cls, self.provider, self.type) if p)


@dataclass(frozen=True)
class Fence:
    agent: str
    delay: int  # seconds: pcmk_delay_base of the device that fences this node
    plug: str | None = None  # the node's name for the device (libvirt domain, outlet...)
    options: tuple[tuple[str, str], ...] = ()
    monitor_interval: int = 60


@dataclass(frozen=True)
class Node:
    name: str
    node_id: int
    priority: int
    score: int
    fence: Fence
    address: str | None = None


@dataclass(frozen=True)
class Service:
    role: str  # "db" or "server": the primitive is <prefix>-<role>
    agent: Agent
    options: tuple[tuple[str, str], ...] = ()
    monitor_interval: int = 10
    start_timeout: int = 60
    stop_timeout: int = 60


@dataclass(frozen=True)
class Spec:
    nodes: tuple[Node, ...]
    vip: str
    vip_cidr: int
    vip_if: str | None
    vip_monitor_interval: int
    services: tuple[Service, ...]  # in start order, after the VIP
    failback: bool
    recovery: str
    max_restarts: int
    restart_expire_time: int
    no_quorum_policy: str
    prefix: str = "onekit"

    # ids of everything this spec owns
    @property
    def group_id(self) -> str:
        return self.prefix

    @property
    def vip_id(self) -> str:
        return f"{self.prefix}-vip"

    def fence_id(self, node: Node) -> str:
        return make_id(f"{self.prefix}-fence-{node.name}")

    @property
    def stickiness(self) -> int:
        if self.failback:
            return 0
        spread = max(n.score for n in self.nodes) - min(n.score for n in self.nodes)
        return max(MIN_STICKY, spread + SCORE_STEP)

    @property
    def two_node(self) -> bool:
        return len(self.nodes) == 2


def make_id(text: str) -> str:
    """An XML ID (NCName) from any text: odd characters become ``_``."""
    value = _ID_BAD.sub("_", text)
    return value if re.match(r"[A-Za-z_]", value) else f"_{value}"


def parse_agent(text: Any, where: str, problems: list[tuple[str, str]]) -> Agent | None:
    """``ocf:heartbeat:IPaddr2``, ``systemd:mariadb``, ``lsb:onekit``..."""
    if not isinstance(text, str) or not text:
        problems.append((where, "give the resource agent as class:provider:type or class:type"))
        return None
    parts = text.split(":")
    cls = parts[0]
    if cls not in RESOURCE_CLASSES:
        problems.append(
            (
                where,
                f"unknown resource class {cls!r} in {text!r}; use one of "
                f"{', '.join(RESOURCE_CLASSES)} (e.g. ocf:onekit:server or systemd:onekit-server)",
            )
        )
        return None
    if cls == "ocf":
        if len(parts) != 3 or not all(parts[1:]):
            problems.append(
                (where, f"an ocf agent needs a provider: ocf:<provider>:<type>, not {text!r}")
            )
            return None
        provider, rtype = parts[1], parts[2]
    else:
        if len(parts) != 2 or not parts[1]:
            problems.append((where, f"write a {cls} agent as {cls}:<name>, not {text!r}"))
            return None
        provider, rtype = None, parts[1]
    if not _TYPE_NAME.fullmatch(rtype):
        problems.append((where, f"{rtype!r} is not a valid agent name"))
        return None
    return Agent(cls, rtype, provider)


def installed_fence_agents(dirs: Iterable[str] = FENCE_AGENT_DIRS) -> set[str]:
    """The fence agents installed on this machine (``fence_*`` executables), and onekit's."""
    found = {ONEKIT_FENCE_AGENT}
    for directory in dirs:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            path = os.path.join(directory, name)
            if _AGENT_NAME.fullmatch(name) and os.access(path, os.X_OK):
                found.add(name)
    return found


def _options(value: Any, where: str, problems: list[tuple[str, str]]) -> tuple:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        problems.append((where, "give the options as a mapping of name: value"))
        return ()
    items = []
    for key, val in value.items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", key):
            problems.append((f"{where}.{key}", "option names are letters, digits, _ . -"))
            continue
        if isinstance(val, bool):
            val = "true" if val else "false"
        if val is None or isinstance(val, (list, dict)):
            problems.append((f"{where}.{key}", "give a string or number"))
            continue
        items.append((key, str(val)))
    return tuple(items)


def _int(
    value: Any, where: str, problems: list[tuple[str, str]], low: int = 0, default: int = 0
) -> int:
    if value is None:
        return default
    try:
        number = int(value)
        if isinstance(value, bool) or str(number) != str(value).strip():
            raise ValueError
    except (TypeError, ValueError):
        problems.append((where, f"must be a whole number, not {value!r}"))
        return default
    if number < low:
        problems.append((where, f"must be {low} or more, not {number}"))
    return number


_Problems = list[tuple[str, str]]
# fence options the module computes itself (from fence.plug and the priorities)
_RESERVED_FENCE_OPTIONS = ("pcmk_host_list", "pcmk_host_map", "pcmk_delay_base")


@dataclass(frozen=True)
class _FenceDraft:
    """A node's fence device as given; ``delay`` None: derived from the priorities."""

    agent: str | None = None
    plug: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    delay: int | None = None
    monitor_interval: int = 60


@dataclass(frozen=True)
class _NodeDraft:
    """A node as given: its score and default fence delay need every node's priority."""

    name: str
    node_id: int
    priority: int
    address: str | None
    fence: _FenceDraft


@dataclass
class _Seen:
    """Which node (by index, the first one) took each name, node id and address so far."""

    names: dict[str, int] = field(default_factory=dict)
    ids: dict[int, int] = field(default_factory=dict)
    addresses: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Vip:
    address: str
    cidr: int
    interface: str | None
    monitor_interval: int


@dataclass(frozen=True)
class _Recovery:
    failback: bool
    recovery: str
    max_restarts: int
    restart_expire_time: int


def parse_spec(raw: Mapping[str, Any], known_agents: Iterable[str] | None = None) -> Spec:
    """Check a spec (the module's options) and return it normalised, or raise
    :class:`SpecError` listing every problem with the field it is in and the fix.

    ``known_agents``: the fence agents that may be used (default: those installed here).

    Every section is checked even when an earlier one is wrong, so the error lists all the
    problems, in the order of the sections below."""
    problems: _Problems = []
    known = _usable_fence_agents(known_agents)
    prefix = _parse_prefix(raw, problems)
    nodes, node_addresses = _parse_nodes(raw, known, problems)
    vip = _parse_vip(raw, node_addresses, problems)
    services = _parse_services(raw, problems)
    recovery = _parse_recovery(raw, problems)
    policy = _parse_no_quorum_policy(raw, problems)
    if problems:
        raise SpecError(problems)
    return Spec(
        nodes=tuple(nodes),
        vip=vip.address,
        vip_cidr=vip.cidr,
        vip_if=vip.interface,
        vip_monitor_interval=vip.monitor_interval,
        services=services,
        failback=recovery.failback,
        recovery=recovery.recovery,
        max_restarts=recovery.max_restarts,
        restart_expire_time=recovery.restart_expire_time,
        no_quorum_policy=policy,
        prefix=prefix,
    )


def _usable_fence_agents(known_agents: Iterable[str] | None) -> set[str]:
    """``known_agents`` (default: the installed ones), onekit's own always among them."""
    known = set(installed_fence_agents() if known_agents is None else known_agents)
    known.add(ONEKIT_FENCE_AGENT)
    return known


def _parse_prefix(raw: Mapping[str, Any], problems: _Problems) -> str:
    prefix = raw.get("id_prefix") or "onekit"
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", prefix):
        problems.append(("id_prefix", "must start with a letter; letters, digits, _ . - only"))
    return prefix


# ---- nodes and their fence devices
def _parse_nodes(
    raw: Mapping[str, Any], known: set[str], problems: _Problems
) -> tuple[list[Node], dict[str, int]]:
    """The nodes, and which node (by index) has each address (the VIP must be none of them)."""
    nodes_raw = _node_list(raw.get("nodes"), problems)
    fence_delay = _int(raw.get("fence_delay"), "fence_delay", problems, default=15)
    seen = _Seen()
    drafts = []
    for index, node in enumerate(nodes_raw):
        draft = _parse_node(node, index, seen, known, problems)
        if draft is not None:
            drafts.append(draft)
    nodes = _rank_nodes(drafts, fence_delay)
    _check_fence_delays(nodes, problems)
    return nodes, seen.addresses


def _node_list(value: Any, problems: _Problems) -> list[Any]:
    nodes_raw = value or []
    if not isinstance(nodes_raw, list):
        problems.append(("nodes", "give a list of nodes"))
        nodes_raw = []
    if len(nodes_raw) < 2:
        problems.append(
            (
                "nodes",
                f"an active-passive cluster needs 2 or more nodes, {len(nodes_raw)} given; "
                "add the passive front-end(s) to nodes (each with name, priority and fence)",
            )
        )
    return nodes_raw


def _parse_node(
    node: Any, index: int, seen: _Seen, known: set[str], problems: _Problems
) -> _NodeDraft | None:
    """One item of ``nodes``; None when it is not even a mapping."""
    where = f"nodes[{index}]"
    if not isinstance(node, Mapping):
        problems.append((where, "give each node as a mapping with name, priority, fence"))
        return None
    name = _parse_node_name(node.get("name"), index, seen, problems)
    node_id = _parse_node_id(node.get("node_id"), index, seen, problems)
    priority = _int(node.get("priority"), f"{where}.priority", problems, 1, index + 1)
    address = _parse_node_address(node.get("address"), index, seen, problems)
    fence = _parse_fence(node.get("fence"), f"{where}.fence", known, problems)
    return _NodeDraft(name, node_id, priority, address, fence)


def _claim(
    taken: dict[Any, int],
    key: Any,
    shown: str,
    index: int,
    where: str,
    own: str,
    problems: _Problems,
) -> None:
    """Node ``index`` uses ``key`` (a name, node id or address); a problem if an earlier
    node took it, which keeps it (the first one named in every later message)."""
    if key in taken:
        problems.append(
            (where, f"duplicate {shown} (also nodes[{taken[key]}]); give each node {own}")
        )
    taken.setdefault(key, index)


def _parse_node_name(name: Any, index: int, seen: _Seen, problems: _Problems) -> str:
    """The node's name; a placeholder (``?<index>``) when it is not a valid one."""
    where = f"nodes[{index}].name"
    if not isinstance(name, str) or not _NODE_NAME.fullmatch(name):
        problems.append((where, f"give the node's name as the cluster knows it, not {name!r}"))
        return f"?{index}"  # never a valid name, so never anyone's duplicate
    _claim(seen.names, name, f"node name {name!r}", index, where, "its own name", problems)
    return name


def _parse_node_id(value: Any, index: int, seen: _Seen, problems: _Problems) -> int:
    """The corosync node id, by default the node's place in the list (from 1)."""
    where = f"nodes[{index}].node_id"
    node_id = _int(value, where, problems, 1, index + 1)
    _claim(
        seen.ids, node_id, f"node_id {node_id}", index, where, "its own corosync node id", problems
    )
    return node_id


def _parse_node_address(value: Any, index: int, seen: _Seen, problems: _Problems) -> str | None:
    """An IP address (normalised) or a host name; None when not given or not valid."""
    if value is None:
        return None
    where = f"nodes[{index}].address"
    try:
        address = str(ipaddress.ip_address(str(value)))
    except ValueError:
        if not _HOST_NAME.fullmatch(str(value)):
            problems.append((where, f"{value!r} is neither an IP address nor a name"))
            return None
        address = value
    _claim(seen.addresses, address, f"address {address}", index, where, "its own address", problems)
    return address


def _parse_fence(fence: Any, where: str, known: set[str], problems: _Problems) -> _FenceDraft:
    """A node's ``fence``: every node needs one (stonith-enabled=true)."""
    if not isinstance(fence, Mapping) or not fence.get("agent"):
        problems.append(
            (
                f"{where}.agent",
                "every node needs a fence device (stonith-enabled=true): give "
                f"fence: {{agent: {ONEKIT_FENCE_AGENT}, plug: <domain>, options: {{uri: "
                "...}}} or another installed fence agent",
            )
        )
        return _FenceDraft()
    agent = _parse_fence_agent(str(fence["agent"]), where, known, problems)
    plug = _parse_fence_plug(fence.get("plug"), where, problems)
    options = _parse_fence_options(fence.get("options"), where, problems)
    delay = None
    if fence.get("delay") is not None:
        delay = _int(fence.get("delay"), f"{where}.delay", problems)
    monitor = _int(fence.get("monitor_interval"), f"{where}.monitor_interval", problems, 1, 60)
    return _FenceDraft(agent, plug, options, delay, monitor)


def _parse_fence_agent(agent: str, where: str, known: set[str], problems: _Problems) -> str:
    if not _AGENT_NAME.fullmatch(agent) or agent not in known:
        listed = ", ".join(sorted(known)[:12])
        problems.append(
            (
                f"{where}.agent",
                f"unknown fence agent {agent!r}; use an installed one ({listed}"
                f"{', ...' if len(known) > 12 else ''}) or install it (fence-agents)",
            )
        )
    return agent


def _parse_fence_plug(value: Any, where: str, problems: _Problems) -> str | None:
    """The node's name for the device: it goes into pcmk_host_map, where ':' ';' separate."""
    if value is None:
        return None
    plug = str(value)
    if not plug or ":" in plug or ";" in plug:
        problems.append((f"{where}.plug", "a plug name cannot hold ':' or ';'"))
    return plug


def _parse_fence_options(
    value: Any, where: str, problems: _Problems
) -> tuple[tuple[str, str], ...]:
    options = _options(value, f"{where}.options", problems)
    for key, _ in options:
        if key in _RESERVED_FENCE_OPTIONS:
            problems.append(
                (
                    f"{where}.options.{key}",
                    "set by the module: use fence.plug and fence.delay instead",
                )
            )
    return options


def _rank_nodes(drafts: Sequence[_NodeDraft], fence_delay: int) -> list[Node]:
    """Scores mirror the ordered failover domain; fence delays go the other way round (the
    preferred node's device waits longest, so the preferred node wins a fence race)."""
    priorities = sorted({d.priority for d in drafts})
    rank = {p: i for i, p in enumerate(priorities)}
    nodes = []
    for draft in drafts:
        score = SCORE_STEP * (len(priorities) - rank[draft.priority])
        delay = draft.fence.delay
        if delay is None:
            delay = fence_delay * (len(priorities) - 1 - rank[draft.priority])
        f = draft.fence
        fence = Fence(f.agent or "", delay, f.plug, f.options, f.monitor_interval)
        nodes.append(Node(draft.name, draft.node_id, draft.priority, score, fence, draft.address))
    return nodes


def _check_fence_delays(nodes: Sequence[Node], problems: _Problems) -> None:
    """No two nodes fenced after the same delay: they could shoot each other at once."""
    by_delay: dict[int, str] = {}
    for index, node in enumerate(nodes):
        other = by_delay.get(node.fence.delay)
        if other is not None and len(nodes) >= 2:
            problems.append(
                (
                    f"nodes[{index}].fence.delay",
                    f"{node.name} and {other} would be fenced after the same delay "
                    f"({node.fence.delay} s), so they could fence each other at once; give them "
                    "different priorities or different fence.delay values",
                )
            )
        by_delay.setdefault(node.fence.delay, node.name)


# ---- the floating IP (one-deploy's names)
def _parse_vip(
    raw: Mapping[str, Any], node_addresses: Mapping[str, int], problems: _Problems
) -> _Vip:
    vip = _parse_vip_address(raw.get("one_vip"), problems)
    cidr = _parse_vip_cidr(raw.get("one_vip_cidr"), raw.get("one_vip"), vip, problems)
    _check_vip_is_its_own(vip, cidr, node_addresses, problems)
    vip_if = _parse_vip_if(raw.get("one_vip_if"), problems)
    monitor = _int(raw.get("vip_monitor_interval"), "vip_monitor_interval", problems, 1, 20)
    return _Vip(vip, cidr, vip_if, monitor)


def _parse_vip_address(value: Any, problems: _Problems) -> str:
    """The VIP, normalised; "" when missing or not an IP address."""
    if not value:
        problems.append(("one_vip", "give the floating IP the front-end is reached at"))
        return ""
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        problems.append(("one_vip", f"{value!r} is not an IP address"))
        return ""


def _parse_vip_cidr(value: Any, vip_raw: Any, vip: str, problems: _Problems) -> int:
    """The VIP's prefix length (required: IPaddr2 cannot always guess the netmask)."""
    if value is None or value == "":
        problems.append(
            (
                "one_vip_cidr",
                f"the floating IP {vip_raw} needs its prefix length (one_vip_cidr, e.g. 24): "
                "IPaddr2 cannot always guess the netmask",
            )
        )
        return 0
    cidr = _int(value, "one_vip_cidr", problems, 1)
    limit = 128 if vip and ipaddress.ip_address(vip).version == 6 else 32
    if cidr > limit:
        problems.append(("one_vip_cidr", f"must be 1 to {limit} for {vip or 'the VIP'}"))
    return cidr


def _check_vip_is_its_own(
    vip: str, cidr: int, node_addresses: Mapping[str, int], problems: _Problems
) -> None:
    """The VIP is neither a node's address nor its network's address."""
    if vip and vip in node_addresses:
        problems.append(
            (
                "one_vip",
                f"{vip} is the address of nodes[{node_addresses[vip]}]: the floating IP must "
                "be an address of its own, not a node's",
            )
        )
    if vip and cidr and cidr <= (128 if ":" in vip else 32):
        net = ipaddress.ip_network(f"{vip}/{cidr}", strict=False)
        if vip == str(net.network_address) and net.num_addresses > 2:
            problems.append(("one_vip", f"{vip} is the network address of {net}"))


def _parse_vip_if(value: Any, problems: _Problems) -> Any:
    """The interface IPaddr2 puts the VIP on; None: IPaddr2 finds it from the routes."""
    vip_if = value or None
    if vip_if is not None and not re.fullmatch(r"[A-Za-z0-9_.:@-]{1,15}", str(vip_if)):
        problems.append(("one_vip_if", f"{vip_if!r} is not an interface name"))
    return vip_if


# ---- services: the local DB (optional), then onekit-server
def _parse_services(raw: Mapping[str, Any], problems: _Problems) -> tuple[Service, ...]:
    """The group's services after the VIP, in start order."""
    db = _parse_db_service(raw, problems)
    server = _parse_server_service(raw, problems)
    return tuple(s for s in (db, server) if s is not None)


def _parse_db_service(raw: Mapping[str, Any], problems: _Problems) -> Service | None:
    if not raw.get("db_agent"):
        if raw.get("db_options"):
            problems.append(("db_options", "set db_agent too (e.g. systemd:mariadb)"))
        return None
    agent = parse_agent(raw["db_agent"], "db_agent", problems)
    if not agent:
        return None
    options = _options(raw.get("db_options"), "db_options", problems)
    monitor = _int(raw.get("db_monitor_interval"), "db_monitor_interval", problems, 1, 30)
    return Service("db", agent, options, monitor, start_timeout=120, stop_timeout=120)


def _parse_server_service(raw: Mapping[str, Any], problems: _Problems) -> Service | None:
    agent = parse_agent(raw.get("onekit_agent") or DEFAULT_SERVER_AGENT, "onekit_agent", problems)
    if not agent:
        return None
    options = _options(raw.get("onekit_options"), "onekit_options", problems)
    monitor = _int(raw.get("onekit_monitor_interval"), "onekit_monitor_interval", problems, 1, 10)
    return Service("server", agent, options, monitor)


# ---- recovery and quorum
def _parse_recovery(raw: Mapping[str, Any], problems: _Problems) -> _Recovery:
    """Failback, and what a failed service gets (restart in place, then move)."""
    failback = raw.get("failback", True)
    if not isinstance(failback, bool):
        problems.append(("failback", "true (return to the preferred node) or false"))
        failback = True
    recovery = raw.get("recovery") or "restart"
    if recovery not in RECOVERY:
        problems.append(("recovery", f"use restart or relocate, not {recovery!r}"))
    max_restarts = _int(raw.get("max_restarts"), "max_restarts", problems, default=3)
    expire = _int(raw.get("restart_expire_time"), "restart_expire_time", problems, default=600)
    return _Recovery(failback, recovery, max_restarts, expire)


def _parse_no_quorum_policy(raw: Mapping[str, Any], problems: _Problems) -> str:
    policy = raw.get("no_quorum_policy") or "stop"
    if policy not in NO_QUORUM_POLICIES:
        problems.append(
            ("no_quorum_policy", f"use one of {', '.join(NO_QUORUM_POLICIES)}, not {policy!r}")
        )
    return policy


def corosync_quorum(spec: Spec) -> dict[str, Any]:
    """The corosync ``quorum`` section for the nodes: votequorum, ``two_node: 1`` for two
    nodes (the guide's cman ``two_node="1" expected_votes="1"``; it implies
    ``wait_for_all``, so a lone node after a full cluster stop waits for its peer)."""
    section: dict[str, Any] = {"provider": "corosync_votequorum"}
    if spec.two_node:
        section["two_node"] = 1
    return section


def cluster_properties(spec: Spec) -> list[tuple[str, str]]:
    return [
        ("stonith-enabled", "true"),
        ("no-quorum-policy", spec.no_quorum_policy),
    ]


# ---- the CIB -----------------------------------------------------------------------------------
def _nvset(parent: ET.Element, tag: str, set_id: str, pairs: Iterable[tuple[str, str]]) -> None:
    pairs = list(pairs)
    if not pairs:
        return
    nvset = ET.SubElement(parent, tag, {"id": set_id})
    for name, value in pairs:
        ET.SubElement(
            nvset, "nvpair", {"id": make_id(f"{set_id}-{name}"), "name": name, "value": value}
        )


def _op(ops: ET.Element, rid: str, name: str, interval: int, timeout: int, **extra: str) -> None:
    ET.SubElement(
        ops,
        "op",
        {
            "id": f"{rid}-{name}-interval-{interval}s",
            "name": name,
            "interval": f"{interval}s",
            "timeout": f"{timeout}s",
            **extra,
        },
    )


def _primitive(rid: str, agent: Agent, params: Iterable[tuple[str, str]]) -> ET.Element:
    attrs = {"id": rid, "class": agent.cls}
    if agent.provider:
        attrs["provider"] = agent.provider
    attrs["type"] = agent.type
    prim = ET.Element("primitive", attrs)
    _nvset(prim, "instance_attributes", f"{rid}-instance_attributes", params)
    return prim


def owned_resources(spec: Spec) -> list[ET.Element]:
    """The group (VIP, then the services) and one fence device per node."""
    group = ET.Element("group", {"id": spec.group_id})
    meta = [("resource-stickiness", str(spec.stickiness))]
    if spec.recovery == "relocate":
        meta.append(("migration-threshold", "1"))
    elif spec.max_restarts:
        meta.append(("migration-threshold", str(spec.max_restarts)))
    if spec.restart_expire_time and (spec.recovery == "relocate" or spec.max_restarts):
        meta.append(("failure-timeout", f"{spec.restart_expire_time}s"))
    _nvset(group, "meta_attributes", f"{spec.group_id}-meta_attributes", meta)

    params = [("ip", spec.vip), ("cidr_netmask", str(spec.vip_cidr))]
    if spec.vip_if:
        params.append(("nic", spec.vip_if))
    vip = _primitive(spec.vip_id, Agent("ocf", "IPaddr2", "heartbeat"), params)
    ops = ET.SubElement(vip, "operations")
    _op(ops, spec.vip_id, "monitor", spec.vip_monitor_interval, 20, **{"on-fail": "restart"})
    _op(ops, spec.vip_id, "start", 0, 20)
    _op(ops, spec.vip_id, "stop", 0, 20)
    group.append(vip)
    for service in spec.services:
        rid = f"{spec.prefix}-{service.role}"
        prim = _primitive(rid, service.agent, service.options)
        ops = ET.SubElement(prim, "operations")
        _op(ops, rid, "monitor", service.monitor_interval, 30, **{"on-fail": "restart"})
        _op(ops, rid, "start", 0, service.start_timeout)
        _op(ops, rid, "stop", 0, service.stop_timeout)
        group.append(prim)

    made = [group]
    for node in spec.nodes:
        fid = spec.fence_id(node)
        params = [("pcmk_host_list", node.name)]
        if node.fence.plug:
            params.append(("pcmk_host_map", f"{node.name}:{node.fence.plug}"))
        params.append(("pcmk_delay_base", f"{node.fence.delay}s"))
        params.extend(node.fence.options)
        prim = ET.Element("primitive", {"id": fid, "class": "stonith", "type": node.fence.agent})
        _nvset(prim, "instance_attributes", f"{fid}-instance_attributes", params)
        ops = ET.SubElement(prim, "operations")
        _op(ops, fid, "monitor", node.fence.monitor_interval, 60)
        made.append(prim)
    return made


def owned_constraints(spec: Spec) -> list[ET.Element]:
    """Node preferences of the group (the ordered failover domain) and, for each fence
    device, a ban from the node it fences."""
    made = []
    for node in spec.nodes:
        made.append(
            ET.Element(
                "rsc_location",
                {
                    "id": make_id(f"{spec.prefix}-prefers-{node.name}"),
                    "rsc": spec.group_id,
                    "node": node.name,
                    "score": str(node.score),
                },
            )
        )
    for node in spec.nodes:
        fid = spec.fence_id(node)
        made.append(
            ET.Element(
                "rsc_location",
                {"id": f"{fid}-avoids-self", "rsc": fid, "node": node.name, "score": "-INFINITY"},
            )
        )
    return made


def is_owned(element: ET.Element, prefix: str) -> bool:
    rid = element.get("id") or ""
    return rid == prefix or rid.startswith(f"{prefix}-")


def _replace_owned(section: ET.Element, prefix: str, wanted: list[ET.Element]) -> None:
    """Put ``wanted`` where the first owned child was (or at the end); drop other owned."""
    children = list(section)
    position = next((i for i, c in enumerate(children) if is_owned(c, prefix)), None)
    kept = [c for c in children if not is_owned(c, prefix)]
    if position is None:
        new = kept + wanted
    else:
        before = sum(1 for c in children[:position] if not is_owned(c, prefix))
        new = kept[:before] + wanted + kept[before:]
    for child in children:
        section.remove(child)
    section.extend(new)


def _section(parent: ET.Element, tag: str) -> ET.Element:
    found = parent.find(tag)
    return found if found is not None else ET.SubElement(parent, tag)


def desired_cib(live: ET.Element, spec: Spec | None, prefix: str = "onekit") -> ET.Element:
    """The live CIB with this spec applied (``spec=None``: everything owned removed).

    Kept as they are: the root's attributes (schema, versions), the status, other
    resources/constraints/properties, and node entries the cluster made."""
    cib = ET.fromstring(ET.tostring(live))
    conf = _section(cib, "configuration")
    prefix = spec.prefix if spec else prefix
    if spec is not None:
        crm_config = _section(conf, "crm_config")
        boot = next(
            (
                s
                for s in crm_config.findall("cluster_property_set")
                if s.get("id") == "cib-bootstrap-options"
            ),
            None,
        )
        if boot is None:
            boot = ET.Element("cluster_property_set", {"id": "cib-bootstrap-options"})
            crm_config.insert(0, boot)
        for name, value in cluster_properties(spec):
            pair = next((p for p in boot.findall("nvpair") if p.get("name") == name), None)
            if pair is None:
                ET.SubElement(
                    boot,
                    "nvpair",
                    {"id": f"cib-bootstrap-options-{name}", "name": name, "value": value},
                )
            elif pair.get("value") != value:
                pair.set("value", value)
        nodes = _section(conf, "nodes")
        unames = {n.get("uname") for n in nodes.findall("node")}
        used = {n.get("id") for n in nodes.findall("node")}
        for node in spec.nodes:
            if node.name in unames:
                continue
            node_id = node.node_id
            while str(node_id) in used:
                node_id += 1
            used.add(str(node_id))
            ET.SubElement(nodes, "node", {"id": str(node_id), "uname": node.name})
    resources = _section(conf, "resources")
    constraints = _section(conf, "constraints")
    _replace_owned(resources, prefix, owned_resources(spec) if spec else [])
    _replace_owned(constraints, prefix, owned_constraints(spec) if spec else [])
    return cib


def verifiable(cib: ET.Element) -> ET.Element:
    """The CIB's configuration with every node up and quorum: what ``crm_verify`` checks
    without the warnings a state brings (a new file has no status, so every node would be
    unclean; a live cluster may have a node down)."""
    copy = ET.fromstring(ET.tostring(cib))
    copy.set("have-quorum", "1")
    status = copy.find("status")
    if status is not None:
        copy.remove(status)
    status = ET.SubElement(copy, "status")
    for node in copy.iterfind("configuration/nodes/node"):
        ET.SubElement(
            status,
            "node_state",
            {
                "id": node.get("id", ""),
                "uname": node.get("uname", ""),
                "in_ccm": "true",
                "crmd": "online",
                "join": "member",
                "expected": "member",
            },
        )
    return copy


def to_text(element: ET.Element) -> str:
    copy = ET.fromstring(ET.tostring(element))
    for node in copy.iter():  # formatting whitespace of the input goes; ours is added back
        if len(node):
            node.text = None
        node.tail = None
    ET.indent(copy, space="  ")
    return ET.tostring(copy, encoding="unicode") + "\n"


def configuration_text(cib: ET.Element) -> str:
    conf = cib.find("configuration")
    return to_text(conf) if conf is not None else ""


# ---- applying it with Pacemaker's tools -------------------------------------------------------
Runner = Callable[..., tuple[int, str, str]]


def subprocess_runner(
    args: Sequence[str], env: Mapping[str, str] | None = None, data: str | None = None
) -> tuple[int, str, str]:
    """Run a command (the module passes AnsibleModule.run_command instead)."""
    import subprocess

    result = subprocess.run(
        list(args),
        input=data,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )
    return result.returncode, result.stdout, result.stderr


@dataclass
class Cib:
    """Pacemaker's CIB, live (the local cluster) or in ``cib_file``."""

    run: Runner = subprocess_runner
    cib_file: str | None = None
    tools: Mapping[str, str] = field(default_factory=dict)

    def _tool(self, name: str) -> str:
        return self.tools.get(name, name)

    def _env(self) -> dict[str, str]:
        return {"CIB_file": self.cib_file} if self.cib_file else {}

    def _call(self, name: str, *args: str, ok: Sequence[int] = (0,)) -> tuple[int, str]:
        cmd = [self._tool(name), *args]
        rc, out, err = self.run(cmd, self._env())
        if rc not in ok:
            where = f" (CIB_file={self.cib_file})" if self.cib_file else ""
            raise CibError(f"{' '.join(cmd)}{where} failed ({rc}): {(err or out).strip()}")
        return rc, out

    def exists(self) -> bool:
        return not self.cib_file or os.path.exists(self.cib_file)

    def query(self) -> ET.Element:
        """The whole CIB; an empty one for a ``cib_file`` that does not exist yet."""
        if not self.exists():
            _, out = self._call("cibadmin", "--empty")
            return ET.fromstring(out)
        _, out = self._call("cibadmin", "--query")
        return ET.fromstring(out)

    def diff(self, old: ET.Element, new: ET.Element) -> str:
        """``crm_diff --no-version`` of two CIBs: the patch, empty when they are the same."""
        with tempfile.TemporaryDirectory(prefix="onekit-cib-") as tmp:
            a, b = os.path.join(tmp, "old.xml"), os.path.join(tmp, "new.xml")
            for path, element in ((a, old), (b, new)):
                with open(path, "w") as f:
                    f.write(ET.tostring(element, encoding="unicode"))
            rc, out = self._call("crm_diff", "--original", a, "--new", b, "--no-version", ok=(0, 1))
        return out.strip() if rc == 1 else ""

    def verify(self, cib: ET.Element) -> None:
        """``crm_verify`` of a CIB's configuration (offline, see :func:`verifiable`); raises
        CibError with its complaints."""
        with tempfile.TemporaryDirectory(prefix="onekit-cib-") as tmp:
            path = os.path.join(tmp, "cib.xml")
            with open(path, "w") as f:
                f.write(ET.tostring(verifiable(cib), encoding="unicode"))
            rc, out, err = self.run([self._tool("crm_verify"), "--xml-file", path], {})
        if rc != 0:
            raise CibError(f"crm_verify rejects the new configuration: {(err or out).strip()}")

    def create(self, cib: ET.Element) -> None:
        """Write the starting CIB of a new ``cib_file``."""
        assert self.cib_file
        directory = os.path.dirname(os.path.abspath(self.cib_file))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".cib-")
        with os.fdopen(fd, "w") as f:
            f.write(ET.tostring(cib, encoding="unicode"))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.cib_file)

    def patch(self, patch: str) -> None:
        with tempfile.TemporaryDirectory(prefix="onekit-cib-") as tmp:
            path = os.path.join(tmp, "patch.xml")
            with open(path, "w") as f:
                f.write(patch)
            self._call("cibadmin", "--patch", "--xml-file", path)


@dataclass
class Outcome:
    changed: bool
    patch: str
    before: str
    after: str
    spec: Spec | None

    def summary(self) -> dict[str, Any]:
        spec = self.spec
        result: dict[str, Any] = {"changed": self.changed, "patch": self.patch}
        if spec is not None:
            result.update(
                resources=[spec.vip_id, *(f"{spec.prefix}-{s.role}" for s in spec.services)],
                group=spec.group_id,
                fence_devices={n.name: spec.fence_id(n) for n in spec.nodes},
                scores={n.name: n.score for n in spec.nodes},
                fence_delays={n.name: n.fence.delay for n in spec.nodes},
                resource_stickiness=spec.stickiness,
                properties=dict(cluster_properties(spec)),
                corosync_quorum=corosync_quorum(spec),
            )
        return result


def apply(
    cib: Cib,
    spec: Spec | None,
    check_mode: bool = False,
    verify: bool = True,
    prefix: str = "onekit",
) -> Outcome:
    """Bring the CIB to the spec (``None``: remove what the module owns). Reads the CIB,
    builds the desired one, diffs them and pushes only the difference."""
    existed = cib.exists()
    live = cib.query()
    wanted = desired_cib(live, spec, prefix)
    patch = cib.diff(live, wanted)
    changed = bool(patch) or not existed
    if patch and verify and spec is not None:
        cib.verify(wanted)
    if changed and not check_mode:
        if not existed:
            cib.create(live)
        if patch:
            cib.patch(patch)
    return Outcome(changed, patch, configuration_text(live), configuration_text(wanted), spec)

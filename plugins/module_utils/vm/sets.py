"""A set of VMs brought to a desired state: what the ``onekit.cloud.vm`` module does.

The set is named one of four ways, three of them as community.general's ``one_vm``
names it: ``instance_ids``; ``exact_count`` VMs of a template that carry
``count_attributes`` and ``count_labels`` (created or deleted to match, lowest ids
deleted first); ``names``, one VM per name (created when no live VM of the
``count_attributes`` has it: how OneFlow asks for a role's new VMs, safe to repeat after
a crash); or, without any, VMs named ``attributes.NAME`` (created when none is live).
Then each VM is moved to the target state (present, running, poweroff, suspended,
stopped, undeployed, absent), or has ``action`` run on it (``onevm <action>``).

``plan`` only reads and decides; ``apply`` acts, batching every step (one transaction and
one pass over the hosts for all VMs that take it). Check mode runs ``plan`` alone, so it
never touches a hypervisor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput, NotFound
from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    Lcm,
    VmState,
    state_name,
)
from ansible_collections.onekit.cloud.plugins.module_utils.vm import (
    lifecycle,
    scheduler,
    templates,
    vms,
)

Body = dict[str, Any]
STATES = ("present", "running", "poweroff", "suspended", "stopped", "undeployed", "absent")
MAX_VMS = 10000  # the most one call creates, as onetemplate instantiate allows
PLACE = "place"  # a step that is not an action: hand the VM to the scheduler
_INDEX = "###"


@dataclass
class Request:
    state: str = "present"
    template: int | str | None = None
    instance_ids: list[int] | None = None
    count: int = 1
    exact_count: int | None = None
    count_attributes: dict[str, str] = field(default_factory=dict)
    count_labels: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    hard: bool = False
    names: list[str] | None = None
    action: str | None = None
    owner: int | None = None  # new VMs (and the set's) belong to this user...
    group: int | None = None  # ...and group, as one_vm's owner_id / group_id
    extra_template: str | None = None  # template text merged over the template

    def check(self) -> None:
        if self.state not in STATES:
            raise InvalidInput(f"state must be one of {', '.join(STATES)}, got {self.state!r}")
        ways = [self.instance_ids is not None, self.exact_count is not None, bool(self.names)]
        if sum(ways) > 1:
            raise InvalidInput("use only one of instance_ids, exact_count and names")
        if self.action is not None:
            if self.action not in lifecycle.ACTIONS:
                raise InvalidInput(
                    f"action must be one of {', '.join(lifecycle.ACTIONS)}, got {self.action!r}"
                )
            if self.instance_ids is None or self.state != "present":
                raise InvalidInput("action needs instance_ids and no state")
        if self.names is not None and len(self.names) > MAX_VMS:
            raise InvalidInput(f"names may list at most {MAX_VMS} VMs")
        if self.exact_count is not None:
            if self.exact_count < 0:
                raise InvalidInput("exact_count must be 0 or more")
            if not self.count_attributes and not self.count_labels:
                raise InvalidInput(
                    "exact_count needs count_attributes or count_labels to "
                    "tell its VMs from others (deleting unrelated VMs is the "
                    "trap this guards against)"
                )
        if not 1 <= self.count <= MAX_VMS:
            raise InvalidInput(f"count must be 1 to {MAX_VMS}")
        if self.exact_count is not None and self.exact_count > MAX_VMS:
            raise InvalidInput(f"exact_count must be at most {MAX_VMS}")
        needs_template = self.instance_ids is None and self.state != "absent"
        if self.names is not None and not self.count_attributes:
            raise InvalidInput("names needs count_attributes to tell the set's VMs from others")
        if needs_template and self.template is None:
            raise InvalidInput("template_id or template_name is needed to create VMs")


@dataclass
class Plan:
    members: list[Body]  # live VMs of the set now
    create: int = 0
    delete: list[Body] = field(default_factory=list)
    steps: dict[int, list[str]] = field(default_factory=dict)  # vm id -> actions, in order
    names: list[str | None] = field(default_factory=list)  # names of the VMs to create
    chown: list[int] = field(default_factory=list)  # members not owned as asked

    @property
    def changed(self) -> bool:
        return bool(self.create or self.delete or self.chown or any(self.steps.values()))


def _labels(vm: Body) -> set[str]:
    raw = vm["USER_TEMPLATE"].get("LABELS", "")
    return {x.strip() for x in str(raw).split(",") if x.strip()}


def _value(vm: Body, key: str) -> Any:
    for source in (vm["USER_TEMPLATE"], vm["TEMPLATE"], vm):
        if key in source:
            return source[key]
    return None


def _matches(vm: Body, req: Request, template_id: int | None) -> bool:
    if template_id is not None and vm["TEMPLATE"].get("TEMPLATE_ID") != str(template_id):
        return False
    if any(str(_value(vm, k.upper())) != str(v) for k, v in req.count_attributes.items()):
        return False
    return set(req.count_labels) <= _labels(vm)


def _actions(vm: Body, target: str, hard: bool) -> list[str]:
    """The actions that take one VM to the target state (empty: it is there)."""
    state, lcm = VmState(vm["STATE"]), vm["LCM_STATE"]
    running = state == VmState.ACTIVE and lcm == Lcm.RUNNING
    if target == "present":
        return []
    if target == "absent":
        return ["delete"]
    if state == VmState.ACTIVE and lcm not in (Lcm.RUNNING, Lcm.UNKNOWN):
        raise lifecycle.WrongState(
            f"VM {vm['ID']} ({vm['NAME']}) is {state_name(state, lcm)}, between two "
            "states; run again once it has settled (onevm recover decides a stuck one)"
        )
    to_running = {
        VmState.HOLD: ["release", PLACE],
        VmState.PENDING: [PLACE],
        VmState.SUSPENDED: ["resume"],
        VmState.POWEROFF: ["resume"],
        VmState.STOPPED: ["resume"],
        VmState.UNDEPLOYED: ["resume"],
        VmState.FAILED: ["delete-recreate"],
    }
    if target == "running":
        if running:
            return []
        if state == VmState.ACTIVE:  # UNKNOWN
            return ["boot"]
        return to_running[state]
    goal = {
        "poweroff": (VmState.POWEROFF, "poweroff"),
        "suspended": (VmState.SUSPENDED, "suspend"),
        "stopped": (VmState.STOPPED, "stop"),
        "undeployed": (VmState.UNDEPLOYED, "undeploy"),
    }[target]
    if state == goal[0]:
        return []
    action = goal[1] + ("-hard" if hard and goal[1] in ("poweroff", "undeploy") else "")
    if running:
        return [action]
    if state in (VmState.SUSPENDED, VmState.POWEROFF):
        return ["resume", action]
    raise lifecycle.WrongState(
        f"VM {vm['ID']} ({vm['NAME']}) is {state_name(state, lcm)}: it reaches {target} only "
        "by running first; set state running, then run again"
    )


def _names(req: Request, taken: set[str], count: int) -> list[str | None]:
    """Names for new VMs: attributes.NAME, with ### replaced by the next free index."""
    name = req.attributes.get("NAME")
    if name is None:
        return [None] * count
    if _INDEX not in name:
        return [name] * count
    names, index = [], 1
    while len(names) < count:
        candidate = name.replace(_INDEX, str(index))
        if candidate not in taken:
            names.append(candidate)
        index += 1
    return names


def plan(session: Session, req: Request) -> Plan:
    """Decide, reading only: which VMs to create, delete and move."""
    req.check()
    with session.read() as w:
        template_id = None
        if req.template is not None:
            body = pool.resolve(w.tx, schema.TEMPLATES, req.template)
            w.authorize(objects.target(schema.TEMPLATES, body), Right.USE)
            template_id = body["ID"]
    live = vms.list_vms(session)
    if req.instance_ids is not None:
        by_id = {vm["ID"]: vm for vm in live}
        members = []
        for vm_id in req.instance_ids:
            if vm_id in by_id:
                members.append(by_id[vm_id])
            elif req.state != "absent":  # deleting what is gone already is no error
                raise NotFound(f"VM {vm_id} does not exist (or is DONE)")
        result = Plan(members)
    elif req.exact_count is not None:
        members = [vm for vm in live if _matches(vm, req, template_id)]
        result = Plan(members)
        wanted = 0 if req.state == "absent" else req.exact_count
        surplus = sorted(members, key=lambda vm: vm["ID"])[: max(0, len(members) - wanted)]
        result.delete = surplus
        result.create = max(0, wanted - len(members))
    elif req.names is not None:
        # with an owner, only that user's VMs count: another user's VM, however named and
        # tagged, is never taken into the set (nor given to the owner)
        tagged = [
            vm for vm in live if _matches(vm, req, template_id) and req.owner in (None, vm["UID"])
        ]
        members, missing = _by_names(tagged, req.names)
        result = Plan(members)
        if req.state == "absent":
            result.delete = members
        else:
            result.create = len(missing)
            result.names = missing
    else:
        name = req.attributes.get("NAME")
        if name is not None and _INDEX not in name:
            members = [vm for vm in live if vm["NAME"] == name]
        else:
            members = []  # nothing names the set: count new VMs, every run (as one_vm)
        result = Plan(members)
        if not members and req.state != "absent":
            result.create = req.count
    deleted = {vm["ID"] for vm in result.delete}
    for vm in result.members:
        if vm["ID"] not in deleted:
            result.steps[vm["ID"]] = (
                [req.action] if req.action else _actions(vm, req.state, req.hard)
            )
            if (req.owner is not None and vm["UID"] != req.owner) or (
                req.group is not None and vm["GID"] != req.group
            ):
                result.chown.append(vm["ID"])
    if req.names is None:
        result.names = _names(req, {vm["NAME"] for vm in live}, result.create)
    return result


def _by_names(tagged: list[Body], names: list[str]) -> tuple[list[Body], list[str]]:
    """Each name takes one live VM of that name (lowest id first); the names left over
    are the VMs to create."""
    free: dict[str, list[Body]] = {}
    for vm in sorted(tagged, key=lambda vm: vm["ID"]):
        free.setdefault(vm["NAME"], []).append(vm)
    members, missing = [], []
    for name in names:
        if free.get(name):
            members.append(free[name].pop(0))
        else:
            missing.append(name)
    return members, missing


def apply(
    session: Session, req: Request, todo: Plan, sched: scheduler.SchedConfig
) -> tuple[list[Body], list[str]]:
    """Carry a plan out; returns (the set's VMs after, the errors of those that failed)."""
    errors: list[str] = []

    def act(ids: list[int], action: str) -> None:
        if ids:
            for outcome in lifecycle.act(session, ids, action):
                if outcome.error:
                    errors.append(f"VM {outcome.vm['ID']}: {action}: {outcome.error}")

    act([vm["ID"] for vm in todo.delete], "delete")
    if todo.chown:
        vms.chown_all(session, todo.chown, req.owner, req.group)
    member_ids = [vm["ID"] for vm in todo.members if vm not in todo.delete]
    placed: list[int] = []  # new VMs the scheduler has been asked for already
    if todo.create:
        extra = template.parse(req.extra_template) if req.extra_template else {}
        extra.update({**req.attributes, **req.count_attributes})
        extra.pop("NAME", None)
        labels = sorted(set(req.labels) | set(req.count_labels))
        if labels:
            extra["LABELS"] = ",".join(labels)
        unique = req.count_attributes if req.names is not None else None
        created = templates.instantiate_named(
            session, req.template, todo.names, extra or None, req.owner, req.group, unique
        )
        new_ids = [vm["ID"] for vm in created]
        member_ids += new_ids
        if req.state != "present":
            placed = new_ids
            # the deploys' outcomes hold the VMs as they are now (no listing of every VM);
            # a VM not placed stays PENDING: errors says why (no room...)
            for outcome in _place(session, sched, new_ids, errors):
                todo.steps[outcome.vm["ID"]] = _actions(outcome.vm, req.state, req.hard)
    # Each wave runs one action on every VM whose next step it is (the plan is left as
    # it was: callers still read what it said).
    steps = {vm_id: list(planned) for vm_id, planned in todo.steps.items()}
    while any(steps.values()):
        wave: dict[str, list[int]] = {}
        for vm_id, left in steps.items():
            if left:
                wave.setdefault(left.pop(0), []).append(vm_id)
        for action, ids in wave.items():
            if action != PLACE:
                act(ids, action)
    if req.state == "running":  # once per VM: a second try would say the same
        _place(session, sched, [i for i in member_ids if i not in placed], errors)
    after = vms.list_by_ids(session, member_ids)
    return after, errors


def _place(
    session: Session, sched: scheduler.SchedConfig, ids: list[int], errors: list[str]
) -> list[lifecycle.Outcome]:
    """Deploy what the scheduler places now; the deploys' outcomes."""
    outcomes = scheduler.schedule(session, sched, ids)
    for outcome in outcomes:
        if outcome.error:
            errors.append(f"VM {outcome.vm['ID']}: deploy: {outcome.error}")
    errors += scheduler.still_pending(session, ids)
    return outcomes


def summary(vm: Body) -> dict[str, Any]:
    """A VM as the module returns it (community.general one_vm's keys)."""
    nics = [n for n in template.as_list(vm["TEMPLATE"], "NIC") if isinstance(n, dict)]
    return {
        "vm_id": vm["ID"],
        "vm_name": vm["NAME"],
        "state": VmState(vm["STATE"]).name,
        "lcm_state": Lcm(vm["LCM_STATE"]).name,
        "host": vms.host_name(vm),
        "cpu": vm["TEMPLATE"].get("CPU"),
        "vcpu": vm["TEMPLATE"].get("VCPU"),
        "memory": vm["TEMPLATE"].get("MEMORY"),
        "networks": [
            {"ip": n.get("IP"), "mac": n.get("MAC"), "name": n.get("NETWORK")} for n in nics
        ],
        "labels": sorted(_labels(vm)),
        "attributes": dict(vm["USER_TEMPLATE"]),
        "owner_name": vm["UNAME"],
        "group_name": vm["GNAME"],
        "mode": Permissions.from_json(vm["PERMISSIONS"]).octal(),
    }

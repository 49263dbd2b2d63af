"""OneFlow's life-cycle manager, the deciding half: services + VM states + the clock in,
a plan out. Nothing here reads the store or calls a hypervisor, so every rule of the
guide's state tables is a unit test away.

The decision is level-triggered: each step compares what a role should have with the VMs
that exist now and orders what is missing, never "what was ordered last time". A step
that was decided and written but whose orders never ran (the server died) is simply
decided again, and VM creations are asked for by name, so repeating one never makes a
second VM.

A role's own fields (besides the template's): ``state``, ``cardinality``, ``nodes``
(``{"deploy_id": vm_id, "disposed"?: "1"}``), ``disposed_nodes``, ``last_vmname`` (the
next $VM_NUMBER; numbers are never reused), ``creating`` (names asked for and not yet
seen), ``pending_actions`` (``oneflow action`` spread over time), ``repair`` (set by
recover: failed VMs are deleted and unknown ones booted), ``cooldown_end``,
``scaling_cooldown`` (the cooldown the scaling under way ends with, when it is not the
role's own). A node made by a scale-up carries ``scale_up`` until the scaling ends.

Auto-scaling (``flow.policies``) is evaluated while the service is RUNNING, role by role;
the first role that scales takes the service to SCALING, and the others wait for it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import Lcm, VmState
from ansible_collections.onekit.cloud.plugins.module_utils.flow import policies as flow_policies
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import FlowState as S

Body = dict[str, Any]
logger = logging.getLogger("onekit.flow")

# How a VM counts for its role
DONE, FAILED, UNKNOWN, RUNNING, BUSY, WAITING = (
    "done",
    "failed",
    "unknown",
    "running",
    "busy",
    "waiting",
)
# Healthy without running: the user will resume them (the guide's §1.4.6)
_RECOVERABLE = {int(s) for s in (VmState.SUSPENDED, VmState.POWEROFF, VmState.STOPPED)}
_RECOVERABLE.add(int(VmState.UNDEPLOYED))
# plain ints: comparing IntEnum members costs more, and a step compares 10,000s of them
_DONE, _FAILED, _ACTIVE = int(VmState.DONE), int(VmState.FAILED), int(VmState.ACTIVE)
_LCM_FAILURE, _LCM_UNKNOWN, _LCM_RUNNING = int(Lcm.FAILURE), int(Lcm.UNKNOWN), int(Lcm.RUNNING)


@dataclass(frozen=True)
class VmView:
    """What the decision needs of a VM."""

    id: int
    name: str
    state: int
    lcm: int
    uid: int
    gid: int
    service_id: int | None = None
    role: str | None = None
    # the attributes elasticity expressions use, as the VM has them (raw values)
    values: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def of(cls, vm: Body, metrics: tuple[str, ...] = ()) -> VmView:
        user = vm.get("USER_TEMPLATE", {})
        sid = schema.service_id_of(vm)
        values = {}
        if metrics and sid is not None:
            for name in metrics:
                value = flow_policies.lookup(vm, name)
                if value is not None:
                    values[name] = value
        view = cls(
            vm["ID"],
            vm["NAME"],
            vm["STATE"],
            vm["LCM_STATE"],
            vm["UID"],
            vm["GID"],
            sid,
            user.get("ROLE_NAME"),
            values,
        )
        if values:  # converted as they are read: once, whatever the policies using them
            view.__dict__["numbers"] = flow_policies.numbers(values)
        return view

    @cached_property
    def numbers(self) -> dict[str, float]:
        """The values that are numbers, as floats (``of`` converts them as it reads them;
        a view made otherwise, on its first use)."""
        return flow_policies.numbers(self.values)

    @cached_property
    def status(self) -> str:  # computed once: a step asks it of every VM several times
        state, lcm = int(self.state), int(self.lcm)
        if state == _DONE:
            return DONE
        if state == _FAILED or (state == _ACTIVE and lcm == _LCM_FAILURE):
            return FAILED
        if state == _ACTIVE:
            if lcm == _LCM_UNKNOWN:
                return UNKNOWN
            return RUNNING if lcm == _LCM_RUNNING else BUSY
        if state in _RECOVERABLE:
            return RUNNING
        return WAITING  # INIT, PENDING, HOLD: not placed yet


@dataclass
class Create:
    """New VMs of a role, asked for by name (the vm module's ``names``)."""

    service_id: int
    role: str
    template_id: int
    names: list[str]
    uid: int
    gid: int
    contents: str | None = None
    purpose: str = "deploy"  # or scale: the state a failure puts the role in


@dataclass
class Action:
    """One VM action on some VMs of a role; ``purpose`` says which state fails if it does."""

    service_id: int
    role: str
    action: str
    vm_ids: list[int]
    purpose: str  # deploy | scale | undeploy | action | delete


@dataclass
class Plan:
    changed: list[Body] = field(default_factory=list)  # services to write back
    # services the step left as they were (no change, no order), each with the next time
    # the clock alone would move it (inf: only a change of its inputs will)
    idle: dict[int, float] = field(default_factory=dict)
    removed: list[int] = field(default_factory=list)  # services to delete from the store
    creates: list[Create] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    chowns: list[tuple[int, int, int]] = field(default_factory=list)  # (vm, uid, gid)

    @property
    def orders(self) -> int:
        return len(self.creates) + len(self.actions)


def log(service: Body, message: str, severity: str = "I", now: float | None = None) -> None:
    body = service["TEMPLATE"]["BODY"]
    entry = {"timestamp": int(now if now is not None else time.time())}
    body.setdefault("log", []).append({**entry, "severity": severity, "message": message})


def set_service_state(service: Body, state: S, now: float) -> bool:
    """True when the state changed (and the change was logged)."""
    body = service["TEMPLATE"]["BODY"]
    if body.get("state") == state:
        return False
    body["state"] = int(state)
    log(service, f"New state: {state.name}", now=now)
    return True


def vm_name(config: FlowConfig, service: Body, role: Body, number: int) -> str:
    body = service["TEMPLATE"]["BODY"]
    pattern = role.get("vm_name_template") or body.get("vm_name_template")
    pattern = pattern or config.vm_name_template
    return (
        pattern.replace("$SERVICE_ID", str(service["ID"]))
        .replace("$SERVICE_NAME", service["NAME"])
        .replace("$ROLE_NAME", role["name"])
        .replace("$VM_NUMBER", str(number))
    )


# ---- one step ---------------------------------------------------------------------------
class _Step:
    def __init__(self, service: Body, vms: dict[int, VmView], now: float, cfg: FlowConfig):
        self.service = service
        self.body = service["TEMPLATE"]["BODY"]
        self.vms = vms
        self.now = now
        self.cfg = cfg
        self.plan = Plan()
        self.ordered: set[int] = set()  # VMs given an order this step: one each
        # the document's change counter: every change below bumps it (so the document is
        # written back), and the earliest time the clock alone changes the decision
        self.changes = 0
        self.due = math.inf

    # -- changes of the document
    def log(self, message: str, severity: str = "I") -> None:
        log(self.service, message, severity, self.now)
        self.changes += 1

    def set_state(self, state: S) -> None:
        if set_service_state(self.service, state, self.now):
            self.changes += 1

    def put(self, target: Body, key: str, value: Any) -> None:
        """``target[key] = value``, counted when it changes something."""
        if key not in target or target[key] != value:
            target[key] = value
            self.changes += 1

    def drop(self, target: Body, key: str) -> Any:
        """``target.pop(key, None)``, counted when the key was there."""
        if key not in target:
            return None
        self.changes += 1
        return target.pop(key)

    def wake_at(self, when: float) -> None:
        self.due = min(self.due, when)

    # -- node helpers
    def status(self, node: Body) -> str:
        vm = self.vms.get(node["deploy_id"])
        return DONE if vm is None else vm.status

    def live(self, role: Body) -> list[Body]:
        return [n for n in role["nodes"] if not n.get("disposed")]

    def asked_for(self, role: Body, vm: VmView) -> bool:
        """Was ``vm`` made for the role: asked for by name (``creating``), and owned by
        the service's owner, or by whoever owned the service when it was asked for (a
        ``oneflow chown`` may come while the step that makes it runs). Tags alone are
        anyone's to write (``onevm update``): they never hand a VM to a service."""
        owners = {self.service["UID"], role.get("creating_uid", self.service["UID"])}
        return vm.name in role.get("creating", []) and vm.uid in owners

    def adopt(self, role: Body, tagged: list[VmView]) -> None:
        """VMs made for the role are its nodes (``asked_for``); VMs gone DONE leave it."""
        if role.get("creating"):  # (most steps ask for no VM: nothing to look for)
            known = {n["deploy_id"] for n in role["nodes"]} | set(role.get("disposed_nodes", []))
            asked = list(role["creating"])
            for vm in sorted(tagged, key=lambda vm: vm.id):
                if vm.id not in known and vm.name in asked and self.asked_for(role, vm):
                    asked.remove(vm.name)
                    node: Body = {"deploy_id": vm.id}
                    if role["state"] == S.SCALING:
                        node["scale_up"] = "1"
                    role["nodes"].append(node)
                    self.changes += 1
            vms = self.vms
            seen = {vms[n["deploy_id"]].name for n in role["nodes"] if n["deploy_id"] in vms}
            self.put(role, "creating", [name for name in role["creating"] if name not in seen])
        else:
            self.put(role, "creating", [])
        gone = [n for n in role["nodes"] if self.status(n) == DONE]
        for node in gone:
            role["nodes"].remove(node)
            role.setdefault("disposed_nodes", []).append(node["deploy_id"])
            self.changes += 1
            if not node.get("disposed") and S(role["state"]) in (S.RUNNING, S.WARNING, S.COOLDOWN):
                role["cardinality"] = max(0, role["cardinality"] - 1)  # a manual scale-down
                self.log(
                    f"Role {role['name']}: VM {node['deploy_id']} is DONE; "
                    f"cardinality is now {role['cardinality']}"
                )
        uid, gid = self.service["UID"], self.service["GID"]
        for node in role["nodes"]:
            vm = self.vms.get(node["deploy_id"])
            if vm is not None and (vm.uid, vm.gid) != (uid, gid):
                self.plan.chowns.append((vm.id, uid, gid))

    def order(self, role: Body, action: str, ids: list[int], purpose: str) -> None:
        ids = [i for i in ids if i not in self.ordered]
        if ids:
            self.ordered.update(ids)
            self.plan.actions.append(Action(self.service["ID"], role["name"], action, ids, purpose))

    def create_missing(self, role: Body, purpose: str) -> None:
        missing = role["cardinality"] - len(self.live(role))
        names = role.get("creating", [])[: max(0, missing)]
        while len(names) < missing:
            number = role.get("last_vmname", 0)
            self.put(role, "last_vmname", number + 1)
            names.append(vm_name(self.cfg, self.service, role, number))
        self.put(role, "creating", names)
        if names:
            self.put(role, "creating_uid", self.service["UID"])
            self.plan.creates.append(
                Create(
                    self.service["ID"],
                    role["name"],
                    role["vm_template"],
                    list(names),
                    self.service["UID"],
                    self.service["GID"],
                    role.get("vm_template_contents"),
                    purpose,
                )
            )

    def repair(self, role: Body, purpose: str) -> None:
        """What recover asks: failed VMs deleted (and replaced), unknown ones booted.
        VMs never placed are replaced too: they were made from the template as it was
        before its fix (the usual cause of a failed deployment)."""
        failed = [n for n in self.live(role) if self.status(n) in (FAILED, WAITING)]
        for node in failed:
            self.put(node, "disposed", "1")
        self.order(role, "delete", [n["deploy_id"] for n in failed], purpose)
        unknown = [n["deploy_id"] for n in self.live(role) if self.status(n) == UNKNOWN]
        self.order(role, "boot", unknown, purpose)
        self.drop(role, "repair")

    def dispose_surplus(self, role: Body) -> None:
        live = self.live(role)
        surplus = len(live) - role["cardinality"]
        if surplus > 0:
            for node in live[-surplus:]:
                self.put(node, "disposed", "1")

    def shut_down(self, role: Body, nodes: list[Body], purpose: str) -> None:
        """VMs that run are shut down (the role's or service's shutdown_action); those
        that cannot be (failed, unknown, not placed, powered off, suspended...) are
        deleted; busy ones are waited for."""
        action = role.get("shutdown_action") or self.body.get("shutdown_action")
        action = action or self.cfg.shutdown_action
        running, stuck = [], []
        for node in nodes:
            vm = self.vms.get(node["deploy_id"])
            if vm is None or vm.status in (DONE, BUSY):
                continue
            runs = vm.state == VmState.ACTIVE and vm.lcm == Lcm.RUNNING
            (running if runs else stuck).append(vm.id)
        self.order(role, action, running, purpose)
        self.order(role, "delete", stuck, purpose)

    def anomalies(self, nodes: list[Body]) -> list[str]:
        """Failed and unknown VMs, but for those given an order (a repair) this step."""
        return [
            f"VM {n['deploy_id']} is {self.status(n).upper()}"
            for n in nodes
            if self.status(n) in (FAILED, UNKNOWN) and n["deploy_id"] not in self.ordered
        ]

    def all_running(self, nodes: list[Body]) -> bool:
        return all(self.status(n) == RUNNING for n in nodes)

    # -- role states
    def step_role(self, role: Body, parents_ready: bool, children_done: bool) -> None:
        state = S(role["state"])
        service_state = S(self.body["state"])
        name = role["name"]
        if service_state == S.UNDEPLOYING and state not in (S.DONE, S.FAILED_UNDEPLOYING):
            if not children_done:
                return
            state = self.role_state(role, S.UNDEPLOYING)
        if state == S.PENDING and service_state == S.DEPLOYING and parents_ready:
            state = self.role_state(role, S.DEPLOYING)
        if state in (S.DEPLOYING, S.SCALING):
            if role.get("repair"):
                self.repair(role, "deploy" if state == S.DEPLOYING else "scale")
            problems = self.anomalies(self.live(role))
            if problems:
                failed = S.FAILED_DEPLOYING if state == S.DEPLOYING else S.FAILED_SCALING
                self.role_state(role, failed)
                self.log(f"Role {name}: {', '.join(problems)}", "E")
                return
            purpose = "deploy" if state == S.DEPLOYING else "scale"
            self.dispose_surplus(role)  # a scale-down, or a VM too many (never left)
            self.shut_down(role, [n for n in role["nodes"] if n.get("disposed")], purpose)
            self.create_missing(role, purpose)
            live = self.live(role)
            settled = not any(n.get("disposed") for n in role["nodes"])
            if len(live) == role["cardinality"] and settled and self.all_running(live):
                if state == S.DEPLOYING:
                    self.role_state(role, S.RUNNING)
                else:
                    self.end_scaling(role)
            return
        if state == S.COOLDOWN:
            if self.now >= role.get("cooldown_end", 0):
                state = self.role_state(role, S.RUNNING)
            else:
                self.wake_at(role["cooldown_end"])
        if state in (S.RUNNING, S.WARNING):
            problems = self.anomalies(self.live(role))
            if problems and state == S.RUNNING:
                self.log(f"Role {name}: {', '.join(problems)}", "W")
            self.role_state(role, S.WARNING if problems else S.RUNNING)
            return
        if state == S.UNDEPLOYING:
            self.shut_down(role, role["nodes"], "undeploy")
            if not role["nodes"]:
                self.role_state(role, S.DONE)

    def end_scaling(self, role: Body) -> None:
        """SCALING done: COOLDOWN for the scaling's cooldown (a policy's own, else the
        role's, else the server's default; none after a recovered WARNING)."""
        cooldown = self.drop(role, "scaling_cooldown")
        if cooldown is None:
            cooldown = role.get("cooldown", self.cfg.default_cooldown)
        if self.drop(role, "skip_cooldown"):  # recovered from WARNING
            cooldown = 0
        for node in role["nodes"]:
            self.drop(node, "scale_up")
        self.put(role, "cooldown_end", int(self.now + cooldown))
        self.role_state(role, S.COOLDOWN if cooldown > 0 else S.RUNNING)

    def autoscale(self, roles: list[Body]) -> None:
        """The roles' policies, in order; the first role that scales starts at once and
        the service is SCALING (the other roles wait until it is RUNNING again)."""
        tz = flow_policies.zone(self.cfg.time_zone)
        for role in roles:
            if role["state"] != S.RUNNING:
                continue
            since = self.service["TEMPLATE"]["BODY"].get("start_time")
            found = flow_policies.step(role, self.metrics(role), self.now, tz, since)
            self.changes += found.changed
            self.wake_at(found.due)
            for note in found.notes:
                self.log(f"Role {role['name']}: {note}, not a number: left out of the average", "W")
            if found.scaling is None:
                continue
            self.scale(role, found.scaling)
            return

    def metrics(self, role: Body) -> Callable[[tuple[str, ...]], flow_policies.Averages]:
        """Averages over the role's running VMs of the attributes named (the policies
        ask once, on the first policy due, for every attribute they use)."""

        def averages(names: tuple[str, ...]) -> flow_policies.Averages:
            running = [
                vm
                for n in self.live(role)
                if (vm := self.vms.get(n["deploy_id"])) is not None and vm.status == RUNNING
            ]
            return flow_policies.averages(
                names, [(vm.id, vm.values) for vm in running], [vm.numbers for vm in running]
            )

        return averages

    def scale(self, role: Body, scaling: flow_policies.Scaling) -> None:
        direction = "up" if scaling.new > scaling.old else "down"
        role["cardinality"] = scaling.new
        if scaling.cooldown is not None:
            role["scaling_cooldown"] = scaling.cooldown
        flow_policies.reset_counters(self.body["roles"])
        self.role_state(role, S.SCALING)
        self.log(
            f"Role {role['name']} scaling {direction} from {scaling.old} to {scaling.new} "
            f"nodes: {scaling.reason}"
        )
        self.set_state(S.SCALING)
        self.step_role(role, True, True)  # its VMs are ordered in this very step

    def role_state(self, role: Body, state: S) -> S:
        self.put(role, "state", int(state))
        return state

    def run_pending_actions(self, role: Body) -> None:
        due, later = [], []
        for item in role.get("pending_actions", []):
            (due if item["at"] <= self.now else later).append(item)
        self.put(role, "pending_actions", later)
        for item in later:
            self.wake_at(item["at"])
        live = {n["deploy_id"] for n in role["nodes"]}
        by_action: dict[str, list[int]] = {}
        for item in due:
            if item["vm_id"] in live:
                by_action.setdefault(item["action"], []).append(item["vm_id"])
        for action, ids in by_action.items():
            self.order(role, action, ids, "action")

    # -- the service
    def step(self, tagged: dict[str, list[VmView]]) -> Plan:
        if self.body.get("deleting"):
            roles = {r["name"]: r for r in self.body["roles"]}
            ids = [
                vm.id
                for name, vms in tagged.items()
                for vm in vms
                if vm.status != DONE
                and (
                    vm.uid == self.service["UID"]
                    or (name in roles and self.asked_for(roles[name], vm))
                )
            ]
            ids += [
                n["deploy_id"]
                for r in self.body["roles"]
                for n in r["nodes"]
                if self.status(n) != DONE and n["deploy_id"] not in ids
            ]
            if ids:
                self.plan.actions.append(Action(self.service["ID"], "", "delete", ids, "delete"))
            else:
                self.plan.removed.append(self.service["ID"])
            return self.plan
        state = S(self.body["state"])
        if state == S.DONE:
            return self.plan
        if state == S.PENDING:
            self.set_state(S.DEPLOYING)
        roles = {r["name"]: r for r in self.body["roles"]}
        for role in self.body["roles"]:
            self.adopt(role, tagged.get(role["name"], []))
        straight = self.body.get("deployment") == "straight"
        for role in self._ordered(roles, straight):
            parents_ready = not straight or all(  # WARNING: deployed, a VM failed since
                roles[p]["state"] in (S.RUNNING, S.WARNING) for p in role.get("parents", [])
            )
            children_done = not straight or all(
                r["state"] == S.DONE for r in roles.values() if role["name"] in r.get("parents", [])
            )
            self.step_role(role, parents_ready, children_done)
            self.run_pending_actions(role)
        self.service_state(roles)
        if self.body["state"] == S.RUNNING:
            self.autoscale(self.body["roles"])
        return self.plan

    def _ordered(self, roles: dict[str, Body], straight: bool) -> list[Body]:
        """Parents before children (children first while undeploying), so one step can
        move a whole chain whose VMs need no waiting."""
        order: list[Body] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for parent in roles[name].get("parents", []):
                visit(parent)
            order.append(roles[name])

        for name in roles:
            visit(name)
        if straight and self.body["state"] == S.UNDEPLOYING:
            order.reverse()
        return order

    def service_state(self, roles: dict[str, Body]) -> None:
        states = {S(r["state"]) for r in roles.values()}
        current = S(self.body["state"])
        new = current
        if current == S.DEPLOYING:
            if S.FAILED_DEPLOYING in states:
                new = S.FAILED_DEPLOYING
            elif states <= {S.RUNNING, S.WARNING}:  # deployed; a VM may have failed since
                new = S.WARNING if S.WARNING in states else S.RUNNING
        elif current == S.UNDEPLOYING:
            if S.FAILED_UNDEPLOYING in states:
                new = S.FAILED_UNDEPLOYING
            elif states <= {S.DONE}:
                new = S.DONE
        elif current in (S.RUNNING, S.WARNING, S.SCALING, S.COOLDOWN):
            for candidate in (S.FAILED_SCALING, S.SCALING, S.COOLDOWN, S.WARNING):
                if candidate in states:
                    new = candidate
                    break
            else:
                new = S.RUNNING
        self.set_state(new)


def decide(services: list[Body], vms: list[VmView], now: float, config: FlowConfig) -> Plan:
    """One LCM step over these services (bodies are changed in place; those whose body
    changed are in ``plan.changed``, those left as they were with no order in
    ``plan.idle``). ``vms``: at least the VMs of these services (their nodes, and the VMs
    tagged for them) that are not DONE."""
    by_id = {vm.id: vm for vm in vms}
    tagged: dict[int, dict[str, list[VmView]]] = {}
    for vm in vms:
        if vm.service_id is not None and vm.role and vm.status != DONE:
            tagged.setdefault(vm.service_id, {}).setdefault(vm.role, []).append(vm)
    plan = Plan()
    for service in services:
        step = _Step(service, by_id, now, config)
        try:
            result = step.step(tagged.get(service["ID"], {}))
        except Exception:  # one broken document must not stop every other service
            logger.exception("OneFlow: service %s skipped in this step", service.get("ID"))
            continue
        plan.creates += result.creates
        plan.actions += result.actions
        plan.chowns += result.chowns
        plan.removed += result.removed
        if step.changes:
            plan.changed.append(service)
        elif not (result.creates or result.actions or result.chowns or result.removed):
            plan.idle[service["ID"]] = step.due
    return plan

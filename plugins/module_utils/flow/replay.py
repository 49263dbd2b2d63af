"""``oneflow policy-check``: a service template's policies replayed over a metric series
with the loop's own decision code (``lcm.decide``), on a simulated clock and
simulated VMs. Nothing is deployed: a VM ordered is running at the next step, one shut
down is gone at the next step.

The series is CSV rows ``time, vm, attribute, value``: ``time`` in seconds from the start
(``0``, ``12.5``) or an absolute time (ISO-8601 or epoch seconds); ``vm`` is
``<role>/<number>``, the VM's ``$VM_NUMBER`` in its role (the first VMs of a role are
0, 1, ...; a scale-up's VMs take the next numbers). A value holds from its time on.
"""

from __future__ import annotations

import copy
import csv
import io
import time
from dataclasses import dataclass, field, replace
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import Lcm, VmState
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    lcm,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    policies as flow_policies,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import FlowState as S

Body = dict[str, Any]
_GONE = {"shutdown", "shutdown-hard", "delete", "undeploy", "undeploy-hard"}
MAX_STEPS = 100_000


@dataclass(frozen=True)
class Sample:
    at: float  # seconds from the start
    role: str
    number: int
    attribute: str
    value: str


@dataclass
class Event:
    at: float
    message: str
    cardinalities: dict[str, int] = field(default_factory=dict)


def read_metrics(text: str, start: float) -> list[Sample]:
    """The CSV series (a header line ``time,vm,attribute,value`` is allowed); absolute
    times are made relative to ``start``. Errors name the line."""
    samples = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if number == 1 and row[0].strip().lower() == "time":
            continue
        if len(row) != 4:
            raise InvalidInput(
                f"metrics line {number}: expected 4 fields time,vm,attribute,value, got {len(row)}"
            )
        when, vm, attribute, value = (c.strip() for c in row)
        role, _, vm_number = vm.partition("/")
        if not role or not vm_number.isdigit():
            raise InvalidInput(
                f"metrics line {number}: vm must be <role>/<number> (e.g. frontend/0), got {vm!r}"
            )
        if not attribute:
            raise InvalidInput(f"metrics line {number}: the attribute name is empty")
        samples.append(Sample(_offset(when, start, number), role, int(vm_number), attribute, value))
    return sorted(samples, key=lambda s: s.at)


def _offset(text: str, start: float, line: int) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None and seconds < 1e9:  # seconds from the start
        if seconds < 0:
            raise InvalidInput(f"metrics line {line}: time {text!r} is before the start")
        return seconds
    try:
        absolute = seconds if seconds is not None else flow_policies.parse_start_time(text)
    except InvalidInput as err:
        raise InvalidInput(f"metrics line {line}: {err}") from None
    if absolute < start:
        raise InvalidInput(f"metrics line {line}: time {text!r} is before the start")
    return absolute - start


class _Simulation:
    def __init__(self, template: Body, config: FlowConfig, start: float):
        self.config = config
        self.start = start
        self.next_id = 0
        self.vms: dict[int, lcm.VmView] = {}
        self.numbers: dict[int, tuple[str, int]] = {}  # vm id -> (role, $VM_NUMBER)
        body = copy.deepcopy(template)
        body.update(state=int(S.RUNNING), log=[])
        self.service: Body = {
            "ID": 0,
            "NAME": body["name"],
            "UID": 0,
            "GID": 0,
            "TEMPLATE": {"BODY": body},
        }
        for role in body["roles"]:
            role.update(state=int(S.RUNNING), nodes=[], disposed_nodes=[], creating=[])
            role.update(pending_actions=[], last_vmname=role["cardinality"])
            for number in range(role["cardinality"]):
                role["nodes"].append({"deploy_id": self._new_vm(role, number)})

    def _new_vm(self, role: Body, number: int) -> int:
        vm_id = self.next_id
        self.next_id += 1
        name = lcm.vm_name(self.config, self.service, role, number)
        self.vms[vm_id] = lcm.VmView(
            vm_id, name, int(VmState.ACTIVE), int(Lcm.RUNNING), 0, 0, 0, role["name"], {}
        )
        self.numbers[vm_id] = (role["name"], number)
        return vm_id

    def apply(self, latest: dict[tuple[str, int], dict[str, str]]) -> None:
        for vm_id, (role, number) in self.numbers.items():
            if vm_id in self.vms:
                values = latest.get((role, number), {})
                self.vms[vm_id] = replace(self.vms[vm_id], values=dict(values))

    def step(self, now: float) -> None:
        plan = lcm.decide([self.service], list(self.vms.values()), now, self.config)
        roles = {r["name"]: r for r in self.service["TEMPLATE"]["BODY"]["roles"]}
        for create in plan.creates:
            role = roles[create.role]
            by_name = {
                lcm.vm_name(self.config, self.service, role, n): n
                for n in range(role.get("last_vmname", 0))
            }
            for name in create.names:
                self._new_vm(role, by_name[name])
        for action in plan.actions:
            if action.action in _GONE:
                for vm_id in action.vm_ids:
                    self.vms.pop(vm_id, None)


def replay(
    template: Body, samples: list[Sample], config: FlowConfig, start: float | None = None,
    until: float | None = None,
) -> list[Event]:  # fmt: skip
    """The timeline: every message the decision logged, with the cardinalities after it.
    Steps run every ``config.lcm_interval`` seconds from ``start`` (default: now) until
    ``until`` seconds (default: one interval past the last sample)."""
    start = time.time() if start is None else start
    end = until if until is not None else (samples[-1].at if samples else 0) + config.lcm_interval
    if end / config.lcm_interval > MAX_STEPS:
        raise InvalidInput(
            f"the replay would take {int(end / config.lcm_interval)} steps (at most {MAX_STEPS}): "
            "shorten the series or lengthen the interval"
        )
    sim = _Simulation(template, config, start)
    roles = sim.service["TEMPLATE"]["BODY"]["roles"]
    known = {r["name"] for r in roles}
    for sample in samples:
        if sample.role not in known:
            raise InvalidInput(
                f"metrics name role {sample.role!r}, which the template does not have "
                f"(roles: {', '.join(sorted(known))})"
            )
    latest: dict[tuple[str, int], dict[str, str]] = {}
    events = [Event(0.0, "start", {r["name"]: r["cardinality"] for r in roles})]
    seen_log = 0
    index = 0
    at = 0.0
    while at <= end:
        while index < len(samples) and samples[index].at <= at:
            s = samples[index]
            latest.setdefault((s.role, s.number), {})[s.attribute] = s.value
            index += 1
        sim.apply(latest)
        sim.step(start + at)
        log = sim.service["TEMPLATE"]["BODY"]["log"]
        for entry in log[seen_log:]:
            events.append(Event(at, entry["message"], {r["name"]: r["cardinality"] for r in roles}))
        seen_log = len(log)
        at += config.lcm_interval
    return events

"""Auto-scaling through the LCM's decision (``flow_lcm.decide``) on a fake clock.

Services are built as ``services.instantiate`` builds them, VMs are ``flow_lcm.VmView``
with their metric values on ``VmView.values`` (what ``VmView.of`` looks up); a small
in-memory cloud turns the plan's creations into VMs. What is asserted is what a user sees
in ``oneflow show``: role and service states, cardinalities, the VMs asked for or shut
down, the policies' evaluation counters and the log.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from support import lcm_check
from support.guide_examples import scalability1_role

from ansible_collections.onekit.cloud.plugins.module_utils.core.states import Lcm, VmState
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    lcm as flow_lcm,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    service_templates,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import FlowState as S

NOW = 1_700_000_000.0
CONFIG = FlowConfig()  # default_cooldown 300
Body = dict[str, Any]


@pytest.fixture(autouse=True)
def _decisions_checked(monkeypatch):
    """Every decision of these tests also checks what the loop relies on (changed, idle)."""
    monkeypatch.setattr(flow_lcm, "decide", lcm_check.checked(flow_lcm.decide))


def scalability1(cardinality: int = 2, **role: Any) -> Body:
    """The guide's Scalability1 template (§1.4.7)."""
    return {
        "name": "Scalability1",
        "deployment": "none",
        "roles": [scalability1_role(cardinality, **role)],
    }


def one_policy(policy: Body, cardinality: int = 2, **role: Any) -> Body:
    """One frontend role with a single elasticity policy."""
    template = scalability1(cardinality, **role)
    template["roles"][0]["elasticity_policies"] = [policy]
    return template


def make_service(template: Body, sid: int = 7) -> Body:
    """A new PENDING service document, as ``services.instantiate`` writes it."""
    body = service_templates.validate(copy.deepcopy(template))
    body.update(state=int(S.PENDING), start_time=int(NOW), template_id=0, log=[])
    for r in body["roles"]:
        r.update(
            state=int(S.PENDING),
            nodes=[],
            disposed_nodes=[],
            last_vmname=0,
            creating=[],
            pending_actions=[],
        )
    return {"ID": sid, "NAME": body["name"], "UID": 0, "GID": 0, "TEMPLATE": {"BODY": body}}


def body(service: Body) -> Body:
    return service["TEMPLATE"]["BODY"]


def role(service: Body, name: str = "frontend") -> Body:
    return next(r for r in body(service)["roles"] if r["name"] == name)


def state(service: Body, role_name: str | None = None) -> S:
    return S(role(service, role_name)["state"] if role_name else body(service)["state"])


def node_ids(service: Body, role_name: str = "frontend") -> list[int]:
    return [n["deploy_id"] for n in role(service, role_name)["nodes"]]


def true_evals(service: Body, role_name: str = "frontend") -> list[int]:
    return [p.get("true_evals", 0) for p in role(service, role_name)["elasticity_policies"]]


def messages(service: Body, severity: str | None = None) -> list[str]:
    return [
        e["message"] for e in body(service)["log"] if severity is None or e["severity"] == severity
    ]


def actions(plan: flow_lcm.Plan) -> list[tuple[str, str, list[int], str]]:
    return [(a.role, a.action, sorted(a.vm_ids), a.purpose) for a in plan.actions]


class Cloud:
    """One service and the VMs that exist, stepped as the LCM loop steps them."""

    def __init__(self, service: Body, config: FlowConfig = CONFIG):
        self.service = service
        self.config = config
        self.vms: dict[int, flow_lcm.VmView] = {}
        self.next_id = 0

    def step(self, now: float) -> flow_lcm.Plan:
        return flow_lcm.decide([self.service], list(self.vms.values()), now, self.config)

    def make(self, plan: flow_lcm.Plan, lcm: int = Lcm.RUNNING) -> list[int]:
        """Carry out the plan's creations: VMs tagged for their role, with no values."""
        made = []
        for create in plan.creates:
            for name in create.names:
                vm_id = self.next_id
                self.next_id += 1
                self.vms[vm_id] = flow_lcm.VmView(
                    vm_id, name, VmState.ACTIVE, lcm, create.uid, create.gid,
                    create.service_id, create.role,
                )  # fmt: skip
                made.append(vm_id)
        return made

    def run(self, ids: list[int]) -> None:
        for vm_id in ids:
            self.vms[vm_id] = dataclasses.replace(
                self.vms[vm_id], state=VmState.ACTIVE, lcm=Lcm.RUNNING
            )

    def set(self, ids: list[int], *values: Any, name: str = "ATT") -> None:
        """Each VM's ``name`` (a value per VM; None: the VM has none)."""
        for vm_id, value in zip(ids, values, strict=True):
            current = dict(self.vms[vm_id].values)
            if value is None:
                current.pop(name, None)
            else:
                current[name] = value
            self.vms[vm_id] = dataclasses.replace(self.vms[vm_id], values=current)

    def drop(self, ids: list[int]) -> None:
        """VMs gone DONE: the store's list of live VMs no longer has them."""
        for vm_id in ids:
            del self.vms[vm_id]

    def deploy(self, now: float) -> None:
        """Steps until the service is RUNNING, each VM asked for running at once."""
        for _ in range(10):
            self.make(self.step(now))
            if state(self.service) == S.RUNNING:
                return
        raise AssertionError("the service never reached RUNNING")


def deployed(template: Body, config: FlowConfig = CONFIG, at: float = NOW - 10) -> Cloud:
    """A RUNNING service, deployed at ``at`` (its policies first evaluated then, no VM
    having values yet)."""
    cloud = Cloud(make_service(template), config)
    body(cloud.service)["start_time"] = int(at)  # instantiated then
    cloud.deploy(at)
    return cloud


# ---- scaling up ---------------------------------------------------------------------------
def test_a_running_service_scales_up_cools_down_then_runs_again() -> None:
    cloud = deployed(scalability1())
    service = cloud.service
    first = node_ids(service)
    cloud.set(first, 45, 60)

    assert cloud.step(NOW).orders == 0
    assert cloud.step(NOW + 10).orders == 0
    assert true_evals(service) == [2, 0]
    assert state(service) == S.RUNNING

    plan = cloud.step(NOW + 20)
    assert [(c.role, c.names, c.template_id, c.purpose) for c in plan.creates] == [
        ("frontend", ["frontend_2_(service_7)", "frontend_3_(service_7)"], 0, "scale")
    ]
    assert plan.actions == []
    assert role(service)["cardinality"] == 4
    assert state(service, "frontend") == S.SCALING
    assert state(service) == S.SCALING
    assert messages(service)[-2:] == [
        "Role frontend scaling up from 2 to 4 nodes: ATT > 50 true 3/3 (avg 52.5)",
        "New state: SCALING",
    ]
    assert body(service)["log"][-2]["timestamp"] == int(NOW + 20)

    booting = cloud.make(plan, lcm=Lcm.BOOT)
    assert cloud.step(NOW + 25).orders == 0  # the new VMs asked for once
    assert node_ids(service) == first + booting
    assert state(service) == S.SCALING  # waits for them to run

    cloud.run(booting)
    cloud.step(NOW + 30)
    assert state(service, "frontend") == S.COOLDOWN
    assert state(service) == S.COOLDOWN
    assert role(service)["cooldown_end"] == int(NOW + 30 + 300)
    assert messages(service)[-1] == "New state: COOLDOWN"

    cloud.step(NOW + 329)
    assert state(service) == S.COOLDOWN
    cloud.step(NOW + 330)
    assert state(service, "frontend") == S.RUNNING
    assert state(service) == S.RUNNING


def test_the_new_nodes_carry_scale_up_while_scaling_and_lose_it_after() -> None:
    cloud = deployed(one_policy({"expression": "ATT > 50", "type": "CHANGE", "adjust": 1}))
    service = cloud.service
    cloud.set(node_ids(service), 60, 60)
    booting = cloud.make(cloud.step(NOW), lcm=Lcm.PROLOG)
    cloud.step(NOW + 1)

    marks = {n["deploy_id"]: n.get("scale_up") for n in role(service)["nodes"]}
    assert marks == {0: None, 1: None, booting[0]: "1"}

    cloud.run(booting)
    cloud.step(NOW + 2)
    assert state(service) == S.COOLDOWN
    assert all("scale_up" not in n for n in role(service)["nodes"])


def test_new_vms_without_att_keep_the_average_and_the_role_grows_to_max_vms() -> None:
    """The guide's testing note 3, with no cooldown: +2 then +1 (max_vms 5), then no more."""
    cloud = deployed(scalability1(), FlowConfig(default_cooldown=0))
    service = cloud.service
    cloud.set(node_ids(service), 45, 60)
    t = NOW
    for _ in range(20):
        cloud.run(cloud.make(cloud.step(t)))
        t += 10
    assert role(service)["cardinality"] == 5
    assert len(node_ids(service)) == 5
    assert [m for m in messages(service) if "scaling" in m] == [
        "Role frontend scaling up from 2 to 4 nodes: ATT > 50 true 3/3 (avg 52.5)",
        "Role frontend scaling up from 4 to 5 nodes: ATT > 50 true 3/3 (avg 52.5)",
    ]
    assert state(service) == S.RUNNING


@pytest.mark.parametrize(
    ("policy_cooldown", "role_cooldown", "default", "expected"),
    [
        pytest.param(45, 60, 120, 45, id="the-policys-own"),
        pytest.param(None, 60, 120, 60, id="else-the-roles"),
        pytest.param(None, None, 120, 120, id="else-the-default"),
    ],
)
def test_the_cooldown_after_a_policy_scaling_is_the_policys_else_the_roles_else_the_default(
    policy_cooldown: int | None, role_cooldown: int | None, default: int, expected: int
) -> None:
    policy: Body = {"expression": "ATT > 50", "type": "CHANGE", "adjust": 1}
    if policy_cooldown is not None:
        policy["cooldown"] = policy_cooldown
    extra = {"cooldown": role_cooldown} if role_cooldown is not None else {}
    cloud = deployed(one_policy(policy, **extra), FlowConfig(default_cooldown=default))
    service = cloud.service
    cloud.set(node_ids(service), 60, 60)
    cloud.make(cloud.step(NOW))
    cloud.step(NOW + 5)
    cloud.set(node_ids(service)[:2], 10, 10)  # the load went away: no new scaling after

    assert state(service) == S.COOLDOWN
    assert role(service)["cooldown_end"] == int(NOW + 5 + expected)
    assert "scaling_cooldown" not in role(service)
    cloud.step(NOW + 5 + expected - 1)
    assert state(service) == S.COOLDOWN
    cloud.step(NOW + 5 + expected)
    assert state(service) == S.RUNNING


# ---- one role at a time -------------------------------------------------------------------
def two_roles() -> Body:
    """backend (listed first) needs LOAD > 10 three times; frontend scales on ATT > 50."""
    return {
        "name": "two",
        "deployment": "none",
        "roles": [
            {
                "name": "backend",
                "cardinality": 1,
                "vm_template": 1,
                "min_vms": 1,
                "max_vms": 5,
                "elasticity_policies": [
                    {"expression": "LOAD > 10", "type": "CHANGE", "adjust": 1, "period_number": 3}
                ],
            },
            {
                "name": "frontend",
                "cardinality": 2,
                "vm_template": 0,
                "min_vms": 1,
                "max_vms": 5,
                "cooldown": 60,
                "elasticity_policies": [
                    {"expression": "ATT > 50", "type": "CHANGE", "adjust": 1},
                    {"expression": "ATT > 40", "type": "CHANGE", "adjust": 1, "period_number": 9},
                ],
            },
        ],
    }


def test_entering_scaling_clears_the_true_evaluations_of_every_role() -> None:
    cloud = deployed(two_roles())
    service = cloud.service
    cloud.set(node_ids(service, "backend"), 20, name="LOAD")
    cloud.set(node_ids(service, "frontend"), 45, 45)
    cloud.step(NOW)
    assert true_evals(service, "backend") == [1]
    assert true_evals(service, "frontend") == [0, 1]

    cloud.set(node_ids(service, "frontend"), 60, 60)
    plan = cloud.step(NOW + 1)  # backend counts 2, then frontend scales
    assert [c.role for c in plan.creates] == ["frontend"]
    assert state(service) == S.SCALING
    assert true_evals(service, "backend") == [0]
    assert true_evals(service, "frontend") == [0, 0]


def test_while_a_role_scales_or_cools_down_no_other_roles_policy_is_evaluated() -> None:
    cloud = deployed(two_roles())
    service = cloud.service
    backend_policy = role(service, "backend")["elasticity_policies"][0]
    cloud.set(node_ids(service, "backend"), 20, name="LOAD")
    cloud.set(node_ids(service, "frontend"), 60, 60)
    plan = cloud.step(NOW)  # backend evaluated first (1), then frontend scales: reset
    assert state(service, "frontend") == S.SCALING
    assert (backend_policy["true_evals"], backend_policy["expression_evaluated"]) == (
        0,
        "LOAD[20] > 10",
    )
    cloud.set(node_ids(service, "backend"), 30, name="LOAD")  # seen only once evaluated

    booting = cloud.make(plan, lcm=Lcm.BOOT)
    for t in (NOW + 1, NOW + 2, NOW + 3):
        assert cloud.step(t).orders == 0
        assert state(service) == S.SCALING
    cloud.run(booting)
    cloud.set(node_ids(service, "frontend"), 10, 10, None)  # frontend's load went away
    for t in (NOW + 4, NOW + 30, NOW + 63):
        assert cloud.step(t).orders == 0
        assert state(service) == S.COOLDOWN
        assert state(service, "backend") == S.RUNNING
    assert (backend_policy["true_evals"], backend_policy["expression_evaluated"]) == (
        0,
        "LOAD[20] > 10",
    )

    cloud.step(NOW + 64)  # frontend's cooldown of 60 is over: backend counts again
    assert state(service) == S.RUNNING
    assert (backend_policy["true_evals"], backend_policy["expression_evaluated"]) == (
        1,
        "LOAD[30] > 10",
    )
    cloud.step(NOW + 65)
    plan = cloud.step(NOW + 66)
    assert [(c.role, c.names) for c in plan.creates] == [("backend", ["backend_1_(service_7)"])]
    assert messages(service)[-2] == (
        "Role backend scaling up from 1 to 2 nodes: LOAD > 10 true 3/3 (avg 30)"
    )


def test_a_warning_service_evaluates_no_policy() -> None:
    cloud = deployed(scalability1())
    service = cloud.service
    first = node_ids(service)
    cloud.set(first, 60, 60)
    cloud.vms[first[0]] = dataclasses.replace(cloud.vms[first[0]], lcm=Lcm.UNKNOWN)
    for t in (NOW, NOW + 10, NOW + 20, NOW + 30):
        assert cloud.step(t).orders == 0
    assert state(service) == S.WARNING
    assert true_evals(service) == [0, 0]


# ---- min_vms ------------------------------------------------------------------------------
def test_a_vm_gone_done_lowers_the_cardinality_and_min_vms_scales_back_up() -> None:
    cloud = deployed(scalability1(min_vms=2))
    service = cloud.service
    first = node_ids(service)
    cloud.drop(first[1:])

    plan = cloud.step(NOW)
    assert role(service)["disposed_nodes"] == first[1:]
    assert [(c.names, c.purpose) for c in plan.creates] == [(["frontend_2_(service_7)"], "scale")]
    assert role(service)["cardinality"] == 2
    assert state(service) == S.SCALING
    assert messages(service)[-3:] == [
        f"Role frontend: VM {first[1]} is DONE; cardinality is now 1",
        "Role frontend scaling up from 1 to 2 nodes: below min_vms 2",
        "New state: SCALING",
    ]

    cloud.make(plan)
    cloud.step(NOW + 5)
    assert state(service, "frontend") == S.RUNNING  # no cooldown after the min_vms floor
    assert state(service) == S.RUNNING
    assert len(node_ids(service)) == 2


# ---- scaling down -------------------------------------------------------------------------
def test_a_scale_down_disposes_the_last_nodes_and_orders_their_shutdown() -> None:
    cloud = deployed(scalability1(cardinality=5))
    service = cloud.service
    nodes = node_ids(service)
    cloud.set(nodes, 10, 10, 10, 10, 10)

    plan = cloud.step(NOW)
    assert actions(plan) == [("frontend", "shutdown", nodes[3:], "scale")]
    assert plan.creates == []
    assert role(service)["cardinality"] == 3
    assert [n.get("disposed") for n in role(service)["nodes"]] == [None, None, None, "1", "1"]
    assert state(service) == S.SCALING
    assert messages(service)[-2] == (
        "Role frontend scaling down from 5 to 3 nodes: ATT < 20 true 1/1 (avg 10)"
    )

    cloud.drop(nodes[3:])
    cloud.step(NOW + 10)
    assert node_ids(service) == nodes[:3]
    assert role(service)["disposed_nodes"] == nodes[3:]
    assert role(service)["cardinality"] == 3  # disposed nodes are no manual scale-down
    assert state(service) == S.COOLDOWN


# ---- scheduled policies -------------------------------------------------------------------
def test_a_scheduled_policy_scales_in_the_configured_time_zone() -> None:
    template = scalability1(cardinality=1, max_vms=15)
    frontend = template["roles"][0]
    frontend["elasticity_policies"] = []
    frontend["scheduled_policies"] = [
        {"type": "CARDINALITY", "adjust": 6, "recurrence": "0 9 * * mon,tue,wed,thu,fri"}
    ]
    config = FlowConfig(time_zone="Europe/Madrid", default_cooldown=0)
    monday_8_utc = 1_796_025_600.0  # 2026-11-30 08:00 UTC, 09:00 in Madrid
    cloud = deployed(template, config, at=monday_8_utc - 60)
    plan = cloud.step(monday_8_utc + 5)
    assert len(plan.creates[0].names) == 5
    assert messages(cloud.service)[-2] == (
        "Role frontend scaling up from 1 to 6 nodes: "
        "scheduled 0 9 * * mon,tue,wed,thu,fri (planned 2026-11-30 09:00)"
    )


# ---- values that are not numbers ---------------------------------------------------------
def test_a_value_that_is_not_a_number_is_logged_once_as_a_warning() -> None:
    policy = {"expression": "ATT > 50", "type": "CHANGE", "adjust": 2, "period_number": 3}
    cloud = deployed(one_policy(policy))
    service = cloud.service
    first = node_ids(service)
    cloud.set(first, "high", 40)
    for t in (NOW, NOW + 10, NOW + 20, NOW + 30):
        cloud.step(t)

    assert messages(service, "W") == [
        f"Role frontend: ATT of VM {first[0]} is 'high', not a number: left out of the average"
    ]
    assert state(service) == S.RUNNING
    assert role(service)["elasticity_policies"][0]["expression_evaluated"] == "ATT[40] > 50"


def test_a_value_that_is_not_a_number_is_logged_once_even_when_two_policies_use_it() -> None:
    cloud = deployed(scalability1())
    service = cloud.service
    cloud.set(node_ids(service), "high", 40)
    cloud.step(NOW)
    cloud.step(NOW + 10)
    assert len(messages(service, "W")) == 1


# ---- what the loop skips -----------------------------------------------------------------
def test_a_service_left_idle_says_when_its_period_brings_it_back() -> None:
    """Between two evaluations of a policy with a period, nothing changes: the step says
    the service is idle until the period ends, and at that time the policy is evaluated."""
    policy = {"type": "CHANGE", "adjust": 1, "expression": "ATT > 50", "period": 60}
    cloud = deployed(one_policy(policy, min_vms=1, max_vms=5), at=NOW)
    ids = node_ids(cloud.service)
    cloud.set(ids, 40, 40)
    plan = cloud.step(NOW + 10)
    assert plan.idle == {7: NOW + 60}
    plan = cloud.step(NOW + 60)
    assert 7 not in plan.idle
    assert role(cloud.service)["elasticity_policies"][0]["expression_evaluated"] == "ATT[40] > 50"


def test_a_service_with_a_cooldown_or_a_delayed_action_is_idle_until_then() -> None:
    cloud = deployed(one_policy({"type": "CHANGE", "adjust": 1, "expression": "ATT > 50"},
                                min_vms=1, max_vms=5, cooldown=100), at=NOW)  # fmt: skip
    ids = node_ids(cloud.service)
    cloud.set(ids, 90, 90)
    cloud.make(cloud.step(NOW))  # scales up
    cloud.step(NOW + 1)  # the new VM is a node; all run: COOLDOWN until NOW + 101
    assert state(cloud.service) == S.COOLDOWN
    cloud.set(node_ids(cloud.service), 40, 40, 40)
    assert cloud.step(NOW + 2).idle == {7: NOW + 101}
    role(cloud.service)["pending_actions"] = [{"vm_id": ids[0], "action": "reboot", "at": NOW + 50}]
    assert cloud.step(NOW + 3).idle == {7: NOW + 50}

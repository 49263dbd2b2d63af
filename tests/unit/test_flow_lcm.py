"""OneFlow's life-cycle decision (``flow_lcm.decide``), without a store or a hypervisor.

Service bodies are built as ``services.instantiate`` builds them and VMs are
``flow_lcm.VmView``; a small in-memory ``Cloud`` turns the plan's creations into VMs, as
the flow step playbook would. What is asserted is what a user sees: the service's and
roles' states (``oneflow show``), the VMs asked for (names, templates, owners), and the
VM actions ordered.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from support import lcm_check

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
CONFIG = FlowConfig()
Body = dict[str, Any]


@pytest.fixture(autouse=True)
def _decisions_checked(monkeypatch):
    """Every decision of these tests also checks what the loop relies on (changed, idle)."""
    monkeypatch.setattr(flow_lcm, "decide", lcm_check.checked(flow_lcm.decide))


def guide_template(deployment: str = "straight") -> Body:
    """The guide's my_service (§1.3.1), with its JSON repaired."""
    return {
        "name": "my_service",
        "deployment": deployment,
        "roles": [
            {"name": "frontend", "vm_template": 0},
            {"name": "db_master", "parents": ["frontend"], "vm_template": 1},
            {"name": "db_slave", "parents": ["frontend"], "cardinality": 3, "vm_template": 2},
            {
                "name": "worker",
                "parents": ["db_master", "db_slave"],
                "cardinality": 10,
                "vm_template": 3,
            },
        ],
    }


def one_role(cardinality: int = 2, **role: Any) -> Body:
    return {
        "name": "web_app",
        "roles": [{"name": "web", "vm_template": 4, "cardinality": cardinality, **role}],
    }


def make_service(template: Body, sid: int = 1, uid: int = 0, gid: int = 0, **extra: Any) -> Body:
    """A new PENDING service document, as ``services.instantiate`` writes it."""
    body = service_templates.validate(copy.deepcopy({**template, **extra}))
    body.update(state=int(S.PENDING), start_time=int(NOW), template_id=0, log=[])
    for role in body["roles"]:
        role.update(
            state=int(S.PENDING),
            nodes=[],
            disposed_nodes=[],
            last_vmname=0,
            creating=[],
            pending_actions=[],
        )
    return {"ID": sid, "NAME": body["name"], "UID": uid, "GID": gid, "TEMPLATE": {"BODY": body}}


def body(service: Body) -> Body:
    return service["TEMPLATE"]["BODY"]


def role(service: Body, name: str) -> Body:
    return next(r for r in body(service)["roles"] if r["name"] == name)


def state(service: Body, role_name: str | None = None) -> S:
    return S(role(service, role_name)["state"] if role_name else body(service)["state"])


def node_ids(service: Body, role_name: str) -> list[int]:
    return [n["deploy_id"] for n in role(service, role_name)["nodes"]]


def creates_by_role(plan: flow_lcm.Plan) -> dict[str, list[str]]:
    return {c.role: c.names for c in plan.creates}


def actions(plan: flow_lcm.Plan) -> list[tuple[str, str, list[int], str]]:
    return [(a.role, a.action, sorted(a.vm_ids), a.purpose) for a in plan.actions]


class Cloud:
    """Services and the VMs that exist, stepped as the LCM loop steps them."""

    def __init__(self, *services: Body, config: FlowConfig = CONFIG):
        self.services = list(services)
        self.config = config
        self.vms: dict[int, flow_lcm.VmView] = {}
        self.next_id = 0

    def step(self, now: float = NOW) -> flow_lcm.Plan:
        return flow_lcm.decide(self.services, list(self.vms.values()), now, self.config)

    def add(
        self,
        name: str,
        sid: int | None,
        role_name: str | None,
        vm_state: int = VmState.ACTIVE,
        lcm: int = Lcm.RUNNING,
        uid: int = 0,
        gid: int = 0,
    ) -> int:
        vm_id = self.next_id
        self.next_id += 1
        self.vms[vm_id] = flow_lcm.VmView(vm_id, name, vm_state, lcm, uid, gid, sid, role_name)
        return vm_id

    def make(
        self, plan: flow_lcm.Plan, vm_state: int = VmState.ACTIVE, lcm: int = Lcm.RUNNING
    ) -> list[int]:
        """Carry out the plan's creations: tagged VMs owned as asked."""
        return [
            self.add(name, c.service_id, c.role, vm_state, lcm, c.uid, c.gid)
            for c in plan.creates
            for name in c.names
        ]

    def set(self, ids: list[int], vm_state: int, lcm: int = Lcm.LCM_INIT) -> None:
        for vm_id in ids:
            self.vms[vm_id] = dataclasses.replace(self.vms[vm_id], state=vm_state, lcm=lcm)

    def drop(self, ids: list[int]) -> None:
        """VMs gone DONE (the store's list of live VMs no longer has them)."""
        for vm_id in ids:
            del self.vms[vm_id]

    def deploy(self, now: float = NOW) -> None:
        """Steps until every service is RUNNING, each VM asked for running at once."""
        for _ in range(10):
            plan = self.step(now)
            self.make(plan)
            if all(state(s) == S.RUNNING for s in self.services):
                return
        raise AssertionError("the services never reached RUNNING")


def deployed(template: Body, **extra: Any) -> tuple[Cloud, Body]:
    service = make_service(template, **extra)
    cloud = Cloud(service)
    cloud.deploy()
    return cloud, service


def scale(service: Body, role_name: str, cardinality: int) -> None:
    """What ``services.scale`` writes."""
    role(service, role_name).update(cardinality=cardinality, state=int(S.SCALING))
    flow_lcm.set_service_state(service, S.SCALING, NOW)


def shutdown(service: Body) -> None:
    """What ``services.shutdown`` writes."""
    for r in body(service)["roles"]:
        r["pending_actions"] = []
    flow_lcm.set_service_state(service, S.UNDEPLOYING, NOW)


# ---- deploying ----------------------------------------------------------------------------
def test_a_pending_service_starts_deploying_and_asks_for_every_roles_vms() -> None:
    template = {
        "name": "shop",
        "roles": [
            {"name": "web", "vm_template": 4, "cardinality": 2, "vm_template_contents": "A=1"},
            {"name": "db", "vm_template": 5},
        ],
    }
    service = make_service(template, sid=7, uid=5, gid=1)
    plan = Cloud(service).step()

    assert state(service) == S.DEPLOYING
    assert state(service, "web") == S.DEPLOYING
    assert state(service, "db") == S.DEPLOYING
    assert body(service)["log"][-1]["message"] == "New state: DEPLOYING"
    made = {c.role: c for c in plan.creates}
    assert made["web"].names == ["web_0_(service_7)", "web_1_(service_7)"]
    assert made["db"].names == ["db_0_(service_7)"]
    assert (made["web"].template_id, made["db"].template_id) == (4, 5)
    assert (made["web"].uid, made["web"].gid) == (5, 1)
    assert made["web"].contents == "A=1"
    assert {c.service_id for c in plan.creates} == {7}
    assert {c.purpose for c in plan.creates} == {"deploy"}
    assert plan.actions == []
    assert plan.changed == [service]


def test_straight_deploys_a_role_only_when_all_its_parents_are_running() -> None:
    service = make_service(guide_template("straight"))
    cloud = Cloud(service)

    plan = cloud.step()
    assert creates_by_role(plan) == {"frontend": ["frontend_0_(service_1)"]}
    assert state(service, "db_master") == S.PENDING
    [frontend] = cloud.make(plan, lcm=Lcm.BOOT)  # created, still booting

    plan = cloud.step()
    assert plan.creates == []  # frontend is not RUNNING yet
    assert state(service, "frontend") == S.DEPLOYING

    cloud.set([frontend], VmState.ACTIVE, Lcm.RUNNING)
    plan = cloud.step()
    assert state(service, "frontend") == S.RUNNING
    assert sorted(creates_by_role(plan)) == ["db_master", "db_slave"]
    assert len(creates_by_role(plan)["db_slave"]) == 3
    db_master = cloud.make(
        flow_lcm.Plan(creates=[c for c in plan.creates if c.role == "db_master"])
    )
    slaves = cloud.make(
        flow_lcm.Plan(creates=[c for c in plan.creates if c.role == "db_slave"]),
        VmState.PENDING,
    )

    plan = cloud.step()  # db_master is RUNNING, db_slave's VMs are still PENDING
    assert state(service, "db_master") == S.RUNNING
    assert state(service, "db_slave") == S.DEPLOYING
    assert state(service, "worker") == S.PENDING
    assert plan.creates == []
    assert state(service) == S.DEPLOYING

    cloud.set(slaves, VmState.ACTIVE, Lcm.RUNNING)
    plan = cloud.step()
    assert list(creates_by_role(plan)) == ["worker"]
    assert len(creates_by_role(plan)["worker"]) == 10
    cloud.make(plan)

    cloud.step()
    assert state(service) == S.RUNNING
    assert {r["name"]: len(r["nodes"]) for r in body(service)["roles"]} == {
        "frontend": 1,
        "db_master": 1,
        "db_slave": 3,
        "worker": 10,
    }
    assert db_master == node_ids(service, "db_master")


def test_deployment_none_deploys_every_role_at_once() -> None:
    service = make_service(guide_template("none"))
    plan = Cloud(service).step()
    assert {name: len(names) for name, names in creates_by_role(plan).items()} == {
        "frontend": 1,
        "db_master": 1,
        "db_slave": 3,
        "worker": 10,
    }
    assert all(state(service, r["name"]) == S.DEPLOYING for r in body(service)["roles"])


def test_a_template_without_deployment_deploys_as_none() -> None:
    template = guide_template()
    del template["deployment"]
    plan = Cloud(make_service(template)).step()
    assert len(plan.creates) == 4


# ---- VM names -----------------------------------------------------------------------------
def test_vm_names_fill_all_four_placeholders() -> None:
    config = FlowConfig(vm_name_template="$SERVICE_NAME.$SERVICE_ID.$ROLE_NAME.$VM_NUMBER")
    service = make_service(one_role(2), sid=42)
    plan = Cloud(service, config=config).step()
    assert creates_by_role(plan) == {"web": ["web_app.42.web.0", "web_app.42.web.1"]}


def test_vm_numbers_are_never_reused() -> None:
    cloud, service = deployed(one_role(2))
    first, second = node_ids(service, "web")
    assert [cloud.vms[i].name for i in (first, second)] == [
        "web_0_(service_1)",
        "web_1_(service_1)",
    ]
    cloud.drop([first])  # web_0 is shut down by its user
    cloud.step()
    assert role(service, "web")["cardinality"] == 1

    scale(service, "web", 3)
    plan = cloud.step()
    assert creates_by_role(plan) == {"web": ["web_2_(service_1)", "web_3_(service_1)"]}
    assert role(service, "web")["last_vmname"] == 4


def test_a_repeated_step_whose_creations_did_not_happen_asks_for_the_same_names() -> None:
    service = make_service(one_role(2))
    cloud = Cloud(service)
    first = cloud.step()
    assert creates_by_role(first) == {"web": ["web_0_(service_1)", "web_1_(service_1)"]}

    again = cloud.step()  # the server died before running the orders
    assert creates_by_role(again) == {"web": ["web_0_(service_1)", "web_1_(service_1)"]}
    assert role(service, "web")["last_vmname"] == 2
    assert again.changed == []


def test_a_step_after_a_partial_creation_asks_only_for_the_missing_name() -> None:
    service = make_service(one_role(2))
    cloud = Cloud(service)
    cloud.step()
    made = cloud.add("web_0_(service_1)", 1, "web", VmState.PENDING)

    plan = cloud.step()
    assert creates_by_role(plan) == {"web": ["web_1_(service_1)"]}
    assert node_ids(service, "web") == [made]
    assert role(service, "web")["last_vmname"] == 2


def test_vms_tagged_for_the_role_are_adopted_and_never_created_again() -> None:
    service = make_service(one_role(2))
    cloud = Cloud(service)
    cloud.make(cloud.step(), VmState.PENDING)
    other_service = cloud.add("web_0_(service_2)", 2, "web")
    other_role = cloud.add("db_0_(service_1)", 1, "db")
    untagged = cloud.add("web_0_(service_1)", None, None)

    plan = cloud.step()
    assert plan.creates == []
    assert node_ids(service, "web") == [0, 1]
    assert not {other_service, other_role, untagged} & set(node_ids(service, "web"))
    assert role(service, "web")["creating"] == []

    assert cloud.step().creates == []


# ---- running and warning ------------------------------------------------------------------
def test_a_role_is_running_only_when_all_its_vms_run() -> None:
    service = make_service(one_role(2))
    cloud = Cloud(service)
    booting, pending = cloud.make(cloud.step(), lcm=Lcm.BOOT)
    cloud.set([pending], VmState.PENDING)

    cloud.step()
    assert state(service, "web") == S.DEPLOYING
    cloud.set([booting], VmState.ACTIVE, Lcm.RUNNING)
    cloud.step()
    assert state(service, "web") == S.DEPLOYING
    assert state(service) == S.DEPLOYING

    cloud.set([pending], VmState.ACTIVE, Lcm.RUNNING)
    plan = cloud.step()
    assert state(service, "web") == S.RUNNING
    assert state(service) == S.RUNNING
    assert body(service)["log"][-1]["message"] == "New state: RUNNING"
    assert plan.orders == 0


@pytest.mark.parametrize(
    ("vm_state", "lcm", "shown"),
    [
        (VmState.FAILED, Lcm.LCM_INIT, "FAILED"),
        (VmState.ACTIVE, Lcm.FAILURE, "FAILED"),
        (VmState.ACTIVE, Lcm.UNKNOWN, "UNKNOWN"),
    ],
)
def test_a_failed_or_unknown_vm_puts_a_running_service_in_warning_until_healed(
    vm_state: int, lcm: int, shown: str
) -> None:
    cloud, service = deployed(one_role(2))
    sick = node_ids(service, "web")[1]
    cloud.set([sick], vm_state, lcm)

    plan = cloud.step()
    assert state(service, "web") == S.WARNING
    assert state(service) == S.WARNING
    warning = body(service)["log"][-2]
    assert (warning["severity"], warning["message"]) == ("W", f"Role web: VM {sick} is {shown}")
    assert plan.orders == 0  # nothing is done about it until recover
    assert role(service, "web")["cardinality"] == 2

    cloud.set([sick], VmState.ACTIVE, Lcm.RUNNING)
    cloud.step()
    assert state(service, "web") == S.RUNNING
    assert state(service) == S.RUNNING


@pytest.mark.parametrize("seen_done", [True, False], ids=["listed-done", "gone"])
def test_a_vm_done_in_a_running_role_leaves_it_and_the_cardinality_drops(
    seen_done: bool,
) -> None:
    cloud, service = deployed(one_role(3))
    first, second, third = node_ids(service, "web")
    if seen_done:
        cloud.set([second], VmState.DONE)
    else:
        cloud.drop([second])

    plan = cloud.step()
    web = role(service, "web")
    assert node_ids(service, "web") == [first, third]
    assert web["disposed_nodes"] == [second]
    assert web["cardinality"] == 2
    assert state(service, "web") == S.RUNNING
    assert state(service) == S.RUNNING
    assert plan.creates == []  # no replacement: the guide's manual scale-down
    assert plan.changed == [service]


@pytest.mark.parametrize(
    ("vm_state", "lcm"), [(VmState.FAILED, Lcm.LCM_INIT), (VmState.ACTIVE, Lcm.UNKNOWN)]
)
def test_a_failed_vm_while_deploying_fails_the_role_and_the_service(
    vm_state: int, lcm: int
) -> None:
    service = make_service(guide_template("straight"))
    cloud = Cloud(service)
    [frontend] = cloud.make(cloud.step(), vm_state, lcm)

    plan = cloud.step()
    assert state(service, "frontend") == S.FAILED_DEPLOYING
    assert state(service) == S.FAILED_DEPLOYING
    assert any(
        e["severity"] == "E" and f"VM {frontend}" in e["message"] for e in body(service)["log"]
    )
    assert plan.orders == 0
    assert state(service, "db_master") == S.PENDING

    again = cloud.step()  # it stays failed until `oneflow recover`
    assert again.orders == 0
    assert state(service) == S.FAILED_DEPLOYING


def test_a_service_whose_deployed_role_went_warning_is_warning_once_all_are_deployed() -> None:
    service = make_service(guide_template("straight"))
    cloud = Cloud(service)
    [frontend] = cloud.make(cloud.step())
    cloud.step()
    assert state(service, "frontend") == S.RUNNING
    cloud.set([frontend], VmState.ACTIVE, Lcm.UNKNOWN)
    for _ in range(4):
        cloud.make(cloud.step())
    assert state(service, "worker") == S.RUNNING
    assert state(service, "frontend") == S.WARNING
    assert state(service) == S.WARNING


# ---- recover ------------------------------------------------------------------------------
def recover_failed_deploying(service: Body) -> None:
    """What ``services.recover`` writes for a FAILED_DEPLOYING service."""
    for r in body(service)["roles"]:
        if r["state"] == S.FAILED_DEPLOYING:
            r.update(state=int(S.PENDING), repair=True)
    flow_lcm.set_service_state(service, S.DEPLOYING, NOW)


def failed_deploy(vm_state: int, lcm: int) -> tuple[Cloud, Body, int, int]:
    service = make_service(one_role(2))
    cloud = Cloud(service)
    healthy, sick = cloud.make(cloud.step())
    cloud.set([sick], vm_state, lcm)
    cloud.step()
    assert state(service) == S.FAILED_DEPLOYING
    recover_failed_deploying(service)
    return cloud, service, healthy, sick


def test_recover_deletes_a_failed_vm_and_deploys_a_replacement() -> None:
    cloud, service, healthy, failed = failed_deploy(VmState.FAILED, Lcm.LCM_INIT)

    plan = cloud.step()
    assert actions(plan) == [("web", "delete", [failed], "deploy")]
    assert creates_by_role(plan) == {"web": ["web_2_(service_1)"]}
    assert state(service, "web") == S.DEPLOYING
    assert state(service) == S.DEPLOYING
    assert "repair" not in role(service, "web")

    cloud.drop([failed])
    cloud.make(plan)
    cloud.step()
    assert state(service) == S.RUNNING
    assert node_ids(service, "web") == [healthy, 2]
    assert role(service, "web")["cardinality"] == 2


def test_recover_boots_an_unknown_vm() -> None:
    cloud, _service, _healthy, unknown = failed_deploy(VmState.ACTIVE, Lcm.UNKNOWN)
    plan = cloud.step()
    assert ("web", "boot", [unknown], "deploy") in actions(plan)
    assert plan.creates == []


def test_recover_with_an_unknown_vm_keeps_the_service_deploying() -> None:
    cloud, service, _healthy, unknown = failed_deploy(VmState.ACTIVE, Lcm.UNKNOWN)
    cloud.step()
    assert state(service) == S.DEPLOYING
    cloud.set([unknown], VmState.ACTIVE, Lcm.RUNNING)  # the boot worked
    cloud.step()
    assert state(service) == S.RUNNING


def warning_recovered() -> tuple[Cloud, Body, int, int]:
    """A RUNNING service whose VM failed (WARNING), then recovered as ``services.recover``
    does."""
    cloud, service = deployed(one_role(2))
    healthy, failed = node_ids(service, "web")
    cloud.set([failed], VmState.FAILED)
    cloud.step()
    assert state(service) == S.WARNING
    role(service, "web").update(state=int(S.SCALING), repair=True, skip_cooldown=True)
    flow_lcm.set_service_state(service, S.SCALING, NOW)
    return cloud, service, healthy, failed


def test_recover_from_warning_replaces_the_failed_vm_without_cooldown() -> None:
    cloud, service, healthy, failed = warning_recovered()

    plan = cloud.step()
    assert ("web", "delete", [failed], "scale") in actions(plan)
    assert {a[1] for a in actions(plan)} == {"delete"}
    assert creates_by_role(plan) == {"web": ["web_2_(service_1)"]}
    cloud.drop([failed])
    cloud.make(plan)
    cloud.step()
    assert state(service, "web") == S.RUNNING
    assert state(service) == S.RUNNING
    assert role(service, "web")["cardinality"] == 2
    assert len(node_ids(service, "web")) == 2
    assert healthy in node_ids(service, "web")


def test_recover_from_warning_orders_the_failed_vms_delete_once() -> None:
    cloud, _service, _healthy, failed = warning_recovered()
    plan = cloud.step()
    assert actions(plan) == [("web", "delete", [failed], "scale")]


# ---- scaling ------------------------------------------------------------------------------
def test_scaling_up_creates_vms_then_cools_down_then_runs() -> None:
    cloud, service = deployed(one_role(1))
    scale(service, "web", 3)

    plan = cloud.step(NOW + 10)
    assert [(c.role, c.names, c.purpose) for c in plan.creates] == [
        ("web", ["web_1_(service_1)", "web_2_(service_1)"], "scale")
    ]
    assert state(service) == S.SCALING
    cloud.make(plan, lcm=Lcm.BOOT)
    cloud.step(NOW + 20)
    assert state(service, "web") == S.SCALING  # waits for the new VMs to run

    cloud.set(node_ids(service, "web"), VmState.ACTIVE, Lcm.RUNNING)
    cloud.step(NOW + 30)
    assert state(service, "web") == S.COOLDOWN
    assert state(service) == S.COOLDOWN
    assert role(service, "web")["cooldown_end"] == int(NOW + 30 + 300)

    cloud.step(NOW + 30 + 299)
    assert state(service) == S.COOLDOWN
    cloud.step(NOW + 30 + 300)
    assert state(service, "web") == S.RUNNING
    assert state(service) == S.RUNNING


def test_a_roles_own_cooldown_wins_over_the_default() -> None:
    cloud, service = deployed(one_role(1, cooldown=60))
    scale(service, "web", 2)
    cloud.make(cloud.step())
    cloud.step(NOW + 5)
    assert role(service, "web")["cooldown_end"] == int(NOW + 5 + 60)


def test_a_zero_default_cooldown_goes_straight_back_to_running() -> None:
    service = make_service(one_role(1))
    cloud = Cloud(service, config=FlowConfig(default_cooldown=0))
    cloud.deploy()
    scale(service, "web", 2)
    cloud.make(cloud.step())
    cloud.step()
    assert state(service, "web") == S.RUNNING
    assert state(service) == S.RUNNING


@pytest.mark.parametrize(
    ("role_action", "service_action", "config_action", "expected"),
    [
        (None, None, "shutdown", "shutdown"),
        (None, None, "shutdown-hard", "shutdown-hard"),
        (None, "shutdown-hard", "shutdown", "shutdown-hard"),
        (None, "shutdown", "shutdown-hard", "shutdown"),
        ("shutdown-hard", None, "shutdown", "shutdown-hard"),
        ("shutdown", "shutdown-hard", "shutdown-hard", "shutdown"),
    ],
)
def test_scaling_down_shuts_down_the_last_nodes_with_the_shutdown_action(
    role_action: str | None, service_action: str | None, config_action: str, expected: str
) -> None:
    role_fields = {"shutdown_action": role_action} if role_action else {}
    template = one_role(4, **role_fields)
    if service_action:
        template["shutdown_action"] = service_action
    service = make_service(template)
    cloud = Cloud(service, config=FlowConfig(shutdown_action=config_action))
    cloud.deploy()
    nodes = node_ids(service, "web")
    scale(service, "web", 2)

    plan = cloud.step()
    assert actions(plan) == [("web", expected, nodes[2:], "scale")]
    assert plan.creates == []
    assert [n.get("disposed") for n in role(service, "web")["nodes"]] == [None, None, "1", "1"]


def test_scaling_down_waits_for_the_vms_to_be_done_then_cools_down() -> None:
    cloud, service = deployed(one_role(3))
    nodes = node_ids(service, "web")
    scale(service, "web", 1)
    cloud.step()

    cloud.set(nodes[1:], VmState.ACTIVE, Lcm.SHUTDOWN)  # shutting down
    plan = cloud.step(NOW + 10)
    assert plan.orders == 0
    assert state(service) == S.SCALING

    cloud.drop(nodes[1:])
    cloud.step(NOW + 20)
    web = role(service, "web")
    assert node_ids(service, "web") == nodes[:1]
    assert web["disposed_nodes"] == nodes[1:]
    assert web["cardinality"] == 1  # disposed nodes are not a manual scale-down
    assert state(service, "web") == S.COOLDOWN
    assert state(service) == S.COOLDOWN
    assert web["cooldown_end"] == int(NOW + 20 + 300)


# ---- undeploying --------------------------------------------------------------------------
def test_undeploying_straight_shuts_children_down_before_parents() -> None:
    cloud, service = deployed(guide_template("straight"))
    shutdown(service)

    plan = cloud.step()
    assert actions(plan) == [("worker", "shutdown", node_ids(service, "worker"), "undeploy")]
    assert state(service, "worker") == S.UNDEPLOYING
    assert state(service, "frontend") == S.RUNNING

    cloud.drop(node_ids(service, "worker"))
    plan = cloud.step()
    assert state(service, "worker") == S.DONE
    assert sorted(actions(plan)) == [
        ("db_master", "shutdown", node_ids(service, "db_master"), "undeploy"),
        ("db_slave", "shutdown", node_ids(service, "db_slave"), "undeploy"),
    ]

    cloud.drop(node_ids(service, "db_slave"))  # db_master is still shutting down
    cloud.set(node_ids(service, "db_master"), VmState.ACTIVE, Lcm.SHUTDOWN)
    plan = cloud.step()
    assert plan.orders == 0
    assert state(service, "db_slave") == S.DONE
    assert state(service, "frontend") == S.RUNNING

    cloud.drop(node_ids(service, "db_master"))
    plan = cloud.step()
    assert actions(plan) == [("frontend", "shutdown", node_ids(service, "frontend"), "undeploy")]
    assert state(service) == S.UNDEPLOYING

    cloud.drop(node_ids(service, "frontend"))
    plan = cloud.step()
    assert state(service) == S.DONE
    assert all(state(service, r["name"]) == S.DONE for r in body(service)["roles"])
    assert body(service)["log"][-1]["message"] == "New state: DONE"
    assert plan.orders == 0

    final = cloud.step()
    assert (final.orders, final.changed, final.removed) == (0, [], [])


def test_undeploying_none_shuts_every_role_down_at_once() -> None:
    cloud, service = deployed(guide_template("none"))
    shutdown(service)
    plan = cloud.step()
    assert sorted(a[0] for a in actions(plan)) == ["db_master", "db_slave", "frontend", "worker"]
    assert sum(len(a.vm_ids) for a in plan.actions) == 15


def test_undeploying_deletes_vms_that_cannot_shut_down_and_waits_for_busy_ones() -> None:
    cloud, service = deployed(one_role(5, shutdown_action="shutdown-hard"))
    running, failed, unknown, pending, booting = node_ids(service, "web")
    cloud.set([failed], VmState.FAILED)
    cloud.set([unknown], VmState.ACTIVE, Lcm.UNKNOWN)
    cloud.set([pending], VmState.PENDING)
    cloud.set([booting], VmState.ACTIVE, Lcm.BOOT)
    shutdown(service)

    plan = cloud.step()
    assert sorted(actions(plan)) == [
        ("web", "delete", [failed, unknown, pending], "undeploy"),
        ("web", "shutdown-hard", [running], "undeploy"),
    ]
    assert state(service, "web") == S.UNDEPLOYING

    cloud.drop([running, failed, unknown, pending])
    plan = cloud.step()
    assert plan.orders == 0  # the booting VM is waited for
    assert state(service) == S.UNDEPLOYING

    cloud.set([booting], VmState.ACTIVE, Lcm.RUNNING)
    assert actions(cloud.step()) == [("web", "shutdown-hard", [booting], "undeploy")]
    cloud.drop([booting])
    cloud.step()
    assert state(service) == S.DONE


def test_undeploying_a_service_that_never_deployed_a_role_ends_done() -> None:
    service = make_service(guide_template("straight"))
    cloud = Cloud(service)
    [frontend] = cloud.make(cloud.step(), VmState.FAILED)
    cloud.step()
    assert state(service) == S.FAILED_DEPLOYING
    shutdown(service)

    plan = cloud.step()
    assert actions(plan) == [("frontend", "delete", [frontend], "undeploy")]
    cloud.drop([frontend])
    cloud.step()
    assert state(service) == S.DONE


def test_undeploying_does_not_order_shutdown_for_a_powered_off_vm() -> None:
    cloud, service = deployed(one_role(2))
    running, powered_off = node_ids(service, "web")
    cloud.set([powered_off], VmState.POWEROFF)
    shutdown(service)
    plan = cloud.step()
    assert ("web", "shutdown", [running], "undeploy") in actions(plan)
    assert ("web", "delete", [powered_off], "undeploy") in actions(plan)


# ---- delete -------------------------------------------------------------------------------
def test_a_deleted_service_deletes_all_its_vms_then_is_removed() -> None:
    cloud, service = deployed(one_role(2))
    nodes = node_ids(service, "web")
    stray = cloud.add("web_9_(service_1)", 1, "web", VmState.PENDING)  # not adopted yet
    body(service)["deleting"] = True

    plan = cloud.step()
    assert actions(plan) == [("", "delete", sorted([*nodes, stray]), "delete")]
    assert plan.removed == []
    assert plan.creates == []

    cloud.drop([*nodes, stray])
    plan = cloud.step()
    assert plan.removed == [1]
    assert plan.orders == 0


def test_a_deleted_service_is_removed_from_any_state() -> None:
    service = make_service(one_role(2))
    cloud = Cloud(service)
    cloud.step()  # DEPLOYING, nothing created yet
    body(service)["deleting"] = True
    plan = cloud.step()
    assert (plan.removed, plan.orders) == ([1], 0)


# ---- role actions -------------------------------------------------------------------------
def test_pending_actions_run_only_when_due() -> None:
    cloud, service = deployed(one_role(3))
    first, second, third = node_ids(service, "web")
    role(service, "web")["pending_actions"] = [
        {"vm_id": first, "action": "reboot", "at": int(NOW) - 5},
        {"vm_id": second, "action": "reboot", "at": int(NOW)},
        {"vm_id": third, "action": "reboot", "at": int(NOW) + 60},
    ]

    plan = cloud.step()
    assert actions(plan) == [("web", "reboot", [first, second], "action")]
    assert [p["vm_id"] for p in role(service, "web")["pending_actions"]] == [third]

    assert cloud.step(NOW + 59).orders == 0
    plan = cloud.step(NOW + 60)
    assert actions(plan) == [("web", "reboot", [third], "action")]
    assert role(service, "web")["pending_actions"] == []
    assert cloud.step(NOW + 120).orders == 0


def test_a_pending_action_for_a_vm_no_longer_in_the_role_is_dropped() -> None:
    cloud, service = deployed(one_role(2))
    first, second = node_ids(service, "web")
    role(service, "web")["pending_actions"] = [
        {"vm_id": first, "action": "poweroff", "at": int(NOW)},
        {"vm_id": second, "action": "poweroff", "at": int(NOW)},
    ]
    cloud.drop([second])
    plan = cloud.step()
    assert actions(plan) == [("web", "poweroff", [first], "action")]


# ---- what is written back -----------------------------------------------------------------
def test_plan_changed_lists_only_the_services_whose_body_changed() -> None:
    steady = make_service(one_role(1), sid=1)
    cloud = Cloud(steady)
    cloud.deploy()
    fresh = make_service(one_role(1), sid=2)
    done = make_service(one_role(1), sid=3)
    body(done)["state"] = int(S.DONE)
    cloud.services += [fresh, done]

    plan = cloud.step()
    assert [s["ID"] for s in plan.changed] == [2]
    assert cloud.step().changed == []  # nothing new: nothing to write


def test_vms_whose_owner_differs_from_the_services_are_chowned() -> None:
    cloud, service = deployed(one_role(2), uid=5, gid=1)
    mine, foreign = node_ids(service, "web")
    assert cloud.vms[mine].uid == 5
    cloud.vms[foreign] = dataclasses.replace(cloud.vms[foreign], uid=0, gid=0)

    plan = cloud.step()
    assert plan.chowns == [(foreign, 5, 1)]
    assert plan.changed == []

    cloud.vms[foreign] = dataclasses.replace(cloud.vms[foreign], uid=5, gid=1)
    assert cloud.step().chowns == []


def test_a_vm_with_only_another_group_is_chowned() -> None:
    cloud, service = deployed(one_role(1), uid=5, gid=1)
    [vm] = node_ids(service, "web")
    cloud.vms[vm] = dataclasses.replace(cloud.vms[vm], gid=0)
    assert cloud.step().chowns == [(vm, 5, 1)]


# ---- scale --------------------------------------------------------------------------------
def test_one_step_over_a_thousand_services_and_ten_thousand_vms() -> None:
    services, vms = [], []
    for sid in range(1000):
        service = make_service(one_role(10), sid=sid)
        web = role(service, "web")
        for k in range(10):
            vm_id = sid * 10 + k
            vms.append(
                flow_lcm.VmView(vm_id, f"web_{k}", VmState.ACTIVE, Lcm.RUNNING, 0, 0, sid, "web")
            )
            web["nodes"].append({"deploy_id": vm_id})
        web.update(state=int(S.RUNNING), last_vmname=10)
        body(service)["state"] = int(S.RUNNING)
        if sid % 2 == 0:
            shutdown(service)
        else:
            scale(service, "web", 11)
        services.append(service)

    plan = flow_lcm.decide(services, vms, NOW, CONFIG)
    assert plan.orders == 1000
    assert len(plan.actions) == 500
    assert {a.action for a in plan.actions} == {"shutdown"}
    assert sum(len(a.vm_ids) for a in plan.actions) == 5000
    assert len(plan.creates) == 500
    assert {c.names[0] for c in plan.creates} == {
        f"web_10_(service_{sid})" for sid in range(1, 1000, 2)
    }
    assert len(plan.changed) == 1000


# ---- review: tags alone never make a VM a service's --------------------------------------
def test_a_vm_tagged_by_another_user_is_never_adopted():
    """Anyone may write SERVICE_ID/ROLE_NAME into their VM (onevm update): such a VM
    neither joins the service nor replaces the VM the service asked for."""
    service = make_service(one_role(1), uid=5, gid=100)
    cloud = Cloud(service)
    plan = cloud.step()
    (wanted,) = creates_by_role(plan)["web"]
    cloud.add(wanted, 1, "web", uid=7, gid=100)  # same name and tags, another owner
    cloud.add("web_x", 1, "web", uid=5, gid=100)  # the owner's, but never asked for
    cloud.step()
    assert node_ids(service, "web") == []
    assert role(service, "web")["creating"] == [wanted]  # still asked for, by name


def test_vms_asked_for_before_a_chown_join_the_role_and_change_hands():
    """oneflow chown arrives while the step making the role's VMs runs: they are made
    as the old owner, joined to the role all the same (never asked for again), and
    handed to the new one."""
    service = make_service(one_role(2), uid=0, gid=0)
    cloud = Cloud(service)
    plan = cloud.step()
    made = cloud.make(plan)  # the step ran as oneadmin...
    service.update(UID=5, GID=100)  # ...while the service changed hands
    plan = cloud.step()
    assert sorted(node_ids(service, "web")) == sorted(made)
    assert plan.creates == []
    assert sorted(plan.chowns) == [(vm_id, 5, 100) for vm_id in sorted(made)]


def test_vms_asked_for_before_a_chown_and_a_delete_are_deleted_with_the_service():
    service = make_service(one_role(2), uid=0, gid=0)
    cloud = Cloud(service)
    made = cloud.make(cloud.step())
    service.update(UID=5, GID=100)
    body(service)["deleting"] = True
    (order,) = cloud.step().actions
    assert (order.action, sorted(order.vm_ids)) == ("delete", sorted(made))


def test_a_deleted_service_deletes_only_its_owners_vms():
    service = make_service(one_role(1), uid=5, gid=100)
    cloud = Cloud(service)
    cloud.deploy()
    planted = cloud.add("web_9", 1, "web", uid=7, gid=100)
    body(service)["deleting"] = True
    plan = cloud.step()
    (order,) = plan.actions
    assert order.action == "delete" and planted not in order.vm_ids and order.vm_ids


# ---- review: no state the guide has no way out of ------------------------------------------
def test_a_vm_too_many_while_deploying_is_shut_down():
    service = make_service(one_role(1))
    cloud = Cloud(service)
    plan = cloud.step()
    cloud.make(plan)
    (name,) = creates_by_role(plan)["web"]
    role(service, "web")["creating"] = [name, name]  # a VM made twice, as a crash could
    extra = cloud.add(name, 1, "web")
    plan = cloud.step()
    assert ("web", "shutdown", [extra], "deploy") in actions(plan)
    cloud.drop([extra])
    cloud.step()
    assert state(service) == S.RUNNING


def test_straight_children_deploy_when_a_deployed_parent_went_warning():
    service = make_service(guide_template())
    cloud = Cloud(service)
    cloud.make(cloud.step())  # frontend
    cloud.step()
    frontend_vm = node_ids(service, "frontend")[0]
    cloud.set([frontend_vm], VmState.ACTIVE, Lcm.UNKNOWN)
    for _ in range(4):
        cloud.make(cloud.step())
    assert state(service, "worker") == S.RUNNING
    assert state(service) == S.WARNING  # deployed; recover heals the frontend


def test_one_broken_service_does_not_stop_the_others():
    broken = make_service(one_role(1), sid=1)
    body(broken)["roles"][0]["state"] = 99  # a state no code knows
    fine = make_service(one_role(1), sid=2)
    plan = Cloud(broken, fine).step()
    assert [c.service_id for c in plan.creates] == [2]
    assert state(fine) == S.DEPLOYING


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"vm_name_template": "web"}, "must contain $VM_NUMBER"),
        ({"vm_name_template": 5}, "must be a non-empty string"),
    ],
)
def test_a_vm_name_template_must_number_the_vms(change, message):
    with pytest.raises(Exception, match=message.replace("$", r"\$")):
        service_templates.validate({**one_role(1), **change})


def test_cardinalities_are_capped():
    with pytest.raises(Exception, match=r"cardinality: must be at most 10000"):
        service_templates.validate(one_role(10**12))

"""The LCM decides only for services whose inputs changed (``flow.changes``): what a
skipped step must never miss. A service is deployed for real (the loop's step, its
playbook, the scheduler, simulated hosts); then steps are taken with the loop's own
memory (``Loops.flow_memory``) on a chosen clock, and each change of an input — a
OneGate PUT, a VM destroyed out of band, a policy's period or time coming — must be
acted on at the next step, while a service nothing touched is not decided at all."""

from __future__ import annotations

import time
from typing import Any

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    lcm,
    service_templates,
    services,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import FlowState as S
from ansible_collections.onekit.cloud.plugins.module_utils.gate import tokens
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, templates
from onekit.server.loops import Loops

TEMPLATE = 'NAME = "tiny"\nCPU = 0.01\nMEMORY = 4\nCONTEXT = [ TOKEN = "YES" ]\n'


class Stepper:
    """The loop of one instance, stepped by hand."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.loops = Loops(cloud.instance, cloud.admin.db)
        self.system = Session.system(cloud.admin.db)
        self.made = 0

    def deploy(self, **role: Any) -> int:
        """A service of one role ``web`` of 2 VMs, RUNNING: its id."""
        self.made += 1
        tpl = templates.create(self.cloud.admin, TEMPLATE.replace("tiny", f"tiny{self.made}"))
        spec = {"name": "web", "vm_template": tpl["ID"], "cardinality": 2, **role}
        doc = service_templates.create(
            self.cloud.admin, {"name": f"svc{self.made}", "roles": [spec]}
        )
        sid = services.instantiate(self.cloud.admin, doc["ID"])["ID"]
        self.settle(sid)
        return sid

    def settle(self, sid: int) -> None:
        """The loop's steps (playbook included) and the scheduler until it is RUNNING."""
        for _ in range(12):
            self.loops.flow_once()
            self.cloud.schedule()
            if self.body(sid)["state"] == S.RUNNING and all(
                r["state"] == S.RUNNING for r in self.body(sid)["roles"]
            ):
                return
        raise AssertionError(f"service {sid} is not RUNNING: {self.body(sid)['log']}")

    def step(self, now: float) -> lcm.Plan:
        """One decision and its writes, as ``flow_once`` takes it (no orders run)."""
        return services.plan_step(
            self.system, self.loops.flow_config, now=now, memory=self.loops.flow_memory
        )

    def stored(self, sid: int) -> str:
        """The service document as stored (its text: any write changes it)."""
        with self.system.read() as w:
            return w.tx.row("SELECT body FROM document_pool WHERE oid = ?", (sid,))[0]

    def body(self, sid: int) -> dict:
        return services.show(self.system, sid)["TEMPLATE"]["BODY"]

    def vms(self, sid: int) -> list[int]:
        return [n["deploy_id"] for n in self.body(sid)["roles"][0]["nodes"]]


def decided(plan: lcm.Plan, sid: int) -> bool:
    ordered = {o.service_id for o in (*plan.creates, *plan.actions)}
    return sid in plan.idle or sid in ordered or sid in {s["ID"] for s in plan.changed}


@pytest.fixture
def stepper(cloud) -> Stepper:
    return Stepper(cloud)


def idle_then_skipped(stepper: Stepper, sid: int, now: float) -> None:
    """Steps until the service is left idle, then one more: it is not decided, and its
    document (state, log, policies) is left exactly as it was."""
    for _ in range(3):
        plan = stepper.step(now)
        if not decided(plan, sid) or sid in plan.idle:  # skipped, or decided idle
            break
    else:
        raise AssertionError("the service never settled")
    before = stepper.stored(sid)
    runs = stepper.loops.flow_runner.runs
    plan = stepper.step(now + 1)
    assert not decided(plan, sid)
    assert stepper.stored(sid) == before
    assert stepper.loops.flow_runner.runs == runs


def test_an_untouched_service_is_skipped_and_a_touched_one_decided(stepper):
    quiet, busy = stepper.deploy(), stepper.deploy()
    now = time.time()
    idle_then_skipped(stepper, quiet, now)
    services.scale(stepper.cloud.admin, busy, "web", 3)  # an API call: busy's document
    plan = stepper.step(now + 2)
    assert not decided(plan, quiet)
    assert [(c.service_id, len(c.names)) for c in plan.creates] == [(busy, 1)]


def test_a_onegate_put_makes_the_next_step_decide_and_scale(stepper):
    policy = {"type": "CHANGE", "adjust": 1, "expression": "ATT > 50", "period_number": 1}
    sid = stepper.deploy(min_vms=1, max_vms=5, elasticity_policies=[policy])
    now = time.time()
    idle_then_skipped(stepper, sid, now)
    vm_id = stepper.vms(sid)[0]
    with stepper.system.read() as w:
        vm = pool.get(w.tx, schema.VMS, vm_id)
    token = tokens.token(stepper.cloud.instance.gate_secret(), vm)
    tokens.put(
        stepper.cloud.admin.db, stepper.cloud.instance.gate_secret(), str(vm_id), token, b"ATT = 90"
    )
    plan = stepper.step(now + 2)
    assert [(c.service_id, len(c.names)) for c in plan.creates] == [(sid, 1)]
    body = stepper.body(sid)
    assert body["roles"][0]["cardinality"] == 3
    assert "Role web scaling up from 2 to 3 nodes: ATT > 50 true 1/1 (avg 90)" in [
        e["message"] for e in body["log"]
    ]


def test_a_vm_destroyed_out_of_band_is_noticed(stepper):
    sid = stepper.deploy()
    now = time.time()
    idle_then_skipped(stepper, sid, now)
    gone = stepper.vms(sid)[1]
    lifecycle.act(stepper.cloud.admin, [gone], "delete")  # onevm delete, not through OneFlow
    assert decided(stepper.step(now + 2), sid)
    body = stepper.body(sid)
    assert body["roles"][0]["cardinality"] == 1
    assert f"VM {gone} is DONE; cardinality is now 1" in body["log"][-1]["message"]


def test_a_policy_period_passing_alone_makes_it_evaluate(stepper):
    policy = {
        "type": "CHANGE",
        "adjust": 1,
        "expression": "ATT < 50",  # no VM has ATT: false
        "period": 60,
        "period_number": 1,
    }
    sid = stepper.deploy(min_vms=1, max_vms=5, elasticity_policies=[policy])
    now = time.time()
    idle_then_skipped(stepper, sid, now)
    last = stepper.body(sid)["roles"][0]["elasticity_policies"][0]["last_eval"]
    assert not decided(stepper.step(last + 59), sid)  # within the period
    assert decided(stepper.step(last + 60), sid)  # the period has passed: evaluated
    policy = stepper.body(sid)["roles"][0]["elasticity_policies"][0]
    assert policy["last_eval"] == int(last + 60)


@pytest.mark.parametrize("kind", ["recurrence", "start_time"])
def test_a_scheduled_time_coming_alone_scales(stepper, kind):
    """Half an hour from now: never while the test runs, so only the step's clock
    brings it (each hour at that minute, or once at that time)."""
    later = time.time() + 1800
    when = (
        {"recurrence": f"{time.localtime(later).tm_min} * * * *"}
        if kind == "recurrence"
        else {"start_time": str(int(later))}
    )
    sid = stepper.deploy(
        min_vms=1, max_vms=10, scheduled_policies=[{"type": "CHANGE", "adjust": 1, **when}]
    )
    now = time.time()
    idle_then_skipped(stepper, sid, now)
    role = stepper.body(sid)["roles"][0]
    due = role["scheduled_policies"][0]["next_eval"]
    assert now < due <= later
    assert not decided(stepper.step(due - 1), sid)
    plan = stepper.step(due)
    assert [(c.service_id, len(c.names)) for c in plan.creates] == [(sid, 1)]
    assert stepper.body(sid)["roles"][0]["cardinality"] == role["cardinality"] + 1

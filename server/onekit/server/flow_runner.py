"""The acting half of OneFlow's life-cycle loop: a step's orders run as one
ansible-runner call of ``playbooks/flow/step.yml`` (the ``onekit.cloud.vm`` module does
the VM work), never one call per VM.

An order that fails becomes ``(service, role, purpose, message)`` for
``services.record_failures``: the role goes FAILED_* with the module's message in the
service log. A runner that cannot start at all fails every order of the step the same way.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.flow.lcm import Plan
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from onekit.server.playbook_runner import PLAYBOOKS, RunnerEvent, run_playbook

log = logging.getLogger("onekit.flow")

STEP_PLAYBOOK = PLAYBOOKS / "flow" / "step.yml"


Failure = tuple[int, str, str, str]


@dataclass
class StepResult:
    status: str
    rc: int
    failures: list[Failure] = field(default_factory=list)
    runs: int = 0


def _orders(plan: Plan) -> tuple[list[dict[str, Any]], dict[str, tuple[int, str, str]]]:
    """The playbook's ``flow_orders`` (items of the vm module's ``sets``), and each
    order's key -> (service, role, purpose)."""
    owners: dict[str, tuple[int, str, str]] = {}
    orders: list[dict[str, Any]] = []
    for i, action in enumerate(plan.actions):
        key = f"a{i}:{action.action}:service {action.service_id}:{action.role}"
        owners[key] = (action.service_id, action.role, action.purpose)
        orders.append({"label": key, "action": action.action, "instance_ids": action.vm_ids})
    for i, create in enumerate(plan.creates):
        key = f"c{i}:create:service {create.service_id}:{create.role}"
        owners[key] = (create.service_id, create.role, create.purpose)
        order = {
            "label": key,
            "state": "running",
            "template_id": create.template_id,
            "names": create.names,
            "count_attributes": {"SERVICE_ID": str(create.service_id), "ROLE_NAME": create.role},
            "owner_id": create.uid,
            "group_id": create.gid,
        }
        if create.contents:
            order["extra_template"] = create.contents
        orders.append(order)
    return orders, owners


class FlowRunner:
    """Runs a plan's orders for one instance (its ONEKIT_HOME, its one_auth)."""

    def __init__(self, instance: Instance):
        self.instance = instance
        self.data_dir = instance.var / "flow-runner"
        self.runs = 0

    def stop_leftovers(self) -> list[int]:
        """Kill the step playbooks a dead server of this instance left running, with
        their module processes: a SIGKILLed server's ansible-playbook lives on, orphaned,
        and could create VMs behind the new leader's back. A playbook is found by this
        instance's runner directory in its command line, and killed with everything in
        its session (ansible-runner starts it in a session of its own, on a pty).
        Called before this server's first step."""
        marker = str(self.data_dir).encode()
        own = os.getsid(0)
        sessions = set()
        for pid, cmdline in _processes():
            if marker in cmdline and b"ansible" in cmdline:
                try:
                    sessions.add(os.getsid(pid))
                except OSError:
                    continue
        sessions.discard(own)
        killed = []
        for pid, _cmdline in _processes():
            try:
                if os.getsid(pid) in sessions:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            except OSError:
                continue
        if killed:
            log.warning("stopped %d processes of a playbook a previous server left", len(killed))
        return killed

    def execute(self, plan: Plan) -> StepResult:
        """Run every order of ``plan``; returns the orders that failed."""
        if not plan.orders:
            return StepResult("successful", 0)
        orders, owners = _orders(plan)
        failures: list[Failure] = []
        seen: set[str] = set()

        def on_event(event: RunnerEvent) -> None:
            if not event.failed:
                return
            items = event.items()
            if items is None:  # the task failed as a whole
                items = [{"label": k, "failed": True, "msg": event.res.get("msg")} for k in owners]
            for item in items:
                key = item.get("label")
                if item.get("failed") and key in owners and key not in seen:
                    seen.add(key)
                    failures.append((*owners[key], str(item.get("msg") or "failed")))

        self.runs += 1
        run = run_playbook(
            self.instance,
            self.data_dir,
            STEP_PLAYBOOK,
            {"flow_orders": orders},
            on_event,
            "the flow step",
            log,
            rotate_artifacts=5,
        )
        if run.error is not None:  # the runner itself broke: every order failed
            return StepResult(
                run.status, run.rc, [(*owners[k][:3], run.error) for k in owners], self.runs
            )
        if run.failed:
            missing = [k for k in owners if k not in seen]
            if run.rc not in (0, 2) or (missing and not failures):
                tail = run.tail()
                for key in missing:
                    failures.append((*owners[key][:3], f"the flow playbook failed: {tail}"))
        return StepResult(run.status, run.rc, failures, self.runs)


def _processes() -> list[tuple[int, bytes]]:
    """(pid, command line) of every process but this one."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                found.append((int(entry.name), (entry / "cmdline").read_bytes()))
            except OSError:
                continue
    return found

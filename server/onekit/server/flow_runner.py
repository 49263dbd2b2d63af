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
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner

from ansible_collections.onekit.cloud.plugins.module_utils import flow_lcm
from ansible_collections.onekit.cloud.plugins.module_utils.flow_lcm import Plan
from ansible_collections.onekit.cloud.plugins.module_utils.instance import Instance

log = logging.getLogger("onekit.flow")

_MODULE_UTILS = Path(flow_lcm.__file__).parent  # as imported: through collections/
COLLECTION_ROOT = _MODULE_UTILS.parents[1]  # .../ansible_collections/onekit/cloud (the repo)
COLLECTIONS_PATH = _MODULE_UTILS.parents[4]
STEP_PLAYBOOK = COLLECTION_ROOT / "playbooks" / "flow" / "step.yml"

Failure = tuple[int, str, str, str]


@dataclass
class StepResult:
    status: str
    rc: int
    failures: list[Failure] = field(default_factory=list)
    runs: int = 0


def _orders(plan: Plan) -> tuple[dict[str, Any], dict[str, tuple[int, str, str]]]:
    """The playbook's extra vars, and each order's key -> (service, role, purpose)."""
    owners: dict[str, tuple[int, str, str]] = {}
    actions, creates = [], []
    for i, order in enumerate(plan.actions):
        key = f"a{i}:{order.action}:service {order.service_id}:{order.role}"
        owners[key] = (order.service_id, order.role, order.purpose)
        actions.append({"key": key, "action": order.action, "vm_ids": order.vm_ids})
    for i, order in enumerate(plan.creates):
        key = f"c{i}:create:service {order.service_id}:{order.role}"
        owners[key] = (order.service_id, order.role, order.purpose)
        creates.append(
            {
                "key": key,
                "template_id": order.template_id,
                "names": order.names,
                "attributes": {"SERVICE_ID": str(order.service_id), "ROLE_NAME": order.role},
                "owner_id": order.uid,
                "group_id": order.gid,
                "contents": order.contents or "",
            }
        )
    return {"flow_actions": actions, "flow_creates": creates}, owners


class FlowRunner:
    """Runs a plan's orders for one instance (its ONEKIT_HOME, its one_auth)."""

    def __init__(self, instance: Instance):
        self.instance = instance
        self.data_dir = instance.var / "flow-runner"
        self.runs = 0

    def stop_leftovers(self) -> list[int]:
        """Kill the step playbooks a dead server of this instance left running (a
        SIGKILLed server's ansible-playbook lives on, orphaned); called before this
        server's first step, so two runs never create the same VMs at once."""
        marker = str(self.data_dir).encode()
        killed = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline and b"ansible" in cmdline:
                try:
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed.append(int(entry.name))
                except OSError:
                    pass
        if killed:
            log.warning("stopped %d playbook processes left by a previous server", len(killed))
        return killed

    def execute(self, plan: Plan) -> StepResult:
        """Run every order of ``plan``; returns the orders that failed."""
        if not plan.orders:
            return StepResult("successful", 0)
        extravars, owners = _orders(plan)
        failures: list[Failure] = []
        seen: set[str] = set()

        def on_event(event: dict) -> bool:
            if event.get("event") not in ("runner_item_on_failed", "runner_on_failed"):
                return True
            res = event.get("event_data", {}).get("res", {})
            item = res.get("item")
            key = item.get("key") if isinstance(item, dict) else None
            if key in owners and key not in seen:
                seen.add(key)
                service_id, role, purpose = owners[key]
                failures.append((service_id, role, purpose, str(res.get("msg", "failed"))))
            return True

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.runs += 1
        try:
            runner = ansible_runner.run(
                private_data_dir=str(self.data_dir),
                playbook=str(STEP_PLAYBOOK),
                inventory=f"localhost ansible_connection=local "
                f"ansible_python_interpreter={sys.executable}",
                extravars=extravars,
                envvars={
                    "ONEKIT_HOME": str(self.instance.home),
                    "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH),
                    "ANSIBLE_NOCOLOR": "1",
                    # this Python's ansible-playbook (a venv's bin may not be on PATH)
                    "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
                },
                event_handler=on_event,
                quiet=True,
                rotate_artifacts=5,
                suppress_env_files=True,
            )
        except Exception as err:  # the runner itself broke: every order failed
            log.exception("ansible-runner could not run the flow step")
            message = f"ansible-runner failed: {err}"
            return StepResult(
                "error",
                -1,
                [(*owners[k][:3], message) for k in owners],
                self.runs,
            )
        if runner.status != "successful" or runner.rc != 0:
            missing = [k for k in owners if k not in seen]
            if runner.rc not in (0, 2) or (missing and not failures):
                tail = _stdout_tail(runner)
                for key in missing:
                    failures.append((*owners[key][:3], f"the flow playbook failed: {tail}"))
        return StepResult(runner.status, runner.rc, failures, self.runs)


def _stdout_tail(runner: Any, lines: int = 3) -> str:
    try:
        text = runner.stdout.read()
    except Exception:
        return f"rc {runner.rc}"
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) or f"rc {runner.rc}"

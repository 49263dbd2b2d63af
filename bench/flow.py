"""OneFlow's life-cycle loop: deploying services, and the cost of one decision.

(a) The bare cost of one ansible-runner call (a playbook with one ``debug`` task);
(b) 20 services of 4 roles x 5 VMs (400 VMs, deployment none) instantiated at once and
    driven by the server's own LCM step (``Loops.flow_once``: decide, write, one runner
    call) until every service is RUNNING: wall time, steps, runner calls, and the ratio
    to (a) -- the loop's cost in units of runner start-ups;
(c) one decision (``lcm.decide``) over 1,000 RUNNING services / 10,000 VMs, in
    memory: the part of a step that grows with the cloud (goal: well under 100 ms).
Hosts are 4 private libvirtd daemons on the test driver (tests/support/libvirt.py);
needs root.

Run: .venv/bin/python bench/flow.py   (about a minute)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "server"))

import ansible_runner
from support.libvirt import sim_hosts, stop_all

from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    Lcm,
    VmState,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    lcm,
    service_templates,
    services,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import (
    FlowConfig,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import (
    FlowState,
)
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import monitor, templates
from onekit.server.loops import Loops

SERVICES, ROLES, PER_ROLE = 20, 4, 5


def bare_runner(workdir: Path) -> float:
    play = workdir / "noop.yml"
    play.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n    - debug: msg=hi\n")
    (workdir / "bare").mkdir()
    times = []
    for _ in range(3):
        started = time.perf_counter()
        ansible_runner.run(
            private_data_dir=str(workdir / "bare"),
            playbook=str(play),
            inventory=f"localhost ansible_connection=local "
            f"ansible_python_interpreter={sys.executable}",
            quiet=True,
            suppress_env_files=True,
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def deploy(workdir: Path, sims) -> tuple[float, int, int]:
    instance = Instance(workdir / "onekit")
    instance.init()
    admin = instance.session()
    instance.sched_config_path.write_text("MAX_DISPATCH = 1000\nMAX_HOST = 1000\n")
    for i, sim in enumerate(sims):
        hosts.create(admin, f"sim{i}", uri=sim.uri)
    system = Session.system(admin.db)
    monitor.cycle(system, instance.monitor_config())
    tpl = templates.create(admin, 'NAME = "tiny"\nCPU = 0.01\nMEMORY = 4\n')
    roles = [
        {"name": f"r{r}", "vm_template": tpl["ID"], "cardinality": PER_ROLE} for r in range(ROLES)
    ]
    doc = service_templates.create(admin, {"name": "bench", "roles": roles})
    loops = Loops(instance, admin.db)
    started = time.perf_counter()
    ids = [services.instantiate(admin, doc["ID"])["ID"] for _ in range(SERVICES)]
    steps = 0
    while True:
        steps += 1
        acted = loops.flow_once()
        states = {services.show(admin, i)["TEMPLATE"]["BODY"]["state"] for i in ids}
        if states == {FlowState.RUNNING}:
            break
        if not acted and steps > 50:
            raise SystemExit(f"services stuck in {states}")
    return time.perf_counter() - started, steps, loops.flow_runner.runs


def decision(count: int = 1000, per_service: int = 10) -> float:
    config = FlowConfig()
    vms, bodies = [], []
    vm_id = 0
    for sid in range(count):
        roles = []
        for r in range(2):
            nodes = []
            for _ in range(per_service // 2):
                vms.append(
                    lcm.VmView(
                        vm_id, f"r{r}_{vm_id}", VmState.ACTIVE, Lcm.RUNNING, 0, 0, sid, f"r{r}"
                    )
                )
                nodes.append({"deploy_id": vm_id})
                vm_id += 1
            roles.append(
                {
                    "name": f"r{r}",
                    "vm_template": 0,
                    "cardinality": len(nodes),
                    "parents": [],
                    "state": int(FlowState.RUNNING),
                    "nodes": nodes,
                    "disposed_nodes": [],
                    "last_vmname": len(nodes),
                    "creating": [],
                    "pending_actions": [],
                }
            )
        body = {
            "name": f"s{sid}",
            "deployment": "none",
            "state": int(FlowState.RUNNING),
            "roles": roles,
            "log": [],
        }
        bodies.append(
            {"ID": sid, "NAME": f"s{sid}", "UID": 0, "GID": 0, "TEMPLATE": {"BODY": body}}
        )
    times = []
    for _ in range(5):
        started = time.perf_counter()
        plan = lcm.decide(bodies, vms, time.time(), config)
        times.append(time.perf_counter() - started)
        assert plan.orders == 0 and not plan.changed
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="okbench-") as tmp:
        workdir = Path(tmp)
        runner = bare_runner(workdir)
        print(f"(a) one bare ansible-runner call:           {runner:6.2f} s")
        sims = sim_hosts(4, Path(tempfile.mkdtemp(prefix="okb-", dir="/tmp")))
        try:
            took, steps, runs = deploy(workdir, sims)
        finally:
            stop_all(sims)
        total = SERVICES * ROLES * PER_ROLE
        print(
            f"(b) {SERVICES} services, {total} VMs to RUNNING:    {took:6.2f} s "
            f"in {steps} LCM steps, {runs} runner calls ({took / runner:.1f} x a bare call, "
            f"{took / total * 1000:.0f} ms per VM)"
        )
    took = decision()
    print(f"(c) one decision, 1,000 services / 10,000 VMs: {took * 1000:6.1f} ms")


if __name__ == "__main__":
    main()

"""OneFlow's life-cycle loop: deploying services, and the cost of its decisions.

(a) The bare cost of one ansible-runner call (a playbook with one ``debug`` task); it
    must succeed, or every ratio below is meaningless (ansible-playbook is found on PATH:
    run with the venv's bin first, as the command below does);
(b) 20 services of 4 roles x 5 VMs (400 VMs, deployment none) instantiated at once and
    driven by the server's own LCM step (``Loops.flow_once``: decide, write, one runner
    call) until every service is RUNNING: wall time, steps, runner calls, and the ratio
    to (a) -- the loop's cost in units of runner start-ups;
(c) one decision (``lcm.decide``, in memory) over 1,000 RUNNING roles / 20,000 VMs with
    50 elasticity policies per role (50,000 evaluations, bench/elasticity.py's cloud),
    against the same decision without policies (wall and CPU time, the two kinds
    alternating). Goal (issue 14): < 200 ms (the issue's machine: 60-70 ms without
    policies, so about 3x);
(d) one LCM step (``services.plan_step``: read, decide, write, in one transaction) on a
    SQLite store of 100,000 RUNNING VMs (2,000 services x 2 roles x 25 VMs), with 0 and
    3 policies per role, against the same pass without logic (what a step read before:
    every service and every live VM parsed into a view). The loop's steps remember the
    services they left idle (``flow.changes``): the first step decides every service,
    the next ones only those whose inputs changed -- here none, then 1 % of the
    services after a OneGate-like write to one of their VMs. Goal: < 300 ms at 100k.
Hosts are 4 private libvirtd daemons on the test driver (tests/support/libvirt.py);
needs root.

Run: PATH=$PWD/.venv/bin:$PATH .venv/bin/python bench/flow.py   (a few minutes)
     .venv/bin/python bench/flow.py c   ((c) alone: about 30 s)
"""

from __future__ import annotations

import copy
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "server"))

import ansible_runner
import elasticity  # bench/elasticity.py: the 1,000-role cloud of (c)
from support.libvirt import sim_hosts, stop_all

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    Lcm,
    VmState,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    changes,
    lcm,
    service_templates,
    services,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    policies as flow_policies,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import (
    FlowConfig,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow.documents import SERVICE
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
        run = ansible_runner.run(
            private_data_dir=str(workdir / "bare"),
            playbook=str(play),
            inventory=f"localhost ansible_connection=local "
            f"ansible_python_interpreter={sys.executable}",
            quiet=True,
            suppress_env_files=True,
        )
        times.append(time.perf_counter() - started)
        if run.status != "successful" or run.rc != 0:
            tail = "".join(run.stdout.readlines()[-5:]) if run.stdout else ""
            raise SystemExit(
                f"(a) the bare ansible-runner call failed (status {run.status}, rc {run.rc}): "
                "every ratio would be meaningless. Is ansible-playbook on PATH? Run: "
                f"PATH={Path(sys.executable).parent}:$PATH {sys.executable} bench/flow.py\n" + tail
            )
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


def median_ms(work: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def decisions(rounds: int = 7) -> dict[int, tuple[float, float]]:
    """(c): one decision over 1,000 roles / 20,000 VMs, without and with 50 policies per
    role; each run on fresh copies of the documents (outside the time), the two kinds
    alternating (a shared machine's load falls on both alike). Per kind: the median wall
    time and the median CPU time of the process (time.process_time), in ms."""
    exprs = elasticity.expressions()
    bodies = elasticity.vm_bodies()
    config = FlowConfig()
    cloud = elasticity.services(50, exprs)
    metrics = tuple(sorted(flow_policies.referenced(cloud[0]["TEMPLATE"]["BODY"]["roles"])))
    views = [lcm.VmView.of(vm, metrics) for vm in bodies]
    models = {per_role: elasticity.services(per_role, exprs) for per_role in (0, 50)}
    walls: dict[int, list[float]] = {0: [], 50: []}
    cpus: dict[int, list[float]] = {0: [], 50: []}
    for _ in range(rounds):
        for per_role, model in models.items():
            services_now = copy.deepcopy(model)
            started, cpu = time.perf_counter(), time.process_time()
            plan = lcm.decide(services_now, views, time.time(), config)
            cpus[per_role].append(time.process_time() - cpu)
            walls[per_role].append(time.perf_counter() - started)
            assert plan.orders == 0, "a policy scaled: the bench must not change the cloud"
    return {
        k: (statistics.median(walls[k]) * 1000, statistics.median(cpus[k]) * 1000) for k in walls
    }


def print_decisions() -> None:
    found = decisions()
    (plain, plain_cpu), (fifty, fifty_cpu) = found[0], found[50]
    print(
        f"(c) one decision, 1,000 roles / 20,000 VMs, no policies: {plain:7.1f} ms "
        f"(CPU {plain_cpu:6.1f} ms)"
    )
    print(
        f"    the same, 50 policies per role (50,000 evaluations): {fifty:7.1f} ms "
        f"(CPU {fifty_cpu:6.1f} ms) = {fifty / plain:.1f}x no policies "
        f"(CPU {fifty_cpu / plain_cpu:.1f}x)   goal: < 200 ms (about 3x)"
    )


# ---- (d) a store of 100,000 VMs ------------------------------------------------------------
BIG_SERVICES, BIG_ROLES, BIG_PER_ROLE = 2000, 2, 25
POLICY_EXPRESSIONS = ("ATT0 > 1000", "ATT1 < -5 && ATT2 > 50", "!(ATT3 >= 0) || ATT4 = 7.5")


def big_store(workdir: Path) -> Instance:
    """2,000 RUNNING services of 2 roles x 25 RUNNING VMs, written through the pool as
    the real paths write them (one service instantiated and one VM made for real, then
    cloned: making 100,000 VMs one by one would take the bench an hour)."""
    instance = Instance(workdir / "big")
    instance.init()
    admin = instance.session()
    tpl = templates.create(admin, 'NAME = "tiny"\nCPU = 0.01\nMEMORY = 4\n')
    roles = [{"name": f"r{r}", "vm_template": tpl["ID"]} for r in range(BIG_ROLES)]
    spec = service_templates.create(admin, {"name": "big", "roles": roles})
    model = services.instantiate(admin, spec["ID"])
    (vm_model,) = templates.instantiate(admin, tpl["ID"], 1)
    with admin.write() as w:
        pool.delete(w.tx, schema.VMS, vm_model["ID"])
        pool.delete(w.tx, schema.DOCUMENTS, model["ID"])
        vm_id = 1000
        for sid in range(1000, 1000 + BIG_SERVICES):
            doc = copy.deepcopy(model)
            doc.update(ID=sid, NAME=f"big{sid}")
            body = doc["TEMPLATE"]["BODY"]
            body.update(name=f"big{sid}", state=int(FlowState.RUNNING))
            for role in body["roles"]:
                role.update(
                    state=int(FlowState.RUNNING), cardinality=BIG_PER_ROLE, last_vmname=BIG_PER_ROLE
                )
                for k in range(BIG_PER_ROLE):
                    vm = copy.deepcopy(vm_model)
                    vm.update(
                        ID=vm_id,
                        NAME=f"{role['name']}_{k}_(service_{sid})",
                        STATE=int(VmState.ACTIVE),
                        LCM_STATE=int(Lcm.RUNNING),
                        MONITORING={"CPU": 3.0, "MEMORY": 65536},
                    )
                    vm["USER_TEMPLATE"].update(
                        SERVICE_ID=str(sid),
                        ROLE_NAME=role["name"],
                        **{f"ATT{i}": f"{(vm_id * 7 + i) % 100}.25" for i in range(10)},
                    )
                    pool.insert(w.tx, schema.VMS, vm, oid=vm_id)
                    role["nodes"].append({"deploy_id": vm_id})
                    vm_id += 1
            pool.insert(w.tx, schema.DOCUMENTS, doc, oid=sid)
    return instance


def set_policies(instance: Instance, per_role: int) -> None:
    """Every role gets ``per_role`` policies (no period: evaluated at every decision;
    never true: nothing scales)."""
    policies = [
        {"type": "CHANGE", "adjust": 1, "expression": e, "period_number": 10**9}
        for e in POLICY_EXPRESSIONS[:per_role]
    ]
    with instance.session().write() as w:
        for doc in pool.all_bodies(w.tx, schema.DOCUMENTS, "type = ?", (SERVICE,)):
            for role in doc["TEMPLATE"]["BODY"]["roles"]:
                role.update(min_vms=1, max_vms=100, elasticity_policies=copy.deepcopy(policies))
            pool.update(w.tx, schema.DOCUMENTS, doc)


def bare_pass(system: Session, metrics: tuple[str, ...]) -> None:
    """A step without its logic: what every step read before (all services, every live
    VM parsed into a view), in the step's locked transaction."""
    with system.write() as w:
        w.tx.rows("SELECT oid FROM document_pool WHERE type = ?" + w.tx.for_update, (SERVICE,))
        pool.all_bodies(w.tx, schema.DOCUMENTS, "type = ?", (SERVICE,))
        where = "state != ?"
        [
            lcm.VmView.of(vm, metrics)
            for vm in pool.all_bodies(w.tx, schema.VMS, where, (int(VmState.DONE),))
        ]


def touch(system: Session, count: int, value: float) -> None:
    """A OneGate-like write (USER_TEMPLATE merged, the row written) to one VM of each of
    ``count`` services."""
    with system.write() as w:
        for sid in range(1000, 1000 + count):
            vm_id = 1000 + (sid - 1000) * BIG_ROLES * BIG_PER_ROLE
            vm = pool.get(w.tx, schema.VMS, vm_id, lock=True)
            vm["USER_TEMPLATE"]["APP_LOAD"] = str(value)
            pool.update(w.tx, schema.VMS, vm)


def step_at_scale(instance: Instance, per_role: int) -> dict[str, float]:
    set_policies(instance, per_role)
    system = Session.system(instance.open_store())
    config = FlowConfig()
    metrics = tuple(f"ATT{i}" for i in range(10)) if per_role else ()
    found = {"bare": median_ms(lambda: bare_pass(system, metrics), 3)}
    memory = changes.Memory()
    started = time.perf_counter()
    first = services.plan_step(system, config, memory=memory)
    found["first"] = (time.perf_counter() - started) * 1000
    assert first.orders == 0 and len(first.idle) + len(first.changed) == BIG_SERVICES
    services.plan_step(system, config, memory=memory)  # policies' first texts written
    found["idle"] = median_ms(lambda: services.plan_step(system, config, memory=memory))
    touched = BIG_SERVICES // 100
    times = []
    for k in range(3):
        touch(system, touched, 10.0 + k)
        started = time.perf_counter()
        plan = services.plan_step(system, config, memory=memory)
        times.append((time.perf_counter() - started) * 1000)
        assert len(plan.idle) + len(plan.changed) == touched, "not only the touched services"
    found["touched"] = statistics.median(times)
    return found


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="okbench-") as tmp:
        workdir = Path(tmp)
        runner = bare_runner(workdir)
        print(f"(a) one bare ansible-runner call:           {runner:6.2f} s")
        base = Path(tempfile.mkdtemp(prefix="okb-", dir="/tmp"))  # sockets want short paths
        try:
            sims = sim_hosts(4, base)
            try:
                took, steps, runs = deploy(workdir, sims)
            finally:
                stop_all(sims)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        total = SERVICES * ROLES * PER_ROLE
        print(
            f"(b) {SERVICES} services, {total} VMs to RUNNING:    {took:6.2f} s "
            f"in {steps} LCM steps, {runs} runner calls ({took / runner:.1f} x a bare call, "
            f"{took / total * 1000:.0f} ms per VM)"
        )
        print_decisions()
        instance = big_store(workdir)
        for per_role in (0, 3):
            found = step_at_scale(instance, per_role)
            bare = found["bare"]
            print(
                f"(d) 100,000 VMs, {per_role} policies per role: the pass without logic "
                f"{bare:7.1f} ms"
            )
            for key, what in (
                ("first", "first step (every service decided)"),
                ("idle", "a step, nothing changed"),
                ("touched", "a step, 1 % of the services touched"),
            ):
                ms = found[key]
                goal = "" if key == "first" else "   goal: < 300 ms"
                print(f"    {what:38s} {ms:7.1f} ms = {ms / bare:4.2f}x the pass{goal}")


if __name__ == "__main__":
    if sys.argv[1:] == ["c"]:  # the decision alone: seconds, no hosts, no root
        print_decisions()
    elif sys.argv[1:]:
        raise SystemExit(f"usage: {sys.argv[0]} [c]   (c: only the decision measure)")
    else:
        main()

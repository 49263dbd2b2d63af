"""Auto-scaling: the cost of evaluating elasticity policies in one OneFlow step.

The cloud: 100 RUNNING services x 10 roles = 1,000 roles, 20 VMs each (20,000 VMs), every
VM with 10 metric attributes (ATT0..ATT9, strings as OneGate stores them). The policies
come from 50 distinct expressions over those attributes (comparisons, !, &&, ||), with
no period (so every policy is evaluated at every step) and a period_number no run
reaches (so nothing scales and every step does the same work).

(a) baseline: one decision (``lcm.decide``) over that cloud without any policy;
(b) the same with 3 policies per role (3,000 evaluations), and with all 50 policies on
    every role (50,000 evaluations): the time, and the ratio to (a);
(c) what the step's read adds: VM views with their metric values looked up
    (USER_TEMPLATE, VM, TEMPLATE) and converted to numbers for the 20,000 VMs, against
    views without them.
Goal (issue 14): one decision with 50 policies per role under 200 ms (the issue's
machine: 60-70 ms without policies, so about 3x (a)). bench/flow.py (c) measures the
same decision on fresh documents at each run.

Run: .venv/bin/python bench/elasticity.py   (about 20 s)
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    Lcm,
    VmState,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    lcm,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    policies as flow_policies,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import (
    FlowConfig,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import (
    FlowState,
)

SERVICES, ROLES, PER_ROLE, ATTRIBUTES = 100, 10, 20, 10
NAMES = [f"ATT{i}" for i in range(ATTRIBUTES)]


def expressions(count: int = 50) -> list[str]:
    rng = random.Random(50)
    ops = [">", "<", ">=", "<=", "=", "!="]
    found = []
    while len(found) < count:
        a, b, c = rng.sample(NAMES, 3)
        shape = len(found) % 4
        if shape == 0:
            text = f"{a} {rng.choice(ops)} {rng.randint(0, 100)}"
        elif shape == 1:
            text = f"{a} > {rng.randint(0, 100)} && {b} < {rng.randint(0, 100)}.5"
        elif shape == 2:
            text = f"({a} > {rng.randint(0, 100)}) && !({b} = 5.5 || {c} <= {rng.randint(0, 100)})"
        else:
            text = f"{a} >= {rng.randint(0, 100)} || {b} != {c}"
        found.append(text)
    return found


def vm_bodies() -> list[dict]:
    rng = random.Random(7)
    bodies = []
    for vm_id in range(SERVICES * ROLES * PER_ROLE):
        sid, rest = divmod(vm_id, ROLES * PER_ROLE)
        role = rest // PER_ROLE
        user = {n: f"{rng.uniform(0, 100):.2f}" for n in NAMES}
        user.update(SERVICE_ID=str(sid), ROLE_NAME=f"r{role}")
        bodies.append(
            {
                "ID": vm_id,
                "NAME": f"r{role}_{vm_id}",
                "STATE": int(VmState.ACTIVE),
                "LCM_STATE": int(Lcm.RUNNING),
                "UID": 0,
                "GID": 0,
                "USER_TEMPLATE": user,
                "TEMPLATE": {"CPU": "1", "MEMORY": "128"},
                "MONITORING": {"CPU": 3.0, "MEMORY": 65536},
            }
        )
    return bodies


def services(policies_per_role: int, pool: list[str]) -> list[dict]:
    found = []
    for sid in range(SERVICES):
        roles = []
        for r in range(ROLES):
            first = sid * ROLES + r
            policies = [
                {
                    "expression": pool[(first + k) % len(pool)],
                    "type": "CHANGE",
                    "adjust": 1,
                    "period_number": 10**9,
                }
                for k in range(policies_per_role)
            ]
            ids = range(first * PER_ROLE, (first + 1) * PER_ROLE)
            roles.append(
                {
                    "name": f"r{r}",
                    "vm_template": 0,
                    "cardinality": PER_ROLE,
                    "min_vms": 1,
                    "max_vms": 100,
                    "parents": [],
                    "state": int(FlowState.RUNNING),
                    "nodes": [{"deploy_id": i} for i in ids],
                    "disposed_nodes": [],
                    "last_vmname": PER_ROLE,
                    "creating": [],
                    "pending_actions": [],
                    "elasticity_policies": policies,
                    "scheduled_policies": [],
                }
            )
        body = {"name": f"s{sid}", "deployment": "none", "state": int(FlowState.RUNNING)}
        body.update(roles=roles, log=[])
        found.append({"ID": sid, "NAME": f"s{sid}", "UID": 0, "GID": 0, "TEMPLATE": {"BODY": body}})
    return found


def median_time(work: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    pool = expressions()
    bodies = vm_bodies()
    config = FlowConfig()
    metrics = tuple(
        sorted(flow_policies.referenced(services(50, pool)[0]["TEMPLATE"]["BODY"]["roles"]))
    )
    views = [lcm.VmView.of(vm, metrics) for vm in bodies]
    print(
        f"cloud: {SERVICES * ROLES} roles, {len(bodies)} VMs x {ATTRIBUTES} attributes; "
        f"{len(pool)} distinct expressions"
    )

    plain = services(0, pool)
    base = median_time(lambda: lcm.decide(plain, views, time.time(), config))
    print(f"(a) one decision, no policies:                  {base * 1000:7.1f} ms")
    for per_role in (3, 50):
        cloud = services(per_role, pool)
        now = time.time()
        took = median_time(lambda c=cloud, t=now: lcm.decide(c, views, t, config))
        plan = lcm.decide(cloud, views, now, config)
        assert plan.orders == 0, "a policy scaled: the bench must not change the cloud"
        evaluated = sum(
            1
            for s in cloud
            for r in s["TEMPLATE"]["BODY"]["roles"]
            for p in r["elasticity_policies"]
            if "expression_evaluated" in p
        )
        assert evaluated == SERVICES * ROLES * per_role
        print(
            f"(b) one decision, {per_role:2d} policies per role "
            f"({evaluated:6,} evaluations): {took * 1000:7.1f} ms  "
            f"= (a) + {(took - base) * 1000:6.1f} ms, {took / base:4.1f}x (a)"
            + ("   goal: < 200 ms (about 3x)" if per_role == 50 else "")
        )

    bare = median_time(lambda: [lcm.VmView.of(vm) for vm in bodies])
    with_values = median_time(lambda: [lcm.VmView.of(vm, metrics) for vm in bodies])
    print(f"(c) {len(bodies)} VM views, no metrics:          {bare * 1000:7.1f} ms")
    print(
        f"    the same with {len(metrics)} metric values each:  {with_values * 1000:7.1f} ms  "
        f"{with_values / bare:4.1f}x"
    )


if __name__ == "__main__":
    main()

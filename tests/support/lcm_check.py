"""A check every unit test of the LCM's decision runs through: what ``lcm.decide`` says
about each service must be true, since the loop relies on it to write documents and to
skip services.

- ``plan.changed`` is exactly the services whose document the step changed (compared
  here the slow, sure way: ``repr`` before and after);
- a service in ``plan.idle`` was left as it was, and deciding it again with the same VMs
  at any time before its ``due`` time leaves it so: skipping it changes nothing.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

from ansible_collections.onekit.cloud.plugins.module_utils.flow import lcm

Decide = Callable[..., lcm.Plan]


def checked(decide: Decide) -> Decide:
    def run(services, vms, now, config):
        before = {s["ID"]: repr(s["TEMPLATE"]["BODY"]) for s in services}
        plan = decide(services, vms, now, config)
        ordered = {o.service_id for o in (*plan.creates, *plan.actions)}
        decided = {s["ID"] for s in plan.changed} | set(plan.idle) | ordered | set(plan.removed)
        changed = {s["ID"] for s in services if repr(s["TEMPLATE"]["BODY"]) != before[s["ID"]]}
        # (a service whose step failed is in none: it is skipped, and not written)
        assert {s["ID"] for s in plan.changed} == changed & decided, "plan.changed is wrong"
        assert not changed & set(plan.idle), "a changed service is called idle"
        for service in services:
            due = plan.idle.get(service["ID"])
            if due is None:
                continue
            later = (now + due) / 2 if math.isfinite(due) else now + 86_400 * 365
            for when in (now, later):
                again = copy.deepcopy(service)
                replay = decide([again], vms, when, config)
                assert again["ID"] in replay.idle, f"service {again['ID']} moved at {when}"
                assert repr(again["TEMPLATE"]["BODY"]) == before[service["ID"]]
        return plan

    return run

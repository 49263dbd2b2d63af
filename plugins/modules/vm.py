#!/usr/bin/python
# Copyright: (c) 2026, onekit team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module onekit.cloud.vm."""

from __future__ import annotations

DOCUMENTATION = r"""
module: vm
short_description: Manage onekit virtual machines
description:
  - Create VMs from a template, keep an exact number of them, and move VMs to a state
    (running, powered off, suspended, stopped, undeployed, deleted), as C(onevm) does.
  - The VMs are named one of four ways - by O(instance_ids); as O(exact_count) VMs of
    the template that carry O(count_attributes) and O(count_labels); by O(names), one
    VM per name; or by the C(NAME) in O(attributes). All but O(names) are as in
    community.general's C(one_vm).
  - O(action) runs one C(onevm) action (reboot, hold, snapshot-create...) on O(instance_ids).
  - Every step runs for all the VMs that take it at once (one transaction, one pass
    over the hosts), so creating hundreds of VMs is one module call.
  - New VMs are placed by the scheduler right away; one with no room stays PENDING and
    the task fails with the reason.
author:
  - onekit team (@onekit)
version_added: 0.1.0
options:
  template_id:
    description: The template new VMs are made from, by id.
    type: int
  template_name:
    description: The template new VMs are made from, by name.
    type: str
  instance_ids:
    description: The VMs to act on (no VM is created).
    type: list
    elements: int
    aliases: [ids]
  state:
    description: The state the VMs end in. V(absent) deletes them.
    type: str
    choices: &states [present, running, poweroff, suspended, stopped, undeployed, absent]
    default: present
  hard:
    description: Power off and undeploy without ACPI (at once).
    type: bool
    default: false
  count:
    description:
      - How many VMs to create when the set is empty (by the C(NAME) in O(attributes)), or on every
        run when nothing names the set.
    type: int
    default: 1
  exact_count:
    description:
      - Keep exactly this many VMs of the template that match O(count_attributes) and
        O(count_labels) (at least one of which is required), creating or deleting (lowest
        ids first) as needed.
    type: int
  count_attributes:
    description: Attributes that mark the VMs O(exact_count) counts; new VMs get them.
    type: dict
    default: {}
  count_labels:
    description: Labels that mark the VMs O(exact_count) counts; new VMs get them.
    type: list
    elements: str
    default: []
  attributes:
    description:
      - Attributes of new VMs (user template). C(NAME) names them; C(###) in it is
        replaced by the next free index (C(web-###) gives web-1, web-2...).
    type: dict
    default: {}
  labels:
    description: Labels of new VMs (the C(LABELS) attribute).
    type: list
    elements: str
    default: []
  names:
    description:
      - One VM per name among the VMs that carry O(count_attributes) (required with it);
        a name no live VM of those has is created. A name listed twice means two VMs.
        With O(owner_id), only that user's VMs count (another user's VM, however named
        and tagged, is never taken into the set).
      - Repeating a run creates nothing twice, which is how OneFlow asks for a role's
        new VMs.
    type: list
    elements: str
  action:
    description:
      - An action to run on O(instance_ids), as C(onevm <action>) does; the task always
        reports a change. Not used with O(state).
    type: str
    choices: &actions [shutdown, shutdown-hard, undeploy, undeploy-hard, poweroff, poweroff-hard,
                       hold, release, stop, suspend, resume, boot, reboot, reboot-hard, delete,
                       delete-recreate, snapshot-create]
  owner_id:
    description:
      - The user new VMs belong to (and the set's VMs are given to), as C(onevm chown).
    type: int
  group_id:
    description: The group new VMs belong to (and the set's VMs are given to).
    type: int
  extra_template:
    description:
      - Template text merged over the template for new VMs, as the extra file of
        C(onetemplate instantiate) (C(NIC = [ NETWORK_ID = 0 ])).
    type: str
  sets:
    description:
      - Several sets in one call, each named and acted on as the module's own options
        would (one module start-up for all; OneFlow's loop sends a step's orders this way).
      - An item that fails does not stop the others; the task fails naming each failed
        item's C(label), and RV(sets) tells what became of every item.
    type: list
    elements: dict
    suboptions:
      label:
        description: A name for the item in messages and in RV(sets).
        type: str
      state:
        description: The item's O(state) (default - the module's; C(present) with O(sets[].action)).
        type: str
        choices: *states
      template_id:
        description: As O(template_id).
        type: int
      template_name:
        description: As O(template_name).
        type: str
      instance_ids:
        description: As O(instance_ids).
        type: list
        elements: int
      count:
        description: As O(count).
        type: int
      exact_count:
        description: As O(exact_count).
        type: int
      names:
        description: As O(names).
        type: list
        elements: str
      count_attributes:
        description: As O(count_attributes).
        type: dict
      count_labels:
        description: As O(count_labels).
        type: list
        elements: str
      attributes:
        description: As O(attributes).
        type: dict
      labels:
        description: As O(labels).
        type: list
        elements: str
      hard:
        description: As O(hard) (default - the module's).
        type: bool
      action:
        description: As O(action).
        type: str
        choices: *actions
      owner_id:
        description: As O(owner_id).
        type: int
      group_id:
        description: As O(group_id).
        type: int
      extra_template:
        description: As O(extra_template).
        type: str
extends_documentation_fragment:
  - onekit.cloud.connection
  - onekit.cloud.attributes
"""

EXAMPLES = r"""
- name: Exactly three web servers, running
  onekit.cloud.vm:
    template_name: web
    exact_count: 3
    count_attributes:
      ROLE: web
    attributes:
      NAME: web-###
    state: running

- name: One database VM named db-1
  onekit.cloud.vm:
    template_name: db
    attributes:
      NAME: db-1
    state: running

- name: The VMs of a role, by name; a re-run creates only what is missing
  onekit.cloud.vm:
    template_id: 3
    names: [worker_0, worker_1]
    count_attributes:
      SERVICE_ID: 1
      ROLE_NAME: worker
    owner_id: 2
    group_id: 100
    state: running

- name: Reboot two VMs
  onekit.cloud.vm:
    instance_ids: [3, 4]
    action: reboot

- name: Power off some VMs
  onekit.cloud.vm:
    instance_ids: [3, 4]
    state: poweroff
    hard: true
"""

RETURN = r"""
instances_ids:
  description: Ids of the VMs of the set after the run.
  returned: when O(sets) is not used
  type: list
  elements: int
  sample: [3, 4, 5]
instances:
  description: The VMs of the set after the run.
  returned: when O(sets) is not used
  type: list
  elements: dict
  contains:
    vm_id:
      description: The VM id.
      type: int
    vm_name:
      description: The VM name.
      type: str
    state:
      description: The VM's STATE (ACTIVE, POWEROFF, ...).
      type: str
    lcm_state:
      description: The VM's LCM_STATE (RUNNING, ...).
      type: str
    host:
      description: The host it runs on, if any.
      type: str
    networks:
      description: Its NICs' IPs, MACs and networks.
      type: list
      elements: dict
    labels:
      description: Its labels.
      type: list
      elements: str
    attributes:
      description: Its user template.
      type: dict
tagged_instances:
  description: The VMs that match O(count_attributes) and O(count_labels) (O(exact_count)).
  returned: when O(sets) is not used
  type: list
  elements: dict
created:
  description: How many VMs were (or in check mode would be) created.
  returned: when O(sets) is not used
  type: int
  sample: 2
deleted_ids:
  description: Ids of the VMs deleted (or to delete in check mode).
  returned: when O(sets) is not used
  type: list
  elements: int
sets:
  description:
    - With O(sets), each item's outcome - C(label), C(changed), C(failed), C(msg),
      C(instances_ids), C(created), C(deleted_ids).
  returned: when O(sets) is used
  type: list
  elements: dict
"""

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import OneError
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.ansible_module import (
    ModuleRun,
    ModuleSpec,
    OnekitModule,
    documented_argument_spec,
)
from ansible_collections.onekit.cloud.plugins.module_utils.vm import (
    lifecycle,
    scheduler,
)
from ansible_collections.onekit.cloud.plugins.module_utils.vm import (
    sets as vm_sets,
)


def _brief(vms: list[dict]) -> list[dict]:
    return [
        {
            "id": v["vm_id"],
            "name": v["vm_name"],
            "state": v["state"],
            "lcm_state": v["lcm_state"],
            "host": v["host"],
        }
        for v in vms
    ]


def _request(o: dict, state: str, hard: bool) -> vm_sets.Request:
    """A set's request from the module's options (or one item of O(sets))."""

    def upper(values: dict | None) -> dict:
        return {str(k).upper(): str(v) for k, v in (values or {}).items()}

    return vm_sets.Request(
        state=state,
        template=o["template_id"] if o.get("template_id") is not None else o.get("template_name"),
        instance_ids=o.get("instance_ids"),
        count=o.get("count") or 1,
        exact_count=o.get("exact_count"),
        count_attributes=upper(o.get("count_attributes")),
        count_labels=[str(x) for x in o.get("count_labels") or []],
        attributes=upper(o.get("attributes")),
        labels=[str(x) for x in o.get("labels") or []],
        hard=hard,
        names=o.get("names"),
        action=o.get("action"),
        owner=o.get("owner_id"),
        group=o.get("group_id"),
        extra_template=o.get("extra_template"),
    )


def _run(m: ModuleRun, request: vm_sets.Request) -> tuple[dict, list[str]]:
    """Plan and (unless in check mode) apply one set; its result and its errors."""
    plan = vm_sets.plan(m.session, request)
    before = [vm_sets.summary(vm) for vm in plan.members]
    errors: list[str] = []
    after = before
    if m.check_mode and request.action and plan.members:  # refused as a real run would be
        lifecycle.act(m.session, [vm["ID"] for vm in plan.members], request.action, dry_run=True)
    if not m.check_mode and plan.changed:
        bodies, errors = vm_sets.apply(m.session, request, plan, m.instance.sched_config())
        after = [vm_sets.summary(vm) for vm in bodies]
        for note in scheduler.waiting(m.session, [vm["ID"] for vm in bodies]):
            m.warn(f"{note}; the server's scheduler places it")
    live = [vm for vm in after if vm["state"] != "DONE"]
    return {
        "changed": plan.changed,
        "before": before,
        "instances_ids": [vm["vm_id"] for vm in live],
        "instances": live,
        "tagged_instances": live if request.exact_count is not None else [],
        "created": plan.create,
        "deleted_ids": [vm["ID"] for vm in plan.delete],
    }, errors


def apply(m: ModuleRun) -> dict:
    p = m.params
    if p["sets"] is not None:
        return apply_sets(m)
    outcome, errors = _run(m, _request(p, p["state"], p["hard"]))
    before = outcome.pop("before")
    result = m.result(
        outcome.pop("changed"),
        {"instances": _brief(before)},
        {"instances": _brief(outcome["instances"])},
        **outcome,
    )
    if errors:  # the VMs made so far are in the store: report them with the failure
        m.fail("; ".join(errors), **result)
    return result


_NOTHING_DONE = {
    "changed": False,
    "instances_ids": [],
    "instances": [],
    "tagged_instances": [],
    "created": 0,
    "deleted_ids": [],
}


def apply_sets(m: ModuleRun) -> dict:
    """Each item of O(sets) in turn; one that fails does not stop the others."""
    p = m.params
    results, failures = [], []
    for index, item in enumerate(p["sets"]):
        key = item.get("label") or str(index)
        state = item.get("state") or ("present" if item.get("action") else p["state"])
        try:
            hard = p["hard"] if item.get("hard") is None else item["hard"]
            outcome, errors = _run(m, _request(item, state, hard))
        except OneError as err:
            outcome, errors = dict(_NOTHING_DONE), [str(err)]
        outcome.pop("before", None)
        outcome.update(label=key, failed=bool(errors), msg="; ".join(errors))
        results.append(outcome)
        if errors:
            failures.append(f"{key}: {outcome['msg']}")
    changed = any(r["changed"] for r in results)
    result = m.result(changed, {}, {}, sets=results)
    if failures:
        m.fail("; ".join(failures), **result)
    return result


# DOCUMENTATION is the one definition of the options: the argument spec is read from it
# (the top level's and, for sets, the items'), so the two cannot disagree
ARGUMENT_SPEC = documented_argument_spec(DOCUMENTATION)
_SET_OPTIONS = ARGUMENT_SPEC["sets"]["options"]


SPEC = ModuleSpec(
    ARGUMENT_SPEC,
    mutually_exclusive=[
        ("template_id", "template_name"),
        ("instance_ids", "exact_count", "names"),
        # state and hard at the top level are every item's default
        *(("sets", name) for name in _SET_OPTIONS if name not in ("label", "state", "hard")),
    ],
)


def main() -> None:
    # on the front-end itself, the action plugin (plugins/action/vm.py) runs apply() in
    # the controller's process instead, with the same SPEC
    OnekitModule(SPEC).run(apply)


if __name__ == "__main__":
    main()

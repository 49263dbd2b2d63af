#!/usr/bin/python
# Copyright: (c) 2026, onekit team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module onekit.cloud.service."""

from __future__ import annotations

DOCUMENTATION = r"""
module: service
short_description: Manage OneFlow services
description:
  - Instantiate a service from a service template, wait for it to run, scale its roles,
    run VM actions on a role, shut it down or delete it, as C(oneflow) does.
  - The service is named by O(service_id), or by O(name) among the caller's services that
    are not DONE (instantiated from O(template_id) or O(template_name) when there is none).
  - The life-cycle loop of C(onekit-server) deploys and undeploys services; with O(wait)
    the task waits for it (and fails with the service log's reason on a FAILED_* state).
author:
  - onekit team (@onekit)
version_added: 0.1.0
options:
  name:
    description: The service name (the template's name unless O(merge_template) sets one).
    type: str
  service_id:
    description: An existing service, by id.
    type: int
  template_id:
    description: The service template to instantiate, by id.
    type: int
  template_name:
    description: The service template to instantiate, by name.
    type: str
  merge_template:
    description: Fields merged over the template's when instantiating (C(roles), ...).
    type: dict
  state:
    description:
      - V(present) - the service exists (instantiated if missing).
      - V(running) - the same, and with O(wait) the task returns once it is RUNNING (or in
        COOLDOWN after a scale, when its VMs run).
      - V(done) - shut down (gracefully, children first with C(straight)); with O(wait),
        until DONE.
      - V(absent) - deleted with its VMs, from any state.
    type: str
    choices: [present, running, done, absent]
    default: present
  role:
    description: A role of the service, for O(cardinality) or O(action).
    type: str
  cardinality:
    description: Scale O(role) to this many VMs (C(oneflow scale)).
    type: int
  force:
    description: Allow a O(cardinality) outside the role's C(min_vms)..C(max_vms).
    type: bool
    default: false
  action:
    description: A VM action run on every VM of O(role) (C(oneflow action)); always a change.
    type: str
  period:
    description: Seconds between groups of O(action) (default C(action_period)).
    type: int
  number:
    description: VMs per group of O(action) (default C(action_number)).
    type: int
  wait:
    description: Wait for the service to reach the O(state).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 300
extends_documentation_fragment:
  - onekit.cloud.connection
  - onekit.cloud.attributes
"""

EXAMPLES = r"""
- name: my_service, running
  onekit.cloud.service:
    template_name: my_service
    name: my_service
    state: running

- name: Twelve workers
  onekit.cloud.service:
    name: my_service
    role: worker
    cardinality: 12
    state: running

- name: Reboot the workers, two every five minutes
  onekit.cloud.service:
    name: my_service
    role: worker
    action: reboot
    period: 300
    number: 2

- name: Gone, VMs and all
  onekit.cloud.service:
    name: my_service
    state: absent
"""

RETURN = r"""
service:
  description: The service after the run (before it, for O(state=absent)); empty if none.
  returned: always
  type: dict
  contains:
    id:
      description: The service id.
      type: int
    name:
      description: The service name.
      type: str
    state:
      description: The service state (RUNNING, DEPLOYING, DONE...).
      type: str
    roles:
      description: Each role's name, state, cardinality and VM ids.
      type: list
      elements: dict
"""

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput, NotFound
from ansible_collections.onekit.cloud.plugins.module_utils.flow import config as flow_config
from ansible_collections.onekit.cloud.plugins.module_utils.flow import services
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import FlowState
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import name as state_name
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.ansible_module import (
    OnekitModule,
)

_WAIT_FOR = {
    "running": {FlowState.RUNNING, FlowState.COOLDOWN},  # after a scale: its VMs run
    "done": {FlowState.DONE},
    "absent": set(),
}


def summary(service: dict | None) -> dict:
    if not service:
        return {}
    body = service["TEMPLATE"]["BODY"]
    return {
        "id": service["ID"],
        "name": service["NAME"],
        "state": state_name(body["state"]),
        "roles": [
            {
                "name": r["name"],
                "state": state_name(r["state"]),
                "cardinality": r["cardinality"],
                "vm_ids": [n["deploy_id"] for n in r["nodes"] if not n.get("disposed")],
            }
            for r in body["roles"]
        ],
    }


def _current(m: OnekitModule) -> dict | None:
    p = m.params
    if p["service_id"] is not None:
        try:
            return services.show(m.session, p["service_id"])
        except NotFound:
            if p["state"] == "absent":
                return None
            raise
    if not p["name"]:
        return None
    return services.find(m.session, p["name"], include_done=p["state"] == "absent")


def apply(m: OnekitModule) -> dict:
    p = m.params
    session, state = m.session, p["state"]
    before = _current(m)
    changed = False
    if state == "absent":
        if before is not None:
            changed = True
            if not m.check_mode:
                services.delete(session, before["ID"])
                if p["wait"]:
                    services.wait_for(session, before["ID"], set(), p["wait_timeout"])
        return m.result(changed, summary(before), {}, service=summary(before))
    service = before
    if service is None:
        if p["service_id"] is not None:
            raise NotFound(f"service {p['service_id']} does not exist")
        template = p["template_id"] if p["template_id"] is not None else p["template_name"]
        if template is None:
            raise InvalidInput(
                f"no service named {p['name']!r}: give template_id or template_name to make one"
            )
        changed = True
        if m.check_mode:
            return m.result(True, {}, {"name": p["name"]}, service={})
        merge = dict(p["merge_template"] or {})
        if p["name"]:
            merge["name"] = p["name"]
        service = services.instantiate(session, template, merge)
    service_id = service["ID"]
    if p["role"] is not None and p["cardinality"] is not None:
        role = next(
            (r for r in service["TEMPLATE"]["BODY"]["roles"] if r["name"] == p["role"]), None
        )
        if role is None:
            raise NotFound(f"Role '{p['role']}' not found")
        if role["cardinality"] != p["cardinality"]:
            changed = True
            if not m.check_mode:
                if p["wait"]:  # a scale needs a RUNNING service
                    services.wait_for(
                        session,
                        service_id,
                        {FlowState.RUNNING, FlowState.WARNING},
                        p["wait_timeout"],
                    )
                services.scale(session, service_id, p["role"], p["cardinality"], p["force"])
    if p["role"] is not None and p["action"] is not None:
        changed = True
        if not m.check_mode:
            config = flow_config.load(m.instance.flow_config_path)
            services.role_action(
                session, service_id, p["role"], p["action"], p["period"], p["number"], config
            )
    if state == "done" and state_name(service["TEMPLATE"]["BODY"]["state"]) not in (
        "DONE",
        "UNDEPLOYING",
    ):
        changed = True
        if not m.check_mode:
            services.shutdown(session, service_id)
    if p["wait"] and not m.check_mode and state in _WAIT_FOR:
        service = services.wait_for(session, service_id, _WAIT_FOR[state], p["wait_timeout"])
    else:
        service = services.show(session, service_id) if not m.check_mode else service
    return m.result(changed, summary(before), summary(service), service=summary(service))


def main() -> None:
    OnekitModule(
        {
            "name": {"type": "str"},
            "service_id": {"type": "int"},
            "template_id": {"type": "int"},
            "template_name": {"type": "str"},
            "merge_template": {"type": "dict"},
            "state": {
                "type": "str",
                "default": "present",
                "choices": ["present", "running", "done", "absent"],
            },
            "role": {"type": "str"},
            "cardinality": {"type": "int"},
            "force": {"type": "bool", "default": False},
            "action": {"type": "str"},
            "period": {"type": "int"},
            "number": {"type": "int"},
            "wait": {"type": "bool", "default": True},
            "wait_timeout": {"type": "int", "default": 300},
        },
        required_one_of=[("name", "service_id")],
        mutually_exclusive=[("template_id", "template_name"), ("name", "service_id")],
        required_by={
            "cardinality": "role",
            "action": "role",
            "period": "action",
            "number": "action",
        },
    ).run(apply)


if __name__ == "__main__":
    main()

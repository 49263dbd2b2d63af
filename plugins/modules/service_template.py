#!/usr/bin/python
# Copyright: (c) 2026, onekit team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module onekit.cloud.service_template."""

from __future__ import annotations

DOCUMENTATION = r"""
module: service_template
short_description: Manage OneFlow service templates
description:
  - Register, replace and delete OneFlow service templates (multi-tier services of roles
    with deployment dependencies), as C(oneflow-template) does.
  - The template is the JSON document of the guide (C(name), C(deployment), C(roles) with
    C(name), C(cardinality), C(vm_template), C(parents), C(min_vms), C(max_vms)...), given
    as a mapping or as JSON text. It is checked whole; every error is reported at once.
  - Idempotent by name among the caller's templates; a second run reports no change.
author:
  - onekit team (@onekit)
version_added: 0.1.0
options:
  name:
    description: The template name; it overrides the C(name) of O(template).
    type: str
    required: true
  state:
    description: Whether the template exists.
    type: str
    choices: [present, absent]
    default: present
  template:
    description:
      - The service template document. Required for O(state=present); it replaces the
        whole document.
    type: raw
  mode:
    description:
      - Permissions, three octal digits (C(604) lets everyone instantiate it), as
        C(oneflow-template chmod).
    type: str
extends_documentation_fragment:
  - onekit.cloud.connection
  - onekit.cloud.attributes
"""

EXAMPLES = r"""
- name: The guide's my_service
  onekit.cloud.service_template:
    name: my_service
    mode: "604"
    template:
      deployment: straight
      roles:
        - {name: frontend, vm_template: 0}
        - {name: db_master, parents: [frontend], vm_template: 1}
        - {name: db_slave, parents: [frontend], cardinality: 3, vm_template: 2}
        - {name: worker, parents: [db_master, db_slave], cardinality: 10, vm_template: 3}

- name: From a file
  onekit.cloud.service_template:
    name: my_service
    template: "{{ lookup('file', 'my_service.json') }}"
"""

RETURN = r"""
service_template:
  description: The template after the run (before it, for O(state=absent)); empty if none.
  returned: always
  type: dict
  contains:
    id:
      description: The template id.
      type: int
      sample: 0
    name:
      description: The template name.
      type: str
      sample: my_service
    mode:
      description: Its permissions.
      type: str
      sample: "600"
    template:
      description: The document, with OneFlow's defaults filled in.
      type: dict
"""

from ansible_collections.onekit.cloud.plugins.module_utils.core.json_text import parse_json
from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions
from ansible_collections.onekit.cloud.plugins.module_utils.flow import service_templates
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.ansible_module import (
    OnekitModule,
)


def summary(body: dict | None) -> dict:
    if not body:
        return {}
    return {
        "id": body["ID"],
        "name": body["NAME"],
        "mode": Permissions.from_json(body["PERMISSIONS"]).octal(),
        "template": body["TEMPLATE"]["BODY"],
    }


def apply(m: OnekitModule) -> dict:
    p = m.params
    doc = p["template"]
    if isinstance(doc, str):
        doc = parse_json(doc, "template")
    doc = {**(doc or {}), "name": p["name"]}
    changed, before, after = service_templates.ensure(
        m.session, doc, p["state"], dry_run=m.check_mode, mode=p["mode"]
    )
    result = summary(after if p["state"] == "present" else before)
    return m.result(changed, summary(before), summary(after), service_template=result)


def main() -> None:
    OnekitModule(
        {
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "template": {"type": "raw"},
            "mode": {"type": "str"},
        },
        required_if=[("state", "present", ["template"])],
    ).run(apply)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: (c) 2026, onekit team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module onekit.cloud.vm_template."""

from __future__ import annotations

DOCUMENTATION = r"""
module: vm_template
short_description: Manage onekit VM templates
description:
  - Create, replace and delete VM templates, as C(onetemplate) does.
  - The template is given as OpenNebula template text or as a mapping (vector attributes
    such as C(DISK) as mappings, repeated ones as lists); it is compared after both are
    normalised, so a second run reports no change.
  - Values are checked when the template is written (numbers, SCHED_REQUIREMENTS and
    SCHED_RANK syntax).
author:
  - onekit team (@onekit)
version_added: 0.1.0
options:
  name:
    description: The template name (unique among the caller's templates).
    type: str
    required: true
  state:
    description: Whether the template exists.
    type: str
    choices: [present, absent]
    default: present
  template:
    description:
      - The template's attributes (its C(NAME) is set from O(name)). Required for
        O(state=present); it replaces the whole template.
    type: raw
extends_documentation_fragment:
  - onekit.cloud.connection
  - onekit.cloud.attributes
"""

EXAMPLES = r"""
- name: A small web server template
  onekit.cloud.vm_template:
    name: web
    template:
      CPU: 0.5
      MEMORY: 128
      DISK:
        IMAGE: debian
      NIC:
        NETWORK: private
      SCHED_REQUIREMENTS: 'FREE_CPU > 50'

- name: The same, in OpenNebula syntax
  onekit.cloud.vm_template:
    name: tiny
    template: |
      CPU = 0.1
      MEMORY = 32
"""

RETURN = r"""
vm_template:
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
      sample: web
    template:
      description: The template's attributes.
      type: dict
      sample: {CPU: "0.5", MEMORY: "128", NAME: web}
"""

from ansible_collections.onekit.cloud.plugins.module_utils.frontend.ansible_module import (
    OnekitModule,
)
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates


def summary(body: dict | None) -> dict:
    if not body:
        return {}
    return {"id": body["ID"], "name": body["NAME"], "template": body["TEMPLATE"]}


def apply(m: OnekitModule) -> dict:
    p = m.params
    changed, before, after = templates.ensure(
        m.session, p["name"], state=p["state"], tpl=p["template"], dry_run=m.check_mode
    )
    result = summary(after if p["state"] == "present" else before)
    return m.result(changed, summary(before), summary(after), vm_template=result)


def main() -> None:
    OnekitModule(
        {
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "template": {"type": "raw"},
        }
    ).run(apply)


if __name__ == "__main__":
    main()

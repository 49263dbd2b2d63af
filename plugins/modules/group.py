#!/usr/bin/python
# Copyright: (c) 2026, onekit team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module onekit.cloud.group."""

from __future__ import annotations

DOCUMENTATION = r"""
module: group
short_description: Manage onekit groups
description:
  - Create and delete groups of an onekit instance, as C(onegroup) does.
  - A new group gets the ACL rule C(@<id> <resources>/* CREATE) so its users can create
    objects; see O(resources).
  - Idempotent; a second run with the same options reports no change.
author:
  - onekit team (@onekit)
version_added: 0.1.0
options:
  name:
    description: The group name.
    type: str
    required: true
  state:
    description: Whether the group exists. A group that still has users cannot be removed.
    type: str
    choices: [present, absent]
    default: present
  resources:
    description:
      - What the group's users may create, as C(+)-joined ACL resource types; an empty string
        for nothing. Only applies when the group is created.
    type: str
    default: VM+NET+IMAGE+TEMPLATE+DOCUMENT
extends_documentation_fragment:
  - onekit.cloud.connection
  - onekit.cloud.attributes
"""

EXAMPLES = r"""
- name: A group for EC2 cloud users
  onekit.cloud.group:
    name: ec2

- name: A group whose users may only create VMs
  onekit.cloud.group:
    name: operators
    resources: VM

- name: Remove an empty group
  onekit.cloud.group:
    name: ec2
    state: absent
"""

RETURN = r"""
group:
  description: The group after the run (before it, for O(state=absent)); empty if there is none.
  returned: always
  type: dict
  contains:
    id:
      description: The group id (user-made groups start at 100).
      type: int
      sample: 100
    name:
      description: The group name.
      type: str
      sample: ec2
    users:
      description: Ids of the group's users.
      type: list
      elements: int
      sample: [3, 4]
"""

from ansible_collections.onekit.cloud.plugins.module_utils.frontend.ansible_module import (
    OnekitModule,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import groups


def summary(body: dict | None) -> dict:
    if not body:
        return {}
    return {"id": body["ID"], "name": body["NAME"], "users": list(body["USERS"])}


def apply(m: OnekitModule) -> dict:
    p = m.params
    changed, before, after = groups.ensure(
        m.session,
        p["name"],
        state=p["state"],
        resources=p["resources"] or None,
        dry_run=m.check_mode,
    )
    return m.result(
        changed,
        summary(before),
        summary(after),
        group=summary(after if p["state"] == "present" else before),
    )


def main() -> None:
    OnekitModule(
        {
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "resources": {"type": "str", "default": groups.DEFAULT_RESOURCES},
        }
    ).run(apply)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: (c) 2026, onekit team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module onekit.cloud.acl."""

from __future__ import annotations

DOCUMENTATION = r"""
module: acl
short_description: Manage onekit ACL rules
description:
  - Add and remove ACL rules of an onekit instance, as C(oneacl) does.
  - A rule is matched by what it means, not how it is written, so C(@1 VM+NET/* USE) and
    C(@1 net+vm/* USE) are the same rule.
  - Only members of the oneadmin group may manage ACL rules.
author:
  - onekit team (@onekit)
version_added: 0.1.0
options:
  rule:
    description:
      - "The rule, C(USER RESOURCES/RID RIGHTS [ZONE]), for example C(@1 DOCUMENT/* CREATE)
        or C(#5 NET+IMAGE+TEMPLATE/@104 USE #0). An omitted ZONE is the local zone."
      - "USER is C(#<user id>), C(@<group id>) or C(*); RID is C(#<id>), C(@<group id>),
        C(%<cluster id>) or C(*); RIGHTS are C(+)-joined USE, MANAGE, ADMIN, CREATE."
    type: str
    required: true
  state:
    description: Whether the rule exists.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - onekit.cloud.connection
  - onekit.cloud.attributes
"""

EXAMPLES = r"""
- name: Only group 1 may create OneFlow services
  onekit.cloud.acl:
    rule: "@1 DOCUMENT/* CREATE"

- name: Let group 100 deploy on host 1
  onekit.cloud.acl:
    rule: "@100 HOST/#1 MANAGE"

- name: Drop the default rule that lets every user use every zone
  onekit.cloud.acl:
    rule: "* ZONE/* USE *"
    state: absent
"""

RETURN = r"""
acl:
  description: The stored rule (the removed one, for O(state=absent)); empty if there is none.
  returned: always
  type: dict
  contains:
    id:
      description: The rule id.
      type: int
      sample: 3
    rule:
      description: The rule in canonical form.
      type: str
      sample: "@100 HOST/#1 MANAGE #0"
    user:
      description: The USER part.
      type: str
      sample: "@100"
    resource:
      description: The RESOURCES/RID part.
      type: str
      sample: "HOST/#1"
    rights:
      description: The RIGHTS part.
      type: str
      sample: MANAGE
    zone:
      description: The ZONE part.
      type: str
      sample: "#0"
"""

from ansible_collections.onekit.cloud.plugins.module_utils.frontend.ansible_module import (
    OnekitModule,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls


def summary(rule) -> dict:
    if rule is None:
        return {}
    return {
        "id": rule.oid,
        "rule": str(rule),
        "user": rule.user_str,
        "resource": rule.resource_str,
        "rights": rule.rights_str,
        "zone": rule.zone_str,
    }


def apply(m: OnekitModule) -> dict:
    p = m.params
    changed, rule = acls.ensure(m.session, p["rule"], state=p["state"], dry_run=m.check_mode)
    present = p["state"] == "present"
    before = summary(rule) if (not changed or not present) else {}
    after = summary(rule) if present else {}
    return m.result(changed, before, after, acl=summary(rule))


def main() -> None:
    OnekitModule(
        {
            "rule": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        }
    ).run(apply)


if __name__ == "__main__":
    main()

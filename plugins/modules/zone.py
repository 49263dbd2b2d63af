#!/usr/bin/python
# Copyright: (c) 2026, onekit team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module onekit.cloud.zone."""

from __future__ import annotations

DOCUMENTATION = r"""
module: zone
short_description: Manage the zones of an onekit federation
description:
  - Create, update and delete zones, as C(onezone) does. A zone is one onekit front-end of
    a federation; its O(endpoint) is the URL of that front-end's onekit-server core API.
  - Zones live in the federation's shared tables, which only the master writes; run against
    a slave, the change is sent to the master (with the same credentials).
  - Zone 0 is the master and cannot be removed.
  - Idempotent; a second run with the same options reports no change. Supports check mode.
author:
  - onekit team (@onekit)
version_added: 0.1.0
options:
  name:
    description: The zone name.
    type: str
    required: true
  endpoint:
    description:
      - The zone's onekit-server URL, e.g. C(http://10.0.0.2:2633). Required with
        O(state=present); a different endpoint updates the zone.
    type: str
  zone_id:
    description:
      - The zone is this one, which is renamed to O(name) if its name differs; used for
        zone 0, the master, which exists from the start.
    type: int
  state:
    description: Whether the zone exists.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - onekit.cloud.connection
  - onekit.cloud.attributes
"""

EXAMPLES = r"""
- name: The zone of the second data center
  onekit.cloud.zone:
    name: zone-b
    endpoint: http://10.0.0.2:2633

- name: Zone 0 (the master) with its name and URL
  onekit.cloud.zone:
    zone_id: 0
    name: dc1
    endpoint: http://10.0.0.1:2633

- name: Retire it
  onekit.cloud.zone:
    name: zone-b
    state: absent
"""

RETURN = r"""
zone:
  description: The zone after the run (before it, for O(state=absent)); empty if there is none.
  returned: always
  type: dict
  contains:
    id:
      description: The zone id (zones made on the master start at 100; 0 is the master).
      type: int
      sample: 100
    name:
      description: The zone name.
      type: str
      sample: zone-b
    endpoint:
      description: The zone's onekit-server URL.
      type: str
      sample: http://10.0.0.2:2633
"""

from ansible_collections.onekit.cloud.plugins.module_utils.frontend.ansible_module import (
    OnekitModule,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import zones


def summary(body: dict | None) -> dict:
    if not body:
        return {}
    return {"id": body["ID"], "name": body["NAME"], "endpoint": body["TEMPLATE"].get("ENDPOINT")}


def apply(m: OnekitModule) -> dict:
    p = m.params
    changed, before, after = zones.ensure(
        m.session,
        p["name"],
        p["endpoint"],
        state=p["state"],
        dry_run=m.check_mode,
        zone_id=p["zone_id"],
    )
    return m.result(
        changed,
        summary(before),
        summary(after),
        zone=summary(after if p["state"] == "present" else before),
    )


def main() -> None:
    OnekitModule(
        {
            "name": {"type": "str", "required": True},
            "endpoint": {"type": "str"},
            "zone_id": {"type": "int"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        },
        required_if=[("state", "present", ("endpoint",))],
    ).run(apply)


if __name__ == "__main__":
    main()

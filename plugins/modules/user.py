#!/usr/bin/python
# Copyright: (c) 2026, onekit team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module onekit.cloud.user."""

from __future__ import annotations

DOCUMENTATION = r"""
module: user
short_description: Manage onekit users
description:
  - Create, update and delete users of an onekit instance, as C(oneuser) does.
  - Idempotent; a second run with the same options reports no change.
  - The whole change is one transaction, so a failure leaves the user as it was.
author:
  - onekit team (@onekit)
version_added: 0.1.0
options:
  name:
    description: The user name.
    type: str
    required: true
  state:
    description: Whether the user exists.
    type: str
    choices: [present, absent]
    default: present
  password:
    description:
      - The password. Required to create a user.
      - It is stored as a salted hash, never in clear.
      - For O(auth_driver=x509), the DN of the user's certificate in OpenSSL's form
        (C(/C=ES/O=ONE/OU=DEV/CN=clouduser); spaces are removed), or several separated by
        C(|); the user then logs in to the cloud servers with that certificate, through
        the TLS proxy (role onekit.cloud.tls_proxy), never with a password. Required when
        the driver changes to or from V(x509).
    type: str
  update_password:
    description:
      - V(always) sets O(password) when the stored one differs; V(on_create) only when the
        user is created.
    type: str
    choices: [always, on_create]
    default: always
  group:
    description:
      - The primary group, by name or id. Defaults to C(users) on creation; when given for an
        existing user, the user is moved to it.
    type: str
  groups:
    description:
      - Secondary groups, by name or id. Without O(append) the user ends up in exactly these
        (plus the primary group).
    type: list
    elements: str
  append:
    description: Only add the user to O(groups), never remove it from others.
    type: bool
    default: false
  auth_driver:
    description: The authentication driver; defaults to V(core) on creation.
    type: str
    choices: [core, public, ssh, x509, ldap, server_cipher, server_x509]
extends_documentation_fragment:
  - onekit.cloud.connection
  - onekit.cloud.attributes
"""

EXAMPLES = r"""
- name: A user in the ec2 group
  onekit.cloud.user:
    name: clouduser
    password: "{{ clouduser_password }}"
    group: ec2

- name: Also in the web group, keeping other groups
  onekit.cloud.user:
    name: clouduser
    groups: [web]
    append: true

- name: Set the password only when the user is created
  onekit.cloud.user:
    name: alice
    password: initial-secret
    update_password: on_create

- name: A user who logs in with its client certificate (the TLS proxy verifies it)
  onekit.cloud.user:
    name: certuser
    auth_driver: x509
    password: /C=ES/O=ONE/OU=DEV/CN=certuser

- name: Remove the user
  onekit.cloud.user:
    name: clouduser
    state: absent
"""

RETURN = r"""
user:
  description: The user after the run (before it, for O(state=absent)); empty if there is none.
  returned: always
  type: dict
  contains:
    id:
      description: The user id.
      type: int
      sample: 3
    name:
      description: The user name.
      type: str
      sample: clouduser
    gid:
      description: The primary group id.
      type: int
      sample: 100
    group:
      description: The primary group name.
      type: str
      sample: ec2
    groups:
      description: Ids of every group of the user, primary first.
      type: list
      elements: int
      sample: [100, 101]
    auth_driver:
      description: The authentication driver.
      type: str
      sample: core
    enabled:
      description: Whether the user may log in.
      type: bool
      sample: true
"""

from ansible_collections.onekit.cloud.plugins.module_utils.frontend.ansible_module import (
    OnekitModule,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import users


def summary(body: dict | None) -> dict:
    if not body:
        return {}
    return {
        "id": body["ID"],
        "name": body["NAME"],
        "gid": body["GID"],
        "group": body["GNAME"],
        "groups": list(body["GROUPS"]),
        "auth_driver": body["AUTH_DRIVER"],
        "enabled": body["ENABLED"] == "1",
    }


def apply(m: OnekitModule) -> dict:
    p = m.params
    changed, before, after = users.ensure(
        m.session,
        p["name"],
        state=p["state"],
        password=p["password"],
        update_password=p["update_password"],
        group=p["group"],
        groups=p["groups"],
        append=p["append"],
        driver=p["auth_driver"],
        dry_run=m.check_mode,
    )
    return m.result(
        changed,
        summary(before),
        summary(after),
        user=summary(after if p["state"] == "present" else before),
    )


def main() -> None:
    OnekitModule(
        {
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "password": {"type": "str", "no_log": True},
            "update_password": {
                "type": "str",
                "choices": ["always", "on_create"],
                "default": "always",
                "no_log": False,
            },
            "group": {"type": "str"},
            "groups": {"type": "list", "elements": "str"},
            "append": {"type": "bool", "default": False},
            "auth_driver": {"type": "str", "choices": list(users.AUTH_DRIVERS)},
        }
    ).run(apply)


if __name__ == "__main__":
    main()

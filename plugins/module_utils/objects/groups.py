"""Group operations: create (with its default CREATE rule), delete, show, list.

Groups 0 (oneadmin) and 1 (users) are the system groups; user-made groups get ids from
100. A group is owned by oneadmin with mode 640 and its own id as group, so members see
the groups they are in.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import AclRule, Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import (
    ONEADMIN_GID,
    ONEADMIN_UID,
    USERS_GID,
    Target,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import Conflict, NotFound
from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.shared_writes import federated
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls, quotas

SYSTEM_GROUPS = (ONEADMIN_GID, USERS_GID)
# What members of a new group may create unless told otherwise (`onegroup create
# --resources`); DOCUMENT lets them run OneFlow services.
DEFAULT_RESOURCES = "VM+NET+IMAGE+TEMPLATE+DOCUMENT"
_GROUP_MODE = Permissions.from_octal("640")

Body = dict[str, Any]


def new_group_body(gid: int | None, name: str) -> Body:
    return {
        "ID": gid,
        "NAME": name,
        "UID": ONEADMIN_UID,
        "GID": gid,
        "UNAME": "oneadmin",
        "USERS": [],
        "PERMISSIONS": _GROUP_MODE.to_json(),
        "TEMPLATE": {},
    }


def _check_resources(resources: str | None, zone: int) -> None:
    if resources:
        AclRule.parse(f"@0 {resources}/* CREATE", zone)


def _create_in(w: AuthTx, name: str, resources: str | None, zone: int) -> Body:
    w.authorize(Target.new("GROUP", w.subject.gid), Right.CREATE)
    gid = pool.next_oid(w.tx, schema.GROUPS.table)
    group = pool.insert(w.tx, schema.GROUPS, new_group_body(gid, name), oid=gid)
    if resources:  # an ACL rule: needs the right to manage ACL rules, as `oneacl create`
        acls.authorize_acl_change(w)
        acls.insert_rule(w.tx, AclRule.parse(f"@{gid} {resources}/* CREATE", zone))
    return group


def _delete_in(w: AuthTx, group: Body) -> None:
    if group["ID"] in SYSTEM_GROUPS:
        raise Conflict(f"group {group['ID']} ({group['NAME']}) is a system group")
    w.authorize(Target.of("GROUP", group), Right.ADMIN)
    if group["USERS"]:
        members = (pool.get(w.tx, schema.USERS, uid) for uid in group["USERS"])
        names = [u["NAME"] for u in members if u]
        raise Conflict(
            f"group {group['NAME']} is not empty (users: {', '.join(names)}); "
            "move them out with `oneuser chgrp` / `oneuser delgroup` first"
        )
    pool.delete(w.tx, schema.GROUPS, group["ID"])
    acls.delete_rules_of(w.tx, "group", group["ID"])
    quotas.forget(w.tx, quotas.GROUP, group["ID"])


@federated(local_zone=True)
def create(
    session: Session,
    name: str,
    resources: str | None = DEFAULT_RESOURCES,
    zone: int | None = None,
) -> Body:
    """Create a group; ``resources`` (e.g. ``VM+NET``) adds ``@<id> <resources>/* CREATE``
    for ``zone`` (default: this one; a slave's, when it sends the creation to the master)."""
    pool.check_name("group", name)
    zone = session.zone if zone is None else zone
    _check_resources(resources, zone)
    with session.write() as w:
        return _create_in(w, name, resources, zone)


@federated()
def delete(session: Session, ref: int | str) -> Body:
    with session.write() as w:
        group = pool.resolve(w.tx, schema.GROUPS, ref, lock=True)
        _delete_in(w, group)
        return group


@federated(local_zone=True)
def ensure(
    session: Session,
    name: str,
    state: str = "present",
    resources: str | None = DEFAULT_RESOURCES,
    dry_run: bool = False,
    zone: int | None = None,
) -> tuple[bool, Body | None, Body | None]:
    """Group ``name`` present or absent; returns (changed, before, after).

    ``resources`` only applies when the group is created.
    """
    pool.check_name("group", name)
    pool.check_state(state)
    zone = session.zone if zone is None else zone
    _check_resources(resources, zone)
    with session.write(dry_run=dry_run) as w:
        try:
            group = pool.resolve(w.tx, schema.GROUPS, name, lock=True)
        except NotFound:
            group = None
        if state == "absent":
            if group is not None:
                _delete_in(w, group)
            return group is not None, group, None
        if group is not None:
            w.authorize(Target.of("GROUP", group), Right.USE)
            return False, group, group
        return True, None, _create_in(w, name, resources, zone)


@federated()
def update(session: Session, ref: int | str, tpl: template.Source, append: bool = False) -> Body:
    """Replace the group's TEMPLATE (or merge into it with ``append``): MANAGE on the
    group, as oned's ``one.group.update`` (oneadmin's group by default: members only USE
    their groups)."""
    parsed = template.load(tpl, "a group template")
    with session.write() as w:
        group = pool.resolve(w.tx, schema.GROUPS, ref, lock=True)
        w.authorize(Target.of("GROUP", group), Right.MANAGE)
        old = group.get("TEMPLATE") or {}
        group["TEMPLATE"] = template.merge(old, parsed) if append else parsed
        return pool.update(w.tx, schema.GROUPS, group)


def show(session: Session, ref: int | str) -> Body:
    return objects.show(session, schema.GROUPS, ref)


def quota(session: Session, ref: int | str) -> Body:
    """The group's VM quota and usage: USE on the group (its members have it)."""
    return quotas.show(session, quotas.GROUP, ref)


def set_quota(session: Session, ref: int | str, tpl: template.Source) -> Body:
    """``onegroup quota <group> <file>``: ADMIN on the group; this zone's only."""
    return quotas.set_quota(session, quotas.GROUP, ref, tpl)


def list_groups(session: Session, start: int = 0, page_size: int | None = None) -> list[Body]:
    return objects.list_visible(session, schema.GROUPS, start=start, page_size=page_size)


def name_map(session: Session) -> dict[int, str]:
    """Id -> name of the groups the caller may see (to print a user's groups)."""
    return {g["ID"]: g["NAME"] for g in list_groups(session)}

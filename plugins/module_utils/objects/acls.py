"""ACL rule operations: create, delete, list, ensure (the rule syntax lives in ``acl``).

ACL rules are managed with MANAGE on the ACL resource, which no rule string can grant: in
effect only oneadmin and the members of its group, as in OpenNebula.
"""

from __future__ import annotations

import re

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import (
    GID,
    UID,
    AclRule,
    Right,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import Target, acl_rules
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Tx
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.shared_writes import federated

_ACL_TARGET = Target("ACL", -1, -1, -1, Permissions(0, 0, 0))


def authorize_acl_change(w: AuthTx) -> None:
    """Raise unless the caller may add or remove ACL rules."""
    w.authorize(_ACL_TARGET, Right.MANAGE)


def insert_rule(tx: Tx, rule: AclRule) -> AclRule:
    """Store a rule (no permission check: for bootstrap and callers that checked)."""
    for existing in acl_rules(tx):
        if existing.key() == rule.key():
            raise Conflict(f"ACL rule {rule} already exists as rule {existing.oid}")
    oid = pool.next_oid(tx, "acl")
    try:
        tx.execute(
            "INSERT INTO acl (oid, user, resource, rights, zone) VALUES (?, ?, ?, ?, ?)",
            (oid, rule.user, rule.resource, rule.rights, rule.zone),
        )
    except Conflict:  # the same rule committed by another writer meanwhile
        raise Conflict(f"ACL rule {rule} already exists") from None
    return AclRule(rule.user, rule.resource, rule.rights, rule.zone, oid)


def _delete_rule(tx: Tx, rule_id: int) -> None:
    tx.execute("DELETE FROM acl WHERE oid = ?", (rule_id,))


def delete_rules_of(tx: Tx, kind: str, oid: int) -> list[int]:
    """Drop the rules that name a deleted user or group; returns their ids."""
    dropped = [r.oid for r in acl_rules(tx) if r.refers_to(kind, oid)]
    for rule_id in dropped:
        _delete_rule(tx, rule_id)
    return dropped


def delete_rules_of_zone(tx: Tx, zone_id: int) -> list[int]:
    """Drop the rules for a deleted zone (``#<zone id>``), as oned does; returns their ids."""
    dropped = [r.oid for r in acl_rules(tx) if r.zone == UID | zone_id]
    for rule_id in dropped:
        _delete_rule(tx, rule_id)
    return dropped


def _check_subjects_exist(w: AuthTx, rule: AclRule) -> None:
    number = rule.user & 0xFFFFFFFF
    if rule.user & UID and pool.get(w.tx, schema.USERS, number) is None:
        raise InvalidInput(f"ACL rule names user #{number}, which does not exist")
    if rule.user & GID and pool.get(w.tx, schema.GROUPS, number) is None:
        raise InvalidInput(f"ACL rule names group @{number}, which does not exist")


@federated(local_zone=True)
def create(session: Session, text: str, zone: int | None = None) -> AclRule:
    """``oneacl create``; a rule without a zone is for ``zone`` (default: this one)."""
    rule = AclRule.parse(text, session.zone if zone is None else zone)
    with session.write() as w:
        authorize_acl_change(w)
        _check_subjects_exist(w, rule)
        return insert_rule(w.tx, rule)


@federated(local_zone=True)
def ensure(
    session: Session,
    text: str,
    state: str = "present",
    dry_run: bool = False,
    zone: int | None = None,
) -> tuple[bool, AclRule | None]:
    """The rule present or absent; returns (changed, the stored rule or None)."""
    rule = AclRule.parse(text, session.zone if zone is None else zone)
    pool.check_state(state)
    with session.write(dry_run=dry_run) as w:
        authorize_acl_change(w)
        existing = next((r for r in w.rules if r.key() == rule.key()), None)
        if state == "absent":
            if existing is not None:
                _delete_rule(w.tx, existing.oid)
            return existing is not None, existing
        if existing is not None:
            return False, existing
        _check_subjects_exist(w, rule)
        return True, insert_rule(w.tx, rule)


@federated()
def delete(session: Session, rule_id: int | str) -> AclRule:
    if not re.fullmatch(r"[0-9]{1,10}", str(rule_id).strip()):
        raise InvalidInput(f"ACL rule id must be a number, got {rule_id!r}")
    with session.write() as w:
        authorize_acl_change(w)
        row = w.tx.row(
            "SELECT oid, user, resource, rights, zone FROM acl WHERE oid = ?", (int(rule_id),)
        )
        if row is None:
            raise NotFound(f"ACL rule {rule_id} does not exist")
        _delete_rule(w.tx, row[0])
        oid, user, resource, rights, zone = row
        return AclRule(user, resource, rights, zone, oid)


def list_rules(session: Session) -> list[AclRule]:
    with session.read() as w:
        authorize_acl_change(w)
        return list(w.rules)

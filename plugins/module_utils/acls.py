"""ACL rule operations: create, delete, list, find (the rule syntax lives in ``acl``)."""

from __future__ import annotations

import re

from ansible_collections.onekit.cloud.plugins.module_utils import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.acl import (
    GID,
    RIGHT_BITS,
    UID,
    AclRule,
)
from ansible_collections.onekit.cloud.plugins.module_utils.auth import Target, acl_rules
from ansible_collections.onekit.cloud.plugins.module_utils.db import Tx
from ansible_collections.onekit.cloud.plugins.module_utils.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.permissions import Permissions
from ansible_collections.onekit.cloud.plugins.module_utils.session import AuthTx, Session

MANAGE = RIGHT_BITS["MANAGE"]
# ACL rules are managed with MANAGE on the ACL resource, which no rule string can grant:
# in effect only oneadmin and members of its group, as in OpenNebula.
_ACL_TARGET = Target("ACL", -1, -1, -1, Permissions(0, 0, 0))


def insert_rule(tx: Tx, rule: AclRule) -> AclRule:
    """Store a rule (no permission check: for bootstrap and callers that checked)."""
    for existing in acl_rules(tx):
        if existing.key() == rule.key():
            raise Conflict(f"ACL rule {rule} already exists as rule {existing.oid}")
    oid = pool.next_oid(tx, "acl")
    tx.execute(
        "INSERT INTO acl (oid, user, resource, rights, zone) VALUES (?, ?, ?, ?, ?)",
        (oid, rule.user, rule.resource, rule.rights, rule.zone),
    )
    return AclRule(rule.user, rule.resource, rule.rights, rule.zone, oid)


def delete_rules_of(tx: Tx, kind: str, oid: int) -> list[int]:
    """Drop the rules that name a deleted user or group; returns their ids."""
    dropped = [r.oid for r in acl_rules(tx) if r.refers_to(kind, oid)]
    for rule_id in dropped:
        tx.execute("DELETE FROM acl WHERE oid = ?", (rule_id,))
    return dropped


def _check_subjects_exist(w: AuthTx, rule: AclRule) -> None:
    number = rule.user & 0xFFFFFFFF
    if rule.user & UID and pool.get(w.tx, schema.USERS, number) is None:
        raise InvalidInput(f"ACL rule names user #{number}, which does not exist")
    if rule.user & GID and pool.get(w.tx, schema.GROUPS, number) is None:
        raise InvalidInput(f"ACL rule names group @{number}, which does not exist")


def create(session: Session, text: str) -> AclRule:
    rule = AclRule.parse(text, session.zone)
    with session.write() as w:
        w.authorize(_ACL_TARGET, MANAGE)
        _check_subjects_exist(w, rule)
        return insert_rule(w.tx, rule)


def ensure(
    session: Session, text: str, state: str = "present", dry_run: bool = False
) -> tuple[bool, AclRule | None]:
    """The rule present or absent; returns (changed, the stored rule or None)."""
    rule = AclRule.parse(text, session.zone)
    with session.write(dry_run=dry_run) as w:
        w.authorize(_ACL_TARGET, MANAGE)
        existing = next((r for r in w.rules if r.key() == rule.key()), None)
        if state == "absent":
            if existing is not None:
                w.tx.execute("DELETE FROM acl WHERE oid = ?", (existing.oid,))
            return existing is not None, existing
        if existing is not None:
            return False, existing
        _check_subjects_exist(w, rule)
        return True, insert_rule(w.tx, rule)


def delete(session: Session, rule_id: int | str) -> AclRule:
    if not re.fullmatch(r"[0-9]+", str(rule_id).strip()):
        raise InvalidInput(f"ACL rule id must be a number, got {rule_id!r}")
    with session.write() as w:
        w.authorize(_ACL_TARGET, MANAGE)
        for rule in w.rules:
            if rule.oid == int(rule_id):
                w.tx.execute("DELETE FROM acl WHERE oid = ?", (rule.oid,))
                return rule
    raise NotFound(f"ACL rule {rule_id} does not exist")


def list_rules(session: Session) -> list[AclRule]:
    with session.read() as w:
        w.authorize(_ACL_TARGET, MANAGE)
        return list(w.rules)

"""Delegated rights never add up to oneadmin's: the escalations a review found, closed.

An admin may hand out ``USER/* CREATE``, ``USER/* MANAGE`` or ``GROUP/* CREATE`` to a
"group admin"; none of them may make a oneadmin-group member, take over one, or write ACL
rules.
"""

from __future__ import annotations

import pytest
from conftest import store_snapshot

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import AuthorizationError
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls, groups, users


@pytest.fixture
def delegate(instance: Instance, admin: Session) -> Session:
    """alice (uid 1): a group admin of team (100) who was also handed rights on group 0."""
    groups.create(admin, "team")
    users.create(admin, "alice", "alice-pw")
    for rule in (
        "#1 USER/@100 CREATE",
        "#1 USER/@0 CREATE",
        "#1 GROUP/#0 MANAGE",
        "#1 USER/* USE+MANAGE+ADMIN",
        "#1 GROUP/* CREATE",
        "#1 GROUP/#100 MANAGE",
    ):
        acls.create(admin, rule)
    session = instance.session("alice", "alice-pw")
    yield session
    session.db.close()


def test_a_group_admin_creates_users_in_its_group_only(delegate, admin):
    assert users.create(delegate, "bob", "pw", group="team")["GNAME"] == "team"
    with pytest.raises(AuthorizationError, match="CREATE USER"):
        users.create(delegate, "carol", "pw")  # group users (1): no rule for it


def test_no_delegated_right_makes_a_oneadmin_group_member(delegate, admin):
    users.create(admin, "bob", "pw", group="team")
    before = store_snapshot(admin.db)
    attempts = [
        lambda: users.create(delegate, "evil", "pw", group="oneadmin"),
        lambda: users.chgrp(delegate, "bob", "oneadmin"),
        lambda: users.addgroup(delegate, "bob", "oneadmin"),
        lambda: users.ensure(delegate, "evil2", password="pw", group="team", groups=["oneadmin"]),
    ]
    for attempt in attempts:
        with pytest.raises(AuthorizationError, match="oneadmin"):
            attempt()
    assert store_snapshot(admin.db) == before


def test_no_delegated_right_touches_a_oneadmin_group_member(delegate, admin):
    users.create(admin, "root2", "pw", group="oneadmin")
    before = store_snapshot(admin.db)
    for attempt in (
        lambda: users.passwd(delegate, "oneadmin", "owned"),
        lambda: users.passwd(delegate, "root2", "owned"),
        lambda: users.delete(delegate, "root2"),
        lambda: users.delgroup(delegate, "oneadmin", "oneadmin"),
        lambda: users.ensure(delegate, "root2", password="owned"),
        lambda: users.ensure(delegate, "root2", driver="public"),
    ):
        with pytest.raises(AuthorizationError, match="only oneadmin group members"):
            attempt()
    assert store_snapshot(admin.db) == before
    users.passwd(delegate, "alice", "new-alice-pw")  # its own password: still fine


def test_creating_a_group_writes_no_acl_rule_without_acl_rights(delegate, admin):
    before = store_snapshot(admin.db)
    with pytest.raises(AuthorizationError, match="MANAGE ACL"):
        groups.create(delegate, "wide", resources="USER+GROUP+HOST+ZONE")
    assert store_snapshot(admin.db) == before
    groups.create(delegate, "plain", resources=None)  # a group without a CREATE rule is fine
    assert not [r for r in acls.list_rules(admin) if r.user_str == "@101"]

"""Owned objects: owner, group and mode on creation; chown, chgrp, chmod; who sees what.

Run on documents (the pool OneFlow services live in), on both backends, as the users the
guide's examples have: the same checks apply to every owned object type.
"""

from __future__ import annotations

import pytest
from conftest import store_snapshot

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    InvalidInput,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.schema import DOCUMENTS
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls, groups, users

DOC = {"TYPE": 100}


@pytest.fixture
def people(instance: Instance, admin: Session) -> dict[str, Session]:
    """alice and bob in group users (1), carol in group apptools; their sessions."""
    groups.create(admin, "apptools")
    users.create(admin, "alice", "alice-pw")
    users.create(admin, "bob", "bob-pw")
    users.create(admin, "carol", "carol-pw", group="apptools")
    sessions = {n: instance.session(n, f"{n}-pw") for n in ("alice", "bob", "carol")}
    yield sessions
    for session in sessions.values():
        session.db.close()


def mode(body: dict) -> str:
    from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions

    return Permissions.from_json(body["PERMISSIONS"]).octal()


def test_new_object_belongs_to_its_creator_with_the_umask_mode(people):
    doc = objects.create(people["alice"], DOCUMENTS, "web", DOC)
    assert (doc["UNAME"], doc["GNAME"], doc["UID"], doc["GID"]) == ("alice", "users", 1, 1)
    assert mode(doc) == "600"
    other_umask = Session(people["bob"].db, people["bob"].subject, umask="117")
    assert mode(objects.create(other_umask, DOCUMENTS, "db", DOC)) == "660"


def test_creating_needs_an_acl_rule(people, admin):
    # carol's group apptools got "@100 VM+NET+IMAGE+TEMPLATE+DOCUMENT/* CREATE" on creation
    objects.create(people["carol"], DOCUMENTS, "ok", DOC)
    rule = next(r for r in acls.list_rules(admin) if r.user_str == "@100")
    acls.delete(admin, rule.oid)
    with pytest.raises(
        AuthorizationError,
        match=r"carol \[3\] is not authorized to perform "
        "CREATE DOCUMENT",
    ):
        objects.create(people["carol"], DOCUMENTS, "refused", DOC)


def test_bits_decide_who_sees_and_manages(people):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    doc = objects.create(alice, DOCUMENTS, "web", DOC)
    assert [d["NAME"] for d in objects.list_visible(bob, DOCUMENTS)] == []
    with pytest.raises(AuthorizationError, match="USE DOCUMENT"):
        objects.show(bob, DOCUMENTS, doc["ID"])

    objects.chmod(alice, DOCUMENTS, doc["ID"], "640")  # group may USE
    assert objects.show(bob, DOCUMENTS, "web")["NAME"] == "web"
    assert objects.list_visible(carol, DOCUMENTS) == []  # not in group users
    with pytest.raises(AuthorizationError, match="MANAGE DOCUMENT"):
        objects.chmod(bob, DOCUMENTS, doc["ID"], "644")

    objects.chmod(alice, DOCUMENTS, doc["ID"], "604")  # others may USE
    assert [d["NAME"] for d in objects.list_visible(carol, DOCUMENTS)] == ["web"]


def test_admin_bits_need_admin(people):
    alice, bob = people["alice"], people["bob"]
    doc = objects.create(alice, DOCUMENTS, "web", DOC)
    objects.chmod(alice, DOCUMENTS, doc["ID"], "660")  # bob's group may MANAGE
    assert mode(objects.chmod(bob, DOCUMENTS, doc["ID"], "664")) == "664"
    before = store_snapshot(bob.db)
    for new_mode in ("764", "674", "665"):  # each turns an ADMIN bit on
        with pytest.raises(AuthorizationError, match="ADMIN DOCUMENT"):
            objects.chmod(bob, DOCUMENTS, doc["ID"], new_mode)
    assert store_snapshot(bob.db) == before
    # alice owns it but mode 6xx gives her no ADMIN either: only oneadmin or an ACL rule
    with pytest.raises(AuthorizationError, match="ADMIN DOCUMENT"):
        objects.chmod(alice, DOCUMENTS, doc["ID"], "760")


def test_chown_needs_manage_on_the_new_owner(people, admin):
    alice = people["alice"]
    doc = objects.create(alice, DOCUMENTS, "web", DOC)
    with pytest.raises(AuthorizationError, match=r"MANAGE USER \[2\]"):
        objects.chown(alice, DOCUMENTS, doc["ID"], "bob")
    moved = objects.chown(admin, DOCUMENTS, doc["ID"], "bob", "apptools")
    assert (moved["UNAME"], moved["GNAME"], moved["UID"], moved["GID"]) == (
        "bob",
        "apptools",
        2,
        100,
    )
    assert objects.show(people["bob"], DOCUMENTS, doc["ID"])["UNAME"] == "bob"
    with pytest.raises(AuthorizationError):  # alice no longer owns it
        objects.show(alice, DOCUMENTS, doc["ID"])


def test_chgrp_only_into_a_group_the_owner_may_use(people, admin):
    alice = people["alice"]
    doc = objects.create(alice, DOCUMENTS, "web", DOC)
    with pytest.raises(AuthorizationError, match=r"USE GROUP \[100\]"):
        objects.chgrp(alice, DOCUMENTS, doc["ID"], "apptools")
    users.addgroup(admin, "alice", "apptools")
    alice_again = Session.login(alice.db, "alice", "alice-pw")  # groups are read at login
    assert objects.chgrp(alice_again, DOCUMENTS, doc["ID"], "apptools")["GNAME"] == "apptools"


def test_acl_rules_add_rights_to_the_bits(people, admin):
    doc = objects.create(people["alice"], DOCUMENTS, "web", DOC)
    carol = people["carol"]
    with pytest.raises(AuthorizationError):
        objects.show(carol, DOCUMENTS, doc["ID"])
    acls.create(admin, f"#{carol.subject.uid} DOCUMENT/#{doc['ID']} USE+MANAGE")
    assert objects.show(carol, DOCUMENTS, doc["ID"])["NAME"] == "web"
    objects.chmod(carol, DOCUMENTS, doc["ID"], "640")


def test_oneadmin_group_members_see_everything(people, admin):
    objects.create(people["alice"], DOCUMENTS, "web", DOC)
    users.addgroup(admin, "bob", "oneadmin")
    bob = Session.login(admin.db, "bob", "bob-pw")
    assert [d["NAME"] for d in objects.list_visible(bob, DOCUMENTS)] == ["web"]
    objects.chmod(bob, DOCUMENTS, "web", "777")


@pytest.mark.parametrize("bad", ["8", "64", "6400", "rwx", "", "6 4 0"])
def test_malformed_mode_is_refused_and_nothing_changes(people, bad):
    alice = people["alice"]
    doc = objects.create(alice, DOCUMENTS, "web", DOC)
    before = store_snapshot(alice.db)
    with pytest.raises(InvalidInput, match="three octal digits"):
        objects.chmod(alice, DOCUMENTS, doc["ID"], bad)
    assert store_snapshot(alice.db) == before


def test_unknown_objects_users_and_groups(people, admin):
    doc = objects.create(people["alice"], DOCUMENTS, "web", DOC)
    before = store_snapshot(admin.db)
    with pytest.raises(NotFound, match="document 99 does not exist"):
        objects.chmod(admin, DOCUMENTS, 99, "600")
    with pytest.raises(NotFound, match="user named 'nobody' does not exist"):
        objects.chown(admin, DOCUMENTS, doc["ID"], "nobody")
    with pytest.raises(NotFound, match="group 555 does not exist"):
        objects.chgrp(admin, DOCUMENTS, doc["ID"], 555)
    assert store_snapshot(admin.db) == before


def test_type_fields_cannot_override_ownership(people):
    forged = {
        "UID": 0,
        "GID": 0,
        "UNAME": "oneadmin",
        "PERMISSIONS": {"OTHER_U": "1"},
        "NAME": "other-name",
        "TYPE": 100,
    }
    doc = objects.create(people["alice"], DOCUMENTS, "web", forged)
    assert (doc["NAME"], doc["UID"], doc["GID"], doc["UNAME"]) == ("web", 1, 1, "alice")
    assert mode(doc) == "600" and doc["TYPE"] == 100

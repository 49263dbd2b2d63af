"""The one permission check (``allowed``/``authorize``) and password hashing.

Reference: ha_federation.md section 6. uid 0 or membership (primary or secondary) in group 0
is always allowed; otherwise the object's bits act as three rules (owner ``#uid``, group
``@gid``, other ``*``) evaluated with the ACL table, and any one matching rule grants.
"""

from __future__ import annotations

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import AclRule
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import (
    Subject,
    Target,
    allowed,
    authorize,
    hash_password,
    verify_password,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import AuthorizationError
from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions

# ACL right bits (reference: USE 1, MANAGE 2, ADMIN 4, CREATE 8).
USE, MANAGE, ADMIN, CREATE = 1, 2, 4, 8
RIGHTS = {"U": USE, "M": MANAGE, "A": ADMIN}

OWNER_UID, OBJ_GID = 7, 104

OWNER = Subject(OWNER_UID, "alice", 1, frozenset({1}))
GROUP_PRIMARY = Subject(8, "bob", OBJ_GID, frozenset({OBJ_GID}))
GROUP_SECONDARY = Subject(9, "carol", 1, frozenset({1, OBJ_GID}))
STRANGER = Subject(10, "dave", 1, frozenset({1}))


def vm(mode: str, *, oid: int = 12, uid: int = OWNER_UID, gid: int = OBJ_GID) -> Target:
    return Target("VM", oid, uid, gid, Permissions.from_octal(mode))


def rights_of(subject: Subject, target: Target, rules=(), zone: int = 0) -> str:
    return "".join(
        letter for letter, bit in RIGHTS.items() if allowed(subject, list(rules), target, bit, zone)
    )


# Effective rights, written by hand from the reference: the owner gets owner and other bits,
# a group member group and other bits, anyone else the other bits.
MODE_TABLE = [
    # mode, owner, group member, stranger
    ("600", "UM", "", ""),
    ("640", "UM", "U", ""),
    ("604", "UM", "U", "U"),
    ("660", "UM", "UM", ""),
    ("700", "UMA", "", ""),
    ("007", "UMA", "UMA", "UMA"),
    ("070", "", "UMA", ""),
    ("100", "A", "", ""),
    ("421", "UA", "MA", "A"),
    ("000", "", "", ""),
]


@pytest.mark.parametrize(("mode", "owner", "group", "other"), MODE_TABLE)
def test_permission_bits_by_class(mode, owner, group, other):
    target = vm(mode)
    assert rights_of(OWNER, target) == owner
    assert rights_of(GROUP_PRIMARY, target) == group
    assert rights_of(GROUP_SECONDARY, target) == group
    assert rights_of(STRANGER, target) == other


def test_owner_in_the_objects_group_gets_group_bits_too():
    owner_in_group = Subject(OWNER_UID, "alice", OBJ_GID, frozenset({OBJ_GID}))
    assert rights_of(owner_in_group, vm("060")) == "UM"
    assert rights_of(owner_in_group, vm("410")) == "UA"


def test_bits_of_another_object_do_not_leak():
    # same owner id but the user is not the owner of this object
    assert rights_of(OWNER, vm("700", uid=99)) == ""
    # member of 104, object in 105
    assert rights_of(GROUP_SECONDARY, vm("070", gid=105)) == ""


def test_bits_never_give_create():
    owned = vm("777", uid=OWNER_UID)
    assert not allowed(OWNER, [], owned, CREATE)
    assert not allowed(OWNER, [], Target.new("VM", 1), CREATE)


@pytest.mark.parametrize(
    "admin",
    [
        Subject(0, "oneadmin", 0, frozenset({0})),
        Subject(0, "oneadmin", 5, frozenset({5})),  # uid 0 whatever its group
        Subject(3, "ops", 0, frozenset({0})),  # group 0 as primary group
        Subject(4, "ops2", 1, frozenset({1, 0})),  # group 0 as a secondary group
    ],
)
def test_oneadmin_and_group_0_always_allowed(admin):
    locked = Target("HOST", 3, 99, 99, Permissions(0, 0, 0), cluster=100)
    for right in (USE, MANAGE, ADMIN, CREATE):
        assert allowed(admin, [], locked, right)
        assert allowed(admin, [], Target.new("IMAGE", 123), right)
        assert allowed(admin, [], Target("ACL", -1, -1, -1, Permissions(0, 0, 0)), right)
        assert allowed(admin, [], locked, right, zone=9)
        authorize(admin, [], locked, right)


def test_group_0_membership_is_by_group_not_by_name():
    # a user named oneadmin outside group 0 is an ordinary user
    fake = Subject(5, "oneadmin", 1, frozenset({1}))
    assert not allowed(fake, [], vm("000"), USE)


# ---- ACL rules add rights -----------------------------------------------------------------


def rules(*texts: str, local_zone: int = 0) -> list[AclRule]:
    return [AclRule.parse(t, local_zone) for t in texts]


def test_individual_rule_grants_beyond_the_bits():
    acl = rules("#10 VM/#12 MANAGE")
    target = vm("000")
    assert allowed(STRANGER, acl, target, MANAGE)
    assert not allowed(STRANGER, acl, target, USE)
    assert not allowed(STRANGER, acl, target, ADMIN)
    assert not allowed(STRANGER, acl, vm("000", oid=13), MANAGE)
    assert not allowed(OWNER, acl, target, MANAGE)


def test_group_rule_through_a_secondary_group():
    acl = rules("@104 VM/* ADMIN")
    target = vm("000", gid=1)
    assert allowed(GROUP_SECONDARY, acl, target, ADMIN)
    assert allowed(GROUP_PRIMARY, acl, target, ADMIN)
    assert not allowed(STRANGER, acl, target, ADMIN)
    assert not allowed(GROUP_SECONDARY, acl, target, USE)


def test_all_users_rule():
    acl = rules("* VM+IMAGE/* USE")
    assert allowed(STRANGER, acl, vm("000"), USE)
    assert allowed(STRANGER, acl, Target("IMAGE", 1, 99, 99, Permissions(0, 0, 0)), USE)
    assert not allowed(STRANGER, acl, Target("HOST", 1, 99, 99, Permissions(0, 0, 0)), USE)


def test_rules_only_add_rights():
    # a rule naming the owner with fewer rights takes nothing away from the bits
    acl = rules("#7 VM/#12 USE")
    assert rights_of(OWNER, vm("700"), acl) == "UMA"


def test_rules_and_bits_combine():
    acl = rules("#10 VM/* ADMIN")
    assert rights_of(STRANGER, vm("604"), acl) == "UA"


def test_cluster_rule_for_hosts():
    acl = rules("@106 HOST/%100 MANAGE")
    deployer = Subject(20, "deployer", 106, frozenset({106}))
    host_in_100 = Target("HOST", 3, 0, 0, Permissions(6, 0, 0), cluster=100)
    host_in_101 = Target("HOST", 4, 0, 0, Permissions(6, 0, 0), cluster=101)
    assert allowed(deployer, acl, host_in_100, MANAGE)
    assert not allowed(deployer, acl, host_in_101, MANAGE)


def test_target_of_reads_the_object_body():
    body = {
        "ID": 3, "UID": 0, "GID": 0, "CLUSTER_ID": 100,
        "PERMISSIONS": Permissions.from_octal("604").to_json(),
    }  # fmt: skip
    target = Target.of("HOST", body)
    assert target == Target("HOST", 3, 0, 0, Permissions(6, 0, 4), 100)
    deployer = Subject(20, "deployer", 106, frozenset({106}))
    assert allowed(deployer, [], target, USE)
    assert not allowed(deployer, [], target, MANAGE)
    assert allowed(deployer, rules("@106 HOST/%100 MANAGE"), target, MANAGE)


# ---- CREATE -------------------------------------------------------------------------------


def test_create_only_through_rules():
    bootstrap = rules("@1 VM+IMAGE+TEMPLATE+DOCUMENT+SECGROUP/* CREATE *", "* ZONE/* USE *")
    in_users = Subject(10, "dave", 1, frozenset({1}))
    elsewhere = Subject(11, "erin", 2, frozenset({2}))
    for kind in ("VM", "IMAGE", "TEMPLATE", "DOCUMENT", "SECGROUP"):
        assert allowed(in_users, bootstrap, Target.new(kind, 1), CREATE), kind
        assert not allowed(elsewhere, bootstrap, Target.new(kind, 2), CREATE), kind
    for kind in ("HOST", "NET", "DATASTORE", "USER", "GROUP", "CLUSTER", "ZONE", "VDC"):
        assert not allowed(in_users, bootstrap, Target.new(kind, 1), CREATE), kind
    assert not allowed(in_users, bootstrap, Target.new("VM", 1), USE)


def test_create_in_a_group_with_a_group_selector():
    acl = rules("@104 IMAGE/@104 CREATE")
    assert allowed(GROUP_SECONDARY, acl, Target.new("IMAGE", 104), CREATE)
    assert not allowed(GROUP_SECONDARY, acl, Target.new("IMAGE", 105), CREATE)


def test_create_needs_the_create_right_not_others():
    acl = rules("#10 VM/* USE+MANAGE+ADMIN")
    assert not allowed(STRANGER, acl, Target.new("VM", 1), CREATE)


# ---- zones --------------------------------------------------------------------------------


def test_rule_for_another_zone_does_not_grant():
    acl = rules("#10 VM/* USE #1")
    assert not allowed(STRANGER, acl, vm("000"), USE, zone=0)
    assert allowed(STRANGER, acl, vm("000"), USE, zone=1)


def test_rule_without_zone_is_for_the_zone_it_was_written_in():
    acl = rules("#10 VM/* USE", local_zone=2)
    assert allowed(STRANGER, acl, vm("000"), USE, zone=2)
    assert not allowed(STRANGER, acl, vm("000"), USE, zone=0)


def test_rule_for_all_zones_grants_everywhere():
    acl = rules("* ZONE/* USE *")
    zone_obj = Target("ZONE", 0, 0, 0, Permissions(0, 0, 0))
    for zone in (0, 1, 100):
        assert allowed(STRANGER, acl, zone_obj, USE, zone=zone)


# ---- authorize ----------------------------------------------------------------------------


def test_authorize_passes_silently_when_allowed():
    assert authorize(OWNER, [], vm("600"), MANAGE) is None


def test_authorization_error_names_user_right_and_object():
    with pytest.raises(AuthorizationError) as err:
        authorize(STRANGER, [], vm("640", oid=12), MANAGE)
    message = str(err.value)
    assert "dave" in message
    assert "[10]" in message
    assert "MANAGE" in message
    assert "VM [12]" in message
    assert err.value.http_status == 403


def test_authorization_error_for_create_names_the_type():
    with pytest.raises(AuthorizationError) as err:
        authorize(STRANGER, [], Target.new("IMAGE", 1), CREATE)
    assert "dave" in str(err.value)
    assert "CREATE IMAGE" in str(err.value)


def test_acl_rules_cannot_be_managed_by_ordinary_users():
    # no rule string can name ACL: even a rule with every type and right gives nothing
    everything = rules(
        "* VM+HOST+NET+IMAGE+USER+TEMPLATE+GROUP+DATASTORE+CLUSTER+DOCUMENT+ZONE+SECGROUP+VDC"
        "/* USE+MANAGE+ADMIN+CREATE *"
    )
    acl_target = Target("ACL", -1, -1, -1, Permissions(0, 0, 0))
    with pytest.raises(AuthorizationError, match="MANAGE ACL"):
        authorize(STRANGER, everything, acl_target, MANAGE)


# ---- passwords ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_password("s3cret pässword")


def test_hash_is_salted(stored):
    again = hash_password("s3cret pässword")
    assert again != stored
    assert verify_password("s3cret pässword", again)


def test_hash_does_not_contain_the_password(stored):
    assert "s3cret" not in stored
    assert stored.startswith("scrypt$")


def test_verify_true_and_false(stored):
    assert verify_password("s3cret pässword", stored) is True
    assert verify_password("s3cret password", stored) is False
    assert verify_password("", stored) is False
    assert verify_password("s3cret pässword ", stored) is False


def test_tampered_hash_does_not_verify(stored):
    algo, n, r, p, salt, digest = stored.split("$")
    other_salt = "A" * len(salt) if salt[0] != "A" else "B" * len(salt)
    assert not verify_password("s3cret pässword", "$".join([algo, n, r, p, other_salt, digest]))


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "x",
        "plain-text-password",
        "$$$$$",
        "scrypt$x$8$1$c2FsdA==$ZGln",
        "scrypt$16384$8$1$!!!$!!!",
        "scrypt$16384$8$1$\u00e9$ZGln",
        "scrypt$3$8$1$c2FsdA==$ZGln",  # n not a power of 2
        "scrypt$16384$0$1$c2FsdA==$ZGln",
        "scrypt$-2$8$1$c2FsdA==$ZGln",
        "scrypt$16384$8$1$c2FsdA==$",  # empty digest
        "scrypt$1048576$8$1$c2FsdA==$ZGln",  # beyond scrypt's memory limit
        "md5$16384$8$1$c2FsdA==$ZGln",
        "scrypt$16384$8$1$c2FsdA==$ZGln$extra",
    ],
)
def test_garbage_hash_is_false_not_an_error(garbage):
    assert verify_password("pw", garbage) is False

"""ACL rule strings: parsing, oned's 64-bit encoding, canonical form, validity, evaluation.

Reference: ha_federation.md section 6. Expected numbers are written from the reference's
constants (selectors UID 0x100000000, GID 0x200000000, ALL 0x400000000, CLUSTER 0x800000000;
one bit per type from VM 0x1000000000 upward, ACL between GROUP and DATASTORE as in oned's
PoolObjectSQL; rights USE 1, MANAGE 2, ADMIN 4, CREATE 8), never taken from the code.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import (
    BOOTSTRAP_RULES,
    AclRule,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput

UID, GID, ALL, CLUSTER = 0x100000000, 0x200000000, 0x400000000, 0x800000000
T = {
    "VM": 0x0000001000000000,
    "HOST": 0x0000002000000000,
    "NET": 0x0000004000000000,
    "IMAGE": 0x0000008000000000,
    "USER": 0x0000010000000000,
    "TEMPLATE": 0x0000020000000000,
    "GROUP": 0x0000040000000000,
    "ACL": 0x0000080000000000,
    "DATASTORE": 0x0000100000000000,
    "CLUSTER": 0x0000200000000000,
    "DOCUMENT": 0x0000400000000000,
    "ZONE": 0x0000800000000000,
    "SECGROUP": 0x0001000000000000,
    "VDC": 0x0002000000000000,
}
# Types a rule string may name, in canonical (bit) order; ACL is not one of them.
TYPES = [name for name in T if name != "ACL"]
R = {"USE": 1, "MANAGE": 2, "ADMIN": 4, "CREATE": 8}

REFERENCE_BOOTSTRAP = (
    "@1 VM+IMAGE+TEMPLATE+DOCUMENT+SECGROUP/* CREATE *",
    "* ZONE/* USE *",
)


def nums(rule: AclRule) -> tuple[int, int, int, int]:
    return (rule.user, rule.resource, rule.rights, rule.zone)


# ---- the reference's rules, encoded ---------------------------------------------------


def test_bootstrap_create_rule_encoding():
    rule = AclRule.parse("@1 VM+IMAGE+TEMPLATE+DOCUMENT+SECGROUP/* CREATE *")
    assert nums(rule) == (0x200000001, 0x1429400000000, 8, 0x400000000)
    assert rule.resource == (
        T["VM"] | T["IMAGE"] | T["TEMPLATE"] | T["DOCUMENT"] | T["SECGROUP"] | ALL
    )
    assert rule.oid is None


def test_bootstrap_zone_rule_encoding():
    rule = AclRule.parse("* ZONE/* USE *")
    assert nums(rule) == (ALL, 0x800400000000, 1, ALL)


def test_cluster_rule_encoding_with_local_zone_0():
    rule = AclRule.parse("@106 HOST/%100 MANAGE")
    assert nums(rule) == (0x20000006A, 0x2800000064, 2, 0x100000000)


def test_group_resource_rule_encoding():
    rule = AclRule.parse("#5 NET+IMAGE+TEMPLATE/@104 USE")
    assert nums(rule) == (0x100000005, 0x2C200000068, 1, UID | 0)
    assert rule.resource == T["NET"] | T["IMAGE"] | T["TEMPLATE"] | GID | 104


def test_all_rights_and_individual_resource():
    rule = AclRule.parse("#7 USER/#3 USE+MANAGE+ADMIN+CREATE #2")
    assert nums(rule) == (UID | 7, T["USER"] | UID | 3, 0xF, UID | 2)


def test_largest_id_is_accepted():
    rule = AclRule.parse("#4294967295 VM/#4294967295 USE #4294967295")
    assert nums(rule) == (0x1FFFFFFFF, T["VM"] | 0x1FFFFFFFF, 1, 0x1FFFFFFFF)


def test_module_bootstrap_rules_are_the_reference_ones():
    assert tuple(BOOTSTRAP_RULES) == REFERENCE_BOOTSTRAP
    for text in BOOTSTRAP_RULES:
        assert str(AclRule.parse(text)) == text


@pytest.mark.parametrize(
    ("numbers", "text"),
    [
        ((0x200000001, 0x1429400000000, 8, 0x400000000),
         "@1 VM+IMAGE+TEMPLATE+DOCUMENT+SECGROUP/* CREATE *"),
        ((0x400000000, 0x800400000000, 1, 0x400000000), "* ZONE/* USE *"),
        ((0x100000005, 0x100800000003, 3, 0x100000002), "#5 DATASTORE/%3 USE+MANAGE #2"),
        ((0x200000000, 0x200000000000 | 0x100000009, 4, 0x100000000), "@0 CLUSTER/#9 ADMIN #0"),
        ((0x400000000, 0x2000000000000 | 0x400000000, 1, 0x400000000), "* VDC/* USE *"),
    ],
)  # fmt: skip
def test_rules_stored_by_oned_read_back(numbers, text):
    """A row of oned's acl table (user, resource, rights, zone) means the same rule here."""
    rule = AclRule(*numbers)
    assert str(rule) == text
    assert nums(AclRule.parse(text)) == numbers


def test_oned_acl_type_bit_reads_as_acl():
    # ACL sits between GROUP and DATASTORE; oned's own rules on it (no string names it)
    rule = AclRule(ALL, T["ACL"] | ALL, 2, ALL)
    assert str(rule) == "* ACL/* MANAGE *"
    assert rule.grants(5, frozenset({1}), "ACL", -1, -1, None, 2, 0)
    assert not rule.grants(5, frozenset({1}), "GROUP", 1, 1, None, 2, 0)
    assert not rule.grants(5, frozenset({1}), "DATASTORE", 1, 1, None, 2, 0)


# ---- forms: case, zone, blanks ----------------------------------------------------------


def test_types_and_rights_are_case_insensitive():
    lower = AclRule.parse("#5 net+image+Template/@104 use+Manage")
    upper = AclRule.parse("#5 NET+IMAGE+TEMPLATE/@104 USE+MANAGE")
    assert lower == upper
    assert str(lower) == "#5 NET+IMAGE+TEMPLATE/@104 USE+MANAGE #0"


def test_three_parts_take_the_local_zone():
    assert AclRule.parse("#5 VM/* USE").zone == UID | 0
    assert AclRule.parse("#5 VM/* USE", local_zone=3).zone == UID | 3
    assert str(AclRule.parse("#5 VM/* USE", local_zone=3)) == "#5 VM/* USE #3"


def test_four_parts_override_the_local_zone():
    assert AclRule.parse("#5 VM/* USE #0", local_zone=3).zone == UID | 0
    assert AclRule.parse("#5 VM/* USE *", local_zone=3).zone == ALL
    assert AclRule.parse("#5 VM/* USE #7", local_zone=3) == AclRule.parse("#5 VM/* USE", 7)


def test_any_blanks_separate_parts():
    assert AclRule.parse("  #5\tVM/*   USE \n #0\n") == AclRule.parse("#5 VM/* USE #0")


def test_order_duplicates_and_leading_zeros_do_not_change_the_rule():
    a = AclRule.parse("#05 TEMPLATE+VM+VM/@007 MANAGE+USE+USE")
    b = AclRule.parse("#5 VM+TEMPLATE/@7 USE+MANAGE")
    assert a == b
    assert a.key() == b.key()
    assert str(a) == "#5 VM+TEMPLATE/@7 USE+MANAGE #0"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("@1 VM+IMAGE+TEMPLATE+DOCUMENT+SECGROUP/* CREATE *",
         "@1 VM+IMAGE+TEMPLATE+DOCUMENT+SECGROUP/* CREATE *"),
        ("* ZONE/* USE *", "* ZONE/* USE *"),
        ("@106 HOST/%100 MANAGE", "@106 HOST/%100 MANAGE #0"),
        ("#5 NET+IMAGE+TEMPLATE/@104 USE", "#5 NET+IMAGE+TEMPLATE/@104 USE #0"),
        ("#5 vdc+zone+group+user/#9 admin *", "#5 USER+GROUP+ZONE+VDC/#9 ADMIN *"),
        ("@2 datastore+net+host/%0 create+use #1", "@2 HOST+NET+DATASTORE/%0 USE+CREATE #1"),
        ("* cluster+secgroup+document/* admin+manage",
         "* CLUSTER+DOCUMENT+SECGROUP/* MANAGE+ADMIN #0"),
    ],
)  # fmt: skip
def test_canonical_string(text, canonical):
    rule = AclRule.parse(text)
    assert str(rule) == canonical
    assert AclRule.parse(str(rule)) == rule
    assert (rule.user_str + " " + rule.resource_str + " " + rule.rights_str + " "
            + rule.zone_str) == canonical  # fmt: skip


# ---- property: every valid rule round-trips and encodes as the reference says -----------

_ids = st.integers(min_value=0, max_value=2**32 - 1)
_SEL_BIT = {"#": UID, "@": GID, "%": CLUSTER}


@st.composite
def valid_rules(draw):
    """(text with random case/order/blanks, expected numbers, canonical string, local zone)."""
    user_kind = draw(st.sampled_from("#@*"))
    user_id = draw(_ids)
    zone_kind = draw(st.sampled_from(["", "#", "*"]))
    zone_id = draw(_ids)
    local = draw(_ids)
    rid_kind = draw(st.sampled_from("#@%*"))
    rid_id = draw(_ids)
    if rid_kind == "%":
        pool = ["HOST", "NET", "DATASTORE"]
    elif rid_kind == "@":
        pool = ["VM", "NET", "IMAGE", "USER", "TEMPLATE", "DATASTORE", "DOCUMENT", "SECGROUP"]
    elif rid_kind == "#" and zone_kind == "*":
        pool = ["USER", "GROUP", "ZONE", "VDC"]
    else:
        pool = TYPES
    types = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=6))
    rights = draw(st.lists(st.sampled_from(list(R)), min_size=1, max_size=5))

    def cased(word):
        return draw(st.sampled_from([str.upper, str.lower, str.title, str.swapcase]))(word)

    def sel(kind, number):
        return "*" if kind == "*" else f"{kind}{number}"

    parts = [
        sel(user_kind, user_id),
        "+".join(cased(t) for t in types) + "/" + sel(rid_kind, rid_id),
        "+".join(cased(r) for r in rights),
    ]
    if zone_kind:
        parts.append(sel(zone_kind, zone_id))
    blanks = st.sampled_from([" ", "  ", "\t", " \t "])
    text = draw(blanks).strip() + "".join(p + draw(blanks) for p in parts)

    user = ALL if user_kind == "*" else _SEL_BIT[user_kind] | user_id
    resource = 0
    for t in types:
        resource |= T[t]
    resource |= ALL if rid_kind == "*" else _SEL_BIT[rid_kind] | rid_id
    rights_num = 0
    for r in rights:
        rights_num |= R[r]
    zone = {"": UID | local, "#": UID | zone_id, "*": ALL}[zone_kind]

    canonical = " ".join([
        sel(user_kind, user_id),
        "+".join(t for t in TYPES if t in types) + "/" + sel(rid_kind, rid_id),
        "+".join(r for r in R if r in rights),
        {"": f"#{local}", "#": f"#{zone_id}", "*": "*"}[zone_kind],
    ])  # fmt: skip
    return text, (user, resource, rights_num, zone), canonical, local


@settings(max_examples=300, deadline=None)
@given(valid_rules())
def test_property_valid_rules_parse_encode_and_round_trip(case):
    text, expected, canonical, local = case
    rule = AclRule.parse(text, local)
    assert nums(rule) == expected
    assert str(rule) == canonical
    assert AclRule.parse(str(rule), local) == rule
    # The canonical string names its zone, so it means the same in every zone.
    assert AclRule.parse(str(rule), local + 1 if local < 2**32 - 1 else 0) == rule


# ---- malformed rules: each rejected, the message naming the offending part --------------


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("", "0 parts"),
        ("#5", "1 parts"),
        ("#5 VM/*", "2 parts"),
        ("#5 VM/* USE #0 extra", "5 parts"),
    ],
)
def test_wrong_part_count(text, named):
    with pytest.raises(InvalidInput, match="expected 3 or 4") as err:
        AclRule.parse(text)
    assert named in str(err.value)


def test_non_string_rule_rejected():
    with pytest.raises(InvalidInput, match="must be a string"):
        AclRule.parse(None)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("#5 FOO/* USE", "'FOO'"),
        ("#5 VM+FOO/* USE", "'FOO'"),
        ("#5 VMS/* USE", "'VMS'"),
        ("#5 ACL/* USE", "'ACL'"),  # only oneadmin manages ACL rules: no rule names ACL
        ("#5 VROUTER/* USE", "'VROUTER'"),  # a later type, not in 4.6
        ("#5 /* USE", "''"),
        ("#5 VM+/* USE", "'VM+'"),
    ],
)
def test_unknown_resource_type(text, named):
    with pytest.raises(InvalidInput, match=r"resource type|has an empty type") as err:
        AclRule.parse(text)
    assert named in str(err.value)


@pytest.mark.parametrize("text", ["#5 VM* USE", "#5 VM/*/ USE", "#5 VM//* USE", "#5 * USE"])
def test_resources_without_one_slash(text):
    with pytest.raises(InvalidInput, match="TYPES/RID") as err:
        AclRule.parse(text)
    assert repr(text.split()[1]) in str(err.value)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("#5 VM/* DELETE", "'DELETE'"),
        ("#5 VM/* USE+OWN", "'OWN'"),
        ("#5 VM/* U", "'U'"),
        ("#5 VM/* 1", "'1'"),
        ("#5 VM/* USE+", "'USE+' has an empty right"),
        ("#5 VM/* +", "'+' has an empty right"),
    ],
)
def test_unknown_or_empty_right(text, named):
    with pytest.raises(InvalidInput, match="ACL right") as err:
        AclRule.parse(text)
    assert named in str(err.value)


@pytest.mark.parametrize("bad", ["1", "#x", "@", "#", "#-1", "%5", "**", "5#", "#1.5", "all"])
def test_bad_user_selector(bad):
    with pytest.raises(InvalidInput, match="ACL user") as err:
        AclRule.parse(f"{bad} VM/* USE")
    assert repr(bad) in str(err.value)


@pytest.mark.parametrize("bad", ["1", "#x", "@", "%", "#-1", "**", "#1,2"])
def test_bad_resource_id_selector(bad):
    with pytest.raises(InvalidInput, match="ACL resource id") as err:
        AclRule.parse(f"#5 HOST/{bad} USE")
    assert repr(bad) in str(err.value)


@pytest.mark.parametrize("bad", ["0", "@0", "%0", "#x", "#-1", "#"])
def test_bad_zone_selector(bad):
    with pytest.raises(InvalidInput, match="ACL zone") as err:
        AclRule.parse(f"#5 VM/* USE {bad}")
    assert repr(bad) in str(err.value)


@pytest.mark.parametrize(
    "text",
    ["#4294967296 VM/* USE", "#5 VM/#4294967296 USE", "#5 VM/* USE #4294967296"],
)
def test_id_beyond_32_bits_rejected(text):
    with pytest.raises(InvalidInput, match=r"4294967296.*out of range"):
        AclRule.parse(text)


# oned's acl.rb accepts only [0-9]: '#\u0661' must not become a rule for user #1.
@pytest.mark.parametrize("text", ["#\u0661 VM/* USE", "#5 VM/#\uff13 USE", "#5 VM/* USE #\u0966"])
def test_non_ascii_digit_ids_rejected(text):
    with pytest.raises(InvalidInput):
        AclRule.parse(text)


@pytest.mark.parametrize(
    "types",
    [
        "VM",
        "IMAGE",
        "TEMPLATE",
        "USER",
        "GROUP",
        "ZONE",
        "CLUSTER",
        "DOCUMENT",
        "SECGROUP",
        "VDC",
        "HOST+VM",
    ],
)
def test_cluster_selector_only_for_host_net_datastore(types):
    with pytest.raises(InvalidInput, match="%<cluster>") as err:
        AclRule.parse(f"@106 {types}/%100 USE")
    offending = [t for t in types.split("+") if t not in ("HOST", "NET", "DATASTORE")]
    for name in offending:
        assert name in str(err.value)


@pytest.mark.parametrize("types", ["HOST", "NET", "DATASTORE", "HOST+NET+DATASTORE"])
def test_cluster_selector_valid_types(types):
    rule = AclRule.parse(f"@106 {types}/%100 USE")
    assert rule.resource & 0xF00000000 == CLUSTER


@pytest.mark.parametrize("types", ["HOST", "GROUP", "CLUSTER", "ZONE", "VDC", "VM+HOST"])
def test_group_selector_not_for_ownerless_types(types):
    with pytest.raises(InvalidInput, match="@<group>") as err:
        AclRule.parse(f"#5 {types}/@1 USE")
    for name in types.split("+"):
        if name != "VM":
            assert name in str(err.value)
    assert "VM" not in str(err.value).split("apply to")[1]


@pytest.mark.parametrize(
    "types", ["VM", "NET", "IMAGE", "TEMPLATE", "DATASTORE", "DOCUMENT", "SECGROUP"]
)
def test_group_selector_valid_types(types):
    rule = AclRule.parse(f"#5 {types}/@1 USE")
    assert rule.resource & 0xF00000000 == GID


@pytest.mark.parametrize("types", ["VM", "HOST", "IMAGE", "DATASTORE", "USER+VM"])
def test_individual_id_with_all_zones_only_for_global_types(types):
    with pytest.raises(InvalidInput, match="zone \\*") as err:
        AclRule.parse(f"#5 {types}/#3 USE *")
    for name in types.split("+"):
        if name != "USER":
            assert name in str(err.value).split("ids of")[1]


@pytest.mark.parametrize("types", ["USER", "GROUP", "ZONE", "VDC", "USER+GROUP+ZONE+VDC"])
def test_individual_id_with_all_zones_valid_types(types):
    assert AclRule.parse(f"#5 {types}/#3 USE *").zone == ALL


def test_individual_id_with_one_zone_is_fine_for_any_type():
    assert AclRule.parse("#5 VM/#3 USE #0").resource == T["VM"] | UID | 3
    assert AclRule.parse("#5 VM/#3 USE").zone == UID | 0


def test_validate_rejects_no_rights_and_no_types():
    with pytest.raises(InvalidInput, match="no right"):
        AclRule(UID | 5, T["VM"] | ALL, 0, UID).validate()
    with pytest.raises(InvalidInput, match="no resource type"):
        AclRule(UID | 5, ALL, 1, UID).validate()
    AclRule(UID | 5, T["VM"] | ALL, 1, UID).validate()  # the same rule with a right is fine


# ---- grants -----------------------------------------------------------------------------


def grants(text, *, uid=7, groups=(1,), resource="VM", oid=12, gid=1, cluster=None,
           right="USE", zone=0, local_zone=0):  # fmt: skip
    return AclRule.parse(text, local_zone).grants(
        uid, frozenset(groups), resource, oid, gid, cluster, R[right], zone
    )


def test_user_selector_individual():
    assert grants("#7 VM/* USE", uid=7)
    assert not grants("#7 VM/* USE", uid=8)


def test_user_selector_group_primary_or_secondary():
    assert grants("@104 VM/* USE", groups=(104,))
    assert grants("@104 VM/* USE", groups=(1, 104))
    assert not grants("@104 VM/* USE", groups=(1, 105))
    # @id is a group id, not the user id
    assert not grants("@7 VM/* USE", uid=7, groups=(1,))


def test_user_selector_all():
    assert grants("* VM/* USE", uid=12345, groups=())


def test_resource_selector_individual():
    assert grants("#7 VM/#12 USE", oid=12)
    assert not grants("#7 VM/#12 USE", oid=13)
    # a new object (oid -1) is never matched by #id
    assert not grants("#7 VM/#12 CREATE", oid=-1, right="CREATE")


def test_resource_selector_group_of_object():
    assert grants("#7 IMAGE/@104 USE", resource="IMAGE", gid=104)
    assert not grants("#7 IMAGE/@104 USE", resource="IMAGE", gid=105)
    # the object's group matters, not the user's
    assert not grants("#7 IMAGE/@104 USE", resource="IMAGE", groups=(104,), gid=1)


def test_resource_selector_cluster():
    rule = "@106 HOST/%100 MANAGE"
    assert grants(rule, groups=(106,), resource="HOST", cluster=100, right="MANAGE")
    assert not grants(rule, groups=(106,), resource="HOST", cluster=101, right="MANAGE")
    assert not grants(rule, groups=(106,), resource="HOST", cluster=None, right="MANAGE")
    assert not grants(rule, groups=(106,), resource="HOST", cluster=-1, right="MANAGE")


def test_resource_selector_all():
    assert grants("#7 VM/* USE", oid=999, gid=555)
    assert grants("#7 VM/* CREATE", oid=-1, gid=555, right="CREATE")


def test_resource_type_must_be_named():
    assert grants("#7 VM+IMAGE/* USE", resource="IMAGE")
    assert not grants("#7 VM+IMAGE/* USE", resource="TEMPLATE")
    assert not grants("#7 VM/* USE", resource="HOST")


@pytest.mark.parametrize(
    ("rights", "granted"),
    [
        ("USE", {"USE"}),
        ("MANAGE", {"MANAGE"}),
        ("ADMIN", {"ADMIN"}),
        ("CREATE", {"CREATE"}),
        ("USE+MANAGE", {"USE", "MANAGE"}),
        ("USE+MANAGE+ADMIN+CREATE", set(R)),
    ],
)
def test_rule_grants_exactly_its_rights(rights, granted):
    for right in R:
        assert grants(f"#7 VM/* {rights}", right=right) == (right in granted), right


def test_zone_matching():
    assert grants("#7 VM/* USE #0", zone=0)
    assert not grants("#7 VM/* USE #0", zone=1)
    assert grants("#7 VM/* USE #1", zone=1)
    assert not grants("#7 VM/* USE #1", zone=0)
    assert grants("#7 VM/* USE *", zone=0)
    assert grants("#7 VM/* USE *", zone=42)
    # an omitted zone is the local zone where the rule was written
    assert grants("#7 VM/* USE", local_zone=3, zone=3)
    assert not grants("#7 VM/* USE", local_zone=3, zone=0)


# ---- refers_to (which rules go when a user or group is deleted) -------------------------


@pytest.mark.parametrize(
    ("text", "kind", "oid", "expected"),
    [
        ("#5 VM/* USE", "user", 5, True),
        ("#5 VM/* USE", "user", 6, False),
        ("* USER/#5 USE", "user", 5, True),
        ("* USER/#6 USE", "user", 5, False),
        ("* VM/#5 USE", "user", 5, False),
        ("@5 VM/* USE", "user", 5, False),
        ("@5 VM/* USE", "group", 5, True),
        ("@5 VM/* USE", "group", 6, False),
        ("#5 VM/* USE", "group", 5, False),
        ("* VM+IMAGE/@5 USE", "group", 5, True),
        ("* GROUP/#5 USE", "group", 5, True),
        ("* VM/#5 USE", "group", 5, False),
        ("* VM/* USE", "group", 5, False),
        ("* VM/* USE", "user", 5, False),
        # a rule for several types keeps meaning something for the others (VM #5 here)
        ("* VM+USER/#5 USE", "user", 5, False),
        ("* VM+GROUP/#5 USE", "group", 5, False),
    ],
)
def test_refers_to(text, kind, oid, expected):
    assert AclRule.parse(text).refers_to(kind, oid) is expected

"""Permission bits: octal modes, umasks, the JSON form objects carry, the ``um-`` display.

Reference: ha_federation.md section 6 (USE=4, MANAGE=2, ADMIN=1 per digit; owner, group,
other; 640 = ``um- u-- ---``, 607 = ``um- --- uma``; DEFAULT_UMASK 177 gives 600).
"""

from __future__ import annotations

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions

# (mode, display, owner, group, other) written out by hand.
MODES = [
    ("640", "um- u-- ---", 6, 4, 0),
    ("607", "um- --- uma", 6, 0, 7),
    ("600", "um- --- ---", 6, 0, 0),
    ("777", "uma uma uma", 7, 7, 7),
    ("000", "--- --- ---", 0, 0, 0),
    ("124", "--a -m- u--", 1, 2, 4),
    ("356", "-ma u-a um-", 3, 5, 6),
]


@pytest.mark.parametrize(("mode", "shown", "owner", "group", "other"), MODES)
def test_octal_mode_parses_to_digits_and_displays(mode, shown, owner, group, other):
    perms = Permissions.from_octal(mode)
    assert (perms.owner, perms.group, perms.other) == (owner, group, other)
    assert str(perms) == shown
    assert perms.octal() == mode


def test_reference_examples():
    assert str(Permissions.from_octal("640")) == "um- u-- ---"
    assert str(Permissions.from_octal("607")) == "um- --- uma"


def test_int_mode_is_read_as_written():
    # YAML `mode: 640` arrives as the int 640 and means chmod 640
    assert Permissions.from_octal(640) == Permissions(6, 4, 0)
    assert Permissions.from_octal(607) == Permissions(6, 0, 7)


def test_surrounding_blanks_are_ignored():
    assert Permissions.from_octal(" 640 ") == Permissions(6, 4, 0)


@pytest.mark.parametrize("bad", ["8", "64", "6400", "abc", "-1", "", "680", "6 4 0", "0o640"])
def test_bad_mode_rejected_naming_the_mode(bad):
    with pytest.raises(InvalidInput) as err:
        Permissions.from_octal(bad)
    message = str(err.value)
    assert repr(bad) in message
    assert "mode" in message
    assert "three octal digits" in message


@pytest.mark.parametrize("bad", [-1, 1000, 8, 680, True])
def test_bad_int_mode_rejected(bad):
    with pytest.raises(InvalidInput, match=repr(bad)):
        Permissions.from_octal(bad)


@pytest.mark.parametrize(
    ("umask", "mode"),
    [
        ("177", "600"),
        ("022", "755"),
        ("000", "777"),
        ("777", "000"),
        ("137", "640"),
        (177, "600"),
    ],
)
def test_umask_gives_777_and_not_umask(umask, mode):
    assert Permissions.from_umask(umask).octal() == mode


def test_default_umask_177_is_owner_use_manage_only():
    assert str(Permissions.from_umask("177")) == "um- --- ---"


@pytest.mark.parametrize("bad", ["8", "77", "1777", "abc", ""])
def test_bad_umask_rejected_naming_the_umask(bad):
    with pytest.raises(InvalidInput) as err:
        Permissions.from_umask(bad)
    assert "umask" in str(err.value)
    assert repr(bad) in str(err.value)


def test_to_json_uses_opennebula_keys_with_string_bits():
    assert Permissions.from_octal("640").to_json() == {
        "OWNER_U": "1", "OWNER_M": "1", "OWNER_A": "0",
        "GROUP_U": "1", "GROUP_M": "0", "GROUP_A": "0",
        "OTHER_U": "0", "OTHER_M": "0", "OTHER_A": "0",
    }  # fmt: skip


def test_from_json_reads_opennebula_document():
    doc = {
        "OWNER_U": "1", "OWNER_M": "1", "OWNER_A": "0",
        "GROUP_U": "0", "GROUP_M": "0", "GROUP_A": "0",
        "OTHER_U": "1", "OTHER_M": "1", "OTHER_A": "1",
    }  # fmt: skip
    assert Permissions.from_json(doc).octal() == "607"


def test_from_json_missing_keys_mean_no_bit():
    assert Permissions.from_json({}) == Permissions(0, 0, 0)
    assert Permissions.from_json({"GROUP_M": "1"}) == Permissions(0, 2, 0)


def test_from_json_only_1_sets_a_bit():
    doc = {"OWNER_U": "0", "OWNER_M": "yes", "OWNER_A": 1, "OTHER_U": "1"}
    assert Permissions.from_json(doc) == Permissions(1, 0, 4)


def test_json_round_trip_every_mode():
    for number in range(0o1000):
        perms = Permissions.from_octal(f"{number:03o}")
        doc = perms.to_json()
        assert len(doc) == 9
        assert set(doc.values()) <= {"0", "1"}
        assert Permissions.from_json(doc) == perms
        assert Permissions.from_octal(perms.octal()) == perms


def test_display_matches_bits_for_every_mode():
    for number in range(0o1000):
        perms = Permissions.from_octal(f"{number:03o}")
        classes = str(perms).split(" ")
        assert len(classes) == 3
        for digit, shown in zip(f"{number:03o}", classes, strict=True):
            digit = int(digit)
            assert shown == (
                ("u" if digit & 4 else "-")
                + ("m" if digit & 2 else "-")
                + ("a" if digit & 1 else "-")
            )


def test_admin_bits():
    assert Permissions.from_octal("640").admin_bits() == 0
    assert Permissions.from_octal("111").admin_bits() == 0b111
    assert Permissions.from_octal("701").admin_bits() == 0b101

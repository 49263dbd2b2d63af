"""oneacl as a user runs it: real subprocesses (SQLite: see support.stores).

Malformed rules must exit 1 with one line ``oneacl create: <message>`` naming the part at
fault, and leave the store exactly as it was.
"""

from __future__ import annotations

import json
import re

import pytest
from support.cli import assert_error, assert_refused, created_id, login_as, run_help
from support.stores import sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance

pytestmark = sqlite_only  # an adapter's tests: see support.stores

BOOTSTRAP = ["@1 VM+IMAGE+TEMPLATE+DOCUMENT+SECGROUP/* CREATE *", "* ZONE/* USE *"]


def rules(cli) -> dict[int, str]:
    return {r["ID"]: r["STRING"] for r in cli.json("oneacl", "list")["ACL_POOL"]["ACL"]}


# ---- create ------------------------------------------------------------------------------
def test_guide_rule_quoted_and_as_words(cli):
    cli("onegroup", "create", "ec2", check=True)  # its CREATE rule is 2
    quoted = created_id(cli("oneacl", "create", "@100 HOST/#1 MANAGE"))
    words = created_id(cli("oneacl", "create", "@100", "NET/#1", "USE"))
    assert (quoted, words) == (3, 4)
    assert rules(cli)[3] == "@100 HOST/#1 MANAGE #0"
    assert rules(cli)[4] == "@100 NET/#1 USE #0"
    # the same rule, as words: it already exists
    assert_error(
        cli("oneacl", "create", "@100", "HOST/#1", "MANAGE"),
        "oneacl",
        "create",
        "ACL rule @100 HOST/#1 MANAGE #0 already exists as rule 3",
    )


def test_rules_are_stored_by_meaning(cli, instance: Instance, subtests):
    """Case, type order and an explicit local zone do not make another rule."""
    assert created_id(cli("oneacl", "create", "@1 net+vm/* use+manage")) == 2
    assert rules(cli)[2] == "@1 VM+NET/* USE+MANAGE #0"
    db = instance.database()
    for text in ("@1 VM+NET/* MANAGE+USE", "@1 NET+VM/* USE+MANAGE #0", "@1 vm+net/* manage+use"):
        with subtests.test(text=text):
            assert_refused(cli, db, ("oneacl", "create", text), "already exists as rule 2")
    # zone * is another rule
    assert created_id(cli("oneacl", "create", "@1 VM+NET/* USE+MANAGE *")) == 3


def test_user_group_cluster_and_all_selectors(cli):
    cli("onegroup", "create", "ec2", check=True)
    cli("oneuser", "create", "alice", "pw", check=True)
    for text in (
        "#1 VM+NET/@100 USE",
        "* HOST/%100 MANAGE",
        "@100 DATASTORE/%0 USE #0",
        "#1 USER+GROUP/#0 USE *",
        "@100 SECGROUP+VDC+ZONE/* ADMIN",
    ):
        created_id(cli("oneacl", "create", text))
    assert list(rules(cli).values())[-5:] == [
        "#1 VM+NET/@100 USE #0",
        "* HOST/%100 MANAGE #0",
        "@100 DATASTORE/%0 USE #0",
        "#1 USER+GROUP/#0 USE *",
        "@100 ZONE+SECGROUP+VDC/* ADMIN #0",
    ]


# ---- list --------------------------------------------------------------------------------
def test_list_prints_a_table(cli):
    cli("onegroup", "create", "ec2", "--resources", "", check=True)
    cli("oneacl", "create", "@100 HOST/#1 MANAGE", check=True)
    cli("oneacl", "create", "#0 VM+NET+DOCUMENT/@100 USE+ADMIN *", check=True)
    lines = cli("oneacl", "list", check=True).stdout.splitlines()
    assert re.fullmatch(r"\s+ID\s+USER RES_VHNIUTGDCOZSv\s+RID OPE_UMAC\s+ZONE", lines[0])
    assert lines[1:] == [
        "   0       @1     V--I-T---O-S-     *     ---c     *",
        "   1        *     ----------Z--     *     u---     *",
        "   2     @100     -H-----------    #1     -m--    #0",
        "   3       #0     V-N------O---  @100     u-a-     *",
    ]


def test_list_json_uses_opennebula_encoding(cli):
    cli("onegroup", "create", "ec2", "--resources", "", check=True)
    cli("oneacl", "create", "@100 HOST/#1 MANAGE", check=True)
    acl = cli.json("oneacl", "list")["ACL_POOL"]["ACL"]
    assert [a["STRING"] for a in acl] == [*BOOTSTRAP, "@100 HOST/#1 MANAGE #0"]
    assert acl[2] == {
        "ID": 2,
        "USER": "200000064",
        "RESOURCE": "2100000001",
        "RIGHTS": "2",
        "ZONE": "100000000",
        "STRING": "@100 HOST/#1 MANAGE #0",
    }
    assert acl[1] == {
        "ID": 1,
        "USER": "400000000",
        "RESOURCE": "800400000000",
        "RIGHTS": "1",
        "ZONE": "400000000",
        "STRING": "* ZONE/* USE *",
    }
    assert json.loads(cli("oneacl", "list", "-j", check=True).stdout)["ACL_POOL"]["ACL"] == acl


# ---- delete ------------------------------------------------------------------------------
def test_delete_by_id_list_and_range(cli):
    for n in range(2, 8):
        assert created_id(cli("oneacl", "create", f"@1 HOST/#{n} USE")) == n
    cli("oneacl", "delete", "3,4", check=True)
    assert sorted(rules(cli)) == [0, 1, 2, 5, 6, 7]
    cli("oneacl", "delete", "5..7", check=True)
    assert sorted(rules(cli)) == [0, 1, 2]
    cli("oneacl", "delete", "1", check=True)
    assert rules(cli) == {0: BOOTSTRAP[0], 2: "@1 HOST/#2 USE #0"}


def test_bad_deletes_are_refused(cli, instance: Instance, subtests):
    db = instance.database()
    for arg, message in (
        ("99", "ACL rule 99 does not exist"),
        ("x", "ACL rule id must be a number, got 'x'"),
        ("3..1", "range '3..1' must be <low id>..<high id>"),
        (",", "no id given"),
    ):
        with subtests.test(arg=arg):
            assert_refused(cli, db, ("oneacl", "delete", arg), message)


# ---- malformed rules ---------------------------------------------------------------------
MALFORMED = [
    # wrong part count
    ("@1 VM/*", "has 2 parts, expected 3 or 4"),
    ("@1 VM/* USE #0 extra", "has 5 parts, expected 3 or 4"),
    ("@1", "has 1 parts, expected 3 or 4"),
    # resources
    ("@1 VM USE", "ACL resources 'VM' must be TYPES/RID"),
    ("@1 VM/*/* USE", "ACL resources 'VM/*/*' must be TYPES/RID"),
    ("@1 FOO/* USE", "ACL resource type 'FOO' is unknown"),
    ("@1 VM+FOO/* USE", "ACL resource type 'FOO' is unknown"),
    ("@1 ACL/* USE", "ACL resource type 'ACL' is unknown"),
    # rights
    ("@1 VM/* FLY", "ACL right 'FLY' is unknown"),
    ("@1 VM/* USE+FLY", "ACL right 'FLY' is unknown"),
    # selectors that do not apply
    ("@1 HOST/@1 USE", "ACL resource id @<group> does not apply to HOST"),
    ("@1 GROUP/@1 USE", "ACL resource id @<group> does not apply to GROUP"),
    ("@1 VM/%1 USE", "ACL resource id %<cluster> only applies to HOST, NET and DATASTORE"),
    ("%1 VM/* USE", "ACL user '%1' is not one of #<id>, @<group id>, *"),
    ("@1 VM/#1 USE *", "ACL resource id #<id> with zone * only applies to USER, GROUP, ZONE"),
    # id syntax
    ("1 VM/* USE", "ACL user '1' is not one of"),
    ("@x VM/* USE", "ACL user '@x' is not one of"),
    ("@-1 VM/* USE", "ACL user '@-1' is not one of"),
    ("@1 VM/#a USE", "ACL resource id '#a' is not one of"),
    ("@1 VM/1 USE", "ACL resource id '1' is not one of"),
    ("@1 VM/* USE 0", "ACL zone '0' is not one of #<id>, *"),
    ("@1 VM/* USE @0", "ACL zone '@0' is not one of #<id>, *"),
    ("#4294967296 VM/* USE", "ACL user '#4294967296': id out of range"),
    # subjects that do not exist
    ("@99 VM/* USE", "ACL rule names group @99, which does not exist"),
    ("#99 VM/* USE", "ACL rule names user #99, which does not exist"),
]


def test_malformed_rules_are_refused(cli, instance: Instance, subtests):
    db = instance.database()
    for text, message in MALFORMED:
        with subtests.test(rule=text):
            line = assert_refused(cli, db, ("oneacl", "create", text), message)
            if "is not one of" in message or "parts" in message:
                assert "USER RESOURCES/RID RIGHTS [ZONE]" in line  # the syntax, as a hint


def test_existing_rule_is_refused(cli, instance: Instance):
    db = instance.database()
    assert_refused(
        cli,
        db,
        ("oneacl", "create", "* ZONE/* USE *"),
        "ACL rule * ZONE/* USE * already exists as rule 1",
    )


# ---- permissions -------------------------------------------------------------------------
def test_only_the_oneadmin_group_manages_rules(cli, instance: Instance, tmp_path, subtests):
    cli("oneuser", "create", "alice", "pw", check=True)
    cli("oneuser", "create", "boss", "pw", check=True)
    alice = login_as(tmp_path, "alice", "pw")
    db = instance.database()
    cli("oneacl", "create", "#1 USER+GROUP/* USE+MANAGE+ADMIN+CREATE", check=True)
    cases = [("list",), ("create", "#1 VM/* USE"), ("delete", "0")]
    for args in cases:
        with subtests.test(args=args):
            assert_refused(
                cli,
                db,
                ("oneacl", *args),
                "user alice [1] is not authorized to perform MANAGE ACL",
                env=alice,
            )
    # a member of the oneadmin group (secondary) may
    cli("oneuser", "addgroup", "boss", "oneadmin", check=True)
    boss = login_as(tmp_path, "boss", "pw")
    assert created_id(cli("oneacl", "create", "#1 VM/* USE", env=boss)) == 3
    assert cli("oneacl", "delete", "3", env=boss).returncode == 0
    assert 3 not in rules(cli)


# ---- help --------------------------------------------------------------------------------
COMMANDS = ["create", "delete", "list"]


def test_help(tmp_path):
    result = run_help(tmp_path, "oneacl", "-h")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: oneacl ")
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\S", result.stdout, re.M), command


@pytest.mark.parametrize("command", COMMANDS)
def test_subcommand_help(command, tmp_path):
    result = run_help(tmp_path, "oneacl", command, "-h")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: oneacl {command} "), result.stdout
    assert result.stderr == ""
    if command == "create":  # the syntax is explained where it is needed
        assert "USER RESOURCES/RID RIGHTS [ZONE]" in " ".join(result.stdout.split())

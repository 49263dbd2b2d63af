"""onegroup as a user runs it: real subprocesses (SQLite: see support.stores).

Refused commands must exit 1 with one line ``onegroup <command>: <message>`` on stderr
naming the problem, and leave the store exactly as it was.
"""

from __future__ import annotations

import re

import pytest
from support.cli import assert_refused, json_of, login_as, run_help
from support.stores import sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance

pytestmark = sqlite_only  # an adapter's tests: see support.stores


def group_names(cli, env: dict | None = None) -> list[str]:
    return [
        g["NAME"] for g in json_of(cli("onegroup", "list", "-j", env=env))["GROUP_POOL"]["GROUP"]
    ]


def acl_strings(cli) -> list[str]:
    return [r["STRING"] for r in cli.json("oneacl", "list")["ACL_POOL"]["ACL"]]


# ---- create ------------------------------------------------------------------------------
def test_create_prints_ids_from_100_and_adds_the_create_rule(cli):
    bootstrap_rules = acl_strings(cli)
    assert cli("onegroup", "create", "ec2", check=True).stdout == "ID: 100\n"
    assert cli("onegroup", "create", "ops", "--resources", "VM", check=True).stdout == "ID: 101\n"
    assert cli("onegroup", "create", "bare", "--resources", "", check=True).stdout == "ID: 102\n"
    assert acl_strings(cli) == [
        *bootstrap_rules,
        "@100 VM+NET+IMAGE+TEMPLATE+DOCUMENT/* CREATE #0",
        "@101 VM/* CREATE #0",
    ]
    assert group_names(cli) == ["oneadmin", "users", "ec2", "ops", "bare"]


def test_the_create_rule_is_stored_in_opennebula_encoding(cli):
    cli("onegroup", "create", "ec2", check=True)
    rules = cli.json("oneacl", "list")["ACL_POOL"]["ACL"]
    rule = next(r for r in rules if r["STRING"].startswith("@100 "))
    # @100 = 0x200000064; VM+NET+IMAGE+TEMPLATE+DOCUMENT/* ; CREATE = 8; zone #0 = 0x100000000
    assert (rule["USER"], rule["RESOURCE"], rule["RIGHTS"], rule["ZONE"]) == (
        "200000064",
        "42D400000000",
        "8",
        "100000000",
    )


# ---- list and show -----------------------------------------------------------------------
def test_list_prints_a_table(cli):
    cli("onegroup", "create", "ec2", check=True)
    cli("oneuser", "create", "a", "pw", "--group", "ec2", check=True)
    cli("oneuser", "create", "b", "pw", "--group", "ec2", check=True)
    lines = cli("onegroup", "list", check=True).stdout.splitlines()
    assert re.fullmatch(r"\s+ID NAME\s+USERS", lines[0]), lines[0]
    assert re.fullmatch(r"\s+0 oneadmin\s+1", lines[1]), lines[1]
    assert re.fullmatch(r"\s+1 users\s+0", lines[2]), lines[2]
    assert re.fullmatch(r"\s+100 ec2\s+2", lines[3]), lines[3]
    assert len(lines) == 4
    header, row = lines[0], lines[3]
    assert header.index("ID") + 2 == row.index("100") + 3  # ids right-aligned
    assert header.index("NAME") == row.index("ec2")
    assert header.index("USERS") + 5 == len(row)  # counts right-aligned


def test_list_and_show_json(cli):
    cli("onegroup", "create", "ec2", check=True)
    cli("oneuser", "create", "a", "pw", "--group", "ec2", check=True)
    pool = cli.json("onegroup", "list")["GROUP_POOL"]["GROUP"]
    assert [(g["ID"], g["NAME"], g["USERS"]) for g in pool] == [
        (0, "oneadmin", [0]),
        (1, "users", []),
        (100, "ec2", [1]),
    ]
    for ref in ("100", "ec2"):
        shown = cli.json("onegroup", "show", ref)["GROUP"]
        assert shown.pop("VM_QUOTA")["VMS_USED"] == 0  # this zone's quota (test_quotas.py)
        assert shown == pool[2]


def test_show_prints_fields_and_users(cli):
    cli("onegroup", "create", "ec2", check=True)
    cli("oneuser", "create", "a", "pw", "--group", "ec2", check=True)
    cli("oneuser", "create", "b", "pw", check=True)
    cli("oneuser", "addgroup", "b", "ec2", check=True)
    out = cli("onegroup", "show", "ec2", check=True).stdout.splitlines()
    assert out[0] == "GROUP 100 INFORMATION"
    assert re.fullmatch(r"ID\s+: 100", out[1]) and re.fullmatch(r"NAME\s+: ec2", out[2])
    assert out[3:8] == ["", "USERS", "ID", "1", "2"]
    assert out[8:] == ["", "VM QUOTA", "VMS    MEMORY  CPU", "0 / -  0K / -  0.00 / -"]


def test_show_defaults_to_your_primary_group(cli, tmp_path):
    assert cli("onegroup", "show", check=True).stdout.startswith("GROUP 0 INFORMATION\n")
    cli("onegroup", "create", "ec2", check=True)
    cli("oneuser", "create", "clouduser", "pw", "--group", "ec2", check=True)
    env = login_as(tmp_path, "clouduser", "pw")
    out = cli("onegroup", "show", env=env, check=True).stdout
    assert out.startswith("GROUP 100 INFORMATION\n")
    assert json_of(cli("onegroup", "show", "-j", env=env))["GROUP"]["NAME"] == "ec2"


# ---- delete ------------------------------------------------------------------------------
def test_delete_by_id_list_range_and_name(cli):
    for name in ("g0", "g1", "g2", "g3", "g4", "g5"):
        cli("onegroup", "create", name, check=True)  # ids 100..105
    cli("onegroup", "delete", "100,101", check=True)
    assert group_names(cli) == ["oneadmin", "users", "g2", "g3", "g4", "g5"]
    cli("onegroup", "delete", "102..103", check=True)
    assert group_names(cli) == ["oneadmin", "users", "g4", "g5"]
    cli("onegroup", "delete", "g4,105", check=True)
    assert group_names(cli) == ["oneadmin", "users"]
    # their CREATE rules went with them
    assert not [s for s in acl_strings(cli) if s.startswith("@10")]


def test_delete_after_moving_users_out(cli):
    cli("onegroup", "create", "ec2", check=True)
    cli("oneuser", "create", "a", "pw", "--group", "ec2", check=True)
    cli("oneuser", "chgrp", "a", "users", check=True)
    cli("onegroup", "delete", "ec2", check=True)
    assert group_names(cli) == ["oneadmin", "users"]
    assert cli.json("oneuser", "show", "a")["USER"]["GROUPS"] == [1]


def test_deleting_system_and_non_empty_groups_is_refused(cli, instance: Instance, subtests):
    cli("onegroup", "create", "ec2", check=True)
    cli("onegroup", "create", "web", check=True)
    cli("oneuser", "create", "alice", "pw", "--group", "ec2", check=True)
    cli("oneuser", "create", "bob", "pw", check=True)
    cli("oneuser", "addgroup", "bob", "web", check=True)
    db = instance.database()
    cases = [
        ("0", "group 0 (oneadmin) is a system group"),
        ("oneadmin", "group 0 (oneadmin) is a system group"),
        ("1", "group 1 (users) is a system group"),
        ("users", "group 1 (users) is a system group"),
        ("ec2", "group ec2 is not empty (users: alice)"),
        ("101", "group web is not empty (users: bob)"),  # a secondary member counts too
        ("999", "group 999 does not exist"),
        ("nogroup", "group named 'nogroup' does not exist"),
        ("5..2", "range '5..2' must be <low id>..<high id>"),
    ]
    for ref, message in cases:
        with subtests.test(ref=ref):
            assert_refused(cli, db, ("onegroup", "delete", ref), message)


# ---- bad input ---------------------------------------------------------------------------
def test_bad_create_and_show_are_refused(cli, instance: Instance, subtests):
    cli("onegroup", "create", "ec2", check=True)
    db = instance.database()
    cases = [
        (("create", "ec2"), "group named 'ec2' already exists"),
        (("create", "users"), "group named 'users' already exists"),
        (("create", "a b"), "group name 'a b' is invalid"),
        (("create", "a:b"), "group name 'a:b' is invalid"),
        (("create", "42"), "group name '42' is invalid: it would read as an ID"),
        (("create", ""), "group name is required"),
        (("create", "ops", "--resources", "VM+FOO"), "ACL resource type 'FOO' is unknown"),
        (("show", "999"), "group 999 does not exist"),
        (("show", "nogroup"), "group named 'nogroup' does not exist"),
    ]
    for args, message in cases:
        with subtests.test(args=args):
            assert_refused(cli, db, ("onegroup", *args), message)


# ---- permissions of a regular user ---------------------------------------------------------
@pytest.fixture
def regular(cli, tmp_path) -> dict[str, str]:
    """clouduser (id 1) in ec2 (100), secondary in web (101); group other (102) unrelated."""
    for name in ("ec2", "web", "other"):
        cli("onegroup", "create", name, check=True)
    cli("oneuser", "create", "clouduser", "pw", "--group", "ec2", check=True)
    return login_as(tmp_path, "clouduser", "pw")


def test_regular_user_sees_only_its_groups(cli, regular):
    assert group_names(cli, regular) == ["ec2"]
    table = cli("onegroup", "list", env=regular, check=True).stdout.splitlines()
    assert len(table) == 2 and re.fullmatch(r"\s+100 ec2\s+1", table[1])
    cli("oneuser", "addgroup", "clouduser", "web", check=True)
    assert group_names(cli, regular) == ["ec2", "web"]
    assert json_of(cli("onegroup", "show", "web", "-j", env=regular))["GROUP"]["ID"] == 101


def test_regular_user_is_refused_group_administration(cli, instance: Instance, regular, subtests):
    db = instance.database()
    cases = [
        (("create", "mine"), "user clouduser [1] is not authorized to perform CREATE GROUP"),
        (("delete", "other"), "not authorized to perform ADMIN GROUP [102]"),
        (("delete", "ec2"), "not authorized to perform ADMIN GROUP [100]"),
        (("show", "other"), "not authorized to perform USE GROUP [102]"),
        (("show", "users"), "not authorized to perform USE GROUP [1]"),
    ]
    for args, message in cases:
        with subtests.test(args=args):
            assert_refused(cli, db, ("onegroup", *args), message, env=regular)


def test_acl_rule_widens_the_groups_a_user_sees(cli, regular):
    rule = cli("oneacl", "create", "#1", "GROUP/*", "USE", check=True).stdout.split()[1]
    assert group_names(cli, regular) == ["oneadmin", "users", "ec2", "web", "other"]
    assert json_of(cli("onegroup", "show", "other", "-j", env=regular))["GROUP"]["ID"] == 102
    cli("oneacl", "delete", rule, check=True)
    # one group by id, for the members of ec2
    cli("oneacl", "create", "@100 GROUP/#102 USE", check=True)
    assert group_names(cli, regular) == ["ec2", "other"]


# ---- help ----------------------------------------------------------------------------------
COMMANDS = ["create", "delete", "list", "show"]


def test_help(tmp_path):
    result = run_help(tmp_path, "onegroup", "-h")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: onegroup ")
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\S", result.stdout, re.M), command


@pytest.mark.parametrize("command", COMMANDS)
def test_subcommand_help(command, tmp_path):
    result = run_help(tmp_path, "onegroup", command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: onegroup {command} "), result.stdout
    assert result.stderr == ""
    if command == "create":
        assert "--resources" in result.stdout and "VM+NET+IMAGE+TEMPLATE+DOCUMENT" in result.stdout

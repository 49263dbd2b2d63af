"""oneuser (and onekit-server's help) as a user runs them: real subprocesses, on SQLite
(see support.stores; test_names_on_every_store.py has what depends on the store).

Every refused command is checked the way a user sees it: exit status 1, one line on stderr
``oneuser <command>: <message>`` naming the problem, nothing on stdout, and the store exactly
as it was (``store_snapshot``).
"""

from __future__ import annotations

import re

import pytest
from conftest import store_snapshot
from support.cli import assert_error, assert_refused, created_id, json_of, login_as, run_help
from support.stores import sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.objects import users

pytestmark = sqlite_only  # an adapter's tests: see support.stores


def user_names(cli, env: dict | None = None) -> list[str]:
    return [u["NAME"] for u in json_of(cli("oneuser", "list", "-j", env=env))["USER_POOL"]["USER"]]


def user(cli, ref: str) -> dict:
    return cli.json("oneuser", "show", ref)["USER"]


def logs_in(cli, env: dict) -> bool:
    result = cli("oneuser", "show", env=env)
    if result.returncode != 0:
        assert "authentication failed" in result.stderr, result.stderr
    return result.returncode == 0


# ---- the guide's session -----------------------------------------------------------------
def test_guide_session(cli):
    """onegroup create ec2 / oneuser create / oneuser chgrp / oneacl create, as in the guide."""
    assert cli("onegroup", "create", "ec2").stdout == "ID: 100\n"
    uid = created_id(cli("oneuser", "create", "clouduser", "my_password"))
    assert cli("oneuser", "chgrp", str(uid), "100", check=True).stdout == ""

    shown = user(cli, "clouduser")
    assert (shown["ID"], shown["GID"], shown["GNAME"], shown["GROUPS"]) == (uid, 100, "ec2", [100])
    assert cli.json("onegroup", "show", "ec2")["GROUP"]["USERS"] == [uid]
    assert uid not in cli.json("onegroup", "show", "users")["GROUP"]["USERS"]

    rule_id = created_id(cli("oneacl", "create", "@100 HOST/#1 MANAGE"))
    word_id = created_id(cli("oneacl", "create", "@100", "NET/#1", "USE"))
    strings = {r["ID"]: r["STRING"] for r in cli.json("oneacl", "list")["ACL_POOL"]["ACL"]}
    assert strings[rule_id] == "@100 HOST/#1 MANAGE #0"
    assert strings[word_id] == "@100 NET/#1 USE #0"


# ---- list and show -----------------------------------------------------------------------
def test_list_prints_a_table(cli):
    cli("onegroup", "create", "ec2", check=True)
    cli("oneuser", "create", "clouduser", "pw", "--group", "ec2", check=True)
    lines = cli("oneuser", "list", check=True).stdout.splitlines()
    assert re.fullmatch(r"\s+ID NAME\s+GROUP\s+AUTH", lines[0]), lines[0]
    assert re.fullmatch(r"\s+0 oneadmin\s+oneadmin\s+core", lines[1]), lines[1]
    assert re.fullmatch(r"\s+1 clouduser\s+ec2\s+core", lines[2]), lines[2]
    assert len(lines) == 3
    header, row = lines[0], lines[2]
    # ids right-aligned under ID, the other columns left-aligned under their headers
    assert header.index("ID") + 2 == row.index("1") + 1
    assert header.index("NAME") == row.index("clouduser")
    assert header.index("GROUP") == row.index("ec2")
    assert header.index("AUTH") == row.index("core")


def test_list_and_show_json(cli):
    cli("oneuser", "create", "alice", "pw", "--driver", "public", check=True)
    pool = cli.json("oneuser", "list")["USER_POOL"]["USER"]
    assert [(u["ID"], u["NAME"], u["GNAME"], u["AUTH_DRIVER"]) for u in pool] == [
        (0, "oneadmin", "oneadmin", "core"),
        (1, "alice", "users", "public"),
    ]
    for key in ("-j", "--json"):
        shown = json_of(cli("oneuser", "show", "alice", key))["USER"]
        assert shown.pop("VM_QUOTA")["VMS"] == -1  # this zone's quota (test_quotas.py)
        assert shown == pool[1]
        assert shown["GROUPS"] == [1] and shown["ENABLED"] == "1"
    # the password (even hashed) is never printed
    for out in (cli("oneuser", "list", "-j").stdout, cli("oneuser", "show", "alice", "-j").stdout):
        assert "PASSWORD" not in out and "scrypt" not in out


def test_show_defaults_to_yourself(cli, tmp_path):
    out = cli("oneuser", "show", check=True).stdout.splitlines()
    assert out[0] == "USER 0 INFORMATION"
    assert re.fullmatch(r"NAME\s+: oneadmin", out[2])

    cli("onegroup", "create", "ec2", check=True)
    cli("onegroup", "create", "web", check=True)
    cli("oneuser", "create", "clouduser", "pw", "-g", "ec2", check=True)
    cli("oneuser", "addgroup", "clouduser", "web", check=True)
    out = cli("oneuser", "show", env=login_as(tmp_path, "clouduser", "pw"), check=True).stdout
    info = out.split("\n\n")[0].splitlines()[1:]  # then the VM QUOTA block
    fields = dict(re.fullmatch(r"(.+?)\s+: ?(.*)", line).groups() for line in info)
    assert out.splitlines()[0] == "USER 1 INFORMATION"
    assert fields == {
        "ID": "1",
        "NAME": "clouduser",
        "GROUP": "ec2",
        "SECONDARY GROUPS": "web",
        "AUTH_DRIVER": "core",
        "ENABLED": "Yes",
    }


# ---- passwords ---------------------------------------------------------------------------
def test_passwd_changes_the_login(cli, tmp_path):
    cli("oneuser", "create", "alice", "old-pw", check=True)
    old, new = login_as(tmp_path, "alice", "old-pw"), login_as(tmp_path, "alice", "new-pw")
    assert logs_in(cli, old) and not logs_in(cli, new)

    # a user re-passwords itself
    cli("oneuser", "passwd", "alice", "new-pw", env=old, check=True)
    assert logs_in(cli, new)
    assert_error(
        cli("oneuser", "list", env=old), "oneuser", "list", "authentication failed for user 'alice'"
    )

    # oneadmin re-passwords a user by id
    cli("oneuser", "passwd", "1", "third-pw", check=True)
    assert not logs_in(cli, new)
    assert logs_in(cli, login_as(tmp_path, "alice", "third-pw"))


def test_passwords_from_stdin(cli, tmp_path):
    uid = created_id(cli("oneuser", "create", "bob", input="stdin-pw\n"))
    assert uid == 1
    assert logs_in(cli, login_as(tmp_path, "bob", "stdin-pw"))
    cli("oneuser", "passwd", "bob", input="piped-pw\n", check=True)
    assert logs_in(cli, login_as(tmp_path, "bob", "piped-pw"))
    assert not logs_in(cli, login_as(tmp_path, "bob", "stdin-pw"))


# ---- groups of a user ----------------------------------------------------------------------
def test_chgrp_addgroup_delgroup(cli):
    for name in ("ec2", "web"):
        cli("onegroup", "create", name, check=True)
    cli("oneuser", "create", "alice", "pw", check=True)
    assert user(cli, "alice")["GROUPS"] == [1]

    cli("oneuser", "addgroup", "alice", "web", check=True)
    assert user(cli, "alice")["GROUPS"] == [1, 101]
    assert cli.json("onegroup", "show", "web")["GROUP"]["USERS"] == [1]

    cli("oneuser", "chgrp", "alice", "ec2", check=True)
    shown = user(cli, "alice")
    assert (shown["GID"], shown["GNAME"], shown["GROUPS"]) == (100, "ec2", [100, 101])
    assert cli.json("onegroup", "show", "users")["GROUP"]["USERS"] == []
    assert cli.json("onegroup", "show", "ec2")["GROUP"]["USERS"] == [1]

    cli("oneuser", "delgroup", "1", "101", check=True)
    assert user(cli, "alice")["GROUPS"] == [100]
    assert cli.json("onegroup", "show", "web")["GROUP"]["USERS"] == []

    # chgrp to the group already primary is a no-op, not an error
    cli("oneuser", "chgrp", "alice", "ec2", check=True)
    assert user(cli, "alice")["GROUPS"] == [100]


def test_membership_refusals(cli, instance: Instance, subtests):
    cli("onegroup", "create", "ec2", check=True)
    cli("onegroup", "create", "web", check=True)
    cli("oneuser", "create", "alice", "pw", "--group", "ec2", check=True)
    cli("oneuser", "addgroup", "alice", "web", check=True)
    db = instance.database()
    cases = [
        (("addgroup", "alice", "web"), "user alice is already in group web"),
        (("addgroup", "alice", "ec2"), "user alice is already in group ec2"),
        (("delgroup", "alice", "ec2"), "group ec2 is the primary group of user alice"),
        (("delgroup", "alice", "users"), "user alice is not in group users"),
    ]
    for args, message in cases:
        with subtests.test(args=args):
            line = assert_refused(cli, db, ("oneuser", *args), message)
            if args[0] == "delgroup" and "primary" in message:
                assert "chgrp" in line  # tells the user what to do instead


# ---- id lists and ranges -------------------------------------------------------------------
def test_id_lists_and_ranges(cli):
    for name in ("u1", "u2", "u3", "u4", "u5", "u6", "u7"):
        cli("oneuser", "create", name, "pw", check=True)
    cli("onegroup", "create", "ec2", check=True)

    cli("oneuser", "delete", "3,4", check=True)
    assert user_names(cli) == ["oneadmin", "u1", "u2", "u5", "u6", "u7"]
    cli("oneuser", "delete", "5..6", check=True)
    assert user_names(cli) == ["oneadmin", "u1", "u2", "u7"]
    cli("oneuser", "chgrp", "1..2,u7", "ec2", check=True)
    assert cli.json("onegroup", "show", "ec2")["GROUP"]["USERS"] == [1, 2, 7]
    cli("oneuser", "delete", "u1,2", check=True)
    assert user_names(cli) == ["oneadmin", "u7"]


def test_bad_id_lists_are_refused(cli, instance: Instance, subtests):
    cli("oneuser", "create", "u1", "pw", check=True)
    db = instance.database()
    for arg, message in (
        ("3..1", "range '3..1' must be <low id>..<high id>"),
        ("a..3", "range 'a..3'"),
        (",", "no id given"),
    ):
        with subtests.test(arg=arg):
            assert_refused(cli, db, ("oneuser", "delete", arg), message)


def test_deleting_a_user_drops_its_memberships_and_rules(cli):
    cli("oneuser", "create", "alice", "pw", check=True)
    cli("oneacl", "create", "#1 VM/* USE", check=True)
    cli("oneacl", "create", "* USER/#1 USE", check=True)
    cli("onegroup", "create", "web", check=True)
    cli("oneuser", "addgroup", "alice", "web", check=True)
    before = [r["STRING"] for r in cli.json("oneacl", "list")["ACL_POOL"]["ACL"]]
    cli("oneuser", "delete", "alice", check=True)
    assert user_names(cli) == ["oneadmin"]
    # it left its groups, primary and secondary
    assert cli.json("onegroup", "show", "users")["GROUP"]["USERS"] == []
    assert cli.json("onegroup", "show", "web")["GROUP"]["USERS"] == []
    after = [r["STRING"] for r in cli.json("oneacl", "list")["ACL_POOL"]["ACL"]]
    assert after == [s for s in before if s not in ("#1 VM/* USE #0", "* USER/#1 USE #0")]
    assert len(after) == len(before) - 2


def test_ids_are_never_reused(cli):
    assert created_id(cli("oneuser", "create", "alice", "pw")) == 1
    cli("oneuser", "delete", "alice", check=True)
    assert created_id(cli("oneuser", "create", "bob", "pw")) == 2
    assert created_id(cli("oneuser", "create", "alice", "pw")) == 3


# ---- permissions of a regular user ---------------------------------------------------------
@pytest.fixture
def regular(cli, tmp_path) -> dict[str, str]:
    """clouduser (id 1, group ec2 = 100) next to other (id 2, group users); its env."""
    cli("onegroup", "create", "ec2", check=True)
    cli("oneuser", "create", "clouduser", "cloud-pw", "--group", "ec2", check=True)
    cli("oneuser", "create", "other", "other-pw", check=True)
    return login_as(tmp_path, "clouduser", "cloud-pw")


def test_regular_user_is_refused_admin_operations(cli, instance: Instance, regular, subtests):
    db = instance.database()
    cases = [
        (
            ("create", "newuser", "pw"),
            "user clouduser [1] is not authorized to perform CREATE USER",
        ),
        (("delete", "other"), "not authorized to perform ADMIN USER [2]"),
        (("delete", "clouduser"), "not authorized to perform ADMIN USER [1]"),
        (("show", "other"), "not authorized to perform USE USER [2]"),
        (("passwd", "other", "stolen"), "not authorized to perform MANAGE USER [2]"),
        (("chgrp", "clouduser", "users"), "not authorized to perform ADMIN USER [1]"),
        (("addgroup", "clouduser", "users"), "not authorized to perform ADMIN USER [1]"),
        (("delete", "oneadmin"), "user 0 (oneadmin) cannot be deleted"),
    ]
    for args, message in cases:
        with subtests.test(args=args):
            assert_refused(cli, db, ("oneuser", *args), message, env=regular)


def test_regular_user_sees_and_repasswords_itself(cli, regular, tmp_path):
    assert user_names(cli, regular) == ["clouduser"]
    table = cli("oneuser", "list", env=regular, check=True).stdout.splitlines()
    assert len(table) == 2 and "clouduser" in table[1]
    assert cli.json("oneuser", "show")["USER"]["NAME"] == "oneadmin"  # oneadmin's own
    shown = cli("oneuser", "show", "clouduser", "-j", env=regular, check=True)
    assert json_of(shown)["USER"]["GNAME"] == "ec2"

    cli("oneuser", "passwd", "clouduser", "fresh-pw", env=regular, check=True)
    assert logs_in(cli, login_as(tmp_path, "clouduser", "fresh-pw"))
    assert not logs_in(cli, regular)


def test_acl_rules_widen_what_a_user_sees(cli, regular):
    assert user_names(cli, regular) == ["clouduser"]

    rule = created_id(cli("oneacl", "create", "#1 USER/* USE"))
    assert user_names(cli, regular) == ["oneadmin", "clouduser", "other"]
    assert json_of(cli("oneuser", "show", "other", "-j", env=regular))["USER"]["ID"] == 2
    cli("oneacl", "delete", str(rule), check=True)
    assert user_names(cli, regular) == ["clouduser"]

    # a group rule: members of ec2 may use the users of group users (1) - not oneadmin's
    cli("oneacl", "create", "@100", "USER/@1", "USE", check=True)
    assert user_names(cli, regular) == ["clouduser", "other"]
    assert cli("oneuser", "show", "oneadmin", env=regular).returncode == 1
    # USE is not MANAGE: still no passwd on the others
    assert_error(
        cli("oneuser", "passwd", "other", "x", env=regular),
        "oneuser",
        "passwd",
        "not authorized to perform MANAGE USER [2]",
    )


def test_acl_rule_delegates_user_creation(cli, instance: Instance, regular):
    db = instance.database()
    assert_refused(cli, db, ("oneuser", "create", "dave", "pw"), "CREATE USER", env=regular)
    cli("oneacl", "create", "#1 USER/@1 CREATE", check=True)
    dave = created_id(cli("oneuser", "create", "dave", "pw", env=regular))
    assert user(cli, "dave")["GNAME"] == "users"
    # only into group users (1), not into ec2
    assert_refused(
        cli,
        db,
        ("oneuser", "create", "erin", "pw", "--group", "ec2"),
        "user clouduser [1] is not authorized to perform CREATE USER",
        env=regular,
    )
    # creating is not owning: dave is not clouduser's to delete
    assert_refused(
        cli,
        db,
        ("oneuser", "delete", "dave"),
        f"not authorized to perform ADMIN USER [{dave}]",
        env=regular,
    )


# ---- bad input ---------------------------------------------------------------------------
def test_unknown_users_and_groups_are_refused(cli, instance: Instance, subtests):
    cli("oneuser", "create", "alice", "pw", check=True)
    db = instance.database()
    cases = [
        (("show", "99"), "user 99 does not exist"),
        (("show", "nobody"), "user named 'nobody' does not exist"),
        (("delete", "99"), "user 99 does not exist"),
        (("delete", "nobody"), "user named 'nobody' does not exist"),
        (("passwd", "nobody", "pw"), "user named 'nobody' does not exist"),
        (("chgrp", "99", "users"), "user 99 does not exist"),
        (("chgrp", "alice", "999"), "group 999 does not exist"),
        (("chgrp", "alice", "nogroup"), "group named 'nogroup' does not exist"),
        (("addgroup", "alice", "nogroup"), "group named 'nogroup' does not exist"),
        (("delgroup", "alice", "999"), "group 999 does not exist"),
        (("create", "bob", "pw", "--group", "nogroup"), "group named 'nogroup' does not exist"),
        (("create", "bob", "pw", "--group", "999"), "group 999 does not exist"),
    ]
    for args, message in cases:
        with subtests.test(args=args):
            assert_refused(cli, db, ("oneuser", *args), message)


def test_bad_names_and_passwords_are_refused(cli, instance: Instance, subtests):
    cli("oneuser", "create", "alice", "pw", check=True)
    db = instance.database()
    cases = [
        (("create", "alice", "pw2"), None, "user named 'alice' already exists"),
        (("create", "oneadmin", "pw2"), None, "user named 'oneadmin' already exists"),
        (("create", "a b", "pw"), None, "user name 'a b' is invalid"),
        (("create", "a:b", "pw"), None, "user name 'a:b' is invalid"),
        (("create", "123", "pw"), None, "user name '123' is invalid: it would read as an ID"),
        (("create", "", "pw"), None, "user name is required"),
        (("create", "bob", ""), None, "password is required"),
        (("create", "bob"), "", "password is required"),
        (("create", "bob"), "\n", "password is required"),
        (("create", "bob", "two words"), None, "password is invalid"),
        (("passwd", "alice", ""), None, "password is required"),
        (("passwd", "alice"), "\n", "password is required"),
    ]
    for args, stdin, message in cases:
        with subtests.test(args=args, stdin=stdin):
            assert_refused(cli, db, ("oneuser", *args), message, input=stdin)


def test_oneadmin_cannot_be_deleted(cli, instance: Instance, subtests):
    db = instance.database()
    for ref in ("0", "oneadmin"):
        with subtests.test(ref=ref):
            assert_refused(
                cli, db, ("oneuser", "delete", ref), "user 0 (oneadmin) cannot be deleted"
            )
    assert user_names(cli) == ["oneadmin"]


def test_bad_credentials_are_refused(cli, instance: Instance, tmp_path, subtests):
    cli("oneuser", "create", "alice", "pw", check=True)
    db = instance.database()
    malformed = tmp_path / "malformed"
    malformed.write_text("no-colon-here\n")
    empty = tmp_path / "empty"
    empty.write_text("")
    no_password = tmp_path / "no_password"
    no_password.write_text("alice:\n")
    cases = [
        (login_as(tmp_path, "oneadmin", "wrong"), "authentication failed for user 'oneadmin'"),
        (login_as(tmp_path, "alice", "wrong"), "authentication failed for user 'alice'"),
        (login_as(tmp_path, "nobody", "pw"), "authentication failed for user 'nobody'"),
        ({"ONE_AUTH": str(tmp_path / "missing")}, f"cannot read {tmp_path / 'missing'}"),
        ({"ONE_AUTH": str(malformed)}, f"{malformed} must hold one line user:password"),
        ({"ONE_AUTH": str(empty)}, f"{empty} must hold one line user:password"),
        ({"ONE_AUTH": str(no_password)}, f"{no_password} must hold one line user:password"),
    ]
    for env, message in cases:
        for args in (("list",), ("create", "mallory", "pw")):
            with subtests.test(env=env, args=args):
                assert_refused(cli, db, ("oneuser", *args), message, env=env)
    # the one message does not tell a wrong password from an unknown user
    wrong = cli("oneuser", "list", env=login_as(tmp_path, "alice", "wrong")).stderr
    unknown = cli("oneuser", "list", env=login_as(tmp_path, "nobody", "pw")).stderr
    assert wrong.replace("alice", "X") == unknown.replace("nobody", "X")


def test_store_of_another_schema_version_is_refused(cli, instance: Instance, subtests):
    db = instance.database()
    with db.transaction() as tx:
        tx.execute("UPDATE db_versioning SET version = '99' WHERE oid = 0")
    for args in (
        ("oneuser", "list"),
        ("oneuser", "create", "zed", "pw"),
        ("onegroup", "list"),
        ("onegroup", "create", "zed"),
        ("oneacl", "list"),
        ("oneacl", "create", "@1 VM/* USE"),
    ):
        with subtests.test(args=args):
            assert_refused(cli, db, args, "shared schema version 99, this onekit needs version 1")
    with db.transaction() as tx:
        tx.execute("UPDATE db_versioning SET version = '1' WHERE oid = 0")
        tx.execute("UPDATE local_db_versioning SET version = '7' WHERE oid = 0")
    assert_refused(cli, db, ("oneuser", "create", "zed", "pw"), "local schema version 7")


def test_missing_instance_is_refused(cli, instance: Instance, tmp_path):
    """ONEKIT_HOME at an empty directory, credentials given: the error names the instance."""
    empty = tmp_path / "empty-home"
    empty.mkdir()
    auth = tmp_path / "admin_auth"
    auth.write_text(instance.auth_path.read_text())
    db = instance.database()
    before = store_snapshot(db)
    for args in (
        ("oneuser", "list"),
        ("oneuser", "create", "zed", "pw"),
        ("onegroup", "list"),
        ("oneacl", "list"),
    ):
        result = cli(*args, env={"ONEKIT_HOME": str(empty), "ONE_AUTH": str(auth)})
        assert_error(
            result, args[0], args[1], f"no onekit instance at {empty}", "onekit-server init"
        )
    assert list(empty.iterdir()) == []  # nothing created there
    assert store_snapshot(db) == before


def test_missing_instance_without_one_auth_names_the_instance(cli, tmp_path):
    empty = tmp_path / "empty-home"
    empty.mkdir()
    result = cli("oneuser", "list", env={"ONEKIT_HOME": str(empty)})
    assert_error(result, "oneuser", "list", f"no onekit instance at {empty}", "onekit-server init")


# ---- help ----------------------------------------------------------------------------------
HELP = {
    "oneuser": [
        "create",
        "delete",
        "passwd",
        "update",
        "chgrp",
        "addgroup",
        "delgroup",
        "list",
        "show",
    ],
    "onekit-server": ["init", "run", "start", "stop", "status"],
}


@pytest.mark.parametrize("prog", sorted(HELP))
def test_cli_help(prog, tmp_path):
    for flag in ("-h", "--help"):
        result = run_help(tmp_path, prog, flag)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"usage: {prog} "), result.stdout
        for command in HELP[prog]:
            assert re.search(rf"^\s+{command}\s+\S", result.stdout, re.M), command
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("prog", "command"), [(p, c) for p, commands in sorted(HELP.items()) for c in commands]
)
def test_subcommand_help(prog, command, tmp_path):
    result = run_help(tmp_path, prog, command, "-h")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {prog} {command} "), result.stdout
    assert "-h, --help" in result.stdout
    assert result.stderr == ""


def test_usage_errors_exit_2(cli):
    for args, message in (
        (("oneuser",), "the following arguments are required"),
        (("oneuser", "bogus"), "invalid choice: 'bogus'"),
        (("oneuser", "create"), "the following arguments are required: name"),
        (("oneuser", "create", "x", "pw", "--driver", "foo"), "invalid choice: 'foo'"),
    ):
        result = cli(*args)
        assert result.returncode == 2, args
        assert result.stderr.startswith("usage: oneuser"), result.stderr
        assert message in result.stderr.splitlines()[-1]


def test_a_bad_id_in_a_list_is_reported_and_the_others_still_run(cli, admin):
    """As OpenNebula's CLI: each id is its own transaction; failures are listed, exit 1."""
    for name in ("u1", "u2", "u3"):
        cli("oneuser", "create", name, "pw", check=True)
    result = cli("oneuser", "delete", "u1,nosuch,u3,99")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "oneuser delete: user named 'nosuch' does not exist",
        "oneuser delete: user 99 does not exist",
    ]
    assert [u["NAME"] for u in users.list_users(admin)] == ["oneadmin", "u2"]


def test_a_huge_id_range_is_refused_before_anything_runs(cli, instance):
    db = instance.database()
    assert_refused(cli, db, ("oneuser", "delete", "1..4000000000"), "spans more than 10000 ids")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("oneuser", "show", "99999999999999999999999"), "user 99999999999999999999999 does"),
        (("oneuser", "delete", str(2**63)), f"user {2**63} does not exist"),
        (("onegroup", "show", str(2**63)), f"group {2**63} does not exist"),
        (("oneuser", "create", "e\u200bve", "pw"), "no spaces, control or invisible"),
        (("oneuser", "create", "bell\x7f", "pw"), "no spaces, control or invisible"),
        (("oneuser", "create", "x" * 200, "pw"), "longer than 128 characters"),
    ],
)
def test_odd_ids_and_names_get_one_line_errors(cli, instance, args, needle):
    assert_refused(cli, instance.database(), args, needle)


def test_unreadable_files_get_one_line_errors(cli, instance, tmp_path):
    db = instance.database()
    latin1 = tmp_path / "one_auth.latin1"
    latin1.write_bytes(b"oneadmin:caf\xe9")
    assert_refused(cli, db, ("oneuser", "list"), "not UTF-8", env={"ONE_AUTH": str(latin1)})
    huge = tmp_path / "one_auth.huge"
    huge.write_text("u" * 100_000 + ":pw")
    line = assert_refused(
        cli, db, ("oneuser", "list"), "authentication failed", env={"ONE_AUTH": str(huge)}
    )
    assert len(line) < 200
    conf = instance.config_path
    original = conf.read_bytes()
    conf.write_bytes(original + b"# caf\xe9\n")
    try:
        assert_error(cli("oneuser", "list"), "oneuser", "list", f"cannot read {conf}")
    finally:
        conf.write_bytes(original)

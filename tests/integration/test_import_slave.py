"""onedb import-slave: a standalone instance joins a federation master as a zone.

Two real instances per test (the ``instance`` fixture is the master; ``slave`` is another
instance on the same backend: its own SQLite file, or its own database on the session's
MariaDB), filled through the real operations, then ``onedb import-slave`` run as a user
runs it (a subprocess; flags, or answers on stdin). Checked afterwards: the master's users,
groups, memberships and ACL rules, the slave's objects' owners, the log, and that refused
or failed imports leave both stores exactly as they were.
"""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Cli, store_snapshot
from support.cli import assert_error, run_help
from support.mariadb import PASSWORD, USER
from support.ports import free_port

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import AclRule
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import acl_rules
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Database
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthenticationError,
    Conflict,
    StoreError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.federation import import_slave
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import (
    Instance,
    mysql_config,
)
from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import GateConfig
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls, groups, users, zones
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates

ZONE = 100
PROG, COMMAND = "onedb", "import-slave"


# ---- the two instances -------------------------------------------------------------------
@pytest.fixture
def slave(tmp_path: Path, backend: str, request: pytest.FixtureRequest):
    base = InstanceConfig(port=free_port())
    name = None
    if backend == "sqlite":
        config = base
    else:
        server = request.getfixturevalue("mariadb")
        name = f"s_{uuid.uuid4().hex[:12]}"
        config = mysql_config("127.0.0.1", server.port, USER, PASSWORD, name, base)
    inst = Instance(tmp_path / "slave")
    inst.init(config, flow=FlowConfig(port=free_port()), onegate=GateConfig(port=free_port()))
    yield inst
    if name is not None:
        request.getfixturevalue("mariadb").execute(f"DROP DATABASE IF EXISTS {name}")


@dataclass
class World:
    """What the scenario made: the stores, and the slave's ids to look for afterwards."""

    master: Instance
    slave: Instance
    master_db: Database
    slave_db: Database
    vm_id: int
    template_id: int


def set_user_template(db: Database, name: str, tpl: dict) -> None:
    """Give a user template attributes (what ``oneuser update`` would do)."""
    with db.transaction() as tx:
        body = pool.find_by_name(tx, schema.USERS, name, lock=True)
        body["TEMPLATE"] = tpl
        pool.update(tx, schema.USERS, body)


def build(master: Instance, slave: Instance, master_extra_users: tuple[str, ...] = ()) -> World:
    """Master: zone 100 for the slave, group dev (100), alice (1, in dev), bob (2).
    Slave: groups dev (100) and qa (101); carol (1, qa), alice (2, qa + dev), dave (3);
    rules naming qa and alice, and a stale one naming a user that no longer exists;
    a template and a VM of alice's."""
    m, s = master.session(), slave.session()
    try:
        zones.create(m, {"NAME": "slave-a", "ENDPOINT": "http://127.0.0.1:2634"})
        groups.create(m, "dev")
        users.create(m, "alice", "master-pw", group="dev")
        users.create(m, "bob", "master-pw")
        for name in master_extra_users:
            users.create(m, name, "master-pw")
        set_user_template(m.db, "alice", {"SSH_KEY": "master-key"})

        assert groups.create(s, "dev")["ID"] == 100
        assert groups.create(s, "qa")["ID"] == 101
        assert users.create(s, "carol", "slave-pw", group="qa")["ID"] == 1
        assert users.create(s, "alice", "slave-pw", group="qa")["ID"] == 2
        users.addgroup(s, "alice", "dev")
        assert users.create(s, "dave", "slave-pw")["ID"] == 3
        set_user_template(s.db, "alice", {"SSH_KEY": "slave-key", "LOCATION": "lab"})
        acls.create(s, "@101 HOST/* MANAGE")  # names a slave group
        acls.create(s, "#2 NET+IMAGE/* USE")  # names a slave user
        acls.create(s, "#3 USER+GROUP/#2 USE *")  # a user id and a group id at once
        with s.db.transaction() as tx:  # a rule left behind by a user deleted long ago
            acls.insert_rule(tx, AclRule.parse("#9 IMAGE/* USE"))
        users.set_quota(s, "alice", "VM = [ VMS = 7 ]")  # the slave zone's quotas
        groups.set_quota(s, "qa", "VM = [ MEMORY = 4096 ]")

        alice = slave.session("alice", "slave-pw")
        tpl = templates.create(alice, 'NAME = "web"\nCPU = 1\nMEMORY = 64')
        vm = templates.instantiate(alice, tpl["ID"])[0]
        alice.db.close()
        return World(master, slave, m.db, s.db, vm["ID"], tpl["ID"])
    finally:
        s.db.close()


def run_onedb(world: World, *args: str, input: str | None = None, home: Path | None = None):
    """``onedb import-slave`` with ONEKIT_HOME at the slave, the master by --master-home."""
    cli = Cli(world.slave)
    master = (
        ()
        if any(a.startswith("--master-") for a in args)
        else (
            "--master-home",
            str(world.master.home),
        )
    )
    extra = ("--home", str(home)) if home else ()
    return cli(PROG, COMMAND, *master, *extra, *args, input=input)


def flags(merge_users: bool, merge_groups: bool, *more: str) -> tuple[str, ...]:
    return (
        "--zone-id",
        str(ZONE),
        "--merge-users" if merge_users else "--no-merge-users",
        "--merge-groups" if merge_groups else "--no-merge-groups",
        "--yes",
        *more,
    )


# ---- reading the stores back -------------------------------------------------------------
def bodies(db: Database, spec: schema.PoolSpec) -> dict[str, dict]:
    with db.snapshot() as tx:
        return {b["NAME"]: b for b in pool.all_bodies(tx, spec)}


def rule_strings(db: Database) -> list[str]:
    with db.snapshot() as tx:
        return [str(r) for r in acl_rules(tx)]


def vm_row(db: Database, vm_id: int) -> tuple[dict, tuple]:
    with db.snapshot() as tx:
        body = pool.get(tx, schema.VMS, vm_id)
        columns = tx.row("SELECT uid, gid FROM vm_pool WHERE oid = ?", (vm_id,))
    return body, tuple(columns)


def assert_memberships_consistent(db: Database) -> None:
    user_pool, group_pool = bodies(db, schema.USERS), bodies(db, schema.GROUPS)
    by_uid = {u["ID"]: u for u in user_pool.values()}
    by_gid = {g["ID"]: g for g in group_pool.values()}
    for user in user_pool.values():
        assert user["GID"] in user["GROUPS"], user
        assert user["GNAME"] == by_gid[user["GID"]]["NAME"], user
        for gid in user["GROUPS"]:
            assert user["ID"] in by_gid[gid]["USERS"], (user["NAME"], gid)
    for group in group_pool.values():
        for uid in group["USERS"]:
            assert group["ID"] in by_uid[uid]["GROUPS"], (group["NAME"], uid)


def logs_in(instance: Instance, name: str, password: str) -> bool:
    try:
        instance.session(name, password).db.close()
    except AuthenticationError:
        return False
    return True


def log_lines(world: World) -> list[str]:
    return (world.slave.var / "onedb-import.log").read_text().splitlines()


def snapshots(world: World) -> tuple[dict, dict]:
    return store_snapshot(world.master_db), store_snapshot(world.slave_db)


# ---- merge -------------------------------------------------------------------------------
def test_import_with_merge(instance: Instance, slave: Instance):
    world = build(instance, slave)
    result = run_onedb(world, *flags(True, True))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"into the federation as zone {ZONE} 'slave-a'" in out
    assert "users:     2 merged, 2 new (0 renamed)" in out
    assert "groups:    3 merged, 1 new (0 renamed)" in out
    assert str(slave.var / "onedb-import.log") in out

    master_users = bodies(world.master_db, schema.USERS)
    master_groups = bodies(world.master_db, schema.GROUPS)
    assert sorted((u["ID"], n) for n, u in master_users.items()) == [
        (0, "oneadmin"),
        (1, "alice"),
        (2, "bob"),
        (3, "carol"),
        (4, "dave"),
    ]
    assert sorted((g["ID"], n) for n, g in master_groups.items()) == [
        (0, "oneadmin"),
        (1, "users"),
        (100, "dev"),
        (101, "qa"),
    ]
    # alice merged: the master's primary group, password and SSH_KEY win; qa is added as a
    # secondary group; the slave's LOCATION is added
    alice = master_users["alice"]
    assert (alice["GID"], alice["GNAME"], alice["GROUPS"]) == (100, "dev", [100, 101])
    assert alice["TEMPLATE"] == {"SSH_KEY": "master-key", "LOCATION": "lab"}
    assert logs_in(instance, "alice", "master-pw")
    assert not logs_in(instance, "alice", "slave-pw")
    carol = master_users["carol"]
    assert (carol["GID"], carol["GNAME"], carol["GROUPS"]) == (101, "qa", [101])
    assert logs_in(instance, "carol", "slave-pw")  # a new user keeps its password
    assert sorted(master_groups["qa"]["USERS"]) == [1, 3]
    assert sorted(master_groups["dev"]["USERS"]) == [1]
    assert sorted(master_groups["users"]["USERS"]) == [2, 4]
    assert_memberships_consistent(world.master_db)

    rules = rule_strings(world.master_db)
    assert rules.count("@1 VM+IMAGE+TEMPLATE+DOCUMENT+SECGROUP/* CREATE *") == 1  # deduplicated
    assert rules.count("* ZONE/* USE *") == 1
    assert f"@101 HOST/* MANAGE #{ZONE}" in rules
    assert f"#1 NET+IMAGE/* USE #{ZONE}" in rules
    # USER/#2 is alice (1 on the master), GROUP/#2 a group the slave never had
    assert "#4 USER/#1 USE *" in rules
    assert not any(r.startswith("#9 ") for r in rules)

    # the VM and template of the slave's alice are the master alice's, in group qa
    vm, columns = vm_row(world.slave_db, world.vm_id)
    assert (vm["UID"], vm["UNAME"], vm["GID"], vm["GNAME"]) == (1, "alice", 101, "qa")
    assert columns == (1, 101)
    with world.slave_db.snapshot() as tx:
        tpl = pool.get(tx, schema.TEMPLATES, world.template_id)
    assert (tpl["UID"], tpl["GID"]) == (1, 101)

    lines = log_lines(world)
    for expected in (
        "user 0 'oneadmin' -> 0 'oneadmin' (merged)",
        "user 2 'alice' -> 1 'alice' (merged)",
        "user 1 'carol' -> 3 'carol'",
        "user 3 'dave' -> 4 'dave'",
        "group 100 'dev' -> 100 'dev' (merged)",
        "group 101 'qa' -> 101 'qa'",
    ):
        assert expected in lines
    assert any(
        line.startswith("acl rule ")
        and line.endswith("'#9 IMAGE/* USE #0' dropped: unknown user 9")
        for line in lines
    ), lines
    assert any("'#3 USER+GROUP/#2 USE *'" in line and "unknown group 2" in line for line in lines)
    assert f"VM {world.vm_id} {vm['NAME']!r}: owner 2 'alice' -> 1 'alice'" in lines
    # the slave's quotas follow their users' new ids, and stay in the slave's table
    assert "VM quota of user 2 'alice' -> 1" in lines
    s = world.slave.session("alice", "master-pw")
    try:
        assert users.quota(s, "alice")["VM"]["VMS"] == 7
        assert groups.quota(s, "qa")["VM"]["MEMORY"] == 4096
    finally:
        s.db.close()
    with world.master_db.snapshot() as tx:
        assert tx.rows("SELECT * FROM user_quotas") == []  # never the master's


# ---- no merge: new ids, renamed names ----------------------------------------------------
def test_import_without_merge_renames(instance: Instance, slave: Instance):
    world = build(instance, slave, master_extra_users=("alice-1",))  # alice-1 is taken: alice-2
    result = run_onedb(world, *flags(False, False))
    assert result.returncode == 0, result.stderr
    assert "users:     1 merged, 3 new (1 renamed)" in result.stdout
    assert "groups:    2 merged, 2 new (1 renamed)" in result.stdout

    master_users = bodies(world.master_db, schema.USERS)
    master_groups = bodies(world.master_db, schema.GROUPS)
    # master: oneadmin 0, alice 1, bob 2, alice-1 3; then the slave's in id order
    assert {n: u["ID"] for n, u in master_users.items()} == {
        "oneadmin": 0,
        "alice": 1,
        "bob": 2,
        "alice-1": 3,
        "carol": 4,
        "alice-2": 5,
        "dave": 6,
    }
    assert {n: g["ID"] for n, g in master_groups.items()} == {
        "oneadmin": 0,
        "users": 1,
        "dev": 100,
        "dev-1": 101,
        "qa": 102,
    }
    alice2 = master_users["alice-2"]
    assert (alice2["GID"], alice2["GNAME"], alice2["GROUPS"]) == (102, "qa", [102, 101])
    assert alice2["TEMPLATE"] == {"SSH_KEY": "slave-key", "LOCATION": "lab"}
    assert logs_in(instance, "alice-2", "slave-pw")
    assert master_users["alice"]["GROUPS"] == [100]  # the master's alice is untouched
    assert master_groups["dev"]["USERS"] == [1]
    assert master_groups["dev-1"]["USERS"] == [5]
    assert_memberships_consistent(world.master_db)

    rules = rule_strings(world.master_db)
    assert f"@102 HOST/* MANAGE #{ZONE}" in rules
    assert f"#5 NET+IMAGE/* USE #{ZONE}" in rules
    assert f"@101 VM+NET+IMAGE+TEMPLATE+DOCUMENT/* CREATE #{ZONE}" in rules  # dev-1's

    vm, columns = vm_row(world.slave_db, world.vm_id)
    assert (vm["UID"], vm["UNAME"], vm["GID"], vm["GNAME"]) == (5, "alice-2", 102, "qa")
    assert columns == (5, 102)

    lines = log_lines(world)
    assert "user 2 'alice' -> 5 'alice-2' (renamed)" in lines
    assert "group 100 'dev' -> 101 'dev-1' (renamed)" in lines
    assert "group 101 'qa' -> 102 'qa'" in lines

    # the slave's shared rows are now the master's: its objects' owners exist there
    assert bodies(world.slave_db, schema.USERS) == master_users
    assert rule_strings(world.slave_db) == rules
    assert logs_in(slave, "alice-2", "slave-pw")
    # and it cannot be imported twice
    again = run_onedb(world, *flags(False, False))
    assert_error(again, PROG, COMMAND, "already imported into a federation")


# ---- interactive -------------------------------------------------------------------------
def test_interactive_answers_on_stdin(instance: Instance, slave: Instance):
    world = build(instance, slave)
    result = run_onedb(world, input=f"abc\n{ZONE}\nmaybe\ny\nn\ny\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("Zone ID: ") == 2  # "abc" is asked again
    assert f"The slave will be imported as zone {ZONE} 'slave-a'." in out
    assert out.count("Do you want to merge USERS (Y/N): ") == 2
    assert "Do you want to merge GROUPS (Y/N): " in out
    assert "user 2 'alice' -> 1 'alice' (merged)" in out  # the plan, before confirmation
    assert f"Import the slave {slave.home} into zone {ZONE}? (Y/N): " in out
    assert "users:     2 merged, 2 new (0 renamed)" in out
    assert "groups:    2 merged, 2 new (1 renamed)" in out
    assert "dev-1" in bodies(world.master_db, schema.GROUPS)


def test_declined_and_dry_run_change_nothing(instance: Instance, slave: Instance):
    world = build(instance, slave)
    before = snapshots(world)
    declined = run_onedb(world, "--zone-id", str(ZONE), input="n\nn\nn\n")
    assert declined.returncode == 1 and "Nothing was changed." in declined.stdout
    dry = run_onedb(world, *flags(True, False, "--dry-run"))
    assert dry.returncode == 0, dry.stderr
    assert "group 100 'dev' -> 101 'dev-1' (renamed)" in dry.stdout
    assert "Dry run: nothing was changed." in dry.stdout
    assert snapshots(world) == before
    assert not (slave.var / "onedb-import.log").exists()


def test_no_answer_on_stdin_is_an_error(instance: Instance, slave: Instance):
    world = build(instance, slave)
    before = snapshots(world)
    result = run_onedb(world, input="")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "onedb import-slave: no answer to 'Zone ID:' on stdin; give --zone-id to run without asking"
    ]
    assert snapshots(world) == before


# ---- refusals ----------------------------------------------------------------------------
def test_bad_input_changes_nothing(instance: Instance, slave: Instance, tmp_path: Path, subtests):
    world = build(instance, slave)
    before = snapshots(world)
    empty = tmp_path / "nothing"
    empty.mkdir()
    cases = [
        (
            ("--zone-id", "0", "--merge-users", "--merge-groups", "--yes"),
            {},
            "zone 0 is the master's own zone",
        ),
        (
            ("--zone-id", "555", "--merge-users", "--merge-groups", "--yes"),
            {},
            "zone 555 does not exist on the master",
        ),
        (flags(True, True), {"home": empty}, f"slave: no onekit instance at {empty}"),
        (("--master-home", str(empty), *flags(True, True)), {}, "master: no onekit instance"),
        (("--master-home", str(slave.home), *flags(True, True)), {}, "the same store"),
        (
            (
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(free_port()),
                "--master-password",
                "x",
                *flags(True, True),
            ),
            {},
            "master: cannot reach MySQL",
        ),
    ]
    for args, extra, needle in cases:
        with subtests.test(needle=needle):
            assert_error(run_onedb(world, *args, **extra), PROG, COMMAND, needle)
            assert snapshots(world) == before
    assert not (slave.var / "onedb-import.log").exists()


def test_refused_while_a_server_runs(instance: Instance, slave: Instance):
    world = build(instance, slave)
    before = snapshots(world)
    # a live process named onekit in the slave's pid file, as onekit-server status sees it
    fake = subprocess.Popen(["bash", "-c", "exec -a onekit-server sleep 60"])
    try:
        slave.pid_path().write_text(f"{fake.pid}\n")
        result = run_onedb(world, *flags(True, True))
        assert_error(result, PROG, COMMAND, "slave: the onekit-server of", f"pid {fake.pid}")
    finally:
        fake.kill()
        fake.wait()
        slave.pid_path().unlink()
    # a server holding the master store's lock (its loops), wherever it runs
    lock = world.master_db.try_leader_lock("loops")
    try:
        result = run_onedb(world, *flags(True, True))
        assert_error(result, PROG, COMMAND, "master: an onekit-server is running on")
    finally:
        lock.release()
    assert snapshots(world) == before


def test_a_failure_leaves_both_stores_untouched(instance: Instance, slave: Instance):
    """Everything is written, then the slave's commit fails: neither store changes."""
    world = build(instance, slave)
    before = snapshots(world)
    options = import_slave.Options(ZONE, merge_users=False, merge_groups=False)

    def fail() -> None:
        raise StoreError("disk full (injected)")

    with pytest.raises(StoreError, match="injected"):
        import_slave.apply(world.master_db, world.slave_db, options, before_slave_commit=fail)
    assert snapshots(world) == before
    # and the same import then goes through
    done = import_slave.apply(world.master_db, world.slave_db, options)
    assert "user 2 'alice' -> 4 'alice-1' (renamed)" in done.lines


def test_changed_stores_since_the_plan_are_refused(instance: Instance, slave: Instance):
    world = build(instance, slave)
    options = import_slave.Options(ZONE, merge_users=True, merge_groups=True)
    planned = import_slave.preview(world.master_db, world.slave_db, options)
    users.create(Session.system(world.master_db), "carol", "pw")  # a name clash appears
    before = snapshots(world)
    with pytest.raises(Conflict, match="changed since the import was planned"):
        import_slave.apply(world.master_db, world.slave_db, options, expected=planned)
    assert snapshots(world) == before


# ---- a MySQL master named by its server --------------------------------------------------
@pytest.mark.parametrize("backend", ["mysql"])
def test_master_by_mysql_options(instance: Instance, slave: Instance):
    world = build(instance, slave)
    db = instance.config().db
    result = run_onedb(
        world,
        "--master-host",
        db.server,
        "--master-port",
        str(db.port),
        "--master-user",
        db.user,
        "--master-password",
        db.passwd,
        "--master-dbname",
        db.db_name,
        *flags(True, True),
    )
    assert result.returncode == 0, result.stderr
    assert f"MySQL {db.user}@{db.server}:{db.port}/{db.db_name}" in "\n".join(log_lines(world))
    vm, _ = vm_row(world.slave_db, world.vm_id)
    assert (vm["UID"], vm["GID"]) == (1, 101)


# ---- help --------------------------------------------------------------------------------
def test_help(tmp_path: Path):
    result = run_help(tmp_path, PROG, COMMAND, "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for needle in (
        "Both servers must be stopped",
        "--zone-id",
        "--merge-users, --no-merge-users",
        "--merge-groups, --no-merge-groups",
        "--yes",
        "--master-home",
        "--master-host",
        "--dry-run",
        "var/onedb-import.log",
        "name-1, name-2",
    ):
        assert needle in text, needle
    listing = run_help(tmp_path, PROG, "--help")
    assert "import-slave" in listing.stdout

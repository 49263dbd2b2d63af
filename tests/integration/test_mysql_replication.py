"""onekit.cloud.mysql_replication through real ansible-playbook runs, on real MariaDB servers.

A primary (binary log, ROW format) holds an onekit store; a replica (its own server_id, relay
log, ``replicate-do-table`` for each shared table) holds the store of a slave zone. The
module seeds the replica (replication user, dump, load, CHANGE MASTER, START SLAVE); then a
user made on the primary shows up on the replica, and a VM row (a local table) does not.

Each play is built from (name, module options) steps; every step registers its result and a
last task writes them all to a JSON file the test reads.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, VENV_BIN
from support.mariadb import PASSWORD, USER, MariaDB
from support.ports import free_port

from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.federation import replication as repl
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import (
    Instance,
    mysql_config,
)
from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import GateConfig
from ansible_collections.onekit.cloud.plugins.module_utils.objects import users

pytestmark = pytest.mark.mysql

DB = "opennebula"
PRIMARY_ARGS = ("--log-bin=mysql-bin", "--binlog-format=ROW")
REPLICA_ARGS = (
    "--relay-log=relay-bin",
    *(f"--replicate-do-table={DB}.{table}" for table in schema.SHARED_TABLE_NAMES),
)
REPL_USER, REPL_PASSWORD = "oneslave", "repl-secret-pw"
MODULE = "onekit.cloud.mysql_replication"


# ---- servers -------------------------------------------------------------------------------
@pytest.fixture
def base() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="okr-", dir="/tmp"))  # sockets want short paths
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start_all(servers: list[MariaDB]) -> None:
    """Start the servers side by side (mariadb-install-db is most of the time)."""
    with ThreadPoolExecutor(len(servers)) as pool:
        futures = [pool.submit(server.start) for server in servers]
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        stop_all(servers)
        raise errors[0]


def stop_all(servers: list[MariaDB]) -> None:
    for server in servers:
        server.stop()


@pytest.fixture
def servers(base: Path) -> Iterator[dict[str, MariaDB]]:
    """primary (server_id 1), replica (2) and clash (a would-be replica with server_id 1)."""
    made = {
        "primary": MariaDB(base / "primary", server_id=1, extra_args=PRIMARY_ARGS),
        "replica": MariaDB(base / "replica", server_id=2, extra_args=REPLICA_ARGS),
        "clash": MariaDB(base / "clash", server_id=1, extra_args=REPLICA_ARGS),
    }
    try:
        yield made
    finally:
        stop_all(list(made.values()))


def onekit_store(base: Path, name: str, server: MariaDB) -> Instance:
    """An onekit instance whose store is database ``opennebula`` on ``server``."""
    instance = Instance(base / f"onekit-{name}")
    config = InstanceConfig(port=free_port())
    instance.init(
        mysql_config("127.0.0.1", server.port, USER, PASSWORD, DB, config),
        flow=FlowConfig(port=free_port()),
        onegate=GateConfig(port=free_port()),
    )
    return instance


def rows(server: MariaDB, sql: str) -> list[tuple]:
    return server.execute(sql, DB)


def accounts(server: MariaDB) -> list[tuple]:
    return server.execute(
        "SELECT User, Host, authentication_string FROM mysql.user "
        f"WHERE User = '{REPL_USER}' ORDER BY Host"
    )


# ---- plays ---------------------------------------------------------------------------------
def on(server: MariaDB, **options: Any) -> dict[str, Any]:
    """Module options for a task run against ``server``."""
    return {
        "login_host": "127.0.0.1",
        "login_port": server.port,
        "login_user": USER,
        "login_password": PASSWORD,
        **options,
    }


def play(
    base: Path, steps: list[tuple[str, dict]], *args: str, may_fail: tuple[str, ...] = ()
) -> tuple[subprocess.CompletedProcess, dict[str, dict]]:
    """Run the steps as one play; returns the run and each step's registered result.
    Steps named ``check_*`` run in check mode; those in ``may_fail`` may fail."""
    out = base / f"results-{uuid.uuid4().hex[:8]}.json"
    tasks: list[dict[str, Any]] = [
        {
            "name": name,
            MODULE: options,
            "register": f"r_{name}",
            **({"ignore_errors": True} if name in may_fail else {}),
            **({"check_mode": True} if name.startswith("check_") else {}),
        }
        for name, options in steps
    ]
    everything = ", ".join(f"'{name}': r_{name}" for name, _ in steps)
    tasks.append(
        {
            "name": "save the results",
            "ansible.builtin.copy": {
                "content": "{{ {" + everything + "} | to_json }}",
                "dest": str(out),
            },
            "check_mode": False,
            "changed_when": False,
        }
    )
    path = base / f"play-{uuid.uuid4().hex[:8]}.yml"
    path.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    result = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), str(path), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={
            "PATH": f"{VENV_BIN}:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(base),
            "LANG": "C.UTF-8",
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
        },
        timeout=300,
    )
    if not out.exists():
        raise AssertionError(f"the play stopped early:\n{result.stdout}\n{result.stderr}")
    return result, json.loads(out.read_text())


def changed(results: dict[str, dict]) -> dict[str, bool]:
    return {name: r.get("changed", False) for name, r in results.items()}


def seed_steps(primary: MariaDB, replica: MariaDB, dump: Path) -> list[tuple[str, dict]]:
    """Everything that makes ``replica`` replicate the shared tables of ``primary``."""
    return [
        (
            "user",
            on(
                primary,
                mode="replicationuser",
                replication_user=REPL_USER,
                replication_password=REPL_PASSWORD,
                replication_hosts=["%", "127.0.0.1"],
            ),
        ),
        ("dump", on(primary, mode="dumpprimary", dest=str(dump))),
        ("load", on(replica, mode="loadreplica", src=str(dump))),
        (
            "change",
            on(
                replica,
                mode="changeprimary",
                primary_host="127.0.0.1",
                primary_port=primary.port,
                primary_user=REPL_USER,
                primary_password=REPL_PASSWORD,
                primary_use_gtid="slave_pos",
            ),
        ),
        ("start", on(replica, mode="startreplica", timeout=20)),
        ("replica", on(replica, mode="getreplica")),
        ("primary", on(primary, mode="getprimary")),
    ]


def wait_for(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


# ---- the tests -----------------------------------------------------------------------------
def test_seed_a_replica_replicates_shared_tables_only(base, servers):
    primary, replica = servers["primary"], servers["replica"]
    start_all([primary, replica])
    master = onekit_store(base, "master", primary)
    onekit_store(base, "slave", replica)  # the slave zone's own store: its local tables
    dump = base / "shared.sql"
    users_sql = "SELECT oid, name, body FROM user_pool ORDER BY oid"
    replica_users = rows(replica, users_sql)

    # check mode first (each step that can be predicted says it would change), then the real
    # run: it finds everything still to do, so the check changed nothing
    checks = [(f"check_{name}", options) for name, options in seed_steps(primary, replica, dump)]
    run, r = play(base, checks[:3] + seed_steps(primary, replica, dump), "-v")
    assert run.returncode == 0, run.stdout + run.stderr
    assert REPL_PASSWORD not in run.stdout + run.stderr
    assert changed(r) == {
        "check_user": True,
        "check_dump": True,
        "check_load": True,
        "user": True,
        "dump": True,
        "load": True,
        "change": True,
        "start": True,
        "replica": False,
        "primary": False,
    }
    assert (
        r["check_user"]["queries"]
        == r["user"]["queries"]
        == [
            f"CREATE USER '{REPL_USER}'@'%' IDENTIFIED BY '********'",
            f"GRANT REPLICATION SLAVE ON *.* TO '{REPL_USER}'@'%'",
            f"CREATE USER '{REPL_USER}'@'127.0.0.1' IDENTIFIED BY '********'",
            f"GRANT REPLICATION SLAVE ON *.* TO '{REPL_USER}'@'127.0.0.1'",
        ]
    )
    assert r["check_dump"]["queries"] == r["dump"]["queries"]
    assert r["dump"]["queries"][0] == "FLUSH TABLES WITH READ LOCK"
    assert r["dump"]["queries"][-1] == "UNLOCK TABLES"
    assert not r["check_dump"]["dumped"] and r["dump"]["dumped"]  # not kept: none was there
    assert f"SOURCE {dump}" in r["check_load"]["queries"]
    assert "does not exist (yet)" in run.stderr

    # what the real run did
    assert [a["action"] for a in r["user"]["accounts"]] == ["created", "created"]
    assert [(u, h) for u, h, _ in accounts(primary)] == [(REPL_USER, "%"), (REPL_USER, "127.0.0.1")]
    assert primary.execute(f"SHOW GRANTS FOR '{REPL_USER}'@'%'")[0][0].startswith(
        f"GRANT REPLICATION SLAVE ON *.* TO `{REPL_USER}`@`%`"
    )
    dumped = r["dump"]
    assert dumped["server_id"] == 1
    assert dumped["File"].startswith("mysql-bin.") and dumped["Position"] > 4
    assert dumped["Gtid_Binlog_Pos"].startswith("0-1-")
    assert dumped["rows"]["user_pool"] == 1
    assert set(dumped["rows"]) == set(schema.SHARED_TABLE_NAMES)
    head = dump.read_text().splitlines()[:15]
    assert (
        f"-- CHANGE MASTER TO MASTER_LOG_FILE='{dumped['File']}', "
        f"MASTER_LOG_POS={dumped['Position']};"
    ) in head
    assert f"-- SET GLOBAL gtid_slave_pos='{dumped['Gtid_Binlog_Pos']}';" in head
    assert dump.stat().st_mode & 0o777 == 0o600
    assert r["load"]["loaded"] and r["load"]["Gtid_Binlog_Pos"] == dumped["Gtid_Binlog_Pos"]
    assert r["load"]["queries"][-1] == f"SET GLOBAL gtid_slave_pos = '{dumped['Gtid_Binlog_Pos']}'"
    assert r["change"]["queries"] == [
        f"CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {primary.port}, "
        f"MASTER_USER = '{REPL_USER}', MASTER_PASSWORD = '********', "
        "MASTER_USE_GTID = slave_pos"
    ]
    assert r["start"]["queries"] == ["START SLAVE"]
    status = r["replica"]
    assert status["is_replica"] and status["server_id"] == 2
    assert status["Slave_IO_Running"] == "Yes" and status["Slave_SQL_Running"] == "Yes"
    assert status["Master_Host"] == "127.0.0.1" and status["Master_Port"] == primary.port
    assert status["Master_Server_Id"] == 1 and status["Using_Gtid"] == "Slave_Pos"
    assert set(status["Replicate_Do_Table"].split(",")) == {
        f"{DB}.{t}" for t in schema.SHARED_TABLE_NAMES
    }
    assert r["primary"]["is_primary"] and r["primary"]["server_id"] == 1
    assert r["primary"]["Gtid_Binlog_Pos"].startswith("0-1-")
    assert rows(replica, users_sql) == rows(primary, users_sql) != replica_users

    # a user made on the master zone shows up on the slave; a VM row (local) does not
    rows(
        primary,
        "INSERT INTO vm_pool (oid, name, body, uid, gid, owner_u, group_u, other_u, state, "
        "lcm_state, hid) VALUES (4242, 'local-vm', '{}', 0, 0, 1, 0, 0, 1, 0, -1)",
    )
    admin = master.session()
    try:
        alice = users.create(admin, "alice", "alice-pw")
    finally:
        admin.db.close()
    query = f"SELECT name FROM user_pool WHERE oid = {alice['ID']}"
    assert wait_for(lambda: rows(replica, query) == [("alice",)])
    assert rows(replica, users_sql) == rows(primary, users_sql)
    assert rows(replica, "SELECT oid FROM vm_pool WHERE oid = 4242") == []
    assert rows(primary, "SELECT oid FROM vm_pool WHERE oid = 4242") == [(4242,)]

    # the whole play again: nothing to do. Then check mode where things would change:
    # reported, with the statements, and not done
    dump_before = dump.read_bytes()
    accounts_before = accounts(primary)
    would_change = [
        (
            "check_user",
            on(
                primary,
                mode="replicationuser",
                replication_user=REPL_USER,
                replication_password="another-pw",
                replication_hosts=["%", "10.0.0.%"],
            ),
        ),
        ("check_dump", on(primary, mode="dumpprimary", dest=str(dump), force=True)),
        ("check_load", on(replica, mode="loadreplica", src=str(dump), force=True)),
        (
            "check_change",
            {**dict(seed_steps(primary, replica, dump))["change"], "primary_connect_retry": 5},
        ),
        ("check_stop", on(replica, mode="stopreplica")),
    ]
    run, r = play(base, seed_steps(primary, replica, dump) + would_change)
    assert run.returncode == 0, run.stdout + run.stderr
    again = {name: result for name, result in r.items() if not name.startswith("check_")}
    assert not any(changed(again).values()), changed(again)
    assert all(result["queries"] == [] for result in again.values())
    assert not r["dump"]["dumped"] and not r["load"]["loaded"]
    assert r["dump"]["File"] == dumped["File"] and r["dump"]["Position"] == dumped["Position"]

    assert all(changed(r)[name] for name, _ in would_change), changed(r)
    assert r["check_user"]["queries"] == [
        f"ALTER USER '{REPL_USER}'@'%' IDENTIFIED BY '********'",
        f"CREATE USER '{REPL_USER}'@'10.0.0.%' IDENTIFIED BY '********'",
        f"GRANT REPLICATION SLAVE ON *.* TO '{REPL_USER}'@'10.0.0.%'",
    ]
    assert r["check_dump"]["queries"][0] == "FLUSH TABLES WITH READ LOCK"
    assert r["check_load"]["queries"][0] == "STOP SLAVE"
    assert r["check_change"]["queries"][0] == "STOP SLAVE"
    assert "MASTER_CONNECT_RETRY = 5" in r["check_change"]["queries"][1]
    assert r["check_change"]["queries"][2] == "START SLAVE"
    assert r["check_stop"]["queries"] == ["STOP SLAVE"]
    assert accounts(primary) == accounts_before
    assert dump.read_bytes() == dump_before
    server = repl.Server(replica.connect())
    try:
        status = repl.replica_status(server)
    finally:
        server.close()
    assert repl.replicating(status) and status["Connect_Retry"] == 60
    assert rows(replica, users_sql) == rows(primary, users_sql)


def test_refusals_and_a_primary_that_comes_back(base, servers):
    primary, replica, clash = servers["primary"], servers["replica"], servers["clash"]
    start_all([primary, replica, clash])

    def change(server: MariaDB, password: str = REPL_PASSWORD, **extra: Any) -> dict:
        return on(
            server,
            mode="changeprimary",
            primary_host="127.0.0.1",
            primary_port=primary.port,
            primary_user=REPL_USER,
            primary_password=password,
            **extra,
        )

    user = on(
        primary,
        mode="replicationuser",
        replication_user=REPL_USER,
        replication_password=REPL_PASSWORD,
    )
    steps = [
        ("bad_login", {**user, "login_password": "wrong"}),
        ("user", user),
        ("bad_password", change(replica, password="wrong")),
        ("clash", change(clash)),
        ("primary", on(primary, mode="getprimary")),
    ]
    run, r = play(base, steps, may_fail=("bad_login", "bad_password", "clash"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert r["bad_login"]["failed"]
    assert r["bad_login"]["msg"] == (
        f"cannot connect to 127.0.0.1:{primary.port} as {USER}: "
        f"(1045, \"Access denied for user '{USER}'@'127.0.0.1' (using password: YES)\")"
    )
    assert r["user"]["changed"]
    assert r["bad_password"]["failed"]
    assert r["bad_password"]["msg"] == (
        f"cannot connect to the primary 127.0.0.1:{primary.port} as {REPL_USER}: "
        f"(1045, \"Access denied for user '{REPL_USER}'@'127.0.0.1' (using password: YES)\")"
    )
    assert r["clash"]["failed"]
    assert r["clash"]["msg"].startswith(
        "server-id clash: both servers have server_id 1; give each a unique server-id"
    )
    for server in (replica, clash):
        assert server.execute("SHOW SLAVE STATUS") == []
    position = {
        "primary_log_file": r["primary"]["File"],
        "primary_log_pos": r["primary"]["Position"],
    }

    # the primary goes away during changeprimary: the connection error, nothing changed
    primary.stop()
    steps = [("change", change(replica, connect_timeout=3, **position))]
    run, r = play(base, steps, may_fail=("change",))
    assert r["change"]["failed"]
    assert r["change"]["msg"].startswith(
        f"cannot connect to the primary 127.0.0.1:{primary.port} as {REPL_USER}: (2003, "
        "\"Can't connect to MySQL server on '127.0.0.1'"
    ), r["change"]["msg"]
    assert replica.execute("SHOW SLAVE STATUS") == []

    # it comes back: the same step completes, from the recorded log file and position. Then
    # the replication password changes on the primary: the replica cannot start (the IO
    # error in the message) until changeprimary gives it the new password
    primary.start()
    primary.execute(f"GRANT SELECT ON *.* TO '{REPL_USER}'@'%'")  # more than it should have
    new_password = "new-repl-pw"
    steps = [
        ("change", change(replica, **position)),
        ("start", on(replica, mode="startreplica", timeout=20)),
        ("new_password", {**user, "replication_password": new_password}),
        ("stop", on(replica, mode="stopreplica")),
        ("start_denied", on(replica, mode="startreplica", timeout=2)),
        ("change_password", change(replica, password=new_password)),
        ("again", on(replica, mode="startreplica")),
        ("stopped", on(replica, mode="stopreplica")),
        ("stopped_again", on(replica, mode="stopreplica")),
    ]
    run, r = play(base, steps, may_fail=("start_denied",))
    assert run.returncode == 0, run.stdout + run.stderr
    assert r["change"]["changed"] and r["start"]["changed"]
    assert "MASTER_LOG_FILE = 'mysql-bin.000001'" in r["change"]["queries"][0]
    assert r["start"]["Slave_IO_Running"] == "Yes" and r["start"]["Slave_SQL_Running"] == "Yes"
    assert r["start"]["Using_Gtid"] == "No"

    assert r["new_password"]["accounts"] == [{"user": REPL_USER, "host": "%", "action": "updated"}]
    assert r["new_password"]["queries"] == [
        f"ALTER USER '{REPL_USER}'@'%' IDENTIFIED BY '********'",
        f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{REPL_USER}'@'%'",
        f"GRANT REPLICATION SLAVE ON *.* TO '{REPL_USER}'@'%'",
    ]
    grants = primary.execute(f"SHOW GRANTS FOR '{REPL_USER}'@'%'")
    assert len(grants) == 1 and grants[0][0].startswith("GRANT REPLICATION SLAVE ON *.* TO")
    assert r["stop"]["changed"] and r["stop"]["queries"] == ["STOP SLAVE"]
    assert r["start_denied"]["failed"]
    message = r["start_denied"]["msg"]
    assert message.startswith("the replica did not start: Slave_IO_Running Connecting"), message
    assert "Last_IO_Error: error connecting to master" in message
    assert f"Access denied for user '{REPL_USER}'" in message
    # host, port and user match, but the IO thread reported access denied (1045)
    assert r["change_password"]["changed"]
    assert r["change_password"]["queries"][0] == "STOP SLAVE"
    assert r["again"]["Slave_IO_Running"] == "Yes" and r["again"]["Last_IO_Errno"] == 0
    assert r["stopped"]["changed"] and r["stopped"]["Slave_IO_Running"] == "No"
    assert not r["stopped_again"]["changed"] and r["stopped_again"]["queries"] == []


# ---- module_utils without a server ----------------------------------------------------------
def test_split_statements_keeps_strings_and_drops_comments():
    script = (
        "-- a comment; not a statement\n"
        "/*!40101 SET NAMES utf8mb4 */;\n"
        "INSERT INTO t VALUES (1,'a;b\\'c', \"x;y\"), (2, `n;m`) # trailing; comment\n;\n"
        "/* block; comment */ SELECT 1;\n"
        "SELECT '--not a comment';"
    )
    assert repl.split_statements(script) == [
        "/*!40101 SET NAMES utf8mb4 */",
        "INSERT INTO t VALUES (1,'a;b\\'c', \"x;y\"), (2, `n;m`)",
        "SELECT 1",
        "SELECT '--not a comment'",
    ]
    with pytest.raises(repl.ReplicationError, match="DELIMITER"):
        repl.split_statements("DELIMITER ;;\nCREATE TRIGGER x;;\n")


def test_dump_header_reads_mariadb_dump_positions(tmp_path):
    dump = tmp_path / "d.sql"
    dump.write_text(
        "-- MariaDB dump 10.19\n--\n"
        "-- CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000003', MASTER_LOG_POS=1234;\n"
        "-- SET GLOBAL gtid_slave_pos='0-1-17';\n"
        "INSERT INTO t VALUES (1);\n"
    )
    header = repl.read_dump_header(str(dump))
    assert header["onekit"] is False and header["server_id"] is None
    assert (header["File"], header["Position"], header["Gtid_Binlog_Pos"]) == (
        "mysql-bin.000003",
        1234,
        "0-1-17",
    )


def test_documented_default_tables_are_the_shared_tables():
    source = (REPO / "plugins/modules/mysql_replication.py").read_text()
    doc = yaml.safe_load(source.split('DOCUMENTATION = r"""')[1].split('"""')[0])
    assert doc["options"]["tables"]["default"] == list(schema.SHARED_TABLE_NAMES)
    assert doc["options"]["tables"]["default"] == repl.DEFAULT_TABLES

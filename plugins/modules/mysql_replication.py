#!/usr/bin/python
# Copyright: (c) 2026, onekit team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module onekit.cloud.mysql_replication."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mysql_replication
short_description: MySQL replication for federations
description:
  - Sets up and inspects the MySQL/MariaDB replication that carries an OpenNebula 4.x
    federation's shared tables (C(user_pool), C(group_pool), C(zone_pool), C(acl),
    C(db_versioning)) from the master zone's store to the slaves' stores, with the vocabulary
    of C(community.mysql.mysql_replication).
  - The primary runs with C(log-bin) and C(binlog-format=ROW); each replica with its own
    C(server-id), C(relay-log) and one C(replicate-do-table=<database>.<table>) per shared
    table, so the zone's local tables (C(vm_pool), C(host_pool)...) are never replicated.
  - "A replica is seeded in five steps: V(replicationuser) on the primary, V(dumpprimary) on
    the primary, then V(loadreplica), V(changeprimary) and V(startreplica) on the replica."
  - Every mode is idempotent (a second run reports no change) and supports check mode.
  - Unlike the other modules of the collection it talks to MySQL directly, so it takes none
    of the onekit connection options (onekit_home, api_url, api_username, api_password).
author:
  - onekit team (@onekit)
version_added: 0.1.0
requirements:
  - PyMySQL on the managed host.
options:
  mode:
    description:
      - V(getprimary) and V(getreplica) report the server's binary log and replica status;
        they never change anything.
      - V(replicationuser) makes sure O(replication_user) exists for each of
        O(replication_hosts) with only the C(REPLICATION SLAVE) privilege on C(*.*) and the
        password O(replication_password) (see O(update_password)).
      - V(dumpprimary) writes a consistent dump of O(tables) of O(database) to O(dest); the
        tables are read under C(FLUSH TABLES WITH READ LOCK), and the binary log position
        (C(SHOW MASTER STATUS)) and GTID (C(@@gtid_binlog_pos)) read under the same lock are
        returned and written in comments at the top of the file (as C(mariadb-dump
        --master-data=2 --gtid) writes them). An existing O(dest) that is a dump of the same
        tables of the same database of the same server is kept, unless O(force).
      - V(loadreplica) loads the dump O(src) into O(database), then sets C(gtid_slave_pos) to
        the dump's GTID position, so that O(primary_use_gtid=slave_pos) resumes right after
        the dump. It is skipped when the replica already replicates (both threads running)
        from the dump's primary, unless O(force). A running replica is stopped first and
        left stopped.
      - V(changeprimary) points the replica at a primary (C(CHANGE MASTER TO)). Nothing
        changes when O(primary_host), O(primary_port), O(primary_user) and, when given,
        O(primary_use_gtid) and O(primary_connect_retry) already match; see there for the
        password. Before a change the module connects to the primary with the given
        credentials and refuses when it cannot, when its C(server_id) is the replica's, or
        when it has no binary log. A running replica is stopped for the change and started
        again.
      - V(startreplica) runs C(START SLAVE) unless both threads run, then waits up to
        O(timeout) seconds until C(Slave_IO_Running) and C(Slave_SQL_Running) are both
        C(Yes); otherwise it fails with C(Last_IO_Error) and C(Last_SQL_Error).
      - V(stopreplica) runs C(STOP SLAVE) if either thread runs.
    type: str
    required: true
    choices:
      - getprimary
      - getreplica
      - changeprimary
      - startreplica
      - stopreplica
      - replicationuser
      - dumpprimary
      - loadreplica
  login_host:
    description: The MySQL server to work on.
    type: str
    default: 127.0.0.1
  login_port:
    description: Its TCP port.
    type: int
    default: 3306
  login_user:
    description:
      - The user to log in as; it needs C(SUPER) (or C(REPLICATION SLAVE ADMIN)), C(RELOAD)
        and C(CREATE USER)-level privileges for the modes that change the server.
      - Falls back to the C(user) of O(config_file).
    type: str
  login_password:
    description: The password of O(login_user).
    type: str
  login_unix_socket:
    description: A Unix socket to connect through instead of O(login_host) and O(login_port).
    type: str
  connect_timeout:
    description: Seconds to wait for a connection, to this server and (V(changeprimary)) to
      the primary.
    type: int
    default: 30
  config_file:
    description: A client option file whose C([client]) group supplies what the login options
      leave out; ignored when it does not exist.
    type: path
    default: ~/.my.cnf
  replication_user:
    description: The replication user (V(replicationuser)).
    type: str
  replication_password:
    description: Its password (V(replicationuser)).
    type: str
  replication_hosts:
    description:
      - The hosts the replicas connect from, one account C(user@host) each
        (V(replicationuser)). Other accounts of the user are left alone.
    type: list
    elements: str
    default: ['%']
  update_password:
    description:
      - V(always) sets the password of an existing account when O(replication_password) does
        not authenticate it (compared with the account's C(mysql_native_password) hash, else
        by logging in as it); V(on_create) sets it for new accounts only.
    type: str
    choices: [always, on_create]
    default: always
  database:
    description: The database of the tables to dump (V(dumpprimary)) or to load the dump
      into (V(loadreplica)); C(replicate-do-table) needs the same name on both sides.
    type: str
    default: opennebula
  tables:
    description: The tables to dump (V(dumpprimary)); by default the federation's shared
      tables.
    type: list
    elements: str
    default: [user_pool, group_pool, zone_pool, acl, db_versioning]
  dest:
    description: Where V(dumpprimary) writes the dump, on the managed host (mode C(0600),
      it holds password hashes).
    type: path
  src:
    description: The dump V(loadreplica) loads, on the managed host.
    type: path
  force:
    description:
      - V(dumpprimary) dumps again over an existing dump of the same tables;
        V(loadreplica) loads even into a replica that already replicates from the dump's
        primary; V(changeprimary) runs C(CHANGE MASTER TO) even when nothing differs.
    type: bool
    default: false
  primary_host:
    description:
      - The primary, as the replica reaches it (V(changeprimary)). With V(loadreplica), names
        the dump's primary when the dump does not record its server_id (a dump not made by
        V(dumpprimary)).
    type: str
  primary_port:
    description: Its port.
    type: int
    default: 3306
  primary_user:
    description: The replication user (V(changeprimary)).
    type: str
  primary_password:
    description:
      - Its password (V(changeprimary)).
      - The server never shows the stored password, so it is only set with a change, or
        when the replica's IO thread reports access denied (error 1045), or with O(force).
    type: str
  primary_log_file:
    description: The primary's binary log to start from, the C(File) of V(dumpprimary) or
      V(getprimary); only applied with a change.
    type: str
  primary_log_pos:
    description: The position in O(primary_log_file) to start from (C(Position)).
    type: int
  primary_use_gtid:
    description:
      - C(MASTER_USE_GTID) (MariaDB). V(slave_pos) resumes from C(gtid_slave_pos), which
        V(loadreplica) sets to the dump's position; use it for federation slaves.
      - Left as the server has it when not given (MariaDB 10.10+ defaults to V(slave_pos),
        and to V(no) when a log file and position are given).
    type: str
    choices: [slave_pos, current_pos, 'no']
  primary_connect_retry:
    description: Seconds between the replica's attempts to reconnect to the primary.
    type: int
  timeout:
    description: Seconds V(startreplica) waits for both replication threads to run.
    type: int
    default: 30
attributes:
  check_mode:
    description: Reads run; the statements that would change the server are returned in
      RV(queries) but not run, and no file is written.
    support: full
  diff_mode:
    description: Not supported; RV(queries) shows what changes.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    platforms: posix
    support: N/A
notes:
  - Written for MariaDB (tested with 10.11, the version OpenNebula 4.x federations ran
    as MySQL); GTID options and fields are MariaDB's.
  - V(changeprimary) checks the primary from the managed host, so run it on the replica's
    host (or one that reaches the primary the same way).
seealso:
  - name: MariaDB replication overview
    description: Setting up replication, CHANGE MASTER TO and GTIDs.
    link: https://mariadb.com/kb/en/setting-up-replication/
"""

EXAMPLES = r"""
- name: The replication user on the master zone's MariaDB
  onekit.cloud.mysql_replication:
    mode: replicationuser
    login_user: root
    login_password: "{{ mysql_root_password }}"
    replication_user: oneslave
    replication_password: "{{ replication_password }}"
    replication_hosts: ['10.0.0.%']

- name: Dump the shared tables with the binary log position
  onekit.cloud.mysql_replication:
    mode: dumpprimary
    login_user: root
    login_password: "{{ mysql_root_password }}"
    dest: /var/tmp/shared-tables.sql
  register: dump

- name: Load the dump into a slave zone's store
  onekit.cloud.mysql_replication:
    mode: loadreplica
    login_user: root
    login_password: "{{ mysql_root_password }}"
    src: /var/tmp/shared-tables.sql

- name: Point the slave at the master
  onekit.cloud.mysql_replication:
    mode: changeprimary
    login_user: root
    login_password: "{{ mysql_root_password }}"
    primary_host: master.example.com
    primary_user: oneslave
    primary_password: "{{ replication_password }}"
    primary_use_gtid: slave_pos

- name: Start replicating and wait for both threads
  onekit.cloud.mysql_replication:
    mode: startreplica
    login_user: root
    login_password: "{{ mysql_root_password }}"
    timeout: 60

- name: How far behind is the slave
  onekit.cloud.mysql_replication:
    mode: getreplica
    login_user: root
    login_password: "{{ mysql_root_password }}"
  register: replica
"""

RETURN = r"""
queries:
  description:
    - The statements that change the server, run or (check mode) that would be run, with
      passwords shown as C(********); empty when nothing needed to change.
    - V(dumpprimary) lists its lock, the reads of the dump and the unlock; V(loadreplica)
      shows the dump's statements as one C(SOURCE <src>) line.
  returned: always
  type: list
  elements: str
  sample: ["STOP SLAVE", "CHANGE MASTER TO MASTER_HOST = '10.0.0.1', MASTER_PORT = 3306,
    MASTER_USER = 'oneslave', MASTER_PASSWORD = '********'", "START SLAVE"]
is_primary:
  description: Whether the server writes a binary log.
  returned: mode is getprimary
  type: bool
  sample: true
File:
  description: The primary's current binary log (getprimary); the one recorded in the dump
    (dumpprimary, loadreplica).
  returned: mode is getprimary, dumpprimary or loadreplica
  type: str
  sample: mysql-bin.000001
Position:
  description: The position in RV(File).
  returned: mode is getprimary, dumpprimary or loadreplica
  type: int
  sample: 975
Gtid_Binlog_Pos:
  description: The primary's GTID position (C(@@gtid_binlog_pos)), now or at the dump.
  returned: mode is getprimary, dumpprimary or loadreplica
  type: str
  sample: 0-1-17
server_id:
  description: The server's C(server_id) (dumpprimary, loadreplica - the dump's primary's).
  returned: always, except for replicationuser
  type: int
  sample: 1
is_replica:
  description: Whether the server is configured as a replica (C(SHOW SLAVE STATUS) has a row).
  returned: mode is getreplica, changeprimary, startreplica or stopreplica
  type: bool
  sample: true
Slave_IO_Running:
  description: C(Yes), C(Connecting) or C(No); every field of C(SHOW SLAVE STATUS) is
    returned under its own name, these always (None when the server is no replica).
  returned: mode is getreplica, changeprimary, startreplica or stopreplica
  type: str
  sample: "Yes"
Slave_SQL_Running:
  description: C(Yes) or C(No).
  returned: mode is getreplica, changeprimary, startreplica or stopreplica
  type: str
  sample: "Yes"
Seconds_Behind_Master:
  description: The replica's lag; None when a thread is not running.
  returned: mode is getreplica, changeprimary, startreplica or stopreplica
  type: int
  sample: 0
Last_IO_Error:
  description: Why the IO thread last failed.
  returned: mode is getreplica, changeprimary, startreplica or stopreplica
  type: str
  sample: ""
Last_SQL_Error:
  description: Why the SQL thread last failed.
  returned: mode is getreplica, changeprimary, startreplica or stopreplica
  type: str
  sample: ""
Master_Host:
  description: The primary the replica reads from.
  returned: mode is getreplica, changeprimary, startreplica or stopreplica
  type: str
  sample: 10.0.0.1
Master_Port:
  description: Its port.
  returned: mode is getreplica, changeprimary, startreplica or stopreplica
  type: int
  sample: 3306
Replicate_Do_Table:
  description: The replica's C(replicate-do-table) filter, comma-separated.
  returned: mode is getreplica, changeprimary, startreplica or stopreplica
  type: str
  sample: opennebula.user_pool,opennebula.group_pool
Gtid_IO_Pos:
  description: The last GTID the IO thread received.
  returned: mode is getreplica, changeprimary, startreplica or stopreplica
  type: str
  sample: 0-1-17
accounts:
  description: Each replication account and what was done to it.
  returned: mode is replicationuser
  type: list
  elements: dict
  contains:
    user:
      description: The user.
      type: str
      sample: oneslave
    host:
      description: The host.
      type: str
      sample: "%"
    action:
      description: C(created), C(updated) (password or privileges) or C(unchanged).
      type: str
      sample: created
dest:
  description: The dump file.
  returned: mode is dumpprimary
  type: str
  sample: /var/tmp/shared-tables.sql
dumped:
  description: Whether a dump was written (false when an existing one was kept, or in
    check mode).
  returned: mode is dumpprimary
  type: bool
  sample: true
rows:
  description: The rows dumped, per table.
  returned: mode is dumpprimary
  type: dict
  sample: {"user_pool": 2, "acl": 5}
src:
  description: The dump file loaded.
  returned: mode is loadreplica
  type: str
  sample: /var/tmp/shared-tables.sql
loaded:
  description: Whether the dump was loaded.
  returned: mode is loadreplica
  type: bool
  sample: true
statements:
  description: How many statements the dump holds (0 when skipped).
  returned: mode is loadreplica
  type: int
  sample: 14
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.onekit.cloud.plugins.module_utils.federation import replication as repl

GET_MODES = ("getprimary", "getreplica")
REPLICA_MODES = ("changeprimary", "startreplica", "stopreplica")


def run(module: AnsibleModule, server: repl.Server) -> dict:
    p = module.params
    mode = p["mode"]

    if mode == "getprimary":
        return {"changed": False, **repl.primary_status(server)}
    if mode == "getreplica":
        return {"changed": False, **repl.replica_status(server)}
    if mode == "replicationuser":
        changed, accounts = repl.ensure_replication_user(
            server,
            p["replication_user"],
            p["replication_password"],
            p["replication_hosts"],
            p["update_password"],
            login=lambda user, password: repl.connect(
                p["login_host"],
                p["login_port"],
                user,
                password,
                p["login_unix_socket"],
                p["connect_timeout"],
            ),
        )
        return {"changed": changed, "accounts": accounts}
    if mode == "dumpprimary":
        where = p["login_unix_socket"] or f"{p['login_host']}:{p['login_port']}"
        changed, info = repl.dump_primary(
            server, p["database"], p["tables"], p["dest"], p["force"], where
        )
        return {"changed": changed, **info}
    if mode == "loadreplica":
        changed, info = repl.load_replica(
            server, p["src"], p["database"], p["force"], p["primary_host"], p["primary_port"]
        )
        if module.check_mode and not os.path.exists(p["src"]):
            module.warn(f"src {p['src']} does not exist (yet): a real run fails without it")
        return {"changed": changed, **info}
    if mode == "changeprimary":
        changed = repl.change_primary(
            server,
            p["primary_host"],
            p["primary_port"],
            p["primary_user"],
            p["primary_password"],
            p["primary_log_file"],
            p["primary_log_pos"],
            p["primary_use_gtid"],
            p["primary_connect_retry"],
            p["force"],
            p["connect_timeout"],
        )
        return {"changed": changed, **repl.replica_status(server)}
    if mode == "startreplica":
        changed, status = repl.start_replica(server, p["timeout"])
        return {"changed": changed, **status}
    changed, status = repl.stop_replica(server)
    return {"changed": changed, **status}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "mode": {
                "type": "str",
                "required": True,
                "choices": [
                    "getprimary",
                    "getreplica",
                    "changeprimary",
                    "startreplica",
                    "stopreplica",
                    "replicationuser",
                    "dumpprimary",
                    "loadreplica",
                ],
            },
            "login_host": {"type": "str", "default": "127.0.0.1"},
            "login_port": {"type": "int", "default": 3306},
            "login_user": {"type": "str"},
            "login_password": {"type": "str", "no_log": True},
            "login_unix_socket": {"type": "str"},
            "connect_timeout": {"type": "int", "default": 30},
            "config_file": {"type": "path", "default": "~/.my.cnf"},
            "replication_user": {"type": "str"},
            "replication_password": {"type": "str", "no_log": True},
            "replication_hosts": {"type": "list", "elements": "str", "default": ["%"]},
            "update_password": {
                "type": "str",
                "choices": ["always", "on_create"],
                "default": "always",
                "no_log": False,
            },
            "database": {"type": "str", "default": "opennebula"},
            "tables": {"type": "list", "elements": "str", "default": repl.DEFAULT_TABLES},
            "dest": {"type": "path"},
            "src": {"type": "path"},
            "force": {"type": "bool", "default": False},
            "primary_host": {"type": "str"},
            "primary_port": {"type": "int", "default": 3306},
            "primary_user": {"type": "str"},
            "primary_password": {"type": "str", "no_log": True},
            "primary_log_file": {"type": "str"},
            "primary_log_pos": {"type": "int"},
            "primary_use_gtid": {"type": "str", "choices": list(repl.GTID_MODES)},
            "primary_connect_retry": {"type": "int"},
            "timeout": {"type": "int", "default": 30},
        },
        required_if=[
            ("mode", "replicationuser", ["replication_user", "replication_password"]),
            ("mode", "dumpprimary", ["dest"]),
            ("mode", "loadreplica", ["src"]),
            ("mode", "changeprimary", ["primary_host", "primary_user", "primary_password"]),
        ],
        supports_check_mode=True,
    )
    p = module.params
    server = None
    try:
        try:
            import pymysql  # noqa: F401 (only to say clearly that it is missing)
        except ImportError:
            module.fail_json(msg="the mysql_replication module needs PyMySQL on the managed host")
        server = repl.Server(
            repl.connect(
                p["login_host"],
                p["login_port"],
                p["login_user"],
                p["login_password"],
                p["login_unix_socket"],
                p["connect_timeout"],
                p["config_file"],
            ),
            check_mode=module.check_mode,
        )
        result = run(module, server)
    except repl.ReplicationError as err:
        module.fail_json(msg=str(err), queries=server.queries if server else [])
    finally:
        if server is not None:
            server.close()
    module.exit_json(queries=server.queries, **result)


if __name__ == "__main__":
    main()

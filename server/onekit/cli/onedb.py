"""onedb: store maintenance, as OpenNebula's. ``onedb upgrade`` brings the store of an
older onekit to this one's schema (``Database.upgrade_schema``); ``onedb import-slave``
brings an existing standalone instance into a federation as a zone (the guide's
"Importing Existing OpenNebula Zones"); the rules live in ``module_utils.import_slave``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Database
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    Conflict,
    InvalidInput,
    OneError,
    StoreError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.federation import import_slave
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from onekit.cli.common import Cli, Context, read_secret

LOG_NAME = "onedb-import.log"
LOCK_NAME = "loops"  # the lock a running onekit-server holds on its store (server.loops)

IMPORT_HELP = "import a standalone instance into a federation master as a new zone"
IMPORT_DESCRIPTION = """\
Import an existing standalone onekit instance (the slave: $ONEKIT_HOME, or --home) into
the federation whose master store is given by --master-home (another ONEKIT_HOME; its
oned.conf names its store) or by --master-host and the other --master-* options (a MySQL
master). Both servers must be stopped (`onekit-server stop` on each): the command refuses
to run while a server of either store is running. Back up both stores first.

Before running it, create a zone for the slave on the master (`onezone create` with the
slave's ENDPOINT) and note its id. The command asks for that zone id and whether to merge
USERS and GROUPS, unless --zone-id and --[no-]merge-users / --[no-]merge-groups are given;
it then shows what it will do and asks for confirmation, unless --yes.

What it does:
  * Users: with merge, a slave user whose name exists on the master becomes that master
    user (the master's primary group, password and auth driver win, secondary groups are
    unioned, slave template attributes are added where the master has none). Otherwise,
    and for names the master lacks, the user gets the master's next id, and a clashing name
    becomes name-1, name-2, ... (the first free). User 0 (oneadmin) is the master's user 0.
  * Groups: the same; groups 0 (oneadmin) and 1 (users) are the master's 0 and 1.
  * ACL rules: user and group ids are renamed, zone #0 becomes the slave's zone id; rules
    the master has already, and rules naming unknown users, groups or zones, are dropped.
  * The slave's VMs, templates, images, networks, documents and hosts keep their ids; their
    owner and group (ids and names) are rewritten.
  * The master's shared tables (users, groups, ACL rules) are written in one transaction;
    the slave's local tables in one transaction committed before the master's, so on any
    failure the master is left untouched. The slave's own users, groups, zones and ACL
    rules are replaced by the master's (the rows MySQL replication will keep in sync), and
    its store is marked as a slave's: it cannot be imported twice. Log in to the slave with
    the master's credentials from then on (copy the master's one_auth).

Every renamed or remapped id is logged to <slave ONEKIT_HOME>/var/onedb-import.log.
Afterwards set FEDERATION = [ MODE = "SLAVE", ZONE_ID = <id>, MASTER_ONED = "<master URL>" ]
in the slave's oned.conf and replicate user_pool, group_pool, zone_pool, db_versioning
and acl from the master's MySQL server."""

MERGE_EXAMPLE = """\
The import moves the users from the slave to the master. On a name clash it can merge
users with the same name. For example:
+----------+-------------++------------+---------------+
| Master   | Slave       || With merge | Without merge |
+----------+-------------++------------+---------------+
| 5, alice | 2, alice    || 5, alice   | 5, alice      |
| 6, bob   | 5, bob      || 6, bob     | 6, bob        |
|          |             ||            | 7, alice-1    |
|          |             ||            | 8, bob-1      |
+----------+-------------++------------+---------------+
In any case, the ownership of existing resources and group membership is preserved.
"""


# ---- opening the two stores -------------------------------------------------------------------
def _reworded(err: OneError, message: str) -> OneError:
    """The same kind of error (its exit status) with another message."""
    try:
        return type(err)(message)
    except TypeError:  # an error class with more arguments
        return StoreError(message)


def _as(side: str, action: Callable[[], Any]) -> Any:
    """Run ``action``; an error says which store it is about."""
    try:
        return action()
    except OneError as err:
        raise _reworded(err, f"{side}: {err}") from err


def _running_pid(instance: Instance) -> int | None:
    """The pid of a live onekit-server of this instance (as ``onekit-server status``)."""
    if not instance.pid_path().exists():
        return None
    from onekit.server.process import read_pid

    return read_pid(instance)


def _check_stopped(side: str, instance: Instance) -> None:
    pid = _running_pid(instance)
    if pid is not None:
        raise Conflict(
            f"{side}: the onekit-server of {instance.home} is running (pid {pid}); stop it "
            "first (onekit-server stop): both servers must be stopped during the import"
        )


def _open_instance(side: str, instance: Instance) -> Database:
    config = _as(side, instance.config)
    mode = getattr(getattr(config, "federation", None), "mode", "STANDALONE")
    if side == "slave" and mode == "SLAVE":
        raise Conflict(
            f"slave: {instance.home} is configured as a federation SLAVE already "
            f"({instance.config_path}); only a standalone instance can be imported"
        )
    if side == "master" and mode == "SLAVE":
        raise InvalidInput(
            f"master: {instance.home} is a federation SLAVE ({instance.config_path}); "
            "give the master's ONEKIT_HOME"
        )
    return _as(side, lambda: instance.open_store(config))


def _master(args: argparse.Namespace) -> tuple[Database, Instance | None]:
    if args.master_home and args.master_host:
        raise InvalidInput("give the master's store once: --master-home or --master-host")
    if args.master_home:
        instance = Instance.locate(args.master_home)
        return _open_instance("master", instance), instance
    if not args.master_host:
        raise InvalidInput("give the master's store: --master-home DIR or --master-host HOST")
    password = args.master_password
    if password is None:
        password = read_secret(None, "Master MySQL password: ") if os.isatty(0) else ""
    db = Database.mysql(
        args.master_host,
        args.master_port,
        args.master_user,
        password,
        args.master_dbname,
    )
    _as("master", db.check_schema)
    return db, None


def _identity(db: Database) -> tuple:
    """What makes two stores the same one (a file, or a database on a server)."""
    args = db._connect_args
    if db.dialect == "sqlite":
        return ("sqlite", os.path.realpath(args["path"]))
    host = "127.0.0.1" if args["host"] in ("localhost", "::1") else args["host"]
    return ("mysql", args.get("unix_socket") or (host, args["port"]), args["database"])


def _lock(side: str, db: Database, why: str = "both servers must be stopped during the import"):
    lock = db.try_leader_lock(LOCK_NAME)
    if lock is None:
        raise Conflict(
            f"{side}: an onekit-server is running on {db.description} (it holds the store's "
            f"server lock); stop it first: {why}"
        )
    return lock


# ---- upgrade ----------------------------------------------------------------------------------
def _upgrade(ctx: Context, args: argparse.Namespace) -> None:
    """The store of an older onekit brought to this one's schema, one version at a time;
    no server may run on it meanwhile (on any front-end: the store's server lock says)."""
    db = ctx.instance.database()
    try:
        lock = _lock("the store", db, "the store is upgraded with every server stopped")
        try:
            done = db.upgrade_schema()
        finally:
            lock.release()
    finally:
        db.close()
    if not done:
        ctx.out(f"{db.description} is already at this onekit's schema; nothing to do")
    for line in done:
        ctx.out(f"{db.description}: {line}")


# ---- questions --------------------------------------------------------------------------------
def _ask(prompt: str, parse: Callable[[str], Any], flag: str) -> Any:
    """Ask until ``parse`` accepts the answer (None: ask again), as oned's onedb does."""
    while True:
        try:
            answer = input(prompt)
        except EOFError:
            print()
            raise InvalidInput(
                f"no answer to {prompt.strip()!r} on stdin; give {flag} to run without asking"
            ) from None
        if not sys.stdin.isatty():  # answers piped in: show them, as a terminal would
            print(answer)
        value = parse(answer.strip())
        if value is not None:
            return value


def _zone_answer(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def _yes_no(text: str) -> bool | None:
    return {"Y": True, "N": False}.get(text.upper())


# ---- the command ------------------------------------------------------------------------------
def _import_slave(ctx: Context, args: argparse.Namespace) -> int:
    slave_home = Instance.locate(args.home)
    slave = _open_instance("slave", slave_home)
    opened = [slave]
    locks = []
    try:
        _check_stopped("slave", slave_home)
        master, master_home = _master(args)
        opened.append(master)
        if master_home is not None:
            _check_stopped("master", master_home)
        if _identity(master) == _identity(slave):
            raise InvalidInput(f"the master and the slave are the same store ({slave.description})")
        locks = [_lock("master", master)]
        if _identity(slave)[:2] != _identity(master)[:2]:
            locks.append(_lock("slave", slave))  # (MySQL's GET_LOCK is per server)
        return _run(ctx, args, slave_home, slave, master)
    finally:
        for lock in locks:
            lock.release()
        for db in opened:
            db.close()


def _run(
    ctx: Context, args: argparse.Namespace, home: Instance, slave: Database, master: Database
) -> int:
    zone_id = args.zone_id
    if zone_id is None:
        ctx.out(
            "Before running this tool, create a new zone on the master (onezone create).\n"
            "Please enter the zone ID that you created to represent the new slave:"
        )
        zone_id = _ask("Zone ID: ", _zone_answer, "--zone-id")
    zone = import_slave.master_zone_for_slave(master, zone_id)
    if args.zone_id is None:
        ctx.out(f"The slave will be imported as zone {zone['ID']} {zone['NAME']!r}.\n")
    merge_users, merge_groups = args.merge_users, args.merge_groups
    if merge_users is None or merge_groups is None:
        ctx.out(MERGE_EXAMPLE)
    if merge_users is None:
        merge_users = _ask(
            "Do you want to merge USERS (Y/N): ", _yes_no, "--merge-users or --no-merge-users"
        )
    if merge_groups is None:
        merge_groups = _ask(
            "Do you want to merge GROUPS (Y/N): ", _yes_no, "--merge-groups or --no-merge-groups"
        )
    options = import_slave.Options(zone_id, merge_users, merge_groups)
    planned = import_slave.preview(master, slave, options)

    if args.dry_run or args.verbose or not args.yes:
        ctx.out("\n".join(["The import:", *(f"  {line}" for line in planned.lines)]))
    if args.dry_run:
        ctx.out("Dry run: nothing was changed.")
        return 0
    if not args.yes:
        go = _ask(f"Import the slave {home.home} into zone {zone_id}? (Y/N): ", _yes_no, "--yes")
        if not go:
            ctx.out("Nothing was changed.")
            return 1

    log_path = home.var / LOG_NAME
    header = [
        f"# onedb import-slave, {time.strftime('%Y-%m-%d %H:%M:%S')}",
        f"# slave: {home.home} ({slave.description})",
        f"# master: {master.description}",
        f"# zone {zone_id} {zone['NAME']!r}; merge users: {'yes' if merge_users else 'no'}, "
        f"merge groups: {'yes' if merge_groups else 'no'}",
    ]
    try:
        done = import_slave.apply(master, slave, options, expected=planned)
    except import_slave.PartialImport as err:
        _write_log(log_path, [*header, *planned.lines, f"# FAILED: {err}"])
        raise
    except OneError as err:
        outcome = f"{err}; nothing was changed (both transactions rolled back)"
        _write_log(log_path, [*header, *planned.lines, f"# FAILED: {outcome}"])
        raise _reworded(err, outcome) from err
    _write_log(log_path, [*header, *done.lines, "# done"])
    ctx.out(_summary(done, home, log_path, import_slave.master_endpoint(master)))
    return 0


def _write_log(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")


def _summary(plan: import_slave.Plan, home: Instance, log_path: Path, endpoint: str) -> str:
    c = plan.counts()
    kinds = ", ".join(f"{kind} {n}" for kind, n in plan.objects_by_kind().items())
    zone = plan.zone
    return "\n".join(
        [
            f"Imported {home.home} into the federation as zone {zone['ID']} {zone['NAME']!r}:",
            f"  users:     {c['users_merged']} merged, {c['users_new']} new "
            f"({c['users_renamed']} renamed)",
            f"  groups:    {c['groups_merged']} merged, {c['groups_new']} new "
            f"({c['groups_renamed']} renamed)",
            f"  ACL rules: {c['rules_added']} added, {c['rules_dropped']} dropped",
            f"  objects:   {c['objects']} rewritten" + (f" ({kinds})" if kinds else ""),
            "The slave's users, groups, zones and ACL rules are now the master's: log in to it "
            "with master credentials (copy the master's one_auth).",
            f"Log: {log_path}",
            f'Next: set FEDERATION = [ MODE = "SLAVE", ZONE_ID = {zone["ID"]}, '
            f'MASTER_ONED = "{endpoint}" ] in {home.config_path}',
            "      and replicate user_pool, group_pool, zone_pool, db_versioning and acl "
            "from the master's MySQL server.",
        ]
    )


def build() -> Cli:
    cli = Cli("onedb", "Maintain onekit stores (upgrade; federation: import-slave).")
    cli.command(
        "upgrade",
        "upgrade the store of an older onekit to this one's schema (every server stopped)",
        _upgrade,
    )
    p = cli.command("import-slave", IMPORT_HELP, _import_slave, description=IMPORT_DESCRIPTION)
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument(
        "--home",
        metavar="DIR",
        help="the slave instance's ONEKIT_HOME (default $ONEKIT_HOME, else ~/.onekit)",
    )
    master = p.add_argument_group(
        "master store", "the federation master's store: --master-home, or the --master-* of MySQL"
    )
    master.add_argument(
        "--master-home", metavar="DIR", help="the master instance's ONEKIT_HOME (its oned.conf)"
    )
    master.add_argument("--master-host", metavar="HOST", help="the master's MySQL server")
    master.add_argument(
        "--master-port", metavar="PORT", type=int, default=0, help="MySQL port (default 3306)"
    )
    master.add_argument(
        "--master-user", metavar="USER", default="oneadmin", help="MySQL user (default oneadmin)"
    )
    master.add_argument(
        "--master-password",
        metavar="PASSWORD",
        help="MySQL password (default: asked on a terminal, else empty)",
    )
    master.add_argument(
        "--master-dbname",
        metavar="NAME",
        default="opennebula",
        help="MySQL database (default opennebula)",
    )
    answers = p.add_argument_group("answers", "the questions the command asks otherwise")
    answers.add_argument(
        "--zone-id",
        metavar="ID",
        type=int,
        help="the id of the zone created on the master for this slave (not 0)",
    )
    answers.add_argument(
        "--merge-users",
        action=argparse.BooleanOptionalAction,
        help="merge slave users into master users of the same name (or rename them)",
    )
    answers.add_argument(
        "--merge-groups",
        action=argparse.BooleanOptionalAction,
        help="merge slave groups into master groups of the same name (or rename them)",
    )
    answers.add_argument(
        "-y", "--yes", action="store_true", help="import without asking for confirmation"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print what would be done; change nothing"
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", help="print every id mapping (as the log)"
    )
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)


if __name__ == "__main__":
    raise SystemExit(main())

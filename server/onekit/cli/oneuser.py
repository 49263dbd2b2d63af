"""oneuser: manage users (create, delete, passwd, update, chgrp, addgroup, delgroup, quota,
list, show, and the credentials of the EC2 Query API: ec2-key)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import template
from ansible_collections.onekit.cloud.plugins.module_utils.econe import access_keys
from ansible_collections.onekit.cloud.plugins.module_utils.objects import groups, users
from ansible_collections.onekit.cloud.plugins.module_utils.objects.users import AUTH_DRIVERS
from onekit.cli.common import (
    Cli,
    Column,
    Context,
    Pool,
    arg,
    core,
    quota_command,
    quota_section,
    read_secret,
    read_template_file,
    table,
    timestamp,
    with_quota,
)

IDS_HELP = "user ids or names: 3,4,alice or a range 3..7"


def _create(ctx: Context, args: argparse.Namespace) -> int:
    password = read_secret(args.password)
    return ctx.call(users.create, args.name, password, group=args.group, driver=args.driver)["ID"]


def _passwd(ctx: Context, args: argparse.Namespace) -> None:
    ctx.call(users.passwd, args.user, read_secret(args.password, "New password: "))


def _update(ctx: Context, args: argparse.Namespace) -> None:
    ref = ctx.me()[0] if args.user is None else args.user
    ctx.call(users.update, ref, read_template_file(args.file), args.append)


def _fields(ctx: Context, user: dict) -> list[tuple[str, Any]]:
    names = ctx.call(groups.name_map)
    secondary = [names.get(g, str(g)) for g in user["GROUPS"] if g != user["GID"]]
    return [
        ("ID", user["ID"]),
        ("NAME", user["NAME"]),
        ("GROUP", user["GNAME"]),
        ("SECONDARY GROUPS", ",".join(secondary)),
        ("AUTH_DRIVER", user["AUTH_DRIVER"]),
        ("ENABLED", "Yes" if user["ENABLED"] == "1" else "No"),
    ]


def _ec2_key(ctx: Context, args: argparse.Namespace) -> None:
    """``oneuser ec2-key create|list|delete|password-hash``."""
    if args.action == "delete":
        if not args.target:
            raise SystemExit("oneuser ec2-key delete: name the access key id to delete")
        ctx.call(access_keys.delete, args.target)
        ctx.out(f"access key {args.target} deleted")
        return
    user = args.target if args.target else ctx.me()[0]
    if args.action == "create":
        key = ctx.call(access_keys.create, user)
        ctx.out(f"EC2_ACCESS_KEY={key['ACCESS_KEY_ID']}")
        ctx.out(f"EC2_SECRET_KEY={key['SECRET_ACCESS_KEY']}")
        ctx.out("(the secret is shown this once: keep it)")
    elif args.action == "list":
        keys = ctx.call(access_keys.list_keys, user)
        ctx.out(
            table(
                keys,
                [
                    Column("ACCESS_KEY_ID", lambda k: k["ACCESS_KEY_ID"], width=24),
                    Column("CREATED", lambda k: timestamp(k["CREATED"]), width=19),
                ],
            )
        )
    else:
        ctx.out(ctx.call(access_keys.password_secret, user))


USERS = Pool(
    noun="user",
    key="USER",
    create=_create,
    list=core(users.list_users),
    show=with_quota(users.show, users.quota),
    delete=core(users.delete),
    columns=[
        Column("ID", lambda u: u["ID"], right=True, width=4),
        Column("NAME", lambda u: u["NAME"], width=15),
        Column("GROUP", lambda u: u["GNAME"], width=10),
        Column("AUTH", lambda u: u["AUTH_DRIVER"], width=8),
    ],
    fields=_fields,
    sections=lambda _ctx, user: [
        "USER TEMPLATE\n" + template.dumps(user.get("TEMPLATE") or {}).rstrip(),
        quota_section(user),
    ],
)


def build() -> Cli:
    cli = Cli("oneuser", "Manage onekit users.")
    pool = cli.pool(USERS)
    pool.create(
        "create a user; prints its ID",
        arg("name", help="user name (no spaces or ':')"),
        arg("password", nargs="?", help="password; omitted: read from the terminal or stdin"),
        arg("--group", "-g", help="primary group, id or name (default: users)"),
        arg(
            "--driver",
            default="core",
            choices=AUTH_DRIVERS,
            help="authentication driver (default: core)",
        ),
    )
    pool.delete("delete users", IDS_HELP)

    p = cli.command("passwd", "change a user's password", _passwd)
    p.add_argument("user", help="user id or name")
    p.add_argument(
        "password", nargs="?", help="new password; omitted: read from the terminal or stdin"
    )

    cli.command(
        "update",
        "replace (or --append to) a user's template (default: yours)",
        _update,
        arguments=[
            arg("user", nargs="?", help="user id or name (default: yourself)"),
            arg("file", help="template file (- for stdin)"),
            arg("--append", "-a", action="store_true", help="merge instead of replace"),
        ],
    )

    group = arg("group", help="group id or name")
    for name, change, text in (
        ("chgrp", users.chgrp, "change the primary group of users"),
        ("addgroup", users.addgroup, "add users to a secondary group"),
        ("delgroup", users.delgroup, "remove users from a secondary group"),
    ):
        pool.each(name, text, core(change), group, ids_help=IDS_HELP)

    quota_command(cli, "user", users.set_quota)
    cli.command(
        "ec2-key",
        "access keys of the EC2 Query API (econe-server)",
        _ec2_key,
        description="create: a new access key and secret (shown once; at most 2 per user); "
        "list: the access key ids; delete <id>: revoke one; password-hash: the guide's "
        "secret key (the stored password hash; it changes with the password). Without a "
        "user: yourself.",
        arguments=[
            arg("action", choices=("create", "list", "delete", "password-hash")),
            arg("target", nargs="?", help="user id or name (delete: the access key id)"),
        ],
    )
    pool.list("list the users you may see")
    pool.show("show a user (default: yourself)", default=lambda ctx: ctx.me()[0])
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

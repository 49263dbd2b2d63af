"""oneuser: manage users (create, delete, passwd, chgrp, addgroup, delgroup, list, show)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ansible_collections.onekit.cloud.plugins.module_utils.objects import groups, users
from ansible_collections.onekit.cloud.plugins.module_utils.objects.users import AUTH_DRIVERS
from onekit.cli.common import (
    Cli,
    Column,
    Context,
    add_json_flag,
    id_list,
    read_secret,
    show_fields,
    table,
)


def _create(ctx: Context, args: argparse.Namespace) -> None:
    password = read_secret(args.password)
    user = ctx.call(users.create, args.name, password, group=args.group, driver=args.driver)
    ctx.out(f"ID: {user['ID']}")


def _delete(ctx: Context, args: argparse.Namespace) -> int:
    return ctx.for_each(id_list(args.users), lambda ref: ctx.call(users.delete, ref))


def _passwd(ctx: Context, args: argparse.Namespace) -> None:
    ctx.call(users.passwd, args.user, read_secret(args.password, "New password: "))


def _membership(change):
    def handler(ctx: Context, args: argparse.Namespace) -> int:
        return ctx.for_each(id_list(args.users), lambda ref: ctx.call(change, ref, args.group))

    return handler


def _list(ctx: Context, args: argparse.Namespace) -> None:
    rows = ctx.call(users.list_users)
    if args.json:
        ctx.json({"USER_POOL": {"USER": rows}})
        return
    ctx.out(
        table(
            rows,
            [
                Column("ID", lambda u: u["ID"], right=True, width=4),
                Column("NAME", lambda u: u["NAME"], width=15),
                Column("GROUP", lambda u: u["GNAME"], width=10),
                Column("AUTH", lambda u: u["AUTH_DRIVER"], width=8),
            ],
        )
    )


def _show(ctx: Context, args: argparse.Namespace) -> None:
    user = ctx.call(users.show, args.user if args.user is not None else ctx.me()[0])
    if args.json:
        ctx.json({"USER": user})
        return
    names = ctx.call(groups.name_map)
    secondary = [names.get(g, str(g)) for g in user["GROUPS"] if g != user["GID"]]
    ctx.out(
        show_fields(
            f"USER {user['ID']} INFORMATION",
            [
                ("ID", user["ID"]),
                ("NAME", user["NAME"]),
                ("GROUP", user["GNAME"]),
                ("SECONDARY GROUPS", ",".join(secondary)),
                ("AUTH_DRIVER", user["AUTH_DRIVER"]),
                ("ENABLED", "Yes" if user["ENABLED"] == "1" else "No"),
            ],
        )
    )


def build() -> Cli:
    cli = Cli("oneuser", "Manage onekit users.")
    p = cli.command("create", "create a user; prints its ID", _create)
    p.add_argument("name", help="user name (no spaces or ':')")
    p.add_argument("password", nargs="?", help="password; omitted: read from the terminal or stdin")
    p.add_argument("--group", "-g", help="primary group, id or name (default: users)")
    p.add_argument(
        "--driver",
        default="core",
        choices=AUTH_DRIVERS,
        help="authentication driver (default: core)",
    )

    p = cli.command("delete", "delete users", _delete)
    p.add_argument("users", help="user ids or names: 3,4,alice or a range 3..7")

    p = cli.command("passwd", "change a user's password", _passwd)
    p.add_argument("user", help="user id or name")
    p.add_argument(
        "password", nargs="?", help="new password; omitted: read from the terminal or stdin"
    )

    for name, change, text in (
        ("chgrp", users.chgrp, "change the primary group of users"),
        ("addgroup", users.addgroup, "add users to a secondary group"),
        ("delgroup", users.delgroup, "remove users from a secondary group"),
    ):
        p = cli.command(name, text, _membership(change))
        p.add_argument("users", help="user ids or names: 3,4,alice or a range 3..7")
        p.add_argument("group", help="group id or name")

    p = cli.command("list", "list the users you may see", _list)
    add_json_flag(p)
    p = cli.command("show", "show a user (default: yourself)", _show)
    p.add_argument("user", nargs="?", help="user id or name")
    add_json_flag(p)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

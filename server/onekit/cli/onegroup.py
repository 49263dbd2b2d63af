"""onegroup: manage groups (create, delete, list, show)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ansible_collections.onekit.cloud.plugins.module_utils.objects import groups
from onekit.cli.common import Cli, Column, Context, add_json_flag, id_list, show_fields, table


def _create(ctx: Context, args: argparse.Namespace) -> None:
    group = ctx.call(groups.create, args.name, resources=args.resources or None)
    ctx.out(f"ID: {group['ID']}")


def _delete(ctx: Context, args: argparse.Namespace) -> int:
    return ctx.for_each(id_list(args.groups), lambda ref: ctx.call(groups.delete, ref))


def _list(ctx: Context, args: argparse.Namespace) -> None:
    rows = ctx.call(groups.list_groups)
    if args.json:
        ctx.json({"GROUP_POOL": {"GROUP": rows}})
        return
    ctx.out(
        table(
            rows,
            [
                Column("ID", lambda g: g["ID"], right=True, width=4),
                Column("NAME", lambda g: g["NAME"], width=15),
                Column("USERS", lambda g: len(g["USERS"]), right=True, width=5),
            ],
        )
    )


def _show(ctx: Context, args: argparse.Namespace) -> None:
    ref = args.group if args.group is not None else ctx.me()[1]
    group = ctx.call(groups.show, ref)
    if args.json:
        ctx.json({"GROUP": group})
        return
    ctx.out(
        show_fields(
            f"GROUP {group['ID']} INFORMATION",
            [
                ("ID", group["ID"]),
                ("NAME", group["NAME"]),
            ],
        )
    )
    ctx.out("\nUSERS\nID")
    for uid in group["USERS"]:
        ctx.out(str(uid))


def build() -> Cli:
    cli = Cli("onegroup", "Manage onekit groups.")
    p = cli.command("create", "create a group; prints its ID", _create)
    p.add_argument("name", help="group name")
    p.add_argument(
        "--resources",
        default=groups.DEFAULT_RESOURCES,
        help="what its users may create, '+'-joined "
        f"(default {groups.DEFAULT_RESOURCES}; '' for nothing)",
    )
    p = cli.command("delete", "delete empty groups", _delete)
    p.add_argument("groups", help="group ids or names: 100,101,web or a range 100..104")
    p = cli.command("list", "list the groups you may see", _list)
    add_json_flag(p)
    p = cli.command("show", "show a group (default: your primary group)", _show)
    p.add_argument("group", nargs="?", help="group id or name")
    add_json_flag(p)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

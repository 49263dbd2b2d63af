"""onegroup: manage groups (create, delete, quota, list, show)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ansible_collections.onekit.cloud.plugins.module_utils.objects import groups
from onekit.cli.common import (
    Cli,
    Column,
    Context,
    Pool,
    arg,
    core,
    quota_command,
    quota_section,
    with_quota,
)


def _create(ctx: Context, args: argparse.Namespace) -> int:
    return ctx.call(groups.create, args.name, resources=args.resources or None)["ID"]


GROUPS = Pool(
    noun="group",
    key="GROUP",
    create=_create,
    list=core(groups.list_groups),
    show=with_quota(groups.show, groups.quota),
    delete=core(groups.delete),
    columns=[
        Column("ID", lambda g: g["ID"], right=True, width=4),
        Column("NAME", lambda g: g["NAME"], width=15),
        Column("USERS", lambda g: len(g["USERS"]), right=True, width=5),
    ],
    sections=lambda _ctx, group: [
        "\n".join(["USERS", "ID", *map(str, group["USERS"])]),
        quota_section(group),
    ],
)


def build() -> Cli:
    cli = Cli("onegroup", "Manage onekit groups.")
    pool = cli.pool(GROUPS)
    pool.create(
        "create a group; prints its ID",
        arg("name", help="group name"),
        arg(
            "--resources",
            default=groups.DEFAULT_RESOURCES,
            help="what its users may create, '+'-joined "
            f"(default {groups.DEFAULT_RESOURCES}; '' for nothing)",
        ),
    )
    pool.delete("delete empty groups", "group ids or names: 100,101,web or a range 100..104")
    quota_command(cli, "group", groups.set_quota)
    pool.list("list the groups you may see")
    pool.show("show a group (default: your primary group)", default=lambda ctx: ctx.me()[1])
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

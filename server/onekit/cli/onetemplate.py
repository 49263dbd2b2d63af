"""onetemplate: VM templates (create, update, clone, delete, instantiate, list, show,
chown, chgrp, chmod)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates
from onekit.cli.common import (
    Cli,
    Column,
    Context,
    Ownership,
    Pool,
    arg,
    core,
    owned_columns,
    owned_fields,
    permissions,
    read_template_file,
    timestamp,
)
from onekit.cli.placement import place


def _create(ctx: Context, args: argparse.Namespace) -> int:
    return ctx.call(templates.create, read_template_file(args.file), name=args.name)["ID"]


def _clone(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out(f"ID: {ctx.call(templates.clone, args.template, args.name)['ID']}")


def _instantiate(ctx: Context, args: argparse.Namespace) -> int:
    extra = read_template_file(args.extra) if args.extra else None
    created = ctx.call(
        templates.instantiate, args.template, args.multiple, args.name, args.hold, extra
    )
    for vm in created:
        ctx.out(f"VM ID: {vm['ID']}")
    if args.hold:
        return 0
    return place(ctx, [vm["ID"] for vm in created])


def _fields(_ctx: Context, body: dict) -> list[tuple[str, Any]]:
    return [
        *owned_fields(body),
        ("REGISTER TIME", timestamp(body["REGTIME"])),
    ]


def _sections(_ctx: Context, body: dict) -> list[str]:
    contents = template.dumps(body["TEMPLATE"]).rstrip()
    return [permissions(body), f"TEMPLATE CONTENTS\n{contents}"]


TEMPLATES = Pool(
    noun="template",
    key="VMTEMPLATE",
    title="TEMPLATE",
    create=_create,
    list=core(templates.list_templates),
    show=core(templates.show),
    update=core(templates.update),
    delete=core(templates.delete),
    owners=Ownership.of(schema.TEMPLATES),
    columns=[*owned_columns(), Column("REGTIME", lambda t: timestamp(t["REGTIME"]), right=True)],
    fields=_fields,
    sections=_sections,
)


def build() -> Cli:
    cli = Cli("onetemplate", "Manage VM templates (OpenNebula template syntax).")
    pool = cli.pool(TEMPLATES)
    pool.create(
        "register a template file; prints its ID",
        arg("file", help="template file (- for stdin); its NAME names the template"),
        arg("--name", help="name it this instead"),
    )
    pool.update("replace (or --append to) a template")
    p = cli.command("clone", "copy a template under a new name", _clone)
    p.add_argument("template", help="template id or name")
    p.add_argument("name", help="the copy's name")
    pool.delete("delete templates", "template ids or names: 0,1 or a range 0..3")
    p = cli.command(
        "instantiate",
        "create VMs from a template and place them; prints their IDs",
        _instantiate,
        description="Create VMs from a template. They are placed on hosts at once by the "
        "scheduler (a VM with no room stays PENDING; onevm show says why).",
    )
    p.add_argument("template", help="template id or name")
    p.add_argument("--multiple", "-m", type=int, default=1, help="how many VMs (default 1)")
    p.add_argument("--name", "-n", help="VM name; %%i is the index when several are made")
    p.add_argument("--hold", action="store_true", help="create them on HOLD (not placed)")
    p.add_argument("--extra", help="a file of attributes merged over the template")
    pool.list("list the templates you may see")
    pool.show("show a template")
    pool.ownership()
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

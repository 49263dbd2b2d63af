"""onetemplate: VM templates (create, update, clone, delete, instantiate, list, show,
chown, chgrp, chmod)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ansible_collections.onekit.cloud.plugins.module_utils.core import schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates
from onekit.cli.common import (
    Cli,
    Column,
    Context,
    add_json_flag,
    add_ownership_commands,
    id_list,
    owned_columns,
    permissions_lines,
    read_template_file,
    show_fields,
    table,
    timestamp,
)
from onekit.cli.placement import place


def _create(ctx: Context, args: argparse.Namespace) -> None:
    body = ctx.call(templates.create, read_template_file(args.file), name=args.name)
    ctx.out(f"ID: {body['ID']}")


def _update(ctx: Context, args: argparse.Namespace) -> None:
    ctx.call(templates.update, args.template, read_template_file(args.file), args.append)


def _clone(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out(f"ID: {ctx.call(templates.clone, args.template, args.name)['ID']}")


def _delete(ctx: Context, args: argparse.Namespace) -> int:
    return ctx.for_each(id_list(args.templates), lambda ref: ctx.call(templates.delete, ref))


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


def _list(ctx: Context, args: argparse.Namespace) -> None:
    rows = ctx.call(templates.list_templates)
    if args.json:
        ctx.json({"VMTEMPLATE_POOL": {"VMTEMPLATE": rows}})
        return
    ctx.out(
        table(
            rows,
            [
                *owned_columns(),
                Column("REGTIME", lambda t: timestamp(t["REGTIME"]), right=True),
            ],
        )
    )


def _show(ctx: Context, args: argparse.Namespace) -> None:
    body = ctx.call(templates.show, args.template)
    if args.json:
        ctx.json({"VMTEMPLATE": body})
        return
    ctx.out(
        show_fields(
            f"TEMPLATE {body['ID']} INFORMATION",
            [
                ("ID", body["ID"]),
                ("NAME", body["NAME"]),
                ("USER", body["UNAME"]),
                ("GROUP", body["GNAME"]),
                ("REGISTER TIME", timestamp(body["REGTIME"])),
            ],
        )
    )
    ctx.out()
    ctx.out(show_fields("PERMISSIONS", permissions_lines(body)))
    ctx.out("\nTEMPLATE CONTENTS")
    ctx.out(template.dumps(body["TEMPLATE"]).rstrip())


def build() -> Cli:
    cli = Cli("onetemplate", "Manage VM templates (OpenNebula template syntax).")
    p = cli.command("create", "register a template file; prints its ID", _create)
    p.add_argument("file", help="template file (- for stdin); its NAME names the template")
    p.add_argument("--name", help="name it this instead")
    p = cli.command("update", "replace (or --append to) a template", _update)
    p.add_argument("template", help="template id or name")
    p.add_argument("file", help="template file (- for stdin)")
    p.add_argument("--append", "-a", action="store_true", help="merge instead of replace")
    p = cli.command("clone", "copy a template under a new name", _clone)
    p.add_argument("template", help="template id or name")
    p.add_argument("name", help="the copy's name")
    p = cli.command("delete", "delete templates", _delete)
    p.add_argument("templates", help="template ids or names: 0,1 or a range 0..3")
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
    p = cli.command("list", "list the templates you may see", _list)
    add_json_flag(p)
    p = cli.command("show", "show a template", _show)
    p.add_argument("template", help="template id or name")
    add_json_flag(p)
    add_ownership_commands(cli, schema.TEMPLATES, "template")
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

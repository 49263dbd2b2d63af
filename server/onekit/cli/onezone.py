"""onezone: the zones of a federation (create, list, show, update, rename, delete) and the
active one (``set``): the zone every onekit command then works in."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ansible_collections.onekit.cloud.plugins.module_utils.objects import zones
from onekit.cli.common import (
    Cli,
    Column,
    Context,
    add_json_flag,
    id_list,
    read_template_file,
    show_fields,
    table,
    zone_file,
)


def _active(ctx: Context) -> str:
    """The endpoint the commands go to now."""
    return ctx.endpoint or ctx.instance.config().endpoint


def _create(ctx: Context, args: argparse.Namespace) -> None:
    zone = ctx.call(zones.create, read_template_file(args.file))
    ctx.out(f"ID: {zone['ID']}")


def _list(ctx: Context, args: argparse.Namespace) -> None:
    rows = ctx.call(zones.list_zones)
    if args.json:
        ctx.json({"ZONE_POOL": {"ZONE": rows}})
        return
    active = _active(ctx)
    ctx.out(
        table(
            rows,
            [
                Column("C", lambda z: "*" if z["TEMPLATE"].get("ENDPOINT") == active else " "),
                Column("ID", lambda z: z["ID"], right=True, width=4),
                Column("NAME", lambda z: z["NAME"], width=15),
                Column("ENDPOINT", lambda z: z["TEMPLATE"].get("ENDPOINT", "")),
            ],
        )
    )


def _show(ctx: Context, args: argparse.Namespace) -> None:
    zone = ctx.call(zones.show, args.zone)
    if args.json:
        ctx.json({"ZONE": zone})
        return
    ctx.out(
        show_fields(f"ZONE {zone['ID']} INFORMATION", [("ID", zone["ID"]), ("NAME", zone["NAME"])])
    )
    ctx.out("\nZONE TEMPLATE")
    for key, value in zone["TEMPLATE"].items():
        ctx.out(f'{key}="{value}"')


def _update(ctx: Context, args: argparse.Namespace) -> None:
    ctx.call(zones.update, args.zone, read_template_file(args.file), args.append)


def _rename(ctx: Context, args: argparse.Namespace) -> None:
    ctx.call(zones.rename, args.zone, args.name)


def _delete(ctx: Context, args: argparse.Namespace) -> int:
    return ctx.for_each(id_list(args.zones), lambda ref: ctx.call(zones.delete, ref))


def _set(ctx: Context, args: argparse.Namespace) -> None:
    """Make a zone the active one: its ENDPOINT goes to the endpoint file."""
    zone = ctx.call(zones.show, args.zone)
    endpoint = zone["TEMPLATE"]["ENDPOINT"]
    path = zone_file(ctx.instance)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(endpoint + "\n")
    ctx.out(f"Endpoint changed to {endpoint!r} in {path}")


def build() -> Cli:
    cli = Cli(
        "onezone",
        "Manage the zones of a federation, and choose the one the commands work in "
        "(`onezone set`; ONE_XMLRPC overrides it).",
    )
    p = cli.command(
        "create", "create a zone from a template (NAME, ENDPOINT); prints its ID", _create
    )
    p.add_argument("file", help='template file: NAME = "zone-b" ENDPOINT = "http://10.0.0.2:2633"')
    p = cli.command("list", "list the zones; * marks the active one", _list)
    add_json_flag(p)
    p = cli.command("show", "show a zone", _show)
    p.add_argument("zone", help="zone id or name")
    add_json_flag(p)
    p = cli.command("update", "replace (or --append to) a zone's template", _update)
    p.add_argument("zone", help="zone id or name")
    p.add_argument("file", help="template file")
    p.add_argument("-a", "--append", action="store_true", help="merge into the template")
    p = cli.command("rename", "rename a zone", _rename)
    p.add_argument("zone", help="zone id or name")
    p.add_argument("name", help="the new name")
    p = cli.command("delete", "delete zones (not zone 0, the master)", _delete)
    p.add_argument("zones", help="zone ids or names: 100,101 or a range 100..104")
    p = cli.command("set", "make a zone the active one for every onekit command", _set)
    p.add_argument("zone", help="zone id or name")
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

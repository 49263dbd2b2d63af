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
    Pool,
    arg,
    core,
    read_template_file,
    zone_file,
)


def _active(ctx: Context) -> str:
    """The endpoint the commands go to now."""
    return ctx.endpoint or ctx.instance.config().endpoint


def _columns(ctx: Context) -> list[Column]:
    """C marks the active zone."""
    active = _active(ctx)
    return [
        Column("C", lambda z: "*" if z["TEMPLATE"].get("ENDPOINT") == active else " "),
        Column("ID", lambda z: z["ID"], right=True, width=4),
        Column("NAME", lambda z: z["NAME"], width=15),
        Column("ENDPOINT", lambda z: z["TEMPLATE"].get("ENDPOINT", "")),
    ]


def _template(_ctx: Context, zone: dict) -> list[str]:
    lines = (f'{key}="{value}"' for key, value in zone["TEMPLATE"].items())
    return ["\n".join(["ZONE TEMPLATE", *lines])]


ZONES = Pool(
    noun="zone",
    key="ZONE",
    create=lambda ctx, args: ctx.call(zones.create, read_template_file(args.file))["ID"],
    list=core(zones.list_zones),
    show=core(zones.show),
    update=core(zones.update),
    rename=core(zones.rename),
    delete=core(zones.delete),
    columns=_columns,
    sections=_template,
)


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
    pool = cli.pool(ZONES)
    pool.create(
        "create a zone from a template (NAME, ENDPOINT); prints its ID",
        arg("file", help='template file: NAME = "zone-b" ENDPOINT = "http://10.0.0.2:2633"'),
    )
    pool.list("list the zones; * marks the active one")
    pool.show("show a zone")
    pool.update(
        "replace (or --append to) a zone's template",
        arg("file", help="template file"),
        arg("-a", "--append", action="store_true", help="merge into the template"),
    )
    pool.rename("rename a zone")
    pool.delete(
        "delete zones (not zone 0, the master)", "zone ids or names: 100,101 or a range 100..104"
    )
    p = cli.command("set", "make a zone the active one for every onekit command", _set)
    p.add_argument("zone", help="zone id or name")
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

"""onevnet: virtual networks (a bridge and its IP leases) that NICs refer to."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.objects import networks
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
)


def _create(ctx: Context, args: argparse.Namespace) -> None:
    net = ctx.call(networks.create, read_template_file(args.file))
    ctx.out(f"ID: {net['ID']}")


def _delete(ctx: Context, args: argparse.Namespace) -> int:
    return ctx.for_each(id_list(args.networks), lambda ref: ctx.call(networks.delete, ref))


def _list(ctx: Context, args: argparse.Namespace) -> None:
    rows = ctx.call(objects.list_visible, schema.NETWORKS)
    if args.json:
        ctx.json({"VNET_POOL": {"VNET": rows}})
        return
    ctx.out(
        table(
            rows,
            [
                *owned_columns(),
                Column("BRIDGE", lambda n: n["BRIDGE"], width=8),
                Column("LEASES", lambda n: f"{len(n['LEASES'])}/{len(n['ADDRESSES'])}", right=True),
            ],
        )
    )


def _show(ctx: Context, args: argparse.Namespace) -> None:
    net = ctx.call(objects.show, schema.NETWORKS, args.network)
    if args.json:
        ctx.json({"VNET": net})
        return
    ctx.out(
        show_fields(
            f"VIRTUAL NETWORK {net['ID']} INFORMATION",
            [
                ("ID", net["ID"]),
                ("NAME", net["NAME"]),
                ("USER", net["UNAME"]),
                ("GROUP", net["GNAME"]),
                ("BRIDGE", net["BRIDGE"]),
                ("USED LEASES", len(net["LEASES"])),
                ("TOTAL LEASES", len(net["ADDRESSES"])),
            ],
        )
    )
    ctx.out()
    ctx.out(show_fields("PERMISSIONS", permissions_lines(net)))
    if net["LEASES"]:
        ctx.out("\nLEASES")
        for ip, vm_id in sorted(net["LEASES"].items()):
            ctx.out(f"IP = {ip}, MAC = {networks.mac_for(ip)}, VM = {vm_id}")


def build() -> Cli:
    cli = Cli("onevnet", "Manage virtual networks (bridge + IP leases).")
    p = cli.command("create", "create a network from a template file; prints its ID", _create)
    p.add_argument(
        "file",
        help="NAME, BRIDGE, and TYPE RANGED (IP_START, IP_END) or FIXED (LEASES = [ IP = ... ])",
    )
    p = cli.command("delete", "delete networks with no leases in use", _delete)
    p.add_argument("networks", help="network ids or names")
    p = cli.command("list", "list networks", _list)
    add_json_flag(p)
    p = cli.command("show", "show a network and its leases", _show)
    p.add_argument("network", help="network id or name")
    add_json_flag(p)
    add_ownership_commands(cli, schema.NETWORKS, "network")
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

"""onevnet: virtual networks (a bridge and its IP leases) that NICs refer to."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.objects import networks
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
)


def _fields(_ctx: Context, net: dict) -> list[tuple[str, Any]]:
    return [
        *owned_fields(net),
        ("BRIDGE", net["BRIDGE"]),
        ("USED LEASES", len(net["LEASES"])),
        ("HELD LEASES", len(networks.held_ips(net))),
        ("TOTAL LEASES", len(net["ADDRESSES"])),
    ]


def _sections(_ctx: Context, net: dict) -> list[str]:
    blocks = [permissions(net), "VIRTUAL NETWORK TEMPLATE\n" + template.dumps(net["TEMPLATE"])]
    if net["LEASES"]:
        leases = sorted(net["LEASES"].items())
        lines = (f"IP = {ip}, MAC = {networks.mac_for(ip)}, {_holder(vm)}" for ip, vm in leases)
        blocks.append("\n".join(["LEASES", *lines]))
    return [b.rstrip() for b in blocks]


def _holder(vm: int) -> str:
    return "HELD" if vm == networks.HELD else f"VM = {vm}"


def _lease_command(cli: Cli, name: str, help: str, call: Any) -> None:
    def handler(ctx: Context, args: argparse.Namespace) -> None:
        ctx.call(call, args.network, args.ip)

    cli.command(
        name,
        help,
        handler,
        arguments=[arg("network", help="network id or name"), arg("ip", help="the lease's IP")],
    )


NETWORKS = Pool(
    noun="network",
    key="VNET",
    title="VIRTUAL NETWORK",
    create=lambda ctx, args: ctx.call(networks.create, read_template_file(args.file))["ID"],
    list=core(objects.list_visible, schema.NETWORKS),
    show=core(objects.show, schema.NETWORKS),
    delete=core(networks.delete),
    update=core(networks.update),
    owners=Ownership.of(schema.NETWORKS),
    columns=[
        *owned_columns(),
        Column("BRIDGE", lambda n: n["BRIDGE"], width=8),
        Column("LEASES", lambda n: f"{len(n['LEASES'])}/{len(n['ADDRESSES'])}", right=True),
    ],
    fields=_fields,
    sections=_sections,
)


def build() -> Cli:
    cli = Cli("onevnet", "Manage virtual networks (bridge + IP leases).")
    pool = cli.pool(NETWORKS)
    pool.create(
        "create a network from a template file; prints its ID",
        arg(
            "file",
            help="NAME, BRIDGE, and TYPE RANGED (IP_START, IP_END) "
            "or FIXED (LEASES = [ IP = ... ])",
        ),
    )
    pool.delete("delete networks with no leases in use")
    pool.list("list networks")
    pool.show("show a network and its leases")
    pool.update("replace (or --append to) a network's template; its leases and bridge stay")
    _lease_command(cli, "hold", "hold a lease: no VM gets it until released", networks.hold)
    _lease_command(cli, "release", "release a held lease", networks.release)
    pool.ownership()
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

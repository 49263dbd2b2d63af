"""onevnet: virtual networks (a bridge and its IP leases) that NICs refer to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
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
        ("TOTAL LEASES", len(net["ADDRESSES"])),
    ]


def _sections(_ctx: Context, net: dict) -> list[str]:
    blocks = [permissions(net)]
    if net["LEASES"]:
        leases = sorted(net["LEASES"].items())
        lines = (f"IP = {ip}, MAC = {networks.mac_for(ip)}, VM = {vm}" for ip, vm in leases)
        blocks.append("\n".join(["LEASES", *lines]))
    return blocks


NETWORKS = Pool(
    noun="network",
    key="VNET",
    title="VIRTUAL NETWORK",
    create=lambda ctx, args: ctx.call(networks.create, read_template_file(args.file))["ID"],
    list=core(objects.list_visible, schema.NETWORKS),
    show=core(objects.show, schema.NETWORKS),
    delete=core(networks.delete),
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
    pool.ownership()
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

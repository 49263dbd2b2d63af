"""``VNET`` and ``VNET_POOL`` (vnet.xsd, vnet_pool.xsd).

onekit's networks are 4.6's (``objects.networks``): a bridge and a list of IPv4
addresses, RANGED or FIXED, each lease taken by a VM or held (-1). OpenNebula shows
addresses as address ranges: here each run of consecutive addresses is one ``AR`` of
TYPE IP4 (a RANGED network is one; 4.8's upgrade made the same of FIXED leases), its
MACs onekit's (``networks.mac_for``), and its taken leases as ``LEASES`` with the VM
holding each (-1: held, as oned shows ``onevnet hold``). one.vnpool.info's AR is
vnet_pool.xsd's, shorter: no end addresses, no leases.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator

from ansible_collections.onekit.cloud.plugins.module_utils.objects import clusters, networks
from onekit.server.rpc2.documents import (
    Body,
    element,
    ids,
    ownership,
    permissions,
    pool,
    template,
)

VN_MAD = "bridge"  # a NIC joins the host bridge BRIDGE
READY = 1  # VirtualNetwork::VirtualNetworkState READY


def _runs(addresses: list[str]) -> Iterator[list[str]]:
    """The addresses in runs of consecutive ones, in the network's order."""
    run: list[str] = []
    last = None
    for ip in addresses:
        number = int(ipaddress.IPv4Address(ip))
        if run and number != last + 1:
            yield run
            run = []
        run.append(ip)
        last = number
    if run:
        yield run


def _ar(ar_id: int, run: list[str], leases: dict, full: bool) -> str:
    taken = [ip for ip in run if ip in leases]
    head = (
        element("AR_ID", ar_id)
        + element("IP", run[0])
        + element("MAC", networks.mac_for(run[0]))
        + element("NEXT_INDEX", 0)
        + element("SIZE", len(run))
        + element("TYPE", "IP4")
    )
    if not full:
        return f"<AR>{head}</AR>"
    lease_list = "".join(
        "<LEASE>"
        + element("IP", ip)
        + element("MAC", networks.mac_for(ip))
        + element("VM", leases[ip])
        + "</LEASE>"
        for ip in taken
    )
    return (
        "<AR>"
        + head
        + element("MAC_END", networks.mac_for(run[-1]))
        + element("IP_END", run[-1])
        + element("USED_LEASES", len(taken))
        + f"<LEASES>{lease_list}</LEASES>"
        + "</AR>"
    )


def _ar_pool(body: Body, full: bool) -> str:
    leases = body.get("LEASES") or {}
    ranges = _runs(list(body.get("ADDRESSES") or []))
    return (
        "<AR_POOL>"
        + "".join(_ar(ar_id, run, leases, full) for ar_id, run in enumerate(ranges))
        + "</AR_POOL>"
    )


def vnet(body: Body, full: bool = True) -> str:
    """one.vn.info's VNET (``full``), or the VNET of one.vnpool.info."""
    tpl = body.get("TEMPLATE") or {}
    return (
        "<VNET>"
        + ownership(body)
        + permissions(body)
        + ids("CLUSTERS", (clusters.DEFAULT_ID,))
        + element("BRIDGE", body.get("BRIDGE", ""))
        + element("BRIDGE_TYPE", tpl.get("BRIDGE_TYPE", "linux"))
        + element("STATE", READY)
        + element("PREV_STATE", READY)
        + "<PARENT_NETWORK_ID/><TEMPLATE_ID/>"
        + element("VN_MAD", tpl.get("VN_MAD", VN_MAD))
        + element("PHYDEV", tpl.get("PHYDEV", ""))
        + element("VLAN_ID", tpl.get("VLAN_ID", ""))
        + "<OUTER_VLAN_ID/>"
        + element("VLAN_ID_AUTOMATIC", 0)
        + element("OUTER_VLAN_ID_AUTOMATIC", 0)
        + element("USED_LEASES", len(body.get("LEASES") or {}))
        + ids("VROUTERS", ())
        + ids("UPDATED_VMS", ())
        + ids("OUTDATED_VMS", ())
        + ids("UPDATING_VMS", ())
        + ids("ERROR_VMS", ())
        + template(tpl)
        + _ar_pool(body, full)
        + "</VNET>"
    )


def vnet_pool(bodies: Iterable[Body]) -> str:
    return pool("VNET_POOL", (vnet(b, full=False) for b in bodies))

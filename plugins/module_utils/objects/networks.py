"""Virtual networks: a bridge and the IP leases VMs get on it.

OpenNebula 4.6's two kinds: ``TYPE = "RANGED"`` with ``IP_START``/``IP_END``, and
``TYPE = "FIXED"`` with ``LEASES = [ IP = ... ]`` (repeated). A NIC naming the network
(``NETWORK`` or ``NETWORK_ID``) gets the bridge, a free IP (or the ``IP`` it asks for) and
the MAC oned derives from it (prefix 02:00, then the IP's four bytes). Leases are taken
when the VM is created and given back when it is DONE.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session

Body = dict[str, Any]
MAX_RANGE = 65536
MAC_PREFIX = "02:00"


def _ip(value: Any, what: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{what} {value!r} is not an IPv4 address") from None


def _addresses(tpl: dict) -> list[str]:
    kind = str(tpl.get("TYPE", "RANGED")).upper()
    if kind == "FIXED":
        leases = template.as_list(tpl, "LEASES")
        if not leases or not all(isinstance(lease, dict) and "IP" in lease for lease in leases):
            raise InvalidInput('a FIXED network needs LEASES = [ IP = "..." ] (one per lease)')
        return [str(_ip(lease["IP"], "LEASES/IP")) for lease in leases]
    if kind != "RANGED":
        raise InvalidInput(f"network TYPE {kind!r} is unknown; use RANGED or FIXED")
    if "IP_START" not in tpl or "IP_END" not in tpl:
        raise InvalidInput("a RANGED network needs IP_START and IP_END")
    start, end = _ip(tpl["IP_START"], "IP_START"), _ip(tpl["IP_END"], "IP_END")
    if end < start:
        raise InvalidInput("IP_END comes before IP_START")
    if int(end) - int(start) >= MAX_RANGE:
        raise InvalidInput(f"the range holds more than {MAX_RANGE} addresses")
    return [str(ipaddress.IPv4Address(i)) for i in range(int(start), int(end) + 1)]


def mac_for(ip: str) -> str:
    return MAC_PREFIX + "".join(f":{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def create(session: Session, tpl: template.Source) -> Body:
    """``onevnet create`` with ``NAME``, ``BRIDGE`` and RANGED or FIXED leases."""
    tpl = template.load(tpl, "a network template")
    name = tpl.pop("NAME", None)
    if not tpl.get("BRIDGE"):
        raise InvalidInput('a network needs BRIDGE, the host bridge its NICs join (BRIDGE = "br0")')
    addresses = _addresses(tpl)
    fields = {"BRIDGE": tpl["BRIDGE"], "ADDRESSES": addresses, "LEASES": {}, "TEMPLATE": tpl}
    return objects.create(session, schema.NETWORKS, name, fields)


def delete(session: Session, ref: int | str) -> Body:
    with session.write() as w:
        net = pool.resolve(w.tx, schema.NETWORKS, ref, lock=True)
        w.authorize(objects.target(schema.NETWORKS, net), Right.MANAGE)
        if net["LEASES"]:
            raise Conflict(
                f"network {net['NAME']} has leases in use by VMs "
                f"{', '.join(sorted(set(map(str, net['LEASES'].values()))))}"
            )
        pool.delete(w.tx, schema.NETWORKS, net["ID"])
        return net


def lease_nic(w: AuthTx, nic: dict[str, str], vm_id: int) -> dict[str, str]:
    """A template NIC with its network resolved: bridge, IP and MAC (USE needed)."""
    ref = nic.get("NETWORK_ID", nic.get("NETWORK"))
    if ref is None:  # a bridge given directly, a libvirt network, or user-mode networking
        return dict(nic)
    try:
        net = pool.resolve(w.tx, schema.NETWORKS, ref, lock=True)
    except NotFound as err:
        raise NotFound(f"NIC refers to a network that does not exist: {err}") from None
    w.authorize(objects.target(schema.NETWORKS, net), Right.USE)
    wanted = nic.get("IP")
    if wanted is not None:
        ip = str(_ip(wanted, "NIC/IP"))
        if ip not in net["ADDRESSES"]:
            raise InvalidInput(f"IP {ip} is not in network {net['NAME']}")
        if ip in net["LEASES"]:
            raise Conflict(f"IP {ip} of network {net['NAME']} is leased to VM {net['LEASES'][ip]}")
    else:
        ip = next((a for a in net["ADDRESSES"] if a not in net["LEASES"]), None)
        if ip is None:
            raise Conflict(f"network {net['NAME']} has no free lease")
    net["LEASES"][ip] = vm_id
    pool.update(w.tx, schema.NETWORKS, net)
    return {
        **nic,
        "NETWORK": net["NAME"],
        "NETWORK_ID": str(net["ID"]),
        "BRIDGE": net["BRIDGE"],
        "IP": ip,
        "MAC": nic.get("MAC") or mac_for(ip),
    }


def release_leases(w: AuthTx, vm: Body) -> None:
    """Give back every lease a VM holds (it is DONE)."""
    for nic in template.as_list(vm["TEMPLATE"], "NIC"):
        if not isinstance(nic, dict) or "NETWORK_ID" not in nic or "IP" not in nic:
            continue
        net = pool.get(w.tx, schema.NETWORKS, int(nic["NETWORK_ID"]), lock=True)
        if net is not None and net["LEASES"].get(nic["IP"]) == vm["ID"]:
            del net["LEASES"][nic["IP"]]
            pool.update(w.tx, schema.NETWORKS, net)

"""Virtual networks: a bridge and the IP leases VMs get on it.

OpenNebula 4.6's two kinds: ``TYPE = "RANGED"`` with ``IP_START``/``IP_END``, and
``TYPE = "FIXED"`` with ``LEASES = [ IP = ... ]`` (repeated); or, as OpenNebula 4.8 and
later write them (its XML-RPC clients do), address ranges
``AR = [ TYPE = "IP4", IP = ..., SIZE = ... ]`` (repeated), whose addresses onekit keeps
the same way. A NIC naming the network
(``NETWORK`` or ``NETWORK_ID``) gets the bridge, a free IP (or the ``IP`` it asks for) and
the MAC oned derives from it (prefix 02:00, then the IP's four bytes). Leases are taken
when the VM is created and given back when it is DONE.

``LEASES`` maps each taken IP to the VM holding it, or to ``HELD`` (-1, 4.6's VID) for a
lease a user holds (``onevnet hold``): no VM gets it until ``onevnet release``. The EC2
server's Elastic IPs are such holds (``econe.addresses``).
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
HELD = -1  # LEASES value of a lease held by a user, not a VM (4.6's VID -1)
# What makes the leases and the bridge: ``onevnet update`` may not change them (4.6 has
# addleases/rmleases for that; onekit: a new network)
STRUCTURE = ("TYPE", "BRIDGE", "LEASES", "IP_START", "IP_END", "AR")


def _ip(value: Any, what: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{what} {value!r} is not an IPv4 address") from None


def _addresses(tpl: dict) -> list[str]:
    if "AR" in tpl:
        if "TYPE" in tpl:
            raise InvalidInput("a network has TYPE (RANGED or FIXED) or AR, not both")
        return _ranges(template.as_list(tpl, "AR"))
    kind = str(tpl.get("TYPE", "RANGED")).upper()
    if kind == "FIXED":
        leases = template.as_list(tpl, "LEASES")
        if not leases or not all(isinstance(lease, dict) and "IP" in lease for lease in leases):
            raise InvalidInput('a FIXED network needs LEASES = [ IP = "..." ] (one per lease)')
        return [str(_ip(lease["IP"], "LEASES/IP")) for lease in leases]
    if kind != "RANGED":
        raise InvalidInput(f"network TYPE {kind!r} is unknown; use RANGED or FIXED")
    if ("IP_START" not in tpl or "IP_END" not in tpl) and "NETWORK_ADDRESS" in tpl:
        return _classful(tpl)
    if "IP_START" not in tpl or "IP_END" not in tpl:
        raise InvalidInput(
            "a RANGED network needs IP_START and IP_END (or NETWORK_ADDRESS and NETWORK_SIZE)"
        )
    start, end = _ip(tpl["IP_START"], "IP_START"), _ip(tpl["IP_END"], "IP_END")
    if end < start:
        raise InvalidInput("IP_END comes before IP_START")
    if int(end) - int(start) >= MAX_RANGE:
        raise InvalidInput(f"the range holds more than {MAX_RANGE} addresses")
    return [str(ipaddress.IPv4Address(i)) for i in range(int(start), int(end) + 1)]


_CLASS_SIZES = {"A": 2**24 - 2, "B": 2**16 - 2, "C": 254}


def _classful(tpl: dict) -> list[str]:
    """4.6's other RANGED form: ``NETWORK_ADDRESS`` (``a.b.c.d`` or ``a.b.c.d/n``) with
    ``NETWORK_SIZE`` (``A``, ``B``, ``C``, the default, or a number of hosts) or
    ``NETWORK_MASK``: the smallest network holding that many hosts, its addresses but the
    network's and the broadcast, as oned's RangedLeases computes them."""
    address = str(tpl["NETWORK_ADDRESS"]).strip()
    base, _, bits = address.partition("/")
    first = _ip(base, "NETWORK_ADDRESS")
    if bits:
        if not bits.isdigit() or not 1 <= int(bits) <= 30:
            raise InvalidInput(f"NETWORK_ADDRESS {address!r}: the prefix must be 1 to 30 bits")
        prefix = int(bits)
    elif "NETWORK_MASK" in tpl:
        try:
            prefix = ipaddress.IPv4Network(f"0.0.0.0/{tpl['NETWORK_MASK']}").prefixlen
        except ValueError:
            raise InvalidInput(f"NETWORK_MASK {tpl['NETWORK_MASK']!r} is not a netmask") from None
    else:
        size = str(tpl.get("NETWORK_SIZE", "C")).strip().upper()
        hosts = _CLASS_SIZES.get(size) or (int(size) if size.isdigit() else 0)
        if not 1 <= hosts <= MAX_RANGE:
            raise InvalidInput(
                f"NETWORK_SIZE must be A, B, C or a number of hosts from 1 to {MAX_RANGE}, "
                f"got {pool.shorten(size)!r}"
            )
        host_bits = max(2, (hosts + 1).bit_length())
        prefix = 32 - host_bits
    net = ipaddress.IPv4Network(f"{first}/{prefix}", strict=False)
    if net.num_addresses - 2 > MAX_RANGE:
        raise InvalidInput(f"the network holds more than {MAX_RANGE} addresses")
    return [str(ip) for ip in net.hosts()]


def _ranges(ranges: list) -> list[str]:
    """The addresses of ``AR = [ TYPE = "IP4", IP = "...", SIZE = n ]`` vectors, in order."""
    addresses: list[str] = []
    for ar in ranges:
        if not isinstance(ar, dict) or str(ar.get("TYPE", "")).strip().upper() != "IP4":
            raise InvalidInput(
                'an address range must be AR = [ TYPE = "IP4", IP = "...", SIZE = ... ]: '
                "onekit leases IPv4 addresses"
            )
        first = int(_ip(ar.get("IP"), "AR/IP"))
        size = str(ar.get("SIZE", "")).strip()
        if not size.isdigit() or not 1 <= int(size) <= MAX_RANGE:
            raise InvalidInput(
                f"AR/SIZE must be a whole number from 1 to {MAX_RANGE}, got {pool.shorten(size)!r}"
            )
        if first + int(size) > 2**32:
            raise InvalidInput(f"AR/SIZE {size} runs past the last IPv4 address")
        addresses += [str(ipaddress.IPv4Address(first + i)) for i in range(int(size))]
    if len(addresses) > MAX_RANGE:
        raise InvalidInput(f"the address ranges hold more than {MAX_RANGE} addresses")
    if len(set(addresses)) != len(addresses):
        raise InvalidInput("the address ranges overlap")
    return addresses


def mac_for(ip: str) -> str:
    return MAC_PREFIX + "".join(f":{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def create(session: Session, tpl: template.Source) -> Body:
    """``onevnet create`` with ``NAME``, ``BRIDGE`` and RANGED or FIXED leases, or ARs."""
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
        users = sorted({vm for vm in net["LEASES"].values() if vm != HELD})
        if users:
            raise Conflict(
                f"network {net['NAME']} has leases in use by VMs {', '.join(map(str, users))}"
            )
        held = held_ips(net)
        if held:
            raise Conflict(
                f"network {net['NAME']} has held leases {', '.join(held)}: "
                "release them first (onevnet release)"
            )
        pool.delete(w.tx, schema.NETWORKS, net["ID"])
        return net


def held_ips(net: Body) -> list[str]:
    """The network's held leases, in address order."""
    return [ip for ip in net["ADDRESSES"] if net["LEASES"].get(ip) == HELD]


def lock(w: AuthTx, ref: int | str, right: Right | None = Right.MANAGE) -> Body:
    """The network, its row locked, with ``right`` on it checked (None: the caller
    decided, as the EC2 server does for its configured Elastic IP network)."""
    net = pool.resolve(w.tx, schema.NETWORKS, ref, lock=True)
    if right is not None:
        w.authorize(objects.target(schema.NETWORKS, net), right)
    return net


def hold(session: Session, ref: int | str, ip: str) -> Body:
    """``onevnet hold <vnet> <ip>``: the lease is taken, no VM gets it (MANAGE)."""
    with session.write() as w:
        net = lock(w, ref)
        hold_in(w, net, ip)
        return net


def hold_in(w: AuthTx, net: Body, ip: str | None = None) -> str:
    """Hold ``ip`` (None: the first free lease) of a locked network; returns it."""
    if ip is None:
        ip = next((a for a in net["ADDRESSES"] if a not in net["LEASES"]), None)
        if ip is None:
            raise Conflict(f"network {net['NAME']} has no free lease")
    else:
        ip = _lease_of(net, ip)
        _check_free(net, ip)
    net["LEASES"][ip] = HELD
    pool.update(w.tx, schema.NETWORKS, net)
    return ip


def lease_ip(tpl: template.Source) -> str:
    """The IP of a lease template, ``LEASES = [ IP = "10.0.0.5" ]`` (what OpenNebula's
    one.vn.hold and one.vn.release take): onekit names a lease by its IP."""
    leases = template.as_list(template.load(tpl, "a lease template"), "LEASES")
    if len(leases) != 1 or not isinstance(leases[0], dict) or "IP" not in leases[0]:
        raise InvalidInput('a lease template needs one LEASES = [ IP = "..." ]')
    return str(leases[0]["IP"])


def release(session: Session, ref: int | str, ip: str) -> Body:
    """``onevnet release <vnet> <ip>``: a held lease is free again (MANAGE). A lease a VM
    holds is given back when the VM is done, never here."""
    with session.write() as w:
        net = lock(w, ref)
        release_in(w, net, ip)
        return net


def release_in(w: AuthTx, net: Body, ip: str) -> None:
    ip = _lease_of(net, ip)
    holder = net["LEASES"].get(ip)
    if holder is None:
        raise Conflict(f"IP {ip} of network {net['NAME']} is not held")
    if holder != HELD:
        raise Conflict(
            f"IP {ip} of network {net['NAME']} is leased to VM {holder}: "
            "it is given back when the VM is done"
        )
    del net["LEASES"][ip]
    pool.update(w.tx, schema.NETWORKS, net)


def update(session: Session, ref: int | str, tpl: template.Source, append: bool = False) -> Body:
    """``onevnet update``: replace the network's template (or merge into it with
    ``append``), MANAGE. Its leases and bridge stay as they are (``STRUCTURE``): left
    out, they are kept; given, they must say the same."""
    parsed = template.load(tpl, "a network template")
    parsed.pop("NAME", None)
    with session.write() as w:
        net = lock(w, ref)
        update_in(w, net, parsed, append)
        return net


def update_in(w: AuthTx, net: Body, tpl: dict, append: bool = True) -> None:
    """Store a new template (merged into the old one with ``append``) of a locked network."""
    old = net["TEMPLATE"]
    if append:
        new = template.merge(old, tpl)
    else:
        # the new template in its order (clients compare ordered templates), then what
        # it leaves out of the structure
        new = {**tpl, **{k: v for k, v in old.items() if k in STRUCTURE and k not in tpl}}
    changed = [k for k in ("BRIDGE",) if str(new.get(k)) != str(net[k])]
    if not changed and _addresses(new) != net["ADDRESSES"]:
        changed = [k for k in STRUCTURE if k != "BRIDGE" and new.get(k) != old.get(k)]
    if changed:
        raise InvalidInput(
            f"cannot change {', '.join(changed)} of network {net['NAME']}: "
            "its leases and bridge are fixed when it is created (make a new network)"
        )
    net["TEMPLATE"] = new
    pool.update(w.tx, schema.NETWORKS, net)


def _lease_of(net: Body, ip: str) -> str:
    address = str(_ip(ip, "IP"))
    if address not in net["ADDRESSES"]:
        raise InvalidInput(f"IP {address} is not in network {net['NAME']}")
    return address


def _check_free(net: Body, ip: str) -> None:
    holder = net["LEASES"].get(ip)
    if holder == HELD:
        raise Conflict(f"IP {ip} of network {net['NAME']} is held (onevnet release frees it)")
    if holder is not None:
        raise Conflict(f"IP {ip} of network {net['NAME']} is leased to VM {holder}")


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
        _check_free(net, ip)
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

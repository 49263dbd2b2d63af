"""Elastic IPs: AllocateAddress, ReleaseAddress, DescribeAddresses, AssociateAddress,
DisassociateAddress, on the leases of the network econe.conf names
(``:elasticips_vnet_id:``).

As 4.6: an allocated address is a held lease of that network (``networks.hold_in``: no
VM gets it) and an ``EC2_ADDRESSES = [ IP, UID ]`` entry in the network's template,
``VMID`` added while it is associated with an instance. The network is the admin's and
its users need no right on it (the guide: "USE permission for the ec2 users is not
required"): the server acts on that one network for them, on their own addresses only.

Associating runs the admin's ``:associate_script: <elastic ip> <private ip> <base64 of the
network's template>`` (disassociating ``:disassociate_script: <elastic ip>``), as an
argument list, never through a shell; they are what plumbs the address (4.6 re-plumbs
nothing itself, nor does onekit). A script runs inside the transaction that records its
effect, the network's row locked: a failure is an error and nothing is recorded, and two
requests on the same address cannot interleave. So it gets ``SCRIPT_TIMEOUT`` seconds,
less than a writer of the store waits for a lock.
"""

from __future__ import annotations

import base64
import subprocess
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    Conflict,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import VmState
from ansible_collections.onekit.cloud.plugins.module_utils.econe import filters, ids
from ansible_collections.onekit.cloud.plugins.module_utils.econe.call import Call
from ansible_collections.onekit.cloud.plugins.module_utils.econe.errors import Ec2Error
from ansible_collections.onekit.cloud.plugins.module_utils.objects import networks

Body = dict[str, Any]
ENTRIES = "EC2_ADDRESSES"
SCRIPT_TIMEOUT = 20  # seconds a script may run
FILTERS = ("public-ip", "instance-id", "domain")
NOT_FOUND = "InvalidAddress.NotFound"
SCRIPT_FAILED = "ElasticIpScriptFailed"


# ---- the network and its entries --------------------------------------------------------
def _network(w: AuthTx, call: Call, lock: bool = True) -> Body:
    """The Elastic IP network (its row locked to write); no right of the caller's asked."""
    vnet = call.config.elasticips_vnet_id
    if vnet is None:
        raise Ec2Error(
            "UnsupportedOperation",
            "Elastic IPs are disabled: econe.conf names no network (:elasticips_vnet_id:)",
        )
    try:
        if lock:
            return networks.lock(w, vnet, right=None)
        return pool.resolve(w.tx, schema.NETWORKS, vnet)
    except NotFound:
        raise Ec2Error(
            "UnsupportedOperation",
            f"Elastic IPs are unavailable: network {vnet} of econe.conf "
            "(:elasticips_vnet_id:) does not exist",
        ) from None


def _entries(net: Body) -> list[dict[str, str]]:
    return [e for e in template.as_list(net["TEMPLATE"], ENTRIES) if isinstance(e, dict)]


def _store(w: AuthTx, net: Body, entries: list[dict[str, str]]) -> None:
    networks.update_in(w, net, {ENTRIES: entries}, append=True)


def _own(entries: list[dict[str, str]], ip: str, uid: int) -> dict[str, str]:
    """The caller's entry of address ``ip``: another user's is as unknown as a stranger."""
    for entry in entries:
        if entry.get("IP") == ip and entry.get("UID") == str(uid):
            return entry
    raise Ec2Error(NOT_FOUND, f"address {ip} is not allocated to you")


def _public_ip(call: Call) -> str:
    return call.params.required("PublicIp").strip()


# ---- the scripts ------------------------------------------------------------------------
def _run(script: str | None, args: list[str], what: str) -> None:
    """Run an admin's script with ``args`` as its arguments (no shell reads them)."""
    if script is None:
        raise Ec2Error(
            "UnsupportedOperation",
            f"Elastic IPs cannot be {what}d: econe.conf names no :{what}_script:",
        )
    try:
        done = subprocess.run(
            [script, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=SCRIPT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise Ec2Error(
            SCRIPT_FAILED, f"the {what} script {script} ran over {SCRIPT_TIMEOUT} s"
        ) from None
    except OSError as err:
        raise Ec2Error(
            SCRIPT_FAILED, f"the {what} script {script} cannot run: {err.strerror}"
        ) from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        said = f": {lines[-1][:200]}" if lines else ""
        raise Ec2Error(
            SCRIPT_FAILED, f"the {what} script {script} failed (exit {done.returncode}){said}"
        )


def _disassociate(call: Call, entry: dict[str, str]) -> None:
    """Run the disassociate script for an address that points at an instance."""
    if "VMID" in entry:
        _run(call.config.disassociate_script, [entry["IP"]], "disassociate")


def _network_text(net: Body) -> str:
    """What the associate script gets: the network's template, base64 (4.6 sent its XML)."""
    text = template.dumps({"ID": str(net["ID"]), "NAME": net["NAME"], **net["TEMPLATE"]})
    return base64.b64encode(text.encode()).decode()


def _private_ip(w: AuthTx, call: Call, instance: str) -> tuple[int, str]:
    """The instance's id and its first NIC's IP; the caller must MANAGE the VM."""
    code = "InvalidInstanceID"
    vm_id = ids.parse_id("i", instance, code)
    try:
        vm = pool.resolve(w.tx, schema.VMS, vm_id)
        w.authorize(objects.target(schema.VMS, vm), Right.MANAGE)
    except (NotFound, AuthorizationError):
        vm = None
    if vm is None or vm["STATE"] == VmState.DONE:
        raise Ec2Error(f"{code}.NotFound", f"the instance ID {instance!r} does not exist")
    nics = [n for n in template.as_list(vm["TEMPLATE"], "NIC") if isinstance(n, dict)]
    ip = next((n["IP"] for n in nics if n.get("IP")), None)
    if ip is None:
        raise Ec2Error(
            "InvalidInstanceID", f"instance {ids.format_id('i', vm_id)} has no NIC with an IP"
        )
    return vm_id, ip


# ---- the actions ------------------------------------------------------------------------
def allocate_address(call: Call) -> Body:
    """Hold the network's first free lease for the caller."""
    with call.session.write() as w:
        net = _network(w, call)
        held = [e for e in _entries(net) if e.get("UID") == str(w.subject.uid)]
        if len(held) >= call.config.elasticips_per_user and not w.subject.is_admin:
            raise Ec2Error(
                "AddressLimitExceeded",
                f"you hold {len(held)} Elastic IPs, the most a user may: release one first",
            )
        try:
            ip = networks.hold_in(w, net)
        except Conflict:
            raise Ec2Error(
                "AddressLimitExceeded", f"no Elastic IP is left in network {net['NAME']}"
            ) from None
        _store(w, net, [*_entries(net), {"IP": ip, "UID": str(w.subject.uid)}])
    return {"publicIp": ip, "domain": "standard"}


# The scripts run outside any transaction: a script may take SCRIPT_TIMEOUT seconds, and a
# write transaction holding the network's row (on SQLite, the whole store) that long
# would stall every other writer. Each action checks in one transaction, runs the
# script, then records in another, checking again that the address is still the
# caller's (a refusal then leaves the record as it was; the script has run).


def release_address(call: Call) -> Body:
    """Give the address back (disassociated first, as 4.6)."""
    ip = _public_ip(call)
    with call.session.write(dry_run=True) as w:  # every refusal before any script runs
        net = _network(w, call)
        entry = _own(_entries(net), ip, w.subject.uid)
        networks.release_in(w, net, ip)
    _disassociate(call, entry)
    with call.session.write() as w:
        net = _network(w, call)
        _own(_entries(net), ip, w.subject.uid)
        networks.release_in(w, net, ip)
        _store(w, net, [e for e in _entries(net) if e.get("IP") != ip])
    return {"return": True}


def associate_address(call: Call) -> Body:
    """Point the address at an instance's private IP (moved from another one, if any)."""
    ip = _public_ip(call)
    instance = call.params.required("InstanceId").strip()
    with call.session.read() as w:
        net = _network(w, call, lock=False)
        entry = _own(_entries(net), ip, w.subject.uid)
        vm_id, private_ip = _private_ip(w, call, instance)
    _disassociate(call, entry)
    _run(call.config.associate_script, [ip, private_ip, _network_text(net)], "associate")
    _record(call, ip, str(vm_id))
    return {"return": True}


def disassociate_address(call: Call) -> Body:
    ip = _public_ip(call)
    with call.session.read() as w:
        entry = _own(_entries(_network(w, call, lock=False)), ip, w.subject.uid)
    if "VMID" not in entry:
        raise Ec2Error(NOT_FOUND, f"address {ip} is not associated with an instance")
    _disassociate(call, entry)
    _record(call, ip, None)
    return {"return": True}


def _record(call: Call, ip: str, vm_id: str | None) -> None:
    """The address's instance (None: none) written, if the address is still the caller's."""
    with call.session.write() as w:
        net = _network(w, call)
        entries = _entries(net)
        entry = _own(entries, ip, w.subject.uid)
        entry.pop("VMID", None)
        if vm_id is not None:
            entry["VMID"] = vm_id
        _store(w, net, entries)


def public_ips(call: Call) -> dict[int, str]:
    """Each VM's associated Elastic IP (DescribeInstances' ipAddress), by VM id: one read
    of the network; none when Elastic IPs are off."""
    if call.config.elasticips_vnet_id is None:
        return {}
    with call.session.read() as w:
        try:
            net = pool.resolve(w.tx, schema.NETWORKS, call.config.elasticips_vnet_id)
        except NotFound:
            return {}
    found = {}
    for entry in _entries(net):
        vm = str(entry.get("VMID", ""))
        if vm.isdigit():
            found[int(vm)] = str(entry["IP"])
    return found


def describe_addresses(call: Call) -> Body:
    """The caller's addresses (an admin's too: its own, as 4.6)."""
    wanted = [ip.strip() for ip in call.params.list("PublicIp")]
    given = call.params.filters()
    filters.check_names(given, FILTERS)
    with call.session.read() as w:
        net = _network(w, call, lock=False)
        uid = str(w.subject.uid)
    mine = [e for e in _entries(net) if e.get("UID") == uid]
    missing = [ip for ip in wanted if ip not in {e.get("IP") for e in mine}]
    if missing:
        raise Ec2Error(NOT_FOUND, f"address {missing[0]} is not allocated to you")
    items = []
    for entry in mine:
        vm = str(entry.get("VMID", ""))
        instance = ids.format_id("i", int(vm)) if vm.isdigit() else None
        values = {
            "public-ip": [entry["IP"]],
            "instance-id": [instance] if instance else [],
            "domain": ["standard"],
        }
        if (not wanted or entry["IP"] in wanted) and filters.matches(given, values):
            items.append({"publicIp": entry["IP"], "domain": "standard", "instanceId": instance})
    return {"addressesSet": items}


ACTIONS = {
    "AllocateAddress": allocate_address,
    "ReleaseAddress": release_address,
    "DescribeAddresses": describe_addresses,
    "AssociateAddress": associate_address,
    "DisassociateAddress": disassociate_address,
}

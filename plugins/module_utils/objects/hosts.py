"""Hosts: hypervisors registered with ``onehost create``, their capacity and state.

Changing a host (its URI, attributes, state) needs ADMIN on it: MANAGE is what a user
needs to *run VMs* there (``@100 HOST/#1 MANAGE``), and must not let them point the host
at another hypervisor.

A host's body follows oned's: ``STATE``, ``IM_MAD``/``VM_MAD``, ``HOST_SHARE`` (capacity:
``MAX_CPU``/``MAX_MEM`` from monitoring, ``CPU_USAGE``/``MEM_USAGE`` allocated to VMs,
``USED_*``/``FREE_*`` measured, ``RUNNING_VMS``), ``VMS`` (ids of the VMs it holds) and a
``TEMPLATE`` with the monitoring attributes and the user's own (``PRIORITY``...). onekit
adds ``TEMPLATE/URI``, the libvirt URI the driver connects to (an EC2 host has none: its
region is the entry of its name in ``etc/ec2_driver.conf``). CPU is counted in
hundredths of a core and memory in KiB, as oned does.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import drivers, objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import Target
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import HostState
from ansible_collections.onekit.cloud.plugins.module_utils.drivers import (
    EC2_MAD,
    LIBVIRT_MADS,
    PARTNER_MAD,
    check_uri,
    default_uri,
    uri_of,
)
from ansible_collections.onekit.cloud.plugins.module_utils.drivers import (
    address_of as address_of,  # what a host's driver talks to, for the adapters
)

Body = dict[str, Any]
Ref = int | str

# IM/VM drivers a host may name.
VM_MADS = (*LIBVIRT_MADS, EC2_MAD, PARTNER_MAD)  # onekit: a partner cloud (drivers.partner)
IM_MADS = VM_MADS
_HOST_MODE = Permissions.from_octal("600")
# Host template attributes the monitor owns; `onehost update` cannot set them.
MONITORED_ATTRIBUTES = (
    "HYPERVISOR",
    "TOTALCPU",
    "TOTALMEMORY",
    "USEDCPU",
    "USEDMEMORY",
    "FREECPU",
    "FREEMEMORY",
    "CPUSPEED",
    "MODELNAME",
    "ERROR",
    "HOSTNAME",
)


def empty_share() -> dict[str, int]:
    keys = (
        "DISK_USAGE",
        "MEM_USAGE",
        "CPU_USAGE",
        "MAX_DISK",
        "MAX_MEM",
        "MAX_CPU",
        "FREE_DISK",
        "FREE_MEM",
        "FREE_CPU",
        "USED_DISK",
        "USED_MEM",
        "USED_CPU",
        "RUNNING_VMS",
    )
    return dict.fromkeys(keys, 0)


def _check_template(tpl: template.Source) -> dict:
    tpl = template.load(tpl, "host template")
    owned = sorted(set(tpl) & set(MONITORED_ATTRIBUTES))
    if owned:
        raise InvalidInput(
            f"host attributes {', '.join(owned)} come from monitoring and cannot be set"
        )
    if "URI" in tpl:
        check_uri(tpl["URI"])
    return tpl


def _check_drivers(im_mad: str, vm_mad: str, uri: str | None, tpl: dict) -> None:
    if vm_mad not in VM_MADS:
        raise InvalidInput(f"VM driver {vm_mad!r} is unknown; use one of {', '.join(VM_MADS)}")
    if im_mad not in IM_MADS:
        raise InvalidInput(f"IM driver {im_mad!r} is unknown; use one of {', '.join(IM_MADS)}")
    for cloud, kind, conf in (
        (EC2_MAD, "an EC2 host", "its region and credentials are the entry of its name "
         "(or default) in etc/ec2_driver.conf"),
        (PARTNER_MAD, "a partner host", "its endpoint and credentials are the entry of its "
         "name in etc/partner_driver.conf"),
    ):  # fmt: skip
        if cloud not in (vm_mad, im_mad):
            continue
        if vm_mad != im_mad:
            raise InvalidInput(f"{kind} takes --im {cloud} and --vm {cloud} together")
        if uri is not None or "URI" in tpl:
            raise InvalidInput(f"{kind} has no URI: {conf}")


def _create_in(w: AuthTx, name: str, im_mad: str, vm_mad: str, uri: str | None, tpl: dict) -> Body:
    w.authorize(Target.new("HOST", w.subject.gid), Right.CREATE)
    # an EC2 or partner host's address is its entry in its driver's file, not a URI
    libvirt = vm_mad in LIBVIRT_MADS
    location = {"URI": uri or tpl.get("URI") or default_uri(name)} if libvirt else {}
    body: Body = {
        "NAME": name,
        "UID": 0,
        "GID": 0,
        "UNAME": "oneadmin",
        "GNAME": "oneadmin",
        "PERMISSIONS": _HOST_MODE.to_json(),
        "STATE": int(HostState.INIT),
        "IM_MAD": im_mad,
        "VM_MAD": vm_mad,
        "VN_MAD": "dummy",
        "CLUSTER_ID": -1,
        "CLUSTER": "",
        "LAST_MON_TIME": 0,
        "HOST_SHARE": empty_share(),
        "VMS": [],
        "TEMPLATE": {**tpl, **location},
    }
    return pool.insert(w.tx, schema.HOSTS, body)


def create(
    session: Session,
    name: str,
    im_mad: str = "kvm",
    vm_mad: str = "kvm",
    uri: str | None = None,
    tpl: template.Source | None = None,
) -> Body:
    """``onehost create <name> --im kvm --vm kvm [--uri ...]``; an EC2 region:
    ``onehost create us-east-1 --im ec2 --vm ec2`` (no URI)."""
    pool.check_name("host", name)
    if uri is not None:
        check_uri(uri)
    checked = _check_template(tpl or {})
    _check_drivers(im_mad, vm_mad, uri, checked)
    with session.write() as w:
        return _create_in(w, name, im_mad, vm_mad, uri, checked)


def _vms_on(w: AuthTx, host: Body) -> list[int]:
    """VMs holding the host, and STOPPED ones whose saved memory is on it (a resume must
    find the host again)."""
    rows = w.tx.rows("SELECT oid FROM vm_pool WHERE hid = ? ORDER BY oid", (host["ID"],))
    stopped = [
        vm["ID"]
        for vm in pool.all_bodies(w.tx, schema.VMS, "state = ?", (4,))  # STOPPED
        if (vm.get("CHECKPOINT") or {}).get("HID") == host["ID"]
    ]
    return sorted({r[0] for r in rows} | set(stopped))


def _delete_in(w: AuthTx, host: Body) -> None:
    w.authorize(Target.of("HOST", host), Right.ADMIN)
    vms = _vms_on(w, host)
    if vms:
        raise Conflict(
            f"host {host['NAME']} still runs VMs {', '.join(map(str, vms))}; "
            "delete or move them first"
        )
    pool.delete(w.tx, schema.HOSTS, host["ID"])


def delete(session: Session, ref: Ref) -> Body:
    with session.write() as w:
        host = pool.resolve(w.tx, schema.HOSTS, ref, lock=True)
        _delete_in(w, host)
    drivers.forget_host(host)
    return host


def _set_state(session: Session, ref: Ref, state: HostState) -> Body:
    with session.write() as w:
        host = pool.resolve(w.tx, schema.HOSTS, ref, lock=True)
        w.authorize(Target.of("HOST", host), Right.ADMIN)
        host["STATE"] = int(state)
        return pool.update(w.tx, schema.HOSTS, host)


def enable(session: Session, ref: Ref) -> Body:
    """Back to INIT: the next monitoring makes it MONITORED (or ERROR)."""
    return _set_state(session, ref, HostState.INIT)


def disable(session: Session, ref: Ref) -> Body:
    """DISABLED hosts get no new VMs; the ones they run stay monitored."""
    return _set_state(session, ref, HostState.DISABLED)


def update(session: Session, ref: Ref, tpl: template.Source, append: bool = False) -> Body:
    """Replace the host template's user attributes (or merge them with ``append``)."""
    checked = _check_template(tpl)
    with session.write() as w:
        host = pool.resolve(w.tx, schema.HOSTS, ref, lock=True)
        w.authorize(Target.of("HOST", host), Right.ADMIN)
        monitored = {k: v for k, v in host["TEMPLATE"].items() if k in MONITORED_ATTRIBUTES}
        if drivers.is_ec2(host) and "URI" in checked:
            raise InvalidInput("an EC2 host has no URI: its region is in etc/ec2_driver.conf")
        kept = {} if drivers.is_ec2(host) else {"URI": uri_of(host)}
        base = host["TEMPLATE"] if append else kept
        before = dict(host)
        host["TEMPLATE"] = {**template.merge(base, checked), **monitored}
        pool.update(w.tx, schema.HOSTS, host)
    if not drivers.is_ec2(host) and uri_of(host) != uri_of(before):
        drivers.forget_host(before)
    return host


def show(session: Session, ref: Ref) -> Body:
    return objects.show(session, schema.HOSTS, ref)


def list_hosts(session: Session, start: int = 0, page_size: int | None = None) -> list[Body]:
    return objects.list_visible(session, schema.HOSTS, start=start, page_size=page_size)


# ---- capacity (inside a caller's transaction, host row locked) -------------------------
def vm_demand(vm_template: dict) -> tuple[int, int]:
    """(cpu in hundredths of a core, memory in KiB) a VM template asks for."""
    cpu = float(vm_template.get("CPU", 0) or 0)
    memory = float(vm_template.get("MEMORY", 0) or 0)
    return round(cpu * 100), round(memory * 1024)


def fits(host: Body, cpu: int, memory: int) -> bool:
    return share_fits(host["HOST_SHARE"], cpu, memory)


def share_fits(share: dict, cpu: int, memory: int) -> bool:
    """Room for a VM in a HOST_SHARE, by allocated (not measured) usage."""
    return (
        share["MAX_CPU"] - share["CPU_USAGE"] >= cpu
        and share["MAX_MEM"] - share["MEM_USAGE"] >= memory
    )


def allocate(host: Body, vm_id: int, cpu: int, memory: int) -> None:
    share = host["HOST_SHARE"]
    share["CPU_USAGE"] += cpu
    share["MEM_USAGE"] += memory
    if vm_id not in host["VMS"]:
        host["VMS"].append(vm_id)
    share["RUNNING_VMS"] = len(host["VMS"])


def release(host: Body, vm_id: int, cpu: int, memory: int) -> None:
    share = host["HOST_SHARE"]
    if vm_id in host["VMS"]:
        host["VMS"].remove(vm_id)
        share["CPU_USAGE"] = max(0, share["CPU_USAGE"] - cpu)
        share["MEM_USAGE"] = max(0, share["MEM_USAGE"] - memory)
    share["RUNNING_VMS"] = len(host["VMS"])


def lookup(host: Body):
    """The scheduler's view of a host's attributes: TEMPLATE, then HOST_SHARE, then the
    host itself (oned's XPath union), as strings."""

    def get(name: str) -> str | None:
        for source in (host.get("TEMPLATE", {}), host.get("HOST_SHARE", {}), host):
            value = source.get(name)
            if value is not None and not isinstance(value, (dict, list)):
                return str(value)
        return None

    return get


def ensure(
    session: Session,
    name: str,
    state: str = "present",
    im_mad: str = "kvm",
    vm_mad: str = "kvm",
    uri: str | None = None,
    tpl: template.Source | None = None,
    dry_run: bool = False,
) -> tuple[bool, Body | None, Body | None]:
    """Host ``name`` present (enabled or disabled) or absent; returns (changed, before,
    after). ``tpl`` attributes are merged into an existing host's template."""
    import copy

    pool.check_name("host", name)
    if state not in ("present", "absent", "enabled", "disabled"):
        raise InvalidInput(f"state must be present, absent, enabled or disabled, got {state!r}")
    if uri is not None:
        check_uri(uri)
    wanted_tpl = _check_template(tpl or {})
    with session.write(dry_run=dry_run) as w:
        try:
            host = pool.resolve(w.tx, schema.HOSTS, name, lock=True)
        except NotFound:
            host = None
        before = copy.deepcopy(host)
        if state == "absent":
            if host is None:
                return False, None, None
            _delete_in(w, host)
            if not dry_run:
                drivers.forget_host(host)
            return True, before, None
        _check_drivers(im_mad, vm_mad, uri, wanted_tpl)
        if host is None:
            host = _create_in(w, name, im_mad, vm_mad, uri, wanted_tpl)
        else:
            w.authorize(Target.of("HOST", host), Right.ADMIN)
            if uri is not None:
                host["TEMPLATE"]["URI"] = uri
            host["TEMPLATE"].update(wanted_tpl)
            host["IM_MAD"], host["VM_MAD"] = im_mad, vm_mad
            if vm_mad not in LIBVIRT_MADS:  # its address is in its driver's file
                host["TEMPLATE"].pop("URI", None)
        if state == "disabled":
            host["STATE"] = int(HostState.DISABLED)
        elif host["STATE"] == HostState.DISABLED and state == "enabled":
            host["STATE"] = int(HostState.INIT)
        changed = before is None or _config_view(before) != _config_view(host)
        if changed:
            pool.update(w.tx, schema.HOSTS, host)
        return changed, before, host


def _config_view(host: Body) -> tuple:
    """What ensure() manages of a host (not what monitoring moves)."""
    tpl = {k: v for k, v in host["TEMPLATE"].items() if k not in MONITORED_ATTRIBUTES}
    return (host["IM_MAD"], host["VM_MAD"], host["STATE"] == HostState.DISABLED, tpl)

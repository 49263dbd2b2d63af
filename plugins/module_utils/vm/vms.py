"""VMs in the store: checking a template, allocating VMs, history records, show and list.

What a VM *does* (deploy, shutdown, suspend...) lives in ``lifecycle``; this module only
shapes VM bodies. A VM's body follows oned's: ``STATE``/``LCM_STATE`` (``core.states``),
``DEPLOY_ID`` (``one-<id>`` on its host), ``TEMPLATE`` (what the hypervisor needs: CPU,
MEMORY, DISK, NIC...), ``USER_TEMPLATE`` (everything else: SCHED_*, the user's own
attributes, ``ERROR``, ``SCHED_MESSAGE``, later what OneGate writes), ``MONITORING``
(last usage) and ``HISTORY_RECORDS`` (one per stay on a host).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import (
    events,
    pool,
    schema,
    template,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    InvalidInput,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import Lcm, VmState
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import VmSpec
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.domain_xml import check_domain
from ansible_collections.onekit.cloud.plugins.module_utils.objects import (
    images,
    networks,
    pool_filters,
    quotas,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects.pool_filters import PoolFilter
from ansible_collections.onekit.cloud.plugins.module_utils.vm import placement

Body = dict[str, Any]
Ref = int | str

# Attributes that describe the machine (TEMPLATE); the rest go to USER_TEMPLATE, as oned
# splits them.
MACHINE_ATTRIBUTES = frozenset(
    {
        "NAME",
        "CPU",
        "VCPU",
        "MEMORY",
        "OS",
        "DISK",
        "NIC",
        "GRAPHICS",
        "CONTEXT",
        "RAW",
        "FEATURES",
        "INPUT",
        "TEMPLATE_ID",
        "VMID",
        "PARTNER",  # what a partner cloud host makes of the VM (drivers.partner)
    }
)
_VECTORS = ("OS", "GRAPHICS", "RAW", "FEATURES")


def _number(tpl: dict, key: str, kind: type, required: bool) -> None:
    value = tpl.get(key)
    if value is None:
        if required:
            raise InvalidInput(
                f"the template has no {key}; add {key} = ... "
                f"({'MiB' if key == 'MEMORY' else 'cores'})"
            )
        return
    try:
        number = kind(str(value).strip())
    except ValueError:
        number = None
    if number is None or not math.isfinite(number) or number <= 0:
        what = "whole number" if kind is int else "number"
        raise InvalidInput(f"{key} must be a positive {what}, got {value!r}")


def check_template(tpl: dict, instantiate: bool = False) -> None:
    """Refuse what can never make a VM: bad numbers, malformed vectors, SCHED_* syntax.

    ``instantiate`` also asks for CPU and MEMORY, which a VM needs but a template being
    written may not have yet (oned's rule)."""
    _number(tpl, "CPU", float, instantiate)
    _number(tpl, "MEMORY", float, instantiate)
    _number(tpl, "VCPU", int, False)
    for key in _VECTORS:
        if key in tpl and not isinstance(tpl[key], dict):
            raise InvalidInput(f"{key} must be one vector attribute, {key} = [ ... ]")
    for key in ("DISK", "NIC"):
        if any(not isinstance(v, dict) for v in template.as_list(tpl, key)):
            raise InvalidInput(f"each {key} must be a vector attribute, {key} = [ ... ]")
    if "SCHED_REQUIREMENTS" in tpl:
        placement.parse_requirements(str(tpl["SCHED_REQUIREMENTS"]))
    if "SCHED_RANK" in tpl:
        placement.parse_rank(str(tpl["SCHED_RANK"]))


def allocate_in(
    w: AuthTx, tpl: dict, name: str | None, hold: bool, template_id: int | None
) -> Body:
    """A new VM, PENDING (or HOLD), from a template: images resolved and taken (a
    persistent one by this VM alone), networks resolved, leases taken, CREATE VM checked,
    the owner's and its group's VM quotas enforced (before anything is written). The
    caller's transaction holds it all."""
    check_template(tpl, instantiate=True)
    quotas.check_allocation(w, w.subject.uid, w.subject.gid, tpl)
    vm_id = pool.next_oid(w.tx, schema.VMS.table)
    resolved = {k: v for k, v in tpl.items() if k not in ("VMID", "TEMPLATE_ID")}  # ours
    resolved.pop("DISK", None)
    resolved.pop("NIC", None)
    disks = [images.resolve_disk(w, d, vm_id) for d in template.as_list(tpl, "DISK")]
    nics = [networks.lease_nic(w, n, vm_id) for n in template.as_list(tpl, "NIC")]
    for key, values in (("DISK", disks), ("NIC", nics)):
        if values:
            resolved[key] = values if len(values) > 1 else values[0]
    machine = {k: v for k, v in resolved.items() if k in MACHINE_ATTRIBUTES}
    machine["VMID"] = str(vm_id)
    if template_id is not None:
        machine["TEMPLATE_ID"] = str(template_id)
    user = {k: v for k, v in resolved.items() if k not in MACHINE_ATTRIBUTES}
    fields = {
        "STATE": int(VmState.HOLD if hold else VmState.PENDING),
        "LCM_STATE": int(Lcm.LCM_INIT),
        "RESCHED": 0,
        "STIME": int(time.time()),
        "ETIME": 0,
        "DEPLOY_ID": "",
        "MONITORING": {},
        "TEMPLATE": machine,
        "USER_TEMPLATE": user,
        "HISTORY_RECORDS": [],
    }
    vm_name = name or f"{tpl.get('NAME') or 'one'}-{vm_id}"
    machine["NAME"] = vm_name
    events.publish(events.VM_ALLOCATED, vm_id, fields, w.session.onegate_endpoint)
    # What the hypervisor would refuse is refused now, not at deploy (no libvirt needed).
    check_domain(VmSpec(vm_id, vm_name, machine), "kvm")
    return objects.create_in(w, schema.VMS, vm_name, fields, oid=vm_id)


def create(session: Session, tpl: template.Source, hold: bool = False) -> Body:
    """``onevm create file.tmpl``: one VM straight from template text."""
    tpl = template.load(tpl, "a VM template")
    check_restricted(session.subject, tpl, "the template")
    with session.write() as w:
        return allocate_in(w, tpl, tpl.get("NAME"), hold, None)


def show(session: Session, ref: Ref) -> Body:
    return objects.show(session, schema.VMS, ref)


def list_vms(
    session: Session, include_done: bool = False, start: int = 0, page_size: int | None = None
) -> list[Body]:
    """The VMs the caller may see; DONE ones only when asked (``onevm list`` hides them).
    ``start``/``page_size``: one page (``objects.list_visible``)."""
    where, params = ("", ()) if include_done else ("state != ?", (int(VmState.DONE),))
    return objects.list_visible(session, schema.VMS, where, params, start, page_size)


ANY_STATE, ANY_BUT_DONE = -2, -1


def list_filtered(session: Session, flt: PoolFilter, state: int = ANY_BUT_DONE) -> list[Body]:
    """``one.vmpool.info``: the VMs ``flt`` selects (``objects.pool_filters``) in
    ``state``: -2 any, -1 any but DONE, else that state's number."""
    if state < ANY_STATE:
        raise InvalidInput(f"VM state filter {state} is none of -2 (any), -1 (any but DONE), 0-11")
    if state == ANY_STATE:
        return pool_filters.list_filtered(session, schema.VMS, flt)
    where = "state != ?" if state == ANY_BUT_DONE else "state = ?"
    value = int(VmState.DONE) if state == ANY_BUT_DONE else state
    return pool_filters.list_filtered(session, schema.VMS, flt, where, (value,))


IDS_PER_READ = 500  # ids per query of ``list_by_ids`` (SQLite takes at most 999 parameters)


def list_by_ids(session: Session, vm_ids: Iterable[int]) -> list[Body]:
    """The VMs of ``vm_ids`` the caller may see, DONE ones included, in ID order: a read of
    those rows alone, for callers that want a few VMs (a set's, the ones just scheduled)
    and would otherwise list every VM to find them."""
    ids = sorted(set(vm_ids))
    found: list[Body] = []
    for first in range(0, len(ids), IDS_PER_READ):
        chunk = tuple(ids[first : first + IDS_PER_READ])
        where = f"oid IN ({','.join('?' * len(chunk))})"
        found += objects.list_visible(session, schema.VMS, where, chunk)
    return found


def on_host(session: Session, host_id: int) -> list[Body]:
    """The VMs that hold host ``host_id`` now (``vm_pool.hid``, kept for ACTIVE,
    SUSPENDED and POWEROFF VMs only), those the caller may see (the server's loops, as
    oneadmin: all)."""
    return objects.list_visible(session, schema.VMS, "hid = ?", (host_id,))


def guest_view(vm: Body) -> Body:
    """What OneGate shows a guest of a VM, its own or one of its service's:
    ``{"VM": ...}`` with the VM's identity, state and owner, its USER_TEMPLATE, and of its
    TEMPLATE only NIC and CONTEXT (never the token's nonce, nor the rest of the machine)."""
    keep = ("ID", "NAME", "STATE", "LCM_STATE", "UID", "GID", "UNAME", "GNAME", "STIME")
    view = {k: vm[k] for k in keep if k in vm}
    view["USER_TEMPLATE"] = vm["USER_TEMPLATE"]
    view["TEMPLATE"] = {k: v for k, v in vm["TEMPLATE"].items() if k in ("NIC", "CONTEXT")}
    return {"VM": view}


def chown_all(session: Session, ids: list[int], owner: Ref | None, group: Ref | None) -> None:
    """``onevm chown`` on several VMs, in one transaction."""
    with session.write() as w:
        for vm_id in sorted(ids):
            vm = pool.resolve(w.tx, schema.VMS, vm_id, lock=True)
            objects.chown_in(w, schema.VMS, vm, owner, group)
            pool.update(w.tx, schema.VMS, vm)


# ---- body helpers (inside a caller's transaction) ---------------------------------------
def set_state(vm: Body, state: VmState, lcm: Lcm = Lcm.LCM_INIT) -> None:
    vm["STATE"], vm["LCM_STATE"] = int(state), int(lcm)
    vm["STATE_TIME"] = int(time.time())


def current_host_id(vm: Body) -> int | None:
    history = vm.get("HISTORY_RECORDS") or []
    return history[-1]["HID"] if history else None


def open_history(vm: Body, host: Body, action: str) -> None:
    history = vm.setdefault("HISTORY_RECORDS", [])
    history.append(
        {
            "SEQ": len(history),
            "HOSTNAME": host["NAME"],
            "HID": host["ID"],
            "STIME": int(time.time()),
            "ETIME": 0,
            "REASON": "NONE",
            "ACTION": action,
        }
    )


def close_history(vm: Body, reason: str, action: str) -> None:
    """End the current stay on a host; ``reason`` is NONE, ERROR, USER or CANCEL."""
    history = vm.get("HISTORY_RECORDS") or []
    if history and not history[-1]["ETIME"]:
        history[-1].update(ETIME=int(time.time()), REASON=reason, ACTION=action)


def set_error(vm: Body, message: str | None) -> None:
    """The last failure, shown by ``onevm show`` (USER_TEMPLATE/ERROR, as oned keeps it)."""
    if message is None:
        vm["USER_TEMPLATE"].pop("ERROR", None)
        return
    vm["USER_TEMPLATE"]["ERROR"] = {
        "MESSAGE": message,
        "TIMESTAMP": time.strftime("%a %b %d %H:%M:%S %Y"),
    }


def set_sched_message(vm: Body, message: str | None) -> bool:
    """Why the scheduler cannot place a VM; True when it changed (to write it once)."""
    old = vm["USER_TEMPLATE"].get("SCHED_MESSAGE")
    if message is None:
        vm["USER_TEMPLATE"].pop("SCHED_MESSAGE", None)
        return old is not None
    if old == message:
        return False
    vm["USER_TEMPLATE"]["SCHED_MESSAGE"] = message
    return True


def update_user_template(
    session: Session, ref: Ref, tpl: template.Source, append: bool = False
) -> Body:
    """``onevm update``: replace (or merge into) the VM's USER_TEMPLATE (MANAGE)."""
    parsed = template.load(tpl, "the user template")
    check_user_template(session.subject, parsed, "the template")
    with session.write() as w:
        vm = pool.resolve(w.tx, schema.VMS, ref, lock=True)
        w.authorize(objects.target(schema.VMS, vm), Right.MANAGE)
        new = template.merge(vm["USER_TEMPLATE"], parsed) if append else parsed
        check_template({k: v for k, v in new.items() if k.startswith("SCHED_")})
        vm["USER_TEMPLATE"] = new
        return pool.update(w.tx, schema.VMS, vm)


def check_user_template(subject: Any, tpl: dict, what: str) -> None:
    """What ``onevm update`` checks of new user attributes (OneGate's PUT too): no
    restricted attribute from a non-admin, and SCHED_* expressions that parse."""
    check_restricted(subject, tpl, what)
    check_template({k: v for k, v in tpl.items() if k.startswith("SCHED_")})


# Attributes only members of the oneadmin group may write (oned's VM_RESTRICTED_ATTR):
# they reach the hosts' files, bridges and the hypervisor's own configuration.
RESTRICTED_ATTRIBUTES = (
    "RAW",
    "CONTEXT_ISO",
    "CONTEXT/CONTEXT_ISO",
    "CONTEXT/FILES",
    "DISK/SOURCE",
    "NIC/BRIDGE",
    "NIC/MAC",
    "NIC/NETWORK_NAME",
    "NIC/TARGET",
)


def check_restricted(subject: Any, tpl: dict, what: str) -> None:
    """Refuse restricted attributes in a template written by a non-admin."""
    if subject.is_admin:
        return
    found = []
    for name in RESTRICTED_ATTRIBUTES:
        top, _, sub = name.partition("/")
        values = template.as_list(tpl, top)
        if (not sub and values) or (sub and any(isinstance(v, dict) and sub in v for v in values)):
            found.append(name)
    if found:
        raise AuthorizationError(
            f"{what} sets restricted attributes ({', '.join(found)}); only members of the "
            "oneadmin group may (use IMAGE and NETWORK instead of SOURCE and BRIDGE)"
        )


def host_name(vm: Body) -> str | None:
    """The host a VM holds capacity on (RUNNING, SUSPENDED, POWEROFF...), else None."""
    history = vm.get("HISTORY_RECORDS") or []
    return history[-1]["HOSTNAME"] if history and vm["STATE"] in schema.HOSTED_STATES else None

"""EC2 instances are onekit VMs: RunInstances instantiates the VM template of the
instance type with the AMI as its first disk; Describe/Terminate/Start/Stop/Reboot act on
the caller's VMs with OpenNebula's rights.

- **Instance types** are VM templates with ``EC2_INSTANCE_TYPE`` the caller may USE (the
  guide's 7.2.3); the lowest id wins when several name one type.
- **What an instance keeps** (its USER_TEMPLATE): ``EC2_INSTANCE_TYPE``,
  ``EC2_IMAGE_ID``, ``EC2_RESERVATION_ID`` (one reservation per RunInstances; an
  instance's launch index is its place in it), ``EC2_CLIENT_TOKEN``, ``EC2_KEYNAME``;
  UserData, the key name and the public key go to its CONTEXT as econe puts them
  (``EC2_USER_DATA``, ``EC2_KEYNAME``, ``EC2_PUBLIC_KEY`` and ``SSH_PUBLIC_KEY``, what
  contextualization installs: ``econe.keypairs``).
- **ClientToken** (boto3 sends one with every RunInstances): a retried call returns the
  instances the first one made. The VMs of a token are named after it and made under the
  template's lock (``templates.instantiate_named``'s ``unique_among``), so two retries
  racing still make them once.
- **Terminated instances** (DONE) stay listed for ``:terminated_instances_expiration_time:``
  after they ended, when ``:describe_with_terminated_instances:`` is on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time
from collections.abc import Iterable
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    Conflict,
    InvalidInput,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import VmState
from ansible_collections.onekit.cloud.plugins.module_utils.econe import (
    addresses,
    filters,
    ids,
    keypairs,
    kinds,
    paging,
    tags,
)
from ansible_collections.onekit.cloud.plugins.module_utils.econe import images as amis
from ansible_collections.onekit.cloud.plugins.module_utils.econe import states as ec2_states
from ansible_collections.onekit.cloud.plugins.module_utils.econe.call import Call
from ansible_collections.onekit.cloud.plugins.module_utils.econe.errors import Ec2Error, invalid
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, templates, vms

Body = dict[str, Any]
DEFAULT_TYPE = "m1.small"  # AWS's default instance type
MAX_COUNT = 100  # instances per RunInstances call
ZONE = "opennebula"  # the one region and availability zone (econe's)
MAX_USER_DATA = 16 * 1024  # bytes of base64, as AWS
FILTERS = (
    "instance-id",
    "instance-state-name",
    "instance-state-code",
    "image-id",
    "instance-type",
    "key-name",
    "reservation-id",
    "private-ip-address",
    "ip-address",
    "availability-zone",
    "tag:",
    "tag-key",
)
NOT_FOUND = kinds.INSTANCES.not_found


# ---- reading ------------------------------------------------------------------------------
def instance_id(vm: Body) -> str:
    return ids.format_id("i", vm["ID"])


def _user(vm: Body, key: str) -> str | None:
    value = vm.get("USER_TEMPLATE", {}).get(key)
    return None if value in (None, "") else str(value)


def _ips(vm: Body) -> list[str]:
    return [
        str(nic["IP"])
        for nic in template.as_list(vm["TEMPLATE"], "NIC")
        if isinstance(nic, dict) and nic.get("IP")
    ]


def _image_id(vm: Body) -> str | None:
    given = _user(vm, "EC2_IMAGE_ID")
    if given:
        return given
    disks = template.as_list(vm["TEMPLATE"], "DISK")
    first = disks[0] if disks and isinstance(disks[0], dict) else {}
    return ids.format_id("ami", int(first["IMAGE_ID"])) if first.get("IMAGE_ID") else None


def _reservation(vm: Body) -> str:
    return _user(vm, "EC2_RESERVATION_ID") or ids.format_id("r", vm["ID"])


def item(vm: Body, public_ip: str | None = None) -> Body:
    """An instance as DescribeInstances and RunInstances show it (``public_ip``: its
    Elastic IP)."""
    ips = _ips(vm)
    return {
        "instanceId": instance_id(vm),
        "imageId": _image_id(vm),
        "instanceState": ec2_states.state_item(ec2_states.of(vm)),
        "privateDnsName": ips[0] if ips else None,
        "dnsName": ips[0] if ips else None,
        "keyName": _user(vm, "EC2_KEYNAME"),
        "instanceType": _user(vm, "EC2_INSTANCE_TYPE"),
        "launchTime": ids.iso_time(vm.get("STIME")),
        "placement": {"availabilityZone": ZONE, "tenancy": "default"},
        "monitoring": {"state": "disabled"},
        "privateIpAddress": ips[0] if ips else None,
        "ipAddress": public_ip,
        "architecture": "x86_64",
        "rootDeviceType": "instance-store",
        "clientToken": _user(vm, "EC2_CLIENT_TOKEN"),
        "tagSet": tags.tag_set(vm.get("USER_TEMPLATE", {})),
        "hypervisor": "xen",
        "virtualizationType": "hvm",
    }


def _filter_values(vm: Body, public_ip: str | None) -> dict[str, list[str]]:
    code, name = ec2_states.of(vm)
    values = {
        "instance-id": [instance_id(vm)],
        "instance-state-name": [name],
        "instance-state-code": [str(code)],
        "image-id": [v for v in [_image_id(vm)] if v],
        "instance-type": [v for v in [_user(vm, "EC2_INSTANCE_TYPE")] if v],
        "key-name": [v for v in [_user(vm, "EC2_KEYNAME")] if v],
        "reservation-id": [_reservation(vm)],
        "private-ip-address": _ips(vm),
        "ip-address": [public_ip] if public_ip else [],
        "availability-zone": [ZONE],
    }
    values.update(filters.tag_values(tags.read(vm.get("USER_TEMPLATE", {}))))
    return values


def _recent(vm: Body, config_expiry: int, now: float) -> bool:
    if vm["STATE"] != VmState.DONE:
        return True
    return float(vm.get("ETIME") or 0) + config_expiry >= now


def _listed(call: Call) -> list[Body]:
    with_done = call.config.describe_with_terminated_instances
    found = vms.list_vms(call.session, include_done=with_done)
    now = time.time()
    expiry = call.config.terminated_instances_expiration_time
    return [vm for vm in found if _recent(vm, expiry, now)]


def visible(call: Call, instance_ids: Iterable[str], include_done: bool = True) -> list[Body]:
    """The VMs these ids name, each one the caller may see; any other id (malformed,
    unknown, another user's) is refused naming it."""
    wanted = [ids.parse_id("i", text, kinds.INSTANCES.malformed) for text in instance_ids]
    found = {vm["ID"]: vm for vm in vms.list_by_ids(call.session, wanted)}
    missing = [ids.format_id("i", n) for n in wanted if n not in found]
    if not include_done:
        missing += [
            ids.format_id("i", n) for n in wanted if found.get(n, {}).get("STATE") == VmState.DONE
        ]
    if missing:
        raise Ec2Error(NOT_FOUND, f"The instance IDs '{', '.join(missing)}' do not exist")
    return [found[n] for n in dict.fromkeys(wanted)]


def _reservations(vms_: list[Body], public_ips: dict[int, str] | None = None) -> list[Body]:
    """The instances grouped by their RunInstances, each reservation its owner's (an
    administrator sees other users' instances)."""
    grouped: dict[str, list[Body]] = {}
    owners: dict[str, str] = {}
    for vm in sorted(vms_, key=lambda v: v["ID"]):
        entries = grouped.setdefault(_reservation(vm), [])
        owners.setdefault(_reservation(vm), str(vm.get("UNAME", "")))
        shown = item(vm, (public_ips or {}).get(vm["ID"]))
        entries.append({**shown, "amiLaunchIndex": len(entries)})
    return [
        {
            "reservationId": rid,
            "ownerId": owners[rid],
            "groupSet": [],
            "instancesSet": items,
        }
        for rid, items in grouped.items()
    ]


def describe_instances(call: Call) -> Body:
    params = call.params
    params.reject_combination("InstanceId", "MaxResults")
    wanted = params.list("InstanceId")
    chosen = visible(call, wanted) if wanted else _listed(call)
    given = params.filters()
    public = addresses.public_ips(call)
    if given:
        filters.check_names(given, FILTERS)
        chosen = [
            vm for vm in chosen if filters.matches(given, _filter_values(vm, public.get(vm["ID"])))
        ]
    page, token = paging.page(chosen, params, key=lambda vm: vm["ID"])
    return {
        "reservationSet": _reservations(page, public),
        "nextToken": token,
    }


# ---- RunInstances ---------------------------------------------------------------------------
def instance_type(call: Call, name: str) -> Body:
    """The VM template of an instance type: ``EC2_INSTANCE_TYPE`` = name, USE allowed."""
    found = [
        t
        for t in templates.list_templates(call.session)
        if str(t["TEMPLATE"].get("EC2_INSTANCE_TYPE", "")) == name
    ]
    if not found:
        raise invalid(
            "InstanceType",
            name,
            "No VM template with EC2_INSTANCE_TYPE of that name is available to you: "
            "an administrator makes one per type (the guide's 7.2.3).",
        )
    return min(found, key=lambda t: t["ID"])


def _user_data(call: Call) -> str | None:
    data = call.params.get("UserData")
    if data is None or data == "":
        return None
    if len(data) > MAX_USER_DATA:
        raise invalid("UserData", f"{len(data)} bytes", f"At most {MAX_USER_DATA} bytes of base64.")
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("UserData", data, "It must be base64 (boto3 encodes it).") from None
    return data


def _names(token: str | None, uid: int, count: int) -> list[str | None]:
    if not token:
        return [None] * count
    tag = hashlib.sha256(f"{uid}:{token}".encode()).hexdigest()[:12]
    return [f"ec2-{tag}-{index}" for index in range(count)]


def _by_token(call: Call, token: str, names: list[str | None]) -> list[Body]:
    wanted = [n for n in names if n]
    marks = ",".join("?" for _ in wanted)
    found = objects.list_visible(
        call.session,
        schema.VMS,
        f"uid = ? AND name IN ({marks})",
        (call.session.subject.uid, *wanted),
    )
    return [vm for vm in found if _user(vm, "EC2_CLIENT_TOKEN") == token]


def run_instances(call: Call) -> Body:
    params = call.params
    low = params.int("MinCount", None, 1, MAX_COUNT)
    high = params.int("MaxCount", None, 1, MAX_COUNT)
    if low is None or high is None:
        raise Ec2Error("MissingParameter", "The request must contain MinCount and MaxCount")
    if low > high:
        raise invalid("MinCount", low, "It must not exceed MaxCount.")
    image = amis.find(call, params.required("ImageId"), kinds.AMIS)
    type_name = params.get("InstanceType") or DEFAULT_TYPE
    base = instance_type(call, type_name)
    token = params.get("ClientToken") or None
    if token is not None and len(token) > 64:
        raise invalid("ClientToken", token, "At most 64 characters.")
    names = _names(token, call.session.subject.uid, high)
    if token:
        earlier = _by_token(call, token, names)
        if earlier:
            _same_request(earlier, ids.format_id("ami", image["ID"]), type_name, high)
            return _run_answer(earlier)
    tpl = base["TEMPLATE"]
    context = dict(tpl.get("CONTEXT") or {}) if isinstance(tpl.get("CONTEXT"), dict) else {}
    data = _user_data(call)
    if data:
        context["EC2_USER_DATA"] = data
    key_name = params.get("KeyName") or None
    if key_name is not None:  # what 4.6 sets, and what contextualization reads
        public = keypairs.public_key(call.session, key_name)
        context.update(EC2_KEYNAME=key_name, EC2_PUBLIC_KEY=public, SSH_PUBLIC_KEY=public)
    extra: Body = {
        "DISK": [{"IMAGE_ID": str(image["ID"])}, *template.as_list(tpl, "DISK")],
        "EC2_INSTANCE_TYPE": type_name,
        "EC2_IMAGE_ID": ids.format_id("ami", image["ID"]),
        "EC2_RESERVATION_ID": "r-" + secrets.token_hex(8),
    }
    if context:
        extra["CONTEXT"] = context
    if token:
        extra["EC2_CLIENT_TOKEN"] = token
    if key_name is not None:
        extra["EC2_KEYNAME"] = key_name
    try:
        made = templates.instantiate_named(
            call.session,
            base["ID"],
            names,
            extra,
            unique_among={"EC2_CLIENT_TOKEN": token} if token else None,
        )
    except Conflict as err:
        raise Ec2Error("InsufficientInstanceCapacity", str(err)) from None
    except InvalidInput as err:
        raise Ec2Error("InvalidParameterValue", str(err)) from None
    if not made and token:  # a racing retry made them first
        return _run_answer(_by_token(call, token, names))
    return _run_answer(made)


def _same_request(earlier: list[Body], ami: str, type_name: str, count: int) -> None:
    """A ClientToken retried with other parameters is refused, as AWS does: the first
    call's instances are not what this one asks for."""
    asked = {(ami, type_name)}
    made = {(_user(vm, "EC2_IMAGE_ID"), _user(vm, "EC2_INSTANCE_TYPE")) for vm in earlier}
    if made != asked or len(earlier) != count:
        raise Ec2Error(
            "IdempotentParameterMismatch",
            "The client token was used by an earlier RunInstances with other parameters "
            f"({len(earlier)} x {', '.join(sorted(f'{t} of {a}' for a, t in made))}): "
            "use a new token",
        )


def _run_answer(made: list[Body]) -> Body:
    reservation = _reservations(made)[0]
    return {
        "reservationId": reservation["reservationId"],
        "ownerId": reservation["ownerId"],
        "groupSet": [],
        "instancesSet": reservation["instancesSet"],
    }


# ---- actions on instances ----------------------------------------------------------------
def _may_manage(call: Call, chosen: list[Body]) -> None:
    """MANAGE on every instance, asked before its state (as AWS: a caller who may not act
    on an instance learns nothing of what it could do to it)."""
    with call.session.read() as w:
        for vm in chosen:
            if not w.allowed(objects.target(schema.VMS, vm), Right.MANAGE):
                raise Ec2Error(
                    "UnauthorizedOperation",
                    f"You are not authorized to perform this operation on {instance_id(vm)}",
                    403,
                )


def _act(call: Call, action_for: Any) -> Body:
    chosen = visible(call, call.params.list("InstanceId") or _need_ids())
    _may_manage(call, chosen)
    before = {vm["ID"]: ec2_states.of(vm) for vm in chosen}
    groups: dict[str, list[int]] = {}
    for vm in chosen:
        action = action_for(vm)
        if action is not None:
            groups.setdefault(action, []).append(vm["ID"])
    for action, refs in groups.items():
        try:
            outcomes = lifecycle.act(call.session, refs, action, quick_wait=0.0)
        except lifecycle.WrongState as err:
            raise Ec2Error("IncorrectInstanceState", str(err)) from None
        except AuthorizationError as err:
            raise Ec2Error("UnauthorizedOperation", str(err), 403) from None
        failed = [o for o in outcomes if o.error]
        if failed:
            raise Ec2Error("IncorrectInstanceState", failed[0].error or "the action failed")
    after = {vm["ID"]: vm for vm in vms.list_by_ids(call.session, before)}
    return {
        "instancesSet": [
            {
                "instanceId": ids.format_id("i", vm_id),
                "currentState": ec2_states.state_item(
                    ec2_states.of(after.get(vm_id, {}) or {"STATE": VmState.DONE, "LCM_STATE": 0})
                ),
                "previousState": ec2_states.state_item(state),
            }
            for vm_id, state in before.items()
        ]
    }


def _need_ids() -> list[str]:
    raise Ec2Error("MissingParameter", "The request must contain the parameter InstanceId.1")


def _terminate(vm: Body) -> str | None:
    if vm["STATE"] == VmState.DONE:
        return None
    running = ec2_states.of(vm) == ec2_states.RUNNING
    return "shutdown-hard" if running and vm["STATE"] == VmState.ACTIVE else "delete"


def _stop(vm: Body) -> str | None:
    if ec2_states.of(vm) in (ec2_states.STOPPED, ec2_states.STOPPING):
        return None
    if ec2_states.of(vm) != ec2_states.RUNNING:
        raise Ec2Error(
            "IncorrectInstanceState",
            f"The instance '{instance_id(vm)}' is not in a state from which it can be stopped.",
        )
    return "poweroff-hard"


def _start(vm: Body) -> str | None:
    code = ec2_states.of(vm)
    if code in (ec2_states.RUNNING, ec2_states.PENDING):
        return None
    if code != ec2_states.STOPPED:
        raise Ec2Error(
            "IncorrectInstanceState",
            f"The instance '{instance_id(vm)}' is not in a state from which it can be started.",
        )
    return "resume"


def terminate_instances(call: Call) -> Body:
    return _act(call, _terminate)


def stop_instances(call: Call) -> Body:
    force = call.params.bool("Force")
    return _act(call, lambda vm: _stop(vm) and ("poweroff-hard" if force else "poweroff"))


def start_instances(call: Call) -> Body:
    return _act(call, _start)


def reboot_instances(call: Call) -> Body:
    def reboot(vm: Body) -> str:
        if ec2_states.of(vm) != ec2_states.RUNNING:
            raise Ec2Error(
                "IncorrectInstanceState", f"The instance '{instance_id(vm)}' is not running."
            )
        return "reboot"

    _act(call, reboot)
    return {"return": True}


ACTIONS = {
    "RunInstances": run_instances,
    "DescribeInstances": describe_instances,
    "TerminateInstances": terminate_instances,
    "StopInstances": stop_instances,
    "StartInstances": start_instances,
    "RebootInstances": reboot_instances,
}

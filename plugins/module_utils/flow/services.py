"""OneFlow services (``oneflow``): instantiate a service template, show, list, and the
user's operations — shutdown, recover, delete, scale, role actions, chown, chgrp, chmod.

Each operation checks rights and state and writes its decision to the service document
in one transaction; the life-cycle loop (``flow.lcm`` deciding, playbooks acting) does
the VM work. So a request answers at once, and a server that dies leaves nothing half
done: the next step of the loop picks the document up where it is.

A service's VMs belong to its owner and carry ``SERVICE_ID`` and ``ROLE_NAME``.
Operations on them run with the server's rights once the caller's right on the service
is checked (OneFlow acts for the owner the same way).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Database, Tx
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    InvalidInput,
    NotAllowed,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.json_text import parse_json
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import VmState
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    changes,
    lcm,
    policies,
    service_templates,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    documents as flow_documents,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.flow.documents import SERVICE
from ansible_collections.onekit.cloud.plugins.module_utils.flow.service_templates import MAX_VMS
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import FlowState as S
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, vms

Body = dict[str, Any]
Ref = int | str
ROLE_ACTIONS = (*lifecycle.ACTIONS,)  # the guide's list: every onevm action, boot included


def _get(w: AuthTx, ref: Ref, lock: bool = False) -> Body:
    return flow_documents.get(w.tx, ref, SERVICE, lock)


@contextmanager
def _managed(session: Session, ref: Ref) -> Iterator[tuple[AuthTx, Body]]:
    """The service, locked, for a caller with MANAGE on it; written back at the end."""
    with session.write() as w:
        service = _get(w, ref, lock=True)
        w.authorize(objects.target(schema.DOCUMENTS, service), Right.MANAGE)
        yield w, service
        pool.update(w.tx, schema.DOCUMENTS, service)


def _role(service: Body, name: str) -> Body:
    for role in service["TEMPLATE"]["BODY"]["roles"]:
        if role["name"] == name:
            return role
    raise NotFound(f"Role '{name}' not found")


def _state(service: Body) -> S:
    return S(service["TEMPLATE"]["BODY"]["state"])


# ---- create and read --------------------------------------------------------------------
def instantiate(session: Session, template_ref: Ref, merge: Any = None) -> Body:
    """``oneflow-template instantiate 0``: a new PENDING service owned by the caller.
    ``merge`` (a JSON object) is merged over the template's top-level fields first; the
    result is checked as a template is, and every role's VM template must be usable."""
    if isinstance(merge, (str, bytes)):
        merge = parse_json(merge, "the merge template")
    if merge is not None and not isinstance(merge, dict):
        raise InvalidInput("merge_template must be a JSON object")
    merge = service_templates.check_merge(merge or {})
    with session.write() as w:
        tpl = service_templates._get(w, template_ref)
        w.authorize(objects.target(schema.DOCUMENTS, tpl), Right.USE)
        body = service_templates.validate({**tpl["TEMPLATE"]["BODY"], **merge})
        service_templates.check_usable(w, body)
        now = int(time.time())
        body.update(state=int(S.PENDING), start_time=now, template_id=tpl["ID"], log=[])
        for role in body["roles"]:
            role.update(
                state=int(S.PENDING),
                nodes=[],
                disposed_nodes=[],
                last_vmname=0,
                creating=[],
                pending_actions=[],
            )
        fields = {"TYPE": SERVICE, "REGTIME": now, "TEMPLATE": {"BODY": body}}
        return objects.create_in(w, schema.DOCUMENTS, body["name"], fields)


def _node_ids(services: list[Body]) -> list[int]:
    return [
        n["deploy_id"] for s in services for r in s["TEMPLATE"]["BODY"]["roles"] for n in r["nodes"]
    ]


def _vms_by_id(tx: Tx, ids: list[int]) -> dict[int, Body]:
    """The VMs of these ids that exist, by id (one query)."""
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    return {vm["ID"]: vm for vm in pool.all_bodies(tx, schema.VMS, f"oid IN ({marks})", tuple(ids))}


def with_vms(session: Session, services: list[Body]) -> list[Body]:
    """The services with each node's ``vm_info`` read now (``{"VM": <the VM>}``)."""
    ids = _node_ids(services)
    if not ids:
        return services
    with session.read() as w:
        by_id = _vms_by_id(w.tx, ids)
    for service in services:
        for role in service["TEMPLATE"]["BODY"]["roles"]:
            for node in role["nodes"]:
                vm = by_id.get(node["deploy_id"])
                node["vm_info"] = {"VM": vm} if vm else {}
    return services


def show(session: Session, ref: Ref) -> Body:
    with session.read() as w:
        service = _get(w, ref)
        w.authorize(objects.target(schema.DOCUMENTS, service), Right.USE)
    return with_vms(session, [service])[0]


def guest_view(db: Database, vm: Body) -> Body:
    """OneGate's ``GET /service`` for the guest of ``vm`` (the VM its token proved):
    ``{"SERVICE": ...}``, the service its ``USER_TEMPLATE/SERVICE_ID`` names, with each
    role's nodes and their VMs as ``vms.guest_view`` shows them (nodes whose VM is gone
    are left out). A guest is no user: it sees its own owner's service only, so a
    SERVICE_ID it wrote itself reaches no one else's (NotFound, as for no service)."""
    service_id = str(vm["USER_TEMPLATE"].get("SERVICE_ID", ""))
    with db.snapshot() as tx:
        doc = pool.get(tx, schema.DOCUMENTS, int(service_id)) if service_id.isdigit() else None
        if doc is None or doc.get("TYPE") != SERVICE or doc["UID"] != vm["UID"]:
            raise NotFound(f"VM {vm['ID']} belongs to no service")
        found = _vms_by_id(tx, _node_ids([doc]))
    body = doc["TEMPLATE"]["BODY"]
    roles = [
        {
            "name": r["name"],
            "state": r["state"],
            "cardinality": r["cardinality"],
            "nodes": [
                {"deploy_id": n["deploy_id"], "vm_info": vms.guest_view(found[n["deploy_id"]])}
                for n in r["nodes"]
                if n["deploy_id"] in found
            ],
        }
        for r in body["roles"]
    ]
    return {
        "SERVICE": {"id": doc["ID"], "name": doc["NAME"], "state": body["state"], "roles": roles}
    }


def list_services(session: Session, start: int = 0, page_size: int | None = None) -> list[Body]:
    """The services the caller may use from id ``start`` (one page with ``page_size``),
    but those being deleted."""
    return objects.list_visible(
        session, schema.DOCUMENTS, "type = ?", (SERVICE,), start, page_size, _not_deleting
    )


def _not_deleting(service: Body) -> bool:
    return not service["TEMPLATE"]["BODY"].get("deleting")


# ---- operations -------------------------------------------------------------------------
def shutdown(session: Session, ref: Ref) -> Body:
    """``oneflow shutdown``: running VMs shut down gracefully (children first with
    ``straight``), failed ones deleted; the service ends DONE."""
    with _managed(session, ref) as (_w, service):
        state = _state(service)
        if state in (S.DONE, S.UNDEPLOYING):
            raise NotAllowed(f"Action shutdown not allowed in state {state.name}")
        for role in service["TEMPLATE"]["BODY"]["roles"]:
            role["pending_actions"] = []
        lcm.set_service_state(service, S.UNDEPLOYING, time.time())
    return service


def delete(session: Session, ref: Ref) -> Body:
    """``oneflow delete``, from any state: the service is gone for its users at once; the
    loop deletes its VMs and then the document."""
    with _managed(session, ref) as (_w, service):
        service["TEMPLATE"]["BODY"]["deleting"] = True
        lcm.log(service, "Service deleted: deleting its VMs")
    return service


# The guide's recover table: service state -> (roles in that state go to, extra role
# fields, the service's new state). ``repair``: failed VMs are deleted (and replaced),
# unknown ones booted; ``skip_cooldown``: a healed WARNING is RUNNING at once.
_RECOVER: dict[S, tuple[S, dict, S]] = {
    S.FAILED_DEPLOYING: (S.PENDING, {"repair": True}, S.DEPLOYING),
    S.FAILED_UNDEPLOYING: (S.UNDEPLOYING, {}, S.UNDEPLOYING),
    S.FAILED_SCALING: (S.SCALING, {"repair": True}, S.SCALING),
    S.COOLDOWN: (S.RUNNING, {}, S.RUNNING),
    S.WARNING: (S.SCALING, {"repair": True, "skip_cooldown": True}, S.SCALING),
}


def recover(session: Session, ref: Ref) -> Body:
    """``oneflow recover``, as the guide's table says."""
    with _managed(session, ref) as (_w, service):
        state = _state(service)
        if state not in _RECOVER:
            raise NotAllowed(
                f"Wrong state {state.name}: recover is for a FAILED_*, WARNING or COOLDOWN service"
            )
        role_state, fields, service_state = _RECOVER[state]
        now = time.time()
        for role in service["TEMPLATE"]["BODY"]["roles"]:
            if role["state"] == state:
                role.update(state=int(role_state), **fields)
        lcm.set_service_state(service, service_state, now)
        lcm.log(service, f"Recover from {state.name}", now=now)
    return service


def scale(
    session: Session, ref: Ref, role_name: str, cardinality: Any, force: bool = False
) -> Body:
    """``oneflow scale <service> <role> <cardinality> [--force]``."""
    if (
        not isinstance(cardinality, int)
        or isinstance(cardinality, bool)
        or not 0 <= cardinality <= MAX_VMS
    ):
        raise InvalidInput(
            f"cardinality must be an integer from 0 to {MAX_VMS}, got {cardinality!r}"
        )
    with _managed(session, ref) as (_w, service):
        role = _role(service, role_name)
        state = _state(service)
        if state != S.RUNNING:
            raise NotAllowed(
                f"Action scale not allowed in state {state.name}: the service must be "
                "RUNNING (wait for it; `oneflow recover` ends a COOLDOWN and heals a WARNING)"
            )
        if not force:
            if "min_vms" in role and cardinality < role["min_vms"]:
                raise InvalidInput(f"Minimum cardinality is {role['min_vms']}")
            if "max_vms" in role and cardinality > role["max_vms"]:
                raise InvalidInput(f"Maximum cardinality is {role['max_vms']}")
        before = role["cardinality"]
        if cardinality == before:
            return service
        direction = "up" if cardinality > before else "down"
        role.update(cardinality=cardinality, state=int(S.SCALING))
        policies.reset_counters(service["TEMPLATE"]["BODY"]["roles"])
        now = time.time()
        lcm.log(
            service,
            f"Role {role_name} scaling {direction} from {before} to {cardinality} nodes",
            now=now,
        )
        lcm.set_service_state(service, S.SCALING, now)
    return service


def role_action(
    session: Session,
    ref: Ref,
    role_name: str,
    action: str,
    period: int | None = None,
    number: int | None = None,
    config: FlowConfig | None = None,
) -> Body:
    """``oneflow action <service> <role> <action> [--period P] [--number N]``: VM k of the
    role runs the action at now + floor(k / N) * P (the other value from the config when
    only one is given; both absent: every VM at once)."""
    if action not in ROLE_ACTIONS:
        raise InvalidInput(
            f"Action {action!r} is not a VM action; actions are {', '.join(ROLE_ACTIONS)}"
        )
    config = config or FlowConfig()
    for key, value in (("period", period), ("number", number)):
        if value is not None and (
            not isinstance(value, int)
            or isinstance(value, bool)
            or value < (1 if key == "number" else 0)
        ):
            raise InvalidInput(
                f"{key} must be an integer of {1 if key == 'number' else 0} or more, got {value!r}"
            )
    if period is None and number is None:
        period, number = 0, 10**9
    period = config.action_period if period is None else period
    number = config.action_number if number is None else number
    with _managed(session, ref) as (_w, service):
        role = _role(service, role_name)
        state = _state(service)
        if state in (S.DONE, S.UNDEPLOYING, S.PENDING):
            raise NotAllowed(f"Action {action} not allowed in state {state.name}")
        now = int(time.time())
        nodes = [n for n in role["nodes"] if not n.get("disposed")]
        role.setdefault("pending_actions", []).extend(
            {"vm_id": n["deploy_id"], "action": action, "at": now + (k // number) * period}
            for k, n in enumerate(nodes)
        )
        lcm.log(
            service,
            f"Action {action} on role {role_name}: {len(nodes)} VMs ({number} every {period} s)",
            now=now,
        )
    return service


def _vm_ids(w: AuthTx, service: Body) -> list[int]:
    """The service's VMs: its nodes, and VMs of its owner made for it, not adopted yet."""
    ids = {n["deploy_id"] for r in service["TEMPLATE"]["BODY"]["roles"] for n in r["nodes"]}
    where = "state != ? AND uid = ?"
    for vm in pool.all_bodies(w.tx, schema.VMS, where, (int(VmState.DONE), service["UID"])):
        if str(vm["USER_TEMPLATE"].get("SERVICE_ID")) == str(service["ID"]):
            ids.add(vm["ID"])
    return sorted(ids)


def chown(session: Session, ref: Ref, owner: Ref | None, group: Ref | None = None) -> Body:
    """``oneflow chown 1 johndoe apptools``: the service and its VMs change hands together."""
    with _managed(session, ref) as (w, service):
        vm_ids = _vm_ids(w, service)  # the owner's VMs: read before the owner changes
        objects.chown_in(w, schema.DOCUMENTS, service, owner, group)
        system = AuthTx(w.tx, Session.system(session.db))
        for vm_id in vm_ids:
            vm = pool.get(w.tx, schema.VMS, vm_id, lock=True)
            if vm is not None:
                objects.chown_in(system, schema.VMS, vm, service["UID"], service["GID"])
                pool.update(w.tx, schema.VMS, vm)
    return service


def chmod(session: Session, ref: Ref, mode: str | int) -> Body:
    with _managed(session, ref) as (w, service):
        objects.chmod_in(w, schema.DOCUMENTS, service, mode)
    return service


# ---- the loop's side --------------------------------------------------------------------
def plan_step(
    session: Session,
    config: FlowConfig,
    now: float | None = None,
    memory: changes.Memory | None = None,
) -> lcm.Plan:
    """Decide one LCM step and write it, in one transaction: documents are written (and
    VMs re-owned) before any of the plan's orders run. With ``memory`` (the loop's), only
    the services whose inputs changed since it saw them idle are decided
    (``flow.changes``); without, every service that is not DONE."""
    now = time.time() if now is None else now
    memory = memory if memory is not None else changes.Memory()
    memory.forget(config)
    with session.write() as w:
        # API requests that change a service wait for this step (and it for them)
        w.tx.rows("SELECT oid FROM document_pool WHERE type = ?" + w.tx.for_update, (SERVICE,))
        docs = changes.documents(w.tx)
        tagged = changes.tagged_stamps(w.tx)
        texts: dict[int, str] = {}
        services: list[Body] = []
        for oid, text in memory.stale(w.tx, docs, tagged, now):
            service = json.loads(text)
            body = service["TEMPLATE"]["BODY"]
            if body.get("state") == S.DONE and not body.get("deleting"):
                memory.done(oid, text)
                continue
            services.append(service)
            texts[oid] = text
        if not services:
            return lcm.Plan()
        metrics = tuple(
            sorted(policies.referenced(r for s in services for r in s["TEMPLATE"]["BODY"]["roles"]))
        )
        ids = [s["ID"] for s in services]
        mine = {row[1] for sid in ids for row in tagged.get(sid, ())}
        untagged = {i for s in services for i in changes.node_ids(s)} - mine
        bodies, stamps = changes.vm_bodies(w.tx, ids, untagged)
        vms = [lcm.VmView.of(vm, metrics) for vm in bodies.values()]
        plan = lcm.decide(services, vms, now, config)
        for service in services:
            due = plan.idle.get(service["ID"])
            memory.remember(
                service, texts[service["ID"]], due, tagged.get(service["ID"], ()), stamps
            )
        for service in plan.changed:
            pool.update(w.tx, schema.DOCUMENTS, service)
        for service_id in plan.removed:
            pool.delete(w.tx, schema.DOCUMENTS, service_id)
        for vm_id, uid, gid in plan.chowns:
            vm = pool.get(w.tx, schema.VMS, vm_id, lock=True)
            if vm is not None:
                objects.chown_in(w, schema.VMS, vm, uid, gid)
                pool.update(w.tx, schema.VMS, vm)
        return plan


# what a failed order was for -> (the role states it served, the failed state)
# (the service and role states it served are the states that fail)
_FAILED_BY_PURPOSE: dict[str, tuple[frozenset[S], S]] = {
    "deploy": (frozenset({S.PENDING, S.DEPLOYING}), S.FAILED_DEPLOYING),
    "scale": (frozenset({S.SCALING}), S.FAILED_SCALING),
    "undeploy": (frozenset({S.UNDEPLOYING}), S.FAILED_UNDEPLOYING),
}
_SERVICE_SERVED = {"deploy": S.DEPLOYING, "scale": S.SCALING, "undeploy": S.UNDEPLOYING}


def record_failures(session: Session, failures: list[tuple[int, str, str, str]]) -> None:
    """Orders that failed — (service id, role, purpose, message) — put their role and
    service in the FAILED_* state of what they were doing, with the message in the log.
    A role that has moved on meanwhile (the user shut the service down while the step
    ran) keeps its new state and the failure is only logged, as is a failed role action
    (``oneflow action``)."""
    if not failures:
        return
    now = time.time()
    with session.write() as w:
        for service_id, role_name, purpose, message in failures:
            service = pool.get(w.tx, schema.DOCUMENTS, service_id, lock=True)
            if service is None or service.get("TYPE") != SERVICE:
                continue
            body = service["TEMPLATE"]["BODY"]
            served, failed = _FAILED_BY_PURPOSE.get(purpose, (frozenset(), None))
            role = next((r for r in body["roles"] if r["name"] == role_name), None)
            current = (
                role is not None
                and S(role["state"]) in served
                and body["state"] == _SERVICE_SERVED.get(purpose)
            )
            if failed is not None and current and not body.get("deleting"):
                role["state"] = int(failed)
                lcm.set_service_state(service, failed, now)
            severity = "E" if failed is not None else "W"
            where = f"Role {role_name}: " if role_name else ""
            lcm.log(service, f"{where}{message}", severity, now)
            pool.update(w.tx, schema.DOCUMENTS, service)


# ---- for modules ------------------------------------------------------------------------
def find(session: Session, name: str, include_done: bool = False) -> Body | None:
    """The caller's service named ``name`` that is not DONE (or any, with
    ``include_done``); None if there is none."""
    found = [
        s
        for s in list_services(session)
        if s["NAME"] == name
        and s["UID"] == session.subject.uid
        and (include_done or _state(s) != S.DONE)
    ]
    if len(found) > 1:
        ids = ", ".join(str(s["ID"]) for s in found)
        raise InvalidInput(f"services {ids} are all named {name!r}; name one by service_id")
    return found[0] if found else None


def _gone(session: Session, service_id: int) -> bool:
    """Deleted for good: the loop has removed its VMs and then the document."""
    with session.read() as w:
        return pool.get(w.tx, schema.DOCUMENTS, service_id) is None


def wait_for(session: Session, ref: Ref, states: set[S], timeout: float) -> Body | None:
    """Poll until the service is in one of ``states`` (None: until it is gone); a FAILED_*
    state ends the wait with its log's last error."""
    deadline = time.monotonic() + timeout
    while True:
        if not states:  # waiting for a deletion to finish
            if _gone(session, int(ref)):
                return None
            if time.monotonic() > deadline:
                raise InvalidInput(
                    f"service {ref} is still being deleted after {timeout:.0f} s (its VMs are "
                    "going); the LCM of onekit-server deletes them: is it running?"
                )
            time.sleep(0.5)
            continue
        service = show(session, ref)
        state = _state(service)
        if state in states:
            return service
        if state.name.startswith("FAILED"):
            errors = [
                e["message"] for e in service["TEMPLATE"]["BODY"]["log"] if e["severity"] == "E"
            ]
            reason = errors[-1] if errors else "see its log"
            raise InvalidInput(
                f"service {service['ID']} is {state.name}: {reason}; "
                "fix the cause and recover it (oneflow recover)"
            )
        if time.monotonic() > deadline:
            wanted = " or ".join(s.name for s in states) or "gone"
            raise InvalidInput(
                f"service {service['ID']} is still {state.name} after {timeout:.0f} s (waiting "
                f"for {wanted}); the LCM of onekit-server moves services: is it running?"
            )
        time.sleep(0.5)

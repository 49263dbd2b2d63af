"""The core API: ``POST /api/<module>.<function>`` runs one operation of
``module_utils`` as the caller (HTTP basic auth), with the JSON body's ``args`` and
``kwargs``, and answers ``{"result": ...}`` (``remote.dumps``); errors answer
``{"error": {"message", "type"}}`` with the error's HTTP status. ``remote.call`` is its
client.

It is what the CLIs use when the active zone is another front-end (``onezone set``), and
what a federation slave sends its writes of the shared tables to. Only the operations
listed here can be called: those the CLIs and modules perform on users, groups, ACL
rules, zones, hosts, templates, images, networks and VMs (and the hosts' and VMs'
monitoring samples).

The listings page (the guide's ``ONE_POOL_PAGE_SIZE``): an operation that takes
``start`` and ``page_size`` answers at most ``page_size`` objects from id ``start`` on,
and when given ``page_size`` its answer says how to get the next page,
``"next": {"start": <id>}`` (null after the last one). Without ``page_size`` it answers
everything, as before.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import (
    pool,
    remote,
    schema,
    typecheck,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput, NotFound
from ansible_collections.onekit.cloud.plugins.module_utils.core.json_text import parse_json
from ansible_collections.onekit.cloud.plugins.module_utils.core.schema import PoolSpec
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.shared_writes import operation_name
from ansible_collections.onekit.cloud.plugins.module_utils.econe import access_keys
from ansible_collections.onekit.cloud.plugins.module_utils.objects import (
    acls,
    groups,
    hosts,
    images,
    networks,
    users,
    zones,
)
from ansible_collections.onekit.cloud.plugins.module_utils.vm import (
    lifecycle,
    monitor,
    templates,
    vms,
)
from onekit.server import auth
from onekit.server.context import instance

bp = Blueprint("core_api", __name__)
bp.before_request(auth.require_login)  # every route: no body is read for a stranger

_EXPOSED: tuple[tuple[Any, tuple[str, ...]], ...] = (
    (users, ("create", "delete", "passwd", "chauth", "update", "chgrp", "addgroup", "delgroup",
             "show", "list_users", "ensure", "quota", "set_quota")),
    (groups, ("create", "delete", "update", "show", "list_groups", "name_map", "ensure", "quota",
              "set_quota")),
    (acls, ("create", "delete", "list_rules", "ensure")),
    (zones, ("create", "update", "rename", "delete", "show", "list_zones", "ensure")),
    (hosts, ("create", "delete", "enable", "disable", "show", "list_hosts", "update", "ensure")),
    (templates, ("create", "update", "delete", "clone", "instantiate", "show",
                 "list_templates", "ensure")),
    (images, ("create", "delete", "clone", "update", "set_persistent", "enable")),
    (networks, ("create", "delete", "update", "hold", "release")),
    (vms, ("create", "show", "list_vms", "update_user_template")),
    (lifecycle, ("recover", "authorize_deploy", "disk_attach", "disk_detach")),
    (monitor, ("host_monitoring", "vm_monitoring")),
    (access_keys, ("create", "list_keys", "delete", "password_secret")),
)  # fmt: skip

# The generic object operations, for the pools users own objects in (never users, groups,
# zones or documents: those have their own operations, with their own bookkeeping).
OWNED_POOLS = (schema.VMS, schema.TEMPLATES, schema.IMAGES, schema.NETWORKS)
MAX_QUICK_WAIT = 10.0  # seconds a remote `onevm poweroff` may watch its guest
Ref = int | str


def _owned(spec: PoolSpec) -> PoolSpec:
    if spec not in OWNED_POOLS:
        names = ", ".join(s.table for s in OWNED_POOLS)
        raise InvalidInput(f"this operation takes one of the pools {names}")
    return spec


def _show(session: Session, spec: PoolSpec, ref: Ref) -> Any:
    return objects.show(session, _owned(spec), ref)


def _list_visible(
    session: Session, spec: PoolSpec, start: int = 0, page_size: int | None = None
) -> Any:
    # no caller-given SQL
    return objects.list_visible(session, _owned(spec), start=start, page_size=page_size)


def _chown(session: Session, spec: PoolSpec, ref: Ref, owner: Ref, group: Ref | None = None) -> Any:
    return objects.chown(session, _owned(spec), ref, owner, group)


def _chgrp(session: Session, spec: PoolSpec, ref: Ref, group: Ref) -> Any:
    return objects.chgrp(session, _owned(spec), ref, group)


def _chmod(session: Session, spec: PoolSpec, ref: Ref, mode: str | int) -> Any:
    return objects.chmod(session, _owned(spec), ref, mode)


def _act(
    session: Session,
    refs: list[Ref],
    action: str,
    quick_wait: float = 2.0,
    name: str | None = None,
) -> Any:
    """``onevm <action>`` (``name``: a snapshot's); a remote caller may watch a guest
    power off for at most MAX_QUICK_WAIT seconds."""
    wait = min(max(quick_wait, 0.0), MAX_QUICK_WAIT)
    return lifecycle.act(session, refs, action, quick_wait=wait, name=name)


def _poll_now(session: Session, _config: None = None, host_ids: list[int] | None = None) -> Any:
    """``onehost forceupdate``, with this server's monitoring settings."""
    return monitor.poll_now(session, instance().monitor_config(), host_ids)


OPERATIONS: dict[str, Callable[..., Any]] = {
    operation_name(getattr(module, name)): getattr(module, name)
    for module, names in _EXPOSED
    for name in names
}
OPERATIONS.update(
    {
        "objects.show": _show,
        "objects.list_visible": _list_visible,
        "objects.chown": _chown,
        "objects.chgrp": _chgrp,
        "objects.chmod": _chmod,
        "lifecycle.act": _act,
        # the caller's rights on each VM and host are checked by the operation itself,
        # not left to a previous lifecycle.authorize_deploy
        "lifecycle.deploy": lifecycle.deploy_by_hand,
        "monitor.poll_now": _poll_now,
    }
)


@bp.post("/api/<operation>")
def call(operation: str):
    session = auth.session()  # authenticated by require_login, before the body is read
    fn = OPERATIONS.get(operation)
    if fn is None:
        raise NotFound(f"no operation {operation!r} in the core API")
    shape = 'a JSON object {"args": [...], "kwargs": {...}}'
    try:
        body = parse_json(request.get_data(), "the request body", comments=False)
    except InvalidInput as err:
        raise InvalidInput(f"{err}; send {shape}") from None
    if not isinstance(body, dict):
        raise InvalidInput(f"the body must be {shape}")
    args, kwargs = body.get("args", []), body.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise InvalidInput("args must be a JSON list and kwargs a JSON object")
    try:
        args, kwargs = remote.decode_arguments(args), remote.decode_arguments(kwargs)
        bound = inspect.signature(fn).bind(session, *args, **kwargs)
    except TypeError as err:  # arguments the operation does not take
        raise InvalidInput(f"{operation}: {err}") from None
    typecheck.check_arguments(fn, bound, operation)
    answer: dict[str, Any] = {"result": fn(*bound.args, **bound.kwargs)}
    if "page_size" in bound.arguments:
        following = pool.next_start(answer["result"], bound.arguments["page_size"])
        answer["next"] = None if following is None else {"start": following}
    return Response(remote.dumps(answer), mimetype="application/json")

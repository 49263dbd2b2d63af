"""The core API: ``POST /api/<module>.<function>`` runs one operation of
``module_utils`` as the caller (HTTP basic auth), with the JSON body's ``args`` and
``kwargs``, and answers ``{"result": ...}``; errors answer ``{"error": {"message",
"type"}}`` with the error's HTTP status. ``remote.call`` is its client.

It is what the CLIs use when the active zone is another front-end (``onezone set``), and
what a federation slave sends its writes of the shared tables to. Only the operations
listed here can be called: those the CLIs and modules perform on users, groups, ACL
rules, zones, hosts, templates, images, networks and VMs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from flask import Blueprint, jsonify, request

from ansible_collections.onekit.cloud.plugins.module_utils import (
    acls,
    groups,
    hosts,
    images,
    lifecycle,
    monitor,
    networks,
    objects,
    remote,
    schema,
    templates,
    users,
    vms,
    zones,
)
from ansible_collections.onekit.cloud.plugins.module_utils.errors import InvalidInput, NotFound
from ansible_collections.onekit.cloud.plugins.module_utils.federation import operation_name
from ansible_collections.onekit.cloud.plugins.module_utils.session import Session
from onekit.server import auth
from onekit.server.context import instance

bp = Blueprint("core_api", __name__)

_EXPOSED: tuple[tuple[Any, tuple[str, ...]], ...] = (
    (users, ("create", "delete", "passwd", "chgrp", "addgroup", "delgroup", "show",
             "list_users", "ensure")),
    (groups, ("create", "delete", "show", "list_groups", "name_map", "ensure")),
    (acls, ("create", "delete", "list_rules", "ensure")),
    (zones, ("create", "update", "rename", "delete", "show", "list_zones", "ensure")),
    (hosts, ("create", "delete", "enable", "disable", "show", "list_hosts", "update", "ensure")),
    (templates, ("create", "update", "delete", "clone", "instantiate", "show",
                 "list_templates", "ensure")),
    (images, ("create", "delete")),
    (networks, ("create", "delete")),
    (vms, ("create", "show", "list_vms", "update_user_template")),
    (lifecycle, ("recover", "authorize_deploy")),
)  # fmt: skip

# The generic object operations, for the pools users own objects in (never users, groups,
# zones or documents: those have their own operations, with their own bookkeeping).
OWNED_POOLS = (schema.VMS, schema.TEMPLATES, schema.IMAGES, schema.NETWORKS)
MAX_QUICK_WAIT = 10.0  # seconds a remote `onevm poweroff` may watch its guest


def _owned(spec: Any) -> Any:
    if spec not in OWNED_POOLS:
        names = ", ".join(s.table for s in OWNED_POOLS)
        raise InvalidInput(f"this operation takes one of the pools {names}")
    return spec


def _show(session: Session, spec: Any, ref: Any) -> Any:
    return objects.show(session, _owned(spec), ref)


def _list_visible(session: Session, spec: Any) -> Any:
    return objects.list_visible(session, _owned(spec))  # no caller-given SQL


def _chown(session: Session, spec: Any, ref: Any, owner: Any, group: Any = None) -> Any:
    return objects.chown(session, _owned(spec), ref, owner, group)


def _chgrp(session: Session, spec: Any, ref: Any, group: Any) -> Any:
    return objects.chgrp(session, _owned(spec), ref, group)


def _chmod(session: Session, spec: Any, ref: Any, mode: Any) -> Any:
    return objects.chmod(session, _owned(spec), ref, mode)


def _act(session: Session, refs: list, action: str, quick_wait: float = 2.0, **options: Any) -> Any:
    wait = min(max(float(quick_wait), 0.0), MAX_QUICK_WAIT)
    return lifecycle.act(session, refs, action, quick_wait=wait, **options)


def _deploy(session: Session, targets: list, enforce: bool = True) -> Any:
    """``onevm deploy``: the caller's rights on each VM and host are checked here, not
    left to a previous call."""
    checked = [tuple(lifecycle.authorize_deploy(session, vm, host)) for vm, host in targets]
    return lifecycle.deploy(session, checked, enforce=enforce)


def _poll_now(session: Session, _config: Any = None, host_ids: list | None = None) -> Any:
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
        "lifecycle.deploy": _deploy,
        "monitor.poll_now": _poll_now,
    }
)


@bp.post("/api/<operation>")
def call(operation: str):
    fn = OPERATIONS.get(operation)
    if fn is None:
        raise NotFound(f"no operation {operation!r} in the core API")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput('the body must be a JSON object {"args": [...], "kwargs": {...}}')
    args, kwargs = body.get("args", []), body.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise InvalidInput("args must be a JSON list and kwargs a JSON object")
    session = auth.session()
    try:
        args, kwargs = remote.decode_arguments(args), remote.decode_arguments(kwargs)
        bound = inspect.signature(fn).bind(session, *args, **kwargs)
    except TypeError as err:  # arguments the operation does not take
        raise InvalidInput(f"{operation}: {err}") from None
    return jsonify(result=remote.encode(fn(*bound.args, **bound.kwargs)))

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
    networks,
    objects,
    remote,
    templates,
    users,
    vms,
    zones,
)
from ansible_collections.onekit.cloud.plugins.module_utils.errors import InvalidInput, NotFound
from ansible_collections.onekit.cloud.plugins.module_utils.federation import operation_name
from onekit.server import auth

bp = Blueprint("core_api", __name__)

_EXPOSED: tuple[tuple[Any, tuple[str, ...]], ...] = (
    (users, ("create", "delete", "passwd", "chgrp", "addgroup", "delgroup", "show",
             "list_users", "ensure")),
    (groups, ("create", "delete", "show", "list_groups", "ensure")),
    (acls, ("create", "delete", "list_rules", "ensure")),
    (zones, ("create", "update", "rename", "delete", "show", "list_zones", "ensure")),
    (hosts, ("create", "delete", "enable", "disable", "show", "list_hosts", "update", "ensure")),
    (templates, ("create", "update", "delete", "clone", "instantiate", "show",
                 "list_templates", "ensure")),
    (images, ("create", "delete")),
    (networks, ("create", "delete")),
    (vms, ("create", "show", "list_vms", "update_user_template")),
    (lifecycle, ("act", "deploy", "recover", "authorize_deploy")),
    (objects, ("show", "list_visible", "chown", "chgrp", "chmod")),
)  # fmt: skip
OPERATIONS: dict[str, Callable[..., Any]] = {
    operation_name(getattr(module, name)): getattr(module, name)
    for module, names in _EXPOSED
    for name in names
}


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
        bound = inspect.signature(fn).bind(session, *remote.decode(args), **remote.decode(kwargs))
    except TypeError as err:  # arguments the operation does not take
        raise InvalidInput(f"{operation}: {err}") from None
    return jsonify(result=remote.encode(fn(*bound.args, **bound.kwargs)))

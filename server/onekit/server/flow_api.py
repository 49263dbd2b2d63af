"""The OneFlow REST API (``oneflow-server``'s routes, 4.x), on ``:host:``/``:port:`` of
``oneflow-server.conf``.

Every route needs HTTP basic auth; every answer is JSON. Documents come back as
``{"DOCUMENT": {...}}`` and pools as ``{"DOCUMENT_POOL": {"DOCUMENT": [...]}}``, in
OpenNebula's wire form (``flow.documents.wire``: the fields outside BODY as text); errors as
``{"error": {"message": ...}}`` with 400 (a bad document), 401, 403, 404 or 405 (an
action the service's state does not allow).

The two pools page as the core's listings do (large deployments): ``GET /service`` and
``GET /service_template`` take ``?page_size=N`` (and ``start``, an id) and then answer
one page, with ``Link: <...?start=<id>&page_size=N>; rel="next"`` while more may follow.
The body stays OneFlow's pool document; without ``page_size`` the answer is every
document, as OneFlow's.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.core.json_text import parse_json
from ansible_collections.onekit.cloud.plugins.module_utils.core.typecheck import kind
from ansible_collections.onekit.cloud.plugins.module_utils.flow import service_templates, services
from ansible_collections.onekit.cloud.plugins.module_utils.flow.documents import (
    envelope,
    pool_envelope,
)
from onekit.server.auth import require_login, session

bp = Blueprint("oneflow", __name__)
bp.before_request(require_login)  # every route: no body is read for a stranger


def _body() -> Any:
    return parse_json(request.get_data(), "the request body")


def _action() -> tuple[str, dict]:
    """``{"action": {"perform": "x", "params": {...}}}``."""
    doc = _body()
    action = doc.get("action") if isinstance(doc, dict) else None
    if not isinstance(action, dict) or not isinstance(action.get("perform"), str):
        raise InvalidInput('the body must be {"action": {"perform": "<action>", "params": {...}}}')
    params = action.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):  # 0, "", [] and false too: none is "no params"
        raise InvalidInput(f"action.params must be an object, got {kind(params)}")
    return action["perform"], params


def _page() -> tuple[int, int | None]:
    """``?start=<id>&page_size=<n>`` of a pool request (both optional, page_size absent:
    everything)."""
    values: dict[str, int | None] = {"start": 0, "page_size": None}
    for name in values:
        text = request.args.get(name)
        if text is None:
            continue
        if not text.isascii() or not text.isdigit():
            raise InvalidInput(
                f"query parameter {name} must be a whole number, got {pool.shorten(text)!r}"
            )
        values[name] = int(text)
    start, page_size = values["start"] or 0, values["page_size"]
    pool.check_page(start, page_size)
    return start, page_size


def _pool_answer(documents: list[dict], page_size: int | None) -> Response:
    """A pool document; a full page links to the next one (RFC 8288 ``Link``)."""
    answer = jsonify(pool_envelope(documents))
    following = pool.next_start(documents, page_size)
    if following is not None:
        answer.headers["Link"] = (
            f'<{request.path}?start={following}&page_size={page_size}>; rel="next"'
        )
    return answer


def _wake() -> None:
    """A change a user asked for is looked at by the loop now, not in lcm_interval."""
    loops = current_app.extensions.get("onekit.loops")
    if loops is not None:
        loops.wake_flow()


def _owner_params(params: dict, perform: str) -> tuple[Any, Any]:
    owner, group = params.get("owner_id"), params.get("group_id")
    for key, value in (("owner_id", owner), ("group_id", group)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, str))):
            raise InvalidInput(f"params.{key} must be an id or a name, got {value!r}")
    if perform == "chown" and owner is None:
        raise InvalidInput("chown needs params.owner_id (a user id or name)")
    if perform == "chgrp" and group is None:
        raise InvalidInput("chgrp needs params.group_id (a group id or name)")
    return (owner if perform == "chown" else None), group


def _octet(params: dict) -> str:
    if "octet" not in params:
        raise InvalidInput('chmod needs params.octet, e.g. "640"')
    return str(params["octet"])


# ---- service templates ------------------------------------------------------------------
@bp.get("/service_template")
def list_templates():
    start, page_size = _page()
    found = service_templates.list_templates(session(), start, page_size)
    return _pool_answer(found, page_size)


@bp.post("/service_template")
def create_template():
    created = service_templates.create(session(), _body())
    return jsonify(envelope(created)), 201


@bp.get("/service_template/<ref>")
def show_template(ref: str):
    return jsonify(envelope(service_templates.show(session(), ref)))


@bp.put("/service_template/<ref>")
def update_template(ref: str):
    return jsonify(envelope(service_templates.update(session(), ref, _body())))


@bp.delete("/service_template/<ref>")
def delete_template(ref: str):
    service_templates.delete(session(), ref)
    return "", 204


@bp.post("/service_template/<ref>/action")
def template_action(ref: str):
    perform, params = _action()
    user = session()
    if perform == "instantiate":
        created = services.instantiate(user, ref, params.get("merge_template"))
        _wake()
        return jsonify(envelope(created)), 201
    if perform in ("chown", "chgrp"):
        service_templates.chown(user, ref, *_owner_params(params, perform))
    elif perform == "chmod":
        service_templates.chmod(user, ref, _octet(params))
    elif perform == "update":
        if "template_json" not in params:
            raise InvalidInput("update needs params.template_json (the template as JSON text)")
        service_templates.update(user, ref, params["template_json"])
    else:
        raise InvalidInput(f"Action {perform} not supported")
    return "", 204


# ---- services ---------------------------------------------------------------------------
@bp.get("/service")
def list_services():
    user, (start, page_size) = session(), _page()
    found = services.list_services(user, start, page_size)
    return _pool_answer(services.with_vms(user, found), page_size)


@bp.get("/service/<ref>")
def show_service(ref: str):
    return jsonify(envelope(services.show(session(), ref)))


@bp.delete("/service/<ref>")
def delete_service(ref: str):
    services.delete(session(), ref)
    _wake()
    return "", 204


@bp.post("/service/<ref>/action")
def service_action(ref: str):
    perform, params = _action()
    user = session()
    if perform == "shutdown":
        result = services.shutdown(user, ref)
    elif perform in ("recover", "deploy"):
        result = services.recover(user, ref)
    elif perform in ("chown", "chgrp"):
        result = services.chown(user, ref, *_owner_params(params, perform))
    elif perform == "chmod":
        result = services.chmod(user, ref, _octet(params))
    else:
        raise InvalidInput(f"Action {perform} not supported")
    _wake()
    return jsonify(envelope(result)), 201


def _scale(ref: str, role: str, doc: Any) -> None:
    if not isinstance(doc, dict) or "cardinality" not in doc:
        raise InvalidInput('the body must be {"cardinality": N, "force": false}')
    force = doc.get("force", False)
    if not isinstance(force, bool):
        raise InvalidInput("force must be true or false")
    services.scale(session(), ref, role, doc["cardinality"], force)
    _wake()


@bp.put("/service/<ref>/role/<role>")
def scale_role(ref: str, role: str):
    _scale(ref, role, _body())
    return "", 204


@bp.post("/service/<ref>/scale")
def scale_service(ref: str):
    """Later versions' form: ``{"role_name": "worker", "cardinality": 12}``."""
    doc = _body()
    if not isinstance(doc, dict) or not isinstance(doc.get("role_name"), str):
        raise InvalidInput('the body must be {"role_name": "<role>", "cardinality": N}')
    _scale(ref, doc["role_name"], doc)
    return "", 201


@bp.post("/service/<ref>/role/<role>/action")
def role_action(ref: str, role: str):
    perform, params = _action()
    result = services.role_action(
        session(),
        ref,
        role,
        perform,
        params.get("period"),
        params.get("number"),
        current_app.extensions["onekit.flow_config"],
    )
    _wake()
    return jsonify(envelope(result)), 201

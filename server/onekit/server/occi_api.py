"""OCCI 0.8 (OpenNebula 4.6's OCCI server), on ``:host:``/``:port:`` of
``occi-server.conf`` (default 127.0.0.1:4567): every route 4.6 served, its documents
(``occi_documents``) and its status codes.

A request is authenticated before its body is read (``auth.require_login``: HTTP basic
with the user's onekit password; with ``:auth: x509``, ``client_cert.require_login``: the
client certificate the TLS proxy verified; 401 with an empty body otherwise). A document is read
whole, at most ``MAX_BODY``, and parsed by ``core.safe_xml`` (no DOCTYPE, so no entity,
no external DTD); a storage POST is ``multipart/form-data`` with the document in
``occixml`` and the image's file in ``file``, which is spooled to ``:tmpdir:`` as it
arrives (at most ``MAX_UPLOAD``), never held in memory. The rules are the ``occi``
feature's, run as the caller. Errors are ``text/plain``: 400 for a document or value
refused (naming the field), 403 for a right the caller lacks or a change the resource
refuses now (4.6's wrong source state), 404 for an unknown id, 413 for a body over the
limit.
"""

from __future__ import annotations

import logging
import time
import xml.etree.ElementTree as ET
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import safe_xml, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    InvalidInput,
    NotFound,
    OneError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import images
from ansible_collections.onekit.cloud.plugins.module_utils.objects import networks as nets
from ansible_collections.onekit.cloud.plugins.module_utils.occi import (
    compute,
    network,
    storage,
    users,
)
from ansible_collections.onekit.cloud.plugins.module_utils.occi.config import OcciConfig
from ansible_collections.onekit.cloud.plugins.module_utils.occi.errors import Forbidden
from ansible_collections.onekit.cloud.plugins.module_utils.occi.renderer import Renderer
from ansible_collections.onekit.cloud.plugins.module_utils.vm import vms
from onekit.server import auth, client_cert
from onekit.server import occi_documents as docs
from onekit.server.multipart_form import FormTooLarge, MalformedForm, multipart_form

bp = Blueprint("occi", __name__)
log = logging.getLogger("onekit.occi")

MAX_BODY = 1024 * 1024  # bytes of a document (and of a multipart body's text fields)
MAX_UPLOAD = 64 * 1024**3  # bytes of a storage POST with its file
MAX_PARTS = 10  # parts of a storage POST: occixml and file


def config() -> OcciConfig:
    return current_app.extensions["onekit.occi_config"]


def renderer() -> Renderer:
    return current_app.extensions["onekit.occi_renderer"]


def _base() -> str:
    return config().base_url


@bp.before_request
def _login() -> None:
    g.occi_started = time.monotonic()
    if config().auth == "x509":  # the certificate the TLS proxy verified names the user
        client_cert.require_login()
    else:
        auth.require_login()


def _xml(element: ET.Element, status: int = 200) -> Response:
    response = Response(docs.text(element), status=status, mimetype="application/xml")
    response.headers["Cache-Control"] = "no-store"
    return response


def _verbose() -> bool:
    value = request.args.get("verbose")
    return value is not None and value.lower() not in ("false", "0", "no")


def _document(root: str) -> ET.Element:
    """The request body: one XML document with the root ``root``."""
    data = request.stream.read(MAX_BODY + 1)
    if len(data) > MAX_BODY:
        raise RequestEntityTooLarge(f"the request body is larger than {MAX_BODY} bytes")
    return safe_xml.parse(data, root, MAX_BODY)


def _changed(changed: bool) -> int:
    return 202 if changed else 200


# ---- the root and the instance types ------------------------------------------------------
@bp.get("/")
def root() -> Response:
    return _xml(docs.collections(_base()))


@bp.get("/instance_type")
def instance_types() -> Response:
    return _xml(docs.instance_types(_base(), config().instance_types, _verbose()))


@bp.get("/instance_type/<name>")
def instance_type(name: str) -> Response:
    found = config().instance_type(name)
    if found is None:
        raise NotFound(f"INSTANCE_TYPE {name[:40]} not found")
    return _xml(docs.instance_type(_base(), found))


# ---- compute ------------------------------------------------------------------------------
@bp.get("/compute")
def computes() -> Response:
    found = vms.list_vms(auth.session())
    return _xml(docs.collection("compute", _base(), found, _verbose(), docs.compute))


@bp.post("/compute")
def create_compute() -> Response:
    session = auth.session()
    vm = compute.create(session, config(), renderer(), _document("COMPUTE"))
    return _xml(docs.compute(_base(), vms.show(session, vm["ID"])), 201)


@bp.get("/compute/<int:vm_id>")
def show_compute(vm_id: int) -> Response:
    return _xml(docs.compute(_base(), vms.show(auth.session(), vm_id)))


@bp.put("/compute/<int:vm_id>")
def update_compute(vm_id: int) -> Response:
    session = auth.session()
    changed = compute.update(session, vm_id, _document("COMPUTE"))
    return _xml(docs.compute(_base(), vms.show(session, vm_id)), _changed(changed))


@bp.delete("/compute/<int:vm_id>")
def delete_compute(vm_id: int) -> Response:
    compute.delete(auth.session(), vm_id)
    return Response("", 204)


@bp.post("/compute/<int:vm_id>/action")
def compute_action(vm_id: int) -> Response:
    session = auth.session()
    action = _document("ACTION")
    perform = (action.findtext("PERFORM") or "").strip()
    if perform.lower() == "attachdisk":
        vm = compute.attach_disk(session, vm_id, action)
    elif perform.lower() == "detachdisk":
        vm = compute.detach_disk(session, vm_id, action)
    else:
        raise Forbidden(f"Action {perform[:40]} not supported (attachdisk, detachdisk)")
    return _xml(docs.compute(_base(), vms.show(session, vm["ID"])), 202)


# ---- network ------------------------------------------------------------------------------
def _network(session: Any, net_id: int) -> dict[str, Any]:
    return objects.show(session, schema.NETWORKS, net_id)


@bp.get("/network")
def networks() -> Response:
    found = objects.list_visible(auth.session(), schema.NETWORKS)
    return _xml(docs.collection("network", _base(), found, _verbose(), docs.network_doc))


@bp.post("/network")
def create_network() -> Response:
    session = auth.session()
    net = network.create(session, renderer(), _document("NETWORK"))
    return _xml(docs.network_doc(_base(), _network(session, net["ID"])), 201)


@bp.get("/network/<int:net_id>")
def show_network(net_id: int) -> Response:
    return _xml(docs.network_doc(_base(), _network(auth.session(), net_id)))


@bp.put("/network/<int:net_id>")
def update_network(net_id: int) -> Response:
    session = auth.session()
    changed = network.update(session, _network(session, net_id), _document("NETWORK"))
    return _xml(docs.network_doc(_base(), _network(session, net_id)), _changed(changed))


@bp.delete("/network/<int:net_id>")
def delete_network(net_id: int) -> Response:
    nets.delete(auth.session(), net_id)
    return Response("", 204)


# ---- storage ------------------------------------------------------------------------------
def _image(session: Any, image_id: int) -> dict[str, Any]:
    return objects.show(session, schema.IMAGES, image_id)


@bp.get("/storage")
def storages() -> Response:
    found = objects.list_visible(auth.session(), schema.IMAGES)
    return _xml(docs.collection("storage", _base(), found, _verbose(), docs.storage))


@bp.post("/storage")
def create_storage() -> Response:
    """A multipart body: ``occixml`` (a field or a file part) and an optional ``file``,
    spooled to ``:tmpdir:`` as it arrives."""
    session = auth.session()
    if request.mimetype != "multipart/form-data":
        raise InvalidInput(
            "a storage POST is multipart/form-data with the STORAGE document in the part "
            "'occixml' (and the image's file in 'file'): curl -F occixml=@storage.xml"
        )
    try:
        with multipart_form(
            request.environ, config().tmpdir, max_text=MAX_BODY, max_parts=MAX_PARTS
        ) as (form, files):
            occixml: bytes | str | None = form.get("occixml")
            if occixml is None and "occixml" in files:
                occixml = files["occixml"].stream.read(MAX_BODY + 1)
            if occixml is None:
                raise InvalidInput("OCCI XML representation of Image not present in the request")
            doc = safe_xml.parse(occixml, "STORAGE", MAX_BODY)
            upload = files.get("file")
            image = storage.create(
                session, config(), doc, None if upload is None else upload.stream
            )
    except FormTooLarge:
        raise RequestEntityTooLarge(
            f"a storage POST has at most {MAX_PARTS} parts (occixml and file) and "
            f"{MAX_BODY} bytes of text fields"
        ) from None
    except MalformedForm:
        raise InvalidInput("the multipart body is malformed") from None
    return _xml(docs.storage(_base(), image), 201)


@bp.get("/storage/<int:image_id>")
def show_storage(image_id: int) -> Response:
    return _xml(docs.storage(_base(), _image(auth.session(), image_id)))


@bp.put("/storage/<int:image_id>")
def update_storage(image_id: int) -> Response:
    session = auth.session()
    changed = storage.update(session, image_id, _document("STORAGE"))
    return _xml(docs.storage(_base(), _image(session, image_id)), _changed(changed))


@bp.delete("/storage/<int:image_id>")
def delete_storage(image_id: int) -> Response:
    images.delete(auth.session(), image_id)
    return Response("", 204)


@bp.post("/storage/<int:image_id>/action")
def storage_action(image_id: int) -> Response:
    session = auth.session()
    action = _document("ACTION")
    perform = (action.findtext("PERFORM") or "").strip()
    if perform.lower() != "clone":
        raise Forbidden(f"Action {perform[:40]} not supported (clone)")
    image = storage.clone(session, image_id, action)
    return _xml(docs.storage(_base(), image), 201)


# ---- users --------------------------------------------------------------------------------
@bp.get("/user")
def user_collection() -> Response:
    found = users.collection(auth.session())
    full = (lambda base, body: docs.user(base, body)) if _verbose() else None
    return _xml(docs.collection("user", _base(), found, full is not None, full))


@bp.get("/user/<int:uid>")
def show_user(uid: int) -> Response:
    body, quota = users.show(auth.session(), uid)
    return _xml(docs.user(_base(), body, quota))


# ---- errors -------------------------------------------------------------------------------
def _plain(message: str, status: int) -> Response:
    response = Response(message, status=status, mimetype="text/plain")
    if status == 413:
        response.headers["Connection"] = "close"
    return response


def refusal(message: str) -> tuple[str, bytes]:
    """``BodyLimit``'s refusals, as OCCI's text/plain errors."""
    return "text/plain; charset=utf-8", message.encode()


def _log(status: int, message: str = "") -> None:
    started = g.get("occi_started")
    took = "" if started is None else f" in {(time.monotonic() - started) * 1000:.0f} ms"
    who = g.onekit_session.subject.name if "onekit_session" in g else "-"
    log.info("%s %s by %s: %s%s %s", request.method, request.path, who, status, took, message)


@bp.after_request
def _done(response: Response) -> Response:
    if response.status_code < 400:
        _log(response.status_code)
    return response


def register_errors(app: Flask) -> None:
    """Every error of the OCCI app as text/plain (a 401's body empty, as 4.6's)."""

    @app.errorhandler(OneError)
    def _one_error(err: OneError) -> Response:
        status = err.http_status
        _log(status, str(err)[:300])
        if status == 401:
            response = Response("", 401, mimetype="text/plain")
            response.headers["WWW-Authenticate"] = 'Basic realm="OCCI"'
            return response
        return _plain(str(err), status)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        status = err.code or 500
        _log(status, err.description or "")
        response = _plain(err.description or "", status)
        for name, value in err.get_headers():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.path)
        return _plain("An internal error has occurred", 500)

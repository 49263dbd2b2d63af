"""The EC2 Query API (OpenNebula's econe server), on ``:host:``/``:port:`` of
``econe.conf`` (default 127.0.0.1:4567): ``GET /`` and ``POST /`` with an ``Action``.

A request is read whole (at most ``MAX_BODY``; an UploadImage's multipart body, up to
``MAX_UPLOAD``, is spooled to ``:tmpdir:`` while it is hashed), authenticated before its
parameters are used (``econe.signatures``: a SigV4 request before its body is even
parsed), then its action runs as the signer (``econe.actions``) and the dict it returns
is written as EC2's XML. Every refusal is EC2's error XML with AWS's code, 400 for a
client error (so clients do not retry it), 401 AuthFailure, 403 UnauthorizedOperation,
413 for a body over the limit.

With ``:auth: x509`` (econe.conf) the caller is instead the x509 user of the client
certificate the TLS proxy verified (``onekit.server.client_cert``), as 4.6's
X509CloudAuth: a signature, if any, is not checked (an upload's body still must match the
SHA-256 it names).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from typing import IO, Any
from urllib.parse import parse_qsl

from flask import Blueprint, Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthenticationError,
    AuthorizationError,
    Conflict,
    InvalidInput,
    NotFound,
    OneError,
    StoreError,
    TooManyRequests,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.econe import access_keys, signatures
from ansible_collections.onekit.cloud.plugins.module_utils.econe.actions import ACTIONS
from ansible_collections.onekit.cloud.plugins.module_utils.econe.call import Call
from ansible_collections.onekit.cloud.plugins.module_utils.econe.config import EconeConfig
from ansible_collections.onekit.cloud.plugins.module_utils.econe.errors import Ec2Error
from ansible_collections.onekit.cloud.plugins.module_utils.econe.params import Params
from onekit.server import client_cert
from onekit.server.context import store
from onekit.server.multipart_form import FormTooLarge, MalformedForm, multipart_form
from onekit.server.xml_chars import xml_safe

bp = Blueprint("econe", __name__)
log = logging.getLogger("onekit.econe")

MAX_BODY = 1024 * 1024  # bytes of a query: a 1,000-id DescribeInstances is ~25 KB
MAX_UPLOAD = 64 * 1024**3  # bytes of an UploadImage body
MAX_FIELDS = 5000  # parameters of one request
MAX_FORM_MEMORY = 1024 * 1024  # bytes of an upload's text fields (werkzeug reads 64 KiB at a time)
DEFAULT_VERSION = "2016-11-15"
_VERSION = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1024 * 1024


def config() -> EconeConfig:
    return current_app.extensions["onekit.econe_config"]


# ---- the request --------------------------------------------------------------------------
def _read_small() -> bytes:
    data = request.stream.read(MAX_BODY + 1)
    if len(data) > MAX_BODY:
        raise Ec2Error(
            "RequestEntityTooLarge", f"The request body is larger than {MAX_BODY} bytes", 413
        )
    return data


def _spool(tmpdir: str) -> tuple[IO[bytes], str]:
    """The body in a temporary file of ``:tmpdir:`` (deleted when closed), and its hash."""
    os.makedirs(tmpdir, exist_ok=True)
    spooled = tempfile.TemporaryFile(dir=tmpdir)  # noqa: SIM115 (handed to the caller)
    digest, size = hashlib.sha256(), 0
    try:
        while chunk := request.stream.read(_CHUNK):
            size += len(chunk)
            if size > MAX_UPLOAD:
                raise Ec2Error(
                    "RequestEntityTooLarge", f"An upload is at most {MAX_UPLOAD} bytes", 413
                )
            digest.update(chunk)
            spooled.write(chunk)
    except BaseException:
        spooled.close()
        raise
    spooled.seek(0)
    return spooled, digest.hexdigest()


def _form(data: bytes) -> dict[str, str]:
    if request.method == "POST" and data:
        kind = request.mimetype
        if kind not in ("application/x-www-form-urlencoded", ""):
            raise Ec2Error(
                "InvalidParameterValue",
                f"Content-Type {kind[:60]!r} is not accepted: send "
                "application/x-www-form-urlencoded (or multipart/form-data for UploadImage)",
            )
    try:
        text = data.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise Ec2Error(
            "InvalidParameterValue", "The request body is not a UTF-8 query string"
        ) from None
    return dict(pairs)


def _query() -> dict[str, str]:
    try:
        text = request.query_string.decode("utf-8")
        return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS))
    except (UnicodeDecodeError, ValueError):
        raise Ec2Error(
            "InvalidParameterValue", "The query string is not UTF-8 parameters"
        ) from None


def _signed(params: dict[str, str], body_sha256: str) -> signatures.Request:
    cfg = config()
    host = request.headers.get("Host", "")
    return signatures.Request(
        method=request.method,
        hosts=(host, *(h for h in cfg.public_hosts if h != host)),
        path=request.path,
        query=request.query_string.decode("latin-1"),
        headers={k.lower(): v for k, v in request.headers.items()},
        body_sha256=body_sha256,
        params=params,
    )


def _authenticate(claim: signatures.Claim) -> Session:
    found = access_keys.find(store(), claim.access_key)
    if found is None:
        signatures.decoy_check(claim)
        raise signatures.auth_failure()
    subject, secret = found
    if not claim.check(secret):
        raise signatures.auth_failure()
    settings = current_app.extensions["onekit.session_settings"]
    return Session(store(), subject, **settings)


@bp.route("/", methods=["GET", "POST"])
def query() -> Response:
    started = time.monotonic()
    g.econe_action = "-"
    if request.mimetype == "multipart/form-data":
        return _upload(started)
    # x509: the certificate's user, before the body is read
    session = client_cert.login() if config().auth == "x509" else None
    data = _read_small()
    digest = hashlib.sha256(data).hexdigest()
    params = _query()
    if session is None and "Authorization" in request.headers:  # SigV4: before the body is parsed
        session = _authenticate(signatures.claim(_signed(params, digest)))
    params.update(_form(data))
    if session is None:  # SigV2: the signature is among the parameters
        session = _authenticate(signatures.claim(_signed(params, digest)))
    return _dispatch(session, params, None, None, started)


def _upload(started: float) -> Response:
    """UploadImage: a multipart body signed with SigV4 over its SHA-256, which the client
    states in ``X-Amz-Content-SHA256``. The signature is checked against that hash before
    a byte of the body is read (nobody unknown gets to fill the disk), then the body's own
    hash against it as it is spooled; its text fields are held to ``MAX_FORM_MEMORY`` and
    its file parts written in ``:tmpdir:``."""
    claimed = request.headers.get("X-Amz-Content-Sha256", "")
    x509 = config().auth == "x509"
    if not _SHA256.match(claimed) or not (x509 or "Authorization" in request.headers):
        raise signatures.auth_failure(
            "an upload must be signed with SigV4 and name its body's SHA-256 in "
            "X-Amz-Content-SHA256 (econe-upload does both)"
        )
    params = _query()
    if x509:
        session = client_cert.login()
    else:
        session = _authenticate(signatures.claim(_signed(params, claimed)))
    tmpdir = config().tmpdir
    spooled, digest = _spool(tmpdir)
    try:
        if digest != claimed:
            raise signatures.auth_failure(
                "the body received is not the one signed (its SHA-256 is not X-Amz-Content-SHA256)"
            )
        environ = {
            "wsgi.input": spooled,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(os.fstat(spooled.fileno()).st_size),
            "REQUEST_METHOD": "POST",
        }
        with multipart_form(environ, tmpdir, max_text=MAX_FORM_MEMORY, max_parts=MAX_FIELDS) as (
            form,
            files,
        ):
            params.update({k: v for k, v in form.items()})
            file = files.get("file")
            if file is None:
                raise Ec2Error("MissingParameter", "The upload must contain a part named file")
            return _dispatch(session, params, file.stream, file.filename, started)
    except FormTooLarge:
        raise Ec2Error(
            "RequestEntityTooLarge",
            f"An upload has at most {MAX_FIELDS} parts and its fields other than the file "
            f"hold at most {MAX_FORM_MEMORY} bytes",
            413,
        ) from None
    except MalformedForm:
        raise Ec2Error("InvalidParameterValue", "The multipart body is malformed") from None
    finally:
        spooled.close()


def _dispatch(
    session: Session, raw: dict[str, str], upload: Any, upload_name: str | None, started: float
) -> Response:
    params = Params(raw)
    action = params.get("Action")
    if not action:
        raise Ec2Error("MissingAction", "The request must contain the parameter Action")
    g.econe_action = action[:64]
    run = ACTIONS.get(action)
    if run is None or (action == "UploadImage" and upload is None):
        raise Ec2Error(
            "InvalidAction", f"The action {action[:64]} is not valid for this web service."
        )
    version = params.get("Version") or DEFAULT_VERSION
    g.econe_version = version if _VERSION.match(version) else DEFAULT_VERSION
    call = Call(session, params, config(), action, upload, upload_name)
    body = run(call)
    log.info(
        "%s by %s: 200 in %.0f ms",
        action,
        session.subject.name,
        (time.monotonic() - started) * 1000,
    )
    return _xml(_answer(action, g.econe_version, body), 200)


# ---- the answer ---------------------------------------------------------------------------


def _fill(parent: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            if child is None:
                continue
            element = ET.SubElement(parent, key)
            _fill(element, child)
    elif isinstance(value, list):
        for entry in value:
            _fill(ET.SubElement(parent, "item"), entry)
    elif isinstance(value, bool):
        parent.text = "true" if value else "false"
    else:
        parent.text = xml_safe(value)


def _answer(action: str, version: str, body: dict[str, Any]) -> ET.Element:
    root = ET.Element(f"{action}Response", xmlns=f"http://ec2.amazonaws.com/doc/{version}/")
    ET.SubElement(root, "requestId").text = str(uuid.uuid4())
    _fill(root, body)
    return root


def _xml(root: ET.Element, status: int) -> Response:
    text = ET.tostring(root, encoding="unicode", xml_declaration=False)
    return Response(
        '<?xml version="1.0" encoding="UTF-8"?>\n' + text,
        status=status,
        mimetype="text/xml",
    )


def _error_xml(code: str, message: str) -> ET.Element:
    root = ET.Element("Response")
    errors = ET.SubElement(ET.SubElement(root, "Errors"), "Error")
    ET.SubElement(errors, "Code").text = code
    ET.SubElement(errors, "Message").text = xml_safe(message)
    ET.SubElement(root, "RequestID").text = str(uuid.uuid4())
    return root


def refusal(message: str) -> tuple[str, bytes]:
    """``BodyLimit``'s refusals (a body over the limit) as EC2's error XML."""
    code = "RequestEntityTooLarge" if "larger" in message else "InvalidRequest"
    return "text/xml", ET.tostring(_error_xml(code, message), encoding="utf-8")


def error_response(code: str, message: str, status: int) -> Response:
    response = _xml(_error_xml(code, message), status)
    if status == 413:
        response.headers["Connection"] = "close"
    return response


_CORE_CODES: tuple[tuple[type[OneError], str, int], ...] = (
    (AuthenticationError, "AuthFailure", 401),
    (AuthorizationError, "UnauthorizedOperation", 403),
    (TooManyRequests, "RequestLimitExceeded", 503),
    (StoreError, "ServiceUnavailable", 503),
    (NotFound, "InvalidParameterValue", 400),
    (InvalidInput, "InvalidParameterValue", 400),
    (Conflict, "IncorrectState", 400),
)


def _code_of(err: OneError) -> tuple[str, int]:
    if isinstance(err, Ec2Error):
        return err.code, err.http_status
    for kind, code, status in _CORE_CODES:
        if isinstance(err, kind):
            return code, status
    return "InternalError", 500


def register_errors(app: Flask) -> None:
    """Every error of the EC2 app as EC2's XML (the other apps answer JSON)."""

    @app.errorhandler(OneError)
    def _one_error(err: OneError) -> Response:
        code, status = _code_of(err)
        log.info("%s refused (%s %s): %s", g.get("econe_action", "-"), status, code, str(err)[:300])
        return error_response(code, str(err), status)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        status = err.code or 500
        code = {404: "InvalidAction", 405: "InvalidAction", 413: "RequestEntityTooLarge"}.get(
            status, "InvalidRequest"
        )
        response = error_response(code, err.description or "", 400 if status == 404 else status)
        for name, value in err.get_headers():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("%s failed", g.get("econe_action", "-"))
        return error_response("InternalError", "An internal error has occurred", 500)

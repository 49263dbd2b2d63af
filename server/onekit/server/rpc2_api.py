"""``POST /RPC2`` on the core port: OpenNebula's XML-RPC API (``onekit.server.rpc2``).

Every answer is HTTP 200 with an XML-RPC answer, as oned's: a refusal is
``[False, message, code]`` in the body, never an HTTP status, which pyone would not
read. A body over the core API's limit is refused (413) by the app's ``BodyLimit``
before it is read. An error of onekit's own is logged and answered INTERNAL, never with
a traceback.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from werkzeug.exceptions import ClientDisconnected

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    OneError,
    TooManyRequests,
)
from onekit.server import auth
from onekit.server.rpc2 import wire
from onekit.server.rpc2.methods import METHODS

bp = Blueprint("rpc2_api", __name__)
log = logging.getLogger("onekit.rpc2")


def _login(method: str, session_string: str):
    user, _, password = session_string.partition(":")
    try:
        return auth.login(user, password)
    except TooManyRequests as err:  # the password may be right: say when to retry
        raise wire.RpcError(wire.code_of(err), f"[{method}] {err}") from None
    except OneError as err:
        raise wire.RpcError(
            wire.code_of(err), f"[{method}] User couldn't be authenticated, aborting call."
        ) from None


def _xml(body: bytes) -> Response:
    return Response(body, mimetype="text/xml")


@bp.post("/RPC2")
def call() -> Response:
    method = "?"
    try:
        body = request.get_data(cache=False)
    except (OSError, ClientDisconnected) as err:  # a body shorter than its length, a reset
        log.warning("/RPC2: the client's body did not arrive whole (%s)", err or type(err))
        return _xml(wire.fault("the request body did not arrive whole"))
    try:
        parsed = wire.read_call(body, _login)
        method = parsed.method
        handler = METHODS.get(method)
        if handler is None:
            raise wire.RpcError(wire.Code.XML_RPC_API, f"{method} is not supported by onekit")
        result = handler(parsed.session, parsed.params)
    except wire.NotXmlRpc as err:
        return _xml(wire.fault(str(err)))
    except wire.RpcError as err:
        return _xml(wire.failure(method, err))
    except OneError as err:
        return _xml(wire.failure(method, wire.RpcError(wire.code_of(err), str(err))))
    except Exception:
        log.exception("%s failed", method)
        error = wire.RpcError(wire.Code.INTERNAL, "internal error (see the server's log)")
        return _xml(wire.failure(method, error))
    return _xml(wire.answer(result))

"""A hard limit on request bodies, chunked or not, in front of every app.

Flask's ``MAX_CONTENT_LENGTH`` only sees a declared Content-Length: a body sent with
``Transfer-Encoding: chunked`` has none, and werkzeug then reads it cut at the limit,
silently. This WSGI middleware reads a body of unknown length itself, at most
``limit`` + 1 bytes, and answers 413 when there is more; a declared length over the
limit is refused without reading anything. The app behind it always gets a body of a
known length, whole or not at all, so nothing is written from half a body.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]
# (message) -> (content type, body) of a refusal, in the API's own error format
Render = Callable[[str], tuple[str, bytes]]


def json_error(message: str) -> tuple[str, bytes]:
    return "application/json", json.dumps({"error": {"message": message}}).encode()


class BodyLimit:
    """``limit`` bytes of a body of declared length; ``chunked_limit`` (default the same)
    of one without (it is read into memory here: the EC2 app takes uploads of gigabytes
    with their length, and keeps chunked bodies to a query's size)."""

    def __init__(
        self,
        app: WsgiApp,
        limit: int,
        chunked_limit: int | None = None,
        render: Render = json_error,
    ):
        self.app = app
        self.limit = limit
        self.chunked_limit = limit if chunked_limit is None else chunked_limit
        self.render = render

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        declared = environ.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if declared and not chunked:
            if not declared.isdigit():
                message = "the Content-Length header is not a number"
                return _refuse(start_response, 400, self.render(message))
            if int(declared) > self.limit:
                return self._too_large(start_response, self.limit)
            return self.app(environ, start_response)
        if chunked or environ.get("wsgi.input_terminated"):
            body = environ["wsgi.input"].read(self.chunked_limit + 1)
            if len(body) > self.chunked_limit:
                return self._too_large(start_response, self.chunked_limit)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["wsgi.input_terminated"] = False
        return self.app(environ, start_response)

    def _too_large(self, start_response: StartResponse, limit: int) -> Iterable[bytes]:
        message = f"the request body is larger than {limit} bytes"
        return _refuse(start_response, 413, self.render(message), close=True)


def _refuse(
    start_response: StartResponse,
    status: int,
    rendered: tuple[str, bytes],
    close: bool = False,
) -> Iterable[bytes]:
    kind, body = rendered
    reason = {400: "BAD REQUEST", 413: "REQUEST ENTITY TOO LARGE"}[status]
    headers = [("Content-Type", kind), ("Content-Length", str(len(body)))]
    if close:  # the unread rest of the body must not be taken for the next request
        headers.append(("Connection", "close"))
    start_response(f"{status} {reason}", headers)
    return [body]

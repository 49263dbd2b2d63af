"""The HTTP side of the ``occi-*`` commands: where the OCCI server is, who the caller is,
one request, and its answer or error.

An adapter: it knows the OCCI 0.8 routes (``/storage``, ``/compute/<id>/action``...) and
nothing of the rules behind them, which are the server's. Standard library only
(``http.client`` and ``ssl``): the storage upload streams its file, and an ``https://``
URL verifies the server with the system's CAs or ``--cacert``, and presents
``--cert``/``--key`` when a TLS proxy asks for a client certificate (x509 login).

Where, in the guide's order (7.4.2): ``--url``, else ``OCCI_URL``, else
http://localhost:4567. Who: ``--username`` and ``--password``, else the ``user:password``
file of ``ONE_AUTH`` (read as every onekit CLI reads it, with its default). The password
goes as given under HTTP basic auth, as every onekit client sends it: 4.6's client sent
its SHA1 (the hash oned stored; ``--plain`` sent it as given), onekit stores another hash
and checks the password itself. TLS is what protects it on the wire.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import re
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import quote, urlsplit

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthenticationError,
    InvalidInput,
    OneError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from onekit.cli.common import http_url
from onekit.cli.multipart import os_reason

URL_VAR = "OCCI_URL"
DEFAULT_URL = "http://localhost:4567"  # 4.6's OCCIClient, when OCCI_URL is unset
DEFAULT_TIMEOUT = 60.0  # seconds without a byte, for a request with a small body
UPLOAD_TIMEOUT = 3600.0  # storage create: the server answers once the image is READY
SERVER_HINT = f"is occi-server running there? (give --url or set {URL_VAR}; default {DEFAULT_URL})"


class OcciError(OneError):
    """The server refused the request: its status and its words."""

    def __init__(self, status: int, reason: str, text: str):
        with contextlib.suppress(ValueError):  # the standard's words, not the server's case
            reason = HTTPStatus(status).phrase
        message = f"{status} {reason}".strip()
        super().__init__(f"{message}: {text}" if text else message)
        self.status = status


class ConnectError(OneError):
    """No (HTTP) answer from the server at the URL."""


@dataclass(frozen=True)
class Endpoint:
    """Where the server is, who the caller is (None: no basic auth, a client certificate
    alone), and how to talk TLS to it."""

    url: str
    user: str | None = None
    password: str | None = None
    timeout: float | None = None
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    @property
    def base_path(self) -> str:
        return urlsplit(self.url).path.rstrip("/")

    def href(self, kind: str, ident: str) -> str:
        """The URL of a resource as the server names it (``<url>/storage/3``)."""
        return f"{self.url.rstrip('/')}/{kind}/{quote(ident, safe='')}"


def check_url(url: str) -> str:
    """The server's URL, checked: ``http(s)://host[:port][/path]``, no query."""
    http_url(url, f"{URL_VAR} (or --url)", DEFAULT_URL)
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise InvalidInput(f"{URL_VAR} (or --url) {url!r}: no ?query or #fragment, please")
    return url


def resolve(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Endpoint:
    """The endpoint of the options, else of the environment (OCCI_URL, ONE_AUTH)."""
    url = check_url(args.url or environ.get(URL_VAR) or DEFAULT_URL)
    user, password = args.username, args.password
    if user and password is None:
        raise InvalidInput("--username is given but not --password: give both, or neither")
    if password is not None and not user:
        raise InvalidInput("--password is given but not --username: give both, or neither")
    if not user:
        user, password = one_auth(client_certificate=bool(args.cert))
    if args.key and not args.cert:
        raise InvalidInput("--key is given but not --cert: the key goes with a certificate")
    if (args.cacert or args.cert) and urlsplit(url).scheme != "https":
        raise InvalidInput(f"--cacert and --cert are for an https:// URL, not {url}")
    return Endpoint(url, user, password, args.timeout, args.cacert, args.cert, args.key)


def one_auth(client_certificate: bool) -> tuple[str | None, str | None]:
    """The ``user:password`` of ONE_AUTH (else the instance's one_auth). With a client
    certificate the proxy logs the caller in, so a missing file is no error then."""
    try:
        return Instance.locate().credentials()
    except AuthenticationError as err:
        if client_certificate:
            return None, None
        raise AuthenticationError(f"{err} (or give --username and --password)") from err


class Client:
    """Requests to one OCCI server, each on its own connection (a command makes one or
    two)."""

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> str:
        """``method`` on ``path`` (below the URL's own path); the answer's text, or
        ``OcciError`` for a status from 400 up."""
        endpoint = self.endpoint
        parts = urlsplit(endpoint.url)
        sent = dict(headers or {})
        if endpoint.user is not None:
            token = base64.b64encode(f"{endpoint.user}:{endpoint.password}".encode()).decode()
            sent["Authorization"] = f"Basic {token}"
        if isinstance(body, bytes):
            sent.setdefault("Content-Type", "application/xml")
        conn = self._connection(parts.scheme, parts.hostname or "", parts.port, timeout)
        try:
            conn.request(method, endpoint.base_path + path, body=body, headers=sent)
            response = conn.getresponse()
            status, reason, raw = response.status, response.reason, response.read()
        except ssl.SSLError as err:
            raise ConnectError(f"TLS with {endpoint.url} failed: {tls_reason(err)}") from err
        except TimeoutError as err:
            raise ConnectError(
                f"no answer from {endpoint.url} in {endpoint.timeout or timeout:g} s "
                "(-T/--timeout sets the wait)"
            ) from err
        except OSError as err:
            reason = os_reason(err) or str(err)
            raise ConnectError(
                f"cannot connect to {endpoint.url} ({reason}): {SERVER_HINT}"
            ) from err
        except http.client.HTTPException as err:
            raise ConnectError(f"{endpoint.url} answered no HTTP ({err!r}): {SERVER_HINT}") from err
        finally:
            conn.close()
        text = raw.decode("utf-8", errors="replace")
        if status >= 400:
            raise OcciError(status, reason, error_text(text, status, endpoint))
        return text

    def _connection(
        self, scheme: str, host: str, port: int | None, timeout: float
    ) -> http.client.HTTPConnection:
        wait = self.endpoint.timeout or timeout
        if scheme != "https":
            return http.client.HTTPConnection(host, port, timeout=wait)
        return http.client.HTTPSConnection(host, port, timeout=wait, context=self._tls())

    def _tls(self) -> ssl.SSLContext:
        """The server checked against the system's CAs, or ``--cacert``'s; the client's
        certificate presented when given."""
        endpoint = self.endpoint
        try:
            context = ssl.create_default_context(cafile=endpoint.cafile)
        except (OSError, ssl.SSLError) as err:
            raise InvalidInput(f"cannot use --cacert {endpoint.cafile}: {tls_reason(err)}") from err
        if endpoint.certfile:
            try:
                context.load_cert_chain(endpoint.certfile, endpoint.keyfile)
            except (OSError, ssl.SSLError) as err:
                files = " and --key ".join(filter(None, [endpoint.certfile, endpoint.keyfile]))
                raise InvalidInput(f"cannot use --cert {files}: {tls_reason(err)}") from err
        return context


def tls_reason(err: OSError) -> str:
    """ssl's words without its ``[SSL: ...] ... (_ssl.c:1000)`` decoration."""
    if isinstance(err, ssl.SSLError) and err.reason:
        return err.reason.lower().replace("_", " ") + (
            f" ({err.verify_message})" if getattr(err, "verify_message", None) else ""
        )
    return os_reason(err) or str(err)


_HTML_TITLE = re.compile(r"^\s*<(?:!DOCTYPE|html).*?<title>(.*?)</title>", re.I | re.S)


def error_text(text: str, status: int, endpoint: Endpoint) -> str:
    """The server's words for an error on one line (its JSON ``error.message`` when it
    answered JSON); a 401 says where the refused credentials came from."""
    try:
        words = json.loads(text)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        title = _HTML_TITLE.search(text)  # a proxy's error page (nginx's): its title
        words = title.group(1) if title else text
    words = " ".join(str(words).split())
    if status == 401:
        hint = (
            f"user {endpoint.user!r} and its password were refused (from --username/--password "
            "or the user:password file of ONE_AUTH)"
            if endpoint.user is not None
            else "no --username/--password, ONE_AUTH or accepted client certificate"
        )
        return f"{words} ({hint})" if words else hint
    return words

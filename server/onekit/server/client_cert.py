"""The client certificate a TLS proxy verified, for every cloud server's app (the EC2
Query API now; OCCI and the web UI as they come): the guide's ``:ssl_server:`` set-up,
where the proxy (nginx, ``roles/tls_proxy``) ends TLS, verifies a client's certificate
against the admin's CA (OpenNebula never checked it itself) and forwards it.

What the proxy forwards, and only the proxy may:

- ``X-SSL-Client-Cert``: the certificate, URL-encoded PEM (nginx's
  ``$ssl_client_escaped_cert``), and ``X-SSL-Client-Verify``: nginx's verdict
  (``$ssl_client_verify``: ``SUCCESS``, ``FAILED:<reason>`` or ``NONE``);
- ``X-Onekit-Client-Addr``: the client's address (every request reaches the server from
  the proxy's): what the login penalties (``LoginGuard``) and the logs name, through
  ``client_address``;
- ``X-Onekit-Proxy-Secret``: the secret in the instance's ``etc/tls_proxy.secret``
  (mode 600; the role writes it and the proxy's config), which proves the request came
  through the proxy. nginx's ``proxy_set_header`` replaces any header of those names a
  client sent, so through the proxy they are always the proxy's.

``refuse_forged`` runs before every request of a cloud app: a request carrying any of
those headers without the secret (someone talking to the server's port directly, not
through the proxy) is refused with 401 and a logged warning, whatever the app's
``:auth:``. ``login`` is the caller of an app whose config says ``:auth: x509``: the x509
user whose DN (``core.x509``) is the certificate's subject (``core.auth.login_dn``).
"""

from __future__ import annotations

import hmac
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock
from urllib.parse import unquote

from flask import Flask, current_app, g, request

from ansible_collections.onekit.cloud.plugins.module_utils.core import auth, pool, x509
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthenticationError,
    InvalidInput,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from onekit.server.context import store

log = logging.getLogger("onekit.client_cert")

CERT_HEADER = "X-SSL-Client-Cert"
VERIFY_HEADER = "X-SSL-Client-Verify"
SECRET_HEADER = "X-Onekit-Proxy-Secret"
ADDRESS_HEADER = "X-Onekit-Client-Addr"
FORWARDED = (CERT_HEADER, VERIFY_HEADER, ADDRESS_HEADER, SECRET_HEADER)
MAX_SECRET = 1024  # bytes of the secret file read


@dataclass
class ProxyTrust:
    """The proxy's secret, read from its file when the file changes (the role may write
    it while the server runs: no restart needed). No file, an empty one or one others
    may read: no proxy is trusted."""

    path: Path
    _cached: tuple[tuple[int, int, int], bytes | None] | None = None
    _lock: Lock = field(default_factory=Lock)

    def secret(self) -> bytes | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_size, st.st_mode)
        with self._lock:
            if self._cached is not None and self._cached[0] == stamp:
                return self._cached[1]
            value = self._read(st.st_mode)
            self._cached = (stamp, value)
            return value

    def _read(self, mode: int) -> bytes | None:
        if mode & 0o077:
            log.warning("%s is readable by others (mode %o): no proxy is trusted", self.path, mode)
            return None
        try:
            with open(self.path, "rb") as handle:
                value = handle.read(MAX_SECRET).strip()
        except OSError as err:
            log.warning("cannot read %s: %s: no proxy is trusted", self.path, err)
            return None
        return value or None

    def from_proxy(self, given: str | None) -> bool:
        """Whether ``given`` is the proxy's secret (compared in constant time)."""
        secret = self.secret()
        if secret is None or given is None:
            return False
        return hmac.compare_digest(given.encode("utf-8", "replace"), secret)


def install(app: Flask, instance: Instance) -> None:
    """Make ``app`` a cloud app: it trusts the proxy of ``instance`` and refuses forged
    forwarding headers before any of its routes runs."""
    app.extensions["onekit.proxy_trust"] = ProxyTrust(instance.tls_proxy_secret_path)
    app.before_request(refuse_forged)


def _trust() -> ProxyTrust:
    return current_app.extensions["onekit.proxy_trust"]


def _forwarded() -> list[str]:
    return [name for name in FORWARDED if name in request.headers]


def client_address() -> str:
    """Who sent the request: the address the TLS proxy forwarded when the request came
    through it (with its secret), else the connection's. Every client behind the proxy
    would otherwise be the proxy's address, and one stranger's wrong passwords would
    refuse all of them (``LoginGuard``'s penalty is per address)."""
    forwarded = request.headers.get(ADDRESS_HEADER)
    trust = current_app.extensions.get("onekit.proxy_trust")
    if forwarded and trust is not None and trust.from_proxy(request.headers.get(SECRET_HEADER)):
        return pool.shorten(forwarded, 64)
    return request.remote_addr or "-"


def refuse_forged() -> None:
    """``before_request`` of every cloud app: forwarding headers without the proxy's
    secret are someone else's, refused (401) and logged."""
    present = _forwarded()
    if present and not _trust().from_proxy(request.headers.get(SECRET_HEADER)):
        log.warning(
            "refused a request from %s with %s but not the TLS proxy's secret "
            "(not through the proxy, or %s differs from the proxy's)",
            request.remote_addr or "-",  # not the proxy's: the connection's own
            ", ".join(present),
            _trust().path,
        )
        raise AuthenticationError("client-certificate headers are accepted from the TLS proxy only")


def dn() -> str:
    """The subject DN of the client certificate the proxy verified and forwarded;
    AuthenticationError when there is none, or the proxy did not verify it."""
    if not _trust().from_proxy(request.headers.get(SECRET_HEADER)):
        raise AuthenticationError(
            "this server takes x509 logins only through its TLS proxy (:ssl_server:), "
            "with a client certificate"
        )
    verdict = request.headers.get(VERIFY_HEADER, "NONE")
    pem = request.headers.get(CERT_HEADER, "")
    if verdict != "SUCCESS" or not pem:
        raise AuthenticationError(
            "a client certificate signed by the proxy's CA is required "
            f"(the proxy says: {pool.shorten(verdict, 80)})"
        )
    try:
        return x509.dn_of_pem(unquote(pem), "the client certificate")
    except InvalidInput as err:
        raise AuthenticationError(str(err)) from None


def login() -> Session:
    """The session of the x509 user the forwarded certificate names (AuthenticationError
    for a DN no enabled x509 user holds), for an app whose config says ``:auth: x509``."""
    subject = auth.login_dn(store(), dn())
    settings = current_app.extensions["onekit.session_settings"]
    return Session(store(), subject, **settings)


def require_login() -> None:
    """``before_request`` of a blueprint whose app logs callers in by certificate (as
    ``onekit.server.auth.require_login`` does by basic auth): the session in ``g``."""
    g.onekit_session = login()

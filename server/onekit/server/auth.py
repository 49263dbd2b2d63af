"""HTTP basic auth against the user store, for the REST apps.

Every request of an app that needs a user is authenticated before its body is read
(``require_login``, a blueprint's ``before_request``): a client without valid
credentials costs the server no parsing. Password checks go through the process's
``LoginGuard`` (a cache of verified logins, a cap on concurrent hashes, a penalty for an
address that keeps failing), so a flood of wrong passwords cannot starve valid users.
"""

from __future__ import annotations

from flask import current_app, g, request

from ansible_collections.onekit.cloud.plugins.module_utils.core import auth
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import AuthenticationError
from ansible_collections.onekit.cloud.plugins.module_utils.core.login_guard import LoginGuard
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from onekit.server import client_cert
from onekit.server.context import store


def guard() -> LoginGuard:
    return current_app.extensions["onekit.login_guard"]


def require_login() -> None:
    """``before_request``: the caller's session, from the request's basic auth (401
    without it), kept for the request in ``g``."""
    creds = request.authorization
    if creds is None or creds.type != "basic" or not creds.username or creds.password is None:
        raise AuthenticationError("A username and password must be provided")
    g.onekit_session = login(creds.username, creds.password)


def login(username: str, password: str) -> Session:
    """A session of the user with that password, checked through the process's
    ``LoginGuard`` (raises AuthenticationError, or TooManyRequests for an address that
    keeps failing): how every app of the server logs a caller in."""
    subject = guard().login(
        client_cert.client_address(),
        username,
        password,
        lambda user, secret: auth.login(store(), user, secret),
    )
    settings = current_app.extensions["onekit.session_settings"]
    return Session(store(), subject, credentials=(username, password), **settings)


def session() -> Session:
    """The caller's session (authenticated by ``require_login``)."""
    if "onekit_session" not in g:
        require_login()
    return g.onekit_session

"""HTTP basic auth against the user store, for the REST apps.

A password check costs a scrypt hash (~50 ms) by design, so a verified login is kept for
``TTL`` seconds, keyed by the user name and a hash of the password: a client's next
requests cost nothing, and a changed or disabled password stops working within ``TTL``.
"""

from __future__ import annotations

import hashlib
import threading
import time

from flask import current_app, request

from ansible_collections.onekit.cloud.plugins.module_utils import auth
from ansible_collections.onekit.cloud.plugins.module_utils.errors import AuthenticationError
from ansible_collections.onekit.cloud.plugins.module_utils.session import Session
from onekit.server.context import store

TTL = 30.0
_lock = threading.Lock()


def session() -> Session:
    """The caller's session, from the request's basic auth (401 without it)."""
    creds = request.authorization
    if creds is None or not creds.username or creds.password is None:
        raise AuthenticationError("A username and password must be provided")
    key = (creds.username, hashlib.sha256(creds.password.encode()).hexdigest())
    cache: dict = current_app.extensions.setdefault("onekit.logins", {})
    now = time.monotonic()
    with _lock:
        hit = cache.get(key)
    if hit is not None and hit[1] > now:
        subject = hit[0]
    else:
        subject = auth.login(store(), creds.username, creds.password)
        with _lock:
            if len(cache) > 10000:
                cache.clear()
            cache[key] = (subject, now + TTL)
    settings = current_app.extensions["onekit.session_settings"]
    return Session(store(), subject, credentials=(creds.username, creds.password), **settings)

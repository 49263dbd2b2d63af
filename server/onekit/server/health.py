"""``GET /health``: is the server up and its store usable (schema of the right version)?

It answers anyone, so it says only what a load balancer needs: ``ok`` (200) or
``error`` (503), and whether this server runs the loops (``leader``) or stands by. Why
the store is unusable goes to the server's log, never to an anonymous caller.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import StoreError
from onekit.server.context import store

bp = Blueprint("health", __name__)
log = logging.getLogger("onekit.server")


@bp.get("/health")
def health():
    db = store()
    try:
        db.check_schema()
    except StoreError as err:
        log.error("health check: %s: %s", db.description, err)
        return jsonify(status="error"), 503
    loops = current_app.extensions.get("onekit.loops")
    role = None if loops is None else ("leader" if loops.leader else "standby")
    return jsonify(status="ok", loops=role)

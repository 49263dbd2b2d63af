"""``GET /health``: is the server up and its store usable (schema of the right version)?"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from ansible_collections.onekit.cloud.plugins.module_utils.errors import StoreError
from onekit import __version__
from onekit.server.context import store

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    db = store()
    try:
        db.check_schema()
    except StoreError as err:
        return jsonify(status="error", store=db.description, message=str(err)), 503
    loops = current_app.extensions.get("onekit.loops")
    role = None if loops is None else ("leader" if loops.leader else "standby")
    return jsonify(status="ok", store=db.description, version=__version__, loops=role)

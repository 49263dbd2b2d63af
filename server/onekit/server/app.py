"""The Flask application factory (the pattern of Flask's tutorial app).

    app = create_app(Instance.locate())

The app holds the instance and its store; blueprints reach them through
``onekit.server.context``. Core errors become JSON ``{"error": {"message": ...}}`` with the status
the error names (400, 401, 403, 404, 409, 503).
"""

from __future__ import annotations

from flask import Flask, jsonify

from ansible_collections.onekit.cloud.plugins.module_utils.db import Database
from ansible_collections.onekit.cloud.plugins.module_utils.errors import OneError
from ansible_collections.onekit.cloud.plugins.module_utils.instance import Instance
from onekit.server import health


def create_app(instance: Instance, db: Database | None = None) -> Flask:
    app = Flask("onekit")
    app.extensions["onekit.instance"] = instance
    app.extensions["onekit.db"] = db if db is not None else instance.open_store()
    app.register_blueprint(health.bp)

    @app.teardown_appcontext
    def _close_store(_exc: BaseException | None) -> None:
        # werkzeug serves each request in a new thread; its connection goes with it
        app.extensions["onekit.db"].close()

    @app.errorhandler(OneError)
    def _core_error(err: OneError):
        return jsonify(error={"message": str(err)}), err.http_status

    return app

"""The Flask application factory (the pattern of Flask's tutorial app).

    app = create_app(Instance.locate())              # the core server: /health
    flow = create_app(instance, db, "oneflow")       # + the OneFlow REST API
    gate = create_app(instance, db, "onegate")       # + the OneGate REST API

Each app also serves /health and its API's OpenAPI document, /openapi.json (see
``onekit.server.openapi``). One code base, one app per port. The app holds the instance
and its store; blueprints reach them through ``onekit.server.context``. Every error is
JSON ``{"error": {"message": ...}}``: core errors with the status they name (400, 401,
403, 404, 405, 409, 429, 502, 503), HTTP errors (an unknown route, a method a route does
not take, a body over the size limit) with theirs; a 405 says what is allowed (Allow),
a 401 how to authenticate (WWW-Authenticate), a 429 when to retry (Retry-After).
"""

from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Database
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    OneError,
    TooManyRequests,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.login_guard import LoginGuard
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.gate import config as gate_config
from ansible_collections.onekit.cloud.plugins.module_utils.occi.renderer import Renderer
from onekit.server import (
    client_cert,
    core_api,
    econe_api,
    flow_api,
    gate_api,
    health,
    metrics,
    occi_api,
    openapi,
    rpc2_api,
)
from onekit.server.body_limit import BodyLimit

MAX_BODY = 1024 * 1024  # bytes: a service template of thousands of roles fits
# the cloud servers, which a TLS proxy may front (:ssl_server:) and forward client
# certificates to (onekit.server.client_cert); the web UI joins them
CLOUD_APIS = ("econe", "occi")
APIS = {  # each app also serves its OpenAPI document, GET /openapi.json
    # /metrics on the core API's port only (onekit.server.metrics says why)
    "core": (health.bp, openapi.BLUEPRINTS["core"], core_api.bp, rpc2_api.bp, metrics.bp),
    "oneflow": (health.bp, openapi.BLUEPRINTS["oneflow"], flow_api.bp),
    "onegate": (health.bp, openapi.BLUEPRINTS["onegate"], gate_api.bp),
    "econe": (health.bp, econe_api.bp),  # EC2's own API description is AWS's
    "occi": (health.bp, occi_api.bp),  # OCCI 0.8 had no machine-readable description
}


def create_app(
    instance: Instance,
    db: Database | None = None,
    api: str = "core",
    login_guard: LoginGuard | None = None,
) -> Flask:
    """One app; the apps of one process share ``login_guard`` (its bounds are the
    process's: give them all the same one)."""
    # no static files: Flask would serve <the server's working directory>/static/ to anyone
    app = Flask(f"onekit.{api}", static_folder=None)
    limit = {
        "onegate": gate_config.MAX_BODY,
        "econe": econe_api.MAX_UPLOAD,
        "occi": occi_api.MAX_UPLOAD,
    }.get(api, MAX_BODY)
    app.config["MAX_CONTENT_LENGTH"] = limit
    if api == "econe":  # uploads of gigabytes with their length, queries of 1 MiB
        app.wsgi_app = BodyLimit(  # type: ignore[method-assign]
            app.wsgi_app, limit, econe_api.MAX_BODY, econe_api.refusal
        )
    elif api == "occi":  # storage uploads with their length, documents of 1 MiB
        app.wsgi_app = BodyLimit(  # type: ignore[method-assign]
            app.wsgi_app, limit, occi_api.MAX_BODY, occi_api.refusal
        )
    else:
        app.wsgi_app = BodyLimit(app.wsgi_app, limit)  # type: ignore[method-assign]
    app.extensions["onekit.instance"] = instance
    app.extensions["onekit.config"] = config = instance.config()
    app.extensions["onekit.session_settings"] = instance.session_settings(config)
    app.extensions["onekit.flow_config"] = instance.flow_config()
    app.extensions["onekit.login_guard"] = login_guard or LoginGuard()
    if api == "onegate":
        app.extensions["onekit.gate_secret"] = instance.gate_secret()
    if api == "econe":
        app.extensions["onekit.econe_config"] = instance.econe_config()
    if api == "occi":
        occi = app.extensions["onekit.occi_config"] = instance.occi_config()
        renderer = app.extensions["onekit.occi_renderer"] = Renderer(instance.occi_templates_dir)
        renderer.check(occi)  # a missing template fails the start, not a request
    app.extensions["onekit.db"] = db if db is not None else instance.open_store()
    if api in CLOUD_APIS:  # before the blueprints' own before_request (their login)
        client_cert.install(app, instance)
    for blueprint in APIS[api]:
        app.register_blueprint(blueprint)
    # no teardown closes the store: a request's transactions give their connections back
    # to the store's pool (core.connections), for the next request to reuse

    # the challenge of a 401: how to authenticate here (OneGate takes a VM's token)
    challenge = 'X-ONEGATE-TOKEN realm="onegate"' if api == "onegate" else 'Basic realm="onekit"'

    @app.errorhandler(OneError)
    def _core_error(err: OneError):
        response = jsonify(error={"message": str(err), "type": type(err).__name__})
        if err.http_status == 401:
            response.headers["WWW-Authenticate"] = challenge
        if err.http_status == 405 and request.url_rule is not None:
            response.headers["Allow"] = ", ".join(sorted(request.url_rule.methods or ()))
        if isinstance(err, TooManyRequests):
            response.headers["Retry-After"] = str(err.retry_after)
        return response, err.http_status

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        response = jsonify(error={"message": err.description})
        for name, value in err.get_headers():  # Allow of a 405, for one
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, err.code

    if api == "econe":  # EC2's errors are XML, with AWS's codes
        econe_api.register_errors(app)
    if api == "occi":  # OCCI's errors are text/plain
        occi_api.register_errors(app)
    metrics.instrument(app, api)  # every request counted, by API and status
    return app

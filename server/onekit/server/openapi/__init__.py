"""The OpenAPI documents of the three HTTP APIs (``core.yaml``, ``oneflow.yaml``,
``onegate.yaml`` beside this file), and the blueprints that serve each as
``GET /openapi.json`` on its own port, to anyone (it says nothing a caller could not learn
by calling).

The documents are written by hand, and kept true by tests: every Flask route is in its
document and every documented operation is a route (tests/integration/test_openapi.py),
and every answer of a running server to thousands of generated requests conforms to
them (tests/integration/test_fuzz_apis.py).
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
from typing import Any

import yaml
from flask import Blueprint, jsonify

APIS = ("core", "oneflow", "onegate")


@functools.cache
def _loaded(api: str) -> dict[str, Any]:
    if api not in APIS:
        raise ValueError(f"no OpenAPI document for {api!r}; there are {', '.join(APIS)}")
    text = importlib.resources.files(__name__).joinpath(f"{api}.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def document(api: str) -> dict[str, Any]:
    """The OpenAPI document of ``api`` (core, oneflow or onegate), a copy of its own."""
    return copy.deepcopy(_loaded(api))


def _blueprint(api: str) -> Blueprint:
    # A blueprint of its own: the API's blueprint authenticates every request it routes.
    bp = Blueprint(f"openapi_{api}", __name__)

    @bp.get("/openapi.json")
    def openapi_json():
        return jsonify(_loaded(api))

    return bp


BLUEPRINTS = {api: _blueprint(api) for api in APIS}

"""The OpenAPI documents of the three HTTP APIs stay true to the server.

* every route of each app (``create_app``'s url_map) is documented with its methods, and
  every documented operation is a route, with the same path parameters: no drift either
  way;
* the documents are valid OpenAPI 3.1, every reference resolves and every component is
  used;
* what the documents enumerate is what the code knows (the core's operations, OneFlow's
  template keys, role actions, limits), and the guide's templates fit the template schema;
* each server serves its document at ``GET /openapi.json``, to anyone.

What the server answers to requests is checked against the documents by
test_fuzz_apis.py.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from schemathesis.core.result import Err
from support import guide_examples
from support.plays import sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils.core.json_text import parse_json
from ansible_collections.onekit.cloud.plugins.module_utils.flow import service_templates, services
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import SHUTDOWN_ACTIONS
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import FlowState
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.gate import config as gate_config
from onekit.server import app as server_app
from onekit.server import core_api, openapi

APIS = ("core", "oneflow", "onegate")
METHODS = {"GET", "PUT", "POST", "DELETE", "PATCH"}  # Flask adds HEAD and OPTIONS itself


def routes(instance: Instance, api: str) -> dict[tuple[str, str], set[str]]:
    """(OpenAPI path, method) -> path parameters, of the app the server makes for ``api``."""
    app = server_app.create_app(instance, api=api)
    try:
        found = {}
        for rule in app.url_map.iter_rules():
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            for method in (rule.methods or set()) & METHODS:
                found[(path, method.lower())] = set(rule.arguments)
        return found
    finally:
        app.extensions["onekit.db"].close()


def documented(api: str) -> dict[tuple[str, str], set[str]]:
    """(path, method) -> path parameters, of the document."""
    doc = openapi.document(api)
    found = {}
    for path, item in doc["paths"].items():
        shared = item.get("parameters", [])
        for method, operation in item.items():
            if method == "parameters":
                continue
            params = [resolve(doc, p) for p in shared + operation.get("parameters", [])]
            found[(path, method)] = {p["name"] for p in params if p["in"] == "path"}
    return found


def resolve(doc: dict, node: dict) -> dict:
    while "$ref" in node:
        node = pointer(doc, node["$ref"])
    return node


def pointer(doc: dict, ref: str) -> Any:
    assert ref.startswith("#/"), f"only references inside the document: {ref}"
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def schema_of(api: str, name: str) -> dict:
    return openapi.document(api)["components"]["schemas"][name]


def validator(api: str, name: str) -> jsonschema_rs.Validator:
    """A validator for the component schema ``name`` (its references resolved)."""
    doc = openapi.document(api)
    root = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return jsonschema_rs.Draft202012Validator(root)


# ---- routes -----------------------------------------------------------------------------
@sqlite_only
@pytest.mark.parametrize("api", APIS)
def test_every_route_is_documented_and_every_documented_operation_is_a_route(instance, api):
    served, written = routes(instance, api), documented(api)
    assert sorted(set(served) - set(written)) == [], "routes missing from the document"
    assert sorted(set(written) - set(served)) == [], "documented operations that are no route"
    for key, params in served.items():
        assert written[key] == params, f"{key}: path parameters"


@sqlite_only
def test_every_app_serves_health_and_its_document(instance):
    for api in APIS:
        served = routes(instance, api)
        assert ("/health", "get") in served and ("/openapi.json", "get") in served, api


# ---- the documents ----------------------------------------------------------------------
@pytest.mark.parametrize("api", APIS)
def test_the_document_is_valid_openapi_and_every_operation_loads(api):
    doc = openapi.document(api)
    assert doc["openapi"].startswith("3.1")
    schema = schemathesis.openapi.from_dict(doc)
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    operations = list(schema.get_all_operations())
    errors = [r.err() for r in operations if isinstance(r, Err)]
    assert errors == []
    assert len(operations) == sum(len(set(item) - {"parameters"}) for item in doc["paths"].values())


@pytest.mark.parametrize("api", APIS)
def test_every_reference_resolves_and_every_component_is_used(api):
    doc = openapi.document(api)
    used = set(refs(doc))
    for ref in used:
        pointer(doc, ref)
    for kind, items in doc["components"].items():
        if kind == "securitySchemes":
            continue
        for name in items:
            assert f"#/components/{kind}/{name}" in used, f"{kind}/{name} is never used"
    schemes = set(doc["components"]["securitySchemes"])
    for item in doc["paths"].values():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for requirement in operation.get("security", doc["security"]):
                assert set(requirement) <= schemes


@pytest.mark.parametrize("api", APIS)
def test_errors_are_documented_as_the_app_answers_them(api):
    """Every 4xx and 5xx is ``{"error": {"message", "type"?}}``; only /health and
    /openapi.json are open to anyone, /RPC2 authenticates in its body (XML-RPC's session
    string, tests/integration/test_rpc2.py), and every other operation documents its
    401."""
    doc = openapi.document(api)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            open_ = path in ("/health", "/openapi.json")
            in_body = path == "/RPC2"
            assert (operation.get("security") == []) is (open_ or in_body), (path, method)
            if not (open_ or in_body):
                assert "401" in operation["responses"], (path, method)
            for code, response in operation["responses"].items():
                assert isinstance(code, str) and re.fullmatch(r"[1-5][0-9][0-9]", code)
                if code >= "400" and path != "/health":
                    body = resolve(doc, response)["content"]["application/json"]["schema"]
                    assert body == {"$ref": "#/components/schemas/Error"}, (path, method, code)


def test_the_core_operations_are_those_the_core_api_runs():
    call = openapi.document("core")["paths"]["/api/{operation}"]["post"]
    (operation,) = call["parameters"]
    assert operation["schema"]["enum"] == list(core_api.OPERATIONS)


def test_the_service_template_schema_has_the_keys_the_server_takes():
    """The server refuses any other key (additionalProperties false, as here)."""
    for name, keys in (
        ("ServiceTemplate", service_templates.TEMPLATE_KEYS),
        ("Role", service_templates.ROLE_KEYS),
        ("ElasticityPolicy", service_templates.ELASTICITY_KEYS),
        ("ScheduledPolicy", service_templates.SCHEDULED_KEYS),
    ):
        schema = schema_of("oneflow", name)
        assert set(schema["properties"]) == keys, name
        assert schema["additionalProperties"] is False, name
    assert schema_of("oneflow", "Adjustment")["enum"] == list(service_templates.ADJUSTMENTS)
    assert schema_of("oneflow", "ShutdownAction")["enum"] == list(SHUTDOWN_ACTIONS)
    deployment = schema_of("oneflow", "ServiceTemplate")["properties"]["deployment"]
    assert deployment["enum"] == list(service_templates.DEPLOYMENTS)
    assert schema_of("oneflow", "VmCount")["maximum"] == service_templates.MAX_VMS
    assert schema_of("oneflow", "FlowState")["maximum"] == max(FlowState)
    perform = schema_of("oneflow", "RoleAction")["properties"]["action"]["properties"]["perform"]
    assert perform["enum"] == list(services.ROLE_ACTIONS)


def test_the_guides_templates_fit_the_template_schema():
    check = validator("oneflow", "ServiceTemplate")
    for text in (guide_examples.scalability1_json(), guide_examples.time_windows_json()):
        doc = parse_json(text)
        service_templates.validate(doc)  # the server takes it
        assert check.is_valid(doc), next(check.iter_errors(doc))
    assert not check.is_valid({"name": "x", "roles": [{"name": "r", "vm_template": 0}], "x": 1})


def test_the_onegate_body_limit_is_the_servers():
    doc = openapi.document("onegate")
    body = doc["components"]["requestBodies"]["Attributes"]["content"]["text/plain"]["schema"]
    assert body["maxLength"] == gate_config.MAX_BODY


# ---- served -----------------------------------------------------------------------------
@sqlite_only
def test_each_server_serves_its_document_to_anyone(server):
    urls = {
        "core": server.config().endpoint,
        "oneflow": server.flow_config().url,
        "onegate": server.gate_config().url,
    }
    for api, url in urls.items():
        with urllib.request.urlopen(f"{url}/openapi.json", timeout=30) as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"] == "application/json"
            assert json.loads(answer.read()) == openapi.document(api), api


def test_a_document_is_a_copy_of_its_own():
    doc = openapi.document("oneflow")
    doc["paths"].clear()
    assert openapi.document("oneflow")["paths"]
    with pytest.raises(ValueError, match="no OpenAPI document for 'nothing'"):
        openapi.document("nothing")

"""The three HTTP APIs (core, OneFlow, OneGate) against bad requests, on a running server:
each is refused with a clear 4xx, and nothing is written.

* nothing of a request is parsed before its sender is authenticated;
* JSON nested without end, bodies over the limit (declared or chunked), credentials with
  control characters, conflicting VM ids, arguments of the wrong type;
* what only onekit or administrators write (a VM's error, its service, RAW) stays theirs;
* a client that keeps failing to log in is slowed down, and valid users are not.
"""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import store_snapshot
from support.plays import sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.gate import config as gate_config
from ansible_collections.onekit.cloud.plugins.module_utils.gate import tokens
from ansible_collections.onekit.cloud.plugins.module_utils.objects import users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates, vms

pytestmark = sqlite_only  # the store is not what these are about


class Reply:
    def __init__(self, status: int, raw: bytes, headers: dict[str, str]):
        self.status = status
        self.raw = raw
        self.headers = headers

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def message(self) -> str:
        return self.json["error"]["message"]

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.raw[:300]!r})"


def request(
    url: str,
    method: str = "GET",
    body: bytes | str | None = None,
    auth: tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
    chunked: bool = False,
    source: str | None = None,
    pause: float = 0.0,
) -> Reply:
    """One HTTP request with the standard library's client; ``chunked`` sends the body
    with Transfer-Encoding: chunked (no Content-Length), ``pause`` seconds apart per
    64 KiB piece (a slow client), ``source`` binds the client to that local address
    (127.0.0.2 is another client on loopback)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(
        parts.hostname,
        parts.port,
        timeout=60,
        source_address=(source, 0) if source else None,
    )
    head = dict(headers or {})
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        head["Authorization"] = f"Basic {token}"
    data = body.encode() if isinstance(body, str) else body
    if chunked:
        size = 64 * 1024
        pieces = [data[i : i + size] for i in range(0, len(data or b""), size)]
        conn.request(
            method, parts.path, body=_slowly(pieces, pause), headers=head, encode_chunked=True
        )
    else:
        conn.request(method, parts.path, body=data, headers=head)
    try:
        answer = conn.getresponse()
        raw = answer.read()
        return Reply(answer.status, raw, dict(answer.getheaders()))
    except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
        raise AssertionError(f"{method} {url}: the server dropped the connection") from None
    finally:
        conn.close()


def _slowly(pieces: list[bytes], pause: float) -> Iterator[bytes]:
    for piece in pieces:
        yield piece
        time.sleep(pause)


def urls(instance: Instance) -> dict[str, str]:
    return {
        "core": instance.config().endpoint,
        "oneflow": instance.flow_config().url,
        "onegate": instance.gate_config().url,
    }


def admin_auth(instance: Instance) -> tuple[str, str]:
    return instance.credentials()


# every route of the core and OneFlow APIs that reads a body
BODY_ROUTES = [
    ("core", "POST", "/api/users.create"),
    ("oneflow", "POST", "/service_template"),
    ("oneflow", "PUT", "/service_template/0"),
    ("oneflow", "POST", "/service_template/0/action"),
    ("oneflow", "POST", "/service/1/action"),
    ("oneflow", "PUT", "/service/1/role/web"),
    ("oneflow", "POST", "/service/1/scale"),
    ("oneflow", "POST", "/service/1/role/web/action"),
]
DEEP = "[" * 100000


def test_no_body_is_read_before_the_sender_is_authenticated(server):
    """A stranger gets 401 whatever the body: nested without end, malformed, or empty
    (not a 500 from the JSON reader, not a 400 telling what it found)."""
    base = urls(server)
    for api, method, path in BODY_ROUTES:
        for body in (DEEP, "{not json", ""):
            reply = request(base[api] + path, method, body)
            assert reply.status == 401, (path, body[:10], reply)
            assert reply.message == "A username and password must be provided"
            assert reply.headers.get("WWW-Authenticate") == 'Basic realm="onekit"'


def test_json_nested_too_deep_is_a_clear_400(server):
    base, auth = urls(server), admin_auth(server)
    before = store_snapshot(server.database())
    for api, method, path in BODY_ROUTES:
        reply = request(base[api] + path, method, DEEP, auth)
        assert reply.status == 400, (path, reply)
        assert "nests arrays and objects more than 64 deep" in reply.message
    for number in ("1" * 5000, "1e999", "NaN"):  # what Python's reader takes or trips on
        reply = request(base["core"] + "/api/users.create", "POST", f'{{"args": [{number}]}}', auth)
        assert reply.status == 400, (number[:10], reply)
        assert "not valid JSON" in reply.message
    assert store_snapshot(server.database()) == before


def token_vm(instance: Instance) -> tuple[dict, str]:
    """A VM whose CONTEXT asks for a token (PENDING: OneGate needs no host), and it."""
    admin = instance.session()
    found = [t for t in templates.list_templates(admin) if t["NAME"] == "g"]
    tpl = (
        found[0]
        if found
        else templates.create(
            admin, 'NAME = "g"\nCPU = 0.1\nMEMORY = 32\nCONTEXT = [ TOKEN = "YES" ]\n'
        )
    )
    (vm,) = templates.instantiate(admin, tpl["ID"])
    return vm, tokens.token(instance.gate_secret(), vm)


def test_oversized_bodies_are_refused_whole_chunked_or_not(server):
    """70 KB sent chunked to OneGate is a 413 and writes nothing (it used to write the
    first 64 KiB); 20 MB chunked is a 413 that does not echo the body; a declared
    Content-Length over the limit is refused without reading the body; the core and
    OneFlow APIs refuse their limit the same way."""
    base, auth = urls(server), admin_auth(server)
    vm, token = token_vm(server)
    put = f"{base['onegate']}/vm/{vm['ID']}"
    head = {"X-ONEGATE-TOKEN": token}
    before = store_snapshot(server.database())
    line = 'APP = "' + "x" * 1000 + '"\n'
    for size, chunked in ((70_000, True), (20_000_000, True), (70_000, False)):
        body = line * (size // len(line))
        reply = request(put, "PUT", body, headers=head, chunked=chunked)
        assert reply.status == 413, (size, chunked, reply)
        assert f"larger than {gate_config.MAX_BODY} bytes" in reply.message
        assert len(reply.raw) < 200 and b"xxxx" not in reply.raw
    big = '{"args": ["' + "x" * (2 * 1024 * 1024) + '"]}'
    for url in (base["core"] + "/api/users.create", base["oneflow"] + "/service_template"):
        reply = request(url, "POST", big, auth, chunked=True)
        assert reply.status == 413, (url, reply)
    assert store_snapshot(server.database()) == before
    # a body under the limit, chunked, is read whole
    reply = request(put, "PUT", 'APP = "1"\n' + "# pad\n" * 5000, headers=head, chunked=True)
    assert reply.status == 200, reply
    assert vms.show(server.session(), vm["ID"])["USER_TEMPLATE"]["APP"] == "1"


def test_a_slow_client_over_the_limit_reads_its_413_not_a_reset(server):
    """A client on a slow link is still sending when the 413 is written: pieces come
    0.4 s apart, so the server often finds nothing pending when it closes, and the whole
    body takes longer than one silence period (2 s). The server keeps reading while the
    client sends, and the client reads the answer; it used to be cut off with a reset
    (a broken pipe in the client) when a piece was late."""
    vm, token = token_vm(server)
    put = f"{urls(server)['onegate']}/vm/{vm['ID']}"
    body = "# pad\n" * (9 * 64 * 1024 // 6)  # nine pieces, 3.2 s of pauses
    reply = request(put, "PUT", body, headers={"X-ONEGATE-TOKEN": token}, chunked=True, pause=0.4)
    assert reply.status == 413, reply
    assert f"larger than {gate_config.MAX_BODY} bytes" in reply.message


def test_onegate_refuses_conflicting_ids_and_what_only_onekit_writes(server):
    base = urls(server)["onegate"]
    vm, token = token_vm(server)
    other, _ = token_vm(server)
    head = {"X-ONEGATE-TOKEN": token}
    before = store_snapshot(server.database())
    reply = request(
        f"{base}/vm/{vm['ID']}",
        "PUT",
        'A = "1"',
        headers={**head, "X-ONEGATE-VMID": str(other["ID"])},
    )
    assert reply.status == 400, reply
    assert f"the path names VM {vm['ID']} and X-ONEGATE-VMID VM {other['ID']}" in reply.message
    cases = [
        ('SCHED_REQUIREMENTS = "((("', 400, "SCHED_REQUIREMENTS"),
        ('ERROR = [ MESSAGE = "fake" ]', 403, "ERROR"),
        (f'SERVICE_ID = "{other["ID"]}"', 403, "SERVICE_ID"),
        ('ROLE_NAME = "db"', 403, "ROLE_NAME"),
        ('RAW = [ TYPE = "kvm", DATA = "<x/>" ]', 403, "RAW"),
    ]
    for body, status, needle in cases:
        reply = request(f"{base}/vm/{vm['ID']}", "PUT", body, headers=head)
        assert reply.status == status, (body, reply)
        assert needle in reply.message
    assert store_snapshot(server.database()) == before
    # the same id in both is fine
    same = {**head, "X-ONEGATE-VMID": str(vm["ID"])}
    assert request(f"{base}/vm/{vm['ID']}", "PUT", 'A = "1"', headers=same).status == 200


def test_credentials_with_control_characters_are_refused(server):
    """HMAC pads a key with zero bytes: the right password and a NUL used to pass."""
    base = urls(server)
    user, password = admin_auth(server)
    for api, path in (("core", "/api/users.list_users"), ("oneflow", "/service")):
        method = "POST" if api == "core" else "GET"
        body = "{}" if api == "core" else None
        assert request(base[api] + path, method, body, (user, password)).status == 200
        for bad in (password + "\x00", password + "\x00junk", password + "\n"):
            reply = request(base[api] + path, method, body, (user, bad))
            assert reply.status == 401, (repr(bad), reply)
            assert "control characters" in reply.message


def test_core_api_arguments_are_checked_against_the_operation(server):
    """The calls the review found giving 500 (TypeError, ValueError) are 400s that name
    the argument, and nothing changes."""
    base, auth = urls(server)["core"], admin_auth(server)
    before = store_snapshot(server.database())
    cases = [
        ("lifecycle.act", {"args": [[0], "hold"], "kwargs": {"quick_wait": {}}}, "quick_wait"),
        ("lifecycle.act", {"args": [[0], "hold"], "kwargs": {"quick_wait": "x"}}, "quick_wait"),
        ("lifecycle.act", {"args": ["0", "hold"]}, "refs"),
        ("monitor.poll_now", {"args": ["NaN", "NaN"]}, "_config"),
        ("zones.update", {"args": ["x", 0]}, "text"),
        ("zones.create", {"args": [5]}, "text"),
        ("networks.create", {"args": [1e308]}, "tpl"),
        ("lifecycle.deploy", {"args": [5]}, "targets"),
        ("lifecycle.deploy", {"args": [[[1]]]}, "targets"),
        ("users.create", {"args": [["bob"], "pw"]}, "name"),
        ("users.show", {"args": [True]}, "ref"),
        ("vms.show", {"args": [2**70]}, "ref"),
        ("templates.instantiate", {"args": [0], "kwargs": {"count": "3"}}, "count"),
        ("objects.chmod", {"args": [{"$pool": "vm_pool"}, 0, 640.5]}, "mode"),
    ]
    for operation, body, argument in cases:
        reply = request(f"{base}/api/{operation}", "POST", json.dumps(body), auth)
        assert reply.status == 400, (operation, body, reply)
        assert f"{operation}: argument {argument} must be" in reply.message, reply
    assert store_snapshot(server.database()) == before


def test_a_user_may_not_put_raw_in_a_vms_user_template(server):
    """``onevm update`` refused RAW nowhere but here (OpenNebula refuses it too)."""
    admin = server.session()
    users.create(admin, "eve", "evepass")
    eve = server.session("eve", "evepass")
    tpl = templates.create(eve, 'NAME = "mine"\nCPU = 0.1\nMEMORY = 32\n')
    (vm,) = templates.instantiate(eve, tpl["ID"])
    before = store_snapshot(server.database())
    body = {"args": [vm["ID"], 'RAW = [ TYPE = "kvm", DATA = "<devices/>" ]']}
    reply = request(
        f"{urls(server)['core']}/api/vms.update_user_template",
        "POST",
        json.dumps(body),
        ("eve", "evepass"),
    )
    assert reply.status == 403, reply
    assert "restricted attributes (RAW)" in reply.message
    assert store_snapshot(server.database()) == before


def test_service_templates_are_checked_for_rights_and_keys_when_written(server):
    """What used to be stored and fail only at deploy (a VM template the user may not
    use, RAW in vm_template_contents), unknown keys, and a merge_template that sets UID
    are refused with their path when the template is written or instantiated."""
    base = urls(server)["oneflow"]
    admin = server.session()
    users.create(admin, "eve", "evepass")
    eve = ("eve", "evepass")
    theirs = templates.create(admin, 'NAME = "admins"\nCPU = 0.1\nMEMORY = 32\n')  # mode 600
    mine = templates.create(server.session(*eve), 'NAME = "mine"\nCPU = 0.1\nMEMORY = 32\n')

    def post(path: str, doc: Any) -> Reply:
        return request(base + path, "POST", json.dumps(doc), eve)

    before = store_snapshot(server.database())
    role = {"name": "web", "vm_template": mine["ID"]}
    cases = [
        ({"name": "s", "roles": [{**role, "vm_template": theirs["ID"]}]}, 403, "USE TEMPLATE"),
        (
            {"name": "s", "roles": [{**role, "vm_template_contents": 'RAW = [ TYPE = "kvm" ]'}]},
            403,
            "roles[0].vm_template_contents sets restricted attributes (RAW)",
        ),
        (
            {"name": "s", "roles": [{**role, "vm_template_contents": 'A = "'}]},
            400,
            "roles[0].vm_template_contents: syntax error",
        ),
        ({"name": "s", "UID": 0, "roles": [role]}, 400, "template.UID: unknown key"),
        ({"name": "s", "roles": [{**role, "nodes": []}]}, 400, "roles[0].nodes: unknown key"),
        (
            {"name": "s", "roles": [{**role, "min_vms": 0, "max_vms": 2, "elasticity_policies": [
                {"type": "CHANGE", "adjust": 1, "expression": "A > 1", "peroid": 5}
            ]}]},
            400,
            "roles[0].elasticity_policies[0].peroid: unknown key",
        ),
    ]  # fmt: skip
    for doc, status, needle in cases:
        reply = post("/service_template", doc)
        assert reply.status == status, (doc, reply)
        assert needle in reply.message, reply
    assert store_snapshot(server.database()) == before

    reply = post("/service_template", {"name": "s", "roles": [role]})
    assert reply.status == 201, reply
    tid = reply.json["DOCUMENT"]["ID"]
    before = store_snapshot(server.database())
    for merge, status, needle in (
        ({"UID": 0}, 400, "merge_template.UID: unknown key"),
        ({"roles": [{**role, "vm_template": theirs["ID"]}]}, 403, "USE TEMPLATE"),
    ):
        action = {"action": {"perform": "instantiate", "params": {"merge_template": merge}}}
        reply = post(f"/service_template/{tid}/action", action)
        assert reply.status == status, (merge, reply)
        assert needle in reply.message, reply
    assert store_snapshot(server.database()) == before


def test_a_client_that_keeps_failing_is_refused_and_valid_users_are_not(server):
    """After ten wrong passwords an address gets 429 with Retry-After at once (no
    password hash is computed for it); a user whose login is cached keeps working from
    that address, and another address logs in normally."""
    base = urls(server)["oneflow"]
    user, password = admin_auth(server)
    assert request(base + "/service", auth=(user, password)).status == 200  # now cached
    statuses = [request(base + "/service", auth=(user, f"wrong{i}")).status for i in range(12)]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429], statuses
    refused = request(base + "/service", auth=("nobody", "x"))
    assert refused.status == 429
    assert "too many failed logins from 127.0.0.1" in refused.message
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert request(base + "/service", auth=(user, password)).status == 200
    users.create(server.session(), "carol", "carolpw")
    fresh = request(base + "/service", auth=("carol", "carolpw"), source="127.0.0.2")
    assert fresh.status == 200, fresh
    # curl, as a user would see it
    out = subprocess.run(
        ["curl", "-s", "-i", "-u", "nobody:x", base + "/service"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert out.startswith("HTTP/1.1 429") and "Retry-After:" in out


@pytest.mark.parametrize("api", ["core", "oneflow", "onegate"])
def test_health_answers_without_telling_about_the_store(server, api):
    reply = request(urls(server)[api] + "/health")
    assert reply.status == 200
    assert reply.json == {"status": "ok", "loops": "leader"}
    assert str(server.home).encode() not in reply.raw


def test_405_says_what_is_allowed_and_401_how_to_authenticate(server):
    base = urls(server)
    refused = request(base["oneflow"] + "/service_template", "PATCH", "{}", admin_auth(server))
    assert refused.status == 405
    assert set(refused.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    assert "error" in refused.json
    anonymous = request(base["onegate"] + "/vm/0", "PUT", 'A = "1"')
    assert anonymous.status == 401
    assert anonymous.headers["WWW-Authenticate"] == 'X-ONEGATE-TOKEN realm="onegate"'

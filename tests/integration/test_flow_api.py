"""The OneFlow REST API end to end: the real onekit-server (core, OneFlow API, LCM loop
running playbooks/flow/step.yml through ansible-runner) on two simulated libvirt hosts,
driven by real HTTP clients (the curl binary, and urllib), as the guide's section 1.3
uses ``oneflow`` and ``oneflow-template``.

Every assertion is on what a user sees: HTTP statuses and JSON answers, service and role
states, and the VMs the service made (read from the store as ``onevm show`` would)."""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from support.plays import sqlite_only
from support.ports import free_port
from support.waiting import DEADLINE
from support.waiting import wait_until as wait_for

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import Lcm, VmState
from ansible_collections.onekit.cloud.plugins.module_utils.flow import services
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import FlowState as S
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls, users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, templates, vms

ADMIN = object()  # curl's default credentials: the flow fixture's oneadmin
VM_TEMPLATE = 'NAME = "{name}"\nCPU = 0.1\nMEMORY = 32\n'


# ---- clients ------------------------------------------------------------------------------
class Answer:
    def __init__(self, status: int, text: str):
        self.status = status
        self.text = text

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text.strip() else None

    @property
    def message(self) -> str:
        doc = self.json
        assert isinstance(doc, dict) and "error" in doc, f"not an error answer: {self.text!r}"
        return doc["error"]["message"]

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.text[:500]!r})"


def curl(
    flow,
    method: str,
    path: str,
    body: Any = None,
    *,
    auth: Any = ADMIN,
    data: bytes | str | None = None,
) -> Answer:
    """One request with the curl binary; ``body`` is sent as JSON, ``data`` as is."""
    marker = "\n--HTTP-STATUS--"
    cmd = ["curl", "-sS", "-X", method, "-o", "-", "-w", marker + "%{http_code}"]
    cmd += ["-H", "Content-Type: application/json", "--max-time", "60"]
    if auth is ADMIN:
        auth = flow.auth
    if auth is not None:
        cmd += ["-u", auth]
    payload: bytes | None = None
    if data is not None:
        payload = data.encode() if isinstance(data, str) else data
    elif body is not None:
        payload = json.dumps(body).encode()
    if payload is not None:
        cmd += ["--data-binary", "@-"]
    cmd.append(flow.url.rstrip("/") + path)
    result = subprocess.run(cmd, input=payload, capture_output=True, timeout=90)
    out = result.stdout.decode()
    assert marker in out, f"curl failed ({result.returncode}): {result.stderr.decode()}"
    text, status = out.rsplit(marker, 1)
    return Answer(int(status), text)


def fetch(flow, method: str, path: str, body: Any = None, auth: str | None = None) -> Answer:
    """The same with python's urllib."""
    user, password = (auth or flow.auth).split(":", 1)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        flow.url.rstrip("/") + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return Answer(answer.status, answer.read().decode())
    except urllib.error.HTTPError as err:
        return Answer(err.code, err.read().decode())


def ok(answer: Answer, status: int) -> Any:
    assert answer.status == status, answer
    return answer.json


def perform(action: str, **params: Any) -> dict:
    return {"action": {"perform": action, **({"params": params} if params else {})}}


# ---- reading services and VMs ----------------------------------------------------------------
def service(flow, sid: int, auth: Any = ADMIN) -> dict:
    return ok(curl(flow, "GET", f"/service/{sid}", auth=auth), 200)["DOCUMENT"]


def body_of(doc: dict) -> dict:
    return doc["TEMPLATE"]["BODY"]


def role_of_body(body: dict, name: str) -> dict:
    return next(r for r in body["roles"] if r["name"] == name)


def role_of(doc: dict, name: str) -> dict:
    return role_of_body(body_of(doc), name)


def live_nodes(role: dict) -> list[dict]:
    return [n for n in role["nodes"] if not n.get("disposed")]


def pool_ids(flow, kind: str, auth: Any = ADMIN) -> list[int]:
    pool = ok(curl(flow, "GET", f"/{kind}", auth=auth), 200)["DOCUMENT_POOL"]
    return sorted(int(d["ID"]) for d in pool.get("DOCUMENT", []))


def pools(flow) -> tuple:
    """Both pools as a user sees them (live VM details left out: monitoring moves them)."""
    result = []
    for kind in ("service_template", "service"):
        docs = ok(curl(flow, "GET", f"/{kind}"), 200)["DOCUMENT_POOL"].get("DOCUMENT", [])
        for doc in docs:
            for role in body_of(doc).get("roles", []):
                for node in role.get("nodes", []):
                    node.pop("vm_info", None)
        result.append(sorted(docs, key=lambda d: int(d["ID"])))
    return tuple(result)


def service_vms(flow, sid: int, include_done: bool = True) -> list[dict]:
    found = vms.list_vms(flow.admin, include_done=include_done)
    return sorted(
        (vm for vm in found if str(vm["USER_TEMPLATE"].get("SERVICE_ID")) == str(sid)),
        key=lambda vm: vm["ID"],
    )


def vm(flow, vm_id: int) -> dict:
    return vms.show(flow.admin, vm_id)


def wait_state(flow, sid: int, state: S, timeout: float = DEADLINE, auth: Any = ADMIN) -> dict:
    seen: list[int] = []

    def reached():
        doc = service(flow, sid, auth=auth)
        current = body_of(doc)["state"]
        if not seen or seen[-1] != current:
            seen.append(current)
        if state != S.FAILED_DEPLOYING and current in (S.FAILED_DEPLOYING, S.FAILED_SCALING):
            raise AssertionError(f"service {sid} failed: {body_of(doc)['log'][-3:]}")
        return doc if current == state else None

    try:
        return wait_for(reached, f"service {sid} {state.name}", timeout)
    except AssertionError as err:
        raise AssertionError(f"{err}; states seen {[S(s).name for s in seen]}") from None


def running_vm(info: dict) -> bool:
    machine = info.get("VM", {})
    return machine.get("STATE") == VmState.ACTIVE and machine.get("LCM_STATE") == Lcm.RUNNING


# ---- documents ---------------------------------------------------------------------------------
def vm_templates(flow, count: int, prefix: str = "t") -> list[int]:
    return [
        templates.create(flow.admin, VM_TEMPLATE.format(name=f"{prefix}{i}"))["ID"]
        for i in range(count)
    ]


def my_service(ids: list[int]) -> dict:
    """The guide's my_service (section 1.3.1)."""
    return {
        "name": "my_service",
        "deployment": "straight",
        "roles": [
            {"name": "frontend", "vm_template": ids[0]},
            {"name": "db_master", "parents": ["frontend"], "vm_template": ids[1]},
            {"name": "db_slave", "parents": ["frontend"], "cardinality": 3, "vm_template": ids[2]},
            {
                "name": "worker",
                "parents": ["db_master", "db_slave"],
                "cardinality": 10,
                "vm_template": ids[3],
            },
        ],
    }


def create_template(flow, doc: dict, auth: Any = ADMIN) -> int:
    answer = ok(curl(flow, "POST", "/service_template", doc, auth=auth), 201)
    return int(answer["DOCUMENT"]["ID"])  # text on the wire, as OpenNebula's


def instantiate(flow, template_id: int, auth: Any = ADMIN) -> int:
    path = f"/service_template/{template_id}/action"
    answer = ok(curl(flow, "POST", path, perform("instantiate"), auth=auth), 201)
    return int(answer["DOCUMENT"]["ID"])


def small_service(flow, roles: list[dict], name: str = "small") -> tuple[int, int]:
    """A service template of ``roles`` and a service of it, RUNNING."""
    tid = create_template(flow, {"name": name, "roles": roles})
    sid = instantiate(flow, tid)
    wait_state(flow, sid, S.RUNNING)
    return tid, sid


# ---- 1. the guide's my_service, end to end -------------------------------------------------
def test_my_service_deploys_in_order_scales_and_shuts_down(flow):
    ids = vm_templates(flow, 4)
    created = ok(curl(flow, "POST", "/service_template", my_service(ids)), 201)["DOCUMENT"]
    assert created["ID"] == "0"  # the document's fields are text, as OpenNebula's
    assert created["NAME"] == "my_service"
    assert created["UNAME"] == "oneadmin"
    assert body_of(created)["deployment"] == "straight"
    assert [r["name"] for r in body_of(created)["roles"]] == [
        "frontend",
        "db_master",
        "db_slave",
        "worker",
    ]
    shown = ok(fetch(flow, "GET", "/service_template/0"), 200)["DOCUMENT"]
    assert body_of(shown) == body_of(created)

    answer = ok(curl(flow, "POST", "/service_template/0/action", perform("instantiate")), 201)
    doc = answer["DOCUMENT"]
    assert doc["ID"] == "1"
    assert body_of(doc)["state"] in (S.PENDING, S.DEPLOYING)
    listed = ok(curl(flow, "GET", "/service"), 200)["DOCUMENT_POOL"]["DOCUMENT"]
    assert [d["ID"] for d in listed] == ["1"]

    doc = wait_state(flow, 1, S.RUNNING, timeout=120)
    body = body_of(doc)
    assert {r["name"]: r["state"] for r in body["roles"]} == dict.fromkeys(
        ("frontend", "db_master", "db_slave", "worker"), int(S.RUNNING)
    )
    for role in body["roles"]:
        assert len(live_nodes(role)) == role["cardinality"]
        assert all(running_vm(n["vm_info"]) for n in role["nodes"]), role["name"]

    made = service_vms(flow, 1)
    assert len(made) == 15
    by_role: dict[str, list[dict]] = {}
    for machine in made:
        assert str(machine["UID"]) == doc["UID"] and str(machine["GID"]) == doc["GID"]
        assert machine["USER_TEMPLATE"]["SERVICE_ID"] == "1"
        by_role.setdefault(machine["USER_TEMPLATE"]["ROLE_NAME"], []).append(machine)
    assert {k: len(v) for k, v in by_role.items()} == {
        "frontend": 1,
        "db_master": 1,
        "db_slave": 3,
        "worker": 10,
    }
    names = {m["NAME"] for m in made}
    assert "frontend_0_(service_1)" in names
    assert {f"worker_{i}_(service_1)" for i in range(10)} <= names
    assert {f"db_slave_{i}_(service_1)" for i in range(3)} <= names
    assert len(names) == 15
    # the VMs are the nodes the service shows
    assert sorted(n["deploy_id"] for r in body["roles"] for n in r["nodes"]) == [
        m["ID"] for m in made
    ]

    # straight: frontend first, then both db roles, then the workers
    front, workers = by_role["frontend"], by_role["worker"]
    dbs = by_role["db_master"] + by_role["db_slave"]
    assert max(m["ID"] for m in front) < min(m["ID"] for m in dbs)
    assert max(m["ID"] for m in dbs) < min(m["ID"] for m in workers)
    assert max(m["STIME"] for m in front) <= min(m["STIME"] for m in dbs)
    assert max(m["STIME"] for m in dbs) <= min(m["STIME"] for m in workers)

    messages = {e["message"]: e for e in body["log"]}
    for wanted in ("New state: DEPLOYING", "New state: RUNNING"):
        assert wanted in messages, body["log"]
        assert messages[wanted]["timestamp"] >= body["start_time"] > 0
        assert messages[wanted]["severity"] == "I"
    # and in the service's own log file (the guide's /var/log/one/oneflow/<id>.log)
    log_file = flow.instance.var / "oneflow" / "1.log"
    wait_for(lambda: "[I] New state: RUNNING" in log_file.read_text(), "the log file")

    # scale up (oneflow scale 1 worker 12)
    assert curl(flow, "PUT", "/service/1/role/worker", {"cardinality": 12}).status == 204
    assert body_of(service(flow, 1))["state"] in (S.SCALING, S.COOLDOWN, S.RUNNING)

    def scaled(count: int):
        doc = service(flow, 1)
        worker = role_of(doc, "worker")
        nodes = live_nodes(worker)
        done = (
            body_of(doc)["state"] == S.RUNNING
            and worker["cardinality"] == count
            and len(nodes) == count
            and all(running_vm(n["vm_info"]) for n in nodes)
        )
        return doc if done else None

    doc = wait_for(lambda: scaled(12), "12 running workers")
    names = {m["NAME"] for m in service_vms(flow, 1, include_done=False)}
    assert {"worker_10_(service_1)", "worker_11_(service_1)"} <= names
    assert len(service_vms(flow, 1, include_done=False)) == 17
    assert any("scaling up from 10 to 12" in e["message"] for e in body_of(doc)["log"])

    # scale down: two workers disposed
    assert curl(flow, "PUT", "/service/1/role/worker", {"cardinality": 10}).status == 204
    doc = wait_for(lambda: scaled(10), "10 running workers")
    wait_for(lambda: len(service_vms(flow, 1, include_done=False)) == 15, "two workers DONE")
    gone = [m for m in service_vms(flow, 1) if m["STATE"] == VmState.DONE]
    assert len(gone) == 2
    assert all(m["USER_TEMPLATE"]["ROLE_NAME"] == "worker" for m in gone)
    assert sorted(role_of(doc, "worker")["disposed_nodes"]) == [m["ID"] for m in gone]

    # $VM_NUMBER never comes back: the next worker is number 12
    assert curl(flow, "PUT", "/service/1/role/worker", {"cardinality": 11}).status == 204
    wait_for(lambda: scaled(11), "11 running workers")
    names = {m["NAME"] for m in service_vms(flow, 1, include_done=False)}
    assert "worker_12_(service_1)" in names
    assert not names & {m["NAME"] for m in gone}
    gone = [m for m in service_vms(flow, 1) if m["STATE"] == VmState.DONE]

    # shutdown: children first, the service ends DONE
    answer = curl(flow, "POST", "/service/1/action", perform("shutdown"))
    assert answer.status == 201, answer
    assert body_of(answer.json["DOCUMENT"])["state"] == S.UNDEPLOYING
    doc = wait_state(flow, 1, S.DONE)
    assert all(r["state"] == S.DONE for r in body_of(doc)["roles"])
    made = service_vms(flow, 1)
    assert len(made) == 18
    assert all(m["STATE"] == VmState.DONE for m in made)
    kept = [m for m in made if m["ID"] not in {g["ID"] for g in gone}]
    etime = {
        role: [m["ETIME"] for m in kept if m["USER_TEMPLATE"]["ROLE_NAME"] == role]
        for role in ("frontend", "db_master", "db_slave", "worker")
    }
    assert all(t > 0 for ts in etime.values() for t in ts)
    assert max(etime["worker"]) <= min(etime["db_master"] + etime["db_slave"])
    assert max(etime["db_master"] + etime["db_slave"]) <= min(etime["frontend"])
    assert max(etime["worker"]) <= min(etime["frontend"])
    assert "New state: UNDEPLOYING" in {e["message"] for e in body_of(doc)["log"]}
    assert "New state: DONE" in {e["message"] for e in body_of(doc)["log"]}

    assert curl(flow, "DELETE", "/service/1").status == 204
    answer = curl(flow, "GET", "/service/1")
    assert answer.status == 404, answer
    assert pool_ids(flow, "service") == []
    assert pool_ids(flow, "service_template") == [0]


# ---- 2. errors: each refused with nothing created ------------------------------------------
@sqlite_only
def test_errors_are_refused_and_change_nothing(flow):
    (tid,) = vm_templates(flow, 1)
    roles = [{"name": "web", "vm_template": tid, "cardinality": 1, "min_vms": 1, "max_vms": 3}]
    template_id, sid = small_service(flow, roles, "web_service")
    # a template naming a VM template that does not exist is refused when written...
    answer = curl(
        flow,
        "POST",
        "/service_template",
        {"name": "d", "roles": [{"name": "r", "vm_template": 999}]},
    )
    assert answer.status == 404, answer
    assert "roles[0].vm_template: role 'r': VM template 999 does not exist" in answer.message
    # ...and when instantiated, if the VM template went away since
    (gone,) = vm_templates(flow, 1, prefix="gone")
    dangling = create_template(
        flow, {"name": "dangling", "roles": [{"name": "r", "vm_template": gone}]}
    )
    templates.delete(flow.admin, gone)
    before = pools(flow)
    vm_count = len(vms.list_vms(flow.admin, include_done=True))

    def refused(answer: Answer, status: int, *fragments: str) -> str:
        assert answer.status == status, answer
        message = answer.message
        for fragment in fragments:
            assert fragment in message, message
        assert pools(flow) == before
        assert len(vms.list_vms(flow.admin, include_done=True)) == vm_count
        return message

    good = {"name": "other", "roles": [{"name": "a", "vm_template": tid}]}
    # authentication
    for method, path, body in (
        ("GET", "/service_template", None),
        ("GET", "/service", None),
        ("POST", "/service_template", good),
        ("POST", f"/service_template/{template_id}/action", perform("instantiate")),
        ("DELETE", f"/service/{sid}", None),
    ):
        answer = curl(flow, method, path, body, auth=None)
        refused(answer, 401, "A username and password must be provided")
    user = flow.auth.split(":", 1)[0]
    refused(curl(flow, "POST", "/service_template", good, auth=f"{user}:wrong"), 401)
    refused(curl(flow, "GET", "/service", auth="nobody:secret"), 401)
    refused(fetch(flow, "POST", "/service_template", good, auth=f"{user}:wrong"), 401)

    # malformed JSON names the line and column
    text = '{\n  "name": "broken",\n  "roles": [}\n'
    message = refused(curl(flow, "POST", "/service_template", data=text), 400)
    assert "line 3, column" in message, message
    message = refused(curl(flow, "POST", f"/service_template/{template_id}/action", data="{"), 400)
    assert "line 1, column" in message, message

    # schema errors: all of them at once
    bad = {
        "name": "bad",
        "roles": [
            {"name": "a", "vm_template": tid},
            {"name": "a", "vm_template": tid},
            {"name": "b", "parents": ["nowhere"], "vm_template": tid},
            {"name": "c", "cardinality": 5, "max_vms": 2, "vm_template": tid},
        ],
    }
    refused(
        curl(flow, "POST", "/service_template", bad),
        400,
        "duplicate role 'a'",
        "unknown role 'nowhere'",
        "roles[3].cardinality",
    )
    cycle = {
        "name": "cycle",
        "roles": [
            {"name": "a", "parents": ["b"], "vm_template": tid},
            {"name": "b", "parents": ["a"], "vm_template": tid},
        ],
    }
    refused(curl(flow, "POST", "/service_template", cycle), 400, "dependency cycle")
    refused(curl(flow, "PUT", f"/service_template/{template_id}", cycle), 400, "cycle")
    refused(curl(flow, "POST", "/service_template", {"roles": []}), 400, "name", "roles")

    # unknown ids (a template's id is not a service's, nor the reverse)
    for method, path, body in (
        ("GET", "/service_template/99", None),
        ("PUT", "/service_template/99", good),
        ("DELETE", "/service_template/99", None),
        ("POST", "/service_template/99/action", perform("instantiate")),
        ("POST", f"/service_template/{sid}/action", perform("instantiate")),
        ("GET", "/service/99", None),
        ("GET", f"/service/{template_id}", None),
        ("DELETE", "/service/99", None),
        ("POST", "/service/99/action", perform("shutdown")),
        ("PUT", "/service/99/role/web", {"cardinality": 2}),
    ):
        refused(curl(flow, method, path, body), 404)

    refused(
        curl(flow, "POST", f"/service_template/{dangling}/action", perform("instantiate")),
        404,
        f"VM template {gone} does not exist",
    )

    # unknown role
    refused(
        curl(flow, "PUT", f"/service/{sid}/role/x", {"cardinality": 2}),
        404,
        "Role 'x' not found",
    )
    refused(
        curl(flow, "POST", f"/service/{sid}/role/x/action", perform("suspend")),
        404,
        "Role 'x' not found",
    )

    # cardinality outside min_vms / max_vms
    path = f"/service/{sid}/role/web"
    refused(curl(flow, "PUT", path, {"cardinality": 0}), 400, "Minimum cardinality is 1")
    refused(curl(flow, "PUT", path, {"cardinality": 4}), 400, "Maximum cardinality is 3")
    refused(curl(flow, "PUT", path, {"cardinality": -1}), 400)
    refused(curl(flow, "PUT", path, {"cardinality": "two"}), 400)

    # unsupported actions
    refused(
        curl(flow, "POST", f"/service/{sid}/action", perform("explode")),
        400,
        "Action explode not supported",
    )
    refused(
        curl(flow, "POST", f"/service_template/{template_id}/action", perform("explode")),
        400,
        "Action explode not supported",
    )
    refused(curl(flow, "POST", f"/service/{sid}/role/web/action", perform("explode")), 400)
    refused(curl(flow, "POST", f"/service/{sid}/action", {"perform": "shutdown"}), 400)

    # recover is for failed services
    refused(curl(flow, "POST", f"/service/{sid}/action", perform("recover")), 405, "RUNNING")

    # HTTP errors are JSON too
    answer = curl(flow, "GET", "/no/such/route")
    assert answer.status == 404 and answer.message, answer
    answer = curl(flow, "PATCH", f"/service/{sid}", {"x": 1})
    assert answer.status == 405 and answer.message, answer
    answer = curl(flow, "DELETE", "/service_template")
    assert answer.status == 405 and answer.message, answer
    huge = json.dumps({"name": "huge", "pad": "x" * (1024 * 1024 + 10), "roles": good["roles"]})
    refused(curl(flow, "POST", "/service_template", data=huge), 413)

    # force goes beyond max_vms
    answer = curl(flow, "PUT", path, {"cardinality": 4, "force": True})
    assert answer.status == 204, answer
    doc = wait_for(
        lambda: (
            (d := service(flow, sid))
            and body_of(d)["state"] == S.RUNNING
            and len(live_nodes(role_of(d, "web"))) == 4
            and d
        ),
        "4 web VMs",
    )
    assert role_of(doc, "web")["cardinality"] == 4
    assert len(service_vms(flow, sid, include_done=False)) == 4

    # shutdown of a DONE service
    assert curl(flow, "POST", f"/service/{sid}/action", perform("shutdown")).status == 201
    wait_state(flow, sid, S.DONE)
    before = pools(flow)
    vm_count = len(vms.list_vms(flow.admin, include_done=True))
    refused(curl(flow, "POST", f"/service/{sid}/action", perform("shutdown")), 405, "DONE")
    refused(curl(flow, "POST", f"/service/{sid}/action", perform("recover")), 405)
    refused(curl(flow, "PUT", path, {"cardinality": 2}), 405)


# ---- 2b. the scheduler's limits ---------------------------------------------------------
@sqlite_only
def test_a_roles_vms_obey_the_schedulers_limits(flow):
    """sched.conf: MAX_HOST 1 per 2 s. A role of 6 VMs on the two hosts is dispatched two
    at a time, one per host per window, by the step and then the server's scheduler: no
    host gets two of them within one SCHED_INTERVAL (OneFlow's VMs used to skip the
    limits and all went at once)."""
    flow.instance.sched_config_path.write_text("SCHED_INTERVAL = 2\nMAX_HOST = 1\n")
    flow.cli("onekit-server", "stop")
    restart(flow)
    (tid,) = vm_templates(flow, 1)
    roles = [{"name": "app", "vm_template": tid, "cardinality": 6}]
    _tid, sid = small_service(flow, roles, "limited")
    made = service_vms(flow, sid)
    assert len(made) == 6
    deployed: dict[str, list[int]] = {}
    for machine in made:
        first = machine["HISTORY_RECORDS"][0]
        deployed.setdefault(first["HOSTNAME"], []).append(first["STIME"])
    assert sorted(len(times) for times in deployed.values()) == [3, 3]  # striping
    for times in deployed.values():
        times.sort()
        assert all(b - a >= 1 for a, b in itertools.pairwise(times)), times


# ---- 3. permissions -----------------------------------------------------------------------
@sqlite_only
def test_other_users_see_and_use_only_what_they_are_allowed(flow):
    bob = users.create(flow.admin, "bob", "bobpass")
    as_bob = "bob:bobpass"
    ids = vm_templates(flow, 2)
    roles = [
        {"name": "front", "vm_template": ids[0]},
        {"name": "back", "parents": ["front"], "cardinality": 2, "vm_template": ids[1]},
    ]
    tid = create_template(flow, {"name": "shared", "deployment": "straight", "roles": roles})
    sid = instantiate(flow, tid)
    doc = wait_state(flow, sid, S.RUNNING)
    assert doc["PERMISSIONS"]["OTHER_U"] == "0"
    admin_vms = service_vms(flow, sid)
    assert len(admin_vms) == 3 and all(m["UID"] == 0 for m in admin_vms)

    # bob sees nothing of oneadmin's, and may do nothing to it
    assert pool_ids(flow, "service", auth=as_bob) == []
    assert pool_ids(flow, "service_template", auth=as_bob) == []
    before = pools(flow)
    for method, path, body in (
        ("GET", f"/service/{sid}", None),
        ("GET", f"/service_template/{tid}", None),
        ("POST", f"/service_template/{tid}/action", perform("instantiate")),
        ("PUT", f"/service_template/{tid}", {"name": "mine", "roles": roles}),
        ("DELETE", f"/service_template/{tid}", None),
        ("POST", f"/service_template/{tid}/action", perform("chmod", octet="666")),
        ("POST", f"/service/{sid}/action", perform("shutdown")),
        ("POST", f"/service/{sid}/action", perform("chown", owner_id=bob["ID"])),
        ("POST", f"/service/{sid}/action", perform("chmod", octet="666")),
        ("PUT", f"/service/{sid}/role/back", {"cardinality": 3}),
        ("POST", f"/service/{sid}/role/back/action", perform("suspend")),
        ("DELETE", f"/service/{sid}", None),
    ):
        answer = curl(flow, method, path, body, auth=as_bob)
        assert answer.status == 403, (method, path, answer)
        assert answer.message
    assert pools(flow) == before
    assert body_of(service(flow, sid))["state"] == S.RUNNING
    assert [m["STATE"] for m in service_vms(flow, sid)] == [VmState.ACTIVE] * 3

    # oneflow-template chmod 0 604: bob may use the template...
    answer = curl(flow, "POST", f"/service_template/{tid}/action", perform("chmod", octet="604"))
    assert answer.status == 204, answer
    shown = ok(curl(flow, "GET", f"/service_template/{tid}", auth=as_bob), 200)["DOCUMENT"]
    assert shown["PERMISSIONS"]["OTHER_U"] == "1"
    assert pool_ids(flow, "service_template", auth=as_bob) == [tid]
    # ... but not the VM templates it names: nothing is created
    before = pools(flow)
    vm_count = len(vms.list_vms(flow.admin, include_done=True))
    answer = curl(
        flow, "POST", f"/service_template/{tid}/action", perform("instantiate"), auth=as_bob
    )
    assert answer.status == 403, answer
    assert pools(flow) == before
    assert len(vms.list_vms(flow.admin, include_done=True)) == vm_count
    # he still cannot change it
    answer = curl(flow, "DELETE", f"/service_template/{tid}", auth=as_bob)
    assert answer.status == 403, answer

    for vm_template in ids:
        objects.chmod(flow.admin, schema.TEMPLATES, vm_template, "604")
    acls.create(flow.admin, "@1 HOST/* MANAGE")  # users may run VMs on the hosts
    mine = instantiate(flow, tid, auth=as_bob)
    doc = wait_state(flow, mine, S.RUNNING, auth=as_bob)
    assert (doc["UID"], doc["UNAME"]) == (str(bob["ID"]), "bob")
    assert pool_ids(flow, "service", auth=as_bob) == [mine]
    assert pool_ids(flow, "service") == [sid, mine]
    bobs_vms = service_vms(flow, mine)
    assert len(bobs_vms) == 3
    assert all(m["UID"] == bob["ID"] and m["UNAME"] == "bob" for m in bobs_vms)

    # oneflow chown: the service and its VMs change hands
    answer = curl(flow, "POST", f"/service/{sid}/action", perform("chown", owner_id=bob["ID"]))
    assert answer.status == 201, answer
    assert answer.json["DOCUMENT"]["UID"] == str(bob["ID"])
    moved = service_vms(flow, sid)
    assert [m["ID"] for m in moved] == [m["ID"] for m in admin_vms]
    assert all(m["UID"] == bob["ID"] and m["UNAME"] == "bob" for m in moved)
    assert pool_ids(flow, "service", auth=as_bob) == [sid, mine]
    assert body_of(service(flow, sid, auth=as_bob))["state"] == S.RUNNING
    # and bob may now manage it
    answer = curl(flow, "PUT", f"/service/{sid}/role/back", {"cardinality": 3}, auth=as_bob)
    assert answer.status == 204, answer
    doc = wait_for(
        lambda: (
            (d := service(flow, sid, auth=as_bob))
            and body_of(d)["state"] == S.RUNNING
            and len(live_nodes(role_of(d, "back"))) == 3
            and d
        ),
        "bob's scale-up",
    )
    made = service_vms(flow, sid)
    assert len(made) == 4
    assert all(m["UID"] == bob["ID"] for m in made)


@sqlite_only
def test_a_service_changing_hands_and_deleted_while_its_vms_are_made_leaves_none(flow):
    """The README's sequence: a scale-up, then at once oneflow chown and delete, while the
    step making the new VMs still runs (as the old owner). They used to be left RUNNING
    for good, tagged with the deleted service; now the service takes them and deletes
    them with the rest."""
    bob = users.create(flow.admin, "bob", "bobpass")
    (tid,) = vm_templates(flow, 1)
    roles = [{"name": "web", "vm_template": tid, "cardinality": 1}]
    _tid, sid = small_service(flow, roles, "raced")
    assert curl(flow, "PUT", f"/service/{sid}/role/web", {"cardinality": 3}).status == 204
    wait_for(lambda: step_processes(flow), "the step making the new VMs", pause=0.05)
    action = perform("chown", owner_id=bob["ID"])
    assert curl(flow, "POST", f"/service/{sid}/action", action).status == 201
    assert curl(flow, "DELETE", f"/service/{sid}").status == 204
    wait_for(lambda: sid not in [d["ID"] for d in services.list_services(flow.admin)], "gone")
    wait_for(
        lambda: [vm["ID"] for vm in service_vms(flow, sid, include_done=False)] == [],
        "no VM of the deleted service left",
    )


# ---- 4. role actions spread over time ---------------------------------------------------
@sqlite_only
def test_role_action_with_period_and_number_runs_in_groups(flow):
    (tid,) = vm_templates(flow, 1)
    _, sid = small_service(flow, [{"name": "app", "vm_template": tid, "cardinality": 2}])
    first, second = (n["deploy_id"] for n in role_of(service(flow, sid), "app")["nodes"])
    assert first < second

    path = f"/service/{sid}/role/app/action"
    answer = curl(flow, "POST", path, perform("suspend", period=3, number=1))
    assert answer.status == 201, answer
    assert answer.json["DOCUMENT"]["ID"] == str(sid)
    log = body_of(answer.json["DOCUMENT"])["log"]
    assert any("suspend" in e["message"] and "app" in e["message"] for e in log), log

    # watch both VMs: the first is suspended while the second still runs, then both are
    timeline: list[tuple[int, int]] = []

    def both_suspended() -> bool:
        states = (vm(flow, first)["STATE"], vm(flow, second)["STATE"])
        if not timeline or timeline[-1] != states:
            timeline.append(states)
        return states == (VmState.SUSPENDED, VmState.SUSPENDED)

    wait_for(both_suspended, "both VMs SUSPENDED")
    assert (VmState.SUSPENDED, VmState.ACTIVE) in timeline, timeline
    assert (VmState.ACTIVE, VmState.SUSPENDED) not in timeline, timeline
    # suspended VMs are healthy for OneFlow: the service stays RUNNING
    doc = service(flow, sid)
    assert body_of(doc)["state"] == S.RUNNING
    assert role_of(doc, "app")["cardinality"] == 2

    # period alone: number comes from action_number (1)
    answer = curl(flow, "POST", path, perform("resume", period=2))
    assert answer.status == 201, answer
    timeline.clear()

    def both_running() -> bool:
        states = tuple(
            VmState.ACTIVE if vm(flow, i)["LCM_STATE"] == Lcm.RUNNING else VmState.SUSPENDED
            for i in (first, second)
        )
        if not timeline or timeline[-1] != states:
            timeline.append(states)
        return states == (VmState.ACTIVE, VmState.ACTIVE)

    wait_for(both_running, "both VMs resumed")
    assert (VmState.ACTIVE, VmState.SUSPENDED) in timeline, timeline
    assert body_of(service(flow, sid))["state"] == S.RUNNING

    # neither: every VM at once
    answer = curl(flow, "POST", path, perform("poweroff"))
    assert answer.status == 201, answer
    wait_for(
        lambda: all(vm(flow, i)["STATE"] == VmState.POWEROFF for i in (first, second)),
        "both VMs POWEROFF",
        timeout=60,
    )
    assert body_of(service(flow, sid))["state"] == S.RUNNING

    # bad period / number
    for params in ({"period": -1}, {"number": 0}, {"number": "two"}):
        answer = curl(flow, "POST", path, perform("suspend", **params))
        assert answer.status == 400, (params, answer)

    # a VM of the role deleted by hand: the guide's manual scale-down
    lifecycle.act(flow.admin, [first], "delete")
    doc = wait_for(
        lambda: (d := service(flow, sid)) and role_of(d, "app")["cardinality"] == 1 and d,
        "the role to follow the deleted VM",
    )
    role = role_of(doc, "app")
    assert [n["deploy_id"] for n in role["nodes"]] == [second]
    assert role["disposed_nodes"] == [first]
    assert body_of(doc)["state"] == S.RUNNING
    time.sleep(2)  # and no VM comes back to replace it
    assert [m["ID"] for m in service_vms(flow, sid, include_done=False)] == [second]


# ---- cooldown --------------------------------------------------------------------------------
@sqlite_only
def test_a_scaled_role_cools_down_and_recover_ends_the_cooldown(flow):
    (tid,) = vm_templates(flow, 1)
    roles = [{"name": "app", "vm_template": tid, "cooldown": 600}]
    _, sid = small_service(flow, roles, "cool")
    path = f"/service/{sid}/role/app"
    assert curl(flow, "PUT", path, {"cardinality": 2}).status == 204
    # while scaling, no second scale
    answer = curl(flow, "PUT", path, {"cardinality": 3})
    assert answer.status == 405, answer
    doc = wait_state(flow, sid, S.COOLDOWN)
    assert role_of(doc, "app")["state"] == S.COOLDOWN
    assert len(live_nodes(role_of(doc, "app"))) == 2
    answer = curl(flow, "PUT", path, {"cardinality": 3})
    assert answer.status == 405, answer
    assert "COOLDOWN" in answer.message
    # the role's cooldown (600 s) is kept, not default_cooldown (2 s)
    time.sleep(3)
    assert body_of(service(flow, sid))["state"] == S.COOLDOWN
    answer = curl(flow, "POST", f"/service/{sid}/action", perform("recover"))
    assert answer.status == 201, answer
    assert body_of(answer.json["DOCUMENT"])["state"] == S.RUNNING
    doc = service(flow, sid)
    assert body_of(doc)["state"] == S.RUNNING
    assert role_of(doc, "app")["state"] == S.RUNNING
    assert curl(flow, "PUT", path, {"cardinality": 1}).status == 204
    doc = wait_state(flow, sid, S.COOLDOWN)
    assert len(live_nodes(role_of(doc, "app"))) == 1
    assert len(service_vms(flow, sid, include_done=False)) == 1


# ---- 5. a failed deployment, fixed and recovered ------------------------------------------------
@sqlite_only
def test_failed_deploying_is_recovered_once_the_cause_is_fixed(flow):
    good, bad = vm_templates(flow, 2)
    templates.update(
        flow.admin, bad, VM_TEMPLATE.format(name="t1") + 'DISK = [ IMAGE = "missing" ]\n'
    )
    roles = [
        {"name": "base", "vm_template": good},
        {"name": "app", "parents": ["base"], "cardinality": 2, "vm_template": bad},
    ]
    tid = create_template(flow, {"name": "broken", "deployment": "straight", "roles": roles})
    sid = instantiate(flow, tid)
    doc = wait_state(flow, sid, S.FAILED_DEPLOYING)
    body = body_of(doc)
    assert role_of(doc, "base")["state"] == S.RUNNING
    assert role_of(doc, "app")["state"] == S.FAILED_DEPLOYING
    errors = [e for e in body["log"] if e["severity"] == "E"]
    assert errors, body["log"]
    assert any("app" in e["message"] and "missing" in e["message"] for e in errors), errors
    assert "New state: FAILED_DEPLOYING" in {e["message"] for e in body["log"]}
    live = service_vms(flow, sid, include_done=False)
    assert [m["USER_TEMPLATE"]["ROLE_NAME"] for m in live] == ["base"]

    # it stays failed: the loop does not retry by itself
    time.sleep(3)
    assert body_of(service(flow, sid))["state"] == S.FAILED_DEPLOYING

    # scale is refused while failed; recover is what it takes
    answer = curl(flow, "PUT", f"/service/{sid}/role/app", {"cardinality": 1})
    assert answer.status == 405, answer

    templates.update(flow.admin, bad, VM_TEMPLATE.format(name="t1"))
    answer = curl(flow, "POST", f"/service/{sid}/action", perform("recover"))
    assert answer.status == 201, answer
    assert body_of(answer.json["DOCUMENT"])["state"] == S.DEPLOYING
    doc = wait_state(flow, sid, S.RUNNING)
    assert all(r["state"] == S.RUNNING for r in body_of(doc)["roles"])
    live = service_vms(flow, sid, include_done=False)
    assert sorted(m["NAME"] for m in live) == [
        f"app_0_(service_{sid})",
        f"app_1_(service_{sid})",
        f"base_0_(service_{sid})",
    ]
    assert all(m["STATE"] == VmState.ACTIVE for m in live)
    assert len(service_vms(flow, sid)) == 3  # the failed attempt made no VM
    messages = [e["message"] for e in body_of(doc)["log"]]
    assert "Recover from FAILED_DEPLOYING" in messages
    assert messages.index("Recover from FAILED_DEPLOYING") < len(messages) - 1
    assert messages[-1] == "New state: RUNNING"


TOO_BIG = 'NAME = "{name}"\nCPU = 0.1\nMEMORY = 100000000\n'  # MiB: no host has that


def failed_by_memory(flow) -> tuple[int, int, dict]:
    """A service whose only VM cannot be placed: FAILED_DEPLOYING."""
    (tid,) = vm_templates(flow, 1)
    templates.update(flow.admin, tid, TOO_BIG.format(name="t0"))
    template_id = create_template(
        flow, {"name": "big", "roles": [{"name": "app", "vm_template": tid}]}
    )
    sid = instantiate(flow, template_id)
    wait_state(flow, sid, S.FAILED_DEPLOYING)

    # the step after the failure takes the VM made into the role
    def joined():
        doc = service(flow, sid)
        return doc if role_of(doc, "app")["nodes"] else None

    doc = wait_for(joined, "the unplaceable VM to join its role")
    assert role_of(doc, "app")["state"] == S.FAILED_DEPLOYING
    errors = [e["message"] for e in body_of(doc)["log"] if e["severity"] == "E"]
    assert any("Role app" in m and "MEMORY" in m and "no host" in m for m in errors), errors
    return tid, sid, doc


@sqlite_only
def test_an_unplaceable_vm_is_reported_once(flow):
    _, _, doc = failed_by_memory(flow)
    (vm_id,) = (n["deploy_id"] for n in role_of(doc, "app")["nodes"])
    errors = [e["message"] for e in body_of(doc)["log"] if e["severity"] == "E"]
    assert len(errors) == 1, errors
    assert errors[0].count(f"VM {vm_id} stays PENDING") == 1, errors[0]


@sqlite_only
def test_recover_after_an_unplaceable_vm_once_the_template_is_fixed(flow):
    tid, sid, _ = failed_by_memory(flow)
    templates.update(flow.admin, tid, VM_TEMPLATE.format(name="t0"))
    answer = curl(flow, "POST", f"/service/{sid}/action", perform("recover"))
    assert answer.status == 201, answer
    wait_state(flow, sid, S.RUNNING, timeout=45)
    live = service_vms(flow, sid, include_done=False)
    assert len(live) == 1 and live[0]["LCM_STATE"] == Lcm.RUNNING


# ---- 6. the server killed mid-deploy ------------------------------------------------------
def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def _cmdline(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def step_processes(flow) -> dict[int, str]:
    """Live processes running a playbook for this instance (the LCM's ansible-runner)."""
    home = str(flow.instance.home)
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            cmdline = _cmdline(int(entry))
            if cmdline and home in cmdline and _alive(int(entry)):
                found[int(entry)] = cmdline
    return found


def kill_server(flow) -> None:
    """SIGKILL, as a crash: no clean-up of any kind."""
    pid = int(flow.instance.pid_path().read_text().strip())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not _alive(pid), "the server to die")
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "5", "-u", flow.auth, flow.url + "/service"],
        capture_output=True,
    )
    assert result.returncode != 0, "the OneFlow API still answers"


def end_processes(processes: dict[int, str]) -> None:
    """Stop what a killed server left behind (those very processes, by pid)."""
    for pid, cmdline in processes.items():
        if _alive(pid) and _cmdline(pid) == cmdline:
            os.kill(pid, signal.SIGKILL)


def restart(flow):
    """``onekit-server start`` again. Should another program have taken a port of the dead
    server meanwhile (a test session running beside this one), the instance moves to
    free ports."""
    result = flow.cli("onekit-server", "start")
    if result.returncode == 0:
        return flow
    assert "in use" in (result.stderr + result.stdout).lower(), result.stderr
    config = flow.instance.config_path.read_text()
    old = flow.instance.config().port
    flow.instance.config_path.write_text(
        config.replace(f'PORT = "{old}"', f'PORT = "{free_port()}"')
    )
    conf = flow.instance.flow_config_path.read_text()
    old_flow = flow.instance.flow_config().port
    flow.instance.flow_config_path.write_text(
        conf.replace(f":port: {old_flow}", f":port: {free_port()}")
    )
    flow.cli("onekit-server", "start", check=True)
    return dataclasses.replace(flow, url=flow.instance.flow_config().url)


@sqlite_only
@pytest.mark.parametrize("kill_when", ["db_deploying", "worker_deploying", "worker_vms_made"])
def test_a_server_killed_mid_deploy_finishes_the_service_after_a_restart(flow, kill_when):
    ids = vm_templates(flow, 4)
    tid = create_template(flow, my_service(ids))
    sid = instantiate(flow, tid)

    def role_deploying(name: str) -> bool:
        body = body_of(service(flow, sid))
        return body["state"] == S.DEPLOYING and role_of_body(body, name)["state"] in (
            S.DEPLOYING,
            S.RUNNING,
        )

    ready = {
        # the decision to create the db VMs is written, their creation may not have run
        "db_deploying": lambda: role_deploying("db_master"),
        "worker_deploying": lambda: role_deploying("worker"),
        # the workers are being made and placed by the step's playbook: the decision is
        # written and the playbook runs (the moment its VMs exist and are not yet running
        # is too short to catch reliably; this window holds it)
        "worker_vms_made": lambda: role_deploying("worker") and bool(step_processes(flow)),
    }[kill_when]
    wait_for(ready, kill_when, timeout=120, pause=0.05)
    kill_server(flow)
    left = step_processes(flow)
    try:
        assert 1 <= len(service_vms(flow, sid)) <= 15
        assert body_of(services_doc(flow, sid))["state"] == S.DEPLOYING
        flow = restart(flow)
        doc = wait_state(flow, sid, S.RUNNING, timeout=150)
    finally:
        end_processes(left)
    live = service_vms(flow, sid, include_done=False)
    names = [m["NAME"] for m in live]
    assert len(live) == 15, names
    assert len(set(names)) == 15, names
    assert len(service_vms(flow, sid)) == 15  # none made twice and deleted
    assert all(m["STATE"] == VmState.ACTIVE and m["LCM_STATE"] == Lcm.RUNNING for m in live)
    nodes = sorted(n["deploy_id"] for r in body_of(doc)["roles"] for n in live_nodes(r))
    assert nodes == [m["ID"] for m in live]
    for role in body_of(doc)["roles"]:
        assert role["cardinality"] == len(live_nodes(role))
        role_names = {m["NAME"] for m in live if m["USER_TEMPLATE"]["ROLE_NAME"] == role["name"]}
        wanted = {f"{role['name']}_{i}_(service_{sid})" for i in range(role["cardinality"])}
        assert role_names == wanted
    # the straight order held across the crash
    by_role = {r["name"]: [n["deploy_id"] for n in r["nodes"]] for r in body_of(doc)["roles"]}
    assert max(by_role["frontend"]) < min(by_role["db_master"] + by_role["db_slave"])
    assert max(by_role["db_master"] + by_role["db_slave"]) < min(by_role["worker"])


def services_doc(flow, sid: int) -> dict:
    """The service read from the store (the API is down)."""
    return services.show(flow.admin, sid)


@sqlite_only
def test_a_killed_server_leaves_no_playbook_running(flow):
    (tid,) = vm_templates(flow, 1)
    template_id = create_template(
        flow, {"name": "many", "roles": [{"name": "app", "vm_template": tid, "cardinality": 10}]}
    )
    sid = instantiate(flow, template_id)
    wait_for(
        lambda: step_processes(flow) and body_of(service(flow, sid))["state"] == S.DEPLOYING,
        "the step's playbook to be making the VMs",
        pause=0.05,
    )
    kill_server(flow)
    left = step_processes(flow)
    try:
        flow = restart(flow)
        wait_state(flow, sid, S.RUNNING, timeout=150)
        assert len(service_vms(flow, sid, include_done=False)) == 10
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in left):
            time.sleep(0.5)
        assert [cmd[:120] for pid, cmd in left.items() if _alive(pid)] == []
    finally:
        end_processes(left)

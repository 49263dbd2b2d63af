"""What the fuzzing of the HTTP APIs (test_fuzz_apis.py) found, each as the request that
found it, on a running server: every one is now a 400 that names the field at fault
(they were 500s, or accepted), and the servers publish no static files."""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest
from conftest import VENV_BIN, instance_env
from support.plays import sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils.flow import service_templates, services
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates

pytestmark = sqlite_only


def send(url: str, body: str | None, auth: tuple[str, str] | None, method: str = "POST"):
    """(status, JSON answer) of one request; ``body`` is sent as it is (JSON text with
    escapes Python's own encoder would never write)."""
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    data = None if body is None else body.encode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def refused(answer: tuple[int, Any], *needles: str) -> None:
    status, doc = answer
    assert status == 400, answer
    assert doc["error"]["type"] == "InvalidInput", answer
    for needle in needles:
        assert needle in doc["error"]["message"], answer


@pytest.fixture
def seeded(server: Instance) -> dict[str, Any]:
    session = server.session()
    try:
        tpl = templates.create(session, 'NAME = "t"\nCPU = 1\nMEMORY = 32')
        roles = [{"name": "web", "vm_template": tpl["ID"]}]
        doc = service_templates.create(session, {"name": "app", "roles": roles})
        service = services.instantiate(session, doc["ID"])
    finally:
        session.db.close()
    return {"template": doc["ID"], "service": service["ID"]}


def test_half_a_surrogate_pair_is_refused_where_it_is(server, seeded):
    """JSON may escape a lone UTF-16 surrogate; the store and the password hash cannot
    take it (UnicodeEncodeError: 500s from users.show, users.create, objects.show and
    OneFlow's chown)."""
    core, flow = server.config().endpoint, server.flow_config().url
    auth = server.credentials()
    refused(send(f"{core}/api/users.show", '{"args": ["\\ud800"]}', auth), "args[0] holds")
    refused(
        send(f"{core}/api/users.create", '{"args": ["u", "\\udcff"]}', auth),
        "args[1] holds \\udcff, half of a UTF-16 surrogate pair",
    )
    refused(
        send(f"{core}/api/objects.show", '{"args": [{"$pool": "vm_pool"}, "a\\ud800"]}', auth),
        "args[1]",
    )
    body = '{"action": {"perform": "chown", "params": {"owner_id": "\\u0f38\\ud8c9"}}}'
    refused(
        send(f"{flow}/service_template/{seeded['template']}/action", body, auth),
        "action.params.owner_id holds \\ud8c9",
    )


def test_a_start_time_at_the_first_day_of_the_calendar_is_refused(server):
    """``datetime.astimezone`` raised ValueError ("year 0 is out of range") for it."""
    policy = {"type": "CHANGE", "adjust": 1, "start_time": "0001-01-01"}
    role = {"name": "r", "vm_template": 0, "min_vms": 0, "max_vms": 2}
    doc = {"name": "edge", "roles": [{**role, "scheduled_policies": [policy]}]}
    answer = send(
        f"{server.flow_config().url}/service_template", json.dumps(doc), server.credentials()
    )
    refused(answer, "roles[0].scheduled_policies[0].start_time", "out of the range of times")


def test_memory_or_cpu_too_large_for_the_hypervisor_is_refused(server):
    """MEMORY = 1e308 MiB is finite, but not in KiB (OverflowError from round(inf))."""
    core, auth = server.config().endpoint, server.credentials()
    for tpl in ('CPU = "1"\nMEMORY = "1e308"', 'CPU = "1e308"\nMEMORY = "1"'):
        body = json.dumps({"args": [tpl]})
        refused(send(f"{core}/api/vms.create", body, auth), "must be at most 9007199254740992")
    made = send(
        f"{core}/api/templates.create",
        json.dumps({"args": [{"NAME": "huge", "CPU": "1", "MEMORY": "1e308"}]}),
        auth,
    )
    assert made[0] == 200, made  # a template is not checked whole (as in OpenNebula)...
    body = json.dumps({"args": [made[1]["result"]["ID"]]})
    refused(send(f"{core}/api/templates.instantiate", body, auth), "MEMORY must be at most")


@pytest.mark.parametrize("params", ["0", '""', "[]", "false", "1", '"x"'])
def test_action_params_that_are_not_an_object_are_refused(server, seeded, params):
    """``params or {}`` took 0, "", [] and false for no params (the service shut down)."""
    body = f'{{"action": {{"perform": "shutdown", "params": {params}}}}}'
    url = f"{server.flow_config().url}/service/{seeded['service']}/action"
    refused(send(url, body, server.credentials()), "action.params must be an object")
    status, doc = send(
        url, '{"action": {"perform": "shutdown", "params": null}}', server.credentials()
    )
    assert status == 201 and doc["DOCUMENT"]["TEMPLATE"]["BODY"]["state"] == 3  # UNDEPLOYING


def test_no_server_publishes_the_static_directory_of_its_working_directory(instance, tmp_path):
    """Flask serves ``<root>/static/<file>`` unless told not to, and an app's root is the
    working directory of the process that started the server."""
    cwd = tmp_path / "cwd"
    (cwd / "static").mkdir(parents=True)
    (cwd / "static" / "secret.txt").write_text("not for anyone\n")
    env = instance_env(instance)
    start = [str(VENV_BIN / "onekit-server"), "start"]
    subprocess.run(start, cwd=cwd, env=env, check=True, capture_output=True, timeout=120)
    try:
        for url in (
            instance.config().endpoint,
            instance.flow_config().url,
            instance.gate_config().url,
        ):
            status, doc = send(f"{url}/static/secret.txt", None, None, "GET")
            assert status == 404 and "not found" in doc["error"]["message"], url
    finally:
        stop = [str(VENV_BIN / "onekit-server"), "stop"]
        subprocess.run(stop, cwd=cwd, env=env, capture_output=True, timeout=120)

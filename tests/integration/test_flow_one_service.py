"""community.general.one_service, unmodified, against onekit's OneFlow server.

The module (from the ``ansible`` package on PyPI) runs under real ansible-playbook and
talks to a real onekit-server (core, OneFlow API, LCM every second) on two simulated
libvirt hosts, with ONEFLOW_URL/ONEFLOW_USERNAME/ONEFLOW_PASSWORD as its users set them.
It reads OneFlow's JSON as OpenNebula writes it: the document's fields as text (it tests
a template's ``ID`` for truth, so an integer 0 was "There is no template with name"),
the BODY with its JSON types (it compares the state with integers). The last test reads
that JSON on the wire with curl, route by route.

Template 0 is the first document of the instance, made here through the API as a user
would (``oneflow-template create``). The module reaches it by ``template_name``: its own
``template_id`` option is tested for truth before any request, so ``template_id: 0``
never gets to a server (``template_id`` is used here for a template of another id).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import VENV_BIN, Flow, flow_server, instance_env
from support.libvirt import sim_hosts, stop_all
from support.ports import free_port
from support.waiting import wait_until

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import GateConfig
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls, hosts, users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import monitor, templates

TEMPLATE_0 = "shop"  # the name of service template 0
OTHER, OTHER_ID = "blog", 1  # a template of another id
MAX_VMS = 3
STATES = ("RUNNING", "COOLDOWN")  # what the module's wait ends on


def service_template(name: str, vm_template: int) -> dict:
    role = {"name": "front", "cardinality": 1, "vm_template": vm_template, "max_vms": MAX_VMS}
    return {"name": name, "roles": [role]}


# ---- the server and its clients ---------------------------------------------------------------
def curl(flow: Flow, method: str, path: str, body: Any = None, auth: str = "") -> tuple[int, Any]:
    """One request with the curl binary: the status and the decoded JSON (None if empty)."""
    marker = "\n--HTTP-STATUS--"
    cmd = ["curl", "-sS", "-X", method, "-o", "-", "-w", marker + "%{http_code}"]
    cmd += ["-u", auth or flow.auth, "-H", "Content-Type: application/json", "--max-time", "60"]
    if body is not None:
        cmd += ["--data-binary", json.dumps(body)]
    result = subprocess.run(
        [*cmd, flow.url.rstrip("/") + path], capture_output=True, text=True, timeout=90
    )
    assert marker in result.stdout, f"curl failed ({result.returncode}): {result.stderr}"
    text, status = result.stdout.rsplit(marker, 1)
    return int(status), json.loads(text) if text.strip() else None


def get(flow: Flow, path: str, auth: str = "") -> Any:
    status, answer = curl(flow, "GET", path, auth=auth)
    assert status == 200, (path, status, answer)
    return answer


def services_named(flow: Flow, name: str) -> list[dict]:
    found = get(flow, "/service")["DOCUMENT_POOL"].get("DOCUMENT", [])
    return [doc for doc in found if doc["NAME"] == name]


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    """A fresh instance's server with template 0 (``shop``, made first, through the API)
    and template ``blog``; both make one-role services of a small VM template."""
    inst = Instance(tmp_path_factory.mktemp("one_service") / "onekit")
    inst.init(
        InstanceConfig(port=free_port()),
        flow=FlowConfig(port=free_port()),
        onegate=GateConfig(port=free_port()),
    )
    base = Path(tempfile.mkdtemp(prefix="ocs-", dir="/tmp"))  # sockets want short paths
    sims = sim_hosts(2, base)
    admin = inst.session()
    try:
        for index, sim in enumerate(sims):
            hosts.create(admin, f"sim{index}", uri=sim.uri)
        monitor.cycle(Session.system(admin.db), inst.monitor_config())
        small = templates.create(admin, 'NAME = "small"\nCPU = 0.1\nMEMORY = 32\n')
        with flow_server(inst) as cli:
            running = Flow(
                inst, admin, sims, inst.flow_config().url, inst.auth_path.read_text().strip(), cli
            )
            for name, tid in ((TEMPLATE_0, "0"), (OTHER, str(OTHER_ID))):
                status, made = curl(
                    running, "POST", "/service_template", service_template(name, small["ID"])
                )
                assert status == 201, made
                assert made["DOCUMENT"]["ID"] == tid  # a fresh instance's first is 0
            yield running
    finally:
        admin.db.close()
        stop_all(sims)
        shutil.rmtree(base, ignore_errors=True)


def play(flow: Flow, tasks: str, *args: str) -> list[dict]:
    """Run ``tasks`` (YAML list items, indented for ``tasks:``) with real ansible-playbook
    and the ansible.posix.json callback; each task's result, in order. Failed tasks do not
    stop the play: the test looks at every result."""
    user, password = flow.auth.split(":", 1)
    path = flow.instance.home / f"play-{uuid.uuid4().hex[:8]}.yml"
    path.write_text(
        "- hosts: localhost\n  gather_facts: false\n  ignore_errors: true\n  tasks:\n" + tasks
    )
    env = {
        **instance_env(flow.instance),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ONEFLOW_URL": flow.url,
        "ONEFLOW_USERNAME": user,
        "ONEFLOW_PASSWORD": password,
    }
    done = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), str(path), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    try:
        report = json.loads(done.stdout)
    except ValueError:
        raise AssertionError(f"no JSON report: {done.stdout}\n{done.stderr}") from None
    return [task["hosts"]["localhost"] for task in report["plays"][0]["tasks"]]


def succeeded(result: dict) -> dict:
    assert not result.get("failed"), result
    return result


def failed_with(result: dict, message: str) -> None:
    assert result.get("failed"), result
    assert result["msg"] == message, result


# ---- the module's life cycle of a service ---------------------------------------------------
def test_template_0_instantiates_by_name_once_with_unique_and_wait(flow: Flow):
    made, again = play(
        flow,
        f"""
    - community.general.one_service:
        template_name: {TEMPLATE_0}
        service_name: shop1
        unique: true
        wait: true
        wait_timeout: 240
    - community.general.one_service:
        template_name: {TEMPLATE_0}
        service_name: shop1
        unique: true
        wait: true
        wait_timeout: 240
""",
    )
    succeeded(made)
    assert made["changed"] is True
    assert made["state"] == "RUNNING"
    assert (made["service_name"], made["owner_name"], made["group_name"]) == (
        "shop1",
        "oneadmin",
        "oneadmin",
    )
    (role,) = made["roles"]
    assert (role["name"], role["cardinality"], role["state"]) == ("front", 1, "RUNNING")
    assert len(role["ids"]) == 1
    # the second run finds the service by its name and leaves it alone
    succeeded(again)
    assert again["changed"] is False
    assert again["service_id"] == made["service_id"]
    (shop,) = services_named(flow, "shop1")
    assert shop["ID"] == str(made["service_id"])
    assert shop["TEMPLATE"]["BODY"]["template_id"] == 0
    vm = flow.cli.json("onevm", "show", str(role["ids"][0]))["VM"]
    assert vm["USER_TEMPLATE"]["SERVICE_ID"] == str(made["service_id"])


def test_a_role_scales_with_wait_mode_changes_once_and_a_name_finds_the_service(flow: Flow):
    made, scaled, scaled_again, mode, mode_again, found = play(
        flow,
        f"""
    - community.general.one_service:
        template_id: {OTHER_ID}
        service_name: blog1
        wait: true
        wait_timeout: 240
    - community.general.one_service:
        service_name: blog1
        role: front
        cardinality: 2
        wait: true
        wait_timeout: 240
    - community.general.one_service:
        service_name: blog1
        role: front
        cardinality: 2
    - community.general.one_service:
        service_name: blog1
        mode: "640"
    - community.general.one_service:
        service_name: blog1
        mode: "640"
    - community.general.one_service:
        service_name: blog1
""",
    )
    assert succeeded(made)["state"] == "RUNNING"
    assert made["mode"] == 600  # the umask's
    succeeded(scaled)
    assert scaled["changed"] is True
    assert scaled["state"] in STATES
    (role,) = scaled["roles"]
    assert role["cardinality"] == 2
    assert len(set(role["ids"])) == 2
    assert succeeded(scaled_again)["changed"] is False
    succeeded(mode)
    assert (mode["changed"], mode["mode"]) == (True, 640)
    assert (succeeded(mode_again)["changed"], mode_again["mode"]) == (False, 640)
    succeeded(found)
    assert found["changed"] is False
    assert found["service_id"] == made["service_id"]
    (blog,) = services_named(flow, "blog1")
    assert blog["PERMISSIONS"]["GROUP_U"] == "1"
    assert blog["PERMISSIONS"]["GROUP_M"] == "0"
    assert blog["TEMPLATE"]["BODY"]["roles"][0]["cardinality"] == 2


def test_a_service_deleted_by_name_is_gone_and_deleting_again_changes_nothing(flow: Flow):
    made, deleted, again = play(
        flow,
        f"""
    - community.general.one_service:
        template_name: {OTHER}
        service_name: gone1
    - community.general.one_service:
        service_name: gone1
        state: absent
    - community.general.one_service:
        service_name: gone1
        state: absent
""",
    )
    succeeded(made)
    succeeded(deleted)
    assert deleted["changed"] is True
    assert deleted["service_id"] == made["service_id"]
    status, _ = curl(flow, "GET", f"/service/{made['service_id']}")
    assert status == 404
    assert services_named(flow, "gone1") == []
    assert succeeded(again)["changed"] is False


def test_check_mode_says_what_would_change_and_changes_nothing(flow: Flow):
    (made,) = play(
        flow,
        f"""
    - community.general.one_service:
        template_name: {OTHER}
        service_name: kept1
        wait: true
        wait_timeout: 240
""",
    )
    succeeded(made)
    before = get(flow, "/service")
    results = play(
        flow,
        f"""
    - community.general.one_service:
        template_name: {TEMPLATE_0}
        service_name: never1
    - community.general.one_service:
        service_name: kept1
        role: front
        cardinality: 3
        wait: true
    - community.general.one_service:
        service_name: kept1
        mode: "664"
    - community.general.one_service:
        service_name: kept1
        state: absent
""",
        "--check",
    )
    assert [succeeded(r)["changed"] for r in results] == [True, True, True, True]
    assert services_named(flow, "never1") == []
    (kept,) = services_named(flow, "kept1")
    (old,) = [d for d in before["DOCUMENT_POOL"]["DOCUMENT"] if d["NAME"] == "kept1"]
    assert kept["PERMISSIONS"] == old["PERMISSIONS"]
    assert kept["TEMPLATE"]["BODY"]["roles"][0]["cardinality"] == 1
    assert kept["TEMPLATE"]["BODY"]["state"] == 2  # RUNNING


def service_ids(flow: Flow) -> list[str]:
    return [d["ID"] for d in get(flow, "/service")["DOCUMENT_POOL"].get("DOCUMENT", [])]


def test_refused_requests_fail_the_task_with_the_reason_and_make_nothing(flow: Flow):
    before = service_ids(flow)
    results = play(
        flow,
        f"""
    - community.general.one_service:
        template_id: 999
        service_name: nope1
    - community.general.one_service:
        template_name: no-such-template
    - community.general.one_service:
        service_name: no-such-service
    - community.general.one_service:
        template_name: {OTHER}
        service_name: nope2
        custom_attrs: {{DB_PASSWORD: secret}}
    - community.general.one_service:
        template_id: 0
        service_name: shop-by-id
        unique: true
""",
    )
    unknown_id, unknown_name, unknown_service, custom, zero = results
    # the module's own test of template_id for truth: 0 is no template, so it looks for
    # a service of that name to manage (against any OneFlow; template_name reaches it)
    failed_with(zero, "There is no service with name: shop-by-id")
    failed_with(unknown_id, "There is no template with template_id: 999")
    failed_with(unknown_name, "There is no template with name: no-such-template")
    failed_with(unknown_service, "There is no service with name: no-such-service")
    # onekit applies no custom attribute values: the instantiate is refused (400), not
    # made without them
    failed_with(custom, "HTTP Error 400: BAD REQUEST")
    assert service_ids(flow) == before
    status, answer = curl(
        flow,
        "POST",
        f"/service_template/{OTHER_ID}/action",
        {
            "action": {
                "perform": "instantiate",
                "params": {
                    "merge_template": {
                        "custom_attrs_values": {"DB_PASSWORD": "secret"},
                        "name": "nope2",
                    }
                },
            }
        },
    )
    assert status == 400
    assert "merge_template.custom_attrs_values" in answer["error"]["message"]


def test_a_role_beyond_max_vms_fails_and_keeps_its_cardinality(flow: Flow):
    made, beyond = play(
        flow,
        f"""
    - community.general.one_service:
        template_name: {OTHER}
        service_name: capped1
        wait: true
        wait_timeout: 240
    - community.general.one_service:
        service_name: capped1
        role: front
        cardinality: {MAX_VMS + 1}
""",
    )
    succeeded(made)
    failed_with(beyond, "HTTP Error 400: BAD REQUEST")
    (capped,) = services_named(flow, "capped1")
    assert capped["TEMPLATE"]["BODY"]["roles"][0]["cardinality"] == 1


def test_a_service_name_is_data(flow: Flow):
    name = "app{{7*7}}$HOME`id`"
    made, again = play(
        flow,
        f"""
    - community.general.one_service:
        template_name: {TEMPLATE_0}
        service_name: !unsafe '{name}'
        unique: true
    - community.general.one_service:
        template_name: {TEMPLATE_0}
        service_name: !unsafe '{name}'
        unique: true
""",
    )
    assert succeeded(made)["service_name"] == name
    assert succeeded(again)["changed"] is False
    (doc,) = services_named(flow, name)
    assert doc["TEMPLATE"]["BODY"]["name"] == name


# ---- the JSON on the wire -----------------------------------------------------------------------
def assert_document(doc: dict, doc_type: str) -> None:
    """OpenNebula's document: its own fields text, as read from its XML."""
    assert set(doc) == {
        "ID", "UID", "GID", "UNAME", "GNAME", "NAME", "TYPE", "PERMISSIONS", "REGTIME",
        "TEMPLATE",
    }, doc.keys()  # fmt: skip
    for key in ("ID", "UID", "GID", "REGTIME"):
        assert isinstance(doc[key], str) and doc[key].isdigit(), (key, doc[key])
    assert doc["TYPE"] == doc_type
    for key in ("UNAME", "GNAME", "NAME"):
        assert isinstance(doc[key], str) and doc[key], (key, doc[key])
    assert len(doc["PERMISSIONS"]) == 9
    assert set(doc["PERMISSIONS"].values()) <= {"0", "1"}
    assert list(doc["TEMPLATE"]) == ["BODY"]


def assert_template_body(body: dict) -> None:
    (role,) = body["roles"]
    assert isinstance(role["cardinality"], int) and isinstance(role["vm_template"], int)
    assert role["max_vms"] == MAX_VMS


def assert_service(doc: dict) -> None:
    assert_document(doc, "100")
    body = doc["TEMPLATE"]["BODY"]
    assert_template_body(body)
    assert isinstance(body["state"], int) and isinstance(body["start_time"], int)
    assert isinstance(body["template_id"], int)
    for role in body["roles"]:
        assert isinstance(role["state"], int) and isinstance(role["last_vmname"], int)
        for node in role["nodes"]:
            assert isinstance(node["deploy_id"], int)


def test_every_route_sends_documents_as_opennebula_writes_them(flow: Flow):
    user = "wire"
    users.create(flow.admin, user, "wire-pass")
    auth = f"{user}:wire-pass"
    # a user with nothing: both pools are OpenNebula's empty <DOCUMENT_POOL/>
    assert get(flow, "/service", auth) == {"DOCUMENT_POOL": {}}
    assert get(flow, "/service_template", auth) == {"DOCUMENT_POOL": {}}
    assert get(flow, "/service?page_size=5", auth) == {"DOCUMENT_POOL": {}}

    first = get(flow, "/service_template/0")["DOCUMENT"]
    assert_document(first, "101")
    assert (first["ID"], first["NAME"], first["UID"], first["UNAME"]) == (
        "0",
        TEMPLATE_0,
        "0",
        "oneadmin",
    )
    assert_template_body(first["TEMPLATE"]["BODY"])
    small = first["TEMPLATE"]["BODY"]["roles"][0]["vm_template"]
    objects.chmod(flow.admin, schema.TEMPLATES, small, "604")  # the user may use it
    acls.create(flow.admin, "@1 HOST/* MANAGE")  # and run VMs on the hosts

    status, made = curl(flow, "POST", "/service_template", service_template("wire", small), auth)
    assert status == 201
    made = made["DOCUMENT"]
    assert_document(made, "101")
    assert (made["UNAME"], made["GNAME"]) == (user, "users")
    tid = made["ID"]
    status, updated = curl(
        flow, "PUT", f"/service_template/{tid}", service_template("wire", small), auth
    )
    assert status == 200
    assert_document(updated["DOCUMENT"], "101")
    assert updated["DOCUMENT"]["ID"] == tid
    listed = get(flow, "/service_template", auth)["DOCUMENT_POOL"]["DOCUMENT"]
    assert [d["ID"] for d in listed] == [tid]
    for doc in get(flow, "/service_template")["DOCUMENT_POOL"]["DOCUMENT"]:
        assert_document(doc, "101")

    action = {"action": {"perform": "instantiate"}}
    status, service = curl(flow, "POST", f"/service_template/{tid}/action", action, auth)
    assert status == 201
    service = service["DOCUMENT"]
    assert_service(service)
    assert service["TEMPLATE"]["BODY"]["template_id"] == int(tid)
    sid = service["ID"]

    def running() -> dict | None:
        doc = get(flow, f"/service/{sid}", auth)["DOCUMENT"]
        return doc if doc["TEMPLATE"]["BODY"]["state"] == 2 else None

    shown = wait_until(running, f"service {sid} RUNNING")
    assert_service(shown)
    (node,) = shown["TEMPLATE"]["BODY"]["roles"][0]["nodes"]
    assert int(node["vm_info"]["VM"]["ID"]) == node["deploy_id"]
    (listed,) = get(flow, "/service", auth)["DOCUMENT_POOL"]["DOCUMENT"]
    assert_service(listed)
    assert listed["ID"] == sid
    paged = get(flow, "/service?page_size=1")["DOCUMENT_POOL"]["DOCUMENT"]
    assert len(paged) == 1
    assert_service(paged[0])

    chmod = {"action": {"perform": "chmod", "params": {"octet": "640"}}}
    status, changed = curl(flow, "POST", f"/service/{sid}/action", chmod, auth)
    assert status == 201
    assert_service(changed["DOCUMENT"])
    assert changed["DOCUMENT"]["PERMISSIONS"]["GROUP_U"] == "1"
    reboot = {"action": {"perform": "reboot"}}
    status, acted = curl(flow, "POST", f"/service/{sid}/role/front/action", reboot, auth)
    assert status == 201
    assert_service(acted["DOCUMENT"])
    status, shut = curl(
        flow, "POST", f"/service/{sid}/action", {"action": {"perform": "shutdown"}}, auth
    )
    assert status == 201
    assert_service(shut["DOCUMENT"])

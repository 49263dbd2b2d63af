"""The ``oneflow`` and ``oneflow-template`` CLIs as real subprocesses against a real
onekit-server (core, OneFlow API, LCM every second) on two simulated libvirt hosts,
following the guide's section 1.3: register my_service, instantiate it, watch it deploy,
scale, run role actions, hand it over, share it, shut it down, delete it.

Every assertion is on what a user of the commands sees: exit statuses, stdout, stderr;
the VMs are looked at with ``onevm list``, as the guide does. Services are polled through
``oneflow show --json`` with generous deadlines (no timing is asserted)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import VENV_BIN, instance_env
from support.cli import assert_error, created_id, login_as
from support.flow import ok, run, service_json, state_of, wait_state
from support.plays import sqlite_only
from support.ports import free_port
from support.waiting import wait_until

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.objects import groups, users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates

VM_TEMPLATE = 'NAME = "{name}"\nCPU = 0.1\nMEMORY = 32\n'

# The guide's my_service (section 1.3.1), as a user writes it: with a comment. The worker
# role gets a max_vms for `oneflow scale` beyond it.
MY_SERVICE = """\
// the guide's multi-tier application
{
  "name": "my_service",
  "deployment": "straight",
  "roles": [
    {
      "name": "frontend",
      "vm_template": 0
    },
    {
      "name": "db_master",
      "parents": [
        "frontend"
      ],
      "vm_template": 1
    },
    {
      "name": "db_slave",
      "parents": [
        "frontend"
      ],
      "cardinality": 3,
      "vm_template": 2
    },
    {
      "name": "worker",
      "parents": [
        "db_master",
        "db_slave"
      ],
      "cardinality": 10,
      "max_vms": 12,
      "vm_template": 3
    }
  ]
}
"""

ROLES = {"frontend": 1, "db_master": 1, "db_slave": 3, "worker": 10}


# ---- helpers ------------------------------------------------------------------------------
def field(text: str, key: str, section: str | None = None) -> str:
    """The value of ``KEY : value`` in show output (in ``section``, if given: the lines
    after the section's title up to the next blank line)."""
    if section is not None:
        start = text.index(section + "\n")
        end = text.find("\n\n", start)
        text = text[start : end if end >= 0 else len(text)]
    match = re.search(rf"^{re.escape(key)} *: ?(.*)$", text, re.M)
    assert match, f"no {key!r} in:\n{text}"
    return match.group(1).strip()


def role_section(text: str, role: str) -> str:
    start = text.index(f"ROLE {role}\n")
    end = text.find("\n\n", start)
    return text[start : end if end >= 0 else len(text)]


def node_rows(section: str) -> list[list[str]]:
    """The rows under NODES INFORMATION's header (split on blanks)."""
    lines = section.split("NODES INFORMATION\n", 1)[1].splitlines()
    assert lines[0].split()[:2] == ["VM_ID", "NAME"], lines[0]
    return [line.split() for line in lines[1:] if line.strip()]


def make_vm_templates(flow, count: int = 4) -> None:
    for i in range(count):
        tpl = templates.create(flow.admin, VM_TEMPLATE.format(name=f"t{i}"))
        assert tpl["ID"] == i


def running_service(flow, tmp_path: Path) -> None:
    """The guide's my_service registered (template 0) and instantiated (service 1)."""
    make_vm_templates(flow)
    path = tmp_path / "my_service.json"
    path.write_text(MY_SERVICE)
    assert created_id(run(flow, "oneflow-template", "create", str(path))) == 0
    assert created_id(run(flow, "oneflow-template", "instantiate", "0")) == 1


# ---- the guide's walk-through ---------------------------------------------------------------
@sqlite_only
def test_templates_create_list_show(flow, tmp_path):
    make_vm_templates(flow)
    path = tmp_path / "my_service.json"
    path.write_text(MY_SERVICE)
    assert ok(run(flow, "oneflow-template", "create", str(path))) == "ID: 0\n"

    listing = ok(run(flow, "oneflow-template", "list")).splitlines()
    assert listing[0].split() == ["ID", "USER", "GROUP", "NAME"]
    assert [line.split() for line in listing[1:]] == [["0", "oneadmin", "oneadmin", "my_service"]]

    shown = ok(run(flow, "oneflow-template", "show", "0"))
    assert shown.startswith("SERVICE TEMPLATE 0 INFORMATION\n")
    assert field(shown, "ID") == "0"
    assert field(shown, "NAME") == "my_service"
    assert field(shown, "USER") == "oneadmin"
    assert field(shown, "GROUP") == "oneadmin"
    perms = shown.index("PERMISSIONS\n")
    assert field(shown[perms:], "OWNER") == "um-"
    assert field(shown[perms:], "GROUP") == "---"
    assert field(shown[perms:], "OTHER") == "---"
    contents = shown.split("TEMPLATE CONTENTS\n", 1)[1]
    body = json.loads(contents)
    assert body["name"] == "my_service"
    assert body["deployment"] == "straight"
    assert [r["name"] for r in body["roles"]] == list(ROLES)
    assert body["roles"][3]["parents"] == ["db_master", "db_slave"]

    # by name too, and as JSON
    doc = json.loads(ok(run(flow, "oneflow-template", "show", "my_service", "--json")))
    assert doc["DOCUMENT"]["ID"] == "0"  # the API's JSON as it is: OpenNebula's text
    pool = json.loads(ok(run(flow, "oneflow-template", "list", "--json")))
    assert [d["NAME"] for d in pool["DOCUMENT_POOL"]["DOCUMENT"]] == ["my_service"]

    # chmod: the guide's "instantiated by any user"
    ok(run(flow, "oneflow-template", "chmod", "0", "604"))
    shown = ok(run(flow, "oneflow-template", "show", "0"))
    perms = shown.index("PERMISSIONS\n")
    assert field(shown[perms:], "OWNER") == "um-"
    assert field(shown[perms:], "GROUP") == "---"
    assert field(shown[perms:], "OTHER") == "u--"

    # a user of another group now sees it, but needs the VM templates shared too
    groups.create(flow.admin, "apptools")
    users.create(flow.admin, "johndoe", "secret", "apptools")
    john = login_as(tmp_path, "johndoe", "secret")
    listing = ok(run(flow, "oneflow-template", "list", env=john)).splitlines()
    assert [line.split() for line in listing[1:]] == [["0", "oneadmin", "oneadmin", "my_service"]]
    assert_error(
        run(flow, "oneflow-template", "instantiate", "0", env=john),
        "oneflow-template",
        "instantiate",
    )
    assert ok(run(flow, "oneflow", "list")).splitlines()[1:] == []
    for i in range(4):
        objects.chmod(flow.admin, schema.TEMPLATES, i, "604")
    assert created_id(run(flow, "oneflow-template", "instantiate", "my_service", env=john)) == 1
    listing = ok(run(flow, "oneflow", "list", env=john)).splitlines()
    rows = [line.split()[:4] for line in listing[1:]]
    assert rows == [["1", "johndoe", "apptools", "my_service"]]
    # only USE for others: john may not change or delete the template
    assert_error(
        run(flow, "oneflow-template", "delete", "0", env=john), "oneflow-template", "delete"
    )
    assert_error(
        run(flow, "oneflow-template", "chmod", "0", "606", env=john), "oneflow-template", "chmod"
    )
    ok(run(flow, "oneflow", "delete", "1", env=john))

    # delete
    ok(run(flow, "oneflow-template", "delete", "0"))
    assert ok(run(flow, "oneflow-template", "list")).splitlines()[1:] == []
    assert_error(
        run(flow, "oneflow-template", "show", "0"),
        "oneflow-template",
        "show",
        "service template 0 does not exist",
    )

    # a template from stdin
    piped = flow.cli(
        "oneflow-template",
        "create",
        "-",
        input=MY_SERVICE.replace('"my_service"', '"piped"'),
        env={"ONEFLOW_URL": flow.url},
    )
    assert created_id(piped) == 2
    assert field(ok(run(flow, "oneflow-template", "show", "piped")), "ID") == "2"


@sqlite_only
def test_service_lifecycle(flow, tmp_path):
    running_service(flow, tmp_path)

    listing = ok(run(flow, "oneflow", "list")).splitlines()
    assert listing[0].split() == ["ID", "USER", "GROUP", "NAME", "STATE"]
    (row,) = [line.split() for line in listing[1:]]
    assert row[:4] == ["1", "oneadmin", "oneadmin", "my_service"]
    assert row[4] in ("PENDING", "DEPLOYING", "RUNNING")

    wait_state(flow, 1, "RUNNING")
    shown = ok(run(flow, "oneflow", "show", "1"))
    assert shown.startswith("SERVICE 1 INFORMATION\n")
    assert field(shown, "NAME") == "my_service"
    assert field(shown, "USER") == "oneadmin"
    assert field(shown, "GROUP") == "oneadmin"
    assert field(shown, "STRATEGY") == "straight"
    assert field(shown, "SERVICE STATE") == "RUNNING"
    assert field(shown, "OWNER", "PERMISSIONS") == "um-"
    parents = {"frontend": None, "db_master": "frontend", "db_slave": "frontend"}
    parents["worker"] = "db_master, db_slave"
    vm_ids: set[int] = set()
    for role, cardinality in ROLES.items():
        section = role_section(shown, role)
        assert field(section, "ROLE STATE") == "RUNNING"
        if parents[role] is None:
            assert "PARENTS" not in section
        else:
            assert field(section, "PARENTS") == parents[role]
        assert field(section, "CARDINALITY") == str(cardinality)
        assert field(section, "VM TEMPLATE") == str(list(ROLES).index(role))
        rows = node_rows(section)
        assert len(rows) == cardinality
        for cells in rows:
            assert re.fullmatch(rf"{role}_\d+_\(service_1\)", cells[1]), cells
            assert cells[2] == "runn", cells
            vm_ids.add(int(cells[0]))
    assert len(vm_ids) == sum(ROLES.values())
    names = {cells[1] for cells in node_rows(role_section(shown, "frontend"))}
    assert names == {"frontend_0_(service_1)"}
    log = shown.split("LOG MESSAGES\n", 1)[1]
    assert re.search(r"^\d\d/\d\d/\d\d \d\d:\d\d \[I\] New state: RUNNING$", log, re.M), log

    # --json parses, with the VMs
    doc = service_json(flow, 1)
    body = doc["TEMPLATE"]["BODY"]
    assert [r["name"] for r in body["roles"]] == list(ROLES)
    assert {n["deploy_id"] for r in body["roles"] for n in r["nodes"]} == vm_ids
    pool = json.loads(ok(run(flow, "oneflow", "list", "--json")))
    assert [d["ID"] for d in pool["DOCUMENT_POOL"]["DOCUMENT"]] == ["1"]

    # scale worker to 12 (the max), then beyond it
    ok(run(flow, "oneflow", "scale", "1", "worker", "12"))
    wait_until(
        lambda: (
            len(node_rows(role_section(ok(run(flow, "oneflow", "show", "1")), "worker"))) == 12
            and state_of(service_json(flow, 1)) in ("COOLDOWN", "RUNNING")
        ),
        "12 workers",
    )
    doc = wait_state(flow, 1, "RUNNING")
    shown = ok(run(flow, "oneflow", "show", "1"))
    worker = role_section(shown, "worker")
    assert field(worker, "CARDINALITY") == "12"
    rows = node_rows(worker)
    assert len(rows) == 12
    assert all(cells[2] == "runn" for cells in rows), rows
    assert "scaling up from 10 to 12" in shown

    line = assert_error(
        run(flow, "oneflow", "scale", "1", "worker", "13"),
        "oneflow",
        "scale",
        "Maximum cardinality is 12",
    )
    assert field(role_section(ok(run(flow, "oneflow", "show", "1")), "worker"), "CARDINALITY") == (
        "12"
    ), line
    ok(run(flow, "oneflow", "scale", "1", "worker", "13", "--force"))
    wait_until(
        lambda: len(node_rows(role_section(ok(run(flow, "oneflow", "show", "1")), "worker"))) == 13,
        "13 workers",
    )
    wait_state(flow, 1, "RUNNING")

    # an unknown role
    assert_error(
        run(flow, "oneflow", "scale", "1", "nosuch", "2"), "oneflow", "scale", "Role 'nosuch'"
    )

    # a VM action on a role, two VMs every five minutes
    ok(run(flow, "oneflow", "action", "1", "worker", "reboot", "--period", "300", "--number", "2"))
    shown = ok(run(flow, "oneflow", "show", "1"))
    log = shown.split("LOG MESSAGES\n", 1)[1]
    assert re.search(r"reboot.*worker|worker.*reboot", log), log
    assert "300" in log and "2 every" in log, log

    # the guide's chown, by name; the VMs follow
    groups.create(flow.admin, "apptools")
    users.create(flow.admin, "johndoe", "secret", "apptools")
    ok(run(flow, "oneflow", "chown", "my_service", "johndoe", "apptools"))
    listing = ok(run(flow, "oneflow", "list")).splitlines()
    (row,) = [line.split() for line in listing[1:]]
    assert row[:4] == ["1", "johndoe", "apptools", "my_service"]
    vms = ok(flow.cli("onevm", "list")).splitlines()
    assert vms[0].split()[:4] == ["ID", "USER", "GROUP", "NAME"]
    service_vms = {int(cells[0]): cells for cells in (r.split() for r in vms[1:]) if cells}
    doc = service_json(flow, 1)
    now_ids = {
        n["deploy_id"]
        for r in doc["TEMPLATE"]["BODY"]["roles"]
        for n in r["nodes"]
        if not n.get("disposed")
    }
    assert now_ids <= set(service_vms)
    for vm_id in now_ids:
        assert service_vms[vm_id][1:3] == ["johndoe", "apptools"], service_vms[vm_id]

    # chmod 660: the group may use and manage it
    ok(run(flow, "oneflow", "chmod", "1", "660"))
    shown = ok(run(flow, "oneflow", "show", "1"))
    assert field(shown, "OWNER", "PERMISSIONS") == "um-"
    assert field(shown, "GROUP", "PERMISSIONS") == "um-"
    assert field(shown, "OTHER", "PERMISSIONS") == "---"

    # shutdown: DONE; recover refuses a DONE service
    ok(run(flow, "oneflow", "shutdown", "1"))
    wait_state(flow, 1, "DONE")
    shown = ok(run(flow, "oneflow", "show", "1"))
    assert field(shown, "SERVICE STATE") == "DONE"
    assert "New state: DONE" in shown
    assert_error(run(flow, "oneflow", "recover", "1"), "oneflow", "recover", "DONE")
    assert_error(run(flow, "oneflow", "shutdown", "1"), "oneflow", "shutdown", "DONE")

    # delete: gone at once for its users
    doc = service_json(flow, 1)
    vm_ids = {n["deploy_id"] for r in doc["TEMPLATE"]["BODY"]["roles"] for n in r["nodes"]}
    ok(run(flow, "oneflow", "delete", "1"))
    assert_error(run(flow, "oneflow", "show", "1"), "oneflow", "show", "service 1 does not exist")
    assert ok(run(flow, "oneflow", "list")).splitlines()[1:] == []

    # and its VMs go with it: onevm list no longer shows them
    def vms_left() -> set[int]:
        rows = ok(flow.cli("onevm", "list")).splitlines()[1:]
        return {int(r.split()[0]) for r in rows if r.strip()} & vm_ids

    wait_until(lambda: not vms_left(), "the service's VMs to be gone")


@sqlite_only
def test_top_refreshes_the_list(flow, tmp_path):
    running_service(flow, tmp_path)
    env = instance_env(flow.instance, ONEFLOW_URL=flow.url)
    proc = subprocess.Popen(
        [str(VENV_BIN / "oneflow"), "top", "--delay", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        time.sleep(4)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the way top is left
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode == 130, (proc.returncode, err)
    assert "Traceback" not in err
    frames = [f for f in out.split("\033[H\033[2J") if f.strip()]
    assert len(frames) >= 2, out
    for frame in frames:
        lines = frame.strip().splitlines()
        assert lines[0].split() == ["ID", "USER", "GROUP", "NAME", "STATE"]
        assert lines[1].split()[:4] == ["1", "oneadmin", "oneadmin", "my_service"]

    # top of one service shows it
    proc = subprocess.Popen(
        [str(VENV_BIN / "oneflow"), "top", "1", "--delay", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        time.sleep(3)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode == 130, (proc.returncode, err)
    assert "SERVICE 1 INFORMATION" in out
    assert "ROLE frontend" in out


# ---- errors ---------------------------------------------------------------------------------
@sqlite_only
def test_errors_against_a_running_server(flow, tmp_path):
    make_vm_templates(flow)
    # unknown ids and names
    for args, needle in [
        (("oneflow", "show", "99"), "service 99 does not exist"),
        (("oneflow", "shutdown", "99"), "service 99 does not exist"),
        (("oneflow", "delete", "99"), "service 99 does not exist"),
        (("oneflow", "recover", "99"), "service 99 does not exist"),
        (("oneflow", "scale", "99", "worker", "2"), "service 99 does not exist"),
        (("oneflow", "action", "99", "worker", "reboot"), "service 99 does not exist"),
        (("oneflow", "chmod", "99", "660"), "service 99 does not exist"),
        (("oneflow", "show", "nosuch"), "service named 'nosuch' does not exist"),
        (("oneflow-template", "show", "42"), "service template 42 does not exist"),
        (("oneflow-template", "instantiate", "42"), "service template 42 does not exist"),
        (("oneflow-template", "delete", "42"), "service template 42 does not exist"),
        (("oneflow-template", "chmod", "42", "604"), "service template 42 does not exist"),
        (("oneflow-template", "show", "nosuch"), "service template named 'nosuch' does not exist"),
    ]:
        assert_error(run(flow, *args), args[0], args[1], needle)

    # a malformed JSON file: the error names the line and column
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "name": "x",\n  "roles": [ {"name": "a" "vm_template": 0} ]\n}\n')
    line = assert_error(
        run(flow, "oneflow-template", "create", str(bad)), "oneflow-template", "create", "JSON"
    )
    assert "line 3" in line and "column 27" in line, line
    # line numbers count the lines of comments too
    commented = tmp_path / "commented.json"
    commented.write_text(
        '/* the guide\n   my_service */\n{\n  // x\n  "name": "x" "roles": []\n}\n'
    )
    line = assert_error(
        run(flow, "oneflow-template", "create", str(commented)), "oneflow-template", "create"
    )
    assert "line 5" in line and "column 15" in line, line
    # a document that is JSON but not a valid template: every error at once
    invalid = tmp_path / "invalid.json"
    invalid.write_text('{"name": "x", "deployment": "sideways", "roles": [{"name": "a"}]}')
    line = assert_error(
        run(flow, "oneflow-template", "create", str(invalid)), "oneflow-template", "create"
    )
    assert "deployment" in line and "vm_template" in line, line
    # a missing file
    missing = tmp_path / "nosuch.json"
    line = assert_error(
        run(flow, "oneflow-template", "create", str(missing)),
        "oneflow-template",
        "create",
        str(missing),
    )
    assert "No such file" in line, line
    # nothing was created by any of these
    assert ok(run(flow, "oneflow-template", "list")).splitlines()[1:] == []

    # wrong credentials
    env = login_as(tmp_path, "oneadmin", "not-the-password")
    for args in (("oneflow", "list"), ("oneflow-template", "list")):
        line = assert_error(run(flow, *args, env=env), args[0], args[1])
        assert "authentication" in line.lower(), line
    # an unknown VM action, a negative cardinality, recover of a RUNNING service
    path = tmp_path / "one.json"
    path.write_text('{"name": "one", "roles": [{"name": "a", "vm_template": 0}]}')
    assert created_id(run(flow, "oneflow-template", "create", str(path))) == 0
    assert created_id(run(flow, "oneflow-template", "instantiate", "one")) == 1
    assert_error(
        run(flow, "oneflow", "action", "1", "a", "explode"), "oneflow", "action", "explode"
    )
    wait_state(flow, 1, "RUNNING")
    assert_error(run(flow, "oneflow", "scale", "1", "a", "-1"), "oneflow", "scale", "cardinality")
    assert_error(run(flow, "oneflow", "recover", "1"), "oneflow", "recover", "RUNNING")
    assert_error(run(flow, "oneflow", "chmod", "1", "999"), "oneflow", "chmod")
    assert_error(
        run(flow, "oneflow", "action", "1", "a", "reboot", "--number", "0"),
        "oneflow",
        "action",
        "number",
    )

    # someone without rights on it: does not see it, may not touch it
    users.create(flow.admin, "bob", "bobpass")
    bob = login_as(tmp_path, "bob", "bobpass")
    assert ok(run(flow, "oneflow", "list", env=bob)).splitlines()[1:] == []
    assert ok(run(flow, "oneflow-template", "list", env=bob)).splitlines()[1:] == []
    for args in (
        ("oneflow", "show", "1"),
        ("oneflow", "delete", "1"),
        ("oneflow", "shutdown", "1"),
        ("oneflow", "scale", "1", "a", "2"),
        ("oneflow", "chmod", "1", "666"),
        ("oneflow-template", "instantiate", "0"),
        ("oneflow-template", "delete", "0"),
    ):
        line = assert_error(run(flow, *args, env=bob), args[0], args[1])
        assert "not authorized" in line.lower() or "denied" in line.lower(), line
    doc = service_json(flow, 1)
    assert state_of(doc) == "RUNNING"
    assert doc["TEMPLATE"]["BODY"]["roles"][0]["cardinality"] == 1
    assert ok(run(flow, "oneflow-template", "list")).splitlines()[1].split()[0] == "0"


@sqlite_only
def test_the_instances_own_oneflow_server_is_the_default(flow):
    """No ONEFLOW_URL: the commands go where oneflow-server.conf says the server listens
    (the fixture's :port: is not the guide's 2474)."""
    assert flow.instance.flow_config().port != 2474
    listed = flow.cli("oneflow-template", "list")
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    assert flow.cli("oneflow", "list").returncode == 0


@sqlite_only
def test_no_server(cli):
    """ONEFLOW_URL pointing at a closed port: the message says so."""
    url = f"http://127.0.0.1:{free_port()}"
    for args in (("oneflow", "list"), ("oneflow-template", "list"), ("oneflow", "show", "1")):
        line = assert_error(cli(*args, env={"ONEFLOW_URL": url}), args[0], args[1])
        assert "cannot reach OneFlow" in line and url in line, line


@pytest.mark.parametrize(
    "args, needles",
    [
        (
            ("oneflow", "--help"),
            ["list", "show", "top", "delete", "shutdown", "recover", "scale", "action", "chown"],
        ),
        (
            ("oneflow-template", "--help"),
            ["create", "list", "top", "show", "update", "delete", "instantiate", "chmod"],
        ),
        (("oneflow", "scale", "--help"), ["role", "cardinality", "--force"]),
        (("oneflow", "action", "--help"), ["vm_action", "--period", "--number"]),
    ],
)
def test_help(args, needles):
    result = subprocess.run(
        [str(VENV_BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: "), result.stdout
    for needle in needles:
        assert needle in result.stdout, (needle, result.stdout)

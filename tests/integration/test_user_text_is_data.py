"""Text users and guests write is data, never code: it crosses the playbooks the server
runs (OneFlow steps through ansible-runner) without Ansible ever rendering it.

A plain user puts Jinja2 in every field of a service that reaches a playbook: her VM
template's own attributes, the role's ``vm_template_contents``, ``merge_template`` at
instantiate, the service's name and ``vm_name_template`` (the names the step asks for),
``custom_attrs``; a guest pushes the same through OneGate before a scale-up runs a step.
Every VM must carry the text exactly as written, and no command in it may run (the
``lookup('pipe', 'touch …')`` payloads would create files). The step's orders must not
be on any process's command line either, where ``ps`` shows them to every local user.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from support.plays import sqlite_only
from test_flow_api import curl, perform, service_vms, wait_state
from test_onegate import curl as gate_curl

from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import FlowState as S
from ansible_collections.onekit.cloud.plugins.module_utils.gate import tokens
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls, users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates


def payloads(tmp: Path, tag: str) -> dict[str, str]:
    """Jinja2 that would show it ran: a file made, a sum computed, a block rendered."""
    return {
        "PIPE": f"{{{{ lookup('pipe', 'touch {tmp}/ran-{tag}-pipe') }}}}",
        "MATH": "{{ 7*7 }}",
        "BLOCK": f"{{% for x in [1] %}}{{{{ lookup('pipe', 'touch {tmp}/ran-{tag}-block') }}}}"
        "{% endfor %}",
    }


def attributes(values: dict[str, str], prefix: str) -> str:
    return "".join(f'{prefix}_{key} = "{value}"\n' for key, value in values.items())


def command_lines() -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except (OSError, UnicodeDecodeError):
                continue
    return found


@sqlite_only
def test_jinja_in_every_service_field_reaches_the_vms_literally(flow, tmp_path):
    users.create(flow.admin, "mallory", "malpass")
    acls.create(flow.admin, "@1 HOST/* MANAGE")  # users may run VMs on the hosts
    as_mallory = "mallory:malpass"
    mallory = flow.instance.session("mallory", "malpass")
    own = payloads(tmp_path, "template")
    vm_template = templates.create(
        mallory,
        'NAME = "base"\nCPU = 0.1\nMEMORY = 32\nCONTEXT = [ TOKEN = "YES" ]\n'
        + attributes(own, "OWN"),
    )
    contents = payloads(tmp_path, "contents")
    merged = payloads(tmp_path, "merge")
    name = "svc{{7*7}}{%raw%}"  # names hold no spaces
    role = {
        "name": "web",
        "vm_template": vm_template["ID"],
        "vm_template_contents": attributes(contents, "CONT"),
    }
    doc = {
        "name": "tpl{{7*7}}",
        "vm_name_template": "{{7*7}}-$SERVICE_NAME-$VM_NUMBER",
        "custom_attrs": {"C": payloads(tmp_path, "custom")["PIPE"]},
        "roles": [role],
    }
    answer = curl(flow, "POST", "/service_template", doc, auth=as_mallory)
    assert answer.status == 201, answer
    tid = answer.json["DOCUMENT"]["ID"]
    merge = {
        "name": name,
        "roles": [{**role, "vm_template_contents": attributes(merged, "MERGE")}],
    }
    orders_seen: list[str] = []
    stop = threading.Event()

    def watch_ps() -> None:  # every process's argv while the steps run
        while not stop.is_set():
            orders_seen.extend(c for c in command_lines() if "MERGE_PIPE" in c)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch_ps, daemon=True)
    watcher.start()
    try:
        action = perform("instantiate", merge_template=merge)
        answer = curl(flow, "POST", f"/service_template/{tid}/action", action, auth=as_mallory)
        assert answer.status == 201, answer
        sid = answer.json["DOCUMENT"]["ID"]
        wait_state(flow, sid, S.RUNNING, auth=as_mallory)

        # a guest pushes Jinja2 through OneGate; a scale-up then runs another step
        (first,) = service_vms(flow, sid)
        token = tokens.token(flow.instance.gate_secret(), first)
        pushed = payloads(tmp_path, "onegate")
        status, _ = gate_curl(
            "PUT",
            f"{flow.instance.gate_config().url}/vm/{first['ID']}",
            token,
            attributes(pushed, "GUEST"),
        )
        assert status == 200
        answer = curl(flow, "PUT", f"/service/{sid}/role/web", {"cardinality": 2}, auth=as_mallory)
        assert answer.status == 204, answer
        wait_state(flow, sid, S.RUNNING, auth=as_mallory)
        while len([v for v in service_vms(flow, sid) if v["STATE"] == 3]) < 2:
            time.sleep(0.3)
    finally:
        stop.set()
        watcher.join()

    made = service_vms(flow, sid)
    assert len(made) == 2
    for vm in made:
        assert vm["NAME"].startswith(f"{{{{7*7}}}}-{name}-"), vm["NAME"]
        user = vm["USER_TEMPLATE"]
        for key, value in own.items():
            assert user[f"OWN_{key}"] == value
        for key, value in merged.items():  # merge_template's roles replace the template's
            assert user[f"MERGE_{key}"] == value
        assert not any(k.startswith("CONT_") for k in user)
    guest = next(v for v in made if v["ID"] == first["ID"])
    for key, value in pushed.items():
        assert guest["USER_TEMPLATE"][f"GUEST_{key}"] == value
    shown = curl(flow, "GET", f"/service/{sid}", auth=as_mallory).json["DOCUMENT"]
    assert shown["NAME"] == name
    assert shown["TEMPLATE"]["BODY"]["custom_attrs"] == doc["custom_attrs"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("ran-")) == []
    assert orders_seen == [], "a step's orders were on a command line"

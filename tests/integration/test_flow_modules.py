"""The modules onekit.cloud.service_template and onekit.cloud.service through real
ansible-playbook runs, with a real onekit-server (the ``flow`` fixture: OneFlow's LCM
every second on two simulated libvirt hosts) deploying the services.

Each playbook checks what its tasks report (``register`` + ``assert``); the test then
checks the store from Python with the core (``service_templates.list_templates``,
``services.list_services``). Runs are batched: ansible-playbook costs seconds to start."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import REPO, VENV_BIN
from support.plays import HEAD, ok, sqlite_only
from support.waiting import wait_until

from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions
from ansible_collections.onekit.cloud.plugins.module_utils.flow import service_templates, services
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import name as state_name
from ansible_collections.onekit.cloud.plugins.module_utils.objects import users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates, vms

VM_TEMPLATE = 'NAME = "{name}"\nCPU = 0.1\nMEMORY = {memory}\n'

# the guide's my_service, smaller: the same shape of dependencies
MY_SERVICE = {
    "deployment": "straight",
    "roles": [
        {"name": "frontend", "vm_template": 0},
        {"name": "db_master", "parents": ["frontend"], "vm_template": 1},
        {"name": "db_slave", "parents": ["frontend"], "cardinality": 2, "vm_template": 1},
        {
            "name": "worker",
            "parents": ["db_master", "db_slave"],
            "cardinality": 2,
            "max_vms": 5,
            "vm_template": 0,
        },
    ],
}


def j(value) -> str:
    """A value as inline YAML (JSON is YAML)."""
    return json.dumps(value)


def vm_templates(session, *memories: int) -> None:
    for i, memory in enumerate(memories):
        templates.create(session, VM_TEMPLATE.format(name=f"t{i}", memory=memory))


def names_of(session) -> dict[str, dict]:
    return {t["NAME"]: t for t in service_templates.list_templates(session)}


# ---- service_template ------------------------------------------------------------------------
TEMPLATE_PLAY = (
    HEAD
    + f"""
    - name: register my_service
      onekit.cloud.service_template:
        name: my_service
        template: {j(MY_SERVICE)}
      register: created
    - name: the same again
      onekit.cloud.service_template:
        name: my_service
        template: {j(MY_SERVICE)}
      register: again
    - name: another one, in check mode
      onekit.cloud.service_template:
        name: other
        template: {j(MY_SERVICE)}
      check_mode: true
      register: dry
    - name: shared with everyone (the guide's chmod 604)
      onekit.cloud.service_template:
        name: my_service
        template: {j(MY_SERVICE)}
        mode: "604"
      register: shared
    - name: shared again
      onekit.cloud.service_template:
        name: my_service
        template: {j(MY_SERVICE)}
        mode: "604"
      register: shared_again
    - name: from JSON text with a comment, as a file would be
      onekit.cloud.service_template:
        name: from_text
        template: |
          // one role
          {{"roles": [{{"name": "solo", "vm_template": 0}}]}}
      register: text
    - assert:
        that:
          - created is changed
          - created.service_template.id == 0
          - created.service_template.name == "my_service"
          - created.service_template.mode == "600"
          - created.service_template.template.deployment == "straight"
          - created.service_template.template.roles | length == 4
          - created.service_template.template.roles[0].cardinality == 1
          - again is not changed
          - again.service_template.id == 0
          - dry is changed
          - shared is changed
          - shared.service_template.id == 0
          - shared.service_template.mode == "604"
          - shared_again is not changed
          - text is changed
          - text.service_template.template.roles[0].name == "solo"
"""
)

BAD_TEMPLATE = {
    "deployment": "sideways",
    "roles": [
        {"name": "a b", "vm_template": 0},
        {"name": "db", "parents": ["nosuch"], "cardinality": 9, "max_vms": 3},
    ],
}

BAD_PLAY = (
    HEAD
    + f"""
    - name: a template with four mistakes
      onekit.cloud.service_template:
        name: broken
        template: {j(BAD_TEMPLATE)}
      register: bad
      ignore_errors: true
    - name: JSON text that does not parse
      onekit.cloud.service_template:
        name: broken
        template: |
          {{"roles": [
            {{"name": "a" "vm_template": 0}}
          ]}}
      register: unparsed
      ignore_errors: true
    - assert:
        that:
          - bad is failed
          - bad is not changed
          - "'template.deployment' in bad.msg"
          - "'roles[0].name' in bad.msg"
          - "'roles[1].vm_template' in bad.msg"
          - "'roles[1].parents' in bad.msg"
          - "'nosuch' in bad.msg"
          - "'above max_vms' in bad.msg"
          - unparsed is failed
          - "'line 2' in unparsed.msg"
          - "'column' in unparsed.msg"
"""
)

ABSENT_PLAY = (
    HEAD
    + """
    - name: delete my_service
      onekit.cloud.service_template:
        name: my_service
        state: absent
      register: gone
    - name: again
      onekit.cloud.service_template:
        name: my_service
        state: absent
      register: gone_again
    - assert:
        that:
          - gone is changed
          - gone.service_template.id == 0
          - gone_again is not changed
          - gone_again.service_template == {}
"""
)


@sqlite_only
def test_service_template_module(admin, playbook):
    vm_templates(admin, 32, 32)  # the roles' VM templates 0 and 1
    ok(playbook(TEMPLATE_PLAY))
    found = names_of(admin)
    assert set(found) == {"my_service", "from_text"}  # check mode created nothing
    assert Permissions.from_json(found["my_service"]["PERMISSIONS"]).octal() == "604"
    assert found["my_service"]["TEMPLATE"]["BODY"]["roles"][3]["parents"] == [
        "db_master",
        "db_slave",
    ]

    ok(playbook(BAD_PLAY))
    assert set(names_of(admin)) == {"my_service", "from_text"}

    ok(playbook(ABSENT_PLAY))
    assert set(names_of(admin)) == {"from_text"}


# ---- service ---------------------------------------------------------------------------------
def service_play() -> str:
    return (
        HEAD
        + f"""
    - name: the template
      onekit.cloud.service_template:
        name: my_service
        template: {j(MY_SERVICE)}
    - name: instantiate, in check mode
      onekit.cloud.service:
        template_name: my_service
        name: my_service
        state: running
      check_mode: true
      register: dry
    - name: instantiate and wait for it to run
      onekit.cloud.service:
        template_name: my_service
        name: my_service
        state: running
        wait_timeout: 240
      register: up
    - name: the same again
      onekit.cloud.service:
        template_name: my_service
        name: my_service
        state: running
        wait_timeout: 240
      register: again
    - assert:
        that:
          - dry is changed
          - up is changed
          - up.service.name == "my_service"
          - up.service.state == "RUNNING"
          - up.service.roles | map(attribute='name') | list
            == ["frontend", "db_master", "db_slave", "worker"]
          - up.service.roles | map(attribute='state') | unique | list == ["RUNNING"]
          - up.service.roles[0].vm_ids | length == 1
          - up.service.roles[1].vm_ids | length == 1
          - up.service.roles[2].vm_ids | length == 2
          - up.service.roles[3].vm_ids | length == 2
          - again is not changed
          - again.service.id == up.service.id
          - again.service.state == "RUNNING"
    - name: four workers
      onekit.cloud.service:
        name: my_service
        role: worker
        cardinality: 4
        state: running
        wait_timeout: 240
      register: scaled
    - name: four workers again
      onekit.cloud.service:
        name: my_service
        role: worker
        cardinality: 4
        state: running
        wait_timeout: 240
      register: scaled_again
    - name: five workers, in check mode
      onekit.cloud.service:
        name: my_service
        role: worker
        cardinality: 5
        state: running
      check_mode: true
      register: scaled_dry
    - name: reboot the workers, two at a time
      onekit.cloud.service:
        name: my_service
        role: worker
        action: reboot
        period: 300
        number: 2
      register: acted
    - assert:
        that:
          - scaled is changed
          - scaled.service.id == up.service.id
          - scaled.service.roles[3].cardinality == 4
          - scaled.service.roles[3].vm_ids | length == 4
          - scaled.service.state in ["RUNNING", "COOLDOWN"]
          - scaled_again is not changed
          - scaled_dry is changed
          - acted is changed
"""
    )


DONE_PLAY = (
    HEAD
    + """
    - name: shut it down
      onekit.cloud.service:
        name: my_service
        state: done
        wait_timeout: 240
      register: down
    - name: delete it
      onekit.cloud.service:
        service_id: "{{ down.service.id }}"
        state: absent
        wait_timeout: 240
      register: deleted
    - name: delete it again
      onekit.cloud.service:
        service_id: "{{ down.service.id }}"
        state: absent
      register: deleted_again
    - assert:
        that:
          - down is changed
          - down.service.state == "DONE"
          - deleted is changed
          - deleted.service.id == down.service.id
          - deleted_again is not changed
"""
)


@sqlite_only
def test_service_module_lifecycle(flow, playbook):
    vm_templates(flow.admin, 32, 32)
    ok(playbook(service_play()))
    (service,) = services.list_services(flow.admin)  # the rerun made no second one
    assert service["NAME"] == "my_service"
    body = services.show(flow.admin, service["ID"])["TEMPLATE"]["BODY"]
    worker = body["roles"][3]
    assert worker["cardinality"] == 4
    assert len([n for n in worker["nodes"] if not n.get("disposed")]) == 4
    assert any("reboot" in e["message"] for e in body["log"]), body["log"]

    ok(playbook(DONE_PLAY))
    assert services.list_services(flow.admin) == []


REINSTANTIATE_PLAY = (
    HEAD
    + f"""
    - name: the template
      onekit.cloud.service_template:
        name: my_service
        template: {j({"roles": [{"name": "solo", "vm_template": 0}]})}
    - name: a service
      onekit.cloud.service:
        template_name: my_service
        name: my_service
        state: running
        wait_timeout: 240
      register: first
    - name: shut down
      onekit.cloud.service:
        name: my_service
        state: done
        wait_timeout: 240
    - name: a DONE service does not count, so a new one
      onekit.cloud.service:
        template_name: my_service
        name: my_service
        state: running
        wait_timeout: 240
      register: second
    - assert:
        that:
          - second is changed
          - second.service.id != first.service.id
          - second.service.state == "RUNNING"
"""
)


@sqlite_only
def test_service_module_template_name_after_a_service_of_that_name(flow, playbook):
    vm_templates(flow.admin, 32)
    ok(playbook(REINSTANTIATE_PLAY))


@sqlite_only
def test_service_module_refusals(flow, playbook):
    vm_templates(flow.admin, 32)
    users.create(flow.admin, "bob", "bobpass")
    play = (
        HEAD
        + f"""
    - name: an unknown template
      onekit.cloud.service:
        template_name: nosuch
        name: nosuch
        state: running
      register: unknown
      ignore_errors: true
    - name: no template named at all
      onekit.cloud.service:
        name: orphan
      register: orphan
      ignore_errors: true
    - name: an unknown service
      onekit.cloud.service:
        service_id: 99
        state: running
      register: missing
      ignore_errors: true
    - name: bob's template, on oneadmin's VM template (mode 600)
      onekit.cloud.service_template:
        name: bobs
        template: {j({"roles": [{"name": "solo", "vm_template": 0}]})}
        api_username: bob
        api_password: bobpass
      register: bobs
      ignore_errors: true
    - name: oneadmin's, shared with everyone
      onekit.cloud.service_template:
        name: shared
        template: {j({"roles": [{"name": "solo", "vm_template": 0}]})}
        mode: "604"
    - name: bob may not use its VM template
      onekit.cloud.service:
        template_name: shared
        name: bobs
        state: running
        api_username: bob
        api_password: bobpass
      register: refused
      ignore_errors: true
    - assert:
        that:
          - unknown is failed
          - unknown is not changed
          - "'nosuch' in unknown.msg"
          - "'does not exist' in unknown.msg"
          - orphan is failed
          - "'template_id or template_name' in orphan.msg"
          - missing is failed
          - "'service 99 does not exist' in missing.msg"
          - bobs is failed
          - bobs is not changed
          - bobs.error == "AuthorizationError"
          - refused is failed
          - refused is not changed
          - refused.error == "AuthorizationError"
          - "'TEMPLATE' in refused.msg or 'template' in refused.msg"
"""
    )
    ok(playbook(play))
    assert services.list_services(flow.admin) == []
    assert set(names_of(flow.admin)) == {"shared"}


@sqlite_only
def test_service_module_wait_timeout_on_a_service_that_cannot_deploy(flow, playbook):
    templates.create(flow.admin, VM_TEMPLATE.format(name="huge", memory=999999999))
    play = (
        HEAD
        + f"""
    - name: a template whose VM fits no host
      onekit.cloud.service_template:
        name: huge
        template: {j({"roles": [{"name": "big", "vm_template": 0}]})}
    - name: wait a little for it
      onekit.cloud.service:
        template_name: huge
        name: huge
        state: running
        wait_timeout: 8
      register: stuck
      ignore_errors: true
    - assert:
        that:
          - stuck is failed
          - >-
            ('FAILED_DEPLOYING' in stuck.msg and 'no host' in stuck.msg)
            or ('still' in stuck.msg and 'RUNNING' in stuck.msg)
"""
    )
    result = ok(playbook(play))
    (service,) = services.list_services(flow.admin)
    state = state_name(service["TEMPLATE"]["BODY"]["state"])
    assert state in ("PENDING", "DEPLOYING", "FAILED_DEPLOYING"), state
    # the message names the state the service is in
    assert state in result.stdout or "FAILED_DEPLOYING" in result.stdout, result.stdout[-2000:]

    # deleted by name from whatever state it is in, VMs and all
    ok(
        playbook(
            HEAD
            + """
    - name: gone
      onekit.cloud.service:
        name: huge
        state: absent
        wait_timeout: 240
      register: gone
    - assert:
        that:
          - gone is changed
          - gone.service.name == "huge"
"""
        )
    )
    assert services.list_services(flow.admin) == []
    wait_until(lambda: not vms.list_vms(flow.admin), "the service's VM to be deleted")


ABSENT_SERVICE_PLAY = (
    HEAD
    + """
    - name: delete it, waiting for its VMs to go
      onekit.cloud.service:
        name: solo
        state: absent
        wait_timeout: 10
      ignore_errors: true
"""
)


@sqlite_only
def test_service_module_absent_waits_for_the_vms(flow, playbook):
    vm_templates(flow.admin, 32)
    ok(
        playbook(
            HEAD
            + f"""
    - onekit.cloud.service_template:
        name: solo
        template: {j({"roles": [{"name": "solo", "cardinality": 2, "vm_template": 0}]})}
    - onekit.cloud.service:
        template_name: solo
        name: solo
        state: running
        wait_timeout: 240
"""
        )
    )
    assert len(vms.list_vms(flow.admin)) == 2
    # no LCM from now on: nothing can delete the VMs, so a wait must time out
    flow.cli("onekit-server", "stop", check=True)
    result = ok(playbook(ABSENT_SERVICE_PLAY))
    left = [vm["ID"] for vm in vms.list_vms(flow.admin)]
    fatal = [line for line in result.stdout.splitlines() if line.startswith("fatal:")]
    assert fatal and left, f"state=absent with wait succeeded, VMs {left} still exist"
    assert "still being deleted" in fatal[0], fatal


# ---- documentation ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "module, needles",
    [
        ("service", ["template_name", "cardinality", "wait_timeout", "merge_template", "EXAMPLES"]),
        ("service_template", ["template", "mode", "state", "EXAMPLES"]),
    ],
)
def test_ansible_doc(module, needles, tmp_path):
    env = {
        "PATH": str(VENV_BIN),
        "HOME": str(tmp_path),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"),
        "LANG": "C.UTF-8",
    }
    result = subprocess.run(
        [str(VENV_BIN / "ansible-doc"), f"onekit.cloud.{module}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"onekit.cloud.{module}" in result.stdout
    for needle in needles:
        assert needle in result.stdout, (needle, result.stdout[:2000])

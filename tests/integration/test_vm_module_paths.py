"""The two ways an onekit.cloud.vm task runs, through real ansible-playbook runs.

On the front-end itself (local connection, no become, the controller's own Python) the
action plugin runs the module's logic in the controller's process; anywhere else the
module runs as every module does (AnsiballZ, a second Python). Each path is proven by
what ``-vvv`` shows: the module path sends ``AnsiballZ_vm.py`` and runs it, the
controller path names itself and sends nothing. A Python interpreter of another path (a
wrapper script that runs the same venv) is "elsewhere": the plugin cannot know it is the
same Python, so it takes the module path, as it would for a remote host.

The same play runs on both paths; what the user sees (changes, refusals and their
messages, core errors, masked passwords, literal user text) must be the same.
"""

from __future__ import annotations

import json
import os
import sys
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest
from conftest import VENV_BIN
from support.plays import ok, sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates, vms
from ansible_collections.onekit.cloud.plugins.plugin_utils import source_files
from ansible_collections.onekit.cloud.plugins.plugin_utils.in_process import _python

PLAY = """
- hosts: "{{ target }}"
  gather_facts: false
  vars:
    literal_name: !unsafe '{{7*7}}-1'
    task: &task
      template_name: small
      exact_count: 2
      count_labels: [paths]
      attributes: {NAME: !unsafe '{{7*7}}-###'}
      extra_template: !unsafe 'DESCRIPTION = "{{ 7*7 }}"'
      state: running
  tasks:
    - name: deploy two VMs, named and described with text that looks like a template
      onekit.cloud.vm: *task
      register: r
    - assert:
        that:
          - r is changed
          - r.created == 2
          - r.instances | map(attribute='lcm_state') | list == ['RUNNING', 'RUNNING']
          - r.instances[0].vm_name == literal_name
          - r.diff is not defined
    - name: the same again changes nothing
      onekit.cloud.vm: *task
      register: r
    - assert:
        that:
          - r is not changed
          - r.created == 0
          - r.instances_ids | length == 2
    - name: three in check mode, with diff, would create one and creates none
      onekit.cloud.vm: {template_name: small, exact_count: 3, count_labels: [paths]}
      check_mode: true
      diff: true
      register: r
    - assert:
        that:
          - r is changed
          - r.created == 1
          - r.diff.before.instances | length == 2
    - name: an unknown option
      onekit.cloud.vm: {template_name: small, exact_cuont: 3}
      register: unknown
      ignore_errors: true
    - name: a value of the wrong type
      onekit.cloud.vm: {template_name: small, exact_count: many, count_labels: [paths]}
      register: wrong_type
      ignore_errors: true
    - name: two options that exclude each other
      onekit.cloud.vm: {template_name: small, template_id: 0}
      register: exclusive
      ignore_errors: true
    - name: a core error (no such template)
      onekit.cloud.vm: {template_name: nosuch, exact_count: 1, count_labels: [other]}
      register: core
      ignore_errors: true
    - name: a wrong password, which stays hidden
      onekit.cloud.vm:
        template_name: small
        exact_count: 2
        count_labels: [paths]
        api_username: oneadmin
        api_password: not-the-password-4217
      register: bad_login
      ignore_errors: true
    - assert:
        that:
          - item is failed
          - item is not changed
      loop: "{{ [unknown, wrong_type, exclusive, core, bad_login] }}"
      loop_control: {label: "{{ item.msg }}"}
    - copy:
        dest: "{{ out }}"
        content: "{{ answers | to_json }}"
      vars:
        answers:
          unknown: "{{ unknown.msg }}"
          wrong_type: "{{ wrong_type.msg }}"
          exclusive: "{{ exclusive.msg }}"
          core: ["{{ core.msg }}", "{{ core.error }}"]
          login: ["{{ bad_login.msg }}", "{{ bad_login.error }}"]
"""


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    """``front``: this front-end as the default inventory names it; ``elsewhere``: a local
    connection too, but through a Python of another path (a wrapper of the same venv's)."""
    wrapper = tmp_path / "other-python"
    wrapper.write_text(f'#!/bin/sh\nexec {VENV_BIN / "python"} "$@"\n')
    wrapper.chmod(0o755)
    path = tmp_path / "hosts.yml"
    path.write_text(
        "all:\n  hosts:\n"
        "    front:\n      ansible_connection: local\n"
        '      ansible_python_interpreter: "{{ ansible_playbook_python }}"\n'
        f"    elsewhere:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {wrapper}\n"
    )
    return path


@sqlite_only
@pytest.mark.skipif(
    bool(os.environ.get("ONEKIT_TEST_INTERPRETER")), reason="sends every task to the module path"
)
def test_both_paths_deploy_refuse_and_fail_alike(cloud, playbook, inventory, tmp_path):
    templates.create(cloud.admin, {"CPU": "0.1", "MEMORY": "32"}, "small")
    answers, names = {}, {}
    for target in ("front", "elsewhere"):
        out = tmp_path / f"{target}.json"
        result = ok(
            playbook(PLAY, "-vvv", "-i", str(inventory), "-e", f"target={target} out={out}")
        )
        here = "onekit.cloud.vm runs in the controller's process" in result.stdout
        module = "AnsiballZ_vm.py" in result.stdout
        assert (here, module) == ((True, False) if target == "front" else (False, True))
        # -vvv shows the task's arguments: the password masked, as AnsibleModule masks it
        assert "not-the-password-4217" not in result.stdout
        assert '"api_password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in result.stdout
        answers[target] = json.loads(out.read_text())
        live = vms.list_vms(cloud.admin)
        names[target] = sorted(vm["NAME"] for vm in live)
        assert {vm["USER_TEMPLATE"].get("DESCRIPTION") for vm in live} == {"{{ 7*7 }}"}
        ok(  # the next target starts from an empty set
            playbook(
                PLAY.split("  tasks:")[0]
                + "  tasks:\n    - onekit.cloud.vm: {instance_ids: "
                + json.dumps([vm["ID"] for vm in live])
                + ", state: absent}\n",
                "-i",
                str(inventory),
                "-e",
                f"target={target}",
            )
        )
    assert names["front"] == names["elsewhere"] == ["{{7*7}}-1", "{{7*7}}-2"]
    front = answers["front"]
    assert front == answers["elsewhere"]
    assert front["unknown"].startswith("Unsupported parameters for (onekit.cloud.vm) module:")
    assert "exact_cuont" in front["unknown"]
    assert "exact_count" in front["wrong_type"] and "int" in front["wrong_type"]
    assert front["exclusive"] == "parameters are mutually exclusive: template_id|template_name"
    assert front["core"][1] == "NotFound" and "nosuch" in front["core"][0]
    assert front["login"] == ["authentication failed for user 'oneadmin'", "AuthenticationError"]


def test_the_interpreter_test_knows_a_venv_from_its_base_python():
    """``venv/bin/python`` and ``venv/bin/python3`` are one Python; the base Python the
    venv links to is another (it cannot import what the venv installed)."""
    venv = VENV_BIN / "python"
    assert _python(str(venv)) == _python(str(VENV_BIN / "python3")) == _python(sys.executable)
    assert _python(str(venv.resolve())) != _python(str(venv))


def test_the_controller_path_loads_the_core_from_its_files_and_nothing_else():
    """Ansible's collection loader compiles on every import; the in-process path loads the
    collection's module_utils and modules as Python loads files (``__pycache__``), and
    leaves the plugins (and anything else) to the collection loader."""
    finder = source_files._SourceFiles(source_files.ROOT)
    core = finder.find_spec(f"{source_files.COLLECTION}.plugins.module_utils.core.errors")
    package = finder.find_spec(f"{source_files.COLLECTION}.plugins.module_utils.vm")
    module = finder.find_spec(f"{source_files.COLLECTION}.plugins.modules.vm")
    assert isinstance(core.loader, SourceFileLoader) and core.cached.endswith(".pyc")
    assert core.origin == str(source_files.ROOT / "plugins/module_utils/core/errors.py")
    assert package.submodule_search_locations == [
        str(source_files.ROOT / "plugins/module_utils/vm")
    ]
    assert module.origin == str(source_files.ROOT / "plugins/modules/vm.py")
    for elsewhere in (
        "plugins.action.vm",
        "plugins.plugin_utils.in_process",
        "plugins.module_utils",
    ):
        assert finder.find_spec(f"{source_files.COLLECTION}.{elsewhere}") is None
    assert finder.find_spec("ansible_collections.other.coll.plugins.module_utils.x") is None
    assert finder.find_spec(f"{source_files.COLLECTION}.plugins.module_utils.core.nosuch") is None

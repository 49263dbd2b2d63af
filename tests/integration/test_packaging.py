"""onekit installed the way its users install it, and used from outside the repository.

* ``pip install`` of the wheel (not editable) into a new virtualenv: ``onekit-server`` and
  the ``one*`` commands work, the core is imported from that venv's
  ``site-packages/ansible_collections/onekit/cloud`` (never from the repository), and the
  started server runs OneFlow's step playbook from there;
* ``ansible-galaxy collection build`` and ``install``: the tarball holds the collection and
  none of the project around it, and a playbook run elsewhere uses the installed modules
  (with their action group from ``meta/runtime.yml``).

Every command runs in a temporary directory outside the repository, with an environment
made from scratch: PATH is the system's (plus the new venv's bin), no ANSIBLE_* setting is
inherited and no ansible.cfg is in reach. The project venv has the repository's
``collections/`` on its ``sys.path`` (the editable install), which ansible would scan for
collections: the collection test turns that scan off so that only the installed copy is
there to find.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, VENV_BIN
from support.ports import free_port

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PY = f"python{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture
def work() -> Iterator[Path]:
    """A scratch directory outside the repository, removed at the end (short: the embedded
    host's libvirtd socket lives in it)."""
    path = Path(tempfile.mkdtemp(prefix="okpk-", dir="/tmp"))
    assert not path.resolve().is_relative_to(REPO)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def clean_env(home: Path, path: str = SYSTEM_PATH, **extra: str) -> dict[str, str]:
    env = {"HOME": str(home), "PATH": path, "LANG": "C.UTF-8", **extra}
    assert str(REPO) not in env["PATH"] and str(VENV_BIN) not in env["PATH"]
    return env


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    """Run a command; its stdout, or a failure that shows everything it said."""
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{args} -> {result.returncode}\n{result.stdout}{result.stderr}"
    return result.stdout


# ---- pip install of the wheel -------------------------------------------------------------
def build_wheel(work: Path) -> Path:
    out = work / "dist"
    run(
        [VENV_BIN / "python", "-m", "pip", "wheel", REPO, "--no-deps", "-q", "-w", out],
        cwd=work,
        env=os.environ.copy(),
    )
    (wheel,) = out.glob("onekit-*.whl")
    return wheel


def check_wheel_contents(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"onekit", "ansible_collections", wheel.name.split("-py3")[0] + ".dist-info"}
    collection = "ansible_collections/onekit/cloud/"
    parts = {n.split("/")[3] for n in names if n.startswith("ansible_collections/")}
    assert all(n.startswith(("onekit", collection)) for n in names)
    assert parts == {"plugins", "playbooks", "roles", "meta", "share"}, parts
    for needed in (
        "plugins/modules/vm.py",
        "plugins/module_utils/frontend/instance.py",
        "plugins/doc_fragments/connection.py",
        "playbooks/flow/step.yml",
        "playbooks/hooks/host_error.yml",
        "roles/ha_cluster/tasks/agents.yml",
        "share/fence/fence_onekit_libvirt",  # copied by the ha_cluster role
        "meta/runtime.yml",
    ):
        assert collection + needed in names
    assert "onekit/examples/tiny.tmpl" in names and "onekit/server/openapi/core.yaml" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def make_venv(work: Path, wheel: Path) -> Path:
    """A new venv with the wheel and its dependencies (from the configured index), installed
    by the project's pip: ``--without-pip`` saves ensurepip's seconds."""
    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=work, env=os.environ.copy())
    pip = [VENV_BIN / "python", "-m", "pip", "--python", venv / "bin" / "python"]
    run(
        [*pip, "install", "-q", wheel],
        cwd=work,
        env=os.environ.copy(),
        timeout=600,
    )
    return venv


def service_state(listing: str, sid: str) -> str:
    """The STATE column of ``oneflow list`` for service ``sid``."""
    rows = [line.split() for line in listing.splitlines()[1:] if line.strip()]
    return next(row[-1] for row in rows if row[0] == sid)


def test_pip_installed_server_and_commands(work: Path):
    wheel = build_wheel(work)
    check_wheel_contents(wheel)
    venv = make_venv(work, wheel)
    site = venv / "lib" / PY / "site-packages"
    home = work / "onekit"
    env = clean_env(work, f"{venv / 'bin'}:{SYSTEM_PATH}", ONEKIT_HOME=str(home))
    cwd = work

    def cmd(*args: str) -> str:
        return run(list(args), cwd=cwd, env=env, timeout=120)

    # the installed copy, and nothing of the repository, is what the venv imports
    where = json.loads(
        cmd(
            "python",
            "-c",
            "import json, sys, onekit, ansible_collections.onekit.cloud as c; "
            "print(json.dumps({'core': list(c.__path__), 'onekit': onekit.__file__, "
            "'path': sys.path}))",
        )
    )
    assert where["core"] == [str(site / "ansible_collections" / "onekit" / "cloud")]
    assert where["onekit"] == str(site / "onekit" / "__init__.py")
    assert not [p for p in where["path"] if str(REPO) in p], where["path"]
    for command in ("onekit-server", "oneuser", "onevm", "oneflow"):
        assert shutil.which(command, path=env["PATH"]) == str(venv / "bin" / command)

    usage = cmd("onekit-server", "--help")
    assert usage.startswith("usage: onekit-server") and " init " in usage, usage
    ports = [str(free_port()) for _ in range(3)]
    out = cmd("onekit-server", "init", "--examples", "--port", ports[0],
              "--flow-port", ports[1], "--gate-port", ports[2])  # fmt: skip
    assert f"onekit instance created in {home}" in out
    assert "template:    tiny (ID 0)" in out  # the example templates, from the wheel
    assert re.search(r"^\s+0 oneadmin\s+oneadmin\s+core$", cmd("oneuser", "list"), re.M)

    (work / "small.tmpl").write_text('NAME = "small"\nCPU = 0.1\nMEMORY = 32\n')
    assert cmd("onetemplate", "create", "small.tmpl") == "ID: 2\n"
    listing = cmd("onetemplate", "list")
    assert [line.split()[3] for line in listing.splitlines()[1:]] == ["tiny", "web", "small"]

    # the server, started from the venv, runs OneFlow's playbook from the installed copy
    flow_conf = home / "etc" / "oneflow-server.conf"
    flow_conf.write_text(flow_conf.read_text().replace(":lcm_interval: 30", ":lcm_interval: 1"))
    (work / "service.json").write_text(
        '{"name": "packaged", "roles": [{"name": "one", "vm_template": 2}]}'
    )
    cmd("onekit-server", "start")
    try:
        cmd("oneflow-template", "create", "service.json")
        service = re.fullmatch(r"ID: (\d+)\n", cmd("oneflow-template", "instantiate", "0"))
        assert service, "no service id"
        sid = service.group(1)
        deadline = time.monotonic() + 120
        while (state := service_state(cmd("oneflow", "list"), sid)) != "RUNNING":
            assert "FAILED" not in state, cmd("oneflow", "show", sid)
            assert time.monotonic() < deadline, f"service {sid} still {state}"
            time.sleep(0.5)
        vms = cmd("onevm", "list").splitlines()[1:]
        assert [(v.split()[3], v.split()[4]) for v in vms] == [(f"one_0_(service_{sid})", "runn")]
    finally:
        stop = subprocess.run(["onekit-server", "stop"], cwd=cwd, env=env, capture_output=True)
    assert stop.returncode == 0, stop
    runs = sorted((home / "var" / "flow-runner" / "artifacts").glob("*/command"))
    assert runs
    for command_file in runs:
        command = json.loads(command_file.read_text())
        assert command["command"][-1] == str(
            site / "ansible_collections" / "onekit" / "cloud" / "playbooks" / "flow" / "step.yml"
        )
        assert command["env"]["ANSIBLE_COLLECTIONS_PATH"] == str(site)


# ---- ansible-galaxy collection build / install --------------------------------------------
PLAYBOOK = """\
- name: onekit.cloud, installed by ansible-galaxy
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/onekit.cloud.onekit:  # meta/runtime.yml's action group
      onekit_home: {home}
  tasks:
    - name: A user
      onekit.cloud.user:
        name: packaged
        password: packaged-secret
      register: user
    - name: A template
      onekit.cloud.vm_template:
        name: packaged-small
        template: |
          CPU = 0.1
          MEMORY = 32
      register: template
    - name: Both were made
      ansible.builtin.assert:
        that: [user is changed, template is changed]
"""

FORBIDDEN = ("tests", "server", "bench", "scripts", "collections", "Makefile", "pyproject.toml")


def test_galaxy_built_collection_runs_outside_the_repository(work: Path):
    collections = work / "collections"
    installed = collections / "ansible_collections" / "onekit" / "cloud"
    env = clean_env(
        work,
        ANSIBLE_COLLECTIONS_PATH=str(collections),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False",  # the venv's sys.path has the repo's copy
        ANSIBLE_NOCOLOR="1",
    )

    def ansible(tool: str, *args: str) -> str:
        return run([VENV_BIN / tool, *args], cwd=work, env=env)

    ansible("ansible-galaxy", "collection", "build", str(REPO), "--output-path", str(work))
    (tarball,) = work.glob("onekit-cloud-*.tar.gz")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    tops = {n.split("/", 1)[0] for n in names}
    assert not tops & set(FORBIDDEN), sorted(tops)
    assert not [t for t in tops if t.startswith(".")], sorted(tops)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    for needed in (
        "MANIFEST.json",
        "README.md",
        "plugins/modules/vm.py",
        "plugins/module_utils/core/db.py",
        "meta/runtime.yml",
        "playbooks/flow/step.yml",
        "roles/ha_cluster/tasks/agents.yml",
        "share/fence/fence_onekit_libvirt",
    ):
        assert needed in names

    ansible("ansible-galaxy", "collection", "install", str(tarball), "-p", str(collections))
    listed = ansible("ansible-galaxy", "collection", "list")
    heading = re.escape(f"# {collections / 'ansible_collections'}")
    assert re.search(rf"^{heading}\n.*\n.*\nonekit\.cloud +0\.1\.0 *$", listed, re.M), listed
    assert listed.count("onekit.cloud") == 1, listed
    doc = ansible("ansible-doc", "-t", "module", "onekit.cloud.vm")
    assert f"> MODULE onekit.cloud.vm ({installed / 'plugins' / 'modules' / 'vm.py'})" in doc

    home = work / "onekit"
    cli = {**env, "ONEKIT_HOME": str(home)}
    init = run([VENV_BIN / "onekit-server", "init"], cwd=work, env=cli)
    assert f"onekit instance created in {home}" in init
    (work / "play.yml").write_text(PLAYBOOK.format(home=home))
    (work / "hosts").write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={VENV_BIN / 'python'}\n"
    )
    out = ansible("ansible-playbook", "-i", "hosts", "play.yml", "-vvv")
    assert re.search(r"^ +config file = None$", out, re.M), out  # no ansible.cfg in reach
    assert re.search(r"^localhost +: ok=3 +changed=2 .*failed=0", out, re.M), out
    used = set(re.findall(r"^Using module file (.+)$", out, re.M))
    assert used == {
        str(installed / "plugins" / "modules" / "user.py"),
        str(installed / "plugins" / "modules" / "vm_template.py"),
    }, out
    assert str(REPO / "collections") not in out and str(REPO / "plugins") not in out

    assert "packaged " in run([VENV_BIN / "oneuser", "list"], cwd=work, env=cli)
    assert " packaged-small " in run([VENV_BIN / "onetemplate", "list"], cwd=work, env=cli)

"""ansible-doc renders every module of plugins/modules/ (no instance needed).

ansible-core 2.19's text output no longer prints ``short_description``, so it is checked in
the collection listing (``ansible-doc -l``) and in the JSON form; the text form must show the
description, the options and the EXAMPLES.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO, VENV_BIN

MODULES = sorted(
    p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__"
)


def ansible_doc(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {
        "PATH": str(VENV_BIN),
        "HOME": str(home),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        [str(VENV_BIN / "ansible-doc"), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


def documented(module: str) -> tuple[dict, str]:
    """DOCUMENTATION (parsed) and EXAMPLES of a module file, read without importing it."""
    namespace: dict = {}
    source = (REPO / "plugins" / "modules" / f"{module}.py").read_text()
    for name in ("DOCUMENTATION", "EXAMPLES"):
        start = source.index(f'{name} = r"""')
        end = source.index('"""', start + len(name) + 6)
        exec(source[start : end + 3], namespace)
    return yaml.safe_load(namespace["DOCUMENTATION"]), namespace["EXAMPLES"]


def test_there_are_modules():
    assert {"user", "group", "acl"} <= set(MODULES)


# modules that take their own login options (MySQL, a cluster's CIB), not an instance's
OWN_CONNECTION = {"mysql_replication", "ha_cluster"}


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders(module, tmp_path):
    doc, examples = documented(module)
    result = ansible_doc(f"onekit.cloud.{module}", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # nothing but the page: no warning of any library
    out = result.stdout
    assert out.startswith(f"> MODULE onekit.cloud.{module} "), out[:200]
    first_line = " ".join(doc["description"][0].split()[:4])
    assert first_line in " ".join(out.split()), first_line
    for option in doc["options"]:
        assert option in out, option
    if module not in OWN_CONNECTION:  # the connection doc fragment
        for option in ("onekit_home", "api_username", "api_password"):
            assert option in out, option
    assert "EXAMPLES:" in out and "RETURN VALUES:" in out
    examples_part = out[out.index("EXAMPLES:") : out.index("RETURN VALUES:")]
    task_names = [
        line.split("name:", 1)[1].strip()
        for line in examples.splitlines()
        if line.startswith("- name:")
    ]
    assert task_names
    for name in task_names:
        assert name in examples_part, name


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_json_has_short_description(module, tmp_path):
    doc, examples = documented(module)
    result = ansible_doc("-j", f"onekit.cloud.{module}", home=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)[f"onekit.cloud.{module}"]
    assert data["doc"]["short_description"] == doc["short_description"]
    assert data["examples"].strip() == examples.strip()
    assert data["return"]


def test_collection_listing_shows_short_descriptions(tmp_path):
    result = ansible_doc("-l", "onekit.cloud", home=tmp_path)
    assert result.returncode == 0, result.stderr
    listing = {
        line.split(None, 1)[0]: line.split(None, 1)[1].strip()
        for line in result.stdout.splitlines()
        if line.strip()
    }
    assert listing == {f"onekit.cloud.{m}": documented(m)[0]["short_description"] for m in MODULES}

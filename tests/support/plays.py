"""What tests that run playbooks share: the play header and the success check."""

from __future__ import annotations

import subprocess

import pytest

# a test that runs on SQLite only (the store is not what it is about)
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])

HEAD = """
- hosts: localhost
  gather_facts: false
  tasks:
"""


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """The ansible-playbook run succeeded, every task included."""
    assert result.returncode == 0, f"playbook failed:\n{result.stdout}\n{result.stderr}"
    assert "failed=0" in result.stdout
    return result

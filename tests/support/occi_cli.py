"""Running the occi-* commands as a user does: a subprocess each, in the environment the
guide sets (OCCI_URL, ONE_AUTH) or with the options (--url, --username, --password).

A command runs as ``python -m onekit.cli.occi <name>``: the same object its console script
calls (test_occi_cli checks pyproject.toml maps every script to it), so the tests need no
reinstall of the venv to see a change."""

from __future__ import annotations

import subprocess
from pathlib import Path

from support.cli import run_module
from support.econe_cli import clean_env


def occi_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user of the instance at ``home`` with only ``extra``'s
    credentials and URL (none of the caller's OCCI_URL, ONE_AUTH...)."""
    env = clean_env(home, **extra)
    if "OCCI_URL" not in extra:
        env.pop("OCCI_URL", None)
    return env


def occi(
    name: str, *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess:
    """``<name> <args>`` (an occi-* command), its output as text."""
    return run_module("onekit.cli.occi", name, *args, env=env, timeout=timeout)

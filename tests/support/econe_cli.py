"""Running the econe-* commands as a user does: a subprocess each, in the environment the
guide sets (EC2_URL, EC2_ACCESS_KEY, EC2_SECRET_KEY, or ONE_AUTH).

A command runs as ``python -m onekit.cli.econe <name>``: the same ``Command`` object its
console script calls (test_econe_cli checks pyproject.toml maps every script to it), so the
tests need no reinstall of the venv to see a change."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from support.cli import one_line_error, run_module

# what a user's shell may hold that must not leak into a command's credentials
_CREDENTIAL_VARS = ("ONE_AUTH", "ONE_XMLRPC", "EC2_URL", "EC2_ACCESS_KEY", "EC2_SECRET_KEY")
_AWS_VARS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user of the instance at ``home`` with only ``extra``'s
    credentials (none of the caller's EC2_*, ONE_AUTH or AWS profiles)."""
    env = {k: v for k, v in os.environ.items() if k not in (*_CREDENTIAL_VARS, *_AWS_VARS)}
    env.update(
        ONEKIT_HOME=str(home),
        ONE_ENDPOINT_FILE=str(home / "one_endpoint"),
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        **extra,
    )
    return env


def econe(
    name: str, *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess:
    """``<name> <args>`` (an econe-* command), its output as text."""
    return run_module("onekit.cli.econe", name, *args, env=env, timeout=timeout)


def ok(result: subprocess.CompletedProcess) -> str:
    """The stdout of a command that must succeed (with nothing on stderr)."""
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert result.stderr == "", result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess, name: str, *needles: str) -> str:
    """A failed command: exit 1, nothing on stdout, one line ``<name>: ...`` on stderr
    holding every needle."""
    return one_line_error(result, f"{name}: ", *needles)


def rows(stdout: str) -> list[list[str]]:
    """A describe table's rows (the header first), each split on blanks."""
    return [line.split() for line in stdout.splitlines()]

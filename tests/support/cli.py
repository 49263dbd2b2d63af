"""Checks shared by the CLI tests: what a refusal looks like, logging in as someone."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def login_as(tmp_path: Path, user: str, password: str) -> dict[str, str]:
    """The environment of someone whose ONE_AUTH file holds ``user:password``."""
    path = tmp_path / f"one_auth-{user}-{uuid.uuid4().hex[:6]}"
    path.write_text(f"{user}:{password}\n")
    return {"ONE_AUTH": str(path)}


def created_id(result: subprocess.CompletedProcess) -> int:
    """The id a create command printed as ``ID: <n>``."""
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"ID: (\d+)\n", result.stdout)
    assert match, f"expected 'ID: <n>', got {result.stdout!r}"
    return int(match.group(1))


def json_of(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_error(
    result: subprocess.CompletedProcess, prog: str, command: str, *needles: str
) -> str:
    """Exit 1, nothing on stdout, one line ``<prog> <command>: ...`` holding every needle."""
    return one_line_error(result, f"{prog} {command}: ", *needles)


def run_module(
    module: str, *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess:
    """``python -m <module> <args>``: a command without its console script (the tests
    need no reinstall of the venv), its output as text."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


# a parent of the command's own, which prints the command's exit status and peak resident
# memory (KiB), then its output
_MEASURE = (
    "import resource, subprocess, sys; "
    "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
    "print(r.stdout + r.stderr, end='')"
)


def peak_memory_run(
    module: str, *args: str, env: dict[str, str], timeout: float = 600
) -> tuple[int, int, str]:
    """``python -m <module> <args>`` measured: its exit status, its peak resident memory
    in KiB, and its stdout and stderr."""
    command = [sys.executable, "-m", module, *args]
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    first, _, output = result.stdout.partition("\n")
    status, peak_kib = map(int, first.split())
    return status, peak_kib, output


def usage_error(result: subprocess.CompletedProcess, prog: str, message: str) -> None:
    """argparse's refusal: exit 2, the usage of ``prog`` then the message on stderr."""
    assert result.returncode == 2, (prog, result.stderr)
    assert result.stderr.startswith(f"usage: {prog}"), result.stderr
    assert message in result.stderr, (message, result.stderr)


def one_line_error(result: subprocess.CompletedProcess, prefix: str, *needles: str) -> str:
    """Exit 1, nothing on stdout, one line on stderr starting ``prefix`` and holding every
    needle (no traceback); that line."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {result.stderr!r}"
    assert lines[0].startswith(prefix), lines[0]
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    assert "Traceback" not in result.stderr
    return lines[0]


def assert_refused(
    cli, db, args: tuple[str, ...], *needles: str, env: dict | None = None, input: str | None = None
) -> str:
    """Run a command that must fail and check it left the store unchanged."""
    from conftest import store_snapshot

    before = store_snapshot(db)
    line = assert_error(cli(*args, env=env, input=input), args[0], args[1], *needles)
    assert store_snapshot(db) == before, f"{' '.join(args)} changed the store"
    return line


def run_help(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run a command's help with ONEKIT_HOME at an empty directory: -h needs no instance."""
    env = {"PATH": str(VENV_BIN), "ONEKIT_HOME": str(tmp_path), "HOME": str(tmp_path)}
    return subprocess.run(
        [str(VENV_BIN / args[0]), *args[1:]], capture_output=True, text=True, env=env, timeout=60
    )

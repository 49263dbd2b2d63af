"""Driving the OneFlow CLIs against the ``flow`` fixture's server, and waiting on what
``oneflow show --json`` says (generous deadlines: no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import time


def run(flow, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """One command against the flow fixture's OneFlow API."""
    return flow.cli(*args, env={"ONEFLOW_URL": flow.url, **(env or {})})


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.args, result.returncode, result.stdout, result.stderr)
    assert result.stderr == "", result.stderr
    return result.stdout


def service_json(flow, ref: str | int) -> dict:
    return json.loads(ok(run(flow, "oneflow", "show", str(ref), "--json")))["DOCUMENT"]


def state_of(doc: dict) -> str:
    from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import name

    return name(doc["TEMPLATE"]["BODY"]["state"])


def wait_state(flow, ref: str | int, *states: str, timeout: float = 240) -> dict:
    """Poll ``oneflow show --json`` until the service is in one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        doc = service_json(flow, ref)
        state = state_of(doc)
        if state in states:
            return doc
        if state.startswith("FAILED") and not any(s.startswith("FAILED") for s in states):
            log = doc["TEMPLATE"]["BODY"]["log"]
            raise AssertionError(f"service {ref} is {state}: {log}")
        if time.monotonic() > deadline:
            raise AssertionError(f"service {ref} still {state} (waiting for {states})")
        time.sleep(0.5)

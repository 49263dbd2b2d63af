"""The structure the design relies on (docs/architecture.md): what lint-imports cannot see.

lint-imports (run by ``make lint``) holds the layers; these tests hold the rest: no onekit
import is hidden inside a function, the adapters (server, CLIs, modules, the inventory
and action plugins) carry no SQL, and every feature is plugged into the core once a front-end is
loaded.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.core import events, shared_writes
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import StoreError
from ansible_collections.onekit.cloud.plugins.module_utils.federation import proxy
from ansible_collections.onekit.cloud.plugins.module_utils.frontend import (  # noqa: F401
    features,
    instance,
)
from ansible_collections.onekit.cloud.plugins.module_utils.gate import tokens
from ansible_collections.onekit.cloud.plugins.module_utils.ha import hooks
from ansible_collections.onekit.cloud.plugins.module_utils.objects import users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, sets
from ansible_collections.onekit.cloud.plugins.modules import vm as vm_module

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "plugins" / "module_utils"
ADAPTERS = [
    REPO / "server" / "onekit",
    REPO / "plugins" / "modules",
    REPO / "plugins" / "inventory",
    REPO / "plugins" / "action",
    REPO / "plugins" / "plugin_utils",
]
MODULE_UTILS = "ansible_collections.onekit.cloud.plugins.module_utils"
FEATURES = ("flow", "gate", "ha", "federation")
SQL = re.compile(
    r"\b(SELECT\s+\S+.*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b|\btx\.rows\("
)


def _python_files(*roots: Path) -> list[Path]:
    return sorted(p for root in roots for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _function_level_imports(path: Path) -> list[str]:
    # Deliberate exceptions, all for load cost, none hiding a cycle: a CLI loads the server
    # (Flask and all, about a second) only in the commands that run it; drivers/ loads a
    # driver (libvirt-python, ~40 ms a process) only when a host needs it; and the
    # front-end, the top layer (nothing below may import it, so it closes no cycle), loads
    # a feature on its first use (frontend.features), the scheduler's and the monitor's
    # config and OneGate's key when they are read (frontend.home), and what only init and
    # the servers' config readers need when they are called (frontend.instance), so a
    # module's or a CLI's start-up loads only what its run uses.
    where = path.relative_to(REPO)
    if "cli" in where.parts:
        lazy_ok: tuple[str, ...] = ("onekit.server",)
    elif where == Path("plugins/module_utils/drivers/__init__.py"):
        lazy_ok = (f"{MODULE_UTILS}.drivers",)
    elif where == Path("plugins/module_utils/frontend/features.py"):
        lazy_ok = tuple(f"{MODULE_UTILS}.{feature}" for feature in FEATURES)
    elif where == Path("plugins/module_utils/frontend/home.py"):
        lazy_ok = tuple(f"{MODULE_UTILS}.{part}" for part in ("gate", "vm"))
    elif where == Path("plugins/module_utils/frontend/instance.py"):
        lazy_ok = tuple(
            f"{MODULE_UTILS}.{part}" for part in ("flow", "gate", "econe", "occi", "objects")
        )
    else:
        lazy_ok = ()
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                module = getattr(inner, "module", None) or ""
                names = [a.name for a in getattr(inner, "names", []) if isinstance(a, ast.alias)]
                targets = [module] if module else names
                if isinstance(inner, ast.ImportFrom | ast.Import) and any(
                    n.startswith(("ansible_collections.onekit", "onekit"))
                    and not any(n == ok or n.startswith(f"{ok}.") for ok in lazy_ok)
                    for n in targets
                ):
                    found.append(f"{path.relative_to(REPO)}:{inner.lineno}")
    return found


def test_no_onekit_import_hides_inside_a_function():
    found = [hit for p in _python_files(CORE, *ADAPTERS) for hit in _function_level_imports(p)]
    assert found == [], "imports inside functions (they hide cycles): " + ", ".join(found)


def test_the_adapters_carry_no_sql():
    found = [
        f"{path.relative_to(REPO)}:{number}"
        for path in _python_files(*ADAPTERS)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SQL.search(line)
    ]
    assert found == [], "SQL in an adapter (move it into the core): " + ", ".join(found)


def _targets(handlers) -> list:
    return [h.target() if isinstance(h, features.OnFirstUse) else h for h in handlers]


def test_every_feature_is_plugged_in_once_a_front_end_is_loaded():
    assert tokens.issue in _targets(events.subscribers(events.VM_ALLOCATED))
    assert tokens.token_file in _targets(events.subscribers(events.CONTEXT_FILES))
    assert hooks.mark_failed in _targets(events.subscribers(events.VM_FAILED))
    assert hooks.mark_host_error in _targets(events.subscribers(events.HOST_ERROR))
    assert _targets(shared_writes._forwarder) == [proxy.forward]


def test_a_front_end_loads_a_feature_only_when_the_core_first_calls_it():
    """Every feature is registered in every process, but loaded on first use: a module
    that creates no VM, or a front-end that is no federation slave, never loads OneGate or
    the federation proxy (nor urllib)."""
    code = (
        "import sys\n"
        "from ansible_collections.onekit.cloud.plugins.modules import vm\n"
        f"from {MODULE_UTILS}.core import events\n"
        f"loaded = lambda name: '{MODULE_UTILS}.' + name in sys.modules\n"
        "before = [loaded(n) for n in ('gate.tokens', 'federation.proxy', 'flow.config')]\n"
        "print(before, 'urllib.request' in sys.modules)\n"
        "events.publish(events.CONTEXT_FILES, b'secret', {'ID': 1})\n"
        "print(loaded('gate.tokens'), loaded('federation.proxy'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["[False, False, False] False", "True False"]


def test_subscribing_twice_runs_a_handler_once():
    seen = []
    events.subscribe(events.VM_FAILED, seen.append)
    events.subscribe(events.VM_FAILED, seen.append)
    try:
        events.publish(events.VM_FAILED, {"ID": 1})
        assert len(seen) == 1
    finally:
        events._handlers[events.VM_FAILED].remove(seen.append)


def test_an_unknown_event_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="vm-failed"):
        events.subscribe("vm-exploded", print)


class _SlaveSession:
    master_endpoint = "http://127.0.0.1:9"
    credentials = ("alice", "secret")
    zone = 100


def test_a_slave_without_the_proxy_refuses_a_shared_write_instead_of_writing_its_replica():
    saved = list(shared_writes._forwarder)
    shared_writes._forwarder.clear()
    try:
        with pytest.raises(StoreError, match="only the master does"):
            users.create(_SlaveSession(), "bob", "pw")
    finally:
        shared_writes._forwarder[:] = saved


def test_the_vm_module_offers_every_state_and_action_the_core_has():
    """vm.py's options come from its DOCUMENTATION alone: a state or action the core gains
    must be documented there too, or the module would refuse it."""
    spec = vm_module.ARGUMENT_SPEC
    assert tuple(spec["state"]["choices"]) == sets.STATES
    assert tuple(spec["action"]["choices"]) == lifecycle.ACTIONS
    assert spec["sets"]["options"]["state"]["choices"] == spec["state"]["choices"]
    assert spec["sets"]["options"]["action"]["choices"] == spec["action"]["choices"]


def test_the_core_loads_without_libvirt_and_a_host_says_what_is_missing():
    """ansible-test's sanity venv (and a controller) may lack libvirt-python: the modules
    must still load without it, and only a host's driver fails, naming the fix."""
    code = (
        "import sys; sys.modules['libvirt'] = None\n"
        "from ansible_collections.onekit.cloud.plugins.module_utils import drivers\n"
        "from ansible_collections.onekit.cloud.plugins.module_utils.frontend import instance\n"
        "from ansible_collections.onekit.cloud.plugins.modules import vm, host\n"
        "try:\n"
        "    drivers.driver_for({'NAME': 'kvm1', 'VM_MAD': 'kvm', 'TEMPLATE': {}})\n"
        "except drivers.DriverError as err:\n"
        "    print(err)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("host kvm1: the libvirt Python bindings cannot be imported")
    assert "pip install libvirt-python" in out

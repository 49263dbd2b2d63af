"""Running the server's own playbooks (OneFlow steps, HA hooks) through ansible-runner.

Everything a playbook is handed may hold text users or guests wrote: a role's
``vm_template_contents``, a service or VM name, a host name. Ansible renders every
extra var as a Jinja2 template, so such text would run as code on the front-end
(``{{ lookup('pipe', ...) }}``). Here it never can:

* the variables go to ``ansible-playbook`` in a YAML file (``-e @file``), never on its
  command line (where ``ps`` shows them to every local user): the file is mode 600 in a
  directory only the server's user can enter, and it is removed after the run;
* every string in that file, keys included, is tagged ``!unsafe``, Ansible's own mark
  for data that is never templated: it reaches the modules exactly as written.

``run_playbook`` is the one way the server's loops (``flow_runner``, ``hook_runner``) run
a playbook: it hands them each ansible-runner event as a ``RunnerEvent`` (the task, its
module, its result, the vm module's per-order ``sets``), and answers a ``PlaybookRun``,
whose ``tail`` explains a run that failed without saying why, and whose ``error`` says
why ansible-runner could not run it at all.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

from ansible_collections.onekit.cloud.plugins import module_utils
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from onekit.server import metrics

# Where the core was imported from: collections/ansible_collections/onekit/cloud (a link
# to the repository) in a checkout, site-packages/ansible_collections/onekit/cloud when
# onekit is installed (`pip install .`); either holds the playbooks and the modules.
_MODULE_UTILS = Path(next(iter(module_utils.__path__)))
COLLECTION_ROOT = _MODULE_UTILS.parents[1]  # .../ansible_collections/onekit/cloud
COLLECTIONS_PATH = _MODULE_UTILS.parents[4]  # the directory that holds ansible_collections/
PLAYBOOKS = COLLECTION_ROOT / "playbooks"


class _UnsafeDumper(yaml.SafeDumper):
    """YAML in which every string is ``!unsafe``."""


def _unsafe_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("!unsafe", value, style='"')


_UnsafeDumper.add_representer(str, _unsafe_str)


def unsafe_yaml(data: dict[str, Any]) -> str:
    """``data`` as YAML for ``ansible-playbook -e @file``: strings are never templated."""
    return yaml.dump(data, Dumper=_UnsafeDumper, sort_keys=False, allow_unicode=True)


def write_private_vars(directory: Path, data: dict[str, Any], stem: str = "vars") -> Path:
    """Write ``data`` (as ``unsafe_yaml``) to a new file in ``directory`` that only the
    server's user can read; returns its path."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"{stem}-{uuid.uuid4().hex}.yml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(unsafe_yaml(data))
    return path


def run_local_playbook(
    instance: Instance,
    data_dir: Path,
    playbook: Path,
    variables: dict[str, Any],
    on_event: Callable[[dict], bool],
    **options: Any,
) -> Any:
    """One ansible-runner run of a server playbook on this machine, with this Python (its
    ansible-playbook and the onekit core) and the instance's home. ``variables`` reach
    the playbook as data (see the module's docstring); ``options`` go to
    ``ansible_runner.run`` (``rotate_artifacts``)."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)  # the runner's artifacts hold the modules' arguments too
    vars_file = write_private_vars(data_dir, variables)
    try:
        return ansible_runner.run(
            private_data_dir=str(data_dir),
            playbook=str(playbook),
            inventory=(
                f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}"
            ),
            cmdline=f"-e {shlex.quote('@' + str(vars_file))}",
            envvars={
                "ONEKIT_HOME": str(instance.home),
                "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH),
                "ANSIBLE_NOCOLOR": "1",
                # this Python's ansible-playbook (a venv's bin may not be on PATH)
                "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            },
            event_handler=on_event,
            quiet=True,
            suppress_env_files=True,
            **options,
        )
    finally:
        vars_file.unlink(missing_ok=True)


@dataclass(frozen=True)
class RunnerEvent:
    """What the loops read of one ansible-runner event."""

    kind: str  # runner_on_start, runner_on_ok, runner_on_failed...
    task: str  # the task's name
    module: str  # its module's short name: vm for onekit.cloud.vm
    res: dict[str, Any]  # the task's result ({} if it has none)

    @classmethod
    def of(cls, event: dict[str, Any]) -> RunnerEvent:
        data = event.get("event_data") or {}
        res = data.get("res")
        return cls(
            kind=str(event.get("event", "")),
            task=str(data.get("task", "")),
            module=str(data.get("task_action", "")).split(".")[-1],
            res=res if isinstance(res, dict) else {},
        )

    @property
    def failed(self) -> bool:
        return self.kind == "runner_on_failed"

    @property
    def finished(self) -> bool:
        """A task's result on a host (ok or failed)."""
        return self.kind in ("runner_on_ok", "runner_on_failed")

    def items(self) -> list[dict[str, Any]] | None:
        """The vm module's result per order (``sets``), or None when the task answered
        none (it failed as a whole, or is another module)."""
        sets = self.res.get("sets")
        if not isinstance(sets, list):
            return None
        return [item for item in sets if isinstance(item, dict)]


@dataclass
class PlaybookRun:
    """How a run ended: ansible-runner's status and rc, or ``error``, why the runner
    could not run the playbook at all (status ``error``, rc -1)."""

    status: str
    rc: int
    runner: Any = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.status != "successful" or self.rc != 0

    def tail(self) -> str:
        """Why the run failed when no task said (see ``stdout_tail``)."""
        return stdout_tail(self.runner)


def run_playbook(
    instance: Instance,
    data_dir: Path,
    playbook: Path,
    variables: dict[str, Any],
    on_event: Callable[[RunnerEvent], None],
    what: str,
    log: logging.Logger,
    **options: Any,
) -> PlaybookRun:
    """``run_local_playbook``, each event handed to ``on_event`` as it comes; a runner
    that breaks (it could not start ansible-playbook, a bug) is logged on ``log`` as
    "ansible-runner could not run ``what``" and answered as a run with ``error``."""

    def handler(event: dict) -> bool:
        on_event(RunnerEvent.of(event))
        return True  # keep every event in the artifacts

    started = time.monotonic()
    try:
        runner = run_local_playbook(instance, data_dir, playbook, variables, handler, **options)
    except Exception as err:  # the runner itself broke
        log.exception("ansible-runner could not run %s", what)
        run = PlaybookRun("error", -1, error=f"ansible-runner failed: {err}")
    else:
        run = PlaybookRun(runner.status, runner.rc, runner)
    metrics.observe_runner_call(playbook, run.status, started)
    return run


def stdout_tail(runner: Any, lines: int = 3) -> str:
    """The last lines of a run's output, on one line (why a playbook failed when no task
    said: it did not parse, a module was missing)."""
    try:
        text = runner.stdout.read()
    except Exception:
        return f"{runner.status}, rc {runner.rc}"
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) or f"{runner.status}, rc {runner.rc}"

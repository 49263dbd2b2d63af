"""The action plugin of a onekit module: on the front-end itself, the module's logic runs in
the controller's process; anywhere else, the module runs as every module does.

A module task costs a second Python on the target: Ansible zips the module with its
module_utils (AnsiballZ), starts an interpreter that imports them and AnsibleModule, and
reads the JSON answer back. When the target is the front-end itself (a local connection,
no ``become``, and the task's Python interpreter is the controller's own, in the same
virtualenv) that process
is the controller's twin: the same Python, the same files, the same user. The logic then
runs here, with what the controller has already loaded, and answers as the module would:
the same argument spec and validation messages (``ArgumentSpecValidator``, as AnsibleModule
uses it), check and diff mode, the task's ``environment``, ``no_log`` values masked, and
core errors mapped to a failed result by the same ``ModuleRun.outcome``.

In every other case (another connection, ``become``, another interpreter, ``async``) the
module runs normally (``_execute_module``), so a remote target sees no difference. The
module is imported only on the in-process path: a controller that manages remote
front-ends needs none of the core's dependencies.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.json import Direction, get_module_encoder
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.onekit.cloud.plugins.plugin_utils import source_files

display = Display()


class InProcessAction(ActionBase):
    """Subclasses name their module (``MODULE``, a dotted import path); the module has
    ``SPEC`` (a ``ModuleSpec``), ``apply(run) -> dict`` and ``ModuleRun`` (imported from
    ``frontend.ansible_module``: taken from the module, so that this file loads no core)."""

    MODULE: str
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        elsewhere = self._not_here(task_vars)
        if elsewhere:
            display.vvv(f"{self._task.action} runs as a module: {elsewhere}")
            wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
            result.update(self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        display.vvv(f"{self._task.action} runs in the controller's process (the front-end)")
        result.update(self._run_here())
        return result

    def _not_here(self, task_vars: dict[str, Any]) -> str | None:
        """Why the task's target is not this process's twin; None when it is."""
        if self._connection.transport != "local":
            return f"the connection is {self._connection.transport}, not local"
        if self._play_context.become:
            return "the task becomes another user"
        if self._task.async_val:
            return "the task is async"
        host_vars = task_vars
        if self._task.delegate_to:
            host_vars = task_vars.get("ansible_delegated_vars", {}).get(self._task.delegate_to, {})
        interpreter = self._templar.template(host_vars.get("ansible_python_interpreter"))
        if not isinstance(interpreter, str) or _python(interpreter) != _python(sys.executable):
            return f"its Python ({interpreter}) is not the controller's ({sys.executable})"
        return None

    def _run_here(self) -> dict[str, Any]:
        source_files.install()  # the core compiled once, not on every task
        module = importlib.import_module(self.MODULE)
        spec = module.SPEC
        # plain data, as the module would receive it: encoded as _execute_module encodes it
        encoder = get_module_encoder("legacy", Direction.CONTROLLER_TO_MODULE)
        args = json.loads(json.dumps(dict(self._task.args), cls=encoder))
        environment: dict[str, Any] = {}
        self._compute_environment_string(environment)
        with _environment(environment):
            validated = ArgumentSpecValidator(**spec.validator_args()).validate(args)
            params = validated.validated_parameters
            hidden = validated._no_log_values
            invocation = {"module_args": _masked(params, hidden)}
            if validated.errors.errors:
                msg = validated.errors.msg
                # in the words of AnsibleModule
                if isinstance(validated.errors.errors[0], UnsupportedError):
                    msg = f"Unsupported parameters for ({self._task.action}) module: {msg}"
                return {"failed": True, "msg": msg, "invocation": invocation}
            run = module.ModuleRun(params, bool(self._task.check_mode), bool(self._task.diff))
            run.warnings.extend(
                f"Both option {w['option']} and its alias {w['alias']} are set."
                for w in validated._warnings
            )
            result = run.outcome(module.apply)
        # the JSON a module answers (no tuples, string keys), masked as exit_json masks it
        result = _masked(json.loads(json.dumps(result)), hidden)
        if run.warnings:
            result["warnings"] = run.warnings
        result["invocation"] = invocation
        return result


def _python(path: str) -> tuple[str, str | None]:
    """What makes a Python environment: its binary and its virtualenv (the pyvenv.cfg
    Python looks for beside the path as given, or one level up). ``venv/bin/python`` and
    ``venv/bin/python3`` are the same; the venv's Python and the one it links to are not."""
    where = os.path.dirname(os.path.abspath(path))
    venv = next(
        (d for d in (where, os.path.dirname(where)) if os.path.isfile(f"{d}/pyvenv.cfg")), None
    )
    return os.path.realpath(path), venv


def _masked(value: dict[str, Any], hidden: set[str]) -> dict[str, Any]:
    """``value`` with the ``no_log`` options' values masked, as AnsibleModule's exit_json
    does (its booleans and None kept); nothing to walk when no such option was given."""
    if not hidden:
        return value
    kept = {k: v for k, v in value.items() if v is None or isinstance(v, bool)}
    return {**remove_values(value, hidden), **kept}


@contextlib.contextmanager
def _environment(values: dict[str, Any]) -> Iterator[None]:
    """The task's ``environment`` (the module's process would have it), for this run only."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update({name: str(value) for name, value in values.items()})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

"""oned.conf's hooks, written as the guide writes them (Advanced Administration Guide,
4.1 Virtual Machines High Availability, and oned.conf's samples)::

    HOST_HOOK = [
        name      = "error",
        on        = "ERROR",
        command   = "ft/host_error.rb",
        arguments = "$HID -r",
        remote    = "no" ]

    VM_HOOK = [
       name      = "on_failure_recreate",
       on        = "FAILED",
       command   = "onevm",
       arguments = "delete --recreate $ID" ]

The host hook is ``ft/host_error`` (``host_error.rb`` and ``$ID`` too; its arguments are
``host_error.parse_arguments``'s). The VM hook is ``onevm delete --recreate $ID`` or
``onevm delete $ID`` however command and arguments split them (4.x's sample has
``command = "/usr/bin/env onevm delete --recreate", arguments = "$ID"``), or 5.0's
``onevm recover --recreate|--delete $ID``. Use one of each: oned.conf's samples say so,
and two would fight over the same VMs. Hooks on other events, other commands and
``remote = "yes"`` are refused with a ConfigError naming the key: onekit runs these two
(as ansible-runner playbooks in ``playbooks/hooks/``, see ``onekit.server.hook_runner``),
and a hook that would silently not run is worse than a server that does not start.

A host's move into ERROR (``monitor``) and a VM's into FAILED (``lifecycle``, whichever
process made it) leave a mark in its body, written in the transaction of the move; the
server's hook runner claims marks once (``claim_host_errors``, ``claim_failed``), so a
hook fires once per transition, even when the failure happened in a CLI or a module, or
the server that saw it died before running the hook.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import (
    pool,
    schema,
    template,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    ConfigError,
    InvalidInput,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import HostState, VmState
from ansible_collections.onekit.cloud.plugins.module_utils.ha import host_error

Body = dict[str, Any]
FAILED_MARK = "HOOK_ON_FAILED"  # in a VM's body: it went FAILED, its hook has not run
HOST_ERROR_MARK = "HOOK_ON_ERROR"  # in a host's body: it went ERROR, its hook has not run
HOST_COMMANDS = ("host_error", "host_error.rb")
VM_MODES = ("recreate", "delete")
VM_ACTIONS = {"recreate": "delete-recreate", "delete": "delete"}


@dataclass(frozen=True)
class HostHook:
    """A HOST_HOOK on ERROR running ft/host_error."""

    name: str
    command: str
    arguments: str
    options: host_error.Options
    remote: str = "no"
    on: str = "ERROR"

    @property
    def playbook(self) -> str:
        return "host_error"


@dataclass(frozen=True)
class VmHook:
    """A VM_HOOK on FAILED running onevm delete [--recreate] $ID."""

    name: str
    command: str
    arguments: str
    mode: str  # recreate or delete
    on: str = "FAILED"

    @property
    def action(self) -> str:
        return VM_ACTIONS[self.mode]

    @property
    def playbook(self) -> str:
        return "vm_failed"


def _label(key: str, index: int, section: dict) -> str:
    name = section.get("NAME")
    return f'{key} "{name}"' if isinstance(name, str) and name.strip() else f"{key} #{index + 1}"


def _field(section: dict, key: str, label: str, where: Path, default: str | None = None) -> str:
    value = section.get(key)
    if value is None:
        if default is not None:
            return default
        raise ConfigError(f"{where}: {label} has no {key}; the guide's hooks give one")
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {label}: {key} must be a single value")
    return value.strip()


def _sections(tpl: dict, key: str, where: Path) -> list[dict]:
    value = tpl.get(key)
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    for item in values:
        if not isinstance(item, dict):
            raise ConfigError(
                f'{where}: {key} must be a vector, {key} = [ name = "...", on = "...", '
                'command = "...", arguments = "..." ]'
            )
    return values


def _check_on(section: dict, label: str, wanted: str, where: Path) -> None:
    on = _field(section, "ON", label, where).upper()
    if on != wanted:
        raise ConfigError(
            f"{where}: {label}: ON = {on!r} is not run by onekit; its "
            f"{label.split()[0]}s run on {wanted} only"
        )


def _remote(section: dict, label: str, where: Path) -> str:
    remote = _field(section, "REMOTE", label, where, "no").lower()
    if remote not in ("no", "yes"):
        raise ConfigError(f'{where}: {label}: REMOTE must be "no" or "yes", got {remote!r}')
    if remote == "yes":
        raise ConfigError(
            f'{where}: {label}: REMOTE = "yes" cannot run: the hook acts from the front-end '
            "(the failed host is not there to run it)"
        )
    return remote


def _host_hook(section: dict, label: str, where: Path) -> HostHook:
    _check_on(section, label, "ERROR", where)
    command = _field(section, "COMMAND", label, where)
    if os.path.basename(command) not in HOST_COMMANDS:
        raise ConfigError(
            f"{where}: {label}: COMMAND = {command!r} is not run by onekit; its host hook is "
            'the guide\'s ft/host_error (command = "ft/host_error")'
        )
    arguments = _field(section, "ARGUMENTS", label, where)
    try:
        options = host_error.parse_arguments(arguments)
    except InvalidInput as err:
        raise ConfigError(f"{where}: {label}: ARGUMENTS: {err}") from None
    return HostHook(
        _field(section, "NAME", label, where, ""),
        command,
        arguments,
        options,
        _remote(section, label, where),
    )


_VM_FORMS = (
    "onevm delete --recreate $ID, onevm delete $ID, or onevm recover --recreate|--delete $ID"
)


def parse_vm_command(command: str, arguments: str) -> str:
    """The VM hook's mode, recreate or delete, from its command and arguments."""
    try:
        words = shlex.split(command) + shlex.split(arguments)
    except ValueError as err:
        raise InvalidInput(f"cannot split the command into words: {err}") from None
    if words and os.path.basename(words[0]) == "env":
        words = words[1:]
    if not words or os.path.basename(words[0]) != "onevm":
        raise InvalidInput(f"onekit runs {_VM_FORMS}; got {' '.join(words) or 'nothing'}")
    verb, rest = (words[1] if len(words) > 1 else ""), words[2:]
    flags = sorted(w for w in rest if w.startswith("-"))
    ids = [w for w in rest if not w.startswith("-")]
    if ids != ["$ID"]:
        raise InvalidInput(f"the VM must be named once, as $ID ({_VM_FORMS}); got {ids or 'none'}")
    if verb == "delete" and flags in ([], ["--recreate"]):
        return "recreate" if flags else "delete"
    if verb == "recover" and flags in (["--recreate"], ["--delete"]):
        return flags[0][2:]
    raise InvalidInput(f"onekit runs {_VM_FORMS}; got {' '.join(words)}")


def _vm_hook(section: dict, label: str, where: Path) -> VmHook:
    _check_on(section, label, "FAILED", where)
    _remote(section, label, where)
    command = _field(section, "COMMAND", label, where)
    arguments = _field(section, "ARGUMENTS", label, where, "")
    try:
        mode = parse_vm_command(command, arguments)
    except InvalidInput as err:
        raise ConfigError(f"{where}: {label}: COMMAND and ARGUMENTS: {err}") from None
    return VmHook(_field(section, "NAME", label, where, ""), command, arguments, mode)


def parse_hooks(tpl: dict, where: Path) -> tuple[tuple[HostHook, ...], tuple[VmHook, ...]]:
    """oned.conf's HOST_HOOK and VM_HOOK vectors; ConfigError names the bad one."""
    host_hooks = tuple(
        _host_hook(s, _label("HOST_HOOK", i, s), where)
        for i, s in enumerate(_sections(tpl, "HOST_HOOK", where))
    )
    vm_hooks = tuple(
        _vm_hook(s, _label("VM_HOOK", i, s), where)
        for i, s in enumerate(_sections(tpl, "VM_HOOK", where))
    )
    for key, found in (("HOST_HOOK", host_hooks), ("VM_HOOK", vm_hooks)):
        if len(found) > 1:
            names = ", ".join(h.name or "(no name)" for h in found)
            raise ConfigError(
                f"{where}: {key} is given {len(found)} times ({names}); use only one: "
                "two would act on the same VMs"
            )
    return host_hooks, vm_hooks


def render_hooks(host_hooks: tuple[HostHook, ...], vm_hooks: tuple[VmHook, ...]) -> str:
    """oned.conf text for the hooks (the guide's samples, commented out, when none)."""
    text = (
        "\n# VM high availability (the guide's 4.1). A host that goes ERROR runs ft/host_error\n"
        "# (-r recreate, -d delete, -m reschedule; -f also SUSPENDED/POWEROFF VMs; -p N wait N\n"
        "# monitoring cycles; --fence CMD first); a VM that goes FAILED runs onevm delete.\n"
    )
    if not host_hooks:
        text += (
            '# HOST_HOOK = [ name = "error", on = "ERROR", command = "ft/host_error",\n'
            '#               arguments = "$HID -r", remote = "no" ]\n'
        )
    if not vm_hooks:
        text += (
            '# VM_HOOK = [ name = "on_failure_recreate", on = "FAILED", command = "onevm",\n'
            '#             arguments = "delete --recreate $ID" ]\n'
        )
    for hook in host_hooks:
        vector = {"NAME": hook.name, "ON": hook.on, "COMMAND": hook.command}
        vector.update(ARGUMENTS=hook.arguments, REMOTE=hook.remote)
        text += template.dumps({"HOST_HOOK": vector})
    for hook in vm_hooks:
        vector = {"NAME": hook.name, "ON": hook.on, "COMMAND": hook.command}
        vector["ARGUMENTS"] = hook.arguments
        text += template.dumps({"VM_HOOK": vector})
    return text


# ---- the marks ----------------------------------------------------------------------------
def mark_host_error(host: Body) -> None:
    """Called as a host goes ERROR (inside the monitor's transaction)."""
    host[HOST_ERROR_MARK] = True


def claim_host_errors(session) -> tuple[list[Body], list[Body]]:
    """The hosts that went ERROR since their hook last ran, marks cleared: (those still
    ERROR, those that are not any more)."""
    with session.read() as w:
        marked = [h["ID"] for h in pool.all_bodies(w.tx, schema.HOSTS) if h.get(HOST_ERROR_MARK)]
    if not marked:
        return [], []
    claimed, stale = [], []
    with session.write() as w:
        for host_id in sorted(marked):
            host = pool.get(w.tx, schema.HOSTS, host_id, lock=True)
            if host is None or not host.pop(HOST_ERROR_MARK, None):
                continue
            pool.update(w.tx, schema.HOSTS, host)
            (claimed if host["STATE"] == HostState.ERROR else stale).append(host)
    return claimed, stale


def mark_failed(vm: Body) -> None:
    """Called as a VM goes FAILED (inside the writer's transaction)."""
    vm[FAILED_MARK] = True


def claim_failed(session) -> list[Body]:
    """The FAILED VMs whose hook has not run since they failed, their marks cleared in
    the same transaction (so each transition is claimed once)."""
    with session.read() as w:
        if not w.tx.rows("SELECT oid FROM vm_pool WHERE state = ?", (int(VmState.FAILED),)):
            return []
    claimed = []
    with session.write() as w:
        rows = w.tx.rows(
            "SELECT oid FROM vm_pool WHERE state = ? ORDER BY oid" + w.tx.for_update,
            (int(VmState.FAILED),),
        )
        for (oid,) in rows:
            vm = pool.get(w.tx, schema.VMS, oid, lock=True)
            if vm is None or not vm.pop(FAILED_MARK, None):
                continue
            pool.update(w.tx, schema.VMS, vm)
            claimed.append(vm)
    return claimed


def vm_orders(hook: VmHook, vms: list[Body]) -> list[dict[str, Any]]:
    """The vm module's ``sets`` items for the failed VMs, one per VM."""
    return [
        {"label": f"VM {vm['ID']}", "action": hook.action, "instance_ids": [vm["ID"]]} for vm in vms
    ]

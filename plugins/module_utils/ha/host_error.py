"""What the guide's host hook (``ft/host_error``) decides when a host goes ERROR: its
arguments, and which VMs get which action. Pure functions; the server's hook runner
(``onekit.server.hook_runner``) reads the store, calls these, and has
``playbooks/hooks/host_error.yml`` carry the orders out.

Arguments, as ``HOST_HOOK``'s ``ARGUMENTS`` gives them (4.x ``host_error.rb`` and 5.x)::

    $HID                 the failed host (``$ID`` too); required
    -r, --recreate       resubmit the VMs (``onevm delete --recreate``): PENDING, placed anew
    -d, --delete         delete the VMs
    -m, --migrate        reschedule the VMs to another host. onekit has no migration (no
                         shared storage, no live migration): the VM is resubmitted and the
                         scheduler redeploys it on another MONITORED host, which is what
                         -r does too; the host it failed on is ERROR, so never chosen
    -f, --force          also SUSPENDED and POWEROFF VMs (4.x failed on them: its
                         resubmit refused both; here they are resubmitted too, as 5.x's
                         ``recover --recreate`` does: their memory went with the host)
    -p N, --pause N      wait N monitoring cycles, then read the host again and do nothing
                         if it is no longer ERROR (4.x tested the host object read before
                         its sleep, so it never noticed a recovery)
    --fence CMD          onekit's (5.2 fences by default): run CMD before any VM is
                         touched; if it fails or times out, no VM is touched. CMD is one
                         argument (quote it: ``--fence '/usr/sbin/fence_ipmilan -o off'``);
                         ``$HID`` and ``$HOST`` in it become the host's id and name, and a
                         CMD whose first word ends in ``.yml`` is a playbook, run with
                         ansible-playbook (``-e one_host_id=... -e one_host_name=...``)
    --fence-timeout S    how long fencing may take (default 60 s)

Only the mode is required to be single: ``-r -d`` is refused (4.x silently took the last).
Short flags may be bundled (``-rf``), as Ruby's GetoptLong allows.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    HostState,
    Lcm,
    VmState,
    state_name,
)

Body = dict[str, Any]
MODES = ("recreate", "delete", "migrate")
HOST_PLACEHOLDERS = ("$HID", "$ID")
DEFAULT_FENCE_TIMEOUT = 60
MAX_PAUSE = 1000  # monitoring cycles
_FLAGS = {"r": "recreate", "d": "delete", "m": "migrate"}
_LONG = {"--recreate": "recreate", "--delete": "delete", "--migrate": "migrate"}
# The vm module action each mode takes (-m: see the module docstring).
ACTION = {"recreate": "delete-recreate", "delete": "delete", "migrate": "delete-recreate"}


@dataclass(frozen=True)
class Options:
    mode: str = "recreate"
    force: bool = False
    pause: int = 0
    fence: str = ""  # the command line, as written
    fence_timeout: int = DEFAULT_FENCE_TIMEOUT

    @property
    def action(self) -> str:
        return ACTION[self.mode]


def _number(flag: str, value: str | None, low: int, high: int, what: str) -> int:
    if value is None:
        raise InvalidInput(f"{flag} needs {what}")
    text = value.strip()
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise InvalidInput(f"{flag} needs {what} from {low} to {high}, got {value!r}")
    return int(text)


def parse_arguments(text: str) -> Options:
    """``ARGUMENTS`` of the host hook -> Options; InvalidInput says what is wrong."""
    try:
        words = shlex.split(text)
    except ValueError as err:
        raise InvalidInput(f"cannot split {text!r} into words: {err}") from None
    modes: list[str] = []
    force, pause, fence, fence_timeout = False, 0, "", DEFAULT_FENCE_TIMEOUT
    hosts: list[str] = []
    i = 0

    def value_of(word: str, inline: str | None) -> str | None:
        nonlocal i
        if inline is not None:
            return inline
        if i + 1 < len(words):
            i += 1
            return words[i]
        return None

    while i < len(words):
        word = words[i]
        name, eq, inline = word.partition("=")
        inline_value = inline if eq else None
        if word in _LONG:
            modes.append(_LONG[word])
        elif word == "--force":
            force = True
        elif name == "--pause":
            pause = _number("--pause", value_of(word, inline_value), 0, MAX_PAUSE, "a cycle count")
        elif name == "--fence":
            fence = (value_of(word, inline_value) or "").strip()
            if not fence:
                raise InvalidInput("--fence needs a command (quote it if it has blanks)")
        elif name == "--fence-timeout":
            fence_timeout = _number(
                "--fence-timeout", value_of(word, inline_value), 1, 3600, "seconds"
            )
        elif word.startswith("--"):
            raise InvalidInput(f"unknown option {word}")
        elif word.startswith("-") and len(word) > 1:
            letters = word[1:]
            for j, letter in enumerate(letters):
                if letter in _FLAGS:
                    modes.append(_FLAGS[letter])
                elif letter == "f":
                    force = True
                elif letter == "p":
                    rest = letters[j + 1 :] or None
                    pause = _number("-p", value_of(word, rest), 0, MAX_PAUSE, "a cycle count")
                    break
                else:
                    raise InvalidInput(f"unknown option -{letter}")
        else:
            hosts.append(word)
        i += 1
    if len(hosts) != 1 or hosts[0] not in HOST_PLACEHOLDERS:
        raise InvalidInput(
            f"the arguments must name the failed host once, as $HID (or $ID), got {hosts or 'none'}"
        )
    if len(set(modes)) > 1:
        raise InvalidInput(f"use only one of -r, -d and -m (got {', '.join(modes)})")
    if fence:
        fence_words(fence)  # checked now, not when a host fails
    return Options(modes[0] if modes else "recreate", force, pause, fence, fence_timeout)


def render_arguments(options: Options) -> str:
    """Options -> ARGUMENTS text that parses back to them."""
    words = ["$HID", "-" + {"recreate": "r", "delete": "d", "migrate": "m"}[options.mode]]
    if options.force:
        words.append("-f")
    if options.pause:
        words += ["-p", str(options.pause)]
    if options.fence:
        words += ["--fence", shlex.quote(options.fence)]
    if options.fence_timeout != DEFAULT_FENCE_TIMEOUT:
        words += ["--fence-timeout", str(options.fence_timeout)]
    return " ".join(words)


_PLACEHOLDER = re.compile(r"\$(?:HOST|HID|ID)")


def fence_words(fence: str) -> list[str]:
    try:
        words = shlex.split(fence)
    except ValueError as err:
        raise InvalidInput(f"--fence: cannot split {fence!r} into words: {err}") from None
    if not words:
        raise InvalidInput("--fence needs a command")
    if words[0].endswith((".yml", ".yaml")) and any(_PLACEHOLDER.search(w) for w in words):
        # ansible-playbook would render a host name put into its command line
        raise InvalidInput(
            "--fence: a fence playbook gets the host as the variables one_host_id and "
            "one_host_name; leave $HOST, $HID and $ID out of its command line"
        )
    return words


def fence_argv(
    options: Options, host: Body, playbook_runner: str = "ansible-playbook", vars_file: str = ""
) -> list[str]:
    """The fence step's command line for this host (empty: no fencing). A fence playbook
    gets the host as ``one_host_id``/``one_host_name`` from ``vars_file``, which the
    caller writes from ``fence_vars`` as data Ansible never templates (a host's name is
    a user's text)."""
    if not options.fence:
        return []
    words = fence_words(options.fence)
    if fence_is_playbook(options):
        if not vars_file:
            raise InvalidInput("a fence playbook needs the file of its variables")
        return [playbook_runner, *words, "-e", f"@{vars_file}"]
    values = {"$HID": str(host["ID"]), "$ID": str(host["ID"]), "$HOST": str(host["NAME"])}
    # one pass: a host name holding "$ID" stays as it is
    return [_PLACEHOLDER.sub(lambda m: values[m.group(0)], word) for word in words]


def fence_is_playbook(options: Options) -> bool:
    return bool(options.fence) and fence_words(options.fence)[0].endswith((".yml", ".yaml"))


def fence_vars(host: Body) -> dict[str, Any]:
    """What a fence playbook is told of the host."""
    return {"one_host_id": host["ID"], "one_host_name": str(host["NAME"])}


# ---- deciding --------------------------------------------------------------------------
def still_failed(host_state: int) -> bool:
    """After ``-p``: act only if the host, read again, is still ERROR (5.x: or being
    re-monitored from ERROR)."""
    return host_state in (HostState.ERROR, HostState.MONITORING_ERROR)


@dataclass(frozen=True)
class Order:
    vm_id: int
    action: str  # a vm module action: delete-recreate or delete
    was: str  # the state it was in, for the log


@dataclass(frozen=True)
class Skip:
    vm_id: int
    reason: str


_LEAVING = (Lcm.CLEANUP_RESUBMIT, Lcm.CLEANUP_DELETE)


def _current_host(vm: Body) -> int | None:
    history = vm.get("HISTORY_RECORDS") or []
    return history[-1]["HID"] if history else None


def select(host_id: int, vms: Iterable[Body], options: Options) -> tuple[list[Order], list[Skip]]:
    """The VMs whose current host is ``host_id`` and what to do with each.

    ACTIVE VMs (RUNNING, UNKNOWN, or in a transient state the dead host will never
    finish) are taken; SUSPENDED and POWEROFF ones only with -f; a VM already being
    deleted or resubmitted is left to finish. Other VMs hold no host (PENDING, STOPPED,
    UNDEPLOYED, FAILED, DONE) or hold another one, and are not looked at."""
    orders: list[Order] = []
    skipped: list[Skip] = []
    for vm in sorted(vms, key=lambda v: v["ID"]):
        state = vm["STATE"]
        if state not in (VmState.ACTIVE, VmState.SUSPENDED, VmState.POWEROFF):
            continue
        if _current_host(vm) != host_id:
            continue
        name = state_name(state, vm["LCM_STATE"])
        if state == VmState.ACTIVE and vm["LCM_STATE"] in _LEAVING:
            skipped.append(Skip(vm["ID"], f"{name}: it is leaving the host already"))
        elif state != VmState.ACTIVE and not options.force:
            skipped.append(Skip(vm["ID"], f"{name}: only with -f"))
        else:
            orders.append(Order(vm["ID"], options.action, name))
    return orders, skipped


def vm_orders(orders: Iterable[Order]) -> list[dict[str, Any]]:
    """The vm module's ``sets`` items: one per VM, so one refusal stops no other."""
    return [
        {"label": f"VM {o.vm_id}", "action": o.action, "instance_ids": [o.vm_id]} for o in orders
    ]

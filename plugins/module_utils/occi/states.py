"""A COMPUTE's STATE, and what a PUT of another STATE does: 4.6's ``OCCI_ACTION`` table.

A COMPUTE shows the VM's STATE name (``ACTIVE``, not the LCM state, as 4.6's
``state_str``). A PUT naming a STATE runs the table's action when the VM is in one of
its source states; naming the VM's current state does nothing (200: a client PUTs back
the document it read); any other state name is refused with 403, an unknown name with
400. The actions are onekit's lifecycle actions, which check the VM's state again (a
STOPPED from ACTIVE/BOOT is refused by ``stop``, which wants RUNNING).
"""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import VmState
from ansible_collections.onekit.cloud.plugins.module_utils.occi.errors import Forbidden

VM_STATES = tuple(state.name for state in VmState)
ACTIVE = ("ACTIVE",)

# OCCI state -> (the VM states it may be asked from, onekit's lifecycle action)
OCCI_ACTION: dict[str, tuple[tuple[str, ...], str]] = {
    "STOPPED": (ACTIVE, "stop"),
    "SUSPENDED": (ACTIVE, "suspend"),
    "RESUME": (("STOPPED", "SUSPENDED", "POWEROFF"), "resume"),
    "CANCEL": (ACTIVE, "shutdown-hard"),
    "REBOOT": (ACTIVE, "reboot"),
    "RESET": (ACTIVE, "reboot-hard"),
    "SHUTDOWN": (ACTIVE, "shutdown"),
    "RESTART": (ACTIVE, "boot"),
    "RESUBMIT": (("ACTIVE", "FAILED"), "delete-recreate"),
    "POWEROFF": (ACTIVE, "poweroff"),
    "DONE": (VM_STATES, "delete"),
}


def state_str(state: int) -> str:
    """The STATE a COMPUTE shows."""
    return VmState(state).name


def action_for(current: str, wanted: str) -> str | None:
    """The lifecycle action a PUT of STATE ``wanted`` runs on a VM in ``current``; None
    when there is nothing to do. Raises InvalidInput (400) for a name that is no state
    and no action, Forbidden (403) for a change the table does not allow."""
    name = wanted.strip().upper()
    entry = OCCI_ACTION.get(name)
    if name == current:
        return None
    if entry is not None and current in entry[0]:
        return entry[1]
    if entry is None and name not in VM_STATES:
        known = ", ".join(OCCI_ACTION)
        raise InvalidInput(f'Invalid state: "{wanted.strip()[:40]}" (STATE is one of {known})')
    raise Forbidden(f"The state of the resource cannot be changed from {current} to {name}.")

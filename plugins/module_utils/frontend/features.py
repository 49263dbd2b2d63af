"""Where the features meet the core. The core never imports a feature; this module says
which feature handles which of the core's registration points (``core.events``,
``core.shared_writes``), and ``plug_in()`` registers them all.

Every process that loads a front-end (``frontend.home`` calls ``plug_in()`` when it is
imported: the server, every CLI, every module) has every feature registered, but a
feature's code is loaded only the first time the core calls it: a handler is registered
as an :class:`OnFirstUse` stand-in that imports its feature then. So a CLI that never
allocates a VM does not load OneGate, a standalone front-end never loads the federation
proxy (nor urllib with it), and an Ansible module pays only for the features its run
needs (its start-up is most of its cost).

The imports below sit inside functions on purpose (``tests/unit/test_layers.py`` allows it
here): they are static ``from ... import`` statements, so Ansible's AnsiballZ, which packs
what a module's source imports, still packs the features a module may need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import events, shared_writes


def _onegate() -> ModuleType:
    from ansible_collections.onekit.cloud.plugins.module_utils.gate import tokens

    return tokens


def _ha_hooks() -> ModuleType:
    from ansible_collections.onekit.cloud.plugins.module_utils.ha import hooks

    return hooks


def _federation_proxy() -> ModuleType:
    from ansible_collections.onekit.cloud.plugins.module_utils.federation import proxy

    return proxy


@dataclass(frozen=True)
class OnFirstUse:
    """A feature's function, registered by name: its module is imported the first time
    the core calls it (later calls find it in ``sys.modules``)."""

    feature: Callable[[], ModuleType]
    name: str

    def target(self) -> Callable[..., Any]:
        """The feature's function itself (loading the feature)."""
        return getattr(self.feature(), self.name)

    def __call__(self, *args: Any) -> Any:
        return self.target()(*args)


# event -> the handlers features subscribe to it, in the order they run
SUBSCRIPTIONS: dict[str, tuple[OnFirstUse, ...]] = {
    # OneGate: a token for a VM whose CONTEXT asks for one, token.txt on its CD-ROM
    events.VM_ALLOCATED: (OnFirstUse(_onegate, "issue"),),
    events.CONTEXT_FILES: (OnFirstUse(_onegate, "token_file"),),
    # HA: the marks the VM_HOOK on FAILED and the HOST_HOOK on ERROR fire from
    events.VM_FAILED: (OnFirstUse(_ha_hooks, "mark_failed"),),
    events.HOST_ERROR: (OnFirstUse(_ha_hooks, "mark_host_error"),),
}
# federation: a slave's writes of the shared tables go to the master
FORWARDER = OnFirstUse(_federation_proxy, "forward")


def plug_in() -> None:
    """Register every feature with the core (idempotent; loads no feature)."""
    for event, handlers in SUBSCRIPTIONS.items():
        for handler in handlers:
            events.subscribe(event, handler)
    shared_writes.set_forwarder(FORWARDER)

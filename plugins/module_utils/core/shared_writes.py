"""Writes of the tables a federation shares (users, groups, ACL rules, zones).

A federation slave never writes them itself: it reads them from its MySQL replica, and
each operation that writes them runs on the master instead (the guide's
RequestManagerProxy). The core marks those operations; how they reach the master is the
federation feature's business, plugged in with ``set_forwarder`` (``federation.proxy``).

    @federated()
    def create(session, name, password, ...): ...

On a master or a standalone instance (no ``session.master_endpoint``) the function runs as
written. A slave's session with no forwarder plugged in refuses the write rather than
write its replica.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import StoreError

F = TypeVar("F", bound=Callable[..., Any])
# (session, operation name, args, kwargs) -> the operation's result, run on the master
Forwarder = Callable[[Any, str, tuple, dict], Any]
_forwarder: list[Forwarder] = []


def operation_name(fn: Callable) -> str:
    """``users.create``: how the core API names a module_utils function."""
    return f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"


def set_forwarder(forwarder: Forwarder) -> None:
    """Plug in how a slave's shared writes reach the master (one forwarder per process)."""
    _forwarder[:] = [forwarder]


def federated(local_zone: bool = False) -> Callable[[F], F]:
    """Mark a write of the shared tables; ``local_zone`` sends this zone's id as ``zone``
    (an ACL rule without a zone is for the zone it was written in)."""

    def mark(fn: F) -> F:
        name = operation_name(fn)

        @functools.wraps(fn)
        def run(session, *args: Any, **kwargs: Any) -> Any:
            if not getattr(session, "master_endpoint", ""):
                return fn(session, *args, **kwargs)
            if kwargs.get("dry_run"):  # check mode reads the replica: nothing is sent
                return fn(session, *args, **kwargs)
            if not _forwarder:
                raise StoreError(
                    f"{name} writes the federation's shared tables, which only the master "
                    "does, and this process has no federation proxy loaded to send it there"
                )
            if local_zone and kwargs.get("zone") is None:
                kwargs = {**kwargs, "zone": session.zone}
            return _forwarder[0](session, name, args, kwargs)

        run.federated = True  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return mark

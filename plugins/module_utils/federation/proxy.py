"""A federation slave's rule: it never writes the shared tables (users, groups, ACL rules,
zones) itself. It reads them from its MySQL replica, and each operation that writes them
runs on the master instead, through the master's core API with the caller's own
credentials (the guide's RequestManagerProxy). While the master is unreachable those
operations fail with a message that says so; everything local keeps working.

    @federated
    def create(session, name, password, ...): ...

On a master or a standalone instance the function runs as written.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from ansible_collections.onekit.cloud.plugins.module_utils.core import remote
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthenticationError,
    StoreError,
)

F = TypeVar("F", bound=Callable[..., Any])


def operation_name(fn: Callable) -> str:
    """``users.create``: how the core API names a module_utils function."""
    return f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"


def federated(local_zone: bool = False) -> Callable[[F], F]:
    """Mark a write of the shared tables; ``local_zone`` sends this zone's id as ``zone``
    (an ACL rule without a zone is for the zone it was written in)."""

    def mark(fn: F) -> F:
        name = operation_name(fn)

        @functools.wraps(fn)
        def run(session, *args: Any, **kwargs: Any) -> Any:
            master = getattr(session, "master_endpoint", "")
            if not master:
                return fn(session, *args, **kwargs)
            if kwargs.get("dry_run"):  # check mode reads the replica: nothing is sent
                return fn(session, *args, **kwargs)
            if session.credentials is None:
                raise AuthenticationError(
                    f"{name} writes the federation's shared tables, which only the master "
                    "does; this session has no credentials to send it there"
                )
            if local_zone and kwargs.get("zone") is None:
                kwargs = {**kwargs, "zone": session.zone}
            try:
                return remote.call(
                    master, session.credentials, name, args, kwargs, what="the federation master"
                )
            except StoreError as err:  # not the slave's own store: say whose it is
                raise StoreError(
                    f"the federation master at {master} cannot use its store: {err}"
                ) from None

        run.federated = True  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return mark

"""A federation slave's write proxy: the shared-table writes the core marks
(``core.shared_writes.federated``) run on the master, through the master's core API with
the caller's own credentials. While the master is unreachable those operations fail with
a message that says so; everything local keeps working.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import remote
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthenticationError,
    StoreError,
)


def forward(session: Any, name: str, args: tuple, kwargs: dict) -> Any:
    """Run the shared-table write ``name`` on the session's master."""
    master = session.master_endpoint
    if session.credentials is None:
        raise AuthenticationError(
            f"{name} writes the federation's shared tables, which only the master "
            "does; this session has no credentials to send it there"
        )
    try:
        return remote.call(
            master, session.credentials, name, args, kwargs, what="the federation master"
        )
    except StoreError as err:  # not the slave's own store: say whose it is
        raise StoreError(f"the federation master at {master} cannot use its store: {err}") from None

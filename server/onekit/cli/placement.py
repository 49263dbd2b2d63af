"""Placing VMs right after a command made them PENDING (instantiate, release, resume), so
a user sees them run without waiting for the server's next scheduling cycle."""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils import scheduler
from ansible_collections.onekit.cloud.plugins.module_utils.errors import OneError
from onekit.cli.common import Context


def place(ctx: Context, vm_ids: list[int]) -> int:
    """Schedule these VMs now; report each that failed to deploy (exit 1 if any did)."""
    status = 0
    for outcome in scheduler.schedule(ctx.session, ctx.instance.sched_config(), vm_ids):
        if outcome.error:
            status = ctx.error(OneError(f"VM {outcome.vm['ID']} was not deployed: {outcome.error}"))
    return status

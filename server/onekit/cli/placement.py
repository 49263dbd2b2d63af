"""Placing VMs right after a command made them PENDING (instantiate, release, resume), so
a user sees them run without waiting for the server's next scheduling cycle."""

from __future__ import annotations

import sys

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import OneError
from ansible_collections.onekit.cloud.plugins.module_utils.vm import scheduler
from onekit.cli.common import Context


def place(ctx: Context, vm_ids: list[int]) -> int:
    """Schedule these VMs now. A failed deploy is an error (exit 1); a VM no host can take
    yet stays PENDING, which is a note on stderr: the VM exists and the server's scheduler
    will place it once there is room (the exit status stays 0, as oned's CLI's). In
    another zone (``onezone set``), that zone's server places them."""
    if ctx.endpoint is not None:
        print(
            f"{ctx.prog} {ctx.command}: the scheduler of {ctx.endpoint} places the VMs "
            "in its next cycle",
            file=sys.stderr,
        )
        return 0
    status = 0
    for outcome in scheduler.schedule(ctx.session, ctx.instance.sched_config(), vm_ids):
        if outcome.error:
            status = ctx.error(OneError(f"VM {outcome.vm['ID']} was not deployed: {outcome.error}"))
    notes = scheduler.still_pending(ctx.session, vm_ids) + scheduler.waiting(ctx.session, vm_ids)
    for note in notes:
        print(f"{ctx.prog} {ctx.command}: {note}", file=sys.stderr)
    return status

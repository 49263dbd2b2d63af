"""``onehost show`` and ``onevm show`` with ``--monitoring``: the object as ``show`` prints
it, then its recent monitoring samples (the history the monitor keeps for
HOST_/VM_MONITORING_EXPIRATION_TIME), read through the core operation
``monitor.host_monitoring``/``monitor.vm_monitoring``: here, or on the active zone's core
API, with the caller's rights."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.vm.monitor import MAX_SAMPLES
from onekit.cli.common import JSON, Cli, Column, Context, Pool, arg, table, timestamp

DEFAULT_SAMPLES = 10


def _count(text: str) -> int:
    number = int(text) if text.isdigit() else 0
    if not 1 <= number <= MAX_SAMPLES:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_SAMPLES}")
    return number


def time_column() -> Column:
    return Column("TIME", lambda s: timestamp(s["TIME"]), width=14)


def show_with_samples(
    cli: Cli,
    pool: Pool,
    help: str,
    samples: Callable[..., Any],
    title: str,
    columns: Sequence[Column],
) -> None:
    """``show <ref> [-j] [--monitoring] [--samples N]``: ``samples(session, id, limit=N)``
    is the core operation; with -j its answer is the object's ``MONITORING_DATA``."""
    ref = arg(pool.ref_arg, help=f"{pool.noun} id or name")
    monitoring = arg(
        "--monitoring",
        "-m",
        action="store_true",
        help=f"also print the recent monitoring samples, oldest first (the last "
        f"{DEFAULT_SAMPLES} unless --samples)",
    )
    count = arg(
        "--samples",
        "-n",
        type=_count,
        metavar="N",
        help=f"the last N samples (1-{MAX_SAMPLES}); implies --monitoring",
    )

    def handler(ctx: Context, args: argparse.Namespace) -> None:
        answer = pool.show(pool.connect(ctx), getattr(args, pool.ref_arg))
        data = None
        if args.monitoring or args.samples is not None:
            limit = args.samples or DEFAULT_SAMPLES
            data = ctx.call(samples, pool.body(answer)["ID"], limit=limit)
        if args.json:
            shown = pool.show_json(answer)
            ctx.json(shown if data is None else {**shown, "MONITORING_DATA": data})
            return
        text = pool.show_text(ctx, answer)
        if data is not None:
            text += f"\n\n{title}\n" + (table(data, columns) if data else "-")
        ctx.out(text)

    cli.command("show", help, handler, arguments=[ref, monitoring, count, JSON])

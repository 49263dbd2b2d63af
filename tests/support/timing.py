"""Timing for the benches."""

from __future__ import annotations

import time
from collections.abc import Callable


def best(rounds: int, fn: Callable[[], object]) -> float:
    """The fastest of ``rounds`` calls of ``fn``, in seconds."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)

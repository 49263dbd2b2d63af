"""Waiting for what a server does on its own: poll a condition until it holds.

The deadline is generous on purpose: a passing test never reaches it, and a test must
not fail because a loaded CI machine (2 cores, a dozen workers) is slow. A test that
means "within N seconds" as behaviour measures it itself."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

DEADLINE = 240.0  # seconds

T = TypeVar("T")


def wait_until(
    check: Callable[[], T], what: str, timeout: float = DEADLINE, pause: float = 0.2
) -> T:
    """``check()``'s first true value, polled every ``pause`` s; an AssertionError naming
    ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(pause)

"""How every driver call runs: the one place for driver concurrency and timeouts.

* **Threads** (``-t`` of the driver's VM_MAD/IM_MAD section, default 15): at most that
  many calls of one driver run at once in a process; more wait their turn, as oned's
  driver threads queue actions. VM actions count against the host's VM_MAD, monitoring
  polls against its IM_MAD.
* **Per-host timeout** (``-w``, default 15 s): a caller waits that long for a host's
  answer, then gets ``HostUnreachable`` and goes on. The call itself cannot be
  interrupted (a libvirt call blocks in C), so it runs in a thread of its own, which
  gives its driver thread back when it is abandoned: a hung host never holds the threads
  other hosts need.
* **A host that did not answer** is not asked again while an abandoned call to it is
  still stuck: later calls fail at once (no thread, no wait). Once the stuck call
  returns (libvirt's keepalive closes a silent connection), the host is asked again.
* **A host in ERROR** (the monitor found it unreachable) is given ``ERROR_HOST_TIMEOUT``
  at most: an action on its VMs (the HOST_HOOK's clean-up) tries the host once more,
  briefly, and goes on without it. This is what bounds a hung host's recovery: one
  timeout to find it (the monitor), not one more per VM.
* ``each`` runs a batch of work items (one VM's action each) concurrently; the driver
  calls inside them are the bounded ones above.

State is per process (oned's drivers are per oned): the server, each CLI and each
module run their own.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import HostUnreachable

T = TypeVar("T")
R = TypeVar("R")

#: seconds a call to a host in ERROR may take (it failed its last poll already)
ERROR_HOST_TIMEOUT = 2.0

_lock = threading.Lock()
_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_stuck: dict[str, tuple[int, float]] = {}  # host -> (calls still stuck, since when)


def _slot(pool: str, threads: int) -> threading.BoundedSemaphore:
    """The driver threads of ``pool`` (e.g. "VM_MAD kvm"); a new -t makes a new pool."""
    with _lock:
        slot = _slots.get((pool, threads))
        if slot is None:
            slot = _slots[(pool, threads)] = threading.BoundedSemaphore(threads)
        return slot


def _unstick(host: str) -> None:
    with _lock:
        count, since = _stuck.get(host, (1, 0.0))
        if count <= 1:
            _stuck.pop(host, None)
        else:
            _stuck[host] = (count - 1, since)


def stuck_since(host: str) -> float | None:
    """When a call to ``host`` was given up and is still stuck (monotonic), or None."""
    with _lock:
        entry = _stuck.get(host)
    return entry[1] if entry else None


def call(pool: str, threads: int, host: str, what: str, fn: Callable[[], T], timeout: float) -> T:
    """``fn()`` in a driver thread of ``pool``, waited for at most ``timeout`` seconds.

    ``host`` names the host for the messages and the stuck-call check (its URI)."""
    since = stuck_since(host)
    if since is not None:
        raise HostUnreachable(
            f"{what} on {host}: not asked: an earlier call has had no answer for "
            f"{time.monotonic() - since:.0f} s"
        )
    slot = _slot(pool, threads)
    slot.acquire()
    outcome: dict[str, object] = {}
    done = threading.Event()
    abandoned = False
    guard = threading.Lock()

    def work() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as err:  # handed to the caller, whatever it is
            outcome["error"] = err
        with guard:
            done.set()
            if abandoned:
                _unstick(host)

    try:
        threading.Thread(target=work, name=f"driver {what} {host}", daemon=True).start()
        finished = done.wait(timeout)
        if not finished:
            with guard:
                finished = done.is_set()
                if not finished:
                    abandoned = True
                    with _lock:
                        count, since = _stuck.get(host, (0, time.monotonic()))
                        _stuck[host] = (count + 1, since)
    finally:
        slot.release()
    if not finished:
        raise HostUnreachable(f"{what} on {host}: no answer within {timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def each(items: Iterable[T], fn: Callable[[T], R], width: int) -> list[R]:
    """``fn`` on every item, ``width`` at a time (the driver calls inside are bounded by
    ``call``); results in the items' order. ``fn`` must not raise."""
    items = list(items)
    if len(items) <= 1 or width <= 1:
        return [fn(item) for item in items]
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(width, len(items))) as workers:
        return list(workers.map(fn, items))

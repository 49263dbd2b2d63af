"""How every driver call runs: the one place for driver concurrency and timeouts.

* **Threads** (``-t`` of the driver's VM_MAD/IM_MAD section, default 15): at most that
  many calls of one driver run at once in a process; more wait their turn (queued, no
  thread held), as oned's driver threads queue actions. VM actions count against the
  host's VM_MAD, monitoring polls against its IM_MAD.
* **Per-host timeout** (``-w``, default 15 s): a call that has run that long is given
  up: its caller gets ``HostUnreachable`` and goes on. The call itself cannot be
  interrupted (a libvirt call blocks in C): it keeps its thread until it returns, but
  gives its driver slot back, so a hung host never holds the slots other hosts need.
  One watchdog thread per process gives calls up at their deadlines.
* **A host that did not answer** is not asked again while an abandoned call to it is
  still stuck: later calls fail at once (no thread, no wait). Once the stuck call
  returns (libvirt's keepalive closes a silent connection), the host is asked again.
* **A host in ERROR** (the monitor found it unreachable) is given ``ERROR_HOST_TIMEOUT``
  at most: an action on its VMs (the HOST_HOOK's clean-up) tries the host once more,
  briefly, and goes on without it. This is what bounds a hung host's recovery: one
  timeout to find it (the monitor), not one more per VM.
* ``submit`` starts a call and returns its future (the monitor polls every host at once
  this way, one thread per poll); ``call`` waits for it. Both run the call in a thread
  of a pool kept from one call to the next (starting a hundred threads every monitoring
  cycle cost about a second at 100 hosts); the threads are daemons, so a call stuck in
  C never holds the process's exit.
* ``each`` runs a batch of work items (one VM's action each) concurrently; the driver
  calls inside them are the bounded ones above.

State is per process (oned's drivers are per oned): the server, each CLI and each
module run their own; a forked child starts with none.
"""

from __future__ import annotations

import collections
import concurrent.futures
import heapq
import itertools
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import HostUnreachable

T = TypeVar("T")
R = TypeVar("R")

#: seconds a call to a host in ERROR may take (it failed its last poll already)
ERROR_HOST_TIMEOUT = 2.0
#: seconds an idle pooled thread waits for work before it ends
IDLE_THREAD_SECONDS = 300.0


@dataclass(eq=False)
class _Call:
    slots: _Slots
    host: str
    what: str
    fn: Callable[[], Any]
    timeout: float
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    over: bool = False  # returned, or given up (whichever came first decides the future)
    abandoned: bool = False


@dataclass(eq=False)
class _Slots:
    """The driver threads of one pool (e.g. "VM_MAD kvm" with -t 15): calls running, and
    those waiting their turn."""

    threads: int
    running: int = 0
    waiting: collections.deque[_Call] = field(default_factory=collections.deque)


class _Threads:
    """Daemon threads kept between calls: a job goes to an idle one, or a new one."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._idle = 0
        self._lock = threading.Lock()

    def run(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1
                self._jobs.put(job)
                return
        threading.Thread(target=self._work, args=(job,), name="onekit-driver", daemon=True).start()

    def _work(self, job: Callable[[], None]) -> None:
        while True:
            job()
            with self._lock:
                self._idle += 1
            while True:
                try:
                    job = self._jobs.get(timeout=IDLE_THREAD_SECONDS)
                    break
                except queue.Empty:
                    with self._lock:  # no job promised to the idle threads: one may end
                        if self._idle > 0 and self._jobs.empty():
                            self._idle -= 1
                            return


class _State:
    """One process's executor: slots by pool, stuck hosts, threads, deadlines."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.slots: dict[tuple[str, int], _Slots] = {}
        self.stuck: dict[str, tuple[int, float]] = {}  # host -> (calls still stuck, since)
        self.threads = _Threads()
        self.deadlines: list[tuple[float, int, _Call]] = []  # a heap
        self.order = itertools.count()
        self.wake = threading.Condition(self.lock)
        self.watchdog: threading.Thread | None = None


_state = _State()
os.register_at_fork(after_in_child=lambda: globals().update(_state=_State()))


def stuck_since(host: str) -> float | None:
    """When a call to ``host`` was given up and is still stuck (monotonic), or None."""
    with _state.lock:
        entry = _state.stuck.get(host)
    return entry[1] if entry else None


def _not_asked(host: str, what: str, since: float) -> HostUnreachable:
    return HostUnreachable(
        f"{what} on {host}: not asked: an earlier call has had no answer for "
        f"{time.monotonic() - since:.0f} s"
    )


def submit(
    pool: str, threads: int, host: str, what: str, fn: Callable[[], T], timeout: float
) -> concurrent.futures.Future[T]:
    """Start ``fn()`` in a driver thread of ``pool`` (or queue it for one); its future
    holds the value, the error it raised, or ``HostUnreachable`` once it has run
    ``timeout`` seconds (or at once if a call to ``host``, its URI, is stuck)."""
    state = _state
    with state.lock:
        stuck = state.stuck.get(host)
        if stuck is not None:
            refused: concurrent.futures.Future[T] = concurrent.futures.Future()
            refused.set_exception(_not_asked(host, what, stuck[1]))
            return refused
        slots = state.slots.get((pool, threads))
        if slots is None:
            slots = state.slots[(pool, threads)] = _Slots(threads)
        call = _Call(slots, host, what, fn, timeout)
        if slots.running < threads:
            slots.running += 1
            state.threads.run(lambda: _run(state, call))
        else:
            slots.waiting.append(call)
    return call.future


def call(pool: str, threads: int, host: str, what: str, fn: Callable[[], T], timeout: float) -> T:
    """``fn()`` in a driver thread of ``pool``, waited for (see ``submit``)."""
    return submit(pool, threads, host, what, fn, timeout).result()


def _run(state: _State, call: _Call) -> None:
    """One call in its thread: given up by the watchdog at its deadline, if it gets one."""
    with state.lock:
        stuck = state.stuck.get(call.host)
        if stuck is None:
            deadline = time.monotonic() + call.timeout
            heapq.heappush(state.deadlines, (deadline, next(state.order), call))
            if state.watchdog is None:
                state.watchdog = threading.Thread(
                    target=_watch, args=(state,), name="onekit-driver-watchdog", daemon=True
                )
                state.watchdog.start()
            state.wake.notify()
        else:
            call.over = True
            _release(state, call.slots)
    if stuck is not None:
        call.future.set_exception(_not_asked(call.host, call.what, stuck[1]))
        return
    value: Any = None
    error: BaseException | None = None
    try:
        value = call.fn()
    except BaseException as err:  # handed to the caller, whatever it is
        error = err
    call.fn = _done  # the watchdog's heap keeps the call until its deadline, not its work
    with state.lock:
        late = call.over
        call.over = True
        if call.abandoned:  # the host answered at last: it may be asked again
            count, since = state.stuck.get(call.host, (1, 0.0))
            if count <= 1:
                state.stuck.pop(call.host, None)
            else:
                state.stuck[call.host] = (count - 1, since)
        elif not late:
            _release(state, call.slots)
    if late:
        return
    if error is not None:
        call.future.set_exception(error)
    else:
        call.future.set_result(value)


def _done() -> None:
    return None


def _release(state: _State, slots: _Slots) -> None:
    """A driver slot is free (under the lock): the next waiting call takes it."""
    if slots.waiting:
        waiting = slots.waiting.popleft()
        state.threads.run(lambda: _run(state, waiting))
    else:
        slots.running -= 1


def _watch(state: _State) -> None:
    """Give up calls that passed their deadline: their callers get HostUnreachable, the
    host is stuck until the call returns, and the slot goes to the next call."""
    while True:
        expired: list[_Call] = []
        with state.lock:
            while not state.deadlines:
                state.wake.wait()
            now = time.monotonic()
            while state.deadlines and state.deadlines[0][0] <= now:
                call = heapq.heappop(state.deadlines)[2]
                if not call.over:
                    call.over = call.abandoned = True
                    count, since = state.stuck.get(call.host, (0, now))
                    state.stuck[call.host] = (count + 1, since)
                    expired.append(call)
            if not expired and state.deadlines:
                state.wake.wait(state.deadlines[0][0] - now)
        for call in expired:  # the callers first, then the calls waiting for their slots
            call.future.set_exception(
                HostUnreachable(f"{call.what} on {call.host}: no answer within {call.timeout:g} s")
            )
        if expired:
            with state.lock:
                for call in expired:
                    _release(state, call.slots)


def each(items: Iterable[T], fn: Callable[[T], R], width: int) -> list[R]:
    """``fn`` on every item, ``width`` at a time (the driver calls inside are bounded by
    ``call``); results in the items' order. ``fn`` must not raise."""
    items = list(items)
    if len(items) <= 1 or width <= 1:
        return [fn(item) for item in items]
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(width, len(items))) as workers:
        return list(workers.map(fn, items))

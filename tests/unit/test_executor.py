"""drivers.executor on plain Python calls (what a hung libvirt call looks like to it: a
call that does not return): -t queues calls without holding a thread, -w gives one up,
a host with a call still stuck is not asked again until it returns."""

from __future__ import annotations

import threading

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.drivers import executor
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import HostUnreachable


def test_a_hung_call_is_given_up_frees_its_slot_and_blocks_only_its_host():
    pool = f"IM_MAD test-{id(object())}"  # a pool of its own: -t 1
    release = threading.Event()
    order: list[str] = []

    def hangs() -> str:
        release.wait(30)
        return "late"

    def answers(name: str) -> str:
        order.append(name)
        return name

    hung = executor.submit(pool, 1, "hostA", "monitor", hangs, 0.5)
    queued = executor.submit(pool, 1, "hostB", "monitor", lambda: answers("B"), 5)
    assert not queued.done()  # -t 1: B waits its turn behind A
    with pytest.raises(HostUnreachable, match=r"monitor on hostA: no answer within 0\.5 s"):
        hung.result(10)
    assert queued.result(10) == "B"  # A's slot went to B when A was given up
    again = executor.submit(pool, 1, "hostA", "monitor", lambda: answers("A"), 5)
    with pytest.raises(HostUnreachable, match="not asked: an earlier call has had no answer"):
        again.result(0)  # failed at once, never run
    assert executor.call(pool, 1, "hostC", "monitor", lambda: answers("C"), 5) == "C"
    release.set()  # the stuck call returns: the host is asked again
    for _ in range(200):
        if executor.stuck_since("hostA") is None:
            break
        threading.Event().wait(0.05)
    assert executor.call(pool, 1, "hostA", "monitor", lambda: answers("A"), 5) == "A"
    assert order == ["B", "C", "A"]


def test_a_calls_error_reaches_its_caller():
    def fails() -> None:
        raise ValueError("refused by the hypervisor")

    with pytest.raises(ValueError, match="refused by the hypervisor"):
        executor.call("VM_MAD test-errors", 15, "hostD", "deploy", fails, 5)

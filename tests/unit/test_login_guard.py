"""The login guard's bounds, on a clock the test moves: the cache of verified logins,
the penalty of an address that keeps failing, and the cap on concurrent hashes."""

from __future__ import annotations

import threading

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthenticationError,
    TooManyRequests,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.login_guard import LoginGuard


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now


class Store:
    """``verify`` for the guard: counts the (costly) checks it was asked for."""

    def __init__(self, passwords: dict[str, str]):
        self.passwords = passwords
        self.checks = 0

    def __call__(self, user: str, password: str) -> str:
        self.checks += 1
        if self.passwords.get(user) != password:
            raise AuthenticationError(f"authentication failed for user {user!r}")
        return user


def make(**kwargs) -> tuple[LoginGuard, Clock, Store]:
    clock = Clock()
    kwargs.setdefault("sleep", clock.sleeps.append)
    return LoginGuard(clock=clock, **kwargs), clock, Store({"ann": "pw", "bob": "pw2"})


def test_a_verified_login_costs_nothing_until_its_ttl_ends():
    guard, clock, store = make(ttl=30)
    assert guard.login("10.0.0.1", "ann", "pw", store) == "ann"
    assert guard.login("10.0.0.9", "ann", "pw", store) == "ann"
    assert store.checks == 1
    clock.now += 31  # a changed password would stop working now
    store.passwords["ann"] = "new"
    with pytest.raises(AuthenticationError):
        guard.login("10.0.0.1", "ann", "pw", store)
    assert store.checks == 2


def test_another_password_is_never_taken_from_the_cache():
    guard, _clock, store = make()
    guard.login("a", "ann", "pw", store)
    with pytest.raises(AuthenticationError):
        guard.login("a", "ann", "pw ", store)
    assert store.checks == 2


def test_an_address_that_keeps_failing_waits_and_costs_no_hash():
    guard, clock, store = make(max_failures=3, window=60)
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            guard.login("10.0.0.1", "ann", "bad", store)
        clock.now += 10
    with pytest.raises(TooManyRequests) as refused:
        guard.login("10.0.0.1", "bob", "pw2", store)  # even a right password: it waits
    assert refused.value.retry_after == 30  # the first failure (t=1000) ages out at 1060
    assert clock.sleeps == [1.0]  # the refusal was held back: a hammering client slows down
    assert store.checks == 3
    assert guard.login("10.0.0.2", "bob", "pw2", store) == "bob"  # other addresses: no
    clock.now += 31
    assert guard.login("10.0.0.1", "bob", "pw2", store) == "bob"


def test_cached_credentials_work_from_a_penalised_address():
    guard, _clock, store = make(max_failures=2)
    guard.login("10.0.0.1", "ann", "pw", store)
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            guard.login("10.0.0.1", "ann", "typo", store)
    assert guard.login("10.0.0.1", "ann", "pw", store) == "ann"
    with pytest.raises(TooManyRequests):
        guard.login("10.0.0.1", "ann", "typo", store)


def test_only_so_many_refusals_wait_at_once():
    guard, _clock, store = make(max_failures=1, tarpit_slots=1)
    with pytest.raises(AuthenticationError):
        guard.login("a", "ann", "bad", store)
    entered, held = threading.Event(), threading.Event()

    def hold(_seconds: float) -> None:  # the one slot stays taken until ``held``
        entered.set()
        held.wait(5)

    def refused_login() -> None:
        with pytest.raises(TooManyRequests):
            guard.login("a", "x", "y", store)

    guard.sleep = hold
    waiting = threading.Thread(target=refused_login)
    waiting.start()
    assert entered.wait(5)
    guard.sleep = lambda _seconds: pytest.fail("a refusal waited with every slot taken")
    with pytest.raises(TooManyRequests):
        guard.login("a", "ann", "bad", store)
    held.set()
    waiting.join(5)


def test_at_most_n_hashes_at_once_and_no_endless_queue():
    guard, _clock, _store = make(concurrent=2, queue_wait=0.05)
    inside, release = threading.Semaphore(0), threading.Event()

    def slow(user: str, password: str) -> str:
        inside.release()
        release.wait(5)
        return user

    threads = [
        threading.Thread(target=guard.login, args=("a", f"u{i}", "pw", slow)) for i in range(2)
    ]
    for thread in threads:
        thread.start()
    for _ in threads:
        assert inside.acquire(timeout=5)
    with pytest.raises(TooManyRequests, match="checking many logins"):
        guard.login("b", "u9", "pw", slow)
    release.set()
    for thread in threads:
        thread.join(5)
    assert guard.login("b", "u9", "pw", lambda u, p: u) == "u9"


def test_failed_logins_are_counted_for_the_metrics_and_successes_are_not():
    guard, _clock, store = make(max_failures=2)
    guard.login("a", "ann", "pw", store)
    for password in ("bad", "worse"):
        with pytest.raises(AuthenticationError):
            guard.login("a", "ann", password, store)
    with pytest.raises(TooManyRequests):  # refused without a check: not another failure
        guard.login("a", "ann", "again", store)
    guard.login("b", "bob", "pw2", store)
    assert guard.failed_logins == 2


def test_parallel_logins_with_the_same_credentials_cost_one_hash_and_all_get_in():
    """A client's parallel requests (an inventory plugin's forks, pyone calls) wait for
    the check under way instead of each meeting the cap of hashes at once."""
    guard, _clock, store = make(concurrent=1, queue_wait=0.05)
    started, release = threading.Event(), threading.Event()

    def slow(user: str, password: str) -> str:
        started.set()
        release.wait(5)
        return store(user, password)

    outcomes: list[object] = []

    def log_in(password: str) -> None:
        try:
            outcomes.append(guard.login("a", "ann", password, slow))
        except Exception as err:
            outcomes.append(err)

    threads = [threading.Thread(target=log_in, args=("pw",)) for _ in range(16)]
    threads[0].start()
    assert started.wait(5)
    for thread in threads[1:]:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(5)
    assert outcomes == ["ann"] * 16 and store.checks == 1
    # a wrong password shared by parallel requests fails each of them, and counts for each
    started.clear()
    release.clear()
    outcomes.clear()
    wrong = [threading.Thread(target=log_in, args=("nope",)) for _ in range(3)]
    wrong[0].start()
    assert started.wait(5)
    for thread in wrong[1:]:
        thread.start()
    release.set()
    for thread in wrong:
        thread.join(5)
    assert len(outcomes) == 3 and all(isinstance(o, AuthenticationError) for o in outcomes)
    assert guard.failed_logins == 3

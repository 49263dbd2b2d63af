"""What password checks may cost a server: bounded, whatever clients send.

A password check is a scrypt hash (~50 ms and 16 MiB, by design), so a flood of wrong
passwords could take every core and a lot of memory, and make valid users wait. The
guard puts three bounds around ``auth.login``, as OpenNebula caches login tokens:

* **a cache** of credentials verified in the last ``ttl`` seconds: a client's next
  requests cost no hash. The key is an HMAC of the password under a key of this
  process, so the cache never holds a password or its plain hash; a changed password or
  a disabled user stops working within ``ttl``.
* **one check for the same credentials at once**: requests with the credentials a check
  is already running for wait for its outcome instead of hashing again (a client's
  parallel requests, an inventory plugin's forks), so they neither cost a hash each nor
  meet the cap below.
* **a cap** of ``concurrent`` hashes at a time; a request that cannot start one within
  ``queue_wait`` seconds is told to retry (``TooManyRequests``), never queued without
  end.
* **a penalty** for a client (its network address) with ``max_failures`` failed logins
  in the last ``window`` seconds: its logins are refused without a hash until the oldest
  failure ages out (the answer says when), each refusal held back ``tarpit`` seconds so
  that a client hammering the server slows down to the pace of its answers (at most
  ``tarpit_slots`` refusals wait at once; the others are answered at once). Its cached
  valid credentials keep working, so one user's typo-ing script does not lock out the
  others at that address.

Everything here is in memory, per process: the bounds are about this server's cores.
``failed_logins`` counts the failed logins (wrong or unreadable credentials) since the process
started; the server's ``/metrics`` shows it (``onekit.server.metrics``).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthenticationError,
    TooManyRequests,
)

Subject = TypeVar("Subject")


@dataclass
class _Check:
    """A password check under way, which requests with the same credentials wait for."""

    done: threading.Event = field(default_factory=threading.Event)
    subject: Any = None
    error: BaseException | None = None


class LoginGuard(Generic[Subject]):
    def __init__(
        self,
        ttl: float = 30.0,
        concurrent: int = 2,
        queue_wait: float = 0.5,
        max_failures: int = 10,
        window: float = 60.0,
        cache_size: int = 10000,
        tarpit: float = 1.0,
        tarpit_slots: int = 256,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.ttl = ttl
        self.queue_wait = queue_wait
        self.max_failures = max_failures
        self.window = window
        self.cache_size = cache_size
        self.clock = clock
        self.sleep = sleep
        self.tarpit = tarpit
        self._tarpit_slots = threading.BoundedSemaphore(tarpit_slots)
        self._key = secrets.token_bytes(32)
        self._hashing = threading.BoundedSemaphore(concurrent)
        self._lock = threading.Lock()
        self._verified: OrderedDict[tuple[str, bytes], tuple[Subject, float]] = OrderedDict()
        self._checking: dict[tuple[str, bytes], _Check] = {}
        self._failures: dict[str, deque[float]] = {}
        self.failed_logins = 0  # since the process started, never reset (a Prometheus counter)

    def login(
        self, client: str, username: str, password: str, verify: Callable[[str, str], Subject]
    ) -> Subject:
        """The subject ``verify(username, password)`` returns, within the bounds above;
        AuthenticationError or TooManyRequests otherwise."""
        key = (username, hmac.new(self._key, password.encode(), hashlib.sha256).digest())
        now = self.clock()
        with self._lock:
            hit = self._verified.get(key)
            if hit is not None and hit[1] > now:
                return hit[0]
            self._verified.pop(key, None)
            wait = self._penalty(client, now)
        if wait:
            if self.tarpit and self._tarpit_slots.acquire(blocking=False):
                try:
                    self.sleep(min(self.tarpit, wait))
                finally:
                    self._tarpit_slots.release()
            raise TooManyRequests(
                f"too many failed logins from {client}; try again in {wait} s", retry_after=wait
            )
        with self._lock:
            check = self._checking.get(key)
            joined = check is not None
            if check is None:
                check = self._checking[key] = _Check()
        if joined:
            check.done.wait()  # the running check ends: it hashes once, or is refused
            if check.error is not None:
                if isinstance(check.error, AuthenticationError):
                    self._failed(client)
                raise copy.copy(check.error)
            return check.subject
        try:
            check.subject = self._check(key, client, username, password, verify)
            return check.subject
        except BaseException as err:
            check.error = err
            raise
        finally:
            with self._lock:
                del self._checking[key]
            check.done.set()

    def _check(
        self,
        key: tuple[str, bytes],
        client: str,
        username: str,
        password: str,
        verify: Callable[[str, str], Subject],
    ) -> Subject:
        if not self._hashing.acquire(timeout=self.queue_wait):
            raise TooManyRequests("the server is checking many logins; try again", retry_after=1)
        try:
            subject = verify(username, password)
        except AuthenticationError:
            self._failed(client)
            raise
        finally:
            self._hashing.release()
        with self._lock:
            self._verified[key] = (subject, self.clock() + self.ttl)
            while len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)
        return subject

    def _penalty(self, client: str, now: float) -> int:
        """Seconds until ``client`` may try again (0: now); called with the lock held."""
        failures = self._failures.get(client)
        if not failures:
            return 0
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return 0
        if len(failures) < self.max_failures:
            return 0
        return max(1, math.ceil(failures[0] + self.window - now))

    def _failed(self, client: str) -> None:
        with self._lock:
            self.failed_logins += 1
            failures = self._failures.setdefault(client, deque(maxlen=self.max_failures))
            failures.append(self.clock())
            if len(self._failures) > self.cache_size:  # many addresses: forget the oldest
                del self._failures[next(iter(self._failures))]

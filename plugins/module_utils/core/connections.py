"""The store's connections of one process: a pool that transactions borrow from.

A transaction checks a connection out and gives it back when it ends, so a server thread
that serves a request reuses a connection instead of opening one (a MySQL connection costs
a TCP handshake and an authentication, several times the transaction itself). At most
``max_idle`` connections wait in the pool; one given back to a full pool is closed.

What a pooled connection may have lived through is checked before it is lent again:

* a connection idle for more than ``check_after`` seconds is pinged and replaced if dead
  (the server's ``wait_timeout`` dropped it, or the server restarted);
* ``suspect_idle()`` (a connection just failed: the server may have restarted) makes every
  idle connection be pinged before its next use;
* after a ``fork`` the child never uses its parent's connections (the pool notices the new
  process id): two processes on one socket would mix their statements. The parent's are
  kept, not closed: closing them in the child could disturb the parent's sessions.
* ``clear()`` closes the idle connections and marks those lent out, so that they are
  closed when given back: no connection opened before it outlives its transaction.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: idle connections kept per process and store: a server's busy threads find one waiting,
#: and a few servers stay well under MariaDB's default max_connections (151)
MAX_IDLE = 25
#: seconds a connection may stay idle before it is pinged on its next use
CHECK_AFTER = 5.0


@dataclass
class Lease:
    """A connection lent to one transaction; ``pool.give_back`` or ``pool.discard`` ends it."""

    conn: Any
    generation: int
    pid: int


class ConnectionPool:
    """Connections made by ``connect``; ``ping`` raises if one is dead (None: never checked,
    as for a SQLite file)."""

    def __init__(
        self,
        connect: Callable[[], Any],
        ping: Callable[[Any], None] | None = None,
        max_idle: int = MAX_IDLE,
        check_after: float = CHECK_AFTER,
    ):
        self._connect = connect
        self._ping = ping
        self.max_idle = max_idle
        self.check_after = check_after
        self._lock = threading.Lock()
        self._idle: list[tuple[Any, float]] = []  # (connection, when it was given back)
        self._generation = 0
        self._pid = os.getpid()
        self._inherited: list[Any] = []  # a parent process's connections: never used

    def _same_process(self) -> None:
        """After a fork: forget the parent's connections (and its lock, which a thread
        of the parent may have held at the fork)."""
        if self._pid != os.getpid():
            self._inherited.extend(conn for conn, _ in self._idle)
            self._lock = threading.Lock()
            self._idle = []
            self._pid = os.getpid()

    def check_out(self) -> Lease:
        self._same_process()
        with self._lock:
            conn, since = self._idle.pop() if self._idle else (None, 0.0)
            generation = self._generation
        stale = time.monotonic() - since > self.check_after
        if conn is not None and self._ping is not None and stale:
            try:
                self._ping(conn)
            except Exception:  # dead: a new one instead
                _close_quietly(conn)
                conn = None
        if conn is None:
            conn = self._connect()
        return Lease(conn, generation, os.getpid())

    def fresh(self) -> Lease:
        """A new connection, not one from the pool (to replace one that just failed)."""
        self._same_process()
        with self._lock:
            generation = self._generation
        return Lease(self._connect(), generation, os.getpid())

    def give_back(self, lease: Lease) -> None:
        """The transaction ended cleanly: the connection waits for the next one."""
        if lease.pid != os.getpid():
            return  # the parent's: not ours to pool nor to close
        self._same_process()
        with self._lock:
            if lease.generation == self._generation and len(self._idle) < self.max_idle:
                self._idle.append((lease.conn, time.monotonic()))
                return
        _close_quietly(lease.conn)

    def discard(self, lease: Lease) -> None:
        """The connection failed or its state is unknown: close it."""
        if lease.pid == os.getpid():
            _close_quietly(lease.conn)

    def suspect_idle(self) -> None:
        """Ping every idle connection before its next use."""
        self._same_process()
        with self._lock:
            self._idle = [(conn, float("-inf")) for conn, _ in self._idle]

    def clear(self) -> None:
        self._same_process()
        with self._lock:
            idle, self._idle = self._idle, []
            self._generation += 1
        for conn, _ in idle:
            _close_quietly(conn)


def _close_quietly(conn: Any) -> None:
    # already closed, or its socket is gone: nothing is left to free
    with contextlib.suppress(Exception):
        conn.close()

"""How onekit-server serves its apps: cheroot's HTTP server, a bounded pool per app.

oned.conf's ``MAX_CONN`` (240) is the number of connections one API serves at once: its
pool of worker threads, made at start and never grown. Connections beyond it wait, never
refused: ``MAX_CONN_BACKLOG`` (480) of them in cheroot's queue of accepted connections,
as many again in the kernel's listen backlog. An idle keep-alive connection holds no
thread (cheroot keeps it in a selector), and at most MAX_CONN of them are kept.

**Why cheroot.** ``bench/http_server.py`` serves the core app with each candidate sized
240/480, under 200 concurrent clients (40 valid users, 160 sending wrong passwords and
throttled to 429), every candidate but werkzeug with ``bound_malloc``. Four runs on this
shared 2-core machine (load 8-40), valid req/s / p99 as ratios to werkzeug's (a new
thread per connection; 23-170 valid req/s, p99 0.45-3.4 s):

    cheroot            1.5/1.46  3.3/0.59  3.7/0.43  2.1/0.73   median 2.7/0.66
    waitress           3.5/0.53  2.9/0.61  2.3/0.53  3.0/0.52   median 3.0/0.53
    gunicorn gthread   0.6/2.12  0.7/1.38  1.4/0.77  0.8/3.31   median 0.8/1.75
    this module                  3.2/0.66  1.9/0.67  2.8/0.52

cheroot and waitress are even: the noise is larger than their gap (five more runs of
cheroot alone against werkzeug: 2.2x-6.8x / 0.18x-1.19x). What decides is the bodies:
waitress reads every body whole before the app runs, so a stranger's megabyte is read
before the 401, and it answers an oversized body with its own plain-text 413 before the
app's JSON one. gunicorn was behind, and is a process manager that wants the process to
itself (its signal handling, one app for all its ports, a fork before the app is made),
where the loops and the three apps share one process. So several worker processes are
not offered: cheroot has no process manager, and gunicorn's was not worth its fit. Each
pooled server peaked at ~100 MiB and 243 threads; werkzeug at 230-360 MiB.

**Bodies.** cheroot streams a body to the app as the app reads it, and de-chunks a
chunked one (``Transfer-Encoding: chunked`` stays in the environ), so the app's
``BodyLimit`` stays the one limit: it refuses a declared length over the app's limit
unread and reads a chunked body to at most the limit + 1 bytes, answering 413 in the
apps' JSON. cheroot's own ``max_request_body_size`` is left off (0) on purpose: it would
answer the same requests first, in plain text. A response that closes the connection
while the client is still sending (a 413, a 401 to a ``Connection: close`` request)
lingers (``_Lingerer``), as nginx's lingering close does: the server says FIN and
reads the rest while it keeps coming (``LINGER`` seconds of silence end it, and
``LINGER_MAX`` in all), so the client reads the answer instead of a reset, as werkzeug
did. A client slowed down by a busy machine is not cut off as long as it sends.

**Memory.** A password check is a 16 MiB scrypt buffer; glibc raises its mmap threshold
after the first such buffer is freed, so each of its per-thread arenas then keeps one:
with a pool of 240 threads that was ~500 MiB under a login flood (the bench).
``bound_malloc`` fixes the threshold at 128 KiB, so the buffers go back to the system:
~100 MiB.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cheroot import server as cheroot_server
from cheroot import wsgi

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import OneError

LINGER = 2.0  # seconds of silence after which a lingering connection is closed
LINGER_MAX = 30.0  # seconds a lingering connection is read at most
TIMEOUT = 10  # seconds a connection may take between two reads before it is dropped
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


class ServerError(OneError):
    """The server could not be started or stopped."""


def listen(host: str, port: int, backlog: int, key: str, path: Path) -> socket.socket:
    """A socket listening on ``host:port``, or a ServerError in one line that names the
    setting to change (``key`` in ``path``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as err:
        sock.close()
        raise ServerError(
            f"cannot listen on {host}:{port} ({err.strerror or err}); change {key} in {path}"
        ) from None
    return sock


def bound_malloc() -> None:
    """Let freed password-hash buffers go back to the system (see the module's doc); a
    no-op where the C library is not glibc."""
    libc = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(libc), "mallopt", None) if libc else None
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, 128 * 1024)


class _Lingerer:
    """Closes, in one thread of its own, the connections whose client is still sending
    when the server has answered: it says FIN, then reads and drops what comes until the
    client closes, is silent for ``LINGER`` seconds or ``LINGER_MAX`` seconds pass.
    Closing with unread data would reset the connection, and the client could lose the
    answer it has not read yet (werkzeug read the rest in the request's thread; here no
    worker thread waits for a slow client)."""

    def __init__(self, limit: int):
        self._slots = threading.BoundedSemaphore(limit)  # past it, sockets close at once
        self._selector = selectors.DefaultSelector()
        self._handed: queue.SimpleQueue[socket.socket | None] = queue.SimpleQueue()
        self._wake_read, self._wake = socket.socketpair()
        self._wake.setblocking(False)  # full: a wake-up is pending already
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, name="http-linger", daemon=True)
        self._thread.start()

    def take(self, sock: socket.socket) -> bool:
        """Take over closing ``sock`` unless its client has closed its side already;
        False: close it now. Nothing pending yet is no proof that the client is done: on
        a busy machine its next chunk may simply not have come."""
        try:
            sock.settimeout(0)  # a socket with a timeout would wait for data to come
            if not sock.recv(1, socket.MSG_PEEK):
                return False  # the client closed its side
        except BlockingIOError:
            pass
        except OSError:  # the client is gone
            return False
        if not self._slots.acquire(blocking=False):
            return False  # too many linger already
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        self._handed.put(sock)
        with contextlib.suppress(OSError):
            self._wake.send(b"x")
        return True

    def stop(self) -> None:
        self._handed.put(None)
        with contextlib.suppress(OSError):
            self._wake.send(b"x")
        self._thread.join(LINGER + 1)
        self._wake.close()

    def _run(self) -> None:
        deadlines: dict[socket.socket, float] = {}  # the next silence deadline
        ends: dict[socket.socket, float] = {}  # LINGER_MAX after the hand-over
        while True:
            ready = self._selector.select(timeout=0.5 if deadlines else None)
            for key, _ in ready:
                if key.fileobj is self._wake_read:
                    with contextlib.suppress(OSError):
                        self._wake_read.recv(4096)
                    while not self._handed.empty():
                        sock = self._handed.get()
                        if sock is None:
                            for each in list(deadlines):
                                self._close(each, deadlines, ends)
                            self._selector.close()
                            self._wake_read.close()
                            return
                        now = time.monotonic()
                        deadlines[sock], ends[sock] = now + LINGER, now + LINGER_MAX
                        self._selector.register(sock, selectors.EVENT_READ)
                elif _read_all(key.fileobj):  # type: ignore[arg-type]
                    deadlines[key.fileobj] = time.monotonic() + LINGER  # type: ignore[index]
                else:
                    self._close(key.fileobj, deadlines, ends)  # type: ignore[arg-type]
            now = time.monotonic()
            for sock in [s for s in deadlines if min(deadlines[s], ends[s]) <= now]:
                self._close(sock, deadlines, ends)

    def _close(
        self,
        sock: socket.socket,
        deadlines: dict[socket.socket, float],
        ends: dict[socket.socket, float],
    ) -> None:
        self._selector.unregister(sock)
        del deadlines[sock], ends[sock]
        self._slots.release()
        sock.close()


def _read_all(sock: socket.socket) -> bool:
    """Read what has come; False when the client has closed (or is gone)."""
    try:
        while sock.recv(256 * 1024):
            pass
    except BlockingIOError:
        return True
    except OSError:
        pass
    return False


class _Connection(cheroot_server.HTTPConnection):
    lingerer: _Lingerer  # the server's, set on a subclass per server

    def close(self) -> None:
        if not self.linger and self.lingerer.take(self.socket):
            self.rfile.close()
            return
        super().close()


class _Server(wsgi.Server):
    """cheroot's WSGI server on a socket bound beforehand (``listen``): cheroot binding
    it itself would say its own words on "address in use"."""

    def __init__(self, listening: socket.socket, lingerer: _Lingerer, **settings: Any):
        self._listening = listening
        self.ConnectionClass = type("Connection", (_Connection,), {"lingerer": lingerer})
        super().__init__(listening.getsockname()[:2], **settings)

    def bind(self, family: int, type: int, proto: int = 0) -> socket.socket:
        self.socket = self._listening
        return self._listening


class HttpServer:
    """One app on one listening socket, served by a pool of ``max_conn`` threads with
    ``backlog`` accepted connections waiting for them."""

    def __init__(
        self, app: Callable[..., Any], listening: socket.socket, max_conn: int, backlog: int
    ):
        self._lingerer = _Lingerer(backlog)
        self._server = _Server(
            listening,
            self._lingerer,
            wsgi_app=app,
            numthreads=max_conn,
            max=max_conn,
            request_queue_size=backlog,
            accepted_queue_size=backlog,
            timeout=TIMEOUT,
        )
        self._server.keep_alive_conn_limit = max_conn
        self._server.max_request_body_size = 0  # the app's BodyLimit answers (see above)
        self._server.prepare()  # starts the pool

    def serve(self) -> None:
        """Serve until ``stop`` (from another thread) or KeyboardInterrupt."""
        self._server.serve()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._server.stop()
        self._lingerer.stop()

"""Free TCP ports on 127.0.0.1 for the servers tests start.

Ports come from below Linux's ephemeral range (32768-60999), so an outgoing
connection cannot grab one between the check here and the server's bind, and
each xdist worker draws from its own slice, so two workers never race for one.
"""

from __future__ import annotations

import itertools
import os
import random
import socket

_FIRST, _LAST = 20000, 32000
_SLICE = 1000


def _worker_slice() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    start = _FIRST + (index * _SLICE) % (_LAST - _FIRST)
    return range(start, start + _SLICE)


# from a random place in the slice: two test sessions at once rarely meet
_slice = _worker_slice()
_start = random.randrange(len(_slice))
_candidates = itertools.cycle([*_slice[_start:], *_slice[:_start]])


def free_port() -> int:
    """A port nobody listens on now, never handed out twice in a row by this process."""
    for _ in range(_SLICE):
        port = next(_candidates)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port on 127.0.0.1 in this worker's slice")

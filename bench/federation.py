"""A federation on this machine: how long the playbook takes, and how far the slaves lag.

(a) ``playbooks/federation.yml`` on ``inventories/federation-local``: a master and two
    slave zones, each an onekit instance on its own MariaDB server (the servers are
    started first, ~3 s, and not counted): the first run, then a second one that changes
    nothing -- the baseline, the cost of checking everything;
(b) replication lag: 100 users created on the master (``users.create``, one transaction
    each); for each, the time until a slave's store has it, polled every millisecond on
    both slaves: median, p90 and max; against the time of the write itself.

Run: .venv/bin/python bench/federation.py   (about a minute; needs root and mariadb-server)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from support.federation import LocalFederation

from ansible_collections.onekit.cloud.plugins.module_utils.objects import users

WRITES = 100


def timed_playbook(fed: LocalFederation) -> float:
    started = time.monotonic()
    result = fed.playbook()
    took = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"the playbook failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    return took


def lag(fed: LocalFederation) -> tuple[list[float], list[float]]:
    """(seconds until each write shows on a slave, seconds each write took)."""
    master = fed.instance("zone-a").session()
    slaves = [fed.mysql[z].connect("opennebula") for z in ("zone-b", "zone-c")]
    lags: list[float] = []
    writes: list[float] = []
    for i in range(WRITES):
        name = f"lag{i}"
        started = time.perf_counter()
        users.create(master, name, "pw")
        written = time.perf_counter()
        writes.append(written - started)
        seen = []
        for conn in slaves:
            while True:
                with conn.cursor() as cursor:
                    cursor.execute("SELECT 1 FROM user_pool WHERE name = %s", (name,))
                    if cursor.fetchone():
                        break
                time.sleep(0.001)
            seen.append(time.perf_counter() - written)
        lags.extend(seen)
    master.db.close()
    for conn in slaves:
        conn.close()
    return lags, writes


def main() -> None:
    fed = LocalFederation(Path(tempfile.mkdtemp(prefix="okfedb-", dir="/tmp")))
    try:
        fed.start()
        first = timed_playbook(fed)
        again = timed_playbook(fed)
        print(f"(a) federation.yml, 1 master + 2 slaves, first run:     {first:6.1f} s")
        print(
            f"    second run (nothing to change: the baseline):      {again:6.1f} s"
            f"   first / second = {first / again:.2f}"
        )
        lags, writes = lag(fed)
        lags_ms = sorted(x * 1000 for x in lags)
        p90 = lags_ms[int(len(lags_ms) * 0.9) - 1]
        print(
            f"(b) replication lag over {WRITES} user writes x 2 slaves: median "
            f"{statistics.median(lags_ms):.1f} ms, p90 {p90:.1f} ms, max {lags_ms[-1]:.1f} ms"
        )
        write_ms = statistics.median(writes) * 1000
        print(
            f"    one write on the master itself: median {write_ms:.1f} ms"
            f"   lag / write = {statistics.median(lags_ms) / write_ms:.2f}"
        )
    finally:
        stopper = threading.Thread(target=fed.stop)
        stopper.start()
        stopper.join(120)


if __name__ == "__main__":
    main()

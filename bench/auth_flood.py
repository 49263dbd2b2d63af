"""Valid users during a flood of wrong passwords, against the real server.

200 client threads on 127.0.0.2 send wrong passwords (oneadmin's and made-up users')
to the OneFlow API for 12 s, each request a new connection. Meanwhile, from other
addresses, a valid user whose login is cached (127.0.0.1) and valid users logging in for
the first time (127.0.0.3, a new user each time: a password hash every request) ask for
``GET /service``. The same two kinds of request are timed first without the flood, in
the same run: the baseline. Prints the latencies (median, p90, max), their ratio to the
baseline, what the flood got (401, 429), and the server's peak memory.

Run: .venv/bin/python bench/auth_flood.py   (about 30 s)
"""

from __future__ import annotations

import base64
import http.client
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.ports import free_port

from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import (
    FlowConfig,
)
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import (
    InstanceConfig,
)
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import (
    GateConfig,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import users

FLOOD_CLIENTS, FLOOD_SECONDS, FRESH_USERS = 200, 12.0, 40
VENV_BIN = Path(sys.executable).parent


def get(port: int, user: str, password: str, source: str) -> tuple[int, float]:
    """GET /service as ``user`` from ``source``; (status, seconds)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120, source_address=(source, 0))
    try:
        conn.request("GET", "/service", headers={"Authorization": f"Basic {token}"})
        status = conn.getresponse().status
    except OSError:
        status = 0
    finally:
        conn.close()
    return status, time.perf_counter() - started


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return (
        f"median {statistics.median(ordered) * 1000:7.1f} ms  p90 {p90 * 1000:7.1f} ms  "
        f"max {ordered[-1] * 1000:7.1f} ms  (n={len(ordered)})"
    )


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(port: int, admin: tuple[str, str], fresh: list[str], seconds: float) -> dict:
    """Cached and first-time valid requests, one of each every 0.25 s for ``seconds``."""
    cached, first, statuses = [], [], Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and fresh:
        status, took = get(port, *admin, "127.0.0.1")
        statuses[status] += 1
        cached.append(took)
        name = fresh.pop()
        status, took = get(port, name, f"{name}-pw", "127.0.0.3")
        statuses[status] += 1
        first.append(took)
        time.sleep(0.25)
    return {"cached": cached, "first": first, "statuses": statuses}


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="onekit-bench-")) / "onekit"
    instance = Instance(home)
    instance.init(
        InstanceConfig(port=free_port()),
        flow=FlowConfig(port=free_port()),
        onegate=GateConfig(port=free_port()),
    )
    admin = instance.credentials()
    session = instance.session()
    names = [f"user{i}" for i in range(2 * FRESH_USERS)]
    for name in names:
        users.create(session, name, f"{name}-pw")
    env = {"ONEKIT_HOME": str(home), "PATH": f"{VENV_BIN}:/usr/bin:/bin"}
    subprocess.run([VENV_BIN / "onekit-server", "start"], env=env, check=True, capture_output=True)
    pid = int(instance.pid_path().read_text())
    port = instance.flow_config().port
    try:
        get(port, *admin, "127.0.0.1")  # the admin's login is now cached
        quiet = measure(port, admin, names[:FRESH_USERS], 6.0)

        stop = threading.Event()
        flood_statuses: Counter = Counter()
        lock = threading.Lock()

        def attacker(n: int) -> None:
            k = 0
            while not stop.is_set():
                user = "oneadmin" if k % 2 else f"guess{n}-{k}"
                status, _ = get(port, user, f"wrong-{n}-{k}", "127.0.0.2")
                with lock:
                    flood_statuses[status] += 1
                k += 1

        threads = [threading.Thread(target=attacker, args=(n,)) for n in range(FLOOD_CLIENTS)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # the flood is on
        flooded = measure(port, admin, names[FRESH_USERS:], FLOOD_SECONDS - 1.0)
        stop.set()
        for thread in threads:
            thread.join()
        peak = peak_rss_mib(pid)
    finally:
        subprocess.run([VENV_BIN / "onekit-server", "stop"], env=env, capture_output=True)

    print(f"{FLOOD_CLIENTS} clients sending wrong passwords for {FLOOD_SECONDS:.0f} s")
    print(f"  flood answered: {dict(sorted(flood_statuses.items()))}")
    print(f"  server peak RSS: {peak:.0f} MiB")
    for kind, label in (("cached", "valid, login cached"), ("first", "valid, first login")):
        base, hit = quiet[kind], flooded[kind]
        ratio = statistics.median(hit) / statistics.median(base)
        print(f"{label:22s} no flood: {summary(base)}")
        print(f"{'':22s} flood:    {summary(hit)}  ratio {ratio:.1f}x")
    print(
        f"valid requests' statuses: no flood {dict(quiet['statuses'])}, "
        f"flood {dict(flooded['statuses'])}"
    )


if __name__ == "__main__":
    main()

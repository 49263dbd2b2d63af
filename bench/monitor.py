"""Monitoring: onekit's cycle against bare libvirt polls of the same hosts, in the same run.

(a) bare: the driver calls one cycle makes, straight with libvirt-python on the same
    connections, ``--threads`` hosts at once (threads kept between rounds, as the
    monitor's): ``getInfo``, ``getAllDomainStats`` and, as the test driver's stats carry
    only the state, ``info()`` per guest;
(b) onekit: ``monitor.cycle`` (the same polls, submitted through ``drivers.executor``;
    then the hosts' transactions: states concluded, per host one row of its VMs' figures
    (their MONITORING), one row of their samples and the host's sample; the history's
    expiry while the polls run) on a
    store that holds history as in production: ``--window`` samples per VM and host
    inside the expiration time, plus two expired blocks per measured cycle: each cycle
    expires twice what it writes, the most a cycle expires (a steady state expires what
    it writes). onekit's IM_MAD is configured with ``-t`` = ``--threads`` (default 50,
    oned.conf's collectd line ``-t 50`` for large deployments): both sides poll as many
    hosts at once (onekit's default ``-t 15`` would poll 15 at a time, not a fair match).

Scales: 10k VMs / 100 hosts (goal: b/a <= 1.5x) on SQLite and MariaDB, and 100k VMs /
1,000 hosts (measured, printed). Rounds alternate (a) and (b); the best of the rounds is
printed for each (load from other processes only ever adds time).
Then the storage: bytes per host and per VM sample as stored (table and indexes; a VM
sample is its share of its host's row), and
what a deployment needs for given counts, interval and expiration (the guide's 3.2.2
table, filled with these figures).

Simulated hosts: private libvirtd daemons on libvirt's test driver (tests/support). Each
host is its own connection to a node file (``test+unix:///<dir>/hostN.xml?socket=...``):
the test driver gives every such connection a private hypervisor, so many hosts can
share a daemon (1,000 daemons would take ~28 GB, and each takes an inotify instance: the
default limit is 128 a user). 10k VMs: a daemon per host; 100k VMs: 50 daemons of 20
hosts. Needs root (as the tests).

Run: .venv/bin/python bench/monitor.py              (both scales; ~30 min alone)
     .venv/bin/python bench/monitor.py --small      (10k / 100 only, both stores; ~8 min)
     .venv/bin/python bench/monitor.py --large      (100k / 1,000 only)
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import cProfile
import sqlite3
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import libvirt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.libvirt import sim_hosts, stop_all
from support.mariadb import PASSWORD, USER, MariaDB

from ansible_collections.onekit.cloud.plugins.module_utils import drivers
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.drivers import libvirt as libvirt_driver
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.mads import MadConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import (
    Instance,
    mysql_config,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, monitor, templates

GOAL = 1.5
TINY = 'NAME = "tiny"\nCPU = 0.01\nMEMORY = 8\n'
STATS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
)
ACTIVE = (
    libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE
    | libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT
)
PREFILL_ROWS = 500  # rows per INSERT while prefilling the history


# ---- hosts --------------------------------------------------------------------------------
@dataclass
class Fleet:
    """``count`` simulated hosts over ``daemons`` libvirtd processes."""

    base: Path
    count: int
    daemons: int

    def __post_init__(self) -> None:
        self.sims = sim_hosts(self.daemons, self.base / "d")
        self.uris = []
        for i in range(self.count):
            node = self.base / f"h{i}.xml"
            node.write_text("<node/>")  # the test driver's default hypervisor: 16 CPUs
            sim = self.sims[i % self.daemons]
            self.uris.append(f"test+unix://{node}?socket={sim.socket}")

    def reset(self) -> None:
        """Close every connection: each host comes back empty at the next open."""
        for uri in self.uris:
            drivers.forget(uri)

    def stop(self) -> None:
        self.reset()
        stop_all(self.sims)


THREADS = 50  # hosts polled at once, both sides: onekit's IM_MAD -t (--threads)
POLLERS: list[concurrent.futures.ThreadPoolExecutor] = []  # kept between rounds


def bare_polls(uris: list[str]) -> tuple[float, int]:
    """One round of the driver calls a cycle makes, ``THREADS`` hosts at once (threads
    kept from round to round, as the monitor keeps them), on the very connections onekit
    uses (a node-file host's guests live in its connection)."""
    if not POLLERS:
        POLLERS.append(concurrent.futures.ThreadPoolExecutor(max_workers=THREADS))
    conns = [libvirt_driver._connection(uri) for uri in uris]

    def poll(conn: libvirt.virConnect) -> int:
        conn.getInfo()
        records = conn.getAllDomainStats(STATS, ACTIVE)
        return len([(dom.name(), dom.info()) for dom, _record in records])

    started = time.perf_counter()
    guests = sum(POLLERS[0].map(poll, conns))
    return time.perf_counter() - started, guests


# ---- a store with VMs and history ------------------------------------------------------------
@dataclass
class Cloud:
    instance: Instance
    system: Session
    config: monitor.MonitorConfig
    vm_ids: list[int]
    host_ids: list[int]


def build_cloud(home: Path, fleet: Fleet, vm_count: int, config: InstanceConfig) -> Cloud:
    instance = Instance(home)
    instance.init(config)
    admin = instance.session()
    made_hosts = [hosts.create(admin, f"sim{i}", uri=uri) for i, uri in enumerate(fleet.uris)]
    system = Session.system(admin.db)
    mon = instance.monitor_config()
    monitor.cycle(system, mon)
    templates.create(admin, TINY)
    started = time.perf_counter()
    made = []
    for start in range(0, vm_count, 10_000):  # instantiate's most per call
        batch = templates.instantiate(admin, "tiny", min(10_000, vm_count - start))
        # placed round-robin by hand (onevm deploy): the scheduler ranks every host for
        # every VM, 10^8 rankings at 100k VMs / 1,000 hosts (over 20 min of set-up)
        spread = [(vm["ID"], made_hosts[i % len(made_hosts)]["ID"]) for i, vm in enumerate(batch)]
        placed = lifecycle.deploy(admin, spread)
        failed = [o for o in placed if o.error is not None]
        if failed or len(placed) != len(batch):
            raise SystemExit(f"deploying the VMs failed: {failed[:3]}")
        made += batch
    print(f"    {vm_count} VMs deployed in {time.perf_counter() - started:.0f} s", flush=True)
    monitor.cycle(system, mon)  # the first polls prime the CPU samples
    return Cloud(instance, system, mon, [vm["ID"] for vm in made], [h["ID"] for h in made_hosts])


def store_bytes(cloud: Cloud, table: str) -> int:
    """Bytes a table and its indexes take (SQLite: the whole file, after a checkpoint:
    only the table grows between two calls)."""
    db = cloud.system.db
    if db.dialect == "sqlite":
        with contextlib.closing(sqlite3.connect(cloud.instance.sqlite_path)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            pages -= conn.execute("PRAGMA freelist_count").fetchone()[0]
            return pages * conn.execute("PRAGMA page_size").fetchone()[0]
    with db.transaction() as tx:
        tx.rows(f"ANALYZE TABLE {table}")
        row = tx.row(
            "SELECT data_length + index_length FROM information_schema.TABLES "
            "WHERE table_schema = DATABASE() AND table_name = ?",
            (table,),
        )
    return int(row[0])


def prefill(cloud: Cloud, window: int, expired_blocks: int) -> dict[str, float]:
    """``window`` samples per host and VM inside the expiration times, and
    ``expired_blocks`` cycles' worth just past them; returns bytes per sample."""
    db, mon, now = cloud.system.db, cloud.config, int(time.time())
    per_sample: dict[str, float] = {}
    with db.snapshot() as tx:  # the VMs' samples: a row per host, its VMs' figures
        vm_bodies = dict(tx.rows("SELECT hid, body FROM vm_monitoring"))
        host_body = tx.row("SELECT body FROM host_monitoring LIMIT 1")[0]
    host_bodies = {hid: host_body for hid in cloud.host_ids}
    for table, columns, bodies, samples, keep in (
        ("vm_monitoring", "hid, last_poll", vm_bodies, len(cloud.vm_ids), mon.vm_expiration),
        (
            "host_monitoring",
            "hid, last_mon_time",
            host_bodies,
            len(host_bodies),
            mon.host_expiration,
        ),
    ):
        times = [now - keep - 10 - b for b in range(expired_blocks)]
        step = max(1, (keep - 60) // max(window, 1))
        times += [now - keep + 30 + step * j for j in range(window)]
        rows = [(hid, t, body) for t in times for hid, body in bodies.items()]
        before = store_bytes(cloud, table)
        for start in range(0, len(rows), PREFILL_ROWS):
            chunk = rows[start : start + PREFILL_ROWS]
            values = ", ".join("(?, ?, ?)" for _ in chunk)
            with db.transaction() as tx:
                tx.execute(
                    f"INSERT INTO {table} ({columns}, body) VALUES {values}",
                    [v for row in chunk for v in row],
                )
        per_sample[table] = (store_bytes(cloud, table) - before) / (len(times) * samples)
    return per_sample


# ---- one scale -----------------------------------------------------------------------------
@dataclass
class Result:
    label: str
    bare: float
    ours: float
    rows: dict[str, float]

    @property
    def ratio(self) -> float:
        return self.ours / self.bare


PROFILE: list[cProfile.Profile] = []  # --profile: the onekit cycles run under cProfile


def measure(cloud: Cloud, fleet: Fleet, rounds: int) -> tuple[float, float]:
    """The best wall time of (a) and of (b); each round also prints both, with the CPU
    seconds this process spent (all its threads: libvirt-python's calls, the store's)."""
    bare, ours = [], []
    for _ in range(rounds):
        cpu = time.process_time()
        elapsed, guests = bare_polls(fleet.uris)
        bare_cpu = time.process_time() - cpu
        if guests != len(cloud.vm_ids):
            raise SystemExit(f"bare polls saw {guests} guests, not {len(cloud.vm_ids)}")
        bare.append(elapsed)
        cpu = time.process_time()
        started = time.perf_counter()
        for profile in PROFILE:
            profile.enable()
        reports = monitor.cycle(cloud.system, cloud.config)
        for profile in PROFILE:
            profile.disable()
        ours.append(time.perf_counter() - started)
        print(
            f"      round: bare {elapsed:.2f} s (CPU {bare_cpu:.2f} s) | onekit {ours[-1]:.2f} s "
            f"(CPU {time.process_time() - cpu:.2f} s)",
            flush=True,
        )
        errors = [r.error for r in reports if r.error]
        if errors or len(reports) != fleet.count:
            raise SystemExit(f"the cycle failed: {errors[:3]}")
    return min(bare), min(ours)


def run_scale(
    base: Path,
    vm_count: int,
    host_count: int,
    daemons: int,
    backends: list[str],
    rounds: int,
    window: int,
) -> list[Result]:
    results = []
    fleet = Fleet(base / f"f{host_count}", host_count, daemons)
    server = None
    try:
        for backend in backends:
            label = f"{vm_count // 1000}k VMs / {host_count} hosts, {backend}"
            print(f"  {label}: setting up ({daemons} libvirtd)", flush=True)
            im_mad = MadConfig("kvm", arguments=f"-t {THREADS}", threads=THREADS)
            config = InstanceConfig(im_mads={"kvm": im_mad})
            if backend == "mariadb":
                if server is None:
                    server = MariaDB(
                        base / "mariadb", extra_args=("--innodb-buffer-pool-size=1G",)
                    ).start()
                name = f"bench_{uuid.uuid4().hex[:8]}"
                config = mysql_config("127.0.0.1", server.port, USER, PASSWORD, name, config)
            cloud = build_cloud(base / f"home-{host_count}-{backend}", fleet, vm_count, config)
            started = time.perf_counter()
            rows = prefill(cloud, window, 2 * rounds)
            kept = (window + 2 * rounds) * (vm_count + host_count)
            print(f"    history: {kept} samples prefilled in {time.perf_counter() - started:.0f} s")
            bare, ours = measure(cloud, fleet, rounds)
            results.append(Result(label, bare, ours, rows))
            print(
                f"    bare libvirt polls {bare:.2f} s | onekit monitor.cycle {ours:.2f} s | "
                f"ratio {ours / bare:.2f}x" + (f" (goal <= {GOAL}x)" if vm_count <= 10_000 else ""),
                flush=True,
            )
            cloud.system.db.close()
            fleet.reset()
    finally:
        fleet.stop()
        if server is not None:
            server.stop()
    return results


# ---- storage -------------------------------------------------------------------------------
# The guide's examples (3.2.2), plus onekit's defaults (60 s, 12 h / 4 h).
HOST_CASES = ((20, 12 * 3600, 200), (20, 24 * 3600, 1000), (60, 12 * 3600, 1000))
VM_CASES = ((20, 4 * 3600, 2000), (20, 24 * 3600, 10000), (60, 4 * 3600, 100000))


def size(octets: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if octets < 1024 or unit == "TB":
            return f"{octets:.0f} {unit}" if unit in ("B", "KB") else f"{octets:.1f} {unit}"
        octets /= 1024
    return ""


def storage_table(results: list[Result]) -> None:
    print("\nStorage a deployment needs (samples x bytes per sample, measured above):")
    backends = {r.label.rsplit(", ", 1)[1]: r.rows for r in results}
    for backend, rows in backends.items():
        host, vm = rows["host_monitoring"], rows["vm_monitoring"]
        print(f"  {backend}: {host:.0f} bytes per host sample, {vm:.0f} bytes per VM sample")
    print("  | interval | host expiration | hosts | " + " | ".join(backends) + " |")
    for interval, keep, count in HOST_CASES:
        cells = [size(count * keep / interval * r["host_monitoring"]) for r in backends.values()]
        print(f"  | {interval} s | {keep // 3600} h | {count} | " + " | ".join(cells) + " |")
    print("  | interval | VM expiration | VMs | " + " | ".join(backends) + " |")
    for interval, keep, count in VM_CASES:
        cells = [size(count * keep / interval * r["vm_monitoring"]) for r in backends.values()]
        print(f"  | {interval} s | {keep // 3600} h | {count} | " + " | ".join(cells) + " |")


def main() -> None:
    global THREADS  # the bare polls' width and the IM_MAD's -t, from --threads
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--small", action="store_true", help="only 10k VMs / 100 hosts")
    scale.add_argument("--large", action="store_true", help="only 100k VMs / 1,000 hosts")
    parser.add_argument("--no-mariadb", action="store_true", help="SQLite only")
    parser.add_argument("--rounds", type=int, default=5, help="measured cycles per store")
    parser.add_argument(
        "--window",
        type=int,
        help="samples per host and VM inside the expiration (default: at 10k VMs a full "
        "VM_MONITORING_EXPIRATION_TIME / MONITORING_INTERVAL, 240; at 100k VMs 24)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=THREADS,
        help="hosts polled at once by both sides: onekit's IM_MAD -t (default 50, "
        "oned.conf's collectd -t 50)",
    )
    parser.add_argument("--profile", metavar="FILE", help="write cProfile stats of the cycles")
    args = parser.parse_args()
    if not 1 <= args.threads <= 256:
        parser.error(f"--threads must be 1-256 (an IM_MAD's -t), got {args.threads}")
    THREADS = args.threads
    if args.profile:
        PROFILE.append(cProfile.Profile())
    small_backends = ["sqlite"] + ([] if args.no_mariadb else ["mariadb"])
    with tempfile.TemporaryDirectory(prefix="okmon-", dir="/tmp") as tmp:
        base = Path(tmp)
        print(
            f"Monitoring cycle vs bare libvirt polls (best of {args.rounds}; onekit / bare; "
            f"{THREADS} hosts polled at once by both: IM_MAD -t {THREADS})"
        )
        results = []
        if not args.large:
            window = args.window or 240
            results += run_scale(base, 10_000, 100, 100, small_backends, args.rounds, window)
        if not args.small:
            window = args.window or 24
            results += run_scale(base, 100_000, 1000, 50, ["sqlite"], args.rounds, window)
        print("\nSummary")
        for r in results:
            goal = f"  goal <= {GOAL}x" if r.label.startswith("10k") else "  (measured)"
            print(
                f"  {r.label}: bare {r.bare:.2f} s, onekit {r.ours:.2f} s, "
                f"ratio {r.ratio:.2f}x{goal}"
            )
        storage_table(results)
    for profile in PROFILE:
        profile.dump_stats(args.profile)


if __name__ == "__main__":
    main()

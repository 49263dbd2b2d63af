"""Simulated hypervisor hosts for tests: one private libvirtd per host, on libvirt's test
driver (``onekit.server.sim_host.SimHost``, the embedded default's host too).

    with SimHost(tmp_path / "h1") as host:      # ~0.1-1 s
        driver = LibvirtDriver(host.uri)          # test+unix:///default?socket=...
        host.kill()                               # SIGKILL: a host failure
        host.start()                              # the same socket again, a fresh state

Sockets want short paths: give hosts a base dir under /tmp (``tempfile.mkdtemp``).
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from onekit.server.sim_host import SimHost

__all__ = ["SimHost", "sim_hosts", "stop_all"]


def sim_hosts(n: int, base_dir: Path | str) -> list[SimHost]:
    """Start ``n`` simulated hosts in parallel under ``base_dir`` (``host0``, ``host1``...).

    If one fails to start, the others are stopped and the error is raised."""
    hosts = [SimHost(Path(base_dir) / f"host{i}") for i in range(n)]
    with ThreadPoolExecutor(max_workers=max(n, 1)) as pool:
        futures = [pool.submit(host.start) for host in hosts]
        errors = [f.exception() for f in futures]
    failed = [e for e in errors if e is not None]
    if failed:
        stop_all(hosts)
        raise failed[0]
    return hosts


def stop_all(hosts: Iterable[SimHost]) -> None:
    """Stop hosts in parallel (a clean stop takes a moment each)."""
    hosts = list(hosts)
    if not hosts:
        return
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        list(pool.map(lambda h: h.stop(), hosts))

"""Simulated hypervisor hosts for tests: one private libvirtd per host, on libvirt's test
driver.

    with SimHost(tmp_path / "h1") as host:      # ~0.1-1 s
        driver = LibvirtDriver(host.uri)          # test+unix:///default?socket=...
        host.kill()                               # SIGKILL: a host failure
        host.start()                              # the same socket again, a fresh state

Each daemon runs in a private mount namespace with its own ``/run/libvirt`` (a tmpfs) and
``/var/lib/libvirt`` (a directory under the host's base dir), so it clashes neither with
the machine's libvirtd nor with the other simulated hosts; its sockets are in the base dir
(``unix_sock_dir``), without authentication. The test driver keeps its state (the
simulated domains) only while at least one connection is open, so a running host holds one
(:attr:`SimHost.hold`). Needs root (mount namespaces) and the Debian package
``libvirt-daemon-system``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import libvirt

# libvirt prints every error to stderr unless a handler is installed; the waits below
# expect refusals while the daemon starts.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def _binary(name: str, package: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        raise RuntimeError(
            f"{name} is not installed: simulated hosts need the Debian package {package} "
            "(`make setup` installs it)"
        )
    return path


class SimHost:
    """One simulated host: a private libvirtd serving ``test+unix:///default``."""

    def __init__(self, base: Path | str):
        self.base = Path(base)
        self.socket = self.base / "libvirt-sock"
        self.uri = f"test+unix:///default?socket={self.socket}"
        self.process: subprocess.Popen | None = None
        self.hold: libvirt.virConnect | None = None
        self._log = None

    # -- life cycle --------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> SimHost:
        """Start the daemon and wait until its socket accepts a connection (then hold it)."""
        if self.process is not None and self.process.poll() is None:
            return self
        libvirtd = _binary("libvirtd", "libvirt-daemon-system")
        unshare = _binary("unshare", "util-linux")
        if os.geteuid() != 0:
            raise RuntimeError("simulated hosts need root: libvirtd runs in a mount namespace")
        if len(str(self.socket).encode()) > 107:
            raise RuntimeError(
                f"socket path {self.socket} is too long for a unix socket (107 bytes): "
                "give SimHost a shorter base dir (e.g. tempfile.mkdtemp(dir='/tmp'))"
            )
        self.base.mkdir(parents=True, exist_ok=True)
        (self.base / "lib").mkdir(exist_ok=True)
        conf = self.base / "libvirtd.conf"
        conf.write_text(
            f'unix_sock_dir = "{self.base}"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n'
        )
        # A socket left by a killed daemon would make the wait below succeed too early.
        for name in ("libvirt-sock", "libvirt-sock-ro", "libvirt-admin-sock"):
            (self.base / name).unlink(missing_ok=True)
        script = (
            "mount -t tmpfs tmpfs /run/libvirt"
            f" && mount --bind '{self.base}/lib' /var/lib/libvirt"
            f" && exec '{libvirtd}' -f '{conf}' -p '{self.base}/pid'"
        )
        self._log = open(self.base / "libvirtd.log", "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [unshare, "-m", "--propagation", "private", "sh", "-c", script],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            self._wait(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.socket.exists():
                try:
                    self.hold = libvirt.open(self.uri)
                    return
                except libvirt.libvirtError as err:
                    last = str(err)
            else:
                last = f"no socket {self.socket} yet"
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = (self.base / "libvirtd.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(
                    f"libvirtd for {self.base} did not start ({last}); its log:\n{tail}"
                )
            time.sleep(0.02)

    def _release(self) -> None:
        if self.hold is not None:
            with contextlib.suppress(libvirt.libvirtError):  # dead with its daemon
                self.hold.close()
            self.hold = None

    def kill(self) -> None:
        """SIGKILL the daemon, as a host failure: clients see their connection drop."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.process = None
        self._release()
        self._close_log()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the daemon cleanly (SIGTERM, SIGKILL after ``timeout``)."""
        self._release()
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> SimHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SimHost({self.uri!r}, pid={self.pid})"


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

"""A simulated hypervisor host: a private libvirtd serving libvirt's test driver.

    with SimHost(base) as host:          # ~0.1-1 s
        host.uri                         # test+unix:///default?socket=<base>/libvirt-sock
        host.kill()                      # SIGKILL: a host failure
        host.start()                     # the same socket again, a fresh state

It is the embedded default's host (each instance has its own, under its home: guests of
two instances never meet) and the tests' hosts. The daemon's sockets, pid file, log and
state all live in its base dir, without authentication on the socket (the dir is the
owner's only). As root, libvirtd runs in a private mount namespace with its own
``/run/libvirt`` (a tmpfs) and ``/var/lib/libvirt`` (a dir under the base), so it clashes
neither with the machine's libvirtd nor with other simulated hosts; as another user it is
a session daemon whose XDG dirs are in the base. The test driver keeps its state (the
simulated domains) only while a connection is open, so a started host holds one
(``hold``). Needs the Debian package ``libvirt-daemon-system``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import libvirt

MAX_SOCKET_PATH = 107  # bytes in a unix socket's address


def _quiet(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr unless a handler is installed; the wait
    below expects refusals while the daemon starts."""


libvirt.registerErrorHandler(_quiet, None)


class SimHostError(RuntimeError):
    """The simulated host could not be started."""


def _binary(name: str, package: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        raise SimHostError(
            f"{name} is not installed: a simulated host needs the Debian package {package} "
            "(`make setup` installs it)"
        )
    return path


def socket_path(base: Path | str) -> Path:
    return Path(base) / "libvirt-sock"


def uri_for(base: Path | str) -> str:
    return f"test+unix:///default?socket={socket_path(base)}"


class SimHost:
    """One simulated host: a private libvirtd serving ``test+unix:///default``."""

    def __init__(self, base: Path | str):
        self.base = Path(base)
        self.socket = socket_path(self.base)
        self.uri = uri_for(self.base)
        self.process: subprocess.Popen | None = None
        self.hold: libvirt.virConnect | None = None
        self._log = None

    # -- life cycle --------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> SimHost:
        """Start the daemon and wait until its socket accepts a connection (then hold it)."""
        if self.process is not None and self.process.poll() is None:
            return self
        libvirtd = _binary("libvirtd", "libvirt-daemon-system")
        if len(str(self.socket).encode()) > MAX_SOCKET_PATH:
            raise SimHostError(
                f"socket path {self.socket} is too long for a unix socket "
                f"({MAX_SOCKET_PATH} bytes): use a shorter base dir"
            )
        self.base.mkdir(mode=0o700, parents=True, exist_ok=True)
        conf = self.base / "libvirtd.conf"
        conf.write_text(
            f'unix_sock_dir = "{self.base}"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n'
        )
        # A socket left by a killed daemon would make the wait below succeed too early.
        for name in ("libvirt-sock", "libvirt-sock-ro", "libvirt-admin-sock"):
            (self.base / name).unlink(missing_ok=True)
        self._log = open(self.base / "libvirtd.log", "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            self._command(libvirtd, conf),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self._environment(),
        )
        try:
            self._wait(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def _command(self, libvirtd: str, conf: Path) -> list[str]:
        daemon = [libvirtd, "-f", str(conf), "-p", str(self.base / "pid")]
        if os.geteuid() != 0:
            return daemon  # a session daemon: its dirs come from the XDG variables
        (self.base / "lib").mkdir(exist_ok=True)
        unshare = _binary("unshare", "util-linux")
        script = (
            "mount -t tmpfs tmpfs /run/libvirt"
            f" && mount --bind '{self.base}/lib' /var/lib/libvirt"
            ' && exec "$@"'
        )
        return [unshare, "-m", "--propagation", "private", "sh", "-c", script, "sh", *daemon]

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if os.geteuid() != 0:
            for variable, folder in (
                ("XDG_RUNTIME_DIR", "run"),
                ("XDG_CONFIG_HOME", "config"),
                ("XDG_CACHE_HOME", "cache"),
            ):
                (self.base / folder).mkdir(mode=0o700, exist_ok=True)
                env[variable] = str(self.base / folder)
        return env

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
                raise SimHostError(
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

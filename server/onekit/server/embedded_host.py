"""The instance's own simulated host, run by the server that leads its loops.

``onekit-server init --examples`` registers host ``localhost`` on libvirt's test driver
through a libvirtd of the instance's own (``Instance.sim_dir``), so two instances on
one machine never see each other's guests. That daemon keeps its guests only while it
runs, and it runs with the server: when a server starts leading, it starts the daemon
(after stopping one a dead server may have left) and gives every VM the store has
RUNNING, UNKNOWN or SUSPENDED there its guest back (``lifecycle.restore_guests``), so
`make run` stopped with Ctrl-C and started again keeps its VMs. Commands reach the host
while the server runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path

from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle
from onekit.server.sim_host import SimHost

log = logging.getLogger("onekit.server")


class EmbeddedHost:
    def __init__(self, instance: Instance):
        self.sim = SimHost(instance.sim_dir)

    def registered(self, session: Session) -> list[dict]:
        """The hosts of the store served by this instance's simulated host."""
        return [h for h in hosts.list_hosts(session) if hosts.uri_of(h) == self.sim.uri]

    def start(self, session: Session) -> list[str]:
        """Run the daemon if a host uses it, and restore its guests; what was done."""
        registered = self.registered(session)
        if not registered:
            return []
        self._stop_stale()
        self.sim.start()
        notes = [f"embedded host: libvirtd started ({self.sim.uri})"]
        for host in registered:
            for line in lifecycle.restore_guests(session, host["ID"]):
                notes.append(f"embedded host {host['NAME']}: {line}")
        return notes

    def stop(self) -> None:
        if self.sim.running:
            self.sim.stop()

    def _stop_stale(self) -> None:
        """A daemon a killed server left (no connection keeps its guests any more)."""
        try:
            pid = int((self.sim.base / "pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if b"libvirtd" not in cmdline or str(self.sim.base).encode() not in cmdline:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        log.info("embedded host: stopped the libvirtd (pid %d) a previous server left", pid)

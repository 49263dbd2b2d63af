"""The libvirt driver: any libvirt URI as a host (``qemu:///system``,
``qemu+ssh://host/system``, ``test+unix:///default`` for a simulated one).

Connections. One connection per URI per process, shared by every ``LibvirtDriver`` of that
URI (libvirt connections are thread-safe, and opening one costs a round trip or an SSH
login). A cached connection found dead -- ``isAlive()`` false, or a call failing with a
transport error because libvirtd was killed or restarted -- is dropped and opened again
once; an open that fails is ``HostUnreachable`` with libvirt's message.

Never hanging on a lost host. A killed daemon closes its socket, and calls fail at once.
A host that vanishes without closing anything (a power cut behind TCP, a frozen daemon)
would make a call wait for ever, so the module runs libvirt's default event loop in a
daemon thread and turns on client keepalive: a connection whose peer stops answering for
``KEEPALIVE_INTERVAL * (KEEPALIVE_COUNT + 1)`` seconds is closed by libvirt, and the
waiting call fails. Opening a connection runs in a helper thread bounded by
``OPEN_TIMEOUT``. These are module constants, read when a connection is opened.

The event loop is libvirt's process-wide one (``virEventRegisterDefaultImpl``): other code
in the process that uses libvirt events must use this one (``ensure_event_loop()``), not
register a second.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import libvirt

from ansible_collections.onekit.cloud.plugins.module_utils.drivers import context_volumes
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import (
    CRASHED,
    DOMAIN_PREFIX,
    MISSING,
    PAUSED,
    RUNNING,
    SHUTOFF,
    Driver,
    DriverError,
    HostStatus,
    HostUnreachable,
    VmSpec,
    VmStatus,
)
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.domain_xml import (
    disk_xml,
    domain_xml,
)

__all__ = ["LibvirtDriver", "close_all", "ensure_event_loop"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: seconds of silence before the client sends a keepalive probe
KEEPALIVE_INTERVAL = 5
#: unanswered probes after which the connection counts as dead
KEEPALIVE_COUNT = 3
#: seconds an open may take (a TCP connect to a host that drops packets, an SSH login)
OPEN_TIMEOUT = 15.0
#: seconds a detached disk may take to leave the guest after libvirt's own wait (5 s):
#: a virtio disk goes once the guest OS acknowledges its removal (ACPI hot-plug)
DETACH_WAIT = 3.0

_STATE = {
    libvirt.VIR_DOMAIN_NOSTATE: RUNNING,
    libvirt.VIR_DOMAIN_RUNNING: RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: RUNNING,
    libvirt.VIR_DOMAIN_SHUTDOWN: RUNNING,  # still running, being shut down
    libvirt.VIR_DOMAIN_PAUSED: PAUSED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PAUSED,
    libvirt.VIR_DOMAIN_SHUTOFF: SHUTOFF,
    libvirt.VIR_DOMAIN_CRASHED: CRASHED,
}
_STATS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
)
# Errors that say the transport is gone, whatever the state isAlive() reports yet.
_CONNECTION_CODES = {libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_INVALID_CONN}
_RPC_TRANSPORT_CODES = {libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_INTERNAL_ERROR}


def _ignore_error(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr unless a handler is set; ours are raised."""


libvirt.registerErrorHandler(_ignore_error, None)


# --------------------------------------------------------------------------------------
# The event loop (keepalive) and the connection cache
# --------------------------------------------------------------------------------------

_event_lock = threading.Lock()
_event_registered = False
_event_thread: threading.Thread | None = None


def _run_event_loop() -> None:
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except libvirt.libvirtError:  # pragma: no cover - a failed poll(); keep serving
            time.sleep(0.1)


def ensure_event_loop() -> None:
    """Register libvirt's default event loop and run it in a daemon thread (once)."""
    global _event_registered, _event_thread
    with _event_lock:
        if not _event_registered:
            libvirt.virEventRegisterDefaultImpl()
            _event_registered = True
        if _event_thread is None or not _event_thread.is_alive():
            _event_thread = threading.Thread(
                target=_run_event_loop, name="libvirt-events", daemon=True
            )
            _event_thread.start()


_cache_lock = threading.Lock()
_connections: dict[str, libvirt.virConnect] = {}
_capabilities: dict[str, ET.Element] = {}
_open_locks: dict[str, threading.Lock] = {}


_inherited: list[libvirt.virConnect] = []


def _after_fork() -> None:
    """A child must not use its parent's sockets, nor close them: closing a connection
    sends libvirtd a close on the socket both processes share, which ends the parent's
    connection too (and with the last one, the test driver's simulated VMs). So the
    child keeps the inherited objects, unused, and starts afresh."""
    global _cache_lock, _event_lock, _event_thread
    _cache_lock = threading.Lock()
    _event_lock = threading.Lock()
    _event_thread = None
    _inherited.extend(_connections.values())
    _connections.clear()
    _capabilities.clear()
    _open_locks.clear()


os.register_at_fork(after_in_child=_after_fork)


def _alive(conn: libvirt.virConnect) -> bool:
    try:
        return conn.isAlive() == 1
    except libvirt.libvirtError:
        return False


def _quiet_close(conn: libvirt.virConnect) -> None:
    with contextlib.suppress(libvirt.libvirtError):  # a dead connection
        conn.close()


def _drop(uri: str, conn: libvirt.virConnect | None = None) -> None:
    """Forget the cached connection of ``uri`` (only ``conn``, if given: another thread
    may have opened a new one already) and close it."""
    with _cache_lock:
        cached = _connections.get(uri)
        if cached is None or (conn is not None and cached is not conn):
            return
        del _connections[uri]
        _capabilities.pop(uri, None)
    _quiet_close(cached)


def close_all() -> None:
    """Close every cached connection (tests; a server shutting down)."""
    for uri in list(_connections):
        _drop(uri)


def _open(uri: str) -> libvirt.virConnect:
    """Open ``uri`` in a helper thread, so an open that hangs is bounded by OPEN_TIMEOUT."""
    ensure_event_loop()
    timeout = OPEN_TIMEOUT
    result: dict[str, Any] = {}
    done = threading.Event()
    lock = threading.Lock()

    def work() -> None:
        try:
            conn = libvirt.open(uri)
        except libvirt.libvirtError as err:
            conn, result["error"] = None, err
        with lock:
            if result.get("abandoned"):
                if conn is not None:
                    _quiet_close(conn)
                return
            result["conn"] = conn
            done.set()

    threading.Thread(target=work, name=f"libvirt-open {uri}", daemon=True).start()
    if not done.wait(timeout):
        with lock:
            if not done.is_set():
                result["abandoned"] = True
                raise HostUnreachable(
                    f"cannot connect to libvirt at {uri}: no answer within {timeout:g} s"
                )
    if result.get("conn") is None:
        raise HostUnreachable(
            f"cannot connect to libvirt at {uri}: {_message(result['error'])}"
        ) from None
    conn = result["conn"]
    if KEEPALIVE_INTERVAL > 0:
        # in-process drivers (test:///, qemu:///embed) refuse it and need none
        with contextlib.suppress(libvirt.libvirtError):
            conn.setKeepAlive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT)
    return conn


def _connection(uri: str) -> libvirt.virConnect:
    """The shared connection of ``uri``, opened (again) if there is none or it is dead."""
    conn = _connections.get(uri)
    if conn is not None and _alive(conn):
        return conn
    with _cache_lock:
        uri_lock = _open_locks.setdefault(uri, threading.Lock())
    # One opener per URI; a slow or dead host does not hold up the others.
    with uri_lock:
        conn = _connections.get(uri)
        if conn is not None:
            if _alive(conn):
                return conn
            _drop(uri, conn)
        conn = _open(uri)
        with _cache_lock:
            _connections[uri] = conn
        return conn


def _message(err: libvirt.libvirtError) -> str:
    return err.get_error_message() or str(err)


def _code(err: libvirt.libvirtError) -> int | None:
    return err.get_error_code()


def _is_connection_error(err: libvirt.libvirtError, conn: libvirt.virConnect) -> bool:
    if _code(err) in _CONNECTION_CODES:
        return True
    if err.get_error_domain() == libvirt.VIR_FROM_RPC and _code(err) in _RPC_TRANSPORT_CODES:
        return True
    return not _alive(conn)


# --------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------


class LibvirtDriver(Driver):
    """One libvirt host. Cheap to create: the connection is the process-wide one of the
    URI, opened at the first call."""

    name = "kvm"

    def __init__(self, uri: str):
        self.uri = uri
        self._is_test = uri.startswith("test")
        # deploy id -> (cpu time ns, monotonic s) of the last poll/monitor, for cpu %
        self._cpu_samples: dict[str, tuple[int, float]] = {}
        self._host_cpu: tuple[int, int] | None = None  # (busy ns, total ns)
        self._samples_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LibvirtDriver({self.uri!r})"

    # -- plumbing ----------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[libvirt.virConnect], T]) -> T:
        """Run ``fn(conn)``; a transport failure reopens the connection and retries once.
        libvirt errors become DriverError (HostUnreachable for the transport)."""
        for attempt in (1, 2):
            conn = _connection(self.uri)
            try:
                return fn(conn)
            except libvirt.libvirtError as err:
                if not _is_connection_error(err, conn):
                    raise DriverError(f"{what} on {self.uri}: {_message(err)}") from None
                _drop(self.uri, conn)
                if attempt == 2:
                    raise HostUnreachable(
                        f"{what} on {self.uri}: connection lost: {_message(err)}"
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _on_domain(self, what: str, deploy_id: str, fn: Callable[[libvirt.virDomain], T]) -> T:
        return self._call(f"{what} {deploy_id}", lambda conn: fn(conn.lookupByName(deploy_id)))

    def _capabilities(self) -> ET.Element:
        caps = _capabilities.get(self.uri)
        if caps is None:
            caps = ET.fromstring(self._call("getCapabilities", lambda c: c.getCapabilities()))
            _capabilities[self.uri] = caps
        return caps

    def _host_arch(self) -> str:
        return self._capabilities().findtext("host/cpu/arch") or "x86_64"

    def domain_type(self, arch: str = "x86_64") -> str:
        """``test`` on the test driver, ``kvm`` where the host offers KVM for ``arch``,
        else ``qemu`` (emulation)."""
        if self._is_test:
            return "test"
        types = {
            domain.get("type")
            for guest in self._capabilities().findall("guest")
            if guest.findtext("os_type") == "hvm"
            for arch_el in guest.findall("arch")
            if arch_el.get("name") == arch
            for domain in arch_el.findall("domain")
        }
        return "kvm" if "kvm" in types else "qemu"

    # -- life cycle --------------------------------------------------------------------

    def deploy(self, vm: VmSpec) -> str:
        """Start a transient domain (``virsh create``); a running one of that name is
        taken as this deploy done already. The VM's context image is attached as is on
        the test driver, and staged as a volume of the host (``context_volumes``) on a
        real one."""
        # The template is checked before the host is asked anything: a bad template is
        # InvalidInput even when the host is down.
        guess = "test" if self._is_test else "kvm"
        checked = domain_xml(_with_context_iso(vm, vm.context_image), guess)
        os_vec = vm.template.get("OS")
        arch = (os_vec.get("ARCH") if isinstance(os_vec, Mapping) else None) or "x86_64"
        dom_type = self.domain_type(arch)
        name = vm.deploy_id
        image = None
        if vm.context_image and not self._is_test:
            with open(vm.context_image, "rb") as handle:
                image = handle.read()

        def running(conn: libvirt.virConnect) -> bool:
            dom = _lookup(conn, name)
            return dom is not None and dom.isActive() == 1

        def op(conn: libvirt.virConnect) -> str:
            # With nothing to stage, createXML itself finds a running domain of that name
            # (it refuses it: handled below), so only a staging deploy looks first.
            if image is not None and running(conn):
                return name
            iso = vm.context_image
            if image is not None:
                iso = context_volumes.stage(conn, name, image)
            # the document checked above, unless the host's type or the image's path differ
            xml = checked
            if dom_type != guess or iso != vm.context_image:
                xml = domain_xml(_with_context_iso(vm, iso), dom_type)
            try:
                conn.createXML(xml, 0)
            except libvirt.libvirtError as err:
                # Another deploy of the same VM won the race: that is this deploy done.
                if _is_connection_error(err, conn) or not running(conn):
                    if image is not None and not _is_connection_error(err, conn):
                        with contextlib.suppress(libvirt.libvirtError):
                            context_volumes.remove(conn, name)
                    raise
            return name

        return self._call(f"deploy {name}", op)

    def release(self, deploy_id: str) -> None:
        if not self._is_test:
            self._call(
                f"remove the context image of {deploy_id}",
                lambda conn: context_volumes.remove(conn, deploy_id),
            )

    def shutdown(self, deploy_id: str) -> None:
        self._on_domain("shutdown", deploy_id, lambda d: d.shutdown())

    def cancel(self, deploy_id: str) -> None:
        """Destroy, and undefine a persistent domain; an absent domain is cancelled.
        Its context image goes too (a redeploy stages it again)."""

        def op(conn: libvirt.virConnect) -> None:
            dom = _lookup(conn, deploy_id)
            if dom is None:
                return
            try:
                persistent = dom.isPersistent() == 1
                if dom.isActive() == 1:
                    dom.destroy()
                if persistent:
                    _undefine(dom)
            except libvirt.libvirtError as err:
                code = _code(err)
                if code == libvirt.VIR_ERR_NO_DOMAIN:
                    return  # gone meanwhile (a transient domain vanishes once destroyed)
                if code == libvirt.VIR_ERR_OPERATION_INVALID and _lookup(conn, deploy_id) is None:
                    return
                raise

        self._call(f"cancel {deploy_id}", op)
        try:
            self.release(deploy_id)
        except DriverError as err:  # the guest is gone, which is what was asked
            log.warning("%s", err)

    def reboot(self, deploy_id: str) -> None:
        self._on_domain("reboot", deploy_id, lambda d: d.reboot(0))

    def reset(self, deploy_id: str) -> None:
        self._on_domain("reset", deploy_id, lambda d: d.reset(0))

    def suspend(self, deploy_id: str) -> None:
        self._on_domain("suspend", deploy_id, lambda d: d.suspend())

    def resume(self, deploy_id: str) -> None:
        self._on_domain("resume", deploy_id, lambda d: d.resume())

    def save(self, deploy_id: str, path: str) -> None:
        self._on_domain("save", deploy_id, lambda d: d.save(path))

    def remove_checkpoint(self, path: str) -> None:
        """Delete a saved state. libvirt has no call for it, so only a host on this
        machine (a URI without a host name) can; a remote one is refused."""
        if urllib.parse.urlsplit(self.uri).hostname not in (None, "", "localhost"):
            raise DriverError(
                f"remove {path} on {self.uri}: the file is on a remote host; delete it there"
            )
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            raise DriverError(f"remove {path} on {self.uri}: {err.strerror}") from err

    def restore(self, path: str) -> str:
        def op(conn: libvirt.virConnect) -> str:
            try:
                name = ET.fromstring(conn.saveImageGetXMLDesc(path, 0)).findtext("name")
            except libvirt.libvirtError as err:
                if _code(err) != libvirt.VIR_ERR_NO_SUPPORT:
                    raise
                name = None
            if name:
                conn.restore(path)
                return name
            # No way to read the image: the restored domain is the new active one.
            before = {
                d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
            }
            conn.restore(path)
            after = {d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)}
            new = sorted(after - before)
            if len(new) != 1:
                raise DriverError(f"restore {path} on {self.uri}: cannot tell which domain")
            return new[0]

        return self._call(f"restore {path}", op)

    def snapshot_create(self, deploy_id: str, name: str) -> None:
        snapshot = ET.Element("domainsnapshot")
        ET.SubElement(snapshot, "name").text = name
        xml = ET.tostring(snapshot, encoding="unicode")
        self._on_domain("snapshot", deploy_id, lambda d: d.snapshotCreateXML(xml, 0))

    # -- disk hot-plug -----------------------------------------------------------------

    def attach_disk(self, deploy_id: str, disk: dict[str, Any]) -> None:
        """``attachDeviceFlags`` with the ``<disk>`` a domain's DISK gets (LIVE, and CONFIG
        when the domain is persistent). A guest showing the same disk on that target has
        it already (a retry after a lost answer); another disk there is refused."""
        element = disk_xml(disk)  # a bad DISK is InvalidInput before the host is asked
        target = ET.fromstring(element).find("target").get("dev")  # type: ignore[union-attr]
        source = str(disk["SOURCE"])

        def op(conn: libvirt.virConnect) -> None:
            dom = conn.lookupByName(deploy_id)
            present = _disk_on(dom, target)
            if present is not None:
                if source in _sources(present):
                    return
                raise DriverError(
                    f"attach {source} to {deploy_id} on {self.uri}: the guest has another "
                    f"disk on {target} ({', '.join(_sources(present)) or 'no source'})"
                )
            if self._is_test:
                _recreate_test_domain(conn, dom, lambda devices: _append(devices, element))
            else:
                dom.attachDeviceFlags(element, _hotplug_flags(dom))

        self._call(f"attach {source} as {target} to {deploy_id}", op)

    def detach_disk(self, deploy_id: str, disk: dict[str, Any]) -> None:
        """``detachDeviceFlags`` with the guest's own ``<disk>`` element of the DISK's
        TARGET; a guest without one is done. A disk still there after libvirt's wait and
        ``DETACH_WAIT`` (a guest OS that does not release a virtio disk) is a DriverError:
        the removal goes on in the guest, and a later detach finds it done."""
        target = str(disk.get("TARGET", ""))

        def op(conn: libvirt.virConnect) -> None:
            dom = conn.lookupByName(deploy_id)
            present = _disk_on(dom, target)
            if present is None:
                return
            if self._is_test:
                _recreate_test_domain(conn, dom, lambda devices: _remove_target(devices, target))
                return
            dom.detachDeviceFlags(ET.tostring(present, encoding="unicode"), _hotplug_flags(dom))
            deadline = time.monotonic() + DETACH_WAIT
            while _disk_on(dom, target) is not None:
                if time.monotonic() >= deadline:
                    raise DriverError(
                        f"detach {target} from {deploy_id} on {self.uri}: the guest has not "
                        "released the disk (its OS must acknowledge a virtio disk's removal); "
                        "it may still do so: detach it again later"
                    )
                time.sleep(0.2)

        self._call(f"detach {target} from {deploy_id}", op)

    # -- monitoring --------------------------------------------------------------------

    def poll(self, deploy_id: str) -> VmStatus:
        def op(conn: libvirt.virConnect) -> VmStatus:
            dom = _lookup(conn, deploy_id)
            if dom is None:
                return VmStatus(MISSING)
            try:
                try:
                    records = conn.domainListGetStats([dom], _STATS, 0)
                except libvirt.libvirtError as err:
                    if _code(err) != libvirt.VIR_ERR_NO_SUPPORT:
                        raise
                    records = [(dom, {})]
                return self._status(deploy_id, dom, records[0][1] if records else {})
            except libvirt.libvirtError as err:
                if _code(err) == libvirt.VIR_ERR_NO_DOMAIN:
                    return VmStatus(MISSING)
                raise

        status = self._call(f"poll {deploy_id}", op)
        if status.state == MISSING:
            with self._samples_lock:
                self._cpu_samples.pop(deploy_id, None)
        return status

    def monitor(self) -> HostStatus:
        """Capacity, usage and every active ``one-`` domain, in one bulk stats call (plus
        one ``info()`` per domain on hypervisors whose stats carry only the state: the
        test driver; ~0.1 ms each)."""
        hypervisor = "test" if self._is_test else self.domain_type(self._host_arch())

        def op(conn: libvirt.virConnect) -> HostStatus:
            model, memory_mib, cpus, mhz, nodes, sockets, cores, threads = conn.getInfo()
            try:
                records = conn.getAllDomainStats(
                    _STATS,
                    libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE
                    | libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT,
                )
            except libvirt.libvirtError as err:
                if _code(err) != libvirt.VIR_ERR_NO_SUPPORT:
                    raise
                records = [
                    (dom, {})
                    for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
                ]
            vms: dict[str, VmStatus] = {}
            for dom, record in records:
                name = dom.name()
                if not name.startswith(DOMAIN_PREFIX):
                    continue
                try:
                    vms[name] = self._status(name, dom, record)
                except libvirt.libvirtError as err:
                    # A domain gone since the bulk call is left out, like one never there.
                    if _code(err) != libvirt.VIR_ERR_NO_DOMAIN:
                        raise
            mem_stats = None if self._is_test else _optional(conn, lambda: conn.getMemoryStats(-1))
            cpu_stats = None if self._is_test else _optional(conn, lambda: conn.getCPUStats(-1))
            return self._host_status(
                hypervisor, model, memory_mib, cpus, mhz, vms, mem_stats, cpu_stats,
                {"NODES": nodes, "SOCKETS": sockets, "CORES": cores, "THREADS": threads},
            )  # fmt: skip

        status = self._call("monitor", op)
        with self._samples_lock:
            for name in list(self._cpu_samples):
                if name not in status.vms:
                    del self._cpu_samples[name]
        return status

    def _host_status(
        self,
        hypervisor: str,
        model: str,
        memory_mib: int,
        cpus: int,
        mhz: int,
        vms: dict[str, VmStatus],
        mem_stats: Mapping[str, int] | None,
        cpu_stats: Mapping[str, int] | None,
        extra: dict[str, Any],
    ) -> HostStatus:
        total_cpu = cpus * 100
        total_memory = memory_mib * 1024
        vm_memory = sum(vm.memory or 0 for vm in vms.values())
        vm_cpu = sum(vm.cpu or 0.0 for vm in vms.values())
        if mem_stats and mem_stats.get("total"):
            total_memory = int(mem_stats["total"])
            free = sum(int(mem_stats.get(k, 0)) for k in ("free", "buffers", "cached"))
            used_memory = total_memory - free
            extra["FREE_MEMORY"] = free
        else:  # the test driver: what its domains use
            used_memory = vm_memory
        used_cpu = float(vm_cpu)
        if cpu_stats and {"kernel", "user", "idle"} <= cpu_stats.keys():
            busy = int(cpu_stats["kernel"]) + int(cpu_stats["user"])
            total = busy + int(cpu_stats["idle"]) + int(cpu_stats.get("iowait", 0))
            with self._samples_lock:
                previous, self._host_cpu = self._host_cpu, (busy, total)
            # Since the last monitor; on the first one, the average since the host booted.
            if previous is not None and total > previous[1]:
                busy, total = busy - previous[0], total - previous[1]
            if total > 0:
                used_cpu = busy / total * total_cpu
        return HostStatus(
            hypervisor=hypervisor,
            total_cpu=total_cpu,
            total_memory=total_memory,
            used_cpu=max(0, min(total_cpu, round(used_cpu))),
            used_memory=max(0, min(total_memory, used_memory)),
            cpu_model=model,
            cpu_mhz=mhz,
            vms=vms,
            extra=extra,
        )

    def _status(self, name: str, dom: libvirt.virDomain, record: Mapping[str, Any]) -> VmStatus:
        """A VmStatus from a bulk stats record, completed with ``info()`` where the
        hypervisor's stats lack cpu and memory (the test driver reports only the state)."""
        state_code = record.get("state.state")
        cpu_time = record.get("cpu.time")
        memory = record.get("balloon.rss") or record.get("balloon.current")
        if state_code is None or (cpu_time is None and memory is None):
            info_state, _max, current, _vcpus, info_cpu = dom.info()
            state_code = info_state if state_code is None else state_code
            cpu_time = info_cpu if cpu_time is None else cpu_time
            memory = current if memory is None else memory
        state = _STATE.get(state_code, RUNNING)
        net_tx = net_rx = None
        count = record.get("net.count")
        if count:
            tx = [record.get(f"net.{i}.tx.bytes") for i in range(count)]
            rx = [record.get(f"net.{i}.rx.bytes") for i in range(count)]
            net_tx = sum(v for v in tx if v is not None) if any(v is not None for v in tx) else None
            net_rx = sum(v for v in rx if v is not None) if any(v is not None for v in rx) else None
        cpu = None
        if state in (RUNNING, PAUSED) and cpu_time is not None:
            now = time.monotonic()
            with self._samples_lock:
                previous = self._cpu_samples.get(name)
                self._cpu_samples[name] = (int(cpu_time), now)
            if previous is not None and now > previous[1] and cpu_time >= previous[0]:
                cpu = round((cpu_time - previous[0]) / ((now - previous[1]) * 1e9) * 100, 2)
        return VmStatus(
            state=state,
            cpu=cpu,
            memory=int(memory) if memory is not None and state != SHUTOFF else None,
            net_tx=net_tx,
            net_rx=net_rx,
        )

    def close(self) -> None:
        """Drop this URI's shared connection (the next call of any driver reopens it)."""
        _drop(self.uri)


def _with_context_iso(vm: VmSpec, path: str | None) -> VmSpec:
    """The spec with its CONTEXT pointing at ``path`` (the image as the host sees it)."""
    if path is None:
        return vm
    context = vm.template.get("CONTEXT")
    context = dict(context) if isinstance(context, Mapping) else {}
    return dataclasses.replace(
        vm, template={**vm.template, "CONTEXT": {**context, "CONTEXT_ISO": path}}
    )


def _hotplug_flags(dom: libvirt.virDomain) -> int:
    """The running guest, and its definition too when the domain is persistent (onekit's
    own are transient: the store is their definition)."""
    flags = libvirt.VIR_DOMAIN_AFFECT_LIVE
    if dom.isPersistent() == 1:
        flags |= libvirt.VIR_DOMAIN_AFFECT_CONFIG
    return flags


def _disk_on(dom: libvirt.virDomain, target: str) -> ET.Element | None:
    """The guest's ``<disk>`` on device ``target``, as libvirt describes it now."""
    for disk in ET.fromstring(dom.XMLDesc(0)).iter("disk"):
        found = disk.find("target")
        if found is not None and found.get("dev") == target:
            return disk
    return None


def _sources(disk: ET.Element) -> list[str]:
    source = disk.find("source")
    if source is None:
        return []
    return [v for k, v in source.attrib.items() if k in ("file", "dev", "name")]


def _append(devices: ET.Element, element: str) -> None:
    devices.append(ET.fromstring(element))


def _remove_target(devices: ET.Element, target: str) -> None:
    for disk in devices.findall("disk"):
        found = disk.find("target")
        if found is not None and found.get("dev") == target:
            devices.remove(disk)


def _recreate_test_domain(
    conn: libvirt.virConnect, dom: libvirt.virDomain, change: Callable[[ET.Element], None]
) -> None:
    """libvirt's test driver has no device hot-plug (``attachDeviceFlags`` is "not
    supported" in 9.0): its simulated guest is started again from its own description
    with ``change`` made to its devices, so the domain's XML shows what a real host's
    would after the hot-plug. A failed start brings the old one back."""
    before = dom.XMLDesc(0)
    root = ET.fromstring(before)
    devices = root.find("devices")
    if devices is None:
        devices = ET.SubElement(root, "devices")
    change(devices)
    paused = dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED
    dom.destroy()
    try:
        new = conn.createXML(ET.tostring(root, encoding="unicode"), 0)
    except libvirt.libvirtError:
        conn.createXML(before, 0)
        raise
    if paused:
        new.suspend()


def _lookup(conn: libvirt.virConnect, name: str) -> libvirt.virDomain | None:
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError as err:
        if _code(err) == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise


def _undefine(dom: libvirt.virDomain) -> None:
    flags = (
        libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
        | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    )
    try:
        dom.undefineFlags(flags)
    except libvirt.libvirtError as err:
        if _code(err) not in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_INVALID_ARG):
            raise
        dom.undefine()


def _optional(conn: libvirt.virConnect, fn: Callable[[], T]) -> T | None:
    """A figure some hosts do not give: None on refusal, but a lost host still raises."""
    try:
        return fn()
    except libvirt.libvirtError as err:
        if _is_connection_error(err, conn):
            raise
        return None

"""The libvirt driver against real libvirt: domain XML, simulated hosts (a private libvirtd
each, on the test driver), the machine's QEMU/KVM, and hosts that are gone.

What the driver does is always read back through another connection (the simulated host's
own ``hold``, a second ``libvirt.open``), never through the driver under test.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import libvirt
import pytest
from support.libvirt import SimHost, sim_hosts, stop_all

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.core.template import parse
from ansible_collections.onekit.cloud.plugins.module_utils.drivers import libvirt as lv
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import (
    MISSING,
    PAUSED,
    RUNNING,
    DriverError,
    HostUnreachable,
    VmSpec,
    VmStatus,
)
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.domain_xml import domain_xml

DISKLESS = {"MEMORY": "32"}
QEMU_URI = "qemu:///system"
# VM ids of the real QEMU test: this file's own range, so its clean-up touches nothing else.
QEMU_IDS = (90101, 90102, 90103)


def spec(vm_id: int, template: dict | None = None, name: str = "vm") -> VmSpec:
    return VmSpec(vm_id, name, dict(DISKLESS if template is None else template))


def libvirt_state(conn: libvirt.virConnect, name: str) -> int | None:
    """A domain's state read through ``conn`` (None: no such domain)."""
    try:
        return conn.lookupByName(name).state()[0]
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise


# --------------------------------------------------------------------------------------
# Domain XML
# --------------------------------------------------------------------------------------

FULL = r"""
NAME   = "ignored here"
MEMORY = "512"
VCPU   = "2"
CPU    = "0.5"
OS     = [ ARCH = "x86_64", MACHINE = "pc", BOOT = "cdrom,hd,network",
           KERNEL = "/boot/vmlinuz", INITRD = "/boot/initrd.img", ROOT = "vda1",
           KERNEL_CMD = "console=ttyS0 quiet" ]
DISK   = [ SOURCE = "/var/lib/one/datastores/0/7/disk.0", DRIVER = "qcow2" ]
DISK   = [ SOURCE = "/images/a & b's \"disk\".img", TARGET = "vda" ]
DISK   = [ SOURCE = "/dev/vg0/lv7", TYPE = "block", READONLY = "yes" ]
DISK   = [ SOURCE = "/isos/install.iso", TYPE = "cdrom" ]
DISK   = [ SOURCE = "/images/scsi.img", TARGET = "sdb" ]
NIC    = [ BRIDGE = "br0", MAC = "02:00:C0:A8:00:07", MODEL = "e1000", TARGET = "one-7-0" ]
NIC    = [ NETWORK_NAME = "default" ]
NIC    = [ IP = "10.0.0.1" ]
GRAPHICS = [ TYPE = "VNC", LISTEN = "0.0.0.0", PORT = "5907", PASSWD = "p<&'\">w" ]
CONTEXT  = [ HOSTNAME = "web", CONTEXT_ISO = "/var/lib/one/7/context.iso" ]
RAW    = [ TYPE = "kvm",
           DATA = "<devices><input type='tablet' bus='usb'/></devices><clock offset='localtime'/>"
]
RAW    = [ TYPE = "xen", DATA = "<xen-only/>" ]
"""


def test_full_template_builds_every_element() -> None:
    text = domain_xml(spec(7, parse(FULL), name='web <1> & "co"'), "kvm", "/usr/bin/qemu")
    root = ET.fromstring(text)

    assert root.tag == "domain" and root.get("type") == "kvm"
    assert root.findtext("name") == "one-7"
    assert root.findtext("title") == 'web <1> & "co"'
    assert root.find("memory").get("unit") == "KiB"
    assert root.findtext("memory") == str(512 * 1024)
    assert root.findtext("vcpu") == "2"
    assert root.findtext("cputune/shares") == "512"

    os_el = root.find("os")
    assert os_el.find("type").attrib == {"arch": "x86_64", "machine": "pc"}
    assert os_el.findtext("type") == "hvm"
    assert [b.get("dev") for b in os_el.findall("boot")] == ["cdrom", "hd", "network"]
    assert os_el.findtext("kernel") == "/boot/vmlinuz"
    assert os_el.findtext("initrd") == "/boot/initrd.img"
    assert os_el.findtext("cmdline") == "root=/dev/vda1 console=ttyS0 quiet"
    assert root.find("features/acpi") is not None

    devices = root.find("devices")
    assert devices.findtext("emulator") == "/usr/bin/qemu"
    disks = [
        (
            d.get("type"),
            d.get("device"),
            d.find("driver").get("type"),
            d.find("source").get("file") or d.find("source").get("dev"),
            d.find("target").get("dev"),
            d.find("target").get("bus"),
            d.find("readonly") is not None,
        )
        for d in devices.findall("disk")
    ]
    assert disks == [
        # vda is taken by the second DISK's explicit TARGET, so the first gets vdb
        ("file", "disk", "qcow2", "/var/lib/one/datastores/0/7/disk.0", "vdb", "virtio", False),
        ("file", "disk", "raw", '/images/a & b\'s "disk".img', "vda", "virtio", False),
        ("block", "disk", "raw", "/dev/vg0/lv7", "vdc", "virtio", True),
        # hdb is the context CD-ROM's
        ("file", "cdrom", "raw", "/isos/install.iso", "hda", "ide", True),
        ("file", "disk", "raw", "/images/scsi.img", "sdb", "scsi", False),
        ("file", "cdrom", "raw", "/var/lib/one/7/context.iso", "hdb", "ide", True),
    ]

    nics = devices.findall("interface")
    assert [n.get("type") for n in nics] == ["bridge", "network", "user"]
    assert nics[0].find("source").get("bridge") == "br0"
    assert nics[0].find("mac").get("address") == "02:00:c0:a8:00:07"
    assert nics[0].find("model").get("type") == "e1000"
    assert nics[0].find("target").get("dev") == "one-7-0"
    assert nics[1].find("source").get("network") == "default"
    assert nics[1].find("model").get("type") == "virtio"
    assert nics[2].find("source") is None and nics[2].find("mac") is None

    graphics = devices.find("graphics")
    assert graphics.attrib == {
        "type": "vnc",
        "port": "5907",
        "autoport": "no",
        "listen": "0.0.0.0",
        "passwd": "p<&'\">w",
    }
    assert devices.find("serial").get("type") == "pty"
    assert devices.find("console").get("type") == "pty"

    # RAW for kvm appended to <domain>; the xen one left out
    assert root.find("devices").find("input") is None  # not merged into the generated one
    assert [e.tag for e in root][-2:] == ["devices", "clock"]
    assert root.findall("devices")[1].find("input").attrib == {"type": "tablet", "bus": "usb"}
    assert root.find("clock").get("offset") == "localtime"
    assert "xen-only" not in text


def test_diskless_template() -> None:
    root = ET.fromstring(domain_xml(spec(3, name=""), "qemu"))
    assert root.get("type") == "qemu"
    assert root.findtext("name") == "one-3"
    assert root.find("title") is None
    assert root.findtext("memory") == "32768"
    assert root.findtext("vcpu") == "1"
    assert root.find("cputune") is None
    assert root.find("os/type").attrib == {"arch": "x86_64"}
    assert root.find("os/boot") is None and root.find("os/kernel") is None
    devices = root.find("devices")
    assert devices.find("disk") is None and devices.find("interface") is None
    assert devices.find("emulator") is None and devices.find("graphics") is None
    assert [e.tag for e in devices] == ["serial", "console"]


def test_defaults_and_variants() -> None:
    tpl = parse(
        """MEMORY = 0.5
        DISK = [ SOURCE = "/a.img", BUS = "scsi" ]
        DISK = [ SOURCE = "/b.iso", TYPE = "CDROM" ]
        DISK = [ SOURCE = "/c.iso", TYPE = "cdrom" ]
        GRAPHICS = [ TYPE = "spice" ]
        FEATURES = [ ACPI = "no", PAE = "yes" ]
        CONTEXT_ISO = "/ctx.iso"
        OS = [ ROOT = "sda1" ]"""
    )
    root = ET.fromstring(domain_xml(spec(1, tpl), "test"))
    assert root.findtext("memory") == "512"
    targets = [
        (d.find("target").get("dev"), d.find("target").get("bus")) for d in root.iter("disk")
    ]
    # a top-level CONTEXT_ISO works too; cdroms skip hdb
    assert targets == [("sda", "scsi"), ("hda", "ide"), ("hdc", "ide"), ("hdb", "ide")]
    assert root.find("devices/graphics").attrib == {"type": "spice", "autoport": "yes"}
    assert [f.tag for f in root.find("features")] == ["pae"]
    assert root.find("os/cmdline") is None  # ROOT without KERNEL means nothing, as in ONE


INVALID = [
    ({"MEMORY": None}, "MEMORY is required"),
    ({"MEMORY": "lots"}, "MEMORY must be a positive number of MiB, got 'lots'"),
    ({"MEMORY": "-1"}, "MEMORY must be a positive number"),
    ({"MEMORY": "nan"}, "MEMORY must be a positive number"),
    ({"MEMORY": "1e308"}, "MEMORY must be at most 9007199254740992 MiB"),  # was a 500
    ({"CPU": "1e308"}, "CPU must be at most"),
    ({"MEMORY": ["1", "2"]}, "MEMORY is given 2 times"),
    ({"MEMORY": {"A": "1"}}, "MEMORY must be a single value"),
    ({"VCPU": "0"}, "VCPU must be a positive whole number"),
    ({"VCPU": "1.5"}, "VCPU must be a positive whole number"),
    ({"CPU": "none"}, "CPU must be a positive number"),
    ({"CPU": "inf"}, "CPU must be a positive number"),
    ({"OS": "hvm"}, "OS must be a vector attribute"),
    ({"OS": {"BOOT": "hd,floppy"}}, "OS BOOT must be a comma-separated list of hd, cdrom"),
    ({"OS": {"BOOT": "hd,"}}, "OS BOOT"),
    ({"OS": {"ARCH": "x86 64"}}, "OS ARCH"),
    ({"OS": {"MACHINE": "pc'/>"}}, "OS MACHINE"),
    ({"OS": {"KERNEL": "vmlinuz"}}, "OS KERNEL must be an absolute path"),
    ({"OS": {"KERNEL": "/k", "ROOT": "sda 1"}}, "OS ROOT"),
    ({"DISK": {"TYPE": "file"}}, "DISK 0 SOURCE is required"),
    ({"DISK": {"SOURCE": "disk.img"}}, "DISK 0 SOURCE must be an absolute path"),
    ({"DISK": {"SOURCE": "/a", "TYPE": "nfs"}}, "DISK 0 TYPE must be one of file, cdrom, block"),
    ({"DISK": {"SOURCE": "/a", "DRIVER": "vmdk"}}, "DISK 0 DRIVER must be one of raw, qcow2"),
    ({"DISK": {"SOURCE": "/a", "READONLY": "maybe"}}, "DISK 0 READONLY must be yes or no"),
    ({"DISK": {"SOURCE": "/a", "TARGET": "xvda"}}, "DISK 0 TARGET must be a device name"),
    ({"DISK": {"SOURCE": "/a", "BUS": "pci"}}, "DISK 0 BUS must be one of"),
    (
        {"DISK": [{"SOURCE": "/a", "TARGET": "vda"}, {"SOURCE": "/b", "TARGET": "vda"}]},
        "DISK 1 TARGET vda is already used by DISK 0",
    ),
    (
        {"DISK": {"SOURCE": "/a", "TARGET": "hdb"}, "CONTEXT_ISO": "/c.iso"},
        "TARGET hdb is already used by the context CD-ROM",
    ),
    (
        {"DISK": [{"SOURCE": f"/{i}", "TYPE": "cdrom"} for i in range(5)]},
        "DISK 4: no free hd* device name",
    ),
    ({"DISK": "/a.img"}, "DISK 0 must be a vector attribute"),
    ({"DISK": {"SOURCE": "/a\x01b"}}, "DISK 0 SOURCE contains control characters"),
    ({"NIC": {"MAC": "02:00:00:00:00"}}, "NIC 0 MAC must be a unicast MAC address"),
    ({"NIC": {"MAC": "01:00:5e:00:00:01"}}, "NIC 0 MAC must be a unicast MAC address"),
    ({"NIC": {"BRIDGE": "br 0"}}, "NIC 0 BRIDGE must be a host bridge name"),
    ({"NIC": {"BRIDGE": "a-very-long-bridge-name"}}, "NIC 0 BRIDGE"),
    ({"NIC": {"NETWORK_NAME": "a/b"}}, "NIC 0 NETWORK_NAME"),
    ({"NIC": [{}, {"MODEL": "virtio'"}]}, "NIC 1 MODEL must be a NIC model"),
    ({"NIC": {"TARGET": "tap 0"}}, "NIC 0 TARGET must be a tap device name"),
    ({"GRAPHICS": {"LISTEN": "0.0.0.0"}}, "GRAPHICS TYPE is required"),
    ({"GRAPHICS": {"TYPE": "rdp"}}, "GRAPHICS TYPE must be one of vnc, spice"),
    ({"GRAPHICS": {"TYPE": "vnc", "PORT": "80"}}, "GRAPHICS PORT must be a TCP port from 5900"),
    ({"GRAPHICS": {"TYPE": "vnc", "PORT": "x"}}, "GRAPHICS PORT"),
    ({"GRAPHICS": {"TYPE": "vnc", "LISTEN": "any"}}, "GRAPHICS LISTEN must be an IP address"),
    ({"GRAPHICS": [{"TYPE": "vnc"}, {"TYPE": "vnc"}]}, "GRAPHICS is given 2 times"),
    ({"CONTEXT": {"CONTEXT_ISO": "context.iso"}}, "CONTEXT_ISO must be an absolute path"),
    ({"RAW": {"DATA": "<a/>"}}, "RAW TYPE is required"),
    (
        {"RAW": {"TYPE": "kvm", "DATA": "<devices><input></devices>"}},
        "RAW DATA is not well-formed XML",
    ),
    ({"RAW": {"TYPE": "kvm", "DATA": "text<a/>"}}, "RAW DATA must hold only XML elements"),
    (
        {"RAW": {"TYPE": "kvm", "DATA": '<!DOCTYPE a [<!ENTITY x "y">]><a/>'}},
        "RAW DATA must not declare",
    ),
    ({"RAW": [{"TYPE": "xen"}, {"TYPE": "kvm", "DATA": "<a>"}]}, "RAW 1 DATA is not well-formed"),
]


@pytest.mark.parametrize(("change", "message"), INVALID, ids=[m for _, m in INVALID])
def test_invalid_attribute_is_refused_by_name(change: dict, message: str) -> None:
    tpl = {"MEMORY": "64", **change}
    tpl = {k: v for k, v in tpl.items() if v is not None}
    with pytest.raises(InvalidInput) as caught:
        domain_xml(spec(1, tpl), "kvm")
    assert message in str(caught.value)


# --------------------------------------------------------------------------------------
# Simulated hosts (libvirt's test driver, a private libvirtd each)
# --------------------------------------------------------------------------------------


def short_dir() -> Path:
    """A base dir short enough for unix socket paths (tmp_path can exceed 107 bytes)."""
    return Path(tempfile.mkdtemp(prefix="simhost-", dir="/tmp"))


@pytest.fixture
def host() -> Iterator[SimHost]:
    base = short_dir()
    sim = SimHost(base).start()
    yield sim
    lv.LibvirtDriver(sim.uri).close()
    if sim.pid is not None:
        os.kill(sim.pid, signal.SIGCONT)  # in case a test left it stopped
    sim.stop()
    shutil.rmtree(base, ignore_errors=True)


def onekit_domains(conn: libvirt.virConnect) -> dict[str, int]:
    return {d.name(): d.state()[0] for d in conn.listAllDomains() if d.name().startswith("one-")}


def test_deploy_200_concurrently_and_monitor_sees_all(host: SimHost) -> None:
    # Four driver objects of one URI, eight threads: one shared connection.
    drivers = [lv.LibvirtDriver(host.uri) for _ in range(4)]
    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(lambda i: drivers[i % 4].deploy(spec(i)), range(200)))
    assert names == [f"one-{i}" for i in range(200)]
    assert len({id(lv._connections[host.uri])}) == 1

    # What the host holds, read through its own connection.
    seen = onekit_domains(host.hold)
    assert len(seen) == 200 and set(seen.values()) == {libvirt.VIR_DOMAIN_RUNNING}

    for i in range(0, 200, 10):
        host.hold.lookupByName(f"one-{i}").suspend()
    status = drivers[0].monitor()
    assert sorted(status.vms) == sorted(names)  # and not the test driver's own "test"
    assert {n for n, vm in status.vms.items() if vm.state == PAUSED} == {
        f"one-{i}" for i in range(0, 200, 10)
    }
    assert {vm.state for vm in status.vms.values()} == {RUNNING, PAUSED}
    assert all(vm.memory == 32768 for vm in status.vms.values())
    assert status.hypervisor == "test"
    assert status.total_cpu == 1600 and status.total_memory == 3072 * 1024
    assert status.cpu_mhz == 1400 and status.cpu_model
    assert status.used_memory == min(200 * 32768, status.total_memory)
    assert 0 <= status.used_cpu <= status.total_cpu


def test_monitor_stays_fast_with_many_domains(host: SimHost) -> None:
    driver = lv.LibvirtDriver(host.uri)
    timings = {}
    for total in (100, 500):
        for i in range(len(onekit_domains(host.hold)), total):
            host.hold.createXML(domain_xml(spec(i), "test"), 0)
        driver.monitor()  # the first takes the CPU samples
        start = time.perf_counter()
        status = driver.monitor()
        timings[total] = time.perf_counter() - start
        assert len(status.vms) == total
    print(f"monitor: {timings}")
    assert timings[500] < 2.0, timings


def test_life_cycle_on_a_simulated_host(host: SimHost, tmp_path: Path) -> None:
    driver = lv.LibvirtDriver(host.uri)
    conn = host.hold
    assert driver.deploy(spec(1)) == "one-1"
    assert driver.deploy(spec(1)) == "one-1"  # idempotent
    assert list(onekit_domains(conn)) == ["one-1"]

    first = driver.poll("one-1")
    assert first.state == RUNNING and first.cpu is None and first.memory == 32768
    time.sleep(0.01)
    assert driver.poll("one-1").cpu is not None  # from the cpu time of two polls

    driver.suspend("one-1")
    assert libvirt_state(conn, "one-1") == libvirt.VIR_DOMAIN_PAUSED
    assert driver.poll("one-1").state == PAUSED
    driver.resume("one-1")
    assert libvirt_state(conn, "one-1") == libvirt.VIR_DOMAIN_RUNNING
    driver.reset("one-1")
    driver.reboot("one-1")
    assert libvirt_state(conn, "one-1") == libvirt.VIR_DOMAIN_RUNNING

    driver.snapshot_create("one-1", "before-save")
    assert conn.lookupByName("one-1").snapshotListNames() == ["before-save"]

    image = str(tmp_path / "one-1.save")
    driver.save("one-1", image)
    assert libvirt_state(conn, "one-1") is None and os.path.exists(image)
    assert driver.poll("one-1") == driver.poll("one-1") == VmStatus(MISSING)
    assert driver.restore(image) == "one-1"
    assert libvirt_state(conn, "one-1") == libvirt.VIR_DOMAIN_RUNNING

    driver.shutdown("one-1")  # the test driver powers off at once; a transient domain goes
    assert libvirt_state(conn, "one-1") is None

    driver.deploy(spec(2))
    conn.defineXML(domain_xml(spec(3), "test"))  # a persistent one, shut off
    assert driver.poll("one-3").state == "shutoff"
    assert "one-3" not in driver.monitor().vms  # only active domains
    for name in ("one-2", "one-3"):
        driver.cancel(name)
        driver.cancel(name)  # idempotent
        assert libvirt_state(conn, name) is None
    driver.cancel("one-404")


def test_failures_are_driver_errors_with_libvirt_message(host: SimHost, capfd) -> None:
    driver = lv.LibvirtDriver(host.uri)
    with pytest.raises(DriverError) as caught:
        driver.suspend("one-404")
    assert not isinstance(caught.value, HostUnreachable)
    assert "suspend one-404" in str(caught.value) and host.uri in str(caught.value)
    assert "Domain not found" in str(caught.value)

    bad = {"MEMORY": "32", "RAW": {"TYPE": "kvm", "DATA": "<devices><disk/></devices>"}}
    with pytest.raises(DriverError, match="deploy one-5 on test"):
        driver.deploy(spec(5, bad))
    with pytest.raises(InvalidInput, match="MEMORY"):
        driver.deploy(spec(6, {"MEMORY": "x"}))
    assert onekit_domains(host.hold) == {}

    driver.deploy(spec(7))
    with pytest.raises(DriverError, match="resume one-7"):
        driver.resume("one-7")  # not paused
    # libvirt's own printing to stderr is silenced
    assert "libvirt" not in capfd.readouterr().err


def test_two_simulated_hosts_are_independent() -> None:
    base = short_dir()
    hosts = sim_hosts(2, base)
    try:
        a, b = (lv.LibvirtDriver(h.uri) for h in hosts)
        a.deploy(spec(1))
        b.deploy(spec(2))
        assert list(onekit_domains(hosts[0].hold)) == ["one-1"]
        assert list(onekit_domains(hosts[1].hold)) == ["one-2"]
        assert list(a.monitor().vms) == ["one-1"] and list(b.monitor().vms) == ["one-2"]
        hosts[0].kill()
        with pytest.raises(HostUnreachable):
            a.monitor()
        assert list(b.monitor().vms) == ["one-2"]
    finally:
        for h in hosts:
            lv.LibvirtDriver(h.uri).close()
        stop_all(hosts)
        shutil.rmtree(base, ignore_errors=True)


def test_killed_host_is_unreachable_then_reconnected(host: SimHost) -> None:
    driver = lv.LibvirtDriver(host.uri)
    driver.deploy(spec(1))
    assert list(driver.monitor().vms) == ["one-1"]

    host.kill()
    start = time.monotonic()
    with pytest.raises(HostUnreachable) as caught:
        driver.monitor()
    assert host.uri in str(caught.value)
    with pytest.raises(HostUnreachable):
        driver.poll("one-1")
    with pytest.raises(HostUnreachable):
        driver.deploy(spec(2))
    assert time.monotonic() - start < 10

    # The daemon back on the same socket: the driver reconnects by itself. The test
    # driver's state died with the daemon.
    host.start()
    assert driver.monitor().vms == {}
    assert driver.deploy(spec(1)) == "one-1"
    assert driver.poll("one-1").state == RUNNING


def test_frozen_host_is_unreachable_within_the_keepalive(
    host: SimHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon that stops answering without closing its socket (SIGSTOP: a frozen host,
    a network cut) must not hang a call: keepalive closes the connection, and the reopen
    is bounded by OPEN_TIMEOUT."""
    monkeypatch.setattr(lv, "KEEPALIVE_INTERVAL", 1)
    monkeypatch.setattr(lv, "KEEPALIVE_COUNT", 1)
    monkeypatch.setattr(lv, "OPEN_TIMEOUT", 2.0)
    driver = lv.LibvirtDriver(host.uri)
    driver.close()  # a connection with these settings
    driver.deploy(spec(1))
    os.kill(host.pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        with pytest.raises(HostUnreachable):
            driver.monitor()
        assert time.monotonic() - start < 8
    finally:
        os.kill(host.pid, signal.SIGCONT)
    # The test driver's state was kept by the SimHost's own connection.
    assert list(driver.monitor().vms) == ["one-1"]


def test_unreachable_uri_fails_fast() -> None:
    driver = lv.LibvirtDriver("qemu+tcp://127.0.0.1:1/system")
    start = time.monotonic()
    for call in (driver.monitor, lambda: driver.poll("one-1"), lambda: driver.deploy(spec(1))):
        with pytest.raises(HostUnreachable, match=r"qemu\+tcp://127.0.0.1:1/system.*refused"):
            call()
    assert time.monotonic() - start < 5
    with pytest.raises(InvalidInput, match="MEMORY"):  # the template is checked first
        driver.deploy(spec(1, {"MEMORY": "0"}))


def test_connections_are_shared_per_uri_and_closed(host: SimHost) -> None:
    a, b = lv.LibvirtDriver(host.uri), lv.LibvirtDriver(host.uri)
    a.deploy(spec(1))
    b.poll("one-1")
    conn = lv._connections[host.uri]
    b.monitor()
    assert lv._connections[host.uri] is conn
    a.close()
    assert host.uri not in lv._connections
    assert b.poll("one-1").state == RUNNING  # reopened on demand; state kept by the host
    assert lv._connections[host.uri] is not conn


# --------------------------------------------------------------------------------------
# The machine's QEMU/KVM
# --------------------------------------------------------------------------------------


@pytest.fixture
def qemu() -> Iterator[libvirt.virConnect]:
    """A connection of our own to qemu:///system; this file's domains destroyed before
    and after, whatever happens."""
    conn = libvirt.open(QEMU_URI)

    def clean() -> None:
        for vm_id in QEMU_IDS:
            try:
                dom = conn.lookupByName(f"one-{vm_id}")
            except libvirt.libvirtError:
                continue
            try:
                dom.destroy()
                if dom.isPersistent():
                    dom.undefine()
            except libvirt.libvirtError:
                pass

    clean()
    yield conn
    clean()
    lv.LibvirtDriver(QEMU_URI).close()
    conn.close()


def test_real_qemu_domains(qemu: libvirt.virConnect) -> None:
    driver = lv.LibvirtDriver(QEMU_URI)
    names = [f"one-{i}" for i in QEMU_IDS]
    template = {"MEMORY": "32", "OS": {"MACHINE": "pc"}}
    for vm_id in QEMU_IDS:
        assert driver.deploy(spec(vm_id, template, name=f"qemu {vm_id}")) == f"one-{vm_id}"
    assert driver.deploy(spec(QEMU_IDS[0], template)) == names[0]  # already running

    def states() -> set[int | None]:
        return {libvirt_state(qemu, n) for n in names}

    assert states() == {libvirt.VIR_DOMAIN_RUNNING}
    dom_type = ET.fromstring(qemu.lookupByName(names[0]).XMLDesc()).get("type")
    assert dom_type == driver.domain_type() and dom_type in ("kvm", "qemu")

    status = driver.monitor()
    assert set(names) <= set(status.vms)
    assert all(status.vms[n].state == RUNNING and status.vms[n].memory for n in names)
    assert status.total_cpu == 100 * os.cpu_count() and status.total_memory > 0
    assert 0 < status.used_memory < status.total_memory

    for n in names:
        driver.suspend(n)
    assert states() == {libvirt.VIR_DOMAIN_PAUSED}
    assert driver.poll(names[0]).state == PAUSED
    for n in names:
        driver.resume(n)
    assert states() == {libvirt.VIR_DOMAIN_RUNNING}
    for n in names:
        driver.reset(n)
    assert states() == {libvirt.VIR_DOMAIN_RUNNING}

    # destroy waits for QEMU to go (~1-2 s each): the three at once.
    with ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(driver.cancel, names))
    assert states() == {None}
    driver.cancel(names[0])
    assert driver.poll(names[0]).state == MISSING

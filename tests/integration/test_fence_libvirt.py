"""share/fence/fence_onekit_libvirt, run as Pacemaker's fencer runs fence agents: options as
``key=value`` lines on stdin (or as flags), exit 0 / 1 / 2 (status off).

Against libvirt's test driver (a private libvirtd holding the simulated domains), against a
libvirtd that never answers (the agent gives up within its timeout), and against a real QEMU
guest on qemu:///system (a diskless 32 MiB domain made here, destroyed at the end).
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import pytest
from conftest import REPO, VENV_BIN

AGENT = REPO / "share" / "fence" / "fence_onekit_libvirt"


def fence(
    *args: str, stdin: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    """Run the agent with the venv's Python (it has libvirt-python): flags, or stdin lines."""
    text = "".join(f"{k}={v}\n" for k, v in (stdin or {}).items()) if stdin is not None else ""
    return subprocess.run(
        [str(VENV_BIN / "python"), str(AGENT), *args],
        input=text,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def domain_xml(name: str, kind: str = "test") -> str:
    return f"""<domain type='{kind}'>
  <name>{name}</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices><serial type='pty'/><console type='pty'/></devices>
</domain>"""


def state(conn: libvirt.virConnect, name: str) -> str:
    try:
        code = conn.lookupByName(name).state()[0]
    except libvirt.libvirtError:
        return "missing"
    return {libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_SHUTOFF: "shutoff"}.get(
        code, str(code)
    )


# ---- the protocol ------------------------------------------------------------------------------
def test_agent_is_executable_and_prints_the_metadata_pacemaker_reads():
    assert os.access(AGENT, os.X_OK)
    assert AGENT.read_text().startswith("#!/usr/bin/python3\n")
    for run in (fence("-o", "metadata"), fence(stdin={"action": "metadata"})):
        assert run.returncode == 0, run.stderr
        root = ET.fromstring(run.stdout)
        assert root.tag == "resource-agent" and root.get("name") == "fence_onekit_libvirt"
        params = {p.get("name"): p for p in root.iter("parameter")}
        assert {"action", "plug", "port", "uri", "delay", "power_timeout", "login_timeout"} <= set(
            params
        )
        assert params["plug"].get("required") == "1"  # the fencer passes the target as plug
        assert params["port"].get("deprecated") == "1"
        assert params["action"].find("content").get("default") == "reboot"
        assert params["power_timeout"].find("content").get("type") == "second"
        actions = {a.get("name") for a in root.iter("action")}
        assert {"on", "off", "reboot", "status", "list", "monitor", "metadata"} <= actions


def test_bad_arguments_fail_with_exit_1_and_a_reason():
    for run, reason in (
        (fence("-o", "explode", "-n", "x"), "unknown action 'explode'"),
        (fence("-o", "off"), "needs the domain"),
        (fence("--no-such-flag"), "not recognized"),
        (fence(stdin={"action": "status", "plug": "x", "power_timeout": "soon"}), "seconds"),
    ):
        assert run.returncode == 1 and reason in run.stderr, (run.stdout, run.stderr)
    helped = fence("-h")
    assert helped.returncode == 0 and "--plug" in helped.stdout and "--uri" in helped.stdout


# ---- libvirt's test driver ---------------------------------------------------------------------
@pytest.fixture
def sim(sim_hosts):
    """A private libvirtd on the test driver with a defined, running domain ``fe1``."""
    (host,) = sim_hosts(1)
    host.hold.defineXML(domain_xml("fe1")).create()
    return host


def test_power_cycle_on_the_test_driver_through_stdin_and_flags(sim):
    uri, conn = sim.uri, sim.hold
    status = fence(stdin={"action": "status", "plug": "fe1", "uri": uri, "nodename": "fe1"})
    assert (status.returncode, status.stdout.strip()) == (0, "Status: ON"), status.stderr
    assert "Ignoring" not in status.stderr  # the fencer's nodename is expected

    # Pacemaker's way: stdin, the target as port (pcmk_host_map gives the domain)
    off = fence(stdin={"action": "off", "port": "fe1", "uri": uri})
    assert (off.returncode, off.stdout.strip()) == (0, "Success: Powered OFF"), off.stderr
    assert state(conn, "fe1") == "shutoff"
    status = fence("-o", "status", "-n", "fe1", "--uri", uri)
    assert (status.returncode, status.stdout.strip()) == (2, "Status: OFF")
    again = fence("-o", "off", "-n", "fe1", "-u", uri)
    assert (again.returncode, again.stdout.strip()) == (0, "Success: Already OFF")

    on = fence("--action=on", "--plug=fe1", f"--uri={uri}")
    assert (on.returncode, on.stdout.strip()) == (0, "Success: Powered ON"), on.stderr
    assert state(conn, "fe1") == "running"
    before = conn.lookupByName("fe1").ID()
    reboot = fence(stdin={"action": "reboot", "plug": "fe1", "uri": uri})
    assert (reboot.returncode, reboot.stdout.strip()) == (0, "Success: Rebooted"), reboot.stderr
    assert state(conn, "fe1") == "running" and conn.lookupByName("fe1").ID() != before

    uuid = conn.lookupByName("fe1").UUIDString()
    by_uuid = fence("-o", "status", "-n", uuid, "--uri", uri)
    assert by_uuid.returncode == 0
    listed = fence("-o", "list", "--uri", uri)
    assert listed.returncode == 0 and f"fe1,{uuid}" in listed.stdout.splitlines()
    with_status = fence("-o", "list-status", "--uri", uri)
    assert f"fe1,{uuid},ON" in with_status.stdout.splitlines()
    assert fence(stdin={"action": "monitor", "uri": uri}).returncode == 0

    missing = fence("-o", "off", "-n", "nosuch", "--uri", uri)
    assert missing.returncode == 1 and "plug is not available" in missing.stderr
    assert state(conn, "fe1") == "running"  # nothing else was touched


def test_unreachable_libvirt_fails_at_once_or_within_the_timeout(tmp_path):
    gone = fence("-o", "status", "-n", "x", "--uri", f"test+unix:///default?socket={tmp_path}/no")
    assert gone.returncode == 1 and "Unable to connect" in gone.stderr

    # a libvirtd that accepts the connection and never answers: the agent gives up
    path = Path(tempfile.mkdtemp(prefix="okf-", dir="/tmp")) / "sock"
    listener = socket.socket(socket.AF_UNIX)
    try:
        listener.bind(str(path))
        listener.listen(8)
        uri = f"test+unix:///default?socket={path}"
        started = time.monotonic()
        hung = fence(stdin={"action": "off", "plug": "fe1", "uri": uri, "power_timeout": "2"})
        took = time.monotonic() - started
        assert hung.returncode == 1, hung.stdout
        assert "timed out" in hung.stderr and "within 2 s" in hung.stderr, hung.stderr
        assert took < 10, took  # the interpreter's start-up + 2 s, never the default 20 s
    finally:
        listener.close()
        path.unlink(missing_ok=True)
        path.parent.rmdir()


# ---- a real QEMU guest -------------------------------------------------------------------------
URI = "qemu:///system"


@pytest.fixture
def qemu_guest():
    """A persistent diskless 32 MiB domain, running; destroyed and undefined at the end."""
    try:
        conn = libvirt.open(URI)
    except libvirt.libvirtError as err:
        pytest.fail(f"{URI} is not reachable ({err}): is libvirtd running? (`make setup`)")
    name = f"onekit-fence-{random.randrange(100_000, 999_999)}"
    kind = "kvm" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "qemu"
    dom = conn.defineXML(domain_xml(name, kind))
    try:
        dom.create()
        yield conn, name
    finally:
        try:
            if dom.isActive():
                dom.destroy()
        finally:
            dom.undefine()
            conn.close()


def test_fences_a_real_qemu_domain(qemu_guest):
    conn, name = qemu_guest
    assert state(conn, name) == "running"
    status = fence(stdin={"action": "status", "plug": name, "uri": URI})
    assert (status.returncode, status.stdout.strip()) == (0, "Status: ON"), status.stderr

    off = fence(stdin={"action": "off", "plug": name, "uri": URI})
    assert off.returncode == 0, off.stderr
    assert state(conn, name) == "shutoff"  # QEMU's process is gone: powered off, not paused
    status = fence("-o", "status", "-n", name, "--uri", URI)
    assert (status.returncode, status.stdout.strip()) == (2, "Status: OFF")

    on = fence("-o", "on", "-n", name, "--uri", URI)
    assert on.returncode == 0 and state(conn, name) == "running", on.stderr
    pid_before = conn.lookupByName(name).ID()
    reboot = fence("-o", "reboot", "-n", name, "--uri", URI)
    assert (reboot.returncode, reboot.stdout.strip()) == (0, "Success: Rebooted"), reboot.stderr
    assert state(conn, name) == "running" and conn.lookupByName(name).ID() != pid_before
    listed = fence("-o", "list", "--uri", URI)
    assert any(line.startswith(f"{name},") for line in listed.stdout.splitlines())

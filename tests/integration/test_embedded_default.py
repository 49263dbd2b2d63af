"""The embedded default as `make run` makes it: ``onekit-server init --examples`` and the
server, with host ``localhost`` on the instance's own simulated hypervisor.

* its VMs survive the server's restart (libvirt's test driver forgets its guests with
  its daemon: the server that starts leading gives them back);
* two instances on one machine never see each other's guests (each has its own daemon,
  where both used to share the machine's test+unix:///default and clash on one-0).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from conftest import VENV_BIN
from support.ports import free_port
from support.waiting import wait_until as wait

from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from onekit.server.sim_host import SimHost


class Home:
    """An instance directory and the commands run in it, as its user runs them."""

    def __init__(self, path: Path):
        self.path = path
        self.instance = Instance(path)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("ONE_", "ONEFLOW"))},
            "ONEKIT_HOME": str(path),
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        }

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(VENV_BIN / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
        )
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def vm_states(self) -> dict[int, str]:
        """``onevm list``: id -> STAT."""
        rows = self("onevm", "list").stdout.splitlines()[1:]
        return {int(r.split()[0]): r.split()[4] for r in rows}

    def guests(self) -> dict[str, int]:
        """The guests on the instance's own hypervisor, read from its libvirtd."""
        conn = libvirt.open(SimHost(self.instance.sim_dir).uri)
        try:
            return {d.name(): d.state()[0] for d in conn.listAllDomains() if d.name() != "test"}
        finally:
            conn.close()


@pytest.fixture
def homes() -> Iterator:
    """``homes()`` makes an instance with --examples (short paths: the hypervisor's
    socket lives in it); every server started is stopped at the end."""
    made: list[Home] = []

    def make() -> Home:
        home = Home(Path(tempfile.mkdtemp(prefix="okh-", dir="/tmp")) / "onekit")
        ports = [str(free_port()) for _ in range(3)]
        home("onekit-server", "init", "--examples", "--port", ports[0],
             "--flow-port", ports[1], "--gate-port", ports[2])  # fmt: skip
        conf = home.instance.config_path.read_text()
        home.instance.config_path.write_text(
            conf.replace("MONITORING_INTERVAL = 60", "MONITORING_INTERVAL = 2")
        )
        made.append(home)
        return home

    yield make
    for home in made:
        home("onekit-server", "stop", check=False)
        shutil.rmtree(home.path.parent, ignore_errors=True)


def start(home: Home) -> None:
    home("onekit-server", "start")
    wait(lambda: " on" in home("onehost", "list").stdout, "localhost monitored")


def test_the_embedded_host_keeps_its_vms_across_a_restart(homes):
    home = homes()
    session = home.instance.session()
    uri = hosts.uri_of(hosts.show(session, "localhost"))
    session.db.close()
    assert uri == SimHost(home.instance.sim_dir).uri
    assert str(home.path) in uri  # the instance's own, not the machine's test:///default
    start(home)
    made = home("onetemplate", "instantiate", "tiny", "--multiple", "3").stdout
    assert re.findall(r"VM ID: (\d+)", made) == ["0", "1", "2"]
    wait(lambda: home.vm_states() == {0: "runn", 1: "runn", 2: "runn"}, "3 running VMs")
    home("onevm", "suspend", "1")
    home("onevm", "poweroff", "--hard", "2")
    wait(lambda: home.vm_states() == {0: "runn", 1: "susp", 2: "poff"}, "suspend, poweroff")
    assert set(home.guests()) >= {"one-0", "one-1"}

    home("onekit-server", "stop")
    start(home)
    log = home.instance.log_path().read_text()
    assert "embedded host localhost: VM 0 (tiny-0): guest restored (running)" in log
    assert "embedded host localhost: VM 1 (tiny-1): guest restored (paused)" in log
    guests = home.guests()
    assert guests["one-0"] == libvirt.VIR_DOMAIN_RUNNING
    assert guests["one-1"] == libvirt.VIR_DOMAIN_PAUSED
    assert "one-2" not in guests
    # monitoring cycles come and go; the VMs stay as they were
    before = home("onehost", "show", "localhost").stdout
    wait(lambda: home("onehost", "show", "localhost").stdout != before, "a monitoring cycle")
    time.sleep(2.5)
    assert home.vm_states() == {0: "runn", 1: "susp", 2: "poff"}
    home("onevm", "resume", "1")
    wait(lambda: home.vm_states()[1] == "runn", "VM 1 running again")


def test_two_instances_never_see_each_others_guests(homes):
    first, second = homes(), homes()
    uris = {home: SimHost(home.instance.sim_dir).uri for home in (first, second)}
    assert uris[first] != uris[second]
    for home in (first, second):
        start(home)
        home("onetemplate", "instantiate", "tiny")
        wait(lambda home=home: home.vm_states() == {0: "runn"}, "VM 0 running")
    # each VM 0 is one-0 on its own hypervisor; deleting one leaves the other running
    assert set(first.guests()) == set(second.guests()) == {"one-0"}
    first("onevm", "delete", "0")
    wait(lambda: first.guests() == {}, "first's guest gone")
    time.sleep(2.5)  # a monitoring cycle of the second instance
    assert second.guests() == {"one-0": libvirt.VIR_DOMAIN_RUNNING}
    assert second.vm_states() == {0: "runn"}

"""The server's loops: it places PENDING VMs and monitors hosts by itself; a second
server on the same MySQL store stands by and takes over when the first one dies."""

from __future__ import annotations

import json
import os
import shutil
import signal
import urllib.request

import pytest
from conftest import Cli
from support.ports import free_port
from support.waiting import wait_until

from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    HostState,
    Lcm,
    VmState,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow import service_templates, services
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import FlowState
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, templates, vms


def _fast_loops(instance: Instance) -> None:
    conf = instance.config_path.read_text()
    instance.config_path.write_text(
        conf.replace("MONITORING_INTERVAL = 60", "MONITORING_INTERVAL = 1")
    )
    instance.sched_config_path.write_text("SCHED_INTERVAL = 1\nMAX_HOST = 10\n")


def _health(instance: Instance) -> dict:
    url = f"http://127.0.0.1:{instance.config().port}/health"
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.load(answer)


def _service_state(admin, service_id: int) -> int:
    return services.show(admin, service_id)["TEMPLATE"]["BODY"]["state"]


@pytest.fixture
def started():
    """Servers started in a test are stopped at its end, whatever happens."""
    servers: list[Cli] = []
    yield servers
    for cli in servers:
        cli("onekit-server", "stop")


def _start(cli: Cli, servers: list[Cli]) -> None:
    result = cli("onekit-server", "start")
    assert result.returncode == 0, result.stderr
    servers.append(cli)


def test_the_server_places_pending_vms_and_watches_hosts(instance, admin, cli, sim_hosts, started):
    sim = sim_hosts(1)[0]
    _fast_loops(instance)
    hosts.create(admin, "sim0", uri=sim.uri)  # not monitored yet: the server will
    tpl = templates.create(admin, 'NAME = "tiny"\nCPU = 0.1\nMEMORY = 32\n')
    made = templates.instantiate(admin, tpl["ID"], 3, hold=True)
    lifecycle.act(admin, [vm["ID"] for vm in made], "release")  # PENDING, nobody placed them
    _start(cli, started)
    assert _health(instance)["loops"] == "leader"
    wait_until(
        lambda: all(vms.show(admin, vm["ID"])["LCM_STATE"] == Lcm.RUNNING for vm in made),
        "the server's scheduler",
    )
    assert hosts.show(admin, "sim0")["STATE"] == HostState.MONITORED

    sim.kill()  # the server notices on its own
    wait_until(lambda: hosts.show(admin, "sim0")["STATE"] == HostState.ERROR, "host ERROR")
    wait_until(lambda: vms.show(admin, made[0]["ID"])["LCM_STATE"] == Lcm.UNKNOWN, "VM UNKNOWN")


@pytest.mark.parametrize("backend", ["mysql"])
def test_a_second_server_stands_by_and_takes_over(
    instance, admin, cli, sim_hosts, started, tmp_path
):
    """Two front-ends (two ONEKIT_HOMEs) on one MySQL store: one runs the loops."""
    sim = sim_hosts(1)[0]
    _fast_loops(instance)
    hosts.create(admin, "sim0", uri=sim.uri)
    second = Instance(tmp_path / "second")
    shutil.copytree(instance.home, second.home)
    conf = second.config_path.read_text()
    port = instance.config().port
    second.config_path.write_text(conf.replace(f'PORT = "{port}"', f'PORT = "{free_port()}"'))
    for path, port in (
        (second.flow_config_path, instance.flow_config().port),
        (second.gate_config_path, instance.gate_config().port),
    ):
        path.write_text(path.read_text().replace(f":port: {port}", f":port: {free_port()}"))
    for home in (instance, second):  # OneFlow's loop: quick steps
        flow_conf = home.flow_config_path.read_text()
        home.flow_config_path.write_text(flow_conf.replace(":lcm_interval: 30", ":lcm_interval: 1"))
    tpl = templates.create(admin, 'NAME = "tiny"\nCPU = 0.1\nMEMORY = 32\n')
    flow_doc = service_templates.create(
        admin, {"name": "pair", "roles": [{"name": "a", "vm_template": tpl["ID"]}]}
    )
    _start(cli, started)
    _start(Cli(second), started)
    assert _health(instance)["loops"] == "leader"
    assert _health(second)["loops"] == "standby"
    # the leader monitors the host first: a VM no host can take fails its role at once
    wait_until(lambda: hosts.show(admin, "sim0")["STATE"] == HostState.MONITORED, "monitoring")
    first = services.instantiate(admin, flow_doc["ID"])
    wait_until(lambda: _service_state(admin, first["ID"]) == FlowState.RUNNING, "the leader's LCM")

    os.kill(int(instance.pid_path().read_text()), signal.SIGKILL)  # dies, no clean-up
    wait_until(lambda: _health(second)["loops"] == "leader", "the standby to lead")
    then = services.instantiate(admin, flow_doc["ID"])  # the new leader deploys it
    wait_until(
        lambda: _service_state(admin, then["ID"]) == FlowState.RUNNING, "the new leader's LCM"
    )
    vm = templates.instantiate(admin, tpl["ID"], 1, hold=True)[0]
    lifecycle.act(admin, [vm["ID"]], "release")
    wait_until(lambda: vms.show(admin, vm["ID"])["STATE"] == VmState.ACTIVE, "placement")

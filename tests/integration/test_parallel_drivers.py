"""Parallel drivers (the guide's 3.2.4, issue 14): oned.conf's VM_MAD ``-t`` threads and
``-w`` per-host timeout, on real libvirtd daemons (libvirt's test driver), one of them
hung (SIGSTOP, as a frozen daemon or a host lost behind TCP: its socket accepts, nothing
answers). Every frozen daemon is thawed (SIGCONT) at the end of its test.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import Cli, Cloud
from support.libvirt import SimHost

from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    HostState,
    Lcm,
    VmState,
    state_name,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, templates, vms

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])  # the store is not the subject
TINY = 'NAME = "tiny"\nCPU = 0.1\nMEMORY = 32\n'


def freeze(sim: SimHost) -> None:
    """SIGSTOP the host's libvirtd and wait until every thread of it has stopped."""
    os.kill(sim.pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while not all(state in "Tt" for state in _task_states(sim)):
        assert time.monotonic() < deadline, "libvirtd did not stop"
        time.sleep(0.01)


def _task_states(sim: SimHost) -> list[str]:
    states = []
    for task in os.scandir(f"/proc/{sim.pid}/task"):
        try:  # "tid (comm) S ...": the state follows the command name
            with open(f"{task.path}/stat") as handle:
                states.append(handle.read().rsplit(")", 1)[1].split()[0])
        except (OSError, IndexError):
            continue
    return states


@pytest.fixture
def frozen() -> Iterator[list[SimHost]]:
    """Hosts the test froze; thawed at its end whatever happened."""
    hung: list[SimHost] = []
    yield hung
    for sim in hung:
        os.kill(sim.pid, signal.SIGCONT)


def with_drivers(cloud: Cloud, arguments: str) -> None:
    """oned.conf gets the guide's VM_MAD with these arguments; the test process reads it
    again (as every onekit process does when it opens the instance)."""
    conf = cloud.instance.config_path.read_text()
    conf += (
        'VM_MAD = [\n    name       = "kvm",\n    executable = "one_vmm_exec",\n'
        f'    arguments  = "{arguments}",\n    default    = "vmm_exec/vmm_exec_kvm.conf",\n'
        '    type       = "kvm" ]\n'
    )
    cloud.instance.config_path.write_text(conf)
    cloud.instance.session_settings()


def place(cloud: Cloud, host: str, count: int = 1) -> list[int]:
    tpl = templates.create(cloud.admin, TINY.replace("tiny", f"tiny-{host}"))
    made = templates.instantiate(cloud.admin, tpl["ID"], count)
    host_id = hosts.show(cloud.admin, host)["ID"]
    outcomes = lifecycle.deploy(cloud.admin, [(vm["ID"], host_id) for vm in made])
    assert [o.error for o in outcomes] == [None] * count
    return [vm["ID"] for vm in made]


def state(cloud: Cloud, vm_id: int) -> str:
    body = vms.show(cloud.admin, vm_id)
    return state_name(body["STATE"], body["LCM_STATE"])


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_bound_how_many_actions_run_at_once(cloud, frozen, threads):
    """VM a is on sim0, whose libvirtd hangs; VM b on sim1. ``onevm suspend a`` is
    given first, then ``onevm suspend b``. With -t 2, b is SUSPENDED while a's suspend
    still waits for sim0; with -t 1, b's suspend waits its turn: it ends only after a's
    call gave up, 8 s (-w) after it started (a is RUNNING again, with the timeout in its
    ERROR). Which of the two then finishes its bookkeeping first is a race, so -t 1 is
    judged by the time b ended, not by the order."""
    with_drivers(cloud, f"-t {threads} -w 8 -r 0 kvm")
    (a,) = place(cloud, "sim0")
    (b,) = place(cloud, "sim1")
    freeze(cloud.sims[0])
    frozen.append(cloud.sims[0])
    ended: list[str] = []

    def suspend(vm_id: int, name: str) -> None:
        lifecycle.act(cloud.admin, [vm_id], "suspend")
        ended.append(name)

    first = threading.Thread(target=suspend, args=(a, "a"))
    a_asked = time.monotonic()  # a's driver call starts after this
    first.start()
    deadline = time.monotonic() + 10
    while state(cloud, a) != "SAVE_SUSPEND":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(1)  # a's driver call is on its way to sim0
    suspend(b, "b")
    b_ended = time.monotonic()
    first.join(60)
    assert sorted(ended) == ["a", "b"]
    if threads == 2:
        assert ended == ["b", "a"]  # b did not wait for sim0
    else:
        assert b_ended - a_asked >= 8  # b's turn came when a's call gave up
    assert state(cloud, b) == "SUSPENDED"
    assert cloud.guest_state(1, b) == "paused"
    assert state(cloud, a) == "RUNNING"
    assert "no answer within 8 s" in vms.show(cloud.admin, a)["USER_TEMPLATE"]["ERROR"]["MESSAGE"]


def test_a_hung_host_is_not_asked_again_while_a_call_to_it_hangs(cloud, frozen):
    """After one call to the hung sim0 gave up, the next actions on its VMs fail at once
    with the reason, rather than each waiting the timeout again; sim1's VMs are served."""
    with_drivers(cloud, "-t 15 -w 5 kvm")
    on_sim0 = place(cloud, "sim0", 3)
    on_sim1 = place(cloud, "sim1", 3)
    freeze(cloud.sims[0])
    frozen.append(cloud.sims[0])
    outcomes = lifecycle.act(cloud.admin, on_sim0 + on_sim1, "suspend")
    errors = {o.vm["ID"]: o.error for o in outcomes}
    assert all(errors[v] is None for v in on_sim1)
    assert [state(cloud, v) for v in on_sim1] == ["SUSPENDED"] * 3
    assert all("no answer within 5 s" in errors[v] for v in on_sim0)
    again = lifecycle.act(cloud.admin, on_sim0, "suspend")
    assert all("not asked: an earlier call has had no answer" in o.error for o in again)
    assert [state(cloud, v) for v in on_sim0] == ["RUNNING"] * 3


def test_the_hook_recovers_a_hung_hosts_vms_on_another_host(cloud, frozen):
    """The guide's HOST_HOOK (ft/host_error -r) with the real server: sim0's libvirtd
    hangs with 4 VMs on it. The monitor gives sim0 up after the driver's timeout (ERROR),
    the hook cleans up its VMs (each try bounded, none waiting on another) and the
    scheduler runs them on sim1."""
    with_drivers(cloud, "-t 15 -w 4 -r 0 kvm")
    conf = cloud.instance.config_path.read_text()
    conf = conf.replace("MONITORING_INTERVAL = 60", "MONITORING_INTERVAL = 2")
    conf += (
        'HOST_HOOK = [ name = "error", on = "ERROR", command = "ft/host_error",\n'
        '  arguments = "$HID -r", remote = "no" ]\n'
    )
    cloud.instance.config_path.write_text(conf)
    cloud.instance.sched_config_path.write_text("MAX_HOST = 10\n")
    victims = place(cloud, "sim0", 4)
    cli = Cli(cloud.instance)
    started = cli("onekit-server", "start")
    assert started.returncode == 0, started.stderr
    try:
        freeze(cloud.sims[0])
        frozen.append(cloud.sims[0])
        deadline = time.monotonic() + 120
        while not all(
            (vm := vms.show(cloud.admin, v))["STATE"] == VmState.ACTIVE
            and vm["LCM_STATE"] == Lcm.RUNNING
            and vms.host_name(vm) == "sim1"
            and cloud.guest_state(1, v) == "running"
            for v in victims
        ):
            assert time.monotonic() < deadline, {v: state(cloud, v) for v in victims}
            time.sleep(0.2)
        assert hosts.show(cloud.admin, "sim0")["STATE"] == HostState.ERROR
        log = (cloud.instance.var / "hooks" / "error.log").read_text()
        assert all(f"VM {v}: done, now PENDING" in log for v in victims)
    finally:
        cli("onekit-server", "stop")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("-t 0 -r 0 kvm", '-t takes the number of threads, a whole number from 1 to 256, got "0"'),
        ("-t many kvm", "-t takes the number of threads"),
        ("-t 15 -w 0 kvm", "-w takes a timeout in seconds, a whole number from 1 to 3600"),
        ("-t 15 -x kvm", "unknown driver flag '-x'"),
    ],
)
def test_bad_driver_arguments_are_refused_naming_the_file_and_section(instance, arguments, message):
    conf = instance.config_path.read_text()
    conf += f'VM_MAD = [ name = "kvm", executable = "one_vmm_exec", arguments = "{arguments}" ]\n'
    instance.config_path.write_text(conf)
    result = Cli(instance)("onehost", "list")
    assert result.returncode != 0
    assert str(instance.config_path) in result.stderr
    assert 'VM_MAD "kvm"' in result.stderr
    assert message.replace('"', "'") in result.stderr

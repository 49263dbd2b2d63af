"""VM high availability: the time from a host's failure to its VMs running elsewhere.

Each run: a fresh instance, three simulated hosts (a private libvirtd each on libvirt's
test driver, tests/support/libvirt.py), the real onekit-server with oned.conf's
``HOST_HOOK = [ ..., command = "ft/host_error", arguments = "$HID -r" ]``, a short
MONITORING_INTERVAL and the guide's ``VM_MAD = [ ..., arguments = "-t 15 -r 0 kvm" ]``
(onekit's default per-host timeout, ``-w``, 15 s), six VMs on sim0. sim0 fails:

* killed (the baseline): its libvirtd is SIGKILLed; calls to it fail at once;
* hung: its libvirtd is SIGSTOPped; its socket accepts, nothing answers: every call to
  it waits until the driver's per-host timeout gives it up.

The clock stops when the store has every one of those VMs RUNNING on sim1 or sim2 and
libvirt there shows its guest running. Printed: each run split into detection (failure
-> host ERROR) and recovery (ERROR -> all running: the hook's ansible-runner call, its
clean-up on sim0, then the scheduler), the medians, the hung host as a multiple of the
killed one, and the goal for the hung host: 2 x MONITORING_INTERVAL + one connection
timeout (the VM_MAD's -w).

The failure lands at a random point of the monitoring cycle, so detection is between 0
and one interval (half on average), plus, for a hung host, the timeout of the poll that
finds it. Needs root (simulated hosts). Run: .venv/bin/python bench/ha.py [interval]
[runs] (default 5 s, 3 runs of each: about four minutes)
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "server"))

import libvirt
from support.libvirt import sim_hosts, stop_all
from support.ports import free_port

from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    HostState,
    Lcm,
    VmState,
)
from ansible_collections.onekit.cloud.plugins.module_utils.drivers import mads
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import (
    FlowConfig,
)
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import (
    InstanceConfig,
)
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import (
    GateConfig,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import (
    lifecycle,
    monitor,
    templates,
    vms,
)

VENV_BIN = Path(sys.executable).parent
VMS = 6
HOOK = (
    'HOST_HOOK = [ name = "error", on = "ERROR", command = "ft/host_error",\n'
    '  arguments = "$HID -r", remote = "no" ]\n'
    'VM_MAD = [ name = "kvm", executable = "one_vmm_exec", arguments = "-t 15 -r 0 kvm",\n'
    '  default = "vmm_exec/vmm_exec_kvm.conf", type = "kvm" ]\n'
)
TIMEOUT = mads.DEFAULT_TIMEOUT  # the per-host timeout of the VM_MAD above


def _server(instance: Instance, command: str) -> None:
    env = {
        **os.environ,
        "ONEKIT_HOME": str(instance.home),
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
    }
    subprocess.run(
        [str(VENV_BIN / "onekit-server"), command],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
    )


def _running_on(sims, vm_id: int) -> list[int]:
    """The hosts whose libvirt runs the VM's guest (sim0, failed, is not asked)."""
    found = []
    for index, sim in enumerate(sims):
        if sim.hold is None or index == 0:
            continue
        try:
            if sim.hold.lookupByName(f"one-{vm_id}").isActive() == 1:
                found.append(index)
        except libvirt.libvirtError:
            continue
    return found


def one_run(base: Path, interval: int, failure: str) -> tuple[float, float]:
    """(failure -> ERROR, ERROR -> every VM running elsewhere), in seconds; ``failure``
    is "killed" or "hung"."""
    instance = Instance(base / "onekit")
    instance.init(
        InstanceConfig(port=free_port()),
        flow=FlowConfig(port=free_port()),
        onegate=GateConfig(port=free_port()),
    )
    admin = instance.session()
    sims = sim_hosts(3, base / "hosts")
    try:
        for index, sim in enumerate(sims):
            hosts.create(admin, f"sim{index}", uri=sim.uri)
        monitor.cycle(Session.system(admin.db), instance.monitor_config())
        conf = instance.config_path.read_text()
        conf = conf.replace("MONITORING_INTERVAL = 60", f"MONITORING_INTERVAL = {interval}")
        instance.config_path.write_text(conf + HOOK)
        instance.sched_config_path.write_text("MAX_HOST = 10\n")
        tpl = templates.create(admin, 'NAME = "tiny"\nCPU = 0.1\nMEMORY = 32\n')
        made = [vm["ID"] for vm in templates.instantiate(admin, tpl["ID"], VMS)]
        sim0 = hosts.show(admin, "sim0")["ID"]
        assert not [o.error for o in lifecycle.deploy(admin, [(i, sim0) for i in made]) if o.error]
        _server(instance, "start")
        try:
            time.sleep(random.uniform(0, interval))  # the failure lands anywhere in a cycle
            killed = time.monotonic()
            if failure == "killed":
                sims[0].kill()
            else:
                os.kill(sims[0].pid, signal.SIGSTOP)
            detected = None
            while True:
                now = time.monotonic()
                if detected is None and hosts.show(admin, "sim0")["STATE"] == HostState.ERROR:
                    detected = now
                bodies = [vms.show(admin, i) for i in made]
                if all(
                    (b["STATE"], b["LCM_STATE"]) == (VmState.ACTIVE, Lcm.RUNNING)
                    and vms.host_name(b) in ("sim1", "sim2")
                    for b in bodies
                ) and all(len(_running_on(sims, i)) == 1 for i in made):
                    return (detected or now) - killed, now - (detected or now)
                if now - killed > 20 * interval + 60:
                    raise RuntimeError("the VMs were not recreated")
                time.sleep(0.05)
        finally:
            if failure == "hung":
                os.kill(sims[0].pid, signal.SIGCONT)
            _server(instance, "stop")
    finally:
        admin.db.close()
        stop_all(sims)


def measure(interval: int, runs: int, failure: str) -> float:
    """The median failure -> VMs running elsewhere over ``runs`` runs, each printed."""
    totals = []
    for run in range(1, runs + 1):
        base = Path(tempfile.mkdtemp(prefix="okha-", dir="/tmp"))
        try:
            detect, recover = one_run(base, interval, failure)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        total = detect + recover
        totals.append(total)
        print(
            f"{failure} host, run {run}: failure -> ERROR {detect:5.2f} s, ERROR -> running "
            f"elsewhere {recover:5.2f} s, total {total:5.2f} s ({total / interval:.2f} x interval)",
            flush=True,
        )
    return statistics.median(totals)


def main() -> None:
    interval = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(
        f"MONITORING_INTERVAL = {interval} s, VM_MAD -w (per-host timeout) = {TIMEOUT} s, "
        f"{VMS} VMs on the failed host, {runs} runs of each",
        flush=True,
    )
    killed = measure(interval, runs, "killed")
    hung = measure(interval, runs, "hung")
    goal = 2 * interval + TIMEOUT
    print(f"killed host (baseline): median {killed:.2f} s = {killed / interval:.2f} x interval")
    print(
        f"hung host: median {hung:.2f} s = {hung / killed:.1f} x the killed host; goal "
        f"<= 2 x {interval} + {TIMEOUT} = {goal} s: {'met' if hung <= goal else 'NOT met'} "
        f"({hung / goal:.2f} x the goal)"
    )


if __name__ == "__main__":
    main()

"""Deploying VMs with ``onekit.cloud.vm`` against its baselines, measured in the same run.

(a) one runner start: ansible-runner running a playbook of one trivial module
    (``ansible.builtin.ping``), the way the server runs its playbooks and the runs below
    run; the same with a ``debug`` task (no module at all) is printed beside it;
(b) libvirt-python ``createXML`` of the same 200 domains on the same 4 simulated hosts;
(c) ``onekit.cloud.vm`` asked for 0 VMs (its start-up: imports, login, the store, a plan),
    and its very first run, which compiles the core (``__pycache__``);
(d) ``onekit.cloud.vm`` with ``exact_count: 200, state: running`` (store, scheduler, life
    cycle, drivers and start-up included);
then (d) against the goal of issue 14, one runner start + 2 x createXML: (a) + 2 (b).
(c) and (d) run on the front-end itself, so the module's action plugin runs its logic in
the controller's process (plugins/plugin_utils/in_process.py); (e) is (c) and (d) the way
any other host runs them, through AnsiballZ in a second Python (the task's interpreter is
a wrapper of the same Python, which the plugin cannot know for the same).
Then one full monitoring cycle over 1,000 VMs on 10 simulated hosts.

Every measured run is checked (a playbook that fails, or a module that does not report
what was asked, stops the bench with its output). Simulated hosts are private libvirtd
daemons on the test driver (tests/support/libvirt.py); needs root. The figures are medians
of a few runs; on a shared machine compare the ratios, not the seconds.

Run: .venv/bin/python bench/deploy.py   (a minute or two)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import ansible_runner

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.libvirt import sim_hosts, stop_all

from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import monitor, scheduler, templates

VENV_BIN = Path(sys.executable).parent
TINY = 'NAME = "tiny"\nCPU = 0.01\nMEMORY = 8\n'
VMS, REPEAT = 200, 3
INTERPRETER = f"ansible_python_interpreter={sys.executable}"


def bare_libvirt(sims, count: int) -> float:
    """createXML of ``count`` domains spread over the hosts, one call after the other."""
    xml = (
        "<domain type='test'><name>bare-{i}</name><memory unit='KiB'>8192</memory>"
        "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>"
    )
    started = time.perf_counter()
    for i in range(count):
        sims[i % len(sims)].hold.createXML(xml.format(i=i))
    elapsed = time.perf_counter() - started
    for i in range(count):
        sims[i % len(sims)].hold.lookupByName(f"bare-{i}").destroy()
    return elapsed


def instance_with(sims, home: Path) -> tuple[Instance, Session]:
    instance = Instance(home)
    instance.init()
    # the limits count per SCHED_INTERVAL (30 s): the runs deploy 200 VMs six times in less
    instance.sched_config_path.write_text("MAX_DISPATCH = 10000\nMAX_HOST = 10000\n")
    admin = instance.session()
    for i, sim in enumerate(sims):
        hosts.create(admin, f"sim{i}", uri=sim.uri)
    monitor.cycle(Session.system(admin.db), instance.monitor_config())
    templates.create(admin, TINY)
    return instance, admin


class Plays:
    """One-task playbooks run the way the server runs its own (ansible-runner, local
    connection, this Python), checked."""

    def __init__(self, home: Path):
        self.home = home
        (home / "runner").mkdir(mode=0o700, exist_ok=True)
        self.wrapper = home / "other-python"  # the same Python, by another path
        self.wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
        self.wrapper.chmod(0o755)

    def run(self, task: str, zipped: bool = False) -> tuple[float, dict]:
        """``zipped``: the module runs as on any other host (AnsiballZ, a second Python)."""
        """Seconds of one ansible-runner run of ``task``, and the task's result."""
        play = self.home / "bench.yml"
        play.write_text(
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
            + textwrap.indent(textwrap.dedent(task), "    ")
        )
        started = time.perf_counter()
        run = ansible_runner.run(
            private_data_dir=str(self.home / "runner"),
            playbook=str(play),
            inventory=f"localhost ansible_connection=local {INTERPRETER}"
            + (f" ansible_python_interpreter={self.wrapper}" if zipped else ""),
            envvars={
                "ONEKIT_HOME": str(self.home),
                # the modules' compiled module_utils (frontend.bytecode), this run's own
                "XDG_CACHE_HOME": str(self.home / "cache"),
                "ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"),
                "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
            },
            quiet=True,
            suppress_env_files=True,
            rotate_artifacts=1,
        )
        elapsed = time.perf_counter() - started
        results = [e["event_data"]["res"] for e in run.events if e["event"] == "runner_on_ok"]
        if run.status != "successful" or len(results) != 1:
            raise SystemExit(f"ansible-runner: {run.status}\n{task}\n{run.stdout.read()[-4000:]}")
        return elapsed, results[0]

    def median(self, task: str, check, zipped: bool = False) -> float:
        times = []
        for _ in range(REPEAT):
            elapsed, result = self.run(task, zipped)
            if not check(result):
                raise SystemExit(f"unexpected result of\n{task}\n{json.dumps(result)[:4000]}")
            times.append(elapsed)
        return statistics.median(times)


def vm_task(count: int) -> str:
    return f"""\
    - onekit.cloud.vm:
        template_name: tiny
        exact_count: {count}
        count_labels: [bench]
        state: running
    """


def all_running(count: int):
    def check(result: dict) -> bool:
        states = [vm["lcm_state"] for vm in result.get("instances", [])]
        return not result.get("failed") and states == ["RUNNING"] * count

    return check


def through_ansible(sims, home: Path) -> dict[str, float]:
    _, admin = instance_with(sims, home)
    plays = Plays(home)
    figures = {
        "debug": plays.median("- debug: {msg: hi}\n", lambda r: r.get("msg") == "hi"),
        "ping": plays.median("- ping:\n", lambda r: r.get("ping") == "pong"),
    }
    figures["vm0_cold"], result = plays.run(vm_task(0))  # compiles its module_utils
    if not all_running(0)(result):
        raise SystemExit(f"unexpected result of the module: {json.dumps(result)[:4000]}")
    figures["vm0"] = plays.median(vm_task(0), all_running(0))
    figures["vm"] = deploy(plays, zipped=False)
    figures["vm0_zipped"] = plays.median(vm_task(0), all_running(0), zipped=True)
    figures["vm_zipped"] = deploy(plays, zipped=True)
    admin.db.close()
    return figures


def deploy(plays: Plays, zipped: bool) -> float:
    """The median time to deploy the VMs (each round deletes them after)."""
    deploys = []
    for _ in range(REPEAT):
        elapsed, result = plays.run(vm_task(VMS), zipped)
        if not all_running(VMS)(result) or result["created"] != VMS:
            raise SystemExit(f"the module did not run {VMS} VMs: {json.dumps(result)[:4000]}")
        deploys.append(elapsed)
        _, result = plays.run(vm_task(0))  # delete them for the next round
        if len(result["deleted_ids"]) != VMS:
            raise SystemExit(f"the module did not delete the {VMS} VMs: {result}")
    return statistics.median(deploys)


def monitoring(sims, home: Path, count: int) -> tuple[float, int]:
    instance, admin = instance_with(sims, home)
    made = templates.instantiate(admin, "tiny", count)
    outcomes = scheduler.schedule(admin, instance.sched_config(), [vm["ID"] for vm in made])
    assert all(o.error is None for o in outcomes) and len(outcomes) == count
    system = Session.system(admin.db)
    config = instance.monitor_config()
    monitor.cycle(system, config)  # the first poll primes the CPU samples
    started = time.perf_counter()
    reports = monitor.cycle(system, config)
    elapsed = time.perf_counter() - started
    assert all(r.error is None for r in reports)
    return elapsed, len(reports)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="okb-", dir="/tmp") as tmp:
        base = Path(tmp)
        four = sim_hosts(4, base / "four")
        try:
            bare = statistics.median(bare_libvirt(four, VMS) for _ in range(REPEAT))
            ours = through_ansible(four, base / "a")
        finally:
            stop_all(four)
        goal = ours["ping"] + 2 * bare
        lines = [
            f"deploy {VMS} VMs on 4 simulated hosts (medians of {REPEAT}):",
            f"  (a) one runner start (ansible-runner, a ping task)  {ours['ping']:6.2f} s"
            f"   (a debug task, no module: {ours['debug']:.2f} s)",
            f"  (b) libvirt createXML of the {VMS} domains            {bare:6.3f} s",
            f"  (c) onekit.cloud.vm, exact_count 0                  {ours['vm0']:6.2f} s"
            f"   (its start-up over (a): {ours['vm0'] - ours['ping']:+.2f} s; the first run,"
            f" before the core's compiled code is kept: {ours['vm0_cold']:.2f} s)",
            f"  (d) onekit.cloud.vm, exact_count {VMS}, running      {ours['vm']:6.2f} s",
            f"  (e) (c), (d) through AnsiballZ, as on another host: {ours['vm0_zipped']:.2f} s and"
            f" {ours['vm_zipped']:.2f} s: that (d) / goal = {ours['vm_zipped'] / goal:.2f}",
            f"  goal (a) + 2 (b) = {goal:.2f} s: (d) / goal = {ours['vm'] / goal:.2f}"
            f" (met when <= 1.00); (d) - (a) = {ours['vm'] - ours['ping']:.2f} s"
            f" against 2 (b) = {2 * bare:.2f} s",
        ]
        print("\n".join(lines))
        ten = sim_hosts(10, base / "ten")
        try:
            elapsed, polled = monitoring(ten, base / "m", 1000)
        finally:
            stop_all(ten)
        print(f"one monitoring cycle: 1000 VMs on {polled} hosts in {elapsed:.2f} s")


if __name__ == "__main__":
    main()

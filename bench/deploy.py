"""Deploying and monitoring VMs: onekit against bare libvirt, in the same run.

(a) 200 guests over 4 simulated hosts with direct libvirt-python ``createXML`` calls;
(b) the same through one ``ansible-playbook`` run of ``onekit.cloud.vm`` with
    ``exact_count: 200`` (store, scheduler, life cycle, module start-up included);
prints both times and the ratio b/a. Then one full monitoring cycle over 1,000 VMs on
10 simulated hosts. Simulated hosts are private libvirtd daemons on the test driver
(tests/support/libvirt.py); needs root.

Run: .venv/bin/python bench/deploy.py   (about a minute)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.libvirt import sim_hosts, stop_all

from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import monitor, scheduler, templates

VENV_BIN = Path(sys.executable).parent
TINY = 'NAME = "tiny"\nCPU = 0.01\nMEMORY = 8\n'


def bare_libvirt(sims, count: int) -> float:
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
    instance.sched_config_path.write_text("MAX_DISPATCH = 1000\nMAX_HOST = 1000\n")
    admin = instance.session()
    for i, sim in enumerate(sims):
        hosts.create(admin, f"sim{i}", uri=sim.uri)
    monitor.cycle(Session.system(admin.db), instance.monitor_config())
    templates.create(admin, TINY)
    return instance, admin


def through_ansible(sims, home: Path, count: int) -> float:
    _, admin = instance_with(sims, home)
    play = home / "deploy.yml"
    play.write_text(
        textwrap.dedent(f"""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - onekit.cloud.vm:
                template_name: tiny
                exact_count: {count}
                count_labels: [bench]
                state: running
              register: result
            - assert:
                that: result.instances | selectattr('lcm_state', 'eq', 'RUNNING')
                      | list | length == {count}
        """)
    )
    env = {**os.environ, "ONEKIT_HOME": str(home), "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    started = time.perf_counter()
    run = subprocess.run(
        [VENV_BIN / "ansible-playbook", str(play)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"ansible-playbook failed:\n{run.stdout}\n{run.stderr}")
    admin.db.close()
    return elapsed


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
            bare = bare_libvirt(four, 200)
            ours = through_ansible(four, base / "a", 200)
        finally:
            stop_all(four)
        print(
            f"deploy 200 VMs on 4 hosts: libvirt createXML {bare:.3f} s | "
            f"ansible-playbook onekit.cloud.vm exact_count=200 {ours:.2f} s | "
            f"ratio b/a {ours / bare:.0f}"
        )
        ten = sim_hosts(10, base / "ten")
        try:
            elapsed, polled = monitoring(ten, base / "m", 1000)
        finally:
            stop_all(ten)
        print(f"one monitoring cycle: 1000 VMs on {polled} hosts in {elapsed:.2f} s")


if __name__ == "__main__":
    main()

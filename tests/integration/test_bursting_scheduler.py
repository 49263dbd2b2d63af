"""Scheduling with an EC2 region beside a local host, as the guide's 5.2.8 has it, on a
real moto_server and a simulated libvirt host: the fixed-priority policy keeps VMs local
until MAX_HOST discards the local host, SCHED_REQUIREMENTS on PUBLIC_CLOUD forces either
side, and a region never takes a VM that has no EC2 section for it."""

from __future__ import annotations

import time

import pytest
from support.moto import MotoServer, driver_conf

from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import HostState, VmState
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import (
    monitor,
    scheduler,
    templates,
    vms,
)

HYBRID = 'CPU = 1\nMEMORY = 256\nEC2 = [ AMI = "ami-6f5f1206", INSTANCETYPE = "m1.small" ]\n'
# the guide's example: MAX_HOST 1, MAX_DISPATCH 30, DEFAULT_SCHED = [ policy = 4 ]
FIXED = scheduler.SchedConfig(policy=4, max_host=1, max_dispatch=30)


@pytest.fixture
def two_hosts(instance: Instance, admin: Session, moto: MotoServer, sim_hosts) -> Session:
    """A local host (PRIORITY 0, the default) and the region us-east-1 (PRIORITY -1)."""
    (instance.home / "etc" / "ec2_driver.conf").write_text(driver_conf(moto.url))
    hosts.create(admin, "local", uri=sim_hosts(1)[0].uri)
    hosts.create(admin, "us-east-1", "ec2", "ec2")
    monitor.cycle(Session.system(admin.db), instance.monitor_config())
    for name in ("local", "us-east-1"):
        assert hosts.show(admin, name)["STATE"] == HostState.MONITORED
    return admin


def placed(admin: Session, text: str, count: int, config=FIXED) -> list[str]:
    """Instantiate ``count`` VMs of ``text`` and run one scheduler pass: each VM's host
    name, or its SCHED_MESSAGE while it stays PENDING."""
    tpl = templates.create(admin, text, name=f"t{time.monotonic_ns()}")
    ids = [vm["ID"] for vm in templates.instantiate(admin, tpl["ID"], count)]
    scheduler.schedule(admin, config, ids)
    where = []
    for vm in vms.list_by_ids(admin, ids):
        if vm["STATE"] == VmState.PENDING:
            where.append(vm["USER_TEMPLATE"].get("SCHED_MESSAGE", "pending"))
        else:
            where.append(vm["HISTORY_RECORDS"][-1]["HOSTNAME"])
    return where


def test_the_guides_example_the_second_vm_overflows_to_ec2(two_hosts: Session):
    assert placed(two_hosts, HYBRID, 2) == ["local", "us-east-1"]


def test_the_fixed_policy_prefers_the_local_host_while_it_is_open(two_hosts: Session):
    config = scheduler.SchedConfig(policy=4, max_host=5, max_dispatch=30)
    assert placed(two_hosts, HYBRID, 3, config) == ["local"] * 3


def test_requirements_force_a_local_or_a_remote_deployment(two_hosts: Session):
    local = HYBRID + 'SCHED_REQUIREMENTS = "!(PUBLIC_CLOUD = YES)"\n'
    remote = HYBRID + 'SCHED_REQUIREMENTS = "PUBLIC_CLOUD = YES"\n'
    assert placed(two_hosts, remote, 1) == ["us-east-1"]  # though local ranks first
    first, second = placed(two_hosts, local, 2)
    assert first == "local"
    assert second.startswith(scheduler.WAITING)  # MAX_HOST: the next cycle, never EC2


def test_a_vm_without_an_ec2_section_never_bursts(two_hosts: Session):
    local_only = "CPU = 1\nMEMORY = 256\n"
    first, second = placed(two_hosts, local_only, 2)
    assert first == "local"
    assert second.startswith(scheduler.WAITING)
    forced = local_only + 'SCHED_REQUIREMENTS = "PUBLIC_CLOUD = YES"\n'
    (message,) = placed(two_hosts, forced, 1)
    assert message == (
        "no host it may go to can run it: the VM has no EC2 section for host us-east-1: "
        'add EC2 = [ AMI = "ami-..." ]'
    )


def test_a_region_takes_no_more_than_its_capacity(two_hosts: Session):
    remote = HYBRID + 'SCHED_REQUIREMENTS = "PUBLIC_CLOUD = YES"\n'
    config = scheduler.SchedConfig(policy=4, max_host=10, max_dispatch=30)
    where = placed(two_hosts, remote, 6, config)  # capacity: 5 x m1.small (1 CPU each)
    assert where[:5] == ["us-east-1"] * 5
    assert where[5].startswith("no host with enough free capacity for CPU 1")

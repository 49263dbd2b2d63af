"""A partner cloud as a host (``drivers.partner``), with two real onekit instances.

The partner is another instance on this machine (SQLite), its server running with a
simulated libvirt host and a user ``burst`` for the bursting front-end: one per module
(per xdist worker), stopped at the end. The local instance (``instance``: SQLite and
MySQL) has a host ``partner`` made with ``onehost create partner --im onekit --vm onekit``
and the partner's credentials in ``etc/partner_driver.conf``. Every test's instance is a
front-end of its own (its own ONE_FRONTEND tag), so tests share the partner without
seeing each other's VMs.

The partner's store is read in-process (``Session.system`` on its database) to see what
really happened there; the local instance talks to it only through its core API.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import Cli
from support.cli import created_id
from support.libvirt import SimHost, sim_hosts, stop_all
from support.ports import free_port
from support.waiting import wait_until

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    HostState,
    Lcm,
    VmState,
)
from ansible_collections.onekit.cloud.plugins.module_utils.drivers import (
    driver_for,
    partner_config,
)
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import VmSpec
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import GateConfig
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls, hosts, users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import (
    lifecycle,
    monitor,
    templates,
    vms,
)

BURST_PASSWORD = "burst-pw"


@dataclass
class Partner:
    """The partner cloud: its instance, core API endpoint, and its store in-process."""

    instance: Instance
    endpoint: str
    system: Session
    sims: list[SimHost]
    cli: Cli

    def vms_tagged(self, local_vm_id: int, frontend_home: Path, done: bool = False) -> list:
        """The partner's VMs standing for a local VM of the front-end at that home."""
        frontend = partner_frontend(frontend_home)
        return [
            vm
            for vm in vms.list_vms(self.system, include_done=done)
            if vm["USER_TEMPLATE"].get("ONE_ID") == str(local_vm_id)
            and vm["USER_TEMPLATE"].get("ONE_FRONTEND") == frontend
        ]


def partner_frontend(home: Path) -> str:
    return partner_config.default_frontend(home / "etc" / partner_config.FILE_NAME)


@contextlib.contextmanager
def running_partner(home: Path, hosts_there: int) -> Iterator[Partner]:
    """A partner instance at ``home``, its server running: user ``burst`` (who may run
    VMs on its hosts), its template ``small``, and ``hosts_there`` simulated hosts."""
    inst = Instance(home)
    inst.init(
        InstanceConfig(port=free_port(), monitoring_interval=1),
        flow=FlowConfig(port=free_port()),
        onegate=GateConfig(port=free_port()),
    )
    inst.sched_config_path.write_text("SCHED_INTERVAL = 1\nMAX_HOST = 10\n")
    base = Path(tempfile.mkdtemp(prefix="okp-", dir="/tmp"))
    sims = sim_hosts(hosts_there, base) if hosts_there else []
    db = inst.open_store()
    system = Session.system(db)
    for index, sim in enumerate(sims):
        hosts.create(system, f"psim{index}", uri=sim.uri)
    burst = users.create(system, "burst", BURST_PASSWORD)
    acls.create(system, f"#{burst['ID']} HOST/* MANAGE")  # its VMs may run on the hosts
    small = templates.create(system, 'NAME = "small"\nCPU = 0.1\nMEMORY = 32\n')
    objects.chown(system, schema.TEMPLATES, small["ID"], "burst")
    cli = Cli(inst)
    try:
        cli("onekit-server", "start", check=True)
        yield Partner(inst, inst.config().endpoint, system, sims, cli)
    finally:
        cli("onekit-server", "stop")
        db.close()
        stop_all(sims)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def partner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Partner]:
    with running_partner(tmp_path_factory.mktemp("partner") / "onekit", 1) as started:
        yield started


def write_partner_conf(instance: Instance, partner: Partner, **changes) -> None:
    entry = {
        "endpoint": partner.endpoint,
        "user": "burst",
        "password": BURST_PASSWORD,
        "capacity": {"cpu": 4, "memory": 2048},
        **changes,
    }
    path = instance.etc / "partner_driver.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump({"partner": entry}, handle)


@dataclass
class Local:
    instance: Instance
    admin: Session
    system: Session
    cli: Cli
    partner: Partner

    def cycle(self) -> list:
        return monitor.cycle(self.system, self.instance.monitor_config())

    def host(self, name: str = "partner") -> dict:
        return hosts.show(self.admin, name)

    def vm(self, vm_id: int) -> dict:
        return vms.show(self.admin, vm_id)

    def burst(self, text: str, host: str = "partner") -> dict:
        """A VM made here and deployed to a partner host; RUNNING here."""
        vm = vms.create(self.admin, text)
        (outcome,) = lifecycle.deploy(self.admin, [(vm["ID"], self.host(host)["ID"])])
        assert outcome.error is None, outcome.error
        assert outcome.vm["LCM_STATE"] == Lcm.RUNNING
        return outcome.vm

    def remote(self, vm_id: int, done: bool = False) -> list:
        return self.partner.vms_tagged(vm_id, self.instance.home, done)

    def remote_running(self, vm_id: int) -> dict:
        seen: list = []

        def running() -> dict | None:
            seen[:] = self.remote(vm_id)
            if len(seen) == 1 and seen[0]["LCM_STATE"] == Lcm.RUNNING:
                figures = seen[0]["MONITORING"]  # polled there twice: CPU is a difference
                return seen[0] if "CPU" in figures and "MEMORY" in figures else None
            return None

        try:
            return wait_until(running, f"VM {vm_id} running and monitored at the partner", 60)
        except AssertionError as err:
            raise AssertionError(f"{err}; there: {seen}") from None


@pytest.fixture
def local(instance: Instance, admin: Session, cli: Cli, partner: Partner) -> Local:
    write_partner_conf(instance, partner)
    cli("onehost", "create", "partner", "--im", "onekit", "--vm", "onekit", check=True)
    return Local(instance, admin, Session.system(admin.db), cli, partner)


BURST_VM = """
NAME = "web{{7*7}}"
CPU = 0.5
MEMORY = 64
PARTNER = [ TEMPLATE = "small", DESCRIPTION = "{{ 7*7 }} $HOME `id`" ]
"""


def test_a_vm_bursts_to_the_partner_runs_there_and_is_terminated_there(local: Local):
    # a monitored partner host: the configured capacity, a public cloud
    local.cycle()
    host = local.host()
    assert host["STATE"] == HostState.MONITORED, host["TEMPLATE"].get("ERROR")
    assert (host["IM_MAD"], host["VM_MAD"]) == ("onekit", "onekit")
    assert host["HOST_SHARE"]["MAX_CPU"] == 400
    assert host["HOST_SHARE"]["MAX_MEM"] == 2048 * 1024
    assert host["HOST_SHARE"]["USED_CPU"] == 0
    tpl = host["TEMPLATE"]
    assert (tpl["HYPERVISOR"], tpl["PUBLIC_CLOUD"], tpl["PRIORITY"]) == ("onekit", "YES", "-1")
    assert "burst" not in str(tpl) and BURST_PASSWORD not in str(tpl)  # credentials elsewhere

    vm = local.burst(BURST_VM)
    (there,) = local.remote(vm["ID"])
    # the partner's template, the vector's extra attributes, the tags; user text literal
    assert there["UNAME"] == "burst"
    assert there["NAME"] == "web{{7*7}}"
    assert there["USER_TEMPLATE"]["DESCRIPTION"] == "{{ 7*7 }} $HOME `id`"
    assert there["USER_TEMPLATE"]["ONE_HOST"] == "partner"
    assert there["TEMPLATE"]["MEMORY"] == "32"  # the partner template's "small"
    assert local.vm(vm["ID"])["DEPLOY_ID"]  # what the life cycle gives later actions

    there = local.remote_running(vm["ID"])
    local.cycle()
    here = local.vm(vm["ID"])
    assert (here["STATE"], here["LCM_STATE"]) == (VmState.ACTIVE, Lcm.RUNNING)
    assert here["MONITORING"]["MEMORY"] == there["MONITORING"]["MEMORY"]
    assert here["MONITORING"]["CPU"] == pytest.approx(there["MONITORING"]["CPU"], abs=5)
    host = local.host()
    assert host["HOST_SHARE"]["USED_CPU"] == 10  # the partner VM's CPU 0.1, MEMORY 32
    assert host["HOST_SHARE"]["USED_MEM"] == 32 * 1024
    assert host["HOST_SHARE"]["CPU_USAGE"] == 50  # what the VM takes here: CPU 0.5

    # a retried deploy (a lost answer) makes no second VM there
    spec = VmSpec(vm["ID"], vm["NAME"], here["TEMPLATE"])
    again = driver_for(local.host()).deploy(spec)
    assert again == f"partner:{there['ID']}"
    assert [v["ID"] for v in local.remote(vm["ID"])] == [there["ID"]]

    # suspend and resume through the partner
    (outcome,) = lifecycle.act(local.admin, [vm["ID"]], "suspend")
    assert outcome.error is None, outcome.error
    assert local.vm(vm["ID"])["STATE"] == VmState.SUSPENDED
    assert local.remote(vm["ID"])[0]["STATE"] == VmState.SUSPENDED
    (outcome,) = lifecycle.act(local.admin, [vm["ID"]], "resume")
    assert outcome.error is None, outcome.error
    assert local.remote(vm["ID"])[0]["LCM_STATE"] == Lcm.RUNNING

    for action in ("reboot", "reboot-hard"):
        (outcome,) = lifecycle.act(local.admin, [vm["ID"]], action)
        assert outcome.error is None, (action, outcome.error)

    # a snapshot is the partner's
    (outcome,) = lifecycle.act(local.admin, [vm["ID"]], "snapshot-create", name="s1")
    assert outcome.error is None, outcome.error
    assert local.vm(vm["ID"])["TEMPLATE"]["SNAPSHOT"][0]["NAME"] == "s1"
    assert local.remote(vm["ID"])[0]["TEMPLATE"]["SNAPSHOT"][0]["NAME"] == "s1"

    # onevm stop cannot save a guest's memory at a partner: refused, still RUNNING
    (outcome,) = lifecycle.act(local.admin, [vm["ID"]], "stop")
    assert "partner cloud" in outcome.error and "poweroff or undeploy" in outcome.error
    assert local.vm(vm["ID"])["LCM_STATE"] == Lcm.RUNNING

    # terminated here: gone there
    (outcome,) = lifecycle.act(local.admin, [vm["ID"]], "delete")
    assert outcome.error is None, outcome.error
    assert local.vm(vm["ID"])["STATE"] == VmState.DONE
    assert local.remote(vm["ID"]) == []
    assert [v["STATE"] for v in local.remote(vm["ID"], done=True)] == [VmState.DONE]
    local.cycle()
    assert local.host()["HOST_SHARE"]["USED_CPU"] == 0


def test_a_vm_without_a_partner_template_goes_with_its_own_size(local: Local):
    """No PARTNER/TEMPLATE: the VM's own CPU and MEMORY. A poweroff keeps the VM there
    (shut off), the resume boots that same VM; deleted there behind our back, the VM here
    leaves RUNNING as the monitor's rules say (the guest is gone: POWEROFF)."""
    # a partner template that does not exist there: FAILED here, with the partner's word
    wrong = vms.create(
        local.admin, 'NAME = "w"\nCPU = 1\nMEMORY = 8\nPARTNER = [ TEMPLATE = "nosuch" ]'
    )
    (outcome,) = lifecycle.deploy(local.admin, [(wrong["ID"], local.host()["ID"])])
    assert outcome.vm["STATE"] == VmState.FAILED
    assert f"the partner at {local.partner.endpoint}" in outcome.error, outcome.error
    assert "nosuch" in outcome.error
    assert local.remote(wrong["ID"], done=True) == []
    # disks name this cloud's images: without a partner template, refused
    disk = vms.create(
        local.admin, 'NAME = "d"\nCPU = 1\nMEMORY = 8\nDISK = [ SOURCE = "/var/tmp/d.img" ]'
    )
    (outcome,) = lifecycle.deploy(local.admin, [(disk["ID"], local.host()["ID"])])
    assert outcome.vm["STATE"] == VmState.FAILED
    assert "has DISK, which name this cloud's images" in outcome.error, outcome.error
    assert 'PARTNER = [ TEMPLATE = "<template of the partner>" ]' in outcome.error

    vm = local.burst('NAME = "sized"\nCPU = 0.25\nMEMORY = 48\n')
    there = local.remote_running(vm["ID"])
    assert (there["TEMPLATE"]["CPU"], there["TEMPLATE"]["MEMORY"]) == ("0.25", "48")

    (outcome,) = lifecycle.act(local.admin, [vm["ID"]], "poweroff", quick_wait=5)
    assert outcome.error is None, outcome.error
    wait_until(
        lambda: local.remote(vm["ID"])[0]["STATE"] == VmState.POWEROFF, "poweroff at the partner"
    )
    local.cycle()
    assert local.vm(vm["ID"])["STATE"] == VmState.POWEROFF
    (outcome,) = lifecycle.act(local.admin, [vm["ID"]], "resume")
    assert outcome.error is None, outcome.error
    assert [v["ID"] for v in local.remote(vm["ID"])] == [there["ID"]]  # the same VM
    local.remote_running(vm["ID"])
    local.cycle()
    assert local.vm(vm["ID"])["LCM_STATE"] == Lcm.RUNNING

    # deleted at the partner by someone else
    lifecycle.act(local.partner.system, [there["ID"]], "delete")
    assert local.remote(vm["ID"]) == []
    local.cycle()
    here = local.vm(vm["ID"])
    assert here["STATE"] == VmState.POWEROFF, here
    assert local.host()["STATE"] == HostState.MONITORED


def test_a_stopped_partner_makes_its_host_error_and_the_cycle_goes_on(local: Local, tmp_path):
    """A second partner host, on a partner of its own (no hosts there: its VM waits
    PENDING, which counts as running here), whose server then stops."""
    conf = local.instance.etc / "partner_driver.conf"
    with running_partner(tmp_path / "other", 0) as other:
        entries = yaml.safe_load(conf.read_text())
        entries["other"] = {**entries["partner"], "endpoint": other.endpoint}
        conf.write_text(yaml.safe_dump(entries))
        local.cli("onehost", "create", "other", "--im", "onekit", "--vm", "onekit", check=True)
        local.cycle()
        assert local.host("other")["STATE"] == HostState.MONITORED
        vm = local.burst('NAME = "waits"\nCPU = 0.1\nMEMORY = 32\n', host="other")
        local.cycle()
        assert local.vm(vm["ID"])["LCM_STATE"] == Lcm.RUNNING
        other.cli("onekit-server", "stop", check=True)
        reports = {r.name: r for r in local.cycle()}
    host = local.host("other")
    assert host["STATE"] == HostState.ERROR
    assert "cannot reach the partner of host other" in host["TEMPLATE"]["ERROR"]
    assert reports["partner"].state == HostState.MONITORED  # the cycle went on
    assert local.vm(vm["ID"])["LCM_STATE"] == Lcm.UNKNOWN


def test_refused_credentials_make_the_host_error_naming_the_refusal(local: Local):
    vm = local.burst('NAME = "kept"\nCPU = 0.1\nMEMORY = 32\n')
    local.remote_running(vm["ID"])
    conf = local.instance.etc / "partner_driver.conf"
    entries = yaml.safe_load(conf.read_text())

    # a wrong password: ERROR naming the refusal (and where the credentials are); the VM
    # is UNKNOWN until the partner answers again
    entries["partner"]["password"] = "wrong"
    conf.write_text(yaml.safe_dump(entries))
    local.cycle()
    host = local.host()
    assert host["STATE"] == HostState.ERROR
    error = host["TEMPLATE"]["ERROR"]
    assert "refused user 'burst'" in error and str(conf) in error, error
    assert "wrong" not in error
    assert local.vm(vm["ID"])["LCM_STATE"] == Lcm.UNKNOWN

    entries["partner"]["password"] = BURST_PASSWORD
    conf.write_text(yaml.safe_dump(entries))
    local.cycle()
    assert local.host()["STATE"] == HostState.MONITORED
    assert local.vm(vm["ID"])["LCM_STATE"] == Lcm.RUNNING

    # a readable credentials file is refused, naming the fix
    conf.chmod(0o644)
    local.cycle()
    assert f"chmod 600 {conf}" in local.host()["TEMPLATE"]["ERROR"]
    conf.chmod(0o600)
    lifecycle.act(local.admin, [vm["ID"]], "delete")


@contextlib.contextmanager
def partner_quota(partner: Partner, text: str) -> Iterator[None]:
    """User burst's VM quota at the partner (set as its oneadmin), unlimited again after:
    the partner is shared by the module's tests."""
    users.set_quota(partner.system, "burst", text)
    try:
        yield
    finally:
        users.set_quota(partner.system, "burst", "VM = [ VMS = -1, CPU = -1, MEMORY = -1 ]")


def test_the_hosts_capacity_is_the_partner_users_quota_capped_by_the_conf(local: Local):
    """MAX_CPU/MAX_MEM follow burst's VM quota at the partner (CPU x 100, MB in KiB); the
    configured capacity (4 cores, 2048 MB) caps it, and stands alone for a figure the
    quota leaves unlimited; with neither, the host is ERROR naming both."""

    def share() -> tuple[int, int]:
        local.cycle()
        host = local.host()
        assert host["STATE"] == HostState.MONITORED, host["TEMPLATE"].get("ERROR")
        return host["HOST_SHARE"]["MAX_CPU"], host["HOST_SHARE"]["MAX_MEM"]

    assert share() == (400, 2048 * 1024)  # unlimited there: the conf's
    with partner_quota(local.partner, "VM = [ CPU = 1.5, MEMORY = 1024 ]"):
        assert share() == (150, 1024 * 1024)  # the quota is smaller
    with partner_quota(local.partner, "VM = [ CPU = 16, MEMORY = 512 ]"):
        assert share() == (400, 512 * 1024)  # each figure: the smaller of the two
        write_partner_conf(local.instance, local.partner, capacity={"memory": 4096})
        assert share() == (1600, 512 * 1024)  # no cpu in the conf: the quota's
    conf = local.instance.etc / "partner_driver.conf"
    entries = yaml.safe_load(conf.read_text())
    del entries["partner"]["capacity"]  # no capacity at all
    conf.write_text(yaml.safe_dump(entries))
    with partner_quota(local.partner, "VM = [ CPU = 2, MEMORY = 1024 ]"):
        assert share() == (200, 1024 * 1024)  # the quota alone
    with partner_quota(local.partner, "VM = [ CPU = 2 ]"):
        local.cycle()
        host = local.host()
        assert host["STATE"] == HostState.ERROR
        error = host["TEMPLATE"]["ERROR"]
        assert "sets no VM quota MEMORY for user 'burst' (unlimited)" in error, error
        assert f"{conf}: host partner, capacity.memory is not given" in error, error


def test_a_deploy_over_the_partners_quota_fails_with_its_message(local: Local):
    local.cycle()
    vm = vms.create(local.admin, 'NAME = "over"\nCPU = 0.1\nMEMORY = 32\n')
    with partner_quota(local.partner, "VM = [ VMS = 0 ]"):
        (outcome,) = lifecycle.deploy(local.admin, [(vm["ID"], local.host()["ID"])])
    assert outcome.vm["STATE"] == VmState.FAILED
    assert f"the partner at {local.partner.endpoint}" in outcome.error, outcome.error
    assert "user burst's VM quota: VMS" in outcome.error and "this asks 1 more" in outcome.error
    assert local.remote(vm["ID"], done=True) == []  # nothing made there


def test_onehost_takes_the_onekit_drivers_and_oned_conf_sections_named_onekit(
    local: Local,
):
    listed = local.cli.json("onehost", "show", "partner")["HOST"]
    assert (listed["IM_MAD"], listed["VM_MAD"]) == ("onekit", "onekit")
    with local.instance.config_path.open("a") as conf:
        conf.write(
            'VM_MAD = [ name = "onekit", executable = "one_vmm_onekit",'
            ' arguments = "-t 4 -w 20" ]\n'
            'IM_MAD = [ name = "onekit", executable = "one_im_onekit", arguments = "-t 2 -w 9" ]\n'
        )
    config = local.instance.config()
    assert (config.vm_mads["onekit"].threads, config.vm_mads["onekit"].timeout) == (4, 20)
    assert (config.im_mads["onekit"].threads, config.im_mads["onekit"].timeout) == (2, 9)
    assert local.cli("onehost", "list").returncode == 0

    # the CLIs (processes of their own) find the partner's credentials the same way;
    # `onevm create` places the VM at once: the scheduler takes the partner host
    path = local.instance.home / "vm.tmpl"
    path.write_text('NAME = "cli"\nCPU = 0.1\nMEMORY = 32\nPARTNER = [ TEMPLATE = "small" ]\n')
    vm_id = created_id(local.cli("onevm", "create", str(path), check=True))
    assert local.vm(vm_id)["LCM_STATE"] == Lcm.RUNNING
    assert local.vm(vm_id)["HISTORY_RECORDS"][-1]["HOSTNAME"] == "partner"
    assert len(local.remote(vm_id)) == 1
    local.cli("onevm", "delete", str(vm_id), check=True)
    assert local.vm(vm_id)["STATE"] == VmState.DONE
    assert local.remote(vm_id) == []


def test_a_partner_host_takes_no_uri_and_both_drivers(admin):
    with pytest.raises(Exception, match="a partner host has no URI: its endpoint"):
        hosts.create(admin, "partner", "onekit", "onekit", uri="qemu:///system")
    with pytest.raises(Exception, match="--im onekit and --vm onekit together"):
        hosts.create(admin, "partner", "kvm", "onekit")
    made = hosts.create(admin, "partner", "onekit", "onekit")
    assert made["VM_MAD"] == "onekit" and "URI" not in made["TEMPLATE"]

"""Cloud bursting (the guide's chapter 5): an EC2 region as a host, against a real
``moto_server`` (no mocked boto3), on a real onekit instance, on SQLite (see support.stores).

What a user sees: ``onehost create us-east-1 --im ec2 --vm ec2 --net dummy``, the host's
capacity from ec2_driver.conf, the guide's hybrid template deployed as an instance whose
id is the VM's DEPLOY_ID, AWS_* attributes in ``onevm show``, instances that vanish or
stop behind onekit's back, and the actions on a VM in EC2."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

import pytest
from support.moto import MotoServer, ThrottlingProxy, driver_conf
from support.ports import free_port
from support.stores import sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils import drivers
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    HostState,
    Lcm,
    VmState,
)
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import DriverError, VmSpec
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.ec2 import Ec2Driver
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.ec2_config import region_for
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import (
    lifecycle,
    monitor,
    scheduler,
    templates,
    vms,
)

pytestmark = sqlite_only  # an adapter's tests: see support.stores

# the guide's hybrid template (5.1), as it prints it
HYBRID = """
NAME=ec2template
CPU=1
MEMORY=1700
EC2=[
  AMI="ami-6f5f1206",
  BLOCKDEVICEMAPPING="/dev/sdh=:20",
  INSTANCETYPE="m1.small",
  KEYPAIR="gsg-keypair" ]
SCHED_REQUIREMENTS="PUBLIC_CLOUD=YES"
"""
RUNNING = (VmState.ACTIVE, Lcm.RUNNING)


@dataclass
class Burst:
    instance: Instance
    admin: Session
    moto: MotoServer

    @property
    def ec2(self):
        return self.moto.client("us-east-1")

    def monitor(self) -> list[monitor.HostReport]:
        return monitor.cycle(Session.system(self.admin.db), self.instance.monitor_config())

    def schedule(self) -> list:
        return scheduler.schedule(self.admin, self.instance.sched_config())

    def vms(self, text: str = HYBRID, count: int = 1) -> list[int]:
        tpl = templates.create(self.admin, text, name=f"t{time.monotonic_ns()}")
        return [vm["ID"] for vm in templates.instantiate(self.admin, tpl["ID"], count)]

    def deployed(self, text: str = HYBRID, count: int = 1) -> list[int]:
        ids = self.vms(text, count)
        self.schedule()
        for vm_id in ids:
            assert self.state(vm_id) == RUNNING, vms.show(self.admin, vm_id)["USER_TEMPLATE"]
        return ids

    def state(self, vm_id: int) -> tuple[int, int]:
        vm = vms.show(self.admin, vm_id)
        return vm["STATE"], vm["LCM_STATE"]

    def instance_of(self, vm_id: int) -> dict:
        deploy_id = vms.show(self.admin, vm_id)["DEPLOY_ID"]
        found = self.ec2.describe_instances(InstanceIds=[deploy_id])
        return found["Reservations"][0]["Instances"][0]

    def instances(self) -> list[dict]:
        pages = self.ec2.get_paginator("describe_instances").paginate()
        return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]

    def host(self, name: str = "us-east-1") -> dict:
        return hosts.show(self.admin, name)


def write_conf(instance: Instance, text: str) -> None:
    (instance.home / "etc" / "ec2_driver.conf").write_text(text)


@pytest.fixture
def burst(instance: Instance, admin: Session, moto: MotoServer, cli) -> Burst:
    """us-east-1 registered as the guide says, with the CLI, and monitored once."""
    write_conf(instance, driver_conf(moto.url))
    out = cli("onehost", "create", "us-east-1", "--im", "ec2", "--vm", "ec2", "--net", "dummy")
    assert out.returncode == 0, out.stderr
    result = Burst(instance, admin, moto)
    assert result.host()["STATE"] == HostState.MONITORED, result.host()["TEMPLATE"]
    return result


def test_the_region_is_a_host_with_the_capacity_of_ec2_driver_conf(burst: Burst, cli):
    host = burst.host()
    assert host["IM_MAD"] == host["VM_MAD"] == "ec2" and "URI" not in host["TEMPLATE"]
    share, tpl = host["HOST_SHARE"], host["TEMPLATE"]
    assert share["MAX_CPU"] == 500  # m1.small: 5
    assert share["MAX_MEM"] == 8912896  # 5 x 1.7 GB, not 4.6's 5 x 1 GB
    assert tpl["HYPERVISOR"] == "ec2" and tpl["PUBLIC_CLOUD"] == "YES"
    assert tpl["PRIORITY"] == "-1" and tpl["CPUSPEED"] == "1000"
    shown = cli("onehost", "show", "us-east-1", check=True).stdout
    assert "ec2://us-east-1" in shown and "PUBLIC_CLOUD" in shown
    (row,) = cli("onehost", "list", check=True).stdout.splitlines()[1:]
    assert "0 / 500 (0%)" in row and "0K / 8.5G (0%)" in row and row.split()[-1] == "on"


def test_the_guides_hybrid_template_runs_in_ec2(burst: Burst, cli):
    (vm_id,) = burst.deployed()
    vm = vms.show(burst.admin, vm_id)
    assert vm["DEPLOY_ID"].startswith("i-")
    instance = burst.instance_of(vm_id)
    assert instance["State"]["Name"] == "running"
    assert instance["InstanceType"] == "m1.small" and instance["KeyName"] == "gsg-keypair"
    assert instance["ImageId"] == "ami-6f5f1206"
    assert {"Key": "ONE_ID", "Value": str(vm_id)} in instance["Tags"]
    sdh = [b for b in instance["BlockDeviceMappings"] if b["DeviceName"] == "/dev/sdh"]
    volume = burst.ec2.describe_volumes(VolumeIds=[sdh[0]["Ebs"]["VolumeId"]])["Volumes"][0]
    assert volume["Size"] == 20
    burst.monitor()
    figures = vms.show(burst.admin, vm_id)["MONITORING"]
    assert figures["AWS_DNS_NAME"] == instance["PublicDnsName"]
    assert figures["AWS_INSTANCE_TYPE"] == "m1.small"
    assert figures["AWS_KEY_NAME"] == "gsg-keypair"
    assert figures["AWS_AVAILABILITY_ZONE"].startswith("us-east-1")
    assert figures["AWS_PRIVATE_IP_ADDRESS"] and figures["AWS_IP_ADDRESS"]
    host = burst.host()
    assert host["HOST_SHARE"]["USED_CPU"] == 100  # one m1.small
    assert host["HOST_SHARE"]["CPU_USAGE"] == 100
    shown = cli("onevm", "show", str(vm_id), check=True).stdout
    assert vm["DEPLOY_ID"] in shown and "AWS_DNS_NAME" in shown


def test_an_instance_terminated_or_stopped_behind_onekits_back(burst: Burst):
    gone, stopped = burst.deployed(count=2)
    burst.ec2.terminate_instances(InstanceIds=[burst.instance_of(gone)["InstanceId"]])
    burst.ec2.stop_instances(InstanceIds=[burst.instance_of(stopped)["InstanceId"]])
    burst.monitor()
    # a vanished guest: POWEROFF, as for any host (the monitor's rule); stopped: POWEROFF
    assert burst.state(gone) == (VmState.POWEROFF, Lcm.LCM_INIT)
    assert burst.state(stopped) == (VmState.POWEROFF, Lcm.LCM_INIT)
    # the stopped instance is started again, the terminated one replaced by a new one
    old_gone = vms.show(burst.admin, gone)["DEPLOY_ID"]
    old_stopped = vms.show(burst.admin, stopped)["DEPLOY_ID"]
    outcomes = lifecycle.act(burst.admin, [gone, stopped], "resume")
    assert [o.error for o in outcomes] == [None, None]
    assert burst.state(gone) == RUNNING and burst.state(stopped) == RUNNING
    assert vms.show(burst.admin, stopped)["DEPLOY_ID"] == old_stopped
    assert burst.instance_of(stopped)["State"]["Name"] == "running"
    new = vms.show(burst.admin, gone)["DEPLOY_ID"]
    assert new != old_gone and burst.instance_of(gone)["State"]["Name"] == "running"
    burst.monitor()
    assert burst.state(gone) == RUNNING and burst.state(stopped) == RUNNING


def test_another_front_ends_instances_in_the_account_are_left_alone(burst: Burst):
    """VM ids are unique within a front-end only: an instance another front-end made
    for its VM of the same id is not this VM's, counts nothing here, and is never
    terminated as an orphan."""
    (vm_id,) = burst.deployed()
    ours = burst.instance_of(vm_id)["InstanceId"]
    theirs = []
    for one_id in (vm_id, vm_id + 1):  # their VM of our VM's id, and one we do not have
        tags = [{"Key": "ONE_ID", "Value": str(one_id)}, {"Key": "ONE_FRONTEND", "Value": "dc2"}]
        made = burst.ec2.run_instances(
            ImageId="ami-6f5f1206", MinCount=1, MaxCount=1, InstanceType="m1.large",
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )  # fmt: skip
        theirs.append(made["Instances"][0]["InstanceId"])
    burst.monitor()
    assert burst.state(vm_id) == RUNNING
    assert vms.show(burst.admin, vm_id)["DEPLOY_ID"] == ours
    assert burst.host()["HOST_SHARE"]["USED_CPU"] == 100  # our m1.small, not their m1.large
    running = {i["InstanceId"] for i in burst.instances() if i["State"]["Name"] == "running"}
    assert running == {ours, *theirs}
    lifecycle.act(burst.admin, [vm_id], "delete")
    states = {i["InstanceId"]: i["State"]["Name"] for i in burst.instances()}
    assert states[ours] == "terminated" and {states[t] for t in theirs} == {"running"}


def test_delete_poweroff_stop_and_resume(burst: Burst):
    deleted, off, saved = burst.deployed(count=3)
    instances = {vm_id: burst.instance_of(vm_id)["InstanceId"] for vm_id in (deleted, off, saved)}
    assert [o.error for o in lifecycle.act(burst.admin, [deleted], "delete")] == [None]
    assert vms.show(burst.admin, deleted)["STATE"] == VmState.DONE
    assert burst.instance_of(off)  # the others are untouched
    states = {i["InstanceId"]: i["State"]["Name"] for i in burst.instances()}
    assert states[instances[deleted]] == "terminated"
    # poweroff: EC2 has no powered-off instance to boot again; it is terminated (as 4.6)
    lifecycle.act(burst.admin, [off], "poweroff")
    assert burst.state(off) == (VmState.POWEROFF, Lcm.LCM_INIT)
    states = {i["InstanceId"]: i["State"]["Name"] for i in burst.instances()}
    assert states[instances[off]] == "terminated"
    # stop = StopInstances (save); the monitor leaves the stopped instance alone
    assert [o.error for o in lifecycle.act(burst.admin, [saved], "stop")] == [None]
    assert vms.show(burst.admin, saved)["STATE"] == VmState.STOPPED
    burst.monitor()
    states = {i["InstanceId"]: i["State"]["Name"] for i in burst.instances()}
    assert states[instances[saved]] == "stopped"
    # resume: PENDING, then the scheduler restores it: StartInstances on the same instance
    lifecycle.act(burst.admin, [saved], "resume")
    burst.schedule()
    assert burst.state(saved) == RUNNING
    assert vms.show(burst.admin, saved)["DEPLOY_ID"] == instances[saved]
    assert burst.instance_of(saved)["State"]["Name"] == "running"
    # reboot goes through; suspend is refused before anything is sent
    assert [o.error for o in lifecycle.act(burst.admin, [saved], "reboot")] == [None]
    (refused,) = lifecycle.act(burst.admin, [saved], "suspend")
    assert "suspend is not supported on EC2 hosts" in refused.error
    assert burst.state(saved) == RUNNING


def test_deleting_a_stopped_vm_terminates_its_stopped_instance(burst: Burst):
    (vm_id,) = burst.deployed()
    instance = burst.instance_of(vm_id)["InstanceId"]
    assert [o.error for o in lifecycle.act(burst.admin, [vm_id], "stop")] == [None]
    assert [o.error for o in lifecycle.act(burst.admin, [vm_id], "delete")] == [None]
    assert vms.show(burst.admin, vm_id)["STATE"] == VmState.DONE
    states = {i["InstanceId"]: i["State"]["Name"] for i in burst.instances()}
    assert states[instance] == "terminated"


def test_a_full_region_keeps_the_vm_pending(burst: Burst):
    burst.deployed(count=5)  # 5 x CPU 1: the 500 of m1.small: 5
    (waiting,) = burst.vms()
    burst.schedule()
    vm = vms.show(burst.admin, waiting)
    assert vm["STATE"] == VmState.PENDING
    assert "no host with enough free capacity for CPU 1" in vm["USER_TEMPLATE"]["SCHED_MESSAGE"]
    assert len([i for i in burst.instances() if i["State"]["Name"] == "running"]) == 5


def test_an_unreachable_endpoint_or_a_bad_entry_is_a_host_error(burst: Burst):
    regions = {
        "us-east-1": {"capacity": {"m1.small": 5}},
        "eu-west-1": {
            "capacity": {"m1.small": 1},
            "endpoint_url": f"http://127.0.0.1:{free_port()}",
        },
        "us-west-2": {"capacity": {"m1.small": 1}, "secret_access_key": None},
    }
    write_conf(burst.instance, driver_conf(burst.moto.url, regions))
    hosts.create(burst.admin, "eu-west-1", "ec2", "ec2")
    hosts.create(burst.admin, "us-west-2", "ec2", "ec2")
    (vm_id,) = burst.deployed()
    reports = {r.name: r for r in burst.monitor()}
    assert reports["us-east-1"].state == HostState.MONITORED
    assert burst.state(vm_id) == RUNNING
    unreachable = burst.host("eu-west-1")
    assert unreachable["STATE"] == HostState.ERROR
    assert "cannot reach EC2" in unreachable["TEMPLATE"]["ERROR"]
    assert "127.0.0.1" in unreachable["TEMPLATE"]["ERROR"]
    bad = burst.host("us-west-2")
    assert bad["STATE"] == HostState.ERROR
    assert (
        "ec2_driver.conf: regions.us-west-2.secret_access_key: missing"
        in (bad["TEMPLATE"]["ERROR"])
    )


def test_credentials_ec2_refuses_make_a_host_error(instance, admin, tmp_path):
    """moto with its IAM authentication on (INITIAL_NO_AUTH_ACTION_COUNT=0): an access
    key it does not know is refused as AWS refuses it."""
    strict = MotoServer({"INITIAL_NO_AUTH_ACTION_COUNT": "0"}).start()
    try:
        write_conf(instance, driver_conf(strict.url))
        host = hosts.create(admin, "us-east-1", "ec2", "ec2")
        monitor.cycle(Session.system(admin.db), instance.monitor_config())
        host = hosts.show(admin, host["ID"])
        assert host["STATE"] == HostState.ERROR
        assert "EC2 refused (" in host["TEMPLATE"]["ERROR"]
    finally:
        strict.stop()


def test_a_retried_deploy_makes_one_instance(moto: MotoServer, tmp_path):
    conf = tmp_path / "ec2_driver.conf"
    conf.write_text(driver_conf(moto.url))
    driver = Ec2Driver(region_for(conf, "us-east-1"), "us-east-1")
    spec = VmSpec(41, "web", {"EC2": {"AMI": "ami-1"}}, deploy_key="0-1700000000")
    first = driver.deploy(spec)
    assert driver.deploy(spec) == first
    listed = [i for r in moto.client().describe_instances()["Reservations"] for i in r["Instances"]]
    assert [i["InstanceId"] for i in listed] == [first]
    assert listed[0]["ClientToken"] == "one-41-0-1700000000"
    # one-<id> and i-... name the same instance
    assert driver.poll("one-41").state == driver.poll(first).state == "running"
    assert driver.client.meta.config.retries["mode"] == "standard"  # throttling: backoff
    driver.close()


def test_user_text_reaches_ec2_as_literal_text(burst: Burst):
    literal = "{{ 7*7 }}"
    (tagged,) = burst.deployed(
        f'CPU=1\nMEMORY=100\nEC2=[ AMI="ami-1", TAGS="note={literal}", USERDATA="{literal}" ]\n'
    )
    instance = burst.instance_of(tagged)
    assert {"Key": "note", "Value": literal} in instance["Tags"]
    assert user_data(burst, instance["InstanceId"]) == literal
    # no USERDATA: the VM's context is its user data (5.x), values as text
    (contextualized,) = burst.deployed(
        f'CPU=1\nMEMORY=100\nEC2=[ AMI="ami-1" ]\nCONTEXT=[ NOTE="{literal}", TOKEN="YES" ]\n'
    )
    text = user_data(burst, burst.instance_of(contextualized)["InstanceId"])
    assert f"NOTE='{literal}'" in text
    assert "ONEGATE_TOKEN='" in text


def user_data(burst: Burst, instance_id: str) -> str:
    found = burst.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    return base64.b64decode(found["UserData"]["Value"]).decode()


def test_an_ec2_host_takes_no_uri_and_both_drivers(admin, instance):
    with pytest.raises(Exception, match="an EC2 host has no URI"):
        hosts.create(admin, "us-east-1", "ec2", "ec2", uri="qemu:///system")
    with pytest.raises(Exception, match="--im ec2 and --vm ec2 together"):
        hosts.create(admin, "us-east-1", "kvm", "ec2")
    changed, _before, made = hosts.ensure(admin, "eu-west-1", im_mad="ec2", vm_mad="ec2")
    assert changed and made["VM_MAD"] == "ec2" and "URI" not in made["TEMPLATE"]
    assert drivers.address_of({"NAME": "x", "VM_MAD": "kvm", "TEMPLATE": {}}) == (
        "qemu+ssh://x/system"
    )


def test_throttling_is_retried_with_backoff_then_reported(moto: MotoServer, tmp_path):
    """EC2's RequestLimitExceeded (a proxy answers it before moto): botocore's standard
    retries ride out a short burst; a lasting one fails the poll, naming it."""
    conf = tmp_path / "ec2_driver.conf"
    brief = ThrottlingProxy(moto.url, throttle=2).start()
    lasting = ThrottlingProxy(moto.url, throttle=1000).start()
    try:
        conf.write_text(driver_conf(brief.url))
        driver = Ec2Driver(region_for(conf, "us-east-1"), "us-east-1")
        assert driver.monitor().total_cpu == 500
        assert brief.requests == 3  # two throttled, then through
        conf.write_text(driver_conf(lasting.url))
        driver = Ec2Driver(region_for(conf, "us-east-1"), "us-east-1")
        with pytest.raises(DriverError, match=r"EC2 refused \(RequestLimitExceeded\)"):
            driver.monitor()
        assert lasting.requests == 4  # the standard mode's attempts
    finally:
        brief.stop()
        lasting.stop()


def test_an_elastic_ip_is_associated(burst: Burst):
    address = burst.ec2.allocate_address(Domain="vpc")["PublicIp"]
    (vm_id,) = burst.deployed(f'CPU=1\nMEMORY=100\nEC2=[ AMI="ami-1", ELASTICIP="{address}" ]\n')
    (found,) = burst.ec2.describe_addresses(PublicIps=[address])["Addresses"]
    assert found["InstanceId"] == vms.show(burst.admin, vm_id)["DEPLOY_ID"]


def test_a_disk_is_not_hot_plugged_into_an_instance(burst: Burst):
    """EC2 hosts take no disk hot-plug: the driver refuses it, and the VM is RUNNING
    again with the refusal in ERROR and no DISK added."""
    from ansible_collections.onekit.cloud.plugins.module_utils.objects import images

    images.create(
        burst.admin, 'NAME = "data"\nPATH = "/var/lib/images/data.img"\nTYPE = "DATABLOCK"'
    )
    (vm_id,) = burst.deployed()
    with pytest.raises(DriverError, match="ec2 hosts cannot hot-plug disks"):
        lifecycle.disk_attach(burst.admin, vm_id, "data")
    vm = vms.show(burst.admin, vm_id)
    assert burst.state(vm_id) == RUNNING and "DISK" not in vm["TEMPLATE"]
    assert "cannot hot-plug" in vm["USER_TEMPLATE"]["ERROR"]["MESSAGE"]

"""Cloud bursting with the advanced layer (issue 15): OneFlow, OneGate and HA on a real
server whose instance has an EC2 region as a host (a real ``moto_server``, no mocks).

What a user sees: a service whose role's hybrid template asks for PUBLIC_CLOUD = YES
runs its VMs as EC2 instances; a guest reads its context from its user data, as the
guide's context script does, and PUTs a metric to OneGate with its token, which scales
the role in EC2; a region whose endpoint stops answering goes ERROR and the guide's
``ft/host_error -r`` hook resubmits its VM to a local host."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Cli, flow_server
from support.flow import ok, run, service_json, wait_state
from support.moto import MotoServer, driver_conf
from support.ports import free_port
from support.waiting import wait_until

from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    HostState,
    Lcm,
    VmState,
    state_name,
)
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.ha import hooks
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import (
    lifecycle,
    monitor,
    templates,
    vms,
)

LITERAL = "{{ 7*7 }}"
# the guide's hybrid template (5.1), with a context that asks OneGate for a token
HYBRID = f"""
NAME = "burst"
CPU = 1
MEMORY = 1700
EC2 = [
  AMI = "ami-6f5f1206",
  INSTANCETYPE = "m1.small" ]
SCHED_REQUIREMENTS = "PUBLIC_CLOUD = YES"
CONTEXT = [ TOKEN = "YES", NOTE = "{LITERAL}" ]
"""
SERVICE = """{
  "name": "bursting",
  "deployment": "none",
  "roles": [
    {
      "name": "web",
      "cardinality": 1,
      "vm_template": %d,
      "min_vms": 1,
      "max_vms": 2,
      "elasticity_policies": [
        { "expression": "APP_LOAD > 5", "type": "CHANGE", "adjust": 1,
          "period_number": 1, "period": 1 }
      ]
    }
  ]
}
"""


@dataclass
class BurstFlow:
    instance: Instance
    admin: Session
    moto: MotoServer
    cli: Cli
    url: str  # OneFlow's

    @property
    def ec2(self):
        return self.moto.client("us-east-1")

    def running_instances(self) -> list[dict]:
        found = self.ec2.describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": ["running"]}]
        )
        return [i for r in found["Reservations"] for i in r["Instances"]]


@pytest.fixture
def burst_flow(instance: Instance, admin: Session, moto: MotoServer) -> Iterator[BurstFlow]:
    """us-east-1 (moto) as the only host, OneGate's endpoint in oned.conf, OneFlow's LCM
    every second, the server running (stopped at the end)."""
    (instance.home / "etc" / "ec2_driver.conf").write_text(driver_conf(moto.url))
    hosts.create(admin, "us-east-1", "ec2", "ec2")
    monitor.cycle(Session.system(admin.db), instance.monitor_config())
    assert hosts.show(admin, "us-east-1")["STATE"] == HostState.MONITORED
    with flow_server(instance) as cli:
        yield BurstFlow(instance, admin, moto, cli, instance.flow_config().url)


def user_data(ec2, instance_id: str) -> str:
    found = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    return base64.b64decode(found["UserData"]["Value"]).decode()


def guest_put(folder: Path, context: str, body: str) -> str:
    """What a guest's context script does with its user data: source it, then the
    guide's curl with ONEGATE_URL and the token. The HTTP status."""
    path = folder / "user_data.sh"
    path.write_text(context)
    script = (
        '. "$1"\n'
        'curl -s -o /dev/null -w "%{http_code}" -X PUT "$ONEGATE_URL" '
        '--header "X-ONEGATE-TOKEN: $ONEGATE_TOKEN" -d "$2"\n'
    )
    done = subprocess.run(
        ["sh", "-c", script, "guest", str(path), body],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


def live_nodes(doc: dict) -> list[int]:
    (role,) = doc["TEMPLATE"]["BODY"]["roles"]
    return [n["deploy_id"] for n in role["nodes"] if not n.get("disposed")]


def test_a_service_bursts_to_ec2_and_its_guests_talk_to_onegate(burst_flow: BurstFlow, tmp_path):
    tpl = templates.create(burst_flow.admin, HYBRID)
    path = tmp_path / "bursting.json"
    path.write_text(SERVICE % tpl["ID"])
    ok(run(burst_flow, "oneflow-template", "create", str(path)))
    made = ok(run(burst_flow, "oneflow-template", "instantiate", "bursting"))
    sid = re.search(r"ID: (\d+)", made).group(1)
    (vm_id,) = live_nodes(wait_state(burst_flow, sid, "RUNNING"))

    vm = vms.show(burst_flow.admin, vm_id)
    assert state_name(vm["STATE"], vm["LCM_STATE"]) == "RUNNING"
    assert vms.host_name(vm) == "us-east-1"
    assert vm["DEPLOY_ID"].startswith("i-")
    (running,) = burst_flow.running_instances()
    assert running["InstanceId"] == vm["DEPLOY_ID"]
    assert {"Key": "ONE_ID", "Value": str(vm_id)} in running["Tags"]

    # the guest's side: its context arrives as user data, user text as it was written
    context = user_data(burst_flow.ec2, vm["DEPLOY_ID"])
    assert f"NOTE='{LITERAL}'" in context
    gate = burst_flow.instance.gate_config().url
    assert re.search(rf"ONEGATE_URL='{re.escape(gate)}/vm/{vm_id}'", context), context
    assert guest_put(tmp_path, context, "APP_LOAD = 9.7") == "200"
    assert vms.show(burst_flow.admin, vm_id)["USER_TEMPLATE"]["APP_LOAD"] == "9.7"
    # a wrong token is refused and changes nothing
    forged = re.sub(r"ONEGATE_TOKEN='[^']*'", "ONEGATE_TOKEN='forged'", context)
    assert guest_put(tmp_path, forged, "APP_LOAD = 0") == "401"
    assert vms.show(burst_flow.admin, vm_id)["USER_TEMPLATE"]["APP_LOAD"] == "9.7"

    # APP_LOAD > 5: the role scales to 2, the new VM is a second instance in EC2
    def scaled() -> dict | None:
        doc = service_json(burst_flow, sid)
        return doc if len(live_nodes(doc)) == 2 else None

    wait_until(scaled, "the scale-up to 2 VMs")
    doc = wait_state(burst_flow, sid, "RUNNING", "COOLDOWN")
    ids = live_nodes(doc)
    assert len(ids) == 2 and vm_id in ids
    deploy_ids = set()
    for each in ids:
        body = vms.show(burst_flow.admin, each)
        assert (body["STATE"], body["LCM_STATE"]) == (VmState.ACTIVE, Lcm.RUNNING)
        assert vms.host_name(body) == "us-east-1"
        deploy_ids.add(body["DEPLOY_ID"])
    assert {i["InstanceId"] for i in burst_flow.running_instances()} == deploy_ids
    (log_line,) = [
        e["message"] for e in doc["TEMPLATE"]["BODY"]["log"] if "scaling up" in e["message"]
    ]
    assert "APP_LOAD > 5" in log_line
    # the new guest has a token of its own
    (new,) = [each for each in ids if each != vm_id]
    second = user_data(burst_flow.ec2, vms.show(burst_flow.admin, new)["DEPLOY_ID"])
    assert guest_put(tmp_path, second, "APP_LOAD = 1.5") == "200"
    assert vms.show(burst_flow.admin, new)["USER_TEMPLATE"]["APP_LOAD"] == "1.5"
    assert json.dumps(vms.show(burst_flow.admin, vm_id)["USER_TEMPLATE"]).count("APP_LOAD") == 1


# ---- HA: a region that stops answering -------------------------------------------------------
# a hybrid template a local host can run too (no PUBLIC_CLOUD requirement), and the
# guide's, which only a public cloud can
ANYWHERE = """NAME = "anywhere"
CPU = 0.5
MEMORY = 64
EC2 = [ AMI = "ami-1", INSTANCETYPE = "m1.small" ]
"""
EC2_ONLY = (
    ANYWHERE.replace('"anywhere"', '"ec2only"') + 'SCHED_REQUIREMENTS = "PUBLIC_CLOUD = YES"\n'
)


def test_a_region_that_stops_answering_has_its_vms_resubmitted(
    instance: Instance, admin: Session, moto: MotoServer, sim_hosts, tmp_path
):
    """The guide's HA chapter for a failed host, with the host an EC2 region: its
    endpoint stops answering, a monitor cycle makes it ERROR and its VMs UNKNOWN, and
    the HOST_HOOK ``ft/host_error $HID -r`` resubmits them: the one a local host can run
    RUNNING there, the one that needs a public cloud PENDING until one can take it."""
    conf_path = instance.home / "etc" / "ec2_driver.conf"
    conf_path.write_text(driver_conf(moto.url))
    (sim,) = sim_hosts(1)
    region = hosts.create(admin, "us-east-1", "ec2", "ec2")
    hosts.create(admin, "sim0", uri=sim.uri)
    system = Session.system(admin.db)
    monitor.cycle(system, instance.monitor_config())
    conf = instance.config_path.read_text()
    conf = conf.replace("MONITORING_INTERVAL = 60", "MONITORING_INTERVAL = 2")
    conf += (
        'HOST_HOOK = [ name = "error", on = "ERROR", command = "ft/host_error",\n'
        '  arguments = "$HID -r", remote = "no" ]\n'
    )
    instance.config_path.write_text(conf)
    instance.sched_config_path.write_text("MAX_HOST = 10\n")
    # both VMs run in the region (deployed there by hand, as `onevm deploy` does)
    made = [
        templates.instantiate(admin, templates.create(admin, text)["ID"], 1)[0]["ID"]
        for text in (ANYWHERE, EC2_ONLY)
    ]
    local, ec2_only = made
    outcomes = lifecycle.deploy(admin, [(vm_id, region["ID"]) for vm_id in made])
    assert [o.error for o in outcomes] == [None, None]
    instances = {vm_id: vms.show(admin, vm_id)["DEPLOY_ID"] for vm_id in made}
    assert all(i.startswith("i-") for i in instances.values())

    # the endpoint stops answering (a port nothing listens on)
    conf_path.write_text(driver_conf(f"http://127.0.0.1:{free_port()}"))
    monitor.cycle(system, instance.monitor_config())
    failed = hosts.show(admin, "us-east-1")
    assert failed["STATE"] == HostState.ERROR, failed["TEMPLATE"]
    assert "cannot reach EC2" in failed["TEMPLATE"]["ERROR"]
    assert failed[hooks.HOST_ERROR_MARK]  # the HOST_HOOK is due, as for a libvirt host
    assert [state_of(admin, v) for v in made] == ["UNKNOWN", "UNKNOWN"]
    assert hosts.show(admin, "sim0")["STATE"] == HostState.MONITORED

    # the server's hook runner takes the host's mark and runs ft/host_error -r
    cli = Cli(instance)
    cli("onekit-server", "start", check=True)
    try:
        wait_until(lambda: state_of(admin, local) == "RUNNING", "the VM running on sim0")
        assert not hosts.show(admin, "us-east-1").get(hooks.HOST_ERROR_MARK)  # claimed
        assert vms.host_name(vms.show(admin, local)) == "sim0"
        wait_until(lambda: state_of(admin, ec2_only) == "PENDING", "the EC2-only VM PENDING")
        log = (instance.var / "hooks" / "error.log").read_text()
        assert re.search(r"host \d+ \(us-east-1\) is ERROR .*running ft/host_error \$HID -r", log)
        assert all(f"VM {v}: done, now PENDING" in log for v in made), log
        waiting = wait_until(
            lambda: vms.show(admin, ec2_only)["USER_TEMPLATE"].get("SCHED_MESSAGE"),
            "the scheduler's word on the EC2-only VM",
        )
        assert waiting == "no host meets SCHED_REQUIREMENTS: PUBLIC_CLOUD = YES"
        assert state_of(admin, ec2_only) == "PENDING"
        history = [h["HOSTNAME"] for h in vms.show(admin, local)["HISTORY_RECORDS"]]
        assert history == ["us-east-1", "sim0"]
        assert sim.hold.lookupByName(f"one-{local}").state()[0] == 1  # running in libvirt

        # the region answers again: its instances of the earlier stays end, the EC2-only
        # VM runs there again, in one instance, and the other stays on sim0
        conf_path.write_text(driver_conf(moto.url))
        wait_until(lambda: state_of(admin, ec2_only) == "RUNNING", "the EC2-only VM RUNNING")
        assert vms.host_name(vms.show(admin, ec2_only)) == "us-east-1"
        ec2 = moto.client()

        def instances_by_state() -> dict[str, set[str]]:
            found: dict[str, set[str]] = {}
            for reservation in ec2.describe_instances()["Reservations"]:
                for each in reservation["Instances"]:
                    found.setdefault(each["State"]["Name"], set()).add(each["InstanceId"])
            return found

        now = vms.show(admin, ec2_only)["DEPLOY_ID"]
        assert now not in instances.values()
        wait_until(
            lambda: instances_by_state().get("terminated") == set(instances.values()),
            "the instances of the earlier stays terminated",
        )
        assert instances_by_state()["running"] == {now}
        assert state_of(admin, local) == "RUNNING"
        assert vms.host_name(vms.show(admin, local)) == "sim0"
    finally:
        cli("onekit-server", "stop")


def state_of(admin: Session, vm_id: int) -> str:
    vm = vms.show(admin, vm_id)
    return state_name(vm["STATE"], vm["LCM_STATE"])


def test_a_vm_recreated_while_its_region_was_cut_off_never_runs_twice_there(
    instance: Instance, admin: Session, moto: MotoServer
):
    """The recreate could not terminate the VM's instance (the region did not answer);
    when the VM is deployed there again (``onevm deploy`` by hand, or the scheduler
    before the monitor's sweep of orphans), the old instance ends: the VM runs once.
    Before, both ran for as long as the VM lived (both carry its ONE_ID, so the monitor
    saw one)."""
    conf_path = instance.home / "etc" / "ec2_driver.conf"
    conf_path.write_text(driver_conf(moto.url))
    region = hosts.create(admin, "us-east-1", "ec2", "ec2")
    system = Session.system(admin.db)
    monitor.cycle(system, instance.monitor_config())
    tpl = templates.create(admin, EC2_ONLY)
    (vm_id,) = [vm["ID"] for vm in templates.instantiate(admin, tpl["ID"], 1)]
    assert [o.error for o in lifecycle.deploy(admin, [(vm_id, region["ID"])])] == [None]
    first = vms.show(admin, vm_id)["DEPLOY_ID"]
    conf_path.write_text(driver_conf(f"http://127.0.0.1:{free_port()}"))
    monitor.cycle(system, instance.monitor_config())
    assert hosts.show(admin, "us-east-1")["STATE"] == HostState.ERROR
    # what ft/host_error -r does to it: the instance cannot be reached, the VM is PENDING
    assert [o.error for o in lifecycle.act(admin, [vm_id], "delete-recreate")] == [None]
    assert state_of(admin, vm_id) == "PENDING"
    conf_path.write_text(driver_conf(moto.url))
    assert [o.error for o in lifecycle.deploy(admin, [(vm_id, region["ID"])])] == [None]
    second = vms.show(admin, vm_id)["DEPLOY_ID"]
    assert second.startswith("i-") and second != first
    states = {
        each["InstanceId"]: each["State"]["Name"]
        for reservation in moto.client().describe_instances()["Reservations"]
        for each in reservation["Instances"]
    }
    assert states == {first: "terminated", second: "running"}
    monitor.cycle(system, instance.monitor_config())
    assert state_of(admin, vm_id) == "RUNNING"
    assert hosts.show(admin, "us-east-1")["HOST_SHARE"]["RUNNING_VMS"] == 1

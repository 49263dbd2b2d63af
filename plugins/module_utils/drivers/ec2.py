"""The EC2 driver (cloud bursting, the guide's chapter 5): one host is one EC2 region
(``etc/ec2_driver.conf``, ``ec2_config``), its guests are instances tagged
``ONE_ID=<vm id>``. boto3 is loaded when a host first needs it (``drivers.driver_for``).

Actions, as the guide's driver maps them: deploy = RunInstances (``ec2_template``, one
instance, ClientToken fixed per deploy), then AssociateAddress for ELASTICIP;
shutdown and cancel = TerminateInstances; reboot and reset = RebootInstances; save =
StopInstances, restore = StartInstances (the instance found by its ONE_ID tag: a
checkpoint path names the VM, ``one-<id>.checkpoint``); suspend, resume and snapshots
are refused before anything is sent. Every action takes the VM's DEPLOY_ID (``i-...``,
what deploy returned) or ``one-<vm id>`` (resolved through the ONE_ID tag).

``monitor`` is one paginated DescribeInstances per call, whatever the number of VMs:
capacity from the file, usage from the pending and running instances' types, each
instance as ``one-<ONE_ID>`` (pending/running: running; stopping/stopped: shutoff;
shutting-down, terminated: missing) with its AWS_* attributes.

Errors: an endpoint that cannot be reached is ``HostUnreachable``, AWS's refusals
(credentials, limits...) a ``DriverError`` with AWS's code and message; throttling
(RequestLimitExceeded) is retried by botocore with backoff (standard mode).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import boto3
import botocore.config
import botocore.exceptions

from ansible_collections.onekit.cloud.plugins.module_utils.drivers import ec2_template
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import (
    MISSING,
    RUNNING,
    SHUTOFF,
    Driver,
    DriverError,
    HostStatus,
    HostUnreachable,
    VmSpec,
    VmStatus,
    deploy_id_for,
    vm_id_of,
)
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.ec2_config import Region

T = TypeVar("T")
TAG = ec2_template.ONE_ID_TAG
LIVE = ("pending", "running")
STOPPED = ("stopping", "stopped")
GONE = ("shutting-down", "terminated")
_STATE = {**dict.fromkeys(LIVE, RUNNING), **dict.fromkeys(STOPPED, SHUTOFF)}


def monitor_filters(frontend: str) -> list[dict]:
    """What ``monitor`` lists: every instance this front-end made (tagged ONE_ID and its
    ONE_FRONTEND), but the terminated ones (EC2 lists them for an hour, moto for ever)."""
    return [
        {"Name": "tag-key", "Values": [TAG]},
        {"Name": f"tag:{ec2_template.FRONTEND_TAG}", "Values": [frontend]},
        {"Name": "instance-state-name", "Values": [*LIVE, *STOPPED, "shutting-down"]},
    ]


PAGE_SIZE = 1000  # DescribeInstances' largest page
MAX_TOKEN_TRIES = 20
# The instance attributes a VM's MONITORING shows (the 4.6 poll's), where non-empty.
_ATTRIBUTES: dict[str, Callable[[dict], Any]] = {
    "AWS_DNS_NAME": lambda i: i.get("PublicDnsName"),
    "AWS_PRIVATE_DNS_NAME": lambda i: i.get("PrivateDnsName"),
    "AWS_KEY_NAME": lambda i: i.get("KeyName"),
    "AWS_AVAILABILITY_ZONE": lambda i: (i.get("Placement") or {}).get("AvailabilityZone"),
    "AWS_PLATFORM": lambda i: i.get("Platform"),
    "AWS_VPC_ID": lambda i: i.get("VpcId"),
    "AWS_PRIVATE_IP_ADDRESS": lambda i: i.get("PrivateIpAddress"),
    "AWS_IP_ADDRESS": lambda i: i.get("PublicIpAddress"),
    "AWS_SUBNET_ID": lambda i: i.get("SubnetId"),
    "AWS_SECURITY_GROUPS": lambda i: ",".join(
        g["GroupId"] for g in i.get("SecurityGroups") or () if g.get("GroupId")
    ),
    "AWS_INSTANCE_TYPE": lambda i: i.get("InstanceType"),
}
_UNREACHABLE = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ProxyConnectionError,
)


def attributes(instance: dict) -> dict[str, str]:
    found = {name: get(instance) for name, get in _ATTRIBUTES.items()}
    return {name: str(value) for name, value in found.items() if value}


def status_of(instance: dict) -> VmStatus:
    state = _STATE.get(instance["State"]["Name"], MISSING)
    return VmStatus(state, attributes=attributes(instance) if state != MISSING else {})


def one_id(instance: dict) -> int | None:
    for tag in instance.get("Tags") or ():
        if tag.get("Key") == TAG:
            value = str(tag.get("Value", ""))
            return int(value) if value.isascii() and value.isdigit() else None
    return None


def _rank(instance: dict) -> int:
    """Which of several instances of one VM stands for it: a live one, then a stopped
    one, then one going away."""
    name = instance["State"]["Name"]
    return 0 if name in LIVE else 1 if name in STOPPED else 2


class Ec2Driver(Driver):
    """One EC2 region, as host ``host_name`` uses it."""

    name = "ec2"

    def __init__(self, region: Region, host_name: str, client: Any = None):
        self.region = region
        self.host_name = host_name
        self.label = f"host {host_name} ({region.label})"
        self.client = client or self._client()

    def __repr__(self) -> str:
        return f"Ec2Driver({self.host_name!r}, {self.region.label!r})"

    def _client(self) -> Any:
        region = self.region
        config = botocore.config.Config(
            retries={"mode": "standard", "total_max_attempts": 4},
            connect_timeout=3,
            read_timeout=10,
            proxies={"http": region.proxy_uri, "https": region.proxy_uri}
            if region.proxy_uri
            else None,
        )
        session = boto3.session.Session()  # a session per driver: clients are thread-safe
        return session.client(
            "ec2",
            region_name=region.region_name,
            endpoint_url=region.endpoint_url,
            aws_access_key_id=region.access_key_id,
            aws_secret_access_key=region.secret_access_key,
            config=config,
        )

    # ---- calls -----------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """One AWS call; its failure as a DriverError naming the host and AWS's reason."""
        try:
            return fn()
        except _UNREACHABLE as err:
            raise HostUnreachable(f"{self.label}: {what}: cannot reach EC2: {err}") from None
        except botocore.exceptions.ClientError as err:
            error = err.response.get("Error", {})
            code, message = error.get("Code", "?"), error.get("Message", str(err))
            raise DriverError(f"{self.label}: {what}: EC2 refused ({code}): {message}") from None
        except botocore.exceptions.BotoCoreError as err:
            raise DriverError(f"{self.label}: {what}: {err}") from None

    def _describe(self, what: str, **kwargs: Any) -> Iterator[dict]:
        """The instances of a (paginated) DescribeInstances."""

        def pages() -> list[dict]:
            paginator = self.client.get_paginator("describe_instances")
            config = {} if "InstanceIds" in kwargs else {"PageSize": PAGE_SIZE}
            return list(paginator.paginate(**kwargs, PaginationConfig=config))

        for page in self._call(what, pages):
            for reservation in page.get("Reservations") or ():
                yield from reservation.get("Instances") or ()

    def _ours(self) -> dict:
        """The filter of this front-end's instances (its ONE_FRONTEND tag): another
        front-end bursting to the same account has VMs of the same ids."""
        return {"Name": f"tag:{ec2_template.FRONTEND_TAG}", "Values": [self.region.frontend]}

    def _of_vm(self, vm_id: int, what: str) -> list[dict]:
        """The VM's instances (terminated ones too), the one that stands for it first."""
        found = self._describe(
            what, Filters=[{"Name": f"tag:{TAG}", "Values": [str(vm_id)]}, self._ours()]
        )
        return sorted(found, key=_rank)

    def _instance(self, deploy_id: str, what: str) -> str | None:
        """The instance id of ``deploy_id`` (``i-...`` as it is, ``one-<id>`` through the
        ONE_ID tag); None when the VM has no instance that is not going away."""
        if deploy_id.startswith("i-"):
            return deploy_id
        vm_id = vm_id_of(deploy_id)
        if vm_id is None:
            raise DriverError(f"{self.label}: {deploy_id!r} is neither i-... nor one-<vm id>")
        found = [i for i in self._of_vm(vm_id, what) if i["State"]["Name"] not in GONE]
        return found[0]["InstanceId"] if found else None

    def _on_instance(self, deploy_id: str, what: str, fn: Callable[[str], Any]) -> None:
        instance = self._instance(deploy_id, what)
        if instance is None:
            raise DriverError(f"{self.label}: {what} {deploy_id}: the VM has no instance")
        self._call(f"{what} {instance}", lambda: fn(instance))

    # ---- the interface ---------------------------------------------------------------
    def deploy(self, vm: VmSpec) -> str:
        """RunInstances for the VM, once per deploy: the VM's instances are looked up
        first by their ClientToken (a retried deploy finds the instance of its first try,
        also on an EC2-compatible cloud that ignores tokens), and the request carries the
        token, so AWS itself never makes two either. A stopped instance of this deploy is
        started again (a POWEROFF VM booted); one that was terminated gives the next
        token (``<token>-<its id>``, as fixed as the first)."""
        source = ec2_template.section_source(vm.template, vm.user_template)
        section = ec2_template.choose_section(source, self.host_name)
        token = f"one-{vm.vm_id}-{vm.deploy_key}" if vm.deploy_key else f"one-{vm.vm_id}"
        request = ec2_template.run_request(
            section, vm.vm_id, token, vm.context_text, self.region.frontend
        )
        run = dict(request.run)
        token = run["ClientToken"]
        mine = self._of_vm(vm.vm_id, f"deploy {vm.deploy_id}")
        self._end_earlier_stays(token, mine)
        by_token = {i.get("ClientToken"): i for i in mine}
        instance = None
        for _ in range(MAX_TOKEN_TRIES):
            instance = by_token.get(token)
            if instance is None or instance["State"]["Name"] not in GONE:
                break
            token = f"{run['ClientToken']}-{instance['InstanceId']}"[:64]
        else:
            raise DriverError(f"{self.label}: deploy {vm.deploy_id}: too many terminated tries")
        if instance is None:
            run["ClientToken"] = token
            reply = self._call("RunInstances", lambda: self.client.run_instances(**run))
            instance = reply["Instances"][0]
            if instance["State"]["Name"] in GONE:  # AWS kept the token of a terminated one
                raise DriverError(
                    f"{self.label}: deploy {vm.deploy_id}: instance {instance['InstanceId']} "
                    "of this deploy is terminated; retry the deploy"
                )
        instance_id = instance["InstanceId"]
        if instance["State"]["Name"] in STOPPED:
            self._call(
                f"StartInstances {instance_id}",
                lambda: self.client.start_instances(InstanceIds=[instance_id]),
            )
        if request.elastic_ip:
            self._associate(instance_id, request.elastic_ip, instance["State"]["Name"])
        return instance_id

    def _end_earlier_stays(self, token: str, instances: list[dict]) -> None:
        """Terminate the VM's running instances that an earlier deploy made (another
        ClientToken than this deploy's and its retries'): a VM recreated while its region
        did not answer (``ft/host_error -r``, ``onevm delete --recreate``) left its old
        instance running, and one VM must never run twice. The monitor cannot find it:
        both carry the VM's ONE_ID."""
        stale = [
            i["InstanceId"]
            for i in instances
            if i["State"]["Name"] in LIVE
            and i.get("ClientToken") != token
            and not str(i.get("ClientToken") or "").startswith(f"{token}-i-")
        ]
        if stale:
            self._call(
                f"TerminateInstances {' '.join(stale)}",
                lambda: self.client.terminate_instances(InstanceIds=stale),
            )

    def _associate(self, instance_id: str, address: str, state: str) -> None:
        """AssociateAddress once the instance runs (AWS refuses a pending one)."""
        if state == "pending":
            waiter = self.client.get_waiter("instance_running")
            self._call(
                f"wait for {instance_id}",
                lambda: waiter.wait(
                    InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": 10}
                ),
            )
        key = "AllocationId" if address.startswith("eipalloc-") else "PublicIp"
        self._call(
            f"AssociateAddress {address}",
            lambda: self.client.associate_address(InstanceId=instance_id, **{key: address}),
        )

    def _terminate(self, deploy_id: str, what: str) -> None:
        instance = self._instance(deploy_id, what)
        if instance is None:  # gone already: what was asked is done
            return
        try:
            self._call(
                f"{what} {instance}",
                lambda: self.client.terminate_instances(InstanceIds=[instance]),
            )
        except HostUnreachable:
            raise
        except DriverError as err:
            if "InvalidInstanceID.NotFound" not in str(err):
                raise

    def shutdown(self, deploy_id: str) -> None:
        self._terminate(deploy_id, "TerminateInstances")

    def cancel(self, deploy_id: str) -> None:
        self._terminate(deploy_id, "TerminateInstances")

    def reboot(self, deploy_id: str) -> None:
        self._on_instance(
            deploy_id, "RebootInstances", lambda i: self.client.reboot_instances(InstanceIds=[i])
        )

    def reset(self, deploy_id: str) -> None:
        self.reboot(deploy_id)

    def _unsupported(self, action: str) -> DriverError:
        return DriverError(f"{self.label}: {action} is not supported on EC2 hosts")

    def suspend(self, deploy_id: str) -> None:
        raise self._unsupported("suspend")

    def resume(self, deploy_id: str) -> None:
        raise self._unsupported("resume of a suspended VM")

    def snapshot_create(self, deploy_id: str, name: str) -> None:
        raise self._unsupported("snapshot-create")

    def save(self, deploy_id: str, path: str) -> None:
        """StopInstances: the instance and its disks stay, stopped; ``path`` is only the
        checkpoint's name (``one-<id>.checkpoint``), by which restore finds it again."""
        self._on_instance(
            deploy_id, "StopInstances", lambda i: self.client.stop_instances(InstanceIds=[i])
        )

    def _saved(self, path: str, what: str) -> str | None:
        name = os.path.basename(path).removesuffix(".checkpoint")
        if vm_id_of(name) is None:
            raise DriverError(f"{self.label}: {what}: {path!r} names no VM (one-<id>.checkpoint)")
        return self._instance(name, what)

    def restore(self, path: str) -> str:
        """StartInstances on the VM's stopped instance; returns its id."""
        instance = self._saved(path, "StartInstances")
        if instance is None:
            raise DriverError(f"{self.label}: restore {path}: the VM's instance is gone")
        self._call(
            f"StartInstances {instance}",
            lambda: self.client.start_instances(InstanceIds=[instance]),
        )
        return instance

    def remove_checkpoint(self, path: str) -> None:
        """A STOPPED VM deleted: its stopped instance is terminated."""
        instance = self._saved(path, "TerminateInstances")
        if instance is not None:
            self._terminate(instance, "TerminateInstances")

    def poll(self, deploy_id: str) -> VmStatus:
        if deploy_id.startswith("i-"):
            try:
                found = list(self._describe(f"poll {deploy_id}", InstanceIds=[deploy_id]))
            except DriverError as err:
                if "InvalidInstanceID" in str(err):
                    return VmStatus(MISSING)
                raise
        else:
            vm_id = vm_id_of(deploy_id)
            found = self._of_vm(vm_id, f"poll {deploy_id}") if vm_id is not None else []
        return status_of(found[0]) if found else VmStatus(MISSING)

    def monitor(self) -> HostStatus:
        region = self.region
        total_cpu, total_memory = region.totals()
        seen: dict[str, dict] = {}
        running: dict[str, int] = {}
        filters = monitor_filters(self.region.frontend)
        for instance in self._describe("DescribeInstances", Filters=filters):
            vm_id = one_id(instance)
            if vm_id is None:
                continue
            if instance["State"]["Name"] in LIVE:
                kind = instance.get("InstanceType", "")
                running[kind] = running.get(kind, 0) + 1
            key = deploy_id_for(vm_id)
            if key not in seen or _rank(instance) < _rank(seen[key]):
                seen[key] = instance
        used_cpu, used_memory = region.usage(running)
        vms = {key: status_of(i) for key, i in seen.items() if _rank(i) < 2}
        return HostStatus(
            hypervisor="ec2",
            total_cpu=total_cpu,
            total_memory=total_memory,
            used_cpu=used_cpu,
            used_memory=used_memory,
            cpu_model="",
            cpu_mhz=1000,
            vms=vms,
            extra={"PUBLIC_CLOUD": "YES", "PRIORITY": "-1"},
        )

    def close(self) -> None:
        with contextlib.suppress(AttributeError):  # botocore before 1.29 has no close
            self.client.close()

"""The hypervisor driver interface: what the VM life cycle and the monitor need from a
host, whatever runs it (libvirt today, EC2 for cloud bursting).

A driver object stands for one host (one libvirt URI, one EC2 region). Its calls are
synchronous and short; the slow guest-side ones (an ACPI shutdown or reboot) only *ask*
and return: the caller learns the outcome from ``poll``/``monitor``, as oned learns it
from its driver callbacks. Every failure is a ``DriverError`` with the hypervisor's
message. VMs are named ``one-<vm id>`` on the hypervisor (the *deploy id*), so a host's
domains can always be matched to the store's VMs.
"""

from __future__ import annotations

import abc
import hashlib
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import OneError

DOMAIN_PREFIX = "one-"


def deploy_id_for(vm_id: int) -> str:
    return f"{DOMAIN_PREFIX}{vm_id}"


def frontend_identity(conf: str | Path) -> str:
    """This front-end's name on a cloud several front-ends may share (an EC2 account, a
    partner): the machine and the instance home of the driver file ``conf``
    (``<home>/etc/<file>``), unless the file names one. VM ids are only unique within a
    front-end, so its guests there carry it, and it lists only its own."""
    home = str(Path(conf).resolve().parent.parent)
    digest = hashlib.sha256(f"{socket.gethostname()}:{home}".encode()).hexdigest()[:12]
    return f"{socket.gethostname()}-{digest}"


def vm_id_of(deploy_id: str) -> int | None:
    """The VM id a hypervisor name belongs to, or None for a name onekit did not make."""
    rest = deploy_id.removeprefix(DOMAIN_PREFIX)
    if rest == deploy_id or not rest.isascii() or not rest.isdigit():
        return None
    return int(rest)


class DriverError(OneError):
    """The hypervisor refused or failed an operation (its message is kept)."""

    http_status = 502


class HostUnreachable(DriverError):
    """The host (its libvirt URI, its EC2 endpoint) cannot be reached at all."""


# The states a guest can be in, as the life cycle reads them.
RUNNING = "running"  # running, or blocked / idle on its vCPUs
PAUSED = "paused"  # suspended in memory
SHUTOFF = "shutoff"  # defined but not running
CRASHED = "crashed"
MISSING = "missing"  # no such guest on the host


@dataclass(frozen=True)
class VmStatus:
    """One guest as the host sees it. Usage figures are None where the host gives none."""

    state: str
    cpu: float | None = None  # percent of one CPU, averaged since the last poll
    memory: int | None = None  # KiB in use
    net_tx: int | None = None  # bytes sent since the guest started
    net_rx: int | None = None
    # what else the host says of the guest, shown in the VM's MONITORING (EC2: AWS_DNS_NAME,
    # AWS_IP_ADDRESS...); empty for libvirt guests
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HostStatus:
    """One poll of a host: capacity, usage, and every onekit guest on it (by deploy id)."""

    hypervisor: str
    total_cpu: int  # cores * 100, as oned counts
    total_memory: int  # KiB
    used_cpu: int  # cores * 100 in use
    used_memory: int  # KiB in use
    cpu_model: str = ""
    cpu_mhz: int = 0
    vms: dict[str, VmStatus] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # more monitoring attributes


@dataclass(frozen=True)
class VmSpec:
    """What a deploy needs: the VM id and its resolved template (CPU, MEMORY, DISK...),
    and the VM's context CD-ROM image built on this machine (``vm.context``), which the
    driver makes available to the guest as ``hdb``. A driver that cannot attach an image
    (EC2) sends ``context_text`` instead: the image's files as one text (``context.sh``,
    the OneGate token). ``deploy_key`` names this deploy of the VM (its stay on the host:
    the same on every try of one deploy, another on the next deploy), for a cloud's
    idempotency token. ``user_template``: the VM's USER_TEMPLATE (its EC2 sections)."""

    vm_id: int
    name: str
    template: dict[str, Any]
    context_image: str | None = None
    context_text: str | None = None
    deploy_key: str = ""
    # the VM's USER_TEMPLATE: where OpenNebula keeps what only some drivers read (EC2)
    user_template: dict[str, Any] = field(default_factory=dict)

    @property
    def deploy_id(self) -> str:
        return deploy_id_for(self.vm_id)


class Driver(abc.ABC):
    """One host. Implementations: ``libvirt.LibvirtDriver`` (any libvirt URI),
    ``ec2.Ec2Driver`` (one EC2 region)."""

    #: the value of a host's VM_MAD this driver serves ("kvm", "qemu", "test", "ec2")
    name: str = ""

    @abc.abstractmethod
    def deploy(self, vm: VmSpec) -> str:
        """Create and start the guest; returns its deploy id."""

    @abc.abstractmethod
    def shutdown(self, deploy_id: str) -> None:
        """Ask the guest to power off (ACPI); poll to see it go."""

    @abc.abstractmethod
    def cancel(self, deploy_id: str) -> None:
        """Power off at once and remove the guest (shutdown-hard, delete)."""

    @abc.abstractmethod
    def reboot(self, deploy_id: str) -> None:
        """Ask the guest to reboot (ACPI)."""

    @abc.abstractmethod
    def reset(self, deploy_id: str) -> None:
        """Hard reset (reboot-hard)."""

    @abc.abstractmethod
    def suspend(self, deploy_id: str) -> None:
        """Pause the guest in memory."""

    @abc.abstractmethod
    def resume(self, deploy_id: str) -> None:
        """Unpause a suspended guest."""

    def save(self, deploy_id: str, path: str) -> None:
        """Save the guest's memory to ``path`` on the host and remove it (stop)."""
        raise DriverError(f"{self.name} hosts cannot save a guest's state")

    def restore(self, path: str) -> str:
        """Start a guest again from a file ``save`` wrote; returns its deploy id."""
        raise DriverError(f"{self.name} hosts cannot restore a guest's state")

    def remove_checkpoint(self, path: str) -> None:
        """Delete a file ``save`` wrote (the VM is deleted while STOPPED)."""
        raise DriverError(f"{self.name} hosts cannot remove a saved state")

    def snapshot_create(self, deploy_id: str, name: str) -> None:
        raise DriverError(f"{self.name} hosts cannot take snapshots")

    def attach_disk(self, deploy_id: str, disk: dict[str, Any]) -> None:
        """Hot-plug ``disk`` (a VM template's DISK vector with its SOURCE and TARGET) into
        the running guest. A guest that has that very disk already is done."""
        raise DriverError(f"{self.name} hosts cannot hot-plug disks")

    def detach_disk(self, deploy_id: str, disk: dict[str, Any]) -> None:
        """Take ``disk`` (as ``attach_disk`` got it) out of the running guest; a guest
        without it is done."""
        raise DriverError(f"{self.name} hosts cannot hot-plug disks")

    @abc.abstractmethod
    def poll(self, deploy_id: str) -> VmStatus:
        """One guest's state and usage (``MISSING`` when it is not on the host)."""

    @abc.abstractmethod
    def monitor(self) -> HostStatus:
        """The host's capacity and usage and all its onekit guests; HostUnreachable when
        the host cannot be reached."""

    def release(self, deploy_id: str) -> None:  # noqa: B027 - most drivers stage nothing
        """The guest left this host for good (DONE, undeployed): drop what ``deploy``
        staged there for it, such as its context image. Nothing staged is no error."""

    def close(self) -> None:  # noqa: B027 - optional: most drivers hold nothing
        """Release what the driver holds (connections)."""

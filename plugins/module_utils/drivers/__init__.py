"""Hypervisor drivers: one interface (``base.Driver``), one module per implementation, and
``driver_for(host)``, the one place that picks a host's driver.

Drivers are cached per process: libvirt's per URI (a connection is opened once and
shared, and a driver keeps the last CPU samples it needs to turn CPU time into a
percentage), EC2's per host name and ``ec2_driver.conf`` version (the file is read again
when it changes). ``address_of(host)`` says where a host's driver talks to, as a label
and to tell two hosts apart: its libvirt URI, or ``ec2://<region>``.
Callers get it wrapped in a ``Bounded`` driver: every call runs through ``executor``
(the driver's ``-t`` threads, the host's ``-w`` timeout), configured from oned.conf's
VM_MAD/IM_MAD sections by ``configure``.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, TypeVar

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    InvalidInput,
    OneError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import HostState
from ansible_collections.onekit.cloud.plugins.module_utils.drivers import (
    ec2_template,
    executor,
    partner_config,
)
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import (
    Driver,
    DriverError,
    HostStatus,
    VmSpec,
    VmStatus,
)
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.mads import MadConfig

T = TypeVar("T")

# a libvirt URI: qemu:///system, qemu+ssh://kvm1/system, test+unix:///default
_URI = re.compile(r"^[a-z][a-z0-9]*(\+[a-z0-9]+)?://[^\s]*$")
_cache: dict[str, Driver] = {}
_lock = threading.Lock()
_mads: dict[str, Mapping[str, MadConfig]] = {"VM_MAD": {}, "IM_MAD": {}}
# the VM_MADs libvirt serves, and EC2's
LIBVIRT_MADS = ("kvm", "qemu")
EC2_MAD = "ec2"
EC2_CONF = "ec2_driver.conf"
PARTNER_MAD = "onekit"  # a partner cloud: another front-end's core API (drivers.partner)
# this process's etc/ec2_driver.conf (``configure``), and the EC2 drivers by host name:
# (the file's version they were made from, the driver)
_ec2_conf: dict[str, str | None] = {"path": None}
_ec2_cache: dict[str, tuple[tuple, Driver]] = {}
# Calls that move a guest's memory (save, restore, snapshot) may take minutes on a live
# host; they are bounded by this many seconds, and a host that stops answering meanwhile
# by libvirt's keepalive (drivers.libvirt).
TRANSFER_TIMEOUT = 900
# the host states whose calls get executor.ERROR_HOST_TIMEOUT at most
_ERROR_STATES = (HostState.ERROR, HostState.MONITORING_ERROR)


def configure(
    vm_mads: Mapping[str, MadConfig],
    im_mads: Mapping[str, MadConfig],
    etc: str | None = None,
) -> None:
    """This process's driver settings (oned.conf's VM_MAD and IM_MAD sections, by name);
    a driver without a section gets the defaults (15 threads, 15 s). ``etc``: the
    instance's etc directory, where the cloud drivers' files are: EC2 hosts read
    ``ec2_driver.conf``, partner hosts ``partner_driver.conf``."""
    _mads["VM_MAD"], _mads["IM_MAD"] = dict(vm_mads), dict(im_mads)
    if etc is not None:
        _ec2_conf["path"] = os.path.join(etc, EC2_CONF)
        partner_config.use(os.path.join(etc, partner_config.FILE_NAME))


def mad(kind: str, name: str) -> MadConfig:
    """The settings of driver ``name`` of ``kind`` (VM_MAD or IM_MAD)."""
    return _mads[kind].get(name) or MadConfig(name)


def default_uri(name: str) -> str:
    """The URI a kvm host gets when it names none: its libvirtd over ssh."""
    return f"qemu+ssh://{name}/system"


def check_uri(uri: str) -> str:
    """The URI itself, if it is a libvirt URI."""
    if not isinstance(uri, str) or not _URI.match(uri):
        raise InvalidInput(
            f"URI {uri!r} is not a libvirt URI; examples: qemu:///system, "
            "qemu+ssh://kvm1/system, test+unix:///default"
        )
    return uri


def uri_of(host: dict[str, Any]) -> str:
    """The libvirt URI a (libvirt) host's driver talks to."""
    return host["TEMPLATE"].get("URI") or default_uri(host["NAME"])


def is_ec2(host: dict[str, Any]) -> bool:
    return host.get("VM_MAD") == EC2_MAD


def address_of(host: dict[str, Any]) -> str:
    """Where a host's driver talks to, as a label and to tell hosts apart (two hosts with
    one address are one hypervisor): a libvirt host's URI, an EC2 host's
    ``ec2://<region_name>`` (``ec2://?<host name>`` while its ec2_driver.conf entry
    cannot be read), a partner host's ``onekit+<its core API URL>``."""
    if host.get("VM_MAD") == PARTNER_MAD:
        try:
            return f"onekit+{partner_config.load(str(host.get('NAME'))).endpoint}"
        except OneError:
            return f"onekit://?{host.get('NAME')}"
    if not is_ec2(host):
        return uri_of(host)
    try:
        return _ec2_region(host).label
    except OneError:
        return f"ec2://?{host.get('NAME')}"


def refusal(host: dict[str, Any], vm: dict[str, Any]) -> str | None:
    """Why the host's driver could never run the VM, whatever room it has (None: it
    can), read from the VM alone, without asking the host: an EC2 region needs an EC2
    section for it (``ec2_template.choose_section``), a partner a template it can
    instantiate (``partner.refusal``); a libvirt host runs anything. The scheduler leaves
    such hosts out, as OpenNebula 5 matches a VM's PUBLIC_CLOUD sections to the hosts."""
    vm_mad = host.get("VM_MAD")
    if vm_mad == EC2_MAD:
        source = ec2_template.section_source(vm["TEMPLATE"], vm.get("USER_TEMPLATE") or {})
        try:
            ec2_template.choose_section(source, str(host.get("NAME")))
        except InvalidInput as err:
            return str(err)
        return None
    if vm_mad == PARTNER_MAD:
        from ansible_collections.onekit.cloud.plugins.module_utils.drivers import partner

        return partner.refusal(vm["TEMPLATE"], str(host.get("NAME")))
    return None


def driver_for(host: dict[str, Any]) -> Bounded:
    """The driver of a host, by its VM_MAD (kvm, qemu: libvirt at TEMPLATE/URI; ec2: the
    region ec2_driver.conf gives the host's name), its calls bounded as ``executor``
    says."""
    vm_mad = host.get("VM_MAD")
    if vm_mad == EC2_MAD:
        return Bounded(_ec2_driver(host), host)
    if vm_mad == PARTNER_MAD:  # a partner cloud, through its core API (drivers.partner)
        return Bounded(_partner_driver(host), host)
    if vm_mad not in LIBVIRT_MADS:
        raise DriverError(f"host {host.get('NAME')} has VM_MAD {vm_mad!r}, which no driver serves")
    uri = uri_of(host)
    with _lock:
        driver = _cache.get(uri)
        if driver is None:
            driver = _cache[uri] = _libvirt_driver_class(host)(uri)
    return Bounded(driver, host)


def ec2_conf_path() -> str:
    path = _ec2_conf["path"]
    if not path:
        raise DriverError(
            "this process has no ec2_driver.conf: EC2 hosts are served from an instance "
            "(its etc/ec2_driver.conf)"
        )
    return path


def _conf_version(path: str) -> tuple:
    try:
        stat = os.stat(path)
    except OSError:
        return (path, None)
    return (path, stat.st_mtime_ns, stat.st_size)


# the parsed file by version: one read per change, not per call
_ec2_docs: dict[tuple, dict] = {}


def _ec2_region(host: dict[str, Any]) -> Any:
    """The host's entry of ec2_driver.conf (a ConfigError naming the file and field)."""
    from ansible_collections.onekit.cloud.plugins.module_utils.drivers import ec2_config

    path = ec2_conf_path()
    version = _conf_version(path)
    doc = _ec2_docs.get(version)
    if doc is None:
        doc = ec2_config.load(path)
        _ec2_docs.clear()
        _ec2_docs[version] = doc
    return ec2_config.region_for(path, str(host.get("NAME")), doc)


def _ec2_driver(host: dict[str, Any]) -> Driver:
    """The EC2 driver of a host, made again when ec2_driver.conf changed."""
    name = str(host.get("NAME"))
    version = _conf_version(ec2_conf_path())
    with _lock:
        cached = _ec2_cache.get(name)
    if cached is not None and cached[0] == version:
        return cached[1]
    region = _ec2_region(host)
    driver = _ec2_driver_class(host)(region, name)
    with _lock:
        old = _ec2_cache.get(name)
        _ec2_cache[name] = (version, driver)
    if old is not None:
        old[1].close()
    return driver


def width(hosts: list[dict[str, Any]]) -> int:
    """How many actions on these hosts' VMs may run at once: the threads of their VM_MADs."""
    names = {str(h.get("VM_MAD")) for h in hosts}
    return sum(mad("VM_MAD", name).threads for name in names)


class Bounded(Driver):
    """A host's driver as the core uses it: each call through ``executor.call``, in a
    thread of the host's VM_MAD (``monitor``: its IM_MAD), bounded by the host's timeout."""

    def __init__(self, inner: Driver, host: dict[str, Any]):
        self.inner = inner
        self.name = inner.name
        self.host_label = f"host {host.get('NAME')} ({address_of(host)})"
        self.vm = mad("VM_MAD", str(host.get("VM_MAD")))
        self.im = mad("IM_MAD", str(host.get("IM_MAD") or host.get("VM_MAD")))
        self.in_error = host.get("STATE") in _ERROR_STATES

    def __repr__(self) -> str:
        return f"Bounded({self.inner!r})"

    def _submit(
        self, what: str, fn: Callable[[], T], im: bool = False, slow: bool = False
    ) -> Future[T]:
        mad_ = self.im if im else self.vm
        timeout = float(max(mad_.timeout, TRANSFER_TIMEOUT) if slow else mad_.timeout)
        if self.in_error:
            timeout = min(timeout, executor.ERROR_HOST_TIMEOUT)
        pool = f"{'IM_MAD' if im else 'VM_MAD'} {mad_.name}"
        return executor.submit(pool, mad_.threads, self.host_label, what, fn, timeout)

    def _run(self, what: str, fn: Callable[[], T], im: bool = False, slow: bool = False) -> T:
        return self._submit(what, fn, im, slow).result()

    def deploy(self, vm: VmSpec) -> str:
        return self._run(f"deploy {vm.deploy_id}", lambda: self.inner.deploy(vm))

    def shutdown(self, deploy_id: str) -> None:
        self._run(f"shutdown {deploy_id}", lambda: self.inner.shutdown(deploy_id))

    def cancel(self, deploy_id: str) -> None:
        self._run(f"cancel {deploy_id}", lambda: self.inner.cancel(deploy_id))

    def reboot(self, deploy_id: str) -> None:
        self._run(f"reboot {deploy_id}", lambda: self.inner.reboot(deploy_id))

    def reset(self, deploy_id: str) -> None:
        self._run(f"reset {deploy_id}", lambda: self.inner.reset(deploy_id))

    def suspend(self, deploy_id: str) -> None:
        self._run(f"suspend {deploy_id}", lambda: self.inner.suspend(deploy_id))

    def resume(self, deploy_id: str) -> None:
        self._run(f"resume {deploy_id}", lambda: self.inner.resume(deploy_id))

    def save(self, deploy_id: str, path: str) -> None:
        self._run(f"save {deploy_id}", lambda: self.inner.save(deploy_id, path), slow=True)

    def restore(self, path: str) -> str:
        return self._run(f"restore {path}", lambda: self.inner.restore(path), slow=True)

    def remove_checkpoint(self, path: str) -> None:
        self._run(f"remove {path}", lambda: self.inner.remove_checkpoint(path))

    def snapshot_create(self, deploy_id: str, name: str) -> None:
        self._run(
            f"snapshot {deploy_id}", lambda: self.inner.snapshot_create(deploy_id, name), slow=True
        )

    def attach_disk(self, deploy_id: str, disk: dict[str, Any]) -> None:
        self._run(f"attach a disk to {deploy_id}", lambda: self.inner.attach_disk(deploy_id, disk))

    def detach_disk(self, deploy_id: str, disk: dict[str, Any]) -> None:
        self._run(
            f"detach a disk from {deploy_id}", lambda: self.inner.detach_disk(deploy_id, disk)
        )

    def poll(self, deploy_id: str) -> VmStatus:
        return self._run(f"poll {deploy_id}", lambda: self.inner.poll(deploy_id))

    def monitor(self) -> HostStatus:
        return self._run("monitor", self.inner.monitor, im=True)

    def start_monitor(self) -> Future[HostStatus]:
        """``monitor`` started, not waited for: the monitor polls every host at once, each
        poll a call of the host's IM_MAD (its -t, its -w), in one thread."""
        return self._submit("monitor", self.inner.monitor, im=True)

    def release(self, deploy_id: str) -> None:
        self._run(f"release {deploy_id}", lambda: self.inner.release(deploy_id))

    def close(self) -> None:
        self.inner.close()


def _libvirt_driver_class(host: dict[str, Any]) -> type[Driver]:
    """The libvirt driver, loaded on first use. Every CLI, module and server process imports
    the core, and most never talk to a hypervisor: importing libvirt-python costs each of
    them about 40 ms, and a machine without it (ansible-test's sanity venv, a controller)
    must still load the modules. A driver's library is a plugin's: loaded when a host
    needs it (the EC2 driver's boto3 will be loaded the same way)."""
    try:
        from ansible_collections.onekit.cloud.plugins.module_utils.drivers.libvirt import (
            LibvirtDriver,
        )
    except ImportError as missing:
        raise DriverError(
            f"host {host.get('NAME')}: the libvirt Python bindings cannot be imported on "
            f"this machine ({missing}); install them: pip install libvirt-python, or apt "
            "install python3-libvirt"
        ) from None
    return LibvirtDriver


def _ec2_driver_class(host: dict[str, Any]) -> type[Driver]:
    """The EC2 driver, loaded on first use (boto3 costs a process ~0.3 s to import)."""
    try:
        from ansible_collections.onekit.cloud.plugins.module_utils.drivers.ec2 import Ec2Driver
    except ImportError as missing:
        raise DriverError(
            f"host {host.get('NAME')}: boto3 cannot be imported on this machine "
            f"({missing}); install it: pip install boto3"
        ) from None
    return Ec2Driver


def _partner_driver(host: dict[str, Any]) -> Driver:
    """The partner driver, loaded on first use (it brings core.remote and urllib)."""
    from ansible_collections.onekit.cloud.plugins.module_utils.drivers import partner

    return partner.for_host(host)


def forget(uri: str) -> None:
    """Drop a cached libvirt driver (its host was deleted or its URI changed)."""
    with _lock:
        driver = _cache.pop(uri, None)
    if driver is not None:
        driver.close()


def forget_host(host: dict[str, Any]) -> None:
    """Drop the cached driver of a host that was deleted or changed."""
    if not is_ec2(host):
        forget(uri_of(host))
        return
    with _lock:
        cached = _ec2_cache.pop(str(host.get("NAME")), None)
    if cached is not None:
        cached[1].close()

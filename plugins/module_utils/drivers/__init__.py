"""Hypervisor drivers: one interface (``base.Driver``), one module per implementation, and
``driver_for(host)``, the one place that picks a host's driver.

Drivers are cached per process and URI: a libvirt connection is opened once and shared,
and a driver keeps the last CPU samples it needs to turn CPU time into a percentage.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import Driver, DriverError

# a libvirt URI: qemu:///system, qemu+ssh://kvm1/system, test+unix:///default
_URI = re.compile(r"^[a-z][a-z0-9]*(\+[a-z0-9]+)?://[^\s]*$")
_cache: dict[str, Driver] = {}
_lock = threading.Lock()


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
    """The libvirt URI a host's driver talks to."""
    return host["TEMPLATE"].get("URI") or default_uri(host["NAME"])


def driver_for(host: dict[str, Any]) -> Driver:
    """The driver of a host, by its VM_MAD (kvm, qemu: libvirt at TEMPLATE/URI)."""
    vm_mad = host.get("VM_MAD")
    if vm_mad not in ("kvm", "qemu"):
        raise DriverError(f"host {host.get('NAME')} has VM_MAD {vm_mad!r}, which no driver serves")
    uri = uri_of(host)
    with _lock:
        driver = _cache.get(uri)
        if driver is None:
            driver = _cache[uri] = _libvirt_driver_class(host)(uri)
        return driver


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


def forget(uri: str) -> None:
    """Drop a cached driver (its host was deleted or its URI changed)."""
    with _lock:
        driver = _cache.pop(uri, None)
    if driver is not None:
        driver.close()

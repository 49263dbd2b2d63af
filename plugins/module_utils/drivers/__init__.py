"""Hypervisor drivers: one interface (``base.Driver``), one module per implementation, and
``driver_for(host)``, the one place that picks a host's driver.

Drivers are cached per process and URI: a libvirt connection is opened once and shared,
and a driver keeps the last CPU samples it needs to turn CPU time into a percentage.
"""

from __future__ import annotations

import threading
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import Driver, DriverError

_cache: dict[str, Driver] = {}
_lock = threading.Lock()


def driver_for(host: dict[str, Any]) -> Driver:
    """The driver of a host, by its VM_MAD (kvm, qemu: libvirt at TEMPLATE/URI)."""
    from ansible_collections.onekit.cloud.plugins.module_utils.objects.hosts import uri_of

    vm_mad = host.get("VM_MAD")
    if vm_mad not in ("kvm", "qemu"):
        raise DriverError(f"host {host.get('NAME')} has VM_MAD {vm_mad!r}, which no driver serves")
    uri = uri_of(host)
    with _lock:
        driver = _cache.get(uri)
        if driver is None:
            from ansible_collections.onekit.cloud.plugins.module_utils.drivers.libvirt import (
                LibvirtDriver,
            )

            driver = _cache[uri] = LibvirtDriver(uri)
        return driver


def forget(uri: str) -> None:
    """Drop a cached driver (its host was deleted or its URI changed)."""
    with _lock:
        driver = _cache.pop(uri, None)
    if driver is not None:
        driver.close()

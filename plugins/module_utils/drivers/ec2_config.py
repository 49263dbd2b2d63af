"""``etc/ec2_driver.conf``: the EC2 driver's regions, credentials and capacity, in the
guide's format (YAML)::

    proxy_uri:
    regions:
        default:                      # the host name; "default" serves any other host
            region_name: us-east-1
            access_key_id: AKIA...    # or AWS_ACCESS_KEY_ID in the environment
            secret_access_key: ...    # or AWS_SECRET_ACCESS_KEY
            endpoint_url: http://...  # onekit's: an EC2-compatible endpoint (moto...)
            capacity:
                m1.small: 5
                m1.large: 0
    instance_types:
        m1.small: {cpu: 1, memory: 1.7}   # memory in GB

A host uses ``regions[<host name>]``, else ``regions["default"]`` (one host per
region, named after its key). Its capacity is the sum over ``capacity`` of count x the
type's cpu x 100 and count x its memory in KiB, without 4.6's rounding of the GB to a
whole number (bug #4344: 1.7 GB stays 1.7 GB). Every error names the file, the region
key and the field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import ConfigError
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import frontend_identity

KIB_PER_GB = 1024 * 1024
DEFAULT_REGION_KEY = "default"


@dataclass(frozen=True)
class InstanceType:
    cpu: float  # cores
    memory: float  # GB

    @property
    def demand(self) -> tuple[float, float]:
        """(hundredths of a core, KiB), unrounded."""
        return self.cpu * 100, self.memory * KIB_PER_GB


@dataclass(frozen=True)
class Region:
    """One region entry, as a host of that name uses it."""

    path: str  # the file, for messages
    key: str  # the entry's key in ``regions``
    region_name: str
    access_key_id: str | None
    secret_access_key: str | None
    endpoint_url: str | None
    proxy_uri: str | None
    capacity: dict[str, int]
    instance_types: dict[str, InstanceType] = field(default_factory=dict)
    # this front-end's ONE_FRONTEND tag on its instances (``frontend`` in the file, else
    # base.frontend_identity): an account several front-ends burst to keeps them apart
    frontend: str = ""

    def totals(self) -> tuple[int, int]:
        """The host's (TOTALCPU, TOTALMEMORY in KiB) from ``capacity``."""
        return self.usage(self.capacity)

    def usage(self, counts: dict[str, int]) -> tuple[int, int]:
        """(cpu, memory KiB) of ``counts`` instances by type, summed before rounding;
        a type the file does not describe counts nothing."""
        cpu = memory = 0.0
        for name, count in counts.items():
            kind = self.instance_types.get(name)
            if kind is not None:
                cpu += count * kind.demand[0]
                memory += count * kind.demand[1]
        return round(cpu), round(memory)

    @property
    def label(self) -> str:
        return f"ec2://{self.region_name}"


def _fail(path: str, where: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {where}: {message}")


def _text(path: str, where: str, entry: dict, key: str, env: str | None = None) -> str | None:
    value = entry.get(key)
    if value is None or value == "":
        return os.environ.get(env) or None if env else None
    if not isinstance(value, str):
        raise _fail(path, f"{where}.{key}", f"must be text, got {value!r}")
    return value


def _number(path: str, where: str, value: Any, whole: bool) -> float:
    bad = isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
    if bad or (whole and not isinstance(value, int)):
        kind = "a whole number >= 0" if whole else "a number >= 0"
        raise _fail(path, where, f"must be {kind}, got {value!r}")
    return value


def _types(path: str, doc: dict) -> dict[str, InstanceType]:
    found = doc.get("instance_types") or {}
    if not isinstance(found, dict):
        raise _fail(path, "instance_types", "must map type names to {cpu, memory}")
    types = {}
    for name, spec in found.items():
        where = f"instance_types.{name}"
        if not isinstance(spec, dict) or "cpu" not in spec or "memory" not in spec:
            raise _fail(path, where, "must be {cpu: <cores>, memory: <GB>}")
        types[str(name)] = InstanceType(
            _number(path, f"{where}.cpu", spec["cpu"], False),
            _number(path, f"{where}.memory", spec["memory"], False),
        )
    return types


def load(path: str | Path) -> dict:
    """The file's YAML document (a ConfigError when missing or not a mapping)."""
    import yaml

    path = str(path)
    try:
        with open(path, encoding="utf-8") as handle:
            doc = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigError(
            f"{path} does not exist: the EC2 driver's regions and credentials go there "
            "(regions: {<host name>: {region_name, access_key_id, secret_access_key, "
            "capacity}})"
        ) from None
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read it: {err}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: must be a YAML mapping with regions and instance_types")
    return doc


def region_for(path: str | Path, host_name: str, doc: dict | None = None) -> Region:
    """The region entry host ``host_name`` uses: ``regions[host_name]``, else
    ``regions["default"]``."""
    path = str(path)
    doc = load(path) if doc is None else doc
    regions = doc.get("regions")
    if not isinstance(regions, dict):
        raise _fail(path, "regions", "missing; it maps host names to region entries")
    key = host_name if host_name in regions else DEFAULT_REGION_KEY
    entry = regions.get(key)
    if entry is None:
        raise _fail(
            path,
            "regions",
            f"no entry {host_name!r} and no {DEFAULT_REGION_KEY!r}; add one named after the host",
        )
    where = f"regions.{key}"
    if not isinstance(entry, dict):
        raise _fail(path, where, "must be a mapping (region_name, access_key_id, ...)")
    region_name = _text(path, where, entry, "region_name")
    if not region_name:
        raise _fail(path, f"{where}.region_name", "missing (e.g. us-east-1)")
    key_id = _text(path, where, entry, "access_key_id", "AWS_ACCESS_KEY_ID")
    secret = _text(path, where, entry, "secret_access_key", "AWS_SECRET_ACCESS_KEY")
    for name, value, env in (
        ("access_key_id", key_id, "AWS_ACCESS_KEY_ID"),
        ("secret_access_key", secret, "AWS_SECRET_ACCESS_KEY"),
    ):
        if not value:
            raise _fail(path, f"{where}.{name}", f"missing, and {env} is not set either")
    types = _types(path, doc)
    capacity = entry.get("capacity") or {}
    if not isinstance(capacity, dict):
        raise _fail(path, f"{where}.capacity", "must map instance types to counts")
    counts = {}
    for name, count in capacity.items():
        if str(name) not in types:
            raise _fail(
                path,
                f"{where}.capacity.{name}",
                f"instance type {name!r} is not in instance_types; describe it there "
                "({cpu, memory})",
            )
        counts[str(name)] = int(_number(path, f"{where}.capacity.{name}", count, True))
    proxy = doc.get("proxy_uri")
    frontend = doc.get("frontend")
    if frontend is not None and (not isinstance(frontend, str) or not frontend.strip()):
        raise _fail(path, "frontend", "must be a non-empty name (this front-end's tag)")
    return Region(
        path=path,
        key=key,
        region_name=region_name,
        access_key_id=key_id,
        secret_access_key=secret,
        endpoint_url=_text(path, where, entry, "endpoint_url"),
        proxy_uri=proxy if isinstance(proxy, str) and proxy else None,
        capacity=counts,
        instance_types=types,
        frontend=frontend.strip() if frontend else frontend_identity(path),
    )

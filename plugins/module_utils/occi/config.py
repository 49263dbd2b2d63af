"""``$ONEKIT_HOME/etc/occi-server.conf``: the OCCI server's settings, OpenNebula 4.6's
file as shipped (YAML with ``:symbol:`` keys), read unchanged.

Keys 4.6 reads but onekit has no use for are accepted (``:one_xmlrpc:``,
``:core_auth:``: onekit reaches its store directly). ``:server:`` is the guide's older
name of ``:host:`` (its SSL proxy section). Any other key, or a value of the wrong kind, is
refused naming the key and the fix: a typo must not silently leave a default in force.

``:instance_types:`` maps a name to ``:template:`` (a file of ``etc/occi_templates/``,
see ``occi.templates``), ``:cpu:`` and ``:memory:`` (MB).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import server_conf
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import ConfigError
from ansible_collections.onekit.cloud.plugins.module_utils.core.server_conf import (
    Endpoint,
    endpoint_settings,
    symbol_name,
    yaml_settings,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.server_conf import (
    integer as _int,
)

AUTH_DRIVERS = ("occi", "x509")  # basic auth with the onekit password; x509 behind a proxy
ACCEPTED_UNUSED = ("one_xmlrpc", "core_auth")
KNOWN = (
    "host",
    "server",
    "port",
    "ssl_server",
    "auth",
    "tmpdir",
    "debug_level",
    "datastore_id",
    "cluster_id",
    "instance_types",
    *ACCEPTED_UNUSED,
)
TYPE_KEYS = ("template", "cpu", "memory")


@dataclass(frozen=True)
class InstanceType:
    name: str
    template: str  # as the file names it (``small.erb``); ``templates.resolve`` finds it
    cpu: float
    memory: int  # MB

    @property
    def cpu_text(self) -> str:
        return f"{self.cpu:g}"


DEFAULT_TYPES = (
    InstanceType("small", "small.erb", 1, 1024),
    InstanceType("medium", "medium.erb", 4, 4096),
    InstanceType("large", "large.erb", 8, 8192),
)


@dataclass(frozen=True)
class OcciConfig(Endpoint):
    auth: str = "occi"
    tmpdir: str = "/var/tmp"
    debug_level: int = 3
    datastore_id: int = 1
    cluster_id: int | None = None
    instance_types: tuple[InstanceType, ...] = field(default=DEFAULT_TYPES)

    @property
    def base_url(self) -> str:
        """The base of every href in the documents: ``:ssl_server:`` when set (4.6), else
        ``http://:host:::port:``."""
        if self.ssl_server:
            return self.ssl_server.rstrip("/")
        return f"http://{self.host}:{self.port}"

    def instance_type(self, name: str) -> InstanceType | None:
        return next((t for t in self.instance_types if t.name == name), None)


def _types(where: str, raw: Any) -> tuple[InstanceType, ...]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(
            f"{where}: :instance_types: must map each type's name to :template:, :cpu: and "
            ":memory: (see the guide's 7.3.3)"
        )
    found = []
    for raw_name, spec in raw.items():
        name = symbol_name(raw_name)
        label = f":instance_types: :{name}:"
        if not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise ConfigError(f"{where}: {label} a type's name is letters, digits, _ - and .")
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: {label} must hold :template:, :cpu: and :memory:")
        values = {symbol_name(k): v for k, v in spec.items()}
        unknown = sorted(set(values) - set(TYPE_KEYS))
        if unknown:
            raise ConfigError(
                f"{where}: {label} has the unknown key :{unknown[0]}:; a type has only "
                ":template:, :cpu: and :memory:"
            )
        missing = [k for k in TYPE_KEYS if values.get(k) is None]
        if missing:
            raise ConfigError(f"{where}: {label} lacks :{missing[0]}:")
        template = str(values["template"])
        if "/" in template or template.startswith("."):
            raise ConfigError(
                f"{where}: {label} :template: must name a file of etc/occi_templates "
                "(no directory), like small.erb"
            )
        cpu = values["cpu"]
        if isinstance(cpu, bool) or not isinstance(cpu, int | float) or not 0 < cpu <= 1024:
            raise ConfigError(f"{where}: {label} :cpu: must be a number above 0, up to 1024")
        memory = _int(where, f"instance_types: :{name}: :memory", values["memory"], 1)
        found.append(InstanceType(name, template, cpu, memory))
    return tuple(found)


def parse(text: str, source: str = "occi-server.conf") -> OcciConfig:
    values = yaml_settings(text, source)
    unknown = sorted(set(values) - set(KNOWN))
    if unknown:
        raise ConfigError(
            f"{source}: :{unknown[0]}: is not a setting of the OCCI server; the settings are "
            + ", ".join(f":{k}:" for k in KNOWN)
        )
    return _checked(values, source)


def _checked(values: dict[str, Any], where: str) -> OcciConfig:
    if values.get("host") is not None and values.get("server") is not None:
        raise ConfigError(f"{where}: :server: is the old name of :host:: keep one of them")
    out = endpoint_settings({**values, "host": values.get("host", values.get("server"))}, where)
    auth = values.get("auth")
    if auth is not None:
        if auth not in AUTH_DRIVERS:
            raise ConfigError(
                f"{where}: :auth: {str(auth)[:20]!r} is not supported; use occi (basic auth "
                "with the user's onekit password) or x509 (behind a TLS proxy)"
            )
        out["auth"] = auth
    if values.get("tmpdir") is not None:
        tmpdir = str(values["tmpdir"])
        if not tmpdir.startswith("/"):
            raise ConfigError(f"{where}: :tmpdir: must be an absolute directory, like /var/tmp")
        out["tmpdir"] = tmpdir
    if values.get("debug_level") is not None:
        out["debug_level"] = _int(where, "debug_level", values["debug_level"], 0, 3)
    for key in ("datastore_id", "cluster_id"):
        if values.get(key) is not None:
            out[key] = _int(where, key, values[key], 0)
    if values.get("instance_types") is not None:
        out["instance_types"] = _types(where, values["instance_types"])
    return OcciConfig(**out)


def load(path: Path) -> OcciConfig:
    """The file's settings; the defaults when it does not exist."""
    return server_conf.load(path, parse, OcciConfig())

"""The instance configuration, ``$ONEKIT_HOME/etc/oned.conf``, in oned.conf's own syntax.

    LISTEN_ADDRESS = "127.0.0.1"
    PORT = 2633
    MAX_CONN = 240                  # connections each API serves at once
    MAX_CONN_BACKLOG = 480          # and keeps waiting
    DB = [ BACKEND = "sqlite" ]
    # DB = [ BACKEND = "mysql", SERVER = "localhost", PORT = 0, USER = "oneadmin",
    #        PASSWD = "oneadmin", DB_NAME = "opennebula" ]
    DEFAULT_UMASK = 177

Every key has a default; an unknown backend, a bad number or a malformed file is a
ConfigError that names the file and the key.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import template
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    ConfigError,
    InvalidInput,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions
from ansible_collections.onekit.cloud.plugins.module_utils.drivers import mads
from ansible_collections.onekit.cloud.plugins.module_utils.ha import hooks

log = logging.getLogger("onekit.config")

DEFAULT_PORT = 2633


@dataclass(frozen=True)
class DbConfig:
    backend: str = "sqlite"
    server: str = "localhost"
    port: int = 0
    user: str = "oneadmin"
    passwd: str = ""
    db_name: str = "opennebula"


FEDERATION_MODES = ("STANDALONE", "MASTER", "SLAVE")


@dataclass(frozen=True)
class FederationConfig:
    """oned.conf's ``FEDERATION = [ MODE, ZONE_ID, MASTER_ONED ]``: a SLAVE reads the
    shared tables (users, groups, ACL, zones) from its MySQL replica and sends their
    writes to the master's core API at MASTER_ONED."""

    mode: str = "STANDALONE"
    zone_id: int = 0
    master_oned: str = ""

    @property
    def slave(self) -> bool:
        return self.mode == "SLAVE"


@dataclass(frozen=True)
class InstanceConfig:
    listen_address: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    # each API server's connections served at once (its threads) and waiting beyond them
    max_conn: int = 240
    max_conn_backlog: int = 480
    db: DbConfig = field(default_factory=DbConfig)
    default_umask: str = "177"
    # Monitoring (seconds), oned.conf's names; SHUTDOWN_TIMEOUT is onekit's. A host's
    # poll is bounded by its IM_MAD's -w (drivers.executor), as every driver call is.
    monitoring_interval: int = 60
    host_monitoring_expiration: int = 43200
    vm_monitoring_expiration: int = 14400
    shutdown_timeout: int = 300
    # the OneGate URL guests reach (the guide's ONEGATE_ENDPOINT); "" leaves VMs without
    # ONEGATE_URL until it is set
    onegate_endpoint: str = ""
    federation: FederationConfig = field(default_factory=FederationConfig)
    # the guide's HOST_HOOK (ERROR, ft/host_error) and VM_HOOK (FAILED, onevm delete)
    host_hooks: tuple[hooks.HostHook, ...] = ()
    vm_hooks: tuple[hooks.VmHook, ...] = ()
    # the guide's VM_MAD / IM_MAD sections by driver name (-t threads, -w timeout)
    vm_mads: dict[str, mads.MadConfig] = field(default_factory=dict)
    im_mads: dict[str, mads.MadConfig] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        """This instance's core API URL (its zone's ENDPOINT)."""
        host = "127.0.0.1" if self.listen_address in ("0.0.0.0", "") else self.listen_address
        return f"http://{host}:{self.port}"


# key in oned.conf -> (field, lowest allowed value)
_SECONDS = {
    "MONITORING_INTERVAL": ("monitoring_interval", 1),
    "HOST_MONITORING_EXPIRATION_TIME": ("host_monitoring_expiration", 0),
    "VM_MONITORING_EXPIRATION_TIME": ("vm_monitoring_expiration", 0),
    "SHUTDOWN_TIMEOUT": ("shutdown_timeout", 1),
}


# the API servers' bounds, the guide's 3.2: key -> (field, lowest, highest)
_API_BOUNDS = {
    "MAX_CONN": ("max_conn", 1, 4096),
    "MAX_CONN_BACKLOG": ("max_conn_backlog", 1, 65535),
}


def _int(value: str | int, key: str, where: Path, low: int, high: int) -> int:
    text = str(value).strip()
    number = int(text) if re.fullmatch(r"[0-9]{1,6}", text) else None
    if number is None or not low <= number <= high:
        raise ConfigError(
            f"{where}: {key} must be a whole number from {low} to {high}, got {value!r}"
        )
    return number


def _single(tpl: dict, key: str, where: Path) -> str | None:
    """A single attribute's value (stripped), None if absent; empty is an error."""
    value = tpl.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f'{where}: {key} must be a single value like {key} = "..."')
    if not value.strip():
        raise ConfigError(f"{where}: {key} is empty; give a value or remove the line")
    return value.strip()


def _own_endpoint(tpl: dict, where: Path) -> str:
    address = _single(tpl, "LISTEN_ADDRESS", where) or "127.0.0.1"
    port = _int(_single(tpl, "PORT", where) or DEFAULT_PORT, "PORT", where, 1, 65535)
    return InstanceConfig(listen_address=address, port=port).endpoint


def _federation(tpl: dict, where: Path) -> FederationConfig:
    section = tpl.get("FEDERATION")
    if section is None:
        return FederationConfig()
    if not isinstance(section, dict):
        raise ConfigError(
            f'{where}: FEDERATION must be one vector, FEDERATION = [ MODE = "STANDALONE" ]'
        )
    mode = str(section.get("MODE", "STANDALONE")).strip().upper()
    if mode not in FEDERATION_MODES:
        raise ConfigError(
            f"{where}: FEDERATION/MODE must be STANDALONE, MASTER or SLAVE, got {mode!r}"
        )
    zone_id = _int(section.get("ZONE_ID", "0"), "FEDERATION/ZONE_ID", where, 0, 999999)
    # the guide writes oned's XML-RPC URL (.../RPC2); onekit's endpoint is the server's root
    master = str(section.get("MASTER_ONED", "")).strip().rstrip("/").removesuffix("/RPC2")
    if mode == "SLAVE":
        if not re.match(r"https?://[^/\s]+", master):
            raise ConfigError(
                f"{where}: a SLAVE needs FEDERATION/MASTER_ONED, the master's endpoint, "
                'like MASTER_ONED = "http://10.0.0.1:2633"'
            )
        own = _own_endpoint(tpl, where)
        if master == own:
            raise ConfigError(
                f"{where}: FEDERATION/MASTER_ONED is this instance's own endpoint ({own}); "
                "a slave names the master zone's front-end"
            )
        if zone_id == 0:
            raise ConfigError(
                f"{where}: FEDERATION/ZONE_ID 0 is the master's; give the slave the id of "
                "the zone made for it on the master (onezone create)"
            )
    elif zone_id != 0:
        raise ConfigError(f"{where}: FEDERATION/ZONE_ID must be 0 for a {mode} (zone 0)")
    return FederationConfig(mode, zone_id, master)


# Keys older onekit releases wrote, read and ignored (with a warning, once per file and
# process): key -> why, and what to do instead.
_RETIRED = {
    "MONITORING_TIMEOUT": "a host's poll is bounded by its IM_MAD's -w (default 15 s), as "
    "every driver call is; remove the line, and set -w in the IM_MAD section's arguments "
    'to change it (IM_MAD = [ name = "kvm", arguments = "-t 15 -w 30 kvm" ])',
}
_warned: set[tuple[str, str]] = set()


def _warn_retired(tpl: dict[str, Any], where: Path) -> None:
    for key, instead in _RETIRED.items():
        if key in tpl and (str(where), key) not in _warned:
            _warned.add((str(where), key))
            log.warning("%s: %s is no longer used: %s", where, key, instead)


def parse_config(text: str, where: Path) -> InstanceConfig:
    try:
        tpl = template.parse(text)
    except InvalidInput as err:
        raise ConfigError(f"{where}: {err}") from err
    _warn_retired(tpl, where)
    db_section = tpl.get("DB", {})
    if not isinstance(db_section, dict):
        raise ConfigError(f'{where}: DB must be one vector, DB = [ BACKEND = "sqlite" ]')
    backend = db_section.get("BACKEND", "sqlite").lower()
    if backend not in ("sqlite", "mysql"):
        raise ConfigError(f'{where}: DB/BACKEND must be "sqlite" or "mysql", got {backend!r}')
    db = DbConfig(
        backend=backend,
        server=db_section.get("SERVER", "localhost"),
        port=_int(db_section.get("PORT", "0"), "DB/PORT", where, 0, 65535),
        user=db_section.get("USER", "oneadmin"),
        passwd=db_section.get("PASSWD", ""),
        db_name=db_section.get("DB_NAME", "opennebula"),
    )
    umask = _single(tpl, "DEFAULT_UMASK", where) or "177"
    try:
        Permissions.from_umask(umask)
    except InvalidInput as err:
        raise ConfigError(f"{where}: DEFAULT_UMASK: {err}") from err
    endpoint = _single(tpl, "ONEGATE_ENDPOINT", where) or ""
    if endpoint and not re.match(r"https?://[^/\s]+", endpoint):
        raise ConfigError(
            f'{where}: ONEGATE_ENDPOINT must be a URL the VMs reach, like "http://10.0.0.1:5030"'
        )
    host_hooks, vm_hooks = hooks.parse_hooks(tpl, where)
    return InstanceConfig(
        vm_mads=mads.parse_mads(tpl, "VM_MAD", where),
        im_mads=mads.parse_mads(tpl, "IM_MAD", where),
        host_hooks=host_hooks,
        vm_hooks=vm_hooks,
        federation=_federation(tpl, where),
        onegate_endpoint=endpoint.rstrip("/"),
        listen_address=_single(tpl, "LISTEN_ADDRESS", where) or "127.0.0.1",
        port=_int(_single(tpl, "PORT", where) or DEFAULT_PORT, "PORT", where, 1, 65535),
        **{
            attr: _int(_single(tpl, key, where), key, where, low, high)
            for key, (attr, low, high) in _API_BOUNDS.items()
            if key in tpl
        },
        db=db,
        default_umask=umask,
        **{
            attr: _int(_single(tpl, key, where), key, where, low, 10**9)
            for key, (attr, low) in _SECONDS.items()
            if key in tpl
        },
    )


def _render_federation(federation: FederationConfig) -> str:
    text = "\n# Federation: STANDALONE, MASTER (zone 0) or SLAVE (ZONE_ID, MASTER_ONED).\n"
    if federation == FederationConfig():
        return text + '# FEDERATION = [ MODE = "STANDALONE", ZONE_ID = 0, MASTER_ONED = "" ]\n'
    vector = {"MODE": federation.mode, "ZONE_ID": str(federation.zone_id)}
    if federation.master_oned:
        vector["MASTER_ONED"] = federation.master_oned
    return text + template.dumps({"FEDERATION": vector})


def render_config(config: InstanceConfig) -> str:
    """The text ``onekit-server init`` writes: the values, with comments a reader needs."""
    db = config.db
    if db.backend == "sqlite":
        db_text = 'DB = [ BACKEND = "sqlite" ]  # the store is $ONEKIT_HOME/var/one.db\n'
    else:
        db_text = template.dumps(
            {
                "DB": {
                    "BACKEND": "mysql",
                    "SERVER": db.server,
                    "PORT": str(db.port),
                    "USER": db.user,
                    "PASSWD": db.passwd,
                    "DB_NAME": db.db_name,
                }
            }
        )
    return (
        "# onekit instance configuration (OpenNebula oned.conf syntax).\n"
        "# The server's core API listens here; it is this zone's ENDPOINT.\n"
        + template.dumps({"LISTEN_ADDRESS": config.listen_address, "PORT": config.port})
        + "\n# Each API (core, OneFlow, OneGate) serves MAX_CONN connections at once (its\n"
        "# threads); up to MAX_CONN_BACKLOG more wait their turn, in the server and again in\n"
        "# the kernel's listen queue. The guide's values for large deployments.\n"
        + "".join(f"{key} = {getattr(config, attr)}\n" for key, (attr, *_) in _API_BOUNDS.items())
        + "\n"
        "# The state store: SQLite (embedded default) or MySQL/MariaDB, e.g.\n"
        '# DB = [ BACKEND = "mysql", SERVER = "localhost", PORT = 0, USER = "oneadmin",\n'
        '#        PASSWD = "oneadmin", DB_NAME = "opennebula" ]\n'
        f"{db_text}\n"
        "# Permissions of new objects: 777 & ~umask (177 gives 600, um- --- ---).\n"
        f"DEFAULT_UMASK = {config.default_umask}\n\n"
        "# Host and VM monitoring, in seconds. A host that does not answer a poll within\n"
        "# its IM_MAD's -w (below) is ERROR; an ACPI shutdown that takes longer than\n"
        "# SHUTDOWN_TIMEOUT returns the VM to RUNNING. Monitoring history is kept for the\n"
        "# *_EXPIRATION_TIME (0 keeps none).\n"
        + "".join(f"{key} = {getattr(config, attr)}\n" for key, (attr, _) in _SECONDS.items())
        + _render_federation(config.federation)
        + "\n# OneGate: the URL of onegate-server.conf's :host:/:port: as the VMs reach it.\n"
        + (
            template.dumps({"ONEGATE_ENDPOINT": config.onegate_endpoint})
            if config.onegate_endpoint
            else '# ONEGATE_ENDPOINT = "http://192.168.0.5:5030"\n'
        )
        + hooks.render_hooks(config.host_hooks, config.vm_hooks)
        + "\n# Drivers: -t threads (actions at once, default 15), -w seconds a host may take\n"
        + '# VM_MAD = [ name = "kvm", executable = "one_vmm_exec", arguments = "-t 15 -r 0 kvm" ]\n'
        + mads.render_mads("VM_MAD", config.vm_mads)
        + mads.render_mads("IM_MAD", config.im_mads)
    )

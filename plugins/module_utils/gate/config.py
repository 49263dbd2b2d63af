"""``$ONEKIT_HOME/etc/onegate-server.conf``: the OneGate server's settings, in the YAML of
the guide's default file (read by ``server_conf``, so the guide's print loads as is)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import server_conf
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import ConfigError

MAX_BODY = 64 * 1024  # bytes of one PUT: metrics are a few lines


@dataclass(frozen=True)
class GateConfig:
    host: str = "127.0.0.1"
    port: int = 5030
    debug_level: int = 3
    auth: str = "onegate"
    one_xmlrpc: str = "http://localhost:2633/RPC2"
    core_auth: str = "cipher"

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"


_KNOWN = {f.name for f in fields(GateConfig)}
_INTEGERS = {"port": 1, "debug_level": 0}


def _checked(key: str, value: Any, where: str) -> Any:
    if key == "auth" and value != "onegate":
        raise ConfigError(f"{where}: :auth: must be onegate (the token in the VM's context)")
    return server_conf.check_common(key, value, where, _INTEGERS)


def parse(text: str, source: str = "onegate-server.conf") -> GateConfig:
    return replace(GateConfig(), **server_conf.read(text, source, _KNOWN, _checked))


def load(path: Path) -> GateConfig:
    return server_conf.load(path, parse, GateConfig())


DEFAULT_FILE = """\
# Server Configuration
# OpenNebula sever contact information
:one_xmlrpc: {one_xmlrpc}

# Server Configuration
:host: {host}
:port: {port}

# Log debug level
#   0 = ERROR, 1 = WARNING, 2 = INFO, 3 = DEBUG
:debug_level: {debug_level}

# Auth
# Authentication driver for incomming requests
#   onegate, based on token provided in the context
:auth: {auth}

# Authentication driver to communicate with OpenNebula core
#   cipher, for symmetric cipher encryption of tokens
#   x509, for x509 certificate encryption of tokens
:core_auth: {core_auth}
"""


def render(config: GateConfig | None = None) -> str:
    config = config or GateConfig()
    return DEFAULT_FILE.format(**{f.name: getattr(config, f.name) for f in fields(config)})

"""``$ONEKIT_HOME/etc/oneflow-server.conf``: the OneFlow server's settings, in the YAML of
the guide's default file (``:key: value``, read by ``server_conf``).

Keys OneFlow knows but onekit does not use (``:one_xmlrpc:``, ``:core_auth:``) are
accepted; unknown keys are ignored, as oneflow-server ignores them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import server_conf
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    ConfigError,
    InvalidInput,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow import policies as flow_policies

SHUTDOWN_ACTIONS = ("shutdown", "shutdown-hard")
PLACEHOLDERS = ("$SERVICE_ID", "$SERVICE_NAME", "$ROLE_NAME", "$VM_NUMBER")


@dataclass(frozen=True)
class FlowConfig:
    host: str = "127.0.0.1"
    port: int = 2474
    lcm_interval: int = 30
    default_cooldown: int = 300
    shutdown_action: str = "shutdown"
    action_number: int = 1
    action_period: int = 60
    vm_name_template: str = "$ROLE_NAME_$VM_NUMBER_(service_$SERVICE_ID)"
    debug_level: int = 2
    time_zone: str = ""  # scheduled policies' zone (an IANA name); empty: the server's
    one_xmlrpc: str = "http://localhost:2633/RPC2"
    core_auth: str = "cipher"

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"


# key -> lowest allowed value, for the integer keys
_INTEGERS = {
    "port": 1,
    "lcm_interval": 1,
    "default_cooldown": 0,
    "action_number": 1,
    "action_period": 0,
    "debug_level": 0,
}
_KNOWN = {f.name for f in fields(FlowConfig)}


def parse(text: str, source: str = "oneflow-server.conf") -> FlowConfig:
    return replace(FlowConfig(), **server_conf.read(text, source, _KNOWN, _checked))


def _checked(key: str, value: Any, where: str) -> Any:
    if key == "shutdown_action" and value not in SHUTDOWN_ACTIONS:
        raise ConfigError(f"{where}: :shutdown_action: must be 'shutdown' or 'shutdown-hard'")
    if key == "time_zone":
        try:
            flow_policies.zone(str(value or ""))
        except InvalidInput as err:
            raise ConfigError(f"{where}: :time_zone: {err}") from None
        return str(value or "")
    value = server_conf.check_common(key, value, where, _INTEGERS)
    if key == "vm_name_template" and "$VM_NUMBER" not in value:
        raise ConfigError(f"{where}: :vm_name_template: must contain $VM_NUMBER")
    return value


def load(path: Path) -> FlowConfig:
    """The file's settings; the defaults when it does not exist."""
    return server_conf.load(path, parse, FlowConfig())


DEFAULT_FILE = """\
# Host and port where OneFlow server will run
:host: {host}
:port: {port}

# Time in seconds between Life Cycle Manager steps
:lcm_interval: {lcm_interval}

# Defaults
# Default cooldown period after a scale operation, in seconds
:default_cooldown: {default_cooldown}

# Default shutdown action. Values: 'shutdown', 'shutdown-hard'
:shutdown_action: '{shutdown_action}'

# Default oneflow action options when only one is supplied
:action_number: {action_number}
:action_period: {action_period}

# Default name for the Virtual Machines created by oneflow. You can use any
# of the following placeholders:
#   $SERVICE_ID
#   $SERVICE_NAME
#   $ROLE_NAME
#   $VM_NUMBER
:vm_name_template: '{vm_name_template}'

# Log debug level
#   0 = ERROR, 1 = WARNING, 2 = INFO, 3 = DEBUG
:debug_level: {debug_level}

# Time zone of scheduled policies (an IANA name, e.g. Europe/Madrid); empty: the
# server's own
:time_zone: '{time_zone}'

# Accepted for OneFlow's sake; onekit's server reaches its store directly
:one_xmlrpc: {one_xmlrpc}
:core_auth: {core_auth}
"""


def render(config: FlowConfig | None = None) -> str:
    config = config or FlowConfig()
    return DEFAULT_FILE.format(**{f.name: getattr(config, f.name) for f in fields(config)})

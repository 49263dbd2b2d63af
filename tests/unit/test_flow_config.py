"""``etc/oneflow-server.conf``: ``flow_config.parse``, ``render`` and ``load``."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import ConfigError
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import (
    FlowConfig,
    load,
    parse,
    render,
)

# The guide's default file exactly as printed (§1.2.2), with the '#' it lost on the
# placeholder, cipher/x509 and log level lines.
GUIDE_FILE = """\
# Host and port where OneFlow server will run
:host: 127.0.0.1
:port: 2474
# Defaults
# Default cooldown period after a scale operation, in seconds
:default_cooldown: 300
# Default shutdown action. Values: 'shutdown', 'shutdown-hard'
:shutdown_action: 'shutdown'
# Default oneflow action options when only one is supplied
:action_number: 1
:action_period: 60
# Default name for the Virtual Machines created by oneflow. You can use any
# of the following placeholders:
 $SERVICE_ID
 $SERVICE_NAME
# $ROLE_NAME
# $VM_NUMBER
:vm_name_template: '$ROLE_NAME_$VM_NUMBER_(service_$SERVICE_ID)'
# Auth
# Authentication driver to communicate with OpenNebula core
 - cipher, for symmetric cipher encryption of tokens
  - x509, for x509 certificate encryption of tokens
:core_auth: cipher
# Log debug level
 0 = ERROR, 1 = WARNING, 2 = INFO, 3 = DEBUG
:debug_level: 2
"""


def test_the_guides_default_file_loads_as_printed() -> None:
    config = parse(GUIDE_FILE)
    assert config.host == "127.0.0.1"
    assert config.port == 2474
    assert config.default_cooldown == 300
    assert config.shutdown_action == "shutdown"
    assert config.action_number == 1
    assert config.action_period == 60
    assert config.vm_name_template == "$ROLE_NAME_$VM_NUMBER_(service_$SERVICE_ID)"
    assert config.core_auth == "cipher"
    assert config.debug_level == 2
    assert config.lcm_interval == 30  # not in the file: OneFlow's default
    assert config.url == "http://127.0.0.1:2474"


def test_values_in_the_file_replace_the_defaults() -> None:
    text = GUIDE_FILE.replace(":port: 2474", ":port: 8474").replace(
        ":shutdown_action: 'shutdown'", ":shutdown_action: shutdown-hard"
    )
    text += ":lcm_interval: 5\n:host: 0.0.0.0\n:vm_name_template: '$SERVICE_NAME-$VM_NUMBER'\n"
    config = parse(text)
    assert (config.port, config.shutdown_action, config.lcm_interval) == (
        8474,
        "shutdown-hard",
        5,
    )
    assert config.vm_name_template == "$SERVICE_NAME-$VM_NUMBER"
    assert config.url == "http://127.0.0.1:8474"  # 0.0.0.0 listens everywhere


def test_unknown_keys_are_ignored_and_trailing_comments_dropped() -> None:
    config = parse(":one_xmlrpc: http://one:2633/RPC2\n:autoscale: yes\n:port: 2475 # moved\n")
    assert config.one_xmlrpc == "http://one:2633/RPC2"
    assert config.port == 2475


def test_render_gives_the_default_file_that_loads_as_the_defaults() -> None:
    text = render()
    assert ":port: 2474" in text
    assert ":vm_name_template: '$ROLE_NAME_$VM_NUMBER_(service_$SERVICE_ID)'" in text
    assert parse(text) == FlowConfig()


def test_render_round_trips_every_setting_onekit_uses() -> None:
    config = FlowConfig(
        host="10.0.0.5",
        port=9474,
        lcm_interval=7,
        default_cooldown=0,
        shutdown_action="shutdown-hard",
        action_number=3,
        action_period=0,
        vm_name_template="$SERVICE_NAME_$ROLE_NAME_$VM_NUMBER",
        debug_level=3,
    )
    assert parse(render(config)) == config
    assert {f.name for f in fields(config)} - {"one_xmlrpc", "core_auth"} <= {
        line.split(":")[1] for line in render(config).splitlines() if line.startswith(":")
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (":port: 0", ":port: must be an integer of at least 1"),
        (":port: 70000", ":port: must be 1 to 65535"),
        (":port: '2474'", ":port: must be an integer of at least 1"),
        (":lcm_interval: 0", ":lcm_interval: must be an integer of at least 1"),
        (":default_cooldown: -1", ":default_cooldown: must be an integer of at least 0"),
        (":action_number: 0", ":action_number: must be an integer of at least 1"),
        (":shutdown_action: 'halt'", ":shutdown_action: must be 'shutdown' or 'shutdown-hard'"),
        (":debug_level: 7", ":debug_level: must be 0 (ERROR) to 3 (DEBUG)"),
        (":debug_level: true", ":debug_level: must be an integer of at least 0"),
        (":host:", ":host: must be a non-empty string"),
        (":vm_name_template: [a, b", "cannot read the value of :vm_name_template:"),
        ("this is not a setting", "expected ':key: value', got 'this is not a setting'"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_line(line: str, message: str) -> None:
    lines = GUIDE_FILE.splitlines()
    lines.insert(5, line)  # line 6
    with pytest.raises(ConfigError) as exc:
        parse("\n".join(lines), "/etc/one/oneflow-server.conf")
    assert str(exc.value) == f"/etc/one/oneflow-server.conf, line 6: {message}"


def test_a_missing_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load(tmp_path / "oneflow-server.conf") == FlowConfig()


def test_load_reads_the_file_and_names_it_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "oneflow-server.conf"
    path.write_text(GUIDE_FILE.replace(":action_period: 60", ":action_period: 120"))
    assert load(path).action_period == 120

    path.write_text(":port: 2474\n:port: 70000\n")
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(path))}, line 2: :port: must be 1 to 65535$"
    ):
        load(path)


def test_load_refuses_a_file_that_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "oneflow-server.conf"
    path.write_bytes(b":host: \xff\xfe\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load(path)

"""oned.conf's HOST_HOOK and VM_HOOK as the guide and the samples write them; what onekit
cannot run is a ConfigError naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import ConfigError
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import (
    InstanceConfig,
    parse_config,
    render_config,
)
from ansible_collections.onekit.cloud.plugins.module_utils.ha.host_error import Options

WHERE = Path("/srv/onekit/etc/oned.conf")

GUIDE_HOST_HOOK = """
HOST_HOOK = [
    name      = "error",
    on        = "ERROR",
    command   = "ft/host_error",
    arguments = "$HID -r",
    remote    = "no" ]
"""
SAMPLE_HOST_HOOK = """
HOST_HOOK = [
    name      = "error",
    on        = "ERROR",
    command   = "ft/host_error.rb",
    arguments = "$ID -m -p 5",
    remote    = "no" ]
"""
GUIDE_VM_HOOK = """
VM_HOOK = [
   name      = "on_failure_recreate",
   on        = "FAILED",
   command   = "onevm",
   arguments = "delete --recreate $ID" ]
"""
SAMPLE_VM_HOOKS = {  # oned.conf 4.x's two samples, and the same split otherwise, and 5.0's
    'command = "/usr/bin/env onevm delete --recreate", arguments = "$ID"': "recreate",
    'command = "/usr/bin/env onevm delete", arguments = "$ID"': "delete",
    'command = "onevm", arguments = "delete $ID"': "delete",
    'command = "onevm delete", arguments = "$ID --recreate"': "recreate",
    'command = "onevm", arguments = "recover --recreate $ID"': "recreate",
    'command = "onevm", arguments = "recover --delete $ID"': "delete",
    'command = "onevm delete --recreate $ID"': "recreate",
}


def test_no_hooks_by_default():
    config = parse_config("", WHERE)
    assert (config.host_hooks, config.vm_hooks) == ((), ())


def test_the_guides_host_hook():
    (hook,) = parse_config(GUIDE_HOST_HOOK, WHERE).host_hooks
    assert (hook.name, hook.on, hook.command, hook.remote) == (
        "error",
        "ERROR",
        "ft/host_error",
        "no",
    )
    assert hook.options == Options("recreate")


def test_the_410_sample_host_hook():
    (hook,) = parse_config(SAMPLE_HOST_HOOK, WHERE).host_hooks
    assert hook.options == Options("migrate", pause=5)


def test_the_guides_vm_hook():
    (hook,) = parse_config(GUIDE_VM_HOOK, WHERE).vm_hooks
    assert (hook.name, hook.on, hook.mode, hook.action) == (
        "on_failure_recreate",
        "FAILED",
        "recreate",
        "delete-recreate",
    )


@pytest.mark.parametrize(("fields", "mode"), SAMPLE_VM_HOOKS.items())
def test_vm_hook_command_and_arguments_split_either_way(fields, mode):
    (hook,) = parse_config(f'VM_HOOK = [ name = "f", on = "FAILED", {fields} ]', WHERE).vm_hooks
    assert hook.mode == mode


def test_lower_case_on_and_no_name_and_no_remote():
    text = 'HOST_HOOK = [ on = "error", command = "host_error.rb", arguments = "$HID -d" ]'
    (hook,) = parse_config(text, WHERE).host_hooks
    assert (hook.name, hook.on, hook.options.mode) == ("", "ERROR", "delete")


def hook(key: str, **fields: str) -> str:
    return f"{key} = [ " + ", ".join(f'{k} = "{v}"' for k, v in fields.items()) + " ]\n"


HOST = {"name": "error", "on": "ERROR", "command": "ft/host_error", "arguments": "$HID -r"}
VM = {"name": "rec", "on": "FAILED", "command": "onevm", "arguments": "delete --recreate $ID"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('HOST_HOOK = "ft/host_error"', "HOST_HOOK must be a vector"),
        (hook("HOST_HOOK", **{**HOST, "on": "CREATE"}), "HOST_HOOK \"error\": ON = 'CREATE'"),
        (hook("HOST_HOOK", **{**HOST, "command": "ft/fence.sh"}), 'HOST_HOOK "error": COMMAND'),
        (hook("HOST_HOOK", **{**HOST, "arguments": "$HID -r -z"}), "ARGUMENTS: unknown option -z"),
        (hook("HOST_HOOK", **{**HOST, "arguments": "$HID -p x"}), "ARGUMENTS: -p needs a cycle"),
        (hook("HOST_HOOK", **{**HOST, "arguments": "-r"}), "ARGUMENTS: the arguments must name"),
        (hook("HOST_HOOK", **{**HOST, "remote": "yes"}), 'REMOTE = "yes" cannot run'),
        (hook("HOST_HOOK", **{**HOST, "remote": "maybe"}), 'REMOTE must be "no" or "yes"'),
        (hook("HOST_HOOK", name="x", on="ERROR", arguments="$HID"), 'HOST_HOOK "x" has no COMMAND'),
        (hook("HOST_HOOK", on="ERROR", command="ft/host_error"), "HOST_HOOK #1 has no ARGUMENTS"),
        (hook("HOST_HOOK", **HOST) + hook("HOST_HOOK", **{**HOST, "name": "two"}), "given 2 times"),
        (hook("VM_HOOK", **{**VM, "on": "RUNNING"}), "VM_HOOK \"rec\": ON = 'RUNNING'"),
        (hook("VM_HOOK", **{**VM, "arguments": "delete --recreate"}), "named once, as $ID"),
        (hook("VM_HOOK", **{**VM, "arguments": "shutdown $ID"}), "onekit runs onevm delete"),
        (hook("VM_HOOK", **{**VM, "arguments": "delete --force $ID"}), "onekit runs onevm delete"),
        (hook("VM_HOOK", **{**VM, "command": "/bin/rm"}), 'VM_HOOK "rec": COMMAND and ARGUMENTS'),
        (hook("VM_HOOK", **VM) + hook("VM_HOOK", **{**VM, "name": "del"}), "VM_HOOK is given 2"),
        (hook("VM_HOOK", **{**VM, "remote": "yes"}), 'VM_HOOK "rec": REMOTE = "yes"'),
    ],
)
def test_hooks_onekit_cannot_run_are_config_errors(text, message):
    with pytest.raises(ConfigError, match=re.escape(f"{WHERE}: ") + ".*" + re.escape(message)):
        parse_config(text, WHERE)


@pytest.mark.parametrize(
    "text", ["", GUIDE_HOST_HOOK + GUIDE_VM_HOOK, SAMPLE_HOST_HOOK, GUIDE_VM_HOOK]
)
def test_hooks_render_and_parse_back(text):
    config = parse_config(text, WHERE)
    assert parse_config(render_config(config), WHERE) == config


def test_init_writes_the_guides_hooks_commented_out():
    text = render_config(InstanceConfig())
    assert '# HOST_HOOK = [ name = "error", on = "ERROR", command = "ft/host_error",' in text
    assert '# VM_HOOK = [ name = "on_failure_recreate", on = "FAILED", command = "onevm",' in text
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(("# HOST_HOOK", "# VM_HOOK"))]
    uncommented = "\n".join(lines[i][2:] + "\n" + lines[i + 1][2:] for i in starts)
    config = parse_config(uncommented, WHERE)
    assert config.host_hooks[0].options == Options("recreate")
    assert config.vm_hooks[0].mode == "recreate"

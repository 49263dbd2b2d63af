"""oned.conf's driver sections, as the guide and oned.conf's samples write them::

    VM_MAD = [
        name       = "kvm",
        executable = "one_vmm_exec",
        arguments  = "-t 15 -r 0 kvm",
        default    = "vmm_exec/vmm_exec_kvm.conf",
        type       = "kvm" ]

    IM_MAD = [
        name       = "kvm",
        executable = "one_im_ssh",
        arguments  = "-r 3 -t 15 kvm" ]

A section is keyed by its ``name``, the value a host's VM_MAD or IM_MAD holds (kvm, qemu,
ec2). Of its arguments onekit uses two (the guide's 3.2.4 and 5.2.3):

    -t N   threads: how many actions the driver runs at once; more wait their turn
           (default 15)
    -w S   how long one call to a host may take, in seconds, before it is given up and
           the host is taken as unreachable (OpenNebula's "timeout to execute external
           commands"; onekit's default 15 s, never unlimited: a hung host must not hold
           a call for ever)

``-r N`` (retries), ``-c`` (the EC2 IM_MAD's), ``-l actions``, ``-s shell``, ``-p``
(VM_MAD: actions of one host in parallel, which libvirt always allows; collectd's
IM_MAD: its port), ``-i``/``-f`` (collectd's push cycle and flush) and the hypervisor
word are accepted as written and not used. An unknown flag, or a number out of range,
is a ConfigError naming the section and the fix. No section for a driver: the defaults.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import template
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import ConfigError

DEFAULT_THREADS = 15
MAX_THREADS = 256
DEFAULT_TIMEOUT = 15
MAX_TIMEOUT = 3600
KINDS = ("VM_MAD", "IM_MAD")
# oned's driver flags: those that take a value (``-t 15``, ``-t15``), and those alone
_VALUED = ("-t", "-w", "-r", "-l", "-s", "-i", "-f", "-d")
_ALONE = ("-h", "-c")  # -c: the EC2 IM_MAD's (the guide writes "-c -t 1 -r 0 ec2")
_EITHER = ("-p",)  # alone in VM_MAD (parallel), a port in collectd's IM_MAD


@dataclass(frozen=True)
class MadConfig:
    """One VM_MAD or IM_MAD section."""

    name: str
    executable: str = ""
    arguments: str = ""
    threads: int = DEFAULT_THREADS
    timeout: int = DEFAULT_TIMEOUT


def _number(label: str, flag: str, value: str | None, low: int, high: int, what: str) -> int:
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit() and low <= int(text) <= high):
        raise ConfigError(
            f"{label}: {flag} takes {what}, a whole number from {low} to {high}, got "
            f'{"nothing" if value is None else repr(value)}; e.g. arguments = "{flag} 15 ..."'
        )
    return int(text)


def parse_arguments(text: str, label: str) -> tuple[int, int]:
    """``arguments`` -> (threads, timeout); ConfigError names ``label`` and the flag."""
    try:
        words = shlex.split(text)
    except ValueError as err:
        raise ConfigError(f"{label}: cannot split arguments {text!r}: {err}") from None
    found: dict[str, str | None] = {}
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not word.startswith("-"):
            continue  # the hypervisor (kvm, xen...): one driver serves it here
        flag, inline = word[:2], word[2:] or None
        if flag not in _VALUED + _ALONE + _EITHER:
            raise ConfigError(
                f"{label}: unknown driver flag {word!r} in arguments {text!r}; onekit reads "
                "-t (threads) and -w (timeout, s) and accepts -r -l -s -p -i -f -d -h -c"
            )
        value = inline
        takes = flag in _VALUED or (flag in _EITHER and i < len(words) and words[i].isdigit())
        if takes and value is None and i < len(words):
            value, i = words[i], i + 1
        found[flag] = value
    threads = timeout = None
    if "-t" in found:
        threads = _number(label, "-t", found["-t"], 1, MAX_THREADS, "the number of threads")
    if "-w" in found:
        timeout = _number(label, "-w", found["-w"], 1, MAX_TIMEOUT, "a timeout in seconds")
    return threads or DEFAULT_THREADS, timeout or DEFAULT_TIMEOUT


def _section(kind: str, index: int, section: Any, where: Path) -> MadConfig:
    if not isinstance(section, dict):
        raise ConfigError(
            f'{where}: {kind} must be a vector, {kind} = [ name = "kvm", executable = '
            '"one_vmm_exec", arguments = "-t 15 -r 0 kvm" ]'
        )
    values = {}
    for key in ("NAME", "EXECUTABLE", "ARGUMENTS"):
        value = section.get(key, "")
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {kind} #{index + 1}: {key} must be a single value")
        values[key] = value.strip()
    if not values["NAME"]:
        raise ConfigError(
            f'{where}: {kind} #{index + 1} has no name; give the driver\'s, like name = "kvm"'
        )
    label = f'{where}: {kind} "{values["NAME"]}"'
    threads, timeout = parse_arguments(values["ARGUMENTS"], label)
    return MadConfig(values["NAME"], values["EXECUTABLE"], values["ARGUMENTS"], threads, timeout)


def parse_mads(tpl: dict, kind: str, where: Path) -> dict[str, MadConfig]:
    """oned.conf's ``kind`` sections (VM_MAD or IM_MAD), by driver name; a name given
    twice is a ConfigError (which one would hold?)."""
    found = tpl.get(kind)
    sections = found if isinstance(found, list) else [] if found is None else [found]
    mads: dict[str, MadConfig] = {}
    for index, section in enumerate(sections):
        mad = _section(kind, index, section, where)
        if mad.name in mads:
            raise ConfigError(f'{where}: {kind} "{mad.name}" is given twice; keep one')
        mads[mad.name] = mad
    return mads


def render_mads(kind: str, mads: dict[str, MadConfig]) -> str:
    """The sections as oned.conf text that parses back to them."""
    return "".join(
        template.dumps(
            {kind: {"NAME": m.name, "EXECUTABLE": m.executable, "ARGUMENTS": m.arguments}}
        )
        for m in mads.values()
    )

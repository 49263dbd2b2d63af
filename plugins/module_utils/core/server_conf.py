"""The YAML files of OpenNebula's Ruby servers (``oneflow-server.conf``,
``onegate-server.conf``): flat ``:key: value`` lines, read the same way for each.

The guide prints its default files with some ``#`` lost (lines listing placeholders, log
levels, auth drivers). Those indented lines are read as the comments they are, so each
file loads exactly as the guide shows it. A value is checked as it is read; a bad one is
a ConfigError naming the file, the line and the fix. Keys a server does not know are
ignored, as the Ruby servers ignore them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import ConfigError

T = TypeVar("T")
_LINE = re.compile(r"^:?([A-Za-z_][A-Za-z0-9_]*):(?:\s+(.*))?$")


def read(
    text: str, source: str, known: set[str], check: Callable[[str, Any, str], Any]
) -> dict[str, Any]:
    """The known keys' values, each passed through ``check(key, value, where)``."""
    values: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped in ("---", "```"):
            continue
        match = _LINE.match(line)
        if match is None:
            if line[:1].isspace():  # a comment whose '#' the guide's print lost
                continue
            raise ConfigError(
                f"{source}, line {number}: expected ':key: value', got {stripped[:40]!r}"
            )
        key, raw = match.group(1), (match.group(2) or "").split(" #")[0].strip()
        if key not in known:
            continue
        try:
            value = yaml.safe_load(raw) if raw else None
        except yaml.YAMLError:
            raise ConfigError(
                f"{source}, line {number}: cannot read the value of :{key}:"
            ) from None
        values[key] = check(key, value, f"{source}, line {number}")
    return values


def check_common(key: str, value: Any, where: str, integers: dict[str, int]) -> Any:
    """Integers with their lowest value (``port`` up to 65535, ``debug_level`` up to 3),
    else a non-empty string."""
    if key in integers:
        low = integers[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{where}: :{key}: must be an integer of at least {low}")
        if key == "port" and value > 65535:
            raise ConfigError(f"{where}: :port: must be 1 to 65535")
        if key == "debug_level" and value > 3:
            raise ConfigError(f"{where}: :debug_level: must be 0 (ERROR) to 3 (DEBUG)")
        return value
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: :{key}: must be a non-empty string")
    return value


def load(path: Path, parse: Callable[[str, str], T], default: T) -> T:
    """The file's settings; ``default`` when it does not exist."""
    if not path.exists():
        return default
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {path}: {err}") from err
    return parse(text, str(path))

"""The YAML files of OpenNebula's Ruby servers.

``oneflow-server.conf`` and ``onegate-server.conf`` are flat ``:key: value`` lines
(``read``). The cloud servers' files (``econe.conf``, ``occi-server.conf``) are YAML with
nested maps (``yaml_settings``), and each describes one HTTP endpoint (``Endpoint``: its
``:host:``, ``:port:`` and the ``:ssl_server:`` a TLS proxy serves it on).

The guide prints its default files with some ``#`` lost (lines listing placeholders, log
levels, auth drivers). Those indented lines are read as the comments they are, so each
file loads exactly as the guide shows it. A value is checked as it is read; a bad one is
a ConfigError naming the file, the line and the fix. Keys a server does not know are
ignored, as the Ruby servers ignore them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

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


# ---- the cloud servers' files (econe.conf, occi-server.conf) --------------------------------
def yaml_settings(text: str, source: str) -> dict[str, Any]:
    """The file's top-level settings by name (``:port:`` is ``port``); a file that is not
    YAML is a ConfigError naming its line."""
    try:
        raw = yaml.safe_load(_as_printed(text)) if text.strip() else {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"{source}{line}: not YAML (the file keeps YAML syntax: ':key: value' lines, "
            "comments start with #)"
        ) from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected ':key: value' lines")
    return {symbol_name(k): v for k, v in raw.items()}


def _as_printed(text: str) -> str:
    """The file with what the guide's print did to it undone, line for line (so a YAML
    error still names the right line): a comment whose ``#`` was lost (an indented line
    that is no ``:key:`` or list item, as ``read`` takes it) or printed ``\\#``, and the
    Markdown fences around it, become blank lines."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        lost_hash = line[:1].isspace() and stripped[:1] not in ("", ":", "-", "#")
        if lost_hash or stripped.startswith("\\#") or stripped == "```":
            line = ""
        lines.append(line)
    return "\n".join(lines)


def symbol_name(key: Any) -> str:
    """A key as the Ruby servers write it (``:port``) without its colon."""
    return str(key).lstrip(":")


def integer(where: str, key: str, value: Any, low: int, high: int = 2**31 - 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{where}: :{key}: must be an integer from {low} to {high}")
    return value


def proxy_url(where: str, value: Any) -> str:
    """``:ssl_server:``: the URL a TLS proxy serves the API on."""
    url = str(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{where}: :ssl_server: must be the TLS proxy's URL, like https://cloud.example:8443/"
        )
    return url


def endpoint_settings(values: dict[str, Any], where: str) -> dict[str, Any]:
    """``:host:``, ``:port:`` and ``:ssl_server:`` of a cloud server's file, checked."""
    out: dict[str, Any] = {}
    if values.get("host") is not None:
        out["host"] = str(values["host"])
    if values.get("port") is not None:
        out["port"] = integer(where, "port", values["port"], 1, 65535)
    if values.get("ssl_server"):
        out["ssl_server"] = proxy_url(where, values["ssl_server"])
    return out


@dataclass(frozen=True)
class Endpoint:
    """Where a cloud server listens (``:host:``/``:port:``, the guide's 4567 for both
    econe and OCCI) and the public URL of the TLS proxy in front of it, if any."""

    host: str = "127.0.0.1"
    port: int = 4567
    ssl_server: str | None = None

    @property
    def url(self) -> str:
        """Where the server answers on this machine (its /health too)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "localhost") else self.host
        return f"http://{host}:{self.port}"

    @property
    def listen_host(self) -> str:
        return "127.0.0.1" if self.host == "localhost" else self.host

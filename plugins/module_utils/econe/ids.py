"""AWS ids of onekit objects: ``<prefix>-<id padded to 8 digits>`` as econe writes them
(VM 15 is ``i-00000015``, image 1 ``ami-00000001``); any number of digits is read back
(``i-15``, the guide's older form), by its value, never by position (4.6 read
``ami-00000001`` as image 0)."""

from __future__ import annotations

import re
import time

from ansible_collections.onekit.cloud.plugins.module_utils.econe.errors import Ec2Error

_ID = re.compile(r"^([a-z]+)-([0-9]{1,10})$")
MAX_ID = 2**31 - 1


def format_id(prefix: str, number: int) -> str:
    return f"{prefix}-{number:08d}"


def parse_id(prefix: str, text: str, code: str) -> int:
    """The number of ``prefix-N``; anything else is ``<code>.Malformed``."""
    match = _ID.match(text or "")
    if match is None or match.group(1) != prefix or int(match.group(2)) > MAX_ID:
        raise Ec2Error(
            f"{code}.Malformed",
            f"Invalid id: {str(text)[:64]!r} "
            f"(expecting {prefix}-<digits>, e.g. {format_id(prefix, 1)})",
        )
    return int(match.group(2))


def kind_of(text: str) -> str | None:
    """The prefix of an id (``i``, ``ami``, ``vol``...), or None for something else."""
    match = _ID.match(text or "")
    return match.group(1) if match else None


def iso_time(epoch: float | int | str | None) -> str | None:
    """An epoch time as EC2 writes times (ISO 8601, UTC, milliseconds)."""
    try:
        seconds = float(epoch)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if seconds <= 0:
        return None
    millis = round((seconds % 1) * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"

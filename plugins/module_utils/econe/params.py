"""A request's parameters as the EC2 Query protocol sends them: flat ``Name=value`` pairs,
lists as ``Name.1``, ``Name.2``... (1-based), structures as ``Name.N.Field``
(``Filter.1.Name``, ``Filter.1.Value.1``, ``Tag.1.Key``)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ansible_collections.onekit.cloud.plugins.module_utils.econe.errors import (
    Ec2Error,
    invalid,
    missing,
)

MAX_ITEMS = 1000  # of one list parameter: more is refused, not truncated
_INDEXED = re.compile(r"^([1-9][0-9]{0,5})(?:\.(.*))?$")


class Params:
    def __init__(self, values: Mapping[str, str]):
        self._values = dict(values)

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._values.get(name, default)

    def required(self, name: str) -> str:
        value = self._values.get(name)
        if value is None or value == "":
            raise missing(name)
        return value

    def int(self, name: str, default: int | None, low: int, high: int) -> int | None:
        raw = self._values.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise invalid(name, raw, "It must be an integer.") from None
        if not low <= value <= high:
            raise invalid(name, raw, f"It must be from {low} to {high}.")
        return value

    def bool(self, name: str, default: bool = False) -> bool:
        raw = self._values.get(name)
        if raw is None or raw == "":
            return default
        if raw.lower() not in ("true", "false"):
            raise invalid(name, raw, "It must be true or false.")
        return raw.lower() == "true"

    def _indexed(self, prefix: str) -> dict[int, dict[str, str]]:
        """``prefix.N[.rest]`` -> {N: {rest or "": value}}."""
        found: dict[int, dict[str, str]] = {}
        head = prefix + "."
        for key, value in self._values.items():
            if not key.startswith(head):
                continue
            match = _INDEXED.match(key[len(head) :])
            if match is None:
                raise invalid(key, value, f"Use {prefix}.1, {prefix}.2, ...")
            found.setdefault(int(match.group(1)), {})[match.group(2) or ""] = value
        if len(found) > MAX_ITEMS:
            raise invalid(prefix, len(found), f"At most {MAX_ITEMS} items may be given.")
        return dict(sorted(found.items()))

    def list(self, name: str) -> list[str]:
        """``Name.1``, ``Name.2``... in their order (gaps allowed, as AWS allows them)."""
        return [fields[""] for fields in self._indexed(name).values() if "" in fields]

    def filters(self) -> dict[str, list[str]]:
        """``Filter.N.Name`` with its ``Filter.N.Value.M`` values."""
        result: dict[str, list[str]] = {}
        for index, fields in self._indexed("Filter").items():
            name = fields.get("Name")
            if not name:
                raise missing(f"Filter.{index}.Name")
            values = [
                v for k, v in sorted(fields.items(), key=_value_order) if k.startswith("Value.")
            ]
            if not values:
                raise missing(f"Filter.{index}.Value.1")
            result.setdefault(name, []).extend(values)
        return result

    def tags(self, prefix: str = "Tag") -> list[tuple[str, str | None]]:
        """``Tag.N.Key`` / ``Tag.N.Value`` pairs (a Value may be absent: None)."""
        pairs = []
        for index, fields in self._indexed(prefix).items():
            if "Key" not in fields:
                raise missing(f"{prefix}.{index}.Key")
            pairs.append((fields["Key"], fields.get("Value")))
        return pairs

    def reject_combination(self, *names: str) -> None:
        given = [n for n in names if any(k == n or k.startswith(n + ".") for k in self._values)]
        if len(given) > 1:
            raise Ec2Error(
                "InvalidParameterCombination",
                f"The parameters {' and '.join(given)} cannot be used together",
            )


def _value_order(item: tuple[str, str]) -> tuple[int, str]:
    key = item[0]
    if key.startswith("Value."):
        tail = key[len("Value.") :]
        if tail.isdigit():
            return (int(tail), "")
    return (0, key)

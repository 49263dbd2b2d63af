"""Describe* filters with AWS's semantics: every filter given must match (AND), any of its
values (OR); ``*`` and ``?`` are wildcards and ``\\`` escapes them. ``tag:<Key>`` filters
on a tag's value, ``tag-key`` on the keys. A filter name the action does not know is
refused (AWS answers InvalidParameterValue), never silently ignored (4.6 ignored them
all)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping

from ansible_collections.onekit.cloud.plugins.module_utils.econe.errors import invalid

Values = Mapping[str, Iterable[str]]


@functools.lru_cache(maxsize=512)
def _pattern(value: str) -> re.Pattern[str]:
    out, escaped = [], False
    for char in value:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append(re.escape(char))
    if escaped:
        out.append(re.escape("\\"))
    return re.compile("".join(out), re.DOTALL)


def check_names(filters: Mapping[str, list[str]], known: Iterable[str]) -> None:
    """Refuse a filter name not in ``known`` (``tag:`` in known allows any ``tag:<K>``)."""
    names = set(known)
    for name in filters:
        if name in names or (name.startswith("tag:") and "tag:" in names and len(name) > 4):
            continue
        raise invalid("Filter.Name", name, f"Known filters: {', '.join(sorted(names))}.")


def matches(filters: Mapping[str, list[str]], values: Values) -> bool:
    """Whether an object with these attribute values passes every filter."""
    for name, wanted in filters.items():
        have = list(values.get(name, ()))
        if not any(_pattern(w).fullmatch(h) for w in wanted for h in have):
            return False
    return True


def tag_values(tags: Mapping[str, str]) -> dict[str, list[str]]:
    """The ``tag:<K>`` and ``tag-key`` filter values of an object's tags."""
    result: dict[str, list[str]] = {f"tag:{k}": [v] for k, v in tags.items()}
    result["tag-key"] = list(tags)
    return result

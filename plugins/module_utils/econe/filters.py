"""Describe* filters with AWS's semantics: every filter given must match (AND), any of its
values (OR); ``*`` and ``?`` are wildcards and ``\\`` escapes them. ``tag:<Key>`` filters
on a tag's value, ``tag-key`` on the keys. A filter name the action does not know is
refused (AWS answers InvalidParameterValue), never silently ignored (4.6 ignored them
all)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

from ansible_collections.onekit.cloud.plugins.module_utils.econe.errors import invalid

Values = Mapping[str, Iterable[str]]


MAX_VALUE = 255  # characters of one filter value (AWS's limit)
_STAR, _ONE = object(), object()


@functools.lru_cache(maxsize=512)
def _tokens(value: str) -> tuple[object, ...]:
    """A filter value as literal characters, ``_ONE`` (``?``) and ``_STAR`` (``*``);
    ``\\`` makes the next character literal."""
    out: list[object] = []
    escaped = False
    for char in value:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            if not out or out[-1] is not _STAR:  # "**" is "*"
                out.append(_STAR)
        elif char == "?":
            out.append(_ONE)
        else:
            out.append(char)
    if escaped:
        out.append("\\")
    return tuple(out)


def _glob(pattern: tuple[object, ...], text: str) -> bool:
    """Wildcard matching in O(len(pattern) x len(text)) at worst, never exponential (a
    regular expression of many ``.*`` backtracks for ever on a near miss, holding the
    interpreter's lock): on a mismatch, only the last star is tried one character
    further."""
    p = t = 0
    star, mark = -1, 0
    while t < len(text):
        if p < len(pattern) and (pattern[p] is _ONE or pattern[p] == text[t]):
            p, t = p + 1, t + 1
        elif p < len(pattern) and pattern[p] is _STAR:
            star, mark = p, t
            p += 1
        elif star >= 0:
            mark += 1
            p, t = star + 1, mark
        else:
            return False
    while p < len(pattern) and pattern[p] is _STAR:
        p += 1
    return p == len(pattern)


def check_names(filters: Mapping[str, list[str]], known: Iterable[str]) -> None:
    """Refuse a filter name not in ``known`` (``tag:`` in known allows any ``tag:<K>``),
    and a value longer than AWS allows."""
    names = set(known)
    for name, values in filters.items():
        for value in values:
            if len(value) > MAX_VALUE:
                raise invalid(f"Filter {name[:40]}", value, f"At most {MAX_VALUE} characters.")
        if name in names or (name.startswith("tag:") and "tag:" in names and len(name) > 4):
            continue
        raise invalid("Filter.Name", name, f"Known filters: {', '.join(sorted(names))}.")


def matches(filters: Mapping[str, list[str]], values: Values) -> bool:
    """Whether an object with these attribute values passes every filter."""
    for name, wanted in filters.items():
        have = list(values.get(name, ()))
        if not any(_glob(_tokens(w), h) for w in wanted for h in have):
            return False
    return True


def tag_values(tags: Mapping[str, str]) -> dict[str, list[str]]:
    """The ``tag:<K>`` and ``tag-key`` filter values of an object's tags."""
    result: dict[str, list[str]] = {f"tag:{k}": [v] for k, v in tags.items()}
    result["tag-key"] = list(tags)
    return result

"""JSON from users: documents (comments allowed, as the guide writes its examples) and
request bodies, read so that no input can crash the reader.

Python's own reader recurses once per nesting level (``"[" * 100000`` raises
RecursionError), accepts ``NaN`` and ``Infinity``, makes ``1e999`` infinite and refuses
integers of more than 4300 digits with a bare ValueError. ``parse_json`` refuses all of
these as ``InvalidInput`` naming the line and column, before or instead of crashing.

It also refuses a string holding half of a UTF-16 surrogate pair (``"\\ud800"``): JSON
lets one be escaped, but it is no character, and the store, the password hash and every
UTF-8 encoder choke on it wherever it ends up; refused where it comes in, it is named by
its place in the document (``args[1]``, ``roles[0].description``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput

MAX_DEPTH = 64  # nested arrays and objects; a service template needs about six
_SURROGATE = re.compile("[\ud800-\udfff]")


def strip_comments(text: str) -> str:
    """JSON with ``//`` and ``/* */`` comments made plain JSON; text inside strings is
    left alone."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise InvalidInput("the document has a /* comment that is never closed")
            out.append(" " + "\n" * text.count("\n", i, end))  # line numbers stay true
            i = end + 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _position(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    return f"line {line}, column {index - text.rfind(chr(10), 0, index)}"


def check_depth(text: str, what: str, limit: int = MAX_DEPTH) -> None:
    """Refuse arrays and objects nested deeper than ``limit`` (strings are skipped)."""
    depth, i, n = 0, 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif ch in "[{":
            depth += 1
            if depth > limit:
                raise InvalidInput(
                    f"{what} nests arrays and objects more than {limit} deep "
                    f"(at {_position(text, i)})"
                )
        elif ch in "]}":
            depth -= 1
        i += 1


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a number")
    return value


def check_characters(value: Any, what: str = "the document") -> None:
    """Every string (and object key) in a parsed JSON ``value`` is text: InvalidInput
    names the first that holds a lone UTF-16 surrogate, by its path."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            found = _SURROGATE.search(item)
            if found:
                where = f"{path} holds" if path else "holds"
                raise InvalidInput(
                    f"{what}: {where} {ascii(found.group())[1:-1]}, half of a UTF-16 "
                    "surrogate pair, which is not a character"
                )
        elif isinstance(item, list):
            stack.extend((v, f"{path}[{i}]") for i, v in reversed(list(enumerate(item))))
        elif isinstance(item, dict):
            for key, v in reversed(list(item.items())):
                name = ascii(key)[1:-1] if _SURROGATE.search(key) else key
                here = f"{path}.{name}" if path else name
                stack.append((v, here))
                stack.append((key, f"the key {here}"))


def parse_json(text: str | bytes, what: str = "the document", comments: bool = True) -> Any:
    """Parse JSON (with comments unless ``comments`` is False); every error is
    InvalidInput naming ``what`` and, for a syntax error, the line and column."""
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError:
            raise InvalidInput(f"{what} is not UTF-8 text") from None
    plain = strip_comments(text) if comments else text
    check_depth(plain, what)
    try:
        value = json.loads(plain, parse_constant=_no_constant, parse_float=_finite)
    except json.JSONDecodeError as err:
        raise InvalidInput(
            f"{what} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
        ) from None
    except (ValueError, RecursionError) as err:  # a number out of range, NaN, Infinity
        reason = str(err).split(";")[0][:120]
        raise InvalidInput(f"{what} is not valid JSON: {reason}") from None
    if "\\u" in plain or _SURROGATE.search(plain):  # else no string can hold one
        check_characters(value, what)
    return value

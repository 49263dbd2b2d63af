"""Arguments that arrive as JSON, checked against the annotations of the function they
are for, before it runs: ``users.create(5)`` is refused as "argument name must be a
string, got a number", never a TypeError deep inside the call.

The annotations are the declared signature: ``int`` (not a boolean, 64-bit), ``float``
(finite; integers too), ``str``, ``bool``, ``None``, unions, ``list[X]`` and other
sequences, ``tuple[X, Y]`` (a list of that length), ``dict[str, X]`` and other mappings,
``Literal[...]``, ``Any``, and classes (taken as they are: a pool decoded by ``remote``).
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import math
import types
import typing
from collections.abc import Callable
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput

INT_RANGE = range(-(2**63), 2**63)  # what the store's integer columns hold

_SEQUENCES = (list, tuple, collections.abc.Sequence, collections.abc.Iterable)
_MAPPINGS = (dict, collections.abc.Mapping)


@functools.cache
def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    return typing.get_type_hints(fn)


def matches(value: Any, expected: Any) -> bool:
    """Does a JSON value fit the annotation ``expected``?"""
    if expected is Any or expected is object:
        return True
    if expected is None or expected is type(None):
        return value is None
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, arg) for arg in args)
    if origin is typing.Literal:
        return any(value == arg and type(value) is type(arg) for arg in args)
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool) and value in INT_RANGE
    if expected is float:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return number and math.isfinite(value) and abs(value) < 2**63
    if expected is str:
        return isinstance(value, str)
    if origin is tuple or expected is tuple:
        if not isinstance(value, (list, tuple)):
            return False
        if args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(matches, value, args))
        return all(matches(v, args[0]) for v in value) if args else True
    if origin in _SEQUENCES or expected in _SEQUENCES:
        if not isinstance(value, (list, tuple)):
            return False
        return all(matches(v, args[0]) for v in value) if args else True
    if origin in _MAPPINGS or expected in _MAPPINGS:
        if not isinstance(value, dict):
            return False
        key, item = args if args else (Any, Any)
        return all(matches(k, key) and matches(v, item) for k, v in value.items())
    if isinstance(expected, type):
        return isinstance(value, expected)
    return False


def describe(expected: Any) -> str:
    """``int | str`` -> "an integer or a string"."""
    if expected is Any or expected is object:
        return "anything"
    if expected is None or expected is type(None):
        return "null"
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(arg) for arg in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    simple = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if expected in simple:
        return simple[expected]
    if origin is tuple and args and args[-1] is not Ellipsis:
        return f"a list of {len(args)}: " + ", ".join(describe(arg) for arg in args)
    if origin in (*_SEQUENCES, tuple) or expected in (*_SEQUENCES, tuple):
        return f"a list of {_plural(args[0])}" if args else "a list"
    if origin in _MAPPINGS or expected in _MAPPINGS:
        return "an object"
    return getattr(expected, "__name__", str(expected))


def _plural(expected: Any) -> str:
    text = describe(expected)
    for article in ("an ", "a "):
        if text.startswith(article):
            return text[len(article) :] + "s"
    return text


def kind(value: Any) -> str:
    """What a JSON value is, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int) and value not in INT_RANGE:
        return "an integer out of range"
    if isinstance(value, float) and not (math.isfinite(value) and abs(value) < 2**63):
        return "a number out of range"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def check_arguments(
    fn: Callable[..., Any], bound: inspect.BoundArguments, what: str, skip: int = 1
) -> None:
    """Every argument of a ``bound`` call of ``fn`` fits its annotation (the first
    ``skip`` parameters, the session, are the server's own); InvalidInput names the
    first that does not."""
    hints = _hints(fn)
    parameters = list(inspect.signature(fn).parameters.values())[skip:]
    for param in parameters:
        if param.name not in bound.arguments:
            continue
        expected = hints.get(param.name, Any)
        value = bound.arguments[param.name]
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            pairs = list(value.items())
        elif param.kind is inspect.Parameter.VAR_POSITIONAL:
            pairs = [(param.name, v) for v in value]
        else:
            pairs = [(param.name, value)]
        for name, item in pairs:
            if not matches(item, expected):
                raise InvalidInput(
                    f"{what}: argument {name} must be {describe(expected)}, got {kind(item)}"
                )

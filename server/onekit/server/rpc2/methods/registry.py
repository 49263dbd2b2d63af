"""The table of ``one.*`` methods: each declares its parameters after the session (oned's
order and defaults), and a function of the caller's session and those parameters. A
parameter of the wrong XML-RPC type or a missing one is an XML_RPC_API error naming it;
an optional one takes oned's default. Parameters after the last one a method reads are
ignored, as oned ignores them (xmlrpc-c keeps a method's signature for introspection
only): clients rely on it, e.g. community.general's one_vm calls one.templatepool.info
with a fourth parameter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from onekit.server.rpc2.wire import Code, RpcError

REQUIRED: Any = object()
# XML-RPC's <int>/<i4> is 32-bit signed (oned's xmlrpc-c refuses any other); the standard
# library's reader takes <int> and <i8> of any size, which the stores cannot hold
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
_KINDS = {int: "an int", str: "a string", bool: "a boolean"}


@dataclass(frozen=True)
class Param:
    name: str
    kind: type
    default: Any = REQUIRED

    def read(self, position: int, value: Any) -> Any:
        ok = type(value) is self.kind or (self.kind is bool and type(value) is int)
        if not ok:
            raise RpcError(
                Code.XML_RPC_API,
                f"parameter {position} ({self.name}) must be {_KINDS[self.kind]}, "
                f"got {type(value).__name__}",
            )
        if self.kind is int and not INT_MIN <= value <= INT_MAX:
            raise RpcError(
                Code.XML_RPC_API,
                f"parameter {position} ({self.name}) must be a 32-bit int, got {value}",
            )
        return bool(value) if self.kind is bool else value


def Int(name: str, default: Any = REQUIRED) -> Param:
    return Param(name, int, default)


def Str(name: str, default: Any = REQUIRED) -> Param:
    return Param(name, str, default)


def Bool(name: str, default: Any = REQUIRED) -> Param:
    return Param(name, bool, default)


@dataclass(frozen=True)
class Method:
    name: str
    params: tuple[Param, ...]
    run: Callable[..., Any]

    def __call__(self, session: Session, given: tuple[Any, ...]) -> Any:
        values = []
        for position, param in enumerate(self.params, start=1):
            if position <= len(given):
                values.append(param.read(position, given[position - 1]))
            elif param.default is REQUIRED:
                raise RpcError(Code.XML_RPC_API, f"parameter {position} ({param.name}) is missing")
            else:
                values.append(param.default)
        return self.run(session, *values)


METHODS: dict[str, Method] = {}


def method(name: str, *params: Param) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn(session, *params)`` as the XML-RPC method ``name``."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in METHODS:
            raise AssertionError(f"{name} is registered twice")
        METHODS[name] = Method(name, params, fn)
        return fn

    return register


def pool_filter_params() -> tuple[Param, Param, Param]:
    """filter flag, start, end: how every ``one.<pool>.info`` begins (oned's defaults)."""
    return Int("filter flag", -2), Int("start", -1), Int("end", -1)

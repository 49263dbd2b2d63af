"""XML-RPC as oned speaks it.

A call is ``<methodCall>`` with the session string ``user:password`` as its first
parameter; every answer is one array, ``[True, result, 0]`` or ``[False, message, code]``
with oned's error codes (pyone raises one exception class per code). Only a request that
is no XML-RPC at all gets a ``<fault>``.

The session is checked as soon as the first parameter has been read: the rest of the
body (a template of up to the core API's 1 MiB) is parsed only for an authenticated
caller. The parser (``core.safe_xml``) refuses any DOCTYPE, so no entity is ever
declared, expanded or fetched.
"""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any
from xml.parsers import expat

from ansible_collections.onekit.cloud.plugins.module_utils.core import safe_xml
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthenticationError,
    AuthorizationError,
    Conflict,
    InvalidInput,
    NotAllowed,
    NotFound,
    OneError,
    TooManyRequests,
)


class Code(IntEnum):
    """oned's error codes (``Request::ErrorCode``), the third item of a failed answer."""

    SUCCESS = 0x0000
    AUTHENTICATION = 0x0100
    AUTHORIZATION = 0x0200
    NO_EXISTS = 0x0400
    ACTION = 0x0800
    XML_RPC_API = 0x1000
    INTERNAL = 0x2000
    ALLOCATE = 0x4000
    LOCKED = 0x8000


class RpcError(Exception):
    """A failed call: answered ``[False, message, code]``."""

    def __init__(self, code: Code, message: str):
        super().__init__(message)
        self.code = code


class NotXmlRpc(Exception):
    """The body is no XML-RPC call: answered with a ``<fault>``."""


def code_of(err: OneError) -> Code:
    """The oned code of a core error."""
    if isinstance(err, AuthenticationError):
        return Code.AUTHENTICATION
    if isinstance(err, AuthorizationError | TooManyRequests):
        return Code.AUTHORIZATION
    if isinstance(err, NotFound):
        return Code.NO_EXISTS
    if isinstance(err, NotAllowed | Conflict):
        return Code.ACTION
    if isinstance(err, InvalidInput):
        return Code.ACTION  # oned: a template or value it refuses is an ACTION error
    return Code.INTERNAL


class _Reader(xmlrpc.client.Unmarshaller):
    """The standard library's unmarshaller, logging the caller in as soon as the first
    parameter (the session string) has been read: the parser stops there for a stranger."""

    def __init__(self, login: Callable[[str, str], Any]) -> None:
        super().__init__(use_builtin_types=True)
        self._encoding = None  # expat gives text already: nothing to decode
        self._login = login
        self.caller: Any = None
        self.logged_in = False

    def end(self, tag: str) -> Any:
        done = super().end(tag)
        # the first top-level value, in a <param> or not (the unmarshaller takes a bare
        # <value> as a parameter too): a stranger's other values are never parsed
        if tag in ("value", "param") and not self._marks and not self.logged_in:
            self.caller, self.logged_in = _login(self, self._login), True
        return done


@dataclass(frozen=True)
class Call:
    method: str
    params: tuple[Any, ...]  # without the session string
    session: Any  # what ``login`` returned


def read_call(body: bytes, login: Callable[[str, str], Any]) -> Call:
    """Parse ``body`` and log its caller in with ``login(method, session_string)``
    before the parameters after the session are parsed. Raises ``NotXmlRpc`` for a body
    that is no call and ``RpcError`` (AUTHENTICATION) without a session string."""
    reader = _Reader(login)
    parser = safe_xml.hardened_parser()
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.data
    try:
        parser.Parse(body, True)
        params = reader.close()
    except safe_xml.XmlRefused as err:
        raise NotXmlRpc(str(err)) from None
    except (
        expat.ExpatError, xmlrpc.client.ResponseError, ValueError, TypeError,
        IndexError,  # a <struct> whose <member> lacks its <name> or <value>
        LookupError,  # an encoding the XML declaration names that Python lacks
    ) as err:  # fmt: skip
        raise NotXmlRpc(f"the body is no XML-RPC call: {err}") from None
    method = reader.getmethodname()
    if not isinstance(method, str) or not method:
        raise NotXmlRpc("the body is no XML-RPC call: it names no method")
    if not reader.logged_in:
        reader.caller = _login(reader, login)
    return Call(method, params[1:], reader.caller)


def _login(reader: _Reader, login: Callable[[str, str], Any]) -> Any:
    method = reader.getmethodname() or "?"
    first = reader._stack[0] if reader._stack else None
    if not isinstance(first, str) or ":" not in first:
        raise RpcError(
            Code.AUTHENTICATION,
            f"[{method}] the first parameter must be the session string user:password",
        )
    return login(method, first)


def answer(result: Any) -> bytes:
    """A successful call's answer."""
    return _dumps([True, result, 0])


def failure(method: str, err: RpcError) -> bytes:
    """A failed call's answer, ``[False, "[method] message", code]``."""
    text = str(err)
    message = text if text.startswith("[") else f"[{method}] {text}"
    return _dumps([False, message, int(err.code)])


def fault(message: str) -> bytes:
    """The answer to a body that is no XML-RPC call (the spec's -32700, parse error)."""
    return xmlrpc.client.dumps(
        xmlrpc.client.Fault(-32700, message), methodresponse=True, allow_none=False
    ).encode("utf-8")


def _dumps(value: list[Any]) -> bytes:
    return xmlrpc.client.dumps((value,), methodresponse=True, encoding="utf-8").encode("utf-8")

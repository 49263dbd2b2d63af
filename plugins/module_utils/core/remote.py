"""The client of onekit-server's core API: one operation per call, ``POST
<endpoint>/api/<module>.<function>`` with the positional and keyword arguments as JSON,
under HTTP basic auth. The server runs the same function of ``module_utils`` with the
caller's session (``onekit.server.core_api``) and answers its result, or the error with
its class, which is raised here again: a remote call fails as the local one would.

Used by a federation slave to send writes of the shared tables to the master, and by the
CLIs when the active zone (``onezone set``) is another front-end. Standard library only:
modules on a slave use it.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import types
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import errors, pool
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import AclRule
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import OneError
from ansible_collections.onekit.cloud.plugins.module_utils.core.schema import POOLS, PoolSpec

TIMEOUT = 30.0
_POOLS = {spec.table: spec for spec in POOLS}


class Unreachable(OneError):
    """The other front-end did not answer (down, wrong ENDPOINT, network)."""

    http_status = 503


def dumps(value: Any) -> str:
    """JSON text for arguments or a result: a pool is named by its table; a dataclass (an
    ACL rule, an outcome) becomes an object tagged with its class. The json module walks
    the value itself, calling ``_tagged`` only for those (a page of 2,000 VM bodies is
    about 1 MB: a walk in Python cost a third of a second each way)."""
    return json.dumps(value, default=_tagged, separators=(",", ":"))


def _tagged(value: Any) -> Any:
    if isinstance(value, PoolSpec):
        return {"$pool": value.table}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {"$type": type(value).__name__, **fields}
    raise TypeError(f"{type(value).__name__} is not JSON")


def loads(text: str | bytes) -> Any:
    """What ``dumps`` made, back (a client reading an answer): pools, ACL rules; other
    tagged objects come back as attribute bags (``outcome.error``), which is all a caller
    reads of them."""
    return json.loads(text, object_hook=_untagged)


def _untagged(value: dict[str, Any]) -> Any:
    if set(value) == {"$pool"}:
        return _pool(value["$pool"])
    kind = value.pop("$type", None)
    if kind is None:
        return value
    if kind == "AclRule":
        return AclRule(**value)
    return types.SimpleNamespace(**value)


def decode_arguments(value: Any) -> Any:
    """Arguments a server received: plain JSON and pools named by their table; nothing
    else is rebuilt (a caller must not make objects of its choosing on the server)."""
    if isinstance(value, list):
        return [decode_arguments(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$pool" in value:
        if set(value) != {"$pool"}:
            raise errors.InvalidInput('a pool argument is {"$pool": "<table>"} and nothing else')
        return _pool(value["$pool"])
    if "$type" in value:
        raise errors.InvalidInput("arguments are plain JSON: objects with $type are not taken")
    return {k: decode_arguments(v) for k, v in value.items()}


def _pool(table: Any) -> PoolSpec:
    spec = _POOLS.get(table) if isinstance(table, str) else None
    if spec is None:
        raise errors.InvalidInput(f"unknown pool {table!r}; pools are {', '.join(sorted(_POOLS))}")
    return spec


def _error(status: int, raw: bytes) -> OneError:
    try:
        detail = json.loads(raw)["error"]
        message, kind = detail["message"], detail.get("type", "")
    except (ValueError, KeyError, TypeError):
        message, kind = raw.decode(errors="replace").strip() or f"HTTP {status}", ""
    cls = getattr(errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, OneError)):
        cls = OneError
    try:
        return cls(message)
    except TypeError:  # an error class with more arguments (a template syntax error)
        return errors.InvalidInput(message)


def call(
    endpoint: str,
    credentials: tuple[str, str],
    operation: str,
    args: tuple | list = (),
    kwargs: dict | None = None,
    what: str = "the zone",
) -> Any:
    """Run ``operation`` (``users.create``) at ``endpoint`` as ``credentials``."""
    answer = _post(endpoint, credentials, operation, args, kwargs, what)
    return answer["result"] if answer else None


def pages(
    endpoint: str,
    credentials: tuple[str, str],
    operation: str,
    args: tuple | list = (),
    kwargs: dict | None = None,
    page_size: int | None = None,
    what: str = "the zone",
) -> Iterator[list[Any]]:
    """Every page of a listing (``vms.list_vms``) at ``endpoint``, one request each: the
    first with ``start`` 0, the next where the answer's ``next`` says, until it says
    none (``page_size`` None: one request for everything)."""

    def page_at(start: int) -> tuple[list[Any], int | None]:
        paging = {"start": start, "page_size": page_size}
        answer = _post(endpoint, credentials, operation, args, {**(kwargs or {}), **paging}, what)
        return answer["result"], (answer.get("next") or {}).get("start")

    return pool.follow(page_at, 0)


def _post(
    endpoint: str,
    credentials: tuple[str, str],
    operation: str,
    args: tuple | list,
    kwargs: dict | None,
    what: str,
) -> dict[str, Any]:
    """The core API's answer (``{"result": ..., "next": ...}``, decoded), or {} for an
    empty one."""
    url = f"{endpoint.rstrip('/')}/api/{urllib.parse.quote(operation)}"
    body = dumps({"args": list(args), "kwargs": kwargs or {}}).encode()
    token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            raw = answer.read()
    except urllib.error.HTTPError as err:
        raise _error(err.code, err.read()) from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise Unreachable(f"cannot reach {what} at {endpoint} ({reason})") from None
    return loads(raw) if raw.strip() else {}

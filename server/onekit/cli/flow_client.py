"""The OneFlow REST client the ``oneflow`` and ``oneflow-template`` CLIs share.

Endpoint from ``ONEFLOW_URL``, else the instance's own OneFlow server (``:host:`` and
``:port:`` of ``$ONEKIT_HOME/etc/oneflow-server.conf``), else http://localhost:2474;
credentials from the file named by ``ONE_AUTH`` (else ``$ONEKIT_HOME/one_auth``), as
OpenNebula's CLIs read them.
An error answer becomes the core error of its status, so the CLI prints the server's
message and exits 1. ``rest_pool`` makes the API's documents a ``Pool``, for the standard
commands of both CLIs; its ``list`` pages (ONE_POOL_PAGE_SIZE, as the core's pools),
following the server's ``Link: <...>; rel="next"``.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool as store_pool
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthenticationError,
    AuthorizationError,
    Conflict,
    InvalidInput,
    NotAllowed,
    NotFound,
    OneError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from onekit.cli.common import Context, Ownership, Pool, pool_json_lines

DEFAULT_URL = "http://localhost:2474"
_ERRORS: dict[int, type[OneError]] = {
    400: InvalidInput,
    401: AuthenticationError,
    403: AuthorizationError,
    404: NotFound,
    405: NotAllowed,
    409: Conflict,
    413: InvalidInput,
}


def default_url(instance: Instance) -> str:
    """``ONEFLOW_URL``, else where this instance's OneFlow server listens."""
    if os.environ.get("ONEFLOW_URL"):
        return os.environ["ONEFLOW_URL"]
    if instance.config_path.exists():
        return instance.flow_config().url
    return DEFAULT_URL


class FlowClient:
    def __init__(self, url: str | None = None, credentials: tuple[str, str] | None = None):
        instance = Instance.locate()
        self.url = (url or default_url(instance)).rstrip("/")
        user, password = credentials or instance.credentials()
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._auth = f"Basic {token}"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request; the decoded JSON answer (None for an empty one)."""
        return self._request(method, path, body)[0]

    def pages(self, path: str, page_size: int | None) -> Iterator[list[dict]]:
        """The documents of the pool at ``path``, ``page_size`` a request (None: one
        request), following each answer's ``Link`` to the next page. Only a link to a
        path of this server is followed: the credentials go nowhere else."""

        def page_at(target: str) -> tuple[list[dict], str | None]:
            answer, link = self._request("GET", target)
            return documents(answer), _next_link(link, self.url)

        first = path if page_size is None else f"{path}?page_size={page_size}"
        return store_pool.follow(page_at, first)

    def _request(self, method: str, path: str, body: Any = None) -> tuple[Any, str]:
        """The decoded JSON answer (None for an empty one) and its ``Link`` header."""
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": self._auth, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                raw, link = answer.read(), answer.headers.get("Link", "")
        except urllib.error.HTTPError as err:
            raise _error(err) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise OneError(
                f"cannot reach OneFlow at {self.url} ({reason}); is onekit-server running? "
                "(set ONEFLOW_URL to its :host:/:port:)"
            ) from None
        return (json.loads(raw) if raw.strip() else None), link

    def action(self, path: str, perform: str, params: dict | None = None) -> Any:
        body = {"action": {"perform": perform, **({"params": params} if params else {})}}
        return self.call("POST", path, body)


def _error(err: urllib.error.HTTPError) -> OneError:
    raw = err.read()
    try:
        message = json.loads(raw)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = raw.decode(errors="replace").strip() or f"HTTP {err.code}"
    return _ERRORS.get(err.code, OneError)(message)


_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


def _next_link(link: str, url: str) -> str | None:
    """The path of ``rel="next"`` in a Link header, or None (the last page). A link
    elsewhere than this server's paths is an error, never followed."""
    found = _NEXT.search(link)
    if found is None:
        return None
    target = found.group(1)
    if not target.startswith("/") or target.startswith("//"):
        raise OneError(f"OneFlow at {url} sent a next-page link off its own paths: {target!r}")
    return target


def documents(pool: Any) -> list[dict]:
    """The documents of a DOCUMENT_POOL answer."""
    found = (pool or {}).get("DOCUMENT_POOL", {}).get("DOCUMENT", [])
    return found if isinstance(found, list) else [found]


def part(ref: str) -> str:
    """An id, name or role as one URL path segment (the server resolves names)."""
    return urllib.parse.quote(ref.strip(), safe="")


def top(render: Callable[[], str], delay: float) -> None:
    """``top``: clear the screen and print ``render()`` every ``delay`` s until Ctrl-C."""
    while True:
        text = render()
        print("\033[H\033[2J", end="")
        print(text)
        time.sleep(delay)


def _connect(_ctx: Context) -> FlowClient:
    return FlowClient()


@dataclass(frozen=True)
class RestListing:
    """``GET <path>`` as a pool's list operation that pages (a ``common.Listing``)."""

    path: str
    pages: bool = True

    def __call__(self, client: FlowClient) -> Any:
        return client.call("GET", self.path)

    def each_page(self, client: FlowClient, page_size: int | None) -> Iterator[list[dict]]:
        return client.pages(self.path, page_size)


def documents_json_lines(rows: Iterable[dict]) -> Iterator[str]:
    """``list -j`` of documents read page by page: the API's own pool document, empty
    ``{"DOCUMENT_POOL": {}}`` included."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        yield json.dumps({"DOCUMENT_POOL": {}}, indent=2)
        return
    yield from pool_json_lines("DOCUMENT", itertools.chain([first], rows))


def rest_pool(path: str, noun: str, **declared: Any) -> Pool:
    """The documents under ``path`` (``/service``) as a ``Pool`` whose operations are
    requests of one FlowClient per command; --json prints the API's answers as they are."""

    def at(ref: str) -> str:
        return f"{path}/{part(ref)}"

    def chown(client: FlowClient, ref: str, user: str, group: str | None) -> Any:
        params = {"owner_id": user} | ({"group_id": group} if group else {})
        return client.action(f"{at(ref)}/action", "chown", params)

    return Pool(
        noun=noun,
        ref_arg="id",
        ids_arg="ids",
        connect=_connect,
        list=RestListing(path),
        show=lambda client, ref: client.call("GET", at(ref)),
        update=lambda client, ref, text: client.call("PUT", at(ref), text),
        delete=lambda client, ref: client.call("DELETE", at(ref)),
        owners=Ownership(
            chown=chown,
            chgrp=lambda client, ref, group: client.action(
                f"{at(ref)}/action", "chgrp", {"group_id": group}
            ),
            chmod=lambda client, ref, mode: client.action(
                f"{at(ref)}/action", "chmod", {"octet": mode}
            ),
        ),
        rows=documents,
        json_lines=documents_json_lines,
        body=lambda answer: answer["DOCUMENT"],
        **declared,
    )

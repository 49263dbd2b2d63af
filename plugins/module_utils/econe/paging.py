"""MaxResults / NextToken paging, as boto3's paginators use it: a page holds at most
MaxResults objects in id order, and the token names the last id given, so a page is
stable when objects come and go between calls (an offset would skip or repeat them).
The token is opaque to clients; a token that does not decode is refused."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TypeVar

from ansible_collections.onekit.cloud.plugins.module_utils.econe.errors import invalid
from ansible_collections.onekit.cloud.plugins.module_utils.econe.params import Params

T = TypeVar("T")
_PREFIX = "onekit:"


def _token(last: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{last}".encode()).decode()


def _after(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode()
        if not text.startswith(_PREFIX):
            raise ValueError
        return int(text[len(_PREFIX) :])
    except (ValueError, UnicodeError, binascii.Error):
        raise invalid("NextToken", token, "Pass the nextToken of the previous page.") from None


def page(
    items: Sequence[T],
    params: Params,
    key: Callable[[T], int],
    low: int = 5,
    high: int = 1000,
) -> tuple[list[T], str | None]:
    """The page of ``items`` (sorted here by ``key``) the request asks for, and the token
    of the next one (None on the last page)."""
    ordered = sorted(items, key=key)
    token = params.get("NextToken")
    if token:
        after = _after(token)
        ordered = [item for item in ordered if key(item) > after]
    size = params.int("MaxResults", None, low, high)
    if size is None or len(ordered) <= size:
        return list(ordered), None
    chosen = list(ordered[:size])
    return chosen, _token(key(chosen[-1]))

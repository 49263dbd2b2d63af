"""OneFlow's documents: JSON text with comments in, the API's DOCUMENT shape out.

Service templates and services are owned objects of the document pool (types 101 and
100, as in OpenNebula), so their ids come from one sequence: the guide's template 0
instantiates as service 1.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.db import Tx
from ansible_collections.onekit.cloud.plugins.module_utils.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)

SERVICE = 100
SERVICE_TEMPLATE = 101
Body = dict[str, Any]


def strip_comments(text: str) -> str:
    """JSON with ``//`` and ``/* */`` comments (as the guide writes its examples) made
    plain JSON; text inside strings is left alone."""
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


def parse_json(text: str | bytes, what: str = "the document") -> Any:
    """Parse JSON (comments allowed); a syntax error names the line and column."""
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError:
            raise InvalidInput(f"{what} is not UTF-8 text") from None
    try:
        return json.loads(strip_comments(text))
    except json.JSONDecodeError as err:
        raise InvalidInput(
            f"{what} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
        ) from None


NOUNS = {SERVICE: "service", SERVICE_TEMPLATE: "service template"}


def _visible(body: Body | None, doc_type: int) -> bool:
    """A document of that type, not a service being deleted (gone for its users)."""
    return (
        body is not None
        and body.get("TYPE") == doc_type
        and not body["TEMPLATE"].get("BODY", {}).get("deleting")
    )


def get(tx: Tx, ref: int | str, doc_type: int, lock: bool = False) -> Body:
    """A service or service template by id, or by name among the documents of its type
    (a service often shares its template's name: they never shadow each other)."""
    noun = NOUNS[doc_type]
    text = str(ref).strip()
    if isinstance(ref, bool) or not text:
        raise InvalidInput(f"a {noun} id or name is required")
    if re.fullmatch(r"[0-9]+", text):
        body = pool.get(tx, schema.DOCUMENTS, int(text), lock=lock) if len(text) < 11 else None
        if not _visible(body, doc_type):
            raise NotFound(f"{noun} {pool.shorten(text)} does not exist")
        return body
    rows = tx.rows("SELECT oid FROM document_pool WHERE name = ? AND type = ?", (text, doc_type))
    found = [b for b in (pool.get(tx, schema.DOCUMENTS, r[0], lock=lock) for r in rows)]
    found = [b for b in found if _visible(b, doc_type)]
    if not found:
        raise NotFound(f"{noun} named {pool.shorten(text)!r} does not exist")
    if len(found) > 1:
        raise Conflict(f"there are {len(found)} {noun}s named {pool.shorten(text)!r}; use the ID")
    return found[0]


def envelope(body: Body) -> Body:
    """One document as the REST API answers it."""
    return {"DOCUMENT": body}


def pool_envelope(bodies: list[Body]) -> Body:
    return {"DOCUMENT_POOL": {"DOCUMENT": bodies}} if bodies else {"DOCUMENT_POOL": {}}

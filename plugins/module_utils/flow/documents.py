"""OneFlow's documents: JSON text with comments in, the API's DOCUMENT shape out.

Service templates and services are owned objects of the document pool (types 101 and
100, as in OpenNebula), so their ids come from one sequence: the guide's template 0
instantiates as service 1.

On the wire a document is what OpenNebula's OneFlow sends: the document's XML read as a
hash (``DocumentJSON#to_json``), with only ``TEMPLATE/BODY`` parsed back from its JSON.
So every field outside the BODY is text (``"ID": "0"``, ``"UID": "0"``, ``"TYPE":
"101"``, ``"PERMISSIONS": {"OWNER_U": "1", ...}``) and the BODY keeps its JSON types.
Clients rely on it: community.general's ``one_service`` tests a template's ``ID`` for
truth, so the integer 0 reads as "no template". The core keeps its ints; ``envelope``
and ``pool_envelope`` are the one place the API's answers take that form.
"""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Tx
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)

SERVICE = 100
SERVICE_TEMPLATE = 101
Body = dict[str, Any]


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


def _xml_text(value: Any) -> Any:
    """A value as OpenNebula's XML-to-hash reads it back: elements nest, text is text."""
    if isinstance(value, dict):
        return {key: _xml_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_xml_text(item) for item in value]
    return str(value)


def wire(body: Body) -> Body:
    """A stored document as OneFlow sends it: every field text, but the BODY's JSON."""
    shown = {key: _xml_text(value) for key, value in body.items() if key != "TEMPLATE"}
    template = body.get("TEMPLATE", {})
    shown["TEMPLATE"] = {
        key: value if key == "BODY" else _xml_text(value) for key, value in template.items()
    }
    return shown


def envelope(body: Body) -> Body:
    """One document as the REST API answers it."""
    return {"DOCUMENT": wire(body)}


def pool_envelope(bodies: list[Body]) -> Body:
    """A pool as the REST API answers it; no document is an empty ``DOCUMENT_POOL``
    (OpenNebula's ``<DOCUMENT_POOL/>`` read as a hash)."""
    if not bodies:
        return {"DOCUMENT_POOL": {}}
    return {"DOCUMENT_POOL": {"DOCUMENT": [wire(body) for body in bodies]}}

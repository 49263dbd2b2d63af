"""The core's bodies as OpenNebula's XML documents.

Each document is written in the order of its element in OpenNebula's XML schemas
(``share/doc/xsd`` of OpenNebula 7.3, the release pyone 7.3's bindings are generated
from): a sequence there is an order, and a client's parser or a validating one may
depend on it. Names and values of templates are the user's text, escaped; characters
XML 1.0 cannot carry (control characters) are replaced, or one VM's attribute would make
every listing that shows it unparseable. The tests validate every document against
those schemas.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from onekit.server.xml_chars import NOT_XML_CLASS, xml_safe

Body = Mapping[str, Any]

_SPECIAL = re.compile(f"[&<>{NOT_XML_CLASS}]")  # what a value may not be written as
PERMISSION_BITS = tuple(f"{c}_{b}" for c in ("OWNER", "GROUP", "OTHER") for b in "UMA")


def text(value: Any) -> str:
    """A value as XML character data. (Most values are numbers and plain words: they are
    written as they are, which keeps a pool of 10,000 VMs cheap to write.)"""
    if type(value) is int:
        return str(value)
    written = str(value)
    if _SPECIAL.search(written) is None:
        return written
    written = xml_safe(written)
    return written.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def element(name: str, value: Any) -> str:
    return f"<{name}>{text(value)}</{name}>"


def elements(body: Body, names: Iterable[str], default: Any = "") -> str:
    """``<NAME>value</NAME>`` for each of ``names``, in that order (``default`` for a
    name the body lacks)."""
    return "".join(element(n, body.get(n, default)) for n in names)


def attributes(tpl: Body) -> str:
    """A template's attributes as elements: a vector as an element of elements, a list of
    values as repeated elements, in the template's order."""
    parts: list[str] = []
    for name, value in tpl.items():
        for one in value if isinstance(value, list) else (value,):
            if isinstance(one, Mapping):
                parts.append(f"<{name}>{attributes(one)}</{name}>")
            else:
                parts.append(element(name, one))
    return "".join(parts)


def ordered(tpl: Body, order: tuple[str, ...]) -> str:
    """A template's attributes named in ``order``, in that order (a schema's sequence)."""
    return attributes({n: tpl[n] for n in order if n in tpl})


def template(tpl: Body, name: str = "TEMPLATE") -> str:
    return f"<{name}>{attributes(tpl)}</{name}>"


def permissions(body: Body) -> str:
    bits = body.get("PERMISSIONS") or {}
    return f"<PERMISSIONS>{elements(bits, PERMISSION_BITS, '0')}</PERMISSIONS>"


def ownership(body: Body) -> str:
    """ID, UID, GID, UNAME, GNAME, NAME: how most documents start."""
    return elements(body, ("ID", "UID", "GID", "UNAME", "GNAME", "NAME"), 0)


def ids(name: str, values: Iterable[Any]) -> str:
    """An ``IDS`` element of the schemas: ``<NAME><ID>1</ID>...</NAME>``."""
    return f"<{name}>{''.join(element('ID', v) for v in values)}</{name}>"


def pool(name: str, documents: Iterable[str]) -> str:
    return f"<{name}>{''.join(documents)}</{name}>"

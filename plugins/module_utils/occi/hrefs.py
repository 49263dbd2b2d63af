"""What a request document gives: element text, and the id an ``href`` names."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput

MAX_TEXT = 64 * 1024  # characters of one element's text


def text(doc: ET.Element, path: str) -> str | None:
    """The text of the element at ``path`` (stripped), or None when it is absent."""
    element = doc.find(path)
    if element is None:
        return None
    value = "".join(element.itertext()).strip()
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"{doc.tag}/{path} holds more than {MAX_TEXT} characters")
    return value


def id_of(href: str | None, kind: str, field: str) -> int:
    """The id at the end of ``href`` (``http://host:4567/storage/3`` -> 3), which must
    name a resource of ``kind``; 4.6 read the last path segment."""
    if not href:
        raise InvalidInput(f'{field} needs an href naming a {kind}, like href=".../{kind}/3"')
    parts = href.rstrip("/").split("/")
    last = parts[-1]
    if not last.isdigit() or len(last) > 9 or (len(parts) > 1 and parts[-2] != kind):
        raise InvalidInput(
            f"{field} href {href[:80]!r} names no {kind}: it must end with /{kind}/<id>"
        )
    return int(last)


def flag(doc: ET.Element, path: str) -> bool | None:
    """A YES/NO element (PUBLIC, PERSISTENT); None when it is absent."""
    value = text(doc, path)
    if value is None:
        return None
    if value.upper() in ("YES", "NO"):
        return value.upper() == "YES"
    raise InvalidInput(f"{doc.tag}/{path} must be YES or NO, got {value[:20]!r}")

"""The one XML parser for request bodies a client sends (OCCI's documents, /RPC2's calls).

expat refusing any DOCTYPE: without one, no entity can be declared, so none is expanded
(no "billion laughs") and none is fetched (no external entity, no external DTD); an
undeclared entity reference is expat's own error. A body is also held to ``limit`` bytes
before a byte is parsed. ``parse`` gives an ``xml.etree.ElementTree`` element;
``hardened_parser`` is the bare expat parser for readers with their own handlers (the
XML-RPC unmarshaller).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.parsers import expat

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput

DEFAULT_LIMIT = 1024 * 1024  # bytes of a document: a template of thousands of lines fits


class XmlRefused(InvalidInput):
    """A body that is no acceptable XML document (malformed, a DOCTYPE, too large, the
    wrong root): a client's error, 400."""


def _refuse_doctype(*_args: object) -> None:
    raise XmlRefused("a DOCTYPE (and so any entity or external DTD) is not allowed in the XML")


def hardened_parser() -> expat.XMLParserType:
    """An expat parser that raises ``XmlRefused`` at a DOCTYPE or an entity declaration
    and never reads a parameter entity or an external DTD."""
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    parser.ExternalEntityRefHandler = _refuse_doctype
    return parser


def parse(body: bytes | str, root: str | None = None, limit: int = DEFAULT_LIMIT) -> ET.Element:
    """The document's root element; ``root``: the name it must have. Raises
    ``XmlRefused`` naming what is wrong."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    if len(data) > limit:
        raise XmlRefused(f"the XML document is larger than {limit} bytes")
    if not data.strip():
        raise XmlRefused(f"the body is empty: send a <{root or 'XML'}> document")
    builder = ET.TreeBuilder()
    parser = hardened_parser()
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
        element = builder.close()
    except expat.ExpatError as err:
        reason = expat.ErrorString(err.code) if err.code else str(err)
        raise XmlRefused(
            f"malformed XML at line {err.lineno}, column {err.offset + 1}: {reason}"
        ) from None
    except (LookupError, ValueError) as err:  # an encoding Python lacks, a broken tree
        raise XmlRefused(f"malformed XML: {err}") from None
    if root is not None and element.tag != root:
        raise XmlRefused(f"the XML document's root element is <{element.tag[:40]}>: send <{root}>")
    return element

"""OpenNebula's template syntax, parsed to and printed from plain dicts.

A template is ``{NAME: value}`` where a value is a ``str`` (single attribute), a
``dict[str, str]`` (vector attribute, insertion-ordered) or, when a name appears more than
once at the top level, a ``list`` of those values in source order::

    NAME   = "web"               ->  {"NAME": "web",
    DISK   = [ IMAGE = "base" ]       "DISK": [{"IMAGE": "base"},
    DISK   = [ IMAGE = "data" ]                {"IMAGE": "data"}]}

The text grammar is the one of OpenNebula's flex/bison template parser
(``src/template/template_parser.l`` and ``template_syntax.y``)::

    template  := attribute*
    attribute := VARIABLE EQUAL STRING
               | VARIABLE EQUAL OBRACKET [pairs] CBRACKET
               | VARIABLE EQUAL_EMPTY                  (NAME =<newline or end>  ->  "")
    pairs     := VARIABLE EQUAL STRING (COMMA VARIABLE EQUAL STRING)*

Names are ``[A-Za-z0-9_]+`` and are uppercased; a top-level name that does not start with a
letter or that starts with ``XML`` gets the prefix ``ONE_``. Values are ``"quoted"`` (any
character but an unescaped ``"``; ``\\"`` stands for ``"``, other backslashes are literal)
or bare (no blanks and none of ``= # , [ ]``). ``#`` starts a comment that runs to the end
of the line. A value containing ``]]>`` is refused, as OpenNebula does.

Text whose first non-blank character is ``<`` is read as XML instead
(``<TEMPLATE><NAME>v</NAME><DISK><IMAGE>x</IMAGE></DISK></TEMPLATE>``).

Every syntax error raises :class:`TemplateSyntaxError` with the 1-based line and column of
the offending token. :func:`dumps` prints the canonical form, so ``parse(dumps(t)) == t``
for any template in ``parse``'s normalized form.

Only the standard library is used: this module is shipped inside Ansible modules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from xml.parsers import expat

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    InvalidInput,
    TemplateSyntaxError,
)

Value = str | dict[str, str] | list[str | dict[str, str]]
Template = dict[str, Value]

__all__ = ["Template", "Value", "as_list", "dumps", "is_name", "merge", "parse", "quote"]

# Lexical classes. OpenNebula's [:blank:] is space and tab; a carriage return is treated as
# one more blank outside quoted values, so templates with CRLF line ends parse the same.
_NAME_RE = re.compile(r"[A-Za-z0-9_]+")
_BARE_RE = re.compile(r"[^=#,\[\] \t\r\n]+")
_BLANKS_RE = re.compile(r"[ \t\r]*")
# Blanks, newlines and comments between tokens (a comment may end at the end of input).
_SKIP_RE = re.compile(r"(?:[ \t\r\n]+|#[^\n]*)*")
# The closing quote of a quoted value: the first '"' not preceded by a backslash (scanning
# left to right, '\"' is always an escaped quote and never closes the value).
_CLOSE_QUOTE_RE = re.compile(r'(?<!\\)"')
_CDATA_END = "]]>"
_XML_BLANKS = " \t\r\n"


# --------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------


def _top_name(name: str) -> str:
    """The stored form of a top-level name: uppercased, ``ONE_`` prefixed when needed."""
    upper = name.upper()
    if not upper[:1].isalpha() or upper.startswith("XML"):
        return "ONE_" + upper
    return upper


def _is_name(name: object) -> bool:
    return isinstance(name, str) and _NAME_RE.fullmatch(name) is not None


def _add(tpl: dict[str, Any], name: str, value: str | dict[str, str]) -> None:
    """Add one attribute, turning a repeated name into a list in source order."""
    if name not in tpl:
        tpl[name] = value
    elif isinstance(tpl[name], list):
        tpl[name].append(value)
    else:
        tpl[name] = [tpl[name], value]


def _show(token: str) -> str:
    """A token as quoted in an error message."""
    if token == "\n":
        return "a newline"
    if len(token) > 40:
        token = token[:37] + "..."
    if token.isprintable() and '"' not in token:
        return f'"{token}"'
    return repr(token)


# --------------------------------------------------------------------------------------
# Text parser
# --------------------------------------------------------------------------------------


class _TextParser:
    """A hand-written scanner/parser equivalent to OpenNebula's flex/bison pair."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    # -- positions and errors ----------------------------------------------------------

    def where(self, pos: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return line, column

    def error(self, message: str, pos: int) -> TemplateSyntaxError:
        line, column = self.where(pos)
        return TemplateSyntaxError(message, line, column)

    def found(self, pos: int) -> str:
        """What the input holds at ``pos``, for "expected X, found Y" messages."""
        if pos >= len(self.text):
            return "end of input"
        match = _NAME_RE.match(self.text, pos)
        return _show(match.group() if match else self.text[pos])

    # -- scanning ----------------------------------------------------------------------

    def skip(self) -> None:
        self.pos = _SKIP_RE.match(self.text, self.pos).end()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def name(self) -> str | None:
        match = _NAME_RE.match(self.text, self.pos)
        if match is None:
            return None
        self.pos = match.end()
        return match.group()

    # -- grammar -----------------------------------------------------------------------

    def parse(self) -> dict[str, Any]:
        tpl: dict[str, Any] = {}
        while True:
            self.skip()
            if self.pos >= len(self.text):
                return tpl
            start = self.pos
            name = self.name()
            if name is None:
                raise self.error(
                    f"unexpected {self.found(start)}, expected an attribute name", start
                )
            self.equal(name)
            # After "=" (and its blanks): a vector, a value, or nothing (EQUAL_EMPTY).
            if self.peek() == "[":
                self.pos += 1
                _add(tpl, _top_name(name), self.vector(name))
            elif self.at_line_end():
                _add(tpl, _top_name(name), "")
            else:
                value = self.value(name, in_vector=False)
                _add(tpl, _top_name(name), value)

    def equal(self, label: str) -> None:
        """Consume ``=`` and the blanks after it (not newlines: see EQUAL_EMPTY)."""
        self.skip()
        if self.peek() != "=":
            raise self.error(f'expected "=" after {label}, found {self.found(self.pos)}', self.pos)
        self.pos = _BLANKS_RE.match(self.text, self.pos + 1).end()

    def at_line_end(self) -> bool:
        return self.pos >= len(self.text) or self.text[self.pos] == "\n"

    def value(self, label: str, *, in_vector: bool) -> str:
        """A quoted or bare value at the current position."""
        start = self.pos
        # OpenNebula's CDATA guard (<VALUE>.*"]]>".*) refuses "]]>" anywhere between the
        # start of a value and the end of its line; a multi-line value is checked below.
        line_end = self.text.find("\n", start)
        cdata = self.text.find(_CDATA_END, start, len(self.text) if line_end < 0 else line_end)
        if cdata >= 0:
            raise self.error(f'"]]>" is not allowed in the value of {label}', cdata)
        if self.peek() == '"':
            close = _CLOSE_QUOTE_RE.search(self.text, start + 1)
            if close is None:
                line, column = self.where(start)
                raise self.error(
                    f"unterminated quoted value for {label} "
                    f"(opened at line {line}, column {column})",
                    len(self.text),
                )
            raw = self.text[start + 1 : close.start()]
            self.pos = close.end()
        else:
            match = _BARE_RE.match(self.text, start)
            if match is None:
                found = self.found(start)
                if in_vector:
                    raise self.error(f"missing value for {label}, found {found}", start)
                raise self.error(f'expected a value after "=" for {label}, found {found}', start)
            raw = match.group()
            self.pos = match.end()
        # OpenNebula unescapes \" in quoted and bare values alike.
        value = raw.replace('\\"', '"')
        if _CDATA_END in value:
            cdata = self.text.find(_CDATA_END, start)
            raise self.error(f'"]]>" is not allowed in the value of {label}', cdata)
        return value

    def vector(self, name: str) -> dict[str, str]:
        """The pairs of a vector attribute; the ``[`` is already consumed."""
        vec: dict[str, str] = {}
        self.skip()
        if self.peek() == "]":
            self.pos += 1
            return vec
        after_comma = False
        while True:
            start = self.pos
            key = self.name()
            if key is None:
                expected = (
                    f'an attribute name after "," in vector {name}'
                    if after_comma
                    else f'an attribute name or "]" in vector {name}'
                )
                raise self.error(f"expected {expected}, found {self.found(start)}", start)
            label = f"{name}/{key}"
            self.equal(label)
            if self.peek() == "[":
                raise self.error(f"vector attributes cannot be nested ({label})", self.pos)
            if self.at_line_end():
                raise self.error(
                    f"missing value for {label}, found {self.found(self.pos)}", self.pos
                )
            value = self.value(label, in_vector=True)
            vec.setdefault(key.upper(), value)  # a repeated key keeps its first value
            self.skip()
            token = self.peek()
            if token == "]":
                self.pos += 1
                return vec
            if token != ",":
                raise self.error(
                    f'expected "," or "]" in vector {name}, found {self.found(self.pos)}',
                    self.pos,
                )
            self.pos += 1
            self.skip()
            after_comma = True


# --------------------------------------------------------------------------------------
# XML parser
# --------------------------------------------------------------------------------------


class _XMLParser:
    """``<ROOT><NAME>v</NAME><VEC><KEY>v</KEY></VEC></ROOT>`` to a template dict.

    Built directly on expat (the parser under ``xml.etree.ElementTree``) because
    ElementTree does not report element positions, which the error messages need.
    """

    def __init__(self, text: str):
        body = text.lstrip(_XML_BLANKS)
        lead = text[: len(text) - len(body)]
        self.text = text
        self.body = body
        lead = lead.replace("\r\n", "\n").replace("\r", "\n")  # expat's line breaks
        self.line_offset = lead.count("\n")
        self.column_offset = len(lead) - (lead.rfind("\n") + 1)
        self.parser = expat.ParserCreate()
        self.parser.buffer_text = True
        self.tpl: dict[str, Any] = {}
        # One frame per open element below the root: [name, normalized, text parts,
        # children dict or None, (line, column)].
        self.stack: list[list[Any]] = []
        self.depth = 0

    def where(self, line: int, column0: int) -> tuple[int, int]:
        """Expat's (1-based line, 0-based column) in the body -> 1-based in the text."""
        if line == 1:
            return 1 + self.line_offset, column0 + 1 + self.column_offset
        return line + self.line_offset, column0 + 1

    def here(self) -> tuple[int, int]:
        return self.where(self.parser.CurrentLineNumber, self.parser.CurrentColumnNumber)

    def parse(self) -> dict[str, Any]:
        try:
            data = self.body.encode("utf-8")
        except UnicodeEncodeError as exc:
            prefix = self.body[: exc.start]
            line = prefix.count("\n") + 1
            column0 = exc.start - (prefix.rfind("\n") + 1)
            raise TemplateSyntaxError(
                f"invalid character {self.body[exc.start]!r} in XML", *self.where(line, column0)
            ) from None
        p = self.parser
        p.StartElementHandler = self.start
        p.EndElementHandler = self.end
        p.CharacterDataHandler = self.chars
        p.StartDoctypeDeclHandler = self.doctype
        try:
            p.Parse(data, True)
        except expat.ExpatError as exc:
            reason = expat.ErrorString(exc.code) if exc.code else str(exc)
            raise TemplateSyntaxError(
                f"malformed XML: {reason}", *self.where(exc.lineno, exc.offset)
            ) from None
        return self.tpl

    def doctype(self, *_args: object) -> None:
        raise TemplateSyntaxError(
            "DOCTYPE declarations are not allowed in a template", *self.here()
        )

    def start(self, tag: str, _attrs: object) -> None:
        self.depth += 1
        if self.depth == 1:
            return  # the root element: its name is ignored
        pos = self.here()
        if not _is_name(tag):
            raise TemplateSyntaxError(
                f'invalid attribute name "{tag}" (names are letters, digits and "_")', *pos
            )
        if self.depth == 2:
            self.stack.append([tag, _top_name(tag), [], None, pos])
            return
        parent = self.stack[-1]
        if self.depth > 3:
            vector, key = self.stack[-2][0], parent[0]
            raise TemplateSyntaxError(f"vector attributes cannot be nested ({vector}/{key})", *pos)
        if parent[3] is None:
            parent[3] = {}
        self.stack.append([tag, tag.upper(), [], None, pos])

    def chars(self, data: str) -> None:
        if self.stack:
            self.stack[-1][2].append(data)

    def end(self, _tag: str) -> None:
        self.depth -= 1
        if self.depth == 0:
            return
        tag, key, parts, children, pos = self.stack.pop()
        if children is not None:
            value: str | dict[str, str] = children
        else:
            value = "".join(parts)
            if _CDATA_END in value:
                label = f"{self.stack[-1][0]}/{tag}" if self.stack else tag
                raise TemplateSyntaxError(f'"]]>" is not allowed in the value of {label}', *pos)
        if self.stack:
            self.stack[-1][3].setdefault(key, value)
        else:
            _add(self.tpl, key, value)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def parse(text: str) -> dict[str, Any]:
    """Parse a template, in OpenNebula's text syntax or as XML, into a dict.

    Raises :class:`TemplateSyntaxError` (1-based line and column) on malformed input.
    """
    if not isinstance(text, str):
        raise InvalidInput(f"a template must be text, not {type(text).__name__}")
    if text.lstrip(_XML_BLANKS).startswith("<"):
        return _XMLParser(text).parse()
    return _TextParser(text).parse()


# What operations take as a template: its text, or the mapping it parses to.
Source = str | Mapping[str, Any]


def load(source: Source, what: str = "a template") -> dict[str, Any]:
    """A template from text or a mapping, in canonical form (names upper-cased, values
    strings): the one way operations read the templates callers give them."""
    if isinstance(source, str):
        source = parse(source)
    if not isinstance(source, Mapping):
        raise InvalidInput(f"{what} must be template text or a mapping")
    return parse(dumps(source))


def _scalar(value: object, label: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        if isinstance(value, Mapping):
            why = "vector attributes cannot be nested"
        elif isinstance(value, (list, tuple)):
            why = "a list cannot appear here (only a top-level name may be repeated)"
        else:
            why = f"a value of type {type(value).__name__} cannot be printed (use a string)"
        raise InvalidInput(f"cannot print attribute {label}: {why}")
    text = value if isinstance(value, str) else str(value)
    if _CDATA_END in text:
        raise InvalidInput(f'cannot print attribute {label}: the value contains "]]>"')
    escaped = text.replace('"', '\\"')
    if text.endswith("\\"):
        # Quoted, the final backslash would escape the closing quote; a value with no
        # blanks and none of = # , [ ] can still be printed bare (as OpenNebula reads it).
        if _BARE_RE.fullmatch(escaped):
            return escaped
        raise InvalidInput(
            f"cannot print attribute {label}: the value ends with a backslash, which would "
            "escape the closing quote, and holds blanks or one of = # , [ ] so it cannot "
            "be printed unquoted either"
        )
    return '"' + escaped + '"'


def quote(value: object, label: str = "value") -> str:
    """``value`` printed as one value of the template syntax, as :func:`dumps` prints it
    (quoted, ``"`` escaped): what a renderer puts after ``NAME =`` so that text stays one
    value, whatever it holds. Raises :class:`InvalidInput` naming ``label`` for what
    cannot be printed."""
    return _scalar(value, label)


def is_name(name: object) -> bool:
    """Whether ``name`` may be an attribute name (letters, digits and ``_``)."""
    return _is_name(name)


def _checked_name(name: object, label: str | None = None) -> str:
    if not _is_name(name):
        where = f" in vector {label}" if label else ""
        raise InvalidInput(
            f"cannot print attribute name {name!r}{where}: "
            'names are non-empty and made of letters, digits and "_"'
        )
    return str(name).upper()


def _dump_vector(name: str, vec: Mapping) -> str:
    if not vec:
        return f"{name} = [ ]"
    pairs = []
    seen: set[str] = set()
    for key, value in vec.items():
        upper = _checked_name(key, name)
        if upper in seen:
            raise InvalidInput(
                f"cannot print vector {name}: key {key!r} appears twice once uppercased"
            )
        seen.add(upper)
        pairs.append(f"  {upper} = {_scalar(value, f'{name}/{upper}')}")
    return f"{name} = [\n" + ",\n".join(pairs) + " ]"


def dumps(tpl: Mapping) -> str:
    """Print a template in OpenNebula's text syntax, one attribute per line.

    Names are uppercased. Values may be strings, ints or floats; a list prints each element
    as its own attribute. Raises :class:`InvalidInput` for anything that would not parse
    back to the same template.
    """
    if not isinstance(tpl, Mapping):
        raise InvalidInput(f"a template must be a mapping, not {type(tpl).__name__}")
    lines = []
    for name, value in tpl.items():
        upper = _checked_name(name)
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, Mapping):
                lines.append(_dump_vector(upper, item))
            else:
                lines.append(f"{upper} = {_scalar(item, upper)}")
    return "".join(line + "\n" for line in lines)


def as_list(tpl: Mapping, name: str) -> list:
    """The values of ``name``: ``[]`` if absent, ``[value]`` if single, else all of them."""
    if name not in tpl:
        return []
    value = tpl[name]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (list, tuple)):
        return [_copy(item) for item in value]
    return value


def merge(base: Mapping, update: Mapping) -> dict[str, Any]:
    """``update --append`` semantics: a name in ``update`` replaces every attribute of that
    name in ``base``; other attributes are untouched. Returns a new dict.

    Names are compared in their normalized form (uppercased, ``ONE_`` prefixed), so
    ``{"memory": 512}`` replaces ``MEMORY``. A replaced name keeps its place in ``base``;
    new names are appended in ``update``'s order. An empty list in ``update`` removes the
    name. Neither input is modified.
    """
    replacements: dict[str, list[Any]] = {}
    for name in update:
        replacements.setdefault(_top_name(str(name)), []).append(name)
    result: dict[str, Any] = {}
    done: set[str] = set()
    for name, value in base.items():
        normal = _top_name(str(name))
        if normal not in replacements:
            result[name] = _copy(value)
        elif normal not in done:
            done.add(normal)
            for new_name in replacements[normal]:
                result[new_name] = _copy(update[new_name])
    for normal, names in replacements.items():
        if normal not in done:
            for new_name in names:
                result[new_name] = _copy(update[new_name])
    return result

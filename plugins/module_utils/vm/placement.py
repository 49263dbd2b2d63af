"""The scheduler's expression language: ``SCHED_REQUIREMENTS`` and ``SCHED_RANK``.

A VM template's ``SCHED_REQUIREMENTS`` is a boolean expression that a host must satisfy to
run the VM; its ``SCHED_RANK`` is an arithmetic expression whose value orders the hosts that
qualify (highest first). Both are parsed once (:func:`parse_requirements`,
:func:`parse_rank`) and then evaluated per host against a ``lookup`` callable that returns a
host attribute's value as a string, or ``None`` when the host has no such attribute::

    req = parse_requirements('FREE_CPU > 50 & HOSTNAME = "node-*"')
    req.matches({"FREE_CPU": "80", "HOSTNAME": "node-3"}.get)        # True
    parse_rank("RUNNING_VMS * 2 + FREE_MEM / 1024").evaluate(host.get)

The language is OpenNebula 4.6's (``src/xml/expr_parser.l``, ``expr_bool.y``,
``expr_arith.y``). Tokens (longest match wins, as in flex)::

    blank      space, tab (newline and carriage return too, see below)
    punct      ! & | = > < ( ) * + / - ^
    STRING     [A-Za-z][0-9A-Za-z_]*   or   "..."   (double quotes, no escapes)
    INTEGER    -?[0-9]+
    FLOAT      -?[0-9]+\\.[0-9]+

Because a number may start with ``-``, ``A -5`` is STRING INTEGER (a syntax error) while
``A - 5`` subtracts; ``!=`` is the two tokens ``!`` and ``=`` (so ``! =`` works too); and a
value with ``-``, ``.`` or other punctuation, or one starting with a digit, must be quoted:
``HOSTNAME = node-1`` is a syntax error, ``HOSTNAME = "node-1"`` is not.

Requirements::

    stmt  := <empty>  |  expr                      (empty or blank: true)
    expr  := unary (("&" | "|") unary)*            (ONE level, left-associative)
    unary := "!" unary  |  "(" expr ")"  |  cmp
    cmp   := STRING ("=" | "!" "=" | ">" | "<") (INTEGER | FLOAT)
           | STRING ("=" | "!" "=") STRING         (a shell glob, fnmatch)

``&``, ``|`` and ``!`` share one precedence level (bison ``%left '!' '&' '|'``), so
``a | b & c`` is ``(a | b) & c`` and ``! a & b`` is ``(! a) & b``. A comparison is false
when the attribute is missing or, against a number, not numeric - for ``!=`` as well.
Numbers compare as floats. ``CURRENT_VMS = <id>`` / ``CURRENT_VMS != <id>`` (an INTEGER)
test whether the VM id is among the host's VMs (``current_vms``).

Rank::

    stmt    := <empty>  |  sum                     (empty: 0)
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/") unary)*
    unary   := "-" unary  |  "(" sum ")"  |  INTEGER  |  FLOAT  |  STRING

A variable that is missing or not numeric counts 0. The result is computed in floating
point and truncated toward zero to an ``int``.

Choices where OpenNebula's C code is undefined, crashes or would surprise a user:

* Division by zero makes that division 0 (``5 + 1 / 0`` is 5): C gives an infinity whose
  cast to int is undefined. A non-finite result (an overflow) ranks 0.
* Only space, tab, newline and carriage return are blanks; any other character that no
  token matches (``.``, ``;``, ``@``, an unterminated ``"``) is a syntax error. flex's
  default rule silently echoes such characters to oned's stdout and skips them, so
  ``A = "x`` would mean ``A = x`` there.
* ``""`` is a null string in OpenNebula: as a value, ``A = ""`` and ``A != ""`` are both
  false; as a variable name it is a missing attribute (oned would dereference NULL).
* A host value is numeric when it is a whole decimal number (optional sign, digits, optional
  fraction and exponent, surrounding blanks allowed); ``"12abc"`` is not numeric, where C++'s
  ``istringstream`` would read 12. Non-finite values (``1e999``) are not numeric.
* Arithmetic uses Python floats (doubles), not C's single-precision ``float``.
* ``CURRENT_VMS`` is special only with ``=``/``!=`` and an INTEGER; otherwise it is looked
  up like any other variable.
* Globs use :func:`fnmatch.fnmatchcase`, which differs from glibc's ``fnmatch(3)`` in corner
  cases: no backslash escapes, ``[^...]`` is not a negation (use ``[!...]``), no
  ``[[:class:]]``.

Expressions longer than :data:`MAX_LENGTH` characters or nested deeper than
:data:`MAX_DEPTH` (``(``, ``!`` and unary ``-``) are refused. Every error is an
:class:`InvalidInput` whose message names the expression, the 1-based column of the
offending token (and the line, when the text has several) and what was expected.

Only the standard library is used: this module is shipped inside Ansible modules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from fnmatch import fnmatchcase
from typing import NamedTuple

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Rank",
    "Requirements",
    "parse_rank",
    "parse_requirements",
]

MAX_LENGTH = 4096
"""The longest expression accepted, in characters."""

MAX_DEPTH = 100
"""The deepest nesting accepted: levels of ``(``, ``!`` (requirements) or unary ``-`` (rank)."""

REQUIREMENTS = "SCHED_REQUIREMENTS"
RANK = "SCHED_RANK"

Lookup = Callable[[str], "str | None"]

# One token at a position. Alternatives are ordered so that the first match is flex's
# longest match: FLOAT before INTEGER, and both before the one-character "-".
_TOKEN_RE = re.compile(
    r"""
      (?P<blank>[ \t\r\n]+)
    | (?P<float>-?[0-9]+\.[0-9]+)
    | (?P<int>-?[0-9]+)
    | (?P<word>[A-Za-z][0-9A-Za-z_]*)
    | (?P<quoted>"[^"]*")
    | (?P<punct>[!&|=><()*+/^-])
    """,
    re.VERBOSE,
)
_NUMERIC_RE = re.compile(
    r"[ \t\r\n]*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t\r\n]*"
)


# --------------------------------------------------------------------------------------
# Lexer
# --------------------------------------------------------------------------------------


class _Token(NamedTuple):
    """``kind`` is ``num``, ``str``, ``end``, ``error`` or the punctuation character."""

    kind: str
    text: str  # as written (quotes included); for ``error`` the message
    pos: int  # 0-based offset in the source
    end: int  # offset just past the token


def _lex(text: str) -> list[_Token]:
    """All tokens, ending with ``end`` or, at the first unlexable character, ``error``.

    A lexical error is a token rather than an exception so that the parser reports errors
    in source order, as bison (which pulls tokens one at a time) does.
    """
    tokens: list[_Token] = []
    pos, size = 0, len(text)
    while pos < size:
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            char = text[pos]
            if char == '"':
                message = 'expected a closing " for the string that starts here'
            else:
                message = f"unexpected character {_quote_char(char)}"
            tokens.append(_Token("error", message, pos, pos + 1))
            return tokens
        group = m.lastgroup
        if group == "float" or group == "int":
            tokens.append(_Token("num", m.group(), pos, m.end()))
        elif group == "word" or group == "quoted":
            tokens.append(_Token("str", m.group(), pos, m.end()))
        elif group == "punct":
            tokens.append(_Token(m.group(), m.group(), pos, m.end()))
        pos = m.end()
    tokens.append(_Token("end", "", size, size))
    return tokens


def _quote_char(char: str) -> str:
    if char.isprintable() and char != '"':
        return f'"{char}"'
    return f"U+{ord(char):04X}"


def _string_value(tok: _Token) -> str:
    """The string a STRING token stands for (``""`` gives ``""``, OpenNebula's NULL)."""
    return tok.text[1:-1] if tok.text.startswith('"') else tok.text


def _describe(tok: _Token) -> str:
    """The token as a user reads it in 'found ...'."""
    if tok.kind == "end":
        return "the end of the expression"
    text = tok.text if len(tok.text) <= 40 else tok.text[:37] + "..."
    if tok.kind == "num":
        return f"the number {text}"
    if tok.kind == "str" and tok.text.startswith('"'):
        return f"the string {text}"
    return f'"{text}"'


# --------------------------------------------------------------------------------------
# Parser machinery shared by both languages
# --------------------------------------------------------------------------------------


class _Parser:
    """Token cursor, nesting counter and error formatting for one expression."""

    def __init__(self, text: str, what: str):
        if not isinstance(text, str):
            raise InvalidInput(f"{what} must be a string, not {type(text).__name__}")
        if len(text) > MAX_LENGTH:
            raise InvalidInput(
                f"{what}: expression is too long ({len(text)} characters, at most {MAX_LENGTH})"
            )
        self.text = text
        self.what = what
        self.tokens = _lex(text)
        self.index = 0
        self.depth = 0

    def peek(self) -> _Token:
        tok = self.tokens[self.index]
        if tok.kind == "error":
            message = tok.text
            if self.what == REQUIREMENTS and message.startswith("unexpected"):
                message += " (a value containing punctuation must be double-quoted)"
            raise self.error(tok, message)
        return tok

    def advance(self) -> _Token:
        tok = self.peek()
        if tok.kind != "end":
            self.index += 1
        return tok

    def previous(self) -> _Token | None:
        return self.tokens[self.index - 1] if self.index else None

    def enter(self, tok: _Token, what: str) -> None:
        """Count one more nesting level opened by ``tok``; refuse past MAX_DEPTH."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise InvalidInput(
                f"{self.what}: expression nested too deeply at {self.where(tok)} "
                f"(at most {MAX_DEPTH} levels of {what})"
            )

    def leave(self) -> None:
        self.depth -= 1

    def where(self, tok: _Token) -> str:
        column = tok.pos - (self.text.rfind("\n", 0, tok.pos) + 1) + 1
        if "\n" not in self.text:
            return f"column {column}"
        return f"line {self.text.count(chr(10), 0, tok.pos) + 1}, column {column}"

    def error(self, tok: _Token, detail: str) -> InvalidInput:
        return InvalidInput(f"{self.what}: syntax error at {self.where(tok)}: {detail}")

    def unexpected(self, tok: _Token, expected: str, hint: str = "") -> InvalidInput:
        """``expected X, found Y``, with a hint for the usual lexing traps."""
        if not hint:
            hint = self.hint(tok)
        detail = f"expected {expected}, found {_describe(tok)}"
        return self.error(tok, f"{detail} ({hint})" if hint else detail)

    def hint(self, tok: _Token) -> str:
        if tok.kind == "^":
            return '"^" is not an operator of this language'
        prev = self.previous()
        if prev is None or tok.kind != "num" or not tok.text.startswith("-"):
            return ""
        # A number glued to a "-" after an operand: the lexer took "-5" as one token.
        if self.what == RANK and prev.kind in ("str", "num", ")"):
            left = prev.text if prev.kind != ")" else "(...)"
            return f'to subtract, put a blank after the "-": {left} - {tok.text[1:]}'
        if prev.kind == "str" and prev.end == tok.pos and not prev.text.startswith('"'):
            return f'a value containing "-" must be quoted: "{prev.text}{tok.text}"'
        return ""


# --------------------------------------------------------------------------------------
# Requirements
# --------------------------------------------------------------------------------------


class _Compare:
    """``NAME op value``: op is ``=``, ``!=``, ``>`` or ``<``; value a float or a glob."""

    __slots__ = ("name", "number", "op", "pattern", "vm_id")

    def __init__(self, name: str, op: str, number: float | None, pattern: str, vm_id: int | None):
        self.name = name
        self.op = op
        self.number = number  # None for a string comparison
        self.pattern = pattern
        self.vm_id = vm_id  # the id for CURRENT_VMS = / != INTEGER, else None

    def test(self, lookup: Lookup, current_vms: Collection[int]) -> bool:
        if self.vm_id is not None:
            found = self.vm_id in current_vms
            return found if self.op == "=" else not found
        if not self.name:
            return False
        if self.number is None:
            if not self.pattern:
                return False
            raw = lookup(self.name)
            if raw is None:
                return False
            matched = fnmatchcase(raw if isinstance(raw, str) else str(raw), self.pattern)
            return matched if self.op == "=" else not matched
        value = _numeric(lookup(self.name))
        if value is None:
            return False
        if self.op == "=":
            return value == self.number
        if self.op == "!=":
            return value != self.number
        if self.op == ">":
            return value > self.number
        return value < self.number


class _Not:
    __slots__ = ("child",)

    def __init__(self, child: _BoolNode):
        self.child = child

    def test(self, lookup: Lookup, current_vms: Collection[int]) -> bool:
        return not self.child.test(lookup, current_vms)


class _Chain:
    """``first op1 x1 op2 x2 ...`` folded left to right (one precedence level).

    A flat list rather than nested binary nodes, so a long chain does not make a deep tree.
    """

    __slots__ = ("first", "rest")

    def __init__(self, first: _BoolNode, rest: list[tuple[str, _BoolNode]]):
        self.first = first
        self.rest = rest

    def test(self, lookup: Lookup, current_vms: Collection[int]) -> bool:
        value = self.first.test(lookup, current_vms)
        for op, node in self.rest:
            if op == "&":
                value = value and node.test(lookup, current_vms)
            else:
                value = value or node.test(lookup, current_vms)
        return value


class _True:
    __slots__ = ()

    def test(self, lookup: Lookup, current_vms: Collection[int]) -> bool:
        return True


_BoolNode = _Compare | _Not | _Chain | _True


def _numeric(raw: object) -> float | None:
    """A host value as a number, or None when it is missing or not a finite number."""
    if raw is None:
        return None
    text = raw if isinstance(raw, str) else str(raw)
    if len(text) > 400 or not _NUMERIC_RE.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


class _RequirementsParser(_Parser):
    def __init__(self, text: str):
        super().__init__(text, REQUIREMENTS)
        self.names: set[str] = set()

    def parse(self) -> _BoolNode:
        if self.peek().kind == "end":
            return _True()
        node = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            raise self.unexpected(tok, '"&", "|" or the end of the expression')
        return node

    def expr(self) -> _BoolNode:
        first = self.unary()
        rest: list[tuple[str, _BoolNode]] = []
        while self.peek().kind in ("&", "|"):
            op = self.advance().kind
            rest.append((op, self.unary()))
        return _Chain(first, rest) if rest else first

    def unary(self) -> _BoolNode:
        tok = self.peek()
        if tok.kind == "!":
            self.enter(tok, '"(" and "!"')
            self.advance()
            node: _BoolNode = _Not(self.unary())
            self.leave()
            return node
        if tok.kind == "(":
            self.enter(tok, '"(" and "!"')
            self.advance()
            node = self.expr()
            close = self.peek()
            if close.kind != ")":
                raise self.unexpected(
                    close, f'"&", "|" or ")" to close the "(" at {self.where(tok)}'
                )
            self.advance()
            self.leave()
            return node
        if tok.kind == "str":
            return self.compare()
        raise self.unexpected(tok, 'a comparison (an attribute name), "!" or "("')

    def compare(self) -> _Compare:
        name_tok = self.advance()
        name = _string_value(name_tok)
        if name:
            self.names.add(name)
        label = name_tok.text if len(name_tok.text) <= 40 else name_tok.text[:37] + "..."
        tok = self.peek()
        if tok.kind not in ("!", "=", ">", "<"):
            raise self.unexpected(tok, f'"=", "!=", ">" or "<" after {label}')
        self.advance()
        op = tok.kind
        if op == "!":
            eq = self.peek()
            if eq.kind != "=":
                raise self.unexpected(eq, '"=" after "!" (the operator is "!=")')
            self.advance()
            op = "!="
        value = self.peek()
        if value.kind == "num":
            self.advance()
            vm_id = None
            if name == "CURRENT_VMS" and op in ("=", "!=") and "." not in value.text:
                vm_id = int(value.text)
            return _Compare(name, op, float(value.text), "", vm_id)
        if value.kind == "str" and op in ("=", "!="):
            self.advance()
            return _Compare(name, op, None, _string_value(value), None)
        if op in ("=", "!="):
            raise self.unexpected(value, f'a number or a string after "{op}"')
        hint = ""
        if value.kind == "str":
            hint = 'only "=" and "!=" compare strings'
        elif value.kind == "-" and self.tokens[self.index + 1].kind == "num":
            hint = "write a negative number without a blank: -5"
        raise self.unexpected(value, f'a number after "{op}"', hint)


class Requirements:
    """A parsed ``SCHED_REQUIREMENTS``: parse once, then :meth:`matches` per host."""

    __slots__ = ("_names", "_root", "source")

    def __init__(self, source: str, root: _BoolNode, names: set[str]):
        self.source = source
        self._root = root
        self._names = frozenset(names)

    def matches(self, lookup: Lookup, current_vms: Collection[int] = ()) -> bool:
        """Whether a host satisfies the expression.

        ``lookup(name)`` returns the host's attribute as a string, or None when missing;
        ``current_vms`` are the ids of the VMs the host runs (for ``CURRENT_VMS``).
        """
        return bool(self._root.test(lookup, current_vms))

    def variables(self) -> set[str]:
        """The attribute names the expression compares (``CURRENT_VMS`` included)."""
        return set(self._names)

    def __repr__(self) -> str:
        return f"Requirements({self.source!r})"


def parse_requirements(text: str) -> Requirements:
    """Parse a ``SCHED_REQUIREMENTS`` expression; raise :class:`InvalidInput` if malformed."""
    parser = _RequirementsParser(text)
    root = parser.parse()
    return Requirements(text, root, parser.names)


# --------------------------------------------------------------------------------------
# Rank
# --------------------------------------------------------------------------------------


class _Num:
    __slots__ = ("value",)

    def __init__(self, value: float):
        self.value = value

    def value_for(self, lookup: Lookup) -> float:
        return self.value


class _Var:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def value_for(self, lookup: Lookup) -> float:
        if not self.name:
            return 0.0
        value = _numeric(lookup(self.name))
        return 0.0 if value is None else value


class _Neg:
    __slots__ = ("child",)

    def __init__(self, child: _ArithNode):
        self.child = child

    def value_for(self, lookup: Lookup) -> float:
        return -self.child.value_for(lookup)


class _Fold:
    """``first op1 x1 op2 x2 ...`` at one precedence level, folded left to right."""

    __slots__ = ("first", "rest")

    def __init__(self, first: _ArithNode, rest: list[tuple[str, _ArithNode]]):
        self.first = first
        self.rest = rest

    def value_for(self, lookup: Lookup) -> float:
        value = self.first.value_for(lookup)
        for op, node in self.rest:
            other = node.value_for(lookup)
            if op == "+":
                value += other
            elif op == "-":
                value -= other
            elif op == "*":
                value *= other
            else:
                value = value / other if other != 0.0 else 0.0
        return value


_ArithNode = _Num | _Var | _Neg | _Fold

_OPERAND = 'a number, an attribute name, "-" or "("'


class _RankParser(_Parser):
    def __init__(self, text: str):
        super().__init__(text, RANK)
        self.names: set[str] = set()

    def parse(self) -> _ArithNode:
        if self.peek().kind == "end":
            return _Num(0.0)
        node = self.sum()
        tok = self.peek()
        if tok.kind != "end":
            raise self.unexpected(tok, '"+", "-", "*", "/" or the end of the expression')
        return node

    def sum(self) -> _ArithNode:
        first = self.product()
        rest: list[tuple[str, _ArithNode]] = []
        while self.peek().kind in ("+", "-"):
            op = self.advance().kind
            rest.append((op, self.product()))
        return _Fold(first, rest) if rest else first

    def product(self) -> _ArithNode:
        first = self.unary()
        rest: list[tuple[str, _ArithNode]] = []
        while self.peek().kind in ("*", "/"):
            op = self.advance().kind
            rest.append((op, self.unary()))
        return _Fold(first, rest) if rest else first

    def unary(self) -> _ArithNode:
        tok = self.peek()
        if tok.kind == "-":
            self.enter(tok, '"(" and unary "-"')
            self.advance()
            node: _ArithNode = _Neg(self.unary())
            self.leave()
            return node
        if tok.kind == "(":
            self.enter(tok, '"(" and unary "-"')
            self.advance()
            node = self.sum()
            close = self.peek()
            if close.kind != ")":
                raise self.unexpected(
                    close, f'"+", "-", "*", "/" or ")" to close the "(" at {self.where(tok)}'
                )
            self.advance()
            self.leave()
            return node
        if tok.kind == "num":
            self.advance()
            return _Num(float(tok.text))
        if tok.kind == "str":
            self.advance()
            name = _string_value(tok)
            if name:
                self.names.add(name)
            return _Var(name)
        raise self.unexpected(tok, _OPERAND)


class Rank:
    """A parsed ``SCHED_RANK``: parse once, then :meth:`evaluate` per host."""

    __slots__ = ("_names", "_root", "source")

    def __init__(self, source: str, root: _ArithNode, names: set[str]):
        self.source = source
        self._root = root
        self._names = frozenset(names)

    def evaluate(self, lookup: Lookup) -> int:
        """The host's rank: computed in floating point, truncated toward zero.

        A missing or non-numeric attribute counts 0, a division by zero gives 0 and a
        non-finite result (an overflow) ranks 0.
        """
        value = self._root.value_for(lookup)
        return int(value) if math.isfinite(value) else 0

    def variables(self) -> set[str]:
        """The attribute names the expression uses."""
        return set(self._names)

    def __repr__(self) -> str:
        return f"Rank({self.source!r})"


def parse_rank(text: str) -> Rank:
    """Parse a ``SCHED_RANK`` expression; raise :class:`InvalidInput` if malformed."""
    parser = _RankParser(text)
    root = parser.parse()
    return Rank(text, root, parser.names)

"""The expression language of OneFlow elasticity policies.

A role's elasticity policy fires when its ``expression`` is true, for example::

    "expression": "(ATT > 50) && !(OTHER_ATT = 5.5 || ABC <= 30)"

Each attribute name stands for the average of that attribute over the role's VMs (computed
by the caller). An expression is parsed once (:func:`parse`, memoised by text) into an
immutable :class:`Expression` whose :meth:`Expression.evaluate` is cheap::

    expr = parse("ATT > 50")
    expr.evaluate({"ATT": 52.5})        # (True, "ATT[52.5] > 50")

Grammar (whitespace - space, tab, newline, carriage return, form feed - is free between
tokens)::

    expression := or_expr
    or_expr    := and_expr (("|" | "||") and_expr)*
    and_expr   := unary (("&" | "&&") unary)*
    unary      := "!" unary  |  "(" or_expr ")"  |  comparison
    comparison := operand ("=" | "==" | "!=" | ">" | "<" | ">=" | "<=") operand
    operand    := NAME | NUMBER
    NAME       := [A-Za-z_][A-Za-z0-9_]*
    NUMBER     := "-"? [0-9]+ ("." [0-9]+)?

So ``!`` binds tighter than ``&``, which binds tighter than ``|``; ``&``/``&&`` and
``|``/``||`` are aliases, as are ``=`` and ``==``. The ``-`` of a negative number must touch
its digits (``ATT > -5``). A bare operand (``ATT``), a chained comparison (``A < B < C``),
``.5``, ``5.`` and exponents (``1e3``) are syntax errors. ``!`` may be repeated (``!!(...)``).

Semantics: numbers compare as floats (``=`` is exact float equality). A comparison in which
an attribute has no value - the key is missing from ``values``, or its value is ``None``,
NaN or not a number - is **false**, whatever the operator (``!=`` included). ``!``, ``&``
and ``|`` are then plain boolean logic, so ``!(ATT > 5)`` is *true* when ATT has no value,
and ``ATT <= 5 || ATT > 5`` is false. Write ``ATT > 0 && !(ATT > 5)`` to require a value.

:meth:`Expression.evaluate` also returns the "evaluated" text: the expression re-printed
with a single space around binary operators, the user's parentheses and operator spellings
kept, and each attribute followed by its value in brackets (``[-]`` when it has none)::

    (ATT[52.5] > 50) && !(OTHER_ATT[-] = 5.5 || ABC[30] <= 30)

Removing the bracketed values gives an expression that parses to the same meaning.

Expressions longer than :data:`MAX_LENGTH` characters or nested deeper than
:data:`MAX_DEPTH` levels (each ``(`` and each ``!`` opens one) are refused. Every error is
an :class:`InvalidInput` whose message names the 1-based character position and what was
expected, e.g. ``syntax error at position 6: expected a number or an attribute name after
'>', got end of expression``.

Only the standard library is used: this module is shipped inside Ansible modules.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Expression",
    "Numbers",
    "Texts",
    "check",
    "formatted",
    "number",
    "parse",
]

MAX_LENGTH = 1000
"""The longest expression accepted, in characters."""

MAX_DEPTH = 50
"""The deepest nesting accepted, counting every enclosing ``(`` and ``!``."""

_CACHE_SIZE = 4096

# --------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------

_SPACE_RE = re.compile(r"[ \t\r\n\f\v]+")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A number is lexed as a whole "word" starting with a digit or "." so that "5x" or "5.5.5"
# is reported as one invalid number rather than as two confusing tokens.
_NUMBER_WORD_RE = re.compile(r"-?\.?[0-9][A-Za-z0-9_.]*")
_NUMBER_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# Longest first, so that ">=" wins over ">".
_PUNCT = ("&&", "||", ">=", "<=", "==", "!=", ">", "<", "=", "&", "|", "!", "(", ")")
_PUNCT_KIND = {
    "&&": "and",
    "&": "and",
    "||": "or",
    "|": "or",
    "!": "not",
    "(": "(",
    ")": ")",
    ">=": "cmp",
    "<=": "cmp",
    "==": "cmp",
    "!=": "cmp",
    ">": "cmp",
    "<": "cmp",
    "=": "cmp",
}
_COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
}

# ``ATTR op number`` with its operator written out (no comparator call): a step makes
# 10,000s of these comparisons. No value (None) makes each one false.
_ATTRIBUTE_NUMBER: dict[str, Callable[[Any, float], Callable[[Any], bool]]] = {
    ">": lambda i, c: lambda v: (a := v[i]) is not None and a > c,
    "<": lambda i, c: lambda v: (a := v[i]) is not None and a < c,
    ">=": lambda i, c: lambda v: (a := v[i]) is not None and a >= c,
    "<=": lambda i, c: lambda v: (a := v[i]) is not None and a <= c,
    "=": lambda i, c: lambda v: (a := v[i]) is not None and a == c,
    "==": lambda i, c: lambda v: (a := v[i]) is not None and a == c,
    "!=": lambda i, c: lambda v: (a := v[i]) is not None and a != c,
}


class _Token(NamedTuple):
    kind: str  # "name", "num", "cmp", "and", "or", "not", "(", ")" or "end"
    text: str  # as written
    pos: int  # 0-based offset in the source


def _error(pos: int, message: str) -> InvalidInput:
    return InvalidInput(f"syntax error at position {pos + 1}: {message}")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos, size = 0, len(text)
    while pos < size:
        char = text[pos]
        m = _SPACE_RE.match(text, pos)
        if m:
            pos = m.end()
            continue
        m = _NAME_RE.match(text, pos)
        if m:
            tokens.append(_Token("name", m.group(), pos))
            pos = m.end()
            continue
        m = _NUMBER_WORD_RE.match(text, pos)
        if char == "-" and not m:
            raise _error(pos, "expected a digit right after '-' (write negative numbers as -5)")
        if m:
            word = m.group()
            if not _NUMBER_RE.fullmatch(word):
                raise _error(pos, f"invalid number '{word}' (write a number like 50, -5 or 5.5)")
            tokens.append(_Token("num", word, pos))
            pos = m.end()
            continue
        for punct in _PUNCT:
            if text.startswith(punct, pos):
                tokens.append(_Token(_PUNCT_KIND[punct], punct, pos))
                pos += len(punct)
                break
        else:
            raise _error(pos, f"unknown character {char!r}")
    tokens.append(_Token("end", "", size))
    return tokens


def _describe(tok: _Token) -> str:
    if tok.kind == "end":
        return "end of expression"
    return f"'{tok.text}'"


def _hint(tok: _Token) -> str:
    """Advice for a token found where a comparison had ended."""
    if tok.kind == "cmp":
        return " (comparisons cannot be chained: write 'A < B && B < C')"
    return ""


# --------------------------------------------------------------------------------------
# Syntax tree
# --------------------------------------------------------------------------------------


class _Operand(NamedTuple):
    text: str  # the attribute name, or the number as written
    is_attribute: bool
    number: float  # the number's value (0.0 for an attribute)


class _Compare(NamedTuple):
    left: _Operand
    op: str
    right: _Operand


class _Not(NamedTuple):
    operand: _Node


class _Paren(NamedTuple):
    inner: _Node


class _Chain(NamedTuple):
    """``items[0] ops[0] items[1] ops[1] ...``, all ops of one kind (``and`` or ``or``)."""

    kind: str
    items: tuple[_Node, ...]
    ops: tuple[str, ...]  # as written ("&" or "&&", "|" or "||")


_Node = _Compare | _Not | _Paren | _Chain


# --------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: list[_Token]):
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        tok = self.tokens[self.index]
        self.index += 1
        return tok

    def previous(self) -> _Token | None:
        return self.tokens[self.index - 1] if self.index else None

    def parse(self) -> _Node:
        tok = self.peek()
        if tok.kind == "end":
            raise _error(0, "the expression is empty (write a comparison such as 'ATT > 50')")
        node = self.or_expr()
        tok = self.peek()
        if tok.kind == ")":
            raise _error(tok.pos, "unexpected ')' (there is no '(' to close)")
        if tok.kind != "end":
            raise _error(
                tok.pos,
                f"expected '&&', '||' or end of expression, got {_describe(tok)}{_hint(tok)}",
            )
        return node

    def or_expr(self) -> _Node:
        return self.chain("or", self.and_expr)

    def and_expr(self) -> _Node:
        return self.chain("and", self.unary)

    def chain(self, kind: str, item: Callable[[], _Node]) -> _Node:
        items = [item()]
        ops: list[str] = []
        while self.peek().kind == kind:
            ops.append(self.take().text)
            items.append(item())
        if not ops:
            return items[0]
        return _Chain(kind, tuple(items), tuple(ops))

    def enter(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _error(
                tok.pos,
                f"the expression is nested too deeply (at most {MAX_DEPTH} levels of '(' and '!')",
            )

    def unary(self) -> _Node:
        tok = self.peek()
        if tok.kind == "not":
            self.enter(tok)
            self.take()
            node: _Node = _Not(self.unary())
            self.depth -= 1
            return node
        if tok.kind == "(":
            self.enter(tok)
            self.take()
            inner = self.or_expr()
            close = self.peek()
            if close.kind == "end":
                raise _error(close.pos, f"unclosed '(' opened at position {tok.pos + 1}")
            if close.kind != ")":
                raise _error(
                    close.pos,
                    f"expected '&&', '||' or ')' to close the '(' opened at position "
                    f"{tok.pos + 1}, got {_describe(close)}{_hint(close)}",
                )
            self.take()
            self.depth -= 1
            return _Paren(inner)
        if tok.kind in ("name", "num"):
            return self.comparison()
        prev = self.previous()
        after = f" after '{prev.text}'" if prev else ""
        raise _error(
            tok.pos,
            f"expected a comparison (such as 'ATT > 50'), '!' or '('{after}, got {_describe(tok)}",
        )

    def comparison(self) -> _Compare:
        left = self.operand(self.take())
        op = self.peek()
        if op.kind != "cmp":
            raise _error(
                op.pos,
                f"expected a comparison operator ('>', '<', '>=', '<=', '=', '==' or '!=') "
                f"after '{left.text}', got {_describe(op)}",
            )
        self.take()
        tok = self.peek()
        if tok.kind not in ("name", "num"):
            raise _error(
                tok.pos,
                f"expected a number or an attribute name after '{op.text}', got {_describe(tok)}",
            )
        self.take()
        return _Compare(left, op.text, self.operand(tok))

    @staticmethod
    def operand(tok: _Token) -> _Operand:
        if tok.kind == "name":
            return _Operand(tok.text, True, 0.0)
        return _Operand(tok.text, False, float(tok.text))


# --------------------------------------------------------------------------------------
# Compilation: a tree of closures over a list of attribute values
# --------------------------------------------------------------------------------------

_Values = Sequence["float | None"]  # or a Numbers (the slots are then the names)
_Test = Callable[[_Values], bool]


def _compile(node: _Node, slot: Mapping[str, int]) -> _Test:
    if isinstance(node, _Compare):
        return _compile_compare(node, slot)
    if isinstance(node, _Paren):
        return _compile(node.inner, slot)
    if isinstance(node, _Not):
        inner = _compile(node.operand, slot)
        return lambda v: not inner(v)
    tests = tuple(_compile(item, slot) for item in node.items)
    if len(tests) == 2:  # the usual chain: one call less than a loop
        first, second = tests
        if node.kind == "and":
            return lambda v: first(v) and second(v)
        return lambda v: first(v) or second(v)
    if node.kind == "and":
        # Plain loops: faster than all()/any() over a generator, and this is the hot path.
        def all_of(v: _Values) -> bool:
            for test in tests:  # noqa: SIM110
                if not test(v):
                    return False
            return True

        return all_of

    def any_of(v: _Values) -> bool:
        for test in tests:  # noqa: SIM110
            if test(v):
                return True
        return False

    return any_of


def _compile_compare(node: _Compare, slot: Mapping[str, int]) -> _Test:
    cmp = _COMPARATORS[node.op]
    left, right = node.left, node.right
    if left.is_attribute and right.is_attribute:
        i, j = slot[left.text], slot[right.text]

        def attr_attr(v: _Values) -> bool:
            a, b = v[i], v[j]
            return a is not None and b is not None and cmp(a, b)

        return attr_attr
    if left.is_attribute:
        i, c = slot[left.text], right.number
        if node.op in _ATTRIBUTE_NUMBER:  # the usual comparison: the operator inlined
            return _ATTRIBUTE_NUMBER[node.op](i, c)

        def attr_num(v: _Values) -> bool:
            a = v[i]
            return a is not None and cmp(a, c)

        return attr_num
    if right.is_attribute:
        c, j = left.number, slot[right.text]

        def num_attr(v: _Values) -> bool:
            b = v[j]
            return b is not None and cmp(c, b)

        return num_attr
    constant = cmp(left.number, right.number)
    return lambda v: constant


def _render(node: _Node, slot: Mapping[str, int], out: list[str]) -> None:
    """Append the evaluated text's ``str.format`` template: attributes as ``NAME[{i}]``."""
    if isinstance(node, _Compare):
        for operand, sep in ((node.left, f" {node.op} "), (node.right, "")):
            if operand.is_attribute:
                out.append(f"{operand.text}[{{{slot[operand.text]}}}]")
            else:
                out.append(operand.text)
            out.append(sep)
    elif isinstance(node, _Paren):
        out.append("(")
        _render(node.inner, slot, out)
        out.append(")")
    elif isinstance(node, _Not):
        out.append("!")
        _render(node.operand, slot, out)
    else:
        _render(node.items[0], slot, out)
        for op, item in zip(node.ops, node.items[1:], strict=True):
            out.append(f" {op} ")
            _render(item, slot, out)


def _attributes(node: _Node, seen: dict[str, None]) -> None:
    if isinstance(node, _Compare):
        for operand in (node.left, node.right):
            if operand.is_attribute:
                seen.setdefault(operand.text, None)
    elif isinstance(node, _Paren):
        _attributes(node.inner, seen)
    elif isinstance(node, _Not):
        _attributes(node.operand, seen)
    else:
        for item in node.items:
            _attributes(item, seen)


def number(raw: object) -> float | None:
    """An attribute's value as a float, or None when missing, NaN or not a number."""
    if type(raw) is float:
        return None if raw != raw else raw
    if raw is None:
        return None
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return None if math.isnan(value) else value


def _format_value(value: float | None) -> str:
    """``-`` for no value; whole numbers (and large ones) without a fraction; else 6 digits."""
    if value is None:
        return "-"
    if -1e6 < value < 1e6:  # the usual case first (a step formats every role's averages)
        return str(round(value)) if value.is_integer() else format(value, ".6g")
    if math.isfinite(value) and abs(value) < 1e15:
        return str(round(value))
    return format(value, ".6g")


formatted = _format_value  # public: a step formats each role's averages once

# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


class Numbers(dict):
    """Checked values by attribute name (floats); None (no value) for a name it lacks."""

    def __missing__(self, key: str) -> None:
        return None


class Texts(dict):
    """Formatted values by attribute name; ``-`` (no value) for a name it lacks."""

    def __missing__(self, key: str) -> str:
        return "-"


class Expression:
    """A parsed elasticity expression; immutable. Build it with :func:`parse`."""

    __slots__ = ("_template", "_test", "attributes", "test_numbers", "text", "text_of")

    text: str
    attributes: tuple[str, ...]
    # ``evaluate_numbers`` in two calls, for a caller that makes 10,000s of them: the
    # truth for checked numbers by name, and the evaluated text from formatted ones
    test_numbers: Callable[[Mapping[str, float | None]], bool]
    text_of: Callable[[Mapping[str, str]], str]

    def __init__(self, text: str, tree: _Node):
        seen: dict[str, None] = {}
        _attributes(tree, seen)
        attributes = tuple(seen)
        slot = {name: i for i, name in enumerate(attributes)}
        out: list[str] = []
        _render(tree, slot, out)
        set_ = object.__setattr__
        set_(self, "text", text)
        set_(self, "attributes", attributes)
        set_(self, "_test", _compile(tree, slot))
        # the same test reading the values by name, from a ``Numbers``
        set_(self, "test_numbers", _compile(tree, {name: name for name in attributes}))
        set_(self, "_template", "".join(out))
        # the same text built from the attributes' texts (a ``Texts``)
        set_(self, "text_of", _renderer(out, slot))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return self.text == other.text

    def __hash__(self) -> int:
        return hash(self.text)

    def evaluate(self, values: Mapping[str, float | None]) -> tuple[bool, str]:
        """The expression's truth for ``values`` and the evaluated text.

        ``values`` maps attribute names to their values; a missing key, ``None``, NaN or a
        non-numeric value means "no value", which makes every comparison using it false.
        """
        get = values.get
        vals = [number(get(name)) for name in self.attributes]
        return self._test(vals), self._template.format(*map(_format_value, vals))

    def evaluate_numbers(
        self, numbers: Mapping[str, float | None], texts: Mapping[str, str]
    ) -> tuple[bool, str]:
        """``evaluate`` for values already checked (floats, None for no value) and
        already formatted (``texts``, from :func:`formatted`, with ``-`` for every name
        it lacks: a ``Texts``, or a plain dict with every attribute): what a step does
        for the many policies of one role, whose averages it prepares once."""
        return self.test_numbers(numbers), self.text_of(texts)


def _renderer(out: list[str], slot: Mapping[str, int]) -> Callable[[Mapping[str, str]], str]:
    """The evaluated text from the attributes' texts, by name: the template's literal
    parts and the texts joined in one call (a step renders 10,000s of them, and a join
    costs less than half a ``format``). ``out`` is ``_render``'s template."""
    attribute = {f"{name}[{{{i}}}]": name for name, i in slot.items()}
    parts: list[str] = []  # literal, name, literal, name, ..., literal
    names: list[str] = []
    literal = ""
    for piece in out:  # an attribute's piece is NAME[{i}]: NAME[ + value + ]
        name = attribute.get(piece)
        if name is None:
            literal += piece
            continue
        parts.append(literal + name + "[")
        names.append(name)
        literal = "]"
    parts.append(literal)
    join = "".join
    if not names:
        (text,) = parts
        return lambda texts: text
    if len(names) == 1:
        (a,), (p0, p1) = names, parts
        return lambda t: join((p0, t[a], p1))
    if len(names) == 2:
        (a, b), (p0, p1, p2) = names, parts
        return lambda t: join((p0, t[a], p1, t[b], p2))
    if len(names) == 3:
        (a, b, c), (p0, p1, p2, p3) = names, parts
        return lambda t: join((p0, t[a], p1, t[b], p2, t[c], p3))
    if len(names) == 4:
        (a, b, c, d), (p0, p1, p2, p3, p4) = names, parts
        return lambda t: join((p0, t[a], p1, t[b], p2, t[c], p3, t[d], p4))
    pick = operator.itemgetter(*names)
    lead, rest = parts[0], parts[1:]
    return lambda t: lead + join(v + p for v, p in zip(pick(t), rest, strict=True))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _parse_cached(text: str) -> Expression:
    return Expression(text, _Parser(_tokenize(text)).parse())


def parse(text: str) -> Expression:
    """Parse an elasticity expression; raise :class:`InvalidInput` when it is invalid.

    Results are memoised by text, so re-parsing the same expression is cheap.
    """
    if not isinstance(text, str):
        raise InvalidInput(f"the expression must be a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise InvalidInput(
            f"the expression is too long ({len(text)} characters, at most {MAX_LENGTH})"
        )
    return _parse_cached(text)


def check(text: str) -> None:
    """Raise :class:`InvalidInput` when ``text`` is not a valid expression (for validators)."""
    parse(text)

"""The expression language of OneFlow elasticity policies."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.flow.expressions import (
    MAX_DEPTH,
    MAX_LENGTH,
    Expression,
    Numbers,
    Texts,
    check,
    formatted,
    parse,
)

GUIDE = "(ATT > 50) && !(OTHER_ATT = 5.5 || ABC <= 30)"


def truth(text: str, **values: float | None) -> bool:
    return parse(text).evaluate(values)[0]


def error(text: str) -> str:
    with pytest.raises(InvalidInput) as exc:
        parse(text)
    return str(exc.value)


def strip_values(evaluated: str) -> str:
    """The evaluated text without the ``[value]`` after each attribute."""
    return re.sub(r"\[[^\]]*\]", "", evaluated)


# --------------------------------------------------------------------------------------
# Semantics
# --------------------------------------------------------------------------------------

T, F = "A > 0", "A < 0"  # with A=1: a true and a false comparison


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        # ! binds tighter than &, & tighter than |
        (f"!{F} & {T}", {"A": 1}, True),
        (f"!{T} & {F}", {"A": 1}, False),
        (f"!({T} & {F})", {"A": 1}, True),
        (f"{T} | {T} & {F}", {"A": 1}, True),  # T | (T & F)
        (f"({T} | {T}) & {F}", {"A": 1}, False),
        (f"{F} & {T} | {T}", {"A": 1}, True),  # (F & T) | T
        (f"{F} & ({T} | {T})", {"A": 1}, False),
        (f"{T} | {F} & {F}", {"A": 1}, True),
        (f"!{T} | {T}", {"A": 1}, True),  # (!T) | T
        (f"!({T} | {T})", {"A": 1}, False),
        (f"!{F} & !{F} | {F}", {"A": 1}, True),
        (f"!!{T}", {"A": 1}, True),
        (f"!!!{T}", {"A": 1}, False),
        # && and || are aliases of & and |
        (f"{T} && {F}", {"A": 1}, False),
        (f"{T} || {F}", {"A": 1}, True),
        (f"{F} || {T} && {F}", {"A": 1}, False),
        (f"{F} || {T} & {T}", {"A": 1}, True),
        (f"({F} || {T}) && {T}", {"A": 1}, True),
        # every comparison operator, on floats
        ("A > 5.5", {"A": 5.6}, True),
        ("A > 5.5", {"A": 5.5}, False),
        ("A < 5.5", {"A": 5.4}, True),
        ("A < 5.5", {"A": 5.5}, False),
        ("A >= 5.5", {"A": 5.5}, True),
        ("A >= 5.5", {"A": 5.4}, False),
        ("A <= 5.5", {"A": 5.5}, True),
        ("A <= 5.5", {"A": 5.6}, False),
        ("A = 5.5", {"A": 5.5}, True),
        ("A = 5.5", {"A": 5.50001}, False),
        ("A == 5.5", {"A": 5.5}, True),
        ("A == 5", {"A": 5.0}, True),
        ("A != 5.5", {"A": 5.5}, False),
        ("A != 5.5", {"A": 5.4}, True),
        ("A = 50", {"A": 50}, True),  # an int value
        # numbers on the left
        ("50 < ATT", {"ATT": 51}, True),
        ("50 < ATT", {"ATT": 50}, False),
        ("50 >= ATT", {"ATT": 50}, True),
        ("5.5 = ATT", {"ATT": 5.5}, True),
        ("1 < 2", {}, True),
        ("2 < 1", {}, False),
        # negative numbers
        ("A > -5", {"A": -4.5}, True),
        ("A > -5", {"A": -5}, False),
        ("A >-5.5", {"A": -5.5}, False),
        ("-1 < A", {"A": 0}, True),
        ("A = -0", {"A": 0.0}, True),
        # attribute against attribute
        ("A > B", {"A": 2, "B": 1}, True),
        ("A > B", {"A": 1, "B": 1}, False),
        ("A = B", {"A": 0.5, "B": 0.5}, True),
        ("A != B", {"A": 0.5, "B": 0.25}, True),
        ("A >= A", {"A": 3}, True),
        # whitespace is free
        ("A>1&&B<2", {"A": 2, "B": 1}, True),
        ("\tA\n>\r1 ", {"A": 2}, True),
        ("( ( A > 1 ) )", {"A": 2}, True),
        ("_x_1 > 0", {"_x_1": 1}, True),
    ],
)
def test_truth_table(text: str, values: Mapping[str, float | None], expected: bool) -> None:
    assert parse(text).evaluate(values)[0] is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ATT > 5", False),
        ("ATT < 5", False),
        ("ATT = 5", False),
        ("ATT != 5", False),  # != too: no value, no comparison
        ("5 < ATT", False),
        ("ATT > B", False),  # B has a value, ATT has none
        ("B > ATT", False),
        ("!(ATT > 5)", True),  # plain logic on top of a false comparison
        ("!ATT > 5", True),
        ("ATT <= 5 || ATT > 5", False),
        ("ATT > 5 || B = 1", True),
        ("ATT > 0 && !(ATT > 5)", False),
    ],
)
def test_missing_attribute_makes_comparisons_false(text: str, expected: bool) -> None:
    for missing in ({"B": 1}, {"B": 1, "ATT": None}, {"B": 1, "ATT": float("nan")}):
        assert parse(text).evaluate(missing)[0] is expected, missing


def test_non_numeric_value_counts_as_missing() -> None:
    assert parse("A > 1").evaluate({"A": "abc"}) == (False, "A[-] > 1")  # type: ignore[dict-item]
    assert parse("A > 1").evaluate({"A": "2"}) == (True, "A[2] > 1")  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"ATT": 52.5, "OTHER_ATT": 1, "ABC": 31}, True),
        ({"ATT": 52.5, "ABC": 31}, True),  # OTHER_ATT = 5.5 is false without a value
        ({"ATT": 50, "OTHER_ATT": 1, "ABC": 31}, False),
        ({"ATT": 52.5, "OTHER_ATT": 5.5, "ABC": 31}, False),
        ({"ATT": 52.5, "OTHER_ATT": 1, "ABC": 30}, False),
        ({"OTHER_ATT": 1, "ABC": 31}, False),
        ({}, False),
    ],
)
def test_guide_expression(values: Mapping[str, float | None], expected: bool) -> None:
    assert parse(GUIDE).evaluate(values)[0] is expected


# --------------------------------------------------------------------------------------
# The Expression object and the evaluated text
# --------------------------------------------------------------------------------------


def test_guide_evaluated_text() -> None:
    result, text = parse(GUIDE).evaluate({"ATT": 52.5, "ABC": 30})
    assert result is False
    assert text == "(ATT[52.5] > 50) && !(OTHER_ATT[-] = 5.5 || ABC[30] <= 30)"


@pytest.mark.parametrize(
    ("text", "values", "evaluated"),
    [
        ("ATT > 50", {"ATT": 52.5}, "ATT[52.5] > 50"),
        ("ATT>50", {"ATT": 1 / 3}, "ATT[0.333333] > 50"),
        ("  ATT   >=50.0", {"ATT": 30.0}, "ATT[30] >= 50.0"),
        ("A>1&B<2|C=3", {"A": 2, "B": 0, "C": 3}, "A[2] > 1 & B[0] < 2 | C[3] = 3"),
        ("A==B", {"A": -1.5, "B": None}, "A[-1.5] == B[-]"),
        ("!(A>1)", {}, "!(A[-] > 1)"),
        ("!!A>1", {"A": 2}, "!!A[2] > 1"),
        ("((A > 1))", {"A": 2}, "((A[2] > 1))"),
        ("A > 1 || A < -1", {"A": 0}, "A[0] > 1 || A[0] < -1"),
        ("MEM > 1", {"MEM": 2097152.0}, "MEM[2097152] > 1"),
        ("MEM > 1", {"MEM": 2097152.7}, "MEM[2097153] > 1"),
        ("X > 1", {"X": 1.5e20}, "X[1.5e+20] > 1"),
        ("X > 1", {"X": 1e-7}, "X[1e-07] > 1"),
        ("X > 1", {"X": float("inf")}, "X[inf] > 1"),
    ],
)
def test_evaluated_text(text: str, values: Mapping[str, float | None], evaluated: str) -> None:
    assert parse(text).evaluate(values)[1] == evaluated


def test_attributes_in_order_of_first_appearance() -> None:
    assert parse(GUIDE).attributes == ("ATT", "OTHER_ATT", "ABC")
    assert parse("B > A && 1 < C || A = B").attributes == ("B", "A", "C")
    assert parse("1 < 2").attributes == ()


def test_expression_is_immutable_and_memoised() -> None:
    expr = parse(GUIDE)
    assert isinstance(expr, Expression)
    assert expr.text == GUIDE
    assert parse(GUIDE) is expr
    with pytest.raises(AttributeError):
        expr.text = "A > 1"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        expr.attributes = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del expr.text
    assert repr(expr) == f"Expression({GUIDE!r})"


def test_check() -> None:
    assert check(GUIDE) is None
    with pytest.raises(InvalidInput, match="position 6"):
        check("ATT >")


def test_not_a_string() -> None:
    for value in (None, 5, ["A > 1"]):
        with pytest.raises(InvalidInput, match="must be a string"):
            parse(value)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ATT >", "position 6: expected a number or an attribute name after '>', "
         "got end of expression"),
        ("ATT > 50 &&", "position 12: expected a comparison (such as 'ATT > 50'), '!' or '(' "
         "after '&&', got end of expression"),
        ("(ATT > 50", "position 10: unclosed '(' opened at position 1"),
        ("A > 1 && ((B > 1) || (C > 1)", "position 29: unclosed '(' opened at position 10"),
        ("ATT > 50)", "position 9: unexpected ')'"),
        ("()", "position 2: expected a comparison (such as 'ATT > 50'), '!' or '(' after '(', "
         "got ')'"),
        ("ATT 50", "position 5: expected a comparison operator ('>', '<', '>=', '<=', '=', "
         "'==' or '!=') after 'ATT', got '50'"),
        ("ATT", "position 4: expected a comparison operator"),
        ("ATT && B > 1", "position 5: expected a comparison operator"),
        ("!ATT", "position 5: expected a comparison operator"),
        ("(ATT)", "position 5: expected a comparison operator"),
        ("ATT > 5x", "position 7: invalid number '5x'"),
        ("ATT > 5.5.5", "position 7: invalid number '5.5.5'"),
        ("ATT > 5.", "position 7: invalid number '5.'"),
        ("ATT > .5", "position 7: invalid number '.5'"),
        ("ATT > 1e3", "position 7: invalid number '1e3'"),
        ("5ATT > 1", "position 1: invalid number '5ATT'"),
        ("ATT > - 5", "position 7: expected a digit right after '-'"),
        ("ATT >> 5", "position 6: expected a number or an attribute name after '>', got '>'"),
        ("ATT => 5", "position 6: expected a number or an attribute name after '=', got '>'"),
        ("ATT > 1 > 2", "position 9: expected '&&', '||' or end of expression, got '>' "
         "(comparisons cannot be chained"),
        ("ATT > 1 B", "position 9: expected '&&', '||' or end of expression, got 'B'"),
        ("(ATT > 1 B)", "position 10: expected '&&', '||' or ')' to close the '(' opened at "
         "position 1, got 'B'"),
        ("", "position 1: the expression is empty"),
        ("  \t ", "position 1: the expression is empty"),
        ("ATT > 50 & & B < 1", "position 12: expected a comparison (such as 'ATT > 50'), "
         "'!' or '(' after '&', got '&'"),
        ("ATT > 50 &&& B < 1", "position 12: expected a comparison"),
        ("|| A > 1", "position 1: expected a comparison (such as 'ATT > 50'), '!' or '(', "
         "got '||'"),
        ("$A > 1", "position 1: unknown character '$'"),
        ("A > 1 ; B < 2", "position 7: unknown character ';'"),
        ("A.B > 1", "position 2: unknown character '.'"),
        ("ATT > \"5\"", "position 7: unknown character '\"'"),
        ("CPU\u00e9 > 1", "position 4: unknown character '\u00e9'"),
        ("A\x00 > 1", "position 2: unknown character '\\x00'"),
    ],
)  # fmt: skip
def test_syntax_errors(text: str, message: str) -> None:
    msg = error(text)
    assert msg.startswith("syntax error at " + message), msg


def test_length_limit() -> None:
    long_ok = " " * (MAX_LENGTH - 5) + "A > 1"
    assert len(long_ok) == MAX_LENGTH
    assert truth(long_ok, A=2)
    msg = error(long_ok + " ")
    assert msg == f"the expression is too long ({MAX_LENGTH + 1} characters, at most 1000)"
    assert MAX_LENGTH == 1000


def test_depth_limit() -> None:
    assert MAX_DEPTH == 50
    deepest = "(" * MAX_DEPTH + "A > 1" + ")" * MAX_DEPTH
    assert truth(deepest, A=2)
    too_deep = "(" * (MAX_DEPTH + 1) + "A > 1" + ")" * (MAX_DEPTH + 1)
    assert error(too_deep) == (
        "syntax error at position 51: the expression is nested too deeply "
        "(at most 50 levels of '(' and '!')"
    )
    assert truth("!" * MAX_DEPTH + "A > 1", A=2)
    assert "position 51: the expression is nested too deeply" in error(
        "!" * (MAX_DEPTH + 1) + "A > 1"
    )
    assert "nested too deeply" in error("!(" * 26 + "A > 1" + ")" * 26)
    # Never a RecursionError, however the text nests within the length limit.
    for text in ("(" * MAX_LENGTH, "!" * MAX_LENGTH, "!(" * (MAX_LENGTH // 2)):
        assert "nested too deeply" in error(text)


def test_long_flat_chain_evaluates() -> None:
    text = " && ".join(["A > 1"] * 100) + " || B > 1"
    assert len(text) < MAX_LENGTH
    assert truth(text, A=2)
    assert truth(text, A=0, B=2)
    assert not truth(text, A=0)


# --------------------------------------------------------------------------------------
# Fuzzing
# --------------------------------------------------------------------------------------

NAMES = ("A", "B", "CPU_LOAD", "_x1")
NUMBERS = ("0", "1", "-1", "5.5", "-2.25", "50", "100")
OPS = {
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}

Reference = Callable[[Mapping[str, float | None]], bool]
Generated = tuple[str, Reference]


def _operand(text: str) -> Callable[[Mapping[str, float | None]], float | None]:
    if text in NAMES:
        return lambda values: values.get(text)
    return lambda values: float(text)


@st.composite
def comparisons(draw: st.DrawFn) -> Generated:
    left = draw(st.sampled_from(NAMES + NUMBERS))
    right = draw(st.sampled_from(NAMES + NUMBERS))
    op = draw(st.sampled_from(sorted(OPS)))
    spaces = draw(st.sampled_from(("", " ", "  ")))
    get_left, get_right, cmp = _operand(left), _operand(right), OPS[op]

    def reference(values: Mapping[str, float | None]) -> bool:
        a, b = get_left(values), get_right(values)
        return a is not None and b is not None and cmp(a, b)

    return f"{left}{spaces}{op}{spaces}{right}", reference


def negated(inner: Generated) -> Generated:
    text, reference = inner
    return f"!{text}", lambda values: not reference(values)


def parenthesised(inner: Generated) -> Generated:
    text, reference = inner
    return f"({text})", reference


@st.composite
def chains(draw: st.DrawFn, terms: st.SearchStrategy[Generated]) -> Generated:
    """Terms joined by & | && ||, without parentheses: the reference applies precedence."""
    items = draw(st.lists(terms, min_size=2, max_size=4))
    ops = draw(st.lists(st.sampled_from(("&", "&&", "|", "||")), min_size=len(items) - 1,
                        max_size=len(items) - 1))  # fmt: skip
    text = items[0][0] + "".join(
        f" {op} {item[0]}" for op, item in zip(ops, items[1:], strict=True)
    )
    # Split into or-groups of and-ed terms.
    groups: list[list[Reference]] = [[items[0][1]]]
    for op, item in zip(ops, items[1:], strict=True):
        if op.startswith("&"):
            groups[-1].append(item[1])
        else:
            groups.append([item[1]])

    def reference(values: Mapping[str, float | None]) -> bool:
        return any(all(ref(values) for ref in group) for group in groups)

    return text, reference


def _extend(children: st.SearchStrategy[Generated]) -> st.SearchStrategy[Generated]:
    # "!" applies to a comparison or a parenthesised expression, possibly repeated.
    terms = st.one_of(comparisons(), children.map(parenthesised))
    unaries = st.one_of(terms, terms.map(negated), terms.map(negated).map(negated))
    return st.one_of(chains(unaries), unaries)


expressions = st.recursive(comparisons(), _extend, max_leaves=12)
value_maps = st.dictionaries(
    st.sampled_from(NAMES),
    st.one_of(
        st.none(),
        st.sampled_from((0.0, 1.0, -1.0, 5.5, -2.25, 50.0, 100.0)),
        st.floats(min_value=-200, max_value=200, allow_nan=False),
    ),
)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_fuzz_any_text(text: str) -> None:
    try:
        expr = parse(text)
    except InvalidInput:
        return
    assert isinstance(expr, Expression)
    expr.evaluate({})


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="AB_x019.- \t<>=!&|()$", max_size=60))
def test_fuzz_grammar_characters(text: str) -> None:
    try:
        expr = parse(text)
    except InvalidInput as exc:
        assert str(exc).startswith("syntax error at position ")
        return
    result, evaluated = expr.evaluate({"A": 1.0, "B": None, "x": 0.5})
    assert isinstance(result, bool)
    assert parse(strip_values(evaluated)).evaluate({"A": 1.0, "x": 0.5}) == (result, evaluated)


@settings(max_examples=500, deadline=None)
@given(expressions, value_maps)
def test_fuzz_valid_expressions(generated: Generated, values: dict[str, float | None]) -> None:
    text, reference = generated
    expr = parse(text)
    result, evaluated = expr.evaluate(values)
    assert result is reference(values)
    # The evaluated text, without the values, is the same expression again.
    again = parse(strip_values(evaluated))
    assert again.evaluate(values) == (result, evaluated)
    assert again.attributes == expr.attributes


@pytest.mark.parametrize(
    "text",
    [
        "ATT > 50",
        "(ATT > 50) && !(OTHER_ATT = 5.5 || ABC <= 30)",
        "A != B || 3 < A",
        "!!(A >= -5) & B == 1",
        "A > 1 && A < 9",
        "5 > 3",
        "A > 1 || B > 2 || C > 3 || (D >= 4)",
        "A > 1 && B > 2 && C > 3 && D > 4 && !(E = 5) && A != E",
    ],
)
@pytest.mark.parametrize(
    "values",
    [
        {},
        {"ATT": 52.5, "OTHER_ATT": 5.5, "ABC": 30.0, "A": -5.0, "B": 1.0, "C": 3.25, "E": 1e20},
        {"A": 7.0},
    ],
    ids=["none", "all", "some"],
)
def test_a_step_evaluating_by_name_gets_what_evaluate_gives(text, values):
    """A step prepares a role's averages once (checked, formatted) and evaluates every
    policy of the role by name: the truth and the text are evaluate's."""
    expr = parse(text)
    numbers = Numbers(values)
    texts = Texts((k, formatted(v)) for k, v in values.items())
    assert expr.evaluate_numbers(numbers, texts) == expr.evaluate(values)

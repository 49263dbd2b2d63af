"""The scheduler's expression language: SCHED_REQUIREMENTS and SCHED_RANK."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput, OneError
from ansible_collections.onekit.cloud.plugins.module_utils.vm.placement import (
    MAX_DEPTH,
    MAX_LENGTH,
    Rank,
    Requirements,
    parse_rank,
    parse_requirements,
)


def req(text: str, current_vms: tuple[int, ...] = (), **attrs: str) -> bool:
    """Parse ``text`` and match it against a host with attributes ``attrs``."""
    return parse_requirements(text).matches(attrs.get, current_vms)


def rank(text: str, **attrs: str) -> int:
    return parse_rank(text).evaluate(attrs.get)


def req_error(text: str) -> str:
    with pytest.raises(InvalidInput) as exc:
        parse_requirements(text)
    return str(exc.value)


def rank_error(text: str) -> str:
    with pytest.raises(InvalidInput) as exc:
        parse_rank(text)
    return str(exc.value)


# --------------------------------------------------------------------------------------
# Requirements: the reference examples
# --------------------------------------------------------------------------------------

KVM = {"CPUSPEED": "2400", "HOSTNAME": "node-3", "HYPERVISOR": "kvm", "FREE_CPU": "80"}
KVM |= {"FREE_MEM": "2048"}
EC2 = {"CPUSPEED": "900", "HOSTNAME": "ec2-a", "HYPERVISOR": "ec2", "PUBLIC_CLOUD": "YES"}
EC2 |= {"FREE_CPU": "40", "FREE_MEM": "4096"}


@pytest.mark.parametrize(
    ("text", "on_kvm", "on_ec2"),
    [
        ("CPUSPEED > 1000", True, False),
        ('HOSTNAME = "node-*"', True, False),
        ("!(PUBLIC_CLOUD = YES)", True, False),
        ("PUBLIC_CLOUD = YES & (HYPERVISOR = ec2 | HYPERVISOR = kvm)", False, True),
        ("FREE_CPU > 50 & FREE_MEM > 1024", True, False),
        ("FREE_CPU > 30 & FREE_MEM > 3000", False, True),
    ],
)
def test_reference_examples(text: str, on_kvm: bool, on_ec2: bool) -> None:
    parsed = parse_requirements(text)
    assert parsed.matches(KVM.get) is on_kvm
    assert parsed.matches(EC2.get) is on_ec2


def test_current_vms_is_membership_in_the_hosts_vms() -> None:
    assert req("CURRENT_VMS != 3", current_vms=(1, 2)) is True
    assert req("CURRENT_VMS != 3", current_vms=(1, 3)) is False
    assert req("CURRENT_VMS = 3", current_vms=(1, 3)) is True
    assert req("CURRENT_VMS = 3", current_vms=()) is False
    # A set works too, and the pseudo-attribute is not looked up on the host.
    assert req("CURRENT_VMS = 7", current_vms=frozenset({7}), CURRENT_VMS="0") is True


def test_current_vms_is_special_only_for_equality_with_an_integer() -> None:
    assert req("CURRENT_VMS > 1", current_vms=(5,)) is False  # looked up: missing
    assert req("CURRENT_VMS = 5.0", current_vms=(5,)) is False
    assert req("CURRENT_VMS = 5.0", current_vms=(5,), CURRENT_VMS="5") is True


# --------------------------------------------------------------------------------------
# Requirements: operators
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("A = 5", "5", True),
        ("A = 5", "6", False),
        ("A != 5", "6", True),
        ("A != 5", "5", False),
        ("A ! = 5", "6", True),  # "!=" is two tokens: a blank between them is fine
        ("A > 5", "6", True),
        ("A > 5", "5", False),
        ("A < 5", "4", True),
        ("A < 5", "5", False),
        ("A > -5", "-4", True),
        ("A < -5", "-4", False),
        # Numbers compare as floats, whichever side is the float.
        ("A = 1", "1.0", True),
        ("A = 1.5", "1.5", True),
        ("A = 1.5", "1.50", True),
        ("A = 1", "1.5", False),
        ("A > 1.5", "2", True),
        ("A < 0.5", "0.25", True),
        ("A > 1000", "1000.5", True),
        ("A != 2.0", "2", False),
        ("A = 1000", "1e3", True),
        ("A = 42", " 42 ", True),
        ("A = -3", "-3", True),
    ],
)
def test_numeric_comparisons(text: str, value: str, expected: bool) -> None:
    assert req(text, A=value) is expected


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("H = node1", "node1", True),
        ("H = node1", "node2", False),
        ("H != node1", "node2", True),
        ("H != node1", "node1", False),
        ('H = "node*"', "node-12", True),
        ('H = "node*"', "xnode", False),
        ('H = "*"', "", True),
        ('H = "node?"', "node7", True),
        ('H = "node?"', "node17", False),
        ('H = "node[ab]"', "nodea", True),
        ('H = "node[ab]"', "nodec", False),
        ('H = "node[!ab]"', "nodec", True),
        ('H = "node[0-9]"', "node5", True),
        ('H != "node?"', "node17", True),
        # Case-sensitive, as fnmatch(3) without FNM_CASEFOLD.
        ("H = NODE1", "node1", False),
        ('H = "node*"', "Node1", False),
        # Quoted strings keep their blanks and punctuation.
        ('H = "my host"', "my host", True),
        ('H = "my host"', "myhost", False),
        ('H = " padded "', " padded ", True),
        ('H = "node-1.example.com"', "node-1.example.com", True),
        ('H = "a&b|c(d)!=e"', "a&b|c(d)!=e", True),
        # A quoted number is a string: a glob on the text, not a numeric comparison.
        ('H = "2"', "2", True),
        ('H = "2"', "2.0", False),
        ("H = 2", "2.0", True),
        # "" is OpenNebula's NULL string: both = and != are false.
        ('H = ""', "", False),
        ('H != ""', "x", False),
    ],
)
def test_string_comparisons_are_globs(text: str, value: str, expected: bool) -> None:
    assert req(text, H=value) is expected


@pytest.mark.parametrize(
    "text",
    ["A = 5", "A != 5", "A > 5", "A < 5", "A = 5.5", "A != 5.5", "A = x", "A != x", 'A != "*"'],
)
def test_a_missing_attribute_makes_every_comparison_false(text: str) -> None:
    assert req(text) is False
    assert req(text, B="5") is False
    # ... and its negation true.
    assert req(f"!({text})") is True


@pytest.mark.parametrize("value", ["YES", "", "12abc", "0x10", "1.2.3", "nan", "inf", "1e999"])
@pytest.mark.parametrize("op", ["=", "!=", ">", "<"])
def test_a_non_numeric_value_makes_a_numeric_comparison_false(value: str, op: str) -> None:
    assert req(f"A {op} 5", A=value) is False
    assert req(f"A {op} -5.5", A=value) is False


def test_variable_names_are_passed_as_written() -> None:
    seen: list[str] = []

    def lookup(name: str) -> str | None:
        seen.append(name)
        return {"CPU": "5"}.get(name)

    assert parse_requirements("cpu > 1 | CPU > 1").matches(lookup) is True
    assert seen == ["cpu", "CPU"]
    # A quoted name is a name too.
    assert req('"CPU" > 1', CPU="5") is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # One precedence level, left-associative: a | b & c is (a | b) & c.
        ("T = 1 | T = 1 & F = 1", False),
        ("(T = 1 | T = 1) & F = 1", False),
        ("T = 1 | (T = 1 & F = 1)", True),
        ("F = 1 & T = 1 | T = 1", True),
        ("F = 1 & (T = 1 | T = 1)", False),
        # "!" takes the next operand only: ! a & b is (! a) & b.
        ("! F = 1 & T = 1", True),
        ("! T = 1 | T = 1", True),
        ("!(T = 1 | T = 1)", False),
        ("T = 1 & ! F = 1 | F = 1", True),
        ("!!T = 1", True),
        ("! ! ! T = 1", False),
        ("T = 1 & T = 1 & T = 1 & F = 1", False),
        ("F = 1 | F = 1 | T = 1", True),
        ("((((T = 1))))", True),
    ],
)
def test_boolean_operators_share_one_left_associative_level(text: str, expected: bool) -> None:
    assert req(text, T="1", F="0") is expected


@pytest.mark.parametrize("text", ["", " ", "\t \n  "])
def test_an_empty_expression_is_true(text: str) -> None:
    parsed = parse_requirements(text)
    assert parsed.matches(lambda name: None) is True
    assert parsed.variables() == set()


def test_newlines_and_tabs_are_blanks() -> None:
    assert req("CPU\t>\n1 &\r\nMEM > 2", CPU="2", MEM="3") is True


def test_variables_and_source() -> None:
    text = 'CPU > 1 & ("HOST" = x | !(CURRENT_VMS = 3)) & "" = 1 & CPU < 9'
    parsed = parse_requirements(text)
    assert isinstance(parsed, Requirements)
    assert parsed.source == text
    assert parsed.variables() == {"CPU", "HOST", "CURRENT_VMS"}
    assert repr(parsed) == f"Requirements({text!r})"


def test_lookup_values_that_are_not_strings_are_tolerated() -> None:
    values = {"N": 5, "S": True}
    parsed = parse_requirements("N > 4 & S = True")
    assert parsed.matches(values.get) is True  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Lexing traps
# --------------------------------------------------------------------------------------


def test_a_minus_glued_to_digits_is_a_negative_number() -> None:
    # "A -5" is STRING INTEGER(-5): no operator between them.
    assert req_error("A -5") == (
        'SCHED_REQUIREMENTS: syntax error at column 3: expected "=", "!=", ">" or "<" after A, '
        "found the number -5"
    )
    assert rank_error("A -5") == (
        'SCHED_RANK: syntax error at column 3: expected "+", "-", "*", "/" or the end of the '
        'expression, found the number -5 (to subtract, put a blank after the "-": A - 5)'
    )
    assert rank("A - 5", A="7") == 2
    assert rank("RUNNING_VMS * 2 - 1", RUNNING_VMS="3") == 5
    assert rank_error("RUNNING_VMS*2-1").endswith(
        'found the number -1 (to subtract, put a blank after the "-": 2 - 1)'
    )
    assert rank_error("(A) -1").endswith('(to subtract, put a blank after the "-": (...) - 1)')
    assert rank("(A)-(2)", A="7") == 5  # "-(" is two tokens


def test_unquoted_values_with_punctuation_do_not_parse() -> None:
    # node-1 is STRING(node) INTEGER(-1).
    assert req_error("A = node-1") == (
        'SCHED_REQUIREMENTS: syntax error at column 9: expected "&", "|" or the end of the '
        'expression, found the number -1 (a value containing "-" must be quoted: "node-1")'
    )
    assert req('A = "node-1"', A="node-1") is True
    # node.example.com: "." is no token at all.
    assert req_error("A = node.example.com") == (
        'SCHED_REQUIREMENTS: syntax error at column 9: unexpected character "." '
        "(a value containing punctuation must be double-quoted)"
    )
    # A value starting with a digit is INTEGER STRING.
    assert "column 6" in req_error("A = 1node")
    assert "column 8" in req_error("A = 5.5.5")
    assert req("A = node1_b", A="node1_b") is True
    # Glob characters are tokens too: a glob must be quoted.
    assert "column 9" in req_error("A = node*")
    assert "column 9" in req_error("A = node?")
    assert req('A = "node*"', A="node-7") is True


def test_a_float_needs_digits_on_both_sides_of_the_point() -> None:
    assert "column 6" in req_error("A = 1.")
    assert "column 5" in req_error("A = .5")
    assert req("A = 0.5", A=".5") is True


# --------------------------------------------------------------------------------------
# Syntax errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CPU >", 'column 6: expected a number after ">", found the end of the expression'),
        ("CPU > > 1", 'column 7: expected a number after ">", found ">"'),
        (
            "(CPU > 1",
            'column 9: expected "&", "|" or ")" to close the "(" at column 1, '
            "found the end of the expression",
        ),
        ("CPU > 1)", 'column 8: expected "&", "|" or the end of the expression, found ")"'),
        (
            "& CPU > 1",
            'column 1: expected a comparison (an attribute name), "!" or "(", found "&"',
        ),
        (
            "CPU ^ 2",
            'column 5: expected "=", "!=", ">" or "<" after CPU, found "^" '
            '("^" is not an operator of this language)',
        ),
        ('"unterminated', 'column 1: expected a closing " for the string that starts here'),
        (
            "CPU = 1 CPU = 2",
            'column 9: expected "&", "|" or the end of the expression, found "CPU"',
        ),
        ("CPU = )", 'column 7: expected a number or a string after "=", found ")"'),
        ("CPU != &", 'column 8: expected a number or a string after "!=", found "&"'),
        (
            "CPU ! 5",
            'column 7: expected "=" after "!" (the operator is "!="), found the number 5',
        ),
        (
            'A > "x"',
            'column 5: expected a number after ">", found the string "x" '
            '(only "=" and "!=" compare strings)',
        ),
        (
            "A > - 5",
            'column 5: expected a number after ">", found "-" '
            "(write a negative number without a blank: -5)",
        ),
        (
            "A = 1 &",
            'column 8: expected a comparison (an attribute name), "!" or "(", found '
            "the end of the expression",
        ),
        ("()", 'column 2: expected a comparison (an attribute name), "!" or "(", found ")"'),
        (
            "A = 1 | | B = 2",
            'column 9: expected a comparison (an attribute name), "!" or "(", found "|"',
        ),
        ('A = 1 & "open', 'column 9: expected a closing " for the string that starts here'),
        (
            "A @> 5",
            'column 3: unexpected character "@" '
            "(a value containing punctuation must be double-quoted)",
        ),
        ("A", 'column 2: expected "=", "!=", ">" or "<" after A, found the end of the expression'),
        (
            "5 > A",
            'column 1: expected a comparison (an attribute name), "!" or "(", found the number 5',
        ),
    ],
)
def test_requirements_syntax_errors(text: str, message: str) -> None:
    assert req_error(text) == f"SCHED_REQUIREMENTS: syntax error at {message}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "A ^ 2",
            'column 3: expected "+", "-", "*", "/" or the end of the expression, found '
            '"^" ("^" is not an operator of this language)',
        ),
        (
            "(A + 1",
            'column 7: expected "+", "-", "*", "/" or ")" to close the "(" at column 1, '
            "found the end of the expression",
        ),
        (
            "A +",
            'column 4: expected a number, an attribute name, "-" or "(", found the end of '
            "the expression",
        ),
        ("A B", 'column 3: expected "+", "-", "*", "/" or the end of the expression, found "B"'),
        ("* 2", 'column 1: expected a number, an attribute name, "-" or "(", found "*"'),
        ("A = 1", 'column 3: expected "+", "-", "*", "/" or the end of the expression, found "="'),
        ('A + "open', 'column 5: expected a closing " for the string that starts here'),
        ("A + 1.", 'column 6: unexpected character "."'),
        ("2 * ()", 'column 6: expected a number, an attribute name, "-" or "(", found ")"'),
    ],
)
def test_rank_syntax_errors(text: str, message: str) -> None:
    assert rank_error(text) == f"SCHED_RANK: syntax error at {message}"


def test_errors_on_later_lines_give_line_and_column() -> None:
    assert req_error("A = 1 &\n  B = @") == (
        'SCHED_REQUIREMENTS: syntax error at line 2, column 7: unexpected character "@" '
        "(a value containing punctuation must be double-quoted)"
    )
    assert rank_error('"multi\nline" +\n  *') == (
        "SCHED_RANK: syntax error at line 3, column 3: expected a number, an attribute name, "
        '"-" or "(", found "*"'
    )


def test_the_first_error_in_source_order_is_reported() -> None:
    # The parser fails at "&" before the lexer reaches the bad character.
    assert "column 1" in req_error("& A = .")
    assert "column 5" in req_error("A = . &")


def test_errors_are_invalid_input() -> None:
    with pytest.raises(OneError) as exc:
        parse_requirements("CPU >")
    assert isinstance(exc.value, InvalidInput)
    assert exc.value.http_status == 400
    with pytest.raises(InvalidInput, match="SCHED_REQUIREMENTS must be a string"):
        parse_requirements(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="SCHED_RANK must be a string"):
        parse_rank(["FREE_CPU"])  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------------------


def test_length_limit() -> None:
    text = "A = 1" + " " * (MAX_LENGTH - 5)
    assert len(text) == MAX_LENGTH == 4096
    assert req(text, A="1") is True
    assert rank(" " * MAX_LENGTH) == 0
    assert req_error(text + " ") == (
        "SCHED_REQUIREMENTS: expression is too long (4097 characters, at most 4096)"
    )
    assert rank_error("1" + " " * MAX_LENGTH) == (
        "SCHED_RANK: expression is too long (4097 characters, at most 4096)"
    )


def test_depth_limit() -> None:
    assert MAX_DEPTH == 100
    assert req("(" * 100 + "A = 1" + ")" * 100, A="1") is True
    assert req("!" * 100 + "A = 1", A="1") is True
    assert req("!(" * 50 + "A = 1" + ")" * 50, A="1") is True
    expected = (
        "SCHED_REQUIREMENTS: expression nested too deeply at column 101 (at most 100 levels of "
        '"(" and "!")'
    )
    assert req_error("(" * 101 + "A = 1" + ")" * 101) == expected
    assert req_error("!" * 101 + "A = 1") == expected
    assert req_error("(" * 2000) == expected  # no RecursionError

    assert rank("(" * 100 + "7" + ")" * 100) == 7
    assert rank("- " * 100 + "7") == 7
    assert rank_error("- " * 101 + "7") == (
        'SCHED_RANK: expression nested too deeply at column 201 (at most 100 levels of "(" and '
        'unary "-")'
    )
    assert "nested too deeply" in rank_error("(" * 4000)


def test_long_flat_chains_are_not_deep() -> None:
    chain = " & ".join(["A = 1"] * 500)
    assert len(chain) <= MAX_LENGTH
    assert req(chain, A="1") is True
    assert req(chain + " | B = 1", A="0", B="1") is True
    assert rank(" + ".join(["A"] * 1000), A="1") == 1000
    assert rank("*".join(["2"] * 1100)) == 0  # 2**1100 overflows to inf: ranks 0


# --------------------------------------------------------------------------------------
# Rank
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FREE_CPU", 80),
        ("- RUNNING_VMS", -3),
        ("RUNNING_VMS", 3),
        ("RUNNING_VMS * 2 + FREE_MEM / 1024", 8),
        ("PRIORITY", -1),
        ("-PRIORITY", 1),
        ("- - RUNNING_VMS", 3),
        ("--5", 5),  # "-" then INTEGER(-5)
        ("-(RUNNING_VMS + 1)", -4),
        ("(RUNNING_VMS + 1) * 2", 8),
        ("RUNNING_VMS + 1 * 2", 5),
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("10 - 4 - 3", 3),
        ("10 - (4 - 3)", 9),
        ("100 / 10 / 5", 2),
        ("100 / (10 / 5)", 50),
        ("- 2 * 3 + 10", 4),
        ("MISSING", 0),
        ("MISSING * 5 + 1", 1),
        ("HOSTNAME + 1", 1),  # non-numeric counts 0
        ('"FREE_CPU" + 1', 81),  # a quoted name is a variable too
        ('"" + 1', 1),
        ("7 / 2", 3),
        ("-7 / 2", -3),
        ("- 7 / 2", -3),
        ("7.9", 7),
        ("-7.9", -7),
        ("0.5 * 5", 2),
        ("LOAD * 10", 15),
        ("1 / 0", 0),
        ("5 + 1 / 0", 5),
        ("FREE_CPU / MISSING", 0),
        ("FREE_CPU / (RUNNING_VMS - 3)", 0),
        ("", 0),
        ("   ", 0),
    ],
)
def test_rank_values(text: str, expected: int) -> None:
    host = {
        "FREE_CPU": "80",
        "RUNNING_VMS": "3",
        "FREE_MEM": "2048",
        "PRIORITY": "-1",
        "HOSTNAME": "node-1",
        "LOAD": "1.5",
    }
    value = parse_rank(text).evaluate(host.get)
    assert type(value) is int
    assert value == expected


def test_rank_variables_and_source() -> None:
    parsed = parse_rank("FREE_CPU * 2 - RUNNING_VMS / FREE_CPU")
    assert isinstance(parsed, Rank)
    assert parsed.source == "FREE_CPU * 2 - RUNNING_VMS / FREE_CPU"
    assert parsed.variables() == {"FREE_CPU", "RUNNING_VMS"}
    assert repr(parsed) == "Rank('FREE_CPU * 2 - RUNNING_VMS / FREE_CPU')"


def test_rank_overflow_ranks_zero() -> None:
    assert rank("A * A", A="1e200") == 0
    assert rank("A * A - A * A", A="1e200") == 0  # inf - inf is nan
    assert rank("A", A="1e999") == 0  # not a finite number: counts 0


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

_TOKENISH = st.text(alphabet='!&|=><()*+/^-"AB_z09. \t\n@;é', max_size=40)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.text(max_size=60), _TOKENISH))
def test_any_text_parses_or_raises_invalid_input(text: str) -> None:
    for parse in (parse_requirements, parse_rank):
        try:
            parse(text)
        except InvalidInput as err:
            assert str(err).startswith(("SCHED_REQUIREMENTS", "SCHED_RANK"))


_NAMES = ["CPU", "FREE_MEM", "HOSTNAME", "CURRENT_VMS", "x1"]
_NAME = st.one_of(st.sampled_from(_NAMES), st.sampled_from(_NAMES).map(lambda n: f'"{n}"'))
_NUMBER = st.one_of(
    st.integers(-(10**9), 10**9).map(str),
    st.floats(-1e9, 1e9, allow_nan=False).map(lambda f: f"{f:.3f}"),
)
_STRING = st.one_of(
    st.from_regex(r"[A-Za-z][0-9A-Za-z_]{0,8}", fullmatch=True),
    st.text(st.characters(blacklist_characters='"!('), max_size=12).map(lambda s: f'"{s}"'),
)
_COMPARISON = st.one_of(
    st.tuples(_NAME, st.sampled_from(["=", "!=", "! =", ">", "<"]), _NUMBER),
    st.tuples(_NAME, st.sampled_from(["=", "!="]), _STRING),
).map(" ".join)
_REQUIREMENTS = st.recursive(
    _COMPARISON,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["&", "|"]), inner).map(" ".join),
        inner.map(lambda e: f"!{e}"),
        inner.map(lambda e: f"({e})"),
    ),
    max_leaves=12,
)
_VALUE = st.one_of(st.none(), st.text(max_size=10), _NUMBER, st.sampled_from(["nan", "1e999"]))
_HOST = st.fixed_dictionaries({name: _VALUE for name in _NAMES})


@settings(max_examples=200, deadline=None)
@given(_REQUIREMENTS, _HOST, st.lists(st.integers(-3, 3), max_size=4))
def test_well_formed_requirements_always_evaluate(
    text: str, host: dict[str, str | None], vms: list[int]
) -> None:
    assume(text.count("(") + text.count("!") <= MAX_DEPTH)
    parsed = parse_requirements(text)
    assert parsed.variables() <= set(_NAMES)
    assert parsed.matches(host.get, vms) in (True, False)


_OPERAND = st.one_of(_NUMBER, _NAME)
_RANK = st.recursive(
    _OPERAND,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(" ".join),
        inner.map(lambda e: f"- {e}"),
        inner.map(lambda e: f"({e})"),
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(_RANK, _HOST)
def test_well_formed_ranks_always_evaluate(text: str, host: dict[str, str | None]) -> None:
    assume(text.count("(") + text.count("- ") <= MAX_DEPTH)
    assert type(parse_rank(text).evaluate(host.get)) is int


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=8),
    st.lists(st.sampled_from(["&", "|"]), min_size=7, max_size=7),
)
def test_an_unparenthesised_chain_folds_left_to_right(
    terms: list[tuple[bool, bool]], ops: list[str]
) -> None:
    """``[!]t1 op1 [!]t2 op2 ...`` equals folding the terms left to right."""
    parts: list[str] = []
    expected = False
    for i, (value, negated) in enumerate(terms):
        term = value != negated
        if i == 0:
            expected = term
        else:
            parts.append(ops[i - 1])
            expected = (expected and term) if ops[i - 1] == "&" else (expected or term)
        parts.append(("! " if negated else "") + ("T = 1" if value else "F = 1"))
    assert req(" ".join(parts), T="1", F="0") is expected

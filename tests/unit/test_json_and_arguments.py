"""Reading JSON from users (``json_text``) and checking JSON arguments against a
function's annotations (``typecheck``): every bad input is InvalidInput that says what
is wrong and where, never a crash of the reader or of the function."""

from __future__ import annotations

import contextlib
import inspect
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.core.json_text import (
    MAX_DEPTH,
    parse_json,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.typecheck import check_arguments


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[" * 100000, "more than 64 deep (at line 1, column 65)"),
        ('{"a":' * 70 + "1" + "}" * 70, "more than 64 deep"),
        ("1" * 5000, "Exceeds the limit (4300 digits)"),
        ("[1e999]", "too large for a number"),
        ("[NaN]", "NaN is not a JSON number"),
        ('{"a": -Infinity}', "-Infinity is not a JSON number"),
        (b"\xff", "not UTF-8 text"),
    ],
)
def test_what_pythons_reader_trips_on_is_invalid_input(text, needle):
    with pytest.raises(InvalidInput, match="the body") as err:
        parse_json(text, "the body")
    assert needle in str(err.value)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('"\\ud800"', "the body: holds \\ud800"),
        ('{"args": ["x", "a\\udfffb"]}', "the body: args[1] holds \\udfff"),
        ('{"roles": [{"description": "\\udc00\\ud800"}]}', "roles[0].description holds \\udc00"),
        ('{"a\\ud800": 1}', "the body: the key a\\ud800 holds \\ud800"),
    ],
)
def test_half_a_surrogate_pair_is_invalid_input_naming_where_it_is(text, where):
    """JSON may escape a lone UTF-16 surrogate; no store or encoder takes one (a 500 the
    fuzzer found, from users.show and from OneFlow's chown)."""
    with pytest.raises(InvalidInput, match="half of a UTF-16 surrogate pair") as err:
        parse_json(text, "the body")
    assert where in str(err.value)


def test_a_whole_surrogate_pair_is_a_character():
    assert parse_json('["\\ud83d\\ude00", "\\u00e9"]') == ["\U0001f600", "\u00e9"]


def test_nesting_up_to_the_limit_and_brackets_in_strings_are_fine():
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_json(deep) is not None
    assert parse_json('{"a": "' + "[" * 1000 + '"}') == {"a": "[" * 1000}
    assert parse_json('{"a": "\\"[[["}') == {"a": '"[[['}


@given(st.text(alphabet='[]{}":,0123456789eE.-+ aN\\/*\n', max_size=300))
def test_any_json_like_text_parses_or_is_invalid_input(text):
    """No other exception escapes the reader, whatever near-JSON it is given."""
    with contextlib.suppress(InvalidInput):
        parse_json(text)


def operation(
    session: object,
    name: str,
    ids: list[int],
    pair: tuple[int | str, int | str],
    ratio: float = 1.0,
    mode: Literal["a", "b"] = "a",
    extra: dict[str, str] | None = None,
    anything: Any = None,
) -> None:
    """A function with the annotations core operations use."""


def check(*args: Any, **kwargs: Any) -> None:
    bound = inspect.signature(operation).bind(None, *args, **kwargs)
    check_arguments(operation, bound, "ops.operation")


def test_well_typed_arguments_pass():
    check("x", [1, 2], [1, "b"], ratio=2, mode="b", extra={"k": "v"}, anything=[{}])
    check("x", [], ["a", 3], extra=None)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((5, [], [1, 1]), {}, "argument name must be a string, got a number"),
        (("x", [True], [1, 1]), {}, "argument ids must be a list of integers, got a list"),
        (("x", [2**64], [1, 1]), {}, "argument ids must be a list of integers"),
        (("x", [], [1]), {}, "argument pair must be a list of 2: an integer or a string"),
        (("x", [], [1, 1]), {"ratio": float("nan")}, "argument ratio must be a number"),
        (("x", [], [1, 1]), {"ratio": "1"}, "argument ratio must be a number, got a string"),
        (("x", [], [1, 1]), {"ratio": 1e308}, "ratio must be a number, got a number out of range"),
        (("x", [], [1, 1]), {"mode": "c"}, "argument mode must be one of 'a', 'b'"),
        (("x", [], [1, 1]), {"extra": {"k": 1}}, "argument extra must be an object or null"),
        (("x", {}, [1, 1]), {}, "argument ids must be a list of integers, got an object"),
    ],
)
def test_each_misfit_names_its_argument(args, kwargs, message):
    with pytest.raises(InvalidInput) as err:
        check(*args, **kwargs)
    assert str(err.value) == f"ops.operation: {message}" or message in str(err.value)
    assert str(err.value).startswith("ops.operation: argument ")

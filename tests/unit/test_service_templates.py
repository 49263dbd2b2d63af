"""Service template documents: ``service_templates.validate`` (what ``oneflow-template
create`` accepts and the errors it reports) and ``json_text.parse_json`` (JSON with
the comments the guide writes in its examples)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.core.json_text import (
    parse_json,
    strip_comments,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow.service_templates import (
    check_merge,
    validate,
)

Body = dict[str, Any]

# The guide's my_service (§1.3.1), with the brackets its print lost put back.
MY_SERVICE = """
{
    "name": "my_service",
    "deployment": "straight",
    "roles": [
        {
            "name": "frontend",
            "vm_template": 0
        },
        {
            "name": "db_master",
            "parents": [
                "frontend"
            ],
            "vm_template": 1
        },
        {
            "name": "db_slave",
            "parents": [
                "frontend"
            ],
            "cardinality": 3,
            "vm_template": 2
        },
        {
            "name": "worker",
            "parents": [
                "db_master",
                "db_slave"
            ],
            "cardinality": 10,
            "vm_template": 3
        }
    ]
}
"""


def my_service() -> Body:
    return json.loads(MY_SERVICE)


def errors_of(doc: Any) -> list[str]:
    """The errors ``validate`` reports, one per item."""
    with pytest.raises(InvalidInput) as exc:
        validate(doc)
    message = str(exc.value)
    prefix = "the service template is not valid: "
    assert message.startswith(prefix)
    return message[len(prefix) :].split("; ")


def template(*roles: Body, **fields: Any) -> Body:
    return {"name": "t", "roles": list(roles), **fields}


def role(name: str, **fields: Any) -> Body:
    return {"name": name, "vm_template": 0, **fields}


# ---- validate -----------------------------------------------------------------------------
def test_the_guides_my_service_validates_with_its_values_kept() -> None:
    checked = validate(my_service())
    assert checked["name"] == "my_service"
    assert checked["deployment"] == "straight"
    assert [(r["name"], r["cardinality"], r["vm_template"]) for r in checked["roles"]] == [
        ("frontend", 1, 0),
        ("db_master", 1, 1),
        ("db_slave", 3, 2),
        ("worker", 10, 3),
    ]
    assert checked["roles"][3]["parents"] == ["db_master", "db_slave"]


def test_defaults_are_filled_in_without_touching_the_given_document() -> None:
    doc = template(role("web"))
    given = copy.deepcopy(doc)
    checked = validate(doc)
    assert checked["deployment"] == "none"
    web = checked["roles"][0]
    assert web["cardinality"] == 1
    assert web["parents"] == []
    assert web["elasticity_policies"] == []
    assert web["scheduled_policies"] == []
    assert doc == given


def test_every_error_is_reported_at_once_with_its_path() -> None:
    doc = {
        "name": "broken",
        "deployment": "parallel",
        "shutdown_action": "halt",
        "roles": [
            role("frontend"),
            role("db", parents=["fronted"]),
            role("frontend"),
            {"name": "worker", "cardinality": 5, "max_vms": 3},
            role("cache", min_vms=5, max_vms=2),
            role("queue", cardinality="3", vm_template="1"),
            role("web", cardinality=1, min_vms=2, max_vms=4),
            role("proxy", shutdown_action="poweroff"),
        ],
    }
    assert errors_of(doc) == [
        "template.deployment: must be 'none' or 'straight', got 'parallel'",
        "template.shutdown_action: must be 'shutdown' or 'shutdown-hard'",
        "roles[2].name: duplicate role 'frontend' (also roles[0])",
        "roles[3].vm_template: is required (the id of a VM template)",
        "roles[3].cardinality: 5 is above max_vms (3)",
        "roles[4]: min_vms (5) is more than max_vms (2)",
        "roles[5].vm_template: must be an integer, got '1'",
        "roles[5].cardinality: must be an integer, got '3'",
        "roles[6].cardinality: 1 is below min_vms (2)",
        "roles[7].shutdown_action: must be 'shutdown' or 'shutdown-hard'",
        "roles[1].parents: unknown role 'fronted'",
    ]


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        ([], "a service template must be a JSON object"),
        ({"roles": [role("a")]}, "template.name: is required"),
        ({"name": "  ", "roles": [role("a")]}, "template.name: must be a non-empty string"),
        ({"name": 7, "roles": [role("a")]}, "template.name: must be a non-empty string, got 7"),
        ({"name": "t"}, "template.roles: must be a non-empty list of roles"),
        ({"name": "t", "roles": []}, "template.roles: must be a non-empty list of roles"),
        (template("web"), "roles[0]: must be an object"),
        (template(role("web", cardinality=True)), "roles[0].cardinality: must be an integer"),
        (template(role("web", cardinality=-1)), "roles[0].cardinality: must be 0 or more"),
        (template(role("web-1")), "roles[0].name: may hold only ASCII letters, digits and _"),
        (template(role("web", parents="db")), "roles[0].parents: must be a list of role names"),
        (template(role("web", parents=["web"])), "a role cannot be its own parent"),
        (template(role("web"), custom_attrs=["a"]), "template.custom_attrs: must be an object"),
    ],
)
def test_a_single_mistake_is_named(doc: Any, error: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate(doc)
    assert error in str(exc.value)


def test_a_merge_drops_what_asks_for_nothing_as_one_service_sends_it() -> None:
    """community.general's one_service sends ``"name": ""`` without a service_name and
    ``custom_attrs_values`` with every instantiate: empty, they ask for nothing."""
    sent = {"name": "", "custom_attrs_values": {}}
    assert check_merge(sent) == {}
    assert sent == {"name": "", "custom_attrs_values": {}}  # the caller's dict untouched
    assert check_merge({"name": "app1", "custom_attrs_values": {}}) == {"name": "app1"}
    assert check_merge({"name": " "}) == {"name": " "}  # not empty: the template's check


@pytest.mark.parametrize(
    ("merge", "error"),
    [
        (
            {"custom_attrs_values": {"DB_PASSWORD": "{{ 7*7 }}"}},
            "merge_template.custom_attrs_values: custom attribute values are not applied by "
            "onekit; send {} (got ['DB_PASSWORD'])",
        ),
        ({"custom_attrs_values": []}, "merge_template.custom_attrs_values:"),
        ({"UID": 0}, "merge_template.UID: unknown key"),
    ],
)
def test_a_merge_refuses_what_it_cannot_apply(merge: dict, error: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        check_merge(merge)
    assert error in str(exc.value)


def test_a_dependency_cycle_is_named() -> None:
    doc = template(
        role("a"),
        role("b", parents=["a", "d"]),
        role("c", parents=["b"]),
        role("d", parents=["c"]),
    )
    [error] = errors_of(doc)
    assert error.startswith("template.roles: dependency cycle: ")
    cycle = error.removeprefix("template.roles: dependency cycle: ").split(" -> ")
    assert cycle[0] == cycle[-1]
    assert sorted(cycle[:-1]) == ["b", "c", "d"]


def test_a_dependency_cycle_is_reported_along_with_other_errors() -> None:
    doc = template(role("a", parents=["b"]), role("b", parents=["a"]), deployment="parallel")
    errors = errors_of(doc)
    assert any(e.startswith("template.deployment:") for e in errors)
    assert any(e.startswith("template.roles: dependency cycle:") for e in errors)


def test_elasticity_policies_need_min_and_max_vms() -> None:
    policy = {"type": "CHANGE", "adjust": 1, "expression": "CPU > 80"}
    scheduled = {"type": "CARDINALITY", "adjust": 2, "recurrence": "0 9 * * mon"}
    doc = template(
        role("web", elasticity_policies=[policy]),
        role("db", max_vms=3, scheduled_policies=[scheduled]),
        role("ok", min_vms=1, max_vms=3, elasticity_policies=[policy]),
    )
    assert errors_of(doc) == [
        "roles[0]: a role with elasticity_policies must set min_vms and max_vms",
        "roles[1]: a role with scheduled_policies must set min_vms and max_vms",
    ]


def test_policy_mistakes_are_named_with_their_index() -> None:
    bounds = {"min_vms": 1, "max_vms": 5}
    doc = template(
        role(
            "web",
            **bounds,
            elasticity_policies=[
                {"type": "CHANGE", "adjust": 1, "expression": "CPU > 80"},
                {"type": "PERCENT", "adjust": 1, "expression": "CPU > 80"},
                {"type": "CHANGE", "expression": "CPU > 80", "period": "60"},
                {"type": "CHANGE", "adjust": 1},
            ],
            scheduled_policies=[
                {"type": "CARDINALITY", "adjust": 2},
                {"type": "CARDINALITY", "adjust": -2, "start_time": "2024-01-01 09:00"},
                "every morning",
            ],
        )
    )
    assert errors_of(doc) == [
        "roles[0].elasticity_policies[1].type: must be one of CHANGE, CARDINALITY, "
        "PERCENTAGE_CHANGE, got 'PERCENT'",
        "roles[0].elasticity_policies[2].adjust: is required",
        "roles[0].elasticity_policies[2].period: must be an integer, got '60'",
        "roles[0].elasticity_policies[3].expression: is required",
        "roles[0].scheduled_policies[0]: needs start_time or recurrence",
        "roles[0].scheduled_policies[1].adjust: must be 0 or more, got -2",
        "roles[0].scheduled_policies[2]: must be an object",
    ]


def test_scheduled_policies_with_a_time_validate() -> None:
    doc = template(
        role(
            "web",
            min_vms=1,
            max_vms=10,
            cardinality=2,
            scheduled_policies=[
                {"type": "CARDINALITY", "adjust": 4, "recurrence": "0 9 * * mon-fri"},
                {"type": "CHANGE", "adjust": -1, "start_time": "2024-01-01 18:00"},
            ],
        ),
        deployment="none",
        shutdown_action="shutdown-hard",
    )
    checked = validate(doc)
    assert len(checked["roles"][0]["scheduled_policies"]) == 2
    assert checked["shutdown_action"] == "shutdown-hard"


def test_expressions_cron_lines_and_times_are_checked_at_creation() -> None:
    """Auto-scaling mistakes are found when the template is created, each with its path and
    what is wrong (an expression's position), never when the policy is evaluated."""
    doc = template(
        role(
            "web",
            min_vms=1,
            max_vms=3,
            elasticity_policies=[
                {"type": "CHANGE", "adjust": 1, "expression": "ATT >", "period": -3},
                {
                    "type": "CHANGE",
                    "adjust": 1,
                    "expression": "(ATT > 50) && !(B = 5.5 || C <= 30)",
                },
                {"type": "CHANGE", "adjust": 1, "expression": "ATT > 5", "period_number": -1},
            ],
            scheduled_policies=[
                {"type": "CARDINALITY", "adjust": 2, "recurrence": "61 * * * *"},
                {"type": "CARDINALITY", "adjust": 2, "recurrence": "0 9 * *"},
                {"type": "CARDINALITY", "adjust": 2, "start_time": "tomorrow"},
                {
                    "type": "CARDINALITY",
                    "adjust": 2,
                    "start_time": "2026-01-01",
                    "recurrence": "* * * * *",
                },
                {"type": "CARDINALITY", "adjust": 2, "recurrence": "0 9 * * mon, tue, wed"},
            ],
        ),
        role("db", min_vms=3, max_vms=2, cardinality=2),
    )
    errors = errors_of(doc)
    assert errors[:4] == [
        "roles[0].elasticity_policies[0].expression: syntax error at position 6: expected a "
        "number or an attribute name after '>', got end of expression",
        "roles[0].elasticity_policies[0].period: must be 0 or more, got -3",
        "roles[0].elasticity_policies[2].period_number: must be 0 or more, got -1",
        "roles[0].scheduled_policies[0].recurrence: '61 * * * *' is not a valid cron line "
        "(e.g. '0 9 * * mon,tue,wed')",
    ]
    assert errors[4].startswith("roles[0].scheduled_policies[1].recurrence: '0 9 * *' is not a")
    assert errors[5].startswith("roles[0].scheduled_policies[2].start_time: 'tomorrow' is not a")
    assert errors[6:] == [
        "roles[0].scheduled_policies[3]: give start_time or recurrence, not both",
        "roles[1]: min_vms (3) is more than max_vms (2)",
    ]


# ---- JSON with comments -------------------------------------------------------------------
def test_comments_outside_strings_are_removed() -> None:
    text = """{
        // the service's name
        "name": "web", /* inline */ "deployment": "none",
        /* a comment
           over two lines */
        "roles": [{"name": "a", "vm_template": 0}] // trailing
    }"""
    assert parse_json(text) == {
        "name": "web",
        "deployment": "none",
        "roles": [{"name": "a", "vm_template": 0}],
    }


def test_comment_markers_inside_strings_are_kept() -> None:
    text = '{"url": "http://x/y", "note": "a /* b */ c", "q": "say \\"//hi\\"", "e": "\\\\"}'
    assert strip_comments(text) == text
    assert parse_json(text) == {
        "url": "http://x/y",
        "note": "a /* b */ c",
        "q": 'say "//hi"',
        "e": "\\",
    }


def test_a_line_comment_keeps_the_line_break() -> None:
    assert strip_comments('{"a": 1, // one\n"b": 2}') == '{"a": 1, \n"b": 2}'


def test_an_unclosed_block_comment_is_an_error() -> None:
    with pytest.raises(InvalidInput, match=r"/\* comment that is never closed"):
        parse_json('{"a": 1} /* never closed')


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a": 1,\n "b": }', "line 2, column 7"),
        ('{\n  "a": 1\n  "b": 2\n}', "line 3, column 3"),
        ('{"a": 1, // fine\n "b" 2}', "line 2, column 6"),
    ],
)
def test_a_json_syntax_error_names_the_line_and_column(text: str, where: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_json(text, "the service template")
    message = str(exc.value)
    assert message.startswith("the service template is not valid JSON: ")
    assert message.endswith(where)


def test_a_syntax_error_after_a_multi_line_comment_names_its_own_line() -> None:
    text = '/* my service\n   template */\n{"name": "x",,}'
    with pytest.raises(InvalidInput, match="at line 3, column 14"):
        parse_json(text)


def test_parse_json_reads_utf8_bytes_and_refuses_other_bytes() -> None:
    assert parse_json('{"name": "caf\u00e9"}'.encode()) == {"name": "caf\u00e9"}
    with pytest.raises(InvalidInput, match="is not UTF-8 text"):
        parse_json(b'{"name": "\xff"}')


def test_the_guides_template_parses_and_validates() -> None:
    commented = "// my_service, from the guide\n" + MY_SERVICE.replace(
        '"deployment"', '/* straight: parents first */ "deployment"'
    )
    assert validate(parse_json(commented)) == validate(my_service())

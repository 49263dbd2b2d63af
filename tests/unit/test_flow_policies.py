"""OneFlow auto-scaling as ``flow_policies`` computes it: the adjustment arithmetic, policy
times (start_time, cron recurrences, time zones) and one role's evaluation on a fake clock.

The scenarios are the guide's (§1.4.7): the Scalability1 role and its testing notes, and
the Time_windows schedule. ``now`` is always passed explicitly; the metrics are built with
``averages`` over (VM id, values) pairs, as the LCM builds them from its VMs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support.guide_examples import scalability1_role

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.flow import policies as flow_policies
from ansible_collections.onekit.cloud.plugins.module_utils.flow.policies import (
    CARDINALITY,
    CHANGE,
    PERCENTAGE_CHANGE,
    Averages,
    Scaling,
    adjusted,
    averages,
    evaluate,
)

Body = dict[str, Any]
UTC = ZoneInfo("UTC")
MADRID = ZoneInfo("Europe/Madrid")
WEEKDAYS = "0 9 * * mon,tue,wed,thu,fri"


def at(text: str) -> float:
    """Epoch seconds of an ISO time with its offset (2026-11-30 is a Monday)."""
    return dt.datetime.fromisoformat(text).timestamp()


def utc(day: str, clock: str) -> float:
    return at(f"{day}T{clock}+00:00")


def scalability1(cardinality: int = 2) -> Body:
    """The guide's Scalability1 role (§1.4.7)."""
    return scalability1_role(cardinality)


def time_windows(cardinality: int = 1) -> Body:
    """The guide's Time_windows role: 6 VMs from 9:00, 10 from 13:00, 2 from 22:30."""
    return {
        "name": "frontend",
        "cardinality": cardinality,
        "vm_template": 0,
        "min_vms": 1,
        "max_vms": 15,
        "scheduled_policies": [
            {"type": "CARDINALITY", "adjust": 6, "recurrence": WEEKDAYS},
            {"type": "CARDINALITY", "adjust": 10, "recurrence": "0 13 * * mon, tue, wed, thu, fri"},
            {"type": "CARDINALITY", "adjust": 2, "recurrence": "30 22 * * mon-fri"},
        ],
    }


def att(*values: Any) -> Callable[[tuple[str, ...]], Averages]:
    """Metrics of VMs 0, 1, ... whose ATT are ``values`` (None: the VM has no ATT)."""
    vms = [(i, {} if v is None else {"ATT": v}) for i, v in enumerate(values)]
    return lambda names: averages(names, vms)


def no_metrics(names: tuple[str, ...]) -> Averages:
    return averages(names, [])


def true_evals(role: Body) -> list[int]:
    return [p.get("true_evals", 0) for p in role["elasticity_policies"]]


# ---- the arithmetic -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "adjust", "cardinality", "min_vms", "max_vms", "step", "expected"),
    [
        pytest.param(CHANGE, 2, 2, 1, 5, None, 4, id="change-up"),
        pytest.param(CHANGE, -1, 3, 1, 5, None, 2, id="change-down"),
        pytest.param(CHANGE, -5, 2, None, None, None, 0, id="change-down-unbounded-stops-at-0"),
        pytest.param(CARDINALITY, 6, 2, 1, 15, None, 6, id="cardinality-up"),
        pytest.param(CARDINALITY, 2, 10, 1, 15, None, 2, id="cardinality-down"),
        pytest.param(CARDINALITY, 20, 2, 1, 15, None, 15, id="cardinality-capped-at-max"),
        pytest.param(CARDINALITY, 0, 3, 1, 15, None, 1, id="cardinality-floored-at-min"),
        pytest.param(PERCENTAGE_CHANGE, 25, 10, None, None, None, 12, id="pct-10-vms-+25%-is-+2"),
        pytest.param(PERCENTAGE_CHANGE, 50, 7, None, None, None, 10, id="pct-7-vms-+50%-is-+3"),
        pytest.param(PERCENTAGE_CHANGE, -50, 7, None, None, None, 4, id="pct-7-vms--50%-is--3"),
        pytest.param(PERCENTAGE_CHANGE, -10, 5, None, None, None, 4, id="pct-under-1-down-is-1"),
        pytest.param(PERCENTAGE_CHANGE, 10, 3, None, None, None, 4, id="pct-under-1-up-is-1"),
        pytest.param(PERCENTAGE_CHANGE, 10, 10, None, None, None, 11, id="pct-exactly-1"),
        pytest.param(PERCENTAGE_CHANGE, 0, 4, 1, 10, None, 4, id="pct-zero-changes-nothing"),
        pytest.param(PERCENTAGE_CHANGE, 20, 10, None, None, 3, 13, id="pct-step-raises-2-to-3"),
        pytest.param(PERCENTAGE_CHANGE, 50, 10, None, None, 2, 15, id="pct-step-below-change"),
        pytest.param(PERCENTAGE_CHANGE, -10, 5, 1, 5, 2, 3, id="guide-5-vms--10%-step-2"),
        pytest.param(PERCENTAGE_CHANGE, -10, 5, 4, 10, 2, 4, id="pct-step-floored-at-min"),
        pytest.param(CHANGE, 2, 4, 1, 5, None, 5, id="change-capped-at-max"),
        pytest.param(CHANGE, -3, 2, 1, 5, None, 1, id="change-floored-at-min"),
        pytest.param(CHANGE, 2, 5, 1, 5, None, 5, id="at-max-up-stays"),
        pytest.param(CHANGE, 1, 8, 1, 5, None, 8, id="forced-above-max-up-stays"),
        pytest.param(CARDINALITY, 10, 8, 1, 5, None, 8, id="forced-above-max-set-higher-stays"),
        pytest.param(CHANGE, -1, 8, 1, 5, None, 7, id="forced-above-max-down-moves-back"),
        pytest.param(CHANGE, -10, 8, 3, 5, None, 3, id="forced-above-max-down-to-min"),
        pytest.param(CHANGE, -1, 0, 2, 5, None, 0, id="forced-below-min-down-stays"),
        pytest.param(CHANGE, 1, 0, 2, 5, None, 1, id="forced-below-min-up-moves-back"),
    ],
)
def test_adjusted_gives_the_new_cardinality_a_policy_asks_for(
    kind: str,
    adjust: int,
    cardinality: int,
    min_vms: int | None,
    max_vms: int | None,
    step: int | None,
    expected: int,
) -> None:
    assert adjusted(kind, adjust, cardinality, min_vms, max_vms, step) == expected


@pytest.mark.parametrize(
    ("policy", "text"),
    [
        ({"type": "CHANGE", "adjust": 2}, "+ 2"),
        ({"type": "CHANGE", "adjust": -1}, "- 1"),
        ({"type": "PERCENTAGE_CHANGE", "adjust": -10, "min_adjust_step": 2}, "- 10 % (2)"),
        ({"type": "PERCENTAGE_CHANGE", "adjust": 20}, "+ 20 %"),
        ({"type": "CARDINALITY", "adjust": 6}, "= 6"),
    ],
)
def test_describe_adjust_prints_the_adjust_column_as_oneflow_show(policy: Body, text: str) -> None:
    assert flow_policies.describe_adjust(policy) == text


# ---- times --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("2026-12-01T09:00:00+01:00", None, utc("2026-12-01", "08:00")),
        ("2026-12-01T09:00:00+01:00", UTC, utc("2026-12-01", "08:00")),  # its offset wins
        ("2026-12-01 09:00", MADRID, utc("2026-12-01", "08:00")),  # CET
        ("2026-07-01 09:00", MADRID, utc("2026-07-01", "07:00")),  # CEST
        ("2026-12-01 09:00", UTC, utc("2026-12-01", "09:00")),
        ("2026-12-01 09:00 UTC", MADRID, utc("2026-12-01", "09:00")),
        ("2026/12/01 09:00", UTC, utc("2026-12-01", "09:00")),
        ("2026/12/01 09:00", MADRID, utc("2026-12-01", "08:00")),
        ("01/12/2026 09:00", UTC, utc("2026-12-01", "09:00")),
        ("Tue, 01 Dec 2026 09:00:00 +0100", None, utc("2026-12-01", "08:00")),
        ("1796115600", MADRID, 1796115600.0),
        (" 1796115600 ", None, 1796115600.0),
    ],
)
def test_parse_start_time_reads_the_usual_time_formats(
    text: str, tz: dt.tzinfo | None, expected: float
) -> None:
    assert flow_policies.parse_start_time(text, tz) == expected


@pytest.mark.parametrize("text", ["soon", "next tuesday", "2026-13-45 09:00", "", "12:00"])
def test_parse_start_time_refuses_garbage_with_examples(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        flow_policies.parse_start_time(text, UTC)
    message = str(raised.value)
    assert f"{text!r} is not a time" in message
    assert "e.g." in message
    assert "'2026-12-01 09:00'" in message


@pytest.mark.parametrize("text", ["0001-01-01", "01/01/0001 00:00", "0001/01/01"])
def test_a_start_time_with_no_local_time_is_out_of_range_not_a_crash(text: str) -> None:
    """Read in the server's own zone, the first day of year 1 made
    ``datetime.astimezone`` raise ValueError ("year 0 is out of range"): a 500 the fuzzer
    found in OneFlow's template checks."""
    with pytest.raises(InvalidInput, match="out of the range of times"):
        flow_policies.parse_start_time(text, None)
    with pytest.raises(InvalidInput, match="out of the range of times"):
        flow_policies.check_start_time(text)
    assert flow_policies.parse_start_time("0001-01-01T00:00:00+00:00") == -62135596800.0


@pytest.mark.parametrize(
    "line",
    [
        WEEKDAYS,
        "0 9 * * mon, tue, wed, thu, fri",  # as the guide's oneflow show prints it
        "30 22 * * mon-fri",
        "*/15 * * * *",
        "  0 13 * * 1-5  ",
    ],
)
def test_check_recurrence_accepts_cron_lines(line: str) -> None:
    flow_policies.check_recurrence(line)


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("61 * * * *", "is not a valid cron line"),
        ("0 25 * * *", "is not a valid cron line"),
        ("* * *", "give 5 fields"),
        ("every day", "give 5 fields"),
        ("", "give 5 fields"),
        ("0 0 31 2 *", "never comes"),  # February 31st
        ("0 0 1 1 mon#5", "never comes"),  # a fifth Monday on January 1st
    ],
)
def test_check_recurrence_refuses_what_is_not_a_cron_line(line: str, needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle) as raised:
        flow_policies.check_recurrence(line)
    assert repr(line) in str(raised.value)
    assert "e.g." in str(raised.value)


def test_a_stored_line_that_never_comes_plans_nothing_and_never_fires() -> None:
    """Stored before such lines were refused: the loop must not break on it."""
    policy = {"type": "CHANGE", "adjust": 1, "recurrence": "0 0 31 2 *"}
    assert flow_policies.next_time(policy, utc("2026-11-30", "08:00"), UTC) is None
    assert flow_policies.last_time(policy, utc("2026-11-30", "08:00"), UTC) is None
    role = time_windows()
    role["scheduled_policies"] = [policy]
    for clock in ("08:00", "09:00"):
        assert evaluate(role, no_metrics, utc("2026-11-30", clock), UTC) == (None, [])


def test_next_time_is_the_first_occurrence_after_now() -> None:
    policy = {"recurrence": WEEKDAYS}
    monday = "2026-11-30"
    assert flow_policies.next_time(policy, utc(monday, "08:00"), UTC) == utc(monday, "09:00")
    assert flow_policies.next_time(policy, utc(monday, "09:00"), UTC) == utc("2026-12-01", "09:00")
    # Friday after 9:00: the weekend is skipped
    friday = flow_policies.next_time(policy, utc("2026-11-27", "10:00"), UTC)
    assert friday == utc(monday, "09:00")


def test_last_time_is_the_latest_occurrence_up_to_now_included() -> None:
    policy = {"recurrence": WEEKDAYS}
    monday = "2026-11-30"
    assert flow_policies.last_time(policy, utc(monday, "09:00"), UTC) == utc(monday, "09:00")
    assert flow_policies.last_time(policy, utc(monday, "08:59"), UTC) == utc("2026-11-27", "09:00")
    saturday = "2026-12-05"
    assert flow_policies.last_time(policy, utc(saturday, "23:00"), UTC) == utc(
        "2026-12-04", "09:00"
    )


def test_recurrences_are_read_in_the_time_zone() -> None:
    policy = {"recurrence": "0 9 * * *"}
    now = utc("2026-11-30", "07:00")
    assert flow_policies.next_time(policy, now, MADRID) == utc("2026-11-30", "08:00")
    assert flow_policies.next_time(policy, now, UTC) == utc("2026-11-30", "09:00")
    late = utc("2026-11-30", "08:30")  # 9:00 has passed in Madrid, not in UTC
    assert flow_policies.last_time(policy, late, MADRID) == utc("2026-11-30", "08:00")
    assert flow_policies.last_time(policy, late, UTC) == utc("2026-11-29", "09:00")


def test_a_start_time_is_next_until_it_passes_then_last() -> None:
    policy = {"start_time": "2026-12-01 09:00"}
    nine = utc("2026-12-01", "09:00")
    assert flow_policies.next_time(policy, nine - 60, UTC) == nine
    assert flow_policies.next_time(policy, nine, UTC) is None
    assert flow_policies.last_time(policy, nine - 1, UTC) is None
    assert flow_policies.last_time(policy, nine, UTC) == nine
    assert flow_policies.next_time(policy, nine - 7200, MADRID) == nine - 3600


# ---- metrics ------------------------------------------------------------------------------
def test_averages_leave_out_values_that_are_not_numbers() -> None:
    found = averages(
        ("ATT", "CPU", "MISSING"),
        [
            (5, {"ATT": "high", "CPU": "10"}),
            (6, {"ATT": 60, "CPU": 30.0}),
            (7, {"ATT": "inf", "CPU": "nan"}),
            (8, {"ATT": None}),
            (9, {}),
        ],
    )
    assert found.values == {"ATT": 60.0, "CPU": 20.0, "MISSING": None}
    assert found.counts == {"ATT": 1, "CPU": 2}
    assert found.ignored == (
        "ATT of VM 5 is 'high'",
        "ATT of VM 7 is 'inf'",
        "CPU of VM 7 is 'nan'",
    )


def test_lookup_follows_the_guides_order_user_template_vm_then_template() -> None:
    vm = {
        "ID": 3,
        "CPU": "7",
        "USER_TEMPLATE": {"ATT": "1", "CPU": "99"},
        "MONITORING": {"NETTX": "1200", "NETRX": "800"},
        "TEMPLATE": {"ATT": "2", "OTHER": "3", "DISK": {"SIZE": "1"}},
    }
    assert flow_policies.lookup(vm, "ATT") == "1"
    assert flow_policies.lookup(vm, "CPU") == "99"
    assert flow_policies.lookup(vm, "NET_TX") == "1200"
    assert flow_policies.lookup(vm, "NET_RX") == "800"
    assert flow_policies.lookup(vm, "OTHER") == "3"
    assert flow_policies.lookup(vm, "DISK") is None  # a vector is not a value
    assert flow_policies.lookup(vm, "NOPE") is None


# ---- one role: the guide's Scalability1 testing notes ------------------------------------
def test_an_average_of_exactly_50_never_counts_a_true_evaluation() -> None:
    """Testing note 1: ATT 40 and 60, the average is 50; true evaluations stay 0."""
    role = scalability1()
    for t in range(0, 60, 5):
        assert evaluate(role, att(40, 60), t) == (None, [])
        assert true_evals(role) == [0, 0]
    assert role["elasticity_policies"][0]["expression_evaluated"] == "ATT[50] > 50"
    assert role["cardinality"] == 2  # evaluate decides; it never scales the role itself


def test_true_evaluations_count_once_per_period_and_the_third_scales_up_by_two() -> None:
    """Testing note 2: ATT 45 and 60; a true evaluation each 10 s, the third adds 2 VMs."""
    role = scalability1()
    policy = role["elasticity_policies"][0]

    assert evaluate(role, att(45, 60), 0) == (None, [])
    assert (policy["true_evals"], policy["last_eval"]) == (1, 0)
    assert policy["expression_evaluated"] == "ATT[52.5] > 50"
    assert evaluate(role, att(45, 60), 5) == (None, [])  # within the period: not evaluated
    assert (policy["true_evals"], policy["last_eval"]) == (1, 0)
    assert evaluate(role, att(45, 60), 10) == (None, [])
    assert (policy["true_evals"], policy["last_eval"]) == (2, 10)
    assert evaluate(role, att(45, 60), 15) == (None, [])
    assert policy["true_evals"] == 2

    scaling, notes = evaluate(role, att(45, 60), 20)
    assert notes == []
    assert scaling is not None
    assert (scaling.old, scaling.new) == (2, 4)
    assert "ATT > 50 true 3/3 (avg 52.5)" in scaling.reason
    assert scaling.cooldown is None  # the role's, else the server's default
    assert policy["true_evals"] == 0  # triggering resets it


def test_a_false_evaluation_resets_the_true_evaluations() -> None:
    role = scalability1()
    evaluate(role, att(45, 60), 0)
    evaluate(role, att(45, 60), 10)
    assert true_evals(role)[0] == 2
    evaluate(role, att(40, 60), 20)
    assert true_evals(role)[0] == 0
    evaluate(role, att(45, 60), 30)
    assert true_evals(role)[0] == 1


def test_new_vms_without_att_keep_the_average_high_and_scale_up_to_the_max_of_5() -> None:
    """Testing note 3: the new VMs have no ATT; the average stays 52.5 and the role grows
    until max_vms."""
    role = scalability1(cardinality=4)
    metrics = att(45, 60, None, None)
    assert evaluate(role, metrics, 30) == (None, [])
    assert evaluate(role, metrics, 40) == (None, [])
    scaling, _ = evaluate(role, metrics, 50)
    assert scaling is not None
    assert (scaling.old, scaling.new) == (4, 5)  # +2 capped at max_vms
    assert "ATT > 50 true 3/3 (avg 52.5)" in scaling.reason

    role["cardinality"] = 5
    metrics = att(45, 60, None, None, None)
    for t in range(60, 200, 10):
        assert evaluate(role, metrics, t) == (None, [])  # at the max: nothing to do


def test_att_below_20_at_5_vms_removes_min_adjust_step_vms() -> None:
    """Testing note 4: -10 % of 5 is 0.5, rounded to 1, raised to min_adjust_step 2."""
    role = scalability1(cardinality=5)
    scaling, notes = evaluate(role, att(10, 10, 10, 10, 10), 100)
    assert notes == []
    assert scaling == Scaling(5, 3, "ATT < 20 true 1/1 (avg 10)", None)
    assert role["elasticity_policies"][1]["expression_evaluated"] == "ATT[10] < 20"


def test_the_first_policy_that_changes_the_cardinality_wins() -> None:
    role = scalability1(cardinality=5)
    role["elasticity_policies"] = [
        {"expression": "ATT > 1", "type": "CHANGE", "adjust": 1},  # at max_vms: no change
        {"expression": "ATT > 2", "type": "CHANGE", "adjust": -1},
        {"expression": "ATT > 3", "type": "CHANGE", "adjust": -2},
    ]
    scaling, _ = evaluate(role, att(10), 0)
    assert scaling is not None
    assert (scaling.old, scaling.new) == (5, 4)
    assert scaling.reason.startswith("ATT > 2 ")


def test_a_policys_own_cooldown_is_in_the_scaling() -> None:
    role = scalability1()
    role["elasticity_policies"] = [
        {"expression": "ATT > 50", "type": "CHANGE", "adjust": 1, "cooldown": 45}
    ]
    scaling, _ = evaluate(role, att(60), 0)
    assert scaling == Scaling(2, 3, "ATT > 50 true 1/1 (avg 60)", 45)


def test_an_expression_with_several_attributes_explains_each_average() -> None:
    role = scalability1()
    role["elasticity_policies"] = [
        {"expression": "ATT > 50 && CPU < 90", "type": "CHANGE", "adjust": 1}
    ]
    vms = [(0, {"ATT": 60, "CPU": 50}), (1, {"ATT": 70, "CPU": 70})]
    scaling, _ = evaluate(role, lambda names: averages(names, vms), 0)
    assert scaling is not None
    assert scaling.reason == "ATT > 50 && CPU < 90 true 1/1 (avg ATT 65, CPU 60)"


def test_no_vm_with_the_attribute_makes_the_expression_false() -> None:
    role = scalability1()
    for t in (0, 10, 20, 30):
        assert evaluate(role, att(None, None), t) == (None, [])
    assert true_evals(role) == [0, 0]
    assert role["elasticity_policies"][0]["expression_evaluated"] == "ATT[-] > 50"


# ---- min_vms ------------------------------------------------------------------------------
def test_a_role_below_min_vms_scales_up_to_it_without_cooldown() -> None:
    role = scalability1(cardinality=0)
    role["min_vms"] = 2
    assert evaluate(role, att(), 0) == (Scaling(0, 2, "below min_vms 2", 0), [])


def test_a_role_at_min_vms_stays() -> None:
    role = scalability1(cardinality=1)
    assert evaluate(role, att(40), 0) == (None, [])


# ---- scheduled policies -------------------------------------------------------------------
MONDAY = "2026-11-30"


def test_the_first_scheduled_evaluation_only_records_the_time() -> None:
    role = time_windows()
    now = utc(MONDAY, "10:00")  # 9:00 has passed, but the service was not there
    assert evaluate(role, no_metrics, now, UTC) == (None, [])
    assert [p["next_eval"] for p in role["scheduled_policies"]] == [
        utc("2026-12-01", "09:00"),
        utc(MONDAY, "13:00"),
        utc(MONDAY, "22:30"),
    ]


def test_a_time_between_the_services_start_and_its_first_evaluation_fires() -> None:
    """The service started at 8:59:30; a busy server evaluates it first at 9:00:40: the
    9:00 window is not lost (the test of this used to depend on the machine's speed)."""
    role = time_windows()
    started = utc(MONDAY, "08:59:30")
    scaling, _ = evaluate(role, no_metrics, utc(MONDAY, "09:00:40"), UTC, since=started)
    assert scaling == Scaling(1, 6, f"scheduled {WEEKDAYS} (planned 2026-11-30 09:00)", None)
    one_off = time_windows()
    one_off["scheduled_policies"] = [
        {"type": "CHANGE", "adjust": 1, "start_time": "2026-11-30 08:59:40"}
    ]
    scaling, _ = evaluate(one_off, no_metrics, utc(MONDAY, "09:00:40"), UTC, since=started)
    assert scaling is not None and (scaling.old, scaling.new) == (1, 2)


def test_a_recurrence_passed_between_two_evaluations_fires_once() -> None:
    role = time_windows()
    assert evaluate(role, no_metrics, utc(MONDAY, "08:59:30"), UTC) == (None, [])
    scaling, _ = evaluate(role, no_metrics, utc(MONDAY, "09:00:10"), UTC)
    assert scaling == Scaling(1, 6, f"scheduled {WEEKDAYS} (planned 2026-11-30 09:00)", None)
    role["cardinality"] = 6
    assert evaluate(role, no_metrics, utc(MONDAY, "09:00:40"), UTC) == (None, [])
    assert evaluate(role, no_metrics, utc(MONDAY, "12:59:50"), UTC) == (None, [])
    later, _ = evaluate(role, no_metrics, utc(MONDAY, "13:00:20"), UTC)
    assert later is not None
    assert (later.old, later.new) == (6, 10)


def test_a_server_down_across_two_planned_times_fires_once_the_later() -> None:
    role = time_windows()
    evaluate(role, no_metrics, utc(MONDAY, "08:00"), UTC)
    # down from 8:00 to 14:00: 9:00 (6 VMs) and 13:00 (10 VMs) both passed
    scaling, _ = evaluate(role, no_metrics, utc(MONDAY, "14:00"), UTC)
    assert scaling is not None
    assert (scaling.old, scaling.new) == (1, 10)
    assert "planned 2026-11-30 13:00" in scaling.reason
    role["cardinality"] = 10
    assert evaluate(role, no_metrics, utc(MONDAY, "14:00:30"), UTC) == (None, [])


def test_a_scheduled_time_reads_in_the_time_zone() -> None:
    role = time_windows()
    evaluate(role, no_metrics, utc(MONDAY, "07:30"), MADRID)
    scaling, _ = evaluate(role, no_metrics, utc(MONDAY, "08:00:30"), MADRID)  # 9:00 in Madrid
    assert scaling is not None
    assert (scaling.new, scaling.reason) == (6, f"scheduled {WEEKDAYS} (planned 2026-11-30 09:00)")

    in_utc = time_windows()
    evaluate(in_utc, no_metrics, utc(MONDAY, "07:30"), UTC)
    assert evaluate(in_utc, no_metrics, utc(MONDAY, "08:00:30"), UTC) == (None, [])


def test_a_start_time_policy_fires_once_and_never_again() -> None:
    role = time_windows()
    role["scheduled_policies"] = [{"type": "CHANGE", "adjust": 1, "start_time": "2026-12-01 09:00"}]
    assert evaluate(role, no_metrics, utc(MONDAY, "12:00"), UTC) == (None, [])
    assert evaluate(role, no_metrics, utc("2026-12-01", "08:59:50"), UTC) == (None, [])
    scaling, _ = evaluate(role, no_metrics, utc("2026-12-01", "09:00:20"), UTC)
    assert scaling == Scaling(1, 2, "scheduled 2026-12-01 09:00 (planned 2026-12-01 09:00)")
    role["cardinality"] = 2
    for day, clock in (
        ("2026-12-01", "09:00:50"),
        ("2026-12-02", "09:00"),
        ("2027-12-01", "09:00"),
    ):
        assert evaluate(role, no_metrics, utc(day, clock), UTC) == (None, [])


def test_a_start_time_with_a_fraction_of_a_second_fires_once() -> None:
    role = time_windows()
    role["scheduled_policies"] = [
        {"type": "CHANGE", "adjust": 1, "start_time": "2026-12-01T09:00:00.500+00:00"}
    ]
    evaluate(role, no_metrics, utc(MONDAY, "12:00"), UTC)
    scaling, _ = evaluate(role, no_metrics, utc("2026-12-01", "09:00:00.700"), UTC)
    assert scaling is not None
    role["cardinality"] = 2
    assert evaluate(role, no_metrics, utc("2026-12-01", "09:00:30"), UTC) == (None, [])


def test_a_scheduled_policy_wins_over_a_triggered_elasticity_policy() -> None:
    role = time_windows()
    role["elasticity_policies"] = [{"expression": "ATT > 50", "type": "CHANGE", "adjust": 1}]
    evaluate(role, att(10), utc(MONDAY, "08:59:30"), UTC)
    scaling, _ = evaluate(role, att(60), utc(MONDAY, "09:00:10"), UTC)
    assert scaling is not None
    assert (scaling.new, scaling.reason.startswith("scheduled ")) == (6, True)


def test_a_scheduled_policy_that_changes_nothing_lets_the_elasticity_policies_run() -> None:
    role = time_windows(cardinality=6)
    role["elasticity_policies"] = [{"expression": "ATT > 50", "type": "CHANGE", "adjust": 1}]
    evaluate(role, att(10), utc(MONDAY, "08:59:30"), UTC)
    scaling, _ = evaluate(role, att(60), utc(MONDAY, "09:00:10"), UTC)
    assert scaling == Scaling(6, 7, "ATT > 50 true 1/1 (avg 60)", None)


# ---- values that are not numbers ---------------------------------------------------------
def one_policy_role() -> Body:
    role = scalability1()
    role["elasticity_policies"] = role["elasticity_policies"][:1]
    return role


def test_a_value_that_is_not_a_number_is_left_out_and_noted_once_while_it_stays() -> None:
    role = one_policy_role()
    assert evaluate(role, att("high", 60), 0) == (None, ["ATT of VM 0 is 'high'"])
    assert role["elasticity_policies"][0]["expression_evaluated"] == "ATT[60] > 50"
    assert true_evals(role) == [1]  # the average is over VM 1 alone
    assert evaluate(role, att("high", 60), 10) == (None, [])
    assert evaluate(role, att("higher", 60), 20)[1] == ["ATT of VM 0 is 'higher'"]
    assert evaluate(role, att(55, 60), 30)[1] == []
    assert evaluate(role, att("high", 60), 40)[1] == ["ATT of VM 0 is 'high'"]  # back again


def test_a_second_vm_not_a_number_is_noted_without_repeating_the_first() -> None:
    role = one_policy_role()
    evaluate(role, att("high", 60), 0)
    assert evaluate(role, att("high", "?", 60), 10)[1] == ["ATT of VM 1 is '?'"]


def test_two_policies_on_the_same_attribute_note_a_bad_value_once() -> None:
    role = scalability1()
    assert evaluate(role, att("high", 40), 0) == (None, ["ATT of VM 0 is 'high'"])


def test_counters_are_reset_on_every_role() -> None:
    first, second = scalability1(), scalability1()
    for role in (first, second):
        evaluate(role, att(45, 60), 0)
        evaluate(role, att(45, 60), 10)
    flow_policies.reset_counters([first, second])
    assert true_evals(first) == true_evals(second) == [0, 0]


def test_referenced_lists_every_attribute_the_roles_policies_use() -> None:
    role = scalability1()
    role["elasticity_policies"].append(
        {
            "expression": "(CPU > 5) && !(OTHER_ATT = 5.5 || ABC <= 30)",
            "type": "CHANGE",
            "adjust": 1,
        }
    )
    assert flow_policies.referenced([role, time_windows()]) == {"ATT", "CPU", "OTHER_ATT", "ABC"}

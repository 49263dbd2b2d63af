"""``oneflow policy-check`` as a real subprocess: a service template's auto-scaling policies
replayed over a metric series, offline (no server, no instance: ONEKIT_HOME is an empty
directory).

The template is the guide's Scalability1 (§1.4.7) as a user writes it, ``//`` comments
included; the series follows the guide's testing notes. Assertions are on what the user
sees: the timeline table, exit statuses, the one-line error messages.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from support.cli import VENV_BIN, assert_error
from support.guide_examples import scalability1_json, time_windows_json

START = "2026-11-30T08:00:00+00:00"  # a Monday

SCALABILITY1 = scalability1_json()

TIME_WINDOWS = time_windows_json()

# Testing notes 2-4: ATT 45 and 60 (average 52.5), the new VMs without ATT; at 100 s every
# VM reports 10
GUIDE_METRICS = """\
time,vm,attribute,value
# the two first VMs
0,frontend/0,ATT,45
0,frontend/1,ATT,60
100,frontend/0,ATT,10
100,frontend/1,ATT,10
100,frontend/2,ATT,10
100,frontend/3,ATT,10
100,frontend/4,ATT,10
"""

UP_2_TO_4 = "Role frontend scaling up from 2 to 4 nodes: ATT > 50 true 3/3 (avg 52.5)"
UP_4_TO_5 = "Role frontend scaling up from 4 to 5 nodes: ATT > 50 true 3/3 (avg 52.5)"
DOWN_5_TO_3 = "Role frontend scaling down from 5 to 3 nodes: ATT < 20 true 1/1 (avg 10)"


def policy_check(
    tmp_path: Path, *args: str, input: str | None = None
) -> subprocess.CompletedProcess:
    home = tmp_path / "onekit-home"
    home.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ONEKIT_HOME": str(home),
        "HOME": str(tmp_path),
    }
    return subprocess.run(
        ["oneflow", "policy-check", *args],
        capture_output=True,
        text=True,
        env=env,
        input=input,
        timeout=60,
        cwd=tmp_path,
    )


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def timeline(result: subprocess.CompletedProcess) -> list[tuple[str, str, str]]:
    """The table's rows as (TIME, CARDINALITY, EVENT), for a one-role template."""
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["TIME", "CARDINALITY", "EVENT"], lines[0]
    rows = []
    for line in lines[1:]:
        when, cardinality, event = line.split(None, 2)
        rows.append((when, cardinality, event))
    return rows


def scalings(rows: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return [row for row in rows if " scaling " in row[2]]


# ---- the timeline -------------------------------------------------------------------------
def test_the_guides_scalability1_scales_up_to_4_then_5_then_down_to_3(tmp_path: Path) -> None:
    template = write(tmp_path, "scalability1.json", SCALABILITY1)
    metrics = write(tmp_path, "metrics.csv", GUIDE_METRICS)
    result = policy_check(
        tmp_path,
        template,
        "--metrics", metrics,
        "--interval", "5",
        "--default-cooldown", "30",
        "--start", START,
        "--until", "120",
    )  # fmt: skip
    rows = timeline(result)

    assert rows[0] == ("+0s", "frontend=2", "start")
    # true at 0, 10, 20 s: the third evaluation adds 2 VMs; 30 s of cooldown from 25 s;
    # evaluated again at 55, 65, 75 s (the new VMs have no ATT): +2 capped at max_vms 5;
    # ATT is 10 from 100 s, but the role cools down until 110 s: -10 % of 5, step 2
    assert scalings(rows) == [
        ("+20s", "frontend=4", UP_2_TO_4),
        ("+75s", "frontend=5", UP_4_TO_5),
        ("+110s", "frontend=3", DOWN_5_TO_3),
    ]
    assert ("+20s", "frontend=4", "New state: SCALING") in rows
    assert ("+25s", "frontend=4", "New state: COOLDOWN") in rows
    assert ("+55s", "frontend=4", "New state: RUNNING") in rows


def test_without_cooldown_the_new_vms_come_every_30_seconds(tmp_path: Path) -> None:
    """Testing note 3: true evaluations restart after each scaling, 10 s apart."""
    template = write(tmp_path, "scalability1.json", SCALABILITY1)
    metrics = write(tmp_path, "metrics.csv", GUIDE_METRICS)
    result = policy_check(
        tmp_path,
        template,
        "--metrics", metrics,
        "--interval", "5",
        "--default-cooldown", "0",
        "--start", START,
        "--until", "100",
    )  # fmt: skip
    assert scalings(timeline(result)) == [
        ("+20s", "frontend=4", UP_2_TO_4),
        ("+50s", "frontend=5", UP_4_TO_5),
        ("+100s", "frontend=3", DOWN_5_TO_3),
    ]


def test_an_average_of_exactly_50_never_scales(tmp_path: Path) -> None:
    template = write(tmp_path, "scalability1.json", SCALABILITY1)
    metrics = write(tmp_path, "metrics.csv", "0,frontend/0,ATT,40\n0,frontend/1,ATT,60\n")
    result = policy_check(
        tmp_path, template, "--metrics", metrics, "--interval", "5", "--until", "300"
    )
    assert timeline(result) == [("+0s", "frontend=2", "start")]


def test_the_metrics_can_come_from_stdin(tmp_path: Path) -> None:
    template = write(tmp_path, "scalability1.json", SCALABILITY1)
    result = policy_check(
        tmp_path,
        template,
        "--metrics", "-",
        "--interval", "10",
        "--start", START,
        input=GUIDE_METRICS,
    )  # fmt: skip
    assert scalings(timeline(result))[0] == ("+20s", "frontend=4", UP_2_TO_4)


def test_scheduled_policies_fire_at_their_time_in_the_given_zone(tmp_path: Path) -> None:
    template = write(tmp_path, "time_windows.json", TIME_WINDOWS)
    metrics = write(tmp_path, "metrics.csv", "")
    result = policy_check(
        tmp_path,
        template,
        "--metrics", metrics,
        "--interval", "60",
        "--default-cooldown", "0",
        "--start", "2026-11-30 08:58",
        "--time-zone", "Europe/Madrid",
        "--until", "600",
    )  # fmt: skip
    assert scalings(timeline(result)) == [
        (
            "+120s",
            "frontend=6",
            "Role frontend scaling up from 1 to 6 nodes: "
            "scheduled 0 9 * * mon,tue,wed,thu,fri (planned 2026-11-30 09:00)",
        )
    ]


# ---- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("csv", "needles"),
    [
        pytest.param(
            "time,vm,attribute,value\n0,frontend/0,ATT,45\n5,frontend/1,ATT\n",
            ("metrics line 3", "expected 4 fields time,vm,attribute,value, got 3"),
            id="three-fields",
        ),
        pytest.param(
            "0,frontend/0,ATT,45\n0,backend/0,ATT,1\n",
            ("'backend'", "the template does not have", "roles: frontend"),
            id="unknown-role",
        ),
        pytest.param(
            "0,frontend/0,ATT,45\n0,frontend,ATT,1\n",
            ("metrics line 2", "vm must be <role>/<number>", "'frontend'"),
            id="vm-without-number",
        ),
        pytest.param(
            "0,frontend/first,ATT,1\n",
            ("metrics line 1", "vm must be <role>/<number>", "'frontend/first'"),
            id="vm-number-not-a-number",
        ),
        pytest.param(
            "0,frontend/0,,1\n",
            ("metrics line 1", "the attribute name is empty"),
            id="empty-attribute",
        ),
        pytest.param(
            "0,frontend/0,ATT,45\nyesterday,frontend/0,ATT,1\n",
            ("metrics line 2", "'yesterday' is not a time"),
            id="bad-time",
        ),
        pytest.param(
            "-5,frontend/0,ATT,45\n",
            ("metrics line 1", "before the start"),
            id="negative-time",
        ),
    ],
)
def test_a_bad_metrics_file_is_refused_naming_the_problem(
    tmp_path: Path, csv: str, needles: tuple[str, ...]
) -> None:
    template = write(tmp_path, "scalability1.json", SCALABILITY1)
    metrics = write(tmp_path, "metrics.csv", csv)
    result = policy_check(tmp_path, template, "--metrics", metrics)
    assert_error(result, "oneflow", "policy-check", *needles)


@pytest.mark.parametrize(
    ("old", "new", "needles"),
    [
        pytest.param(
            '"ATT > 50"',
            '"ATT > "',
            ("not valid", "roles[0].elasticity_policies[0].expression", "position 7"),
            id="invalid-expression",
        ),
        pytest.param(
            '"ATT < 20"',
            '"ATT << 20"',
            ("roles[0].elasticity_policies[1].expression", "position 6"),
            id="invalid-second-expression",
        ),
        pytest.param(
            '"elasticity_policies" : [',
            '"scheduled_policies" : [{"type": "CARDINALITY", "adjust": 3, '
            '"recurrence": "61 * * * *"}],\n      "elasticity_policies" : [',
            ("roles[0].scheduled_policies[0].recurrence", "'61 * * * *'", "cron"),
            id="bad-recurrence",
        ),
        pytest.param(
            '"elasticity_policies" : [',
            '"scheduled_policies" : [{"type": "CHANGE", "adjust": 1, '
            '"start_time": "someday"}],\n      "elasticity_policies" : [',
            ("roles[0].scheduled_policies[0].start_time", "'someday' is not a time"),
            id="bad-start-time",
        ),
    ],
)
def test_an_invalid_template_is_refused_naming_the_path(
    tmp_path: Path, old: str, new: str, needles: tuple[str, ...]
) -> None:
    assert old in SCALABILITY1
    template = write(tmp_path, "bad.json", SCALABILITY1.replace(old, new, 1))
    metrics = write(tmp_path, "metrics.csv", GUIDE_METRICS)
    result = policy_check(tmp_path, template, "--metrics", metrics)
    assert_error(result, "oneflow", "policy-check", *needles)


def test_an_unknown_time_zone_is_refused(tmp_path: Path) -> None:
    template = write(tmp_path, "scalability1.json", SCALABILITY1)
    metrics = write(tmp_path, "metrics.csv", GUIDE_METRICS)
    result = policy_check(tmp_path, template, "--metrics", metrics, "--time-zone", "Mars/Olympus")
    assert_error(result, "oneflow", "policy-check", "unknown time zone 'Mars/Olympus'")


def test_a_replay_too_long_is_refused(tmp_path: Path) -> None:
    template = write(tmp_path, "scalability1.json", SCALABILITY1)
    metrics = write(tmp_path, "metrics.csv", GUIDE_METRICS)
    result = policy_check(
        tmp_path, template, "--metrics", metrics, "--interval", "1", "--until", "1000000"
    )
    assert_error(result, "oneflow", "policy-check", "1000000 steps", "at most 100000")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--interval", "0"), "argument --interval: must be 1 or more"),
        (("--interval", "-5"), "argument --interval: must be 1 or more"),
        (("--default-cooldown", "-1"), "argument --default-cooldown: must be 0 or more"),
    ],
)
def test_a_bad_option_is_a_usage_error(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    template = write(tmp_path, "scalability1.json", SCALABILITY1)
    metrics = write(tmp_path, "metrics.csv", GUIDE_METRICS)
    result = policy_check(tmp_path, template, "--metrics", metrics, *args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("usage: oneflow policy-check")
    assert result.stderr.splitlines()[-1] == f"oneflow policy-check: {needle}"


def test_a_missing_metrics_file_is_named_as_the_metrics_file(tmp_path: Path) -> None:
    template = write(tmp_path, "scalability1.json", SCALABILITY1)
    result = policy_check(tmp_path, template, "--metrics", str(tmp_path / "nope.csv"))
    line = assert_error(result, "oneflow", "policy-check", "nope.csv")
    assert "template" not in line
    assert "metrics" in line

"""The guide's auto-scaling example ``Scalability1`` (section 1.4.7) on the real server:
guests push ATT through the real OneGate endpoint with the token from their context
CD-ROM, and the OneFlow loop scales the role as the guide's testing notes say. The only
change to the guide's template is the period, 10 s -> 2 s, so the test takes seconds."""

from __future__ import annotations

import json
import re
import subprocess

from support.flow import ok, run, service_json, wait_state
from support.guide_examples import scalability1_json, time_windows_json
from support.plays import sqlite_only
from support.waiting import wait_until

from ansible_collections.onekit.cloud.plugins.module_utils.core.json_text import parse_json
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates


def push(flow, vm_id: int, body: str) -> None:
    """What the guest runs: the guide's curl, with ONEGATE_URL and the token from the
    files of its context CD-ROM."""
    folder = flow.instance.var / "context" / str(vm_id)
    context = (folder / "context.sh").read_text()
    url = re.search(r"ONEGATE_URL='([^']+)'", context).group(1)
    token = (folder / "token.txt").read_text().strip()
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", url,
         "--header", f"X-ONEGATE-TOKEN: {token}", "-d", body],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    assert out == "200", (vm_id, body, out)


def frontend(doc: dict) -> dict:
    return doc["TEMPLATE"]["BODY"]["roles"][0]


def live_ids(doc: dict) -> list[int]:
    return [n["deploy_id"] for n in frontend(doc)["nodes"] if not n.get("disposed")]


def wait_cardinality(flow, sid: str, cardinality: int, what: str) -> dict:
    def reached() -> dict | None:
        doc = service_json(flow, sid)
        return doc if frontend(doc)["cardinality"] == cardinality else None

    return wait_until(reached, what)


def scaling_lines(doc: dict) -> list[str]:
    return [e["message"] for e in doc["TEMPLATE"]["BODY"]["log"] if "scaling" in e["message"]]


@sqlite_only
def test_scalability1_scales_as_the_guides_testing_notes_say(flow, tmp_path):
    tpl = templates.create(
        flow.admin, 'NAME = "front"\nCPU = 0.1\nMEMORY = 32\nCONTEXT = [ TOKEN = "YES" ]\n'
    )
    path = tmp_path / "scalability1.json"
    path.write_text(scalability1_json(tpl["ID"], period=2))
    ok(run(flow, "oneflow-template", "create", str(path)))
    service = re.search(r"ID: (\d+)", ok(run(flow, "oneflow-template", "instantiate", "0")))
    sid = service.group(1)
    doc = wait_state(flow, sid, "RUNNING")
    first, second = live_ids(doc)

    # 1) ATT 40 and 60: the average is 50, "ATT > 50" is false, nothing counts
    push(flow, first, "ATT = 40")
    push(flow, second, "ATT = 60")
    wait_until(
        lambda: "ATT[50] > 50" in ok(run(flow, "oneflow", "show", sid)), "an evaluation of 50"
    )
    shown = ok(run(flow, "oneflow", "show", sid))
    assert re.search(r"\+ 2\s+ATT\[50\] > 50\s+0 / 3 2s", shown), shown
    assert "ELASTICITY RULES" in shown and "MIN VMS : 1" in shown and "MAX VMS : 5" in shown
    assert re.search(r"- 10 % \(2\)\s+ATT\[50\] < 20\s+0 / 1", shown), shown
    assert frontend(service_json(flow, sid))["cardinality"] == 2

    # 2) the first VM to 45: three true evaluations, then +2 VMs
    push(flow, first, "ATT = 45")
    doc = wait_cardinality(flow, sid, 4, "the first scale-up")
    assert scaling_lines(doc)[0] == (
        "Role frontend scaling up from 2 to 4 nodes: ATT > 50 true 3/3 (avg 52.5)"
    )

    # 3) the new VMs have no ATT: the average stays 52.5 and the role grows to max_vms
    doc = wait_cardinality(flow, sid, 5, "the scale-up to max_vms")
    assert scaling_lines(doc)[1] == (
        "Role frontend scaling up from 4 to 5 nodes: ATT > 50 true 3/3 (avg 52.5)"
    )
    doc = wait_state(flow, sid, "RUNNING")
    assert len(live_ids(doc)) == 5

    # 4) ATT below 20: -10 % of 5 is 0.5, rounded to 1, raised to min_adjust_step 2.
    # The VM at 60 is pushed last: until then the average stays at 20 or more (35, 26.7,
    # 22.5, 20), so no scale-down starts while VMs are still being pushed (it could
    # shut down one the loop then pushes to).
    for vm_id in sorted(live_ids(doc), key=lambda v: v == second):
        push(flow, vm_id, "ATT = 10")
    doc = wait_cardinality(flow, sid, 3, "the scale-down")
    assert scaling_lines(doc)[2] == (
        "Role frontend scaling down from 5 to 3 nodes: ATT < 20 true 1/1 (avg 10)"
    )
    doc = wait_state(flow, sid, "COOLDOWN", "RUNNING")
    assert len(live_ids(doc)) == 3
    states = {n["vm_info"]["VM"]["STATE"] for n in frontend(doc)["nodes"] if n.get("disposed")}
    assert states <= {3, 6}  # the surplus is shutting down or DONE


@sqlite_only
def test_time_windows_show_their_schedule_and_a_start_time_fires_once(flow, tmp_path):
    """The guide's Time_windows, plus a one-off policy a few seconds ahead: that one
    fires on the running server (+2 VMs), once; the table lists every policy.

    The one-off time is merged in at instantiate, and checked against the start time the
    server recorded for the service: a policy planned before the service started never
    fires (by design), so on a machine too slow for the margin the service is made
    again with a longer one, rather than the test failing on the machine's speed."""
    import datetime as dt

    tpl = templates.create(flow.admin, 'NAME = "front"\nCPU = 0.1\nMEMORY = 32\n')
    path = tmp_path / "time_windows.json"
    path.write_text(time_windows_json(tpl["ID"]))
    ok(run(flow, "oneflow-template", "create", str(path)))
    (role,) = parse_json(time_windows_json(tpl["ID"]))["roles"]
    margin = 3
    while True:
        soon = (dt.datetime.now() + dt.timedelta(seconds=margin)).strftime("%Y-%m-%d %H:%M:%S")
        one_off = {"type": "CHANGE", "start_time": soon, "adjust": 2}
        role_now = {**role, "scheduled_policies": [*role["scheduled_policies"], one_off]}
        merge = tmp_path / f"merge-{margin}.json"
        merge.write_text(json.dumps({"roles": [role_now]}))
        made = ok(run(flow, "oneflow-template", "instantiate", "0", str(merge)))
        sid = re.search(r"ID: (\d+)", made).group(1)
        started = service_json(flow, sid)["TEMPLATE"]["BODY"]["start_time"]
        if dt.datetime.fromtimestamp(started) < dt.datetime.fromisoformat(soon):
            break
        ok(run(flow, "oneflow", "delete", sid))  # planned before it started: never fires
        margin *= 2
        assert margin < 100, "the server is too slow to instantiate within 100 s"
    wait_state(flow, sid, "RUNNING")
    shown = ok(run(flow, "oneflow", "show", sid))
    for adjust, when in (
        ("= 6", "0 9 * * mon,tue,wed,thu,fri"),
        ("= 10", "0 13 * * mon,tue,wed,thu,fri"),
        ("= 2", "30 22 * * mon,tue,wed,thu,fri"),
        ("+ 2", soon),
    ):
        assert re.search(rf"^{re.escape(adjust)}\s+{re.escape(when)}\s", shown, re.M), shown
    nine = re.search(r"^= 6\s+0 9 \* \* mon,tue,wed,thu,fri\s+(\S+ \d\d:\d\d)$", shown, re.M)
    assert nine and nine.group(1).endswith("09:00"), shown  # NEXT: the coming 9:00
    doc = wait_cardinality(flow, sid, 3, "the start_time policy")
    (line,) = scaling_lines(doc)
    assert line.startswith(f"Role frontend scaling up from 1 to 3 nodes: scheduled {soon}")
    doc = wait_state(flow, sid, "RUNNING")
    assert len(live_ids(doc)) == 3 and len(scaling_lines(doc)) == 1


@sqlite_only
def test_min_vms_replaces_a_vm_deleted_by_hand(flow, tmp_path):
    """min_vms is a hard floor: a VM deleted with onevm leaves the role (a manual
    scale-down), and the role scales back up to min_vms."""
    tpl = templates.create(flow.admin, 'NAME = "front"\nCPU = 0.1\nMEMORY = 32\n')
    doc = (scalability1_json(tpl["ID"], period=2)).replace('"min_vms" : 1', '"min_vms" : 2')
    path = tmp_path / "floor.json"
    path.write_text(doc)
    ok(run(flow, "oneflow-template", "create", str(path)))
    sid = re.search(r"ID: (\d+)", ok(run(flow, "oneflow-template", "instantiate", "0"))).group(1)
    first, _second = live_ids(wait_state(flow, sid, "RUNNING"))
    ok(flow.cli("onevm", "delete", str(first)))

    def replaced() -> dict | None:
        doc = service_json(flow, sid)
        ids = live_ids(doc)
        return doc if len(ids) == 2 and first not in ids else None

    doc = wait_until(replaced, "a replacement VM")
    messages = [e["message"] for e in doc["TEMPLATE"]["BODY"]["log"]]
    assert f"Role frontend: VM {first} is DONE; cardinality is now 1" in messages
    assert "Role frontend scaling up from 1 to 2 nodes: below min_vms 2" in messages
    assert first in frontend(doc)["disposed_nodes"]

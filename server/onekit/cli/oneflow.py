"""oneflow: list, show and operate OneFlow services (the guide's §1.3.3-1.3.6), over the
OneFlow REST API."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.json_text import parse_json
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    policies as flow_policies,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    replay as flow_replay,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    service_templates,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import FlowState
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import name as state_name
from onekit.cli.common import (
    Call,
    Cli,
    Column,
    Context,
    owned_columns,
    owned_fields,
    permissions,
    read_template_file,
    read_text_file,
    show_fields,
    table,
)
from onekit.cli.flow_client import FlowClient, part, rest_pool, top
from onekit.cli.onevm import state_columns

PATH = "/service"


def _top(ctx: Context, args: argparse.Namespace) -> None:
    client = FlowClient()

    def render() -> str:
        if args.id:
            return SERVICES.show_text(ctx, client.call("GET", f"{PATH}/{part(args.id)}"))
        return SERVICES.list_text(ctx, client.call("GET", PATH))

    top(render, args.delay)


UP, DOWN = "\u2191", "\u2193"  # a node being made by a scale-up, one being shut down


def _node_rows(role: dict) -> list[dict]:
    rows = []
    for node in role["nodes"]:
        vm = (node.get("vm_info") or {}).get("VM")
        if vm:
            mark = DOWN if node.get("disposed") else UP if node.get("scale_up") else " "
            rows.append({**vm, "_mark": mark})
    return rows


def _nodes_table(role: dict, now: float) -> str:
    columns = [
        Column("", lambda v: v["_mark"]),
        Column("VM_ID", lambda v: v["ID"], right=True, width=5),
        Column("NAME", lambda v: v["NAME"], width=24),
        *state_columns(now),
    ]
    text = table(_node_rows(role), columns)
    asked = role.get("creating") or []
    if asked:  # asked for, not made yet
        text += "\n" + "\n".join(f"{UP}     - {name:<24} init" for name in asked)
    return text


def _elasticity(role: dict) -> str:
    """ELASTICITY RULES: the bounds, then each policy with its live evaluation state."""
    elastic, scheduled = role.get("elasticity_policies", []), role.get("scheduled_policies", [])
    if not elastic and not scheduled and "min_vms" not in role and "max_vms" not in role:
        return ""
    lines = [
        show_fields(
            "ELASTICITY RULES",
            [("MIN VMS", role.get("min_vms", "-")), ("MAX VMS", role.get("max_vms", "-"))],
        )
    ]
    if elastic:
        rows = [
            {
                "adjust": flow_policies.describe_adjust(p),
                "expression": p.get("expression_evaluated") or p["expression"],
                "period": f"{p.get('true_evals', 0)} / {p.get('period_number') or 1}"
                + (f" {p['period']}s" if p.get("period") else ""),
            }
            for p in elastic
        ]
        lines.append(
            table(
                rows,
                [
                    Column("ADJUST", lambda r: r["adjust"], width=12),
                    Column("EXPRESSION", lambda r: r["expression"], width=40),
                    Column("EVALUATION PERIOD", lambda r: r["period"]),
                ],
            )
        )
    if scheduled:
        rows = [
            {
                "adjust": flow_policies.describe_adjust(p),
                "time": p.get("recurrence") or p.get("start_time", ""),
                "next": time.strftime("%m/%d/%y %H:%M", time.localtime(p["next_eval"]))
                if p.get("next_eval")
                else "-",
            }
            for p in scheduled
        ]
        columns = [
            Column("ADJUST", lambda r: r["adjust"], width=12),
            Column("TIME", lambda r: r["time"], width=30),
            Column("NEXT", lambda r: r["next"]),
        ]
        lines.append(table(rows, columns))
    return "\n\n".join(lines)


def _log_line(entry: dict) -> str:
    stamp = time.strftime("%m/%d/%y %H:%M", time.localtime(entry["timestamp"]))
    return f"{stamp} [{entry['severity']}] {entry['message']}"


def _fields(_ctx: Context, service: dict) -> list[tuple[str, Any]]:
    body = service["TEMPLATE"]["BODY"]
    fields = [
        *owned_fields(service),
        ("STRATEGY", body.get("deployment", "none")),
        ("SERVICE STATE", state_name(body["state"])),
    ]
    if body.get("shutdown_action"):
        fields.append(("SHUTDOWN", body["shutdown_action"]))
    return fields


def _sections(_ctx: Context, service: dict) -> list[str]:
    """PERMISSIONS, each role with its VMs and rules, the log."""
    body = service["TEMPLATE"]["BODY"]
    parts = [permissions(service)]
    now = time.time()
    for role in body["roles"]:
        role_fields = [("ROLE STATE", state_name(role["state"]))]
        if role.get("parents"):
            role_fields.append(("PARENTS", ", ".join(role["parents"])))
        role_fields += [("CARDINALITY", role["cardinality"]), ("VM TEMPLATE", role["vm_template"])]
        if role["state"] == FlowState.COOLDOWN and role.get("cooldown_end"):
            role_fields.append(("COOLDOWN LEFT", f"{max(0, role['cooldown_end'] - int(now))}s"))
        text = show_fields(f"ROLE {role['name']}", role_fields)
        text += "\nNODES INFORMATION\n" + _nodes_table(role, now)
        rules = _elasticity(role)
        parts.append(text + ("\n\n" + rules if rules else ""))
    parts.append("\n".join(["LOG MESSAGES", *(_log_line(e) for e in body.get("log", []))]))
    return parts


SERVICES = rest_pool(
    PATH,
    "service",
    title="SERVICE",
    columns=[
        *owned_columns(10, 15),
        Column("STATE", lambda s: state_name(s["TEMPLATE"]["BODY"]["state"])),
    ],
    fields=_fields,
    sections=_sections,
)


def _perform(perform: str) -> Call:
    """A service action, ``pool.each``'s call on every service of the list."""
    return lambda client, ref: client.action(f"{PATH}/{part(ref)}/action", perform)


def _scale(ctx: Context, args: argparse.Namespace) -> None:
    client = FlowClient()
    body = {"cardinality": args.cardinality, "force": args.force}
    client.call("PUT", f"{PATH}/{part(args.id)}/role/{part(args.role)}", body)


def _action(ctx: Context, args: argparse.Namespace) -> None:
    client = FlowClient()
    params = {k: v for k, v in (("period", args.period), ("number", args.number)) if v is not None}
    path = f"{PATH}/{part(args.id)}/role/{part(args.role)}/action"
    client.action(path, args.vm_action, params)


def _policy_check(ctx: Context, args: argparse.Namespace) -> None:
    """Replay a metric series through a template's policies, offline."""
    template = service_templates.validate(
        parse_json(read_template_file(args.file), f"service template {args.file}")
    )
    config = FlowConfig(
        lcm_interval=args.interval, default_cooldown=args.default_cooldown, time_zone=args.time_zone
    )
    tz = flow_policies.zone(args.time_zone)
    start = flow_policies.parse_start_time(args.start, tz) if args.start else time.time()
    samples = flow_replay.read_metrics(read_text_file(args.metrics, "metrics file"), start)
    events = flow_replay.replay(template, samples, config, start, args.until)
    rows = [
        {
            "time": f"+{e.at:g}s",
            "cardinality": " ".join(f"{k}={v}" for k, v in e.cardinalities.items()),
            "event": e.message,
        }
        for e in events
    ]
    columns = [
        Column("TIME", lambda r: r["time"], right=True),
        Column("CARDINALITY", lambda r: r["cardinality"]),
        Column("EVENT", lambda r: r["event"]),
    ]
    ctx.out(table(rows, columns))


def build() -> Cli:
    cli = Cli(
        "oneflow",
        "Manage OneFlow services through the OneFlow API "
        "($ONEFLOW_URL, default http://localhost:2474; credentials from $ONE_AUTH).",
    )
    pool = cli.pool(SERVICES)
    pool.list("list the services you may use")
    pool.show("show a service: roles, their VMs, the log")
    p = cli.command("top", "list the services (or show one), refreshed (Ctrl-C stops)", _top)
    p.add_argument("id", nargs="?", help="a service to show instead of the list")
    p.add_argument("-d", "--delay", type=float, default=3.0, help="seconds between refreshes")
    pool.delete(
        "delete services and their VMs, from any state", "service ids or names: 3,4 or a range 3..7"
    )
    pool.each(
        "shutdown", "shut a service's VMs down (children first with straight)", _perform("shutdown")
    )
    pool.each(
        "recover",
        "retry what failed (FAILED_*), heal a WARNING, end a COOLDOWN",
        _perform("recover"),
    )
    p = cli.command("scale", "set the cardinality of a role", _scale)
    p.add_argument("id", help="service id or name")
    p.add_argument("role", help="role name")
    p.add_argument("cardinality", type=int, help="the new number of VMs")
    p.add_argument(
        "--force", action="store_true", help="allow a cardinality outside min_vms..max_vms"
    )
    p = cli.command("action", "run a VM action on every VM of a role", _action)
    p.add_argument("id", help="service id or name")
    p.add_argument("role", help="role name")
    p.add_argument("vm_action", metavar="vm_action", help="shutdown, reboot, suspend, ...")
    p.add_argument("-p", "--period", type=int, help="seconds between each group of actions")
    p.add_argument("-n", "--number", type=int, help="VMs that take the action each period")
    p = cli.command(
        "policy-check",
        "replay a metric series through a template's auto-scaling policies (no VM is touched)",
        _policy_check,
        description="Replay METRICS (CSV rows time,vm,attribute,value; vm is <role>/<number>, "
        "time is seconds from the start or an absolute time) through the elasticity and "
        "scheduled policies of the service template FILE, with the OneFlow server's own "
        "decision code on a simulated clock, and print the cardinality timeline. VMs ordered "
        "are running at the next step; nothing is deployed.",
    )
    p.add_argument("file", help="a service template (JSON, // and /* */ comments allowed)")
    p.add_argument("--metrics", required=True, help="the metric series, CSV (- for stdin)")
    p.add_argument(
        "--interval", type=_positive, default=30, help="seconds between steps (lcm_interval)"
    )
    p.add_argument(
        "--default-cooldown", type=_not_negative, default=300, help="seconds (default_cooldown)"
    )
    p.add_argument("--start", help="the time of step 0 (default: now), e.g. 2026-11-30 08:59")
    p.add_argument("--until", type=float, help="seconds to run (default: past the last sample)")
    p.add_argument("--time-zone", default="", help="zone of scheduled policies (IANA name)")
    pool.ownership(mode_example="604")
    return cli


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)


if __name__ == "__main__":
    raise SystemExit(main())

"""oneflow: list, show and operate OneFlow services (the guide's §1.3.3-1.3.6), over the
OneFlow REST API."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from ansible_collections.onekit.cloud.plugins.module_utils.flow_states import name as state_name
from onekit.cli.common import (
    Cli,
    Column,
    Context,
    add_json_flag,
    id_list,
    owned_columns,
    permissions_lines,
    show_fields,
    table,
)
from onekit.cli.flow_client import FlowClient, documents, part, top
from onekit.cli.oneflow_template import add_ownership
from onekit.cli.onevm import state_columns

PATH = "/service"


def _list_table(client: FlowClient) -> str:
    rows = documents(client.call("GET", PATH))
    state = Column("STATE", lambda s: state_name(s["TEMPLATE"]["BODY"]["state"]))
    return table(rows, [*owned_columns(10, 15), state])


def _list(ctx: Context, args: argparse.Namespace) -> None:
    client = FlowClient()
    if args.json:
        ctx.json(client.call("GET", PATH))
        return
    ctx.out(_list_table(client))


def _top(ctx: Context, args: argparse.Namespace) -> None:
    client = FlowClient()
    top(lambda: _show_text(client, args.id) if args.id else _list_table(client), args.delay)


def _node_rows(role: dict) -> list[dict]:
    rows = []
    for node in role["nodes"]:
        vm = (node.get("vm_info") or {}).get("VM")
        if vm:
            rows.append({**vm, "_mark": "|" if node.get("disposed") else " "})
    return rows


def _log_line(entry: dict) -> str:
    stamp = time.strftime("%m/%d/%y %H:%M", time.localtime(entry["timestamp"]))
    return f"{stamp} [{entry['severity']}] {entry['message']}"


def _show_text(client: FlowClient, ref: str) -> str:
    service = client.call("GET", f"{PATH}/{part(ref)}")["DOCUMENT"]
    body = service["TEMPLATE"]["BODY"]
    fields = [
        ("ID", service["ID"]),
        ("NAME", service["NAME"]),
        ("USER", service["UNAME"]),
        ("GROUP", service["GNAME"]),
        ("STRATEGY", body.get("deployment", "none")),
        ("SERVICE STATE", state_name(body["state"])),
    ]
    if body.get("shutdown_action"):
        fields.append(("SHUTDOWN", body["shutdown_action"]))
    parts = [
        show_fields(f"SERVICE {service['ID']} INFORMATION", fields),
        show_fields("PERMISSIONS", permissions_lines(service)),
    ]
    now = time.time()
    nodes_columns = [
        Column("", lambda v: v["_mark"]),
        Column("VM_ID", lambda v: v["ID"], right=True, width=5),
        Column("NAME", lambda v: v["NAME"], width=24),
        *state_columns(now),
    ]
    for role in body["roles"]:
        role_fields = [("ROLE STATE", state_name(role["state"]))]
        if role.get("parents"):
            role_fields.append(("PARENTS", ", ".join(role["parents"])))
        role_fields += [("CARDINALITY", role["cardinality"]), ("VM TEMPLATE", role["vm_template"])]
        parts.append(
            show_fields(f"ROLE {role['name']}", role_fields)
            + "\nNODES INFORMATION\n"
            + table(_node_rows(role), nodes_columns)
        )
    parts.append("\n".join(["LOG MESSAGES", *(_log_line(e) for e in body.get("log", []))]))
    return "\n\n".join(parts)


def _show(ctx: Context, args: argparse.Namespace) -> None:
    client = FlowClient()
    if args.json:
        ctx.json(client.call("GET", f"{PATH}/{part(args.id)}"))
        return
    ctx.out(_show_text(client, args.id))


def _delete(ctx: Context, args: argparse.Namespace) -> int:
    client = FlowClient()
    return ctx.for_each(id_list(args.ids), lambda ref: client.call("DELETE", f"{PATH}/{part(ref)}"))


def _perform(perform: str):
    def run(ctx: Context, args: argparse.Namespace) -> int:
        client = FlowClient()
        return ctx.for_each(
            id_list(args.ids),
            lambda ref: client.action(f"{PATH}/{part(ref)}/action", perform),
        )

    return run


def _scale(ctx: Context, args: argparse.Namespace) -> None:
    client = FlowClient()
    body = {"cardinality": args.cardinality, "force": args.force}
    client.call("PUT", f"{PATH}/{part(args.id)}/role/{part(args.role)}", body)


def _action(ctx: Context, args: argparse.Namespace) -> None:
    client = FlowClient()
    params = {k: v for k, v in (("period", args.period), ("number", args.number)) if v is not None}
    path = f"{PATH}/{part(args.id)}/role/{part(args.role)}/action"
    client.action(path, args.vm_action, params)


def build() -> Cli:
    cli = Cli(
        "oneflow",
        "Manage OneFlow services through the OneFlow API "
        "($ONEFLOW_URL, default http://localhost:2474; credentials from $ONE_AUTH).",
    )
    p = cli.command("list", "list the services you may use", _list)
    add_json_flag(p)
    p = cli.command("show", "show a service: roles, their VMs, the log", _show)
    p.add_argument("id", help="service id or name")
    add_json_flag(p)
    p = cli.command("top", "list the services (or show one), refreshed (Ctrl-C stops)", _top)
    p.add_argument("id", nargs="?", help="a service to show instead of the list")
    p.add_argument("-d", "--delay", type=float, default=3.0, help="seconds between refreshes")
    p = cli.command("delete", "delete services and their VMs, from any state", _delete)
    p.add_argument("ids", help="service ids or names: 3,4 or a range 3..7")
    p = cli.command(
        "shutdown", "shut a service's VMs down (children first with straight)", _perform("shutdown")
    )
    p.add_argument("ids", help="service ids or names")
    p = cli.command(
        "recover",
        "retry what failed (FAILED_*), heal a WARNING, end a COOLDOWN",
        _perform("recover"),
    )
    p.add_argument("ids", help="service ids or names")
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
    add_ownership(cli, "service", PATH)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)


if __name__ == "__main__":
    raise SystemExit(main())

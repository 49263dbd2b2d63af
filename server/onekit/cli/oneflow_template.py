"""oneflow-template: register, share and instantiate OneFlow service templates (the
guide's §1.3.2), over the OneFlow REST API."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from onekit.cli.common import (
    Cli,
    Context,
    add_json_flag,
    id_list,
    owned_columns,
    permissions_lines,
    read_template_file,
    show_fields,
    table,
)
from onekit.cli.flow_client import FlowClient, documents, part, top

PATH = "/service_template"


def _client(_ctx: Context) -> FlowClient:
    return FlowClient()


def _create(ctx: Context, args: argparse.Namespace) -> None:
    answer = _client(ctx).call("POST", PATH, read_template_file(args.file))
    ctx.out(f"ID: {answer['DOCUMENT']['ID']}")


def _list_table(ctx: Context, client: FlowClient) -> str:
    return table(documents(client.call("GET", PATH)), owned_columns(10, 15))


def _list(ctx: Context, args: argparse.Namespace) -> None:
    client = _client(ctx)
    if args.json:
        ctx.json(client.call("GET", PATH))
        return
    ctx.out(_list_table(ctx, client))


def _top(ctx: Context, args: argparse.Namespace) -> None:
    client = _client(ctx)
    top(lambda: _list_table(ctx, client), args.delay)


def _show(ctx: Context, args: argparse.Namespace) -> None:
    client = _client(ctx)
    doc = client.call("GET", f"{PATH}/{part(args.id)}")
    if args.json:
        ctx.json(doc)
        return
    body = doc["DOCUMENT"]
    ctx.out(
        show_fields(
            f"SERVICE TEMPLATE {body['ID']} INFORMATION",
            [
                ("ID", body["ID"]),
                ("NAME", body["NAME"]),
                ("USER", body["UNAME"]),
                ("GROUP", body["GNAME"]),
            ],
        )
    )
    ctx.out()
    ctx.out(show_fields("PERMISSIONS", permissions_lines(body)))
    ctx.out()
    ctx.out("TEMPLATE CONTENTS")
    ctx.out(json.dumps(body["TEMPLATE"]["BODY"], indent=2))


def _update(ctx: Context, args: argparse.Namespace) -> None:
    client = _client(ctx)
    client.call("PUT", f"{PATH}/{part(args.id)}", read_template_file(args.file))


def _delete(ctx: Context, args: argparse.Namespace) -> int:
    client = _client(ctx)
    return ctx.for_each(id_list(args.ids), lambda ref: client.call("DELETE", f"{PATH}/{part(ref)}"))


def _instantiate(ctx: Context, args: argparse.Namespace) -> None:
    client = _client(ctx)
    params = {}
    if args.file:
        from ansible_collections.onekit.cloud.plugins.module_utils.core.json_text import parse_json

        params["merge_template"] = parse_json(read_template_file(args.file), args.file)
    ref = part(args.id)
    for _ in range(args.multiple):
        answer = client.action(f"{PATH}/{ref}/action", "instantiate", params)
        ctx.out(f"ID: {answer['DOCUMENT']['ID']}")


def add_ownership(cli: Cli, noun: str, path: str) -> None:
    """chown / chgrp / chmod sub-commands over the REST API's actions on ``path``/<id>."""

    def handler(perform: str):
        def run(ctx: Context, args: argparse.Namespace) -> int:
            params = {
                "chown": lambda: (
                    {"owner_id": args.user} | ({"group_id": args.group} if args.group else {})
                ),
                "chgrp": lambda: {"group_id": args.group},
                "chmod": lambda: {"octet": args.mode},
            }[perform]()
            client = FlowClient()
            return ctx.for_each(
                id_list(args.ids),
                lambda ref: client.action(f"{path}/{part(ref)}/action", perform, params),
            )

        return run

    p = cli.command("chown", f"change the owner (and group) of {noun}s", handler("chown"))
    p.add_argument("ids", help=f"{noun} ids or names: 3,4 or a range 3..7")
    p.add_argument("user", help="new owner, id or name")
    p.add_argument("group", nargs="?", help="new group, id or name")
    p = cli.command("chgrp", f"change the group of {noun}s", handler("chgrp"))
    p.add_argument("ids", help=f"{noun} ids or names")
    p.add_argument("group", help="new group, id or name")
    p = cli.command(
        "chmod", f"change the permissions of {noun}s (octal, e.g. 604)", handler("chmod")
    )
    p.add_argument("ids", help=f"{noun} ids or names")
    p.add_argument("mode", help="three octal digits: owner, group, other (USE 4 MANAGE 2 ADMIN 1)")


def build() -> Cli:
    cli = Cli(
        "oneflow-template",
        "Manage OneFlow service templates through the OneFlow API "
        "($ONEFLOW_URL, default http://localhost:2474; credentials from $ONE_AUTH).",
    )
    p = cli.command("create", "register a service template (a JSON file, - for stdin)", _create)
    p.add_argument("file", help="the template, JSON (// and /* */ comments allowed)")
    p = cli.command("list", "list the service templates you may use", _list)
    add_json_flag(p)
    p = cli.command("top", "list the service templates, refreshed (Ctrl-C stops)", _top)
    p.add_argument("-d", "--delay", type=float, default=3.0, help="seconds between refreshes")
    p = cli.command("show", "show a service template", _show)
    p.add_argument("id", help="template id or name")
    add_json_flag(p)
    p = cli.command("update", "replace a service template's document", _update)
    p.add_argument("id", help="template id or name")
    p.add_argument("file", help="the new template, JSON")
    p = cli.command("delete", "delete service templates", _delete)
    p.add_argument("ids", help="template ids or names: 3,4 or a range 3..7")
    p = cli.command("instantiate", "create a service from a template", _instantiate)
    p.add_argument("id", help="template id or name")
    p.add_argument("file", nargs="?", help="JSON merged over the template (name, roles...)")
    p.add_argument("-m", "--multiple", type=int, default=1, help="how many services")
    add_ownership(cli, "service template", PATH)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)


if __name__ == "__main__":
    raise SystemExit(main())

"""oneflow-template: register, share and instantiate OneFlow service templates (the
guide's §1.3.2), over the OneFlow REST API."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from ansible_collections.onekit.cloud.plugins.module_utils.core.json_text import parse_json
from onekit.cli.common import (
    Cli,
    Context,
    arg,
    owned_columns,
    owned_fields,
    permissions,
    read_template_file,
)
from onekit.cli.flow_client import FlowClient, part, rest_pool, top

PATH = "/service_template"


def _create(client: FlowClient, args: argparse.Namespace) -> int:
    return client.call("POST", PATH, read_template_file(args.file))["DOCUMENT"]["ID"]


def _sections(_ctx: Context, body: dict) -> list[str]:
    contents = json.dumps(body["TEMPLATE"]["BODY"], indent=2)
    return [permissions(body), f"TEMPLATE CONTENTS\n{contents}"]


SERVICE_TEMPLATES = rest_pool(
    PATH,
    "service template",
    title="SERVICE TEMPLATE",
    create=_create,
    columns=owned_columns(10, 15),
    fields=lambda _ctx, body: owned_fields(body),
    sections=_sections,
)


def _top(ctx: Context, args: argparse.Namespace) -> None:
    client = FlowClient()
    pool = SERVICE_TEMPLATES
    top(lambda: pool.list_text(ctx, client.call("GET", PATH)), args.delay)


def _instantiate(ctx: Context, args: argparse.Namespace) -> None:
    client = FlowClient()
    params = {}
    if args.file:
        params["merge_template"] = parse_json(read_template_file(args.file), args.file)
    ref = part(args.id)
    for _ in range(args.multiple):
        answer = client.action(f"{PATH}/{ref}/action", "instantiate", params)
        ctx.out(f"ID: {answer['DOCUMENT']['ID']}")


def build() -> Cli:
    cli = Cli(
        "oneflow-template",
        "Manage OneFlow service templates through the OneFlow API "
        "($ONEFLOW_URL, default http://localhost:2474; credentials from $ONE_AUTH).",
    )
    pool = cli.pool(SERVICE_TEMPLATES)
    pool.create(
        "register a service template (a JSON file, - for stdin)",
        arg("file", help="the template, JSON (// and /* */ comments allowed)"),
    )
    pool.list("list the service templates you may use")
    p = cli.command("top", "list the service templates, refreshed (Ctrl-C stops)", _top)
    p.add_argument("-d", "--delay", type=float, default=3.0, help="seconds between refreshes")
    pool.show("show a service template", "template id or name")
    pool.update(
        "replace a service template's document",
        arg("file", help="the new template, JSON"),
        append=None,
        ref_help="template id or name",
    )
    pool.delete("delete service templates", "template ids or names: 3,4 or a range 3..7")
    p = cli.command("instantiate", "create a service from a template", _instantiate)
    p.add_argument("id", help="template id or name")
    p.add_argument("file", nargs="?", help="JSON merged over the template (name, roles...)")
    p.add_argument("-m", "--multiple", type=int, default=1, help="how many services")
    pool.ownership(mode_example="604")
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)


if __name__ == "__main__":
    raise SystemExit(main())

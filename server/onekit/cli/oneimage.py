"""oneimage: the image registry VM templates' DISK = [ IMAGE = "name" ] refers to."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.objects import images
from onekit.cli.common import (
    Cli,
    Column,
    Context,
    Ownership,
    Pool,
    arg,
    core,
    owned_columns,
    owned_fields,
    permissions,
    read_template_file,
)


def _create(ctx: Context, args: argparse.Namespace) -> int:
    if args.file:
        tpl = read_template_file(args.file)
    else:
        tpl = {"NAME": args.name, "PATH": args.path, "TYPE": args.type}
    return ctx.call(images.create, tpl)["ID"]


def _fields(_ctx: Context, image: dict) -> list[tuple[str, Any]]:
    return [
        *owned_fields(image),
        ("TYPE", image["TYPE"]),
        ("PATH", image["PATH"]),
    ]


IMAGES = Pool(
    noun="image",
    key="IMAGE",
    create=_create,
    list=core(objects.list_visible, schema.IMAGES),
    show=core(objects.show, schema.IMAGES),
    delete=core(images.delete),
    owners=Ownership.of(schema.IMAGES),
    columns=[
        *owned_columns(),
        Column("TYPE", lambda i: i["TYPE"], width=8),
        Column("PATH", lambda i: i["PATH"]),
    ],
    fields=_fields,
    sections=lambda _ctx, image: [permissions(image)],
)


def build() -> Cli:
    cli = Cli("oneimage", "Manage images (disk files on the hosts).")
    pool = cli.pool(IMAGES)
    pool.create(
        "register an image; prints its ID",
        arg("file", nargs="?", help="image template file (NAME, PATH, TYPE)"),
        arg("--name", help="image name (without a file)"),
        arg("--path", help="absolute path of the file on the hosts"),
        arg("--type", default="OS", choices=images.TYPES, help="image type"),
    )
    pool.delete("delete images")
    pool.list("list images")
    pool.show("show an image")
    pool.ownership()
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

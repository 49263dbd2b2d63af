"""oneimage: the image registry VM templates' DISK = [ IMAGE = "name" ] refers to."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.objects import images
from onekit.cli.common import (
    Cli,
    Column,
    Context,
    add_json_flag,
    add_ownership_commands,
    id_list,
    owned_columns,
    permissions_lines,
    read_template_file,
    show_fields,
    table,
)


def _create(ctx: Context, args: argparse.Namespace) -> None:
    if args.file:
        tpl = read_template_file(args.file)
    else:
        tpl = {"NAME": args.name, "PATH": args.path, "TYPE": args.type}
    ctx.out(f"ID: {ctx.call(images.create, tpl)['ID']}")


def _delete(ctx: Context, args: argparse.Namespace) -> int:
    return ctx.for_each(id_list(args.images), lambda ref: ctx.call(images.delete, ref))


def _list(ctx: Context, args: argparse.Namespace) -> None:
    rows = ctx.call(objects.list_visible, schema.IMAGES)
    if args.json:
        ctx.json({"IMAGE_POOL": {"IMAGE": rows}})
        return
    ctx.out(
        table(
            rows,
            [
                *owned_columns(),
                Column("TYPE", lambda i: i["TYPE"], width=8),
                Column("PATH", lambda i: i["PATH"]),
            ],
        )
    )


def _show(ctx: Context, args: argparse.Namespace) -> None:
    image = ctx.call(objects.show, schema.IMAGES, args.image)
    if args.json:
        ctx.json({"IMAGE": image})
        return
    ctx.out(
        show_fields(
            f"IMAGE {image['ID']} INFORMATION",
            [
                ("ID", image["ID"]),
                ("NAME", image["NAME"]),
                ("USER", image["UNAME"]),
                ("GROUP", image["GNAME"]),
                ("TYPE", image["TYPE"]),
                ("PATH", image["PATH"]),
            ],
        )
    )
    ctx.out()
    ctx.out(show_fields("PERMISSIONS", permissions_lines(image)))


def build() -> Cli:
    cli = Cli("oneimage", "Manage images (disk files on the hosts).")
    p = cli.command("create", "register an image; prints its ID", _create)
    p.add_argument("file", nargs="?", help="image template file (NAME, PATH, TYPE)")
    p.add_argument("--name", help="image name (without a file)")
    p.add_argument("--path", help="absolute path of the file on the hosts")
    p.add_argument("--type", default="OS", choices=images.TYPES, help="image type")
    p = cli.command("delete", "delete images", _delete)
    p.add_argument("images", help="image ids or names")
    p = cli.command("list", "list images", _list)
    add_json_flag(p)
    p = cli.command("show", "show an image", _show)
    p.add_argument("image", help="image id or name")
    add_json_flag(p)
    add_ownership_commands(cli, schema.IMAGES, "image")
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

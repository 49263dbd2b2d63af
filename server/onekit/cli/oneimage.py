"""oneimage: the image registry VM templates' DISK = [ IMAGE = "name" ] refers to.

``create`` does what 4.6's does: with ``--datastore`` (``-d``), ``--path`` names a file on
this machine that is copied into the datastore (opened with the caller's own rights, then
streamed to the core: the core never reads a path a user gave); ``--size`` makes an empty
DATABLOCK there. Without ``--datastore``, ``--path`` registers a file of the hosts in
place (the oneadmin group only), as before.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    ImageState,
    image_short_state,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import datastores, images
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
    size,
    timestamp,
)

# create's options that become template attributes (the option's dest, the attribute)
_OPTION_ATTRIBUTES = (
    ("name", "NAME"),
    ("path", "PATH"),
    ("type", "TYPE"),
    ("size", "SIZE"),
    ("fstype", "FSTYPE"),
    ("description", "DESCRIPTION"),
)


def _template(args: argparse.Namespace) -> dict[str, Any]:
    """The template of ``create``: the file's, with the options given over it."""
    tpl = template.load(read_template_file(args.file), "an image template") if args.file else {}
    for dest, key in _OPTION_ATTRIBUTES:
        value = getattr(args, dest)
        if value is not None:
            tpl[key] = str(value)
    if args.persistent:
        tpl["PERSISTENT"] = "YES"
    if "SIZE" in tpl and "PATH" in tpl:
        raise InvalidInput("give --size (an empty DATABLOCK) or --path (a file to copy), not both")
    if "SIZE" in tpl:
        if str(tpl.get("TYPE", "DATABLOCK")).upper() != "DATABLOCK":
            raise InvalidInput("--size makes an empty DATABLOCK: leave out --type or use DATABLOCK")
        tpl["TYPE"] = "DATABLOCK"
    return tpl


def _create(ctx: Context, args: argparse.Namespace) -> int:
    tpl = _template(args)
    if args.datastore is not None and "PATH" in tpl:
        return _upload(ctx, tpl, args.datastore)
    return ctx.call(images.create, tpl, args.datastore)["ID"]


def _upload(ctx: Context, tpl: dict[str, Any], datastore: str) -> int:
    """Copy the local file PATH into the datastore (``oneimage create -d default --path``)."""
    if ctx.endpoint is not None:
        raise InvalidInput(
            "an upload copies a file of this machine into this front-end's datastore: run "
            "it on the front-end of the active zone, or leave out --datastore to register "
            "a path of the hosts"
        )
    path = str(tpl.pop("PATH"))
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below, after the copy)
    except OSError as err:
        raise InvalidInput(f"--path {path}: cannot read it ({err.strerror})") from err
    with handle:
        image = images.upload(
            ctx.session,
            tpl.pop("NAME", None),
            handle,
            type=tpl.pop("TYPE", "OS"),
            persistent=images.yes_no(tpl.pop("PERSISTENT", None), "PERSISTENT"),
            description=tpl.pop("DESCRIPTION", None),
            datastore=datastore,
        )
    if tpl:  # the file template's other attributes: the image's TEMPLATE
        images.update(ctx.session, image["ID"], tpl, append=True)
    return image["ID"]


def _size(image: dict) -> str:
    return size(int(image.get("SIZE") or 0) * 1024) if image.get("SIZE") else "0M"


def _state(image: dict) -> str:
    return image_short_state(image.get("STATE", images.READY))


def _persistent(image: dict) -> str:
    return "Yes" if image.get("PERSISTENT") else "No"


def _datastore(image: dict) -> str:
    return image.get("DATASTORE", "-")


def _fields(_ctx: Context, image: dict) -> list[tuple[str, Any]]:
    state = ImageState(image.get("STATE", images.READY))
    fields = [
        *owned_fields(image),
        ("DATASTORE", _datastore(image)),
        ("TYPE", image["TYPE"]),
        ("REGISTER TIME", timestamp(image.get("REGTIME"))),
        ("PERSISTENT", _persistent(image)),
        ("SOURCE", image.get("SOURCE", image.get("PATH", ""))),
    ]
    if "PATH" in image:
        fields.append(("PATH", image["PATH"]))
    if "FSTYPE" in image:
        fields.append(("FSTYPE", image["FSTYPE"]))
    return [
        *fields,
        ("SIZE", _size(image)),
        ("STATE", state.name),
        ("RUNNING_VMS", image.get("RUNNING_VMS", 0)),
    ]


def _sections(_ctx: Context, image: dict) -> list[str]:
    contents = template.dumps(image.get("TEMPLATE") or {}).rstrip()
    vms = ", ".join(map(str, image.get("VMS") or [])) or "-"
    return [permissions(image), f"IMAGE TEMPLATE\n{contents}", f"VIRTUAL MACHINES\n{vms}"]


IMAGES = Pool(
    noun="image",
    key="IMAGE",
    create=_create,
    list=core(objects.list_visible, schema.IMAGES),
    show=core(objects.show, schema.IMAGES),
    update=core(images.update),
    delete=core(images.delete),
    owners=Ownership.of(schema.IMAGES),
    columns=[
        *owned_columns(),
        Column("DATASTORE", _datastore, width=9),
        Column("SIZE", _size, right=True, width=6),
        Column("TYPE", lambda i: i["TYPE"], width=8),
        Column("PER", _persistent, width=3),
        Column("STAT", _state, width=4),
        Column("RVMS", lambda i: i.get("RUNNING_VMS", 0), right=True, width=4),
    ],
    fields=_fields,
    sections=_sections,
)


def _clone(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out(f"ID: {ctx.call(images.clone, args.image, args.name, args.datastore)['ID']}")


def build() -> Cli:
    cli = Cli("oneimage", "Manage images (disk files on the hosts or in the datastore).")
    pool = cli.pool(IMAGES)
    pool.create(
        "create an image: upload a file (-d default --path FILE), an empty DATABLOCK "
        "(--size MB) or a file of the hosts registered in place (--path, oneadmin group); "
        "prints its ID",
        arg("file", nargs="?", help="image template file (NAME, PATH or SIZE, TYPE...)"),
        arg("--name", help="image name (without a file)"),
        arg(
            "--path",
            help="with --datastore: a file of this machine, copied into the datastore; "
            "without: an absolute path on the hosts, used in place",
        ),
        arg("--type", type=str.upper, choices=images.TYPES, help="image type (default OS)"),
        arg(
            "-d",
            "--datastore",
            help=f"the datastore to copy the file into: {datastores.DEFAULT} or "
            f"{datastores.NAMES[datastores.DEFAULT]}",
        ),
        arg("--size", help="an empty DATABLOCK of this many MB (in the datastore)"),
        arg("--fstype", help=f"the DATABLOCK's file system ({', '.join(images.FSTYPES)})"),
        arg("--persistent", action="store_true", help="a persistent image (one VM at a time)"),
        arg("--description", help="a description of the image"),
    )
    cli.command(
        "clone",
        "copy an image's file into a new image of yours; prints its ID",
        _clone,
        arguments=[
            arg("image", help="image id or name"),
            arg("name", help="the new image's name"),
            arg("-d", "--datastore", help="the datastore of the copy (default: the source's)"),
        ],
    )
    pool.delete("delete images (an image in the datastore: its file too)")
    pool.update("replace an image's template (--append: merge into it)")
    pool.each(
        "persistent",
        "make images persistent (used by one VM at a time, changes kept)",
        lambda ctx, ref: ctx.call(images.set_persistent, ref, True),
    )
    pool.each(
        "nonpersistent",
        "make images non-persistent",
        lambda ctx, ref: ctx.call(images.set_persistent, ref, False),
    )
    pool.each("enable", "enable images", lambda ctx, ref: ctx.call(images.enable, ref, True))
    pool.each(
        "disable",
        "disable images (no new VM may use them)",
        lambda ctx, ref: ctx.call(images.enable, ref, False),
    )
    pool.list("list images")
    pool.show("show an image")
    pool.ownership()
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

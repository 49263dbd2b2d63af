"""The guide's four OCCI commands (7.4.1), each a CLI with its sub-commands:

    occi-storage        list [--verbose] | create | update | show | delete
    occi-network        list [--verbose] | create | update | show | delete
    occi-compute        list [--verbose] | create | update | show | delete
                        | attachdisk <compute> <storage> | detachdisk <compute> <storage>
    occi-instance-type  list [--verbose] | show

Each prints the server's XML answer (indented, as 4.6's did) and exits 0, or prints one
line ``<command> <sub-command>: <why>`` on stderr and exits 1 (2 for a usage error). The
options go before or after the sub-command (``occi-compute --url U list`` as the guide
writes it, or ``occi-compute list --verbose``).
"""

from __future__ import annotations

import argparse
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from urllib.parse import quote

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from onekit.cli.common import Arg, Cli, Context, Handler, arg, seconds
from onekit.cli.multipart import Form, fields_only
from onekit.cli.occi.client import DEFAULT_URL, UPLOAD_TIMEOUT, URL_VAR, Client, resolve
from onekit.cli.occi.documents import Document, disks_of, element, pretty, serialize

CONNECTION = (
    arg(
        "-R",
        "--url",
        metavar="URL",
        help=f"the OCCI server's URL (default: ${URL_VAR}, else {DEFAULT_URL})",
    ),
    arg("-U", "--username", metavar="USER", help="the OpenNebula user (default: ONE_AUTH's)"),
    arg("-P", "--password", metavar="PASSWORD", help="the user's password (with --username)"),
    arg(
        "-T",
        "--timeout",
        metavar="SECONDS",
        type=seconds,
        help="how long to wait for the server (default: 60; 3600 for storage create)",
    ),
    arg("--cacert", metavar="FILE", help="CA certificates to verify an https:// server with"),
    arg("--cert", metavar="FILE", help="a client certificate (PEM) for a TLS proxy that asks"),
    arg("--key", metavar="FILE", help="the client certificate's key (default: in --cert)"),
)
VERBOSE = arg("--verbose", action="store_true", help="every resource in full, not its link")

ENVIRONMENT = f"""\
environment:
  {URL_VAR}    the server's URL (http://host:4567), without --url
  ONE_AUTH    without --username/--password: a file holding user:password
              (default: the instance's one_auth, as the other onekit commands)
"""


class OcciCli:
    """One occi-* command: a ``Cli`` whose every sub-command takes the connection
    options, and the OCCI kind (``storage``) its requests go to."""

    def __init__(self, prog: str, kind: str, description: str):
        self.kind = kind
        self.cli = Cli(prog, description)
        self.cli.parser.epilog = ENVIRONMENT
        self.cli.parser.formatter_class = argparse.RawDescriptionHelpFormatter
        _add(self.cli.parser, CONNECTION, suppress=False)

    def command(self, name: str, help: str, handler: Handler, *arguments: Arg) -> None:
        sub = self.cli.command(name, help, handler, arguments=arguments)
        _add(sub, CONNECTION, suppress=True)

    def __call__(self, argv: Sequence[str] | None = None) -> int:
        return self.cli.main(argv)

    # ---- the sub-commands every kind has ------------------------------------------------
    def list(self, noun: str) -> None:
        def handler(ctx: Context, args: argparse.Namespace) -> None:
            query = "?verbose=true" if args.verbose else ""
            show(ctx, client(args).request("GET", f"/{self.kind}{query}"))

        self.command("list", f"list the {noun}s (--verbose: in full)", handler, VERBOSE)

    def show(self, noun: str, ref: str = "id") -> None:
        def handler(ctx: Context, args: argparse.Namespace) -> None:
            show(ctx, client(args).request("GET", self.path(args.resource)))

        self.command("show", f"show a {noun}", handler, arg("resource", help=f"the {noun}'s {ref}"))

    def delete(self, noun: str) -> None:
        def handler(ctx: Context, args: argparse.Namespace) -> None:
            show(ctx, client(args).request("DELETE", self.path(args.resource)))

        self.command(
            "delete", f"delete a {noun}", handler, arg("resource", help=f"the {noun}'s id")
        )

    def create(self, noun: str) -> None:
        def handler(ctx: Context, args: argparse.Namespace) -> None:
            document = Document(args.xml_template)
            show(ctx, client(args).request("POST", f"/{self.kind}", document.text.encode()))

        self.command("create", f"create a {noun} from an OCCI XML file", handler, TEMPLATE)

    def update(self, noun: str, what: str) -> None:
        def handler(ctx: Context, args: argparse.Namespace) -> None:
            document = Document(args.xml_template)
            path = self.path(document.resource_id())
            show(ctx, client(args).request("PUT", path, document.text.encode()))

        self.command(
            "update",
            f"change a {noun} ({what}): the OCCI XML file's <ID> names it",
            handler,
            TEMPLATE,
        )

    def resources(self, noun: str, changes: str) -> None:
        """The guide's five of a kind with plain XML bodies: list, create, update, show,
        delete (in the guide's order)."""
        self.list(noun)
        self.create(noun)
        self.update(noun, changes)
        self.show(noun)
        self.delete(noun)

    def path(self, ident: str) -> str:
        return f"/{self.kind}/{quote_id(ident)}"


TEMPLATE = arg("xml_template", metavar="xml_template", help="an OCCI XML file (- for stdin)")


def _add(parser: argparse.ArgumentParser, options: Sequence[Arg], suppress: bool) -> None:
    """The options on the main parser (default None) and again on each sub-command's
    (default: not set, so a value given before the sub-command stays)."""
    for option in options:
        settings = dict(option.options)
        if suppress:
            settings["default"] = argparse.SUPPRESS
        parser.add_argument(*option.names, **settings)


def quote_id(ident: str) -> str:
    """An id as one path segment (``../x`` cannot climb out of the kind's path)."""
    return quote(ident.strip(), safe="")


def client(args: argparse.Namespace) -> Client:
    return Client(resolve(args))


def show(ctx: Context, answer: str) -> None:
    """Print an answer (nothing for an empty one: a delete's 204)."""
    text = pretty(answer)
    if text:
        ctx.out(text)


# ---- occi-storage ---------------------------------------------------------------------
def _storage_create(ctx: Context, args: argparse.Namespace) -> None:
    """POST /storage as ``multipart/form-data``: the file's XML in ``occixml`` and, when
    its ``<URL>`` names a local file, that file in ``file``, streamed from disk."""
    document = Document(args.xml_template)
    upload = document.upload_path()
    boundary = f"occi-{uuid.uuid4().hex}"
    while boundary in document.text:  # the XML must not hold the delimiter
        boundary = f"occi-{uuid.uuid4().hex}"
    fields = {"occixml": document.text}
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if upload is None:
        body: bytes | Iterable[bytes] = fields_only(fields, boundary)
    else:
        what = f"storage file (the <URL> of {document.name})"
        form = Form.of(upload, fields, boundary, what=what)
        headers["Content-Length"] = str(form.length)
        body = form.chunks()
    show(ctx, client(args).request("POST", "/storage", body, headers, timeout=UPLOAD_TIMEOUT))


def _storage() -> OcciCli:
    cli = OcciCli("occi-storage", "storage", "Manage OCCI storage resources (images).")
    cli.list("storage resource")
    cli.command(
        "create",
        "create a storage resource from an OCCI XML file; its <URL> (file:///path or a "
        "path) is the image file to upload (none for a DATABLOCK)",
        _storage_create,
        TEMPLATE,
    )
    cli.update("storage resource", "PUBLIC or PERSISTENT, one a request")
    cli.show("storage resource")
    cli.delete("storage resource")
    return cli


# ---- occi-network ---------------------------------------------------------------------
def _network() -> OcciCli:
    cli = OcciCli("occi-network", "network", "Manage OCCI network resources.")
    cli.resources("network", "PUBLIC")
    return cli


# ---- occi-compute ---------------------------------------------------------------------
def disk_action(perform: str, params: ET.Element) -> bytes:
    """The body of ``POST /compute/<id>/action``: ``<ACTION><PERFORM>attachdisk</PERFORM>
    <PARAMS><STORAGE href=".../storage/5"/></PARAMS></ACTION>``."""
    action = element("ACTION")
    action.append(element("PERFORM", perform))
    wrapper = element("PARAMS")
    wrapper.append(params)
    action.append(wrapper)
    return serialize(action)


def _attach(ctx: Context, args: argparse.Namespace) -> None:
    occi = client(args)
    storage = element("STORAGE", href=occi.endpoint.href("storage", args.storage.strip()))
    path = f"{COMPUTE_PATH}/{quote_id(args.resource)}/action"
    show(ctx, occi.request("POST", path, disk_action("attachdisk", storage)))


def _detach(ctx: Context, args: argparse.Namespace) -> None:
    """The server detaches a disk by its id in the compute (``<DISK id="1"/>``, as 4.6's
    did); the guide's command names the storage, so the disk using it is looked up in
    the compute's document first."""
    occi = client(args)
    compute = f"{COMPUTE_PATH}/{quote_id(args.resource)}"
    storage_id = args.storage.strip()
    matching, disks = disks_of(occi.request("GET", compute), storage_id)
    if len(matching) != 1:
        listed = "; ".join(disks) or "none"
        many = "more than one disk" if matching else "no disk"
        raise InvalidInput(
            f"compute {args.resource} has {many} of storage {storage_id} (its disks: {listed})"
        )
    disk = element("DISK", id=matching[0])
    show(ctx, occi.request("POST", f"{compute}/action", disk_action("detachdisk", disk)))


COMPUTE_PATH = "/compute"
COMPUTE_AND_STORAGE = (
    arg("resource", help="the compute's id"),
    arg("storage", help="the storage's id"),
)


def _compute() -> OcciCli:
    cli = OcciCli("occi-compute", "compute", "Manage OCCI compute resources (VMs).")
    cli.resources("compute", "a <STATE>, or a DISK's <SAVE_AS name=...>")
    cli.command(
        "attachdisk",
        "attach a storage to a running compute (hotplug)",
        _attach,
        *COMPUTE_AND_STORAGE,
    )
    cli.command(
        "detachdisk",
        "detach the disk of a storage from a running compute",
        _detach,
        *COMPUTE_AND_STORAGE,
    )
    return cli


# ---- occi-instance-type ---------------------------------------------------------------
def _instance_type() -> OcciCli:
    cli = OcciCli(
        "occi-instance-type", "instance_type", "List the instance types a compute may have."
    )
    cli.list("instance type")
    cli.show("instance type", ref="name (small, medium...)")
    return cli


storage = _storage()
network = _network()
compute = _compute()
instance_type = _instance_type()

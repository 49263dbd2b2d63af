"""What every onekit CLI shares: sub-commands, login, id lists, tables, errors, and the
standard commands of an object pool.

A CLI declares its sub-commands with ``Cli.command``; ``Cli.main`` parses argv, runs the
handler and turns any core error into one line on stderr and exit status 1 (argparse usage
errors exit 2). Tables follow the OpenNebula CLI: upper-case headers, ids right-aligned.

The commands every pool has (create, delete, list, show, update, rename, chown, chgrp,
chmod) come from a ``Pool``, a declaration of the calls behind them and of how their
answers print; ``Cli.pool(pool)`` adds them one by one, so a CLI writes only its own words
(the help texts) and its own commands.

``list`` pages through the store as OpenNebula's CLI does: ONE_POOL_PAGE_SIZE objects per
request (default 2000, ``disabled``: one request for everything), each page printed as it
comes, so a list of 100k VMs never sits in memory whole; a table's columns widen as wider
cells come (from their declared widths), never waiting for the whole list. Any pool whose
list operation is a ``Listing`` pages: the core's (``CoreCall``) and OneFlow's REST pools
(``flow_client``).
"""

from __future__ import annotations

import argparse
import getpass
import inspect
import itertools
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool as store_pool
from ansible_collections.onekit.cloud.plugins.module_utils.core import remote
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput, OneError
from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions
from ansible_collections.onekit.cloud.plugins.module_utils.core.schema import PoolSpec
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.shared_writes import operation_name
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.objects import users

_NUMBER = re.compile(r"[0-9]+")
MAX_RANGE = 10000
Handler = Callable[["Context", argparse.Namespace], int | None]


class Context:
    """What a handler gets: the instance, a lazily opened session, and output helpers."""

    def __init__(self, prog: str, command: str):
        self.prog = prog
        self.command = command
        self.instance = Instance.locate()
        self._session: Session | None = None
        self._endpoint: str | bool | None = False  # False: not looked up yet

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = self.instance.session()
        return self._session

    @property
    def endpoint(self) -> str | None:
        """The other front-end the commands go to (the active zone's ENDPOINT, or
        ONE_XMLRPC), or None for this instance."""
        if self._endpoint is False:
            self._endpoint = remote_endpoint(self.instance)
        return self._endpoint  # type: ignore[return-value]

    def me(self) -> tuple[int, int]:
        """The caller's user id and primary group id."""
        if self.endpoint is None:
            return self.session.subject.uid, self.session.subject.gid
        user = self.call(users.show, self.instance.credentials()[0])
        return user["ID"], user["GID"]

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(session, *args, **kwargs)`` here, or the same operation through the core
        API of the active zone when it is another front-end."""
        if self.endpoint is None:
            return fn(self.session, *args, **kwargs)
        return remote.call(
            self.endpoint,
            self.instance.credentials(),
            operation_name(fn),
            args,
            kwargs,
            what=f"the active zone ({ZONE_FILE_HELP})",
        )

    def pages(
        self, fn: Callable[..., Any], *args: Any, page_size: int | None, **kwargs: Any
    ) -> Iterator[list[Any]]:
        """The pages of the listing ``fn`` (one that takes ``start`` and ``page_size``),
        here or on the active zone's front-end, one request per page."""
        if self.endpoint is None:

            def fetch(start: int, size: int | None) -> list[Any]:
                return fn(self.session, *args, start=start, page_size=size, **kwargs)

            return store_pool.pages(fetch, page_size)
        return remote.pages(
            self.endpoint,
            self.instance.credentials(),
            operation_name(fn),
            args,
            kwargs,
            page_size,
            what=f"the active zone ({ZONE_FILE_HELP})",
        )

    def error(self, err: OneError) -> int:
        """Report an error on one line of stderr; returns the exit status it calls for."""
        print(f"{self.prog} {self.command}: {err}", file=sys.stderr)
        return err.exit_code

    def for_each(self, items: list[str], action: Callable[[str], Any]) -> int:
        """Apply an action to every id of a list, each in its own transaction; a failing
        one is reported and the rest still run, as OpenNebula's CLI does."""
        status = 0
        for item in items:
            try:
                action(item)
            except OneError as err:
                status = self.error(err)
        return status

    @staticmethod
    def out(text: str = "") -> None:
        print(text)

    @staticmethod
    def json(data: Any) -> None:
        print(json.dumps(data, indent=2, sort_keys=False))


ZONE_FILE_HELP = "onezone set; ONE_XMLRPC"
PAGE_SIZE_VAR = "ONE_POOL_PAGE_SIZE"
DEFAULT_PAGE_SIZE = 2000  # the guide's (3.2.3 API Tuning)
MIN_PAGE_SIZE = 2  # "It should be bigger that 2" (oned's OCA takes 2 and up)


def pool_page_size(environ: Mapping[str, str] = os.environ) -> int | None:
    """Objects per request of a list command, from ONE_POOL_PAGE_SIZE: a number from 2
    up (default 2000), or None (one request for everything) for a value without a digit,
    as the guide says ("to disable pagination we can use a non numeric value", its
    example ``disabled``). A number out of range, or digits mixed with other characters,
    is a mistake to report, not a wish to disable paging."""
    text = environ.get(PAGE_SIZE_VAR, "").strip()
    if not text:
        return DEFAULT_PAGE_SIZE
    if not any(c.isdigit() for c in text):
        return None
    if _NUMBER.fullmatch(text) and MIN_PAGE_SIZE <= int(text) <= store_pool.MAX_OID:
        return int(text)
    raise InvalidInput(
        f"{PAGE_SIZE_VAR} must be a number of objects per page from {MIN_PAGE_SIZE} to "
        f"{store_pool.MAX_OID}, or 'disabled' for one request, got "
        f"{store_pool.shorten(text)!r}"
    )


def zone_file(instance: Instance) -> Path:
    """Where ``onezone set`` keeps the active zone's endpoint (OpenNebula's
    ``one_endpoint``): beside the instance's ``one_auth``, so the credentials of one
    instance never go to the zone another one chose."""
    return Path(os.environ.get("ONE_ENDPOINT_FILE") or instance.home / "one_endpoint")


def remote_endpoint(instance: Instance) -> str | None:
    """ONE_XMLRPC, else the file ``onezone set`` wrote; None when that is this instance
    (or nothing is set)."""
    url = os.environ.get("ONE_XMLRPC", "").strip()
    if not url:
        try:
            url = zone_file(instance).read_text().strip()
        except (OSError, UnicodeDecodeError):
            url = ""
    url = url.removesuffix("/RPC2").rstrip("/")
    if not url:
        return None
    try:
        local = instance.config().endpoint
    except OneError:
        return url  # no instance here: every command goes to the endpoint
    return None if url == local else url


class _Parser(argparse.ArgumentParser):
    """argparse with the one-line error style of the other messages."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: {message}\n")


class Cli:
    def __init__(self, prog: str, description: str):
        self.prog = prog
        self.parser = _Parser(prog=prog, description=description)
        self._sub = self.parser.add_subparsers(
            dest="command", metavar="<command>", parser_class=_Parser
        )
        self._sub.required = True

    def command(
        self,
        name: str,
        help: str,
        handler: Handler,
        description: str | None = None,
        arguments: Iterable[Arg] = (),
    ) -> argparse.ArgumentParser:
        parser = self._sub.add_parser(name, help=help, description=description or help)
        parser.set_defaults(handler=handler)
        for argument in arguments:
            parser.add_argument(*argument.names, **argument.options)
        return parser

    def pool(self, pool: Pool) -> PoolCommands:
        """The standard commands of ``pool``, to add to this CLI."""
        return PoolCommands(self, pool)

    def main(self, argv: Sequence[str] | None = None) -> int:
        args = self.parser.parse_args(argv)
        ctx = Context(self.prog, args.command)
        try:
            return args.handler(ctx, args) or 0
        except OneError as err:
            return ctx.error(err)
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:  # `onevm show 1 | head`: the reader left, not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        finally:
            if ctx._session is not None:
                ctx._session.db.close()


@dataclass(frozen=True)
class Arg:
    """One argument of a sub-command, declared before its parser exists."""

    names: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def dest(self) -> str:
        """The attribute argparse stores it in (its rule: ``dest``, else the first long
        option, else the first name)."""
        if "dest" in self.options:
            return self.options["dest"]
        name = next((n for n in self.names if n.startswith("--")), self.names[0])
        return name.lstrip("-").replace("-", "_")


def arg(*names: str, **options: Any) -> Arg:
    """``arg("--all", action="store_true", help=...)``: ``add_argument``'s words."""
    return Arg(names, options)


JSON = arg("-j", "--json", action="store_true", help="print JSON")
FILE = arg("file", help="template file (- for stdin)")
APPEND = arg("--append", "-a", action="store_true", help="merge instead of replace")


def id_list(text: str) -> list[str]:
    """``1,2,5..7,alice`` -> ['1', '2', '5', '6', '7', 'alice'] (ids, ranges, names)."""
    items: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if ".." in part:
            low, _, high = part.partition("..")
            if not (_NUMBER.fullmatch(low) and _NUMBER.fullmatch(high)) or int(low) > int(high):
                raise InvalidInput(f"range {part!r} must be <low id>..<high id>")
            if int(high) - int(low) >= MAX_RANGE:
                raise InvalidInput(f"range {part!r} spans more than {MAX_RANGE} ids")
            items += [str(i) for i in range(int(low), int(high) + 1)]
        elif part:
            items.append(part)
    if not items:
        raise InvalidInput("no id given")
    return items


def read_secret(given: str | None, prompt: str = "Password: ") -> str:
    """The password argument, else one typed at a prompt (tty) or read from stdin."""
    if given is not None:
        return given
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\n")


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], Any]
    right: bool = False
    width: int = 0


class TableLayout:
    """A table printed a page at a time: the header before the first page, then each
    page's rows. A column is as wide as its widest cell so far (its declared width at
    least): a page never waits for the next, and when no later cell is wider than the
    declared widths the rows line up as one table. Numbers right-aligned."""

    def __init__(self, columns: Sequence[Column]):
        self.columns = columns
        self.widths = [max(c.width, len(c.header)) for c in columns]
        self._header_due = True

    def lines(self, rows: Iterable[Any]) -> list[str]:
        cells = [[str(c.value(row)) for c in self.columns] for row in rows]
        self.widths = [max([w, *(len(r[i]) for r in cells)]) for i, w in enumerate(self.widths)]
        header = [[c.header for c in self.columns]] if self._header_due else []
        self._header_due = False
        return [self._line(values) for values in [*header, *cells]]

    def _line(self, values: Sequence[str]) -> str:
        return " ".join(
            v.rjust(w) if c.right else v.ljust(w)
            for v, w, c in zip(values, self.widths, self.columns, strict=True)
        ).rstrip()


def table(rows: Iterable[Any], columns: Sequence[Column]) -> str:
    """Columns as wide as their widest cell; numbers right-aligned, as oneuser list does."""
    return "\n".join(TableLayout(columns).lines(rows))


def pool_json_lines(key: str, rows: Iterable[Any]) -> Iterator[str]:
    """``json.dumps({"<key>_POOL": {"<key>": [rows]}}, indent=2)``, text for one row at a
    time (``list -j`` of a pool read page by page prints the same as of a whole list)."""
    pool_key, row_key = json.dumps(f"{key}_POOL"), json.dumps(key)
    pending: str | None = None
    for row in rows:
        yield f"{{\n  {pool_key}: {{\n    {row_key}: [" if pending is None else f"{pending},"
        pending = "      " + json.dumps(row, indent=2).replace("\n", "\n      ")
    if pending is None:
        yield f"{{\n  {pool_key}: {{\n    {row_key}: []\n  }}\n}}"
    else:
        yield f"{pending}\n    ]\n  }}\n}}"


def show_fields(title: str, fields: Sequence[tuple[str, Any]]) -> str:
    """``USER 1 INFORMATION`` then ``KEY   : value`` lines, keys padded to one width."""
    width = max(len(k) for k, _ in fields)
    return "\n".join([title, *(f"{k.ljust(width)} : {v}".rstrip() for k, v in fields)])


def seconds(text: str) -> float:
    """A ``-T/--timeout`` argument: a number of seconds above 0 (argparse's type)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError(f"the timeout is seconds from 0 to 86400, got {text!r}")
    return value


def http_url(url: str, source: str, example: str) -> str:
    """A server's URL, checked: ``http(s)://host[:port][/path]``; ``source`` names where
    it came from (``EC2_URL (or -U/--url)``) in the error."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"{source} must be an http or https URL such as {example}, got {url!r}")
    try:
        parts.port  # noqa: B018 -- a bad port raises here, not deep inside the client
    except ValueError as err:
        raise InvalidInput(f"{source} {url!r}: {err}") from err
    return url


def read_text_file(path: str, what: str = "template file") -> str:
    """The text of a file argument (``-`` reads stdin); ``what`` names it in errors."""
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise InvalidInput(f"cannot read {what} {path}: {reason}") from err


def read_template_file(path: str) -> str:
    """The text of a template file argument (``-`` reads stdin)."""
    return read_text_file(path, "template file")


def size(kib: Any) -> str:
    """KiB as oned's CLI prints them: 0K, 512K, 32M, 3.6G."""
    try:
        value = float(kib)
    except (TypeError, ValueError):
        return "-"
    if value < 1024:
        return f"{int(value)}K"
    for unit in ("M", "G", "T"):
        value /= 1024
        if value < 1024 or unit == "T":
            break
    return f"{value:.0f}{unit}" if value >= 100 or value == int(value) else f"{value:.1f}{unit}"


def quota_section(body: dict) -> str:
    """A user's or group's ``VM_QUOTA`` as ``oneuser show`` prints it: each limit with its
    usage, ``used / limit`` (``-``: unlimited), MEMORY in oned's sizes."""
    quota = body.get("VM_QUOTA") or {}

    def pair(key: str, shown: Callable[[Any], str]) -> str:
        limit = quota.get(key, -1)
        return f"{shown(quota.get(f'{key}_USED', 0))} / {'-' if limit == -1 else shown(limit)}"

    def mib(value: Any) -> str:
        return size(float(value) * 1024)

    cells = [
        ("VMS", pair("VMS", str)),
        ("MEMORY", pair("MEMORY", mib)),
        ("CPU", pair("CPU", lambda v: f"{float(v):.2f}")),
    ]
    widths = [max(len(k), len(v)) + 2 for k, v in cells]
    head = "".join(k.ljust(w) for (k, _), w in zip(cells, widths, strict=True))
    row = "".join(v.ljust(w) for (_, v), w in zip(cells, widths, strict=True))
    return "\n".join(["VM QUOTA", head.rstrip(), row.rstrip()])


def with_quota(show: Callable[..., Any], quota: Callable[..., Any]) -> Call:
    """A ``show`` pool operation whose object carries its ``VM_QUOTA`` (``quota``'s)."""

    def call(ctx: Context, ref: Any) -> dict:
        body = ctx.call(show, ref)
        return {**body, "VM_QUOTA": ctx.call(quota, body["ID"])["VM"]}

    return call


def quota_command(cli: Cli, noun: str, set_quota: Callable[..., Any]) -> None:
    """``<cli> quota <ref> <file>``: set the VM quota of a user or group from a template
    file (``-``: stdin), then print it as ``show`` does."""

    def handler(ctx: Context, args: argparse.Namespace) -> None:
        text = read_text_file(args.file, "quota file")
        ctx.out(quota_section({"VM_QUOTA": ctx.call(set_quota, args.ref, text)["VM"]}))

    cli.command(
        "quota",
        f"set the VM quota of a {noun}: a file with VM = [ VMS = n, CPU = x, MEMORY = MB ] "
        "(-1: unlimited)",
        handler,
        arguments=[
            arg("ref", metavar=noun, help=f"{noun} id or name"),
            arg("file", help="quota template file (- for stdin)"),
        ],
    )


def duration(seconds: float) -> str:
    """``0d 03h12`` (days, hours, minutes), the TIME column of onevm list."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    return f"{days}d {rest // 3600:02d}h{rest % 3600 // 60:02d}"


def timestamp(epoch: Any) -> str:
    try:
        return time.strftime("%m/%d %H:%M:%S", time.localtime(int(epoch))) if epoch else "-"
    except (TypeError, ValueError):
        return "-"


def permissions(body: dict) -> str:
    """The PERMISSIONS block of an owned object's ``show``."""
    owner, group, other = str(Permissions.from_json(body.get("PERMISSIONS", {}))).split()
    return show_fields("PERMISSIONS", [("OWNER", owner), ("GROUP", group), ("OTHER", other)])


def owned_fields(body: dict) -> list[tuple[str, Any]]:
    """ID NAME USER GROUP, the first fields of every owned object's show."""
    return [
        ("ID", body["ID"]),
        ("NAME", body["NAME"]),
        ("USER", body["UNAME"]),
        ("GROUP", body["GNAME"]),
    ]


def owned_columns(user_width: int = 10, name_width: int = 15) -> list[Column]:
    """ID USER GROUP NAME, the first columns of every owned object's list."""
    return [
        Column("ID", lambda o: o["ID"], right=True, width=4),
        Column("USER", lambda o: o["UNAME"], width=user_width),
        Column("GROUP", lambda o: o["GNAME"], width=user_width),
        Column("NAME", lambda o: o["NAME"], width=name_width),
    ]


Call = Callable[..., Any]
"""An operation of a pool, ``call(conn, *args)``: conn is what ``Pool.connect`` made of the
Context (the Context itself for the core, a REST client for OneFlow)."""


@runtime_checkable
class Listing(Protocol):
    """A list operation that can be read a page at a time (when ``pages`` says so)."""

    @property
    def pages(self) -> bool: ...

    def each_page(self, conn: Any, page_size: int | None, **kwargs: Any) -> Iterator[list]:
        """The pages, one request each (``page_size`` None: one page of everything)."""
        ...


@dataclass(frozen=True)
class CoreCall:
    """The core function ``fn`` as a pool operation: ``fn(session, *bound, *args)`` through
    ``Context.call``, so in-process or on the active zone's front-end."""

    fn: Callable[..., Any]
    bound: tuple[Any, ...] = ()

    def __call__(self, ctx: Context, *args: Any, **kwargs: Any) -> Any:
        return ctx.call(self.fn, *self.bound, *args, **kwargs)

    @property
    def pages(self) -> bool:
        """Is ``fn`` a listing that pages (it takes ``start`` and ``page_size``)?"""
        return {"start", "page_size"} <= set(inspect.signature(self.fn).parameters)

    def each_page(self, ctx: Context, page_size: int | None, **kwargs: Any) -> Iterator[list]:
        return ctx.pages(self.fn, *self.bound, page_size=page_size, **kwargs)


def core(fn: Callable[..., Any], *bound: Any) -> Call:
    """The core function ``fn`` as a pool operation (a ``CoreCall``)."""
    return CoreCall(fn, bound)


@dataclass(frozen=True)
class Ownership:
    """chown ``(conn, ref, user, group)``, chgrp ``(conn, ref, group)``, chmod
    ``(conn, ref, mode)``."""

    chown: Call
    chgrp: Call
    chmod: Call

    @classmethod
    def of(cls, spec: PoolSpec) -> Ownership:
        """Those of the core's owned object types (templates, VMs, images, networks)."""
        return cls(core(objects.chown, spec), core(objects.chgrp, spec), core(objects.chmod, spec))


def _itself(value: Any) -> Any:
    return value


def _id_and_name(_ctx: Context, body: dict) -> Sequence[tuple[str, Any]]:
    return [("ID", body["ID"]), ("NAME", body["NAME"])]


def _no_sections(_ctx: Context, _body: dict) -> Sequence[str]:
    return ()


@dataclass(frozen=True)
class Pool:
    """An object type as its CLI sees it: the operations behind the standard commands
    (None: the CLI has no such command) and how their answers print.

    ``key`` names the JSON: ``"IMAGE"`` makes ``show -j`` print ``{"IMAGE": {...}}`` and
    ``list -j`` ``{"IMAGE_POOL": {"IMAGE": [...]}}``, as oned's CLI; without a key the
    answers print as they come (the OneFlow API's are that JSON already)."""

    noun: str  # "image": the object word of the default help texts
    key: str = ""
    title: str = ""  # show's "VIRTUAL NETWORK 3 INFORMATION" (default: key)
    ref_arg: str = ""  # the argument naming one object (default: the noun)
    ids_arg: str = ""  # the argument naming a list of them (default: the noun's plural)
    connect: Callable[[Context], Any] = _itself  # the conn the operations get
    create: Callable[[Any, argparse.Namespace], Any] | None = None  # -> the new object's id
    list: Call | None = None  # (conn, **list options) -> answer
    show: Call | None = None  # (conn, ref) -> answer
    update: Call | None = None  # (conn, ref, text[, append])
    rename: Call | None = None  # (conn, ref, name)
    delete: Call | None = None  # (conn, ref)
    owners: Ownership | None = None
    rows: Callable[[Any], Sequence[Any]] = _itself  # the objects of a list answer
    body: Callable[[Any], dict] = _itself  # the object of a show answer
    row_json: Callable[[Any], Any] = _itself  # one object as list --json prints it
    # list --json of a paged list, a row at a time (default: pool_json_lines of key)
    json_lines: Callable[[Iterable[Any]], Iterator[str]] | None = None
    columns: Sequence[Column] | Callable[[Context], Sequence[Column]] = ()
    fields: Callable[[Context, dict], Sequence[tuple[str, Any]]] = _id_and_name  # INFORMATION
    sections: Callable[[Context, dict], Sequence[str]] = _no_sections  # the blocks after it

    def __post_init__(self) -> None:
        word = self.noun.lower().replace(" ", "_")
        object.__setattr__(self, "title", self.title or self.key)
        object.__setattr__(self, "ref_arg", self.ref_arg or word)
        object.__setattr__(self, "ids_arg", self.ids_arg or f"{word}s")

    def list_json(self, answer: Any) -> Any:
        if not self.key:
            return answer
        return {f"{self.key}_POOL": {self.key: [self.row_json(r) for r in self.rows(answer)]}}

    def show_json(self, answer: Any) -> Any:
        return {self.key: self.body(answer)} if self.key else answer

    def list_text(self, ctx: Context, answer: Any) -> str:
        """The table of a list answer (columns may depend on the Context: the active zone)."""
        columns = self.columns(ctx) if callable(self.columns) else self.columns
        return table(self.rows(answer), columns)

    def show_text(self, ctx: Context, answer: Any) -> str:
        """``<TITLE> <id> INFORMATION`` and the fields, then the other blocks, a blank line
        between each."""
        body = self.body(answer)
        info = show_fields(f"{self.title} {body['ID']} INFORMATION", self.fields(ctx, body))
        return "\n\n".join([info, *self.sections(ctx, body)])


class PoolCommands:
    """Adds the standard commands of one pool to a CLI, each where it is called (their
    order in ``--help``). Help texts are the CLI's; an id list takes ids, names and ranges,
    and each of its objects is acted on in its own transaction."""

    def __init__(self, cli: Cli, pool: Pool):
        self.cli = cli
        self.pool = pool

    def _needs(self, operation: Any, command: str) -> Any:
        """The pool's operation behind a command (a CLI that adds the command declares it)."""
        if operation is None:
            raise TypeError(f"{self.cli.prog} {command}: the {self.pool.noun} pool has no call")
        return operation

    def _ref(self, help: str | None, **options: Any) -> Arg:
        return arg(self.pool.ref_arg, help=help or f"{self.pool.noun} id or name", **options)

    def create(self, help: str, *arguments: Arg, description: str | None = None) -> None:
        """``create``: prints ``ID: <id>`` of what ``pool.create(conn, args)`` made."""
        pool, create = self.pool, self._needs(self.pool.create, "create")

        def handler(ctx: Context, args: argparse.Namespace) -> None:
            ctx.out(f"ID: {create(pool.connect(ctx), args)}")

        self.cli.command("create", help, handler, description, arguments)

    def each(
        self,
        name: str,
        help: str,
        call: Call,
        *extra: Arg,
        ids_help: str | None = None,
        ids_arg: str | None = None,
    ) -> None:
        """A command running ``call(conn, ref, *extra values)`` on every object of an id
        list: a failure is reported and the others still run (exit status 1)."""
        pool = self.pool
        ids = arg(ids_arg or pool.ids_arg, help=ids_help or f"{pool.noun} ids or names")

        def handler(ctx: Context, args: argparse.Namespace) -> int:
            conn = pool.connect(ctx)
            values = [getattr(args, a.dest) for a in extra]
            refs = id_list(getattr(args, ids.dest))
            return ctx.for_each(refs, lambda ref: call(conn, ref, *values))

        self.cli.command(name, help, handler, arguments=[ids, *extra])

    def delete(self, help: str, ids_help: str | None = None) -> None:
        self.each("delete", help, self._needs(self.pool.delete, "delete"), ids_help=ids_help)

    def list(self, help: str, *options: Arg) -> None:
        """``list [options] [-j]``: the options' values go to ``pool.list`` by keyword; a
        core listing that pages is read and printed ONE_POOL_PAGE_SIZE objects at a time."""
        pool, fetch = self.pool, self._needs(self.pool.list, "list")

        def handler(ctx: Context, args: argparse.Namespace) -> None:
            values = {o.dest: getattr(args, o.dest) for o in options}
            if isinstance(fetch, Listing) and fetch.pages:
                page_size = pool_page_size()  # a bad value is refused before any request
                self._print_pages(
                    ctx, fetch.each_page(pool.connect(ctx), page_size, **values), args.json
                )
                return
            answer = fetch(pool.connect(ctx), **values)
            if args.json:
                ctx.json(pool.list_json(answer))
            else:
                ctx.out(pool.list_text(ctx, answer))

        self.cli.command("list", help, handler, arguments=[*options, JSON])

    def _print_pages(self, ctx: Context, pages: Iterator[list], as_json: bool) -> None:
        """A listing's pages, printed as they come: the table, or the pool's JSON."""
        pool = self.pool
        if as_json:
            rows = map(pool.row_json, itertools.chain.from_iterable(pages))
            lines = pool.json_lines or (lambda each: pool_json_lines(pool.key, each))
            for text in lines(rows):
                ctx.out(text)
            return
        layout = TableLayout(pool.columns(ctx) if callable(pool.columns) else pool.columns)
        for page in pages:
            for line in layout.lines(page):
                ctx.out(line)

    def show(
        self,
        help: str,
        ref_help: str | None = None,
        default: Callable[[Context], Any] | None = None,
    ) -> None:
        """``show <ref> [-j]``; with ``default``, the ref may be left out (yourself)."""
        pool, fetch = self.pool, self._needs(self.pool.show, "show")

        def handler(ctx: Context, args: argparse.Namespace) -> None:
            conn = pool.connect(ctx)
            ref = getattr(args, pool.ref_arg)
            if ref is None and default is not None:
                ref = default(ctx)
            answer = fetch(conn, ref)
            if args.json:
                ctx.json(pool.show_json(answer))
            else:
                ctx.out(pool.show_text(ctx, answer))

        ref = self._ref(ref_help, **({"nargs": "?"} if default else {}))
        self.cli.command("show", help, handler, arguments=[ref, JSON])

    def update(
        self,
        help: str,
        file: Arg = FILE,
        append: Arg | None = APPEND,
        ref_help: str | None = None,
    ) -> None:
        """``update <ref> <file> [--append]``: ``pool.update(conn, ref, text[, append])``."""
        pool, update = self.pool, self._needs(self.pool.update, "update")

        def handler(ctx: Context, args: argparse.Namespace) -> None:
            conn = pool.connect(ctx)
            text = read_template_file(getattr(args, file.dest))
            more = (getattr(args, append.dest),) if append else ()
            update(conn, getattr(args, pool.ref_arg), text, *more)

        arguments = [self._ref(ref_help), file, *([append] if append else [])]
        self.cli.command("update", help, handler, arguments=arguments)

    def rename(self, help: str, ref_help: str | None = None) -> None:
        pool, rename = self.pool, self._needs(self.pool.rename, "rename")

        def handler(ctx: Context, args: argparse.Namespace) -> None:
            rename(pool.connect(ctx), getattr(args, pool.ref_arg), args.name)

        name = arg("name", help="the new name")
        self.cli.command("rename", help, handler, arguments=[self._ref(ref_help), name])

    def ownership(self, mode_example: str = "640") -> None:
        """chown, chgrp and chmod (their id list is ``ids`` in every CLI)."""
        noun = self.pool.noun
        owners: Ownership = self._needs(self.pool.owners, "chown")
        self.each(
            "chown",
            f"change the owner (and group) of {noun}s",
            owners.chown,
            arg("user", help="new owner, id or name"),
            arg("group", nargs="?", help="new group, id or name"),
            ids_help=f"{noun} ids or names: 3,4 or a range 3..7",
            ids_arg="ids",
        )
        group = arg("group", help="new group, id or name")
        self.each("chgrp", f"change the group of {noun}s", owners.chgrp, group, ids_arg="ids")
        mode = arg("mode", help="three octal digits: owner, group, other (USE 4 MANAGE 2 ADMIN 1)")
        self.each(
            "chmod",
            f"change the permissions of {noun}s (octal, e.g. {mode_example})",
            owners.chmod,
            mode,
            ids_arg="ids",
        )

"""What every onekit CLI shares: sub-commands, login, id lists, tables, errors.

A CLI declares its sub-commands with ``Cli.command``; ``Cli.main`` parses argv, runs the
handler and turns any core error into one line on stderr and exit status 1 (argparse usage
errors exit 2). Tables follow the OpenNebula CLI: upper-case headers, ids right-aligned.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import remote
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput, OneError
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.federation.proxy import operation_name
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance

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
        from ansible_collections.onekit.cloud.plugins.module_utils.objects import users

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
        self, name: str, help: str, handler: Handler, description: str | None = None
    ) -> argparse.ArgumentParser:
        parser = self._sub.add_parser(name, help=help, description=description or help)
        parser.set_defaults(handler=handler)
        return parser

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


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-j", "--json", action="store_true", help="print JSON")


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


def table(rows: Iterable[Any], columns: Sequence[Column]) -> str:
    """Columns as wide as their widest cell; numbers right-aligned, as oneuser list does."""
    cells = [[str(c.value(row)) for c in columns] for row in rows]
    widths = [
        max([c.width, len(c.header), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)
    ]

    def line(values: Sequence[str]) -> str:
        return " ".join(
            v.rjust(w) if c.right else v.ljust(w)
            for v, w, c in zip(values, widths, columns, strict=True)
        ).rstrip()

    return "\n".join([line([c.header for c in columns]), *(line(r) for r in cells)])


def show_fields(title: str, fields: Sequence[tuple[str, Any]]) -> str:
    """``USER 1 INFORMATION`` then ``KEY   : value`` lines, keys padded to one width."""
    width = max(len(k) for k, _ in fields)
    return "\n".join([title, *(f"{k.ljust(width)} : {v}".rstrip() for k, v in fields)])


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


def duration(seconds: float) -> str:
    """``0d 03h12`` (days, hours, minutes), the TIME column of onevm list."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    return f"{days}d {rest // 3600:02d}h{rest % 3600 // 60:02d}"


def timestamp(epoch: Any) -> str:
    import time

    try:
        return time.strftime("%m/%d %H:%M:%S", time.localtime(int(epoch))) if epoch else "-"
    except (TypeError, ValueError):
        return "-"


def permissions_lines(body: dict) -> list[tuple[str, str]]:
    from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions

    owner, group, other = str(Permissions.from_json(body.get("PERMISSIONS", {}))).split()
    return [("OWNER", owner), ("GROUP", group), ("OTHER", other)]


def add_ownership_commands(cli: Cli, spec: Any, noun: str) -> None:
    """chown, chgrp, chmod for an owned object type (templates, VMs, images, networks)."""
    from ansible_collections.onekit.cloud.plugins.module_utils import objects

    def chown(ctx: Context, args: argparse.Namespace) -> int:
        return ctx.for_each(
            id_list(args.ids),
            lambda ref: ctx.call(objects.chown, spec, ref, args.user, args.group),
        )

    def chgrp(ctx: Context, args: argparse.Namespace) -> int:
        return ctx.for_each(
            id_list(args.ids), lambda ref: ctx.call(objects.chgrp, spec, ref, args.group)
        )

    def chmod(ctx: Context, args: argparse.Namespace) -> int:
        return ctx.for_each(
            id_list(args.ids), lambda ref: ctx.call(objects.chmod, spec, ref, args.mode)
        )

    p = cli.command("chown", f"change the owner (and group) of {noun}s", chown)
    p.add_argument("ids", help=f"{noun} ids or names: 3,4 or a range 3..7")
    p.add_argument("user", help="new owner, id or name")
    p.add_argument("group", nargs="?", help="new group, id or name")
    p = cli.command("chgrp", f"change the group of {noun}s", chgrp)
    p.add_argument("ids", help=f"{noun} ids or names")
    p.add_argument("group", help="new group, id or name")
    p = cli.command("chmod", f"change the permissions of {noun}s (octal, e.g. 640)", chmod)
    p.add_argument("ids", help=f"{noun} ids or names")
    p.add_argument("mode", help="three octal digits: owner, group, other (USE 4 MANAGE 2 ADMIN 1)")


def owned_columns(user_width: int = 10, name_width: int = 15) -> list[Column]:
    """ID USER GROUP NAME, the first columns of every owned object's list."""
    return [
        Column("ID", lambda o: o["ID"], right=True, width=4),
        Column("USER", lambda o: o["UNAME"], width=user_width),
        Column("GROUP", lambda o: o["GNAME"], width=user_width),
        Column("NAME", lambda o: o["NAME"], width=name_width),
    ]

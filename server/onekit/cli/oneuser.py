"""oneuser: manage users (create, delete, passwd, chauth, update, chgrp, addgroup,
delgroup, quota, list, show, and the credentials of the EC2 Query API: ec2-key).

An x509 user (``--driver x509``, or ``--x509 --cert FILE``) has its certificate's DN in
place of a password, as OpenNebula's: ``oneuser create bob "/C=ES/O=ONE/CN=bob" --driver
x509`` or ``oneuser create bob --x509 --cert bob.pem``, and ``oneuser chauth`` the same
way. The DN is read from the certificate here, on the CLI's machine (``core.x509``), and
sent as the "password": the certificate's file never reaches the core.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import template, x509
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import X509_DRIVER
from ansible_collections.onekit.cloud.plugins.module_utils.econe import access_keys
from ansible_collections.onekit.cloud.plugins.module_utils.objects import groups, users
from ansible_collections.onekit.cloud.plugins.module_utils.objects.users import AUTH_DRIVERS
from onekit.cli.common import (
    Cli,
    Column,
    Context,
    Pool,
    arg,
    core,
    quota_command,
    quota_section,
    read_secret,
    read_template_file,
    read_text_file,
    table,
    timestamp,
    with_quota,
)

IDS_HELP = "user ids or names: 3,4,alice or a range 3..7"


def _secret(args: argparse.Namespace, driver: str, required: bool) -> str | None:
    """The password argument, or with ``--x509 --cert FILE`` the certificate's DN; an x509
    DN given as the argument is taken as it is (the core checks and normalizes it)."""
    if args.x509 or args.cert:
        if not args.cert or driver != X509_DRIVER:
            raise SystemExit(
                f"oneuser {args.command}: --x509 goes with --cert FILE, and --cert with x509"
            )
        if args.password is not None:
            raise SystemExit(f"oneuser {args.command}: give the DN or --x509 --cert FILE, not both")
        return x509.dn_of_pem(read_text_file(args.cert, "certificate"), f"certificate {args.cert}")
    if driver == X509_DRIVER and args.password is None:
        raise SystemExit(
            f'oneuser {args.command}: an x509 user needs its DN ("/C=ES/O=ONE/CN=name") '
            "or --x509 --cert FILE"
        )
    if args.password is None and not required:
        return None
    return read_secret(args.password)


def _create(ctx: Context, args: argparse.Namespace) -> int:
    driver = X509_DRIVER if args.x509 else args.driver
    password = _secret(args, driver, required=True)
    return ctx.call(users.create, args.name, password, group=args.group, driver=driver)["ID"]


def _chauth(ctx: Context, args: argparse.Namespace) -> None:
    driver = X509_DRIVER if args.x509 else args.driver
    if driver is None:
        raise SystemExit("oneuser chauth: name the auth driver (core, x509...) or --x509 --cert")
    ctx.call(users.chauth, args.user, driver, _secret(args, driver, required=False))


def _passwd(ctx: Context, args: argparse.Namespace) -> None:
    ctx.call(users.passwd, args.user, read_secret(args.password, "New password: "))


def _update(ctx: Context, args: argparse.Namespace) -> None:
    ref = ctx.me()[0] if args.user is None else args.user
    ctx.call(users.update, ref, read_template_file(args.file), args.append)


def _fields(ctx: Context, user: dict) -> list[tuple[str, Any]]:
    names = ctx.call(groups.name_map)
    secondary = [names.get(g, str(g)) for g in user["GROUPS"] if g != user["GID"]]
    return [
        ("ID", user["ID"]),
        ("NAME", user["NAME"]),
        ("GROUP", user["GNAME"]),
        ("SECONDARY GROUPS", ",".join(secondary)),
        ("AUTH_DRIVER", user["AUTH_DRIVER"]),
        ("ENABLED", "Yes" if user["ENABLED"] == "1" else "No"),
    ]


def _ec2_key(ctx: Context, args: argparse.Namespace) -> None:
    """``oneuser ec2-key create|list|delete|password-hash``."""
    if args.action == "delete":
        if not args.target:
            raise SystemExit("oneuser ec2-key delete: name the access key id to delete")
        ctx.call(access_keys.delete, args.target)
        ctx.out(f"access key {args.target} deleted")
        return
    user = args.target if args.target else ctx.me()[0]
    if args.action == "create":
        key = ctx.call(access_keys.create, user)
        ctx.out(f"EC2_ACCESS_KEY={key['ACCESS_KEY_ID']}")
        ctx.out(f"EC2_SECRET_KEY={key['SECRET_ACCESS_KEY']}")
        ctx.out("(the secret is shown this once: keep it)")
    elif args.action == "list":
        keys = ctx.call(access_keys.list_keys, user)
        ctx.out(
            table(
                keys,
                [
                    Column("ACCESS_KEY_ID", lambda k: k["ACCESS_KEY_ID"], width=24),
                    Column("CREATED", lambda k: timestamp(k["CREATED"]), width=19),
                ],
            )
        )
    else:
        ctx.out(ctx.call(access_keys.password_secret, user))


USERS = Pool(
    noun="user",
    key="USER",
    create=_create,
    list=core(users.list_users),
    show=with_quota(users.show, users.quota),
    delete=core(users.delete),
    columns=[
        Column("ID", lambda u: u["ID"], right=True, width=4),
        Column("NAME", lambda u: u["NAME"], width=15),
        Column("GROUP", lambda u: u["GNAME"], width=10),
        Column("AUTH", lambda u: u["AUTH_DRIVER"], width=8),
    ],
    fields=_fields,
    sections=lambda _ctx, user: [
        "USER TEMPLATE\n" + template.dumps(user.get("TEMPLATE") or {}).rstrip(),
        quota_section(user),
    ],
)


_X509_ARGS = (
    arg("--x509", action="store_true", help="an x509 user: its DN read from --cert"),
    arg("--cert", metavar="FILE", help="the user's PEM certificate (with --x509)"),
)


def build() -> Cli:
    cli = Cli("oneuser", "Manage onekit users.")
    pool = cli.pool(USERS)
    pool.create(
        "create a user; prints its ID",
        arg("name", help="user name (no spaces or ':')"),
        arg("password", nargs="?", help="password; omitted: read from the terminal or stdin"),
        arg("--group", "-g", help="primary group, id or name (default: users)"),
        arg(
            "--driver",
            default="core",
            choices=AUTH_DRIVERS,
            help="authentication driver (default: core); x509: the password is the DN",
        ),
        *_X509_ARGS,
        description="Create a user; prints its ID. An x509 user has the DN of its "
        'certificate as password: oneuser create bob "/C=ES/O=ONE/CN=bob" --driver x509, '
        "or oneuser create bob --x509 --cert bob.pem.",
    )
    pool.delete("delete users", IDS_HELP)

    p = cli.command("passwd", "change a user's password", _passwd)
    p.add_argument("user", help="user id or name")
    p.add_argument(
        "password", nargs="?", help="new password; omitted: read from the terminal or stdin"
    )

    cli.command(
        "update",
        "replace (or --append to) a user's template (default: yours)",
        _update,
        arguments=[
            arg("user", nargs="?", help="user id or name (default: yourself)"),
            arg("file", help="template file (- for stdin)"),
            arg("--append", "-a", action="store_true", help="merge instead of replace"),
        ],
    )

    cli.command(
        "chauth",
        "change a user's auth driver (and password, or an x509 user's DN)",
        _chauth,
        description='oneuser chauth bob x509 "/C=ES/O=ONE/CN=bob", or oneuser chauth bob '
        "--x509 --cert bob.pem: bob then logs in with that certificate (through the TLS "
        "proxy), never a password. Back: oneuser chauth bob core <password>. Without a "
        "password the stored one stays (not across x509: a DN is no password).",
        arguments=[
            arg("user", help="user id or name"),
            arg("driver", nargs="?", choices=AUTH_DRIVERS, help="the new auth driver"),
            arg("password", nargs="?", help="the new password (x509: the DN)"),
            *_X509_ARGS,
        ],
    )

    group = arg("group", help="group id or name")
    for name, change, text in (
        ("chgrp", users.chgrp, "change the primary group of users"),
        ("addgroup", users.addgroup, "add users to a secondary group"),
        ("delgroup", users.delgroup, "remove users from a secondary group"),
    ):
        pool.each(name, text, core(change), group, ids_help=IDS_HELP)

    quota_command(cli, "user", users.set_quota)
    cli.command(
        "ec2-key",
        "access keys of the EC2 Query API (econe-server)",
        _ec2_key,
        description="create: a new access key and secret (shown once; at most 2 per user); "
        "list: the access key ids; delete <id>: revoke one; password-hash: the guide's "
        "secret key (the stored password hash; it changes with the password). Without a "
        "user: yourself.",
        arguments=[
            arg("action", choices=("create", "list", "delete", "password-hash")),
            arg("target", nargs="?", help="user id or name (delete: the access key id)"),
        ],
    )
    pool.list("list the users you may see")
    pool.show("show a user (default: yourself)", default=lambda ctx: ctx.me()[0])
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

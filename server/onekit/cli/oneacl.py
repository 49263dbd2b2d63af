"""oneacl: manage ACL rules (create, delete, list)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import (
    RESOURCE_BITS,
    RIGHT_BITS,
    SYNTAX_HELP,
    TYPE_LETTERS,
    AclRule,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls
from onekit.cli.common import Cli, Column, Context, Pool, arg, core


def _create(ctx: Context, args: argparse.Namespace) -> int:
    # `oneacl create "@1 VM/* CREATE"` and `oneacl create @1 VM/* CREATE` are the same.
    return ctx.call(acls.create, " ".join(args.rule)).oid


def _types(rule: AclRule) -> str:
    return "".join(
        letter if rule.resource & RESOURCE_BITS[name] else "-"
        for name, letter in TYPE_LETTERS.items()
    )


def _rights(rule: AclRule) -> str:
    return "".join(
        name[0].lower() if rule.rights & bit else "-" for name, bit in RIGHT_BITS.items()
    )


def _rid(rule: AclRule) -> str:
    return rule.resource_str.split("/")[1]


def _json(rule: AclRule) -> dict[str, Any]:
    """A rule as ``oneacl list --json`` prints it: its numbers in hex, and as text."""
    return {
        "ID": rule.oid,
        "USER": f"{rule.user:X}",
        "RESOURCE": f"{rule.resource:X}",
        "RIGHTS": f"{rule.rights:X}",
        "ZONE": f"{rule.zone:X}",
        "STRING": str(rule),
    }


RULES = Pool(
    noun="rule",
    key="ACL",
    ids_arg="ids",
    create=_create,
    list=core(acls.list_rules),
    delete=core(acls.delete),
    row_json=_json,
    columns=[
        Column("ID", lambda r: r.oid, right=True, width=4),
        Column("USER", lambda r: r.user_str, right=True, width=8),
        Column("RES_" + "".join(TYPE_LETTERS.values()), _types, right=True),
        Column("RID", _rid, right=True, width=5),
        Column("OPE_UMAC", _rights, right=True),
        Column("ZONE", lambda r: r.zone_str, right=True, width=5),
    ],
)


def build() -> Cli:
    cli = Cli("oneacl", "Manage ACL rules (only the oneadmin group may).")
    pool = cli.pool(RULES)
    pool.create(
        "create a rule; prints its ID",
        arg("rule", nargs="+", help="the rule, quoted or as 3-4 words"),
        description=f"Create an ACL rule: {SYNTAX_HELP}. An omitted ZONE is the local zone.",
    )
    pool.delete("delete rules by id", "rule ids: 3,4 or a range 3..7")
    pool.list("list the rules")
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

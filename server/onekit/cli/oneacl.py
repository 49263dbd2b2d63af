"""oneacl: manage ACL rules (create, delete, list)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import (
    RESOURCE_BITS,
    RIGHT_BITS,
    SYNTAX_HELP,
    TYPE_LETTERS,
    AclRule,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls
from onekit.cli.common import Cli, Column, Context, add_json_flag, id_list, table


def _create(ctx: Context, args: argparse.Namespace) -> None:
    # `oneacl create "@1 VM/* CREATE"` and `oneacl create @1 VM/* CREATE` are the same.
    rule = ctx.call(acls.create, " ".join(args.rule))
    ctx.out(f"ID: {rule.oid}")


def _delete(ctx: Context, args: argparse.Namespace) -> int:
    return ctx.for_each(id_list(args.ids), lambda rule_id: ctx.call(acls.delete, rule_id))


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


def _list(ctx: Context, args: argparse.Namespace) -> None:
    rules = ctx.call(acls.list_rules)
    if args.json:
        ctx.json(
            {
                "ACL_POOL": {
                    "ACL": [
                        {
                            "ID": r.oid,
                            "USER": f"{r.user:X}",
                            "RESOURCE": f"{r.resource:X}",
                            "RIGHTS": f"{r.rights:X}",
                            "ZONE": f"{r.zone:X}",
                            "STRING": str(r),
                        }
                        for r in rules
                    ]
                }
            }
        )
        return
    ctx.out(
        table(
            rules,
            [
                Column("ID", lambda r: r.oid, right=True, width=4),
                Column("USER", lambda r: r.user_str, right=True, width=8),
                Column("RES_" + "".join(TYPE_LETTERS.values()), _types, right=True),
                Column("RID", _rid, right=True, width=5),
                Column("OPE_UMAC", _rights, right=True),
                Column("ZONE", lambda r: r.zone_str, right=True, width=5),
            ],
        )
    )


def build() -> Cli:
    cli = Cli("oneacl", "Manage ACL rules (only the oneadmin group may).")
    p = cli.command(
        "create",
        "create a rule; prints its ID",
        _create,
        description=f"Create an ACL rule: {SYNTAX_HELP}. An omitted ZONE is the local zone.",
    )
    p.add_argument("rule", nargs="+", help="the rule, quoted or as 3-4 words")
    p = cli.command("delete", "delete rules by id", _delete)
    p.add_argument("ids", help="rule ids: 3,4 or a range 3..7")
    p = cli.command("list", "list the rules", _list)
    add_json_flag(p)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

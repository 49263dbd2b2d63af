"""``one.acl.addrule``, ``one.acl.delrule`` and ``one.acl.info``.

A rule comes as oned takes it: its user, resource, rights and (optional) zone as
hexadecimal strings (``0x`` or not, as pyone's ``OneAcl`` and the Ruby OCA send them). The
numbers are given to the core as the rule's text, which it parses and checks as it does
``oneacl create``'s; numbers that text cannot say (a resource type onekit lacks) are
refused, never stored as another rule. oned answers INTERNAL to any rule its ACL manager
refuses (malformed, a duplicate, an unknown id to delete), and so does onekit, with the
core's reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import AclRule
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls
from onekit.server.rpc2.documents import acls as documents
from onekit.server.rpc2.methods.registry import Int, Str, method
from onekit.server.rpc2.wire import Code, RpcError

_HEX = re.compile(r"\s*(0[xX])?([0-9a-fA-F]{1,16})\s*")


@contextmanager
def _refusals_as_oned() -> Iterator[None]:
    try:
        yield
    except (InvalidInput, Conflict, NotFound) as err:
        raise RpcError(Code.INTERNAL, str(err)) from None


def _number(part: str, text: str) -> int:
    match = _HEX.fullmatch(text)
    if match is None:
        raise RpcError(
            Code.INTERNAL, f"ACL rule's {part} {text[:40]!r} is not a hexadecimal number"
        )
    return int(match.group(2), 16)


@method("one.acl.addrule", Str("user"), Str("resource"), Str("rights"), Str("zone", ""))
def addrule(session: Session, user: str, resource: str, rights: str, zone: str) -> int:
    """Without a zone, the rule is for this zone (the core's default)."""
    with _refusals_as_oned():
        rule = AclRule.from_numbers(
            _number("user", user),
            _number("resource", resource),
            _number("rights", rights),
            _number("zone", zone) if zone.strip() else None,
            session.zone,
        )
        return acls.create(session, str(rule)).oid


@method("one.acl.delrule", Int("id"))
def delrule(session: Session, rule_id: int) -> int:
    with _refusals_as_oned():
        acls.delete(session, rule_id)
    return rule_id


@method("one.acl.info")
def info(session: Session) -> str:
    return documents.acl_pool(acls.list_rules(session))

"""``ACL_POOL`` (acl_pool.xsd): each rule's four numbers in hexadecimal, as oned writes
them (lower case, no ``0x``), and the rule as text."""

from __future__ import annotations

from collections.abc import Iterable

from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import AclRule
from onekit.server.rpc2.documents import element, pool


def acl(rule: AclRule) -> str:
    return (
        "<ACL>"
        + element("ID", rule.oid)
        + element("USER", f"{rule.user:x}")
        + element("RESOURCE", f"{rule.resource:x}")
        + element("RIGHTS", f"{rule.rights:x}")
        + element("ZONE", f"{rule.zone:x}")
        + element("STRING", str(rule))
        + "</ACL>"
    )


def acl_pool(rules: Iterable[AclRule]) -> str:
    return pool("ACL_POOL", (acl(r) for r in rules))

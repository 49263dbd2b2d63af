"""``GROUP`` and ``GROUP_POOL`` (group.xsd, group_pool.xsd).

onekit's groups have no group admins (``ADMINS`` is empty), no VLAN rules (``VLAN_RULES``
holds only the group's id, as oned's for a group without any) and no default quotas.
"""

from __future__ import annotations

from collections.abc import Iterable

from onekit.server.rpc2.documents import Body, element, ids, template
from onekit.server.rpc2.documents.users import pool_with_quotas, quotas


def _head(group: Body) -> str:
    return (
        element("ID", group.get("ID", 0))
        + element("NAME", group.get("NAME", ""))
        + template(group.get("TEMPLATE") or {})
        + ids("USERS", group.get("USERS") or ())
        + ids("ADMINS", ())
    )


def group(body: Body, quota: Body | None) -> str:
    """``one.group.info``: the group and its quota (``quotas.show``)."""
    return (
        f"<GROUP>{_head(body)}{quotas(quota)}"
        f"<VLAN_RULES>{element('ID', body.get('ID', 0))}</VLAN_RULES>"
        "<DEFAULT_GROUP_QUOTAS/></GROUP>"
    )


def group_pool(listed: Iterable[tuple[Body, Body | None]]) -> str:
    return pool_with_quotas("GROUP", _head, listed)

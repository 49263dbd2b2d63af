"""``USER`` and ``USER_POOL`` (user.xsd, user_pool.xsd), and the quota elements users and
groups share (shared.xsd's ``VM_QUOTA``).

A user's secrets never leave the server: the bodies given here are ``users.public``'s
(no password hash, no EC2 keys). The schemas require a ``PASSWORD`` element (oned sends
the hash there), so it is sent empty: a client that reads it gets nothing to crack.

onekit's quotas are VM quotas of VMS, CPU and MEMORY (``objects.quotas``); the VM quota's
other figures of OpenNebula 7.3 (RUNNING_*, SYSTEM_DISK_SIZE, PCI_*) are neither limited
nor counted, so they are sent as ``-1`` (unlimited) with ``0`` used. The datastore,
network and image quotas are sent empty, and so are the default quotas (onekit has none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from onekit.server.rpc2.documents import Body, element, elements, ids, pool, template

# shared.xsd's VM_QUOTA/VM, in its order: onekit's limits, then those it does not keep
_VM_QUOTA_ORDER = (
    "CPU", "MEMORY", "PCI_DEV", "PCI_NIC", "RUNNING_CPU", "RUNNING_MEMORY",
    "RUNNING_PCI_DEV", "RUNNING_PCI_NIC", "RUNNING_VMS", "SYSTEM_DISK_SIZE", "VMS",
)  # fmt: skip
_NOT_LIMITED, _NOT_COUNTED = -1, 0
EMPTY_QUOTAS = "<DATASTORE_QUOTA/><NETWORK_QUOTA/>{vm}<IMAGE_QUOTA/>"


def vm_quota(shown: Body | None) -> str:
    """``<VM_QUOTA>`` of a quota as ``objects.quotas.show`` gives it (``{"VM": {...}}``:
    each limit and its ``<KEY>_USED``); empty without one."""
    vm = (shown or {}).get("VM")
    if not vm:
        return "<VM_QUOTA/>"
    figures = "".join(
        element(key, vm.get(key, _NOT_LIMITED))
        + element(f"{key}_USED", vm.get(f"{key}_USED", _NOT_COUNTED))
        for key in _VM_QUOTA_ORDER
    )
    return f"<VM_QUOTA><VM>{figures}</VM></VM_QUOTA>"


def quotas(shown: Body | None) -> str:
    """The four quota elements of a user or group, in the schemas' order."""
    return EMPTY_QUOTAS.format(vm=vm_quota(shown))


def _head(user: Body) -> str:
    return (
        element("ID", user.get("ID", 0))
        + element("GID", user.get("GID", 0))
        + ids("GROUPS", user.get("GROUPS") or [user.get("GID", 0)])
        + elements(user, ("GNAME", "NAME"))
        + "<PASSWORD></PASSWORD>"  # required by the schemas; the hash is never sent
        + element("AUTH_DRIVER", user.get("AUTH_DRIVER", "core"))
        + element("ENABLED", user.get("ENABLED", 1))
        + template(user.get("TEMPLATE") or {})
    )


def user(body: Body, quota: Body | None) -> str:
    """``one.user.info``: the user (``users.public``) and its quota (``quotas.show``)."""
    return f"<USER>{_head(body)}{quotas(quota)}<DEFAULT_USER_QUOTAS/></USER>"


def pool_with_quotas(
    kind: str, head: Callable[[Body], str], listed: Iterable[tuple[Body, Body | None]]
) -> str:
    """``one.userpool.info`` and ``one.grouppool.info`` (``kind`` USER or GROUP): each
    object followed by its ``QUOTAS``, then the default quotas, as oned lists them."""
    parts = []
    for body, quota in listed:
        parts.append(f"<{kind}>{head(body)}</{kind}>")
        parts.append(f"<QUOTAS>{element('ID', body.get('ID', 0))}{quotas(quota)}</QUOTAS>")
    parts.append(f"<DEFAULT_{kind}_QUOTAS/>")
    return pool(f"{kind}_POOL", parts)


def user_pool(listed: Iterable[tuple[Body, Body | None]]) -> str:
    return pool_with_quotas("USER", _head, listed)

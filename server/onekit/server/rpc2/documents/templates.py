"""``VMTEMPLATE`` and ``VMTEMPLATE_POOL`` (vmtemplate.xsd, vmtemplate_pool.xsd)."""

from __future__ import annotations

from collections.abc import Iterable

from onekit.server.rpc2.documents import (
    Body,
    element,
    ownership,
    permissions,
    pool,
    template,
)


def vm_template(body: Body) -> str:
    return (
        "<VMTEMPLATE>"
        + ownership(body)
        + permissions(body)
        + element("REGTIME", body.get("REGTIME", 0))
        + template(body.get("TEMPLATE") or {})
        + "</VMTEMPLATE>"
    )


def template_pool(bodies: Iterable[Body]) -> str:
    return pool("VMTEMPLATE_POOL", (vm_template(b) for b in bodies))

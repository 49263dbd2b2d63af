"""``ZONE`` and ``ZONE_POOL`` (zone.xsd, zone_pool.xsd).

A zone is always enabled (``STATE`` 0): onekit has no disabled zones. OpenNebula 7.3's
schema allows only ``ENDPOINT`` in a zone's ``TEMPLATE``, so that is all that is sent
(a zone's other attributes are kept and shown by ``onezone show``). onekit's front-ends
are no Raft servers: ``SERVER_POOL`` is empty.
"""

from __future__ import annotations

from collections.abc import Iterable

from onekit.server.rpc2.documents import Body, element, pool

ENABLED = 0


def zone(body: Body) -> str:
    endpoint = (body.get("TEMPLATE") or {}).get("ENDPOINT", "")
    return (
        "<ZONE>"
        + element("ID", body.get("ID", 0))
        + element("NAME", body.get("NAME", ""))
        + element("STATE", ENABLED)
        + f"<TEMPLATE>{element('ENDPOINT', endpoint)}</TEMPLATE>"
        + "<SERVER_POOL/>"
        + "</ZONE>"
    )


def zone_pool(bodies: Iterable[Body]) -> str:
    return pool("ZONE_POOL", (zone(b) for b in bodies))

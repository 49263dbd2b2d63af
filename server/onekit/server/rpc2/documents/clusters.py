"""``CLUSTER`` and ``CLUSTER_POOL`` (cluster.xsd, cluster_pool.xsd): onekit's one
cluster, 0 ``default`` (``objects.clusters``)."""

from __future__ import annotations

from collections.abc import Iterable

from onekit.server.rpc2.documents import Body, elements, ids, pool, template


def cluster(body: Body) -> str:
    return (
        "<CLUSTER>"
        + elements(body, ("ID", "NAME"))
        + ids("HOSTS", body.get("HOSTS") or ())
        + ids("DATASTORES", body.get("DATASTORES") or ())
        + ids("VNETS", body.get("VNETS") or ())
        + template(body.get("TEMPLATE") or {})
        + "</CLUSTER>"
    )


def cluster_pool(bodies: Iterable[Body]) -> str:
    return pool("CLUSTER_POOL", (cluster(b) for b in bodies))

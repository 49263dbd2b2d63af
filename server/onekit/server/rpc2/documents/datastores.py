"""``DATASTORE`` and ``DATASTORE_POOL`` (datastore.xsd, datastore_pool.xsd): the system
datastore 0 and the image datastore 1 (``objects.datastores``), both in cluster 0."""

from __future__ import annotations

from collections.abc import Iterable

from ansible_collections.onekit.cloud.plugins.module_utils.objects import clusters
from onekit.server.rpc2.documents import (
    Body,
    elements,
    ids,
    ownership,
    permissions,
    pool,
    template,
)


def datastore(body: Body) -> str:
    return (
        "<DATASTORE>"
        + ownership(body)
        + permissions(body)
        + elements(body, ("DS_MAD", "TM_MAD", "BASE_PATH", "TYPE", "DISK_TYPE", "STATE"), 0)
        + ids("CLUSTERS", (clusters.DEFAULT_ID,))
        + elements(body, ("TOTAL_MB", "FREE_MB", "USED_MB"), 0)
        + ids("IMAGES", body.get("IMAGES") or ())
        + template(body.get("TEMPLATE") or {})
        + "</DATASTORE>"
    )


def datastore_pool(bodies: Iterable[Body]) -> str:
    return pool("DATASTORE_POOL", (datastore(b) for b in bodies))

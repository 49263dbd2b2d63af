"""``one.cluster.*`` and ``one.clusterpool.info``: the one cluster onekit shows,
0 ``default``, holding every host (``objects.clusters``)."""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.objects import clusters
from onekit.server.rpc2.documents import clusters as documents
from onekit.server.rpc2.methods.registry import Bool, Int, method


@method("one.cluster.info", Int("id"), Bool("decrypt", False))
def info(session: Session, cluster_id: int, _decrypt: bool) -> str:
    return documents.cluster(clusters.show(session, cluster_id))


@method("one.cluster.addhost", Int("id"), Int("host id"))
def add_host(session: Session, cluster_id: int, host_id: int) -> int:
    clusters.add_host(session, cluster_id, host_id)
    return cluster_id


@method("one.clusterpool.info")
def pool_info(session: Session) -> str:
    return documents.cluster_pool(clusters.list_clusters(session))

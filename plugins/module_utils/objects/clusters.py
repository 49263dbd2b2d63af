"""Clusters, as OpenNebula's API shows them: onekit has no clusters of its own.

OpenNebula groups hosts, datastores and virtual networks in clusters; a fresh oned has
one, cluster 0 ``default``, holding everything. onekit keeps no cluster in its store and
presents that one cluster: every host, every datastore (``objects.datastores``) and
every virtual network is in cluster 0, and no other cluster exists. Adding a host to
cluster 0 (``one.cluster.addhost``, ``onehost create --cluster default``) changes nothing
and succeeds; any other cluster id is NotFound. The store's own ``CLUSTER_ID`` of a host
stays -1 (no cluster): ACL rules with a ``%<cluster>`` selector match no onekit object.

Rights, as oned's: USE on the cluster to see it (the oneadmin group, or an ACL rule on
``CLUSTER``; a cluster has no permission bits), ADMIN on it and on the host to add one.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import Target
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import NotFound
from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session
from ansible_collections.onekit.cloud.plugins.module_utils.objects import datastores

Body = dict[str, Any]
Ref = int | str

DEFAULT_ID = 0
DEFAULT_NAME = "default"
_TARGET = Target("CLUSTER", DEFAULT_ID, 0, 0, Permissions(0, 0, 0))


def _check_id(cluster_id: int) -> None:
    if cluster_id != DEFAULT_ID:
        raise NotFound(
            f"cluster {cluster_id} does not exist: onekit has one cluster, "
            f"{DEFAULT_ID} ({DEFAULT_NAME}), which holds every host"
        )


def _ids(w: AuthTx, spec: schema.PoolSpec) -> list[int]:
    return [row[0] for row in w.tx.rows(f"SELECT oid FROM {spec.table} ORDER BY oid")]


def _body(w: AuthTx) -> Body:
    return {
        "ID": DEFAULT_ID,
        "NAME": DEFAULT_NAME,
        "HOSTS": _ids(w, schema.HOSTS),
        "DATASTORES": sorted(datastores.ALL),
        "VNETS": _ids(w, schema.NETWORKS),
        "TEMPLATE": {"RESERVED_CPU": "", "RESERVED_MEM": ""},
    }


def show(session: Session, cluster_id: int) -> Body:
    """Cluster 0 with the ids of every host, datastore and network (USE on it)."""
    _check_id(cluster_id)
    with session.read() as w:
        w.authorize(_TARGET, Right.USE)
        return _body(w)


def list_clusters(session: Session) -> list[Body]:
    """The clusters the caller may see: cluster 0, or none."""
    with session.read() as w:
        return [_body(w)] if w.allowed(_TARGET, Right.USE) else []


def add_host(session: Session, cluster_id: int, host: Ref) -> Body:
    """``one.cluster.addhost``: the host is in cluster 0 already; ADMIN on the cluster
    and on the host are checked, as oned does, and nothing changes."""
    _check_id(cluster_id)
    with session.read() as w:
        body = pool.resolve(w.tx, schema.HOSTS, host)
        w.authorize(_TARGET, Right.ADMIN)
        w.authorize(Target.of("HOST", body), Right.ADMIN)
        return body

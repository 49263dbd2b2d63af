"""``one.vn.*`` and ``one.vnpool.info``.

onekit's networks are 4.6's (``objects.networks``): their addresses are fixed when they
are made, so the address range methods (add_ar, rm_ar, update_ar, free_ar, reserve),
locks and recover answer that onekit does not support them. Every network is in the
default cluster: allocate's cluster id is not kept.
"""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.objects import networks, pool_filters
from ansible_collections.onekit.cloud.plugins.module_utils.objects.pool_filters import PoolFilter
from onekit.server.rpc2.documents import vnets as documents
from onekit.server.rpc2.methods import owned
from onekit.server.rpc2.methods.registry import Bool, Int, Str, method, pool_filter_params


@method("one.vn.allocate", Str("template"), Int("cluster id", -1))
def allocate(session: Session, text: str, _cluster_id: int) -> int:
    return networks.create(session, text)["ID"]


@method("one.vn.info", Int("id"), Bool("decrypt", False))
def info(session: Session, vnet_id: int, _decrypt: bool) -> str:
    return documents.vnet(objects.show(session, schema.NETWORKS, vnet_id))


@method("one.vn.update", Int("id"), Str("template"), Int("append", 0))
def update(session: Session, vnet_id: int, text: str, append: int) -> int:
    networks.update(session, vnet_id, text, append=bool(append))
    return vnet_id


@method("one.vn.delete", Int("id"))
def delete(session: Session, vnet_id: int) -> int:
    networks.delete(session, vnet_id)
    return vnet_id


@method("one.vn.rename", Int("id"), Str("name"))
def rename(session: Session, vnet_id: int, name: str) -> int:
    objects.rename(session, schema.NETWORKS, vnet_id, name)
    return vnet_id


@method("one.vn.hold", Int("id"), Str("template"))
def hold(session: Session, vnet_id: int, text: str) -> int:
    networks.hold(session, vnet_id, networks.lease_ip(text))
    return vnet_id


@method("one.vn.release", Int("id"), Str("template"))
def release(session: Session, vnet_id: int, text: str) -> int:
    networks.release(session, vnet_id, networks.lease_ip(text))
    return vnet_id


@method("one.vn.chown", *owned.CHOWN_PARAMS)
def chown(session: Session, vnet_id: int, uid: int, gid: int) -> int:
    return owned.chown(session, schema.NETWORKS, vnet_id, uid, gid)


@method("one.vn.chmod", *owned.CHMOD_PARAMS)
def chmod(session: Session, vnet_id: int, *bits: int) -> int:
    return owned.chmod(session, schema.NETWORKS, vnet_id, *bits)


@method("one.vnpool.info", *pool_filter_params())
def pool_info(session: Session, whose: int, start: int, end: int) -> str:
    flt = PoolFilter(whose, start, end)
    return documents.vnet_pool(pool_filters.list_filtered(session, schema.NETWORKS, flt))

"""``one.host.*`` and ``one.hostpool.info``."""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from onekit.server.rpc2.documents import hosts as documents
from onekit.server.rpc2.methods.registry import Bool, Int, Str, method
from onekit.server.rpc2.wire import Code, RpcError

ENABLED, DISABLED, OFFLINE = 0, 1, 2  # one.host.status


@method("one.host.allocate", Str("name"), Str("im_mad"), Str("vmm_mad"), Int("cluster id", -1))
def allocate(session: Session, name: str, im_mad: str, vm_mad: str, _cluster_id: int) -> int:
    return hosts.create(session, name, im_mad, vm_mad)["ID"]


@method("one.host.info", Int("id"), Bool("decrypt", False))
def info(session: Session, host_id: int, _decrypt: bool) -> str:
    return documents.host(hosts.show(session, host_id))


@method("one.host.update", Int("id"), Str("template"), Int("append", 0))
def update(session: Session, host_id: int, text: str, append: int) -> int:
    hosts.update(session, host_id, text, append=bool(append))
    return host_id


@method("one.host.delete", Int("id"))
def delete(session: Session, host_id: int) -> int:
    hosts.delete(session, host_id)
    return host_id


@method("one.host.status", Int("id"), Int("status"))
def status(session: Session, host_id: int, wanted: int) -> int:
    if wanted == ENABLED:
        hosts.enable(session, host_id)
    elif wanted == DISABLED:
        hosts.disable(session, host_id)
    elif wanted == OFFLINE:
        raise RpcError(Code.ACTION, "onekit hosts have no OFFLINE state; disable the host (1)")
    else:
        raise RpcError(
            Code.XML_RPC_API, f"status must be 0 (enabled) or 1 (disabled), got {wanted}"
        )
    return host_id


@method("one.hostpool.info")
def pool_info(session: Session) -> str:
    return documents.host_pool(hosts.list_hosts(session))

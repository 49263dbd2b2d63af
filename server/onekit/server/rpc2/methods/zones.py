"""``one.zone.*`` and ``one.zonepool.info``."""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.objects import zones
from onekit.server.rpc2.documents import zones as documents
from onekit.server.rpc2.methods.registry import Bool, Int, Str, method


@method("one.zone.allocate", Str("template"))
def allocate(session: Session, text: str) -> int:
    return zones.create(session, text)["ID"]


@method("one.zone.info", Int("id"), Bool("decrypt", False))
def info(session: Session, zone_id: int, _decrypt: bool) -> str:
    return documents.zone(zones.show(session, zone_id))


@method("one.zone.update", Int("id"), Str("template"), Int("append", 0))
def update(session: Session, zone_id: int, text: str, append: int) -> int:
    zones.update(session, zone_id, text, append=bool(append))
    return zone_id


@method("one.zone.rename", Int("id"), Str("name"))
def rename(session: Session, zone_id: int, name: str) -> int:
    zones.rename(session, zone_id, name)
    return zone_id


@method("one.zone.delete", Int("id"))
def delete(session: Session, zone_id: int) -> int:
    zones.delete(session, zone_id)
    return zone_id


@method("one.zonepool.info")
def pool_info(session: Session) -> str:
    return documents.zone_pool(zones.list_zones(session))

"""``one.group.*`` and ``one.grouppool.info``."""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.objects import groups, quotas
from onekit.server.rpc2.documents import groups as documents
from onekit.server.rpc2.methods.registry import Bool, Int, Str, method
from onekit.server.rpc2.methods.users import with_quotas

CALLERS = -1  # one.group.info's id of the caller's primary group


@method("one.group.allocate", Str("name"))
def allocate(session: Session, name: str) -> int:
    return groups.create(session, name)["ID"]


@method("one.group.info", Int("id"), Bool("decrypt", False))
def info(session: Session, group_id: int, _decrypt: bool) -> str:
    group_id = session.subject.gid if group_id == CALLERS else group_id
    body = groups.show(session, group_id)
    return documents.group(body, groups.quota(session, group_id))


@method("one.group.delete", Int("id"))
def delete(session: Session, group_id: int) -> int:
    groups.delete(session, group_id)
    return group_id


@method("one.group.update", Int("id"), Str("template"), Int("append", 0))
def update(session: Session, group_id: int, text: str, append: int) -> int:
    groups.update(session, group_id, text, append=bool(append))
    return group_id


@method("one.group.quota", Int("id"), Str("quota template"))
def quota(session: Session, group_id: int, text: str) -> int:
    groups.set_quota(session, group_id, text)
    return group_id


@method("one.grouppool.info")
def pool_info(session: Session) -> str:
    return documents.group_pool(with_quotas(session, quotas.GROUP, groups.list_groups(session)))

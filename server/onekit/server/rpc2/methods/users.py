"""``one.user.*`` and ``one.userpool.info``.

onekit has no login tokens: ``one.user.login`` answers an ACTION error saying so.
``one.user.chauth`` is ``users.chauth`` (an x509 user's password is its DN).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import ONEADMIN_GID
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.objects import quotas, users
from onekit.server.rpc2.documents import Body
from onekit.server.rpc2.documents import users as documents
from onekit.server.rpc2.methods.registry import INT_MAX, INT_MIN, Bool, Int, Param, Str, method
from onekit.server.rpc2.wire import Code, RpcError

CALLER = -1  # one.user.info's id of the caller itself


@dataclass(frozen=True)
class IntArray(Param):
    """An array of ints (one.user.allocate's group ids)."""

    def read(self, position: int, value: Any) -> list[int]:
        if type(value) is not list or any(
            type(v) is not int or not INT_MIN <= v <= INT_MAX for v in value
        ):
            raise RpcError(
                Code.XML_RPC_API,
                f"parameter {position} ({self.name}) must be an array of 32-bit ints",
            )
        return value


def _groups(session: Session, group_ids: Sequence[int]) -> tuple[int | None, list[int]]:
    """oned's groups of a new user: the first id given is its primary group, the others
    secondary ones; without any, the caller's primary group, or group users (the core's
    default) when the caller is in oneadmin's."""
    if group_ids:
        return group_ids[0], list(group_ids[1:])
    gid = session.subject.gid
    return (None if gid == ONEADMIN_GID else gid), []


@method(
    "one.user.allocate", Str("username"), Str("password"), Str("driver", ""),
    IntArray("group ids", list, ()),
)  # fmt: skip
def allocate(
    session: Session, name: str, password: str, driver: str, group_ids: Sequence[int]
) -> int:
    group, secondary = _groups(session, group_ids)
    return users.create(session, name, password, group, driver or "core", secondary)["ID"]


def _user_id(session: Session, user_id: int) -> int:
    return session.subject.uid if user_id == CALLER else user_id


@method("one.user.info", Int("id"), Bool("decrypt", False))
def info(session: Session, user_id: int, _decrypt: bool) -> str:
    user_id = _user_id(session, user_id)
    body = users.show(session, user_id)
    return documents.user(body, users.quota(session, user_id))


@method("one.user.delete", Int("id"))
def delete(session: Session, user_id: int) -> int:
    users.delete(session, user_id)
    return user_id


@method("one.user.passwd", Int("id"), Str("password"))
def passwd(session: Session, user_id: int, password: str) -> int:
    users.passwd(session, user_id, password)
    return user_id


@method("one.user.update", Int("id"), Str("template"), Int("append", 0))
def update(session: Session, user_id: int, text: str, append: int) -> int:
    users.update(session, user_id, text, append=bool(append))
    return user_id


@method("one.user.chgrp", Int("id"), Int("group id"))
def chgrp(session: Session, user_id: int, group_id: int) -> int:
    users.chgrp(session, user_id, group_id)
    return user_id


@method("one.user.addgroup", Int("id"), Int("group id"))
def addgroup(session: Session, user_id: int, group_id: int) -> int:
    users.addgroup(session, user_id, group_id)
    return user_id


@method("one.user.delgroup", Int("id"), Int("group id"))
def delgroup(session: Session, user_id: int, group_id: int) -> int:
    users.delgroup(session, user_id, group_id)
    return user_id


@method("one.user.quota", Int("id"), Str("quota template"))
def quota(session: Session, user_id: int, text: str) -> int:
    users.set_quota(session, user_id, text)
    return user_id


@method("one.user.chauth", Int("id"), Str("driver"), Str("password", ""))
def chauth(session: Session, user_id: int, driver: str, password: str) -> int:
    users.chauth(session, user_id, driver, password or None)
    return user_id


@method("one.user.login", Str("username"), Str("token"), Int("valid seconds"), Int("group id", -1))
def login(_session: Session, _name: str, _token: str, _valid: int, _egid: int) -> str:
    raise RpcError(
        Code.ACTION,
        "onekit has no login tokens: send user:password as the session of every call",
    )


def with_quotas(
    session: Session, kind: quotas.Kind, listed: list[Body]
) -> list[tuple[Body, Body | None]]:
    """Each user or group listed with its quota (``quotas.show_each``, one read): what
    one.userpool.info and one.grouppool.info show."""
    shown = {q["ID"]: q for q in quotas.show_each(session, kind, [b["ID"] for b in listed])}
    return [(body, shown.get(body["ID"])) for body in listed]


@method("one.userpool.info")
def pool_info(session: Session) -> str:
    return documents.user_pool(with_quotas(session, quotas.USER, users.list_users(session)))

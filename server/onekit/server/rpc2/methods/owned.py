"""What the methods of owned objects share: chown and chmod in oned's form."""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core.schema import PoolSpec
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from onekit.server.rpc2.methods.registry import Int, Param

CHOWN_PARAMS: tuple[Param, ...] = (Int("id"), Int("user id"), Int("group id"))
CHMOD_PARAMS: tuple[Param, ...] = (
    Int("id"),
    *(Int(f"{who} {right}") for who in ("owner", "group", "other")
      for right in ("use", "manage", "admin")),
)  # fmt: skip


def chown(session: Session, spec: PoolSpec, oid: int, uid: int, gid: int) -> int:
    """``one.<object>.chown``: -1 keeps the owner or the group (both -1: nothing changes,
    but the object must exist and the caller MANAGE it, as oned answers)."""
    objects.chown(session, spec, oid, uid if uid >= 0 else None, gid if gid >= 0 else None)
    return oid


def chmod(session: Session, spec: PoolSpec, oid: int, *bits: int) -> int:
    objects.chmod_bits(session, spec, oid, list(bits))
    return oid

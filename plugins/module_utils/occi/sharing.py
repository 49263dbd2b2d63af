"""PUBLIC, as 4.6's OCCI showed and changed it: a resource is public when its group or
everyone may use it; publishing sets the group's USE bit, unpublishing clears it
(``one.<kind>.publish``), through the core's chmod and its rights."""

from __future__ import annotations

from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session

GROUP_USE = 3  # the group's USE among chmod's nine bits


def is_public(body: dict[str, Any]) -> bool:
    perms = body.get("PERMISSIONS") or {}
    return str(perms.get("GROUP_U")) == "1" or str(perms.get("OTHER_U")) == "1"


def publish(session: Session, spec: schema.PoolSpec, body: dict[str, Any], public: bool) -> bool:
    """Set or clear the group's USE bit; whether that changed anything."""
    if (str((body.get("PERMISSIONS") or {}).get("GROUP_U")) == "1") == public:
        return False
    bits = [-1] * 9
    bits[GROUP_USE] = int(public)
    objects.chmod_bits(session, spec, body["ID"], bits)
    return True

"""OneFlow service and role states, with the guide's names and OpenNebula's codes
(``src/flow/lib/models/service.rb``, ``role.rb``: services and roles share 0-10)."""

from __future__ import annotations

import enum


class FlowState(enum.IntEnum):
    PENDING = 0
    DEPLOYING = 1
    RUNNING = 2
    UNDEPLOYING = 3
    WARNING = 4
    DONE = 5
    FAILED_UNDEPLOYING = 6
    FAILED_DEPLOYING = 7
    SCALING = 8
    FAILED_SCALING = 9
    COOLDOWN = 10


def name(code: int) -> str:
    try:
        return FlowState(code).name
    except ValueError:
        return str(code)

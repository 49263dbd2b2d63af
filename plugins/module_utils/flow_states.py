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


TRANSIENT = frozenset(
    {FlowState.DEPLOYING, FlowState.UNDEPLOYING, FlowState.SCALING, FlowState.COOLDOWN}
)
FAILED = frozenset(
    {FlowState.FAILED_DEPLOYING, FlowState.FAILED_UNDEPLOYING, FlowState.FAILED_SCALING}
)
#: the failed state a role or service enters when the work of a state fails
FAILURE_OF = {
    FlowState.PENDING: FlowState.FAILED_DEPLOYING,
    FlowState.DEPLOYING: FlowState.FAILED_DEPLOYING,
    FlowState.UNDEPLOYING: FlowState.FAILED_UNDEPLOYING,
    FlowState.SCALING: FlowState.FAILED_SCALING,
    FlowState.RUNNING: FlowState.FAILED_SCALING,
    FlowState.WARNING: FlowState.FAILED_SCALING,
    FlowState.COOLDOWN: FlowState.FAILED_SCALING,
}


def name(code: int) -> str:
    try:
        return FlowState(code).name
    except ValueError:
        return str(code)

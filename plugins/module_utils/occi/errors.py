"""OCCI's refusals with 4.6's status: a state change or an action the resource does not
allow now is 403 (``Forbidden``), whatever the caller's rights."""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import OneError


class Forbidden(OneError):
    """4.6's 403 for a request the resource refuses (a wrong source state, two SAVE_AS,
    an unknown action)."""

    http_status = 403

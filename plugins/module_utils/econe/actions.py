"""Every EC2 action onekit answers, by its ``Action`` name. Any other is InvalidAction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.econe import (
    addresses,
    attachments,
    images,
    instances,
    keypairs,
    regions,
    tags,
    volumes,
)
from ansible_collections.onekit.cloud.plugins.module_utils.econe.call import Call

ACTIONS: dict[str, Callable[[Call], dict[str, Any]]] = {
    **instances.ACTIONS,
    **attachments.ACTIONS,
    **regions.ACTIONS,
    **addresses.ACTIONS,
    **images.ACTIONS,
    **keypairs.ACTIONS,
    **tags.ACTIONS,
    **volumes.ACTIONS,
}

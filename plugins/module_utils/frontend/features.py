"""Where the features meet the core. The core never imports a feature: each feature has a
``register()`` that plugs it into the core's registration points (``core.events``,
``core.shared_writes``), and a front-end plugs every feature in before it opens its store.

``frontend.instance`` calls ``plug_in()`` when it is imported, so the server, the CLIs and
the modules (all of which open an instance) run with every feature in place.
"""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils.federation import proxy
from ansible_collections.onekit.cloud.plugins.module_utils.gate import tokens
from ansible_collections.onekit.cloud.plugins.module_utils.ha import hooks

FEATURES = (tokens, hooks, proxy)  # OneGate tokens, HA hooks, the federation write proxy


def plug_in() -> None:
    """Register every feature with the core (idempotent)."""
    for feature in FEATURES:
        feature.register()

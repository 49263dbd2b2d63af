"""``one.system.version`` and ``one.system.config``.

The version is OpenNebula's whose XML-RPC API onekit answers: 7.3.80, the release whose
schemas its documents follow and whose bindings pyone 7.3.80 has. Neither pyone nor
community.general's one_* modules read it; OpenNebula's Ruby OCA compares its major.minor
with its own (``System#compatible_version``), so an OCA 7.3 client takes onekit for its
own release.
"""

from __future__ import annotations

from flask import current_app

from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from onekit.server.rpc2.documents import system as documents
from onekit.server.rpc2.methods.registry import method

OPENNEBULA_VERSION = "7.3.80"


@method("one.system.version")
def version(_session: Session) -> str:
    return OPENNEBULA_VERSION


@method("one.system.config")
def config(_session: Session) -> str:
    """oned.conf as the server read it at start (every caller gets the same document:
    ``documents.system``)."""
    return documents.configuration(current_app.extensions["onekit.config"])

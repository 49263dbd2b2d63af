"""The instance and store of the running app, for blueprints."""

from __future__ import annotations

from flask import current_app

from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Database
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance


def store() -> Database:
    return current_app.extensions["onekit.db"]


def instance() -> Instance:
    return current_app.extensions["onekit.instance"]

"""USER resources: the user collection is the oneadmin group's (4.6 answered 403 to
anyone else); a user reads itself, with its VM quota (``objects.users``)."""

from __future__ import annotations

from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import AuthorizationError
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.objects import users

Body = dict[str, Any]


def collection(session: Session) -> list[Body]:
    subject = session.subject
    if not subject.is_admin:
        raise AuthorizationError(
            f"user {subject.name} [{subject.uid}] may not list the users: the user "
            "collection is the oneadmin group's"
        )
    return users.list_users(session)


def show(session: Session, uid: int) -> tuple[Body, Body]:
    """The user (USE on it: oneself, or the oneadmin group) and its VM quota."""
    return users.show(session, uid), users.quota(session, uid)

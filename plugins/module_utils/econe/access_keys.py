"""Who signs an EC2 request: the access key id names the user, the secret signs.

Two kinds of credentials, as the guide and AWS have them:

- **the guide's**: the access key is the user name and the secret is the password hash
  the store keeps for that user (``oneuser show --password-hash`` prints it), for users of
  the ``core`` and ``public`` auth drivers, as econe allowed. Changing the password
  changes the secret.
- **access keys of the user's own** (``oneuser ec2-key create|list|delete``): a random
  id (``ONEK`` + the uid + random letters, so it is found without a scan) and a random
  40-character secret shown once, at creation, so a script never holds the password
  hash; revoked one by one. They live in the user's body (``EC2_KEYS``), which ``users``
  never shows, and are written as the federation's shared tables are (``@federated``):
  a key works in every zone of a federation.

HMAC signatures need the secret itself on the server, so it is stored, not hashed (AWS
keeps them the same way); the store holds the password hashes already.
"""

from __future__ import annotations

import re
import secrets
import string
import time
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import auth, pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    Conflict,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.shared_writes import federated

Body = dict[str, Any]
Ref = int | str
FIELD = "EC2_KEYS"
MAX_KEYS = 2  # per user, as AWS allows: one to use and one to rotate to
PASSWORD_DRIVERS = ("core", "public")
_KEY_ID = re.compile(r"^ONEK([0-9]{1,10})X([A-Z2-7]{8})$")
_LETTERS = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


def _target(user: Body) -> auth.Target:
    return auth.Target.of("USER", user)


def _own_or_admin(w: AuthTx, user: Body) -> None:
    """A user manages its own keys; anyone else's needs ADMIN on that user (the oneadmin
    group has it)."""
    if user["ID"] != w.subject.uid:
        w.authorize(_target(user), Right.ADMIN)


def _summary(key: Body) -> Body:
    return {"ACCESS_KEY_ID": key["ID"], "CREATED": key["CREATED"]}


@federated()
def create(session: Session, ref: Ref) -> Body:
    """A new access key of the user: its id and its secret (shown this once)."""
    with session.write() as w:
        user = pool.resolve(w.tx, schema.USERS, ref, lock=True)
        _own_or_admin(w, user)
        keys = list(user.get(FIELD) or [])
        if len(keys) >= MAX_KEYS:
            raise Conflict(
                f"user {user['NAME']} has {len(keys)} access keys, the most allowed: "
                "delete one first (oneuser ec2-key delete <id>)"
            )
        key = {
            "ID": f"ONEK{user['ID']}X" + "".join(secrets.choice(_LETTERS) for _ in range(8)),
            "SECRET": "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40)),
            "CREATED": int(time.time()),
        }
        user[FIELD] = [*keys, key]
        pool.update(w.tx, schema.USERS, user)
        return {**_summary(key), "SECRET_ACCESS_KEY": key["SECRET"], "USER": user["NAME"]}


def list_keys(session: Session, ref: Ref) -> list[Body]:
    """The user's access key ids and when they were made (never the secrets)."""
    with session.read() as w:
        user = pool.resolve(w.tx, schema.USERS, ref)
        _own_or_admin(w, user)
        return [_summary(k) for k in user.get(FIELD) or []]


@federated()
def delete(session: Session, key_id: str) -> Body:
    """Revoke an access key: requests signed with it fail from now on."""
    uid = _uid_of(key_id)
    with session.write() as w:
        user = pool.get(w.tx, schema.USERS, uid, lock=True) if uid is not None else None
        keys = list((user or {}).get(FIELD) or [])
        key = next((k for k in keys if k["ID"] == key_id), None)
        gone = NotFound(f"access key {key_id[:40]!r} does not exist")
        if user is None or key is None:
            raise gone
        try:
            _own_or_admin(w, user)
        except AuthorizationError:
            raise gone from None  # another user's key: not even its existence is told
        user[FIELD] = [k for k in keys if k["ID"] != key_id]
        pool.update(w.tx, schema.USERS, user)
        return _summary(key)


def password_secret(session: Session, ref: Ref) -> str:
    """The guide's EC2 secret of a user: its stored password hash. Only the user itself
    and administrators may read it."""
    with session.read() as w:
        user = pool.resolve(w.tx, schema.USERS, ref)
        if user["ID"] != w.subject.uid and not w.subject.is_admin:
            raise AuthorizationError(
                f"only {user['NAME']} and the oneadmin group may read its password hash"
            )
        if user.get("AUTH_DRIVER", "core") not in PASSWORD_DRIVERS:
            raise AuthorizationError(
                f"user {user['NAME']} authenticates with {user.get('AUTH_DRIVER')}: only "
                "core and public users sign EC2 requests with their password hash; use "
                "an access key (oneuser ec2-key create)"
            )
        return user["PASSWORD"]


def _uid_of(key_id: str) -> int | None:
    match = _KEY_ID.match(key_id or "")
    return int(match.group(1)) if match else None


def find(session_db: Any, access_key: str) -> tuple[auth.Subject, str] | None:
    """The user an access key id names and the secret that must have signed the request:
    one of the user's access keys, else the user by name with its password hash. None
    when nobody has that key (the caller answers AuthFailure without saying which part
    was wrong). A disabled user is None too."""
    uid = _uid_of(access_key)
    with session_db.snapshot() as tx:
        if uid is not None:
            user = pool.get(tx, schema.USERS, uid)
            key = next((k for k in (user or {}).get(FIELD) or [] if k["ID"] == access_key), None)
            secret = key["SECRET"] if key else None
        else:
            user = pool.find_by_name(tx, schema.USERS, access_key) if access_key else None
            secret = (
                user.get("PASSWORD")
                if user and user.get("AUTH_DRIVER", "core") in PASSWORD_DRIVERS
                else None
            )
    if user is None or not secret or str(user.get("ENABLED", "1")) != "1":
        return None
    return auth.Subject.of_user(user), secret

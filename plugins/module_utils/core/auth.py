"""Who is asking (authentication) and may they (authorization).

``authorize`` is the one permission check of onekit: every operation of every interface
(CLI, module, REST) calls it. It follows oned's AuthRequest: uid 0 and members of group 0
(oneadmin) may do anything; otherwise the object's permission bits act as three rules
(owner ``#uid``, group ``@gid``, other ``*``) evaluated with the ACL table, and any one
matching rule grants the right.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema, x509
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import AclRule, Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Database, Tx
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthenticationError,
    AuthorizationError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import (
    OCTAL_ADMIN,
    OCTAL_MANAGE,
    OCTAL_USE,
    Permissions,
)

ONEADMIN_UID = 0
ONEADMIN_GID = 0
USERS_GID = 1

# The right asked for -> the bit of an octal permission digit that grants it.
_PERM_BIT = {Right.USE: OCTAL_USE, Right.MANAGE: OCTAL_MANAGE, Right.ADMIN: OCTAL_ADMIN}

# scrypt: ~50 ms and 16 MiB per hash on a small machine; salted per user.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of a password against a stored hash."""
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def _dummy_hash() -> str:
    """A hash no password matches, to check unknown users against (made on first use)."""
    return hash_password(secrets.token_hex(16))


@dataclass(frozen=True)
class Subject:
    """An authenticated user: id, name, primary group and every group it belongs to."""

    uid: int
    name: str
    gid: int
    groups: frozenset[int]

    @property
    def is_admin(self) -> bool:
        return self.uid == ONEADMIN_UID or ONEADMIN_GID in self.groups

    @classmethod
    def of_user(cls, user: dict[str, Any]) -> Subject:
        return cls(user["ID"], user["NAME"], user["GID"], frozenset(user["GROUPS"]))


def login(db: Database, username: str, password: str) -> Subject:
    """Check a user's password; the error never tells which of name or password was wrong.
    Credentials with control characters are refused before any hash: scrypt's HMAC pads
    a password with zero bytes, so "pw\\0" would otherwise pass for "pw"."""
    if any(ord(c) < 32 or ord(c) == 127 for c in f"{username}{password}"):
        raise AuthenticationError("credentials must not contain control characters")
    with db.snapshot() as tx:
        user = pool.find_by_name(tx, schema.USERS, username) if username else None
    # An unknown user costs the same scrypt as a known one: timing tells no names. An
    # x509 user's PASSWORD is its DN: it never logs in with a password (the same cost).
    stored = user.get("PASSWORD", "") if user and not _is_x509(user) else _dummy_hash()
    if not verify_password(password or "", stored) or user is None:
        raise AuthenticationError(f"authentication failed for user {pool.shorten(username)!r}")
    if str(user.get("ENABLED", "1")) != "1":
        raise AuthenticationError(f"user {pool.shorten(username)!r} is disabled")
    return Subject.of_user(user)


X509_DRIVER = "x509"


def _is_x509(user: dict[str, Any]) -> bool:
    return user.get("AUTH_DRIVER") == X509_DRIVER


def login_dn(db: Database, dn: str) -> Subject:
    """The x509 user whose PASSWORD lists ``dn`` (a client certificate's subject that a
    TLS proxy verified, ``core.x509``'s form), enabled; else AuthenticationError. The
    users are read in one snapshot and matched here: DNs are not indexed, and a pool of
    users is small beside the cost of the TLS handshake that brought the DN."""
    with db.snapshot() as tx:
        found = [
            user
            for user in pool.all_bodies(tx, schema.USERS)
            if _is_x509(user) and x509.holds(str(user.get("PASSWORD", "")), dn)
        ]
    if len(found) != 1:
        # two users of one DN: neither is taken for the other
        many = f" ({len(found)} users hold it)" if found else ""
        raise AuthenticationError(f"no x509 user has the DN {pool.shorten(dn)!r}{many}")
    user = found[0]
    if str(user.get("ENABLED", "1")) != "1":
        raise AuthenticationError(f"user {pool.shorten(user['NAME'])!r} is disabled")
    return Subject.of_user(user)


def acl_rules(tx: Tx) -> list[AclRule]:
    rows = tx.rows("SELECT oid, user, resource, rights, zone FROM acl ORDER BY oid")
    return [AclRule(user=u, resource=r, rights=ri, zone=z, oid=o) for o, u, r, ri, z in rows]


@dataclass(frozen=True)
class Target:
    """What a right is asked on: an object, or (oid -1) a new one in group ``gid``."""

    resource: str
    oid: int
    uid: int
    gid: int
    perms: Permissions
    cluster: int | None = None

    @classmethod
    def of(cls, resource: str, body: dict[str, Any]) -> Target:
        return cls(
            resource,
            body["ID"],
            body.get("UID", -1),
            body.get("GID", -1),
            Permissions.from_json(body.get("PERMISSIONS", {})),
            body.get("CLUSTER_ID"),
        )

    @classmethod
    def new(cls, resource: str, gid: int) -> Target:
        return cls(resource, -1, -1, gid, Permissions(0, 0, 0))


def allowed(
    subject: Subject, rules: list[AclRule], target: Target, right: Right, zone: int = 0
) -> bool:
    if subject.is_admin:
        return True
    perm_bit = _PERM_BIT.get(right)
    if perm_bit is not None and target.oid >= 0:
        perms = target.perms
        if target.uid == subject.uid and perms.owner & perm_bit:
            return True
        if target.gid in subject.groups and perms.group & perm_bit:
            return True
        if perms.other & perm_bit:
            return True
    return any(
        rule.grants(
            subject.uid,
            subject.groups,
            target.resource,
            target.oid,
            target.gid,
            target.cluster,
            right,
            zone,
        )
        for rule in rules
    )


def authorize(
    subject: Subject, rules: list[AclRule], target: Target, right: Right, zone: int = 0
) -> None:
    """Raise AuthorizationError unless ``subject`` holds ``right`` on ``target``."""
    if not allowed(subject, rules, target, right, zone):
        what = f"{target.resource} [{target.oid}]" if target.oid >= 0 else target.resource
        raise AuthorizationError(
            f"user {subject.name} [{subject.uid}] is not authorized to perform "
            f"{Right(right).name} {what}"
        )

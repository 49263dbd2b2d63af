"""User operations: create, delete, passwd, chauth, update, chgrp, addgroup, delgroup,
show, list, ensure.

A user belongs to a primary group (``GID``) and any number of secondary ones; ``GROUPS``
lists all of them and each group's ``USERS`` lists its members. Both sides change in the
same transaction. Rights: a user object is owned by the user itself with mode 600, so
users see and re-password themselves; creating users needs CREATE USER (ACL), and moving
users between groups needs ADMIN on the user and MANAGE on the group (oneadmin by default,
delegable with ACL rules).

A user's PASSWORD is what its auth driver checks: a password's scrypt hash, or for the
``x509`` driver its certificate's DN (``core.x509``; never a password, and never hashed:
the server looks the user up by it). ``stored_secret`` is the one place that tells which.
``PASSWORD`` is never shown, whatever it holds.

Each public function is one transaction; the ``_..._in`` helpers run inside a caller's, so
``ensure`` (what the Ansible module calls) composes them atomically.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import (
    pool,
    schema,
    template,
    x509,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import (
    ONEADMIN_GID,
    ONEADMIN_UID,
    USERS_GID,
    X509_DRIVER,
    Target,
    hash_password,
    verify_password,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    Conflict,
    InvalidInput,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.shared_writes import federated
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls, quotas

AUTH_DRIVERS = ("core", "public", "ssh", "x509", "ldap", "server_cipher", "server_x509")
_USER_MODE = Permissions.from_octal("600")

Body = dict[str, Any]
Ref = int | str


def check_password(password: Any) -> str:
    if not isinstance(password, str) or not password:
        raise InvalidInput("password is required")
    # as core.auth.login refuses them: DEL (127) too, or the password could never log in
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in password):
        raise InvalidInput("password is invalid: it cannot contain spaces or control characters")
    return password


def check_driver(driver: str) -> str:
    if driver not in AUTH_DRIVERS:
        raise InvalidInput(
            f"auth driver {driver!r} is unknown; use one of {', '.join(AUTH_DRIVERS)}"
        )
    return driver


def stored_secret(driver: str, secret: Any) -> str:
    """What a user of ``driver`` keeps as PASSWORD for ``secret``: an x509 user's DN(s)
    as given (spaces removed), anyone else's password hashed (~50 ms: call it outside any
    transaction)."""
    if driver == X509_DRIVER:
        return x509.normalize_dns(secret, "the x509 user's DN")
    return hash_password(check_password(secret))


def secret_matches(driver: str, secret: str, stored: str) -> bool:
    """Whether ``stored`` is already what ``stored_secret(driver, secret)`` would keep."""
    if driver == X509_DRIVER:
        return stored == x509.normalize_dns(secret, "the x509 user's DN")
    return verify_password(secret, stored)


# never shown: the password hash (or an x509 user's DN), and the user's EC2 keys' secrets
SECRET_FIELDS = ("PASSWORD", "EC2_KEYS")


def public(user: Body) -> Body:
    """A copy of the user as shown to callers: everything but its secrets."""
    return copy.deepcopy({k: v for k, v in user.items() if k not in SECRET_FIELDS})


def new_user_body(uid: int, name: str, password_hash: str, group: Body, driver: str) -> Body:
    return {
        "ID": uid,
        "NAME": name,
        "UID": uid,
        "GID": group["ID"],
        "GNAME": group["NAME"],
        "GROUPS": [group["ID"]],
        "PASSWORD": password_hash,
        "AUTH_DRIVER": driver,
        "ENABLED": "1",
        "PERMISSIONS": _USER_MODE.to_json(),
        "TEMPLATE": {},
    }


def _target(user: Body) -> Target:
    return Target.of("USER", user)


# ---- inside a transaction --------------------------------------------------------------
def _join(w: AuthTx, user: Body, group: Body) -> None:
    if user["ID"] not in group["USERS"]:
        group["USERS"].append(user["ID"])
        pool.update(w.tx, schema.GROUPS, group)
    if group["ID"] not in user["GROUPS"]:
        user["GROUPS"].append(group["ID"])


def _leave(w: AuthTx, user: Body, group: Body) -> None:
    if user["ID"] in group["USERS"]:
        group["USERS"].remove(user["ID"])
        pool.update(w.tx, schema.GROUPS, group)
    if group["ID"] in user["GROUPS"]:
        user["GROUPS"].remove(group["ID"])


def _is_admin_user(user: Body) -> bool:
    return user["ID"] == ONEADMIN_UID or ONEADMIN_GID in user["GROUPS"]


def _guard_admin_user(w: AuthTx, user: Body) -> None:
    """Only oneadmin group members may touch a oneadmin group member: an ACL rule such as
    ``USER/* MANAGE`` must not let anyone re-password oneadmin and take the instance."""
    if _is_admin_user(user) and not w.subject.is_admin:
        raise AuthorizationError(
            f"user {w.subject.name} [{w.subject.uid}] is not authorized to change user "
            f"{user['NAME']} [{user['ID']}]: only oneadmin group members may change them"
        )


def _check_admin_group(w: AuthTx, group: Body) -> None:
    """Group 0 makes admins: only admins may change its members, whatever the rules say."""
    if group["ID"] == ONEADMIN_GID and not w.subject.is_admin:
        raise AuthorizationError(
            f"user {w.subject.name} [{w.subject.uid}] is not authorized to change the "
            "members of group oneadmin [0]"
        )


def _create_in(
    w: AuthTx, name: str, password_hash: str, group_ref: Ref | None, driver: str
) -> Body:
    group = pool.resolve(
        w.tx, schema.GROUPS, USERS_GID if group_ref is None else group_ref, lock=True
    )
    # CREATE USER is asked in the new user's group: `#5 USER/@100 CREATE` lets user 5
    # create users in group 100 only. Group 0 stays closed whatever the rules say.
    w.authorize(Target.new("USER", group["ID"]), Right.CREATE)
    _check_admin_group(w, group)
    uid = pool.next_oid(w.tx, schema.USERS.table)
    user = new_user_body(uid, name, password_hash, group, driver)
    pool.insert(w.tx, schema.USERS, user, oid=uid)
    _join(w, user, group)
    return user


def _may_move(w: AuthTx, user: Body, group: Body) -> Body:
    """Moving a user into or out of a group: ADMIN on the user, MANAGE on the group."""
    _guard_admin_user(w, user)
    w.authorize(_target(user), Right.ADMIN)
    _check_admin_group(w, group)
    w.authorize(Target.of("GROUP", group), Right.MANAGE)
    return group


def _lock_group(w: AuthTx, ref: Ref) -> Body:
    return pool.resolve(w.tx, schema.GROUPS, ref, lock=True)


def _chgrp_in(w: AuthTx, user: Body, group: Body) -> None:
    """Make ``group`` the primary group; the old primary group is left."""
    if user["GID"] == group["ID"]:
        return
    old = pool.get(w.tx, schema.GROUPS, user["GID"], lock=True)
    if old is not None:
        _leave(w, user, old)
    _join(w, user, group)
    user["GROUPS"].remove(group["ID"])
    user["GROUPS"].insert(0, group["ID"])
    user["GID"], user["GNAME"] = group["ID"], group["NAME"]


def _addgroup_in(w: AuthTx, user: Body, group: Body) -> None:
    if group["ID"] in user["GROUPS"]:
        raise Conflict(f"user {user['NAME']} is already in group {group['NAME']}")
    _join(w, user, group)


def _delgroup_in(w: AuthTx, user: Body, group: Body) -> None:
    if group["ID"] == user["GID"]:
        raise Conflict(
            f"group {group['NAME']} is the primary group of user {user['NAME']}; "
            "use chgrp to change it"
        )
    if group["ID"] not in user["GROUPS"]:
        raise Conflict(f"user {user['NAME']} is not in group {group['NAME']}")
    _leave(w, user, group)


def _delete_in(w: AuthTx, user: Body) -> None:
    if user["ID"] == ONEADMIN_UID:
        raise Conflict("user 0 (oneadmin) cannot be deleted")
    _guard_admin_user(w, user)
    w.authorize(_target(user), Right.ADMIN)
    for gid in list(user["GROUPS"]):
        group = pool.get(w.tx, schema.GROUPS, gid, lock=True)
        if group is not None:
            _leave(w, user, group)
    pool.delete(w.tx, schema.USERS, user["ID"])
    acls.delete_rules_of(w.tx, "user", user["ID"])
    quotas.forget(w.tx, quotas.USER, user["ID"])


# ---- one transaction each --------------------------------------------------------------
@federated()
def create(
    session: Session,
    name: str,
    password: str,
    group: Ref | None = None,
    driver: str = "core",
    groups: Sequence[Ref] = (),
) -> Body:
    """A new user of primary group ``group`` (default: users) and also of ``groups``
    (oned's ``one.user.allocate`` with several group ids), in one transaction: each
    secondary group asks what ``addgroup`` does. ``password`` is an x509 user's DN."""
    pool.check_name("user", name)
    check_driver(driver)
    password_hash = stored_secret(driver, password)  # ~50 ms: outside the lock
    with session.write() as w:
        user = _create_in(w, name, password_hash, group, driver)
        for ref in groups:
            secondary = _lock_group(w, ref)
            if secondary["ID"] not in user["GROUPS"]:
                _addgroup_in(w, user, _may_move(w, user, secondary))
        if groups:
            pool.update(w.tx, schema.USERS, user)
        return public(user)


@federated()
def delete(session: Session, ref: Ref) -> Body:
    with session.write() as w:
        user = pool.resolve(w.tx, schema.USERS, ref, lock=True)
        _delete_in(w, user)
        return public(user)


@federated()
def passwd(session: Session, ref: Ref, password: str) -> Body:
    """A new password; for an x509 user, as in OpenNebula, a new DN."""
    with session.read() as r:
        driver = pool.resolve(r.tx, schema.USERS, ref).get("AUTH_DRIVER", "core")
    password_hash = stored_secret(driver, password)  # outside the lock
    with session.write() as w:
        user = pool.resolve(w.tx, schema.USERS, ref, lock=True)
        if user.get("AUTH_DRIVER", "core") != driver:
            raise Conflict(f"the auth driver of user {user['NAME']} changed meanwhile; try again")
        _may_set_password(w, user)
        user["PASSWORD"] = password_hash
        pool.update(w.tx, schema.USERS, user)
        return public(user)


@federated()
def chauth(session: Session, ref: Ref, driver: str, password: str | None = None) -> Body:
    """``oneuser chauth``: the user's auth driver, and with ``password`` its new password
    (an x509 user's DN). Without one the stored password stays, except across x509 (a DN
    is no password, a password hash no DN): one is then required. ADMIN on the user."""
    check_driver(driver)
    secret = None if password in (None, "") else stored_secret(driver, password)
    with session.write() as w:
        user = pool.resolve(w.tx, schema.USERS, ref, lock=True)
        _guard_admin_user(w, user)
        w.authorize(_target(user), Right.ADMIN)
        old = user.get("AUTH_DRIVER", "core")
        if secret is None and (old == X509_DRIVER) != (driver == X509_DRIVER):
            what = "its DN" if driver == X509_DRIVER else "a password"
            raise InvalidInput(
                f"user {user['NAME']} changes from {old} to {driver}: give {what} too"
            )
        user["AUTH_DRIVER"] = driver
        if secret is not None:
            user["PASSWORD"] = secret
        pool.update(w.tx, schema.USERS, user)
        return public(user)


@federated()
def update(
    session: Session,
    ref: Ref,
    tpl: template.Source,
    append: bool = False,
    expected: dict[str, str | None] | None = None,
) -> Body:
    """``oneuser update``: replace the user's TEMPLATE (or merge into it with ``append``).
    A user updates its own, an admin anyone's (as the password). ``expected``: the values
    some attributes must still have (None: absent) for the update to apply, else
    Conflict: a read-modify-write of one attribute (the EC2 server's keypairs) loses no
    concurrent change, and it goes to the master as one call."""
    parsed = template.load(tpl, "a user template")
    with session.write() as w:
        user = pool.resolve(w.tx, schema.USERS, ref, lock=True)
        _may_set_password(w, user)
        old = user.get("TEMPLATE") or {}
        for name, value in (expected or {}).items():
            if old.get(name) != value:
                raise Conflict(
                    f"attribute {name} of user {user['NAME']} changed meanwhile; try again"
                )
        user["TEMPLATE"] = template.merge(old, parsed) if append else parsed
        pool.update(w.tx, schema.USERS, user)
        return public(user)


def _may_set_password(w: AuthTx, user: Body) -> None:
    """A user changes its own password or template (MANAGE via mode 600); an admin
    anyone's."""
    if user["ID"] != w.subject.uid:
        _guard_admin_user(w, user)
    w.authorize(_target(user), Right.MANAGE)


def _membership(session: Session, ref: Ref, group_ref: Ref, change) -> Body:
    with session.write() as w:
        user = pool.resolve(w.tx, schema.USERS, ref, lock=True)
        change(w, user, _may_move(w, user, _lock_group(w, group_ref)))
        pool.update(w.tx, schema.USERS, user)
        return public(user)


@federated()
def chgrp(session: Session, ref: Ref, group_ref: Ref) -> Body:
    return _membership(session, ref, group_ref, _chgrp_in)


@federated()
def addgroup(session: Session, ref: Ref, group_ref: Ref) -> Body:
    return _membership(session, ref, group_ref, _addgroup_in)


@federated()
def delgroup(session: Session, ref: Ref, group_ref: Ref) -> Body:
    return _membership(session, ref, group_ref, _delgroup_in)


def show(session: Session, ref: Ref) -> Body:
    return public(objects.show(session, schema.USERS, ref))


def quota(session: Session, ref: Ref) -> Body:
    """The user's VM quota and usage (``oneuser show``): USE on the user, so a user reads
    its own. Local to this zone (``objects.quotas``)."""
    return quotas.show(session, quotas.USER, ref)


def set_quota(session: Session, ref: Ref, tpl: template.Source) -> Body:
    """``oneuser quota <user> <file>``: ADMIN on the user. Not ``@federated``: quotas are
    this zone's (``objects.quotas``)."""
    return quotas.set_quota(session, quotas.USER, ref, tpl)


def list_users(session: Session, start: int = 0, page_size: int | None = None) -> list[Body]:
    found = objects.list_visible(session, schema.USERS, start=start, page_size=page_size)
    return [public(u) for u in found]


# ---- declarative (the Ansible module) --------------------------------------------------
@federated()
def ensure(
    session: Session,
    name: str,
    state: str = "present",
    password: str | None = None,
    update_password: str = "always",
    group: Ref | None = None,
    groups: Sequence[Ref] | None = None,
    append: bool = False,
    driver: str | None = None,
    dry_run: bool = False,
) -> tuple[bool, Body | None, Body | None]:
    """Bring user ``name`` to the state asked; returns (changed, before, after).

    ``groups`` are the secondary groups: exactly these, or with ``append`` at least these.
    ``update_password``: ``always`` sets the password when it does not match,
    ``on_create`` only when creating. ``dry_run`` reports without changing anything.
    """
    pool.check_name("user", name)
    pool.check_state(state)
    if driver is not None:
        check_driver(driver)
    if password is not None:
        # x509 users' "password" is their DN; a driver left out is the user's own (below)
        if driver == X509_DRIVER:
            x509.normalize_dns(password, "the x509 user's DN")
        elif driver is not None:
            check_password(password)
    with session.write(dry_run=dry_run) as w:
        try:
            user = pool.resolve(w.tx, schema.USERS, name, lock=True)
        except NotFound:
            user = None
        before = public(user) if user else None
        if state == "absent":
            if user is not None:
                _delete_in(w, user)
            return user is not None, before, None
        changed = False
        if user is None:
            if password is None:
                raise InvalidInput(f"password is required to create user {name}")
            driver = driver or "core"
            user = _create_in(w, name, stored_secret(driver, password), group, driver)
            changed = True
        else:
            w.authorize(_target(user), Right.USE)
            old = user.get("AUTH_DRIVER", "core")
            # across x509 the stored secret changes kind: a DN is no password hash
            crossing = driver is not None and (driver == X509_DRIVER) != (old == X509_DRIVER)
            if crossing and password is None:
                what = "its DN" if driver == X509_DRIVER else "a password"
                raise InvalidInput(f"user {name} changes from {old} to {driver}: give {what}")
            if driver is not None and driver != old:
                _guard_admin_user(w, user)
                w.authorize(_target(user), Right.ADMIN)
                user["AUTH_DRIVER"] = driver
                changed = True
            now = user["AUTH_DRIVER"]
            if password is not None and (
                crossing
                or (
                    update_password == "always"
                    and not secret_matches(now, password, user["PASSWORD"])
                )
            ):
                _may_set_password(w, user)
                user["PASSWORD"] = stored_secret(now, password)
                changed = True
            if group is not None:
                target = _lock_group(w, group)
                if target["ID"] != user["GID"]:
                    _chgrp_in(w, user, _may_move(w, user, target))
                    changed = True
        if groups is not None:
            wanted = {g["ID"]: g for g in (_lock_group(w, ref) for ref in groups)}
            wanted.pop(user["GID"], None)
            for gid, g in wanted.items():
                if gid not in user["GROUPS"]:
                    _addgroup_in(w, user, _may_move(w, user, g))
                    changed = True
            if not append:
                for gid in [g for g in user["GROUPS"] if g != user["GID"] and g not in wanted]:
                    _delgroup_in(w, user, _may_move(w, user, _lock_group(w, gid)))
                    changed = True
        if changed:
            pool.update(w.tx, schema.USERS, user)
        return changed, before, public(user)

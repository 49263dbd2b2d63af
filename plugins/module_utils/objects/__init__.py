"""What every owned object shares: creation with owner/group/mode, show, list, rename,
chown, chgrp, chmod.

Templates, VMs, images, networks and documents (OneFlow services) are owned objects;
their modules call these functions rather than repeating them. Rights, as oned's
RequestManagerChown/Chmod:

* create: CREATE on the type, in the creator's primary group (ACL rules grant it);
* show / list: USE (a listing pages: ``start`` and ``page_size``, see ``core.pool``);
* rename: MANAGE on the object (as oned's RequestManagerRename);
* chown: MANAGE on the object and MANAGE on the new owner;
* chgrp: MANAGE on the object and USE on the new group;
* chmod: MANAGE on the object, and ADMIN on it when an ADMIN bit changes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import acl, pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import Target
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import Conflict
from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions
from ansible_collections.onekit.cloud.plugins.module_utils.core.schema import PoolSpec
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session
from ansible_collections.onekit.cloud.plugins.module_utils.objects import quotas

Body = dict[str, Any]
Ref = int | str


def target(spec: PoolSpec, body: Body) -> Target:
    return Target.of(spec.resource, body)


def create_in(
    w: AuthTx, spec: PoolSpec, name: str, fields: Body | None = None, oid: int | None = None
) -> Body:
    """A new object owned by the caller, in its primary group, with the umask's mode.

    ``oid`` is an id the caller took with ``pool.next_oid`` (to use it before the insert).
    """
    pool.check_name(spec.noun, name)
    subject = w.subject
    w.authorize(Target.new(spec.resource, subject.gid), Right.CREATE)
    if spec.unique_per_owner:
        check_name_free(w, spec, name, subject.uid)
    group = pool.get(w.tx, schema.GROUPS, subject.gid)
    body: Body = {  # type-specific fields first: they cannot override ownership or name
        **(fields or {}),
        "NAME": name,
        "UID": subject.uid,
        "GID": subject.gid,
        "UNAME": subject.name,
        "GNAME": group["NAME"] if group else str(subject.gid),
        "PERMISSIONS": w.session.new_permissions().to_json(),
    }
    return pool.insert(w.tx, spec, body, oid=oid)


def check_name_free(w: AuthTx, spec: PoolSpec, name: str, uid: int) -> None:
    """Names are unique per owner for templates, images, networks (as oned checks)."""
    row = w.tx.row(f"SELECT oid FROM {spec.table} WHERE name = ? AND uid = ?", (name, uid))
    if row is not None:
        raise Conflict(f"NAME {name!r} is already taken by {spec.resource} {row[0]}")


def create(session: Session, spec: PoolSpec, name: str, fields: Body | None = None) -> Body:
    with session.write() as w:
        return create_in(w, spec, name, fields)


def rename(session: Session, spec: PoolSpec, ref: Ref, name: str) -> Body:
    """``oneimage rename 3 debian``: a valid name (as a new object's), free among its
    owner's objects where names are unique per owner; MANAGE on the object. A TEMPLATE
    that holds the name too (a VM's) takes the new one."""
    pool.check_name(spec.noun, name)
    with session.write() as w:
        body = pool.resolve(w.tx, spec, ref, lock=True)
        w.authorize(target(spec, body), Right.MANAGE)
        if name == body["NAME"]:
            return body
        if spec.unique_per_owner:
            check_name_free(w, spec, name, body["UID"])
        body["NAME"] = name
        if "NAME" in (body.get("TEMPLATE") or {}):
            body["TEMPLATE"]["NAME"] = name
        return pool.update(w.tx, spec, body)


def show(session: Session, spec: PoolSpec, ref: Ref) -> Body:
    with session.read() as w:
        body = pool.resolve(w.tx, spec, ref)
        w.authorize(target(spec, body), Right.USE)
        return body


def list_visible(
    session: Session,
    spec: PoolSpec,
    where: str = "",
    params: tuple = (),
    start: int = 0,
    page_size: int | None = None,
    keep: Callable[[Body], bool] | None = None,
) -> list[Body]:
    """The objects the caller may USE (oneadmin: all), in ID order from ID ``start``;
    with ``page_size``, one page of them (``pool.next_start`` says where the next one
    starts). The rows read are those the caller's rights select in SQL, each checked
    again before it is kept (and by ``keep``, a rule of the object type that is no
    column), so a page holds ``page_size`` objects whenever that many remain, whoever
    asks."""
    pool.check_page(start, page_size)
    with session.read() as w:
        rights, rights_params = _use_filter(w, spec)
        sql = " AND ".join(f"({c})" for c in (where, rights) if c)
        chunk = pool.READ_CHUNK if page_size is None else min(page_size, pool.READ_CHUNK * 10)
        rows = pool.bodies_from(w.tx, spec, start, sql, (*params, *rights_params), chunk)
        if not w.subject.is_admin:  # oneadmin may use anything: no row to check
            rows = (b for b in rows if w.allowed(target(spec, b), Right.USE))
        if keep is not None:
            rows = filter(keep, rows)
        return list(itertools.islice(rows, page_size))


_SELECTOR = acl.UID | acl.GID | acl.ALL | acl.CLUSTER
_ID_MASK = 0xFFFFFFFF  # the id (user, group, object, cluster) under a selector bit


def _use_filter(w: AuthTx, spec: PoolSpec) -> tuple[str, tuple]:
    """SQL keeping the rows the caller may USE, as oned's reverse ACL search: the
    permission bits of its own objects and its groups', other's, and the ACL rules that
    grant it USE on some objects of the type (``#<id>``, ``@<group>``). "" when it may
    use them all (oneadmin, a rule on ``*``) or when a rule grants by cluster, which is
    not a column: then every row is read, and ``w.allowed`` decides row by row."""
    subject = w.subject
    if subject.is_admin:
        return "", ()
    oids: list[int] = []
    gids: list[int] = []
    for rule in w.rules:
        rid, number = rule.resource & _SELECTOR, rule.resource & _ID_MASK
        # the rule's own selector value, asked as the object's id, group and cluster:
        # True when the rule applies to this subject, zone, type and right
        probe = (number, number, number, Right.USE, w.session.zone)
        if not rule.grants(subject.uid, subject.groups, spec.resource, *probe):
            continue
        if rid & (acl.ALL | acl.CLUSTER):
            return "", ()
        (oids if rid & acl.UID else gids).append(number)
    groups = sorted(subject.groups)
    clauses = ["(uid = ? AND owner_u = 1)", "other_u = 1"]
    params: list[int] = [subject.uid]
    for column, values, extra in (
        ("gid", groups, " AND group_u = 1"),
        ("oid", oids, ""),
        ("gid", gids, ""),
    ):
        if values:
            marks = ", ".join("?" for _ in values)
            clauses.append(f"({column} IN ({marks}){extra})")
            params += values
    return " OR ".join(clauses), tuple(params)


def chown_in(w: AuthTx, spec: PoolSpec, body: Body, owner: Ref | None, group: Ref | None) -> Body:
    """Change owner and/or group of a locked object (the caller stores it). A VM's new
    owner and group must have room for it in their VM quotas (``quotas.check_chown``)."""
    w.authorize(target(spec, body), Right.MANAGE)
    user = new_group = None
    if owner is not None:
        user = pool.resolve(w.tx, schema.USERS, owner)
        w.authorize(Target.of("USER", user), Right.MANAGE)
    if group is not None:
        new_group = pool.resolve(w.tx, schema.GROUPS, group)
        w.authorize(Target.of("GROUP", new_group), Right.USE)
    if spec is schema.VMS:
        quotas.check_chown(
            w,
            body,
            body["UID"] if user is None else user["ID"],
            body["GID"] if new_group is None else new_group["ID"],
        )
    if user is not None:
        body["UID"], body["UNAME"] = user["ID"], user["NAME"]
    if new_group is not None:
        body["GID"], body["GNAME"] = new_group["ID"], new_group["NAME"]
    return body


def chown(
    session: Session, spec: PoolSpec, ref: Ref, owner: Ref | None, group: Ref | None = None
) -> Body:
    """``oneflow chown 1 johndoe apptools``: new owner, and group if given."""
    with session.write() as w:
        body = pool.resolve(w.tx, spec, ref, lock=True)
        chown_in(w, spec, body, owner, group)
        return pool.update(w.tx, spec, body)


def chgrp(session: Session, spec: PoolSpec, ref: Ref, group: Ref) -> Body:
    return chown(session, spec, ref, None, group)


def chmod_in(w: AuthTx, spec: PoolSpec, body: Body, mode: str | int) -> Body:
    new = Permissions.from_octal(mode)
    old = Permissions.from_json(body.get("PERMISSIONS", {}))
    w.authorize(target(spec, body), Right.MANAGE)
    if new.admin_bits() != old.admin_bits():
        w.authorize(target(spec, body), Right.ADMIN)
    body["PERMISSIONS"] = new.to_json()
    return body


def chmod(session: Session, spec: PoolSpec, ref: Ref, mode: str | int) -> Body:
    """``oneflow chmod 1 660``."""
    Permissions.from_octal(mode)  # a malformed mode is refused before anything is read
    with session.write() as w:
        body = pool.resolve(w.tx, spec, ref, lock=True)
        chmod_in(w, spec, body, mode)
        return pool.update(w.tx, spec, body)


def chmod_bits(session: Session, spec: PoolSpec, ref: Ref, bits: list[int]) -> Body:
    """oned's chmod: nine bits, -1 keeping one (``Permissions.with_bits``), with the
    rights of ``chmod_in``."""
    with session.write() as w:
        body = pool.resolve(w.tx, spec, ref, lock=True)
        old = Permissions.from_json(body.get("PERMISSIONS", {}))
        chmod_in(w, spec, body, old.with_bits(bits).octal())
        return pool.update(w.tx, spec, body)

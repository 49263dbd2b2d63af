"""``onedb import-slave``: bring an existing standalone instance (the *slave*) into a
federation as one of its zones, keeping its users, groups, ACL rules and resources.

The master's store receives the slave's users, groups and ACL rules (the federation's
shared tables); the slave keeps its local objects (VMs, templates, images, networks,
documents, hosts) with their owners rewritten to the ids they have on the master. The rules
are OpenNebula's ``import_slave.rb`` (4.4-5.2):

* Users: a slave user whose name exists on the master is, with *merge*, that master user
  (its id kept; the master's primary group, password and auth driver win; secondary groups
  are unioned; the slave's template attributes are added where the master has none).
  Without merge, or for a new name, it gets the master's next id, and a name already taken
  becomes ``name-1``, ``name-2``... (the first free). User 0 (oneadmin) is always the
  master's user 0; no other slave user is ever merged into it.
* Groups: the same; groups 0 (oneadmin) and 1 (users) are always the master's 0 and 1.
* Group membership (the users' ``GROUPS``, the groups' ``USERS``) is kept, both sides.
* ACL rules: users, groups and zone 0 are renamed to their new ids (zone 0, the slave's
  own, becomes the slave's zone id); a rule that names a user, group or zone the slave
  does not know is dropped; a rule the master already has is not added twice.
* Local objects: ``UID``/``GID``/``UNAME``/``GNAME`` (and the uid/gid columns) are
  rewritten; an owner that no longer exists becomes oneadmin (user 0, group 0), as oned's
  tool does.
* VM quotas (the local ``user_quotas``/``group_quotas``): each row moves to its user's or
  group's new id (the slave's quotas stay the slave zone's); a row of a user or group
  the slave no longer has is dropped.

Two steps: ``plan`` computes every id and every new row from consistent reads of both
stores without writing; ``apply`` runs ``plan`` again inside one write transaction on each
store and writes it: the master's transaction is opened first and committed last, so any
failure on either side (including the slave's commit) leaves the master untouched.

The slave's own shared rows (``user_pool``, ``group_pool``, ``zone_pool``, ``acl``) are
then replaced by the master's, as the replica load (the master's dump of these tables)
will replace them anyway: the slave never holds users or rules of its own again, and
until replication starts its store stays consistent (every owner of its objects exists
in it; its CLIs work with the master's credentials). ``db_versioning`` is kept (the same
version as the master's, checked). The slave's ``local_db_versioning`` gets a row with
``is_slave = 1``, which makes a second import of the same slave a clear error.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import (
    ALL,
    CLUSTER,
    GID,
    RESOURCE_BITS,
    UID,
    AclRule,
    types_of,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import (
    ONEADMIN_GID,
    ONEADMIN_UID,
    USERS_GID,
    acl_rules,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Database, Tx
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    OneError,
    StoreError,
)

Body = dict[str, Any]
MASTER_ZONE = 0
SYSTEM_USERS = (ONEADMIN_UID,)
SYSTEM_GROUPS = (ONEADMIN_GID, USERS_GID)
#: the slave's shared tables, replaced by the master's rows (db_versioning is kept)
REPLACED_TABLES = ("user_pool", "group_pool", "zone_pool", "acl")
_ID_MASK = 0xFFFFFFFF
_TYPE_MASK = ~(UID | GID | ALL | CLUSTER | _ID_MASK)
_NAME_MAX = 128


@dataclass(frozen=True)
class Options:
    zone_id: int
    merge_users: bool
    merge_groups: bool


@dataclass(frozen=True)
class Mapping:
    """One slave user or group and what it becomes on the master."""

    kind: str  # "user" or "group"
    old_id: int
    old_name: str
    new_id: int
    new_name: str
    merged: bool

    @property
    def renamed(self) -> bool:
        return not self.merged and self.new_name != self.old_name

    def line(self) -> str:
        note = " (merged)" if self.merged else " (renamed)" if self.renamed else ""
        return (
            f"{self.kind} {self.old_id} {self.old_name!r} -> {self.new_id} {self.new_name!r}{note}"
        )


@dataclass
class Plan:
    """What ``apply`` writes; ``lines`` is the log, one line per id renamed or remapped."""

    options: Options
    zone: Body
    users: list[Mapping] = field(default_factory=list)
    groups: list[Mapping] = field(default_factory=list)
    new_users: list[Body] = field(default_factory=list)  # inserted into the master
    changed_users: list[Body] = field(default_factory=list)  # master users updated (merge)
    new_groups: list[Body] = field(default_factory=list)
    changed_groups: list[Body] = field(default_factory=list)
    new_rules: list[AclRule] = field(default_factory=list)  # with the oid they will get
    rules_imported: int = 0  # slave rules that gave at least one new rule
    rules_dropped: int = 0  # slave rules that gave none
    objects: list[tuple[schema.PoolSpec, Body]] = field(default_factory=list)  # slave, changed
    # the slave's quota tables as they will be: (table, new user/group id, body text)
    quotas: list[tuple[schema.Table, int, str]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "users_merged": sum(m.merged for m in self.users),
            "users_new": sum(not m.merged for m in self.users),
            "users_renamed": sum(m.renamed for m in self.users),
            "groups_merged": sum(m.merged for m in self.groups),
            "groups_new": sum(not m.merged for m in self.groups),
            "groups_renamed": sum(m.renamed for m in self.groups),
            "rules_added": len(self.new_rules),
            "rules_imported": self.rules_imported,
            "rules_dropped": self.rules_dropped,
            "objects": len(self.objects),
        }

    def objects_by_kind(self) -> dict[str, int]:
        kinds: dict[str, int] = {}
        for spec, _ in self.objects:
            kinds[spec.noun] = kinds.get(spec.noun, 0) + 1
        return kinds


# ---- checks ---------------------------------------------------------------------------------
def check_zone(master_tx: Tx, zone_id: Any) -> Body:
    """The master's zone made for the slave: it must exist and not be zone 0."""
    if isinstance(zone_id, bool) or not isinstance(zone_id, int) or zone_id < 0:
        raise InvalidInput(f"the zone id must be a number, got {zone_id!r}")
    if zone_id == MASTER_ZONE:
        raise InvalidInput(
            "zone 0 is the master's own zone; give the id of the zone created on the master "
            "for this slave (onezone create)"
        )
    zone = pool.get(master_tx, schema.ZONES, zone_id) if zone_id <= pool.MAX_OID else None
    if zone is None:
        raise NotFound(
            f"zone {zone_id} does not exist on the master; create it there first "
            "(onezone create, with the slave's ENDPOINT) and give its id"
        )
    return zone


def master_zone_for_slave(master: Database, zone_id: Any) -> Body:
    """``check_zone`` in a read of the master's store (``onedb import-slave`` asks first)."""
    with master.snapshot() as tx:
        return check_zone(tx, zone_id)


def master_endpoint(master: Database) -> str:
    """The master's own ENDPOINT, as its zone 0 says (for the slave's next steps)."""
    with master.snapshot() as tx:
        zone = pool.get(tx, schema.ZONES, MASTER_ZONE)
    return (zone or {}).get("TEMPLATE", {}).get("ENDPOINT") or "<the master's endpoint>"


def _is_slave_store(tx: Tx) -> bool:
    row = tx.row("SELECT is_slave FROM local_db_versioning ORDER BY oid DESC LIMIT 1")
    return bool(row and row[0])


def check_stores(master_tx: Tx, slave_tx: Tx) -> None:
    """Refuse a master store that is a slave's, and a slave imported already."""
    if _is_slave_store(slave_tx):
        raise Conflict(
            f"{slave_tx.db.description} was already imported into a federation "
            "(local_db_versioning.is_slave = 1): its users, groups and rules are the master's"
        )
    if _is_slave_store(master_tx):
        raise InvalidInput(
            f"{master_tx.db.description} is a federation slave's store, not the master's"
        )


# ---- plan -----------------------------------------------------------------------------------
def _last_oid(tx: Tx, table: str) -> int:
    """The highest id the master has handed out in ``table`` (its counter or its rows)."""
    row = tx.row("SELECT last_oid FROM pool_control WHERE tablename = ?", (table,))
    top = tx.row(f"SELECT MAX(oid) FROM {table}")
    return max(row[0] if row else -1, top[0] if top and top[0] is not None else -1)


def _free_name(base: str, taken: set[str]) -> str:
    """``base-1``, ``base-2``... the first not in ``taken`` (cut to fit 128 characters)."""
    i = 1
    while True:
        suffix = f"-{i}"
        name = base[: _NAME_MAX - len(suffix)] + suffix
        if name not in taken:
            return name
        i += 1


def _map_pool(
    kind: str,
    slave: list[Body],
    master: list[Body],
    merge: bool,
    system: tuple[int, ...],
    next_id: Callable[[], int],
) -> list[Mapping]:
    """The id and name each slave object gets on the master (see the module's rules)."""
    by_name = {b["NAME"]: b for b in master}
    by_id = {b["ID"]: b for b in master}
    claimed: set[int] = set()  # master ids some slave object merges into
    targets: dict[int, Body | None] = {}
    for body in slave:
        if body["ID"] in system and body["ID"] in by_id:
            target = by_id[body["ID"]]
        else:
            target = by_name.get(body["NAME"])
            if target is not None and (
                not merge or target["ID"] in system or target["ID"] in claimed
            ):
                target = None  # a clash: renamed below
        if target is not None:
            claimed.add(target["ID"])
        targets[body["ID"]] = target
    # names that stay as they are are reserved before any renamed one picks a name
    taken = set(by_name) | {
        b["NAME"] for b in slave if targets[b["ID"]] is None and b["NAME"] not in by_name
    }
    result = []
    for body in slave:
        target = targets[body["ID"]]
        if target is not None:
            result.append(
                Mapping(kind, body["ID"], body["NAME"], target["ID"], target["NAME"], True)
            )
            continue
        name = body["NAME"] if body["NAME"] not in by_name else _free_name(body["NAME"], taken)
        taken.add(name)
        result.append(Mapping(kind, body["ID"], body["NAME"], next_id(), name, False))
    return result


def _counter(start: int) -> Callable[[], int]:
    state = {"last": start}

    def take() -> int:
        state["last"] += 1
        return state["last"]

    return take


def _merge_template(master: Body, slave: Body) -> bool:
    """Add the slave's template attributes the master lacks; True if any was added."""
    tpl = master.setdefault("TEMPLATE", {})
    added = False
    for key, value in (slave.get("TEMPLATE") or {}).items():
        if key not in tpl:
            tpl[key] = copy.deepcopy(value)
            added = True
    return added


def _rewrite_references(tpl: Any, users: dict[int, Mapping], names: dict[str, str]) -> bool:
    """IMAGE_UID/IMAGE_UNAME of DISKs and NETWORK_UID/NETWORK_UNAME of NICs (oned's
    template attributes naming another user's image or network)."""
    if not isinstance(tpl, dict):
        return False
    changed = False
    for section, prefix in (("DISK", "IMAGE"), ("NIC", "NETWORK")):
        for item in template.as_list(tpl, section):
            if not isinstance(item, dict):
                continue
            uid_key, uname_key = f"{prefix}_UID", f"{prefix}_UNAME"
            if uid_key in item:
                try:
                    old = int(item[uid_key])
                except (TypeError, ValueError):
                    old = None
                if old in users and users[old].new_id != old:
                    item[uid_key] = type(item[uid_key])(users[old].new_id)
                    changed = True
            if item.get(uname_key) in names and names[item[uname_key]] != item[uname_key]:
                item[uname_key] = names[item[uname_key]]
                changed = True
    return changed


def _rule_str(rule: AclRule) -> str:
    return str(rule)


def _remap_rule(
    rule: AclRule, users: dict[int, Mapping], groups: dict[int, Mapping], zone_id: int
) -> tuple[list[AclRule], list[str]]:
    """The master's rules for a slave rule (usually one; a ``#id`` resource of types whose
    ids map differently is split per id) and the reasons for what was dropped."""
    reasons: list[str] = []
    number = rule.user & _ID_MASK
    if rule.user & ALL:
        user = rule.user
    elif rule.user & UID:
        if number not in users:
            return [], [f"unknown user {number}"]
        user = UID | users[number].new_id
    elif rule.user & GID:
        if number not in groups:
            return [], [f"unknown group {number}"]
        user = GID | groups[number].new_id
    else:
        return [], ["malformed user selector"]

    if rule.zone & ALL:
        zone = rule.zone
    elif rule.zone & UID and rule.zone & _ID_MASK == MASTER_ZONE:
        zone = UID | zone_id
    else:
        return [], [f"unknown zone {rule.zone & _ID_MASK}"]

    types = rule.resource & _TYPE_MASK
    rid = rule.resource & (UID | GID | ALL | CLUSTER)
    number = rule.resource & _ID_MASK
    if rid & GID:
        if number not in groups:
            return [], [f"unknown group {number}"]
        resources = [types | GID | groups[number].new_id]
    elif rid & UID:
        by_id: dict[int, int] = {}  # new id -> the types naming it
        for name in types_of(rule.resource):
            bit = RESOURCE_BITS[name]
            if name == "USER":
                new = users[number].new_id if number in users else None
                why = f"unknown user {number}"
            elif name == "GROUP":
                new = groups[number].new_id if number in groups else None
                why = f"unknown group {number}"
            elif name == "ZONE":
                new = zone_id if number == MASTER_ZONE else None
                why = f"unknown zone {number}"
            else:  # VMs, hosts, images...: ids of the slave's zone, unchanged
                new, why = number, ""
            if new is None:
                reasons.append(f"{name}/#{number}: {why}")
                continue
            by_id[new] = by_id.get(new, 0) | bit
        resources = [bits | UID | new for new, bits in by_id.items()]
    else:  # * and %cluster: the zone's own
        resources = [rule.resource]
    return [AclRule(user, r, rule.rights, zone) for r in resources], reasons


def _plan_rules(
    master_tx: Tx,
    slave_tx: Tx,
    plan: Plan,
    users: dict[int, Mapping],
    groups: dict[int, Mapping],
) -> None:
    existing = {r.key(): r.oid for r in acl_rules(master_tx)}
    next_id = _counter(_last_oid(master_tx, "acl"))
    zone_id = plan.options.zone_id
    for rule in acl_rules(slave_tx):
        head = f"acl rule {rule.oid} {_rule_str(rule)!r}"
        candidates, reasons = _remap_rule(rule, users, groups, zone_id)
        added: list[AclRule] = []
        for new in candidates:
            try:
                new.validate()
            except InvalidInput as err:
                reasons.append(f"{_rule_str(new)!r} is malformed: {err}")
                continue
            if new.key() in existing:
                where = existing[new.key()]
                reasons.append(
                    f"the same rule exists on the master as rule {where}"
                    if where is not None
                    else "the same rule was imported already"
                )
                continue
            stored = AclRule(new.user, new.resource, new.rights, new.zone, next_id())
            existing[new.key()] = None
            added.append(stored)
        if added:
            plan.rules_imported += 1
            plan.new_rules += added
            target = ", ".join(f"{r.oid} {_rule_str(r)!r}" for r in added)
            tail = f" (dropped: {'; '.join(reasons)})" if reasons else ""
            plan.lines.append(f"{head} -> {target}{tail}")
        else:
            plan.rules_dropped += 1
            plan.lines.append(f"{head} dropped: {'; '.join(reasons)}")


def _plan_objects(
    slave_tx: Tx,
    plan: Plan,
    users: dict[int, Mapping],
    groups: dict[int, Mapping],
    names: dict[str, str],
) -> None:
    """Every local object whose owner, group or references change."""
    admin, admins = users.get(ONEADMIN_UID), groups.get(ONEADMIN_GID)
    for spec in schema.POOLS:
        if spec.shared:
            continue
        for body in pool.all_bodies(slave_tx, spec):
            before = copy.deepcopy(body)
            notes = []
            uid, gid = body.get("UID"), body.get("GID")
            user = users.get(uid) if isinstance(uid, int) else None
            if user is None and admin is not None:
                user = admin
                notes.append(f"owner {uid} (unknown) -> {admin.new_id} {admin.new_name!r}")
            elif user is not None and (user.new_id, user.new_name) != (uid, body.get("UNAME")):
                notes.append(
                    f"owner {uid} {body.get('UNAME')!r} -> {user.new_id} {user.new_name!r}"
                )
            group = groups.get(gid) if isinstance(gid, int) else None
            if group is None and admins is not None:
                group = admins
                notes.append(f"group {gid} (unknown) -> {admins.new_id} {admins.new_name!r}")
            elif group is not None and (group.new_id, group.new_name) != (gid, body.get("GNAME")):
                notes.append(
                    f"group {gid} {body.get('GNAME')!r} -> {group.new_id} {group.new_name!r}"
                )
            if user is not None:
                body["UID"], body["UNAME"] = user.new_id, user.new_name
            if group is not None:
                body["GID"], body["GNAME"] = group.new_id, group.new_name
            if _rewrite_references(body.get("TEMPLATE"), users, names):
                notes.append("image/network owner references")
            if body != before:
                plan.objects.append((spec, body))
                plan.lines.append(f"{spec.noun} {body['ID']} {body['NAME']!r}: {', '.join(notes)}")


@dataclass(frozen=True)
class _Pools:
    """The users and groups of both stores: the slave's as listed, the master's by id."""

    slave_users: list[Body]
    slave_groups: list[Body]
    master_users: dict[int, Body]
    master_groups: dict[int, Body]


def plan(master_tx: Tx, slave_tx: Tx, options: Options) -> Plan:
    """Compute the import without writing anything (see the module for the rules)."""
    zone = check_zone(master_tx, options.zone_id)
    check_stores(master_tx, slave_tx)
    result = Plan(options, zone)
    pools = _read_pools(master_tx, slave_tx)
    result.users, result.groups = _map_ids(master_tx, options, pools)
    users = {m.old_id: m for m in result.users}
    groups = {m.old_id: m for m in result.groups}
    result.lines += [m.line() for m in result.users] + [m.line() for m in result.groups]

    final_groups = _final_groups(pools, users, groups)
    final_users = _final_users(pools, users, groups, result.lines)
    _join_memberships(pools, users, groups, final_users, final_groups)
    _plan_master_rows(result, pools, final_users, final_groups)
    _plan_rules(master_tx, slave_tx, result, users, groups)
    names = {m.old_name: m.new_name for m in result.users}
    _plan_objects(slave_tx, result, users, groups, names)
    _plan_quotas(slave_tx, result, users, groups)
    return result


def _plan_quotas(
    slave_tx: Tx, plan: Plan, users: dict[int, Mapping], groups: dict[int, Mapping]
) -> None:
    """The slave's VM quotas under their users' and groups' new ids."""
    for table, mappings, noun in (
        (schema.USER_QUOTAS, users, "user"),
        (schema.GROUP_QUOTAS, groups, "group"),
    ):
        key = table.primary_key
        for old_id, body in slave_tx.rows(f"SELECT {key}, body FROM {table.name} ORDER BY {key}"):
            mapping = mappings.get(old_id)
            if mapping is None:
                plan.lines.append(f"VM quota of {noun} {old_id} dropped: unknown {noun}")
                continue
            plan.quotas.append((table, mapping.new_id, body))
            if mapping.new_id != old_id:
                plan.lines.append(
                    f"VM quota of {noun} {old_id} {mapping.old_name!r} -> {mapping.new_id}"
                )


def _read_pools(master_tx: Tx, slave_tx: Tx) -> _Pools:
    return _Pools(
        slave_users=pool.all_bodies(slave_tx, schema.USERS),
        slave_groups=pool.all_bodies(slave_tx, schema.GROUPS),
        master_users={b["ID"]: b for b in pool.all_bodies(master_tx, schema.USERS)},
        master_groups={b["ID"]: b for b in pool.all_bodies(master_tx, schema.GROUPS)},
    )


def _map_ids(master_tx: Tx, options: Options, pools: _Pools) -> tuple[list[Mapping], list[Mapping]]:
    """What each slave user and group becomes on the master; new ones get ids after the
    master's last one."""
    users = _map_pool(
        "user",
        pools.slave_users,
        list(pools.master_users.values()),
        options.merge_users,
        SYSTEM_USERS,
        _counter(_last_oid(master_tx, schema.USERS.table)),
    )
    groups = _map_pool(
        "group",
        pools.slave_groups,
        list(pools.master_groups.values()),
        options.merge_groups,
        SYSTEM_GROUPS,
        _counter(_last_oid(master_tx, schema.GROUPS.table)),
    )
    return users, groups


def _final_groups(
    pools: _Pools, users: dict[int, Mapping], groups: dict[int, Mapping]
) -> dict[int, Body]:
    """The master's body of every slave group after the import, by its new id: a copy of
    the master's group it merges into, or the slave's group renumbered (members joined
    later by ``_join_memberships``)."""
    final: dict[int, Body] = {}
    for body in pools.slave_groups:
        m = groups[body["ID"]]
        if m.merged:
            final[m.new_id] = copy.deepcopy(pools.master_groups[m.new_id])
            _merge_template(final[m.new_id], body)
            continue
        owner = users.get(body.get("UID"), users.get(ONEADMIN_UID))
        new = copy.deepcopy(body)
        new.update(ID=m.new_id, NAME=m.new_name, GID=m.new_id, USERS=[])
        if owner is not None:
            new.update(UID=owner.new_id, UNAME=owner.new_name)
        final[m.new_id] = new
    return final


def _final_users(
    pools: _Pools, users: dict[int, Mapping], groups: dict[int, Mapping], lines: list[str]
) -> dict[int, Body]:
    """The master's body of every slave user after the import, by its new id (as
    ``_final_groups``); a user whose primary group is gone goes to group users, noted in
    ``lines``."""
    final: dict[int, Body] = {}
    for body in pools.slave_users:
        m = users[body["ID"]]
        if m.merged:
            final[m.new_id] = copy.deepcopy(pools.master_users[m.new_id])
            _merge_template(final[m.new_id], body)
            continue
        primary = groups.get(body.get("GID"))
        if primary is None:
            primary = groups[USERS_GID]
            lines.append(
                f"user {body['ID']} {body['NAME']!r}: primary group {body.get('GID')} does not "
                f"exist; the user goes to group {primary.new_id} {primary.new_name!r}"
            )
        new = copy.deepcopy(body)
        new.update(
            ID=m.new_id,
            UID=m.new_id,
            NAME=m.new_name,
            GID=primary.new_id,
            GNAME=primary.new_name,
            GROUPS=[primary.new_id],
        )
        final[m.new_id] = new
    return final


def _join_memberships(
    pools: _Pools,
    users: dict[int, Mapping],
    groups: dict[int, Mapping],
    final_users: dict[int, Body],
    final_groups: dict[int, Body],
) -> None:
    """Membership from both sides of the slave (a user's ``GROUPS``, a group's ``USERS``),
    made whole on both sides of the master's bodies."""
    pairs: list[tuple[int, int]] = []
    for body in pools.slave_users:
        pairs += [
            (users[body["ID"]].new_id, groups[g].new_id)
            for g in body.get("GROUPS", [])
            if g in groups
        ]
    for body in pools.slave_groups:
        pairs += [
            (users[u].new_id, groups[body["ID"]].new_id)
            for u in body.get("USERS", [])
            if u in users
        ]
    for uid, gid in pairs:
        user, group = final_users[uid], final_groups[gid]
        if gid not in user.setdefault("GROUPS", []):
            user["GROUPS"].append(gid)
        if uid not in group.setdefault("USERS", []):
            group["USERS"].append(uid)


def _plan_master_rows(
    result: Plan, pools: _Pools, final_users: dict[int, Body], final_groups: dict[int, Body]
) -> None:
    """Which final bodies are new master rows and which change a master row (merged ones
    that differ from the master's); merged ones that do not are left alone."""
    for m in result.users:
        body = final_users[m.new_id]
        if not m.merged:
            result.new_users.append(body)
        elif body != pools.master_users[m.new_id]:
            result.changed_users.append(body)
    for m in result.groups:
        body = final_groups[m.new_id]
        if not m.merged:
            result.new_groups.append(body)
        elif body != pools.master_groups[m.new_id]:
            result.changed_groups.append(body)


def preview(master: Database, slave: Database, options: Options) -> Plan:
    """The plan from consistent read-only views of both stores."""
    with master.snapshot() as master_tx, slave.snapshot() as slave_tx:
        return plan(master_tx, slave_tx, options)


# ---- apply ----------------------------------------------------------------------------------
def _write_master(tx: Tx, plan: Plan) -> None:
    for body in plan.new_groups:
        pool.insert(tx, schema.GROUPS, body, oid=body["ID"])
    for body in plan.changed_groups:
        pool.update(tx, schema.GROUPS, body)
    for body in plan.new_users:
        pool.insert(tx, schema.USERS, body, oid=body["ID"])
    for body in plan.changed_users:
        pool.update(tx, schema.USERS, body)
    for rule in plan.new_rules:
        tx.execute(
            "INSERT INTO acl (oid, user, resource, rights, zone) VALUES (?, ?, ?, ?, ?)",
            (rule.oid, rule.user, rule.resource, rule.rights, rule.zone),
        )
    if plan.new_rules:
        top = max(r.oid for r in plan.new_rules)
        tx.execute(
            "UPDATE pool_control SET last_oid = ? WHERE tablename = 'acl' AND last_oid < ?",
            (top, top),
        )


def _table(name: str) -> schema.Table:
    return next(t for t in schema.SHARED_TABLES if t.name == name)


def _write_slave(master_tx: Tx, slave_tx: Tx, plan: Plan) -> dict[str, int]:
    """Rewrite the slave's local objects, replace its shared rows by the master's (as
    written by ``_write_master``, not committed yet) and mark its store a slave's."""
    for spec, body in plan.objects:
        pool.update(slave_tx, spec, body)
    for table in (schema.USER_QUOTAS, schema.GROUP_QUOTAS):
        slave_tx.execute(f"DELETE FROM {table.name}")
    for table, new_id, body in plan.quotas:
        slave_tx.execute(
            f"INSERT INTO {table.name} ({table.primary_key}, body) VALUES (?, ?)", (new_id, body)
        )
    copied = {}
    for name in REPLACED_TABLES:
        columns = [c.name for c in _table(name).columns]
        rows = master_tx.rows(f"SELECT {', '.join(columns)} FROM {name} ORDER BY oid")
        slave_tx.execute(f"DELETE FROM {name}")
        marks = ", ".join("?" for _ in columns)
        for row in rows:
            slave_tx.execute(f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})", row)
        counter = master_tx.row("SELECT last_oid FROM pool_control WHERE tablename = ?", (name,))
        if counter is not None:
            slave_tx.execute(
                "UPDATE pool_control SET last_oid = ? WHERE tablename = ?", (counter[0], name)
            )
        copied[name] = len(rows)
    oid, version = slave_tx.row(
        "SELECT oid, version FROM local_db_versioning ORDER BY oid DESC LIMIT 1"
    )
    slave_tx.execute(
        "INSERT INTO local_db_versioning (oid, version, timestamp, comment, is_slave) "
        "VALUES (?, ?, ?, ?, 1)",
        (
            oid + 1,
            version,
            int(time.time()),
            f"onedb import-slave: zone {plan.options.zone_id} of a federation",
        ),
    )
    return copied


class PartialImport(StoreError):
    """The slave was rewritten but the master's commit failed afterwards."""


def apply(
    master: Database,
    slave: Database,
    options: Options,
    expected: Plan | None = None,
    before_slave_commit: Callable[[], None] | None = None,
) -> Plan:
    """Plan and write, in one transaction per store; returns the plan written.

    ``expected`` (a ``preview`` shown to someone) must still be what would be done, else
    nothing is written. The master's transaction commits last, so a failure anywhere
    before leaves both stores as they were. ``before_slave_commit`` runs just before the
    slave's commit (tests use it to inject a failure there).
    """
    slave_committed = False
    try:
        with master.transaction() as master_tx:
            with slave.transaction() as slave_tx:
                result = plan(master_tx, slave_tx, options)
                if expected is not None and result.lines != expected.lines:
                    raise Conflict(
                        "the stores changed since the import was planned; nothing was "
                        "written, run the import again"
                    )
                _write_master(master_tx, result)
                copied = _write_slave(master_tx, slave_tx, result)
                result.lines.append(
                    "slave shared tables replaced by the master's: "
                    + ", ".join(f"{name} {count} rows" for name, count in copied.items())
                )
                if before_slave_commit is not None:
                    before_slave_commit()
            slave_committed = True
    except OneError as err:
        if slave_committed:
            raise PartialImport(
                f"the slave's store was rewritten but the master's commit failed ({err}): "
                "restore the slave's store from its backup before running the import again"
            ) from err
        raise
    return result

"""Zones (``onezone``): the members of a federation, each an onekit front-end with its
own hosts and VMs, sharing users, groups, ACL rules and this very table.

Zone 0 is the master (a standalone instance is its own zone 0); zones made with
``onezone create`` take ids from 100. A zone's ENDPOINT is the URL of its onekit-server
core API, where ``onezone set`` sends the commands. Zones are written on the master only:
a slave forwards these operations (``federation.proxy``).
"""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import Target
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.shared_writes import federated
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls

Body = dict[str, Any]
Ref = int | str
MASTER_ZONE = 0
_MODE = Permissions.from_octal("600")  # everyone USEs zones through `* ZONE/* USE *`
_URL = re.compile(r"^https?://[^/\s:]+(:\d{1,5})?/?$")


def zone_body(zone_id: int | None, name: str, endpoint: str) -> Body:
    return {
        "ID": zone_id,
        "NAME": name,
        "UID": 0,
        "GID": 0,
        "UNAME": "oneadmin",
        "GNAME": "oneadmin",
        "PERMISSIONS": _MODE.to_json(),
        "TEMPLATE": {"ENDPOINT": endpoint},
    }


def check_endpoint(value: Any) -> str:
    if not isinstance(value, str) or not _URL.match(value.strip()):
        raise InvalidInput(
            f"ENDPOINT must be the zone's onekit-server URL, like "
            f'ENDPOINT = "http://10.0.0.2:2633", got {value!r}'
        )
    return value.strip().rstrip("/")


def _parsed(text: template.Source) -> Body:
    tpl = template.load(text, "a zone template")
    if "ENDPOINT" not in tpl:
        raise InvalidInput('a zone needs ENDPOINT, e.g. ENDPOINT = "http://10.0.0.2:2633"')
    tpl["ENDPOINT"] = check_endpoint(tpl["ENDPOINT"])
    return tpl


@federated()
def create(session: Session, text: template.Source) -> Body:
    """``onezone create zone.tmpl`` (NAME and ENDPOINT)."""
    tpl = _parsed(text)
    name = tpl.pop("NAME", None)
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput('a zone needs NAME, e.g. NAME = "zone-b"')
    pool.check_name("zone", name)
    with session.write() as w:
        return _create_in(w, name.strip(), tpl)


def _create_in(w: AuthTx, name: str, tpl: Body) -> Body:
    w.authorize(Target.new("ZONE", w.subject.gid), Right.CREATE)
    zone_id = pool.next_oid(w.tx, schema.ZONES.table)
    body = zone_body(zone_id, name, tpl["ENDPOINT"])
    body["TEMPLATE"] = tpl
    return pool.insert(w.tx, schema.ZONES, body, oid=zone_id)


def show(session: Session, ref: Ref) -> Body:
    return objects.show(session, schema.ZONES, ref)


def list_zones(session: Session, start: int = 0, page_size: int | None = None) -> list[Body]:
    return objects.list_visible(session, schema.ZONES, start=start, page_size=page_size)


@federated()
def update(session: Session, ref: Ref, text: template.Source, append: bool = False) -> Body:
    """Replace the zone's template (or merge into it with ``append``)."""
    parsed = template.load(text, "a zone template")
    with session.write() as w:
        body = pool.resolve(w.tx, schema.ZONES, ref, lock=True)
        w.authorize(objects.target(schema.ZONES, body), Right.ADMIN)
        new = template.merge(body["TEMPLATE"], parsed) if append else parsed
        new.pop("NAME", None)
        body["TEMPLATE"] = _parsed(new)
        return pool.update(w.tx, schema.ZONES, body)


@federated()
def rename(session: Session, ref: Ref, name: str) -> Body:
    pool.check_name("zone", name)
    with session.write() as w:
        body = pool.resolve(w.tx, schema.ZONES, ref, lock=True)
        w.authorize(objects.target(schema.ZONES, body), Right.ADMIN)
        taken = w.tx.row(
            "SELECT oid FROM zone_pool WHERE name = ? AND oid != ?", (name, body["ID"])
        )
        if taken is not None:
            raise Conflict(f"NAME {name!r} is already taken by ZONE {taken[0]}")
        body["NAME"] = name
        return pool.update(w.tx, schema.ZONES, body)


@federated()
def delete(session: Session, ref: Ref) -> Body:
    with session.write() as w:
        body = pool.resolve(w.tx, schema.ZONES, ref, lock=True)
        if body["ID"] == MASTER_ZONE:
            raise Conflict("zone 0 is the master zone: it cannot be deleted")
        w.authorize(objects.target(schema.ZONES, body), Right.ADMIN)
        pool.delete(w.tx, schema.ZONES, body["ID"])
        acls.delete_rules_of_zone(w.tx, body["ID"])
        return body


@federated()
def ensure(
    session: Session,
    name: str,
    endpoint: str | None = None,
    state: str = "present",
    dry_run: bool = False,
    zone_id: int | None = None,
) -> tuple[bool, Body | None, Body | None]:
    """Zone ``name`` present with ``endpoint``, or absent; returns (changed, before, after).
    With ``zone_id`` the zone is that one (zone 0, the master), renamed if need be."""
    pool.check_name("zone", name)
    pool.check_state(state)
    if state == "present":
        if endpoint is None:
            raise InvalidInput("endpoint is required to create or update a zone")
        endpoint = check_endpoint(endpoint)
    with session.write(dry_run=dry_run) as w:
        try:
            ref = zone_id if zone_id is not None else name
            current = pool.resolve(w.tx, schema.ZONES, ref, lock=True)
        except NotFound:
            if zone_id is not None:
                raise
            current = None
        if state == "absent":
            if current is None:
                return False, None, None
            if current["ID"] == MASTER_ZONE:
                raise Conflict("zone 0 is the master zone: it cannot be deleted")
            w.authorize(objects.target(schema.ZONES, current), Right.ADMIN)
            pool.delete(w.tx, schema.ZONES, current["ID"])
            acls.delete_rules_of_zone(w.tx, current["ID"])
            return True, current, None
        if current is None:
            return True, None, _create_in(w, name, {"ENDPOINT": endpoint})
        if (current["NAME"], current["TEMPLATE"].get("ENDPOINT")) == (name, endpoint):
            return False, current, current
        w.authorize(objects.target(schema.ZONES, current), Right.ADMIN)
        if current["NAME"] != name:
            taken = w.tx.row("SELECT oid FROM zone_pool WHERE name = ?", (name,))
            if taken is not None:
                raise Conflict(f"NAME {name!r} is already taken by ZONE {taken[0]}")
        before = {**current, "TEMPLATE": dict(current["TEMPLATE"])}
        current["NAME"] = name
        current["TEMPLATE"]["ENDPOINT"] = endpoint
        return True, before, pool.update(w.tx, schema.ZONES, current)


def endpoint_of(session: Session, ref: Ref) -> str:
    return show(session, ref)["TEMPLATE"]["ENDPOINT"]

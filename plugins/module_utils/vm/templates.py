"""VM templates (``onetemplate``): create, update, clone, delete, instantiate.

A template's body keeps the parsed OpenNebula template under ``TEMPLATE`` (its ``NAME``
is the template's name). Values are checked when the template is created or updated
(numbers, SCHED_REQUIREMENTS/SCHED_RANK syntax), so mistakes show at once rather than when
a VM is made; what only instantiation can check (images, networks, capacity) is checked
then.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import Subject, Target
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput, NotFound
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import VmState
from ansible_collections.onekit.cloud.plugins.module_utils.vm import vms

Body = dict[str, Any]
Ref = int | str


def _parsed(tpl: template.Source) -> dict:
    return template.load(tpl, "a VM template")


def create(session: Session, tpl: template.Source, name: str | None = None) -> Body:
    """``onetemplate create file.tmpl``: the template's NAME names it (or ``name``)."""
    parsed = _parsed(tpl)
    name = name or parsed.get("NAME")
    if not isinstance(name, str) or not name:
        raise InvalidInput('the template has no NAME; add NAME = "..." to it')
    parsed["NAME"] = name
    vms.check_template(parsed)
    vms.check_restricted(session.subject, parsed, "the template")
    fields = {"REGTIME": int(time.time()), "TEMPLATE": parsed}
    return objects.create(session, schema.TEMPLATES, name, fields)


def update(session: Session, ref: Ref, tpl: template.Source, append: bool = False) -> Body:
    """Replace the template (or merge into it with ``append``, as ``--append``)."""
    parsed = _parsed(tpl)
    with session.write() as w:
        body = pool.resolve(w.tx, schema.TEMPLATES, ref, lock=True)
        w.authorize(objects.target(schema.TEMPLATES, body), Right.MANAGE)
        new = template.merge(body["TEMPLATE"], parsed) if append else parsed
        new = _named(body["TEMPLATE"], new, body["NAME"])
        vms.check_template(new)
        vms.check_restricted(session.subject, parsed, "the update")
        body["TEMPLATE"] = new
        return pool.update(w.tx, schema.TEMPLATES, body)


def _named(old: Body, new: Body, name: str) -> Body:
    """``new`` with the template's NAME in the place it had in ``old``: an update that
    changes nothing leaves the attributes in their order (a client comparing the
    template before and after, as community.general's one_template, sees no change)."""
    items = [(k, v) for k, v in new.items() if k != "NAME"]
    place = list(old).index("NAME") if "NAME" in old else len(items)
    items.insert(min(place, len(items)), ("NAME", name))
    return dict(items)


def delete(session: Session, ref: Ref) -> Body:
    with session.write() as w:
        body = pool.resolve(w.tx, schema.TEMPLATES, ref, lock=True)
        w.authorize(objects.target(schema.TEMPLATES, body), Right.MANAGE)
        pool.delete(w.tx, schema.TEMPLATES, body["ID"])
        return body


def clone(session: Session, ref: Ref, name: str) -> Body:
    """``onetemplate clone <id> <name>``: a copy owned by the caller (USE needed)."""
    source = show(session, ref)
    return create(session, {**source["TEMPLATE"], "NAME": name}, name)


def show(session: Session, ref: Ref) -> Body:
    return objects.show(session, schema.TEMPLATES, ref)


def list_templates(session: Session, start: int = 0, page_size: int | None = None) -> list[Body]:
    return objects.list_visible(session, schema.TEMPLATES, start=start, page_size=page_size)


def instantiate(
    session: Session,
    ref: Ref,
    count: int = 1,
    name: str | None = None,
    hold: bool = False,
    extra: template.Source | None = None,
) -> list[Body]:
    """``onetemplate instantiate <id> [--multiple N] [--name X] [--hold]``: N new VMs,
    PENDING (HOLD with ``hold``), in one transaction. ``extra`` (template text or mapping)
    is merged over the template for these VMs. Placing them is the scheduler's job."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 10000:
        raise InvalidInput(f"the number of VMs must be 1 to 10000, got {count!r}")
    return _allocate(
        session,
        ref,
        lambda tpl_name: [vm_name(name, tpl_name, i, count) for i in range(count)],
        hold,
        extra,
    )


def instantiate_named(
    session: Session,
    ref: Ref,
    names: list[str | None],
    extra: template.Source | None = None,
    owner: int | None = None,
    group: int | None = None,
    unique_among: dict[str, str] | None = None,
) -> list[Body]:
    """One new VM per name (None: the default name), all in one transaction.

    With ``owner`` the VMs are made *as that user*: their rights decide (the template's
    USE, restricted attributes, images, networks, CREATE) and they own the VMs from the
    start; the caller needs MANAGE on that user (an administrator has it), as for
    ``onevm chown``. ``group`` then moves them to another group. With ``unique_among``
    (attributes), a name already held by a live VM carrying those attributes is skipped:
    checked under a lock on the template, so two callers never make the same VM twice.
    """
    if not 1 <= len(names) <= 10000:
        raise InvalidInput(f"the number of VMs must be 1 to 10000, got {len(names)}")
    return _allocate(session, ref, lambda _name: names, False, extra, owner, group, unique_among)


def _allocate(
    session: Session,
    ref: Ref,
    names_for: Any,
    hold: bool,
    extra: Any,
    owner: int | None = None,
    group: int | None = None,
    unique_among: dict[str, str] | None = None,
) -> list[Body]:
    merge = _parsed(extra) if extra else {}
    with session.write() as w:
        body = pool.resolve(w.tx, schema.TEMPLATES, ref, lock=unique_among is not None)
        actor = w if owner is None else _acting_for(w, owner)
        vms.check_restricted(actor.subject, merge, "the extra attributes")
        actor.authorize(objects.target(schema.TEMPLATES, body), Right.USE)
        tpl = template.merge(body["TEMPLATE"], merge)
        names = names_for(body["NAME"])
        if unique_among is not None:
            names = _not_taken(w, names, unique_among, actor.subject.uid)
        made = []
        for vm_name_ in names:
            vm = vms.allocate_in(actor, tpl, vm_name_, hold, body["ID"])
            if group is not None and vm["GID"] != group:
                objects.chown_in(w, schema.VMS, vm, None, group)
                pool.update(w.tx, schema.VMS, vm)
            made.append(vm)
        return made


def _acting_for(w: AuthTx, owner: Ref) -> AuthTx:
    """The transaction as ``owner`` sees it, for a caller with MANAGE on that user (the
    session's other settings, such as the OneGate endpoint, carry over)."""
    user = pool.resolve(w.tx, schema.USERS, owner)
    w.authorize(Target.of("USER", user), Right.MANAGE)
    return AuthTx(w.tx, dataclasses.replace(w.session, subject=Subject.of_user(user)))


def _not_taken(
    w: AuthTx, names: list[str | None], attributes: dict[str, str], uid: int
) -> list[str | None]:
    """The names no live VM of user ``uid`` with ``attributes`` holds (each holds one)."""
    wanted = sorted({n for n in names if n is not None})
    if not wanted:
        return names
    marks = ", ".join("?" for _ in wanted)
    where = f"state != ? AND uid = ? AND name IN ({marks})"
    held = pool.all_bodies(w.tx, schema.VMS, where, (int(VmState.DONE), uid, *wanted))
    left = list(names)
    for vm in held:
        user = vm["USER_TEMPLATE"]
        if all(str(user.get(k)) == str(v) for k, v in attributes.items()) and vm["NAME"] in left:
            left.remove(vm["NAME"])
    return left


def vm_name(name: str | None, template_name: str, index: int, count: int) -> str | None:
    """The name of VM ``index`` of ``count``: ``name`` (``%i`` replaced by the index, or
    ``-<index>`` added when several are made); None lets the VM take ``<template>-<id>``."""
    if name is None:
        return None
    if "%i" in name:
        return name.replace("%i", str(index))
    return name if count == 1 else f"{name}-{index}"


def ensure(
    session: Session,
    name: str,
    state: str = "present",
    tpl: template.Source | None = None,
    dry_run: bool = False,
) -> tuple[bool, Body | None, Body | None]:
    """Template ``name`` (of the caller) present with exactly ``tpl``, or absent."""
    import copy

    pool.check_name("template", name)
    pool.check_state(state)
    wanted = None
    if state == "present":
        if tpl is None:
            raise InvalidInput("template is required for state=present")
        wanted = {**_parsed(tpl), "NAME": name}
        vms.check_template(wanted)
        vms.check_restricted(session.subject, wanted, "the template")
    with session.write(dry_run=dry_run) as w:
        row = w.tx.row(
            "SELECT oid FROM template_pool WHERE name = ? AND uid = ?", (name, session.subject.uid)
        )
        try:
            body = pool.get(w.tx, schema.TEMPLATES, row[0], lock=True) if row else None
        except NotFound:
            body = None
        before = copy.deepcopy(body)
        if state == "absent":
            if body is None:
                return False, None, None
            w.authorize(objects.target(schema.TEMPLATES, body), Right.MANAGE)
            pool.delete(w.tx, schema.TEMPLATES, body["ID"])
            return True, before, None
        if body is None:
            fields = {"REGTIME": int(time.time()), "TEMPLATE": wanted}
            return True, None, objects.create_in(w, schema.TEMPLATES, name, fields)
        w.authorize(objects.target(schema.TEMPLATES, body), Right.MANAGE)
        if body["TEMPLATE"] == wanted:
            return False, before, body
        body["TEMPLATE"] = wanted
        return True, before, pool.update(w.tx, schema.TEMPLATES, body)

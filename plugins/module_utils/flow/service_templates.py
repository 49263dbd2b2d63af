"""OneFlow service templates (``oneflow-template``): a JSON document of roles with
deployment dependencies, checked whole on create and update.

Every mistake in a document is reported at once, each with its path
(``roles[2].parents: unknown role 'db'``), so a user fixes a template in one pass. The
checks are those of OneFlow's schema plus what it only finds when deploying: unknown
parents, duplicate roles, dependency cycles, a cardinality outside ``min_vms`` /
``max_vms``.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.json_text import parse_json
from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    documents,
    expressions,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    policies as flow_policies,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import SHUTDOWN_ACTIONS
from ansible_collections.onekit.cloud.plugins.module_utils.flow.documents import SERVICE_TEMPLATE
from ansible_collections.onekit.cloud.plugins.module_utils.vm import vms

Body = dict[str, Any]
Ref = int | str
DEPLOYMENTS = ("none", "straight")
ADJUSTMENTS = ("CHANGE", "CARDINALITY", "PERCENTAGE_CHANGE")
_ROLE_NAME = re.compile(r"^[A-Za-z0-9_]+$")  # it goes into URLs and VM names
MAX_VMS = 10000  # per role, as one onetemplate instantiate makes at most

# The keys a document may hold (OneFlow's schema and what later versions added); any
# other is refused with its path, so a typo never passes for a setting and nothing a
# service keeps for itself (state, nodes, UID...) can be written by a template.
TEMPLATE_KEYS = frozenset(
    {
        "name",
        "description",
        "deployment",
        "shutdown_action",
        "roles",
        "custom_attrs",
        "ready_status_gate",
        "vm_name_template",
    }
)
ROLE_KEYS = frozenset(
    {
        "name",
        "cardinality",
        "vm_template",
        "vm_template_contents",
        "vm_name_template",
        "parents",
        "shutdown_action",
        "min_vms",
        "max_vms",
        "cooldown",
        "elasticity_policies",
        "scheduled_policies",
    }
)
_POLICY_KEYS = frozenset({"type", "adjust", "min_adjust_step"})
ELASTICITY_KEYS = _POLICY_KEYS | {"expression", "period_number", "period", "cooldown"}
SCHEDULED_KEYS = _POLICY_KEYS | {"start_time", "recurrence"}


class _Errors(list):
    def add(self, path: str, message: str) -> None:
        self.append(f"{path}: {message}")

    def unknown_keys(self, doc: Body, allowed: frozenset[str], path: str) -> None:
        for key in doc:
            if key not in allowed:
                self.add(
                    f"{path}.{pool.shorten(str(key))}",
                    f"unknown key; the keys here are {', '.join(sorted(allowed))}",
                )


def _int(
    errors: _Errors, doc: Body, key: str, path: str, low: int | None = 0, high: int = 2**31 - 1
) -> int | None:
    if key not in doc:
        return None
    value = doc[key]
    if not isinstance(value, int) or isinstance(value, bool):
        errors.add(f"{path}.{key}", f"must be an integer, got {value!r}")
        return None
    if low is not None and value < low:
        errors.add(f"{path}.{key}", f"must be {low} or more, got {value}")
        return None
    if value > high:
        errors.add(f"{path}.{key}", f"must be at most {high}, got {value}")
        return None
    return value


def _str(errors: _Errors, doc: Body, key: str, path: str, required: bool = False) -> str | None:
    if key not in doc:
        if required:
            errors.add(f"{path}.{key}", "is required")
        return None
    value = doc[key]
    if not isinstance(value, str) or (required and not value.strip()):
        errors.add(f"{path}.{key}", f"must be a non-empty string, got {value!r}")
        return None
    return value


def _name_template(errors: _Errors, doc: Body, path: str) -> None:
    """``vm_name_template`` must number the VMs, or a scale-up would ask for a name
    that exists and never get its VM."""
    value = _str(errors, doc, "vm_name_template", path)
    if value is not None and "$VM_NUMBER" not in value:
        errors.add(f"{path}.vm_name_template", "must contain $VM_NUMBER (names are unique)")


def _policy(errors: _Errors, policy: Any, path: str, scheduled: bool) -> None:
    if not isinstance(policy, dict):
        errors.add(path, "must be an object")
        return
    errors.unknown_keys(policy, SCHEDULED_KEYS if scheduled else ELASTICITY_KEYS, path)
    kind = policy.get("type")
    if kind not in ADJUSTMENTS:
        errors.add(f"{path}.type", f"must be one of {', '.join(ADJUSTMENTS)}, got {kind!r}")
    if "adjust" not in policy:
        errors.add(f"{path}.adjust", "is required")
    else:
        _int(errors, policy, "adjust", path, low=0 if kind == "CARDINALITY" else None)
    _int(errors, policy, "min_adjust_step", path, low=1)
    if scheduled:
        times = [key for key in ("start_time", "recurrence") if _str(errors, policy, key, path)]
        if not times:
            errors.add(path, "needs start_time or recurrence")
        elif len(times) == 2:
            errors.add(path, "give start_time or recurrence, not both")
        elif times == ["recurrence"]:
            _checked(
                errors, f"{path}.recurrence", flow_policies.check_recurrence, policy["recurrence"]
            )
        else:
            _checked(
                errors, f"{path}.start_time", flow_policies.check_start_time, policy["start_time"]
            )
    else:
        expression = _str(errors, policy, "expression", path, required=True)
        if expression is not None:
            _checked(errors, f"{path}.expression", expressions.check, expression)
        _int(errors, policy, "period_number", path)
        _int(errors, policy, "period", path)
        _int(errors, policy, "cooldown", path)


def _checked(errors: _Errors, path: str, check: Callable[[str], Any], value: str) -> None:
    try:
        check(value)
    except InvalidInput as err:
        errors.add(path, str(err))


def _role(errors: _Errors, role: Any, path: str) -> str | None:
    if not isinstance(role, dict):
        errors.add(path, "must be an object")
        return None
    errors.unknown_keys(role, ROLE_KEYS, path)
    name = _str(errors, role, "name", path, required=True)
    if name is not None and not _ROLE_NAME.match(name):
        errors.add(f"{path}.name", f"may hold only ASCII letters, digits and _, got {name!r}")
        name = None
    if "vm_template" not in role:
        errors.add(f"{path}.vm_template", "is required (the id of a VM template)")
    else:
        _int(errors, role, "vm_template", path)
    cardinality = _int(errors, role, "cardinality", path, high=MAX_VMS)
    low = _int(errors, role, "min_vms", path, high=MAX_VMS)
    high = _int(errors, role, "max_vms", path, high=MAX_VMS)
    _int(errors, role, "cooldown", path)
    contents = _str(errors, role, "vm_template_contents", path)
    if contents is not None:
        _checked(errors, f"{path}.vm_template_contents", template.parse, contents)
    _name_template(errors, role, path)
    if "shutdown_action" in role and role["shutdown_action"] not in SHUTDOWN_ACTIONS:
        errors.add(f"{path}.shutdown_action", "must be 'shutdown' or 'shutdown-hard'")
    parents = role.get("parents", [])
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        errors.add(f"{path}.parents", "must be a list of role names")
    count = 1 if cardinality is None else cardinality
    if low is not None and high is not None and low > high:
        errors.add(path, f"min_vms ({low}) is more than max_vms ({high})")
    elif low is not None and count < low:
        errors.add(f"{path}.cardinality", f"{count} is below min_vms ({low})")
    elif high is not None and count > high:
        errors.add(f"{path}.cardinality", f"{count} is above max_vms ({high})")
    for key, scheduled in (("elasticity_policies", False), ("scheduled_policies", True)):
        policies = role.get(key, [])
        if not isinstance(policies, list):
            errors.add(f"{path}.{key}", "must be a list")
            continue
        if policies and (low is None or high is None):
            errors.add(path, f"a role with {key} must set min_vms and max_vms")
        for i, policy in enumerate(policies):
            _policy(errors, policy, f"{path}.{key}[{i}]", scheduled)
    return name


def _cycle(roles: list[Body]) -> list[str] | None:
    """A dependency cycle among the roles (names, first repeated last), or None."""
    parents = {r["name"]: list(r.get("parents", [])) for r in roles}
    done: set[str] = set()

    def visit(path: list[str]) -> list[str] | None:
        for parent in parents.get(path[-1], []):
            if parent in path:
                return [*path[path.index(parent) :], parent]
            if parent not in done:
                found = visit([*path, parent])
                if found:
                    return found
        done.add(path[-1])
        return None

    for name in parents:
        found = None if name in done else visit([name])
        if found:
            return found
    return None


def validate(doc: Any) -> Body:
    """The document, checked, with OneFlow's defaults filled in; InvalidInput lists every
    error found."""
    if not isinstance(doc, dict):
        raise InvalidInput("a service template must be a JSON object")
    errors = _Errors()
    errors.unknown_keys(doc, TEMPLATE_KEYS, "template")
    _str(errors, doc, "name", "template", required=True)
    _str(errors, doc, "description", "template")
    if "ready_status_gate" in doc and not isinstance(doc["ready_status_gate"], bool):
        errors.add("template.ready_status_gate", "must be true or false")
    if doc.get("deployment", "none") not in DEPLOYMENTS:
        errors.add(
            "template.deployment", f"must be 'none' or 'straight', got {doc['deployment']!r}"
        )
    if "shutdown_action" in doc and doc["shutdown_action"] not in SHUTDOWN_ACTIONS:
        errors.add("template.shutdown_action", "must be 'shutdown' or 'shutdown-hard'")
    _name_template(errors, doc, "template")
    if "custom_attrs" in doc and not isinstance(doc["custom_attrs"], dict):
        errors.add("template.custom_attrs", "must be an object")
    roles = doc.get("roles")
    if not isinstance(roles, list) or not roles:
        errors.add("template.roles", "must be a non-empty list of roles")
        roles = []
    names: dict[str, int] = {}
    for i, role in enumerate(roles):
        name = _role(errors, role, f"roles[{i}]")
        if name is None:
            continue
        if name in names:
            errors.add(f"roles[{i}].name", f"duplicate role {name!r} (also roles[{names[name]}])")
        names.setdefault(name, i)
    for i, role in enumerate(roles):
        if isinstance(role, dict) and isinstance(role.get("parents"), list):
            for parent in role["parents"]:
                if isinstance(parent, str) and parent not in names:
                    errors.add(f"roles[{i}].parents", f"unknown role {parent!r}")
                elif parent == role.get("name"):
                    errors.add(f"roles[{i}].parents", "a role cannot be its own parent")
    well_formed = [
        r
        for r in roles
        if isinstance(r, dict)
        and isinstance(r.get("name"), str)
        and isinstance(r.get("parents", []), list)
        and all(isinstance(p, str) for p in r.get("parents", []))
    ]
    cycle = _cycle(well_formed)
    if cycle:
        errors.add("template.roles", f"dependency cycle: {' -> '.join(cycle)}")
    if errors:
        raise InvalidInput("the service template is not valid: " + "; ".join(errors))
    checked = copy.deepcopy(doc)
    checked.setdefault("deployment", "none")
    for role in checked["roles"]:
        role.setdefault("cardinality", 1)
        role.setdefault("parents", [])
        role.setdefault("elasticity_policies", [])
        role.setdefault("scheduled_policies", [])
    return checked


def check_merge(merge: Body) -> Body:
    """A ``merge_template`` holds template keys only, never what a service keeps for
    itself (UID, state, nodes...); each other key is refused with its path. Returns the
    keys to merge over the template.

    OneFlow's clients send two keys that ask for nothing when empty, and they are
    dropped: ``"name": ""`` (community.general's ``one_service`` without a
    service_name; the service keeps the template's name, as every service did in 4.6)
    and ``"custom_attrs_values": {}`` (later versions' values of ``custom_attrs``; onekit
    applies none, so values are refused rather than ignored)."""
    merge = dict(merge)
    if merge.get("name") == "":
        del merge["name"]
    values = merge.pop("custom_attrs_values", {})
    errors = _Errors()
    if values != {}:
        given = sorted(values) if isinstance(values, dict) else values
        errors.add(
            "merge_template.custom_attrs_values",
            "custom attribute values are not applied by onekit; send {} "
            f"(got {pool.shorten(repr(given))})",
        )
    errors.unknown_keys(merge, TEMPLATE_KEYS, "merge_template")
    if errors:
        raise InvalidInput("; ".join(errors))
    return merge


def _document(doc: Any) -> Body:
    if isinstance(doc, (str, bytes)):
        doc = parse_json(doc, "the service template")
    return validate(doc)


# ---- the pool -------------------------------------------------------------------------
def _get(w: AuthTx, ref: Ref, lock: bool = False) -> Body:
    return documents.get(w.tx, ref, SERVICE_TEMPLATE, lock)


def _by_name(w: AuthTx, name: str, uid: int) -> Body | None:
    """The caller's template of that name (several: the module cannot tell which)."""
    rows = w.tx.rows(
        "SELECT oid FROM document_pool WHERE name = ? AND uid = ? AND type = ?",
        (name, uid, SERVICE_TEMPLATE),
    )
    if len(rows) > 1:
        ids = ", ".join(str(r[0]) for r in rows)
        raise Conflict(f"service templates {ids} are all named {name!r}; delete or rename one")
    return pool.get(w.tx, schema.DOCUMENTS, rows[0][0], lock=True) if rows else None


def check_usable(w: AuthTx, body: Body) -> None:
    """What only the caller's rights decide, checked when a template is written and when
    a service is made of it: the caller may USE every role's VM template, and a role's
    ``vm_template_contents`` holds no attribute only administrators may write."""
    for i, role in enumerate(body["roles"]):
        tpl = pool.get(w.tx, schema.TEMPLATES, role["vm_template"])
        if tpl is None:
            raise NotFound(
                f"roles[{i}].vm_template: role {role['name']!r}: VM template "
                f"{role['vm_template']} does not exist"
            )
        w.authorize(objects.target(schema.TEMPLATES, tpl), Right.USE)
        contents = template.parse(role.get("vm_template_contents") or "")
        vms.check_restricted(w.subject, contents, f"roles[{i}].vm_template_contents")


def create(session: Session, doc: Any) -> Body:
    """``oneflow-template create my_service.json``."""
    body = _document(doc)
    with session.write() as w:
        check_usable(w, body)
        return _insert(w, body)


def _insert(w: AuthTx, body: Body) -> Body:
    fields = {"TYPE": SERVICE_TEMPLATE, "REGTIME": int(time.time()), "TEMPLATE": {"BODY": body}}
    return objects.create_in(w, schema.DOCUMENTS, body["name"], fields)


def update(session: Session, ref: Ref, doc: Any) -> Body:
    body = _document(doc)
    with session.write() as w:
        current = _get(w, ref, lock=True)
        w.authorize(objects.target(schema.DOCUMENTS, current), Right.MANAGE)
        check_usable(w, body)
        current["TEMPLATE"]["BODY"] = body
        current["NAME"] = body["name"]
        return pool.update(w.tx, schema.DOCUMENTS, current)


def show(session: Session, ref: Ref) -> Body:
    with session.read() as w:
        body = _get(w, ref)
        w.authorize(objects.target(schema.DOCUMENTS, body), Right.USE)
        return body


def list_templates(session: Session, start: int = 0, page_size: int | None = None) -> list[Body]:
    """The service templates the caller may use from id ``start`` (one page with
    ``page_size``)."""
    return objects.list_visible(
        session, schema.DOCUMENTS, "type = ?", (SERVICE_TEMPLATE,), start, page_size
    )


def delete(session: Session, ref: Ref) -> Body:
    with session.write() as w:
        body = _get(w, ref, lock=True)
        w.authorize(objects.target(schema.DOCUMENTS, body), Right.MANAGE)
        pool.delete(w.tx, schema.DOCUMENTS, body["ID"])
        return body


def chown(session: Session, ref: Ref, owner: Ref | None, group: Ref | None = None) -> Body:
    with session.write() as w:
        body = _get(w, ref, lock=True)
        objects.chown_in(w, schema.DOCUMENTS, body, owner, group)
        return pool.update(w.tx, schema.DOCUMENTS, body)


def chmod(session: Session, ref: Ref, mode: str | int) -> Body:
    with session.write() as w:
        body = _get(w, ref, lock=True)
        objects.chmod_in(w, schema.DOCUMENTS, body, mode)
        return pool.update(w.tx, schema.DOCUMENTS, body)


def ensure(
    session: Session,
    doc: Any,
    state: str = "present",
    dry_run: bool = False,
    mode: str | None = None,
) -> tuple[bool, Body | None, Body | None]:
    """The caller's template named ``doc["name"]`` present with exactly ``doc`` (and
    ``mode``, if given), or absent (``doc`` may then be just ``{"name": ...}``); returns
    (changed, before, after)."""
    pool.check_state(state)
    if isinstance(doc, (str, bytes)):
        doc = parse_json(doc, "the service template")
    name = doc.get("name") if isinstance(doc, dict) else None
    if not isinstance(name, str) or not name:
        raise InvalidInput("the service template needs a name")
    body = validate(doc) if state == "present" else None
    if mode is not None:
        Permissions.from_octal(mode)
    with session.write(dry_run=dry_run) as w:
        current = _by_name(w, name, session.subject.uid)
        before = copy.deepcopy(current)
        if current is not None:
            w.authorize(objects.target(schema.DOCUMENTS, current), Right.MANAGE)
        if state == "absent":
            if current is None:
                return False, None, None
            pool.delete(w.tx, schema.DOCUMENTS, current["ID"])
            return True, before, None
        check_usable(w, body)
        if current is None:
            current = _insert(w, body)
            if mode is not None:
                objects.chmod_in(w, schema.DOCUMENTS, current, mode)
                pool.update(w.tx, schema.DOCUMENTS, current)
            return True, None, current
        current["TEMPLATE"]["BODY"] = body
        if mode is not None and Permissions.from_json(current["PERMISSIONS"]).octal() != mode:
            objects.chmod_in(w, schema.DOCUMENTS, current, mode)
        if current == before:
            return False, before, current
        return True, before, pool.update(w.tx, schema.DOCUMENTS, current)

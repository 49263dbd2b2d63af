"""EC2 tags of onekit objects: kept as ``EC2_TAGS`` in a VM's USER_TEMPLATE or an image's
TEMPLATE, as 4.6 keeps them, but as the JSON text of ``{key: value}``: a tag key may hold
any character (``aws:cloudformation:stack-name``, spaces), which a template attribute name
may not.

The actions (CreateTags, DeleteTags, DescribeTags) tag instances (``i-``), AMIs
(``ami-``), volumes (``vol-``) and snapshots (``snap-``; an image is of the kind its
TEMPLATE flags: ``EC2_AMI``, ``EBS_VOLUME``, ``EBS_SNAPSHOT`` = YES) that the caller may
MANAGE; any other is the kind's NotFound. Tags are written through the object's own
update (``vms.update_user_template``, ``images.update``), after every resource of the
request and AWS's limits were checked: a refused request changes nothing. DescribeTags
lists the tags of the instances and images the caller may see.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.schema import PoolSpec
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import VmState
from ansible_collections.onekit.cloud.plugins.module_utils.econe import filters, ids, kinds, paging
from ansible_collections.onekit.cloud.plugins.module_utils.econe.call import Call
from ansible_collections.onekit.cloud.plugins.module_utils.econe.errors import Ec2Error
from ansible_collections.onekit.cloud.plugins.module_utils.objects import images
from ansible_collections.onekit.cloud.plugins.module_utils.vm import vms

Body = dict[str, Any]

ATTRIBUTE = "EC2_TAGS"


def read(tpl: dict[str, Any]) -> dict[str, str]:
    raw = tpl.get(ATTRIBUTE)
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def write(tpl: dict[str, Any], tags: dict[str, str]) -> None:
    if tags:
        tpl[ATTRIBUTE] = json.dumps(tags, sort_keys=True, ensure_ascii=False)
    else:
        tpl.pop(ATTRIBUTE, None)


def tag_set(tpl: dict[str, Any]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(read(tpl).items())]


# ---- the actions: CreateTags, DeleteTags, DescribeTags ----------------------------------
# AWS's limits
MAX_KEY = 128
MAX_VALUE = 256
MAX_TAGS = 50
TAG_FILTERS = ("resource-id", "resource-type", "key", "value")


@dataclass(frozen=True)
class Kind:
    """A taggable resource kind: its ids and codes (``econe.kinds``), its pool and
    DescribeTags' type name."""

    ids: kinds.Kind
    spec: PoolSpec
    type_name: str

    @property
    def prefix(self) -> str:
        return self.ids.prefix

    @property
    def flag(self) -> str | None:
        return self.ids.flag


KINDS = (
    Kind(kinds.INSTANCES, schema.VMS, "instance"),
    Kind(kinds.AMIS, schema.IMAGES, "image"),
    Kind(kinds.VOLUMES, schema.IMAGES, "volume"),
    Kind(kinds.SNAPSHOTS, schema.IMAGES, "snapshot"),
)


def _kind_of(body: Body, spec: PoolSpec) -> Kind | None:
    for kind in KINDS:
        if kind.spec is spec and (
            kind.flag is None or str(body["TEMPLATE"].get(kind.flag, "")).upper() == "YES"
        ):
            return kind
    return None


def _user_template(kind: Kind, body: Body) -> dict:
    return body["USER_TEMPLATE"] if kind.spec is schema.VMS else body["TEMPLATE"]


@dataclass
class Resource:
    text: str  # the id as the request gave it
    kind: Kind
    body: Body


def _resource(w: AuthTx, text: str) -> Resource:
    """A resource the caller may MANAGE; unknown or not the caller's: its NotFound."""
    prefix = text.split("-", 1)[0] if "-" in text else ""
    kind = next((k for k in KINDS if k.prefix == prefix), None)
    if kind is None:
        raise Ec2Error(
            "InvalidID", f"{text!r} is not the id of an instance, image, volume or snapshot"
        )
    number = ids.parse_id(kind.prefix, text, kind.ids.malformed)
    try:
        body = pool.resolve(w.tx, kind.spec, number)
        w.authorize(objects.target(kind.spec, body), Right.MANAGE)
    except (NotFound, AuthorizationError):
        body = None
    if body is None or _kind_of(body, kind.spec) is not kind or _gone(kind, body):
        raise Ec2Error(kind.ids.not_found, f"the ID {text!r} does not exist")
    return Resource(text, kind, body)


def _gone(kind: Kind, body: Body) -> bool:
    return kind.spec is schema.VMS and body["STATE"] == VmState.DONE


def _resources(call: Call) -> list[Resource]:
    refs = call.params.list("ResourceId")
    if not refs:
        raise Ec2Error("MissingParameter", "the request must contain ResourceId.1")
    with call.session.read() as w:
        return [_resource(w, ref.strip()) for ref in refs]


def _store(call: Call, resource: Resource, tags: dict[str, str]) -> None:
    """Write the tags through the resource's own update (MANAGE checked again there)."""
    tpl: dict = {}
    write(tpl, tags)
    change = {ATTRIBUTE: tpl.get(ATTRIBUTE, "{}")}
    if resource.kind.spec is schema.VMS:
        vms.update_user_template(call.session, resource.body["ID"], change, append=True)
    else:
        images.update(call.session, resource.body["ID"], change, append=True)


def _checked_tags(call: Call, values_required: bool) -> list[tuple[str, str | None]]:
    given = call.params.tags()
    for n, (key, value) in enumerate(given, start=1):
        if not 1 <= len(key) <= MAX_KEY:
            raise Ec2Error(
                "InvalidParameterValue", f"Tag.{n}.Key must be 1 to {MAX_KEY} characters"
            )
        if key.lower().startswith("aws:"):
            raise Ec2Error(
                "InvalidParameterValue", f"Tag.{n}.Key {key[:60]!r}: keys starting aws: are AWS's"
            )
        if value is not None and len(value) > MAX_VALUE:
            raise Ec2Error(
                "InvalidParameterValue", f"Tag.{n}.Value must be at most {MAX_VALUE} characters"
            )
    if values_required and not given:
        raise Ec2Error("MissingParameter", "the request must contain Tag.1.Key")
    return given


def create_tags(call: Call) -> Body:
    """Add or overwrite tags (a missing value is ""), on every resource or none."""
    new = {key: value or "" for key, value in _checked_tags(call, True)}
    changes = []
    for resource in _resources(call):
        tags = {**read(_user_template(resource.kind, resource.body)), **new}
        if len(tags) > MAX_TAGS:
            raise Ec2Error(
                "TagLimitExceeded",
                f"{resource.text} would have {len(tags)} tags; at most {MAX_TAGS}",
            )
        changes.append((resource, tags))
    for resource, tags in changes:
        _store(call, resource, tags)
    return {"return": True}


def delete_tags(call: Call) -> Body:
    """Remove tags by key (any value), by key and value, or all of them (no Tag given)."""
    given = _checked_tags(call, False)
    for resource in _resources(call):
        tags = read(_user_template(resource.kind, resource.body))
        kept = {
            key: value
            for key, value in tags.items()
            if given and not any(k == key and v in (None, value) for k, v in given)
        }
        if kept != tags:
            _store(call, resource, kept)
    return {"return": True}


def describe_tags(call: Call) -> Body:
    """The tags of the instances and images the caller may see, filtered, a page."""
    given = call.params.filters()
    filters.check_names(given, TAG_FILTERS)
    found = []
    bodies = [(schema.VMS, b) for b in vms.list_vms(call.session)]
    bodies += [(schema.IMAGES, b) for b in objects.list_visible(call.session, schema.IMAGES)]
    for spec, body in bodies:
        kind = _kind_of(body, spec)
        if kind is None:
            continue
        resource_id = ids.format_id(kind.prefix, body["ID"])
        for key, value in sorted(read(_user_template(kind, body)).items()):
            item = {
                "resourceId": resource_id,
                "resourceType": kind.type_name,
                "key": key,
                "value": value,
            }
            values = {
                "resource-id": [resource_id],
                "resource-type": [kind.type_name],
                "key": [key],
                "value": [value],
            }
            if filters.matches(given, values):
                found.append(item)
    numbered = list(enumerate(found))  # the token names a place in this order
    chosen, token = paging.page(numbered, call.params, key=lambda pair: pair[0])
    return {"tagSet": [item for _, item in chosen], "nextToken": token}


ACTIONS = {"CreateTags": create_tags, "DeleteTags": delete_tags, "DescribeTags": describe_tags}

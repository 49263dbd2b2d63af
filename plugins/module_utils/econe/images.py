"""EC2 AMIs are onekit images flagged ``EC2_AMI = YES`` in their TEMPLATE (as 4.6 flags
them): UploadImage copies a file into the datastore as one, RegisterImage flags an
existing image, DescribeImages lists those the caller may USE.

- **Ids**: image 1 is ``ami-00000001``; RegisterImage's ``ImageLocation`` is the image's
  id, as a number or an ``ami-`` id, read by its value (4.6 read ``ami-00000001`` as 0).
- **States** (4.6's map): INIT/LOCKED pending, READY/USED/CLONE available, USED_PERS in-use,
  ERROR failed; a DISABLED image (or one being deleted) is not listed.
- **Name** is what RegisterImage was given (``EC2_NAME``; boto3 requires one), else the
  uploaded file's name, else the image's NAME; ``Description`` is the image's DESCRIPTION.
  Both are kept verbatim: any text is data.

The lookups here (an id the caller may not USE reads as one that does not exist, so no
other user's image is revealed) serve volumes and snapshots too (``econe.volumes``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import ImageState
from ansible_collections.onekit.cloud.plugins.module_utils.econe import filters, ids, paging, tags
from ansible_collections.onekit.cloud.plugins.module_utils.econe.call import Call
from ansible_collections.onekit.cloud.plugins.module_utils.econe.errors import Ec2Error, invalid
from ansible_collections.onekit.cloud.plugins.module_utils.econe.kinds import (
    AMI,
    AMIS,
    Kind,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import images

Body = dict[str, Any]
NAME = "EC2_NAME"
HIDDEN = (ImageState.DISABLED, ImageState.DELETE)
MAX_NAME = 128  # characters of an AMI name (AWS's limit)
MAX_DESCRIPTION = 255
STATES = {
    ImageState.INIT: "pending",
    ImageState.LOCKED: "pending",
    ImageState.READY: "available",
    ImageState.USED: "available",
    ImageState.CLONE: "available",
    ImageState.USED_PERS: "in-use",
    ImageState.ERROR: "failed",
}
FILTERS = (
    "image-id",
    "name",
    "state",
    "is-public",
    "owner-id",
    "description",
    "architecture",
    "image-type",
    "tag:",
    "tag-key",
)
ARCHITECTURE = "x86_64"  # as econe.instances says of the instances


# ---- lookups (AMIs, volumes, snapshots) -----------------------------------------------------
def flagged(image: Body, flag: str) -> bool:
    return str((image.get("TEMPLATE") or {}).get(flag, "")).upper() == "YES"


def state_of(image: Body) -> ImageState:
    return ImageState(image.get("STATE", images.READY))


def shown(image: Body, flag: str) -> bool:
    """Is the image one of EC2's ``flag`` kind, in a state EC2 lists?"""
    return flagged(image, flag) and state_of(image) not in HIDDEN


def listed(call: Call, flag: str) -> list[Body]:
    """The images of EC2's ``flag`` kind the caller may USE."""
    return [i for i in objects.list_visible(call.session, schema.IMAGES) if shown(i, flag)]


def find(call: Call, text: str, kind: Kind) -> Body:
    """The image an EC2 id names (``ami-1``, ``vol-00000003``), of that kind and visible
    to the caller; anything else is the kind's not-found code (``.Malformed`` for an id
    that is not one)."""
    return find_all(call, [text], kind)[0]


def find_all(call: Call, texts: Iterable[str], kind: Kind) -> list[Body]:
    prefix, flag, not_found = kind.prefix, kind.flag, kind.not_found
    wanted = [ids.parse_id(prefix, text, kind.malformed) for text in texts]
    found: dict[int, Body] = {}
    for number in dict.fromkeys(wanted):
        try:
            image = objects.show(call.session, schema.IMAGES, number)
        except (NotFound, AuthorizationError):  # another user's: as if it did not exist
            continue
        if shown(image, flag):
            found[number] = image
    absent = [ids.format_id(prefix, n) for n in dict.fromkeys(wanted) if n not in found]
    if absent:
        verb = "do" if len(absent) > 1 else "does"
        raise Ec2Error(not_found, f"The id '{', '.join(absent)}' {verb} not exist")
    return [found[n] for n in dict.fromkeys(wanted)]


def owner_matches(image: Body, owners: list[str], uid: int) -> bool:
    """``Owner.N``: ``self``, a user name or a user id."""
    if not owners:
        return True
    mine = {str(image["UID"]), str(image["UNAME"])}
    return any((o == "self" and image["UID"] == uid) or o in mine for o in owners)


def is_public(image: Body) -> bool:
    return str((image.get("PERMISSIONS") or {}).get("OTHER_U", "0")) == "1"


def text_param(call: Call, name: str, limit: int, required: bool = False) -> str | None:
    value = call.params.required(name) if required else call.params.get(name)
    if value is not None and len(value) > limit:
        raise invalid(name, value, f"It is at most {limit} characters.")
    return value


def new_name() -> str:
    """The onekit name of an image EC2 makes (4.6's ``ec2-<uuid>``)."""
    return f"ec2-{uuid.uuid4()}"


# ---- AMIs -----------------------------------------------------------------------------------
def ami_id(image: Body) -> str:
    return ids.format_id("ami", image["ID"])


def item(image: Body) -> Body:
    tpl = image.get("TEMPLATE") or {}
    return {
        "imageId": ami_id(image),
        "imageLocation": os.path.basename(str(image.get("SOURCE") or image.get("PATH") or "")),
        "imageState": STATES.get(state_of(image), "pending"),
        "imageOwnerId": image["UNAME"],
        "isPublic": is_public(image),
        "architecture": ARCHITECTURE,
        "imageType": "machine",
        "name": tpl.get(NAME) or image["NAME"],
        "description": tpl.get("DESCRIPTION"),
        "creationDate": ids.iso_time(image.get("REGTIME")),
        "rootDeviceType": "instance-store",
        "virtualizationType": "hvm",
        "hypervisor": "xen",
        "blockDeviceMapping": [],
        "tagSet": tags.tag_set(tpl),
    }


def _filter_values(image: Body) -> dict[str, list[str]]:
    shown_item = item(image)
    values = {
        "image-id": [shown_item["imageId"]],
        "name": [shown_item["name"]],
        "state": [shown_item["imageState"]],
        "is-public": ["true" if shown_item["isPublic"] else "false"],
        "owner-id": [image["UNAME"], str(image["UID"])],
        "description": [d for d in [shown_item["description"]] if d is not None],
        "architecture": [ARCHITECTURE],
        "image-type": ["machine"],
    }
    values.update(filters.tag_values(tags.read(image.get("TEMPLATE") or {})))
    return values


@dataclass(frozen=True)
class Listing:
    """How a Describe action of a kind reads its request and writes its answer."""

    kind: Kind
    id_param: str  # ImageId, VolumeId, SnapshotId (.N)
    filters: tuple[str, ...]  # the filter names it knows
    values: Callable[[Body], dict[str, list[str]]]  # an image's values for them
    item: Callable[[Body], Body]  # an image as the answer shows it
    result: str  # the answer's list: imagesSet, volumeSet, snapshotSet
    by_owner: bool = False  # Owner.N applies


def describe(call: Call, listing: Listing) -> Body:
    """DescribeImages/Volumes/Snapshots: the images named (every one must be found) or
    all of the kind the caller may see, filtered, one page of them."""
    params = call.params
    wanted = params.list(listing.id_param)
    given = params.filters()
    filters.check_names(given, listing.filters)
    chosen = find_all(call, wanted, listing.kind) if wanted else listed(call, listing.kind.flag)
    owners = params.list("Owner") if listing.by_owner else []
    uid = call.session.subject.uid
    chosen = [
        i
        for i in chosen
        if owner_matches(i, owners, uid) and filters.matches(given, listing.values(i))
    ]
    page, token = paging.page(chosen, params, key=lambda i: i["ID"])
    return {listing.result: [listing.item(i) for i in page], "nextToken": token}


def describe_images(call: Call) -> Body:
    return describe(
        call, Listing(AMIS, "ImageId", FILTERS, _filter_values, item, "imagesSet", by_owner=True)
    )


def _location(text: str) -> int:
    """RegisterImage's ImageLocation: an image id, ``7`` or ``ami-00000007``."""
    if text.strip().isdigit() and int(text) <= ids.MAX_ID:
        return int(text)
    return ids.parse_id("ami", text.strip(), "InvalidAMIID")


def register_image(call: Call) -> Body:
    """Flag an image the caller may MANAGE as an AMI (``EC2_AMI = YES``), with its name
    and description."""
    name = text_param(call, "Name", MAX_NAME, required=True)
    description = text_param(call, "Description", MAX_DESCRIPTION)
    number = _location(call.params.required("ImageLocation"))
    try:
        image = objects.show(call.session, schema.IMAGES, number)
    except (NotFound, AuthorizationError):
        image = None
    if image is None or state_of(image) in HIDDEN:
        location = call.params.get("ImageLocation", "")[:40]
        raise Ec2Error("InvalidAMIID.NotFound", f"The image id '[{location}]' does not exist")
    attributes = {AMI: "YES", NAME: name}
    if description is not None:
        attributes["DESCRIPTION"] = description
    images.update(call.session, image["ID"], attributes, append=True)
    return {"imageId": ami_id(image)}


def upload_image(call: Call) -> Body:
    """UploadImage (econe's own action): the request's file as a new AMI of the caller, in
    econe.conf's ``:datastore_id:``, named as 4.6 names it (``ec2-<uuid>``)."""
    if call.upload is None:
        raise Ec2Error("MissingParameter", "The upload must contain a part named file")
    attributes = {AMI: "YES"}
    if call.upload_name:
        attributes[NAME] = call.upload_name[:MAX_NAME]
    image = images.upload(
        call.session,
        new_name(),
        call.upload,
        datastore=call.config.datastore_id,
        attributes=attributes,
    )
    return {"imageId": ami_id(image)}


ACTIONS = {
    "UploadImage": upload_image,
    "RegisterImage": register_image,
    "DescribeImages": describe_images,
}

"""STORAGE resources: images of the datastore (``:datastore_id:``), made from an
uploaded file or as an empty DATABLOCK, through the core's image registry
(``objects.images``) as the caller."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from typing import IO, Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import ImageState
from ansible_collections.onekit.cloud.plugins.module_utils.objects import images
from ansible_collections.onekit.cloud.plugins.module_utils.occi import sharing
from ansible_collections.onekit.cloud.plugins.module_utils.occi.config import OcciConfig
from ansible_collections.onekit.cloud.plugins.module_utils.occi.hrefs import flag, text

Body = dict[str, Any]
READY_WAIT = 120.0  # seconds a POST waits for its image to leave LOCKED (4.6 had no bound)


def _ready(session: Session, image: Body, timeout: float = READY_WAIT) -> Body:
    """The image once it is no longer LOCKED (4.6's POST waited so); as it is after
    ``timeout``. onekit copies before it answers, so this rarely waits."""
    deadline = time.monotonic() + timeout
    while image.get("STATE") == ImageState.LOCKED and time.monotonic() < deadline:
        time.sleep(0.2)
        image = objects.show(session, schema.IMAGES, image["ID"])
    return image


def create(session: Session, config: OcciConfig, doc: ET.Element, upload: IO[bytes] | None) -> Body:
    """POST /storage: the STORAGE document's NAME, TYPE, DESCRIPTION, PERSISTENT and
    PUBLIC, with the uploaded file, or an empty DATABLOCK of SIZE MB and FSTYPE."""
    name = text(doc, "NAME")
    if not name:
        raise InvalidInput("STORAGE/NAME is missing: every storage needs a name")
    kind = (text(doc, "TYPE") or ("OS" if upload is not None else "DATABLOCK")).upper()
    if kind not in images.TYPES:
        raise InvalidInput(f"STORAGE/TYPE {kind[:20]!r} is unknown: use {', '.join(images.TYPES)}")
    persistent = bool(flag(doc, "PERSISTENT"))
    public = flag(doc, "PUBLIC")
    description = text(doc, "DESCRIPTION")
    if upload is not None:
        image = images.upload(
            session, name, upload, kind, persistent, description, config.datastore_id
        )
    elif kind == "DATABLOCK":
        tpl: Body = {"NAME": name, "TYPE": kind, "PERSISTENT": "YES" if persistent else "NO"}
        for key in ("SIZE", "FSTYPE", "DESCRIPTION"):
            value = text(doc, key)
            if value is not None:
                tpl[key] = value
        if "SIZE" not in tpl:
            raise InvalidInput("STORAGE/SIZE (MB) is missing: a DATABLOCK needs its size")
        image = images.create(session, tpl, config.datastore_id)
    else:
        raise InvalidInput(
            f"a STORAGE of TYPE {kind} needs its file: send it as the multipart part "
            "'file' beside 'occixml' (or make a TYPE DATABLOCK of SIZE MB)"
        )
    if public and sharing.publish(session, schema.IMAGES, image, True):
        image = objects.show(session, schema.IMAGES, image["ID"])  # its new permissions
    return _ready(session, image)


def update(session: Session, image_id: int, doc: ET.Element) -> bool:
    """PUT /storage/<id>: one of PERSISTENT or PUBLIC (both: 400); whether it changed."""
    persistent, public = flag(doc, "PERSISTENT"), flag(doc, "PUBLIC")
    if persistent is not None and public is not None:
        raise InvalidInput("It is not allowed more than one change per request")
    image = objects.show(session, schema.IMAGES, image_id)
    if persistent is not None:
        if bool(image.get("PERSISTENT")) == persistent:
            return False
        images.set_persistent(session, image_id, persistent)
        return True
    if public is not None:
        return sharing.publish(session, schema.IMAGES, image, public)
    return False


def clone(session: Session, image_id: int, action: ET.Element) -> Body:
    """``clone``: a copy named PARAMS/NAME, the caller's (``images.clone``)."""
    name = text(action, "PARAMS/NAME")
    if not name:
        raise InvalidInput("ACTION/PARAMS/NAME is missing: the clone needs a name")
    return _ready(session, images.clone(session, image_id, name))

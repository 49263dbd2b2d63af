"""``IMAGE`` and ``IMAGE_POOL`` (image.xsd, image_pool.xsd).

onekit's image bodies (``objects.images``) keep 4.6's fields; OpenNebula's document
numbers what onekit names (TYPE), and has fields onekit has no use for (snapshots,
backups, the clones in progress: a clone is copied before ``one.image.clone`` answers),
written empty. Every image is in onekit's one image datastore (``objects.datastores``):
an image registered by PATH, used in place, is shown there too.
"""

from __future__ import annotations

from collections.abc import Iterable

from ansible_collections.onekit.cloud.plugins.module_utils.objects import datastores
from onekit.server.rpc2.documents import (
    Body,
    element,
    elements,
    ids,
    ownership,
    permissions,
    pool,
    template,
)

# Image::ImageType of OpenNebula, by onekit's TYPE
IMAGE_TYPES = ("OS", "CDROM", "DATABLOCK", "KERNEL", "RAMDISK", "CONTEXT", "BACKUP")
FILE = 0  # Image::DiskType FILE: every onekit image is a file
# 4.6's FSTYPE held a disk format or a file system; OpenNebula 7 has one field for each
FORMATS = ("raw", "qcow2")


def image_type(kind: object) -> int:
    text = str(kind).upper()
    return IMAGE_TYPES.index(text) if text in IMAGE_TYPES else 0


def _format_and_fs(body: Body) -> str:
    fstype = str(body.get("FSTYPE") or "")
    disk_format = fstype if fstype in FORMATS else "raw"
    return element("FORMAT", disk_format) + element("FS", "" if fstype in FORMATS else fstype)


def _datastore(body: Body) -> str:
    oid = body.get("DATASTORE_ID", datastores.DEFAULT)
    name = body.get("DATASTORE", datastores.NAMES.get(oid, ""))
    return element("DATASTORE_ID", oid) + element("DATASTORE", name)


def image(body: Body) -> str:
    regtime = body.get("REGTIME", 0)
    state = body.get("STATE", 1)
    return (
        "<IMAGE>"
        + ownership(body)
        + permissions(body)
        + element("TYPE", image_type(body.get("TYPE", "OS")))
        + element("DISK_TYPE", FILE)
        + element("PERSISTENT", int(bool(body.get("PERSISTENT"))))
        + element("REGTIME", regtime)
        + element("MODTIME", regtime)
        + elements(body, ("SOURCE", "PATH"))
        + _format_and_fs(body)
        + element("SIZE", body.get("SIZE", 0))
        + element("STATE", state)
        + element("PREV_STATE", state)
        + element("RUNNING_VMS", body.get("RUNNING_VMS", 0))
        + element("CLONING_OPS", 0)
        + element("CLONING_ID", body.get("CLONING_ID", -1))
        + element("TARGET_SNAPSHOT", -1)
        + _datastore(body)
        + ids("VMS", body.get("VMS") or ())
        + ids("CLONES", ())
        + ids("APP_CLONES", ())
        + template(body.get("TEMPLATE") or {})
        + "<SNAPSHOTS><ALLOW_ORPHANS>NO</ALLOW_ORPHANS><CURRENT_BASE>-1</CURRENT_BASE>"
        + "<NEXT_SNAPSHOT>0</NEXT_SNAPSHOT></SNAPSHOTS>"
        + "<BACKUP_INCREMENTS/>"
        + "</IMAGE>"
    )


def image_pool(bodies: Iterable[Body]) -> str:
    return pool("IMAGE_POOL", (image(b) for b in bodies))

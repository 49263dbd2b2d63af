"""Images: named disk files a VM template's ``DISK = [ IMAGE = "name" ]`` refers to.

A minimal image registry: an image is a path on the hosts (``PATH``) and a ``TYPE`` (OS,
CDROM, DATABLOCK). Instantiation turns each ``IMAGE``/``IMAGE_ID`` disk into a ``SOURCE``
the driver can attach; a template naming an image that does not exist, or that its owner
may not USE, is refused then.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    Conflict,
    InvalidInput,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import VmState

Body = dict[str, Any]
TYPES = ("OS", "CDROM", "DATABLOCK")
READY = 1


def create(session: Session, tpl: template.Source) -> Body:
    """``oneimage create`` with ``NAME``, ``PATH`` (absolute, on the hosts), ``TYPE``.

    A path names any file on the hosts, so only members of the oneadmin group register
    images (oned restricts SOURCE the same way); users then use them by name."""
    if not session.subject.is_admin:
        raise AuthorizationError(
            f"user {session.subject.name} [{session.subject.uid}] is not authorized to "
            "register an image by PATH: only members of the oneadmin group may"
        )
    tpl = template.load(tpl, "an image template")
    name = tpl.pop("NAME", None)
    path = tpl.get("PATH") or tpl.get("SOURCE")
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidInput(
            "image PATH must be an absolute path on the hosts, e.g. "
            'PATH = "/var/lib/images/debian.qcow2"'
        )
    kind = str(tpl.get("TYPE", "OS")).upper()
    if kind not in TYPES:
        raise InvalidInput(f"image TYPE {kind!r} is unknown; use one of {', '.join(TYPES)}")
    fields = {"TYPE": kind, "PATH": path, "STATE": READY, "TEMPLATE": tpl}
    return objects.create(session, schema.IMAGES, name, fields)


def delete(session: Session, ref: int | str) -> Body:
    with session.write() as w:
        image = pool.resolve(w.tx, schema.IMAGES, ref, lock=True)
        w.authorize(objects.target(schema.IMAGES, image), Right.MANAGE)
        users = [
            vm["ID"]
            for vm in pool.all_bodies(w.tx, schema.VMS, "state != ?", (int(VmState.DONE),))
            if any(
                isinstance(d, dict) and d.get("IMAGE_ID") == str(image["ID"])
                for d in template.as_list(vm["TEMPLATE"], "DISK")
            )
        ]
        if users:
            raise Conflict(f"image {image['NAME']} is used by VMs {', '.join(map(str, users))}")
        pool.delete(w.tx, schema.IMAGES, image["ID"])
        return image


def resolve_disk(w: AuthTx, disk: dict[str, str]) -> dict[str, str]:
    """A template DISK with its image resolved to ``SOURCE`` (USE on the image needed)."""
    ref = disk.get("IMAGE_ID", disk.get("IMAGE"))
    if ref is None:
        if not disk.get("SOURCE"):
            raise InvalidInput("a DISK needs IMAGE, IMAGE_ID or SOURCE (a path on the hosts)")
        return dict(disk)
    try:
        image = pool.resolve(w.tx, schema.IMAGES, ref)
    except NotFound as err:
        raise NotFound(f"DISK refers to an image that does not exist: {err}") from None
    w.authorize(objects.target(schema.IMAGES, image), Right.USE)
    resolved = {
        **disk,
        "SOURCE": image["PATH"],
        "IMAGE": image["NAME"],
        "IMAGE_ID": str(image["ID"]),
    }
    if image["TYPE"] == "CDROM":
        resolved.setdefault("TYPE", "cdrom")
    return resolved

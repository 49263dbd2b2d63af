"""Images: named disk files a VM template's ``DISK = [ IMAGE = "name" ]`` refers to.

Two kinds, by where the file is:

* registered by ``PATH``: a file on the hosts, used in place (only the oneadmin group may
  name a path: it could be any file of the hosts);
* owned by a datastore (``objects.datastores``): an upload, an empty DATABLOCK or a clone,
  a file onekit made under the instance's home, named by a uuid. Any user allowed to
  CREATE images makes them (the default ACL gives the users group that), and deleting
  the image removes its file.

An image has 4.6's ``STATE`` (``core.states.ImageState``): LOCKED while its file is being
copied, READY, USED (USED_PERS for a persistent one) while VMs use it, DISABLED. A VM
*takes* each image of its disks when it is allocated and *gives it back* when it is DONE
(``take``/``give_back``, which disk hot-plug calls too); ``RUNNING_VMS`` and ``VMS`` say
who uses it. A persistent image (``PERSISTENT = 1``) is used by one VM at most.

Instantiation turns each ``IMAGE``/``IMAGE_ID`` disk into a ``SOURCE`` the driver can
attach; a template naming an image that does not exist, or that its owner may not USE,
is refused then.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, BinaryIO

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    Conflict,
    InvalidInput,
    NotFound,
    OneError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import ImageState, VmState
from ansible_collections.onekit.cloud.plugins.module_utils.objects import datastores

Body = dict[str, Any]
Ref = int | str
TYPES = ("OS", "CDROM", "DATABLOCK")
READY = int(ImageState.READY)
MAX_SIZE_MB = 16 * 1024 * 1024  # 16 TiB, the largest EBS volume
FSTYPES = ("raw", "ext2", "ext3", "ext4", "xfs", "vfat", "swap", "qcow2")
# the states a VM may take an image in (a persistent one: READY only)
_USABLE = (ImageState.READY, ImageState.USED)
# what a create template sets on the image itself rather than in its TEMPLATE
_OWN_KEYS = ("NAME", "PERSISTENT", "SIZE", "FSTYPE")


def _kind(value: Any) -> str:
    kind = str(value if value is not None else "OS").strip().upper()
    if kind not in TYPES:
        raise InvalidInput(
            f"image TYPE {pool.shorten(kind)!r} is unknown; use one of {', '.join(TYPES)}"
        )
    return kind


def yes_no(value: Any, field: str) -> bool:
    """A YES/NO attribute (or a bool), e.g. PERSISTENT."""
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "NO").strip().upper()
    if text in ("YES", "1", "TRUE"):
        return True
    if text in ("NO", "0", "FALSE", ""):
        return False
    raise InvalidInput(f"image {field} must be YES or NO, got {pool.shorten(text)!r}")


def check_size(value: Any) -> int:
    """A DATABLOCK's SIZE in MB: a whole number from 1 to MAX_SIZE_MB."""
    text = str(value).strip() if value is not None else ""
    if not text:
        raise InvalidInput("a DATABLOCK without PATH needs SIZE, in MB, e.g. SIZE = 1024")
    if isinstance(value, bool) or not text.isdigit() or not 1 <= int(text) <= MAX_SIZE_MB:
        raise InvalidInput(
            f"image SIZE must be a whole number of MB from 1 to {MAX_SIZE_MB} (16 TiB), "
            f"got {pool.shorten(text)!r}"
        )
    return int(text)


def _fstype(value: Any) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip().lower()
    if text not in FSTYPES:
        raise InvalidInput(
            f"image FSTYPE {pool.shorten(text)!r} is unknown; use one of {', '.join(FSTYPES)}"
        )
    return text


def _fields(kind: str, source: str, persistent: bool, state: ImageState, tpl: Body) -> Body:
    return {
        "TYPE": kind,
        "SOURCE": source,
        "PERSISTENT": int(persistent),
        "STATE": int(state),
        "SIZE": 0,
        "RUNNING_VMS": 0,
        "VMS": [],
        "REGTIME": int(time.time()),
        "TEMPLATE": tpl,
    }


def _in_datastore(fields: Body, datastore: int) -> Body:
    fields["DATASTORE_ID"] = datastore
    fields["DATASTORE"] = datastores.NAMES[datastore]
    return fields


def create(session: Session, tpl: template.Source, datastore: Ref | None = None) -> Body:
    """``oneimage create``: an image from a template.

    * with ``PATH`` (absolute, on the hosts): the file is registered and used in place;
      only members of the oneadmin group may (oned restricts SOURCE the same way);
    * ``TYPE = DATABLOCK``, ``SIZE`` (MB), optional ``FSTYPE``, no PATH: an empty disk, a
      sparse raw file in the datastore; anyone with CREATE on images.

    ``PERSISTENT = YES`` makes it persistent; the rest of the template is its TEMPLATE
    (``DESCRIPTION`` and anything else, kept verbatim)."""
    tpl = template.load(tpl, "an image template")
    ds = datastores.resolve(datastore)  # refused when unknown, whatever the image
    name = tpl.get("NAME")
    kind = _kind(tpl.get("TYPE"))
    persistent = yes_no(tpl.get("PERSISTENT"), "PERSISTENT")
    path = tpl.get("PATH") or tpl.get("SOURCE")
    if path is None and kind == "DATABLOCK":
        return _datablock(session, name, tpl, persistent, ds)
    if path is None:
        raise InvalidInput(
            "an image needs PATH (a file of the hosts; to upload one: oneimage create "
            "--datastore default --path <local file>), or TYPE = DATABLOCK with SIZE (MB)"
        )
    if not session.subject.is_admin:
        raise AuthorizationError(
            f"user {session.subject.name} [{session.subject.uid}] is not authorized to "
            "register an image by PATH: only members of the oneadmin group may (upload the "
            "file instead: oneimage create --datastore default --path <local file>)"
        )
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidInput(
            "image PATH must be an absolute path on the hosts, e.g. "
            'PATH = "/var/lib/images/debian.qcow2"'
        )
    rest = {k: v for k, v in tpl.items() if k not in _OWN_KEYS}
    fields = _fields(kind, path, persistent, ImageState.READY, rest)
    fields["PATH"] = path
    with contextlib.suppress(OSError):  # the hosts' path may not be on the front-end
        fields["SIZE"] = datastores.size_mb(os.path.getsize(path))
    return objects.create(session, schema.IMAGES, name, fields)


def _datablock(session: Session, name: Any, tpl: Body, persistent: bool, ds: int) -> Body:
    """An empty DATABLOCK: the row and its sparse file, both or neither."""
    size = check_size(tpl.get("SIZE"))
    fstype = _fstype(tpl.get("FSTYPE"))
    rest = {k: v for k, v in tpl.items() if k not in _OWN_KEYS}
    path = datastores.new_file(session, ds)
    fields = _in_datastore(_fields("DATABLOCK", str(path), persistent, ImageState.READY, rest), ds)
    fields["SIZE"] = size
    if fstype:
        fields["FSTYPE"] = fstype
    try:
        with session.write() as w:
            body = objects.create_in(w, schema.IMAGES, name, fields)
            datastores.create_sparse(path, size)
    except BaseException:
        datastores.remove(path)
        raise
    return body


def upload(
    session: Session,
    name: str,
    fileobj: BinaryIO,
    type: str = "OS",
    persistent: bool = False,
    description: str | None = None,
    datastore: Ref = datastores.DEFAULT,
    attributes: template.Source | None = None,
) -> Body:
    """Copy a stream (an upload: the CLI's open file, econe's UploadImage) into the
    datastore as a new image of the caller; CREATE on images needed. The image is LOCKED
    while its file is copied, READY with its SIZE after; a failed copy leaves no image
    and no file. ``attributes``: more of its TEMPLATE (econe's ``EC2_AMI``)."""
    ds = datastores.resolve(datastore)
    kind = _kind(type)
    tpl: Body = {"TYPE": kind}
    if attributes is not None:
        tpl.update(template.load(attributes, "the image's attributes"))
        tpl["TYPE"] = kind
    if description is not None:
        tpl["DESCRIPTION"] = _text(description, "DESCRIPTION")
    path = datastores.new_file(session, ds)
    fields = _in_datastore(_fields(kind, str(path), persistent, ImageState.LOCKED, tpl), ds)
    return _copy_in(session, name, fields, path, lambda: datastores.copy_stream(fileobj, path))


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"image {field} must be text")
    return value


def _copy_in(session: Session, name: Any, fields: Body, path: Path, copy: Any) -> Body:
    """The row LOCKED (its name checked and taken), the copy outside any transaction,
    then READY with its SIZE; on any failure the row and the file are removed."""
    with session.write() as w:
        image = objects.create_in(w, schema.IMAGES, name, fields)
    try:
        written = copy()
        with session.write() as w:
            body = pool.get(w.tx, schema.IMAGES, image["ID"], lock=True)
            if body is None or body.get("SOURCE") != str(path):
                raise Conflict(f"image {image['NAME']} was deleted while its file was copied")
            body["SIZE"] = datastores.size_mb(written)
            body["STATE"] = READY
            return pool.update(w.tx, schema.IMAGES, body)
    except BaseException:
        _discard(session, image["ID"], path)
        raise


def _discard(session: Session, image_id: int, path: Path) -> None:
    """Remove a LOCKED image whose copy failed, and its file."""
    datastores.remove(path)
    with contextlib.suppress(OneError), session.write() as w:
        body = pool.get(w.tx, schema.IMAGES, image_id, lock=True)
        if body is not None and body.get("SOURCE") == str(path):
            pool.delete(w.tx, schema.IMAGES, image_id)


def clone(
    session: Session,
    ref: Ref,
    name: str,
    datastore: Ref | None = None,
    persistent: bool | None = None,
    tpl: template.Source | None = None,
) -> Body:
    """``oneimage clone <image> <name>``: a copy of the image's file in the datastore,
    owned by the caller (USE on the source, CREATE on images). The clone keeps the
    source's TYPE, PERSISTENT and TEMPLATE unless ``persistent``/``tpl`` say otherwise
    (EC2's snapshots and volumes are clones with their own flags). A persistent image a
    VM uses cannot be cloned: the VM is writing it."""
    new_tpl = None if tpl is None else template.load(tpl, "the clone's template")
    with session.read() as w:
        source = pool.resolve(w.tx, schema.IMAGES, ref)
        w.authorize(objects.target(schema.IMAGES, source), Right.USE)
    if source.get("PERSISTENT") and source.get("VMS"):
        raise Conflict(
            f"image {source['NAME']} is persistent and used by VM {source['VMS'][0]}: "
            "clone it once the VM has released it"
        )
    state = ImageState(source.get("STATE", READY))
    if state not in _USABLE:
        raise Conflict(
            f"image {source['NAME']} is {state.name}: only a READY or USED image can be cloned"
        )
    origin = Path(source["SOURCE"] if "SOURCE" in source else source["PATH"])
    if not origin.is_file():
        raise InvalidInput(
            f"image {source['NAME']}'s file {origin} is not on this front-end: "
            "only an image whose file is here can be cloned"
        )
    ds = datastores.resolve(datastore if datastore is not None else source.get("DATASTORE_ID"))
    keep = persistent if persistent is not None else bool(source.get("PERSISTENT"))
    body_tpl = dict(source.get("TEMPLATE") or {}) if new_tpl is None else new_tpl
    body_tpl.pop("PATH", None)
    path = datastores.new_file(session, ds)
    fields = _in_datastore(
        _fields(source["TYPE"], str(path), keep, ImageState.LOCKED, body_tpl), ds
    )
    if source.get("FSTYPE"):
        fields["FSTYPE"] = source["FSTYPE"]
    fields["CLONING_ID"] = source["ID"]
    return _copy_in(session, name, fields, path, lambda: datastores.copy_file(origin, path))


def update(session: Session, ref: Ref, tpl: template.Source, append: bool = False) -> Body:
    """``oneimage update``: replace the image's TEMPLATE (or merge into it with
    ``append``); MANAGE needed. The file, TYPE and state are not the template's."""
    parsed = template.load(tpl, "an image template")
    with session.write() as w:
        body = pool.resolve(w.tx, schema.IMAGES, ref, lock=True)
        w.authorize(objects.target(schema.IMAGES, body), Right.MANAGE)
        body["TEMPLATE"] = template.merge(body.get("TEMPLATE") or {}, parsed) if append else parsed
        return pool.update(w.tx, schema.IMAGES, body)


def set_persistent(session: Session, ref: Ref, persistent: bool) -> Body:
    """``oneimage persistent|nonpersistent``: only while no VM uses it; MANAGE needed."""
    with session.write() as w:
        body = pool.resolve(w.tx, schema.IMAGES, ref, lock=True)
        w.authorize(objects.target(schema.IMAGES, body), Right.MANAGE)
        if body.get("VMS"):
            raise Conflict(
                f"image {body['NAME']} is used by VMs {_ids(body['VMS'])}: its persistence "
                "can change once they have released it"
            )
        state = ImageState(body.get("STATE", READY))
        if state not in (ImageState.READY, ImageState.DISABLED):
            raise Conflict(f"image {body['NAME']} is {state.name}: wait until it is READY")
        body["PERSISTENT"] = int(persistent)
        return pool.update(w.tx, schema.IMAGES, body)


def enable(session: Session, ref: Ref, enabled: bool = True) -> Body:
    """``oneimage enable|disable``: a DISABLED image cannot be used by new VMs; only an
    image no VM uses can be disabled. MANAGE needed."""
    with session.write() as w:
        body = pool.resolve(w.tx, schema.IMAGES, ref, lock=True)
        w.authorize(objects.target(schema.IMAGES, body), Right.MANAGE)
        state = ImageState(body.get("STATE", READY))
        wanted = ImageState.READY if enabled else ImageState.DISABLED
        if state not in (ImageState.READY, ImageState.DISABLED):
            raise Conflict(
                f"image {body['NAME']} is {state.name}: only a READY or DISABLED image can be "
                f"{'enabled' if enabled else 'disabled'}"
            )
        body["STATE"] = int(wanted)
        return pool.update(w.tx, schema.IMAGES, body)


def _ids(ids: list[int]) -> str:
    return ", ".join(map(str, ids))


def _users(w: AuthTx, image: Body) -> list[int]:
    """The VMs using the image: those it records, and any VM not DONE whose disks name
    it (images registered before states were kept record none)."""
    users = set(image.get("VMS") or [])
    for vm in pool.all_bodies(w.tx, schema.VMS, "state != ?", (int(VmState.DONE),)):
        if any(
            isinstance(d, dict) and d.get("IMAGE_ID") == str(image["ID"])
            for d in template.as_list(vm["TEMPLATE"], "DISK")
        ):
            users.add(vm["ID"])
    return sorted(users)


def delete(session: Session, ref: Ref) -> Body:
    """``oneimage delete``: refused while VMs use it; an image the datastore owns has its
    file removed once the deletion is committed."""
    with session.write() as w:
        image = pool.resolve(w.tx, schema.IMAGES, ref, lock=True)
        w.authorize(objects.target(schema.IMAGES, image), Right.MANAGE)
        users = _users(w, image)
        if users:
            raise Conflict(f"image {image['NAME']} is used by VMs {_ids(users)}")
        pool.delete(w.tx, schema.IMAGES, image["ID"])
        if "DATASTORE_ID" in image and datastores.owns(session, image.get("SOURCE", "")):
            source = image["SOURCE"]
            w.after_commit.append(lambda: datastores.remove(source))
        return image


def _locked(w: AuthTx, image: Body | Ref) -> Body:
    oid = image["ID"] if isinstance(image, dict) else image
    return pool.resolve(w.tx, schema.IMAGES, oid, lock=True)


def _set_users(image: Body, users: list[int]) -> None:
    image["VMS"] = users
    image["RUNNING_VMS"] = len(users)
    if not users:
        image["STATE"] = READY
    else:
        used = ImageState.USED_PERS if image.get("PERSISTENT") else ImageState.USED
        image["STATE"] = int(used)


def take(w: AuthTx, image: Body | Ref, vm_id: int) -> Body:
    """VM ``vm_id`` uses the image from now on (a disk of it was allocated or attached):
    refused unless it is READY or USED; a persistent image is used by one VM at most.
    The image is read again, locked, and stored in the caller's transaction."""
    body = _locked(w, image)
    state = ImageState(body.get("STATE", READY))
    users = list(body.get("VMS") or [])
    if body.get("PERSISTENT") and users:
        raise Conflict(
            f"image {body['NAME']} is persistent and already used by VM {users[0]}: "
            "a persistent image is used by one VM at a time"
        )
    if state not in _USABLE:
        why = {
            ImageState.LOCKED: "its file is being copied; use it once it is READY",
            ImageState.DISABLED: "enable it first (oneimage enable)",
        }.get(state, "only a READY or USED image can be used")
        raise Conflict(f"image {body['NAME']} is {state.name}: {why}")
    if vm_id not in users:
        users.append(vm_id)
    _set_users(body, sorted(users))
    return pool.update(w.tx, schema.IMAGES, body)


def give_back(w: AuthTx, image: Body | Ref, vm_id: int) -> Body | None:
    """VM ``vm_id`` no longer uses the image (it is DONE, or the disk was detached):
    READY again when no VM uses it. An image deleted meanwhile, or that the VM did not
    hold, is left as it is (None when it does not exist)."""
    try:
        body = _locked(w, image)
    except NotFound:
        return None
    users = list(body.get("VMS") or [])
    if vm_id not in users:
        return body
    users.remove(vm_id)
    _set_users(body, users)
    return pool.update(w.tx, schema.IMAGES, body)


def release_disks(w: AuthTx, vm: Body) -> None:
    """Give back every image a VM's disks hold (it is DONE)."""
    for disk in template.as_list(vm["TEMPLATE"], "DISK"):
        if isinstance(disk, dict) and str(disk.get("IMAGE_ID", "")).isdigit():
            give_back(w, int(disk["IMAGE_ID"]), vm["ID"])


def resolve_disk(w: AuthTx, disk: dict[str, str], vm_id: int | None = None) -> dict[str, str]:
    """A template DISK with its image resolved to ``SOURCE`` (USE on the image needed) and
    the image's ``SIZE`` when onekit knows it (a file of a datastore); with ``vm_id``,
    that VM takes the image (``take``)."""
    ref = disk.get("IMAGE_ID", disk.get("IMAGE"))
    if ref is None:
        if not disk.get("SOURCE"):
            raise InvalidInput("a DISK needs IMAGE, IMAGE_ID or SOURCE (a path on the hosts)")
        return dict(disk)
    try:
        image = pool.resolve(w.tx, schema.IMAGES, ref, lock=vm_id is not None)
    except NotFound as err:
        raise NotFound(f"DISK refers to an image that does not exist: {err}") from None
    w.authorize(objects.target(schema.IMAGES, image), Right.USE)
    if vm_id is not None:
        image = take(w, image, vm_id)
    resolved = {
        **disk,
        "SOURCE": image.get("SOURCE") or image["PATH"],
        "IMAGE": image["NAME"],
        "IMAGE_ID": str(image["ID"]),
    }
    if image.get("PERSISTENT"):
        resolved["PERSISTENT"] = "YES"
    if image.get("SIZE") and "SIZE" not in disk:  # MB, as oned's DISK (a PATH's is unknown)
        resolved["SIZE"] = str(image["SIZE"])
    if image["TYPE"] == "CDROM":
        resolved.setdefault("TYPE", "cdrom")
    return resolved

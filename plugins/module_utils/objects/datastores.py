"""Image datastores: the directories where onekit keeps the image files it owns.

OpenNebula 4.6 copies an uploaded image, an empty DATABLOCK or a clone into an image
datastore, ``/var/lib/one/datastores/<id>/<hash>``; onekit does the same under the
instance's home, ``$ONEKIT_HOME/var/datastores/<id>/`` (``Session.datastores_dir``, set by
``frontend.home``). One image datastore exists, id 1, ``default`` (econe.conf's
``:datastore_id:``). A file's name is a random uuid: no text a user wrote ever becomes a
path. Directories are mode 700, files 600, as the context CD-ROMs (the front-end's user
owns them; libvirt's dynamic ownership hands a disk to the hypervisor when it runs).

These functions touch files only; ``objects.images`` keeps the rows and decides when.
``show`` and ``list_datastores`` are the datastores as OpenNebula's API shows them
(``one.datastore.info``): the image datastore 1 ``default``, holding every image, and the
system datastore 0 ``system``, where the hosts run the VMs' disks (onekit uses a disk in
place on the hosts, so it holds no file of onekit's and its capacity is not measured).
OpenNebula's files datastore (2) is not shown: onekit has no KERNEL/RAMDISK/CONTEXT
images. Both belong to cluster 0 (``objects.clusters``), are owned by oneadmin with mode
``um- u-- u--`` (oned's default: every user may USE them) and cannot be changed.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import Target
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    InvalidInput,
    NotFound,
    OneError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import AuthTx, Session

DEFAULT = 1
NAMES = {DEFAULT: "default"}  # the image datastores there are, by id
SYSTEM = 0
ALL = {SYSTEM: "system", **NAMES}  # every datastore shown, by id
# OpenNebula's datastore TYPE: IMAGE_DS 0, SYSTEM_DS 1 (FILE_DS 2, which onekit lacks)
IMAGE_DS, SYSTEM_DS = 0, 1
_MODE = Permissions.from_octal("644")
MB = 1024 * 1024
CHUNK = MB


def resolve(ref: int | str | None) -> int:
    """A datastore's id from its id or name (None: the default one)."""
    if ref is None:
        return DEFAULT
    text = str(ref).strip()
    for oid, name in NAMES.items():
        if text in (str(oid), name):
            return oid
    known = ", ".join(f"{oid} ({name})" for oid, name in NAMES.items())
    raise InvalidInput(f"datastore {text[:64]!r} does not exist; the image datastores: {known}")


def directory(session: Session, datastore: int) -> Path:
    """The directory of datastore ``datastore`` (made on first use)."""
    if not session.datastores_dir:
        raise OneError(
            "this session has no datastore directory (it was not opened from an instance's "
            "home); open it with Home.session() or pass datastores_dir"
        )
    path = Path(session.datastores_dir) / str(resolve(datastore))
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def new_file(session: Session, datastore: int) -> Path:
    """A path for a new image file of the datastore (not created yet)."""
    return directory(session, datastore) / uuid.uuid4().hex


def _create(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


@contextlib.contextmanager
def _new_file(path: Path) -> Iterator[BinaryIO]:
    """The new file ``path``, open to write; any failure removes it (an OSError is
    raised as a OneError), so no half-written image file is left."""
    try:
        with os.fdopen(_create(path), "wb") as out:
            yield out
    except OSError as err:
        remove(path)
        raise OneError(f"cannot write the image file: {err.strerror or err}") from err
    except BaseException:
        remove(path)
        raise


def copy_stream(source: BinaryIO, path: Path) -> int:
    """Copy ``source`` (a binary stream, read to its end) into the new file ``path``;
    the bytes written. A failure removes the file and is raised as a OneError."""
    written = 0
    with _new_file(path) as out:
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                break
            if not isinstance(chunk, bytes):
                raise InvalidInput("an upload must be a binary stream (open it with 'rb')")
            out.write(chunk)
            written += len(chunk)
    return written


def copy_file(source: Path, path: Path) -> int:
    """Copy the image file ``source`` into the new file ``path``, its holes kept holes
    (an empty 16 TiB volume's snapshot writes nothing: a plain copy would write every
    byte); the file's size."""
    try:
        with open(source, "rb") as handle:
            return _copy_sparse(handle, path)
    except OSError as err:
        raise OneError(f"cannot read image file {source}: {err.strerror or err}") from err


def _copy_sparse(source: BinaryIO, path: Path) -> int:
    """The data regions of ``source`` (``SEEK_DATA``/``SEEK_HOLE``) copied at their
    offsets, the file then sized as the source; a failure removes ``path``."""
    src = source.fileno()
    size = os.fstat(src).st_size
    with _new_file(path) as out:
        offset = 0
        while offset < size:
            try:
                start = os.lseek(src, offset, os.SEEK_DATA)
            except OSError as err:
                if err.errno == errno.ENXIO:  # only a hole is left
                    break
                raise
            end = os.lseek(src, start, os.SEEK_HOLE)
            os.lseek(src, start, os.SEEK_SET)
            out.seek(start)
            left = end - start
            while left:
                chunk = os.read(src, min(CHUNK, left))
                if not chunk:
                    break
                out.write(chunk)
                left -= len(chunk)
            offset = end
        out.truncate(size)
    return size


def create_sparse(path: Path, size_mb: int) -> None:
    """A new raw file of ``size_mb`` MB holding no data (a hole: it uses no space)."""
    try:
        fd = _create(path)
        try:
            os.ftruncate(fd, size_mb * MB)
        finally:
            os.close(fd)
    except OSError as err:
        remove(path)
        if err.errno == errno.EFBIG:
            raise InvalidInput(
                f"image SIZE {size_mb} MB is larger than the datastore's file system allows "
                "for one file: ask for a smaller one"
            ) from err
        raise OneError(f"cannot create the image file: {err.strerror or err}") from err


def size_mb(byte_count: int) -> int:
    """MB as OpenNebula records an image's SIZE (rounded up)."""
    return math.ceil(byte_count / MB)


def remove(path: Path | str) -> None:
    """Remove an image file (gone already: nothing to do)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def owns(session: Session, path: str) -> bool:
    """Is ``path`` a file of one of this instance's datastores?"""
    if not session.datastores_dir or not path:
        return False
    root = Path(session.datastores_dir).resolve()
    return Path(path).resolve().parent.parent == root


# ---- the datastores as OpenNebula's API shows them ---------------------------------------
def _capacity_mb(session: Session, datastore: int) -> tuple[int, int, int]:
    """TOTAL_MB, FREE_MB, USED_MB of the filesystem holding an image datastore's files."""
    if datastore == SYSTEM or not session.datastores_dir:
        return 0, 0, 0
    path = Path(session.datastores_dir)
    while not path.exists() and path != path.parent:
        path = path.parent
    stat = os.statvfs(path)
    total = stat.f_blocks * stat.f_frsize // MB
    free = stat.f_bavail * stat.f_frsize // MB
    return total, free, total - free


def _body(w: AuthTx, datastore: int) -> dict:
    images = [row[0] for row in w.tx.rows(f"SELECT oid FROM {schema.IMAGES.table} ORDER BY oid")]
    total, free, used = _capacity_mb(w.session, datastore)
    system = datastore == SYSTEM
    return {
        "ID": datastore,
        "UID": 0,
        "GID": 0,
        "UNAME": "oneadmin",
        "GNAME": "oneadmin",
        "NAME": ALL[datastore],
        "PERMISSIONS": _MODE.to_json(),
        "DS_MAD": "-" if system else "fs",
        "TM_MAD": "shared",
        "BASE_PATH": "" if system else str(Path(w.session.datastores_dir or "") / str(datastore)),
        "TYPE": SYSTEM_DS if system else IMAGE_DS,
        "DISK_TYPE": 0,  # FILE
        "STATE": 0,  # READY
        "TOTAL_MB": total,
        "FREE_MB": free,
        "USED_MB": used,
        "IMAGES": [] if system else images,
        "TEMPLATE": {
            "TYPE": "SYSTEM_DS" if system else "IMAGE_DS",
            "DS_MAD": "-" if system else "fs",
            "TM_MAD": "shared",
        },
    }


def _target(datastore: int) -> Target:
    return Target("DATASTORE", datastore, 0, 0, _MODE)


def show(session: Session, datastore: int) -> dict:
    """Datastore 0 or 1 (USE on it: anyone, by its mode)."""
    if datastore not in ALL:
        known = ", ".join(f"{oid} ({name})" for oid, name in ALL.items())
        raise NotFound(f"datastore {datastore} does not exist; the datastores: {known}")
    with session.read() as w:
        w.authorize(_target(datastore), Right.USE)
        return _body(w, datastore)


def list_datastores(session: Session) -> list[dict]:
    with session.read() as w:
        return [_body(w, ds) for ds in sorted(ALL) if w.allowed(_target(ds), Right.USE)]

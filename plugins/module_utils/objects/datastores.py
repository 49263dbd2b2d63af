"""Image datastores: the directories where onekit keeps the image files it owns.

OpenNebula 4.6 copies an uploaded image, an empty DATABLOCK or a clone into an image
datastore, ``/var/lib/one/datastores/<id>/<hash>``; onekit does the same under the
instance's home, ``$ONEKIT_HOME/var/datastores/<id>/`` (``Session.datastores_dir``, set by
``frontend.home``). One image datastore exists, id 1, ``default`` (econe.conf's
``:datastore_id:``). A file's name is a random uuid: no text a user wrote ever becomes a
path. Directories are mode 700, files 600, as the context CD-ROMs (the front-end's user
owns them; libvirt's dynamic ownership hands a disk to the hypervisor when it runs).

These functions touch files only; ``objects.images`` keeps the rows and decides when.
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

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    InvalidInput,
    OneError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session

DEFAULT = 1
NAMES = {DEFAULT: "default"}  # the image datastores there are, by id
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

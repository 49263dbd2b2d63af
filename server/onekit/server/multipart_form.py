"""A ``multipart/form-data`` body whose file parts are spooled to a directory as they
arrive, never held in memory: the EC2 server's UploadImage and the OCCI server's storage
POST read their uploads this way. Text fields are held to ``max_text`` bytes and a body to
``max_parts`` parts; every spooled part is closed (and so removed) when the block ends.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import parse_form_data


class FormTooLarge(Exception):
    """The text fields hold more than ``max_text`` bytes, or the body has more than
    ``max_parts`` parts (werkzeug tells the two apart by its message only: the caller's
    error names both limits)."""


class MalformedForm(Exception):
    """The body is not a readable multipart form."""


def _spooled(tmpdir: str) -> IO[bytes]:
    return tempfile.TemporaryFile(dir=tmpdir)


@contextlib.contextmanager
def multipart_form(
    environ: dict[str, Any], tmpdir: str, *, max_text: int, max_parts: int
) -> Iterator[tuple[MultiDict[str, str], MultiDict[str, FileStorage]]]:
    """``(fields, files)`` of the WSGI ``environ``'s body, file parts in ``tmpdir``."""
    os.makedirs(tmpdir, exist_ok=True)
    files: MultiDict[str, FileStorage] | None = None
    try:
        try:
            _stream, form, files = parse_form_data(
                environ,
                stream_factory=lambda *_args, **_kwargs: _spooled(tmpdir),
                max_form_memory_size=max_text,
                max_form_parts=max_parts,
                silent=False,
            )
        except RequestEntityTooLarge:
            raise FormTooLarge from None
        except ValueError:
            raise MalformedForm from None
        yield form, files
    finally:
        if files is not None:
            for part in files.values():
                part.close()

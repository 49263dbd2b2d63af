"""A ``multipart/form-data`` body that streams a file: what econe-upload and
``occi-storage create`` send (the form's fields, then the file part).

The body is never held whole: ``Form.chunks`` reads the file a chunk at a time, so a
10 GB image costs a chunk of memory; its ``length`` is known before the first byte, so the
request has a ``Content-Length`` (no chunked encoding, which some proxies refuse).
Standard library only, as the other HTTP clients of the CLIs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput

CHUNK = 1 << 20


@dataclass(frozen=True)
class Form:
    """The multipart body: the form fields and the file part's header (``head``), the
    file's bytes, and the closing boundary (``tail``)."""

    path: str
    size: int
    head: bytes
    tail: bytes
    what: str = "image file"

    @classmethod
    def of(
        cls,
        path: str,
        fields: Mapping[str, str],
        boundary: str,
        what: str = "image file",
        file_field: str = "file",
    ) -> Form:
        """The form of ``fields`` and the file at ``path`` (``what`` names it in errors);
        an unreadable file, or one that is not a regular file, is refused here, before
        any request."""
        try:
            size = os.path.getsize(path)
            with open(path, "rb"):
                pass
        except OSError as err:
            raise InvalidInput(f"cannot read {what} {path}: {err.strerror}") from err
        if not os.path.isfile(path):
            raise InvalidInput(f"{what} {path} is not a regular file")
        filename = quoted(os.path.basename(path))
        head = _field_parts(fields, boundary) + (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        return cls(path, size, head.encode(), f"\r\n--{boundary}--\r\n".encode(), what)

    @property
    def length(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def chunks(self) -> Iterator[bytes]:
        """The body, a chunk at a time; a file that changed size since ``Form.of`` is an
        error (its hash and Content-Length would be wrong)."""
        yield self.head
        left = self.size
        with open(self.path, "rb") as handle:
            while left > 0:
                chunk = handle.read(min(CHUNK, left))
                if not chunk:
                    raise InvalidInput(f"{self.what} {self.path} shrank while being uploaded")
                left -= len(chunk)
                yield chunk
            if handle.read(1):
                raise InvalidInput(f"{self.what} {self.path} grew while being uploaded")
        yield self.tail


def fields_only(fields: Mapping[str, str], boundary: str) -> bytes:
    """A ``multipart/form-data`` body of text fields alone (no file part)."""
    return (_field_parts(fields, boundary) + f"--{boundary}--\r\n").encode()


def _field_parts(fields: Mapping[str, str], boundary: str) -> str:
    """The parts of text fields (the caller's boundary must not occur in their values)."""
    return "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    )


def quoted(name: str) -> str:
    """A file name as a quoted-string of Content-Disposition (no quote, backslash or line
    break can end it early)."""
    return "".join("_" if c in '"\\\r\n' else c for c in name)


def os_reason(err: BaseException | None) -> str:
    """The operating system's words for a failed connection (``connection refused``,
    ``Name or service not known``), from the exception or what caused it."""
    while err is not None:
        if isinstance(err, OSError) and err.strerror:
            return err.strerror[:1].lower() + err.strerror[1:]
        err = err.__cause__ or err.__context__
    return ""

"""The compiled code of this collection's module_utils, kept between module runs.

Ansible sends a module to its host in a zip (AnsiballZ) with every module_util the module
imports, and Python compiles those sources again on every call: zipimport, unlike an
import from files, keeps no ``__pycache__``. For the ``vm`` module that is about forty
files, a large part of its start-up. :func:`keep` puts an importer in front of zipimport
for that zip which stores each module's code in a directory of the user's
(``$XDG_CACHE_HOME/onekit/bytecode``, else ``~/.cache/onekit/bytecode``) as Python keeps
``.pyc`` files: one file per digest of (Python's bytecode version, module name, source),
so a changed source is compiled again and an old file is never used for it.

Loading code from a file runs it, so the directory must be the user's own and writable by
no one else; if it is not (or cannot be made), nothing is cached and modules compile as
before. A file that cannot be read back is compiled again and replaced.
"""

from __future__ import annotations

import _imp
import contextlib
import hashlib
import importlib.util
import marshal
import os
import sys
import tempfile
import zipimport
from pathlib import Path
from types import CodeType

PACKAGE = "ansible_collections.onekit."  # only this collection's code is cached


def cache_dir() -> Path | None:
    """Where the code is kept; None without an absolute place (no home, say)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "onekit" / "bytecode"
    return path if path.is_absolute() else None


def _private(path: Path) -> bool:
    """Make ``path`` (mode 700) if needed; True if it is the user's alone to write."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.lstat()
    except OSError:
        return False
    return path.is_dir() and st.st_uid == os.geteuid() and not st.st_mode & 0o022


class _CachingZipImporter(zipimport.zipimporter):
    """zipimport, with the compiled code of :data:`PACKAGE` kept in ``cache``."""

    cache: Path

    def get_filename(self, fullname: str) -> str:
        # zipimport compiles the module to tell its file name (find_spec asks for it, so
        # every module was compiled twice): the name is only a path in the zip
        if not fullname.startswith(PACKAGE):
            return super().get_filename(fullname)
        base = os.path.join(self.archive, self.prefix + fullname.rpartition(".")[2])
        return os.path.join(base, "__init__.py") if self.is_package(fullname) else f"{base}.py"

    def get_code(self, fullname: str) -> CodeType:
        source = self.get_source(fullname) if fullname.startswith(PACKAGE) else None
        if source is None:
            return super().get_code(fullname)
        filename = self.get_filename(fullname)
        digest = hashlib.sha256(importlib.util.MAGIC_NUMBER + fullname.encode() + b"\0")
        digest.update(source.encode())
        path = self.cache / f"{digest.hexdigest()}.code"
        with contextlib.suppress(OSError, ValueError, EOFError, TypeError):
            code = marshal.loads(path.read_bytes())
            if isinstance(code, CodeType):
                _fix_filename(code, filename)
                return code
        code = compile(source, filename, "exec", dont_inherit=True)
        _store(path, marshal.dumps(code))
        return code


def _fix_filename(code: CodeType, filename: str) -> None:
    """Name this run's zip in the code's tracebacks, as importlib does for a .pyc."""
    fix = getattr(_imp, "_fix_co_filename", None)
    if fix is not None:
        fix(code, filename)


def _store(path: Path, data: bytes) -> None:
    """Write atomically (a concurrent run reads the old file or the new, never half)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def keep(loader: object) -> None:
    """Cache compiled code for the zip ``loader`` (a package's) imports from; nothing when
    it is not a zip (a process importing the collection from files has ``__pycache__``)."""
    if not isinstance(loader, zipimport.zipimporter):
        return
    cache = cache_dir()
    if cache is None or not _private(cache):
        return
    archive = loader.archive

    def hook(path: str) -> zipimport.zipimporter:
        if path != archive and not path.startswith(archive + os.sep):
            raise ImportError("not the module's zip")
        importer = _CachingZipImporter(path)
        importer.cache = cache
        return importer

    sys.path_hooks.insert(0, hook)
    for path in [p for p in sys.path_importer_cache if p.startswith(archive)]:
        del sys.path_importer_cache[path]  # found again, through the hook

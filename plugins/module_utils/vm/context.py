"""A VM's context CD-ROM: ``context.sh`` and ``token.txt`` in an ISO 9660 image (Rock
Ridge and Joliet names, as OpenNebula's contextualization packages read it), built when
the VM is deployed and attached as ``hdb``.

The image and its files are kept with the VM under ``$ONEKIT_HOME/var/context/<id>/``
(mode 700: the token is in them). libvirt's test driver attaches that file as it is; a
real host gets a copy as a volume of its storage pool (``drivers.context_volumes``).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.gate import tokens

Body = dict[str, Any]


def write_iso(path: Path, files: dict[str, str]) -> None:
    import pycdlib  # here: a module that never deploys need not have it (ansible-test)

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident="CONTEXT")
    try:
        for name, text in sorted(files.items()):
            data = text.encode()
            iso.add_fp(
                io.BytesIO(data),
                len(data),
                f"/{name.upper()};1",
                rr_name=name,
                joliet_path=f"/{name}",
            )
        tmp = path.with_suffix(".tmp")
        iso.write(str(tmp))
        tmp.replace(path)
    finally:
        iso.close()


def build(folder: Path, secret: bytes, vm: Body) -> Path | None:
    """The VM's context image (None if its template has no CONTEXT)."""
    if not isinstance(vm["TEMPLATE"].get("CONTEXT"), dict):
        return None
    home = folder / str(vm["ID"])
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = tokens.context_files(secret, vm)
    for name, text in files.items():
        target = home / name
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
    image = home / "context.iso"
    write_iso(image, files)
    image.chmod(0o600)
    return image


def read_iso(path: Path) -> dict[str, str]:
    """The files of a context image, by their Rock Ridge names (for tests and checks)."""
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    try:
        found = {}
        for child in iso.list_children(rr_path="/"):
            raw = child.rock_ridge.name() if child.rock_ridge else b""
            name = raw.decode() if isinstance(raw, bytes) else raw
            if name in (".", "..", "") or child.is_dir():
                continue
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, rr_path=f"/{name}")
            found[name] = out.getvalue().decode()
        return found
    finally:
        iso.close()

"""The OCCI XML the commands read and print: the user's file (which resource an update
names, which local file a storage create uploads) and the server's answers.

A file is only read for what the request needs (its ``<ID>``/``href``, its ``<URL>``) and
sent as it is: what a document may hold is the server's to judge. Answers print indented
two spaces a level, as 4.6's client printed them (REXML's pretty formatter); text comes
back as the server sent it (``{{ 7*7 }}`` stays that), only re-escaped.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from urllib.parse import unquote, urlsplit

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from onekit.cli.common import read_text_file

WHAT = "OCCI XML file"


class Document:
    """An OCCI XML file given to create or update, read and parsed."""

    def __init__(self, path: str):
        self.path = path
        self.text = read_text_file(path, WHAT)
        try:
            self.root = ET.fromstring(self.text)
        except ET.ParseError as err:
            raise InvalidInput(f"{WHAT} {self.name} is not well-formed XML: {err}") from err

    @property
    def name(self) -> str:
        return "(stdin)" if self.path == "-" else self.path

    def resource_id(self) -> str:
        """The id an update goes to: the root's ``<ID>``, else the last part of its
        ``href`` (``<COMPUTE href="http://cloud:4567/compute/0">``)."""
        ident = (self.root.findtext("ID") or "").strip()
        if not ident:
            href = (self.root.get("href") or "").strip()
            ident = urlsplit(href).path.rstrip("/").rpartition("/")[2]
        if not ident:
            raise InvalidInput(
                f"{WHAT} {self.name} names no resource: give its <ID> (or an href) in "
                f"<{self.root.tag}>"
            )
        return ident

    def upload_path(self) -> str | None:
        """The local file a STORAGE document names in ``<URL>``: ``file:///path``, or a
        path (relative to the current directory); None without a URL (a DATABLOCK). Any
        other scheme is refused: the client uploads, the server fetches nothing."""
        url = (self.root.findtext("URL") or "").strip()
        if not url:
            return None
        parts = urlsplit(url)
        if parts.scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise InvalidInput(
                    f"<URL> {url} of {self.name} names another host's file: give a path "
                    "here (file:///path)"
                )
            return unquote(parts.path)
        if parts.scheme:
            raise InvalidInput(
                f"<URL> {url} of {self.name} is not a local file: occi-storage create "
                "uploads a file:///path (or a path) from this machine"
            )
        return os.path.expanduser(url)


def pretty(text: str) -> str:
    """An answer as the command prints it: XML indented two spaces a level; anything else
    (an empty answer, text) as it came."""
    if not text.strip():
        return ""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return text.rstrip("\n")
    ET.indent(root, "  ")
    return ET.tostring(root, encoding="unicode")


def disks_of(compute: str, storage_id: str) -> tuple[list[str], list[str]]:
    """The ids of a COMPUTE answer's DISKs that use the storage ``storage_id`` (their
    ``<STORAGE href=".../storage/<id>">``), and a description of every disk for an
    error (``0: storage 3``)."""
    try:
        root = ET.fromstring(compute)
    except ET.ParseError as err:
        raise InvalidInput(f"the server's COMPUTE document is not XML: {err}") from err
    matching, described = [], []
    for disk in root.findall("DISK"):
        storage = disk.find("STORAGE")
        href = "" if storage is None else storage.get("href") or ""
        used = href.rstrip("/").rpartition("/")[2]
        described.append(f"{disk.get('id')}: storage {used or '-'}")
        if used == storage_id:
            matching.append(disk.get("id") or "")
    return matching, described


def element(tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    """An element to send (its text and attributes escaped by ElementTree)."""
    node = ET.Element(tag, attributes)
    node.text = text
    return node


def serialize(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=False)

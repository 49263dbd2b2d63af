"""Context CD-ROM images staged on a libvirt host, as volumes of its storage pool.

A real QEMU runs as its own user and may be on another machine, so it cannot read the
image where onekit built it (the instance's private ``var/context``). The driver uploads
the image into the pool ``onekit-context`` of the host (``virStorageVolUpload``, which
works over ``qemu+ssh`` as well as locally) and points the domain's CD-ROM at the volume.
A host without that pool gets one: a directory pool under ``/var/lib/libvirt/images``,
started and set to autostart. Volumes are mode 0600 (the token is in them); libvirt's
DAC labelling hands the file to QEMU's user while the guest runs.
"""

from __future__ import annotations

import io
import threading
import xml.etree.ElementTree as ET

import libvirt

POOL = "onekit-context"
POOL_DIR = "/var/lib/libvirt/images/onekit-context"

_pool_lock = threading.Lock()


def volume_name(deploy_id: str) -> str:
    return f"{deploy_id}-context.iso"


def _pool(conn: libvirt.virConnect) -> libvirt.virStoragePool:
    """The host's context pool, defined, built and started if it is missing or down."""
    with _pool_lock:
        try:
            pool = conn.storagePoolLookupByName(POOL)
        except libvirt.libvirtError as err:
            if err.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_POOL:
                raise
            pool = _define(conn)
        if not pool.isActive():
            pool.create(0)
        return pool


def _define(conn: libvirt.virConnect) -> libvirt.virStoragePool:
    root = ET.Element("pool", type="dir")
    ET.SubElement(root, "name").text = POOL
    target = ET.SubElement(root, "target")
    ET.SubElement(target, "path").text = POOL_DIR
    perms = ET.SubElement(target, "permissions")
    ET.SubElement(perms, "mode").text = "0711"  # QEMU's user may reach its own file only
    try:
        pool = conn.storagePoolDefineXML(ET.tostring(root, encoding="unicode"), 0)
    except libvirt.libvirtError:
        try:  # another process defined it meanwhile
            return conn.storagePoolLookupByName(POOL)
        except libvirt.libvirtError:
            pass
        raise
    pool.build(0)
    pool.setAutostart(1)
    return pool


def _existing(pool: libvirt.virStoragePool, name: str) -> libvirt.virStorageVol | None:
    try:
        return pool.storageVolLookupByName(name)
    except libvirt.libvirtError as err:
        if err.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
            raise
        return None


def stage(conn: libvirt.virConnect, deploy_id: str, image: bytes) -> str:
    """Upload ``image`` as the guest's context volume (replacing an older one); returns
    the volume's path on the host."""
    pool = _pool(conn)
    name = volume_name(deploy_id)
    old = _existing(pool, name)
    if old is not None:
        old.delete(0)
    root = ET.Element("volume")
    ET.SubElement(root, "name").text = name
    ET.SubElement(root, "capacity", unit="bytes").text = str(len(image))
    target = ET.SubElement(root, "target")
    ET.SubElement(target, "format", type="raw")
    perms = ET.SubElement(target, "permissions")
    ET.SubElement(perms, "mode").text = "0600"
    vol = pool.createXML(ET.tostring(root, encoding="unicode"), 0)
    try:
        stream = conn.newStream(0)
        vol.upload(stream, 0, len(image), 0)
        source = io.BytesIO(image)
        stream.sendAll(lambda _stream, nbytes, _opaque: source.read(nbytes), None)
        stream.finish()
    except libvirt.libvirtError:
        vol.delete(0)
        raise
    return vol.path()


def remove(conn: libvirt.virConnect, deploy_id: str) -> None:
    """Delete the guest's context volume; a host without one (or without the pool) has
    nothing to remove."""
    try:
        pool = conn.storagePoolLookupByName(POOL)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL:
            return
        raise
    if not pool.isActive():
        return
    vol = _existing(pool, volume_name(deploy_id))
    if vol is not None:
        vol.delete(0)

"""libvirt domain XML from a VM template, as OpenNebula 4.6's KVM driver writes it.

The template is the parsed form of ``template.parse`` (strings, vectors as dicts, repeated
names as lists). Attributes read (OpenNebula's names)::

    MEMORY  = MiB (required)          VCPU = 1       CPU = 0.5 (-> cputune shares)
    OS      = [ ARCH, MACHINE, BOOT = "hd,cdrom,network,fd", KERNEL, INITRD, ROOT,
                KERNEL_CMD ]
    FEATURES= [ ACPI = yes|no, PAE, APIC ]   (ACPI defaults to yes, as vmm_exec_kvm.conf)
    DISK    = [ SOURCE (host path), TYPE = file|cdrom|block, TARGET, DRIVER = raw|qcow2,
                READONLY = yes|no, BUS ]      (any number)
    NIC     = [ BRIDGE | NETWORK_NAME, MAC, MODEL, TARGET ]  (any number)
    GRAPHICS= [ TYPE = vnc|spice, LISTEN, PORT, PASSWD, KEYMAP ]
    CONTEXT = [ CONTEXT_ISO = path ]  (or a top-level CONTEXT_ISO): a CD-ROM on hdb
    RAW     = [ TYPE = "kvm", DATA = "<xml elements/>" ]  (appended to <domain>)

Every other attribute is ignored (NAME, TEMPLATE_ID, CONTEXT variables...). A malformed
value raises ``InvalidInput`` naming the attribute and the fix: libvirt's own messages are
far from the template the user wrote. The XML is built with ElementTree, so every value is
escaped; values with characters XML cannot carry at all (control characters) are refused.
"""

from __future__ import annotations

import ipaddress
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.core.template import as_list
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import VmSpec

__all__ = ["domain_xml"]

BOOT_DEVICES = ("hd", "cdrom", "network", "fd")
DISK_TYPES = ("file", "cdrom", "block")
DISK_DRIVERS = ("raw", "qcow2")
BUSES = ("virtio", "scsi", "ide", "sata", "usb")
GRAPHICS_TYPES = ("vnc", "spice")
# The device name prefix of each bus, both ways: a TARGET implies its bus, a BUS without
# TARGET gets the next free name of its prefix.
_BUS_OF_PREFIX = {"vd": "virtio", "sd": "scsi", "hd": "ide"}
_PREFIX_OF_BUS = {"virtio": "vd", "scsi": "sd", "sata": "sd", "usb": "sd", "ide": "hd"}
_IDE_NAMES = ("hda", "hdb", "hdc", "hdd")
CONTEXT_TARGET = "hdb"

_TARGET_RE = re.compile(r"(hd|sd|vd)[a-z]{1,2}")
_MAC_RE = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}")
_IFNAME_RE = re.compile(r"[A-Za-z0-9_.:-]{1,15}")
_WORD_RE = re.compile(r"[A-Za-z0-9_.-]+")
_ROOT_RE = re.compile(r"[A-Za-z0-9_./:-]+")
# Characters XML 1.0 cannot carry, even escaped.
_BAD_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# --------------------------------------------------------------------------------------
# Reading attributes
# --------------------------------------------------------------------------------------


def _single(tpl: Mapping, name: str, where: str = "") -> str | None:
    """A single-valued attribute (None if absent), refusing vectors and repetitions."""
    if name not in tpl:
        return None
    value = tpl[name]
    label = f"{where} {name}".strip()
    if isinstance(value, (list, tuple)):
        raise InvalidInput(f"{label} is given {len(value)} times: give it once")
    if not isinstance(value, str):
        raise InvalidInput(f'{label} must be a single value ({label} = "..."), not a vector')
    return _xml_safe(label, value)


def _vector(tpl: Mapping, name: str) -> dict[str, str] | None:
    """A vector attribute given at most once."""
    values = as_list(tpl, name)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidInput(f"{name} is given {len(values)} times: give it once")
    return _as_vector(name, values[0])


def _as_vector(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{name} must be a vector attribute: {name} = [ NAME = value, ... ]")
    return dict(value)


def _xml_safe(label: str, value: str) -> str:
    if _BAD_XML_CHARS.search(value):
        raise InvalidInput(f"{label} contains control characters, which XML cannot carry")
    return value


def _yes_no(label: str, value: str | None, default: bool) -> bool:
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in ("yes", "no"):
        return lowered == "yes"
    raise InvalidInput(f"{label} must be yes or no, got {value!r}")


def _choice(label: str, value: str, choices: tuple[str, ...]) -> str:
    lowered = value.strip().lower()
    if lowered not in choices:
        raise InvalidInput(f"{label} must be one of {', '.join(choices)}, got {value!r}")
    return lowered


# The most MEMORY (MiB) or CPU a template may ask for: times 1024 (KiB, cgroup shares) it
# still fits the 64-bit integers libvirt and the store hold.
MAX_AMOUNT = 2**53


def _positive_number(label: str, value: str, unit: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise InvalidInput(f"{label} must be a positive number of {unit}, got {value!r}")
    if number > MAX_AMOUNT:
        raise InvalidInput(f"{label} must be at most {MAX_AMOUNT} {unit}, got {value!r}")
    return number


def _positive_int(label: str, value: str, unit: str) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or int(text) <= 0:
        raise InvalidInput(f"{label} must be a positive whole number of {unit}, got {value!r}")
    return int(text)


def _absolute_path(label: str, value: str) -> str:
    if not value.startswith("/") or "\n" in value:
        raise InvalidInput(f"{label} must be an absolute path on the host, got {value!r}")
    return value


# --------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------


def _memory_and_cpu(root: ET.Element, tpl: Mapping) -> None:
    memory = _single(tpl, "MEMORY")
    if memory is None:
        raise InvalidInput("MEMORY is required: the VM's memory in MiB, e.g. MEMORY = 512")
    kib = round(_positive_number("MEMORY", memory, "MiB") * 1024)
    if kib < 1:
        raise InvalidInput(f"MEMORY must be a positive number of MiB, got {memory!r}")
    ET.SubElement(root, "memory", unit="KiB").text = str(kib)

    vcpu = _single(tpl, "VCPU")
    ET.SubElement(root, "vcpu").text = str(
        1 if vcpu is None else _positive_int("VCPU", vcpu, "virtual CPUs")
    )

    cpu = _single(tpl, "CPU")
    if cpu is not None:
        share = _positive_number("CPU", cpu, "physical CPUs (e.g. 0.5)")
        # OpenNebula's CPU*1024 shares; the kernel's minimum weight is 2.
        cputune = ET.SubElement(root, "cputune")
        ET.SubElement(cputune, "shares").text = str(max(2, int(share * 1024)))


def _os(root: ET.Element, tpl: Mapping) -> None:
    os_vec = _vector(tpl, "OS") or {}
    arch = _single(os_vec, "ARCH", "OS") or "x86_64"
    if not re.fullmatch(r"[a-z0-9_]+", arch):
        raise InvalidInput(f"OS ARCH must be an architecture name such as x86_64, got {arch!r}")
    machine = _single(os_vec, "MACHINE", "OS")
    if machine is not None and not _WORD_RE.fullmatch(machine):
        raise InvalidInput(f"OS MACHINE must be a machine type such as pc, got {machine!r}")

    os_el = ET.SubElement(root, "os")
    type_el = ET.SubElement(os_el, "type", arch=arch)
    if machine is not None:
        type_el.set("machine", machine)
    type_el.text = "hvm"

    # As OpenNebula: INITRD, ROOT and KERNEL_CMD only mean something with a KERNEL.
    kernel = _single(os_vec, "KERNEL", "OS")
    if kernel:
        ET.SubElement(os_el, "kernel").text = _absolute_path("OS KERNEL", kernel)
        initrd = _single(os_vec, "INITRD", "OS")
        if initrd:
            ET.SubElement(os_el, "initrd").text = _absolute_path("OS INITRD", initrd)
        cmdline = []
        root_dev = _single(os_vec, "ROOT", "OS")
        if root_dev:
            if not _ROOT_RE.fullmatch(root_dev):
                raise InvalidInput(
                    f"OS ROOT must be a device name such as sda1 or vda, got {root_dev!r}"
                )
            cmdline.append(f"root=/dev/{root_dev.removeprefix('/dev/')}")
        kernel_cmd = _single(os_vec, "KERNEL_CMD", "OS")
        if kernel_cmd:
            if "\n" in kernel_cmd:
                raise InvalidInput("OS KERNEL_CMD must be on one line")
            cmdline.append(kernel_cmd)
        if cmdline:
            ET.SubElement(os_el, "cmdline").text = " ".join(cmdline)

    boot = _single(os_vec, "BOOT", "OS")
    if boot is not None and boot.strip():
        for item in boot.split(","):
            dev = item.strip().lower()
            if dev not in BOOT_DEVICES:
                raise InvalidInput(
                    f"OS BOOT must be a comma-separated list of {', '.join(BOOT_DEVICES)}, "
                    f"got {boot!r}"
                )
            ET.SubElement(os_el, "boot", dev=dev)


def _features(root: ET.Element, tpl: Mapping) -> None:
    features = _vector(tpl, "FEATURES") or {}
    enabled = [
        name.lower()
        for name, default in (("ACPI", True), ("PAE", False), ("APIC", False))
        if _yes_no(f"FEATURES {name}", _single(features, name, "FEATURES"), default)
    ]
    if enabled:
        el = ET.SubElement(root, "features")
        for name in enabled:
            ET.SubElement(el, name)


def _context_iso(tpl: Mapping) -> str | None:
    context = as_list(tpl, "CONTEXT")
    path = None
    if context:
        if len(context) > 1:
            raise InvalidInput(f"CONTEXT is given {len(context)} times: give it once")
        path = _single(_as_vector("CONTEXT", context[0]), "CONTEXT_ISO", "CONTEXT")
    if path is None:
        path = _single(tpl, "CONTEXT_ISO")
    if path is None:
        return None
    return _absolute_path("CONTEXT_ISO", path)


def _disks(devices: ET.Element, tpl: Mapping) -> None:
    """DISK attributes, then the context CD-ROM."""
    context_iso = _context_iso(tpl)
    for disk in settled_disks(tpl, context_iso is not None):
        _disk_element(devices, disk)
    if context_iso is not None:
        _disk_element(
            devices,
            {
                "source": context_iso,
                "kind": "cdrom",
                "driver": "raw",
                "readonly": True,
                "bus": "ide",
                "target": CONTEXT_TARGET,
            },
        )


def settled_disks(tpl: Mapping, context_cd: bool = False) -> list[dict[str, Any]]:
    """Every DISK of ``tpl`` as the domain gets it, in order: ``label`` (``DISK <n>``),
    ``source``, ``kind`` (file, cdrom, block), ``driver``, ``readonly``, ``bus`` and
    ``target``. ``context_cd``: the context CD-ROM holds ``hdb``. Names are given after
    every explicit TARGET is known, so a later DISK's TARGET is never taken by an earlier
    default. Disk hot-plug (``vm.disks``) reads the same list, so the core's idea of the
    guest's devices is the one the domain was built from."""
    parsed: list[dict[str, Any]] = []
    taken: dict[str, str] = {}
    if context_cd:
        taken[CONTEXT_TARGET] = "the context CD-ROM (CONTEXT_ISO)"
    for index, raw in enumerate(as_list(tpl, "DISK")):
        disk = _parse_disk(f"DISK {index}", raw)
        if disk["target"] is not None:
            if disk["target"] in taken:
                raise InvalidInput(
                    f"{disk['label']} TARGET {disk['target']} is already used by "
                    f"{taken[disk['target']]}: give each disk its own TARGET"
                )
            taken[disk["target"]] = disk["label"]
        parsed.append(disk)
    for disk in parsed:
        if disk["target"] is None:
            bus = disk["bus"] or ("ide" if disk["kind"] == "cdrom" else "virtio")
            disk["bus"] = bus
            disk["target"] = free_name(_PREFIX_OF_BUS[bus], taken, disk["label"])
            taken[disk["target"]] = disk["label"]
    return parsed


def _parse_disk(label: str, raw: Any) -> dict[str, Any]:
    """One DISK vector checked; its bus follows its TARGET when only that is given, and
    both stay None when neither is (``settled_disks`` names it)."""
    disk = _as_vector(label, raw)
    source = _single(disk, "SOURCE", label)
    if not source:
        raise InvalidInput(
            f"{label} SOURCE is required: the image's path on the host, "
            'e.g. SOURCE = "/var/lib/one/datastores/0/1/disk.0"'
        )
    _absolute_path(f"{label} SOURCE", source)
    kind = _choice(f"{label} TYPE", _single(disk, "TYPE", label) or "file", DISK_TYPES)
    driver = _choice(f"{label} DRIVER", _single(disk, "DRIVER", label) or "raw", DISK_DRIVERS)
    readonly = kind == "cdrom" or _yes_no(
        f"{label} READONLY", _single(disk, "READONLY", label), False
    )
    bus = _single(disk, "BUS", label)
    if bus is not None:
        bus = _choice(f"{label} BUS", bus, BUSES)
    target = _single(disk, "TARGET", label)
    if target is not None:
        target = check_target(f"{label} TARGET", target)
        bus = bus or _BUS_OF_PREFIX[target[:2]]
    return {
        "label": label,
        "source": source,
        "kind": kind,
        "driver": driver,
        "readonly": readonly,
        "bus": bus,
        "target": target,
    }


def check_target(label: str, target: str) -> str:
    """A disk's device name (``vdb``, ``sdc``, ``hda``), stripped; InvalidInput naming
    ``label`` otherwise."""
    target = target.strip()
    if not _TARGET_RE.fullmatch(target):
        raise InvalidInput(f"{label} must be a device name such as vda, sdb or hdc, got {target!r}")
    return target


def bus_prefix(bus: str) -> str:
    """The device name prefix of a bus (virtio: ``vd``, scsi/sata/usb: ``sd``, ide: ``hd``)."""
    return _PREFIX_OF_BUS[bus]


def disk_xml(disk: Mapping[str, Any], label: str = "DISK") -> str:
    """The ``<disk>`` element of one DISK vector, which must name its TARGET: what a
    hot-plug sends libvirt, written by the same code as a domain's disks."""
    parsed = _parse_disk(label, disk)
    if parsed["target"] is None:
        raise InvalidInput(f"{label} TARGET is required to attach a disk to a running VM")
    holder = ET.Element("devices")
    _disk_element(holder, parsed)
    return ET.tostring(holder[0], encoding="unicode")


def free_name(prefix: str, taken: Mapping[str, str], label: str) -> str:
    """The first device name of ``prefix`` not in ``taken``."""
    names = _IDE_NAMES if prefix == "hd" else [prefix + chr(c) for c in range(ord("a"), 123)]
    for name in names:
        if name not in taken:
            return name
    raise InvalidInput(
        f"{label}: no free {prefix}* device name is left for it; give it a TARGET on "
        "another bus (e.g. TARGET = sdb)"
    )


def _disk_element(devices: ET.Element, disk: Mapping[str, Any]) -> None:
    is_block = disk["kind"] == "block"
    el = ET.SubElement(
        devices,
        "disk",
        type="block" if is_block else "file",
        device="cdrom" if disk["kind"] == "cdrom" else "disk",
    )
    ET.SubElement(el, "driver", name="qemu", type=disk["driver"])
    ET.SubElement(
        el, "source", **({"dev": disk["source"]} if is_block else {"file": disk["source"]})
    )
    ET.SubElement(el, "target", dev=disk["target"], bus=disk["bus"])
    if disk["readonly"]:
        ET.SubElement(el, "readonly")


def _nics(devices: ET.Element, tpl: Mapping) -> None:
    for index, raw in enumerate(as_list(tpl, "NIC")):
        label = f"NIC {index}"
        nic = _as_vector(label, raw)
        bridge = _single(nic, "BRIDGE", label)
        network = _single(nic, "NETWORK_NAME", label)
        if bridge:
            if not _IFNAME_RE.fullmatch(bridge):
                raise InvalidInput(
                    f"{label} BRIDGE must be a host bridge name (up to 15 letters, digits, "
                    f"'_.:-'), got {bridge!r}"
                )
            el = ET.SubElement(devices, "interface", type="bridge")
            ET.SubElement(el, "source", bridge=bridge)
        elif network:
            if "/" in network or "\n" in network:
                raise InvalidInput(
                    f"{label} NETWORK_NAME must be a libvirt network name, got {network!r}"
                )
            el = ET.SubElement(devices, "interface", type="network")
            ET.SubElement(el, "source", network=network)
        else:
            el = ET.SubElement(devices, "interface", type="user")

        mac = _single(nic, "MAC", label)
        if mac is not None:
            mac = mac.strip().lower()
            if not _MAC_RE.fullmatch(mac) or int(mac[:2], 16) & 1:
                raise InvalidInput(
                    f"{label} MAC must be a unicast MAC address such as 02:00:c0:a8:00:01, "
                    f"got {nic['MAC']!r}"
                )
            ET.SubElement(el, "mac", address=mac)
        target = _single(nic, "TARGET", label)
        if target is not None:
            if not _IFNAME_RE.fullmatch(target):
                raise InvalidInput(
                    f"{label} TARGET must be a tap device name (up to 15 letters, digits, "
                    f"'_.:-'), got {target!r}"
                )
            ET.SubElement(el, "target", dev=target)
        model = _single(nic, "MODEL", label) or "virtio"
        if not _WORD_RE.fullmatch(model):
            raise InvalidInput(
                f"{label} MODEL must be a NIC model such as virtio or e1000, got {model!r}"
            )
        ET.SubElement(el, "model", type=model)


def _graphics(devices: ET.Element, tpl: Mapping) -> None:
    graphics = _vector(tpl, "GRAPHICS")
    if graphics is None:
        return
    kind = _single(graphics, "TYPE", "GRAPHICS")
    if kind is None:
        raise InvalidInput('GRAPHICS TYPE is required: GRAPHICS = [ TYPE = "vnc" ]')
    kind = _choice("GRAPHICS TYPE", kind, GRAPHICS_TYPES)
    el = ET.SubElement(devices, "graphics", type=kind)

    port = _single(graphics, "PORT", "GRAPHICS")
    if port is not None and port.strip():
        low = 5900 if kind == "vnc" else 1
        text = port.strip()
        if not (text.isascii() and text.isdigit() and low <= int(text) <= 65535):
            raise InvalidInput(
                f"GRAPHICS PORT must be a TCP port from {low} to 65535, got {port!r}"
            )
        el.set("port", str(int(text)))
        el.set("autoport", "no")
    else:
        el.set("autoport", "yes")

    listen = _single(graphics, "LISTEN", "GRAPHICS")
    if listen is not None and listen.strip():
        try:
            address = str(ipaddress.ip_address(listen.strip()))
        except ValueError:
            raise InvalidInput(
                f"GRAPHICS LISTEN must be an IP address such as 0.0.0.0, got {listen!r}"
            ) from None
        el.set("listen", address)

    passwd = _single(graphics, "PASSWD", "GRAPHICS")
    if passwd:
        el.set("passwd", passwd)
    keymap = _single(graphics, "KEYMAP", "GRAPHICS")
    if keymap:
        if not _WORD_RE.fullmatch(keymap):
            raise InvalidInput(f"GRAPHICS KEYMAP must be a keymap such as en-us, got {keymap!r}")
        el.set("keymap", keymap)


def _raw(root: ET.Element, tpl: Mapping, domain_type: str) -> None:
    """RAW sections for this hypervisor, appended to <domain> as OpenNebula does."""
    for index, raw in enumerate(as_list(tpl, "RAW")):
        label = "RAW" if "RAW" in tpl and not isinstance(tpl["RAW"], list) else f"RAW {index}"
        section = _as_vector(label, raw)
        kind = _single(section, "TYPE", label)
        if not kind:
            raise InvalidInput(f'{label} TYPE is required: RAW = [ TYPE = "kvm", DATA = "..." ]')
        if kind.strip().lower() not in ("kvm", domain_type):
            continue  # a section for another hypervisor
        data = _single(section, "DATA", label) or ""
        if "<!DOCTYPE" in data.upper() or "<!ENTITY" in data.upper():
            raise InvalidInput(f"{label} DATA must not declare a DOCTYPE or entities")
        try:
            wrapper = ET.fromstring(f"<raw>{data}</raw>")
        except ET.ParseError as err:
            raise InvalidInput(
                f"{label} DATA is not well-formed XML ({err}): give libvirt domain "
                "elements, e.g. DATA = \"<devices><input type='tablet' bus='usb'/></devices>\""
            ) from None
        stray = [(wrapper.text or "").strip()] + [(child.tail or "").strip() for child in wrapper]
        if any(stray):
            raise InvalidInput(f"{label} DATA must hold only XML elements, found text {stray!r}")
        for child in wrapper:
            child.tail = None
            root.append(child)


# --------------------------------------------------------------------------------------
# The domain
# --------------------------------------------------------------------------------------


def domain_xml(spec: VmSpec, domain_type: str, emulator: str | None = None) -> str:
    """The ``<domain>`` document for ``spec`` on a ``domain_type`` (kvm, qemu, test) host.

    ``emulator`` is the QEMU binary; None lets libvirt choose its default for the arch."""
    root = _domain(spec, domain_type, emulator)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def check_domain(spec: VmSpec, domain_type: str = "kvm") -> None:
    """Raise what ``domain_xml`` would raise for ``spec`` (InvalidInput naming the
    attribute), without writing the document: writing it is most of its cost, and a VM
    allocated is checked long before it is deployed."""
    _domain(spec, domain_type, None)


def _domain(spec: VmSpec, domain_type: str, emulator: str | None) -> ET.Element:
    tpl = spec.template
    if not isinstance(tpl, Mapping):
        raise InvalidInput("the VM template must be a set of attributes")
    root = ET.Element("domain", type=domain_type)
    ET.SubElement(root, "name").text = spec.deploy_id
    title = _BAD_XML_CHARS.sub("", " ".join(str(spec.name).splitlines()))
    if title:
        ET.SubElement(root, "title").text = title

    _memory_and_cpu(root, tpl)
    _os(root, tpl)
    _features(root, tpl)

    devices = ET.SubElement(root, "devices")
    if emulator:
        ET.SubElement(devices, "emulator").text = _xml_safe("emulator", emulator)
    _disks(devices, tpl)
    _nics(devices, tpl)
    _graphics(devices, tpl)
    # A serial console always: a diskless guest idles in SeaBIOS, and it is the way in
    # when the network is not up.
    ET.SubElement(devices, "serial", type="pty")
    console = ET.SubElement(devices, "console", type="pty")
    ET.SubElement(console, "target", type="serial", port="0")

    _raw(root, tpl, domain_type)
    return root

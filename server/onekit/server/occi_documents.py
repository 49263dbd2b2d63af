"""The OCCI 0.8 documents as OpenNebula 4.6's OCCI server wrote them (its
``*OCCI.rb`` ERB templates and the RSpec fixtures of ``src/cloud/occi/test``): one line,
no blanks between elements, ``href`` the first attribute, every href under the base URL
(``:ssl_server:`` when set). Text is escaped, and what XML 1.0 cannot carry replaced
(``xml_chars``): 4.6 wrote user text raw, so a ``<`` in a name broke its documents.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from ansible_collections.onekit.cloud.plugins.module_utils.core import template
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import ImageState
from ansible_collections.onekit.cloud.plugins.module_utils.occi import network, sharing, states
from ansible_collections.onekit.cloud.plugins.module_utils.occi.config import InstanceType
from ansible_collections.onekit.cloud.plugins.module_utils.vm import disks
from onekit.server.xml_chars import xml_safe

Body = dict[str, Any]
COLLECTIONS = ("compute", "instance_type", "network", "storage", "user")


def _sub(parent: ET.Element, tag: str, value: Any = None, **attrs: Any) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: xml_safe(v) for k, v in attrs.items()})
    if value is not None:
        element.text = xml_safe(value)
    return element


def _root(tag: str, **attrs: Any) -> ET.Element:
    return ET.Element(tag, {k: xml_safe(v) for k, v in attrs.items()})


def text(element: ET.Element) -> str:
    """The document on one line as 4.6 wrote it: ``<A href="..."/>`` for an empty
    element, ``<X_COLLECTION></X_COLLECTION>`` for an empty collection (its text is "")."""
    parts: list[str] = []
    _write(element, parts)
    return "".join(parts)


def _write(element: ET.Element, parts: list[str]) -> None:
    attrs = "".join(f" {name}={quoteattr(value)}" for name, value in element.attrib.items())
    if element.text is None and len(element) == 0:
        parts.append(f"<{element.tag}{attrs}/>")
        return
    parts.append(f"<{element.tag}{attrs}>{escape(element.text or '')}")
    for child in element:
        _write(child, parts)
    parts.append(f"</{element.tag}>")


def _owner(parent: ET.Element, base: str, body: Body) -> None:
    _sub(parent, "USER", href=f"{base}/user/{body['UID']}", name=body.get("UNAME", ""))
    _sub(parent, "GROUP", body.get("GNAME", ""))


def collections(base: str) -> ET.Element:
    root = _root("COLLECTIONS")
    for kind in COLLECTIONS:
        _sub(root, f"{kind.upper()}_COLLECTION", href=f"{base}/{kind}")
    return root


def collection(
    kind: str, base: str, bodies: Iterable[Body], verbose: bool, full: Any = None
) -> ET.Element:
    """``<KIND_COLLECTION>`` of ``<KIND href name/>``, or of full documents (``?verbose``,
    ``full(base, body)``)."""
    tag = kind.upper()
    root = _root(f"{tag}_COLLECTION")
    root.text = ""
    for body in bodies:
        if verbose and full is not None:
            root.append(full(base, body))
        else:
            _sub(root, tag, href=f"{base}/{kind}/{body['ID']}", name=body.get("NAME", ""))
    return root


def instance_type(base: str, itype: InstanceType, verbose: bool = True) -> ET.Element:
    root = _root("INSTANCE_TYPE", href=f"{base}/instance_type/{itype.name}", name=itype.name)
    if verbose:
        _sub(root, "ID", itype.name)
        _sub(root, "NAME", itype.name)
        _sub(root, "CPU", itype.cpu_text)  # 4.6: every key but :template:, sorted
        _sub(root, "MEMORY", itype.memory)
    return root


def instance_types(base: str, types: Iterable[InstanceType], verbose: bool) -> ET.Element:
    root = _root("INSTANCE_TYPE_COLLECTION")
    root.text = ""
    for itype in sorted(types, key=lambda t: t.name):
        root.append(instance_type(base, itype, verbose))
    return root


def compute(base: str, vm: Body) -> ET.Element:
    tpl = vm.get("TEMPLATE") or {}
    user_tpl = vm.get("USER_TEMPLATE") or {}
    root = _root("COMPUTE", href=f"{base}/compute/{vm['ID']}")
    _sub(root, "ID", vm["ID"])
    _owner(root, base, vm)
    _sub(root, "CPU", tpl.get("CPU", ""))
    _sub(root, "MEMORY", tpl.get("MEMORY", ""))
    _sub(root, "NAME", vm.get("NAME", ""))
    itype = user_tpl.get("INSTANCE_TYPE")
    if isinstance(itype, str) and itype:
        _sub(root, "INSTANCE_TYPE", itype, href=f"{base}/instance_type/{itype}")
    _sub(root, "STATE", states.state_str(vm["STATE"]))
    for disk in disks.numbered(tpl):
        element = _sub(root, "DISK", id=disk["DISK_ID"])
        if disk.get("SAVE_AS"):
            _sub(element, "SAVE_AS", href=f"{base}/storage/{disk['SAVE_AS']}")
        _sub(
            element,
            "STORAGE",
            href=f"{base}/storage/{disk.get('IMAGE_ID', '')}",
            name=disk.get("IMAGE", ""),
        )
        _sub(element, "TYPE", str(disk.get("TYPE", "FILE")).upper())
        _sub(element, "TARGET", disk.get("TARGET", ""))
    for nic in template.as_list(tpl, "NIC"):
        element = _sub(root, "NIC")
        _sub(
            element,
            "NETWORK",
            href=f"{base}/network/{nic.get('NETWORK_ID', '')}",
            name=nic.get("NETWORK", ""),
        )
        if nic.get("IP"):
            _sub(element, "IP", nic["IP"])
        if nic.get("MAC"):
            _sub(element, "MAC", nic["MAC"])
    context = tpl.get("CONTEXT")
    if isinstance(context, dict) and context:
        element = _sub(root, "CONTEXT")
        for key, value in context.items():
            _sub(element, key, value)
    return root


def storage(base: str, image: Body) -> ET.Element:
    tpl = image.get("TEMPLATE") or {}
    root = _root("STORAGE", href=f"{base}/storage/{image['ID']}")
    _sub(root, "ID", image["ID"])
    _sub(root, "NAME", image.get("NAME", ""))
    _owner(root, base, image)
    _sub(root, "STATE", ImageState(image.get("STATE", ImageState.READY)).name)
    if image.get("TYPE"):
        _sub(root, "TYPE", image["TYPE"])
    if isinstance(tpl.get("DESCRIPTION"), str):
        _sub(root, "DESCRIPTION", tpl["DESCRIPTION"])
    _sub(root, "SIZE", image.get("SIZE", 0))
    if image.get("FSTYPE"):
        _sub(root, "FSTYPE", image["FSTYPE"])
    _sub(root, "PUBLIC", "YES" if sharing.is_public(image) else "NO")
    _sub(root, "PERSISTENT", "YES" if image.get("PERSISTENT") else "NO")
    return root


def network_doc(base: str, net: Body) -> ET.Element:
    tpl = net.get("TEMPLATE") or {}
    root = _root("NETWORK", href=f"{base}/network/{net['ID']}")
    _sub(root, "ID", net["ID"])
    _sub(root, "NAME", net.get("NAME", ""))
    _owner(root, base, net)
    if isinstance(tpl.get("DESCRIPTION"), str):
        _sub(root, "DESCRIPTION", tpl["DESCRIPTION"])
    shown = network.range_of(net)
    if shown is not None:
        _sub(root, "ADDRESS", shown[0])
        _sub(root, "SIZE", shown[1])
    _sub(root, "USED_LEASES", len(net.get("LEASES") or {}))
    _sub(root, "PUBLIC", "YES" if sharing.is_public(net) else "NO")
    return root


def user(base: str, body: Body, quota: Body | None = None) -> ET.Element:
    root = _root("USER", href=f"{base}/user/{body['ID']}")
    _sub(root, "ID", body["ID"])
    _sub(root, "NAME", body.get("NAME", ""))
    _sub(root, "GROUP", body.get("GNAME", ""))
    if quota is not None:  # 4.6: the user's VM_QUOTA element as oned wrote it
        vm_quota = _sub(_sub(root, "VM_QUOTA"), "VM")
        for key, value in (quota.get("VM") or {}).items():
            _sub(vm_quota, key, value)
    return root

"""OpenNebula's XML-RPC API (``POST /RPC2``) for tests: a running cloud whose core port
serves it, real pyone clients, and every document checked against OpenNebula's XML
schemas (``tests/data/opennebula_xsd``, OpenNebula 7.3's, whose bindings pyone 7.3 has).

``Rpc2Cloud.raw(method, *params)`` sends a call with the standard library's client and
validates any XML document in the answer; ``Rpc2Cloud.one(user)`` is a pyone client
whose transport validates every document it receives before pyone parses it.
"""

from __future__ import annotations

import xmlrpc.client
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from support.cloud import RunningCloud

XSD_DIR = Path(__file__).resolve().parent.parent / "data" / "opennebula_xsd"
NAMESPACE = "http://opennebula.org/XMLSchema"
# the schema file of each document's root element
SCHEMA_OF = {
    "VM": "vm.xsd",
    "VM_POOL": "vm_pool.xsd",
    "HOST": "host.xsd",
    "HOST_POOL": "host_pool.xsd",
    "VMTEMPLATE": "vmtemplate.xsd",
    "VMTEMPLATE_POOL": "vmtemplate_pool.xsd",
    "IMAGE": "image.xsd",
    "IMAGE_POOL": "image_pool.xsd",
    "VNET": "vnet.xsd",
    "VNET_POOL": "vnet_pool.xsd",
    "USER": "user.xsd",
    "USER_POOL": "user_pool.xsd",
    "GROUP": "group.xsd",
    "GROUP_POOL": "group_pool.xsd",
    "CLUSTER": "cluster.xsd",
    "CLUSTER_POOL": "cluster_pool.xsd",
    "DATASTORE": "datastore.xsd",
    "DATASTORE_POOL": "datastore_pool.xsd",
    "ZONE": "zone.xsd",
    "ZONE_POOL": "zone_pool.xsd",
    "ACL_POOL": "acl_pool.xsd",
    "OPENNEBULA_CONFIGURATION": "opennebula_configuration.xsd",
}


@cache
def _schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_DIR / name)))


def _namespaced(root: etree._Element) -> etree._Element:
    """OpenNebula's documents carry no namespace; its schemas have one."""
    for element in root.iter():
        if isinstance(element.tag, str) and not element.tag.startswith("{"):
            element.tag = f"{{{NAMESPACE}}}{element.tag}"
    return root


def validate(document: str) -> etree._Element:
    """Check one document against its schema; returns it parsed (without namespace). A
    VM_POOL of full VMs (one.vmpool.infoextended) has a schema of its own."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(document.encode(), parser)
    name = SCHEMA_OF.get(root.tag)
    if root.tag == "VM_POOL" and root.find("VM/PERMISSIONS") is not None:
        name = "vm_pool_extended.xsd"
    assert name is not None, f"no schema for the document {root.tag}"
    schema = _schema(name)
    if not schema.validate(_namespaced(etree.fromstring(document.encode(), parser))):
        errors = "; ".join(str(e) for e in schema.error_log)
        raise AssertionError(f"{root.tag} does not follow {name}: {errors}\n{document[:2000]}")
    return root


def validate_what_pyone_parses() -> None:
    """Every document any pyone client of this process parses is validated first."""
    from pyone import bindings

    if getattr(bindings.parseString, "validates", False):
        return
    original = bindings.parseString

    def checked(text: bytes, *args: Any, **kwargs: Any) -> Any:
        validate(text.decode() if isinstance(text, bytes) else text)
        return original(text, *args, **kwargs)

    checked.validates = True  # type: ignore[attr-defined]
    bindings.parseString = checked


def _is_document(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("<")


class Rpc2Cloud(RunningCloud):
    """The running cloud; its core port serves ``/RPC2``."""

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.core_port}/RPC2"

    def session_of(self, user: str) -> str:
        if user == "oneadmin":
            return self.instance.auth_path.read_text().strip()  # oneadmin:<password>
        return f"{user}:pw-{user}"

    def raw(self, method: str, *params: Any, user: str = "oneadmin", session: str | None = None):
        """``[success, result, code, ...]`` of one call, documents validated."""
        proxy = xmlrpc.client.ServerProxy(self.endpoint, allow_none=False)
        answer = getattr(proxy, method)(session or self.session_of(user), *params)
        if answer[0] and _is_document(answer[1]):
            validate(answer[1])
        return answer

    def one(self, user: str = "oneadmin", session: str | None = None):
        """A pyone client (XML-RPC) as ``user``; what it parses is validated."""
        import pyone

        validate_what_pyone_parses()
        return pyone.OneServer(self.endpoint, session=session or self.session_of(user))

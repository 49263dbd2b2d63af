"""NETWORK resources: networks made from ``network.j2`` with the NETWORK document's
NAME, ADDRESS, SIZE, DESCRIPTION and PUBLIC (``objects.networks``, as the caller)."""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.objects import networks
from ansible_collections.onekit.cloud.plugins.module_utils.occi import sharing
from ansible_collections.onekit.cloud.plugins.module_utils.occi.hrefs import flag, text
from ansible_collections.onekit.cloud.plugins.module_utils.occi.renderer import NETWORK, Renderer

Body = dict[str, Any]


def create(session: Session, renderer: Renderer, doc: ET.Element) -> Body:
    """POST /network."""
    values = {key: text(doc, key) for key in ("NAME", "ADDRESS", "SIZE", "DESCRIPTION")}
    if not values["NAME"]:
        raise InvalidInput("NETWORK/NAME is missing: every network needs a name")
    if not values["ADDRESS"]:
        raise InvalidInput("NETWORK/ADDRESS is missing: the network's address, like 192.168.1.0")
    try:
        ipaddress.IPv4Address(values["ADDRESS"].split("/")[0])
    except ValueError:
        raise InvalidInput(
            f"NETWORK/ADDRESS {values['ADDRESS'][:40]!r} is not an IPv4 address"
        ) from None
    public = flag(doc, "PUBLIC")
    values["PUBLIC"] = None if public is None else ("YES" if public else "NO")
    net = networks.create(session, renderer.render(NETWORK, network=values))
    if public:
        sharing.publish(session, schema.NETWORKS, net, True)
    return net


def update(session: Session, net: Body, doc: ET.Element) -> bool:
    """PUT /network/<id>: PUBLIC; whether it changed."""
    public = flag(doc, "PUBLIC")
    return public is not None and sharing.publish(session, schema.NETWORKS, net, public)


def range_of(net: Body) -> tuple[str, int] | None:
    """ADDRESS and SIZE as 4.6's NETWORK shows them: the first address and the last
    minus the first (4.6's arithmetic: 125 for the 126 hosts of a /25)."""
    addresses = net.get("ADDRESSES") or []
    if not addresses:
        return None
    first, last = ipaddress.IPv4Address(addresses[0]), ipaddress.IPv4Address(addresses[-1])
    return str(first), int(last) - int(first)

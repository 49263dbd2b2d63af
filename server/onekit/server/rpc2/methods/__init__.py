"""Every ``one.*`` method onekit answers, registered in ``registry.METHODS`` by the
modules below, one per kind of object (importing them fills the table)."""

from onekit.server.rpc2.methods import (  # noqa: F401 (they register)
    acls,
    clusters,
    datastores,
    groups,
    hosts,
    images,
    system,
    templates,
    users,
    vms,
    vnets,
    zones,
)
from onekit.server.rpc2.methods.registry import METHODS

__all__ = ["METHODS"]

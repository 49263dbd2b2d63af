"""DescribeRegions and DescribeAvailabilityZones: one region and one zone, ``opennebula``
(econe's), at the endpoint the client called."""

from __future__ import annotations

from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.econe import filters
from ansible_collections.onekit.cloud.plugins.module_utils.econe.call import Call
from ansible_collections.onekit.cloud.plugins.module_utils.econe.instances import ZONE


def describe_regions(call: Call) -> dict[str, Any]:
    given = call.params.filters()
    filters.check_names(given, ("region-name", "endpoint"))
    endpoint = call.config.ssl_server or call.config.url
    names = call.params.list("RegionName")
    region = {"regionName": ZONE, "regionEndpoint": endpoint}
    keep = (not names or ZONE in names) and filters.matches(
        given, {"region-name": [ZONE], "endpoint": [endpoint]}
    )
    return {"regionInfo": [region] if keep else []}


def describe_availability_zones(call: Call) -> dict[str, Any]:
    given = call.params.filters()
    filters.check_names(given, ("zone-name", "region-name", "state"))
    names = call.params.list("ZoneName")
    zone = {"zoneName": ZONE, "zoneState": "available", "regionName": ZONE, "messageSet": []}
    keep = (not names or ZONE in names) and filters.matches(
        given, {"zone-name": [ZONE], "region-name": [ZONE], "state": ["available"]}
    )
    return {"availabilityZoneInfo": [zone] if keep else []}


ACTIONS = {
    "DescribeRegions": describe_regions,
    "DescribeAvailabilityZones": describe_availability_zones,
}

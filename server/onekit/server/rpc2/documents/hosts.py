"""``HOST`` and ``HOST_POOL`` (host.xsd, host_pool.xsd)."""

from __future__ import annotations

from collections.abc import Iterable

from ansible_collections.onekit.cloud.plugins.module_utils.objects import clusters
from onekit.server.rpc2.documents import Body, element, elements, ids, pool, template


def _number(value: object) -> int:
    try:
        return int(float(str(value)))
    except ValueError:
        return 0


def _share(host: Body) -> str:
    share = host.get("HOST_SHARE") or {}
    tpl = host.get("TEMPLATE") or {}
    # what the hypervisor has (onekit keeps MAX_* less the reserved share, and the
    # monitor's totals in the TEMPLATE)
    total_cpu = _number(tpl.get("TOTALCPU", share.get("MAX_CPU", 0)))
    total_mem = _number(tpl.get("TOTALMEMORY", share.get("MAX_MEM", 0)))
    return (
        "<HOST_SHARE>"
        + elements(share, ("MEM_USAGE", "CPU_USAGE"), 0)
        + element("TOTAL_MEM", total_mem)
        + element("TOTAL_CPU", total_cpu)
        + elements(share, ("MAX_MEM", "MAX_CPU", "RUNNING_VMS"), 0)
        + element("VMS_THREAD", 1)
        + "<DATASTORES>"
        + element("DISK_USAGE", share.get("DISK_USAGE", 0))
        + elements(share, ("FREE_DISK", "MAX_DISK", "USED_DISK"), 0)
        + "</DATASTORES>"
        + "<PCI_DEVICES/><NUMA_NODES/>"
        + "</HOST_SHARE>"
    )


def _monitoring(host: Body) -> str:
    share = host.get("HOST_SHARE") or {}
    capacity = (
        element("FREE_CPU", share.get("FREE_CPU", 0))
        + element("FREE_MEMORY", share.get("FREE_MEM", 0))
        + element("USED_CPU", share.get("USED_CPU", 0))
        + element("USED_MEMORY", share.get("USED_MEM", 0))
    )
    return (
        "<MONITORING>"
        + element("TIMESTAMP", host.get("LAST_MON_TIME", 0))
        + element("ID", host.get("ID", 0))
        + f"<CAPACITY>{capacity}</CAPACITY>"
        + "</MONITORING>"
    )


def host(body: Body) -> str:
    state = body.get("STATE", 0)
    return (
        "<HOST>"
        + elements(body, ("ID", "NAME"), 0)
        + element("STATE", state)
        + element("PREV_STATE", body.get("PREV_STATE", state))
        + elements(body, ("IM_MAD", "VM_MAD"))
        # every host is in onekit's one cluster (objects.clusters)
        + element("CLUSTER_ID", clusters.DEFAULT_ID)
        + element("CLUSTER", clusters.DEFAULT_NAME)
        + _share(body)
        + ids("VMS", body.get("VMS") or ())
        + template(body.get("TEMPLATE") or {})
        + _monitoring(body)
        + "</HOST>"
    )


def host_pool(bodies: Iterable[Body]) -> str:
    return pool("HOST_POOL", (host(b) for b in bodies))

"""onehost: register hypervisors (create, delete, enable, disable, update, list, show,
monitor)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import template
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    HostState,
    host_short_state,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import monitor
from onekit.cli import samples
from onekit.cli.common import (
    Cli,
    Column,
    Context,
    Pool,
    arg,
    core,
    id_list,
    read_template_file,
    show_fields,
    size,
    timestamp,
)


def _monitor_now(ctx: Context, host_ids: list[int]) -> list[monitor.HostReport]:
    """One monitoring pass of these hosts, so a new host is usable at once (another
    zone's server monitors its own hosts)."""
    if ctx.endpoint is not None:
        return []
    return monitor.first_poll(ctx.session, ctx.instance.monitor_config(), host_ids)


def _create(ctx: Context, args: argparse.Namespace) -> None:
    tpl = read_template_file(args.template) if args.template else None
    host = ctx.call(hosts.create, args.name, args.im, args.vm, args.uri, tpl)
    ctx.out(f"ID: {host['ID']}")
    if not args.no_monitor:
        for report in _monitor_now(ctx, [host["ID"]]):
            if report.error:  # registered all the same: a note, not a failure
                print(
                    f"onehost create: host {report.name} is ERROR: {report.error}", file=sys.stderr
                )


def _monitor(ctx: Context, args: argparse.Namespace) -> int:
    """Poll now (what the server does every MONITORING_INTERVAL)."""
    ids = [ctx.call(hosts.show, ref)["ID"] for ref in id_list(args.hosts)] if args.hosts else None
    status = 0
    # another zone's server polls with its own settings
    config = ctx.instance.monitor_config() if ctx.endpoint is None else None
    for report in ctx.call(monitor.poll_now, config, ids):
        state = HostState(report.state).name
        ctx.out(f"{report.name}: {state}" + (f" ({report.error})" if report.error else ""))
        status = status or (1 if report.error else 0)
    return status


def _allocated(used: int, total: int, unit: Callable[[Any], str]) -> str:
    percent = f" ({100 * used // total}%)" if total else ""
    return f"{unit(used)} / {unit(total)}{percent}"


def _fields(_ctx: Context, host: dict) -> list[tuple[str, Any]]:
    return [
        ("ID", host["ID"]),
        ("NAME", host["NAME"]),
        ("CLUSTER", host.get("CLUSTER") or "-"),
        ("STATE", HostState(host["STATE"]).name),
        ("IM_MAD", host["IM_MAD"]),
        ("VM_MAD", host["VM_MAD"]),
        ("VN_MAD", host["VN_MAD"]),
        ("URI", hosts.address_of(host)),
        ("LAST MONITORING TIME", timestamp(host["LAST_MON_TIME"])),
    ]


def _sections(_ctx: Context, host: dict) -> list[str]:
    share = host["HOST_SHARE"]
    shares = [
        ("TOTAL MEM", size(share["MAX_MEM"])),
        ("USED MEM (REAL)", size(share["USED_MEM"])),
        ("USED MEM (ALLOCATED)", size(share["MEM_USAGE"])),
        ("TOTAL CPU", share["MAX_CPU"]),
        ("USED CPU (REAL)", share["USED_CPU"]),
        ("USED CPU (ALLOCATED)", share["CPU_USAGE"]),
        ("RUNNING VMS", share["RUNNING_VMS"]),
    ]
    return [
        show_fields("HOST SHARES", shares),
        "MONITORING INFORMATION\n" + template.dumps(host["TEMPLATE"]).rstrip(),
        "VIRTUAL MACHINES\n" + (" ".join(str(v) for v in host["VMS"]) or "-"),
    ]


# what a host's share holds against its capacity: `onehost list` and its monitoring samples
_ALLOCATED = (
    Column(
        "ALLOCATED_CPU",
        lambda h: _allocated(h["HOST_SHARE"]["CPU_USAGE"], h["HOST_SHARE"]["MAX_CPU"], str),
        right=True,
    ),
    Column(
        "ALLOCATED_MEM",
        lambda h: _allocated(h["HOST_SHARE"]["MEM_USAGE"], h["HOST_SHARE"]["MAX_MEM"], size),
        right=True,
    ),
)

_SAMPLE_COLUMNS = [
    samples.time_column(),
    Column("STAT", lambda s: host_short_state(s["STATE"]), width=4),
    Column("USED_CPU", lambda s: s["HOST_SHARE"]["USED_CPU"], right=True),
    Column("USED_MEM", lambda s: size(s["HOST_SHARE"]["USED_MEM"]), right=True),
    *_ALLOCATED,
    Column("RVM", lambda s: s["HOST_SHARE"]["RUNNING_VMS"], right=True),
]

HOSTS = Pool(
    noun="host",
    key="HOST",
    list=core(hosts.list_hosts),
    show=core(hosts.show),
    update=core(hosts.update),
    delete=core(hosts.delete),
    columns=[
        Column("ID", lambda h: h["ID"], right=True, width=4),
        Column("NAME", lambda h: h["NAME"], width=15),
        Column("CLUSTER", lambda h: h.get("CLUSTER") or "-", width=10),
        Column("RVM", lambda h: h["HOST_SHARE"]["RUNNING_VMS"], right=True, width=4),
        *_ALLOCATED,
        Column("STAT", lambda h: host_short_state(h["STATE"]), width=4),
    ],
    fields=_fields,
    sections=_sections,
)


def build() -> Cli:
    cli = Cli("onehost", "Manage hosts (hypervisors reached through libvirt).")
    p = cli.command(
        "create",
        "register a host; prints its ID and monitors it once",
        _create,
        description="Register a host. KVM hosts are reached at qemu+ssh://<name>/system "
        "unless --uri names another libvirt URI (qemu:///system for this machine, "
        "test+unix:///default for libvirt's simulated hypervisor). An EC2 region is a "
        "host with --im ec2 --vm ec2 and no URI, named after its entry in "
        "etc/ec2_driver.conf (onehost create us-east-1 --im ec2 --vm ec2 --net dummy).",
    )
    p.add_argument("name", help="host name")
    p.add_argument("--im", "-i", default="kvm", choices=hosts.IM_MADS, help="monitoring driver")
    p.add_argument("--vm", "-v", default="kvm", choices=hosts.VM_MADS, help="VM driver")
    p.add_argument("--net", "-n", default="dummy", help="network driver (accepted, unused)")
    p.add_argument("--uri", help="libvirt URI (default qemu+ssh://<name>/system)")
    p.add_argument("--template", help="a file of host attributes (PRIORITY, RESERVED_CPU...)")
    p.add_argument("--no-monitor", action="store_true", help="do not poll the host now")
    pool = cli.pool(HOSTS)
    ids_help = "host ids or names: 0,1 or a range 0..3"
    pool.delete("delete hosts that run no VMs", ids_help)
    pool.each("enable", "enable hosts", core(hosts.enable), ids_help=ids_help)
    pool.each("disable", "disable hosts (no new VMs)", core(hosts.disable), ids_help=ids_help)
    pool.update(
        "replace (or --append to) a host's attributes",
        arg("template", help="file with the attributes (- for stdin)"),
    )
    p = cli.command("forceupdate", "poll hosts now and print their states", _monitor)
    p.add_argument("hosts", nargs="?", help="host ids or names (default: all)")
    pool.list("list hosts")
    samples.show_with_samples(
        cli,
        HOSTS,
        "show a host (--monitoring: and its recent monitoring samples)",
        monitor.host_monitoring,
        "MONITORING HISTORY",
        _SAMPLE_COLUMNS,
    )
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

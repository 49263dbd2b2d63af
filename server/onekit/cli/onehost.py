"""onehost: register hypervisors (create, delete, enable, disable, update, list, show,
monitor)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ansible_collections.onekit.cloud.plugins.module_utils.core import template
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    HostState,
    host_short_state,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import monitor
from onekit.cli.common import (
    Cli,
    Column,
    Context,
    add_json_flag,
    id_list,
    read_template_file,
    show_fields,
    size,
    table,
    timestamp,
)


def _monitor_now(ctx: Context, host_ids: list[int]) -> list[monitor.HostReport]:
    """One monitoring pass of these hosts, so a new host is usable at once (another
    zone's server monitors its own hosts)."""
    if ctx.endpoint is not None:
        return []
    system = Session.system(ctx.session.db)
    return monitor.cycle(system, ctx.instance.monitor_config(), host_ids)


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


def _delete(ctx: Context, args: argparse.Namespace) -> int:
    return ctx.for_each(id_list(args.hosts), lambda ref: ctx.call(hosts.delete, ref))


def _enable(ctx: Context, args: argparse.Namespace) -> int:
    return ctx.for_each(id_list(args.hosts), lambda ref: ctx.call(hosts.enable, ref))


def _disable(ctx: Context, args: argparse.Namespace) -> int:
    return ctx.for_each(id_list(args.hosts), lambda ref: ctx.call(hosts.disable, ref))


def _update(ctx: Context, args: argparse.Namespace) -> None:
    ctx.call(hosts.update, args.host, read_template_file(args.template), args.append)


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


def _allocated(used: int, total: int, unit) -> str:
    percent = f" ({100 * used // total}%)" if total else ""
    return f"{unit(used)} / {unit(total)}{percent}"


def _list(ctx: Context, args: argparse.Namespace) -> None:
    rows = ctx.call(hosts.list_hosts)
    if args.json:
        ctx.json({"HOST_POOL": {"HOST": rows}})
        return
    ctx.out(
        table(
            rows,
            [
                Column("ID", lambda h: h["ID"], right=True, width=4),
                Column("NAME", lambda h: h["NAME"], width=15),
                Column("CLUSTER", lambda h: h.get("CLUSTER") or "-", width=10),
                Column("RVM", lambda h: h["HOST_SHARE"]["RUNNING_VMS"], right=True, width=4),
                Column(
                    "ALLOCATED_CPU",
                    lambda h: _allocated(
                        h["HOST_SHARE"]["CPU_USAGE"], h["HOST_SHARE"]["MAX_CPU"], str
                    ),
                    right=True,
                ),
                Column(
                    "ALLOCATED_MEM",
                    lambda h: _allocated(
                        h["HOST_SHARE"]["MEM_USAGE"], h["HOST_SHARE"]["MAX_MEM"], size
                    ),
                    right=True,
                ),
                Column("STAT", lambda h: host_short_state(h["STATE"]), width=4),
            ],
        )
    )


def _show(ctx: Context, args: argparse.Namespace) -> None:
    host = ctx.call(hosts.show, args.host)
    if args.json:
        ctx.json({"HOST": host})
        return
    share = host["HOST_SHARE"]
    ctx.out(
        show_fields(
            f"HOST {host['ID']} INFORMATION",
            [
                ("ID", host["ID"]),
                ("NAME", host["NAME"]),
                ("CLUSTER", host.get("CLUSTER") or "-"),
                ("STATE", HostState(host["STATE"]).name),
                ("IM_MAD", host["IM_MAD"]),
                ("VM_MAD", host["VM_MAD"]),
                ("VN_MAD", host["VN_MAD"]),
                ("URI", hosts.uri_of(host)),
                ("LAST MONITORING TIME", timestamp(host["LAST_MON_TIME"])),
            ],
        )
    )
    ctx.out()
    ctx.out(
        show_fields(
            "HOST SHARES",
            [
                ("TOTAL MEM", size(share["MAX_MEM"])),
                ("USED MEM (REAL)", size(share["USED_MEM"])),
                ("USED MEM (ALLOCATED)", size(share["MEM_USAGE"])),
                ("TOTAL CPU", share["MAX_CPU"]),
                ("USED CPU (REAL)", share["USED_CPU"]),
                ("USED CPU (ALLOCATED)", share["CPU_USAGE"]),
                ("RUNNING VMS", share["RUNNING_VMS"]),
            ],
        )
    )
    ctx.out("\nMONITORING INFORMATION")
    ctx.out(template.dumps(host["TEMPLATE"]).rstrip())
    ctx.out("\nVIRTUAL MACHINES")
    ctx.out(" ".join(str(v) for v in host["VMS"]) or "-")


def build() -> Cli:
    cli = Cli("onehost", "Manage hosts (hypervisors reached through libvirt).")
    p = cli.command(
        "create",
        "register a host; prints its ID and monitors it once",
        _create,
        description="Register a host. KVM hosts are reached at qemu+ssh://<name>/system "
        "unless --uri names another libvirt URI (qemu:///system for this machine, "
        "test+unix:///default for libvirt's simulated hypervisor).",
    )
    p.add_argument("name", help="host name")
    p.add_argument("--im", "-i", default="kvm", choices=hosts.IM_MADS, help="monitoring driver")
    p.add_argument("--vm", "-v", default="kvm", choices=hosts.VM_MADS, help="VM driver")
    p.add_argument("--net", "-n", default="dummy", help="network driver (accepted, unused)")
    p.add_argument("--uri", help="libvirt URI (default qemu+ssh://<name>/system)")
    p.add_argument("--template", help="a file of host attributes (PRIORITY, RESERVED_CPU...)")
    p.add_argument("--no-monitor", action="store_true", help="do not poll the host now")
    for name, handler, text in (
        ("delete", _delete, "delete hosts that run no VMs"),
        ("enable", _enable, "enable hosts"),
        ("disable", _disable, "disable hosts (no new VMs)"),
    ):
        p = cli.command(name, text, handler)
        p.add_argument("hosts", help="host ids or names: 0,1 or a range 0..3")
    p = cli.command("update", "replace (or --append to) a host's attributes", _update)
    p.add_argument("host", help="host id or name")
    p.add_argument("template", help="file with the attributes (- for stdin)")
    p.add_argument("--append", "-a", action="store_true", help="merge instead of replace")
    p = cli.command("forceupdate", "poll hosts now and print their states", _monitor)
    p.add_argument("hosts", nargs="?", help="host ids or names (default: all)")
    p = cli.command("list", "list hosts", _list)
    add_json_flag(p)
    p = cli.command("show", "show a host", _show)
    p.add_argument("host", help="host id or name")
    add_json_flag(p)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

"""onevm: VMs (create, list, show, deploy, and every life-cycle action of the guide)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import OneError
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    Lcm,
    VmState,
    short_state,
)
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, monitor, vms
from onekit.cli import samples
from onekit.cli.common import (
    Cli,
    Column,
    Context,
    Ownership,
    Pool,
    arg,
    core,
    duration,
    id_list,
    owned_columns,
    owned_fields,
    permissions,
    read_template_file,
    show_fields,
    size,
    table,
    timestamp,
)
from onekit.cli.placement import place


def _create(ctx: Context, args: argparse.Namespace) -> int:
    vm = ctx.call(vms.create, read_template_file(args.file), hold=args.hold)
    ctx.out(f"ID: {vm['ID']}")
    return 0 if args.hold else place(ctx, [vm["ID"]])


def _action(name: str, hard: str | None = None, alt: str | None = None):
    """A handler running lifecycle action ``name`` (``hard`` with --hard, ``alt`` with
    --recreate) on each VM of the list; it reports each failure on its own line."""

    def handler(ctx: Context, args: argparse.Namespace) -> int:
        action = name
        if hard and getattr(args, "hard", False):
            action = hard
        if alt and getattr(args, "recreate", False):
            action = alt
        options = {"name": getattr(args, "snapshot", None)}
        made_pending: list[int] = []

        def one(ref: str) -> None:
            for outcome in ctx.call(lifecycle.act, [ref], action, **options):
                if outcome.error:
                    raise OneError(f"VM {outcome.vm['ID']}: {outcome.error}")
                if outcome.vm["STATE"] == VmState.PENDING:
                    made_pending.append(outcome.vm["ID"])

        status = ctx.for_each(id_list(args.vms), one)
        if made_pending:
            status = place(ctx, made_pending) or status
        return status

    return handler


def _deploy(ctx: Context, args: argparse.Namespace) -> int:
    vm_id, host_id = ctx.call(lifecycle.authorize_deploy, args.vm, args.host)
    for outcome in ctx.call(lifecycle.deploy, [(vm_id, host_id)], enforce=args.enforce):
        if outcome.error:
            return ctx.error(OneError(f"VM {vm_id}: {outcome.error}"))
    return 0


def _disk_attach(ctx: Context, args: argparse.Namespace) -> int:
    """``onevm disk-attach <vm> --image <image> [--target vdb]``: quiet, as 4.6's (``onevm
    show`` lists the new DISK with its DISK_ID)."""
    ctx.call(lifecycle.disk_attach, args.vm, args.image, target=args.target)
    return 0


def _disk_detach(ctx: Context, args: argparse.Namespace) -> int:
    ctx.call(lifecycle.disk_detach, args.vm, args.disk_id)
    return 0


def _recover(ctx: Context, args: argparse.Namespace) -> int:
    """recover --success|--failure (4.2), --retry (4.14), --delete|--recreate (5.0); a VM
    that --recreate made PENDING is placed at once, as after delete --recreate."""
    made_pending: list[int] = []

    def one(ref: str) -> None:
        vm = ctx.call(lifecycle.recover, ref, operation=args.operation)
        if vm["STATE"] == VmState.PENDING:
            made_pending.append(vm["ID"])

    status = ctx.for_each(id_list(args.vms), one)
    if made_pending:
        status = place(ctx, made_pending) or status
    return status


def state_columns(now: float) -> list[Column]:
    """STAT UCPU UMEM HOST TIME: a VM's state and use (``onevm list``, ``oneflow show``)."""
    return [
        Column("STAT", lambda v: short_state(v["STATE"], v["LCM_STATE"]), width=4),
        Column("UCPU", lambda v: int(v["MONITORING"].get("CPU", 0)), right=True, width=4),
        Column("UMEM", lambda v: size(v["MONITORING"].get("MEMORY", 0)), right=True, width=7),
        Column("HOST", lambda v: vms.host_name(v) or "", width=12),
        Column("TIME", lambda v: duration((v["ETIME"] or now) - v["STIME"]), right=True),
    ]


def _fields(_ctx: Context, vm: dict) -> list[tuple[str, Any]]:
    active = vm["STATE"] == VmState.ACTIVE
    return [
        *owned_fields(vm),
        ("STATE", VmState(vm["STATE"]).name),
        ("LCM_STATE", Lcm(vm["LCM_STATE"]).name if active else "LCM_INIT"),
        ("RESCHED", "Yes" if vm.get("RESCHED") else "No"),
        ("HOST", vms.host_name(vm) or "-"),
        ("START TIME", timestamp(vm["STIME"])),
        ("END TIME", timestamp(vm["ETIME"])),
        ("DEPLOY ID", vm.get("DEPLOY_ID") or "-"),
    ]


_FIGURES = ("CPU", "MEMORY", "NETTX", "NETRX")


def _sections(_ctx: Context, vm: dict) -> list[str]:
    """Monitoring, permissions, the history (if any), the templates."""
    mon = vm.get("MONITORING", {})
    monitoring = [
        ("USED MEMORY", size(mon.get("MEMORY", 0))),
        ("USED CPU", mon.get("CPU", 0)),
        ("NET_TX", size((mon.get("NETTX") or 0) / 1024)),
        ("NET_RX", size((mon.get("NETRX") or 0) / 1024)),
    ]
    # what else the host's driver says of the guest (EC2: AWS_DNS_NAME, AWS_IP_ADDRESS...)
    monitoring += sorted((k, v) for k, v in mon.items() if k not in _FIGURES)
    blocks = [show_fields("VIRTUAL MACHINE MONITORING", monitoring), permissions(vm)]
    history = vm.get("HISTORY_RECORDS") or []
    if history:
        columns = [
            Column("SEQ", lambda h: h["SEQ"], right=True, width=4),
            Column("HOST", lambda h: h["HOSTNAME"], width=12),
            Column("ACTION", lambda h: h["ACTION"], width=14),
            Column("REASON", lambda h: h["REASON"], width=6),
            Column("START", lambda h: timestamp(h["STIME"]), right=True),
            Column(
                "TIME", lambda h: duration((h["ETIME"] or time.time()) - h["STIME"]), right=True
            ),
        ]
        blocks.append("VIRTUAL MACHINE HISTORY\n" + table(history, columns))
    return [
        *blocks,
        "USER TEMPLATE\n" + template.dumps(vm["USER_TEMPLATE"]).rstrip(),
        "VIRTUAL MACHINE TEMPLATE\n" + template.dumps(vm["TEMPLATE"]).rstrip(),
    ]


_SAMPLE_COLUMNS = [
    samples.time_column(),
    Column("UCPU", lambda s: s.get("CPU", "-"), right=True),
    Column("UMEM", lambda s: size(s.get("MEMORY")), right=True),
    Column("NET_TX", lambda s: size((s.get("NETTX") or 0) / 1024), right=True),
    Column("NET_RX", lambda s: size((s.get("NETRX") or 0) / 1024), right=True),
]

VMS = Pool(
    noun="VM",
    key="VM",
    title="VIRTUAL MACHINE",
    list=core(vms.list_vms),
    show=core(vms.show),
    update=core(vms.update_user_template),
    owners=Ownership.of(schema.VMS),
    columns=lambda _ctx: [*owned_columns(8, 14), *state_columns(time.time())],
    fields=_fields,
    sections=_sections,
)


_ACTIONS = (
    # name, help, --hard action, --recreate action
    (
        "shutdown",
        "shut VMs down (ACPI; --hard: power off at once); they end DONE",
        "shutdown-hard",
        None,
    ),
    ("undeploy", "shut VMs down and free their host; resume later", "undeploy-hard", None),
    ("poweroff", "power VMs off, keeping their host; resume or boot later", "poweroff-hard", None),
    ("hold", "keep PENDING VMs from being placed", None, None),
    ("release", "let HOLD VMs be placed again", None, None),
    ("stop", "save VMs to disk and free their host; resume later", None, None),
    ("suspend", "pause VMs in memory", None, None),
    ("resume", "resume SUSPENDED, STOPPED, UNDEPLOYED or POWEROFF VMs", None, None),
    ("boot", "boot UNKNOWN or POWEROFF VMs again on their host", None, None),
    ("reboot", "reboot VMs (ACPI; --hard: reset)", "reboot-hard", None),
    (
        "delete",
        "delete VMs in any state (--recreate: back to PENDING, state lost)",
        None,
        "delete-recreate",
    ),
    ("snapshot-create", "take a hypervisor snapshot of running VMs", None, None),
)


def build() -> Cli:
    cli = Cli("onevm", "Manage virtual machines.")
    p = cli.command("create", "create a VM from a template file; prints its ID", _create)
    p.add_argument("file", help="template file (- for stdin)")
    p.add_argument("--hold", action="store_true", help="create it on HOLD")
    for name, text, hard, alt in _ACTIONS:
        p = cli.command(name, text, _action(name, hard, alt))
        p.add_argument("vms", help="VM ids or names: 3,4 or a range 3..7")
        if hard:
            p.add_argument("--hard", action="store_true", help="do it at once, without ACPI")
        if alt:
            p.add_argument(
                "--recreate", action="store_true", help="resubmit the VM (delete-recreate)"
            )
        if name == "snapshot-create":
            p.add_argument("snapshot", nargs="?", help="snapshot name")
    p = cli.command(
        "disk-attach",
        "hot-plug an image into a RUNNING VM as a new disk (a POWEROFF VM gets it at boot)",
        _disk_attach,
    )
    p.add_argument("vm", help="VM id or name")
    p.add_argument("--image", required=True, help="image id or name (USE on it needed)")
    p.add_argument(
        "--target", help="device name in the guest (vdb, sdc...); default: the next free one"
    )
    p = cli.command(
        "disk-detach",
        "take a disk out of a RUNNING or POWEROFF VM (not its boot disk, DISK_ID 0)",
        _disk_detach,
    )
    p.add_argument("vm", help="VM id or name")
    p.add_argument("disk_id", help="the disk's DISK_ID (onevm show)")
    p = cli.command("deploy", "deploy a PENDING VM on a host (admins)", _deploy)
    p.add_argument("vm", help="VM id or name")
    p.add_argument("host", help="host id or name")
    p.add_argument("--enforce", action="store_true", help="refuse a host without room")
    p = cli.command(
        "recover",
        "decide a VM stuck in a transient state, retry it, or delete/recreate it",
        _recover,
    )
    p.add_argument("vms", help="VM ids or names")
    how = p.add_mutually_exclusive_group(required=True)
    for flag, text in (
        ("--success", "the pending operation succeeded"),
        ("--failure", "the pending operation failed"),
        ("--retry", "run the pending operation's driver action again"),
        ("--delete", "delete the VM, in any state"),
        ("--recreate", "resubmit the VM (PENDING, its state lost), in any state it held a host"),
    ):
        how.add_argument(flag, dest="operation", action="store_const", const=flag[2:], help=text)
    pool = cli.pool(VMS)
    pool.update("replace (or --append to) a VM's user template")
    pool.list(
        "list VMs (not DONE ones unless --all)",
        arg("--all", dest="include_done", action="store_true", help="include DONE VMs"),
    )
    samples.show_with_samples(
        cli,
        VMS,
        "show a VM (--monitoring: and its recent monitoring samples)",
        monitor.vm_monitoring,
        "VIRTUAL MACHINE MONITORING HISTORY",
        _SAMPLE_COLUMNS,
    )
    pool.ownership()
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)

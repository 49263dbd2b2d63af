"""onehost, onetemplate, onevm, oneimage and onevnet as a user types them: real
subprocesses against an instance (SQLite: see support.stores) with simulated libvirt hosts.

What a command did is checked where a user would see it: its output and exit status, the
store (``onevm show -j`` in the guide's session; elsewhere the store read directly, which
costs no process start) and, where a guest exists, the hypervisor itself: libvirt, read
directly, not through the store. Every refused command is checked the way a user sees it:
exit status 1, one line on stderr ``<prog> <command>: <message>`` naming the problem,
nothing on stdout, and the store exactly as it was (``store_snapshot``).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import libvirt
from support.cli import assert_error, assert_refused, created_id, json_of, login_as, run_help
from support.stores import sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import Lcm, VmState
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import vms

WEB = 'NAME = "web"\nCPU = 0.1\nMEMORY = 32\n'
# A template no host meets: its VMs stay PENDING until an admin deploys them by hand.
NOWHERE = 'NAME = "nowhere"\nCPU = 0.1\nMEMORY = 32\nSCHED_REQUIREMENTS = "NAME = \\"none\\""\n'
BIG = 'NAME = "big"\nCPU = 0.1\nMEMORY = 100000\n'
IMAGE = 'NAME = "debian"\nPATH = "/var/lib/images/debian.qcow2"\nTYPE = "OS"\n'
NETWORK = (
    'NAME = "private"\nBRIDGE = "br0"\nTYPE = "RANGED"\n'
    'IP_START = "192.168.0.10"\nIP_END = "192.168.0.12"\n'
)
FIXED = 'NAME = "fixed"\nBRIDGE = "br1"\nTYPE = "FIXED"\nLEASES = [ IP = "10.0.0.5" ]\n'
LIST_ROW = re.compile(
    r"\s*(?P<id>\d+) (?P<user>\S+)\s+(?P<group>\S+)\s+(?P<name>\S+)\s+(?P<stat>\S{4})"
    r"\s+(?P<ucpu>\d+)\s+(?P<umem>\S+)\s+(?P<host>\S*)\s+(?P<time>\d+d \d\dh\d\d)"
)

pytestmark = sqlite_only  # an adapter's tests: see support.stores


# ---- helpers ------------------------------------------------------------------------------
def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def stored(cloud, ref) -> dict:
    """A VM as the store has it now (read in this process)."""
    return vms.show(cloud.admin, ref)


def state_of(body: dict) -> str:
    """``RUNNING`` for ACTIVE VMs (their LCM_STATE), else the STATE: ``SUSPENDED``..."""
    if body["STATE"] == VmState.ACTIVE:
        return Lcm(body["LCM_STATE"]).name
    return VmState(body["STATE"]).name


def state(cloud, ref) -> str:
    return state_of(stored(cloud, ref))


def host_of(body: dict) -> str | None:
    """The host a VM is on: its open history record's."""
    history = body["HISTORY_RECORDS"]
    return history[-1]["HOSTNAME"] if history and not history[-1]["ETIME"] else None


def libvirt_state(sim, vm_id: int) -> str:
    """A guest's state on one simulated host, read from its libvirt."""
    try:
        dom = sim.hold.lookupByName(f"one-{vm_id}")
    except libvirt.libvirtError:
        return "missing"
    return {1: "running", 3: "paused", 5: "shutoff"}.get(dom.state()[0], str(dom.state()))


def guests(cloud, vm_id: int, extra: dict | None = None) -> dict[str, str]:
    """Where libvirt holds guest one-<vm_id>: {host name: state}; hosts without it left out."""
    sims = {f"sim{i}": sim for i, sim in enumerate(cloud.sims)} | (extra or {})
    found = {name: libvirt_state(sim, vm_id) for name, sim in sims.items()}
    return {name: s for name, s in found.items() if s != "missing"}


def domain(cloud, host: str, vm_id: int) -> libvirt.virDomain:
    return cloud.sims[int(host.removeprefix("sim"))].hold.lookupByName(f"one-{vm_id}")


def runs_once(cloud, vm_id: int) -> str:
    """The VM is RUNNING in the store and its guest runs on that host, and nowhere else."""
    body = stored(cloud, vm_id)
    assert state_of(body) == "RUNNING"
    assert guests(cloud, vm_id) == {host_of(body): "running"}
    return host_of(body)


def cells(line: str) -> list[str]:
    """A table line's cells (none of the cells compared here holds a blank)."""
    return line.split()


def list_rows(cli, *args: str, env: dict | None = None) -> dict[int, dict]:
    """``onevm list`` parsed: {id: {user, group, name, stat, ucpu, umem, host, time}}."""
    out = cli("onevm", "list", *args, env=env, check=True).stdout.splitlines()
    assert cells(out[0]) == cells("ID USER GROUP NAME STAT UCPU UMEM HOST TIME"), out[0]
    rows = {}
    for line in out[1:]:
        match = LIST_ROW.fullmatch(line)
        assert match, line
        rows[int(match["id"])] = match.groupdict()
    return rows


def force_state(cloud, vm_id: int, state_: VmState, lcm: Lcm = Lcm.LCM_INIT) -> None:
    """Write a state into the store, as a process killed mid-action would leave it."""
    with cloud.admin.write() as w:
        body = pool.get(w.tx, schema.VMS, vm_id, lock=True)
        vms.set_state(body, state_, lcm)
        pool.update(w.tx, schema.VMS, body)


def assert_capacity_consistent(cloud, cpu: int = 10, memory: int = 32 * 1024) -> None:
    """Every host's allocation is exactly what the VMs the store places on it ask for."""
    hosted: dict[str, list[int]] = {}
    for body in vms.list_vms(cloud.admin):
        if body["STATE"] in schema.HOSTED_STATES:
            hosted.setdefault(host_of(body), []).append(body["ID"])
    for host in hosts.list_hosts(cloud.admin):
        ids = sorted(hosted.get(host["NAME"], []))
        share = host["HOST_SHARE"]
        assert sorted(host["VMS"]) == ids, host["NAME"]
        got = (share["RUNNING_VMS"], share["CPU_USAGE"], share["MEM_USAGE"])
        assert got == (len(ids), cpu * len(ids), memory * len(ids)), host["NAME"]


def set_checkpoint_dir(cli, tmp_path: Path, *names: str) -> None:
    """Keep stop's checkpoint files in this test's directory (not the shared /var/tmp)."""
    path = write(tmp_path, "checkpoint.host", f'CHECKPOINT_DIR = "{tmp_path}"\n')
    for name in names:
        cli("onehost", "update", name, path, "--append", check=True)


# ---- help ---------------------------------------------------------------------------------
COMMANDS = {
    "onehost": "create delete enable disable update forceupdate list show",
    "onetemplate": "create update clone delete instantiate list show chown chgrp chmod",
    "onevm": "create shutdown undeploy poweroff hold release stop suspend resume boot reboot "
    "delete snapshot-create disk-attach disk-detach deploy recover update list show chown chgrp "
    "chmod",
    "oneimage": "create clone delete update persistent nonpersistent enable disable list show "
    "chown chgrp chmod",
    "onevnet": "create delete list show update hold release chown chgrp chmod",
}
# Flags a user looks for in a sub-command's help.
HELP_MENTIONS = {
    ("onehost", "create"): ("--im", "--vm", "--uri"),
    ("onetemplate", "instantiate"): ("--multiple", "--name", "--hold"),
    ("onevm", "create"): ("--hold",),
    ("onevm", "disk-attach"): ("--image", "--target"),
    ("onevm", "shutdown"): ("--hard",),
    ("onevm", "poweroff"): ("--hard",),
    ("onevm", "undeploy"): ("--hard",),
    ("onevm", "reboot"): ("--hard",),
    ("onevm", "delete"): ("--recreate",),
    ("onevm", "recover"): ("--success", "--failure"),
    ("onevm", "deploy"): ("--enforce",),
    ("onevm", "list"): ("--all", "--json"),
    ("oneimage", "create"): ("--name", "--path", "--type", "--datastore", "--size", "--persistent"),
}


def test_help_of_every_command_and_sub_command(tmp_path, subtests):
    calls = [(prog,) for prog in COMMANDS] + [
        (prog, sub) for prog, subs in COMMANDS.items() for sub in subs.split()
    ]
    with ThreadPoolExecutor(max_workers=8) as workers:
        results = list(workers.map(lambda call: run_help(tmp_path, *call, "-h"), calls))
    for call, result in zip(calls, results, strict=True):
        with subtests.test(command=" ".join(call)):
            assert result.returncode == 0, result.stderr
            assert result.stderr == ""
            assert result.stdout.startswith(f"usage: {' '.join(call)} "), result.stdout[:80]
            if len(call) == 1:  # a command's help lists its sub-commands
                for sub in COMMANDS[call[0]].split():
                    assert re.search(rf"^\s+{re.escape(sub)}\s", result.stdout, re.M), sub
            for flag in HELP_MENTIONS.get(call, ()):
                assert flag in result.stdout


# ---- the guide's session ------------------------------------------------------------------
def test_guide_session(cloud, cli, sim_hosts, tmp_path):
    """onehost create, onetemplate create/instantiate, onevm list/show/suspend/resume/
    shutdown, as the guide has a user type them."""
    new = sim_hosts(1)[0]
    sim2 = {"sim2": new}
    result = cli("onehost", "create", "sim2", "--im", "kvm", "--vm", "kvm", "--uri", new.uri)
    assert (result.returncode, result.stdout, result.stderr) == (0, "ID: 2\n", "")

    lines = cli("onehost", "list", check=True).stdout.splitlines()
    assert cells(lines[0]) == cells("ID NAME CLUSTER RVM ALLOCATED_CPU ALLOCATED_MEM STAT")
    assert len(lines) == 4
    assert re.fullmatch(r"\s+2 sim2\s+-\s+0\s+0 / \d+ \(0%\)\s+0K / \S+ \(0%\) on", lines[3])

    assert cli("onetemplate", "create", write(tmp_path, "web.tmpl", WEB)).stdout == "ID: 0\n"
    result = cli("onetemplate", "instantiate", "0", "--multiple", "3")
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "VM ID: 0\nVM ID: 1\nVM ID: 2\n",
        "",
    )

    rows = list_rows(cli)
    assert [(i, r["name"], r["user"], r["stat"]) for i, r in rows.items()] == [
        (0, "web-0", "oneadmin", "runn"),
        (1, "web-1", "oneadmin", "runn"),
        (2, "web-2", "oneadmin", "runn"),
    ]
    # striping (sched.conf's default policy): one VM per host
    assert sorted(r["host"] for r in rows.values()) == ["sim0", "sim1", "sim2"]
    for vm_id, row in rows.items():
        assert guests(cloud, vm_id, sim2) == {row["host"]: "running"}
    lines = cli("onehost", "list", check=True).stdout.splitlines()[1:]
    for line in lines:
        assert re.search(r" 1\s+10 / \d+ \(0%\)\s+32M / \S+ \(1%\) on$", line), line

    home = rows[1]["host"]
    out = cli("onevm", "show", "1", check=True).stdout
    for heading in (
        "VIRTUAL MACHINE 1 INFORMATION",
        "VIRTUAL MACHINE MONITORING",
        "PERMISSIONS",
        "VIRTUAL MACHINE HISTORY",
        "USER TEMPLATE",
        "VIRTUAL MACHINE TEMPLATE",
    ):
        assert re.search(rf"^{heading}$", out, re.M), heading
    for field in (
        "NAME\\s+: web-1",
        "STATE\\s+: ACTIVE",
        "LCM_STATE\\s+: RUNNING",
        f"HOST\\s+: {home}",
        "DEPLOY ID\\s+: one-1",
        f"\\s+0 {home}\\s+deploy\\s+NONE .*",
    ):
        assert re.search(rf"^{field}$", out, re.M), field
    machine = out.split("\nVIRTUAL MACHINE TEMPLATE\n")[1].splitlines()
    for line in ('NAME = "web-1"', 'CPU = "0.1"', 'MEMORY = "32"', 'TEMPLATE_ID = "0"'):
        assert line in machine

    def now() -> tuple[str, dict]:
        return state_of(cli.json("onevm", "show", "1")["VM"]), guests(cloud, 1, sim2)

    # a VM by its name (<template name>-<vm id>) or its id
    assert cli("onevm", "suspend", "web-1").returncode == 0
    assert now() == ("SUSPENDED", {home: "paused"})
    assert_refused(
        cli,
        cloud.instance.database(),
        ("onevm", "suspend", "web-1"),
        "cannot suspend VM 1 (web-1): it is SUSPENDED; suspend needs RUNNING",
    )
    assert guests(cloud, 1, sim2) == {home: "paused"}
    assert cli("onevm", "resume", "1").returncode == 0
    assert now() == ("RUNNING", {home: "running"})
    assert cli("onevm", "shutdown", "1").returncode == 0
    assert now() == ("DONE", {})
    assert cli.json("onevm", "show", "web-1")["VM"]["ETIME"] > 0

    # onevm list hides DONE VMs; --all shows them
    assert list(list_rows(cli)) == [0, 2]
    everything = list_rows(cli, "--all")
    assert (everything[1]["stat"], everything[1]["host"]) == ("done", "")
    assert [v["ID"] for v in json_of(cli("onevm", "list", "-j"))["VM_POOL"]["VM"]] == [0, 2]
    every_id = [v["ID"] for v in json_of(cli("onevm", "list", "--all", "-j"))["VM_POOL"]["VM"]]
    assert every_id == [0, 1, 2]
    assert_capacity_consistent(cloud)  # the DONE VM's host got its capacity back
    assert hosts.show(cloud.admin, home)["HOST_SHARE"]["CPU_USAGE"] == 0

    # a host that runs VMs cannot be deleted; once they are gone it can
    busy = rows[2]["host"]
    assert_refused(
        cli,
        cloud.instance.database(),
        ("onehost", "delete", busy),
        f"host {busy} still runs VMs 2; delete or move them first",
    )
    cli("onevm", "delete", "web-2", check=True)
    assert guests(cloud, 2, sim2) == {}
    cli("onehost", "delete", busy, check=True)
    assert busy not in {h["NAME"] for h in cli.json("onehost", "list")["HOST_POOL"]["HOST"]}


# ---- names, hold, release, deploy -----------------------------------------------------------
def test_names_hold_release_and_deploy(cloud, cli, tmp_path):
    """VM names (<template>-<id>, --name, %i, a file's NAME) serve as ids; --hold VMs wait
    for release; a VM no host meets waits for an admin's deploy."""
    cli("onetemplate", "create", write(tmp_path, "web.tmpl", WEB), check=True)
    for args in ((), ("--name", "db"), ("-m", "2", "--name", "app%i"), ("-m", "2", "-n", "mq")):
        cli("onetemplate", "instantiate", "web", "--hold", *args, check=True)
    result = cli(
        "onevm", "create", "--hold", write(tmp_path, "solo.tmpl", WEB.replace("web", "solo"))
    )
    assert created_id(result) == 6
    rows = list_rows(cli)
    assert {i: (r["name"], r["stat"], r["host"]) for i, r in rows.items()} == {
        0: ("web-0", "hold", ""),
        1: ("db", "hold", ""),
        2: ("app0", "hold", ""),
        3: ("app1", "hold", ""),
        4: ("mq-0", "hold", ""),
        5: ("mq-1", "hold", ""),
        6: ("solo", "hold", ""),
    }
    assert all(guests(cloud, i) == {} for i in rows)

    # release, by names in a list: placed and running at once
    cli("onevm", "release", "db,app1,6", check=True)
    for vm_id in (1, 3, 6):
        runs_once(cloud, vm_id)
    assert (state(cloud, 0), state(cloud, 2)) == ("HOLD", "HOLD")

    # a VM no host meets stays PENDING and says why; hold and release it by hand
    cli("onetemplate", "create", write(tmp_path, "nowhere.tmpl", NOWHERE), check=True)
    assert cli("onetemplate", "instantiate", "nowhere").stdout == "VM ID: 7\n"
    body = stored(cloud, 7)
    assert state_of(body) == "PENDING"
    assert body["USER_TEMPLATE"]["SCHED_MESSAGE"].startswith("no host meets SCHED_REQUIREMENTS")
    cli("onevm", "hold", "nowhere-7", check=True)
    assert state(cloud, 7) == "HOLD"
    cli("onevm", "release", "nowhere-7")
    assert (state(cloud, 7), guests(cloud, 7)) == ("PENDING", {})

    # an admin deploys it on the host of their choice
    cli("onevm", "deploy", "nowhere-7", "sim1", check=True)
    assert runs_once(cloud, 7) == "sim1"
    assert "SCHED_MESSAGE" not in stored(cloud, 7)["USER_TEMPLATE"]
    assert_capacity_consistent(cloud)

    db = cloud.instance.database()
    cli("onetemplate", "instantiate", "web", "--hold", "--name", "db", check=True)
    for args, message in (
        (("onevm", "shutdown", "db"), "there are 2 VMs named 'db'; use the ID"),
        (("onevm", "deploy", "0", "nope"), "host named 'nope' does not exist"),
        (("onetemplate", "instantiate", "web", "--name", "a b"), "VM name 'a b' is invalid"),
        (("onetemplate", "instantiate", "web", "-m", "0"), "must be 1 to 10000, got 0"),
    ):
        assert_refused(cli, db, args, message)


# ---- every action and its flags -----------------------------------------------------------
def test_poweroff_undeploy_stop_and_resume(cloud, cli, tmp_path):
    set_checkpoint_dir(cli, tmp_path, "sim0", "sim1")
    cli("onetemplate", "create", write(tmp_path, "web.tmpl", WEB), check=True)
    cli("onetemplate", "instantiate", "web", "-m", "4", check=True)
    home = {i: runs_once(cloud, i) for i in range(4)}
    # striping, one VM per host and cycle: so when VM 3 (on sim1) is resumed below, sim0
    # (as loaded, lower id) would be the scheduler's choice but for the checkpoint on sim1
    assert home == {0: "sim0", 1: "sim1", 2: "sim0", 3: "sim1"}

    # poweroff keeps the host (and the capacity taken there); resume boots it there again
    cli("onevm", "poweroff", "0", check=True)
    body = stored(cloud, 0)
    assert (state_of(body), host_of(body), guests(cloud, 0)) == ("POWEROFF", home[0], {})
    assert_capacity_consistent(cloud)
    cli("onevm", "resume", "0", check=True)
    assert runs_once(cloud, 0) == home[0]

    # poweroff --hard, then boot
    cli("onevm", "poweroff", "--hard", "web-1", check=True)
    assert (state(cloud, 1), guests(cloud, 1)) == ("POWEROFF", {})
    cli("onevm", "boot", "web-1", check=True)
    assert runs_once(cloud, 1) == home[1]

    # undeploy frees the host; resume makes it PENDING and it is placed again
    cli("onevm", "undeploy", "2", check=True)
    body = stored(cloud, 2)
    assert (state_of(body), host_of(body), guests(cloud, 2)) == ("UNDEPLOYED", None, {})
    assert body["HISTORY_RECORDS"][-1]["ACTION"] == "undeploy"
    assert_capacity_consistent(cloud)
    cli("onevm", "resume", "2", check=True)
    runs_once(cloud, 2)
    assert len(stored(cloud, 2)["HISTORY_RECORDS"]) == 2
    cli("onevm", "undeploy", "--hard", "2", check=True)
    assert (state(cloud, 2), guests(cloud, 2)) == ("UNDEPLOYED", {})

    # stop saves the guest to a checkpoint on its host; resume restores it on that host
    cli("onevm", "stop", "3", check=True)
    assert (state(cloud, 3), guests(cloud, 3)) == ("STOPPED", {})
    assert (tmp_path / "one-3.checkpoint").exists()
    assert_capacity_consistent(cloud)
    cli("onevm", "resume", "3", check=True)
    assert runs_once(cloud, 3) == home[3]
    history = stored(cloud, 3)["HISTORY_RECORDS"]
    assert [(h["HOSTNAME"], h["ACTION"]) for h in history] == [
        (home[3], "stop"),
        (home[3], "deploy"),
    ]
    assert_capacity_consistent(cloud)


def test_deleting_a_stopped_vm_removes_its_checkpoint(cloud, cli, tmp_path):
    set_checkpoint_dir(cli, tmp_path, "sim0", "sim1")
    cli("onevm", "create", write(tmp_path, "web.tmpl", WEB), check=True)
    cli("onevm", "stop", "0", check=True)
    assert (tmp_path / "one-0.checkpoint").exists()
    cli("onevm", "delete", "0", check=True)
    assert state(cloud, 0) == "DONE"
    assert not (tmp_path / "one-0.checkpoint").exists()


def test_shutdown_delete_reboot_snapshot(cloud, cli, tmp_path):
    cli("onetemplate", "create", write(tmp_path, "web.tmpl", WEB), check=True)
    cli("onetemplate", "instantiate", "web", "-m", "4", check=True)
    home = {i: runs_once(cloud, i) for i in range(4)}

    cli("onevm", "shutdown", "--hard", "0", check=True)
    body = stored(cloud, 0)
    assert (state_of(body), guests(cloud, 0)) == ("DONE", {})
    assert body["HISTORY_RECORDS"][-1]["ETIME"] > 0

    cli("onevm", "delete", "1", check=True)
    assert (state(cloud, 1), guests(cloud, 1)) == ("DONE", {})
    assert_capacity_consistent(cloud)

    # delete --recreate: the guest is destroyed and the VM placed again from scratch
    cli("onevm", "delete", "--recreate", "2", check=True)
    runs_once(cloud, 2)
    history = stored(cloud, 2)["HISTORY_RECORDS"]
    assert [h["ACTION"] for h in history] == ["delete-recreate", "deploy"]
    assert_capacity_consistent(cloud)

    # reboot (ACPI) and reboot --hard (reset): the same guest stays RUNNING where it was
    uuid = domain(cloud, home[3], 3).UUIDString()
    for args in (("reboot", "3"), ("reboot", "--hard", "web-3")):
        cli("onevm", *args, check=True)
        assert runs_once(cloud, 3) == home[3]
        assert domain(cloud, home[3], 3).UUIDString() == uuid

    # snapshot-create, named and unnamed: in libvirt and in the VM's template
    cli("onevm", "snapshot-create", "3", "before-upgrade", check=True)
    cli("onevm", "snapshot-create", "web-3", check=True)
    snapshots = stored(cloud, 3)["TEMPLATE"]["SNAPSHOT"]
    assert [s["SNAPSHOT_ID"] for s in snapshots] == ["0", "1"]
    assert snapshots[0]["NAME"] == "before-upgrade"
    assert re.fullmatch(r"snapshot-\d+", snapshots[1]["NAME"])
    libvirt_names = domain(cloud, home[3], 3).snapshotListNames()
    assert sorted(libvirt_names) == sorted(s["NAME"] for s in snapshots)
    assert runs_once(cloud, 3) == home[3]


def test_recover_and_boot(cloud, cli, tmp_path):
    """recover --success|--failure on a VM left in a transient state; boot on UNKNOWN."""
    cli("onetemplate", "create", write(tmp_path, "web.tmpl", WEB), check=True)
    cli("onetemplate", "instantiate", "web", "-m", "3", check=True)
    home = {i: runs_once(cloud, i) for i in range(3)}

    # BOOT, and the guest did boot: --success makes it RUNNING
    force_state(cloud, 0, VmState.ACTIVE, Lcm.BOOT)
    assert list_rows(cli)[0]["stat"] == "boot"
    cli("onevm", "recover", "0", "--success", check=True)
    assert runs_once(cloud, 0) == home[0]

    # BOOT, and the guest never came up: --failure makes it FAILED, its host freed...
    domain(cloud, home[1], 1).destroy()
    force_state(cloud, 1, VmState.ACTIVE, Lcm.BOOT)
    cli("onevm", "recover", "web-1", "--failure", check=True)
    body = stored(cloud, 1)
    assert (state_of(body), host_of(body)) == ("FAILED", None)
    assert body["USER_TEMPLATE"]["ERROR"]["MESSAGE"] == "recovered by hand as a failure"
    assert_capacity_consistent(cloud)
    # ... and delete --recreate tries again
    cli("onevm", "delete", "--recreate", "1", check=True)
    runs_once(cloud, 1)

    # UNKNOWN (its host did not answer) and the guest is gone: boot starts it there again
    domain(cloud, home[2], 2).destroy()
    force_state(cloud, 2, VmState.ACTIVE, Lcm.UNKNOWN)
    cli("onevm", "boot", "2", check=True)
    assert runs_once(cloud, 2) == home[2]

    assert_refused(
        cli,
        cloud.instance.database(),
        ("onevm", "recover", "2", "--success"),
        "cannot recover VM 2 (web-2): it is RUNNING; recover needs a transient ACTIVE state",
    )
    assert_capacity_consistent(cloud)


# ---- actions in the wrong state -----------------------------------------------------------
def test_actions_in_the_wrong_state_are_refused(cloud, cli, tmp_path, subtests):
    set_checkpoint_dir(cli, tmp_path, "sim0", "sim1")
    cli("onetemplate", "create", write(tmp_path, "web.tmpl", WEB), check=True)
    cli("onetemplate", "instantiate", "web", "-m", "6", check=True)  # 0..5
    cli("onetemplate", "instantiate", "web", "--hold", check=True)  # 6
    cli("onetemplate", "create", write(tmp_path, "nowhere.tmpl", NOWHERE), check=True)
    # (not placed: its exit status is not asserted, see the instantiate exit status bug)
    assert cli("onetemplate", "instantiate", "nowhere").stdout == "VM ID: 7\n"
    for action, vm_id in (("suspend", 1), ("poweroff", 2), ("shutdown", 3), ("stop", 4)):
        cli("onevm", action, str(vm_id), check=True)
    cli("onevm", "undeploy", "5", check=True)
    expected = {
        0: ("RUNNING", "runn"),
        1: ("SUSPENDED", "susp"),
        2: ("POWEROFF", "poff"),
        3: ("DONE", "done"),
        4: ("STOPPED", "stop"),
        5: ("UNDEPLOYED", "unde"),
        6: ("HOLD", "hold"),
        7: ("PENDING", "pend"),
    }
    assert {i: state(cloud, i) for i in expected} == {i: s for i, (s, _) in expected.items()}
    assert {i: r["stat"] for i, r in list_rows(cli, "--all").items()} == {
        i: stat for i, (_, stat) in expected.items()
    }
    names = {i: f"web-{i}" for i in range(7)} | {7: "nowhere-7"}
    running_or_unknown = "RUNNING or UNKNOWN"
    cases = [
        # (what the user types, the VM, the action named in the message, what it needs)
        (("suspend",), 1, "suspend", "RUNNING"),
        (("resume",), 0, "resume", "SUSPENDED, STOPPED, UNDEPLOYED or POWEROFF"),
        (("shutdown", "--hard"), 6, "shutdown-hard", running_or_unknown),
        (("poweroff", "--hard"), 2, "poweroff-hard", running_or_unknown),
        (("undeploy",), 7, "undeploy", running_or_unknown),
        (("reboot", "--hard"), 2, "reboot-hard", "RUNNING"),
        (("boot",), 0, "boot", "UNKNOWN or POWEROFF"),
        (("release",), 7, "release", "HOLD"),
        (("delete",), 3, "delete", "a VM that is not DONE"),
        (("delete", "--recreate"), 5, "delete-recreate", "an ACTIVE or FAILED VM"),
        (("deploy",), 6, "deploy", "PENDING"),
    ]
    before = {i: guests(cloud, i) for i in expected}
    db = cloud.instance.database()
    for typed, vm_id, action, wanted in cases:
        args = ("onevm", *typed, str(vm_id)) + (("sim0",) if action == "deploy" else ())
        with subtests.test(args=" ".join(args)):
            assert_refused(
                cli,
                db,
                args,
                f"cannot {action} VM {vm_id} ({names[vm_id]}): it is {expected[vm_id][0]}; "
                f"{action} needs {wanted}",
            )
    assert {i: guests(cloud, i) for i in expected} == before  # libvirt untouched too
    assert before[1] == {host_of(stored(cloud, 1)): "paused"}

    # in a list each VM is its own request: the refused one is reported, the others done
    result = cli("onevm", "suspend", "1,0")
    assert_error(result, "onevm", "suspend", "cannot suspend VM 1 (web-1): it is SUSPENDED")
    assert (state(cloud, 0), state(cloud, 1)) == ("SUSPENDED", "SUSPENDED")


# ---- bad input ----------------------------------------------------------------------------
def test_bad_templates_are_refused(cli, instance, tmp_path, subtests):
    db = instance.database()
    cases = {  # file name: (text, message)
        "unclosed.tmpl": (
            'NAME = "bad"\nCPU = [ 0.1\nMEMORY = 32\n',
            'syntax error at line 2, column 10: expected "="',
        ),
        "quote.tmpl": (
            'NAME = "bad"\nCPU = "0.1\nMEMORY = 32\n',
            "unterminated quoted value for CPU (opened at line 2, column 7)",
        ),
        "lots.tmpl": (
            'NAME = "bad"\nCPU = 0.1\nMEMORY = "lots"\n',
            "MEMORY must be a positive number, got 'lots'",
        ),
        "negative.tmpl": (
            'NAME = "bad"\nCPU = -1\nMEMORY = 32\n',
            "CPU must be a positive number, got '-1'",
        ),
        "sched.tmpl": (
            'NAME = "bad"\nCPU = 0.1\nMEMORY = 32\nSCHED_REQUIREMENTS = "CPU > "\n',
            'SCHED_REQUIREMENTS: syntax error at column 7: expected a number after ">"',
        ),
        "nomemory.tmpl": ('NAME = "bad"\nCPU = 1\n', "the template has no MEMORY"),
    }
    paths = {name: write(tmp_path, name, text) for name, (text, _) in cases.items()}
    missing = str(tmp_path / "missing.tmpl")
    runs = [("onetemplate", name) for name in cases if name != "nomemory.tmpl"] + [
        ("onevm", name) for name in ("unclosed.tmpl", "lots.tmpl", "nomemory.tmpl")
    ]
    for prog, name in runs:
        with subtests.test(prog=prog, file=name):
            assert_refused(cli, db, (prog, "create", paths[name]), cases[name][1])
    for prog in ("onetemplate", "onevm"):
        with subtests.test(prog=prog, file="missing"):
            message = f"cannot read template file {missing}: No such file or directory"
            assert_refused(cli, db, (prog, "create", missing), message)
    with subtests.test(file="stdin"):
        text, message = cases["negative.tmpl"]
        assert_refused(cli, db, ("onetemplate", "create", "-"), message, input=text)


def test_unknown_objects_images_and_networks_are_refused(cli, instance, tmp_path, subtests):
    db = instance.database()
    cli("onetemplate", "create", write(tmp_path, "web.tmpl", WEB), check=True)
    image = write(tmp_path, "img.tmpl", WEB.replace("web", "img") + 'DISK = [ IMAGE = "nope" ]\n')
    net = write(tmp_path, "net.tmpl", WEB.replace("web", "net") + 'NIC = [ NETWORK = "nope" ]\n')
    assert created_id(cli("onetemplate", "create", image)) == 1
    assert created_id(cli("onetemplate", "create", net)) == 2
    no_image = "DISK refers to an image that does not exist: image named 'nope' does not exist"
    no_net = "NIC refers to a network that does not exist: network named 'nope' does not exist"
    cases = [
        (("onetemplate", "instantiate", "img"), no_image),
        (("onetemplate", "instantiate", "net", "-m", "2"), no_net),
        (("onevm", "create", image), no_image),
        (("onehost", "show", "9"), "host 9 does not exist"),
        (("onetemplate", "instantiate", "9"), "template 9 does not exist"),
        (("onevm", "suspend", "0"), "VM 0 does not exist"),
        (("onevm", "show", "web-0"), "VM named 'web-0' does not exist"),
        (("oneimage", "show", "nope"), "image named 'nope' does not exist"),
        (("onevnet", "delete", "4"), "network 4 does not exist"),
        (("onehost", "create", "h", "--uri", "not a uri"), "URI 'not a uri' is not a libvirt URI"),
    ]
    for args, message in cases:
        with subtests.test(args=" ".join(args)):
            assert_refused(cli, db, args, message)
    # no VM row left behind by the refused instantiates
    assert cli("onevm", "list", "--all", check=True).stdout.count("\n") == 1  # the header


def test_another_users_vm(cloud, cli, tmp_path):
    """A user's VM: its owner manages it; another user may not; deploy is an admin's."""
    db = cloud.instance.database()
    cli("oneuser", "create", "alice", "pw", check=True)
    cli("oneuser", "create", "bob", "pw", check=True)
    cli("oneacl", "create", "@1 HOST/* MANAGE", check=True)  # users may run VMs on hosts
    alice, bob = login_as(tmp_path, "alice", "pw"), login_as(tmp_path, "bob", "pw")
    assert created_id(cli("onevm", "create", write(tmp_path, "a.tmpl", WEB), env=alice)) == 0
    assert stored(cloud, 0)["UNAME"] == "alice"
    home = runs_once(cloud, 0)
    assert list(list_rows(cli, env=alice)) == [0] and list_rows(cli, env=bob) == {}

    refused = "user bob [2] is not authorized to perform MANAGE VM [0]"
    for args in (("suspend", "web"), ("delete", "0")):
        assert_refused(cli, db, ("onevm", *args), refused, env=bob)
    message = "user bob [2] is not authorized to perform USE VM [0]"
    assert_refused(cli, db, ("onevm", "show", "web"), message, env=bob)
    assert runs_once(cloud, 0) == home

    # deploy and recover are an admin's, even on one's own VM
    result = cli("onevm", "create", write(tmp_path, "nowhere.tmpl", NOWHERE), env=alice)
    assert result.stdout == "ID: 1\n"
    assert state(cloud, 1) == "PENDING"
    for args, vm_id in ((("deploy", "1", "sim0"), 1), (("recover", "0", "--success"), 0)):
        message = f"user alice [1] is not authorized to perform ADMIN VM [{vm_id}]"
        assert_refused(cli, db, ("onevm", *args), message, env=alice)
    # the owner herself may act on it
    cli("onevm", "suspend", "web", env=alice, check=True)
    assert (state(cloud, 0), guests(cloud, 0)) == ("SUSPENDED", {home: "paused"})


# ---- capacity and unreachable hosts -------------------------------------------------------
def test_capacity_exhausted(cloud, cli, tmp_path):
    cli("onetemplate", "create", write(tmp_path, "big.tmpl", BIG), check=True)
    assert cli("onetemplate", "instantiate", "big").stdout == "VM ID: 0\n"
    body = stored(cloud, 0)
    assert (state_of(body), body["HISTORY_RECORDS"], guests(cloud, 0)) == ("PENDING", [], {})
    out = cli("onevm", "show", "0", check=True).stdout
    user_template = out.split("\nUSER TEMPLATE\n")[1].split("\n\n")[0]
    assert user_template == (
        'SCHED_MESSAGE = "no host with enough free capacity for CPU 0.1 and MEMORY 100000 MiB"'
    )
    row = list_rows(cli)[0]
    assert (row["stat"], row["host"]) == ("pend", "")
    # deploy --enforce refuses a host without room
    assert_refused(
        cli,
        cloud.instance.database(),
        ("onevm", "deploy", "0", "sim0", "--enforce"),
        "VM 0: host sim0 has no room left",
    )
    assert_capacity_consistent(cloud)


def test_instantiate_says_when_the_vm_cannot_be_placed_yet(cloud, cli, tmp_path):
    """The VM exists (exit 0, as oned's CLI); that it waits, and why, is on stderr."""
    cli("onetemplate", "create", write(tmp_path, "big.tmpl", BIG), check=True)
    result = cli("onetemplate", "instantiate", "big")
    assert result.stdout == "VM ID: 0\n"
    assert state(cloud, 0) == "PENDING"
    assert result.returncode == 0
    assert result.stderr.startswith(
        "onetemplate instantiate: VM 0 stays PENDING: no host with enough free capacity"
    )


def test_unreachable_host(cloud, cli, tmp_path):
    uri = "qemu+tcp://127.0.0.1:1/system"
    result = cli("onehost", "create", "bad", "--uri", uri)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ID: 2\n"
    assert f"host bad is ERROR: cannot connect to libvirt at {uri}" in result.stderr

    lines = cli("onehost", "list", check=True).stdout.splitlines()
    assert [line.split()[1] + " " + line.split()[-1] for line in lines[1:]] == [
        "sim0 on",
        "sim1 on",
        "bad err",
    ]
    out = cli("onehost", "show", "bad", check=True).stdout
    assert re.search(r"^STATE\s+: ERROR$", out, re.M)
    assert re.search(rf'^ERROR = "cannot connect to libvirt at {re.escape(uri)}: .+"$', out, re.M)
    result = cli("onehost", "forceupdate", "bad")
    assert result.returncode == 1
    assert result.stdout.startswith("bad: ERROR (cannot connect to libvirt")

    # VMs go to the good hosts only
    cli("onetemplate", "create", write(tmp_path, "web.tmpl", WEB), check=True)
    cli("onetemplate", "instantiate", "web", "-m", "4", check=True)
    assert {runs_once(cloud, i) for i in range(4)} == {"sim0", "sim1"}
    assert_capacity_consistent(cloud)
    # an admin who deploys there by hand gets the hypervisor's error; the VM is FAILED
    cli("onetemplate", "create", write(tmp_path, "nowhere.tmpl", NOWHERE), check=True)
    assert cli("onetemplate", "instantiate", "nowhere").stdout == "VM ID: 4\n"
    result = cli("onevm", "deploy", "4", "bad")
    assert_error(result, "onevm", "deploy", f"VM 4: cannot connect to libvirt at {uri}")
    body = stored(cloud, 4)
    assert (state_of(body), host_of(body)) == ("FAILED", None)
    assert "cannot connect to libvirt" in body["USER_TEMPLATE"]["ERROR"]["MESSAGE"]
    assert_capacity_consistent(cloud)
    cli("onehost", "delete", "bad", check=True)


# ---- images and networks ------------------------------------------------------------------
def test_images_and_networks(cloud, cli, tmp_path):
    db = cloud.instance.database()
    assert created_id(cli("oneimage", "create", write(tmp_path, "debian.img", IMAGE))) == 0
    iso = ("--name", "iso", "--path", "/isos/tools.iso", "--type", "CDROM")
    assert created_id(cli("oneimage", "create", *iso)) == 1
    lines = cli("oneimage", "list", check=True).stdout.splitlines()
    assert cells(lines[0]) == cells("ID USER GROUP NAME DATASTORE SIZE TYPE PER STAT RVMS")
    assert cells(lines[1]) == cells("0 oneadmin oneadmin debian - 0M OS No rdy 0")
    assert cells(lines[2]) == cells("1 oneadmin oneadmin iso - 0M CDROM No rdy 0")
    out = cli("oneimage", "show", "iso", check=True).stdout
    assert out.startswith("IMAGE 1 INFORMATION\n")
    assert re.search(r"^TYPE\s+: CDROM$", out, re.M) and re.search(r"^PATH\s+: /isos/", out, re.M)

    assert created_id(cli("onevnet", "create", write(tmp_path, "private.net", NETWORK))) == 0
    assert created_id(cli("onevnet", "create", write(tmp_path, "fixed.net", FIXED))) == 1
    lines = cli("onevnet", "list", check=True).stdout.splitlines()
    assert cells(lines[0]) == cells("ID USER GROUP NAME BRIDGE LEASES")
    assert cells(lines[1]) == cells("0 oneadmin oneadmin private br0 0/3")
    assert cells(lines[2]) == cells("1 oneadmin oneadmin fixed br1 0/1")

    bad_image = write(tmp_path, "tape.img", 'NAME = "x"\nPATH = "/x"\nTYPE = "TAPE"\n')
    backwards = write(tmp_path, "back.net", NETWORK.replace('"192.168.0.12"', '"192.168.0.1"'))
    for args, message in (
        (("oneimage", "create", "--name", "rel", "--path", "rel.iso"), "PATH must be an absolute"),
        (("oneimage", "create", bad_image), "image TYPE 'TAPE' is unknown"),
        (("oneimage", "create", *iso), "NAME 'iso' is already taken"),
        (("onevnet", "create", backwards), "IP_END comes before IP_START"),
    ):
        assert_refused(cli, db, args, message)

    tpl = WEB + (
        'DISK = [ IMAGE = "debian" ]\nDISK = [ IMAGE_ID = "1" ]\n'
        'NIC = [ NETWORK = "private" ]\nNIC = [ NETWORK_ID = "1" ]\n'
    )
    cli("onetemplate", "create", write(tmp_path, "web.tmpl", tpl), check=True)
    assert cli("onetemplate", "instantiate", "web", check=True).stdout == "VM ID: 0\n"
    home = runs_once(cloud, 0)
    body = stored(cloud, 0)
    disks, nics = body["TEMPLATE"]["DISK"], body["TEMPLATE"]["NIC"]
    assert [(d["IMAGE"], d["SOURCE"]) for d in disks] == [
        ("debian", "/var/lib/images/debian.qcow2"),
        ("iso", "/isos/tools.iso"),
    ]
    assert [(n["NETWORK"], n["BRIDGE"], n["IP"], n["MAC"]) for n in nics] == [
        ("private", "br0", "192.168.0.10", "02:00:c0:a8:00:0a"),
        ("fixed", "br1", "10.0.0.5", "02:00:0a:00:00:05"),
    ]
    machine = cli("onevm", "show", "0", check=True).stdout.split("VIRTUAL MACHINE TEMPLATE\n")[1]
    for line in (
        '  SOURCE = "/var/lib/images/debian.qcow2",',
        '  IP = "192.168.0.10",',
        '  MAC = "02:00:c0:a8:00:0a" ]',
    ):
        assert line in machine.splitlines(), line
    # the guest got the disk and the NIC
    xml = domain(cloud, home, 0).XMLDesc()
    assert "<source file='/var/lib/images/debian.qcow2'/>" in xml
    assert "<mac address='02:00:c0:a8:00:0a'/>" in xml and "<source bridge='br0'/>" in xml

    out = cli("onevnet", "show", "private", check=True).stdout
    assert re.search(r"^USED LEASES\s+: 1$", out, re.M)
    assert "IP = 192.168.0.10, MAC = 02:00:c0:a8:00:0a, VM = 0" in out.splitlines()

    # -j (onevm's and onehost's are in the guide's session)
    template = json_of(cli("onetemplate", "show", "web", "-j"))["VMTEMPLATE"]
    assert template["TEMPLATE"]["NIC"][0] == {"NETWORK": "private"}  # resolved per VM only
    for prog, ref, pool_key, key in (
        ("oneimage", "debian", ("IMAGE_POOL", "IMAGE"), "IMAGE"),
        ("onevnet", "private", ("VNET_POOL", "VNET"), "VNET"),
    ):
        listed = json_of(cli(prog, "list", "-j"))[pool_key[0]][pool_key[1]]
        shown = json_of(cli(prog, "show", ref, "-j"))[key]
        assert (listed[0]["ID"], listed[0]["NAME"]) == (0, ref)
        assert shown == listed[0], prog
    assert shown["LEASES"] == {"192.168.0.10": 0}

    # the fixed network has no lease left: the whole instantiate is refused
    args = ("onetemplate", "instantiate", "web", "-m", "2")
    assert_refused(cli, db, args, "network fixed has no free lease")
    assert [v["ID"] for v in vms.list_vms(cloud.admin, include_done=True)] == [0]

    # a network whose lease a VM holds cannot be deleted; once the VM is gone it can
    args = ("onevnet", "delete", "private")
    assert_refused(cli, db, args, "network private has leases in use by VMs 0")
    cli("onevm", "delete", "0", check=True)
    assert state(cloud, 0) == "DONE"
    cli("onevnet", "delete", "private,fixed", check=True)
    assert cli.json("onevnet", "list")["VNET_POOL"]["VNET"] == []
    cli("oneimage", "delete", "debian", check=True)
    assert [i["NAME"] for i in cli.json("oneimage", "list")["IMAGE_POOL"]["IMAGE"]] == ["iso"]

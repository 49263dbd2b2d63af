"""One scheduling cycle (``scheduler.plan``) over a large backlog, against the bare cost
of looking at every host once for every VM, in the same run.

``plan`` is a pure function, so it is measured alone: host and VM bodies are built in
memory in the shapes the store gives them (``hosts.empty_share``, a VM's TEMPLATE and
USER_TEMPLATE), with the ACL rules of a fresh instance plus ``@1 HOST/* MANAGE`` (half
the VMs belong to a user of group users, half to oneadmin: both ACL paths run) and a
quarter of the VMs with ``SCHED_REQUIREMENTS`` (every host meets it, so every VM keeps
every host as a candidate). Hosts have 16 CPUs and 32 GiB free, some already run VMs
(the striping policy, the default, sees different ranks).

Shapes, ``--vms`` pending VMs (default 5,000: MAX_VM's default) on ``--hosts`` hosts
(default 1,000), MAX_VM = the VMs:
(a) a backlog being placed: MAX_DISPATCH = the VMs, MAX_HOST = VMs / hosts, every VM
    fits (0.1 CPU, 256 MiB; up to 100 a host): every VM is placed;
(b) none placeable: every VM asks for 32 CPUs, no host has them: MAX_VM's worst case,
    repeated every SCHED_INTERVAL while the backlog lasts;
(c) MAX_HOST 1 (the default) and MAX_DISPATCH = the VMs: one VM per host is placed, the
    others wait for the next cycle;
(d) mixed: three owners (one without MANAGE), four SCHED_REQUIREMENTS, four SCHED_RANKs,
    four sizes, MAX_HOST 3: hosts fill up mid-cycle. Its figure is a cost, and its
    decisions' fingerprint (printed for every shape) a check that a change to ``plan``
    decides as before.

Baseline: one pass over VMs x hosts doing only the capacity check (``hosts.share_fits``
on each host's HOST_SHARE), the least a cycle that looks at every host for every VM can
cost. A ratio above 1 is a cycle costlier than that pass; below 1, a cycle that no
longer looks at every host for every VM. Each figure is the best of ``--rounds`` runs
(load from other processes only ever adds time).

Run: .venv/bin/python bench/schedule.py                 (a few seconds; minutes before
                                                          the cycle's caches)
     .venv/bin/python bench/schedule.py --vms 100000 --hosts 1000 --shapes a
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Callable

from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import BOOTSTRAP_RULES, AclRule
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import Subject
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import HostState
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import scheduler
from ansible_collections.onekit.cloud.plugins.module_utils.vm.scheduler import SchedConfig

GIB = 1024 * 1024  # KiB
ONEADMIN = Subject(0, "oneadmin", 0, frozenset({0}))
ALICE = Subject(5, "alice", 1, frozenset({1}))  # a regular user of group users
BOB = Subject(7, "bob", 100, frozenset({100}))  # of a group no ACL rule lets use hosts
OWNERS = {0: ONEADMIN, 5: ALICE, 7: BOB}
RULES = [AclRule.parse(text) for text in (*BOOTSTRAP_RULES, "@1 HOST/* MANAGE")]


def host_body(hid: int) -> dict:
    """A MONITORED host as the store holds it: 16 CPUs, 32 GiB, 0 to 3 VMs running."""
    running = hid % 4
    share = hosts.empty_share()
    share.update(
        MAX_CPU=1600,
        MAX_MEM=32 * GIB,
        FREE_CPU=1600 - 50 * running,
        FREE_MEM=32 * GIB - running * GIB,
        CPU_USAGE=10 * running,  # a tenth of a core each, so capacity stays 15+ CPUs
        MEM_USAGE=running * 128 * 1024,
        RUNNING_VMS=running,
    )
    return {
        "ID": hid,
        "NAME": f"node-{hid}",
        "UID": 0,
        "GID": 0,
        "UNAME": "oneadmin",
        "GNAME": "oneadmin",
        "PERMISSIONS": {"OWNER_U": "1", "OWNER_M": "1", "OWNER_A": "1"},
        "STATE": int(HostState.MONITORED),
        "IM_MAD": "kvm",
        "VM_MAD": "kvm",
        "VN_MAD": "dummy",
        "CLUSTER_ID": -1,
        "CLUSTER": "",
        "LAST_MON_TIME": 0,
        "HOST_SHARE": share,
        "VMS": [100_000_000 + hid * 4 + i for i in range(running)],
        "TEMPLATE": {"HYPERVISOR": "kvm", "URI": f"qemu+ssh://node-{hid}/system"},
    }


def vm_body(vid: int, cpu: str, memory: str = "512") -> dict:
    """A PENDING VM: oneadmin's or alice's, a quarter with SCHED_REQUIREMENTS."""
    uid = 0 if vid % 2 else 5
    user_template = {"SCHED_REQUIREMENTS": "HYPERVISOR = kvm"} if vid % 4 == 0 else {}
    return {
        "ID": vid,
        "UID": uid,
        "GID": 0 if uid == 0 else 1,
        "NAME": f"vm-{vid}",
        "STATE": 1,
        "LCM_STATE": 0,
        "TEMPLATE": {"CPU": cpu, "MEMORY": memory, "VMID": str(vid)},
        "USER_TEMPLATE": user_template,
    }


def best_of(rounds: int, run: Callable[..., object], *args: object) -> tuple[float, object]:
    """The fastest of ``rounds`` runs of ``run(*args)``, and what the last one returned."""
    best, result = float("inf"), None
    for _ in range(rounds):
        started = time.perf_counter()
        result = run(*args)
        best = min(best, time.perf_counter() - started)
    return best, result


def capacity_pass(pending: list[dict], candidates: list[dict]) -> int:
    """The baseline: every host's capacity checked once for every VM, nothing else."""
    fitting = 0
    for vm in pending:
        cpu, memory = hosts.vm_demand(vm["TEMPLATE"])
        for h in candidates:
            if hosts.share_fits(h["HOST_SHARE"], cpu, memory):
                fitting += 1
    return fitting


def digest(result: scheduler.Plan) -> str:
    """A fingerprint of every decision (placements in order, messages, what waits): equal
    across two versions of ``plan``, the versions decided alike."""
    text = repr(
        (result.placements, sorted(result.messages.items()), sorted(result.deferred.items()))
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


SHAPES = {
    "a": "all placeable, MAX_DISPATCH = VMs",
    "b": "none placeable (no room)",
    "c": "MAX_HOST 1: one a host, the rest wait",
    "d": "mixed owners, requirements, ranks, sizes",
}
MIXED_REQUIREMENTS = ("", 'NAME = "node-1*"', "ID > 400", "CURRENT_VMS != 100000005")
MIXED_RANKS = (None, "FREE_CPU", "- RUNNING_VMS", "RUNNING_VMS * 2 - ID")


def mixed(vid: int) -> dict:
    """(d): sizes that fill hosts mid-cycle, four requirements, four ranks, an owner
    (bob) who may not deploy anywhere: a check that two versions decide alike."""
    body = vm_body(vid, ("1", "4", "8", "12")[vid % 4])
    body["UID"] = (0, 5, 5, 7)[vid % 7 % 4]
    requirements = MIXED_REQUIREMENTS[vid // 4 % 4]
    rank = MIXED_RANKS[vid // 16 % 4]
    body["USER_TEMPLATE"] = {
        **({"SCHED_REQUIREMENTS": requirements} if requirements else {}),
        **({"SCHED_RANK": rank} if rank else {}),
    }
    return body


def shape(name: str, vm_count: int, host_count: int) -> tuple[list[dict], SchedConfig]:
    """The pending VMs and sched.conf of a shape; MAX_VM is the VMs: every one is looked at."""
    every = {"max_vm": vm_count}
    if name == "a":
        per_host = -(-vm_count // host_count)
        config = SchedConfig(**every, max_dispatch=vm_count, max_host=per_host)
        return [vm_body(i, "0.1", "256") for i in range(vm_count)], config
    if name == "b":
        return [vm_body(i, "32") for i in range(vm_count)], SchedConfig(**every)
    if name == "c":
        config = SchedConfig(**every, max_dispatch=vm_count)
        return [vm_body(i, "1") for i in range(vm_count)], config
    config = SchedConfig(**every, max_dispatch=vm_count, max_host=3)
    return [mixed(i) for i in range(vm_count)], config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vms", type=int, default=5000, help="pending VMs (default 5000)")
    parser.add_argument("--hosts", type=int, default=1000, help="hosts (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each (best kept)")
    parser.add_argument(
        "--shapes", default="abcd", help="which shapes to run, of a, b, c, d (default abcd)"
    )
    args = parser.parse_args()
    candidates = [host_body(i) for i in range(args.hosts)]
    print(f"one scheduling cycle, {args.vms:,} pending VMs x {args.hosts:,} hosts")
    for name in args.shapes:
        pending, config = shape(name, args.vms, args.hosts)
        base, _ = best_of(args.rounds, capacity_pass, pending, candidates)
        cycle, result = best_of(
            args.rounds, scheduler.plan, pending, candidates, OWNERS, RULES, config
        )
        assert isinstance(result, scheduler.Plan)
        print(
            f"({name}) {SHAPES[name]}: placed {len(result.placements):,}, "
            f"no host {len(result.messages):,}, waiting {len(result.deferred):,} "
            f"(decisions {digest(result)})\n"
            f"    baseline (capacity pass) {base * 1000:9.1f} ms\n"
            f"    plan                     {cycle * 1000:9.1f} ms   {cycle / base:7.3f}x baseline"
        )


if __name__ == "__main__":
    main()

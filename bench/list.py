"""What `onevm list` costs over a large pool, paged (ONE_POOL_PAGE_SIZE, default 2000) and
not (`disabled`): peak RSS and wall time of the real command, in-process (the CLI opens
the store) and against the core API of a running server (ONE_XMLRPC, as after
`onezone set`), where the server's RSS is measured too.

The VMs are written into a SQLite store straight through the core (one VM made with
vms.create, then copies of its body with pool.insert in one transaction): fast, and the
rows are what the CLI reads. The baseline is the same command over a pool of one page
(2,000 VMs), in the same run: "flat" memory means the 100k listing's peak RSS stays
close to it.

Goal (issue 14): `onevm list` over 100k VMs keeps memory flat: paged peak RSS at 100k
<= 1.2x the one-page baseline, while `disabled` grows with the pool; paging costs little
time (paged time <= 1.2x disabled).

Run: .venv/bin/python bench/list.py [--vms 100000]   (about two minutes; the temporary
instance is removed at the end)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.pools import fill_vms
from support.ports import free_port

from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import GateConfig

VENV_BIN = Path(sys.executable).parent
BASELINE_VMS = 2000  # one page at the default ONE_POOL_PAGE_SIZE
GOAL_RSS, GOAL_TIME = 1.2, 1.2


@dataclass
class Run:
    seconds: float
    rss_mib: float  # the command's peak resident set
    lines: int
    error: str = ""  # why the command failed (a remote `disabled` may time out)

    def __str__(self) -> str:
        if self.error:
            return f"FAILED after {self.seconds:.2f} s: {self.error}"
        return f"{self.seconds:6.2f} s, peak RSS {self.rss_mib:6.1f} MiB"


def onevm_list(env: dict[str, str], page_size: str) -> Run:
    """`onevm list` with its output read and thrown away (as a pager or `wc -l` would)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(VENV_BIN / "onevm"), "list"],
        env={**env, "ONE_POOL_PAGE_SIZE": page_size},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines = sum(1 for _ in proc.stdout)
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4
    error = err.decode(errors="replace").strip() if status != 0 else ""
    run = Run(seconds, usage.ru_maxrss / 1024, lines, error)
    print(f"  ({'remote' if 'ONE_XMLRPC' in env else 'local'} {page_size}: {run})", file=sys.stderr)
    return run


def server_rss(instance: Instance) -> float:
    """The running server's peak RSS (VmHWM), MiB."""
    pid = int(instance.pid_path().read_text().strip())
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(env: dict[str, str], vm_count: int) -> dict[str, Run]:
    runs = {}
    for page in ("2000", "disabled"):
        run = onevm_list(env, page)
        if not run.error and run.lines != vm_count + 1:
            raise SystemExit(f"onevm list printed {run.lines} lines for {vm_count} VMs")
        runs[page] = run
    return runs


def report(where: str, base: dict[str, Run], big: dict[str, Run], vm_count: int) -> None:
    paged, whole, one_page = big["2000"], big["disabled"], base["2000"]
    print(f"\n{where}: onevm list, {BASELINE_VMS:,} VMs (baseline) and {vm_count:,} VMs")
    for label, runs in (("baseline", base), (f"{vm_count:,}", big)):
        for page, run in runs.items():
            print(f"  {label:>9} VMs, ONE_POOL_PAGE_SIZE={page:<8}: {run}")
    if paged.error or one_page.error:
        print("  no ratio: the paged listing failed")
        return
    rss_ratio = paged.rss_mib / one_page.rss_mib
    print(
        f"  paged RSS at {vm_count:,} / one page: {rss_ratio:.2f}x "
        f"(goal <= {GOAL_RSS}x: {'met' if rss_ratio <= GOAL_RSS else 'NOT met'}); "
        f"disabled: {'failed' if whole.error else f'{whole.rss_mib / one_page.rss_mib:.2f}x'}"
    )
    if whole.error:
        print("  no time ratio: `disabled` failed (one request for everything)")
        return
    time_ratio = paged.seconds / whole.seconds
    print(
        f"  paged time / disabled at {vm_count:,}: {time_ratio:.2f}x "
        f"(goal <= {GOAL_TIME}x: {'met' if time_ratio <= GOAL_TIME else 'NOT met'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vms", type=int, default=100_000, help="VMs in the large pool")
    vm_count = parser.parse_args().vms
    tmp = Path(tempfile.mkdtemp(prefix="onekit-bench-list-"))
    instance = Instance(tmp / "onekit")
    started = False
    try:
        instance.init(
            InstanceConfig(port=free_port()),
            flow=FlowConfig(port=free_port()),
            onegate=GateConfig(port=free_port()),
        )
        local = {
            **os.environ,
            "ONEKIT_HOME": str(instance.home),
            "ONE_ENDPOINT_FILE": str(instance.home / "one_endpoint"),
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        }
        for key in ("ONE_AUTH", "ONE_XMLRPC"):
            local.pop(key, None)
        # a client elsewhere: no instance of its own, the server's credentials
        client_home = tmp / "client"
        client_home.mkdir()
        auth = client_home / "one_auth"
        auth.write_text(":".join(instance.credentials()) + "\n")
        endpoint = instance.config().endpoint
        remote = {**local, "ONEKIT_HOME": str(client_home), "ONE_AUTH": str(auth)}
        remote["ONE_XMLRPC"] = endpoint
        remote.pop("ONE_ENDPOINT_FILE")

        subprocess.run(
            [str(VENV_BIN / "onekit-server"), "start"], env=local, check=True, capture_output=True
        )
        started = True
        urllib.request.urlopen(f"{endpoint}/health", timeout=30).read()

        t0 = time.perf_counter()
        fill_vms(instance, 0, BASELINE_VMS)
        base_local, base_remote = measure(local, BASELINE_VMS), measure(remote, BASELINE_VMS)
        rss_after_base = server_rss(instance)
        fill_vms(instance, BASELINE_VMS, vm_count)
        print(f"(stored {vm_count:,} VMs through the core in {time.perf_counter() - t0:.1f} s)")
        big_local = measure(local, vm_count)
        big_paged_remote = {"2000": onevm_list(remote, "2000")}
        rss_after_paged = server_rss(instance)
        big_remote = {**big_paged_remote, "disabled": onevm_list(remote, "disabled")}
        rss_after_whole = server_rss(instance)

        report("in-process (the CLI reads the store)", base_local, big_local, vm_count)
        report(f"remote (core API at {endpoint})", base_remote, big_remote, vm_count)
        print(
            f"  the server's peak RSS: {rss_after_base:.1f} MiB after the baseline, "
            f"{rss_after_paged:.1f} MiB after the paged {vm_count:,} "
            f"({rss_after_paged / rss_after_base:.2f}x), "
            f"{rss_after_whole:.1f} MiB after the disabled one "
            f"({rss_after_whole / rss_after_base:.2f}x)"
        )
    finally:
        if started:
            subprocess.run(
                [str(VENV_BIN / "onekit-server"), "stop"], env=local, capture_output=True
            )
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

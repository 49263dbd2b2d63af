"""The guide's hooks, run by the server: HOST_HOOK on ERROR (``ft/host_error``) and
VM_HOOK on FAILED (``onevm delete [--recreate] $ID``), as configured in oned.conf
(``hooks``).

Each transition leaves a mark in the store, written in the same transaction that made
it (the monitor marks a host that *went* ERROR, ``HostReport.went_error``; lifecycle
marks a VM that went FAILED), and the leader's loops hand the marks to this runner after
every monitoring and scheduling cycle. Claiming a mark clears it, so a hook fires once
per transition, also when the server that saw the transition died before running it.

A hook runs in a thread of its own (the loops never wait for one), one at a time per
host, as an ansible-runner call of a playbook in ``playbooks/hooks/`` (an instance may
put its own ``$ONEKIT_HOME/etc/hooks/<name>.yml`` in its place, as oned's hooks are
scripts an admin may edit):

* host_error: ``-p N`` waits N monitoring cycles of the loops and reads the host again
  (nothing is done if it is no longer ERROR); the VMs are chosen from the store
  (``host_error.select``: their current host is the failed one); if there are none,
  no playbook runs. ``host_error.yml`` fences first (a fence that fails or times out ends
  the play: no VM touched) and then recreates or deletes the VMs with the vm module. Its
  clean-up asks the failed host to remove each guest, bounded by ``drivers.executor``:
  a host in ERROR gets a short try, and once one call to it hangs the other VMs' calls
  fail at once, so a hung host's VMs are resubmitted after one short wait, not one
  timeout per VM (the monitor destroys their old guests if it answers again);
* vm_failed: ``vm_failed.yml`` recreates or deletes the VMs with the vm module.

The server's scheduler is woken when a hook is done, so recreated (PENDING) VMs are
placed at once. What each hook did is logged (logger ``onekit.hooks``) and appended to
``var/hooks/<hook name>.log``. A hook playbook left running by a server that died goes on
(it only deletes or resubmits VMs, which is safe to finish); nothing re-runs it.
"""

from __future__ import annotations

import itertools
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import NotFound, OneError
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import HostState, state_name
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.ha import hooks, host_error
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import vms
from onekit.server.playbook_runner import PLAYBOOKS as ALL_PLAYBOOKS
from onekit.server.playbook_runner import RunnerEvent, run_playbook, write_private_vars

log = logging.getLogger("onekit.hooks")
PLAYBOOKS = ALL_PLAYBOOKS / "hooks"
KEEP_RUNS = 20  # runner directories kept under var/hook-runner (the newest)


@dataclass
class PlaybookResult:
    status: str
    rc: int
    fence_error: str | None = None
    items: list[dict] = field(default_factory=list)  # the vm module's `sets` results
    error: str | None = None  # the playbook failed otherwise
    vm_task_started: bool = False  # a task of the vm module began (VMs may be touched)


class HookLog:
    """One hook's log: the server log, and ``var/hooks/<name>.log``."""

    def __init__(self, path: Path, prefix: str):
        self.path = path
        self.prefix = prefix

    def __call__(self, message: str, level: int = logging.INFO) -> None:
        log.log(level, "%s: %s", self.prefix, message)
        mark = {logging.INFO: "I", logging.WARNING: "W", logging.ERROR: "E"}.get(level, "I")
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} [{mark}] {self.prefix}: {message}\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as handle:
                handle.write(line)
        except OSError as err:
            log.warning("cannot write %s: %s", self.path, err)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "hook"


class HookRunner:
    """Runs one instance's hooks; ``after_monitoring``/``after_scheduling`` are called by
    the leader's loops (cheap: they read the marks and start threads)."""

    def __init__(
        self,
        instance: Instance,
        session: Session,
        config: InstanceConfig,
        on_done: Callable[[], None] | None = None,
    ):
        self.instance = instance
        self.session = session
        self.host_hooks = config.host_hooks
        self.vm_hooks = config.vm_hooks
        self.interval = config.monitoring_interval
        self.on_done = on_done or (lambda: None)
        self.log_dir = instance.var / "hooks"
        self.data_dir = instance.var / "hook-runner"
        self._cycles = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._host_locks: dict[int, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._vm_busy = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._seq = itertools.count(1)

    # ---- what the loops call ------------------------------------------------------------
    def after_monitoring(self, reports: list | None = None) -> None:
        """A monitoring cycle ended: count it (for -p) and run the host hooks due."""
        with self._cond:
            self._cycles += 1
            self._cond.notify_all()
        claimed, stale = hooks.claim_host_errors(self.session)
        for host in stale:
            log.info(
                "host %s (%s) went ERROR and is %s again before its hook ran: no hook",
                host["ID"],
                host["NAME"],
                HostState(host["STATE"]).name,
            )
        noted = {r.host_id for r in reports or [] if r.went_error}
        for host in claimed if self.host_hooks else []:
            if host["ID"] not in noted:
                log.info("host %s (%s): its ERROR hook was still due", host["ID"], host["NAME"])
            for hook in self.host_hooks:
                self._spawn(f"host-hook-{host['ID']}", self._host_job, hook, host, self._cycles)
        self.check_failed_vms()

    def after_scheduling(self) -> None:
        self.check_failed_vms()

    def check_failed_vms(self) -> None:
        """Run the VM hook for VMs that went FAILED (one run at a time; VMs that fail
        meanwhile keep their mark for the next check)."""
        if not self._vm_busy.acquire(blocking=False):
            return
        try:
            claimed = hooks.claim_failed(self.session)
        except OneError as err:
            self._vm_busy.release()
            log.error("reading the FAILED VMs: %s", err)
            return
        if not claimed or not self.vm_hooks:
            self._vm_busy.release()
            return
        self._spawn("vm-hook", self._vm_job, self.vm_hooks[0], claimed)

    def stop(self, timeout: float = 1.0) -> None:
        """Stop waiting (-p); a playbook already running is left to finish."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for thread in list(self._threads):
            thread.join(timeout)

    # ---- threads ------------------------------------------------------------------------
    def _spawn(self, name: str, target: Callable, *args: Any) -> None:
        def run() -> None:
            try:
                target(*args)
            except Exception:  # a hook's bug is logged; the server goes on
                log.exception("hook %s failed", name)
            finally:
                self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=name, daemon=True)
        self._threads.add(thread)
        thread.start()

    def _host_lock(self, host_id: int) -> threading.Lock:
        with self._locks_lock:
            return self._host_locks.setdefault(host_id, threading.Lock())

    def _wait_cycles(self, target: int, pause: int) -> bool:
        """Until the loops have ended ``target`` monitoring cycles (False: stopping). If
        the loops stall, N intervals (and a margin) are waited instead, as 4.x slept."""
        deadline = time.monotonic() + pause * self.interval * 3 + 30
        with self._cond:
            while self._cycles < target and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning("monitoring cycles did not come; going on after %d s", pause)
                    break
                self._cond.wait(min(left, 1.0))
        return not self._stop.is_set()

    def _host_job(self, hook: hooks.HostHook, host: dict, cycle: int) -> None:
        name = hook.name or "host_error"
        say = HookLog(self.log_dir / f"{_safe(name)}.log", f'HOST_HOOK "{name}"')
        with self._host_lock(host["ID"]):
            self._host_error(hook, host, cycle, say)
        self.on_done()

    def _host_error(self, hook: hooks.HostHook, host: dict, cycle: int, say: HookLog) -> None:
        host_id, opts = host["ID"], hook.options
        reason = host.get("TEMPLATE", {}).get("ERROR", "")
        say(
            f"host {host_id} ({host['NAME']}) is ERROR ({reason}): running "
            f"{hook.command} {hook.arguments}"
        )
        if opts.pause:
            say(f"host {host_id}: waiting {opts.pause} monitoring cycles (-p {opts.pause})")
            if not self._wait_cycles(cycle + opts.pause, opts.pause):
                say(f"host {host_id}: the server is stopping; nothing done", logging.WARNING)
                return
        try:
            host = hosts.show(self.session, host_id)  # read again (4.x's -p did not)
        except NotFound:
            say(f"host {host_id} was deleted; nothing done", logging.WARNING)
            return
        if not host_error.still_failed(host["STATE"]):
            say(
                f"host {host_id} ({host['NAME']}) is {HostState(host['STATE']).name} again: "
                "nothing done"
            )
            return
        orders, skipped = host_error.select(host_id, vms.on_host(self.session, host_id), opts)
        for skip in skipped:
            say(f"VM {skip.vm_id} left alone: {skip.reason}")
        if not orders:
            say(f"host {host_id}: no VM to act on; nothing done")
            return
        run_dir = self._run_dir("host_error")
        fence_vars = ""
        if host_error.fence_is_playbook(opts):
            fence_vars = str(write_private_vars(run_dir, host_error.fence_vars(host), "fence"))
        fence = host_error.fence_argv(opts, host, vars_file=fence_vars)
        listed = ", ".join(f"VM {o.vm_id} ({o.was})" for o in orders)
        say(f"host {host_id}: {opts.action} for {listed}" + (" after fencing" if fence else ""))
        result = self._run_playbook(
            "host_error",
            run_dir,
            {
                "hook_host": {"id": host_id, "name": host["NAME"]},
                "fence_argv": fence,
                "fence_timeout": opts.fence_timeout,
                "vm_orders": host_error.vm_orders(orders),
            },
        )
        if fence and result.fence_error is None and result.error is None:
            say(f"host {host_id}: fenced ({' '.join(fence)})")
        if result.fence_error is not None:
            say(
                f"host {host_id}: fencing failed: {result.fence_error}; no VM touched",
                logging.ERROR,
            )
            return
        self._report_items(result, say)

    def _vm_job(self, hook: hooks.VmHook, claimed: list[dict]) -> None:
        name = hook.name or "vm_failed"
        say = HookLog(self.log_dir / f"{_safe(name)}.log", f'VM_HOOK "{name}"')
        try:
            listed = ", ".join(f"VM {vm['ID']} ({vm['NAME']})" for vm in claimed)
            say(f"{listed} FAILED: running {hook.command} {hook.arguments}".replace("  ", " "))
            result = self._run_playbook(
                "vm_failed",
                self._run_dir("vm_failed"),
                {"vm_orders": hooks.vm_orders(hook, claimed)},
            )
            self._report_items(result, say)
        finally:
            self._vm_busy.release()
        self.on_done()

    def _report_items(self, result: PlaybookResult, say: HookLog) -> None:
        for item in result.items:
            label = item.get("label", "?")
            if item.get("failed"):
                say(f"{label}: failed: {item.get('msg')}", logging.ERROR)
            else:
                after = self._state_of(label)
                say(f"{label}: done{after}")
        if result.error is not None:
            touched = result.vm_task_started or result.items
            done = " (its VM task ran: see the VMs)" if touched else "; no VM touched"
            say(f"the hook playbook failed: {result.error}{done}", logging.ERROR)

    def _state_of(self, label: str) -> str:
        match = re.fullmatch(r"VM (\d+)", label)
        if not match:
            return ""
        try:
            vm = vms.show(self.session, int(match.group(1)))
        except OneError:
            return ""
        return f", now {state_name(vm['STATE'], vm['LCM_STATE'])}"

    # ---- ansible-runner -----------------------------------------------------------------
    def playbook_path(self, name: str) -> Path:
        own = self.instance.etc / "hooks" / f"{name}.yml"
        return own if own.is_file() else PLAYBOOKS / f"{name}.yml"

    def _run_dir(self, name: str) -> Path:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        runs = sorted(self.data_dir.iterdir(), key=lambda p: p.stat().st_mtime)
        for old in runs[: max(0, len(runs) - KEEP_RUNS + 1)]:
            shutil.rmtree(old, ignore_errors=True)
        path = self.data_dir / f"{int(time.time())}-{next(self._seq)}-{name}"
        path.mkdir(mode=0o700)
        return path

    def _run_playbook(self, name: str, run_dir: Path, extravars: dict[str, Any]) -> PlaybookResult:
        """One hook playbook through ansible-runner, as ``flow_runner`` runs OneFlow's
        steps, in a directory of its own (hooks of several hosts may run at once)."""
        result = PlaybookResult("error", -1)

        def on_event(event: RunnerEvent) -> None:
            if event.kind == "runner_on_start" and event.module == "vm":
                result.vm_task_started = True
            items = event.items()
            if event.failed and event.task.lower().startswith("fence"):
                result.fence_error = _fence_message(event.res, extravars.get("fence_timeout"))
            elif event.finished and items is not None:
                result.items.extend(items)
            elif event.failed:
                result.error = str(event.res.get("msg") or "a task failed")

        run = run_playbook(
            self.instance,
            run_dir,
            self.playbook_path(name),
            extravars,
            on_event,
            f"the {name} hook",
            log,
        )
        if run.error is not None:  # the runner itself broke
            result.error = run.error
            return result
        result.status, result.rc = run.status, run.rc
        explained = result.fence_error or result.error or any(i.get("failed") for i in result.items)
        if run.failed and not explained:
            result.error = run.tail()  # e.g. a playbook that does not parse
        return result


def _fence_message(res: dict, timeout: Any) -> str:
    rc = res.get("rc")
    if rc == 124:
        return f"the fence command did not finish within {timeout} s"
    text = " | ".join(
        line.strip()
        for line in (
            str(res.get("stderr") or "") + "\n" + str(res.get("stdout") or "")
        ).splitlines()
        if line.strip()
    )
    return f"the fence command failed (rc {rc}): {text[-500:] or res.get('msg')}"

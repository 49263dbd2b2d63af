"""The server's loops: host monitoring every MONITORING_INTERVAL, VM scheduling every
SCHED_INTERVAL, and OneFlow's life-cycle manager every ``lcm_interval`` (at once when a
request changed a service, and again right after a step that acted), acting as oneadmin.
After each monitoring and scheduling cycle the hook runner (``hook_runner``) is handed the
hosts that went ERROR and the VMs that went FAILED, and runs oned.conf's HOST_HOOK and
VM_HOOK in threads of their own; a hook that is done makes the scheduler run at once.

Only one server of an instance runs them: the one holding the store's leader lock. The
others retry the lock, so a second server is a hot standby that takes over when the first
one's lock goes (its process died), not a second brain. The loops also keep the
hypervisor connections open, which is what keeps libvirt's simulated (test driver) VMs
alive between commands, and the leader runs the instance's own simulated host
(``embedded_host``).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable

from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Database, LeaderLock
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import OneError
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.flow import changes, services
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.vm import monitor, scheduler
from onekit.server.embedded_host import EmbeddedHost
from onekit.server.flow_runner import FlowRunner
from onekit.server.hook_runner import HookRunner
from onekit.server.metrics import LCM_STEP, MONITOR_CYCLE, SCHEDULER_CYCLE

log = logging.getLogger("onekit.loops")
LOCK_NAME = "loops"
MAX_QUICK_STEPS = 10  # LCM steps in a row without waiting lcm_interval


class Loops:
    def __init__(self, instance: Instance, db: Database):
        self.instance = instance
        self.db = db
        self.session = Session.system(db, **instance.session_settings())
        self.monitor_config = instance.monitor_config()
        self.sched_config = instance.sched_config()
        self.flow_config = instance.flow_config()
        self.flow_runner = FlowRunner(instance)
        self.flow_memory = changes.Memory()  # the services flow_once may skip
        # oned.conf's HOST_HOOK / VM_HOOK; a hook that is done wakes the scheduler (the
        # VMs it resubmitted are placed at once)
        self.hook_runner = HookRunner(
            instance, self.session, instance.config(), on_done=self.wake_scheduler
        )
        self.embedded = EmbeddedHost(instance)
        self._flow_wake = threading.Event()
        self._wake = threading.Event()  # stop, or schedule now
        self._sched_now = False
        self._stop = threading.Event()
        self._lock: LeaderLock | None = None
        self._threads: list[threading.Thread] = []

    @property
    def leader(self) -> bool:
        return self._lock is not None

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._run, name="onekit-loops", daemon=True),
            threading.Thread(target=self._run_flow, name="oneflow-lcm", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def wake_flow(self) -> None:
        self._flow_wake.set()

    def wake_scheduler(self) -> None:
        """Run a scheduling cycle now (a hook resubmitted VMs)."""
        self._sched_now = True
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._flow_wake.set()
        self._wake.set()
        self.hook_runner.stop()
        for thread in self._threads:
            thread.join(timeout)
        self.embedded.stop()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._lock = self.db.try_leader_lock(LOCK_NAME)
            except OneError as err:  # the store is away (a MariaDB restart): try again
                log.error("cannot take the leader lock: %s; retrying", err)
            else:
                if self._lock is not None:
                    break
                log.info("another server runs the loops; standing by")
            self._stop.wait(self.monitor_config.interval)
        if self._stop.is_set():
            return
        log.info(
            "running the loops: monitoring every %s s, scheduling every %s s",
            self.monitor_config.interval,
            self.sched_config.interval,
        )
        for line in self._guard("embedded host", self.start_embedded_host) or []:
            log.info("%s", line)
        monitor_at = sched_at = time.monotonic()
        while not self._stop.is_set():
            if not self._lock.held():
                log.error(
                    "lost the leader lock (the store dropped its connection); "
                    "stopping the loops and standing by"
                )
                self._lock.release()
                self._lock = None
                self._run()
                return
            if time.monotonic() >= monitor_at:
                reports = self._guard("monitoring", self.monitor_once)
                monitor_at = time.monotonic() + self.monitor_config.interval
                self._guard("hooks", functools.partial(self.hook_runner.after_monitoring, reports))
            if self._sched_now:
                self._sched_now = False
                sched_at = time.monotonic()
            if time.monotonic() >= sched_at:
                self._guard("scheduling", self.schedule_once)
                sched_at = time.monotonic() + self.sched_config.interval
                self._guard("hooks", self.hook_runner.after_scheduling)
            self._wake.wait(max(0.0, min(monitor_at, sched_at) - time.monotonic()))
            self._wake.clear()

    def start_embedded_host(self) -> list[str]:
        """The instance's simulated host, with the guests of its VMs, before the first
        monitoring cycle looks at them."""
        return self.embedded.start(self.session)

    def _guard(self, what: str, step: Callable[[], object]) -> object:
        """One failing cycle (the store busy, a bug) is logged; the loop goes on."""
        try:
            return step()
        except OneError as err:
            log.error("%s cycle failed: %s", what, err)
        except Exception:
            log.exception("%s cycle failed", what)
        return None

    def _run_flow(self) -> None:
        """The LCM runs while this server leads; a step that acted is followed by another
        at once (its VMs may let the next roles start), else it sleeps until woken."""
        leading, streak = False, 0
        while not self._stop.is_set():
            if not self.leader:
                leading = False
                self._stop.wait(0.5)
                continue
            if not leading:
                leading = True
                self._guard("OneFlow clean-up", self.flow_runner.stop_leftovers)
            self._flow_wake.clear()
            progress = self._guard("OneFlow", self.flow_once)
            streak = streak + 1 if progress else 0
            if not progress or streak >= MAX_QUICK_STEPS:  # nothing moved, or keep calm
                streak = 0
                self._flow_wake.wait(self.flow_config.lcm_interval)

    def _still_there(self, service_ids: set[int]) -> list[dict]:
        """The services of these ids that still exist (one read each; a service deleted
        meanwhile is left out)."""
        found = []
        for service_id in sorted(service_ids):
            try:
                found.append(services.show(self.session, service_id))
            except OneError:
                continue
        return found

    def write_service_logs(self, changed: list[dict]) -> None:
        """``var/oneflow/<id>.log``: each service's log as text, one file per service (the
        guide's /var/log/one/oneflow/<id>.log), rewritten when the service changes."""
        folder = self.instance.var / "oneflow"
        folder.mkdir(exist_ok=True)
        for service in changed:
            lines = [
                f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(e['timestamp']))} "
                f"[{e['severity']}] {e['message']}\n"
                for e in service["TEMPLATE"]["BODY"].get("log", [])
            ]
            (folder / f"{service['ID']}.log").write_text("".join(lines))

    @LCM_STEP.time()  # /metrics
    def flow_once(self) -> bool:
        """One LCM step: decide (for the services whose inputs changed since the last
        steps left them idle) and write, then run the orders in one runner call; True
        when orders ran (the next step goes on at once: it takes in the VMs made, and
        their roles may let the next ones start)."""
        started = time.monotonic()
        plan = services.plan_step(self.session, self.flow_config, memory=self.flow_memory)
        self.write_service_logs(plan.changed)
        if not plan.orders:
            return False
        result = self.flow_runner.execute(plan)
        services.record_failures(self.session, result.failures)
        failed = {f[0] for f in result.failures}
        self.write_service_logs(self._still_there(failed))
        log.info(
            "OneFlow step: %d creations, %d actions; runner %s in %.1f s%s",
            len(plan.creates),
            len(plan.actions),
            result.status,
            time.monotonic() - started,
            "".join(f"; service {f[0]} {f[1]}: {f[3]}" for f in result.failures),
        )
        return True

    @MONITOR_CYCLE.time()  # /metrics
    def monitor_once(self) -> list[monitor.HostReport]:
        return monitor.cycle(self.session, self.monitor_config)

    @SCHEDULER_CYCLE.time()  # /metrics
    def schedule_once(self) -> None:
        """One mm_sched cycle per SCHED_INTERVAL: MAX_DISPATCH and MAX_HOST limit each."""
        for outcome in scheduler.schedule(self.session, self.sched_config, max_cycles=1):
            if outcome.error:
                log.warning("VM %s was not deployed: %s", outcome.vm["ID"], outcome.error)
            else:
                log.info("VM %s deployed", outcome.vm["ID"])

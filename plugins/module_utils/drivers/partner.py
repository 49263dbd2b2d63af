"""A partner cloud as a host: VMs deployed through another onekit front-end's core API.

The guide's cloud bursting chapter names "a partner infrastructure running a different
OpenNebula instance" as a remote provider; 4.6 had no driver for it. Here a host with
VM_MAD and IM_MAD ``onekit`` (``onehost create partner --im onekit --vm onekit``) stands
for a partner's cloud as one of its users sees it: ``partner_config`` says where (its core
API) and as whom; the host's capacity is that user's VM quota there (below). Every call is
``core.remote``, as that user.

**What a VM becomes there** (``deploy``). A ``PARTNER`` vector in the VM's template
chooses: ``PARTNER = [ TEMPLATE = "<partner template name or id>" ]`` instantiates that
template of the partner's (its disks, networks and context are the partner's), any other
attribute of the vector is merged over it (``onetemplate instantiate``'s extra
attributes: ``PARTNER = [ TEMPLATE = "small", DESCRIPTION = "web" ]``, checked by the
partner as that user). Without TEMPLATE the remote VM is made (``onevm create``) from the
VM's own CPU, VCPU and MEMORY and the vector's other attributes: a diskless machine of
that size; a VM with a DISK or NIC is then refused (they name this cloud's images and
networks: a diskless copy would not be the VM asked for). The local context stays here
too (the partner template's CONTEXT is the guest's). The local CPU and MEMORY are what
the VM takes of the host's capacity here, whatever the partner template says.

**Finding it again.** The remote VM is named as the local one and tagged in its user
template: ``ONE_ID`` (the local VM id), ``ONE_FRONTEND`` (this front-end, so several
bursting to one account never take each other's VMs) and ``ONE_HOST`` (the local host, so
two hosts on one account do not either). The deploy id is ``partner:<remote id>``; a
``one-<id>`` deploy id (what the life cycle hands the other calls) is found by its tags,
one listing. A deploy first looks for a remote VM with its tags: a retried deploy (a lost
answer, ``onevm recover --retry``) takes the one that exists, and a ``resume`` after a
poweroff boots the powered-off one; only a FAILED one is replaced.

**Actions.** shutdown: the partner's ``poweroff`` (ACPI; the guest then shows as shut
off, which ends a shutdown, poweroff or undeploy here), or ``delete`` while it was never
started there; cancel and release (the VM left this host for good): ``delete``; reboot,
reset, suspend, resume: ``reboot``, ``reboot-hard``, ``suspend``, ``resume``; a snapshot:
``snapshot-create``. save and restore (``onevm stop``) are refused: the partner keeps its
guest's memory on its own hosts.

**Monitoring** (``monitor``): one listing of the user's VMs at the partner per cycle
(paged, ``remote.pages``), never a call per VM, and one read of the user's VM quota there
(``users.quota``). The host's capacity is that quota: CPU x 100 and MEMORY (MB) in KiB
for each figure the quota limits. A ``capacity`` in partner_driver.conf is the admin's
cap: where both are given the smaller wins, where the quota is unlimited (-1) the
configured figure is the capacity, and with neither (or a partner with no quotas, an
older onekit, and no capacity) the host goes ERROR naming both. Only the user's own quota
is read, not its group's: a deploy the partner refuses for any quota fails here with the
partner's message. Its use is the CPU and MEMORY of the live (not DONE) remote VMs
tagged as ours; its VMs
are those, keyed ``one-<local id>`` as the monitor matches them, each with the partner's
figures (CPU, MEMORY, NETTX, NETRX) and a state mapped from the remote one:

- ACTIVE (but CLEANUP_DELETE), PENDING, HOLD: ``running``. Being scheduled or booted at
  the partner is how a public cloud's instance starts ("pending" counts as running in
  OpenNebula's EC2 driver too): the VM here is RUNNING from the moment the partner took
  it. ACTIVE/UNKNOWN (the partner lost its own host) also counts: the partner still holds
  the VM and recovers it, which is its business, not a power-off here.
- SUSPENDED: ``paused``; POWEROFF, STOPPED, UNDEPLOYED: ``shutoff``; FAILED: ``crashed``
  (the monitor's rules then make a RUNNING VM here POWEROFF); DONE, CLEANUP_DELETE or not
  listed: ``missing``.

The host's extra attributes say what it is: PUBLIC_CLOUD=YES, PRIORITY=-1 (as 4.6's EC2
hosts), HYPERVISOR onekit. A partner that does not answer is ``HostUnreachable``; one that
refuses the credentials, or anything else, a ``DriverError`` with its message: the
monitor marks the host ERROR with it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import remote
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthenticationError,
    NotFound,
    OneError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import Lcm, VmState
from ansible_collections.onekit.cloud.plugins.module_utils.drivers import partner_config
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import (
    CRASHED,
    MISSING,
    PAUSED,
    RUNNING,
    SHUTOFF,
    Driver,
    DriverError,
    HostStatus,
    HostUnreachable,
    VmSpec,
    VmStatus,
    deploy_id_for,
    vm_id_of,
)
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.partner_config import (
    PartnerConfig,
)

Body = dict[str, Any]
PREFIX = "partner:"  # deploy ids: partner:<remote vm id>
PAGE_SIZE = 1000  # remote VMs per listing request
# the remote VM's tags (its USER_TEMPLATE)
TAG_ID, TAG_FRONTEND, TAG_HOST = "ONE_ID", "ONE_FRONTEND", "ONE_HOST"
# machine attributes a VM without PARTNER/TEMPLATE takes to the partner
SIZE_ATTRIBUTES = ("CPU", "VCPU", "MEMORY")
EXTRA = {"PUBLIC_CLOUD": "YES", "PRIORITY": "-1"}

_SHUTOFF_STATES = (VmState.POWEROFF, VmState.STOPPED, VmState.UNDEPLOYED)
_drivers: dict[str, PartnerDriver] = {}
_lock = threading.Lock()


def for_host(host: Body) -> PartnerDriver:
    """The driver of a partner host (one per host name and process); its configuration
    is read at every call, so it follows partner_driver.conf as it changes."""
    name = str(host.get("NAME"))
    with _lock:
        driver = _drivers.get(name)
        if driver is None:
            driver = _drivers[name] = PartnerDriver(name)
    return driver


def remote_state(vm: Body) -> str:
    """A remote VM's state as a guest state here (see the module's docstring)."""
    state = vm.get("STATE")
    if state == VmState.ACTIVE:
        return MISSING if vm.get("LCM_STATE") == Lcm.CLEANUP_DELETE else RUNNING
    if state in (VmState.PENDING, VmState.HOLD, VmState.INIT):
        return RUNNING
    if state == VmState.SUSPENDED:
        return PAUSED
    if state in _SHUTOFF_STATES:
        return SHUTOFF
    if state == VmState.FAILED:
        return CRASHED
    return MISSING  # DONE


def _figure(monitoring: Body, key: str, kind: type) -> Any:
    value = monitoring.get(key)
    try:
        return None if value is None else kind(float(value))
    except (TypeError, ValueError):
        return None


def status_of(vm: Body | None) -> VmStatus:
    """A remote VM (None: none) as the monitor reads a guest: its state and figures."""
    if vm is None:
        return VmStatus(MISSING)
    figures = vm.get("MONITORING") or {}
    return VmStatus(
        remote_state(vm),
        cpu=_figure(figures, "CPU", float),
        memory=_figure(figures, "MEMORY", int),
        net_tx=_figure(figures, "NETTX", int),
        net_rx=_figure(figures, "NETRX", int),
    )


def _size(vm: Body) -> tuple[int, int]:
    """A remote VM's CPU (hundredths of a core) and MEMORY (KiB), from its template."""
    tpl = vm.get("TEMPLATE") or {}
    try:
        cpu = round(float(tpl.get("CPU") or 0) * 100)
        memory = round(float(tpl.get("MEMORY") or 0) * 1024)
    except (TypeError, ValueError):
        return 0, 0
    return cpu, memory


def refusal(template: Body, host: str) -> str | None:
    """Why a VM of this template cannot run at the partner of ``host`` (None: it can):
    without PARTNER/TEMPLATE it goes as a diskless machine of its size, which a VM with
    disks or NICs (this cloud's images and networks) would not be."""
    section = template.get("PARTNER")
    if isinstance(section, dict) and section.get("TEMPLATE") is not None:
        return None
    local = [key for key in ("DISK", "NIC") if key in template]
    if not local:
        return None
    return (
        f"has {' and '.join(local)}, which name this cloud's images and networks; to run "
        f'at the partner of host {host} it needs PARTNER = [ TEMPLATE = "<template of the '
        'partner>" ]'
    )


class PartnerDriver(Driver):
    """One partner host (``for_host``)."""

    name = "onekit"

    def __init__(self, host: str):
        self.host = host
        self._remote_ids: dict[int, int] = {}  # local VM id -> remote VM id, as last seen
        self._ids_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PartnerDriver({self.host!r})"

    # ---- talking to the partner ---------------------------------------------------------
    def _config(self) -> PartnerConfig:
        return partner_config.load(self.host)

    def _failure(self, cfg: PartnerConfig, err: OneError) -> DriverError:
        if isinstance(err, remote.Unreachable):
            return HostUnreachable(f"partner cloud of host {self.host}: {err}")
        if isinstance(err, AuthenticationError):
            return DriverError(
                f"the partner at {cfg.endpoint} refused user {cfg.user!r}: {err} (the "
                f"credentials are {cfg.where('user/password')})"
            )
        return DriverError(f"the partner at {cfg.endpoint}: {err}")

    def _call(self, cfg: PartnerConfig, operation: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return remote.call(
                cfg.endpoint, (cfg.user, cfg.password), operation, args, kwargs,
                what=f"the partner of host {self.host}",
            )  # fmt: skip
        except NotFound:
            raise
        except OneError as err:
            raise self._failure(cfg, err) from None

    def _listing(self, cfg: PartnerConfig) -> Iterator[Body]:
        """Every VM of the user's at the partner (not DONE), a page per request."""
        pages = remote.pages(
            cfg.endpoint, (cfg.user, cfg.password), "vms.list_vms", page_size=PAGE_SIZE,
            what=f"the partner of host {self.host}",
        )  # fmt: skip
        try:
            for page in pages:
                yield from page
        except OneError as err:
            raise self._failure(cfg, err) from None

    def _local_id(self, cfg: PartnerConfig, vm: Body) -> int | None:
        """The local VM id a remote VM stands for, if it is one of ours: this user's,
        tagged by this front-end for this host."""
        tags = vm.get("USER_TEMPLATE") or {}
        if (
            vm.get("UNAME") != cfg.user
            or tags.get(TAG_FRONTEND) != cfg.frontend
            or tags.get(TAG_HOST) != self.host
        ):
            return None
        text = str(tags.get(TAG_ID, ""))
        return int(text) if text.isascii() and text.isdigit() else None

    def _ours(self, cfg: PartnerConfig) -> dict[int, Body]:
        """Our remote VMs by local id (one listing); of two for one id (a FAILED one not
        deleted yet beside its replacement), the live one, else the newest."""
        found: dict[int, Body] = {}
        for vm in self._listing(cfg):
            local = self._local_id(cfg, vm)
            if local is None:
                continue
            kept = found.get(local)
            if kept is None or _preferred(vm, kept):
                found[local] = vm
        with self._ids_lock:
            self._remote_ids.update({local: vm["ID"] for local, vm in found.items()})
        return found

    def _show(self, cfg: PartnerConfig, remote_id: int) -> Body | None:
        try:
            vm = self._call(cfg, "vms.show", remote_id)
        except NotFound:
            return None
        return vm if isinstance(vm, dict) else None

    def _find(self, cfg: PartnerConfig, deploy_id: str) -> Body | None:
        """The live remote VM of a deploy id (``partner:<id>`` or ``one-<local id>``), or
        None when there is none (gone, DONE)."""
        if deploy_id.startswith(PREFIX):
            rest = deploy_id[len(PREFIX) :]
            if not (rest.isascii() and rest.isdigit()):
                raise DriverError(f"{deploy_id!r} is not a partner deploy id (partner:<id>)")
            vm = self._show(cfg, int(rest))
            if vm is None or self._local_id(cfg, vm) is None:
                return None
            return None if vm.get("STATE") == VmState.DONE else vm
        local = vm_id_of(deploy_id)
        if local is None:
            raise DriverError(
                f"{deploy_id!r} is no deploy id of the partner driver (partner:<id>, one-<id>)"
            )
        with self._ids_lock:
            known = self._remote_ids.get(local)
        if known is not None:  # one request, not a listing: the last deploy's or listing's
            vm = self._show(cfg, known)
            alive = vm is not None and vm.get("STATE") != VmState.DONE
            if alive and self._local_id(cfg, vm) == local:
                return vm
        return self._ours(cfg).get(local)

    def _act(self, cfg: PartnerConfig, vm: Body, action: str, **options: Any) -> None:
        """Run a VM action at the partner; its refusal is this call's failure."""
        try:
            outcomes = self._call(cfg, "lifecycle.act", [vm["ID"]], action, **options)
        except NotFound as err:
            raise DriverError(f"the partner at {cfg.endpoint}: {err}") from None
        error = next((o.error for o in outcomes or () if getattr(o, "error", None)), None)
        if error:
            raise DriverError(
                f"the partner at {cfg.endpoint} could not {action} its VM {vm['ID']}: {error}"
            )

    # ---- the driver interface -------------------------------------------------------------
    def deploy(self, vm: VmSpec) -> str:
        cfg = self._config()
        existing = self._ours(cfg).get(vm.vm_id)
        if existing is not None:
            state = existing.get("STATE")
            if state in (*_SHUTOFF_STATES, VmState.SUSPENDED):
                self._act(cfg, existing, "resume")  # boot after a poweroff, a resume
                return self._remember(vm.vm_id, existing["ID"])
            if state != VmState.FAILED:  # there already: a retried deploy
                return self._remember(vm.vm_id, existing["ID"])
            self._act(cfg, existing, "delete")  # failed there: replaced
        return self._remember(vm.vm_id, self._create(cfg, vm))

    def _remember(self, local: int, remote_id: int) -> str:
        with self._ids_lock:
            self._remote_ids[local] = remote_id
        return f"{PREFIX}{remote_id}"

    def _create(self, cfg: PartnerConfig, vm: VmSpec) -> int:
        section = vm.template.get("PARTNER", {})
        if not isinstance(section, dict):
            raise DriverError(
                f"VM {vm.vm_id}: PARTNER must be one vector, PARTNER = [ TEMPLATE = "
                '"<template of the partner>" ]'
            )
        extra = {k: v for k, v in section.items() if k != "TEMPLATE"}
        tags = {TAG_ID: str(vm.vm_id), TAG_FRONTEND: cfg.frontend, TAG_HOST: self.host}
        chosen = section.get("TEMPLATE")
        if chosen is not None:
            ref: int | str = int(chosen) if chosen.isascii() and chosen.isdigit() else chosen
            made = self._call_creating(
                cfg, "templates.instantiate", ref, 1, vm.name, False, {**extra, **tags}
            )
            return int(made[0]["ID"])
        why = refusal(vm.template, self.host)
        if why is not None:
            raise DriverError(f"VM {vm.vm_id} {why}")
        size = {k: vm.template[k] for k in SIZE_ATTRIBUTES if k in vm.template}
        made = self._call_creating(cfg, "vms.create", {**size, **extra, **tags, "NAME": vm.name})
        return int(made["ID"])

    def _call_creating(self, cfg: PartnerConfig, operation: str, *args: Any) -> Any:
        try:
            return self._call(cfg, operation, *args)
        except NotFound as err:  # the partner template named by PARTNER/TEMPLATE
            raise DriverError(f"the partner at {cfg.endpoint}: {err}") from None

    def shutdown(self, deploy_id: str) -> None:
        cfg = self._config()
        vm = self._find(cfg, deploy_id)
        if vm is None or vm.get("STATE") in _SHUTOFF_STATES:
            return  # gone or off already: the poll shows it
        if vm.get("STATE") in (VmState.PENDING, VmState.HOLD, VmState.FAILED):
            self._act(cfg, vm, "delete")  # never started there: nothing to power off
            return
        self._act(cfg, vm, "poweroff", quick_wait=0)

    def cancel(self, deploy_id: str) -> None:
        cfg = self._config()
        vm = self._find(cfg, deploy_id)
        if vm is not None:
            self._act(cfg, vm, "delete", quick_wait=0)

    def release(self, deploy_id: str) -> None:
        self.cancel(deploy_id)

    def _required(self, deploy_id: str) -> tuple[PartnerConfig, Body]:
        cfg = self._config()
        vm = self._find(cfg, deploy_id)
        if vm is None:
            raise DriverError(f"the partner at {cfg.endpoint} has no VM {deploy_id} any more")
        return cfg, vm

    def reboot(self, deploy_id: str) -> None:
        self._act(*self._required(deploy_id), "reboot")

    def reset(self, deploy_id: str) -> None:
        self._act(*self._required(deploy_id), "reboot-hard")

    def suspend(self, deploy_id: str) -> None:
        self._act(*self._required(deploy_id), "suspend")

    def resume(self, deploy_id: str) -> None:
        self._act(*self._required(deploy_id), "resume")

    def snapshot_create(self, deploy_id: str, name: str) -> None:
        self._act(*self._required(deploy_id), "snapshot-create", name=name)

    def _no_memory(self, what: str) -> DriverError:
        return DriverError(
            f"host {self.host} is a partner cloud: {what} (onevm stop) is not possible there, "
            "the partner keeps its guests' memory on its own hosts; use poweroff or undeploy"
        )

    def save(self, deploy_id: str, path: str) -> None:
        raise self._no_memory("saving a guest's memory")

    def restore(self, path: str) -> str:
        raise self._no_memory("restoring a guest's memory")

    def remove_checkpoint(self, path: str) -> None:
        raise self._no_memory("removing a saved memory file")

    def poll(self, deploy_id: str) -> VmStatus:
        cfg = self._config()
        return status_of(self._find(cfg, deploy_id))

    def _quota(self, cfg: PartnerConfig) -> Body:
        """The user's VM quota at the partner ({} when the partner has none to give: an
        onekit of before quotas)."""
        try:
            answer = self._call(cfg, "users.quota", cfg.user)
        except NotFound:
            return {}
        quota = answer.get("VM") if isinstance(answer, dict) else None
        return quota if isinstance(quota, dict) else {}

    def capacity(self, cfg: PartnerConfig) -> tuple[int, int]:
        """The host's total CPU (hundredths) and MEMORY (KiB): the partner's VM quota for
        the user, capped by partner_driver.conf's capacity (see the module's docstring)."""
        quota = self._quota(cfg)
        totals = []
        for key, scale, configured, unit in (
            ("CPU", 100, cfg.cpu, "cpu"),
            ("MEMORY", 1024, cfg.memory, "memory"),
        ):
            try:
                limit = float(quota.get(key, -1))
            except (TypeError, ValueError):
                limit = -1.0
            figures = [round(limit * scale)] if limit >= 0 else []
            figures += [configured] if configured > 0 else []
            if not figures:
                raise DriverError(
                    f"the partner at {cfg.endpoint} sets no VM quota {key} for user "
                    f"{cfg.user!r} (unlimited) and {cfg.where('capacity.' + unit)} is not "
                    "given: set either, the host's capacity is the smaller of the two"
                )
            totals.append(min(figures))
        return totals[0], totals[1]

    def monitor(self) -> HostStatus:
        cfg = self._config()
        total_cpu, total_memory = self.capacity(cfg)
        ours = self._ours(cfg)
        used_cpu = used_memory = 0
        for vm in ours.values():
            cpu, memory = _size(vm)
            used_cpu, used_memory = used_cpu + cpu, used_memory + memory
        return HostStatus(
            hypervisor="onekit",
            total_cpu=total_cpu,
            total_memory=total_memory,
            used_cpu=min(total_cpu, used_cpu),
            used_memory=min(total_memory, used_memory),
            cpu_model=f"partner cloud {cfg.endpoint}",
            vms={deploy_id_for(local): status_of(vm) for local, vm in ours.items()},
            extra=dict(EXTRA),
        )


def _preferred(vm: Body, other: Body) -> bool:
    """Of two remote VMs tagged for one local VM, is ``vm`` the one that stands for it?"""
    live, other_live = vm.get("STATE") != VmState.FAILED, other.get("STATE") != VmState.FAILED
    if live != other_live:
        return live
    return vm["ID"] > other["ID"]

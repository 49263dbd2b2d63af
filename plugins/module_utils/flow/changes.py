"""Which services a OneFlow step decides for: only those whose inputs changed since
their last decision left them as they were.

A decision (``flow.lcm.decide``) is a pure function of a service's document, its VMs
(state, owner, metrics), the clock and the server's config. So a service the last step
left idle (no change, no order) would be left idle again while none of these moved. The
step tells that without parsing a body:

- the document: its stored text, compared with the text the idle decision read (any
  write — an API call, ``record_failures`` — changes it);
- its VMs: each ``vm_pool`` row carries ``written_ns``, a stamp every write of the VM
  renews (its state, a OneGate PUT, a monitoring poll, ``onevm update``), and
  ``service_id`` (the VM's SERVICE_ID tag): the VMs not DONE tagged for the service,
  plus its nodes that are not (tags are the owner's to edit), each as (id, stamp); a
  VM made, changed, gone DONE or re-tagged changes the list;
- the clock: the decision says when the clock alone would move the service (a policy's
  period or cron time, a cooldown's end, a delayed ``oneflow action``);
- the config: a new one forgets everything.

Reads are light: the documents' text and, for the VMs, three integer columns; the
bodies of VMs are parsed only for the services decided.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Tx
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import VmState
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.flow.documents import SERVICE

Body = dict[str, Any]
Row = tuple[int, int, int]  # (service id, VM id, written_ns)
Stamps = tuple[tuple[Row, ...], tuple[tuple[int, int], ...]]  # tagged rows, (id, stamp) of others
_DONE = int(VmState.DONE)
_CHUNK = 500  # ids per IN (...): under every store's limit of parameters


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _marks(ids: list[int]) -> str:
    return ", ".join("?" for _ in ids)


# ---- light reads --------------------------------------------------------------------------
def documents(tx: Tx) -> list[tuple[int, str]]:
    """Every service document: (id, stored text)."""
    return tx.rows("SELECT oid, body FROM document_pool WHERE type = ? ORDER BY oid", (SERVICE,))


def tagged_stamps(tx: Tx) -> dict[int, tuple[Row, ...]]:
    """Service id -> the rows (service id, VM id, stamp) of the VMs not DONE tagged for
    it, by VM id (read from the service_id index alone; grouped in C)."""
    rows = tx.rows(
        "SELECT service_id, oid, written_ns FROM vm_pool "
        "WHERE service_id IS NOT NULL AND state != ? ORDER BY service_id, oid",
        (_DONE,),
    )
    return {sid: tuple(group) for sid, group in groupby(rows, key=itemgetter(0))}


def stamps_of(tx: Tx, ids: Iterable[int]) -> dict[int, int]:
    """VM id -> stamp of these VMs, those not DONE."""
    found: dict[int, int] = {}
    for chunk in _chunks(sorted(set(ids))):
        sql = f"SELECT oid, written_ns FROM vm_pool WHERE oid IN ({_marks(chunk)}) AND state != ?"
        found.update(tx.rows(sql, (*chunk, _DONE)))
    return found


def vm_bodies(
    tx: Tx, service_ids: Iterable[int], vm_ids: Iterable[int]
) -> tuple[dict[int, Body], dict[int, int]]:
    """The VMs not DONE tagged for these services, and these VMs: bodies and stamps by id."""
    bodies: dict[int, Body] = {}
    stamps: dict[int, int] = {}
    for column, ids in (("service_id", service_ids), ("oid", vm_ids)):
        for chunk in _chunks(sorted(set(ids))):
            sql = (
                f"SELECT oid, written_ns, body FROM vm_pool WHERE {column} IN ({_marks(chunk)}) "
                "AND state != ?"
            )
            for oid, stamp, text in tx.rows(sql, (*chunk, _DONE)):
                if oid not in bodies:
                    bodies[oid] = json.loads(text)
                    stamps[oid] = stamp
    pool.current_figures(tx, bodies.values())  # MONITORING, which policies may read
    return bodies, stamps


def node_ids(service: Body) -> set[int]:
    return {n["deploy_id"] for r in service["TEMPLATE"]["BODY"]["roles"] for n in r["nodes"]}


# ---- what was seen -------------------------------------------------------------------------
@dataclass(frozen=True)
class _Seen:
    text: str  # the document as stored when it was left idle
    untagged: frozenset[int]  # its nodes not tagged for it
    vms: Stamps | None  # its VMs then (None: a DONE service, which no VM moves)
    due: float  # when the clock alone moves it


def _signature(tagged: tuple[Row, ...], others: Iterable[tuple[int, int]]) -> Stamps:
    return tagged, tuple(sorted(others))


@dataclass
class Memory:
    """What the loop's steps saw of each idle service (kept by the process that runs the
    loop; a new process starts empty and decides every service once)."""

    config: FlowConfig | None = None
    seen: dict[int, _Seen] = field(default_factory=dict)

    def stale(
        self, tx: Tx, docs: list[tuple[int, str]], tagged: dict[int, tuple[Row, ...]], now: float
    ) -> list[tuple[int, str]]:
        """The documents to decide for now: those not seen idle, or whose inputs moved."""
        candidates = {}
        for oid, text in docs:
            seen = self.seen.get(oid)
            if seen is not None and seen.text == text and now < seen.due:
                candidates[oid] = seen
        others = stamps_of(tx, (i for s in candidates.values() for i in s.untagged))
        unchanged = {
            oid
            for oid, seen in candidates.items()
            if seen.vms is None
            or seen.vms
            == _signature(
                tagged.get(oid, ()), ((i, others[i]) for i in seen.untagged if i in others)
            )
        }
        present = {oid for oid, _ in docs}
        for oid in [o for o in self.seen if o not in present]:
            del self.seen[oid]
        return [(oid, text) for oid, text in docs if oid not in unchanged]

    def forget(self, config: FlowConfig) -> None:
        """A step under another config: every service is decided again."""
        if config != self.config:
            self.seen.clear()
            self.config = config

    def done(self, oid: int, text: str) -> None:
        """A DONE service (not being deleted): nothing moves it but its document."""
        self.seen[oid] = _Seen(text, frozenset(), None, math.inf)

    def remember(
        self,
        service: Body,
        text: str,
        due: float | None,
        tagged: tuple[Row, ...],
        stamps: dict[int, int],
    ) -> None:
        """After a decision: ``due`` is the service's in ``plan.idle`` (None: it changed
        or ordered something, and is decided again at the next step)."""
        if due is None:
            self.seen.pop(service["ID"], None)
            return
        mine = {oid for _sid, oid, _stamp in tagged}
        untagged = frozenset(node_ids(service) - mine)
        others = ((i, stamps[i]) for i in untagged if i in stamps)
        self.seen[service["ID"]] = _Seen(text, untagged, _signature(tagged, others), due)

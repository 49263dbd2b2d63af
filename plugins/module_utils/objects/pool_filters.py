"""OpenNebula's pool listing arguments (``one.<pool>.info``): whose objects, and which.

``whose`` is oned's filter flag: -4 the objects of the caller's primary group, -3 the
caller's own, -2 all it may use, -1 its own and its groups' (the default of oned's
CLIs), a user id that user's. ``start``/``end`` are an id range (-1: no bound), or, with
``end`` below -1, a page: ``-end`` objects after skipping ``start`` (oned's pagination).
Every object listed is one the caller may USE, whatever the flag says
(``objects.list_visible``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.core.schema import PoolSpec
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session

PRIMARY_GROUP, MINE, ALL, MINE_AND_GROUPS = -4, -3, -2, -1


@dataclass(frozen=True)
class PoolFilter:
    whose: int = ALL
    start: int = -1
    end: int = -1

    def check(self) -> None:
        if self.whose < PRIMARY_GROUP:
            raise InvalidInput(
                f"filter flag {self.whose} is none of -4 (group), -3 (mine), -2 (all), "
                "-1 (mine and my groups) or a user id"
            )
        for name, value in (("start", self.start), ("end", self.end)):
            if value > pool.MAX_OID:
                raise InvalidInput(f"{name} must be at most {pool.MAX_OID}, got {value}")

    @property
    def paged(self) -> bool:
        return self.end < -1

    def owner_clause(self, session: Session) -> tuple[str, tuple]:
        subject = session.subject
        if self.whose == PRIMARY_GROUP:
            return "gid = ?", (subject.gid,)
        if self.whose == MINE:
            return "uid = ?", (subject.uid,)
        if self.whose == MINE_AND_GROUPS:
            groups = sorted(subject.groups)
            marks = ", ".join("?" for _ in groups)
            return f"uid = ? OR gid IN ({marks})", (subject.uid, *groups)
        if self.whose >= 0:
            return "uid = ?", (self.whose,)
        return "", ()


def list_filtered(
    session: Session, spec: PoolSpec, flt: PoolFilter, where: str = "", params: tuple = ()
) -> list[objects.Body]:
    """The objects of ``spec`` that ``flt`` selects and the caller may use, in id order;
    ``where``/``params``: the object type's own condition (a VM's state, say)."""
    flt.check()
    clauses = [(where, params), flt.owner_clause(session)]
    if flt.paged:
        skip, count = max(flt.start, 0), -flt.end
        sql, args = _joined(clauses)
        found = objects.list_visible(session, spec, sql, args, 0, min(skip + count, pool.MAX_OID))
        return found[skip:]
    if flt.end >= 0:
        clauses.append(("oid <= ?", (flt.end,)))
    sql, args = _joined(clauses)
    return objects.list_visible(session, spec, sql, args, max(flt.start, 0))


def _joined(clauses: list[tuple[str, tuple]]) -> tuple[str, tuple]:
    kept = [(c, p) for c, p in clauses if c]
    return " AND ".join(f"({c})" for c, _ in kept), tuple(a for _, p in kept for a in p)

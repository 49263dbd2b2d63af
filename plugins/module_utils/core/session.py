"""A session: a store plus the authenticated user every operation acts for.

Operations (``users.create(session, ...)`` and the like) open one transaction per call
with ``session.write()`` or ``session.read()`` and check rights through it, so a refused
or failed operation leaves the store exactly as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ansible_collections.onekit.cloud.plugins.module_utils.core import auth
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import AclRule, Right
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Database, Tx
from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions

log = logging.getLogger(__name__)


@dataclass
class Session:
    db: Database
    subject: auth.Subject
    zone: int = 0
    umask: str = "177"
    onegate_endpoint: str = ""  # ONEGATE_ENDPOINT: new VMs' CONTEXT/ONEGATE_URL
    # where deploys write VMs' context CD-ROMs, and the secret of their tokens (None:
    # no image is made, as for a session of no instance)
    context_dir: str | None = None
    gate_secret: bytes | None = field(default=None, repr=False)
    # where the image datastores keep the files onekit owns, ``<dir>/<datastore id>/``
    # (None: a session of no instance, which cannot upload or create image files)
    datastores_dir: str | None = None
    # a federation slave's: where writes of the shared tables go (``core.shared_writes``), and
    # the caller's credentials to send with them
    master_endpoint: str = ""
    credentials: tuple[str, str] | None = field(default=None, repr=False)

    @classmethod
    def login(cls, db: Database, username: str, password: str, **kwargs) -> Session:
        return cls(
            db, auth.login(db, username, password), credentials=(username, password), **kwargs
        )

    @classmethod
    def system(cls, db: Database, **kwargs) -> Session:
        """The server's own loops (monitor, scheduler) act as oneadmin, as oned does."""
        return cls(db, auth.Subject(0, "oneadmin", 0, frozenset({0})), **kwargs)

    @contextmanager
    def write(self, dry_run: bool = False) -> Iterator[AuthTx]:
        """A write transaction; ``dry_run`` rolls it back at the end (check mode).
        What the transaction asked to do ``after_commit`` runs once it has committed."""
        with self.db.transaction(dry_run=dry_run) as tx:
            w = AuthTx(tx, self)
            yield w
        if not dry_run:
            for action in w.after_commit:
                try:
                    action()
                except Exception:  # the commit stands; a clean-up left undone is logged
                    log.exception("an action after commit failed")

    @contextmanager
    def read(self) -> Iterator[AuthTx]:
        with self.db.snapshot() as tx:
            yield AuthTx(tx, self)

    def new_permissions(self) -> Permissions:
        return Permissions.from_umask(self.umask)


@dataclass
class AuthTx:
    """A transaction that knows who is asking; ``authorize`` checks against its ACL."""

    tx: Tx
    session: Session
    _rules: list[AclRule] | None = field(default=None, repr=False)
    #: work outside the store that must wait for the commit (a driver clean-up)
    after_commit: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def subject(self) -> auth.Subject:
        return self.session.subject

    @property
    def rules(self) -> list[AclRule]:
        if self._rules is None:
            self._rules = auth.acl_rules(self.tx)
        return self._rules

    def authorize(self, target: auth.Target, right: Right) -> None:
        auth.authorize(self.subject, self.rules, target, right, self.session.zone)

    def allowed(self, target: auth.Target, right: Right) -> bool:
        return auth.allowed(self.subject, self.rules, target, right, self.session.zone)

"""An onekit instance: the directory ``$ONEKIT_HOME`` (default ``~/.onekit``).

    etc/oned.conf       the instance configuration (see ``config``)
    var/one.db          the SQLite store (embedded default)
    var/*.log, *.pid    server logs and pid files
    one_auth            ``oneadmin:<password>``, written by ``onekit-server init``

Everything an instance touches lives below its home, so two instances with different
homes never meet. Credentials come from the file named by ``$ONE_AUTH``, else
``$ONEKIT_HOME/one_auth``, as OpenNebula's CLIs read ``~/.one/one_auth``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from ansible_collections.onekit.cloud.plugins.module_utils import acls, pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.acl import BOOTSTRAP_RULES, AclRule
from ansible_collections.onekit.cloud.plugins.module_utils.auth import hash_password
from ansible_collections.onekit.cloud.plugins.module_utils.config import (
    DbConfig,
    InstanceConfig,
    parse_config,
    render_config,
)
from ansible_collections.onekit.cloud.plugins.module_utils.db import Database
from ansible_collections.onekit.cloud.plugins.module_utils.errors import (
    AuthenticationError,
    ConfigError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.groups import new_group_body
from ansible_collections.onekit.cloud.plugins.module_utils.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.users import new_user_body


def default_home() -> Path:
    return Path(os.environ.get("ONEKIT_HOME") or Path.home() / ".onekit").expanduser()


@dataclass(frozen=True)
class Instance:
    home: Path

    @classmethod
    def locate(cls, home: str | os.PathLike | None = None) -> Instance:
        return cls(Path(home).expanduser() if home else default_home())

    # ---- paths ------------------------------------------------------------------------
    @property
    def etc(self) -> Path:
        return self.home / "etc"

    @property
    def var(self) -> Path:
        return self.home / "var"

    @property
    def config_path(self) -> Path:
        return self.etc / "oned.conf"

    @property
    def sqlite_path(self) -> Path:
        return self.var / "one.db"

    @property
    def auth_path(self) -> Path:
        return self.home / "one_auth"

    def pid_path(self, name: str = "onekit-server") -> Path:
        return self.var / f"{name}.pid"

    def log_path(self, name: str = "onekit-server") -> Path:
        return self.var / f"{name}.log"

    # ---- configuration and store ------------------------------------------------------
    def config(self) -> InstanceConfig:
        if not self.config_path.exists():
            raise ConfigError(
                f"no onekit instance at {self.home} ({self.config_path} is missing); "
                "run `onekit-server init` or set ONEKIT_HOME"
            )
        return parse_config(self.config_path.read_text(), self.config_path)

    def database(self, create: bool = False) -> Database:
        db = self.config().db
        if db.backend == "sqlite":
            return Database.sqlite(self.sqlite_path, create=create)
        return Database.mysql(db.server, db.port, db.user, db.passwd, db.db_name)

    def open_store(self) -> Database:
        """The store, checked for its schema version (a mismatch is an error)."""
        db = self.database()
        db.check_schema()
        return db

    # ---- credentials ------------------------------------------------------------------
    def credentials_path(self) -> Path:
        return Path(os.environ["ONE_AUTH"]) if os.environ.get("ONE_AUTH") else self.auth_path

    def credentials(self) -> tuple[str, str]:
        path = self.credentials_path()
        try:
            text = path.read_text().strip()
        except OSError as err:
            raise AuthenticationError(
                f"no credentials: cannot read {path} ({err.strerror}); set ONE_AUTH to a file "
                "holding user:password"
            ) from err
        user, sep, password = text.partition(":")
        if not sep or not user or not password:
            raise AuthenticationError(f"{path} must hold one line user:password")
        return user, password

    def session(self, username: str | None = None, password: str | None = None) -> Session:
        """Log in with the given credentials, else those of ONE_AUTH / one_auth."""
        config = self.config()  # first: a missing instance is the error to report
        if username is None:
            username, password = self.credentials()
        db = self.open_store()
        return Session.login(db, username, password or "", umask=config.default_umask)

    # ---- creation ---------------------------------------------------------------------
    def init(self, config: InstanceConfig | None = None, admin_password: str | None = None) -> str:
        """Create the layout, the store and its bootstrap objects; returns the password.

        Refuses an instance that already has a configuration or a store.
        """
        if self.config_path.exists():
            raise ConfigError(f"{self.home} is already an onekit instance ({self.config_path})")
        config = config or InstanceConfig()
        self.etc.mkdir(parents=True, exist_ok=True)
        self.var.mkdir(parents=True, exist_ok=True)
        admin_password = admin_password or secrets.token_urlsafe(18)
        # Write the config only once the store is made, so a failed init can be rerun.
        tmp = self.config_path.with_suffix(".conf.new")
        _write_private(tmp, render_config(config))
        try:
            db = (
                Database.sqlite(self.sqlite_path, create=True)
                if config.db.backend == "sqlite"
                else Database.mysql(
                    config.db.server,
                    config.db.port,
                    config.db.user,
                    config.db.passwd,
                    config.db.db_name,
                )
            )
            bootstrap(db, admin_password)
            db.close()
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        tmp.rename(self.config_path)
        _write_private(self.auth_path, f"oneadmin:{admin_password}\n")
        return admin_password


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it may hold a password)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def bootstrap(db: Database, admin_password: str) -> None:
    """Schema, groups oneadmin (0) and users (1), user oneadmin (0), bootstrap ACL rules."""
    db.ensure_database()
    db.create_schema()
    with db.transaction() as tx:
        oneadmin_group = pool.insert(tx, schema.GROUPS, new_group_body(0, "oneadmin"), oid=0)
        pool.insert(tx, schema.GROUPS, new_group_body(1, "users"), oid=1)
        admin = new_user_body(0, "oneadmin", hash_password(admin_password), oneadmin_group, "core")
        pool.insert(tx, schema.USERS, admin, oid=0)
        oneadmin_group["USERS"] = [0]
        pool.update(tx, schema.GROUPS, oneadmin_group)
        for text in BOOTSTRAP_RULES:
            acls.insert_rule(tx, AclRule.parse(text))


def mysql_config(
    server: str, port: int, user: str, passwd: str, db_name: str, base: InstanceConfig | None = None
) -> InstanceConfig:
    return replace(
        base or InstanceConfig(), db=DbConfig("mysql", server, port, user, passwd, db_name)
    )

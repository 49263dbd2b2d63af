"""An onekit instance: the directory ``$ONEKIT_HOME`` (default ``~/.onekit``).

    etc/oned.conf       the instance configuration (see ``config``)
    var/one.db          the SQLite store (embedded default)
    var/sim/            the embedded default's simulated host (its private libvirtd)
    var/*.log, *.pid    server logs and pid files
    one_auth            ``oneadmin:<password>``, written by ``onekit-server init``

Everything an instance touches lives below its home, so two instances with different
homes never meet. Credentials come from the file named by ``$ONE_AUTH``, else
``$ONEKIT_HOME/one_auth``, as OpenNebula's CLIs read ``~/.one/one_auth``.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ansible_collections.onekit.cloud.plugins.module_utils import drivers
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import BOOTSTRAP_RULES, AclRule
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import hash_password
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Database, Tx
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthenticationError,
    ConfigError,
    OneError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.frontend import features
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import (
    DbConfig,
    InstanceConfig,
    parse_config,
    render_config,
)

if TYPE_CHECKING:
    from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
    from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import GateConfig
    from ansible_collections.onekit.cloud.plugins.module_utils.vm.monitor import MonitorConfig
    from ansible_collections.onekit.cloud.plugins.module_utils.vm.scheduler import SchedConfig

features.plug_in()  # before any store is opened: see frontend.features


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

    @property
    def sim_dir(self) -> Path:
        """Where the instance's own simulated host (the embedded default's hypervisor)
        keeps its libvirtd: ``var/sim``, or, when that path is too long for the daemon's
        unix socket, a directory in /tmp named after the home."""
        own = self.var / "sim"
        if len(str(own / "libvirt-sock").encode()) <= 107:
            return own
        digest = hashlib.sha256(str(self.home.resolve()).encode()).hexdigest()[:16]
        return Path("/tmp") / f"onekit-sim-{digest}"

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
        try:
            text = self.config_path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"cannot read {self.config_path}: {err}") from err
        return parse_config(text, self.config_path)

    @property
    def sched_config_path(self) -> Path:
        return self.etc / "sched.conf"

    def sched_config(self) -> SchedConfig:
        """``etc/sched.conf`` (defaults when the file is absent)."""
        from ansible_collections.onekit.cloud.plugins.module_utils.vm.scheduler import SchedConfig

        if not self.sched_config_path.exists():
            return SchedConfig()
        try:
            text = self.sched_config_path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"cannot read {self.sched_config_path}: {err}") from err
        return SchedConfig.parse(text, str(self.sched_config_path))

    @property
    def gate_config_path(self) -> Path:
        return self.etc / "onegate-server.conf"

    def gate_config(self) -> GateConfig:
        """``etc/onegate-server.conf`` (OneGate's defaults when the file is absent)."""
        from ansible_collections.onekit.cloud.plugins.module_utils.gate import config as gate_config

        return gate_config.load(self.gate_config_path)

    @property
    def gate_key_path(self) -> Path:
        return self.etc / "onegate.key"

    def gate_secret(self) -> bytes:
        """The secret VM tokens are made with (created, mode 600, the first time)."""
        if not self.gate_key_path.exists():
            from ansible_collections.onekit.cloud.plugins.module_utils.gate import tokens

            _write_private(self.gate_key_path, tokens.new_secret() + "\n")
        return self.gate_key_path.read_text().strip().encode()

    @property
    def flow_config_path(self) -> Path:
        return self.etc / "oneflow-server.conf"

    def flow_config(self) -> FlowConfig:
        """``etc/oneflow-server.conf`` (OneFlow's defaults when the file is absent)."""
        from ansible_collections.onekit.cloud.plugins.module_utils.flow import config as flow_config

        return flow_config.load(self.flow_config_path)

    def monitor_config(self, config: InstanceConfig | None = None) -> MonitorConfig:
        from ansible_collections.onekit.cloud.plugins.module_utils.vm.monitor import MonitorConfig

        config = config or self.config()
        return MonitorConfig(
            interval=config.monitoring_interval,
            timeout=config.monitoring_timeout,
            host_expiration=config.host_monitoring_expiration,
            vm_expiration=config.vm_monitoring_expiration,
            shutdown_timeout=config.shutdown_timeout,
            grace=max(2 * config.monitoring_interval, 30),
        )

    def database(self, create: bool = False, config: InstanceConfig | None = None) -> Database:
        return Database.from_config((config or self.config()).db, self.sqlite_path, create)

    def open_store(self, config: InstanceConfig | None = None) -> Database:
        """The store, checked for its schema version (a mismatch is an error)."""
        db = self.database(config=config)
        db.check_schema()
        return db

    # ---- credentials ------------------------------------------------------------------
    def credentials_path(self) -> Path:
        return Path(os.environ["ONE_AUTH"]) if os.environ.get("ONE_AUTH") else self.auth_path

    def credentials(self) -> tuple[str, str]:
        path = self.credentials_path()
        try:
            text = path.read_text().strip()
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
            raise AuthenticationError(
                f"no credentials: cannot read {path} ({reason}); set ONE_AUTH to a file "
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
        db = self.open_store(config)
        return Session.login(
            db,
            username,
            password or "",
            **self.session_settings(config),
        )

    def session_settings(self, config: InstanceConfig | None = None) -> dict:
        """What every session of this instance carries besides its user (and, for the
        whole process, the drivers' threads and timeouts from oned.conf)."""
        config = config or self.config()
        drivers.configure(config.vm_mads, config.im_mads)
        return {
            "zone": config.federation.zone_id,
            "master_endpoint": config.federation.master_oned if config.federation.slave else "",
            "umask": config.default_umask,
            "onegate_endpoint": config.onegate_endpoint,
            "context_dir": str(self.var / "context"),
            "gate_secret": self.gate_secret(),
        }

    # ---- creation ---------------------------------------------------------------------
    def is_initialised(self) -> bool:
        """Config present and its store complete (any other state: False)."""
        try:
            self.open_store().close()
        except OneError:
            return False
        return True

    def init(
        self,
        config: InstanceConfig | None = None,
        admin_password: str | None = None,
        flow: FlowConfig | None = None,
        onegate: GateConfig | None = None,
    ) -> str:
        """Create the store and its bootstrap objects, and the config if there is none;
        returns oneadmin's password (also written to one_auth).

        With an existing ``etc/oned.conf`` (say, edited by hand to name a MySQL server) its
        settings are used, as oned creates its DB from oned.conf; ``config`` must then be
        None. A store that is already complete is refused. All or nothing: on failure the
        store's tables and the config are not left behind, so init can be rerun.
        """
        from ansible_collections.onekit.cloud.plugins.module_utils.flow import config as flow_config
        from ansible_collections.onekit.cloud.plugins.module_utils.gate import config as gate_config

        write_config = not self.config_path.exists()
        if not write_config:
            if config is not None:
                raise ConfigError(
                    f"{self.config_path} exists: edit it instead of giving settings to init"
                )
            config = self.config()
        else:
            config = config or InstanceConfig()
            parse_config(render_config(config), self.config_path)  # refuse bad values now
        flow_config.parse(flow_config.render(flow), str(self.flow_config_path))
        gate_config.parse(gate_config.render(onegate), str(self.gate_config_path))
        for path in (self.home, self.etc, self.var):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        db = self.database(create=True, config=config)
        if db.has_versions():
            raise ConfigError(f"{self.home} is already an onekit instance ({self.config_path})")
        admin_password = admin_password or secrets.token_urlsafe(18)
        bootstrap(db, admin_password, config.endpoint)
        db.close()
        if config.db.backend == "sqlite":  # it holds the password hashes
            self.sqlite_path.chmod(0o600)
        if not self.sched_config_path.exists():
            _write_private(self.sched_config_path, SCHED_CONF)
        if not self.flow_config_path.exists():
            _write_private(self.flow_config_path, flow_config.render(flow))
        if not self.gate_config_path.exists():
            _write_private(self.gate_config_path, gate_config.render(onegate))
        self.gate_secret()
        if write_config:
            tmp = self.config_path.with_suffix(".conf.new")
            _write_private(tmp, render_config(config))
            tmp.rename(self.config_path)
        _write_private(self.auth_path, f"oneadmin:{admin_password}\n")
        return admin_password


SCHED_CONF = """\
# onekit scheduler (OpenNebula sched.conf syntax).
# Every SCHED_INTERVAL seconds the server places PENDING VMs; commands and modules
# place theirs at once. Whoever places them, at most MAX_DISPATCH VMs are dispatched per
# SCHED_INTERVAL and at most MAX_HOST per host (the rest wait, PENDING, for the next
# cycle); MAX_VM pending VMs are considered (0: all). OpenNebula's MAX_HOST is 1: keep it
# above 1 so the VMs of a failed host (or a service's role) are placed in one cycle.
# DEFAULT_SCHED POLICY: 0 packing, 1 striping, 2 load-aware, 3 custom (RANK = "..."),
# 4 fixed (host PRIORITY). A VM's own SCHED_RANK comes first.
SCHED_INTERVAL = 30
MAX_VM = 5000
MAX_DISPATCH = 30
MAX_HOST = 10
DEFAULT_SCHED = [ POLICY = 1 ]
"""


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it may hold a password)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def bootstrap(db: Database, admin_password: str, endpoint: str = InstanceConfig().endpoint) -> None:
    """Schema, groups oneadmin (0) and users (1), user oneadmin (0), bootstrap ACL rules,
    zone 0 (this instance, at ``endpoint``): one all-or-nothing step (see
    ``Database.create_schema``)."""
    from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls
    from ansible_collections.onekit.cloud.plugins.module_utils.objects.groups import new_group_body
    from ansible_collections.onekit.cloud.plugins.module_utils.objects.users import new_user_body
    from ansible_collections.onekit.cloud.plugins.module_utils.objects.zones import zone_body

    password_hash = hash_password(admin_password)

    def fill(tx: Tx) -> None:
        pool.insert(tx, schema.ZONES, zone_body(0, "OpenNebula", endpoint), oid=0)
        oneadmin_group = pool.insert(tx, schema.GROUPS, new_group_body(0, "oneadmin"), oid=0)
        pool.insert(tx, schema.GROUPS, new_group_body(1, "users"), oid=1)
        admin = new_user_body(0, "oneadmin", password_hash, oneadmin_group, "core")
        pool.insert(tx, schema.USERS, admin, oid=0)
        oneadmin_group["USERS"] = [0]
        pool.update(tx, schema.GROUPS, oneadmin_group)
        for text in BOOTSTRAP_RULES:
            acls.insert_rule(tx, AclRule.parse(text))

    db.ensure_database()
    db.create_schema(fill=fill)


def mysql_config(
    server: str, port: int, user: str, passwd: str, db_name: str, base: InstanceConfig | None = None
) -> InstanceConfig:
    return replace(
        base or InstanceConfig(), db=DbConfig("mysql", server, port, user, passwd, db_name)
    )

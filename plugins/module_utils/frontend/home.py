"""An onekit instance's home, the directory ``$ONEKIT_HOME`` (default ``~/.onekit``), as
every front-end opens it:

    etc/oned.conf       the instance configuration (see ``config``)
    var/one.db          the SQLite store (embedded default)
    var/sim/            the embedded default's simulated host (its private libvirtd)
    var/context/        the VMs' context CD-ROMs
    var/datastores/<id>/  the image files onekit owns (uploads, DATABLOCKs, clones)
    var/*.log, *.pid    server logs and pid files
    one_auth            ``oneadmin:<password>``, written by ``onekit-server init``

Everything an instance touches lives below its home, so two instances with different
homes never meet. Credentials come from the file named by ``$ONE_AUTH``, else
``$ONEKIT_HOME/one_auth``, as OpenNebula's CLIs read ``~/.one/one_auth``.

What only creates an instance or serves it (``init``, the bootstrap objects, OneFlow's and
OneGate's configs) is in ``frontend.instance``, which Ansible modules never import: AnsiballZ
packs every module_util a module imports on every call, so those parts stay out of it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ansible_collections.onekit.cloud.plugins.module_utils import drivers
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Database
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthenticationError,
    ConfigError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.frontend import features
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import (
    InstanceConfig,
    parse_config,
)

if TYPE_CHECKING:
    from typing import Self

    from ansible_collections.onekit.cloud.plugins.module_utils.vm.monitor import MonitorConfig
    from ansible_collections.onekit.cloud.plugins.module_utils.vm.scheduler import SchedConfig

features.plug_in()  # before any store is opened: see frontend.features


def default_home() -> Path:
    return Path(os.environ.get("ONEKIT_HOME") or Path.home() / ".onekit").expanduser()


@dataclass(frozen=True)
class Home:
    home: Path

    @classmethod
    def locate(cls, home: str | os.PathLike | None = None) -> Self:
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

    @property
    def gate_key_path(self) -> Path:
        return self.etc / "onegate.key"

    def gate_secret(self) -> bytes:
        """The secret VM tokens are made with (created, mode 600, the first time)."""
        if not self.gate_key_path.exists():
            from ansible_collections.onekit.cloud.plugins.module_utils.gate import tokens

            write_private(self.gate_key_path, tokens.new_secret() + "\n")
        return self.gate_key_path.read_text().strip().encode()

    @property
    def flow_config_path(self) -> Path:
        return self.etc / "oneflow-server.conf"

    def monitor_config(self, config: InstanceConfig | None = None) -> MonitorConfig:
        from ansible_collections.onekit.cloud.plugins.module_utils.vm.monitor import MonitorConfig

        config = config or self.config()
        return MonitorConfig(
            interval=config.monitoring_interval,
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
        whole process, the drivers' threads and timeouts from oned.conf, and where the
        cloud drivers' files are: ec2_driver.conf, partner_driver.conf). The directories of
        the context CD-ROMs and of the image datastores are ``var/`` paths of the home."""
        config = config or self.config()
        drivers.configure(config.vm_mads, config.im_mads, str(self.etc))
        return {
            "zone": config.federation.zone_id,
            "master_endpoint": config.federation.master_oned if config.federation.slave else "",
            "umask": config.default_umask,
            "onegate_endpoint": config.onegate_endpoint,
            "context_dir": str(self.var / "context"),
            "datastores_dir": str(self.var / "datastores"),
            "gate_secret": self.gate_secret(),
        }


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it may hold a password)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)

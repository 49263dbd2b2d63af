"""An onekit instance as the server and the CLIs see it: its :class:`~.home.Home` (paths,
oned.conf, the store, credentials) and what only creates or serves it: ``init`` and the
bootstrap objects, OneFlow's, OneGate's, the EC2 and the OCCI server's configs (their code is
imported when called, so a CLI's start-up does not pay for it).

Ansible modules never import this module (the ``modules-pack-the-home`` contract of
``lint-imports``): AnsiballZ packs every module_util a module imports, so these parts (and
OneFlow's and OneGate's config parsers, the users', groups' and zones' bodies) would
otherwise be sent with every module call.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import BOOTSTRAP_RULES, AclRule
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import hash_password
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Database, Tx
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import ConfigError, OneError
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import (
    DbConfig,
    InstanceConfig,
    parse_config,
    render_config,
)
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.home import (
    Home,
    default_home,
    write_private,
)

if TYPE_CHECKING:
    from pathlib import Path

    from ansible_collections.onekit.cloud.plugins.module_utils.econe.config import EconeConfig
    from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
    from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import GateConfig
    from ansible_collections.onekit.cloud.plugins.module_utils.occi.config import OcciConfig

__all__ = ["SCHED_CONF", "Instance", "bootstrap", "default_home", "mysql_config"]


@dataclass(frozen=True)
class Instance(Home):
    def gate_config(self) -> GateConfig:
        """``etc/onegate-server.conf`` (OneGate's defaults when the file is absent)."""
        from ansible_collections.onekit.cloud.plugins.module_utils.gate import config as gate_config

        return gate_config.load(self.gate_config_path)

    def flow_config(self) -> FlowConfig:
        """``etc/oneflow-server.conf`` (OneFlow's defaults when the file is absent)."""
        from ansible_collections.onekit.cloud.plugins.module_utils.flow import config as flow_config

        return flow_config.load(self.flow_config_path)

    @property
    def econe_config_path(self) -> Path:
        return self.etc / "econe.conf"

    def econe_config(self) -> EconeConfig:
        """``etc/econe.conf`` (econe's defaults when the file is absent)."""
        from ansible_collections.onekit.cloud.plugins.module_utils.econe import (
            config as econe_config,
        )

        return econe_config.load(self.econe_config_path)

    @property
    def tls_proxy_secret_path(self) -> Path:
        """The secret the TLS proxy (``roles/tls_proxy``) sends with every request it
        forwards, so the cloud servers believe its client-certificate headers and nobody
        else's (``onekit.server.client_cert``). Written by the role, mode 600."""
        return self.etc / "tls_proxy.secret"

    @property
    def occi_config_path(self) -> Path:
        return self.etc / "occi-server.conf"

    @property
    def occi_templates_dir(self) -> Path:
        """The OCCI server's templates (``occi.renderer``), 4.6's etc/occi_templates."""
        return self.etc / "occi_templates"

    def occi_config(self) -> OcciConfig:
        """``etc/occi-server.conf`` (4.6's defaults when the file is absent)."""
        from ansible_collections.onekit.cloud.plugins.module_utils.occi import (
            config as occi_config,
        )

        return occi_config.load(self.occi_config_path)

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
            write_private(self.sched_config_path, SCHED_CONF)
        if not self.flow_config_path.exists():
            write_private(self.flow_config_path, flow_config.render(flow))
        if not self.gate_config_path.exists():
            write_private(self.gate_config_path, gate_config.render(onegate))
        self.gate_secret()
        if write_config:
            tmp = self.config_path.with_suffix(".conf.new")
            write_private(tmp, render_config(config))
            tmp.rename(self.config_path)
        write_private(self.auth_path, f"oneadmin:{admin_password}\n")
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

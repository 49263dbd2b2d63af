"""A federation on this machine, as ``inventories/federation-local`` describes it: three
real MariaDB servers with the guide's replication options (started here), each zone's
onekit instance and server (made by the real ``playbooks/federation.yml``).

    fed = LocalFederation(base).start()      # the MariaDB servers, ~3 s
    fed.playbook()                           # ansible-playbook; the zones come up
    fed.stop()                               # onekit servers, then MariaDB

Every port is a free one and every path is under ``base``, through the inventory's
ONEKIT_FEDERATION_* variables.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ansible_collections.onekit.cloud.plugins.module_utils.core.schema import SHARED_TABLE_NAMES
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from support.mariadb import PASSWORD, USER, MariaDB
from support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
ZONES = ("zone-a", "zone-b", "zone-c")  # zone-a is the master
DB = "opennebula"


def _mysql_args(zone: str) -> tuple[str, ...]:
    if zone == "zone-a":
        return ("--log-bin=mysql-bin", "--binlog-format=ROW")
    do = tuple(f"--replicate-do-table={DB}.{t}" for t in sorted(SHARED_TABLE_NAMES))
    return ("--relay-log=relay-bin", *do)


class LocalFederation:
    def __init__(self, base: Path, zones: tuple[str, ...] = ZONES):
        self.base = Path(base)
        self.zones = zones
        self.mysql = {
            zone: MariaDB(self.base / zone / "mysql", server_id=i + 1, extra_args=_mysql_args(zone))
            for i, zone in enumerate(zones)
        }
        self.env = {
            "ONEKIT_FEDERATION_BASE": str(self.base),
            "ONEKIT_FEDERATION_MYSQL_USER": USER,
            "ONEKIT_FEDERATION_MYSQL_PASSWORD": PASSWORD,
            "ONEKIT_FEDERATION_REPLICATION_PASSWORD": "replicate-pw",
            "ONEKIT_FEDERATION_CONNECT_RETRY": "1",
        }
        for zone in zones:
            key = zone.replace("-", "_").upper()
            for what in ("PORT", "FLOW_PORT", "GATE_PORT"):
                self.env[f"ONEKIT_FEDERATION_{key}_{what}"] = str(free_port())

    def start(self) -> LocalFederation:
        for zone in self.zones:
            server = self.mysql[zone].start()
            key = zone.replace("-", "_").upper()
            self.env[f"ONEKIT_FEDERATION_{key}_MYSQL_PORT"] = str(server.port)
        return self

    def instance(self, zone: str) -> Instance:
        return Instance(self.base / zone / "onekit")

    def run_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ONE_", "ONEKIT_"))}
        env.update(
            PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
            ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
            ANSIBLE_NOCOLOR="1",
            ONEKIT_SERVER_TIMEOUT="100",  # as conftest.instance_env: never fail on speed
        )
        return {**env, **self.env, **extra}

    def playbook_args(self, *args: str) -> list[str]:
        return [
            str(VENV_BIN / "ansible-playbook"),
            "-i",
            str(REPO / "inventories" / "federation-local"),
            str(REPO / "playbooks" / "federation.yml"),
            *args,
        ]

    def playbook(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.playbook_args(*args),
            capture_output=True,
            text=True,
            cwd=REPO,
            env=self.run_env(**(env or {})),
            timeout=600,
        )

    def cli(self, zone: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        """A command run by a user of ``zone``'s front-end."""
        home = self.instance(zone).home
        return subprocess.run(
            [str(VENV_BIN / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            env=self.run_env(
                ONEKIT_HOME=str(home), ONE_ENDPOINT_FILE=str(home / "one_endpoint"), **(env or {})
            ),
            timeout=120,
        )

    def stop(self) -> None:
        for zone in self.zones:
            if self.instance(zone).home.exists():
                self.cli(zone, "onekit-server", "stop")
        for server in self.mysql.values():
            server.stop()
        shutil.rmtree(self.base, ignore_errors=True)

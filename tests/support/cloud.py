"""A running onekit cloud for the tests of one module: an instance with the embedded
default (host ``localhost`` on libvirt's test driver, run by the server), the scheduler
every second, ``onekit-server`` started. What a test module's clients talk to (the EC2
Query server's tests, /RPC2's) is added by a subclass in ``configure``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import (
    Instance,
    mysql_config,
)
from ansible_collections.onekit.cloud.plugins.module_utils.objects import users
from support.ports import free_port

VENV_BIN = Path(sys.executable).parent
Db = tuple[str, int, str, str, str]  # MySQL (host, port, user, password, database)


def wait(test: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = test()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class RunningCloud:
    """``start()`` makes the instance and starts its server; ``stop()`` stops it and
    removes the instance. ``db`` is a MySQL ``Db`` or None for SQLite."""

    def __init__(self, db: Db | None = None):
        self.root = Path(tempfile.mkdtemp(prefix="oke-", dir="/tmp"))  # short socket paths
        self.instance = Instance(self.root / "onekit")
        self.core_port = free_port()
        self._db = db
        self.admin: Session | None = None

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ONE_", "AWS_", "EC2_"))}
        env.update(
            ONEKIT_HOME=str(self.instance.home),
            PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
            ONEKIT_SERVER_TIMEOUT="100",
            **extra,
        )
        return env

    def run(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(VENV_BIN / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            env=self.env(**env),
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)}: {result.stderr}{result.stdout}")
        return result

    def configure(self) -> None:
        """What a subclass adds before the server starts (its config files, objects)."""

    def start(self) -> RunningCloud:
        config = InstanceConfig(port=self.core_port)
        if self._db is not None:
            host, port, user, password, name = self._db
            config = mysql_config(host, port, user, password, name, config)
        config = replace(config, monitoring_interval=1)
        from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
        from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import GateConfig

        self.instance.init(
            config, flow=FlowConfig(port=free_port()), onegate=GateConfig(port=free_port())
        )
        self.run("onekit-server", "init", "--exist-ok", "--examples")
        self.instance.sched_config_path.write_text("SCHED_INTERVAL = 1\nMAX_HOST = 50\n")
        self.admin = self.instance.session()
        self.configure()
        self.run("onekit-server", "start")
        wait(lambda: " on" in self.run("onehost", "list").stdout, "host localhost monitored")
        return self

    def stop(self) -> None:
        self.run("onekit-server", "stop", check=False)
        if self.admin is not None:
            self.admin.db.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def user(self, name: str) -> str:
        """A new user of group users (password ``pw-<name>``); returns its name."""
        assert self.admin is not None
        users.create(self.admin, name, f"pw-{name}")
        return name

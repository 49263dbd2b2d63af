"""Fixtures shared by the whole suite.

Store-backed tests run on both backends: the ``backend`` fixture is parametrized with
``sqlite`` and ``mysql``; MySQL tests share one real MariaDB server for the session
(``mariadb``) and each gets a database of its own. ``instance`` is a fresh onekit instance
(its own ONEKIT_HOME) on that backend; ``cli`` and ``playbook`` run the real commands in
subprocesses against it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from support.cloud import RunningCloud
from support.econe import EconeServer
from support.libvirt import SimHost, stop_all
from support.libvirt import sim_hosts as start_sim_hosts
from support.mariadb import PASSWORD, USER, MariaDB
from support.moto import MotoServer
from support.occi import OcciServer
from support.ports import free_port
from support.rpc2 import Rpc2Cloud
from support.stores import STORE_FIXTURES

from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Database
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import (
    Instance,
    mysql_config,
)
from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import GateConfig
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import monitor, scheduler

REPO = Path(__file__).resolve().parents[1]


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module marked ``stores(...)`` (``support.stores``) runs its store fixtures on
    those stores only."""
    mark = metafunc.definition.get_closest_marker("stores")
    if mark is None:
        return
    for name, scope in STORE_FIXTURES.items():
        if name in metafunc.fixturenames:  # as a mark: the fixtures' own params then step aside
            metafunc.definition.add_marker(
                pytest.mark.parametrize(name, list(mark.args), indirect=True, scope=scope)
            )


VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    # MySQL's default GROUP_CONCAT limit (MariaDB's is 1 MB): the store must not rely on
    # a server's generous defaults
    server = MariaDB(
        tmp_path_factory.mktemp("mariadb"), extra_args=("--group-concat-max-len=1024",)
    ).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "mysql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def instance_config(backend: str, request: pytest.FixtureRequest) -> Iterator[InstanceConfig]:
    base = InstanceConfig(port=free_port())
    if backend == "sqlite":
        yield base
        return
    server: MariaDB = request.getfixturevalue("mariadb")
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield mysql_config("127.0.0.1", server.port, USER, PASSWORD, name, base)
    server.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def instance(tmp_path: Path, instance_config: InstanceConfig) -> Instance:
    inst = Instance(tmp_path / "onekit")
    inst.init(
        instance_config, flow=FlowConfig(port=free_port()), onegate=GateConfig(port=free_port())
    )
    return inst


@pytest.fixture
def admin(instance: Instance) -> Iterator[Session]:
    session = instance.session()
    yield session
    session.db.close()


def instance_env(instance: Instance, **extra: str) -> dict[str, str]:
    """The environment a user of this instance has: its home, the venv's commands first."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ONE_AUTH", "ONE_USERNAME", "ONE_PASSWORD", "ONE_XMLRPC")
    }
    env.update(
        ONEKIT_HOME=str(instance.home),
        ONE_ENDPOINT_FILE=str(instance.home / "one_endpoint"),  # `onezone set`, per instance
        PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        # a server start waits for /health: on a loaded CI machine it can take longer
        # than the 20 s a user gets by default, and a test must not fail on speed (100 s:
        # under the 120 s a CLI call of the tests may take)
        ONEKIT_SERVER_TIMEOUT="100",
        **extra,
    )
    return env


class Cli:
    """Run a onekit command against an instance: ``cli("oneuser", "list")``."""

    def __init__(self, instance: Instance):
        self.instance = instance

    def __call__(
        self, *args: str, input: str | None = None, env: dict | None = None, check: bool = False
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(VENV_BIN / args[0]), *args[1:]],
            input=input,
            capture_output=True,
            text=True,
            env={**instance_env(self.instance), **(env or {})},
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} failed ({result.returncode}): {result.stderr}{result.stdout}"
            )
        return result

    def json(self, *args: str) -> dict:
        return json.loads(self(*args, "--json", check=True).stdout)


@pytest.fixture
def cli(instance: Instance) -> Cli:
    return Cli(instance)


@pytest.fixture
def playbook(instance: Instance, tmp_path: Path):
    """Run a playbook (text) with real ansible-playbook against the instance."""

    def run(text: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        path = tmp_path / f"play-{uuid.uuid4().hex[:8]}.yml"
        path.write_text(text)
        # ONEKIT_TEST_INTERPRETER=<python>: the modules run with that interpreter; another
        # path than ansible-playbook's own Python sends onekit's modules through AnsiballZ
        # (plugins/plugin_utils/in_process.py), so the same tests cover both paths
        other = os.environ.get("ONEKIT_TEST_INTERPRETER")
        if other:
            args = (*args, "-e", f"ansible_python_interpreter={other}")
        return subprocess.run(
            [str(VENV_BIN / "ansible-playbook"), str(path), *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**instance_env(instance), **(env or {})},
            timeout=300,
        )

    return run


@pytest.fixture
def server(instance: Instance, cli: Cli) -> Iterator[Instance]:
    """The instance's server started (``onekit-server start``); stopped at the end even
    when the test fails."""
    result = cli("onekit-server", "start")
    assert result.returncode == 0, result.stderr
    yield instance
    cli("onekit-server", "stop")


def store_snapshot(db: Database) -> dict[str, list[tuple]]:
    """Every row of every table, to assert that a refused operation changed nothing."""
    tables = [t.name for t in schema.SHARED_TABLES + schema.LOCAL_TABLES]
    with db.snapshot() as tx:
        return {t: sorted(tx.rows(f"SELECT * FROM {t}"), key=repr) for t in tables}


# ---- a local EC2 (cloud bursting) --------------------------------------------------------------
@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One real ``moto_server`` process per test session (per xdist worker)."""
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def moto(moto_server: MotoServer) -> MotoServer:
    """The session's moto_server, emptied (no instances, addresses or tags) for this test."""
    moto_server.reset()
    return moto_server


# ---- simulated hypervisors -----------------------------------------------------------------
@pytest.fixture
def sim_hosts() -> Iterator[Callable[[int], list[SimHost]]]:
    """Start n simulated hosts (a private libvirtd each): ``hosts = sim_hosts(3)``."""
    started: list[SimHost] = []
    bases: list[Path] = []

    def start(n: int) -> list[SimHost]:
        base = Path(tempfile.mkdtemp(prefix="oks-", dir="/tmp"))  # sockets want short paths
        bases.append(base)
        hosts = start_sim_hosts(n, base)
        started.extend(hosts)
        return hosts

    yield start
    stop_all(started)
    for base in bases:
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Cloud:
    """An instance with simulated hosts registered and monitored (names sim0, sim1...)."""

    instance: Instance
    admin: Session
    system: Session
    sims: list[SimHost]

    def monitor(self, **overrides) -> list:
        config = replace(self.instance.monitor_config(), **overrides)
        return monitor.cycle(self.system, config)

    def schedule(self, vm_ids=None) -> list:
        return scheduler.schedule(self.admin, self.instance.sched_config(), vm_ids)

    def guest_state(self, index: int, vm_id: int) -> str:
        """A guest's state read from its host's libvirt, not from the store."""
        import libvirt

        try:
            dom = self.sims[index].hold.lookupByName(f"one-{vm_id}")
        except libvirt.libvirtError:
            return "missing"
        return {1: "running", 3: "paused", 5: "shutoff"}.get(dom.state()[0], str(dom.state()))


@pytest.fixture
def cloud(instance: Instance, admin: Session, sim_hosts) -> Cloud:
    """Two simulated hosts, sim0 and sim1, MONITORED."""
    sims = sim_hosts(2)
    for index, sim in enumerate(sims):
        hosts.create(admin, f"sim{index}", uri=sim.uri)
    result = Cloud(instance, admin, Session.system(admin.db), sims)
    result.monitor()
    return result


# ---- OneFlow ---------------------------------------------------------------------------------
@dataclass
class Flow:
    """A running server (core + OneFlow API + loops) on an instance with simulated hosts.

    ``url`` is the OneFlow endpoint, ``auth`` oneadmin's ``user:password``; the LCM steps
    every second and cooldowns last ``cooldown`` seconds."""

    instance: Instance
    admin: Session
    sims: list[SimHost]
    url: str
    auth: str
    cli: Cli

    def password(self) -> str:
        return self.auth.split(":", 1)[1]


@pytest.fixture
def flow(instance: Instance, admin: Session, sim_hosts) -> Iterator[Flow]:
    sims = sim_hosts(2)
    for index, sim in enumerate(sims):
        hosts.create(admin, f"sim{index}", uri=sim.uri)
    monitor.cycle(Session.system(admin.db), instance.monitor_config())
    with flow_server(instance) as cli:
        yield Flow(
            instance,
            admin,
            sims,
            instance.flow_config().url,
            instance.auth_path.read_text().strip(),
            cli,
        )


@contextlib.contextmanager
def flow_server(instance: Instance) -> Iterator[Cli]:
    """The instance's server running (stopped at the end), with OneGate's endpoint in
    oned.conf (VMs asking for a token get its URL) and OneFlow's LCM every second, with
    2 s cooldowns."""
    with instance.config_path.open("a") as oned:
        oned.write(f'ONEGATE_ENDPOINT = "{instance.gate_config().url}"\n')
    conf = instance.flow_config_path.read_text()
    conf = conf.replace(":lcm_interval: 30", ":lcm_interval: 1")
    conf = conf.replace(":default_cooldown: 300", ":default_cooldown: 2")
    instance.flow_config_path.write_text(conf)
    cli = Cli(instance)
    cli("onekit-server", "start", check=True)
    try:
        yield cli
    finally:
        cli("onekit-server", "stop")


# ---- running clouds of one test module: the EC2 Query server, /RPC2 ---------------------------
def _running(request: pytest.FixtureRequest, kind: type[RunningCloud]) -> Iterator[RunningCloud]:
    """A running cloud of ``kind`` for the tests of one module, on the store of the
    fixture's param; tests make users of their own (names unique within the module)."""
    db = None
    if request.param == "mysql":
        server: MariaDB = request.getfixturevalue("mariadb")
        name = f"e_{uuid.uuid4().hex[:12]}"
        db = ("127.0.0.1", server.port, USER, PASSWORD, name)
    running = kind(db).start()
    try:
        yield running
    finally:
        running.stop()
        if db is not None:
            request.getfixturevalue("mariadb").execute(f"DROP DATABASE IF EXISTS {db[4]}")


@pytest.fixture(scope="module", params=["sqlite", "mysql"])
def econe(request: pytest.FixtureRequest) -> Iterator[EconeServer]:
    """A running EC2 Query server (``support.econe``)."""
    yield from _running(request, EconeServer)  # type: ignore[misc]


@pytest.fixture(scope="module", params=["sqlite", "mysql"])
def occi(request: pytest.FixtureRequest) -> Iterator[OcciServer]:
    """A running OCCI server (``support.occi``)."""
    yield from _running(request, OcciServer)  # type: ignore[misc]


@pytest.fixture(scope="module", params=["sqlite", "mysql"])
def rpc2(request: pytest.FixtureRequest) -> Iterator[Rpc2Cloud]:
    """A running cloud whose core port serves OpenNebula's XML-RPC API (``support.rpc2``)."""
    yield from _running(request, Rpc2Cloud)  # type: ignore[misc]

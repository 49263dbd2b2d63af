"""Pacemaker's own tools on CIB files, for tests: no cluster daemons needed.

    sim = Simulator(tmp_path)                   # where the state files go
    sim.verify(cib_path)                        # crm_verify --xml-file: rc and messages
    state = sim.steady(cib_path)                # every node up, quorum, resources started
    result = sim.run(state, "--node-fail", "fe1")
    result.summary                              # Transition Summary, as (kind, subject, ...)
    result.transition                           # the executed steps, in order
    result.placement["onekit-server"]           # where it runs afterwards (["fe2"])
    result.graph                                # the transition graph (TransitionGraph)

``crm_simulate -S`` runs Pacemaker's scheduler on the saved state and then "executes" the
transition (every action succeeds, fencing included; ``--op-fail`` only fails resource
actions). :class:`TransitionGraph` therefore also answers what a run of the same transition
does when one action never completes (a fence device that fails): only the actions whose
inputs all completed run, as Pacemaker's controller runs a graph.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path


def have_tools() -> bool:
    return all(shutil.which(t, path="/usr/sbin:/usr/bin") for t in ("crm_simulate", "crm_verify"))


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise RuntimeError(f"{name} is missing: install the Debian package pacemaker-cli-utils")
    return path


@dataclass(frozen=True)
class Step:
    """One executed step of a transition."""

    kind: str  # "fence", "start", "stop", "monitor", "pseudo", "cluster", ...
    subject: str  # the resource, the fenced node or the pseudo action
    node: str | None = None
    interval: int = 0

    def __str__(self) -> str:
        where = f" on {self.node}" if self.node else ""
        every = f" every {self.interval // 1000}s" if self.interval else ""
        return f"{self.kind} {self.subject}{where}{every}"


@dataclass
class Action:
    """One action of the transition graph and the ids of the actions it waits for."""

    id: str
    kind: str  # rsc_op, pseudo_event, crm_event
    operation: str
    key: str
    node: str | None
    resource: str | None
    inputs: set[str] = field(default_factory=set)


class TransitionGraph:
    """A transition graph (``crm_simulate --save-graph``)."""

    def __init__(self, path: Path):
        self.actions: dict[str, Action] = {}
        root = ET.parse(path).getroot()
        for synapse in root.iter("synapse"):
            inputs = {t.get("id") for trig in synapse.iter("trigger") for t in trig}
            for action in synapse.find("action_set"):
                primitive = action.find("primitive")
                rid = action.get("id")
                self.actions[rid] = Action(
                    rid,
                    action.tag,
                    action.get("operation"),
                    action.get("operation_key"),
                    action.get("on_node"),
                    primitive.get("id") if primitive is not None else None,
                    set(inputs),
                )

    def find(self, operation: str, node: str | None = None, resource: str | None = None):
        return [
            a
            for a in self.actions.values()
            if a.operation == operation
            and (node is None or a.node == node)
            and (resource is None or a.resource == resource)
        ]

    def fence(self, node: str) -> Action:
        (found,) = [a for a in self.find("stonith") if a.node == node]
        return found

    def prerequisites(self, action_id: str) -> set[str]:
        """Every action that must complete before this one (transitively)."""
        seen: set[str] = set()
        todo = list(self.actions[action_id].inputs)
        while todo:
            current = todo.pop()
            if current in seen or current not in self.actions:
                continue
            seen.add(current)
            todo.extend(self.actions[current].inputs)
        return seen

    def run_without(self, failed: set[str]) -> list[Action]:
        """The actions the controller runs when the ``failed`` ones never complete: an action
        runs once all its inputs have completed."""
        done: set[str] = set()
        ran: list[Action] = []
        progress = True
        while progress:
            progress = False
            for action in self.actions.values():
                if action.id in done or action.id in failed:
                    continue
                if action.inputs <= done:
                    done.add(action.id)
                    ran.append(action)
                    progress = True
        return ran


@dataclass
class Simulation:
    args: tuple[str, ...]
    output: Path  # the state afterwards (--save-output)
    graph: TransitionGraph
    summary: list[tuple[str, ...]]  # ("Fence (reboot)", "fe1"), ("move", "onekit-vip", ...)
    transition: list[Step]
    placement: dict[str, list[str]]  # resource -> nodes it is active on afterwards
    nodes: dict[str, str]  # node -> online, offline, unclean
    text: str  # crm_simulate's XML output, for failure messages

    def steps(self, kind: str) -> list[Step]:
        return [s for s in self.transition if s.kind == kind]

    def index(self, kind: str, subject: str, node: str | None = None) -> int:
        for number, step in enumerate(self.transition):
            if (
                step.kind == kind
                and step.subject == subject
                and (node is None or step.node == node)
            ):
                return number
        raise AssertionError(f"no {kind} {subject} {node or ''} in {self.transition}")


def _summary(root: ET.Element) -> list[tuple[str, ...]]:
    found = []
    actions = root.find("actions")
    for item in actions if actions is not None else []:
        if item.tag == "node_action":
            found.append((item.get("task"), item.get("node")))
        elif item.tag == "rsc_action":
            action = item.get("action")
            if item.get("source") or item.get("dest"):
                found.append((action, item.get("resource"), item.get("source"), item.get("dest")))
            else:
                found.append((action, item.get("resource"), item.get("node")))
    return found


def _transition(root: ET.Element) -> list[Step]:
    steps = []
    transition = root.find("transition")
    for item in transition if transition is not None else []:
        if item.tag == "fencing_action":
            steps.append(Step("fence", item.get("target")))
        elif item.tag == "rsc_action":
            steps.append(
                Step(
                    item.get("op"),
                    item.get("resource"),
                    item.get("node"),
                    int(item.get("interval") or 0),
                )
            )
        elif item.tag == "pseudo_action":
            steps.append(Step("pseudo", item.get("task")))
        else:
            steps.append(Step(item.tag, item.get("task") or "", item.get("node")))
    return steps


def _status(root: ET.Element) -> tuple[dict[str, list[str]], dict[str, str]]:
    revised = root.find("revised_cluster_status")
    if revised is None:
        revised = root.find("cluster_status")
    placement: dict[str, list[str]] = {}
    for resource in revised.iter("resource"):
        placement[resource.get("id")] = [n.get("name") for n in resource.findall("node")]
    nodes = {}
    for node in revised.find("nodes") if revised.find("nodes") is not None else []:
        if node.get("unclean") == "true":
            nodes[node.get("name")] = "unclean"
        else:
            nodes[node.get("name")] = "online" if node.get("online") == "true" else "offline"
    return placement, nodes


class Simulator:
    def __init__(self, base: Path):
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def verify(self, cib: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [_tool("crm_verify"), "--xml-file", str(cib), "-V"],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def run(self, state: Path, *args: str) -> Simulation:
        """``crm_simulate -x state -S args...``; the state afterwards is saved."""
        self.count += 1
        output = self.base / f"state-{self.count}.xml"
        graph = self.base / f"graph-{self.count}.xml"
        cmd = [
            _tool("crm_simulate"),
            "--xml-file",
            str(state),
            "--simulate",
            "--output-as=xml",
            "--save-output",
            str(output),
            "--save-graph",
            str(graph),
            *args,
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr}{result.stdout}"
            )
        root = ET.fromstring(result.stdout)
        placement, nodes = _status(root)
        return Simulation(
            tuple(args),
            output,
            TransitionGraph(graph),
            _summary(root),
            _transition(root),
            placement,
            nodes,
            result.stdout,
        )

    def steady(self, cib: Path, nodes: list[str]) -> Simulation:
        """The cluster as it settles: every node joins, quorum, resources started."""
        args = ["--quorum", "1"]
        for node in nodes:
            args += ["--node-up", node]
        return self.run(cib, *args)


# ---- a live node: corosync + pacemakerd in namespaces ------------------------------------------
_NODE_INIT = r"""
set -e
B=$1
mount -t proc proc /proc
mount -t tmpfs tmpfs /run
mkdir -p /run/crm
chown hacluster:haclient /run/crm
mount -t tmpfs tmpfs /dev/shm
mount --bind "$B/etc-corosync" /etc/corosync
mount --bind "$B/pcmk" /var/lib/pacemaker
mount --bind "$B/corosync-lib" /var/lib/corosync
mount --bind "$B/log-pcmk" /var/log/pacemaker
mount --bind "$B/log-corosync" /var/log/corosync
mount -t overlay overlay -o "lowerdir=/usr/sbin,upperdir=$B/sbin-up,workdir=$B/sbin-work" \
    /usr/sbin
mount -t overlay overlay \
    -o "lowerdir=/usr/lib/ocf/resource.d,upperdir=$B/ocf-up,workdir=$B/ocf-work" \
    /usr/lib/ocf/resource.d
hostname "$2"
ip link set lo up
ip link add vip0 type veth peer name vip1
ip link set vip1 up
ip link set vip0 up
ip addr add "$3" dev vip0
touch "$B/ready"
exec python3 -c '
import os, time
while True:  # PID 1 of the namespace: reap the orphans (onekit-server start detaches)
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(0.2)
'
"""

_COROSYNC_CONF = """\
totem {{
    version: 2
    cluster_name: onekit-test
    transport: knet
    crypto_cipher: none
    crypto_hash: none
}}
nodelist {{
{nodes}}}
quorum {{
    provider: corosync_votequorum
    two_node: 1
    wait_for_all: 0
}}
logging {{
    to_logfile: yes
    logfile: /var/log/corosync/corosync.log
    to_stderr: no
    to_syslog: no
}}
"""


class LiveNode:
    """One cluster node on this machine: corosync and pacemakerd in their own pid, mount,
    UTS and network namespaces (own /etc/corosync, /var/lib/pacemaker, /run, /dev/shm,
    hostname, loopback and a veth ``vip0`` for the floating IP). Agents are added with an
    overlay on /usr/sbin (fence agents) and /usr/lib/ocf/resource.d (OCF agents).

    The corosync nodelist names ``peers`` too (never started): two_node quorum with
    ``wait_for_all: 0`` lets the lone node be quorate, and Pacemaker fences the peers it
    has never seen before it starts anything (startup fencing). ``stop`` kills the
    namespace's PID 1, which takes every process of the node with it.
    """

    def __init__(self, base: Path, name: str, peers: list[str], network: str):
        self.base = Path(base)
        self.name = name
        self.peers = peers
        self.network = network  # the address of vip0, e.g. 192.168.77.1/24
        self.holder: subprocess.Popen | None = None
        self.init_pid: int | None = None

    @staticmethod
    def missing() -> str | None:
        """Why live nodes cannot run here, or None."""
        if os.geteuid() != 0:
            return "needs root (namespaces, corosync, pacemakerd)"
        for tool in ("unshare", "nsenter", "corosync", "pacemakerd", "crm_mon", "ip"):
            if not (shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")):
                return f"{tool} is missing (Debian: pacemaker, corosync, util-linux, iproute2)"
        if "overlay" not in Path("/proc/filesystems").read_text():
            return "the kernel has no overlay filesystem"
        return None

    def install(self, directory: str, name: str, text: str) -> None:
        """Add an agent: ``install("sbin", "fence_x", text)`` or ``("ocf", "onekit/server",
        text)``, before :meth:`start`."""
        path = self.base / f"{directory}-up" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)

    def start(self, timeout: float = 90.0, **properties: str) -> LiveNode:
        """Start the node and wait until it is the DC of a quorate partition. Cluster
        ``properties`` (e.g. ``dc_deadtime="2s"``) are written into the CIB it boots from."""
        for sub in (
            "etc-corosync",
            "pcmk/cib",
            "pcmk/pengine",
            "pcmk/blackbox",
            "pcmk/cores",
            "corosync-lib",
            "log-pcmk",
            "log-corosync",
            "sbin-up",
            "sbin-work",
            "ocf-up",
            "ocf-work",
        ):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        nodes = "".join(
            f"    node {{\n        name: {n}\n        nodeid: {i}\n"
            f"        ring0_addr: 127.0.0.{i}\n    }}\n"
            for i, n in enumerate([self.name, *self.peers], 1)
        )
        (self.base / "etc-corosync/corosync.conf").write_text(_COROSYNC_CONF.format(nodes=nodes))
        cib = self.base / "pcmk/cib/cib.xml"
        env = {**os.environ, "CIB_file": str(cib)}
        empty = subprocess.run(
            [_tool("cibadmin"), "--empty"], capture_output=True, text=True, check=True
        )
        cib.write_text(empty.stdout)
        for name, value in properties.items():
            subprocess.run(
                [
                    _tool("crm_attribute"),
                    "--type",
                    "crm_config",
                    "--name",
                    name.replace("_", "-"),
                    "--update",
                    value,
                ],
                env=env,
                check=True,
                capture_output=True,
            )
        subprocess.run(
            [
                "chown",
                "-R",
                "hacluster:haclient",
                str(self.base / "pcmk"),
                str(self.base / "log-pcmk"),
            ],
            check=True,
        )
        cib.chmod(0o600)
        script = self.base / "init.sh"
        script.write_text(_NODE_INIT)
        self.holder = subprocess.Popen(
            [
                _tool("unshare"),
                "--pid",
                "--fork",
                "--mount",
                "--uts",
                "--net",
                "--propagation",
                "private",
                "sh",
                str(script),
                str(self.base),
                self.name,
                self.network,
            ],
            stdout=open(self.base / "init.log", "w"),  # noqa: SIM115 (the child keeps it)
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while not (self.base / "ready").exists():
                if self.holder.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the node's namespace did not come up: {self.log('init.log')}"
                    )
                time.sleep(0.05)
            children = Path(f"/proc/{self.holder.pid}/task/{self.holder.pid}/children")
            self.init_pid = int(children.read_text().split()[0])
            self.run("corosync", check=True)
            self.run("sh", "-c", "setsid pacemakerd >/var/log/pacemaker/pacemakerd.out 2>&1 &")
            self.wait_for(
                lambda: (
                    'current_dc present="true"' in self.mon() and 'with_quorum="true"' in self.mon()
                ),
                timeout,
                "a DC with quorum",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def run(self, *args: str, check: bool = False, env: dict | None = None, timeout: float = 120):
        """Run a command inside the node's namespaces."""
        assert self.init_pid is not None
        cmd = [_tool("nsenter"), "-t", str(self.init_pid), "-m", "-u", "-n", "-p", "--wd=/"]
        if env:
            cmd += ["env", *(f"{k}={v}" for k, v in env.items())]
        result = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} failed in {self.name} ({result.returncode}): "
                f"{result.stderr}{result.stdout}"
            )
        return result

    def mon(self) -> str:
        return self.run("crm_mon", "-1", "--output-as=xml").stdout

    def wait_for(self, test, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not test():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name}: no {what} within {timeout:.0f} s; crm_mon:\n"
                    f"{self.run('crm_mon', '-1', '--failcounts').stdout}\n"
                    f"pacemaker log tail:\n{self.log('log-pcmk/pacemaker.log')}"
                )
            time.sleep(0.5)

    def log(self, name: str, lines: int = 30) -> str:
        try:
            text = (self.base / name).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Kill the namespace's PID 1: the kernel kills every process of the node."""
        if self.init_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.init_pid, signal.SIGKILL)
            self.init_pid = None
        if self.holder is not None:
            try:
                self.holder.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.holder.kill()
                self.holder.wait(timeout=10)
            self.holder = None

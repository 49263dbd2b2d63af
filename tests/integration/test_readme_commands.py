"""Every command README.md shows, and every command the comments of playbooks/*.yml and
inventories/**/*.yml show, runs as written (the issue: "Every command README and playbook
comments show must run as written").

What the tests take: in README, each line of a ```console block that starts with ``$ ``
(several commands may share it, joined with `` ; ``; what follows ``#`` is a comment) and
each line of a ```sh block; in the comments, each line indented by three spaces
(``#   ansible-playbook ...``, ``\\`` continuing it) that is not a ``label:`` line. The
lines of a console block that do not start with ``$ `` are the output README shows.

How they run, in README order, each through ``bash -c`` as written:

* One reader at one terminal: the shell variables a command sets (``PASSWORD=$(...)``) are
  there for the next ones (a line before the command reads them back, one after it keeps
  those it assigned).
* ``make run`` (set up, then ``init --exist-ok --examples`` and the server in the
  foreground) is ``onekit-server init --examples`` with free ports and
  ``onekit-server start``; ``ONEGATE_ENDPOINT`` goes into etc/oned.conf before the start,
  as the OneGate section says to do. HOME is a short scratch dir in /tmp (the instance's
  own libvirtd has its socket under it) whose ``.onekit`` is the instance (ONEKIT_HOME);
  the working directory holds the files README ``cat``s or names; a command that names a
  repository path (playbooks/, inventories/, scripts/, share/...) runs in the repository.
* Free ports, not the defaults: ``127.0.0.1:2633``/``:2474``/``:5030`` in a command or in
  the output README shows are the instance's own core, OneFlow and OneGate ports, and
  ``/home/me`` in the output is HOME.
* A block that starts with ``onekit-server init`` is about a new instance, as its text
  says: it gets a HOME of its own, and its etc/*.conf are written beforehand with free
  ports (``init`` without settings takes an existing oned.conf, as oned does).
* The guest's commands (``onegate ...``, ``$ONEGATE_URL``, ``ONEGATE_*=... script``) run
  with what a guest has: its working directory is the context CD-ROM (context.sh and
  token.txt, copied from ``var/context/<id>/`` of the VM README made last, once it runs),
  ``ONEGATE_URL`` from context.sh in the environment, ``ONEGATE_CONTEXT`` naming that
  directory (this machine cannot mount it at /mnt/context, where ``onegate`` would look),
  a HOME of its own holding the copy of share/onegate/onegate-metrics.sh README speaks of,
  and no onekit instance.

What they check: every command exits 0; the output README shows is the output, line by
line with spaces normalised (``FUZZY`` says which parts of some lines this machine cannot
reproduce, ``EXCERPTS`` which outputs README shows only part of); the comments that say
what an output holds are checked where ``CLAIMS`` says how. A command that only reads
(``list``, ``show``, a plain ``curl``) is run again until its output matches or a generous
deadline passes: the server places VMs at once but deploys a service's roles in steps.

``CANNOT_RUN`` is the short list of commands that cannot run on one machine, with the test
that covers each instead. Every other command runs, so a new README command either runs
here or goes in that table; an entry of any table that names a command README no longer
shows fails the test too.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import REPO, VENV_BIN
from support.guide_examples import scalability1_json
from support.ports import free_port

from ansible_collections.onekit.cloud.plugins.module_utils.flow import config
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import (
    InstanceConfig,
    render_config,
)
from ansible_collections.onekit.cloud.plugins.module_utils.gate import config as gate_config

README = REPO / "README.md"
DEADLINE = 300.0  # seconds a polled command may take to show README's output
COMMAND_TIMEOUT = 900  # one command (a playbook on a loaded machine)


# ---- the commands that cannot run here ----------------------------------------------------
@dataclass(frozen=True)
class Elsewhere:
    why: str  # why it cannot run on this one machine
    covered_by: str  # what runs it, or its equivalent, instead


PACKAGED_COLLECTION = Elsewhere(
    "would write dist/ into the checkout and install into the user's collections path",
    "tests/integration/test_packaging.py::test_galaxy_built_collection_runs_outside_the_"
    "repository (the same two commands into temporary directories)",
)
FEDERATION_PLAYBOOK = Elsewhere(
    "builds a federation of three remote front-ends (fe-a/b/c.example.com, replication from "
    "10.0.0.%) over SSH",
    "tests/integration/test_federation.py runs the same playbook with "
    "inventories/federation-local; test_commands_in_comments_run_as_written runs "
    "that inventory's commands as its comment writes them",
)
HA_PLAYBOOK = Elsewhere(
    "builds a live Pacemaker cluster of two front-ends (10.10.11.10/11) over SSH, fenced "
    "through kvm-host's libvirt",
    "tests/integration/test_ha_cluster.py (a live one-node cluster in namespaces; the "
    "offline CIB command of playbooks/ha.yml, which test_commands_in_comments_run_as_written "
    "also runs)",
)
VAULT = Elsewhere(
    "ansible-vault create asks for a new vault password and opens an editor on a terminal "
    "('not a tty' otherwise), and in the checkout it would leave a secret that every other "
    "ansible run of the inventory then needs the password for",
    "test_vault_files_the_comments_name_are_read_by_ansible runs it as written in a copy of "
    "inventories/, in a pseudo-terminal",
)

CANNOT_RUN: dict[str, Elsewhere] = {
    "make test": Elsewhere(
        "runs ruff, ansible-test sanity and the whole suite, this test included: it would "
        "run itself, for far longer than a test may take",
        "nothing needs to: it is the suite (CI runs it); `make run`'s instance is what "
        "tests/integration/test_embedded_default.py and this test start",
    ),
    "onehost create kvm1 --im kvm --vm kvm": Elsewhere(
        "needs a KVM host kvm1 that this machine reaches over SSH (qemu+ssh://kvm1/system); "
        "here the name does not resolve and the host would stay ERROR",
        "tests/integration/test_cli_vms.py::test_guide_session (onehost create --im kvm "
        "--vm kvm on a libvirt host), test_qemu_vms.py (real QEMU guests)",
    ),
    "pip install .": Elsewhere(
        "would replace the editable install the suite itself runs from",
        "tests/integration/test_packaging.py::test_pip_installed_server_and_commands (the "
        "wheel in a new virtualenv, its commands run outside the repository)",
    ),
    "ansible-galaxy collection build --output-path dist": PACKAGED_COLLECTION,
    "ansible-galaxy collection install dist/onekit-cloud-*.tar.gz": PACKAGED_COLLECTION,
    "ansible-playbook -i inventories/federation playbooks/federation.yml": FEDERATION_PLAYBOOK,
    "onezone show 100": Elsewhere(
        "zone 100 exists once the federation playbook made it",
        "tests/integration/test_federation.py (zones 0, 100, 101 on a slave), "
        "test_zones.py::test_zone_0_is_this_instance_and_onezone_manages_the_zones (show)",
    ),
    "onezone set 100": Elsewhere(
        "zone 100 exists once the federation playbook made it",
        "tests/integration/test_zones.py::test_onezone_set_sends_every_command_to_that_zone",
    ),
    "ansible-playbook -i inventories/ha playbooks/ha.yml": HA_PLAYBOOK,
    "onekit-server init --db-backend mysql --db-server db.example --db-user oneadmin "
    "--db-passwd '...' --db-name opennebula": Elsewhere(
        "needs the MySQL server db.example and its oneadmin password",
        "tests/integration/test_server.py::test_init_on_mysql_creates_the_database (the same "
        "options, on a real MariaDB)",
    ),
    "ansible-playbook playbooks/tls_proxy.yml -e tls_proxy_server_name=cloudserver.org "
    "-e tls_proxy_cloud_conf=/var/lib/onekit/etc/econe.conf": Elsewhere(
        "sets up the front-end's own proxy: nginx on port 8443 of every address, its files "
        "in /etc/onekit/tls_proxy and the secret of the instance in /var/lib/onekit, "
        "which the test machine has not (and a test must stop what it starts)",
        "tests/integration/test_tls_proxy.py runs this playbook with these variables and "
        "a test's own directories, port and instance (support.tls_proxy.Proxied.role), "
        "then its nginx through curl and boto3, and stops it",
    ),
    "ansible-vault create inventories/ha/group_vars/ha_cluster/vault.yml": VAULT,
    "ansible-vault create inventories/federation/group_vars/federation/vault.yml": VAULT,
}

# README's way to start; it runs `onekit-server run` in the foreground, which a test cannot
# type its next commands after: init and start instead (see Reader.start_embedded_default)
STARTS = {"make run"}


# ---- what output is checked, and how -------------------------------------------------------
@dataclass(frozen=True)
class Fuzz:
    pattern: str  # on a line with normalised spaces; lines it does not match are compared whole
    keep: str  # the replacement: the part of the line that is compared
    why: str


FUZZY: dict[str, Fuzz] = {
    "onevm list": Fuzz(
        r"^(\d+ \S+ \S+ \S+ \S+) \S+ \S+ (\S+) \S+ \S+$",
        r"\1 ... \2",
        "UCPU and UMEM read 0 and 0K until the first monitoring cycle after a VM starts "
        "(README says so; it shows a later listing), TIME is the clock",
    ),
    "onehost list": Fuzz(
        r"^(\d+ \S+ \S+ \d+) .* (\S+)$",
        r"\1 ... \2",
        "ALLOCATED_CPU and ALLOCATED_MEM are out of the simulated host's size, which is this "
        "machine's (README's 1600 is 16 cores)",
    ),
    "onekit-server start": Fuzz(
        r"^(onekit-server started \(pid) \d+(\), log: .*)$", r"\1 ...\2", "the pid"
    ),
}

# Outputs README shows only part of: those lines must come, in a row, in the real output.
EXCERPTS = {
    "oneflow show 3": "README shows the ELASTICITY RULES table of a long `oneflow show`",
}


@dataclass(frozen=True)
class Claim:
    patterns: tuple[str, ...]  # each must match the command's stdout (re.M)
    comment: str  # README's comment they check


CLAIMS: dict[str, Claim] = {
    "onevm show 1": Claim(
        (
            r"^STATE\s+: ACTIVE$",
            r"^HOST\s+: localhost$",
            r"^VIRTUAL MACHINE HISTORY$",
            r"^VIRTUAL MACHINE TEMPLATE$",
            r'^NAME = "tiny-1"$',
        ),
        "state, host, history, the template in OpenNebula syntax",
    ),
    "oneflow show 1": Claim(
        (r"^ROLE frontend$", r"^ROLE worker$", r"^NODES INFORMATION$", r"^LOG MESSAGES$"),
        "ROLE sections with their VMs (NODES INFORMATION), LOG MESSAGES",
    ),
    "curl -u oneadmin:$PASSWORD http://127.0.0.1:2474/service/1": Claim(
        (r'^\{"DOCUMENT":\{', r'"ID":"1",', r'"NAME":"my_service"', r'"state":[0-9]+,'),
        "the same, as OneFlow's JSON",
    ),
    "oneflow show 3": Claim((r"^ELASTICITY RULES$",), "ELASTICITY RULES"),
    "onevm show guest": Claim(
        (r'^USER TEMPLATE\n(.+\n)*APP_LOAD = "9\.7"$',), 'USER TEMPLATE: APP_LOAD = "9.7"'
    ),
}
# Comments left unchecked: `oneflow scale 1 worker 12  # SCALING, then COOLDOWN for
# :default_cooldown: (300 s)`, because the next commands follow at once, as a reader types
# them, and waiting out 300 s would change the sequence (tests/integration/test_flow_api.py,
# test_a_scaled_role_cools_down_and_recover_ends_the_cooldown, checks both states); and the
# comments that only say what a command is for.

# Files README names without showing them (it shows my_service.json, metrics.csv and
# gate.tmpl, written from its own text): what a reader brings.
FILES_NOT_SHOWN = {
    # the guide's example (§1.4.7), as README's comment says: "vm_template": 0
    "scalability1.json": scalability1_json(template=0, period=10),
    # "CPU, MEMORY, DISK = [ IMAGE = ... ]", as README's comment on it sketches it
    "my.tmpl": 'NAME = "my"\nCPU = 1\nMEMORY = 512\nDISK = [ IMAGE = "debian" ]\n',
}

GUEST = re.compile(r"^(onegate |ONEGATE_\w+=)|\$ONEGATE_URL\b")
READS = re.compile(r"^(\S+ (list|show)\b|curl (?!.*(-X|-d|--data)\b))")
REPO_PATH = re.compile(r"(?<![\w/.$~-])((playbooks|inventories|scripts|share|roles)/\S*)")
ASSIGNED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=")
DEFAULT_PORTS = ("2633", "2474", "5030")


# ---- reading README and the comments ------------------------------------------------------
@dataclass
class Line:
    """One line a reader types: its commands, its comment, the output README shows."""

    source: str  # file:line
    commands: list[str]
    comment: str
    block: int  # which fenced block (README) or file (comments)
    output: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ; ".join(self.commands)


def _outside_quotes(text: str) -> list[bool]:
    """For each character: is it outside quotes and ``$(...)``, where ``#`` and ``;``
    mean something to the shell?"""
    flags, quote, depth, escaped = [], "", 0, False
    for index, char in enumerate(text):
        flags.append(not quote and depth == 0 and not escaped)
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:  # inside quotes, # and ; are the text's
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif text.startswith("$(", index):
            depth += 1
        elif char == ")" and depth:
            depth -= 1
    return flags


def split_line(text: str) -> tuple[list[str], str]:
    """(the commands, the comment) of a typed line."""
    outside = _outside_quotes(text)
    cut = next(
        (
            i
            for i, c in enumerate(text)
            if c == "#" and outside[i] and (i == 0 or text[i - 1] == " ")
        ),
        len(text),
    )
    comment, text = text[cut + 1 :].strip(), text[:cut]
    commands, start = [], 0
    for i, char in enumerate(text):
        if char == ";" and outside[i]:
            commands.append(text[start:i].strip())
            start = i + 1
    commands.append(text[start:].strip())
    return [c for c in commands if c], comment


def _join(lines: list[str]) -> str:
    """Lines continued with a trailing backslash, as the shell joins them."""
    return " ".join(line.strip().removesuffix("\\").strip() for line in lines)


def readme_lines(text: str) -> list[Line]:
    found: list[Line] = []
    language: str | None = None
    block, pending, pending_at = 0, [], 0
    for number, raw in enumerate(text.splitlines(), 1):
        fence = re.match(r"^```(\w*)\s*$", raw)
        if fence:
            language = fence.group(1) if language is None else None
            if language is not None:
                block += 1
            continue
        if pending:  # a command continued with a backslash
            pending.append(raw)
        elif language == "console" and raw.startswith("$ "):
            pending, pending_at = [raw[2:]], number
        elif language == "sh" and raw.strip() and not raw.lstrip().startswith("#"):
            pending, pending_at = [raw], number
        elif language == "console" and raw.strip() and found and found[-1].block == block:
            found[-1].output.append(raw)
            continue
        else:
            continue
        if not pending[-1].rstrip().endswith("\\"):
            commands, comment = split_line(_join(pending))
            found.append(Line(f"README.md:{pending_at}", commands, comment, block))
            pending = []
    return found


def comment_files() -> list[Path]:
    return sorted(REPO.glob("playbooks/*.yml")) + sorted(REPO.glob("inventories/**/*.yml"))


def comment_lines() -> list[Line]:
    """The commands comments show: ``#   command`` (three spaces), ``\\`` continuing it;
    ``#   master:  server-id=1`` is a label, not a command."""
    found: list[Line] = []
    for index, path in enumerate(comment_files()):
        pending: list[str] = []
        pending_at = 0
        for number, raw in enumerate(path.read_text().splitlines(), 1):
            if pending:
                pending.append(raw.removeprefix("#"))
            else:
                match = re.match(r"^#   (\S.*)$", raw)
                if not match or match.group(1).split()[0].endswith(":"):
                    continue
                pending, pending_at = [match.group(1)], number
            if not pending[-1].rstrip().endswith("\\"):
                commands, comment = split_line(_join(pending))
                where = f"{path.relative_to(REPO)}:{pending_at}"
                found.append(Line(where, commands, comment, index))
                pending = []
    return found


def files_to_hand(lines: list[Line]) -> dict[str, str]:
    """The files a reader has: those README ``cat``s, as it shows them, and the others."""
    shown = {
        line.commands[0].split()[1]: "\n".join(line.output) + "\n"
        for line in lines
        if re.fullmatch(r"cat [\w.-]+", line.commands[0]) and line.output
    }
    return {**FILES_NOT_SHOWN, **shown}


def check_the_tables(lines: list[Line]) -> None:
    """Each table entry names a command README or a comment shows: none goes stale."""
    shown = {command for line in lines for command in line.commands}
    for table in (CANNOT_RUN, FUZZY, EXCERPTS, CLAIMS, dict.fromkeys(STARTS)):
        stale = set(table) - shown
        assert not stale, f"tables name commands README and the comments no longer show: {stale}"


# ---- running them -------------------------------------------------------------------------
def base_env() -> dict[str, str]:
    """This machine's environment without any onekit user's settings, the venv first."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ONE_", "ONEKIT_", "ONEFLOW_", "ONEGATE_", "ANSIBLE_"))
    }
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
    return env


class Shell:
    """One terminal: its environment, its directory, the shell variables typed so far."""

    def __init__(self, env: dict[str, str], cwd: Path, state: Path):
        self.env, self.cwd, self.state = env, cwd, state
        state.touch()

    def run(self, command: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        keep = "".join(
            f"declare -p {name} >> {shlex.quote(str(self.state))} 2>/dev/null\n"
            for name in ASSIGNED.findall(command)
        )
        script = f". {shlex.quote(str(self.state))}\n{command}\n__rc=$?\n{keep}exit $__rc\n"
        return subprocess.run(
            ["bash", "-c", script],
            cwd=cwd or self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )


def ok(result: subprocess.CompletedProcess, what: str) -> str:
    assert result.returncode == 0, (
        f"{what}: exit {result.returncode}\n--- stdout\n{result.stdout[-3000:]}"
        f"\n--- stderr\n{result.stderr[-3000:]}"
    )
    return result.stdout


def normalised(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


@dataclass
class Frontend:
    """An onekit instance a reader's commands go to, in a short scratch dir of /tmp."""

    base: Path
    ports: dict[str, int]  # README's default port -> this instance's

    @classmethod
    def make(cls) -> Frontend:
        base = Path(tempfile.mkdtemp(prefix="okr-", dir="/tmp"))
        frontend = cls(base, {default: free_port() for default in DEFAULT_PORTS})
        for folder in (frontend.home, frontend.work):
            folder.mkdir(parents=True)
        return frontend

    @property
    def home(self) -> Path:
        return self.base / "home"

    @property
    def onekit_home(self) -> Path:
        return self.home / ".onekit"

    @property
    def work(self) -> Path:
        return self.base / "work"

    def env(self) -> dict[str, str]:
        return {**base_env(), "HOME": str(self.home), "ONEKIT_HOME": str(self.onekit_home)}

    def localise(self, text: str) -> str:
        """README's default ports and home, as this instance has them."""
        for default, port in self.ports.items():
            text = text.replace(f"127.0.0.1:{default}", f"127.0.0.1:{port}")
        return text.replace("/home/me", str(self.home))

    def write_configs(self) -> None:
        """etc/*.conf as init would write them, with free ports: init keeps them."""
        etc = self.onekit_home / "etc"
        etc.mkdir(parents=True, mode=0o700)
        core, flow, gate = (self.ports[d] for d in DEFAULT_PORTS)
        files = {
            "oned.conf": render_config(InstanceConfig(port=core)),
            "oneflow-server.conf": config.render(config.FlowConfig(port=flow)),
            "onegate-server.conf": gate_config.render(gate_config.GateConfig(port=gate)),
        }
        for name, text in files.items():
            (etc / name).write_text(text)
            (etc / name).chmod(0o600)

    def stop(self) -> None:
        subprocess.run(
            [str(VENV_BIN / "onekit-server"), "stop"],
            env=self.env(),
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(self.base, ignore_errors=True)


def names_repo_path(command: str) -> bool:
    return any((REPO / m.group(1)).exists() for m in REPO_PATH.finditer(command))


def poll(attempt: Callable[[], str | None], deadline: float) -> None:
    """Run ``attempt`` (None: done; else what is still wrong) until done or the deadline."""
    end = time.monotonic() + deadline
    while True:
        wrong = attempt()
        if wrong is None:
            return
        if time.monotonic() > end:
            raise AssertionError(wrong)
        time.sleep(1)


class Reader:
    """Someone typing README's commands in order, on this machine."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files  # name -> text, in every instance's working directory
        self.frontends: list[Frontend] = []
        self.frontend: Frontend | None = None
        self.shell: Shell | None = None
        self.guest: Shell | None = None
        self.last_vm: int | None = None

    # -- instances
    def new_frontend(self) -> Frontend:
        frontend = Frontend.make()
        self.frontends.append(frontend)
        self.frontend = frontend
        for name, text in self.files.items():
            (frontend.work / name).write_text(text)
        self.shell = Shell(frontend.env(), frontend.work, frontend.base / "shell-vars")
        self.guest = None
        return frontend

    def start_embedded_default(self) -> None:
        """``make run``: init --examples with free ports, ONEGATE_ENDPOINT as README's
        OneGate section sets it (before the server starts), then the server."""
        frontend = self.new_frontend()
        core, flow, gate = (frontend.ports[d] for d in DEFAULT_PORTS)
        assert self.shell
        init = f"onekit-server init --examples --port {core} --flow-port {flow} --gate-port {gate}"
        ok(self.shell.run(init), init)
        with (frontend.onekit_home / "etc" / "oned.conf").open("a") as oned:
            oned.write(f'ONEGATE_ENDPOINT = "http://127.0.0.1:{gate}"\n')
        ok(self.shell.run("onekit-server start"), "onekit-server start")

    def close(self) -> None:
        for frontend in self.frontends:
            frontend.stop()

    # -- the guest
    def enter_guest(self) -> Shell:
        """A shell in the VM README made last, once it runs: its context CD-ROM's files
        (onekit's copy under var/context/<id>/) and the guest's environment."""
        if self.guest:
            return self.guest
        assert self.frontend and self.shell and self.last_vm is not None, "no VM made yet"
        vm, frontend, shell = self.last_vm, self.frontend, self.shell
        context = frontend.onekit_home / "var" / "context" / str(vm)

        def running() -> str | None:
            shown = json.loads(ok(shell.run(f"onevm show {vm} -j"), "onevm show"))
            if shown["VM"]["LCM_STATE"] == 3 and (context / "token.txt").exists():
                return None
            return f"VM {vm} never ran with its context files: {shown['VM']}"

        poll(running, DEADLINE)
        guest = frontend.base / "guest"
        cdrom, home = guest / "context", guest / "home"
        cdrom.mkdir(parents=True)
        home.mkdir()
        for name in ("context.sh", "token.txt"):
            shutil.copy(context / name, cdrom / name)
        shutil.copy2(REPO / "share/onegate/onegate-metrics.sh", home / "onegate-metrics.sh")
        url = re.search(r"^ONEGATE_URL='([^']+)'$", (cdrom / "context.sh").read_text(), re.M)
        assert url, "context.sh has no ONEGATE_URL: is ONEGATE_ENDPOINT set?"
        env = {**base_env(), "HOME": str(home), "ONEGATE_URL": url.group(1)}
        env["ONEGATE_CONTEXT"] = str(cdrom)
        self.guest = Shell(env, cdrom, guest / "shell-vars")
        return self.guest

    # -- typing
    def type(self, line: Line, first_of_block: bool) -> None:
        if first_of_block and line.commands[0] == "onekit-server init":
            self.new_frontend().write_configs()
        runnable = [c for c in line.commands if c not in CANNOT_RUN]
        if line.output:
            assert runnable == line.commands, f"{line.source}: output of a command not run"
        if runnable == ["make run"]:
            self.start_embedded_default()
            return
        if not runnable:
            return
        assert self.frontend, f"{line.source}: a command before `make run`"
        reads = all(READS.match(c) for c in runnable)

        def attempt() -> str | None:
            outputs = []
            for command in runnable:
                result = self.run(command)
                outputs.append(ok(result, f"{line.source}: {command}"))
                self.last_vm = next(
                    (int(n) for n in re.findall(r"^VM ID: (\d+)$", result.stdout, re.M)[-1:]),
                    self.last_vm,
                )
                wrong = self.claims_wrong(command, result.stdout)
                if wrong:
                    return f"{line.source}: {command}: {wrong}"
            return self.output_wrong(line, "".join(outputs))

        wrong = attempt()
        if wrong and reads:
            poll(attempt, DEADLINE)
        elif wrong:
            raise AssertionError(wrong)

    def run(self, command: str) -> subprocess.CompletedProcess:
        assert self.frontend and self.shell
        if GUEST.search(command):
            return self.enter_guest().run(command)
        cwd = REPO if names_repo_path(command) else None
        return self.shell.run(self.frontend.localise(command), cwd=cwd)

    def claims_wrong(self, command: str, stdout: str) -> str | None:
        claim = CLAIMS.get(command)
        missing = [p for p in claim.patterns if not re.search(p, stdout, re.M)] if claim else []
        if missing:
            return f"the comment says {claim.comment!r}; no {missing} in:\n{stdout}"
        return None

    def output_wrong(self, line: Line, stdout: str) -> str | None:
        if not line.output:
            return None
        assert self.frontend
        shown = normalised(self.frontend.localise("\n".join(line.output)))
        got = normalised(stdout)
        fuzz = FUZZY.get(line.text)
        if fuzz:
            shown = [re.sub(fuzz.pattern, fuzz.keep, s) for s in shown]
            got = [re.sub(fuzz.pattern, fuzz.keep, g) for g in got]
        if line.text in EXCERPTS:
            n = len(shown)
            matches = any(got[i : i + n] == shown for i in range(len(got) - n + 1))
        else:
            matches = got == shown
        if matches:
            return None
        return (
            f"{line.source}: {line.text}: README shows\n" + "\n".join(shown)
            + "\n--- the command printed\n" + "\n".join(got)
        )  # fmt: skip


# ---- the tests ----------------------------------------------------------------------------
@pytest.mark.timeout(900)
def test_readme_commands_run_as_written() -> None:
    lines = readme_lines(README.read_text())
    check_the_tables(lines + comment_lines())
    assert len(lines) > 40, f"README's console and sh blocks hold {len(lines)} lines?"
    reader = Reader(files_to_hand(lines))
    try:
        previous_block = -1
        for line in lines:
            reader.type(line, first_of_block=line.block != previous_block)
            previous_block = line.block
    finally:
        reader.close()


@pytest.mark.timeout(900)
def test_commands_in_comments_run_as_written() -> None:
    """The commands the comments of playbooks/*.yml and inventories/**/*.yml show, in file
    order, in the repository (they name its paths) or a scratch dir. The environment gives
    inventories/federation-local a directory and free onekit ports of its own, through the
    ONEKIT_FEDERATION_* variables its comment names, MariaDB ports included."""
    lines = comment_lines()
    check_the_tables(readme_lines(README.read_text()) + lines)
    assert len(lines) >= 8, [line.text for line in lines]
    base = Path(tempfile.mkdtemp(prefix="okc-", dir="/tmp"))
    (base / "home").mkdir()
    env = {**base_env(), "HOME": str(base / "home")}
    env["ONEKIT_FEDERATION_BASE"] = str(base / "federation")
    for zone in ("ZONE_A", "ZONE_B", "ZONE_C"):
        for what in ("PORT", "FLOW_PORT", "GATE_PORT", "MYSQL_PORT"):
            env[f"ONEKIT_FEDERATION_{zone}_{what}"] = str(free_port())
    shell = Shell(env, base, base / "shell-vars")
    cib = Path("/tmp/onekit-cib.xml")  # playbooks/ha.yml's offline command writes it
    cib_was_there = cib.exists()
    ran: list[str] = []
    try:
        for line in lines:
            for command in line.commands:
                if command in CANNOT_RUN:
                    continue
                cwd = REPO if names_repo_path(command) else None
                ok(shell.run(command, cwd=cwd), f"{line.source}: {command}")
                ran.append(command)
    finally:
        if any(c.startswith("scripts/federation-local.sh start") for c in ran):
            shell.run("scripts/federation-local.sh stop", cwd=REPO)
        if not cib_was_there:
            cib.unlink(missing_ok=True)
        shutil.rmtree(base, ignore_errors=True)
    assert any("--tags cib" in c for c in ran), ran


@pytest.mark.timeout(600)
def test_vault_files_the_comments_name_are_read_by_ansible(tmp_path: Path) -> None:
    """``ansible-vault create <path>`` (CANNOT_RUN: a terminal's command, that would leave
    a secret in the checkout) run as written in a copy of inventories/, in a pseudo-terminal
    (``script``), the password from ANSIBLE_VAULT_PASSWORD_FILE and an EDITOR that writes
    one variable: every host of that inventory then has the variable, so the path is one
    Ansible reads for them."""
    commands = [
        command
        for line in comment_lines()
        for command in line.commands
        if command.startswith("ansible-vault create ")
    ]
    assert len(commands) >= 2, commands
    shutil.copytree(REPO / "inventories", tmp_path / "inventories")
    (tmp_path / "vault-pass").write_text("a vault password\n")
    editor = tmp_path / "editor"
    editor.write_text('#!/bin/sh\necho "vault_readme_check: from-the-vault" > "$1"\n')
    editor.chmod(0o755)
    env = {
        **base_env(),
        "HOME": str(tmp_path),
        "EDITOR": str(editor),
        "ANSIBLE_VAULT_PASSWORD_FILE": str(tmp_path / "vault-pass"),
    }
    for command in commands:
        made = subprocess.run(
            ["script", "-qec", command, "/dev/null"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        ok(made, command)
        path = tmp_path / command.split()[-1]
        assert path.read_text().startswith("$ANSIBLE_VAULT;"), f"{path} is not encrypted"
        inventory = re.match(r"inventories/[^/]+", command.split()[-1])
        assert inventory, command
        listed = ok(
            subprocess.run(
                ["ansible-inventory", "-i", inventory.group(0), "--list"],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            ),
            "ansible-inventory",
        )
        hostvars = json.loads(listed)["_meta"]["hostvars"]
        assert hostvars, listed
        for host, variables in hostvars.items():
            assert variables.get("vault_readme_check") == "from-the-vault", (command, host)

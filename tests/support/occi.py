"""A running OCCI server for tests (and for the ``occi-*`` commands' tests): an onekit
instance with the embedded default (host ``localhost`` on libvirt's test driver, run by
the server) and ``etc/occi-server.conf``, so ``onekit-server start`` serves the OCCI API
beside the loops that place and run the VMs it makes.

    server = OcciServer().start()           # or the ``occi`` fixture (SQLite and MariaDB)
    server.user("alice")                     # password pw-alice, group users
    status, headers, body = server.request("GET", "/compute", user="alice")
    server.curl("-X", "POST", "--data-binary", "@net.xml", "/network", user="alice")
    server.stop()
"""

from __future__ import annotations

import base64
import subprocess
import sys
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

from support.cloud import VENV_BIN, Db, RunningCloud, wait  # noqa: F401 (tests import wait here)
from support.ports import free_port

# the guide's occi-server.conf (7.3.3), with :host:/:port: and :tmpdir: of the test
CONF = """\
# Server configuration
:tmpdir: {tmpdir}
:one_xmlrpc: http://localhost:2633/RPC2
:host: 127.0.0.1
:port: {port}
#:ssl_server: fqdm.of.the.server
:auth: occi
:core_auth: cipher
:debug_level: 3
#:cluster_id:
#:datastore_id:
:instance_types:
  :small:
    :template: small.erb
    :cpu: 1
    :memory: 1024
  :medium:
    :template: medium.erb
    :cpu: 4
    :memory: 4096
  :large:
    :template: large.erb
    :cpu: 8
    :memory: 8192
"""


def occi_server_command(*args: str) -> list[str]:
    """``occi-server <args>``: the venv's console script, or the same entry point through
    this Python while the venv has not been reinstalled with it."""
    script = VENV_BIN / "occi-server"
    if script.exists():
        return [str(script), *args]
    entry = "from onekit.cli.server import occi_main; raise SystemExit(occi_main())"
    return [sys.executable, "-c", entry, *args]


class OcciServer(RunningCloud):
    """The running cloud with ``etc/occi-server.conf`` and the guide's ACL for cloud
    users (their VMs may run on the hosts)."""

    def __init__(self, db: Db | None = None):
        super().__init__(db)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmpdir = self.root / "occi-tmp"

    def configure(self) -> None:
        self.instance.occi_config_path.write_text(CONF.format(port=self.port, tmpdir=self.tmpdir))
        # the guide's ACL for cloud users: their VMs may run on the hosts; and 4.6's
        # default that let the users group create networks (onekit's, as OpenNebula 5's,
        # does not)
        self.run("oneacl", "create", "@1 HOST/* MANAGE")
        self.run("oneacl", "create", "@1 NET/* CREATE")

    def start(self) -> OcciServer:
        super().start()
        return self

    def password(self, user: str) -> str:
        if user == "oneadmin":
            return self.instance.auth_path.read_text().strip().split(":", 1)[1]
        return f"pw-{user}"

    # ---- clients ---------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        user: str | None = "oneadmin",
        password: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], str]:
        """One request with the standard library's client; the status, the headers and
        the body of the answer (an error's too)."""
        data = body.encode() if isinstance(body, str) else body
        sent = dict(headers or {})
        if user is not None:
            secret = password if password is not None else self.password(user)
            token = base64.b64encode(f"{user}:{secret}".encode()).decode()
            sent["Authorization"] = f"Basic {token}"
        request = urllib.request.Request(self.url + path, data=data, headers=sent, method=method)
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                return answer.status, dict(answer.headers), answer.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read().decode()

    def xml(self, method: str, path: str, body: str | None = None, **kw) -> ET.Element:
        """A request that must succeed; its document."""
        status, _headers, text = self.request(method, path, body, **kw)
        assert status < 300, (status, text)
        return ET.fromstring(text)

    def curl(self, *args: str, user: str = "oneadmin", cwd: Path | None = None) -> tuple[int, str]:
        """Real curl against the server (a path argument starting with / is made a URL);
        the status and the body."""
        argv = ["curl", "-sS", "-u", f"{user}:{self.password(user)}", "-w", "\n%{http_code}"]
        argv += [self.url + a if a.startswith("/") else a for a in args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd)
        assert result.returncode == 0, result.stderr
        body, _, code = result.stdout.rpartition("\n")
        return int(code), body

    def occi_server(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            occi_server_command(*args), capture_output=True, text=True, env=self.env(), timeout=120
        )

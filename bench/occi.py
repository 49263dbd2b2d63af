"""The OCCI server against the core API it stands in front of, and behind its TLS proxy,
in the same run.

An instance with the embedded host (disabled, so the VMs stay PENDING and the loops'
deploys add no noise) and etc/occi-server.conf, behind the nginx of ``roles/tls_proxy``
(run by ansible-playbook, as an admin runs it); then, as one user with basic auth:

(a) creating one VM: ``POST /compute`` (instance type small: the templates rendered, the
    document parsed and written) against the core API's ``vms.create`` of the same
    template over HTTP;
(b) listing ``--vms`` (1,000) VMs: ``GET /compute`` (hrefs) and ``GET /compute?verbose``
    (every COMPUTE), against the core API's ``vms.list_vms`` over HTTP;
(c) one small request (``GET /compute/<id>``) on a kept-alive connection, straight to
    the server and through the proxy (HTTPS), and a new HTTPS connection each time: what
    TLS and the proxy add.

Each figure is the best of ``--rounds``; ratios are against the core API (a, b) or the
direct request (c). No assertions: figures only.

Run: .venv/bin/python bench/occi.py [--vms 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import ssl
import sys
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.timing import best
from support.tls_proxy import ProxiedOcci

from ansible_collections.onekit.cloud.plugins.module_utils.core import remote
from ansible_collections.onekit.cloud.plugins.module_utils.vm import vms

COMPUTE = (
    "<COMPUTE><NAME>bench</NAME><INSTANCE_TYPE>small</INSTANCE_TYPE>"
    "<CONTEXT><HOSTNAME>bench</HOSTNAME></CONTEXT></COMPUTE>"
)
TEMPLATE = 'NAME = "bench"\nCPU = 1\nMEMORY = 1024\nCONTEXT = [ HOSTNAME = "bench" ]\n'


class Client:
    """Requests on one kept-alive connection (``fresh``: a new connection each time)."""

    def __init__(self, url: str, auth: tuple[str, str], ca: Path | None, fresh: bool = False):
        parts = urlsplit(url)
        self.host, self.port, self.https = parts.hostname, parts.port, parts.scheme == "https"
        self.context = ssl.create_default_context(cafile=str(ca)) if self.https else None
        token = base64.b64encode(":".join(auth).encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.fresh = fresh
        self.connection = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(
                self.host, self.port, context=self.context, timeout=120
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=120)

    def __call__(self, method: str, path: str, body: str | None = None) -> bytes:
        if self.fresh:
            self.connection.close()
            self.connection = self._connect()
        self.connection.request(method, path, body=body, headers=self.headers)
        answer = self.connection.getresponse()
        data = answer.read()
        if answer.status >= 300:
            raise SystemExit(f"{method} {path}: {answer.status} {data[:200]!r}")
        return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    server = ProxiedOcci(client_ca=None, auth="occi").start()
    try:
        run(server, args.vms, args.rounds)
    finally:
        server.stop()


def report(title: str, times: dict[str, float], base: str, unit: str) -> None:
    print(title)
    for name, seconds in times.items():
        print(f"  {name:40} {seconds * 1000:8.2f} ms   {seconds / times[base]:5.2f}x {unit}")


def run(server: ProxiedOcci, total: int, rounds: int) -> None:
    server.run("onehost", "disable", "localhost")
    user = server.user("bench")
    creds = (user, server.password(user))
    endpoint = f"http://127.0.0.1:{server.instance.config().port}"
    occi = Client(server.url, creds, None)
    session = server.instance.session(*creds)

    create = {
        "OCCI POST /compute": best(rounds, lambda: occi("POST", "/compute", COMPUTE)),
        "core API vms.create": best(
            rounds, lambda: remote.call(endpoint, creds, "vms.create", (TEMPLATE,))
        ),
    }
    made = len(vms.list_vms(session))
    for _ in range(total - made):
        vms.create(session, TEMPLATE)
    listed = len(vms.list_vms(session))
    listing = {
        "OCCI GET /compute": best(rounds, lambda: occi("GET", "/compute")),
        "OCCI GET /compute?verbose": best(rounds, lambda: occi("GET", "/compute?verbose")),
        "core API vms.list_vms": best(rounds, lambda: remote.call(endpoint, creds, "vms.list_vms")),
    }
    one = f"/compute/{vms.list_vms(session)[0]['ID']}"
    proxied = Client(server.public_url, creds, server.server_ca)
    handshakes = Client(server.public_url, creds, server.server_ca, fresh=True)
    small = {
        "direct, kept-alive HTTP": best(rounds * 20, lambda: occi("GET", one)),
        "through the proxy, kept-alive HTTPS": best(rounds * 20, lambda: proxied("GET", one)),
        "through the proxy, a new HTTPS connection": best(
            rounds * 20, lambda: handshakes("GET", one)
        ),
    }
    report(f"(a) one VM made (best of {rounds})", create, "core API vms.create", "the core API")
    report(
        f"(b) listing {listed} VMs (best of {rounds})",
        listing,
        "core API vms.list_vms",
        "the core API",
    )
    report(
        f"(c) GET {one} (best of {rounds * 20})",
        small,
        "direct, kept-alive HTTP",
        "direct",
    )
    session.db.close()


if __name__ == "__main__":
    main()

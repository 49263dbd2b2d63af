"""The guide's TLS proxy set-up with basic auth (``:auth: occi`` behind nginx): the proxy
tells the server each client's address, so the login penalty of one client's wrong
passwords falls on that client only, not on everyone behind the proxy (a review
finding)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from support.stores import sqlite_only
from support.tls_proxy import ProxiedOcci

pytestmark = sqlite_only


@pytest.fixture(scope="module")
def basic_cloud() -> Iterator[ProxiedOcci]:
    running = ProxiedOcci(None, "").start()  # the guide's set-up: TLS, basic auth
    try:
        running.user("victim")
        yield running
    finally:
        running.stop()


def _https_basic(cloud: ProxiedOcci, user: str, password: str, source: str) -> int:
    """curl through the proxy from the loopback address ``source`` (a client of its own)."""
    result = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--interface", source,
         "--cacert", str(cloud.server_ca), "-u", f"{user}:{password}",
         f"{cloud.public_url}/compute"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return int(result.stdout or 0)


def test_one_clients_wrong_passwords_through_the_proxy_do_not_lock_out_the_others(basic_cloud):
    """LoginGuard penalises an address: behind the proxy every request comes from the
    proxy's, so a stranger's wrong passwords (from 127.0.0.2) refused every other
    client's login (127.0.0.3) with 429 for a minute. The proxy now tells the client's
    address (X-Onekit-Client-Addr), which the server takes with the proxy's secret only."""
    cloud = basic_cloud
    codes = {_https_basic(cloud, "nobody", f"wrong{i}", "127.0.0.2") for i in range(12)}
    assert codes <= {401, 429} and 429 in codes  # the stranger is penalised
    assert _https_basic(cloud, "victim", "pw-victim", "127.0.0.3") == 200


def test_a_client_address_sent_to_the_server_directly_is_refused(basic_cloud):
    """Only the proxy names a client's address: sent by anyone else (straight to the
    server's port, without the proxy's secret), it could dodge the penalty."""
    status, _headers, _body = basic_cloud.request(
        "GET", "/compute", user="victim", headers={"X-Onekit-Client-Addr": "10.9.8.7"}
    )
    assert status == 401
    assert basic_cloud.request("GET", "/compute", user="victim")[0] == 200

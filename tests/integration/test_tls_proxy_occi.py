"""x509 logins to the OCCI server behind its TLS proxy (issue 18): occi-server.conf says
``:auth: x509`` and ``:ssl_server:`` (the role writes both), nginx verifies the client's
certificate, and the OCCI documents name the proxy's URL."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from support.tls_proxy import Pki, ProxiedOcci


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    pki = Pki(tmp_path_factory.mktemp("pki"))
    pki.issue("occiuser", "/C=ES/O=ONE/CN=occi user")
    pki.issue("stranger", "/C=ES/O=ONE/CN=stranger")
    # a certificate the CA signed for someone whose organisation is "ONE/CN=occi user" (no
    # CN at all): in OpenSSL's one-line form, which does not escape '/', occiuser's DN
    pki.issue("slashed", "/C=ES/O=ONE\\/CN=occi user")
    pki.issue("revoked", "/C=ES/O=ONE/CN=occi user")  # occiuser's too, revoked below
    return pki


@pytest.fixture(scope="module")
def cloud(pki: Pki) -> Iterator[ProxiedOcci]:
    running = ProxiedOcci(pki.ca, "x509").start()
    try:
        running.run("oneuser", "create", "occiuser", "/C=ES/O=ONE/CN=occi user", "--driver", "x509")
        yield running
    finally:
        running.stop()


def certificate(pki: Pki, name: str) -> tuple[str, ...]:
    return ("--cert", str(pki.root / f"{name}.pem"), "--key", str(pki.root / f"{name}.key"))


def test_the_certificates_user_creates_and_lists_through_the_proxy(cloud, pki, tmp_path):
    network = tmp_path / "net.xml"
    network.write_text(
        "<NETWORK><NAME>x509-net-{{7*7}}</NAME><ADDRESS>192.168.9.0</ADDRESS>"
        "<SIZE>C</SIZE></NETWORK>"
    )
    status, body = cloud.https(
        "/network", *certificate(pki, "occiuser"), "-X", "POST", "--data-binary", f"@{network}"
    )
    assert status == 201, body
    assert "x509-net-{{7*7}}" in body and f"{cloud.public_url}/network/" in body
    assert cloud.run("onevnet", "show", "x509-net-{{7*7}}").stdout.count("occiuser") >= 1
    status, body = cloud.https("/network", *certificate(pki, "occiuser"))
    assert status == 200 and f'href="{cloud.public_url}/network/' in body


def test_no_certificate_a_strangers_or_a_password_is_refused(cloud, pki):
    assert cloud.https("/compute")[0] == 400  # nginx: no certificate
    assert cloud.https("/compute", *certificate(pki, "stranger"))[0] == 401
    # basic auth is no login on an x509 server, even oneadmin's
    status, _ = cloud.https("/compute", *certificate(pki, "stranger"), "-u", "oneadmin:x")
    assert status == 401
    status, _headers, _body = cloud.request("GET", "/compute")  # direct, basic auth
    assert status == 401


def test_forwarding_headers_sent_to_the_server_directly_are_refused(cloud, pki):
    headers = {
        "X-SSL-Client-Cert": quote((pki.root / "occiuser.pem").read_text()),
        "X-SSL-Client-Verify": "SUCCESS",
        "X-Onekit-Proxy-Secret": "guessed",
    }
    status, _headers, body = cloud.request("GET", "/network", user=None, headers=headers)
    assert status == 401 and "x509-net" not in body
    assert "not the TLS proxy's secret" in cloud.log()


def test_a_subject_value_holding_a_slash_is_not_another_users_dn(cloud, pki):
    """A review finding: O="ONE/CN=occi user" read as /C=ES/O=ONE/CN=occiuser logged in
    as occiuser."""
    assert cloud.https("/user/1", *certificate(pki, "occiuser"))[0] == 200
    status, body = cloud.https("/user/1", *certificate(pki, "slashed"))
    assert status == 401, body
    assert "could read as another's" in cloud.log()


def test_a_revoked_certificate_is_refused_once_the_role_takes_the_crl(cloud, pki):
    assert cloud.https("/compute", *certificate(pki, "revoked"))[0] == 200  # not yet
    played = cloud.role(tls_proxy_client_crl=str(pki.revoke("revoked")))
    assert played.returncode == 0 and "failed=0" in played.stdout, played.stdout
    assert cloud.https("/compute", *certificate(pki, "revoked"))[0] == 400  # nginx
    assert cloud.https("/compute", *certificate(pki, "occiuser"))[0] == 200
    again = cloud.role(tls_proxy_client_crl=str(pki.root / "crl.pem"))
    assert "changed=0" in again.stdout, again.stdout

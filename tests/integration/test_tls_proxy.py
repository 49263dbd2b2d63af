"""x509 logins to the EC2 Query server behind its TLS proxy (issue 18): the role
``tls_proxy`` runs a real nginx with a self-signed server certificate and the users' CA,
econe.conf says ``:auth: x509`` and ``:ssl_server:``, and clients are curl and boto3 with
client certificates openssl made. The certificate the proxy verified names the user;
forwarding headers from anyone but the proxy are refused."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError
from support.econe import post
from support.tls_proxy import Pki, ProxiedEcone

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.objects import users

USER_DN = "/C=ES/O=ONE/OU=DEV/CN=cloud user"  # the guide's, with a space the DN drops


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    pki = Pki(tmp_path_factory.mktemp("pki"))
    pki.issue("certuser", USER_DN)
    pki.issue("stranger", "/C=ES/O=ONE/CN=stranger")
    pki.issue("forger", USER_DN, ca="rogue")  # the user's DN, signed by a CA nobody trusts
    pki.issue("jinja", "/C=ES/O=ONE/CN={{ 7*7 }}")
    pki.issue("chauthed", "/C=ES/O=ONE/CN=chauthed")
    return pki


@pytest.fixture(scope="module")
def cloud(pki: Pki) -> Iterator[ProxiedEcone]:
    running = ProxiedEcone(pki.ca, "x509").start()
    try:
        running.run(
            "oneuser", "create", "certuser", "--x509", "--cert", str(pki.root / "certuser.pem")
        )
        yield running
    finally:
        running.stop()


def cert(pki: Pki, name: str) -> tuple[Path, Path]:
    return pki.root / f"{name}.pem", pki.root / f"{name}.key"


def curl_cert(pki: Pki, name: str) -> tuple[str, ...]:
    pem, key = cert(pki, name)
    return ("--cert", str(pem), "--key", str(key))


def stored_password(cloud: ProxiedEcone, name: str) -> str:
    assert cloud.admin is not None
    with cloud.admin.db.snapshot() as tx:
        return pool.find_by_name(tx, schema.USERS, name)["PASSWORD"]


# ---- the role -----------------------------------------------------------------------------
def test_the_role_wrote_the_proxy_and_the_servers_url_and_a_second_run_changes_nothing(cloud, pki):
    conf = cloud.instance.econe_config_path.read_text()
    assert f":ssl_server: {cloud.public_url}/" in conf.splitlines()
    assert ":auth: x509" in conf.splitlines()
    for private in (cloud.proxy_dir / "nginx.conf", cloud.instance.tls_proxy_secret_path):
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o600, private
    again = cloud.role()
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout
    checked = cloud.role("--check", "--diff", tls_proxy_port="1")  # a change, only shown
    assert checked.returncode == 0 and "changed=0" not in checked.stdout, checked.stdout
    assert (
        f"listen 127.0.0.1:{cloud.proxy_port} ssl;" in (cloud.proxy_dir / "nginx.conf").read_text()
    )
    assert cloud.curl("Action=DescribeRegions", *curl_cert(pki, "certuser"))[0] == 200


# ---- x509 logins through the proxy ---------------------------------------------------------
def test_the_certificates_user_acts_through_the_proxy_with_curl_and_boto3(cloud, pki):
    ec2 = cloud.https_client(cert(pki, "certuser"))
    made = ec2.create_key_pair(KeyName="x509-key")
    assert made["KeyName"] == "x509-key"
    assert cloud.admin is not None
    template = users.show(cloud.admin, "certuser")["TEMPLATE"]
    assert "EC2_KEYPAIRS" in template  # the key pair is certuser's own
    assert "EC2_KEYPAIRS" not in users.show(cloud.admin, "oneadmin")["TEMPLATE"]
    # the server names its public URL, the proxy's, never its own port
    regions = ec2.describe_regions()["Regions"]
    assert [r["Endpoint"] for r in regions] == [f"{cloud.public_url}/"]
    status, body = cloud.curl("Action=DescribeKeyPairs", *curl_cert(pki, "certuser"))
    assert status == 200 and "<keyName>x509-key</keyName>" in body
    assert "DescribeKeyPairs by certuser: 200" in cloud.log()


def test_without_a_client_certificate_the_proxy_refuses(cloud, pki):
    status, body = cloud.curl("Action=DescribeRegions")
    assert status == 400 and "No required SSL certificate was sent" in body
    # nginx's own HTML page: botocore cannot parse it, and says what it got
    with pytest.raises(ResponseParserError, match="No required SSL certificate was sent"):
        cloud.https_client().describe_regions()


def test_a_certificate_not_signed_by_the_ca_is_refused_by_the_proxy_whatever_its_dn(cloud, pki):
    status, body = cloud.curl("Action=DescribeKeyPairs", *curl_cert(pki, "forger"))
    assert status == 400 and "certificate" in body.lower() and "x509-key" not in body


def test_a_certificate_of_a_dn_no_user_holds_is_401(cloud, pki):
    status, body = cloud.curl("Action=DescribeRegions", *curl_cert(pki, "stranger"))
    assert status == 401 and "<Code>AuthFailure</Code>" in body
    assert "/C=ES/O=ONE/CN=stranger" in body
    with pytest.raises(ClientError) as err:
        cloud.https_client(cert(pki, "stranger")).describe_regions()
    assert err.value.response["Error"]["Code"] == "AuthFailure"


def test_a_clients_own_forwarding_headers_are_replaced_by_the_proxys(cloud, pki):
    forged = quote((pki.root / "certuser.pem").read_text())
    status, body = cloud.curl(
        "Action=DescribeKeyPairs",
        *curl_cert(pki, "stranger"),
        "-H", f"X-SSL-Client-Cert: {forged}",
        "-H", "X-Onekit-Proxy-Secret: guessed",
    )  # fmt: skip
    assert status == 401 and "stranger" in body and "x509-key" not in body


# ---- forged headers sent to the server itself ------------------------------------------------
def test_forwarding_headers_sent_to_the_server_directly_are_refused_and_logged(cloud, pki):
    # a key pair of certuser's, made through the proxy: what acting as certuser shows
    cloud.https_client(cert(pki, "certuser")).create_key_pair(KeyName="direct-key")
    pem = quote((pki.root / "certuser.pem").read_text())
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-SSL-Client-Cert": pem,
        "X-SSL-Client-Verify": "SUCCESS",
    }
    body = b"Action=DescribeKeyPairs"
    for secret in (None, "wrong", ""):
        sent = dict(headers) if secret is None else {**headers, "X-Onekit-Proxy-Secret": secret}
        status, answer = post(cloud.direct_url, sent, body)
        assert status == 401 and "<Code>AuthFailure</Code>" in answer, (secret, answer)
        assert "TLS proxy only" in answer and "direct-key" not in answer
    assert "not the TLS proxy's secret" in cloud.log()
    # only the secret makes the headers the proxy's: whoever holds it may act as anyone
    real = cloud.instance.tls_proxy_secret_path.read_text().strip()
    status, answer = post(cloud.direct_url, {**headers, "X-Onekit-Proxy-Secret": real}, body)
    assert status == 200 and "direct-key" in answer
    # an unverified certificate is refused even with the secret (optional verification)
    failed = {**headers, "X-Onekit-Proxy-Secret": real, "X-SSL-Client-Verify": "FAILED:expired"}
    status, answer = post(cloud.direct_url, failed, body)
    assert status == 401 and "FAILED:expired" in answer


def test_without_a_certificate_header_an_x509_server_takes_no_signature(cloud):
    """econe with :auth: x509 never falls back to a signature: a request signed with
    oneadmin's secret, sent to the server's port, is refused."""
    ec2 = cloud.client("oneadmin")  # SigV4 with oneadmin's password hash, direct
    with pytest.raises(ClientError) as err:
        ec2.describe_regions()
    assert err.value.response["Error"]["Code"] == "AuthFailure"
    assert "TLS proxy" in err.value.response["Error"]["Message"]


# ---- x509 users in the core and the CLI ------------------------------------------------------
def test_an_x509_user_has_its_dn_as_password_and_never_logs_in_with_a_password(cloud, pki):
    dn = "/C=ES/O=ONE/OU=DEV/CN=clouduser"
    assert stored_password(cloud, "certuser") == dn
    shown = cloud.run("oneuser", "show", "certuser").stdout
    assert "AUTH_DRIVER" in shown and "x509" in shown and dn not in shown
    assert "PASSWORD" not in cloud.run("oneuser", "show", "certuser", "--json").stdout
    for password in (dn, "pw-certuser"):
        refused = cloud.run(
            "oneuser", "list", check=False, ONE_AUTH=_auth(cloud, f"certuser:{password}")
        )
        assert (
            refused.returncode != 0 and "authentication failed" in refused.stderr + refused.stdout
        )


def _auth(cloud: ProxiedEcone, line: str) -> str:
    path = cloud.root / "one_auth_test"
    path.write_text(line + "\n")
    path.chmod(0o600)
    return str(path)


def test_oneuser_create_with_a_dn_string_keeps_template_text_literally(cloud, pki):
    cloud.run("oneuser", "create", "jinja", "/C=ES/O=ONE/CN={{ 7*7 }}", "--driver", "x509")
    assert stored_password(cloud, "jinja") == "/C=ES/O=ONE/CN={{7*7}}"
    status, body = cloud.curl("Action=DescribeKeyPairs", *curl_cert(pki, "jinja"))
    assert status == 200, body
    assert "DescribeKeyPairs by jinja: 200" in cloud.log()


def test_oneuser_chauth_moves_a_user_to_x509_and_back_to_a_password(cloud, pki):
    cloud.user("chauthed")  # a core user, password pw-chauthed
    status, _ = cloud.curl("Action=DescribeRegions", *curl_cert(pki, "chauthed"))
    assert status == 401  # not an x509 user yet
    missing = cloud.run("oneuser", "chauth", "chauthed", "x509", check=False)
    assert missing.returncode != 0 and "DN" in missing.stderr + missing.stdout
    pem = str(pki.root / "chauthed.pem")
    cloud.run("oneuser", "chauth", "chauthed", "--x509", "--cert", pem)
    assert cloud.curl("Action=DescribeRegions", *curl_cert(pki, "chauthed"))[0] == 200
    assert stored_password(cloud, "chauthed") == "/C=ES/O=ONE/CN=chauthed"
    back = cloud.run("oneuser", "chauth", "chauthed", "core", check=False)
    assert back.returncode != 0 and "give a password" in back.stderr + back.stdout
    cloud.run("oneuser", "chauth", "chauthed", "core", "pw-again")
    assert cloud.curl("Action=DescribeRegions", *curl_cert(pki, "chauthed"))[0] == 401
    listed = cloud.run("oneuser", "list", ONE_AUTH=_auth(cloud, "chauthed:pw-again"))
    assert "chauthed" in listed.stdout
    cloud.run("oneuser", "chauth", "chauthed", "x509", "/C=ES/O=ONE/CN=chauthed")
    assert cloud.curl("Action=DescribeRegions", *curl_cert(pki, "chauthed"))[0] == 200


def test_oneuser_refuses_what_is_no_certificate_or_no_dn_naming_the_fix(cloud, pki, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n")
    cases = {
        ("create", "bad1", "--x509", "--cert", str(junk)): "not a PEM certificate",
        ("create", "bad2", "--x509"): "--cert",
        ("create", "bad3", "/CN=x", "--x509", "--cert", str(junk)): "not both",
        ("create", "bad4", "clouduser", "--driver", "x509"): "is not a DN",
        ("create", "bad5", "--x509", "--cert", str(tmp_path / "absent.pem")): "cannot read",
    }
    for args, said in cases.items():
        result = cloud.run("oneuser", *args, check=False)
        assert result.returncode != 0 and said in result.stderr + result.stdout, (args, result)
    names = cloud.run("oneuser", "list").stdout
    assert not any(f"bad{n}" in names for n in range(1, 6))  # nothing half-made


def test_the_user_module_takes_an_x509_user_and_its_dn(cloud, pki, tmp_path):
    play = tmp_path / "user.yml"
    play.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - onekit.cloud.user:\n        name: moduser\n        auth_driver: x509\n"
        "        password: !unsafe '/C=ES/O=ONE/CN=mod user {{ 7*7 }}'\n"
    )
    for expected in ("changed=1", "changed=0"):
        result = subprocess.run(
            [str(Path(cloud.env()["PATH"].split(":")[0]) / "ansible-playbook"), str(play)],
            capture_output=True, text=True, timeout=300,
            cwd=Path(__file__).resolve().parents[2],
            env=cloud.env(ANSIBLE_CONFIG=str(Path(__file__).resolve().parents[2] / "ansible.cfg")),
        )  # fmt: skip
        assert result.returncode == 0 and expected in result.stdout, result.stdout
    assert stored_password(cloud, "moduser") == "/C=ES/O=ONE/CN=moduser{{7*7}}"

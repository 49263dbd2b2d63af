"""The EC2 Query server behind its TLS proxy without x509 (issue 18): ``:auth: ec2``, the
role's nginx with no client CA. Signatures still authenticate, through the proxy (the
Host a client signed for is the proxy's, ``:ssl_server:``), and forwarding headers sent to
the server's own port are refused there too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from support.econe import post, signed
from support.tls_proxy import ProxiedEcone


@pytest.fixture(scope="module")
def cloud() -> Iterator[ProxiedEcone]:
    running = ProxiedEcone(None, "ec2").start()
    try:
        yield running
    finally:
        running.stop()


def test_signed_requests_work_through_the_proxy_which_names_itself(cloud):
    cloud.user("signer")
    ec2 = cloud.https_client(user="signer", secret=cloud.secret("signer"))
    assert ec2.create_key_pair(KeyName="{{ 7*7 }}")["KeyName"] == "{{ 7*7 }}"
    assert [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]] == ["{{ 7*7 }}"]
    endpoints = [r["Endpoint"] for r in ec2.describe_regions()["Regions"]]
    assert endpoints == [f"{cloud.public_url}/"]
    assert ":auth: ec2" in cloud.instance.econe_config_path.read_text().splitlines()


def test_a_wrong_signature_through_the_proxy_is_still_refused(cloud):
    cloud.user("wrong")
    ec2 = cloud.https_client(user="wrong", secret="not-the-secret")
    with pytest.raises(ClientError) as err:
        ec2.describe_regions()
    assert err.value.response["Error"]["Code"] == "AuthFailure"


def test_forwarding_headers_sent_to_the_server_directly_are_refused(cloud):
    assert cloud.admin is not None
    headers, body = signed(
        cloud.direct_url, "oneadmin", cloud.secret(), {"Action": "DescribeRegions"}
    )
    assert post(cloud.direct_url, headers, body)[0] == 200  # signed: fine on its own
    forged = {**headers, "X-SSL-Client-Cert": "x", "X-SSL-Client-Verify": "SUCCESS"}
    status, answer = post(cloud.direct_url, forged, body)
    assert status == 401 and "TLS proxy only" in answer
    assert "not the TLS proxy's secret" in cloud.log()

"""Who may call the EC2 Query API, with real boto3 clients and hand-sent requests: the
guide's credentials (user name + stored password hash), access keys of a user's own,
SigV4 and SigV2, and every way a request is refused (wrong secret, skewed clock, tampered
body, unsigned, malformed) with nothing changed."""

from __future__ import annotations

import time
import urllib.request

import pytest
from support.econe import error_of, post, signed
from support.stores import sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils.objects import users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import vms

pytestmark = sqlite_only  # an adapter's tests: see support.stores


def vm_count(econe) -> int:
    return len(vms.list_vms(econe.admin, include_done=True))


def test_the_guides_credentials_sign_requests(econe):
    econe.user("ann")
    regions = econe.client("ann").describe_regions()["Regions"]
    assert regions == [{"RegionName": "opennebula", "Endpoint": econe.url}]
    zones = econe.client("ann").describe_availability_zones()["AvailabilityZones"]
    assert [(z["ZoneName"], z["State"]) for z in zones] == [("opennebula", "available")]


def test_a_wrong_secret_is_refused_and_changes_nothing(econe):
    econe.user("bea")
    ami = econe.ami("bea-img")
    before = vm_count(econe)
    bad = econe.client("bea", secret=econe.secret("bea") + "x")
    code, status = error_of(
        bad.run_instances, ImageId=ami, InstanceType="m1.small", MinCount=1, MaxCount=1
    )
    assert (code, status) == ("AuthFailure", 401)
    assert vm_count(econe) == before
    # an unknown user gets the same answer: nothing tells which part was wrong
    assert error_of(econe.client("nobody", secret="x").describe_instances) == ("AuthFailure", 401)
    # another user's secret does not sign for this one
    econe.user("bea2")
    other = econe.client("bea", secret=econe.secret("bea2"))
    assert error_of(other.describe_instances) == ("AuthFailure", 401)


def test_a_skewed_clock_is_refused_with_request_expired(econe):
    secret = econe.secret("oneadmin")
    params = {"Action": "DescribeRegions", "Version": "2016-11-15"}
    status, body = post(
        econe.url, *signed(econe.url, "oneadmin", secret, params, time.time() - 1200)
    )
    assert status == 400 and "<Code>RequestExpired</Code>" in body
    status, body = post(
        econe.url, *signed(econe.url, "oneadmin", secret, params, time.time() + 1200)
    )
    assert status == 400 and "<Code>RequestExpired</Code>" in body
    # within AWS's 15 minutes it is taken
    status, body = post(
        econe.url, *signed(econe.url, "oneadmin", secret, params, time.time() - 600)
    )
    assert status == 200 and "<regionName>opennebula</regionName>" in body


def test_a_tampered_body_fails_its_signature_and_runs_nothing(econe):
    ami = econe.ami("tamper-img")
    secret = econe.secret("oneadmin")
    headers, body = signed(
        econe.url, "oneadmin", secret, {"Action": "DescribeInstances", "Version": "2016-11-15"}
    )
    before = vm_count(econe)
    forged = (
        f"Action=RunInstances&Version=2016-11-15&ImageId={ami}&MinCount=1&MaxCount=1"
        "&InstanceType=m1.small"
    ).encode()
    status, answer = post(econe.url, headers, forged)
    assert status == 401 and "<Code>AuthFailure</Code>" in answer
    assert vm_count(econe) == before
    # the body hash header must be the hash of what arrived
    status, answer = post(econe.url, {**headers, "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}, body)
    assert status == 401 and "unsigned payloads are not accepted" in answer


def test_unsigned_and_malformed_requests_are_refused(econe):
    status, body = post(econe.url, {"Content-Type": "application/x-www-form-urlencoded"},
                        b"Action=DescribeInstances")  # fmt: skip
    assert status == 401 and "<Code>AuthFailure</Code>" in body and "not signed" in body
    status, body = post(econe.url, {"Authorization": "AWS4-HMAC-SHA256 nonsense"}, b"")
    assert status == 401 and "<Code>AuthFailure</Code>" in body
    headers, _ = signed(econe.url, "oneadmin", econe.secret("oneadmin"), {"Action": "X"})
    status, body = post(econe.url, headers, "Action=\udcff".encode("utf-8", "surrogateescape"))
    assert status in (400, 401)  # not a 500: the bytes are not UTF-8


def test_sigv2_clients_work_and_are_checked(econe):
    econe.user("cid")
    v2 = econe.client("cid", signature_version="v2")
    assert v2.describe_instances()["Reservations"] == []
    wrong = econe.client("cid", secret="not-it", signature_version="v2")
    assert error_of(wrong.describe_instances) == ("AuthFailure", 401)


def test_unknown_actions_and_paths_answer_ec2_errors(econe):
    secret = econe.secret("oneadmin")
    status, body = post(econe.url, *signed(econe.url, "oneadmin", secret, {"Action": "CreateVpc"}))
    assert status == 400 and "<Code>InvalidAction</Code>" in body
    status, body = post(econe.url, *signed(econe.url, "oneadmin", secret, {"Version": "x"}))
    assert status == 400 and "<Code>MissingAction</Code>" in body
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(econe.url + "/nope", timeout=10)
    assert caught.value.code == 400 and b"<Code>InvalidAction</Code>" in caught.value.read()


def test_a_body_over_the_limit_is_refused_unread(econe):
    secret = econe.secret("oneadmin")
    big = {"Action": "DescribeInstances", "Filler": "x" * (1024 * 1024 + 10)}
    status, body = post(econe.url, *signed(econe.url, "oneadmin", secret, big))
    assert status == 413 and "RequestEntityTooLarge" in body


def test_access_keys_of_a_users_own(econe):
    econe.user("dan")
    econe.user("eve")
    auth = econe.root / "dan_auth"
    auth.write_text("dan:pw-dan\n")
    made = econe.run("oneuser", "ec2-key", "create", ONE_AUTH=str(auth)).stdout
    values = dict(line.split("=", 1) for line in made.splitlines() if "=" in line)
    key, secret = values["EC2_ACCESS_KEY"], values["EC2_SECRET_KEY"]
    client = econe.client("dan", secret=secret, access_key=key)
    assert client.describe_instances()["Reservations"] == []
    # listed without its secret; `oneuser show` never shows secrets
    listed = econe.run("oneuser", "ec2-key", "list", ONE_AUTH=str(auth)).stdout
    assert key in listed and secret not in listed
    shown = econe.run("oneuser", "show", "dan").stdout
    assert secret not in shown and "scrypt" not in shown
    # another user cannot revoke it, nor learn that it exists
    eve_auth = econe.root / "eve_auth"
    eve_auth.write_text("eve:pw-eve\n")
    refused = econe.run("oneuser", "ec2-key", "delete", key, ONE_AUTH=str(eve_auth), check=False)
    assert refused.returncode != 0 and "does not exist" in refused.stderr
    assert client.describe_instances()["Reservations"] == []
    # nor read dan's password hash
    refused = econe.run("oneuser", "ec2-key", "password-hash", "dan", ONE_AUTH=str(eve_auth),
                        check=False)  # fmt: skip
    assert refused.returncode != 0 and "only dan and the oneadmin group" in refused.stderr
    own = econe.run("oneuser", "ec2-key", "password-hash", ONE_AUTH=str(auth)).stdout.strip()
    assert own == econe.secret("dan")
    # revoked: the key signs nothing any more
    econe.run("oneuser", "ec2-key", "delete", key, ONE_AUTH=str(auth))
    assert error_of(client.describe_instances) == ("AuthFailure", 401)


def test_a_user_of_another_auth_driver_signs_with_an_access_key_only(econe):
    users.create(econe.admin, "lou", "pw-lou", driver="ldap")
    stored = users.show(econe.admin, "lou")
    assert stored["AUTH_DRIVER"] == "ldap"
    from ansible_collections.onekit.cloud.plugins.module_utils.econe import access_keys

    with pytest.raises(Exception, match="only core and public users"):
        access_keys.password_secret(econe.admin, "lou")
    key = access_keys.create(econe.admin, "lou")
    client = econe.client("lou", secret=key["SECRET_ACCESS_KEY"], access_key=key["ACCESS_KEY_ID"])
    assert client.describe_instances()["Reservations"] == []


def test_a_chunked_body_over_the_limit_is_refused_in_ec2s_format(econe):
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(econe.url)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    chunks = (b"Action=DescribeInstances&F=" + b"x" * 65536 for _ in range(20))
    conn.request("POST", "/", body=chunks, encode_chunked=True,
                 headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    answer = conn.getresponse()
    body = answer.read().decode()
    conn.close()
    assert answer.status == 413
    assert "<Code>RequestEntityTooLarge</Code>" in body and answer.getheader("Content-Type") == (
        "text/xml"
    )

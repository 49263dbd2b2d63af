"""The EC2 server's pure rules: ids, request parameters, filters, paging, the state map,
econe.conf, and signature checks against requests botocore's own signers made."""

from __future__ import annotations

import hashlib
import time
from urllib.parse import parse_qsl, urlencode

import pytest
from botocore.auth import SigV2Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import ConfigError
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import Lcm, VmState
from ansible_collections.onekit.cloud.plugins.module_utils.econe import (
    config,
    filters,
    ids,
    paging,
    signatures,
    states,
    tags,
)
from ansible_collections.onekit.cloud.plugins.module_utils.econe.errors import Ec2Error
from ansible_collections.onekit.cloud.plugins.module_utils.econe.params import Params


def code_of(call, *args) -> str:
    with pytest.raises(Ec2Error) as caught:
        call(*args)
    return caught.value.code


# ---- ids ----------------------------------------------------------------------------------
def test_ids_are_padded_out_and_read_by_value():
    assert ids.format_id("i", 15) == "i-00000015"
    assert ids.parse_id("i", "i-15", "InvalidInstanceID") == 15
    assert ids.parse_id("ami", "ami-00000001", "InvalidAMIID") == 1  # not 0, as 4.6 read it
    for bad in ("15", "i-", "i-abc", "ami-1", "i-1 ", "i-99999999999"):
        assert code_of(ids.parse_id, "i", bad, "InvalidInstanceID") == "InvalidInstanceID.Malformed"
    assert ids.iso_time(0) is None
    assert ids.iso_time(1_700_000_000.25) == "2023-11-14T22:13:20.250Z"


# ---- parameters ---------------------------------------------------------------------------
def test_lists_filters_and_tags_are_read_in_their_order():
    params = Params(
        {
            "InstanceId.2": "i-2",
            "InstanceId.1": "i-1",
            "InstanceId.10": "i-10",
            "Filter.1.Name": "tag:role",
            "Filter.1.Value.2": "db",
            "Filter.1.Value.1": "web",
            "Filter.2.Name": "instance-state-name",
            "Filter.2.Value.1": "running",
            "Tag.1.Key": "a",
            "Tag.1.Value": "{{ 7*7 }}",
            "Tag.2.Key": "b",
        }
    )
    assert params.list("InstanceId") == ["i-1", "i-2", "i-10"]
    assert params.filters() == {"tag:role": ["web", "db"], "instance-state-name": ["running"]}
    assert params.tags() == [("a", "{{ 7*7 }}"), ("b", None)]


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ({"Filter.1.Value.1": "x"}, "MissingParameter"),
        ({"Filter.1.Name": "x"}, "MissingParameter"),
        ({"InstanceId.0": "i-1"}, "InvalidParameterValue"),
        ({"InstanceId.x": "i-1"}, "InvalidParameterValue"),
        ({"Tag.1.Value": "v"}, "MissingParameter"),
    ],
)
def test_malformed_structures_are_refused_naming_the_parameter(given, code):
    params = Params(given)
    reader = params.tags if any(k.startswith("Tag") for k in given) else params.filters
    if any(k.startswith("InstanceId") for k in given):
        reader = lambda: params.list("InstanceId")  # noqa: E731
    assert code_of(reader) == code


def test_numbers_and_flags_are_checked():
    params = Params({"MaxCount": "abc", "MinCount": "0", "DryRun": "maybe"})
    assert code_of(params.int, "MaxCount", None, 1, 100) == "InvalidParameterValue"
    assert code_of(params.int, "MinCount", None, 1, 100) == "InvalidParameterValue"
    assert code_of(params.bool, "DryRun") == "InvalidParameterValue"
    assert code_of(params.required, "ImageId") == "MissingParameter"
    too_many = Params({f"InstanceId.{n}": "i-1" for n in range(1, 1002)})
    assert code_of(too_many.list, "InstanceId") == "InvalidParameterValue"


# ---- filters and paging -------------------------------------------------------------------
def test_filters_and_between_names_or_between_values_with_wildcards():
    values = {"instance-type": ["m1.small"], **filters.tag_values({"role": "web*1"})}
    assert filters.matches({"instance-type": ["m1.*"], "tag:role": ["db", "web?1"]}, values)
    assert not filters.matches({"instance-type": ["m1.small"], "tag:role": ["db"]}, values)
    assert filters.matches({"tag:role": ["web\\*1"]}, values)  # an escaped star is a star
    assert not filters.matches({"tag:role": ["web\\*2"]}, values)
    assert filters.matches({"tag-key": ["role"]}, values)
    # many stars against a near miss: linear, not a regular expression's backtracking
    assert not filters.matches({"v": ["*a" * 30 + "*b"]}, {"v": ["a" * 2000]})
    assert filters.matches({"v": ["*a" * 30 + "*"]}, {"v": ["a" * 2000]})
    assert code_of(filters.check_names, {"tag:k": ["x" * 256]}, ("tag:",)) == (
        "InvalidParameterValue"
    )
    filters.check_names({"tag:anything": ["x"]}, ("tag:", "instance-type"))
    assert code_of(filters.check_names, {"vpc-id": ["x"]}, ("instance-type",)) == (
        "InvalidParameterValue"
    )


def test_pages_follow_ids_so_new_objects_neither_repeat_nor_skip():
    items = list(range(1, 13))
    first, token = paging.page(items, Params({"MaxResults": "5"}), key=lambda n: n)
    assert first == [1, 2, 3, 4, 5] and token
    items.remove(3)  # a deletion between calls moves nothing
    second, token = paging.page(items, Params({"MaxResults": "5", "NextToken": token}), lambda n: n)
    assert second == [6, 7, 8, 9, 10]
    last, token = paging.page(items, Params({"MaxResults": "5", "NextToken": token}), lambda n: n)
    assert last == [11, 12] and token is None
    assert code_of(paging.page, items, Params({"NextToken": "%%%"}), lambda n: n) == (
        "InvalidParameterValue"
    )


def test_tags_hold_any_key_and_value_as_data():
    tpl: dict = {}
    tags.write(tpl, {"aws:x y": "{{ 7*7 }}", "k": '"quoted" ]'})
    assert tags.read(tpl) == {"aws:x y": "{{ 7*7 }}", "k": '"quoted" ]'}
    assert tags.tag_set(tpl)[0] == {"key": "aws:x y", "value": "{{ 7*7 }}"}
    tags.write(tpl, {})
    assert tpl == {}
    assert tags.read({"EC2_TAGS": "not json"}) == {}


# ---- the state map -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "lcm", "name"),
    [
        (VmState.PENDING, Lcm.LCM_INIT, "pending"),
        (VmState.HOLD, Lcm.LCM_INIT, "pending"),
        (VmState.ACTIVE, Lcm.PROLOG, "pending"),
        (VmState.ACTIVE, Lcm.BOOT, "pending"),
        (VmState.ACTIVE, Lcm.RUNNING, "running"),
        (VmState.ACTIVE, Lcm.HOTPLUG, "running"),
        (VmState.ACTIVE, Lcm.SHUTDOWN_POWEROFF, "stopping"),
        (VmState.ACTIVE, Lcm.SHUTDOWN, "shutting-down"),
        (VmState.ACTIVE, Lcm.UNKNOWN, "terminated"),
        (VmState.POWEROFF, Lcm.LCM_INIT, "stopped"),  # 4.6 said pending: waiters hung
        (VmState.UNDEPLOYED, Lcm.LCM_INIT, "stopped"),
        (VmState.DONE, Lcm.LCM_INIT, "terminated"),
        (VmState.FAILED, Lcm.LCM_INIT, "terminated"),
    ],
)
def test_opennebula_states_as_ec2_states(state, lcm, name):
    assert states.of({"STATE": int(state), "LCM_STATE": int(lcm)})[1] == name


# ---- econe.conf -----------------------------------------------------------------------------
SHIPPED = """\
:tmpdir: /var/tmp
:one_xmlrpc: http://localhost:2633/RPC2
:host: localhost
:port: 4567
#:ssl_server: https://service.endpoint.fqdn:port/
:auth: ec2
:core_auth: cipher
:debug_level: 3
#:cluster_id:
#:datastore_id:
:describe_with_terminated_instances: true
:terminated_instances_expiration_time: 900
:use_file_templates: false
:instance_types:
  :m1.small:
    :template: m1.small.erb
#:elasticips_vnet_id:
:associate_script: false
:disassociate_script: /usr/bin/false
:ebs_fstype: ext3
"""


def test_the_shipped_file_loads_unchanged():
    conf = config.parse(SHIPPED)
    assert (conf.host, conf.port, conf.listen_host) == ("localhost", 4567, "127.0.0.1")
    assert conf.associate_script is None and conf.disassociate_script is None
    assert conf.instance_types == {":m1.small": {":template": "m1.small.erb"}}
    assert conf.elasticips_vnet_id is None and conf.datastore_id == 1
    assert config.parse(config.render()) == config.EconeConfig()


def test_the_guides_spelling_of_the_elastic_ip_network_is_read():
    assert config.parse(":elastic_ips_vnet: 8\n").elasticips_vnet_id == 8
    assert config.parse(":elasticips_vnet_id: 9\n").elasticips_vnet_id == 9
    conf = config.parse(
        ":associate_script: /usr/bin/associate_ip.sh\n:ssl_server: https://e:443/\n"
    )
    assert conf.associate_script == "/usr/bin/associate_ip.sh" and conf.public_hosts == ("e:443",)
    assert config.parse(":auth: x509\n:ssl_server: https://e:8443/\n").auth == "x509"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (":port: 70000\n", ":port:"),
        (":port: abc\n", ":port:"),
        (":auth: x509\n", ":auth: x509 needs :ssl_server:"),  # the proxy verifies certs
        (":auth: kerberos\n", ":auth:"),
        (":use_file_templates: true\n", ":use_file_templates:"),
        (":associate_script: rm -rf /\n", ":associate_script:"),
        (":ssl_server: nowhere\n", ":ssl_server:"),
        (":host: [unclosed\n", "YAML"),
        ("- a list\n", "key: value"),
    ],
)
def test_a_bad_file_names_the_key_and_the_fix(text, named):
    with pytest.raises(ConfigError, match=named.replace("[", r"\[")):
        config.parse(text, "econe.conf")


# ---- signatures -----------------------------------------------------------------------------
URL = "http://127.0.0.1:4567"
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def v4_request(secret: str, body: bytes, region: str = "opennebula") -> signatures.Request:
    """A request as boto3 signs it now (botocore's SigV4Auth), as the server receives it."""
    aws = AWSRequest(method="POST", url=URL + "/", data=body, headers={"Content-Type": FORM})
    SigV4Auth(Credentials("alice", secret), "ec2", region).add_auth(aws)
    headers = {k.lower(): v for k, v in aws.headers.items()}
    headers["host"] = "127.0.0.1:4567"
    return signatures.Request(
        "POST", ("127.0.0.1:4567",), "/", "", headers, hashlib.sha256(body).hexdigest(), {}
    )


def test_sigv4_of_botocore_is_verified_and_a_changed_body_is_not():
    now = time.time()
    body = b"Action=DescribeInstances&Version=2016-11-15"
    request = v4_request("s3cr3t", body)
    claim = signatures.claim(request, now)
    assert claim.access_key == "alice" and claim.version == 4
    assert claim.check("s3cr3t") and not claim.check("s3cr3t!")
    other = hashlib.sha256(b"Action=RunInstances").hexdigest()
    changed = signatures.Request(**{**request.__dict__, "body_sha256": other})
    assert not signatures.claim(changed, now).check("s3cr3t")
    assert code_of(signatures.claim, request, now + 16 * 60) == "RequestExpired"


def test_sigv2_of_botocore_is_verified():
    params = {"Action": "DescribeInstances", "Version": "2016-11-15"}
    aws = AWSRequest(method="POST", url=URL + "/", data=params)
    SigV2Auth(Credentials("alice", "s3cr3t")).add_auth(aws)
    signed = dict(parse_qsl(urlencode(aws.data)))
    request = signatures.Request(
        "POST", ("127.0.0.1:4567",), "/", "", {}, hashlib.sha256(b"").hexdigest(), signed
    )
    claim = signatures.claim(request)
    assert claim.version == 2 and claim.check("s3cr3t") and not claim.check("other")
    stale = {**signed, "Timestamp": "2020-01-01T00:00:00Z"}
    assert code_of(
        signatures.claim, signatures.Request(**{**request.__dict__, "params": stale})
    ) == ("RequestExpired")
    assert code_of(signatures.claim, signatures.Request(**{**request.__dict__, "params": {}})) == (
        "AuthFailure"
    )
    # an Expires far ahead would let a captured request be replayed for years
    later = {k: v for k, v in signed.items() if k != "Timestamp"}
    later["Expires"] = "2099-01-01T00:00:00Z"
    replay = signatures.Request(**{**request.__dict__, "params": later})
    assert code_of(signatures.claim, replay) == "RequestExpired"

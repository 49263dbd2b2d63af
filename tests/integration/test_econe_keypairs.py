"""Keypairs through real boto3 against a running EC2 server (both stores): CreateKeyPair,
ImportKeyPair, DescribeKeyPairs, DeleteKeyPair, and RunInstances' KeyName putting the
public key in the instance's context.

What a user sees is checked: the answers, a second describe, ``onevm show`` of the VM,
and the user's template where 4.6 keeps the keys. Refusals are 400s with AWS's codes and
change nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from support.econe import refused

from ansible_collections.onekit.cloud.plugins.module_utils.objects import users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import vms

OPENSSH = (serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)


def md5_fingerprint(public: str) -> str:
    digest = hashlib.md5(base64.b64decode(public.split()[1])).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, 32, 2))


def stored_keys(econe, user: str) -> dict:
    raw = users.show(econe.admin, user)["TEMPLATE"].get("EC2_KEYPAIRS")
    return json.loads(base64.b64decode(raw)) if raw else {}


def test_create_describe_delete(econe):
    alice = econe.user("kp-alice")
    ec2 = econe.client(alice)
    made = ec2.create_key_pair(KeyName="web")
    private = serialization.load_pem_private_key(made["KeyMaterial"].encode(), None)
    assert private.key_size == 2048
    public = private.public_key().public_bytes(*OPENSSH).decode()
    fingerprint = md5_fingerprint(public)
    assert (made["KeyName"], made["KeyFingerprint"]) == ("web", fingerprint)

    # kept in the user's template as 4.6 keeps them, without the private key
    assert stored_keys(econe, alice) == {
        "web": {"fingerprint": fingerprint, "public_key": f"{public} web"}
    }
    secret_line = made["KeyMaterial"].splitlines()[1]
    assert secret_line not in json.dumps(users.show(econe.admin, alice))

    ec2.create_key_pair(KeyName="db")
    listed = ec2.describe_key_pairs()["KeyPairs"]
    assert [(k["KeyName"], k["KeyFingerprint"]) for k in listed] == [
        ("web", fingerprint),
        ("db", stored_keys(econe, alice)["db"]["fingerprint"]),
    ]
    by_name = ec2.describe_key_pairs(KeyNames=["db"])["KeyPairs"]
    assert [k["KeyName"] for k in by_name] == ["db"]
    filtered = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["w*"]}])
    assert [k["KeyName"] for k in filtered["KeyPairs"]] == ["web"]

    # a name taken is AWS's Duplicate (4.6 overwrote the key); unknown names NotFound
    before = stored_keys(econe, alice)
    assert "web" in refused("InvalidKeyPair.Duplicate", ec2.create_key_pair, KeyName="web")
    assert stored_keys(econe, alice) == before
    assert "nope" in refused("InvalidKeyPair.NotFound", ec2.describe_key_pairs, KeyNames=["nope"])
    refused(
        "InvalidParameterValue",
        ec2.describe_key_pairs,
        Filters=[{"Name": "owner", "Values": ["x"]}],
    )

    # another user sees none of them, and its own names are its own
    bob = econe.client(econe.user("kp-bob"))
    assert bob.describe_key_pairs()["KeyPairs"] == []
    refused("InvalidKeyPair.NotFound", bob.describe_key_pairs, KeyNames=["web"])
    bob.create_key_pair(KeyName="web")
    assert stored_keys(econe, alice) == before

    # delete, as AWS: idempotent
    assert ec2.delete_key_pair(KeyName="web")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]] == ["db"]
    ec2.delete_key_pair(KeyName="web")
    assert list(stored_keys(econe, alice)) == ["db"]


def test_key_names_are_checked_and_kept_verbatim(econe):
    ec2 = econe.client(econe.user("kp-carol"))
    for name in ("a" * 256, "bad<name>", 'quote"d', "tab\tname", "é"):
        message = refused("InvalidParameterValue", ec2.create_key_pair, KeyName=name)
        assert "KeyName" in message
    refused("MissingParameter", ec2.create_key_pair, KeyName="")
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    for name in ("{{ 7*7 }}", "$(id)", "a" * 255):
        assert ec2.create_key_pair(KeyName=name)["KeyName"] == name
    listed = {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]}
    assert listed == {"{{ 7*7 }}", "$(id)", "a" * 255}


def test_import_key_pair(econe):
    user = econe.user("kp-dave")
    ec2 = econe.client(user)
    public = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(*OPENSSH)
    made = ec2.import_key_pair(KeyName="laptop", PublicKeyMaterial=public + b" dave@laptop")
    assert made["KeyFingerprint"] == md5_fingerprint(public.decode())
    assert stored_keys(econe, user)["laptop"]["public_key"] == f"{public.decode()} laptop"
    listed = ec2.describe_key_pairs()["KeyPairs"]
    assert [(k["KeyName"], k["KeyFingerprint"]) for k in listed] == [
        ("laptop", made["KeyFingerprint"])
    ]
    for material in (b"not a key", b"ssh-rsa AAAA", b"\xff\xfe"):
        refused("InvalidKey.Format", ec2.import_key_pair, KeyName="x", PublicKeyMaterial=material)
    again = {"KeyName": "laptop", "PublicKeyMaterial": public}
    refused("InvalidKeyPair.Duplicate", ec2.import_key_pair, **again)
    assert list(stored_keys(econe, user)) == ["laptop"]


def test_run_instances_puts_the_key_in_the_context(econe):
    user = econe.user("kp-erin")
    ec2 = econe.client(user)
    ami = econe.ami("kp-image")
    made = ec2.create_key_pair(KeyName="{{ 7*7 }}")
    public = stored_keys(econe, user)["{{ 7*7 }}"]["public_key"]

    before = [vm["ID"] for vm in vms.list_vms(econe.admin)]
    args = {"ImageId": ami, "InstanceType": "m1.small", "MinCount": 1, "MaxCount": 1}
    assert "nope" in refused("InvalidKeyPair.NotFound", ec2.run_instances, KeyName="nope", **args)
    assert [vm["ID"] for vm in vms.list_vms(econe.admin)] == before

    instance = ec2.run_instances(KeyName="{{ 7*7 }}", **args)["Instances"][0]
    assert instance["KeyName"] == "{{ 7*7 }}"
    vm_id = int(instance["InstanceId"].split("-")[1])
    shown = json.loads(econe.run("onevm", "show", str(vm_id), "-j").stdout)["VM"]
    context = shown["TEMPLATE"]["CONTEXT"]
    assert context["EC2_KEYNAME"] == "{{ 7*7 }}"
    assert context["EC2_PUBLIC_KEY"] == context["SSH_PUBLIC_KEY"] == public
    assert public.startswith("ssh-rsa ") and made["KeyFingerprint"]

    described = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])
    assert described["Reservations"][0]["Instances"][0]["KeyName"] == "{{ 7*7 }}"
    by_key = ec2.describe_instances(Filters=[{"Name": "key-name", "Values": ["{{ 7*7 }}"]}])
    found = [i["InstanceId"] for r in by_key["Reservations"] for i in r["Instances"]]
    assert found == [instance["InstanceId"]]
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])

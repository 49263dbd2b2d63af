"""Keypairs: CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair, and the public
key RunInstances' ``KeyName`` puts in an instance's context (``public_key``).

As 4.6 they live in the user's own TEMPLATE, ``EC2_KEYPAIRS`` = base64 of the JSON
``{name: {"fingerprint": ..., "public_key": "ssh-rsa AAAA... <name>"}}``; the private key
of a created pair is returned once and never stored. The fingerprint is the colon-hex MD5
of the SSH public key blob (what ``ssh-keygen -E md5 -l`` prints).

Beyond 4.6, as AWS: a name already taken is ``InvalidKeyPair.Duplicate`` (4.6 overwrote
the key), names are checked (1 to 255 of AWS's characters), and deleting a key is
idempotent and allowed while instances still use it (their contexts hold a copy). Each
change is one ``users.update`` expecting the value it read: a concurrent change to the
user's keypairs makes it read again rather than lose that change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import Conflict
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.econe import filters
from ansible_collections.onekit.cloud.plugins.module_utils.econe.call import Call
from ansible_collections.onekit.cloud.plugins.module_utils.econe.errors import Ec2Error
from ansible_collections.onekit.cloud.plugins.module_utils.objects import users

Body = dict[str, Any]
Keys = dict[str, dict[str, str]]
ATTRIBUTE = "EC2_KEYPAIRS"
# AWS's: "Up to 255 ASCII characters" of letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*
_NAME = re.compile(r"[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{1,255}")
FILTERS = ("key-name", "fingerprint")
RSA_BITS = 2048
ATTEMPTS = 5  # reads of a user's keypairs that a concurrent change may invalidate


def check_name(name: str, field: str = "KeyName") -> str:
    if not _NAME.fullmatch(name):
        raise Ec2Error(
            "InvalidParameterValue",
            f"{field} {name[:60]!r} is not a valid key name: 1 to 255 letters, digits, "
            "spaces and ._-:/()#,@[]+=&;{}!$*",
        )
    return name


def fingerprint(public_key: str) -> str:
    """Colon-hex MD5 of an OpenSSH public key's blob (its second word)."""
    blob = base64.b64decode(public_key.split()[1])
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


# ---- the user's template ----------------------------------------------------------------
def _raw(session: Session) -> str | None:
    return (users.show(session, session.subject.uid).get("TEMPLATE") or {}).get(ATTRIBUTE)


def _decode(raw: str | None) -> Keys:
    if not raw:
        return {}
    try:
        keys = json.loads(base64.b64decode(raw))
    except (binascii.Error, ValueError):
        keys = None
    if not isinstance(keys, dict) or not all(isinstance(v, dict) for v in keys.values()):
        raise Ec2Error(
            "InvalidParameterValue",
            f"your user template's {ATTRIBUTE} is not base64 JSON of keypairs "
            "(oneuser update fixes it)",
        )
    return keys


def keys(session: Session) -> Keys:
    """The caller's keypairs: ``{name: {"fingerprint", "public_key"}}``."""
    return _decode(_raw(session))


def _change(session: Session, change: Any) -> Any:
    """Apply ``change(keys) -> result`` to the caller's keypairs and store them, again
    from a fresh read when another request changed them meanwhile."""
    for _ in range(ATTEMPTS):
        raw = _raw(session)
        current = _decode(raw)
        result = change(current)
        text = base64.b64encode(json.dumps(current).encode()).decode()
        try:
            users.update(
                session,
                session.subject.uid,
                {ATTRIBUTE: text},
                append=True,
                expected={ATTRIBUTE: raw},
            )
        except Conflict:
            continue
        return result
    raise Ec2Error("RequestLimitExceeded", "your keypairs keep changing: try again")


def public_key(session: Session, name: str) -> str:
    """The public key of the caller's keypair ``name`` (RunInstances' KeyName)."""
    found = keys(session).get(name)
    if found is None:
        raise Ec2Error("InvalidKeyPair.NotFound", f"the key pair {name!r} does not exist")
    return found["public_key"]


# ---- the actions ------------------------------------------------------------------------
def _add(session: Session, name: str, public: str) -> str:
    """Store a new keypair; its fingerprint."""
    entry = {"fingerprint": fingerprint(public), "public_key": f"{public} {name}"}

    def add(current: Keys) -> None:
        if name in current:
            raise Ec2Error("InvalidKeyPair.Duplicate", f"the keypair {name!r} already exists")
        current[name] = entry

    _change(session, add)
    return entry["fingerprint"]


def create_key_pair(call: Call) -> Body:
    name = check_name(call.params.required("KeyName"))
    if name in keys(call.session):  # before the key is made: an RSA key costs ~0.1 s
        raise Ec2Error("InvalidKeyPair.Duplicate", f"the keypair {name!r} already exists")
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    found = _add(call.session, name, public.decode())
    return {"keyName": name, "keyFingerprint": found, "keyMaterial": private.decode()}


def import_key_pair(call: Call) -> Body:
    """An OpenSSH public key of the caller's (``PublicKeyMaterial``, base64 as boto3 and
    the AWS CLI send it)."""
    name = check_name(call.params.required("KeyName"))
    material = call.params.required("PublicKeyMaterial")
    try:
        text = base64.b64decode(material, validate=True).decode("ascii").strip()
        parts = text.split()
        loaded = serialization.load_ssh_public_key(" ".join(parts[:2]).encode())
        public = loaded.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError, IndexError, UnsupportedAlgorithm):
        raise Ec2Error(
            "InvalidKey.Format",
            "PublicKeyMaterial is not a base64-encoded OpenSSH public key "
            "(ssh-rsa, ssh-ed25519 or ecdsa-sha2-*)",
        ) from None
    return {"keyName": name, "keyFingerprint": _add(call.session, name, public)}


def describe_key_pairs(call: Call) -> Body:
    wanted = call.params.list("KeyName")
    given = call.params.filters()
    filters.check_names(given, FILTERS)
    mine = keys(call.session)
    missing = [n for n in wanted if n not in mine]
    if missing:
        raise Ec2Error("InvalidKeyPair.NotFound", f"the key pair {missing[0]!r} does not exist")
    found = [
        {"keyName": name, "keyFingerprint": entry.get("fingerprint", "")}
        for name, entry in mine.items()
        if (not wanted or name in wanted)
        and filters.matches(
            given, {"key-name": [name], "fingerprint": [entry.get("fingerprint", "")]}
        )
    ]
    return {"keySet": found}


def delete_key_pair(call: Call) -> Body:
    name = call.params.required("KeyName")

    def remove(current: Keys) -> None:
        current.pop(name, None)

    if name in keys(call.session):
        _change(call.session, remove)
    return {"return": True}


ACTIONS = {
    "CreateKeyPair": create_key_pair,
    "ImportKeyPair": import_key_pair,
    "DescribeKeyPairs": describe_key_pairs,
    "DeleteKeyPair": delete_key_pair,
}

"""Checking an EC2 request's signature: Signature Version 4 (what boto3 and the AWS CLI
send) and Version 2 (HybridFox-era tools; 4.6's econe knew only V1/V2).

``claim(request)`` reads who the request says it is from and returns a ``Claim``: the
access key id and a check of the signature against a secret. It refuses before any
lookup a request with no signature, a malformed one, or one signed more than 15 minutes
from now (``RequestExpired``, as AWS), so a captured request cannot be replayed later.
V4 is computed by botocore's own signer (``SigV4Auth``: the canonical request, the
string to sign, the key chain), with the body hash this server computed from the bytes
it received: a body changed on the way fails the signature. Signatures are compared in
constant time.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ansible_collections.onekit.cloud.plugins.module_utils.econe.errors import Ec2Error

MAX_SKEW = 15 * 60  # seconds, as AWS allows
SERVICE = "ec2"
UNSIGNED = "UNSIGNED-PAYLOAD"
_V4 = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*"
    r"Signature=([0-9a-f]{64})\s*$"
)
_AMZ_DATE = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")


@dataclass(frozen=True)
class Request:
    """What a signature covers, as the server received it."""

    method: str
    hosts: Sequence[str]  # the Host header first, then the public names (a TLS proxy's)
    path: str
    query: str  # the raw query string
    headers: Mapping[str, str]  # lower-case names
    body_sha256: str  # of the bytes received
    params: Mapping[str, str]  # the query's and the form's parameters (V2 signs them)


@dataclass(frozen=True)
class Claim:
    access_key: str
    version: int
    check: Callable[[str], bool]  # secret -> whether it signed the request


def auth_failure(
    message: str = "AWS was not able to validate the provided access credentials",
) -> Ec2Error:
    return Ec2Error("AuthFailure", message, 401)


def claim(request: Request, now: float | None = None) -> Claim:
    now = time.time() if now is None else now
    if "authorization" in request.headers:
        return _claim_v4(request, now)
    if "Signature" in request.params or "AWSAccessKeyId" in request.params:
        return _claim_v2(request, now)
    if "X-Amz-Algorithm" in request.params:
        raise auth_failure("presigned URLs are not accepted: sign the request (SigV4 header)")
    raise auth_failure("the request is not signed (Authorization: AWS4-HMAC-SHA256 ...)")


def _check_time(when: float, now: float) -> None:
    if abs(now - when) > MAX_SKEW:
        raise Ec2Error(
            "RequestExpired",
            "Request has expired: its time is more than 15 minutes from the server's "
            f"({time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now))}); check the clock",
        )


class _Verifier(SigV4Auth):
    """botocore's signer, hashing the body as this server received it."""

    def __init__(self, credentials: Credentials, region: str, body_sha256: str):
        super().__init__(credentials, SERVICE, region)
        self._body_sha256 = body_sha256

    def payload(self, request: AWSRequest) -> str:
        return self._body_sha256


def _claim_v4(request: Request, now: float) -> Claim:
    match = _V4.match(request.headers["authorization"].strip())
    if match is None:
        raise auth_failure(
            "the Authorization header is not AWS4-HMAC-SHA256 Credential=..., "
            "SignedHeaders=..., Signature=..."
        )
    credential, signed, given = match.groups()
    parts = credential.split("/")
    if len(parts) != 5 or parts[3] != SERVICE or parts[4] != "aws4_request":
        raise auth_failure("the credential scope must be <key>/<date>/<region>/ec2/aws4_request")
    access_key, day, region = parts[0], parts[1], parts[2]
    names = signed.split(";")
    if "host" not in names:
        raise auth_failure("SignedHeaders must include host")
    missing = [n for n in names if n not in request.headers and n != "host"]
    if missing:
        raise auth_failure(f"signed headers missing from the request: {', '.join(missing)}")
    amz_date = request.headers.get("x-amz-date", "")
    if "x-amz-date" not in names or not _AMZ_DATE.match(amz_date):
        raise auth_failure("X-Amz-Date (yyyymmddThhmmssZ) must be sent and signed")
    if amz_date[:8] != day:
        raise auth_failure("the credential's date is not the date of X-Amz-Date")
    _check_time(calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")), now)
    claimed = request.headers.get("x-amz-content-sha256")
    if claimed is not None and claimed != request.body_sha256:
        raise auth_failure(
            "X-Amz-Content-SHA256 is not the hash of the body received"
            + (" (unsigned payloads are not accepted)" if claimed == UNSIGNED else "")
        )

    def check(secret: str) -> bool:
        headers = {n: request.headers[n] for n in names if n != "host"}
        for host in request.hosts:
            aws = AWSRequest(
                method=request.method,
                url=f"http://{host}{request.path}" + (f"?{request.query}" if request.query else ""),
                headers={**headers, "host": host},
            )
            aws.context["timestamp"] = amz_date
            verifier = _Verifier(Credentials(access_key, secret), region, request.body_sha256)
            canonical = verifier.canonical_request(aws)
            expected = verifier.signature(verifier.string_to_sign(aws, canonical), aws)
            if hmac.compare_digest(expected, given):
                return True
        return False

    return Claim(access_key, 4, check)


def _v2_time(params: Mapping[str, str], now: float) -> None:
    stamp = params.get("Timestamp") or params.get("Expires")
    if not stamp:
        raise Ec2Error("MissingParameter", "The request must contain the parameter Timestamp")
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%S"):
        try:
            when = calendar.timegm(time.strptime(stamp, fmt))
            break
        except ValueError:
            continue
    else:
        raise Ec2Error("InvalidParameterValue", f"Timestamp {stamp[:40]!r} is not ISO 8601 (UTC)")
    if "Expires" in params and "Timestamp" not in params:
        if when < now:
            raise Ec2Error("RequestExpired", "Request has expired (its Expires is past)")
        if when > now + MAX_SKEW:  # else a captured request replays for years
            raise Ec2Error(
                "RequestExpired", "Expires may be at most 15 minutes after the server's time"
            )
        return
    _check_time(when, now)


def _claim_v2(request: Request, now: float) -> Claim:
    params = request.params
    access_key = params.get("AWSAccessKeyId", "")
    given = params.get("Signature", "")
    if not access_key or not given:
        raise auth_failure("a V2 request needs AWSAccessKeyId and Signature")
    if params.get("SignatureVersion") != "2":
        raise auth_failure("SignatureVersion must be 2 (or sign with SigV4)")
    digest = {"HmacSHA256": hashlib.sha256, "HmacSHA1": hashlib.sha1}.get(
        params.get("SignatureMethod", "")
    )
    if digest is None:
        raise auth_failure("SignatureMethod must be HmacSHA256 or HmacSHA1")
    _v2_time(params, now)
    pairs = "&".join(
        f"{quote(k, safe='-_.~')}={quote(str(v), safe='-_.~')}"
        for k, v in sorted(params.items())
        if k != "Signature"
    )
    hosts = [*request.hosts]
    hosts += [h.rsplit(":", 1)[0] for h in request.hosts if ":" in h]  # 4.6 retried so

    def check(secret: str) -> bool:
        found = False
        for host in hosts:
            text = f"{request.method.upper()}\n{host.lower()}\n{request.path or '/'}\n{pairs}"
            mac = hmac.new(secret.encode(), text.encode(), digest).digest()
            found |= hmac.compare_digest(base64.b64encode(mac).decode(), given)
        return found

    return Claim(access_key, 2, check)


def decoy_check(claimed: Claim) -> None:
    """Check against a random secret: an unknown access key costs what a known one costs."""
    claimed.check(secrets.token_hex(20))

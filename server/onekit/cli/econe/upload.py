"""econe-upload's request: ``Action=UploadImage`` and the image file as one
``multipart/form-data`` POST, signed with Signature V4.

UploadImage is not an AWS action, so boto3 has no call for it: the command builds the
request itself and signs it with botocore's own signer (``SigV4Auth``) over the whole body.
The body's SHA-256 goes in ``X-Amz-Content-Sha256`` (the signature covers it, and the server
checks it against the body it received). The file is read twice, never held: once to hash
it, once to send it, a chunk at a time, so a 10 GB image costs a chunk of memory.
"""

from __future__ import annotations

import hashlib
import http.client
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from onekit.cli.econe.base import REGION, ConnectError, Ec2Error, Endpoint
from onekit.cli.multipart import Form, os_reason

API_VERSION = "2016-11-15"  # what boto3 sends: the server answers in this namespace


def sha256(form: Form) -> str:
    """The hex SHA-256 of the whole body (a first read of the file)."""
    digest = hashlib.sha256()
    for chunk in form.chunks():
        digest.update(chunk)
    return digest.hexdigest()


UPLOAD_TIMEOUT = 3600.0  # seconds without a byte from the server, by default


def host_header(url: str) -> str:
    """``host[:port]``, the port only when not the scheme's (what botocore signs)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def signed_headers(endpoint: Endpoint, form: Form, boundary: str) -> dict[str, str]:
    """The request's headers, Authorization included (botocore's SigV4Auth)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(
        method="POST",
        url=endpoint.url,
        headers={
            "Host": host_header(endpoint.url),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "X-Amz-Content-Sha256": sha256(form),
        },
    )
    credentials = Credentials(endpoint.access_key, endpoint.secret_key)
    SigV4Auth(credentials, "ec2", REGION).add_auth(request)
    return {**dict(request.headers.items()), "Content-Length": str(form.length)}


def upload_image(endpoint: Endpoint, path: str) -> dict[str, str]:
    """POST the image; the answer's elements (``imageId``...), or the server's error."""
    boundary = f"econe-{uuid.uuid4().hex}"
    form = Form.of(path, {"Action": "UploadImage", "Version": API_VERSION}, boundary)
    headers = signed_headers(endpoint, form, boundary)
    parts = urlsplit(endpoint.url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    # the server answers once it has stored the whole image: a large one takes minutes
    conn = kind(parts.hostname or "", parts.port, timeout=endpoint.timeout or UPLOAD_TIMEOUT)
    try:
        conn.request("POST", parts.path or "/", body=form.chunks(), headers=headers)
        response = conn.getresponse()
        status, body = response.status, response.read()
    except TimeoutError as err:
        raise ConnectError(f"no answer from {endpoint.url} (timed out)") from err
    except OSError as err:
        reason = os_reason(err) or str(err)
        raise ConnectError(f"cannot connect to {endpoint.url}: {reason}") from err
    except http.client.HTTPException as err:
        raise ConnectError(f"{endpoint.url} answered no HTTP: {err!r}") from err
    finally:
        conn.close()
    return answer(status, body)


def answer(status: int, body: bytes) -> dict[str, str]:
    """The text of the root's children of an EC2 answer; an ``<Errors>`` answer (or any
    status but 200) raises its code and message."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as err:
        raise Ec2Error(f"HTTP {status}", body[:200].decode(errors="replace").strip()) from err
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    error = root.find(".//Errors/Error")
    if error is not None or status != 200:
        code = error.findtext("Code") if error is not None else None
        message = error.findtext("Message") if error is not None else None
        raise Ec2Error(code or f"HTTP {status}", message or "")
    return {child.tag: (child.text or "").strip() for child in root}

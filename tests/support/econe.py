"""A running EC2 Query server for tests: an onekit instance with the embedded default
(host ``localhost`` on libvirt's test driver, run by the server) and ``etc/econe.conf``,
so ``onekit-server start`` serves the EC2 API beside the loops that place and run the
VMs it makes. Clients are real boto3 clients signed with a user's secret (its stored
password hash, the guide's way, unless an access key is given)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from ansible_collections.onekit.cloud.plugins.module_utils.econe import access_keys
from ansible_collections.onekit.cloud.plugins.module_utils.objects import images
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates
from support.cloud import Db, RunningCloud, wait  # noqa: F401 (wait: the tests import it here)
from support.ports import free_port

REGION = "opennebula"
# the guide's instance type: a template with EC2_INSTANCE_TYPE, for the users group
M1_SMALL = 'NAME = "m1.small"\nEC2_INSTANCE_TYPE = "m1.small"\nCPU = 0.1\nMEMORY = 32\n'


class EconeServer(RunningCloud):
    """The running cloud with ``etc/econe.conf``, the guide's instance type and ACL."""

    def __init__(self, db: Db | None = None):
        super().__init__(db)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def configure(self) -> None:
        assert self.admin is not None
        self.instance.econe_config_path.write_text(
            f":host: 127.0.0.1\n:port: {self.port}\n:auth: ec2\n"
            ":describe_with_terminated_instances: true\n"
            ":terminated_instances_expiration_time: 900\n"
        )
        m1 = templates.create(self.admin, M1_SMALL)
        from ansible_collections.onekit.cloud.plugins.module_utils import objects
        from ansible_collections.onekit.cloud.plugins.module_utils.core import schema

        objects.chgrp(self.admin, schema.TEMPLATES, m1["ID"], "users")
        objects.chmod(self.admin, schema.TEMPLATES, m1["ID"], "640")
        # the guide's ACL for cloud users: their VMs may run on the hosts
        self.run("oneacl", "create", "@1 HOST/* MANAGE")

    def start(self) -> EconeServer:
        super().start()
        return self

    # ---- users and clients ----------------------------------------------------------------
    def secret(self, user: str = "oneadmin") -> str:
        assert self.admin is not None
        return access_keys.password_secret(self.admin, user)

    def client(
        self,
        user: str = "oneadmin",
        secret: str | None = None,
        access_key: str | None = None,
        **config: Any,
    ):
        return boto3.client(
            "ec2",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=access_key or user,
            aws_secret_access_key=secret if secret is not None else self.secret(user),
            config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config),
        )

    def resource(self, user: str = "oneadmin", **config: Any):
        return boto3.resource(
            "ec2",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=user,
            aws_secret_access_key=self.secret(user),
            config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config),
        )

    def ami(self, name: str = "ttylinux", owner: str | None = None) -> str:
        """An image registered as an AMI (EC2_AMI = YES); its ami- id."""
        assert self.admin is not None
        image = images.create(
            self.admin,
            {"NAME": name, "PATH": f"/var/lib/images/{name}.img", "TYPE": "OS", "EC2_AMI": "YES"},
        )
        from ansible_collections.onekit.cloud.plugins.module_utils import objects
        from ansible_collections.onekit.cloud.plugins.module_utils.core import schema

        objects.chmod(self.admin, schema.IMAGES, image["ID"], "644")
        if owner is not None:
            objects.chown(self.admin, schema.IMAGES, image["ID"], owner)
        return f"ami-{image['ID']:08d}"


def signed(
    url: str,
    access_key: str,
    secret: str,
    params: dict[str, str],
    when: float | None = None,
    region: str = REGION,
) -> tuple[dict[str, str], bytes]:
    """A POST body and its SigV4 headers as botocore's signer makes them, at ``when``
    (default now): for requests a test changes after signing (a tampered body, a skewed
    clock) and sends itself."""
    import datetime
    from urllib.parse import urlencode, urlsplit

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = urlencode(params).encode()
    stamp = datetime.datetime.fromtimestamp(when or time.time(), datetime.UTC)
    amz_date = stamp.strftime("%Y%m%dT%H%M%SZ")
    headers = {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "Host": urlsplit(url).netloc,
        "X-Amz-Date": amz_date,
    }
    request = AWSRequest(method="POST", url=url + "/", data=body, headers=headers)
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(access_key, secret), "ec2", region)
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    scope = f"{access_key}/{amz_date[:8]}/{region}/ec2/aws4_request"
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={scope}, "
        f"SignedHeaders={signer.signed_headers(signer.headers_to_sign(request))}, "
        f"Signature={signature}"
    )
    return headers, body


def post(url: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    """Send a request as is; the status and the body of the answer."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url + "/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def refused(code: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """``call(*args, **kwargs)`` fails with AWS's ``code`` and status 400 (a client error
    boto3 does not retry); returns the error's message."""
    from botocore.exceptions import ClientError

    try:
        call(*args, **kwargs)
    except ClientError as err:
        answer = err.response
        got = (answer["Error"]["Code"], answer["ResponseMetadata"]["HTTPStatusCode"])
        assert got == (code, 400), answer["Error"]
        return answer["Error"]["Message"]
    raise AssertionError(f"expected {code}, the call succeeded")


def error_of(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, int]:
    """The AWS code and HTTP status ``call(*args, **kwargs)`` fails with."""
    from botocore.exceptions import ClientError

    try:
        call(*args, **kwargs)
    except ClientError as err:
        return err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("the call succeeded")

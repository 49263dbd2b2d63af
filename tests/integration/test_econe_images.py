"""AMIs through the EC2 Query server: UploadImage (a SigV4-signed multipart POST, signed by
botocore's own signer), RegisterImage and DescribeImages with real boto3 clients, its
waiter and paginator, on both stores.

What a user sees is checked: the answers, a second DescribeImages, and the image in the
store and its file in the datastore. Each refusal is a 400 with AWS's code and leaves the
image pool as it was.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from support.econe import REGION, refused

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.econe import tags
from ansible_collections.onekit.cloud.plugins.module_utils.objects import images

MB = 1024 * 1024


# ---- helpers --------------------------------------------------------------------------------
def upload(
    econe,
    user: str,
    name: str,
    data: bytes,
    secret: str | None = None,
    extra: dict[str, str] | None = None,
    claimed: str | None = "",
) -> tuple[int, str]:
    """UploadImage as econe-upload sends it: multipart/form-data with a part ``file``,
    signed with SigV4 over the whole body, its hash in X-Amz-Content-SHA256 (``claimed``:
    another value; None: no header). Returns (HTTP status, the answer's text)."""
    boundary = uuid.uuid4().hex
    fields = {"Action": "UploadImage", "Version": "2016-11-15", **(extra or {})}
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    request = AWSRequest(
        method="POST",
        url=econe.url + "/",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    if claimed is not None:
        request.headers["X-Amz-Content-SHA256"] = claimed or hashlib.sha256(body).hexdigest()
    key = secret if secret is not None else econe.secret(user)
    SigV4Auth(Credentials(user, key), "ec2", REGION).add_auth(request)
    prepared = request.prepare()
    sent = urllib.request.Request(
        prepared.url, data=body, headers=dict(prepared.headers), method="POST"
    )
    try:
        with urllib.request.urlopen(sent, timeout=60) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def element(text: str, name: str) -> str | None:
    for node in ET.fromstring(text).iter():
        if node.tag.rsplit("}", 1)[-1] == name:
            return node.text
    return None


def image_pool(econe) -> list[dict]:
    return objects.list_visible(econe.admin, schema.IMAGES)


def own_image(econe, user: str, name: str, **attributes: str) -> dict:
    """An image of ``user``'s (an empty DATABLOCK, made through the core as the user)."""
    session = econe.instance.session(user, f"pw-{user}")
    try:
        tpl = {"NAME": name, "TYPE": "DATABLOCK", "SIZE": "1", **attributes}
        return images.create(session, tpl)
    finally:
        session.db.close()


# ---- UploadImage ----------------------------------------------------------------------------
def test_upload_makes_an_ami_the_waiter_sees_available(econe):
    user = econe.user("up1")
    data = os.urandom(2 * MB + 3)
    status, text = upload(econe, user, "gentoo.img", data)
    assert status == 200, text
    ami = element(text, "imageId")
    assert ami is not None and ami.startswith("ami-") and len(ami) == 12

    ec2 = econe.client(user)
    ec2.get_waiter("image_available").wait(ImageIds=[ami], WaiterConfig={"Delay": 1})
    shown = ec2.describe_images(ImageIds=[ami])["Images"]
    assert len(shown) == 1
    assert (shown[0]["ImageId"], shown[0]["State"], shown[0]["OwnerId"]) == (ami, "available", user)
    assert (shown[0]["Name"], shown[0]["ImageType"], shown[0]["Public"]) == (
        "gentoo.img",
        "machine",
        False,
    )
    body = objects.show(econe.admin, schema.IMAGES, int(ami[4:]))
    assert (body["UNAME"], body["TEMPLATE"]["EC2_AMI"], body["SIZE"]) == (user, "YES", 3)
    assert body["NAME"].startswith("ec2-")
    assert Path(body["SOURCE"]).read_bytes() == data
    assert Path(body["SOURCE"]).parent == econe.instance.home / "var/datastores/1"


def test_an_upload_with_a_wrong_secret_makes_nothing(econe):
    user = econe.user("up2")
    before = image_pool(econe)
    status, text = upload(econe, user, "x.img", b"data", secret="0" * 40)
    assert (status, element(text, "Code")) == (401, "AuthFailure")
    assert image_pool(econe) == before


# ---- RegisterImage --------------------------------------------------------------------------
def test_register_flags_an_image_by_its_id(econe):
    user = econe.user("reg1")
    first = own_image(econe, user, "disk-a")
    second = own_image(econe, user, "disk-b")
    ec2 = econe.client(user)
    answer = ec2.register_image(
        ImageLocation=str(first["ID"]), Name="{{ 7*7 }}", Description="{{ 7*7 }} <b>&"
    )
    assert answer["ImageId"] == f"ami-{first['ID']:08d}"
    # ami-0000000N is image N, not N-1 (4.6's bug #3396)
    answer = ec2.register_image(ImageLocation=f"ami-{second['ID']:08d}", Name="second")
    assert answer["ImageId"] == f"ami-{second['ID']:08d}"
    shown = ec2.describe_images(ImageIds=[f"ami-{first['ID']:08d}"])["Images"][0]
    assert (shown["Name"], shown["Description"]) == ("{{ 7*7 }}", "{{ 7*7 }} <b>&")
    assert objects.show(econe.admin, schema.IMAGES, first["ID"])["TEMPLATE"]["EC2_AMI"] == "YES"
    mine = ec2.describe_images(Owners=["self"])["Images"]
    assert sorted(i["Name"] for i in mine) == ["second", "{{ 7*7 }}"]


def test_register_refusals(econe):
    user, other = econe.user("reg2"), econe.user("reg3")
    theirs = own_image(econe, other, "private")
    loose = econe.client(user, parameter_validation=False)
    before = image_pool(econe)
    for call, code in (
        (lambda: loose.register_image(ImageLocation="0"), "MissingParameter"),
        (lambda: loose.register_image(Name="n"), "MissingParameter"),
        (lambda: loose.register_image(ImageLocation="abc", Name="n"), "InvalidAMIID.Malformed"),
        (lambda: loose.register_image(ImageLocation="ami-x1", Name="n"), "InvalidAMIID.Malformed"),
        (lambda: loose.register_image(ImageLocation="99999", Name="n"), "InvalidAMIID.NotFound"),
        (  # another user's private image: as if it did not exist
            lambda: loose.register_image(ImageLocation=str(theirs["ID"]), Name="n"),
            "InvalidAMIID.NotFound",
        ),
        (
            lambda: loose.register_image(ImageLocation="1", Name="n" * 129),
            "InvalidParameterValue",
        ),
    ):
        refused(code, call)
    assert image_pool(econe) == before


# ---- DescribeImages -------------------------------------------------------------------------
def test_describe_filters_owners_and_rights(econe):
    user, other = econe.user("desc1"), econe.user("desc2")
    public = econe.ami("pub-desc", owner=other)  # mode 644: anyone may USE it
    hidden = own_image(econe, other, "hidden-desc", EC2_AMI="YES")  # 600: only its owner
    mine = own_image(econe, user, "mine-desc", EC2_AMI="YES")
    tagged = {**mine["TEMPLATE"]}
    tags.write(tagged, {"team": "{{ 7*7 }}", "env": "prod"})
    images.update(econe.admin, mine["ID"], tagged)
    mine_id = f"ami-{mine['ID']:08d}"
    ec2 = econe.client(user)

    listed = {i["ImageId"] for i in ec2.describe_images()["Images"]}
    assert {public, mine_id} <= listed
    assert f"ami-{hidden['ID']:08d}" not in listed
    assert [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]] == [mine_id]
    assert [i["ImageId"] for i in ec2.describe_images(Owners=[other])["Images"]] == [public]

    def ids(*filters: tuple[str, list[str]]) -> list[str]:
        given = [{"Name": n, "Values": v} for n, v in filters]
        return [i["ImageId"] for i in ec2.describe_images(Filters=given)["Images"]]

    assert ids(("name", ["mine-*"])) == [mine_id]
    assert ids(("image-id", [public])) == [public]
    assert ids(("is-public", ["true"]), ("owner-id", [other])) == [public]
    assert ids(("state", ["available"]), ("owner-id", [user])) == [mine_id]
    assert ids(("tag:team", ["{{ 7*7 }}"])) == [mine_id]
    assert ids(("tag-key", ["env"])) == [mine_id]
    assert ids(("tag:team", ["other"])) == []
    shown = ec2.describe_images(ImageIds=[mine_id])["Images"][0]
    assert sorted((t["Key"], t["Value"]) for t in shown["Tags"]) == [
        ("env", "prod"),
        ("team", "{{ 7*7 }}"),
    ]

    for call, code in (
        (lambda: ec2.describe_images(ImageIds=["ami-nope"]), "InvalidAMIID.Malformed"),
        (lambda: ec2.describe_images(ImageIds=["ami-09999999"]), "InvalidAMIID.NotFound"),
        (
            lambda: ec2.describe_images(ImageIds=[f"ami-{hidden['ID']:08d}"]),
            "InvalidAMIID.NotFound",
        ),
        (
            lambda: ec2.describe_images(Filters=[{"Name": "color", "Values": ["x"]}]),
            "InvalidParameterValue",
        ),
    ):
        refused(code, call)


def test_describe_pages_through_the_paginator(econe):
    user = econe.user("page1")
    made = [
        f"ami-{own_image(econe, user, f'paged-{n}', EC2_AMI='YES')['ID']:08d}" for n in range(7)
    ]
    ec2 = econe.client(user)
    pages = list(
        ec2.get_paginator("describe_images").paginate(
            Owners=["self"], PaginationConfig={"PageSize": 5}
        )
    )
    assert [len(p["Images"]) for p in pages] == [5, 2]
    assert [i["ImageId"] for p in pages for i in p["Images"]] == made


def test_an_upload_is_checked_before_its_body_is_kept(econe):
    user = econe.user("upl-check")
    before = image_pool(econe)
    # no body hash named (and signed): refused before a byte is read
    status, body = upload(econe, user, "a.img", b"x" * MB, claimed=None)
    assert status == 401 and "X-Amz-Content-SHA256" in body
    # a hash that is not the body's: the signature holds, the body does not
    forged = hashlib.sha256(b"another body").hexdigest()
    status, body = upload(econe, user, "a.img", b"x" * MB, claimed=forged)
    assert status == 401 and "<Code>AuthFailure</Code>" in body
    # fields besides the file are held to 1 MiB
    status, body = upload(econe, user, "a.img", b"x", extra={"Junk": "j" * (MB + 1024)})
    assert status == 413 and "RequestEntityTooLarge" in body
    assert image_pool(econe) == before

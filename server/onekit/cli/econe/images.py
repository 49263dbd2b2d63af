"""AMIs: econe-upload, econe-register, econe-describe-images (the guide's 7.5.1)."""

from __future__ import annotations

import argparse

from onekit.cli.common import Column, arg
from onekit.cli.econe.base import Command, Ec2, Ec2Error, show
from onekit.cli.econe.upload import upload_image


def _upload(ec2: Ec2, args: argparse.Namespace) -> None:
    answer = upload_image(ec2.endpoint, args.image_path)
    print(f"Success: ImageId {answer.get('imageId', '')}")


def _register(ec2: Ec2, args: argparse.Namespace) -> None:
    # 4.6 sends the image id as ImageLocation; boto3 requires a Name, which names the AMI
    name = args.name or current_name(ec2, args.image_id)
    answer = ec2.call("register_image", ImageLocation=args.image_id, Name=name)
    print(f"Success: ImageId {answer.get('ImageId', '')}")


def current_name(ec2: Ec2, image_id: str) -> str:
    """The name the image has (an upload's is its file's), so registering keeps it; the
    id when the server does not describe it yet (an image not flagged as an AMI)."""
    try:
        found = ec2.call("describe_images", ImageIds=[image_id]).get("Images", [])
    except Ec2Error:
        found = []
    return str(found[0].get("Name") or image_id) if found else image_id


IMAGE_COLUMNS = [
    Column("Owner", lambda d: d.get("OwnerId", ""), width=12),
    Column("ImageId", lambda d: d.get("ImageId", ""), width=13),
    Column("Status", lambda d: d.get("State", ""), width=14),
    Column("Visibility", lambda d: "public" if d.get("Public") else "private", width=12),
    Column("Location", lambda d: d.get("ImageLocation", ""), width=20),
]


def _describe(ec2: Ec2, args: argparse.Namespace) -> None:
    show(ec2.items("describe_images", "Images"), IMAGE_COLUMNS)


upload = Command(
    "econe-upload",
    "Uploads an image for use with an OpenNebula Cloud. This image should be later "
    "registered with econe-register using the returned ImageId.",
    _upload,
    [arg("image_path", metavar="IMAGE-PATH", help="path to the image to upload")],
)

register = Command(
    "econe-register",
    "Register a previously uploaded image for use with an OpenNebula Cloud.",
    _register,
    [
        arg("image_id", metavar="IMAGE-ID", help="the ImageId econe-upload printed"),
        arg("-n", "--name", help="the AMI's name (default: the image's, else IMAGE-ID)"),
    ],
)

describe_images = Command(
    "econe-describe-images",
    "List and describe previously uploaded images of a user to be used with an OpenNebula Cloud.",
    _describe,
)

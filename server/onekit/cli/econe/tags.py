"""Tags: econe-create-tags, -describe-tags, -delete-tags (the guide's 7.5.6, where the last
is "remove-tags"; AWS calls it DeleteTags). Tags are key=value pairs on instances, AMIs,
volumes and snapshots."""

from __future__ import annotations

import argparse

from onekit.cli.common import Column, arg
from onekit.cli.econe.base import Command, Ec2, id_args, show

TAG_COLUMNS = [
    Column("resourceId", lambda d: d.get("ResourceId", ""), width=13),
    Column("resourceType", lambda d: d.get("ResourceType", ""), width=12),
    Column("key", lambda d: d.get("Key", ""), width=10),
    Column("value", lambda d: d.get("Value", ""), width=10),
]


def tag(text: str) -> dict[str, str]:
    """``KEY=VALUE`` (``KEY=``: an empty value) or ``KEY`` (no value given)."""
    key, sep, value = text.partition("=")
    if not key:
        raise argparse.ArgumentTypeError(f"a tag is KEY=VALUE or KEY, got {text!r}")
    return {"Key": key, "Value": value} if sep else {"Key": key}


def name_values(text: str) -> dict:
    """``NAME=VALUE[,VALUE...]``, one filter of describe-tags."""
    name, sep, values = text.partition("=")
    if not name or not sep:
        raise argparse.ArgumentTypeError(f"a filter is NAME=VALUE[,VALUE...], got {text!r}")
    return {"Name": name, "Values": values.split(",")}


def _create(ec2: Ec2, args: argparse.Namespace) -> None:
    tags = [{"Key": t["Key"], "Value": t.get("Value", "")} for t in args.tag]
    ec2.call("create_tags", Resources=id_args(args.resource_ids, "resource id"), Tags=tags)


def _delete(ec2: Ec2, args: argparse.Namespace) -> None:
    params: dict = {"Resources": id_args(args.resource_ids, "resource id")}
    if args.tag:
        params["Tags"] = args.tag
    ec2.call("delete_tags", **params)


def _describe(ec2: Ec2, args: argparse.Namespace) -> None:
    params = {"Filters": args.filter} if args.filter else {}
    show(ec2.items("describe_tags", "Tags", **params), TAG_COLUMNS)


RESOURCE_IDS = arg(
    "resource_ids",
    metavar="RESOURCE-ID[,RESOURCE-ID...]",
    nargs="+",
    help="the tagged resources: i-00000015, ami-00000001, vol-00000003, snap-00000004",
)

create_tags = Command(
    "econe-create-tags",
    "Add or overwrite tags of resources.",
    _create,
    [
        RESOURCE_IDS,
        arg(
            "-t",
            "--tag",
            type=tag,
            action="append",
            required=True,
            metavar="KEY=VALUE",
            help="a tag to set (repeat for more); KEY alone sets an empty value",
        ),
    ],
)

describe_tags = Command(
    "econe-describe-tags",
    "List the tags of the user's resources.",
    _describe,
    [
        arg(
            "-f",
            "--filter",
            type=name_values,
            action="append",
            metavar="NAME=VALUE[,VALUE...]",
            help="only the tags matching: resource-id, resource-type, key or value "
            "(repeat for more; * and ? are wildcards)",
        )
    ],
)

delete_tags = Command(
    "econe-delete-tags",
    "Delete tags of resources: the keys given (with a value: only if it matches), or all.",
    _delete,
    [
        RESOURCE_IDS,
        arg(
            "-t",
            "--tag",
            type=tag,
            action="append",
            metavar="KEY[=VALUE]",
            help="a tag to delete (repeat for more; none: every tag of the resources)",
        ),
    ],
)

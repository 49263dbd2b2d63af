"""The kinds of EC2 object onekit keeps as images (AMIs, volumes, snapshots) and as VMs
(instances): how their ids read, the flag an image of the kind carries in its TEMPLATE,
and the codes of an id that is no id (``<malformed>.Malformed``) or names nothing the
caller may see. One table, for every action that takes such an id."""

from __future__ import annotations

from dataclasses import dataclass

AMI, VOLUME, SNAPSHOT = "EC2_AMI", "EBS_VOLUME", "EBS_SNAPSHOT"  # the TEMPLATE flags


@dataclass(frozen=True)
class Kind:
    prefix: str
    flag: str | None  # None: a VM
    malformed: str
    not_found: str


INSTANCES = Kind("i", None, "InvalidInstanceID", "InvalidInstanceID.NotFound")
AMIS = Kind("ami", AMI, "InvalidAMIID", "InvalidAMIID.NotFound")
VOLUMES = Kind("vol", VOLUME, "InvalidVolumeID", "InvalidVolume.NotFound")
SNAPSHOTS = Kind("snap", SNAPSHOT, "InvalidSnapshotID", "InvalidSnapshot.NotFound")

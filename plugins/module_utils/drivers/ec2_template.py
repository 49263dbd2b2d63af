"""A VM's ``EC2`` section as a RunInstances request: pure (no boto3), so each attribute
of the guide's table is tested alone.

The section (``choose_section``): the one whose HOST (or the deprecated CLOUD) equals the
host's name, compared case-insensitively; else the only one; else an error.

Attributes (the guide's table; 4.6's bugs not copied):

==================  ==================================================================
AMI (mandatory)     ImageId
AKI / RAMDISK       KernelId / RamdiskId
INSTANCETYPE        InstanceType
KEYPAIR             KeyName
CLIENTTOKEN         ClientToken (default: ``one-<vm id>-<deploy seq>``, see ``run_request``)
PRIVATEIP           PrivateIpAddress
SUBNETID            SubnetId
USERDATA            UserData, as written (boto3 sends it base64); absent: the context
SECURITYGROUPS      SecurityGroups, a comma list of names
PLACEMENTGROUP      Placement.GroupName
TENANCY             Placement.Tenancy
AVAILABILITYZONE    Placement.AvailabilityZone (4.6 wrote a key the SDK ignored)
EBS_OPTIMIZED       EbsOptimized (yes/no, true/false)
BLOCKDEVICEMAPPING  BlockDeviceMappings: a space list of ``dev=snap:size:delete:type:iops``
                    (any part empty), ``dev=none`` (NoDevice), ``dev=ephemeralN``
                    (VirtualName); ``/dev/sdh=:20`` is a 20 GiB volume
ELASTICIP           AssociateAddress once the instance exists (``Request.elastic_ip``)
TAGS                ``k=v,...`` as the instance's tags, with ``ONE_ID=<vm id>`` (4.6 bug
                    #4909 applied them under a wrong key); ONE_ID itself is onekit's
HOST / CLOUD        which section (not sent); LICENSEPOOL: obsolete, accepted, not sent
==================  ==================================================================

An attribute name not in this table is refused, naming it: a misspelt INSTANCE_TYPE
must not launch an instance of the default type. Values are data: never evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput

ONE_ID_TAG = "ONE_ID"
FRONTEND_TAG = "ONE_FRONTEND"  # which front-end's VM (ids are unique within one only)
_OWN_TAGS = (ONE_ID_TAG, FRONTEND_TAG)
_SIMPLE = {
    "AMI": "ImageId",
    "AKI": "KernelId",
    "RAMDISK": "RamdiskId",
    "INSTANCETYPE": "InstanceType",
    "KEYPAIR": "KeyName",
    "CLIENTTOKEN": "ClientToken",
    "PRIVATEIP": "PrivateIpAddress",
    "SUBNETID": "SubnetId",
    "USERDATA": "UserData",
}
_PLACEMENT = {
    "PLACEMENTGROUP": "GroupName",
    "TENANCY": "Tenancy",
    "AVAILABILITYZONE": "AvailabilityZone",
}
_OTHER = ("SECURITYGROUPS", "EBS_OPTIMIZED", "BLOCKDEVICEMAPPING", "ELASTICIP", "TAGS")
_NOT_SENT = ("HOST", "CLOUD", "LICENSEPOOL")
KNOWN = frozenset((*_SIMPLE, *_PLACEMENT, *_OTHER, *_NOT_SENT))
_TRUE, _FALSE = ("yes", "true", "1"), ("no", "false", "0")


@dataclass(frozen=True)
class Request:
    """What a deploy sends: RunInstances' arguments, then the elastic IP to associate."""

    run: dict[str, Any]
    elastic_ip: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def _sections(tpl: dict) -> list[dict]:
    found = tpl.get("EC2")
    sections = found if isinstance(found, list) else [] if found is None else [found]
    if not all(isinstance(s, dict) for s in sections):
        raise InvalidInput('EC2 must be a vector: EC2 = [ AMI = "ami-...", ... ]')
    return sections


def section_source(template: dict, user_template: dict) -> dict:
    """Where a VM's EC2 sections are: USER_TEMPLATE (where OpenNebula keeps them), else
    its TEMPLATE."""
    return user_template if "EC2" in user_template else template


def choose_section(tpl: dict, host_name: str) -> dict:
    """The VM's EC2 section for host ``host_name`` (see the module's docstring)."""
    sections = _sections(tpl)
    if not sections:
        raise InvalidInput(
            f'the VM has no EC2 section for host {host_name}: add EC2 = [ AMI = "ami-..." ]'
        )
    wanted = host_name.lower()
    for section in sections:
        named = section.get("HOST") or section.get("CLOUD")
        if isinstance(named, str) and named.lower() == wanted:
            return section
    if len(sections) == 1:
        return sections[0]
    raise InvalidInput(
        f'the VM has {len(sections)} EC2 sections and none has HOST = "{host_name}"; '
        "name the host in one of them"
    )


def _text(section: dict, key: str) -> str | None:
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"EC2/{key} must be a single value, got {value!r}")
    value = value.strip()
    return value or None


def _flag(key: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise InvalidInput(f"EC2/{key} must be yes or no, got {value!r}")


def _whole(key: str, part: str, what: str) -> int:
    if not (part.isascii() and part.isdigit() and int(part) > 0):
        raise InvalidInput(f"EC2/{key}: {what} must be a whole number > 0, got {part!r}")
    return int(part)


def block_devices(text: str) -> list[dict[str, Any]]:
    """BLOCKDEVICEMAPPING's ``dev=snap:size:delete:type:iops`` list."""
    key = "BLOCKDEVICEMAPPING"
    mappings = []
    for item in text.split():
        device, sep, spec = item.partition("=")
        if not sep or not device or not spec:
            raise InvalidInput(
                f"EC2/{key}: {item!r} is not dev=snapshot:size:delete:type:iops "
                "(e.g. /dev/sdh=:20, /dev/sdb=none)"
            )
        if spec.lower() == "none":
            mappings.append({"DeviceName": device, "NoDevice": ""})
            continue
        if spec.startswith("ephemeral"):
            mappings.append({"DeviceName": device, "VirtualName": spec})
            continue
        parts = spec.split(":")
        if len(parts) > 5:
            raise InvalidInput(
                f"EC2/{key}: {item!r} has {len(parts)} fields; at most 5: "
                "snapshot:size:delete:type:iops"
            )
        parts += [""] * (5 - len(parts))
        snapshot, size, delete, kind, iops = (p.strip() for p in parts)
        ebs: dict[str, Any] = {}
        if snapshot:
            ebs["SnapshotId"] = snapshot
        if size:
            ebs["VolumeSize"] = _whole(key, size, f"the size (GiB) of {device}")
        if delete:
            ebs["DeleteOnTermination"] = _flag(key, delete)
        if kind:
            ebs["VolumeType"] = kind
        if iops:
            ebs["Iops"] = _whole(key, iops, f"the IOPS of {device}")
        if not ebs:
            raise InvalidInput(f"EC2/{key}: {item!r} gives neither a snapshot nor a size")
        mappings.append({"DeviceName": device, "Ebs": ebs})
    return mappings


def tags(text: str) -> dict[str, str]:
    """TAGS' ``k=v,...``."""
    found = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidInput(f"EC2/TAGS: {item.strip()!r} is not key=value")
        if name in _OWN_TAGS:
            raise InvalidInput(
                f"EC2/TAGS: {name} is onekit's own tag (the VM's id and its front-end)"
            )
        found[name] = value.strip()
    return found


def run_request(
    section: dict,
    vm_id: int,
    client_token: str,
    user_data: str | None = None,
    frontend: str = "",
) -> Request:
    """RunInstances' arguments for VM ``vm_id`` from its EC2 ``section``.
    ``client_token``: the ClientToken when the section gives none (the same for every try
    of one deploy, so a retry never makes a second instance); ``user_data``: UserData when
    the section has no USERDATA (the VM's context); ``frontend``: the ONE_FRONTEND tag."""
    unknown = sorted(str(k) for k in section if k not in KNOWN)
    if unknown:
        raise InvalidInput(
            f"EC2 attribute(s) {', '.join(unknown)} unknown; EC2 takes {', '.join(sorted(KNOWN))}"
        )
    ami = _text(section, "AMI")
    if not ami:
        raise InvalidInput('EC2/AMI is mandatory: the image to launch, AMI = "ami-..."')
    run: dict[str, Any] = {"MinCount": 1, "MaxCount": 1}
    for key, param in _SIMPLE.items():
        value = _text(section, key)
        if value is not None:
            run[param] = value
    run.setdefault("ClientToken", client_token)
    if "UserData" not in run and user_data:
        run["UserData"] = user_data
    placement = {
        param: value
        for key, param in _PLACEMENT.items()
        if (value := _text(section, key)) is not None
    }
    if placement:
        run["Placement"] = placement
    groups = _text(section, "SECURITYGROUPS")
    if groups:
        run["SecurityGroups"] = [g.strip() for g in groups.split(",") if g.strip()]
    optimized = _text(section, "EBS_OPTIMIZED")
    if optimized:
        run["EbsOptimized"] = _flag("EBS_OPTIMIZED", optimized)
    mapping = _text(section, "BLOCKDEVICEMAPPING")
    if mapping:
        run["BlockDeviceMappings"] = block_devices(mapping)
    user_tags = tags(_text(section, "TAGS") or "")
    all_tags = {**user_tags, ONE_ID_TAG: str(vm_id)}
    if frontend:
        all_tags[FRONTEND_TAG] = frontend
    run["TagSpecifications"] = [
        {
            "ResourceType": "instance",
            "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()],
        }
    ]
    return Request(run, _text(section, "ELASTICIP"), all_tags)

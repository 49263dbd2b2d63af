"""``$ONEKIT_HOME/etc/econe.conf``: the EC2 Query server's settings, OpenNebula's file as
shipped (YAML with ``:symbol:`` keys; ``:instance_types:`` is a nested map), read
unchanged. Keys econe knows but onekit does not use are accepted (``:one_xmlrpc:``,
``:core_auth:``, ``:tmpdir:``, ``:debug_level:``); unknown keys are ignored, as econe
ignores them. The guide writes the Elastic IP network as ``:elastic_ips_vnet:``, econe's
code reads ``:elasticips_vnet_id:``: both are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import ConfigError
from ansible_collections.onekit.cloud.plugins.module_utils.core.server_conf import (
    Endpoint,
    endpoint_settings,
    yaml_settings,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.server_conf import (
    integer as _int,
)

NO_SCRIPT = ("", "false", "/bin/false", "/usr/bin/false")
# ec2: requests signed with an access key; x509: the caller is the x509 user of the client
# certificate the TLS proxy verified and forwarded (as 4.6's X509CloudAuth), signatures unused
AUTH_METHODS = ("ec2", "x509")


@dataclass(frozen=True)
class EconeConfig(Endpoint):
    auth: str = "ec2"
    datastore_id: int = 1
    cluster_id: int | None = None
    describe_with_terminated_instances: bool = True
    terminated_instances_expiration_time: int = 900
    elasticips_vnet_id: int | None = None
    elasticips_per_user: int = 5  # onekit's: AWS's default limit, so one user cannot take all
    associate_script: str | None = None
    disassociate_script: str | None = None
    ebs_fstype: str = "ext3"
    tmpdir: str = "/var/tmp"
    debug_level: int = 3
    instance_types: dict[str, Any] = field(default_factory=dict)  # file templates: unused

    @property
    def public_hosts(self) -> tuple[str, ...]:
        """The Host a client behind ``:ssl_server:`` signed its request for."""
        if not self.ssl_server:
            return ()
        return (urlsplit(self.ssl_server).netloc,)


def _script(where: str, key: str, value: Any) -> str | None:
    if value is None or value is False or str(value).strip() in NO_SCRIPT:
        return None
    text = str(value).strip()
    if not text.startswith("/"):
        raise ConfigError(f"{where}: :{key}: must be an absolute path to a program (or false)")
    return text


def parse(text: str, source: str = "econe.conf") -> EconeConfig:
    return _checked(yaml_settings(text, source), source)


def _checked(values: dict[str, Any], where: str) -> EconeConfig:
    out = endpoint_settings(values, where)
    auth = values.get("auth", "ec2")
    if auth not in AUTH_METHODS:
        raise ConfigError(
            f"{where}: :auth: {str(auth)[:20]!r} is not supported; use ec2 (access key and "
            "secret key: the user name and the password hash, or a key of `oneuser ec2-key`) "
            "or x509 (the client certificate the TLS proxy of :ssl_server: verified)"
        )
    if auth == "x509" and "ssl_server" not in out:
        raise ConfigError(
            f"{where}: :auth: x509 needs :ssl_server: (the URL of the TLS proxy that verifies "
            "the client certificates: clients reach the server through it)"
        )
    out["auth"] = auth
    if values.get("use_file_templates") is True:
        raise ConfigError(
            f"{where}: :use_file_templates: true (the deprecated ERB instance types) is not "
            "supported: make a VM template with EC2_INSTANCE_TYPE per type, as the guide says"
        )
    for key, low in (("datastore_id", 0), ("cluster_id", 0), ("debug_level", 0)):
        if values.get(key) is not None:
            out[key] = _int(where, key, values[key], low, 3 if key == "debug_level" else 2**31 - 1)
    if values.get("terminated_instances_expiration_time") is not None:
        out["terminated_instances_expiration_time"] = _int(
            where,
            "terminated_instances_expiration_time",
            values["terminated_instances_expiration_time"],
            0,
        )
    if values.get("describe_with_terminated_instances") is not None:
        flag = values["describe_with_terminated_instances"]
        if not isinstance(flag, bool):
            raise ConfigError(
                f"{where}: :describe_with_terminated_instances: must be true or false"
            )
        out["describe_with_terminated_instances"] = flag
    vnet = values.get("elasticips_vnet_id", values.get("elastic_ips_vnet"))
    if vnet is not None:
        out["elasticips_vnet_id"] = _int(where, "elasticips_vnet_id", vnet, 0)
    if values.get("elasticips_per_user") is not None:
        out["elasticips_per_user"] = _int(
            where, "elasticips_per_user", values["elasticips_per_user"], 0
        )
    for key in ("associate_script", "disassociate_script"):
        out[key] = _script(where, key, values.get(key))
    for key in ("ebs_fstype", "tmpdir"):
        if values.get(key) is not None:
            out[key] = str(values[key])
    if isinstance(values.get("instance_types"), dict):
        out["instance_types"] = values["instance_types"]
    return EconeConfig(**out)


def load(path: Path) -> EconeConfig:
    """The file's settings; the defaults when it does not exist."""
    if not path.exists():
        return EconeConfig()
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {path}: {err}") from err
    return parse(text, str(path))


DEFAULT_FILE = """\
#############################################################
# Server Configuration
#############################################################

# Directory to store temp files when uploading images
:tmpdir: /var/tmp

# OpenNebula sever contact information (accepted; onekit reaches its store directly)
:one_xmlrpc: http://localhost:2633/RPC2

# Host and port where econe server will run
:host: {host}
:port: {port}

# SSL proxy URL that serves the API (set if is being used)
#:ssl_server: https://service.endpoint.fqdn:port/

#############################################################
# Auth
#############################################################

# Authentication driver for incomming requests
#   - ec2, default Acess key and Secret key scheme
#   - x509, for x509 certificates based authentication (through the SSL proxy,
#     which verifies the certificate: see roles/tls_proxy)
:auth: ec2

# Authentication driver to communicate with OpenNebula core (accepted)
:core_auth: cipher

#############################################################
# Log
#############################################################

# Log debug level
#   0 = ERROR, 1 = WARNING, 2 = INFO, 3 = DEBUG
:debug_level: 3

#############################################################
# Resources
#############################################################

# Cluster associated with the EC2 resources, by default no Cluster is defined
#:cluster_id:

# Datastore in which the Images uploaded through EC2 will be allocated, by
# default 1
#:datastore_id:

# Include terminated instances in the describe_instances xml
:describe_with_terminated_instances: true
# Terminated VMs will be included in the list
#  till the termination date + TERMINATED_INSTANCES_EXPIRATION_TIME is reached
:terminated_instances_expiration_time: 900

#############################################################
# [DEPRECATED] File based templates
#############################################################

# Use former file based templates for instance types instead
#   of OpenNebula templates
:use_file_templates: false

#############################################################
# Elastic IP
#############################################################

# VirtualNetwork containing the elastic ips to be used with EC2. If no defined
# the Elastic IP functionality is disabled
#:elasticips_vnet_id:

# Elastic IPs one user may hold (onekit's; the oneadmin group has no limit)
:elasticips_per_user: 5

# Script to associate a public IP with a private IP
#   - arguments: elastic_ip private_ip vnet_template(base64_encoded)
:associate_script: /usr/bin/false

# Script to disassociate a public IP
#   - arguments: elastic_ip
:disassociate_script: /usr/bin/false

#############################################################
# EBS
#############################################################

# FSTYPE that will be used when creating new volumes (DATABLOCKs)
:ebs_fstype: ext3
"""


def render(config: EconeConfig | None = None) -> str:
    config = config or EconeConfig()
    return DEFAULT_FILE.format(host=config.host, port=config.port)

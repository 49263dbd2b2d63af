"""``etc/ec2_driver.conf`` (``drivers.ec2_config``): the guide's format, a host's entry
by name or default, capacity without 4.6's rounding, errors naming file, key and field."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import ConfigError
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import frontend_identity
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.ec2_config import region_for

# the guide's sample, as chapter 5 prints it (credentials filled in)
GUIDE = """
proxy_uri:
regions:
    default:
        region_name: us-east-1
        access_key_id: AKIAEXAMPLE
        secret_access_key: s3cr3t
        capacity:
            m1.small: 5
            m1.large: 0
            m1.xlarge: 0
    eu-west-1:
        region_name: eu-west-1
        access_key_id: AKIAEU
        secret_access_key: eu
        endpoint_url: http://127.0.0.1:5000
        capacity:
            m1.large: 2
            t1.micro: 3
instance_types:
    m1.small:
        cpu: 1
        memory: 1.7
    m1.large:
        cpu: 2
        memory: 7.5
    m1.xlarge:
        cpu: 4
        memory: 15
    t1.micro:
        cpu: 1
        memory: 0.615
"""


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "ec2_driver.conf"
    path.write_text(GUIDE)
    return path


def test_a_host_uses_its_entry_or_default(conf):
    east = region_for(conf, "us-east-1")
    assert east.key == "default" and east.region_name == "us-east-1"
    assert east.access_key_id == "AKIAEXAMPLE" and east.endpoint_url is None
    eu = region_for(conf, "eu-west-1")
    assert eu.key == "eu-west-1" and eu.endpoint_url == "http://127.0.0.1:5000"
    assert eu.label == "ec2://eu-west-1"


def test_the_front_end_tag_is_the_files_or_this_machine_and_home(conf):
    derived = region_for(conf, "us-east-1").frontend
    assert derived == frontend_identity(conf) and derived.startswith(socket.gethostname())
    named = conf.read_text() + "frontend: dc1\n"
    conf.write_text(named)
    assert region_for(conf, "us-east-1").frontend == "dc1"
    conf.write_text(named.replace("frontend: dc1", "frontend: ''"))
    with pytest.raises(ConfigError, match="frontend: must be a non-empty name"):
        region_for(conf, "us-east-1")


def test_capacity_without_rounding_the_gb(conf):
    # 4.6 made 1.7 GB 1 GB (bug #4344): 5242880; 5 x 1.7 GB is 8912896 KiB
    assert region_for(conf, "us-east-1").totals() == (500, 8912896)
    cpu, memory = region_for(conf, "eu-west-1").totals()
    assert cpu == 2 * 200 + 3 * 100
    assert memory == round(2 * 7.5 * 1048576 + 3 * 0.615 * 1048576)
    assert region_for(conf, "x").usage({"m1.small": 2, "unknown": 4}) == (200, 3565158)


def test_credentials_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "ec2_driver.conf"
    path.write_text(
        "regions:\n  default:\n    region_name: us-east-1\n    capacity: {}\ninstance_types: {}\n"
    )
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"regions.default.access_key_id: missing, and AWS_"):
        region_for(path, "h")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "envkey")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
    region = region_for(path, "h")
    assert (region.access_key_id, region.secret_access_key) == ("envkey", "envsecret")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "must be a YAML mapping"),
        ("regions: {}\n", "no entry 'h' and no 'default'"),
        ("instance_types: {}\n", "regions: missing"),
        (
            "regions: {h: {access_key_id: a, secret_access_key: b}}",
            "regions.h.region_name: missing",
        ),
        (
            "regions: {h: {region_name: r, access_key_id: a}}",
            "regions.h.secret_access_key: missing",
        ),
        (
            "regions: {h: {region_name: r, access_key_id: a, secret_access_key: b, "
            "capacity: {m9.huge: 1}}}",
            "regions.h.capacity.m9.huge: instance type 'm9.huge' is not in instance_types",
        ),
        (
            "regions: {h: {region_name: r, access_key_id: a, secret_access_key: b, "
            "capacity: {m1.small: -1}}}\ninstance_types: {m1.small: {cpu: 1, memory: 1.7}}",
            "regions.h.capacity.m1.small: must be a whole number >= 0",
        ),
        (
            "regions: {h: {region_name: r, access_key_id: a, secret_access_key: b, capacity: 5}}",
            "regions.h.capacity: must map instance types to counts",
        ),
        (
            "regions: {h: {region_name: r, access_key_id: a, secret_access_key: b}}\n"
            "instance_types: {m1.small: {cpu: 1}}",
            "instance_types.m1.small: must be {cpu",
        ),
        ("regions: [", "cannot read it"),
    ],
)
def test_errors_name_the_file_the_key_and_the_field(tmp_path, monkeypatch, text, message):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    path = tmp_path / "ec2_driver.conf"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        region_for(path, "h")
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)


def test_a_missing_file_says_what_goes_there(tmp_path):
    with pytest.raises(ConfigError, match="does not exist: the EC2 driver's regions"):
        region_for(tmp_path / "nope.conf", "h")

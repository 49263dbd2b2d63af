"""The partner driver's configuration (``drivers.partner_config``) and how it reads a
partner's VMs (``drivers.partner``): no partner needed. The driver against a real partner
is tests/integration/test_partner_driver.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from ansible_collections.onekit.cloud.plugins.module_utils.core.states import Lcm, VmState
from ansible_collections.onekit.cloud.plugins.module_utils.drivers import partner, partner_config
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import (
    CRASHED,
    MISSING,
    PAUSED,
    RUNNING,
    SHUTOFF,
    DriverError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import parse_config
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.home import Home

GOOD = {
    "endpoint": "http://partner.example:2633/",
    "user": "burst",
    "password": "s3cret",
    "capacity": {"cpu": 2.5, "memory": 1024},
}


def write(path: Path, data, mode: int = 0o600) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    path.chmod(mode)
    return path


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    return tmp_path / "etc" / "partner_driver.conf"


def test_a_host_entry_gives_endpoint_credentials_capacity_and_a_frontend_tag(conf):
    write(conf, {"partner": GOOD})
    got = partner_config.load("partner", conf)
    assert (got.endpoint, got.user, got.password) == (
        "http://partner.example:2633",
        "burst",
        "s3cret",
    )
    assert (got.cpu, got.memory) == (250, 1024 * 1024)  # oned's units: cores*100, KiB
    assert got.frontend == partner_config.default_frontend(conf)
    assert "s3cret" not in repr(got)
    write(conf, {"partner": {**GOOD, "frontend": "dc1"}})
    assert partner_config.load("partner", conf).frontend == "dc1"


def test_the_default_frontend_tag_differs_between_instances(tmp_path):
    one = partner_config.default_frontend(tmp_path / "a" / "etc" / "partner_driver.conf")
    two = partner_config.default_frontend(tmp_path / "b" / "etc" / "partner_driver.conf")
    assert one != two


def test_a_password_file_must_be_private_too(conf, tmp_path):
    secret = write(tmp_path / "pw", "from-file\n")
    entry = {k: v for k, v in GOOD.items() if k != "password"}
    write(conf, {"partner": {**entry, "password_file": str(secret)}})
    assert partner_config.load("partner", conf).password == "from-file"
    secret.chmod(0o640)
    with pytest.raises(DriverError, match=f"chmod 600 {secret}"):
        partner_config.load("partner", conf)


def test_capacity_is_optional_the_partners_quota_gives_it(conf):
    """Without capacity (or a figure of it) the host's capacity is the partner's VM
    quota for the user (drivers.partner): 0 here means none given."""
    write(conf, {"partner": {k: v for k, v in GOOD.items() if k != "capacity"}}, 0o600)
    cfg = partner_config.load("partner", conf)
    assert (cfg.cpu, cfg.memory) == (0, 0)
    write(conf, {"partner": {**GOOD, "capacity": {"memory": 512}}}, 0o600)
    cfg = partner_config.load("partner", conf)
    assert (cfg.cpu, cfg.memory) == (0, 512 * 1024)


@pytest.mark.parametrize(
    ("data", "mode", "message"),
    [
        (None, 0o600, "does not exist; write it"),
        ({"partner": GOOD}, 0o644, "may be read by others .mode 644.; make it private: chmod 600"),
        ("partner: [", 0o600, "is not valid YAML"),
        ("- a list", 0o600, "must map host names"),
        ({"other": GOOD}, 0o600, "has no entry for host partner .hosts there: other."),
        ({"partner": {**GOOD, "endpoint": "partner:2633"}}, 0o600, "host partner, endpoint"),
        ({"partner": {**GOOD, "user": ""}}, 0o600, "host partner, user is missing"),
        (
            {"partner": {k: v for k, v in GOOD.items() if k != "password"}},
            0o600,
            "host partner, password .or password_file. is missing",
        ),
        ({"partner": {**GOOD, "password_file": "/x"}}, 0o600, "password or password_file, not"),
        (
            {"partner": {**GOOD, "capacity": 8}},
            0o600,
            "host partner, capacity must be capacity: .cpu",
        ),
        (
            {"partner": {**GOOD, "capacity": {"cpus": 8}}},
            0o600,
            "host partner, capacity has cpus; it takes cpu",
        ),
        (
            {"partner": {**GOOD, "capacity": {"cpu": 0, "memory": 1}}},
            0o600,
            "host partner, capacity.cpu must be a positive number of cores",
        ),
        ({"partner": {**GOOD, "pasword": "x"}}, 0o600, "unknown setting.s. pasword"),
    ],
)
def test_errors_name_the_file_the_host_and_the_field(conf, data, mode, message):
    if data is not None:
        write(conf, data, mode)
    with pytest.raises(DriverError, match=message) as err:
        partner_config.load("partner", conf)
    assert str(conf) in str(err.value)
    assert "s3cret" not in str(err.value)


def test_a_process_that_opened_no_instance_says_so():
    partner_config.use(None)
    with pytest.raises(DriverError, match="opened no instance"):
        partner_config.load("partner")


def test_opening_an_instance_points_the_driver_at_its_file(tmp_path):
    home = Home(tmp_path)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "oned.conf").write_text("")
    os.environ.pop("ONE_AUTH", None)
    home.session_settings(parse_config("", tmp_path / "etc" / "oned.conf"))
    assert partner_config.current_path() == tmp_path / "etc" / "partner_driver.conf"


@pytest.mark.parametrize(
    ("state", "lcm", "guest"),
    [
        (VmState.PENDING, Lcm.LCM_INIT, RUNNING),  # being placed there: starting
        (VmState.HOLD, Lcm.LCM_INIT, RUNNING),
        (VmState.ACTIVE, Lcm.BOOT, RUNNING),
        (VmState.ACTIVE, Lcm.RUNNING, RUNNING),
        (VmState.ACTIVE, Lcm.UNKNOWN, RUNNING),  # the partner's own host trouble
        (VmState.ACTIVE, Lcm.SHUTDOWN_POWEROFF, RUNNING),  # not off yet
        (VmState.ACTIVE, Lcm.CLEANUP_DELETE, MISSING),
        (VmState.SUSPENDED, Lcm.LCM_INIT, PAUSED),
        (VmState.POWEROFF, Lcm.LCM_INIT, SHUTOFF),
        (VmState.STOPPED, Lcm.LCM_INIT, SHUTOFF),
        (VmState.UNDEPLOYED, Lcm.LCM_INIT, SHUTOFF),
        (VmState.FAILED, Lcm.LCM_INIT, CRASHED),
        (VmState.DONE, Lcm.LCM_INIT, MISSING),
    ],
)
def test_a_remote_vm_state_is_a_guest_state_here(state, lcm, guest):
    assert partner.remote_state({"STATE": int(state), "LCM_STATE": int(lcm)}) == guest


def test_a_remote_vm_brings_its_figures():
    vm = {
        "STATE": 3,
        "LCM_STATE": 3,
        "MONITORING": {"CPU": 12.5, "MEMORY": 32768, "NETTX": "10", "NETRX": "bad"},
    }
    status = partner.status_of(vm)
    assert (status.state, status.cpu, status.memory, status.net_tx, status.net_rx) == (
        RUNNING,
        12.5,
        32768,
        10,
        None,
    )
    assert partner.status_of(None).state == MISSING


def test_save_and_restore_are_refused_naming_what_to_do_instead():
    driver = partner.PartnerDriver("partner")
    for call in (
        lambda: driver.save("partner:3", "/tmp/x"),
        lambda: driver.restore("/tmp/x"),
        lambda: driver.remove_checkpoint("/tmp/x"),
    ):
        with pytest.raises(
            DriverError, match=r"host partner is a partner cloud.*poweroff or undeploy"
        ):
            call()

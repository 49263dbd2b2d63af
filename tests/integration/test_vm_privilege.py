"""What a regular user may not do with hosts and VMs, whatever ACL rules let them run VMs:
point a host elsewhere, reach the hosts' files or bridges through a template, register
images by path, or run the monitor."""

from __future__ import annotations

import pytest
from conftest import Cloud, store_snapshot

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    InvalidInput,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls, hosts, images, users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import (
    lifecycle,
    monitor,
    templates,
    vms,
)


@pytest.fixture
def bob(cloud: Cloud) -> Session:
    """A user who may run VMs on sim0 (MANAGE on it), as the README's ACL example."""
    user = users.create(cloud.admin, "bob", "bob-pw")
    acls.create(cloud.admin, f"#{user['ID']} HOST/#0 MANAGE")
    session = cloud.instance.session("bob", "bob-pw")
    yield session
    session.db.close()


def test_manage_on_a_host_runs_vms_but_does_not_change_the_host(cloud: Cloud, bob: Session):
    before = store_snapshot(cloud.admin.db)
    for attempt in (
        lambda: hosts.update(bob, "sim0", 'URI = "qemu+ext:///system?command=/tmp/x"'),
        lambda: hosts.disable(bob, "sim0"),
        lambda: hosts.enable(bob, "sim0"),
        lambda: hosts.ensure(bob, "sim0", state="disabled"),
        lambda: monitor.poll_now(bob, cloud.instance.monitor_config()),
    ):
        with pytest.raises(AuthorizationError, match=r"ADMIN HOST \[0\]"):
            attempt()
    assert store_snapshot(cloud.admin.db) == before
    tpl = templates.create(bob, 'NAME = "mine"\nCPU = 0.1\nMEMORY = 32\n')
    vm = templates.instantiate(bob, tpl["ID"], 1)[0]
    assert [o.error for o in cloud.schedule([vm["ID"]])] == [None]
    assert cloud.guest_state(0, vm["ID"]) == "running"  # MANAGE is enough for that


@pytest.mark.parametrize(
    ("text", "attribute"),
    [
        ('RAW = [ TYPE = "kvm", DATA = "<devices/>" ]', "RAW"),
        ('DISK = [ SOURCE = "/etc/shadow" ]', "DISK/SOURCE"),
        ('NIC = [ BRIDGE = "br-admin" ]', "NIC/BRIDGE"),
        ('NIC = [ MAC = "02:00:00:00:00:01" ]', "NIC/MAC"),
        ('CONTEXT = [ CONTEXT_ISO = "/etc/shadow" ]', "CONTEXT/CONTEXT_ISO"),
    ],
)
def test_restricted_attributes_are_refused_to_users(cloud: Cloud, bob: Session, text, attribute):
    body = f'NAME = "t"\nCPU = 0.1\nMEMORY = 32\n{text}\n'
    plain = templates.create(bob, 'NAME = "plain"\nCPU = 0.1\nMEMORY = 32\n')
    before = store_snapshot(cloud.admin.db)
    for attempt in (
        lambda: templates.create(bob, body),
        lambda: vms.create(bob, body),
        lambda: templates.instantiate(bob, plain["ID"], 1, extra=text),
        lambda: templates.update(bob, plain["ID"], text, append=True),
    ):
        with pytest.raises(AuthorizationError, match=f"restricted attributes \\({attribute}"):
            attempt()
    assert store_snapshot(cloud.admin.db) == before


def test_an_admins_template_may_hold_them_and_users_instantiate_it(cloud: Cloud, bob: Session):
    tpl = templates.create(
        cloud.admin, 'NAME = "raw"\nCPU = 0.1\nMEMORY = 32\nRAW = [ TYPE = "kvm", DATA = "" ]\n'
    )
    templates.objects.chmod(cloud.admin, templates.schema.TEMPLATES, tpl["ID"], "604")
    vm = templates.instantiate(bob, tpl["ID"], 1)[0]
    assert vm["TEMPLATE"]["RAW"]["TYPE"] == "kvm"


def test_only_admins_register_images_by_path(cloud: Cloud, bob: Session):
    with pytest.raises(AuthorizationError, match="register an image by PATH"):
        images.create(bob, {"NAME": "shadow", "PATH": "/etc/shadow"})
    assert images.create(cloud.admin, {"NAME": "disk", "PATH": "/var/tmp/disk.img"})["ID"] == 0


def test_deploy_by_hand_needs_manage_on_the_host(cloud: Cloud):
    carol = users.create(cloud.admin, "carol", "carol-pw")
    acls.create(cloud.admin, f"#{carol['ID']} VM/* ADMIN")
    session = cloud.instance.session("carol", "carol-pw")
    tpl = templates.create(cloud.admin, 'NAME = "t"\nCPU = 0.1\nMEMORY = 32\n')
    vm = templates.instantiate(cloud.admin, tpl["ID"], 1, hold=True)[0]
    with pytest.raises(AuthorizationError, match=r"MANAGE HOST \[1\]"):
        lifecycle.authorize_deploy(session, vm["ID"], "sim1")
    session.db.close()


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
def test_non_finite_numbers_are_refused(cloud: Cloud, value):
    with pytest.raises(InvalidInput, match="CPU must be a positive number"):
        templates.create(cloud.admin, f'NAME = "t"\nCPU = "{value}"\nMEMORY = 32\n')

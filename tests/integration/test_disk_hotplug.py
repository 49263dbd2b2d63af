"""Disk hot-plug (``onevm disk-attach`` / ``disk-detach``) as a user types it, on the
simulated libvirt hosts (both backends): what the command says, what ``onevm show``
shows, and the guest's devices read from libvirt itself. Every refusal leaves the store
exactly as it was; a hypervisor's failure leaves the VM RUNNING with the reason in
ERROR and its DISKs as the guest has them. (A real QEMU guest's hot-plug is in
``test_qemu_vms.py``.)"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import Cloud, store_snapshot
from support.cli import assert_error, assert_refused, login_as

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    ImageState,
    Lcm,
    VmState,
)
from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import DriverError
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls, images, users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, templates, vms

OS = 'NAME = "os"\nPATH = "/var/lib/images/os.qcow2"\nTYPE = "OS"\n'
DATA = 'NAME = "data"\nPATH = "/var/lib/images/data.img"\nTYPE = "DATABLOCK"\n'
ISO = 'NAME = "tools"\nPATH = "/isos/tools.iso"\nTYPE = "CDROM"\n'
VM = (
    'NAME = "web"\nCPU = 0.1\nMEMORY = 32\n'
    'DISK = [ IMAGE = "os" ]\nDISK = [ IMAGE = "tools" ]\n'
    'SCHED_REQUIREMENTS = "NAME = \\"sim0\\""\n'
)


@pytest.fixture
def web(cloud: Cloud) -> int:
    """VM "web" RUNNING on sim0 with its OS disk (DISK 0, vda) and a CD-ROM (DISK 1)."""
    for text in (OS, DATA, ISO):
        images.create(cloud.admin, text)
    tpl = templates.create(cloud.admin, VM)
    (vm,) = templates.instantiate(cloud.admin, tpl["ID"], 1)
    assert [o.error for o in cloud.schedule([vm["ID"]])] == [None]
    assert state(cloud, vm["ID"]) == "RUNNING"
    return vm["ID"]


def state(cloud: Cloud, vm_id: int) -> str:
    body = vms.show(cloud.admin, vm_id)
    if body["STATE"] == VmState.ACTIVE:
        return Lcm(body["LCM_STATE"]).name
    return VmState(body["STATE"]).name


def guest_disks(cloud: Cloud, vm_id: int, host: int = 0) -> dict[str, str]:
    """{target: source} of the guest's disks, from its host's libvirt."""
    xml = ET.fromstring(cloud.sims[host].hold.lookupByName(f"one-{vm_id}").XMLDesc())
    return {
        disk.find("target").get("dev"): disk.find("source").get("file") for disk in xml.iter("disk")
    }


def stored_disks(cloud: Cloud, vm_id: int) -> list[dict]:
    return template.as_list(vms.show(cloud.admin, vm_id)["TEMPLATE"], "DISK")


def show_template(cli, vm_id: int, env: dict | None = None) -> str:
    out = cli("onevm", "show", str(vm_id), env=env, check=True).stdout
    return out.split("VIRTUAL MACHINE TEMPLATE\n")[1]


def test_attach_and_detach_a_datablock_through_the_cli(cloud: Cloud, cli, web: int):
    before = guest_disks(cloud, web)
    assert before == {
        "vda": "/var/lib/images/os.qcow2",
        "hda": "/isos/tools.iso",
    }
    result = cli("onevm", "disk-attach", str(web), "--image", "data")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert state(cloud, web) == "RUNNING"
    assert guest_disks(cloud, web) == {**before, "vdb": "/var/lib/images/data.img"}
    # every DISK is numbered and keeps the device it has in the guest
    assert [(d["DISK_ID"], d["TARGET"], d["IMAGE"]) for d in stored_disks(cloud, web)] == [
        ("0", "vda", "os"),
        ("1", "hda", "tools"),
        ("2", "vdb", "data"),
    ]
    assert (
        'DISK = [\n  IMAGE = "data",\n  SOURCE = "/var/lib/images/data.img",\n'
        '  IMAGE_ID = "1",\n  DISK_ID = "2",\n  TARGET = "vdb" ]\n'
    ) in show_template(cli, web)

    # a second one, on a bus of the user's choice
    assert cli("onevm", "disk-attach", str(web), "--image", "1", "--target", "sdc").returncode == 0
    assert guest_disks(cloud, web)["sdc"] == "/var/lib/images/data.img"
    dom = ET.fromstring(cloud.sims[0].hold.lookupByName(f"one-{web}").XMLDesc())
    buses = {d.find("target").get("dev"): d.find("target").get("bus") for d in dom.iter("disk")}
    assert buses["sdc"] == "scsi" and buses["vdb"] == "virtio"

    result = cli("onevm", "disk-detach", str(web), "2")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert "vdb" not in guest_disks(cloud, web)
    assert [d["DISK_ID"] for d in stored_disks(cloud, web)] == ["0", "1", "3"]
    assert 'DISK_ID = "2"' not in show_template(cli, web)
    assert state(cloud, web) == "RUNNING"
    assert "ERROR" not in vms.show(cloud.admin, web)["USER_TEMPLATE"]

    # the store is the VM's definition: a power cycle brings back the same devices
    lifecycle.act(cloud.admin, [web], "poweroff-hard")
    lifecycle.act(cloud.admin, [web], "resume")
    assert state(cloud, web) == "RUNNING"
    assert guest_disks(cloud, web) == {**before, "sdc": "/var/lib/images/data.img"}


def test_refusals_name_the_problem_and_change_nothing(cloud: Cloud, cli, web: int):
    db = cloud.admin.db
    for args, needles in (
        (("--image", "data", "--target", "vda"), ("TARGET vda is already used by disk 0",)),
        (("--image", "data", "--target", "hda"), ("TARGET hda is already used by disk 1",)),
        (("--image", "data", "--target", "xvdb"), ("TARGET must be a device name", "'xvdb'")),
        (("--image", "nothing"), ("image named 'nothing' does not exist",)),
        (("--image", "77"), ("image 77 does not exist",)),
        (("--image", "tools"), ("image tools is a CDROM image",)),
    ):
        assert_refused(cli, db, ("onevm", "disk-attach", str(web), *args), *needles)
    assert_refused(cli, db, ("onevm", "disk-attach", "99", "--image", "data"), "VM 99 does not")
    for disk_id, needles in (
        ("0", ("disk 0 is VM", "boot disk")),
        ("1", ("disk 1 (image tools)", "is a CD-ROM")),
        ("7", (f"VM {web} has no disk 7", "DISK_IDs: 0, 1")),
        ("x", ("disk id must be a whole number", "'x'")),
    ):
        assert_refused(cli, db, ("onevm", "disk-detach", str(web), disk_id), *needles)
    assert_refused(cli, db, ("onevm", "disk-detach", "99", "1"), "VM 99 does not exist")

    # only RUNNING and POWEROFF VMs take a disk
    lifecycle.act(cloud.admin, [web], "suspend")
    assert_refused(
        cli,
        db,
        ("onevm", "disk-attach", str(web), "--image", "data"),
        f"cannot disk-attach VM {web} (web-{web}): it is SUSPENDED; disk-attach needs RUNNING or "
        "POWEROFF",
    )
    assert_refused(cli, db, ("onevm", "disk-detach", str(web), "1"), "it is SUSPENDED")
    assert guest_disks(cloud, web) == {
        "vda": "/var/lib/images/os.qcow2",
        "hda": "/isos/tools.iso",
    }


def test_a_hypervisor_failure_leaves_no_disk_behind(cloud: Cloud, cli, web: int):
    """The guest vanished behind onekit's back: the attach fails in libvirt, and the VM is
    RUNNING again with libvirt's reason in ERROR and the DISKs it had."""
    disks_before = stored_disks(cloud, web)
    cloud.sims[0].hold.lookupByName(f"one-{web}").destroy()
    result = cli("onevm", "disk-attach", str(web), "--image", "data")
    line = assert_error(result, "onevm", "disk-attach", f"VM {web}: disk-attach:", f"one-{web}")
    body = vms.show(cloud.admin, web)
    assert state(cloud, web) == "RUNNING"
    assert stored_disks(cloud, web) == disks_before
    error = body["USER_TEMPLATE"]["ERROR"]["MESSAGE"]
    assert error.startswith("attach /var/lib/images/data.img as vdb")
    assert "HOTPLUG_DISK" not in body and "PREV_STATE" not in body
    assert line.endswith(error)


def test_a_failed_detach_keeps_the_disk(cloud: Cloud, web: int):
    lifecycle.disk_attach(cloud.admin, web, "data")
    cloud.sims[0].hold.lookupByName(f"one-{web}").destroy()
    with pytest.raises(DriverError, match=f"VM {web}: disk-detach: detach vdb from one-{web}"):
        lifecycle.disk_detach(cloud.admin, web, 2)
    body = vms.show(cloud.admin, web)
    assert (state(cloud, web), [d["DISK_ID"] for d in stored_disks(cloud, web)]) == (
        "RUNNING",
        ["0", "1", "2"],
    )
    assert "detach vdb" in body["USER_TEMPLATE"]["ERROR"]["MESSAGE"]


def test_a_poweroff_vm_gets_the_disk_at_its_next_boot(cloud: Cloud, cli, web: int):
    lifecycle.act(cloud.admin, [web], "poweroff-hard")
    assert cli("onevm", "disk-attach", str(web), "--image", "data").returncode == 0
    assert state(cloud, web) == "POWEROFF"
    assert stored_disks(cloud, web)[-1]["TARGET"] == "vdb"
    lifecycle.act(cloud.admin, [web], "resume")
    assert guest_disks(cloud, web)["vdb"] == "/var/lib/images/data.img"
    lifecycle.act(cloud.admin, [web], "poweroff-hard")
    assert cli("onevm", "disk-detach", str(web), "2").returncode == 0
    lifecycle.act(cloud.admin, [web], "resume")
    assert "vdb" not in guest_disks(cloud, web)


def test_a_user_needs_use_on_the_image_and_manage_on_the_vm(
    cloud: Cloud, cli, web: int, tmp_path: Path
):
    """Bob owns a VM; the image is oneadmin's: without USE on it he is refused, with it
    (chmod 604) he attaches. Carol, who does not own Bob's VM, is refused too."""
    bob = users.create(cloud.admin, "bob", "bob-pw")
    users.create(cloud.admin, "carol", "carol-pw")
    acls.create(cloud.admin, f"#{bob['ID']} HOST/#0 MANAGE")
    objects.chmod(cloud.admin, schema.IMAGES, "os", "604")
    bob_session = cloud.instance.session("bob", "bob-pw")
    try:
        vm = vms.create(bob_session, VM.replace('DISK = [ IMAGE = "tools" ]\n', ""))
    finally:
        bob_session.db.close()
    vm_id = vm["ID"]
    cloud.schedule([vm_id])
    assert state(cloud, vm_id) == "RUNNING"
    as_bob = login_as(tmp_path, "bob", "bob-pw")
    as_carol = login_as(tmp_path, "carol", "carol-pw")
    db = cloud.admin.db
    assert_refused(
        cli,
        db,
        ("onevm", "disk-attach", str(vm_id), "--image", "data"),
        "not authorized",
        "USE",
        env=as_bob,
    )
    objects.chmod(cloud.admin, schema.IMAGES, "data", "604")
    assert_refused(
        cli,
        db,
        ("onevm", "disk-attach", str(vm_id), "--image", "data"),
        "not authorized",
        "MANAGE",
        env=as_carol,
    )
    assert cli("onevm", "disk-attach", str(vm_id), "--image", "data", env=as_bob).returncode == 0
    assert "vdb" in guest_disks(cloud, vm_id)
    assert_refused(
        cli, db, ("onevm", "disk-detach", str(vm_id), "1"), "not authorized", env=as_carol
    )
    assert cli("onevm", "disk-detach", str(vm_id), "1", env=as_bob).returncode == 0
    assert "vdb" not in guest_disks(cloud, vm_id)


def test_user_text_is_data(cloud: Cloud, cli, web: int):
    """An image's name and path reach the template and the guest verbatim."""
    text = 'NAME = "{{7*7}}"\nPATH = "/srv/{{ 7*7 }} $(id).img"\nTYPE = "DATABLOCK"\n'
    images.create(cloud.admin, text)
    assert cli("onevm", "disk-attach", str(web), "--image", "{{7*7}}").returncode == 0
    disk = stored_disks(cloud, web)[-1]
    assert (disk["IMAGE"], disk["SOURCE"]) == ("{{7*7}}", "/srv/{{ 7*7 }} $(id).img")
    assert guest_disks(cloud, web)["vdb"] == "/srv/{{ 7*7 }} $(id).img"
    assert '  IMAGE = "{{7*7}}",' in show_template(cli, web).splitlines()


def test_core_refusals_raise_the_core_errors(cloud: Cloud, web: int):
    before = store_snapshot(cloud.admin.db)
    with pytest.raises(NotFound, match="image named 'nope' does not exist"):
        lifecycle.disk_attach(cloud.admin, web, "nope")
    with pytest.raises(NotFound, match="VM 404 does not exist"):
        lifecycle.disk_detach(cloud.admin, 404, 1)
    assert lifecycle.disk_attach(cloud.admin, web, "data", dry_run=True)["STATE"] == VmState.ACTIVE
    assert store_snapshot(cloud.admin.db) == before
    with cloud.admin.write() as w:  # a VM stuck in HOTPLUG is decided by hand
        body = pool.get(w.tx, schema.VMS, web, lock=True)
        vms.set_state(body, VmState.ACTIVE, Lcm.HOTPLUG)
        pool.update(w.tx, schema.VMS, body)
    users.create(cloud.admin, "bob2", "pw")
    session = cloud.instance.session("bob2", "pw")
    try:
        with pytest.raises(AuthorizationError):
            lifecycle.disk_attach(session, web, "data")
    finally:
        session.db.close()
    assert lifecycle.recover(cloud.admin, web, operation="failure")["LCM_STATE"] == Lcm.RUNNING


def interrupted_attach(cloud: Cloud, vm_id: int, image: str, target: str) -> None:
    """What a process killed between phase 1 and the driver call leaves: the VM in
    HOTPLUG with the change it waits for, the template and the guest unchanged."""
    with cloud.admin.write() as w:
        body = pool.get(w.tx, schema.VMS, vm_id, lock=True)
        disk = {**images.resolve_disk(w, {"IMAGE": image}), "DISK_ID": "2", "TARGET": target}
        body["PREV_STATE"] = [body["STATE"], body["LCM_STATE"]]
        vms.set_state(body, VmState.ACTIVE, Lcm.HOTPLUG)
        body["TRANSIENT_SINCE"] = 1.0  # long ago
        body["TRANSIENT_ACTION"] = "disk-attach"
        body["HOTPLUG_DISK"] = {"ATTACH": disk}
        pool.update(w.tx, schema.VMS, body)


def test_an_interrupted_hotplug_is_retried_by_hand(cloud: Cloud, cli, web: int):
    interrupted_attach(cloud, web, "data", "vdc")
    assert "vdc" not in guest_disks(cloud, web)
    assert cli("onevm", "recover", str(web), "--retry").returncode == 0
    assert guest_disks(cloud, web)["vdc"] == "/var/lib/images/data.img"
    body = vms.show(cloud.admin, web)
    assert state(cloud, web) == "RUNNING" and "HOTPLUG_DISK" not in body
    assert [(d["DISK_ID"], d["TARGET"]) for d in stored_disks(cloud, web)][-1] == ("2", "vdc")


def test_the_reconciler_fails_an_abandoned_hotplug(cloud: Cloud, web: int):
    """A guest's state says nothing of its disks: past the grace, the HOTPLUG is a
    failure and the template stays as it was."""
    before = stored_disks(cloud, web)
    interrupted_attach(cloud, web, "data", "vdc")
    cloud.monitor(grace=0)
    body = vms.show(cloud.admin, web)
    assert state(cloud, web) == "RUNNING"
    assert stored_disks(cloud, web) == before and "HOTPLUG_DISK" not in body
    assert "HOTPLUG did not finish" in body["USER_TEMPLATE"]["ERROR"]["MESSAGE"]


def test_a_persistent_image_is_held_by_one_vm_at_a_time(cloud: Cloud, cli, web: int):
    """The VM takes the image when the attach is planned and gives it back when the disk
    leaves or the attach fails, so a persistent image is in one guest at most."""
    images.create(
        cloud.admin,
        'NAME = "pers"\nPATH = "/var/lib/images/pers.img"\nTYPE = "DATABLOCK"\n'
        'PERSISTENT = "YES"\n',
    )
    (other,) = templates.instantiate(cloud.admin, templates.show(cloud.admin, "web")["ID"], 1)
    cloud.schedule([other["ID"]])
    other_id = other["ID"]
    assert state(cloud, other_id) == "RUNNING"

    def image() -> dict:
        return objects.show(cloud.admin, schema.IMAGES, "pers")

    assert cli("onevm", "disk-attach", str(web), "--image", "pers").returncode == 0
    assert (image()["STATE"], image()["VMS"]) == (ImageState.USED_PERS, [web])
    assert_refused(
        cli,
        cloud.admin.db,
        ("onevm", "disk-attach", str(other_id), "--image", "pers"),
        f"image pers is persistent and already used by VM {web}",
    )
    assert cli("onevm", "disk-detach", str(web), "2").returncode == 0
    assert (image()["STATE"], image()["VMS"]) == (ImageState.READY, [])

    # an attach the hypervisor fails gives the image back
    cloud.sims[0].hold.lookupByName(f"one-{other_id}").destroy()
    assert cli("onevm", "disk-attach", str(other_id), "--image", "pers").returncode == 1
    assert (image()["STATE"], image()["VMS"]) == (ImageState.READY, [])
    assert cli("onevm", "disk-attach", str(web), "--image", "pers").returncode == 0
    assert guest_disks(cloud, web)["vdb"] == "/var/lib/images/pers.img"

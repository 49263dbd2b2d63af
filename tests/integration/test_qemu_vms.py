"""Real QEMU/KVM guests through onekit: three diskless 32 MiB VMs on qemu:///system,
taken through the life cycle with every state read back from libvirt itself."""

from __future__ import annotations

import random

import libvirt
import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import Lcm, VmState
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import (
    lifecycle,
    monitor,
    scheduler,
    templates,
    vms,
)

URI = "qemu:///system"
STATES = {
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
}


@pytest.fixture
def qemu(tmp_path):
    """An SQLite instance with host kvm0 = this machine's QEMU. VM ids start at a random
    high number so parallel test workers never name the same guest; every guest left
    over is destroyed at the end."""
    instance = Instance(tmp_path / "onekit")
    instance.init()
    admin = instance.session()
    base = random.randrange(100_000, 900_000, 1000)
    with admin.db.transaction() as tx:
        tx.execute("UPDATE pool_control SET last_oid = ? WHERE tablename = 'vm_pool'", (base,))
    hosts.create(admin, "kvm0", uri=URI)
    monitor.cycle(Session.system(admin.db), instance.monitor_config())
    watcher = libvirt.open(URI)  # a connection of the test's own, not onekit's
    yield instance, admin, watcher, base
    for dom in watcher.listAllDomains():
        name = dom.name()
        if name.startswith("one-") and base < int(name[4:]) < base + 1000:
            dom.destroy()
    watcher.close()
    admin.db.close()


def guest(watcher: libvirt.virConnect, vm_id: int) -> str:
    try:
        return STATES.get(watcher.lookupByName(f"one-{vm_id}").state()[0], "other")
    except libvirt.libvirtError:
        return "missing"


def test_three_qemu_guests_through_the_life_cycle(qemu):
    instance, admin, watcher, base = qemu
    assert hosts.show(admin, "kvm0")["STATE"] == 2  # MONITORED: QEMU answers
    tpl = templates.create(admin, 'NAME = "diskless"\nCPU = 0.1\nMEMORY = 32\n')
    made = templates.instantiate(admin, tpl["ID"], 3)
    ids = [vm["ID"] for vm in made]
    assert ids == [base + 1, base + 2, base + 3]
    outcomes = scheduler.schedule(admin, instance.sched_config(), ids)
    assert [o.error for o in outcomes] == [None, None, None]
    assert [guest(watcher, i) for i in ids] == ["running"] * 3
    domain = watcher.lookupByName(f"one-{ids[0]}")
    assert domain.maxMemory() == 32 * 1024 and domain.info()[3] == 1  # MEMORY, VCPU

    lifecycle.act(admin, ids, "suspend")
    assert [guest(watcher, i) for i in ids] == ["paused"] * 3
    assert {vms.show(admin, i)["STATE"] for i in ids} == {VmState.SUSPENDED}

    lifecycle.act(admin, ids, "resume")
    assert [guest(watcher, i) for i in ids] == ["running"] * 3

    before = watcher.lookupByName(f"one-{ids[1]}").ID()
    assert lifecycle.act(admin, [ids[1]], "reboot-hard")[0].error is None
    assert guest(watcher, ids[1]) == "running"
    assert watcher.lookupByName(f"one-{ids[1]}").ID() == before  # reset, not re-created

    lifecycle.act(admin, ids, "shutdown-hard")
    assert [guest(watcher, i) for i in ids] == ["missing"] * 3
    done = [vms.show(admin, i) for i in ids]
    assert {(v["STATE"], v["LCM_STATE"]) for v in done} == {(VmState.DONE, Lcm.LCM_INIT)}
    assert hosts.show(admin, "kvm0")["HOST_SHARE"]["RUNNING_VMS"] == 0
    assert all(v["HISTORY_RECORDS"][-1]["ETIME"] > 0 for v in done)


def test_a_qemu_guest_gets_its_context_cdrom_with_its_token(qemu):
    """The guide's context CD-ROM on a real QEMU domain: an ISO 9660 image holding
    context.sh and token.txt, staged as a volume of the host's pool (QEMU cannot read the
    instance's private copy) and attached as hdb; it stays through a power cycle and is
    removed once the VM is DONE."""
    import xml.etree.ElementTree as ET

    from ansible_collections.onekit.cloud.plugins.module_utils.drivers import context_volumes
    from ansible_collections.onekit.cloud.plugins.module_utils.gate import tokens
    from ansible_collections.onekit.cloud.plugins.module_utils.vm import context as context_cd

    instance, admin, watcher, _base = qemu
    tpl = templates.create(
        admin, 'NAME = "ctx"\nCPU = 0.1\nMEMORY = 32\nCONTEXT = [ TOKEN = "YES", APP = "web" ]\n'
    )
    (vm,) = templates.instantiate(admin, tpl["ID"], 1)
    assert [o.error for o in scheduler.schedule(admin, instance.sched_config(), [vm["ID"]])] == [
        None
    ]
    assert guest(watcher, vm["ID"]) == "running"

    def cdrom_source() -> str:
        xml = ET.fromstring(watcher.lookupByName(f"one-{vm['ID']}").XMLDesc())
        (cdrom,) = [d for d in xml.iter("disk") if d.get("device") == "cdrom"]
        assert cdrom.find("target").get("dev") == "hdb"
        return cdrom.find("source").get("file")

    volume = watcher.storagePoolLookupByName(context_volumes.POOL).storageVolLookupByName(
        f"one-{vm['ID']}-context.iso"
    )
    assert cdrom_source() == volume.path()
    files = context_cd.read_iso(volume.path())
    assert "APP='web'" in files["context.sh"] and "TOKEN='YES'" in files["context.sh"]
    assert files["token.txt"].strip() == tokens.token(
        instance.gate_secret(), vms.show(admin, vm["ID"])
    )
    kept = instance.var / "context" / str(vm["ID"]) / "context.iso"
    assert context_cd.read_iso(kept) == files  # the instance keeps its own copy

    assert lifecycle.act(admin, [vm["ID"]], "poweroff-hard")[0].error is None
    assert lifecycle.act(admin, [vm["ID"]], "resume")[0].error is None
    assert guest(watcher, vm["ID"]) == "running"
    assert cdrom_source() == volume.path()

    lifecycle.act(admin, [vm["ID"]], "shutdown-hard")
    assert guest(watcher, vm["ID"]) == "missing"
    pool = watcher.storagePoolLookupByName(context_volumes.POOL)
    pool.refresh(0)
    assert f"one-{vm['ID']}-context.iso" not in pool.listVolumes()


def test_a_raw_file_is_hot_plugged_into_a_qemu_guest_and_out_again(qemu, tmp_path):
    """disk-attach/disk-detach on a real QEMU domain, read back from libvirt: a raw
    DATABLOCK on the SCSI bus comes and goes at once. A virtio disk also comes at once,
    but leaves only when the guest OS acknowledges it (ACPI hot-plug); this diskless
    guest idles in SeaBIOS and never does, so its detach fails with that reason, the VM
    RUNNING and the DISK kept, as the guest still has it."""
    import os
    import xml.etree.ElementTree as ET

    from ansible_collections.onekit.cloud.plugins.module_utils.core import template
    from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import DriverError
    from ansible_collections.onekit.cloud.plugins.module_utils.objects import images

    instance, admin, watcher, base = qemu
    # QEMU runs as another user on some hosts: the files go where it may read them
    files = [f"/var/tmp/onekit-hotplug-{base}-{n}.raw" for n in (1, 2)]
    for n, path in enumerate(files):
        with open(path, "wb") as handle:
            handle.truncate(8 * 1024 * 1024)
        os.chmod(path, 0o666)
        images.create(admin, f'NAME = "data{n}"\nPATH = "{path}"\nTYPE = "DATABLOCK"\n')
    try:
        tpl = templates.create(admin, 'NAME = "plug"\nCPU = 0.1\nMEMORY = 32\n')
        (vm,) = templates.instantiate(admin, tpl["ID"], 1)
        assert [
            o.error for o in scheduler.schedule(admin, instance.sched_config(), [vm["ID"]])
        ] == [None]

        def disks() -> dict[str, tuple[str | None, str | None]]:
            xml = ET.fromstring(watcher.lookupByName(f"one-{vm['ID']}").XMLDesc())
            return {
                d.find("target").get("dev"): (
                    d.find("target").get("bus"),
                    d.find("source").get("file"),
                )
                for d in xml.iter("disk")
            }

        assert disks() == {}
        body = lifecycle.disk_attach(admin, vm["ID"], "data0", target="sda")
        assert disks() == {"sda": ("scsi", files[0])}
        assert [
            (d["DISK_ID"], d["TARGET"]) for d in template.as_list(body["TEMPLATE"], "DISK")
        ] == [("1", "sda")]
        lifecycle.disk_detach(admin, vm["ID"], 1)
        assert disks() == {}
        assert "DISK" not in vms.show(admin, vm["ID"])["TEMPLATE"]

        body = lifecycle.disk_attach(admin, vm["ID"], "data1")  # the default bus: virtio
        assert disks() == {"vda": ("virtio", files[1])}
        (disk,) = template.as_list(body["TEMPLATE"], "DISK")
        with pytest.raises(DriverError, match="the guest has not released the disk"):
            lifecycle.disk_detach(admin, vm["ID"], disk["DISK_ID"])
        after = vms.show(admin, vm["ID"])
        assert (after["STATE"], after["LCM_STATE"]) == (VmState.ACTIVE, Lcm.RUNNING)
        assert template.as_list(after["TEMPLATE"], "DISK")[0]["TARGET"] == "vda"
        assert "has not released" in after["USER_TEMPLATE"]["ERROR"]["MESSAGE"]
        assert guest(watcher, vm["ID"]) == "running"
    finally:
        for path in files:
            os.remove(path)

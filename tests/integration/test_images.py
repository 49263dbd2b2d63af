"""The image datastore: uploads, empty DATABLOCKs, clones, persistent images and 4.6's image
states, through the core (both backends) and ``oneimage`` as a user types it.

What a user sees is checked: the image's body (STATE, SIZE, PERSISTENT, RUNNING_VMS), the
file in ``$ONEKIT_HOME/var/datastores/1/`` (its bytes, its mode, its sparseness), the VMs'
disks and, for a deployed VM, the guest's disk in libvirt. A refusal leaves no row and no
file behind.
"""

from __future__ import annotations

import io
import os
import re
import stat
from pathlib import Path

import pytest
from conftest import store_snapshot
from support.cli import assert_error, assert_refused, created_id, login_as

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    Conflict,
    InvalidInput,
    OneError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import ImageState
from ansible_collections.onekit.cloud.plugins.module_utils.objects import images, users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, templates

MB = 1024 * 1024
VM = 'NAME = "{name}"\nCPU = 0.1\nMEMORY = 32\nDISK = [ IMAGE_ID = "{image}" ]\n'


# ---- helpers --------------------------------------------------------------------------------
def datastore(instance) -> Path:
    return instance.home / "var" / "datastores" / "1"


def files(instance) -> list[str]:
    path = datastore(instance)
    return sorted(os.listdir(path)) if path.exists() else []


def login(instance, admin: Session, name: str) -> Session:
    """A new user of the users group (the default ACLs let it create images and VMs)."""
    users.create(admin, name, f"pw-{name}")
    return instance.session(name, f"pw-{name}")


def image(session: Session, ref) -> dict:
    return objects.show(session, schema.IMAGES, ref)


def run_vm(session: Session, name: str, image_id: int) -> int:
    """A VM (PENDING: no host here) whose disk is the image."""
    tpl = templates.create(session, VM.format(name=name, image=image_id))
    return templates.instantiate(session, tpl["ID"], 1)[0]["ID"]


def delete_vm(session: Session, vm_id: int) -> None:
    assert [o.error for o in lifecycle.act(session, [vm_id], "delete")] == [None]


class Watched(io.RawIOBase):
    """An upload stream that runs ``during`` once, after its first chunk was read: what
    another user sees while the copy runs. ``fail`` makes the second read fail, as a
    broken connection would."""

    def __init__(self, data: bytes, during=None, fail: bool = False):
        self.data, self.at, self.during, self.fail = data, 0, during, fail
        self.seen: list = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.at and self.during is not None:
            self.seen.append(self.during())
            self.during = None
        if self.at and self.fail:
            raise OSError(5, "Input/output error")
        chunk = self.data[self.at : self.at + (size if size >= 0 else len(self.data))]
        self.at += len(chunk)
        return chunk


# ---- uploads --------------------------------------------------------------------------------
def test_a_user_uploads_an_image_locked_while_copied(instance, admin):
    alice = login(instance, admin, "alice")
    data = os.urandom(3 * MB + 5)
    stream = Watched(data, during=lambda: image(admin, "gentoo")["STATE"])
    body = images.upload(alice, "gentoo", stream, description="{{ 7*7 }}")
    assert stream.seen == [ImageState.LOCKED]  # while its bytes were copied
    shown = image(alice, "gentoo")
    assert shown == body
    assert (shown["UNAME"], shown["TYPE"], shown["STATE"]) == ("alice", "OS", ImageState.READY)
    assert (shown["SIZE"], shown["PERSISTENT"], shown["RUNNING_VMS"]) == (4, 0, 0)
    assert (shown["DATASTORE_ID"], shown["DATASTORE"]) == (1, "default")
    assert shown["TEMPLATE"]["DESCRIPTION"] == "{{ 7*7 }}"
    source = Path(shown["SOURCE"])
    assert source.parent == datastore(instance)
    assert re.fullmatch(r"[0-9a-f]{32}", source.name)  # no text of the user's
    assert source.read_bytes() == data
    assert stat.S_IMODE(source.stat().st_mode) == 0o600
    assert stat.S_IMODE(source.parent.stat().st_mode) == 0o700


def test_a_failed_upload_leaves_no_image_and_no_file(instance, admin):
    alice = login(instance, admin, "alice")
    with pytest.raises(OneError, match="cannot write the image file: Input/output error"):
        images.upload(alice, "broken", Watched(os.urandom(2 * MB), fail=True))
    assert objects.list_visible(admin, schema.IMAGES) == []
    assert files(instance) == []
    # a taken name is refused before anything is copied
    images.upload(alice, "taken", io.BytesIO(b"disk"))
    before = store_snapshot(admin.db)
    with pytest.raises(Conflict, match="NAME 'taken' is already taken"):
        images.upload(alice, "taken", io.BytesIO(b"other"))
    with pytest.raises(InvalidInput, match="image TYPE 'TAPE' is unknown"):
        images.upload(alice, "tape", io.BytesIO(b"x"), type="TAPE")
    with pytest.raises(InvalidInput, match="datastore '7' does not exist"):
        images.upload(alice, "far", io.BytesIO(b"x"), datastore=7)
    assert store_snapshot(admin.db) == before
    assert len(files(instance)) == 1


def test_an_image_being_copied_cannot_be_used_nor_survive_its_deletion(instance, admin):
    alice = login(instance, admin, "alice")

    def use_it() -> str:
        with pytest.raises(Conflict) as err:
            run_vm(alice, "early", 0)
        return str(err.value)

    stream = Watched(os.urandom(2 * MB), during=use_it)
    images.upload(alice, "slow", stream)
    assert "image slow is LOCKED: its file is being copied" in stream.seen[0]

    stream = Watched(os.urandom(2 * MB), during=lambda: images.delete(alice, "gone"))
    with pytest.raises(Conflict, match="image gone was deleted while its file was copied"):
        images.upload(alice, "gone", stream)
    assert [i["NAME"] for i in objects.list_visible(admin, schema.IMAGES)] == ["slow"]
    assert files(instance) == [Path(image(admin, "slow")["SOURCE"]).name]


# ---- empty DATABLOCKs -----------------------------------------------------------------------
def test_a_user_makes_an_empty_datablock(instance, admin):
    alice = login(instance, admin, "alice")
    tpl = 'NAME = "data"\nTYPE = "DATABLOCK"\nSIZE = "2048"\nFSTYPE = "ext3"\nPERSISTENT = "YES"\n'
    body = images.create(alice, tpl + 'DESCRIPTION = "{{ 7*7 }}"\n')
    assert (body["TYPE"], body["SIZE"], body["FSTYPE"], body["PERSISTENT"]) == (
        "DATABLOCK",
        2048,
        "ext3",
        1,
    )
    assert (body["STATE"], body["TEMPLATE"]["DESCRIPTION"]) == (ImageState.READY, "{{ 7*7 }}")
    source = Path(body["SOURCE"])
    assert source.stat().st_size == 2048 * MB
    assert source.stat().st_blocks == 0  # sparse: it takes no room until written


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ("0", "image SIZE must be a whole number of MB from 1 to 16777216 (16 TiB), got '0'"),
        ("-1", "got '-1'"),
        ("abc", "got 'abc'"),
        ("16777217", "got '16777217'"),
        ("1.5", "got '1.5'"),
        (None, "a DATABLOCK without PATH needs SIZE, in MB"),
    ],
)
def test_a_datablock_size_out_of_bounds_is_refused(instance, admin, size, message):
    alice = login(instance, admin, "alice")
    tpl = {"NAME": "data", "TYPE": "DATABLOCK", **({"SIZE": size} if size else {})}
    before = store_snapshot(admin.db)
    with pytest.raises(InvalidInput, match=re.escape(message)):
        images.create(alice, tpl)
    with pytest.raises(InvalidInput, match="image FSTYPE 'ntfs' is unknown"):
        images.create(alice, {**tpl, "SIZE": "1", "FSTYPE": "ntfs"})
    assert store_snapshot(admin.db) == before
    assert files(instance) == []


def test_users_cannot_register_a_path_nor_skip_it(instance, admin):
    alice = login(instance, admin, "alice")
    with pytest.raises(AuthorizationError, match=r"register an image by PATH.*upload the file"):
        images.create(alice, {"NAME": "shadow", "PATH": "/etc/shadow"})
    with pytest.raises(InvalidInput, match=r"an image needs PATH .* or TYPE = DATABLOCK with SIZE"):
        images.create(alice, {"NAME": "nothing"})


# ---- states, persistence, VMs ---------------------------------------------------------------
def test_a_persistent_image_is_used_by_one_vm_at_a_time(instance, admin):
    alice = login(instance, admin, "alice")
    disk = images.create(alice, 'NAME = "disk"\nTYPE = "DATABLOCK"\nSIZE = 8\nPERSISTENT = YES\n')
    first = run_vm(alice, "first", disk["ID"])
    used = image(alice, "disk")
    assert (used["STATE"], used["RUNNING_VMS"], used["VMS"]) == (ImageState.USED_PERS, 1, [first])
    vm_disk = lifecycle.vms.show(alice, first)["TEMPLATE"]["DISK"]
    assert (vm_disk["SOURCE"], vm_disk["PERSISTENT"]) == (disk["SOURCE"], "YES")

    tpl = templates.create(alice, VM.format(name="second", image=disk["ID"]))
    before = store_snapshot(admin.db)
    for attempt, message in (
        (lambda: templates.instantiate(alice, tpl["ID"], 1), f"already used by VM {first}"),
        (lambda: images.delete(alice, "disk"), f"image disk is used by VMs {first}"),
        (lambda: images.set_persistent(alice, "disk", False), f"used by VMs {first}"),
        (lambda: images.enable(alice, "disk", False), "is USED_PERS"),
        (lambda: images.clone(alice, "disk", "copy"), f"persistent and used by VM {first}"),
    ):
        with pytest.raises(Conflict, match=message):
            attempt()
    assert store_snapshot(admin.db) == before

    delete_vm(alice, first)  # DONE: the image is given back
    back = image(alice, "disk")
    assert (back["STATE"], back["RUNNING_VMS"], back["VMS"]) == (ImageState.READY, 0, [])
    second = templates.instantiate(alice, tpl["ID"], 1)[0]["ID"]
    assert image(alice, "disk")["VMS"] == [second]


def test_a_non_persistent_image_is_used_by_many_vms(instance, admin):
    alice = login(instance, admin, "alice")
    body = images.upload(alice, "base", io.BytesIO(b"boot"))
    vm_ids = [run_vm(alice, f"vm{i}", body["ID"]) for i in range(2)]
    used = image(alice, "base")
    assert (used["STATE"], used["RUNNING_VMS"], used["VMS"]) == (ImageState.USED, 2, vm_ids)
    delete_vm(alice, vm_ids[0])
    assert (image(alice, "base")["STATE"], image(alice, "base")["VMS"]) == (2, vm_ids[1:])
    delete_vm(alice, vm_ids[1])
    assert (image(alice, "base")["STATE"], image(alice, "base")["RUNNING_VMS"]) == (1, 0)
    images.set_persistent(alice, "base", True)
    assert image(alice, "base")["PERSISTENT"] == 1
    images.set_persistent(alice, "base", False)

    images.enable(alice, "base", False)
    assert image(alice, "base")["STATE"] == ImageState.DISABLED
    with pytest.raises(Conflict, match=r"image base is DISABLED: enable it first"):
        run_vm(alice, "late", body["ID"])
    images.enable(alice, "base")
    assert image(alice, "base")["STATE"] == ImageState.READY

    source = image(alice, "base")["SOURCE"]
    images.delete(alice, "base")  # the datastore's file goes with it
    assert not os.path.exists(source)
    assert files(instance) == []


def test_a_registered_image_is_taken_and_kept_on_delete(instance, admin, tmp_path):
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"x" * (MB + 1))
    body = images.create(admin, {"NAME": "host-disk", "PATH": str(disk)})
    assert (body["SOURCE"], body["PATH"], body["SIZE"], body["STATE"]) == (
        str(disk),
        str(disk),
        2,
        1,
    )
    vm_id = run_vm(admin, "web", body["ID"])
    assert image(admin, "host-disk")["STATE"] == ImageState.USED
    delete_vm(admin, vm_id)
    images.delete(admin, "host-disk")
    assert disk.exists()  # the admin's file is not the datastore's to remove


# ---- clone, update, rights --------------------------------------------------------------------
def test_clone_copies_the_file_for_the_caller(instance, admin):
    alice, bob = login(instance, admin, "alice"), login(instance, admin, "bob")
    data = os.urandom(MB + 17)
    shared = images.upload(alice, "shared", io.BytesIO(data), persistent=True)
    objects.chmod(alice, schema.IMAGES, "shared", "604")  # others may USE it
    copy = images.clone(bob, "shared", "mine")
    assert (copy["UNAME"], copy["STATE"], copy["SIZE"], copy["PERSISTENT"]) == ("bob", 1, 2, 1)
    assert copy["CLONING_ID"] == shared["ID"]
    assert copy["SOURCE"] != shared["SOURCE"]
    assert Path(copy["SOURCE"]).read_bytes() == data
    # USE lets bob clone it, not change or delete it
    before = store_snapshot(admin.db)
    for attempt in (
        lambda: images.update(bob, "shared", 'DESCRIPTION = "mine"'),
        lambda: images.delete(bob, "shared"),
        lambda: images.set_persistent(bob, "shared", False),
    ):
        with pytest.raises(AuthorizationError, match=r"MANAGE IMAGE \[0\]"):
            attempt()
    objects.chmod(alice, schema.IMAGES, "shared", "600")
    with pytest.raises(AuthorizationError, match=r"USE IMAGE \[0\]"):
        images.clone(bob, "shared", "again")
    assert store_snapshot(admin.db) != before  # only the chmod
    assert len(files(instance)) == 2


def test_update_replaces_or_appends_the_template(instance, admin):
    alice = login(instance, admin, "alice")
    images.upload(alice, "img", io.BytesIO(b"x"), description="first")
    images.update(alice, "img", 'LABEL = "{{ 7*7 }}"\nDEV_PREFIX = "vd"\n', append=True)
    tpl = image(alice, "img")["TEMPLATE"]
    assert tpl == {"TYPE": "OS", "DESCRIPTION": "first", "LABEL": "{{ 7*7 }}", "DEV_PREFIX": "vd"}
    images.update(alice, "img", 'EBS = [ INSTANCE_ID = "i-00000001", DEVICE = "/dev/sdb" ]')
    after = image(alice, "img")
    assert after["TEMPLATE"] == {"EBS": {"INSTANCE_ID": "i-00000001", "DEVICE": "/dev/sdb"}}
    assert (after["TYPE"], after["STATE"], after["SIZE"]) == ("OS", 1, 1)  # not the template's


# ---- a deployed guest -----------------------------------------------------------------------
def test_a_deployed_guest_gets_the_datastore_file(cloud):
    body = images.create(cloud.admin, 'NAME = "vol"\nTYPE = "DATABLOCK"\nSIZE = 16\n')
    vm_id = run_vm(cloud.admin, "guest", body["ID"])
    assert [o.error for o in cloud.schedule([vm_id])] == [None]
    assert cloud.guest_state(0, vm_id) == "running"
    xml = cloud.sims[0].hold.lookupByName(f"one-{vm_id}").XMLDesc()
    assert f"<source file='{body['SOURCE']}'/>" in xml
    delete_vm(cloud.admin, vm_id)
    assert image(cloud.admin, "vol")["STATE"] == ImageState.READY


# ---- oneimage ---------------------------------------------------------------------------------
def test_oneimage_as_a_user_types_it(instance, admin, cli, tmp_path):
    users.create(admin, "carol", "pw-carol")
    env = login_as(tmp_path, "carol", "pw-carol")
    local = tmp_path / "gentoo.img"
    local.write_bytes(os.urandom(MB + 1))

    def run(*args: str):
        return cli("oneimage", *args, env=env)

    assert created_id(run("create", "-d", "default", "--name", "gentoo", "--path", str(local))) == 0
    assert created_id(run("create", "--name", "data", "--size", "100", "--persistent")) == 1
    assert created_id(run("clone", "gentoo", "gentoo-copy")) == 2
    lines = run("list").stdout.splitlines()
    assert lines[0].split() == [
        "ID",
        "USER",
        "GROUP",
        "NAME",
        "DATASTORE",
        "SIZE",
        "TYPE",
        "PER",
        "STAT",
        "RVMS",
    ]
    assert [line.split() for line in lines[1:]] == [
        ["0", "carol", "users", "gentoo", "default", "2M", "OS", "No", "rdy", "0"],
        ["1", "carol", "users", "data", "default", "100M", "DATABLOCK", "Yes", "rdy", "0"],
        ["2", "carol", "users", "gentoo-copy", "default", "2M", "OS", "No", "rdy", "0"],
    ]
    assert Path(image(admin, 2)["SOURCE"]).read_bytes() == local.read_bytes()

    assert run("persistent", "0,2").returncode == 0
    assert run("nonpersistent", "2").returncode == 0
    note = tmp_path / "note.tmpl"
    note.write_text('DESCRIPTION = "{{ 7*7 }}"\n')
    assert run("update", "0", str(note), "--append").returncode == 0
    out = run("show", "gentoo").stdout
    for pattern in (
        r"^IMAGE 0 INFORMATION$",
        r"^PERSISTENT\s+: Yes$",
        r"^SIZE\s+: 2M$",
        r"^STATE\s+: READY$",
        r"^RUNNING_VMS\s+: 0$",
        r"^DATASTORE\s+: default$",
        r'^DESCRIPTION = "\{\{ 7\*7 \}\}"$',
    ):
        assert re.search(pattern, out, re.M), pattern
    assert run("show", "data", "-j").returncode == 0
    # a template file with -d: its PATH uploaded, its other attributes the TEMPLATE
    spec = tmp_path / "cdrom.tmpl"
    spec.write_text(f'NAME = "tools"\nPATH = "{local}"\nTYPE = "CDROM"\nLABEL = "{{{{ 7*7 }}}}"\n')
    assert created_id(run("create", str(spec), "--datastore", "default")) == 3
    tools = image(admin, "tools")
    assert (tools["TYPE"], tools["SIZE"], tools["TEMPLATE"]["LABEL"]) == ("CDROM", 2, "{{ 7*7 }}")
    assert "PATH" not in tools and str(local) not in str(tools)  # the user's path is not kept

    db = instance.database()
    for args, message in (
        (("create", "--name", "big", "--size", "abc"), "image SIZE must be a whole number of MB"),
        (("create", "--name", "x", "--size", "5", "--path", "/x"), "give --size"),
        (("create", "-d", "1", "--name", "y", "--path", str(tmp_path / "no")), "cannot read it"),
        (("create", "--name", "z", "--path", "/etc/shadow"), "upload the file instead"),
        (("create", "-d", "9", "--name", "w", "--size", "5"), "datastore '9' does not exist"),
        (("clone", "nope", "n"), "image named 'nope' does not exist"),
    ):
        assert_refused(cli, db, ("oneimage", *args), message, env=env)
    assert len(files(instance)) == 4
    # one bad id of a list: reported, the others done
    assert_error(run("persistent", "nope,gentoo-copy"), "oneimage", "persistent", "'nope'")
    assert image(admin, "gentoo-copy")["PERSISTENT"] == 1

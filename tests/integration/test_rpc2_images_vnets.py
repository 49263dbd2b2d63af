"""Images and virtual networks over OpenNebula's XML-RPC API (/RPC2): pyone (PyPI) calls,
and community.general's one_image, one_image_info and one_vnet modules run unmodified
by real ansible-playbook against a running server. Every document pyone receives is
validated against OpenNebula's XML schemas (``support.rpc2``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pyone
import pytest
from conftest import VENV_BIN
from support.stores import sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema

WEIRD = "{{ 7*7 }}"  # user text: it must come back as it was sent, never evaluated
DATABLOCK = 'NAME = "{name}"\nTYPE = "DATABLOCK"\nSIZE = 2\nDESCRIPTION = "{{{{ 7*7 }}}}"\n'
RANGED = (
    'NAME = "{name}"\nBRIDGE = "br0"\nTYPE = "RANGED"\n'
    'IP_START = "10.1.0.10"\nIP_END = "10.1.0.19"\nNOTE = "{{{{ 7*7 }}}}"\n'
)

pytestmark = sqlite_only  # an adapter's tests: see support.stores
DEFAULT_DATASTORE = 1
API_XML = 0x1000  # oned's XML_RPC_API error code


# ---- images through pyone -------------------------------------------------------------------
def test_an_image_is_allocated_cloned_changed_and_deleted_through_pyone(rpc2):
    rpc2.user("img-ann")
    ann = rpc2.one("img-ann")
    image_id = ann.image.allocate(DATABLOCK.format(name="data"), DEFAULT_DATASTORE)
    image = ann.image.info(image_id)
    assert (image.NAME, image.UNAME, image.TYPE, image.SIZE) == ("data", "img-ann", 2, 2)
    assert (image.STATE, image.PERSISTENT, image.RUNNING_VMS) == (1, 0, 0)  # READY
    assert (image.DATASTORE_ID, image.DATASTORE) == (DEFAULT_DATASTORE, "default")
    assert image.TEMPLATE["DESCRIPTION"] == WEIRD
    assert image_id in [i.ID for i in ann.imagepool.info(-3, -1, -1).IMAGE]

    ann.image.update(image_id, 'LABEL = "gold"', 1)  # append: the rest is kept
    merged = ann.image.info(image_id).TEMPLATE
    assert (merged["LABEL"], merged["DESCRIPTION"]) == ("gold", WEIRD)
    ann.image.update(image_id, 'DESCRIPTION = "plain"')  # replace
    assert "LABEL" not in ann.image.info(image_id).TEMPLATE

    ann.image.chmod(image_id, 1, 1, 0, 1, 0, 0, 1, 0, 0)
    perms = ann.image.info(image_id).PERMISSIONS
    assert (perms.OWNER_M, perms.GROUP_U, perms.OTHER_U, perms.OTHER_M) == (1, 1, 1, 0)

    copy_id = ann.image.clone(image_id, "data-copy")
    copy = ann.image.info(copy_id)
    assert (copy.NAME, copy.SIZE, copy.STATE) == ("data-copy", 2, 1)
    assert image_id == copy.CLONING_ID
    assert copy.SOURCE != image.SOURCE and copy.DATASTORE_ID == DEFAULT_DATASTORE
    ann.image.rename(copy_id, "data-2")
    assert ann.image.info(copy_id).NAME == "data-2"
    with pytest.raises(pyone.OneActionException, match="already taken"):
        ann.image.rename(copy_id, "data")  # names are unique per owner

    ann.image.enable(image_id, False)
    assert ann.image.info(image_id).STATE == 3  # DISABLED
    ann.image.enable(image_id, True)
    ann.image.persistent(image_id, True)
    assert (ann.image.info(image_id).PERSISTENT, ann.image.info(image_id).STATE) == (1, 1)

    ann.image.delete(copy_id)
    with pytest.raises(pyone.OneNoExistsException):
        ann.image.info(copy_id)
    assert [i.NAME for i in ann.imagepool.info(-3, -1, -1).IMAGE] == ["data"]


def test_another_users_image_is_refused_and_bad_input_changes_nothing(rpc2):
    rpc2.user("img-bea")
    rpc2.user("img-cid")
    bea, cid = rpc2.one("img-bea"), rpc2.one("img-cid")
    cid_id = objects.show(rpc2.admin, schema.USERS, "img-cid")["ID"]
    image_id = bea.image.allocate(DATABLOCK.format(name="mine"), DEFAULT_DATASTORE)
    with pytest.raises(pyone.OneAuthorizationException):
        cid.image.info(image_id)  # not shared: others may not even see it
    bea.image.chmod(image_id, -1, -1, -1, -1, -1, -1, 1, -1, -1)  # other: USE
    assert cid.image.info(image_id).NAME == "mine"
    for refused in (
        lambda: cid.image.rename(image_id, "theirs"),
        lambda: cid.image.update(image_id, 'DESCRIPTION = "x"'),
        lambda: cid.image.delete(image_id),
        lambda: cid.image.chmod(image_id, 1, 1, 1, 1, 1, 1, 1, 1, 1),
        lambda: cid.image.chown(image_id, cid_id, -1),
    ):
        with pytest.raises(pyone.OneAuthorizationException):
            refused()
    assert image_id not in [i.ID for i in cid.imagepool.info(-3, -1, -1).IMAGE]
    # a copy of a shared image is the copier's own
    copy_id = cid.image.clone(image_id, "theirs")
    assert cid.image.info(copy_id).UNAME == "img-cid"

    before = len(bea.imagepool.info(-3, -1, -1).IMAGE)
    with pytest.raises(pyone.OneActionException, match="SIZE"):
        bea.image.allocate('NAME = "big"\nTYPE = "DATABLOCK"\nSIZE = "lots"', 1)
    with pytest.raises(pyone.OneActionException, match="datastore"):
        bea.image.allocate(DATABLOCK.format(name="elsewhere"), 100)
    with pytest.raises(pyone.OneAuthorizationException, match="PATH"):
        bea.image.allocate('NAME = "host-file"\nPATH = "/etc/shadow"', 1)
    with pytest.raises(pyone.OneActionException, match="name"):
        bea.image.rename(image_id, "two words")
    assert len(bea.imagepool.info(-3, -1, -1).IMAGE) == before
    assert bea.image.info(image_id).NAME == "mine"
    with pytest.raises(pyone.OneNoExistsException):
        bea.image.info(987654)
    answer = rpc2.raw("one.image.info", "zero", user="img-bea")
    assert answer[0] is False and answer[2] == API_XML and "id" in answer[1]
    answer = rpc2.raw("one.image.snapshotdelete", image_id, 0, user="img-bea")
    assert answer[0] is False and answer[2] == API_XML and "not supported" in answer[1]

    rpc2.one().image.chown(image_id, cid_id, -1)  # oneadmin gives it away, group kept
    given = cid.image.info(image_id)
    assert (given.UNAME, given.GNAME) == ("img-cid", "users")
    assert "mine" in [i.NAME for i in cid.imagepool.info(-3, -1, -1).IMAGE]


# ---- virtual networks through pyone ---------------------------------------------------------
def test_a_network_shows_its_leases_as_address_ranges(rpc2):
    one = rpc2.one()
    vnet_id = one.vn.allocate(RANGED.format(name="lan"), -1)
    vnet = one.vn.info(vnet_id)
    assert (vnet.NAME, vnet.BRIDGE, vnet.USED_LEASES) == ("lan", "br0", 0)
    assert vnet.TEMPLATE["NOTE"] == WEIRD
    (ar,) = vnet.AR_POOL.AR
    assert (ar.TYPE, ar.IP, ar.SIZE, ar.IP_END) == ("IP4", "10.1.0.10", 10, "10.1.0.19")
    assert ar.MAC == "02:00:0a:01:00:0a"

    one.vn.hold(vnet_id, 'LEASES = [ IP = "10.1.0.12" ]')
    vnet = one.vn.info(vnet_id)
    (lease,) = vnet.AR_POOL.AR[0].LEASES.LEASE
    assert (vnet.USED_LEASES, lease.IP, lease.MAC, lease.VM) == (
        1, "10.1.0.12", "02:00:0a:01:00:0c", -1,
    )  # fmt: skip
    with pytest.raises(pyone.OneActionException, match="held"):
        one.vn.delete(vnet_id)
    one.vn.release(vnet_id, 'LEASES = [ IP = "10.1.0.12" ]')
    assert one.vn.info(vnet_id).USED_LEASES == 0
    nic = f'NAME = "on-lan"\nCPU = 0.1\nMEMORY = 32\nNIC = [ NETWORK_ID = {vnet_id} ]\n'
    vm_id = one.template.instantiate(one.template.allocate(nic), "on-lan-0", True)  # held
    (lease,) = one.vn.info(vnet_id).AR_POOL.AR[0].LEASES.LEASE
    assert lease.IP == "10.1.0.10"  # the first free one
    assert vm_id == lease.VM
    one.vm.action("terminate-hard", vm_id)
    assert one.vn.info(vnet_id).USED_LEASES == 0  # given back

    fixed = (
        'NAME = "dmz"\nBRIDGE = "br1"\nTYPE = "FIXED"\nLEASES = [ IP = "10.2.0.1" ]\n'
        'LEASES = [ IP = "10.2.0.5" ]\nLEASES = [ IP = "10.2.0.6" ]\n'
    )
    fixed_id = one.vn.allocate(fixed)
    ranges = one.vn.info(fixed_id).AR_POOL.AR
    assert [(a.AR_ID, a.IP, a.SIZE) for a in ranges] == [("0", "10.2.0.1", 1), ("1", "10.2.0.5", 2)]
    ars = (  # as OpenNebula 4.8 and later write them
        'NAME = "ars"\nBRIDGE = "br2"\nAR = [ TYPE = "IP4", IP = 192.0.2.50, SIZE = "20" ]\n'
        'AR = [ TYPE = "IP4", IP = "192.0.2.100", SIZE = 2 ]\n'
    )
    ranges = one.vn.info(one.vn.allocate(ars)).AR_POOL.AR
    assert [(a.IP, a.SIZE, a.IP_END) for a in ranges] == [
        ("192.0.2.50", 20, "192.0.2.69"), ("192.0.2.100", 2, "192.0.2.101"),
    ]  # fmt: skip
    listed = {v.NAME: v for v in one.vnpool.info(-2, -1, -1).VNET}
    assert {"lan", "dmz", "ars"} <= set(listed)
    assert [a.IP for a in listed["dmz"].AR_POOL.AR] == ["10.2.0.1", "10.2.0.5"]

    one.vn.update(vnet_id, 'DESCRIPTION = "office"', 1)
    assert one.vn.info(vnet_id).TEMPLATE["DESCRIPTION"] == "office"
    with pytest.raises(pyone.OneActionException, match="BRIDGE"):
        one.vn.update(vnet_id, 'BRIDGE = "br9"', 1)
    one.vn.rename(vnet_id, "office-lan")
    assert one.vn.info(vnet_id).NAME == "office-lan"
    one.vn.delete(fixed_id)
    with pytest.raises(pyone.OneNoExistsException):
        one.vn.info(fixed_id)


def test_another_users_network_is_refused_and_bad_input_changes_nothing(rpc2):
    rpc2.user("net-dan")
    rpc2.user("net-eve")
    one, dan, eve = rpc2.one(), rpc2.one("net-dan"), rpc2.one("net-eve")
    with pytest.raises(pyone.OneAuthorizationException):
        dan.vn.allocate(RANGED.format(name="own"))  # users may not make networks
    vnet_id = one.vn.allocate(RANGED.format(name="dans"))
    users_group = 1
    dan_id = objects.show(rpc2.admin, schema.USERS, "net-dan")["ID"]
    one.vn.chown(vnet_id, dan_id, users_group)
    vnet = dan.vn.info(vnet_id)
    assert (vnet.UNAME, vnet.GNAME) == ("net-dan", "users")
    assert [v.ID for v in dan.vnpool.info(-3, -1, -1).VNET] == [vnet_id]
    with pytest.raises(pyone.OneAuthorizationException):
        eve.vn.info(vnet_id)
    with pytest.raises(pyone.OneAuthorizationException):
        eve.vn.hold(vnet_id, 'LEASES = [ IP = "10.1.0.10" ]')
    dan.vn.chmod(vnet_id, 1, 1, 0, 0, 0, 0, 1, 0, 0)  # other: USE, not MANAGE
    assert eve.vn.info(vnet_id).PERMISSIONS.OTHER_U == 1
    with pytest.raises(pyone.OneAuthorizationException):
        eve.vn.delete(vnet_id)
    with pytest.raises(pyone.OneAuthorizationException):
        eve.vn.rename(vnet_id, "eves")

    before = len(one.vnpool.info(-2, -1, -1).VNET)
    with pytest.raises(pyone.OneActionException, match="BRIDGE"):
        one.vn.allocate('NAME = "nobridge"\nTYPE = "RANGED"\nIP_START = "10.3.0.1"')
    with pytest.raises(pyone.OneActionException, match="IP_START"):
        one.vn.allocate('NAME = "badip"\nBRIDGE = "br0"\nIP_START = "ten"\nIP_END = "10.0.0.1"')
    with pytest.raises(pyone.OneActionException, match="IP4"):
        one.vn.allocate('NAME = "v6"\nBRIDGE = "br0"\nAR = [ TYPE = "IP6", SIZE = 8 ]')
    with pytest.raises(pyone.OneActionException, match="AR/SIZE"):
        one.vn.allocate('NAME = "huge"\nBRIDGE = "br0"\nAR = [ TYPE = "IP4", IP = "10.0.0.1" ]')
    with pytest.raises(pyone.OneActionException, match="LEASES"):
        dan.vn.hold(vnet_id, 'IP = "10.1.0.11"')
    with pytest.raises(pyone.OneActionException, match="not in network"):
        dan.vn.hold(vnet_id, 'LEASES = [ IP = "192.0.2.1" ]')
    assert len(one.vnpool.info(-2, -1, -1).VNET) == before
    assert dan.vn.info(vnet_id).USED_LEASES == 0
    with pytest.raises(pyone.OneNoExistsException):
        one.vn.info(987654)
    answer = rpc2.raw("one.vn.add_ar", vnet_id, 'AR = [ TYPE = "IP4" ]')
    assert answer[0] is False and answer[2] == API_XML and "not supported" in answer[1]
    answer = rpc2.raw("one.vn.hold", vnet_id, 7)
    assert answer[0] is False and answer[2] == API_XML and "template" in answer[1]


# ---- community.general's modules through ansible-playbook -----------------------------------
MODULES = ("one_image", "one_image_info", "one_vnet")


def _playbook(rpc2, user: str, tasks: str, tmp: Path) -> tuple[subprocess.CompletedProcess, dict]:
    """Run ``tasks`` (a play's task list, YAML indented by 4) with ansible-playbook, the
    modules logging in to /RPC2 as ``user``. Returns the run and what the tasks
    registered (every variable a task registers, read back from a JSON file)."""
    password = rpc2.session_of(user).split(":", 1)[1]
    login = (
        f"      api_url: {rpc2.endpoint}\n"
        f"      api_username: {user}\n"
        f"      api_password: !unsafe '{password}'\n"
    )
    defaults = "".join(f"    community.general.{m}:\n{login}" for m in MODULES)
    names = re.findall(r"^ +register: (\w+)$", tasks, flags=re.M)
    out = tmp / "registered.json"
    registered = ", ".join(f"'{n}': {n}" for n in names)
    play = (
        "- hosts: localhost\n  gather_facts: false\n  module_defaults:\n"
        + defaults
        + "  tasks:\n"
        + tasks
        + "    - name: what the tasks registered\n      ansible.builtin.copy:\n"
        + f"        dest: {out}\n"
        + f'        content: "{{{{ {{{registered}}} | to_json }}}}"\n'
    )
    path = tmp / "play.yml"
    path.write_text(play)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONE_", "ANSIBLE_"))}
    env.update(PATH=f"{VENV_BIN}:{env.get('PATH', '')}", ANSIBLE_NOCOLOR="1", LANG="C.UTF-8")
    result = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), str(path)],
        capture_output=True,
        text=True,
        cwd=tmp,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, f"playbook failed:\n{result.stdout}\n{result.stderr}"
    return result, json.loads(out.read_text())


IMAGE_TASKS = """
    - name: a DATABLOCK of the user's, made
      community.general.one_image:
        name: pb-img
        create: true
        datastore_id: 1
        template: !unsafe |
          TYPE = "DATABLOCK"
          SIZE = 1
          DESCRIPTION = "{{ 7*7 }}"
      register: created
    - name: the same again, nothing to do
      community.general.one_image:
        name: pb-img
        create: true
        datastore_id: 1
        template: !unsafe |
          TYPE = "DATABLOCK"
          SIZE = 1
      register: again
    - name: facts of the user's images by pattern
      community.general.one_image_info:
        name: "~pb-"
      register: facts
    - name: rename and delete in check mode
      community.general.one_image: "{{ item }}"
      check_mode: true
      loop:
        - {id: "{{ created.id }}", state: renamed, new_name: pb-dry}
        - {name: pb-img, state: absent}
      register: dry
    - name: cloned
      community.general.one_image:
        name: pb-img
        state: cloned
        new_name: pb-copy
      register: cloned
    - name: cloned again, nothing to do
      community.general.one_image:
        name: pb-img
        state: cloned
        new_name: pb-copy
      register: cloned_again
    - name: the clone renamed
      community.general.one_image:
        id: "{{ cloned.id }}"
        state: renamed
        new_name: pb-two
      register: renamed
    - name: the clone deleted
      community.general.one_image:
        name: pb-two
        state: absent
      register: deleted
      ignore_errors: true
    - name: deleted again, nothing to do
      community.general.one_image:
        name: pb-two
        state: absent
      register: deleted_again
    - name: disabled
      community.general.one_image:
        name: pb-img
        enabled: false
      register: disabled
    - name: a DATABLOCK of no size
      community.general.one_image:
        name: pb-bad
        create: true
        datastore_id: 1
        template: |
          TYPE = "DATABLOCK"
          SIZE = "lots"
      register: bad
      ignore_errors: true
"""


def test_community_general_one_image_and_one_image_info(rpc2, tmp_path):
    rpc2.user("pb-fay")
    _, got = _playbook(rpc2, "pb-fay", IMAGE_TASKS, tmp_path)
    created = got["created"]
    assert created["changed"] and (created["name"], created["user_name"]) == ("pb-img", "pb-fay")
    assert (created["state"], created["type"], created["size"]) == ("READY", 2, 1)
    assert (created["datastore_id"], created["datastore"]) == (DEFAULT_DATASTORE, "default")
    assert created["template"]["DESCRIPTION"] == WEIRD
    assert got["again"]["changed"] is False
    (fact,) = got["facts"]["images"]  # the clones came later
    assert (fact["id"], fact["name"], fact["template"]["DESCRIPTION"]) == (
        created["id"], "pb-img", WEIRD,
    )  # fmt: skip

    assert [r["changed"] for r in got["dry"]["results"]] == [True, True]
    assert got["disabled"]["changed"]
    assert got["cloned"]["changed"] and got["cloned"]["name"] == "pb-copy"
    assert got["cloned"]["cloning_id"] == created["id"] and got["cloned"]["state"] == "READY"
    assert got["cloned_again"]["changed"] is False
    assert got["renamed"]["changed"]
    # one_image waits for the deleted image to be in state DELETE, or for info to fail;
    # onekit deletes at once, and the module's fallback then calls its own
    # get_image_instance with a missing argument: the image is gone all the same
    deleted = got["deleted"]
    assert not deleted.get("failed") or "get_image_instance" in deleted["msg"], deleted
    assert got["deleted_again"]["changed"] is False
    assert got["bad"]["failed"] and "SIZE" in got["bad"]["msg"]

    fay = rpc2.one("pb-fay")
    left = {i.NAME: i for i in fay.imagepool.info(-3, -1, -1).IMAGE}
    assert set(left) == {"pb-img"}  # check mode renamed and deleted nothing
    assert left["pb-img"].STATE == 3  # DISABLED
    with pytest.raises(pyone.OneNoExistsException):
        fay.image.info(got["cloned"]["id"])


VNET_TASKS = """
    - name: a network made (the module's example)
      community.general.one_vnet:
        name: pb-net
        template: &net !unsafe |
          VN_MAD  = "bridge"
          BRIDGE  = "br0"
          BRIDGE_TYPE  = "linux"
          AR=[
            TYPE  = "IP4",
            IP    = 192.0.2.50,
            SIZE  = "20"
          ]
          DNS     = 192.0.2.1
          GATEWAY = 192.0.2.1
          DESCRIPTION = "{{ 7*7 }}"
      register: created
    - name: the same again, nothing to do
      community.general.one_vnet:
        name: pb-net
        template: *net
      register: again
    - name: a new description and delete in check mode
      community.general.one_vnet: "{{ item }}"
      check_mode: true
      loop:
        - {name: pb-net, template: 'DESCRIPTION = "dry"'}
        - {name: pb-net, state: absent}
      register: dry
    - name: a new description, the addresses kept
      community.general.one_vnet:
        name: pb-net
        template: |
          DESCRIPTION = "office"
      register: updated
    - name: a network without a bridge
      community.general.one_vnet:
        name: pb-bad
        template: |
          TYPE = "RANGED"
      register: bad
      ignore_errors: true
    - name: the network deleted
      community.general.one_vnet:
        name: pb-net
        state: absent
      register: deleted
    - name: deleted again, nothing to do
      community.general.one_vnet:
        name: pb-net
        state: absent
      register: deleted_again
"""


def test_community_general_one_vnet(rpc2, tmp_path):
    one = rpc2.one()
    _, got = _playbook(rpc2, "oneadmin", VNET_TASKS, tmp_path)
    created = got["created"]
    assert created["changed"] and (created["name"], created["bridge"]) == ("pb-net", "br0")
    assert created["template"]["DESCRIPTION"] == WEIRD
    (ar,) = created["ar_pool"]
    assert (ar["type"], ar["ip"], ar["size"]) == ("IP4", "192.0.2.50", 20)
    assert ar["mac"] == "02:00:c0:00:02:32" and created["template"]["GATEWAY"] == "192.0.2.1"
    assert got["again"]["changed"] is False
    assert [r["changed"] for r in got["dry"]["results"]] == [True, True]
    updated = got["updated"]
    assert updated["changed"] and updated["template"]["DESCRIPTION"] == "office"
    assert updated["template"]["AR"]["IP"] == "192.0.2.50" and updated["ar_pool"][0]["size"] == 20
    assert got["bad"]["failed"] and "BRIDGE" in got["bad"]["msg"]
    assert got["deleted"]["changed"] and not got["deleted_again"]["changed"]
    with pytest.raises(pyone.OneNoExistsException):
        one.vn.info(created["id"])
    assert "pb-bad" not in [v.NAME for v in one.vnpool.info(-2, -1, -1).VNET]

"""The OCCI 0.8 API (the guide's 7.4) against a running onekit-server serving
etc/occi-server.conf, through real curl and the standard library's HTTP client: 4.6's
own RSpec suite's behaviours, the guide's walk-through and bad input."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from support.occi import OcciServer, wait
from support.stores import sqlite_only

SMALL_NET = (
    "<NETWORK><NAME>{name}</NAME><DESCRIPTION>Network of {name}</DESCRIPTION>"
    "<ADDRESS>192.168.1.0</ADDRESS><SIZE>100</SIZE></NETWORK>"
)
DATABLOCK = (
    "<STORAGE><NAME>{name}</NAME><DESCRIPTION>Storage of {name}</DESCRIPTION>"
    "<TYPE>DATABLOCK</TYPE><SIZE>100</SIZE><FSTYPE>ext3</FSTYPE></STORAGE>"
)

pytestmark = sqlite_only  # an adapter's tests: see support.stores


def counts(occi: OcciServer) -> tuple[int, int, int]:
    """How many computes, storages and networks exist (oneadmin sees them all)."""
    return tuple(len(occi.xml("GET", f"/{kind}")) for kind in ("compute", "storage", "network"))


def network(occi: OcciServer, user: str, name: str) -> ET.Element:
    status, headers, body = occi.request("POST", "/network", SMALL_NET.format(name=name), user)
    assert status == 201, body
    assert headers["Content-Type"].startswith("application/xml")
    return ET.fromstring(body)


def datablock(occi: OcciServer, user: str, name: str) -> ET.Element:
    status, body = occi.curl(
        "--form-string", f"occixml={DATABLOCK.format(name=name)}", "/storage", user=user
    )
    assert status == 201, body
    return ET.fromstring(body)


def compute(occi: OcciServer, user: str, storage: str, net: str, extra: str = "") -> ET.Element:
    doc = (
        "<COMPUTE><NAME>Compute</NAME><INSTANCE_TYPE>small</INSTANCE_TYPE>"
        f"<DISK><STORAGE href='{occi.url}/storage/{storage}'/></DISK>"
        f"<NIC><NETWORK href='{occi.url}/network/{net}'/></NIC>{extra}</COMPUTE>"
    )
    status, _h, body = occi.request("POST", "/compute", doc, user)
    assert status == 201, body
    return ET.fromstring(body)


def state(occi: OcciServer, user: str, vm_id: str) -> str:
    return occi.xml("GET", f"/compute/{vm_id}", user=user).findtext("STATE") or ""


def put_state(occi: OcciServer, user: str, vm_id: str, wanted: str) -> tuple[int, str]:
    doc = f"<COMPUTE href='/compute/{vm_id}'><ID>{vm_id}</ID><STATE>{wanted}</STATE></COMPUTE>"
    status, _h, body = occi.request("PUT", f"/compute/{vm_id}", doc, user)
    return status, body


# ---- 4.6's occi_spec.rb -------------------------------------------------------------------
def test_root_and_instance_types_as_4_6_fixtures(occi):
    occi.user("spec_types")
    base = occi.url
    status, headers, body = occi.request("GET", "/", user="spec_types")
    assert status == 200 and headers["Content-Type"].startswith("application/xml")
    assert body == (
        f'<COLLECTIONS><COMPUTE_COLLECTION href="{base}/compute"/>'
        f'<INSTANCE_TYPE_COLLECTION href="{base}/instance_type"/>'
        f'<NETWORK_COLLECTION href="{base}/network"/>'
        f'<STORAGE_COLLECTION href="{base}/storage"/>'
        f'<USER_COLLECTION href="{base}/user"/></COLLECTIONS>'
    )
    listed = occi.request("GET", "/instance_type", user="spec_types")[2]
    assert listed == (
        "<INSTANCE_TYPE_COLLECTION>"
        + "".join(
            f'<INSTANCE_TYPE href="{base}/instance_type/{n}" name="{n}"/>'
            for n in ("large", "medium", "small")
        )
        + "</INSTANCE_TYPE_COLLECTION>"
    )
    verbose = ET.fromstring(occi.request("GET", "/instance_type?verbose=true")[2])
    assert [(t.findtext("ID"), t.findtext("CPU"), t.findtext("MEMORY")) for t in verbose] == [
        ("large", "8", "8192"),
        ("medium", "4", "4096"),
        ("small", "1", "1024"),
    ]
    one = ET.fromstring(occi.request("GET", "/instance_type/small")[2])
    assert (one.get("name"), one.findtext("NAME"), one.findtext("MEMORY")) == (
        "small",
        "small",
        "1024",
    )
    assert occi.request("GET", "/instance_type/huge")[0] == 404


def test_a_new_user_sees_empty_collections(occi):
    occi.user("spec_empty")
    for kind in ("compute", "network", "storage"):
        status, _h, body = occi.request("GET", f"/{kind}", user="spec_empty")
        assert (status, body) == (200, f"<{kind.upper()}_COLLECTION></{kind.upper()}_COLLECTION>")


def test_network_storage_compute_and_done_as_the_spec(occi):
    user = occi.user("spec_user")
    net = network(occi, user, "Network")
    assert net.findtext("ADDRESS") == "192.168.1.1" and net.findtext("SIZE") == "125"
    assert net.findtext("USER") is not None and net.find("USER").get("name") == user
    assert net.findtext("DESCRIPTION") == "Network of Network"
    assert (net.findtext("USED_LEASES"), net.findtext("PUBLIC")) == ("0", "NO")
    net_id = net.findtext("ID")
    assert occi.request("GET", f"/network/{net_id}", user=user)[2] == ET.tostring(
        net, encoding="unicode"
    ).replace(" />", "/>")
    storage = datablock(occi, user, "Storage")
    assert [storage.findtext(k) for k in ("STATE", "TYPE", "SIZE", "FSTYPE", "PERSISTENT")] == [
        "READY", "DATABLOCK", "100", "ext3", "NO",
    ]  # fmt: skip
    vm = compute(occi, user, storage.findtext("ID"), net_id)
    assert (vm.findtext("STATE"), vm.findtext("CPU"), vm.findtext("MEMORY")) == (
        "PENDING",
        "1",
        "1024",
    )
    assert vm.find("INSTANCE_TYPE").get("href") == f"{occi.url}/instance_type/small"
    disk = vm.find("DISK")
    assert disk.get("id") == "0" and disk.find("STORAGE").get("name") == "Storage"
    assert disk.findtext("TYPE") == "FILE"
    assert vm.find("NIC/NETWORK").get("name") == "Network"
    assert vm.findtext("NIC/IP") == "192.168.1.1" and vm.findtext("NIC/MAC") == "02:00:c0:a8:01:01"
    vm_id = vm.findtext("ID")
    status, body = put_state(occi, user, vm_id, "DONE")
    assert status == 202 and ET.fromstring(body).findtext("STATE") == "DONE"
    # a DONE compute leaves the collection; its image and lease are given back
    assert (
        occi.request("GET", "/compute", user=user)[2] == "<COMPUTE_COLLECTION></COMPUTE_COLLECTION>"
    )
    assert occi.xml("GET", f"/network/{net_id}", user=user).findtext("USED_LEASES") == "0"


# ---- 4.6's user_spec.rb -------------------------------------------------------------------
def test_the_user_collection_is_the_oneadmin_groups(occi):
    occi.user("spec_u1")
    listed = occi.xml("GET", "/user")
    assert {u.get("name") for u in listed} >= {"oneadmin", "spec_u1"}
    assert occi.request("GET", "/user", user="spec_u1")[0] == 403
    me = next(u for u in listed if u.get("name") == "spec_u1").get("href").rsplit("/", 1)[1]
    mine = occi.xml("GET", f"/user/{me}", user="spec_u1")
    assert mine.findtext("NAME") == "spec_u1" and mine.findtext("VM_QUOTA/VM/VMS") == "-1"
    assert occi.request("GET", "/user/0", user="spec_u1")[0] == 403
    status, headers, body = occi.request("GET", "/user/9999")
    assert status == 404 and headers["Content-Type"].startswith("text/plain") and body


def test_a_bad_login_is_401_with_an_empty_body(occi):
    occi.user("spec_login")
    for user, password in (("spec_login", "wrong"), ("nobody", "x")):
        status, _h, body = occi.request("GET", "/compute", user=user, password=password)
        assert (status, body) == (401, "")
    assert occi.request("GET", "/", user=None)[0:3:2] == (401, "")
    status, body = occi.curl("/compute", user="spec_login")  # curl with the right one
    assert status == 200


# ---- the guide's walk-through (7.4.3, 7.4.4) ----------------------------------------------
def test_the_guides_walk_through(occi, tmp_path):
    user = occi.user("walker")
    image = tmp_path / "ubuntu.img"
    image.write_bytes(b"\x00" * 4096 + b"disk" * 1024)
    (tmp_path / "storage.xml").write_text(
        "<STORAGE><NAME>Ubuntu-Desktop</NAME><TYPE>OS</TYPE>"
        "<DESCRIPTION>Ubuntu 10.04 desktop for students.</DESCRIPTION></STORAGE>"
    )
    status, body = occi.curl(
        "-F", "occixml=@storage.xml", "-F", "file=@ubuntu.img", "/storage", user=user, cwd=tmp_path
    )
    assert status == 201, body
    os_image = ET.fromstring(body)
    assert (os_image.findtext("STATE"), os_image.findtext("TYPE")) == ("READY", "OS")
    assert not list(occi.tmpdir.iterdir())  # the spooled upload is gone
    volume = datablock(occi, user, "Volume1")
    net = network(occi, user, "MyServiceNetwork")
    vm = compute(
        occi,
        user,
        os_image.findtext("ID"),
        net.findtext("ID"),
        "<CONTEXT><hostname>mainhost</hostname><DATA>DATA1</DATA></CONTEXT>",
    )
    vm_id = vm.findtext("ID")
    assert [(c.tag, c.text) for c in vm.find("CONTEXT")][:2] == [
        ("HOSTNAME", "mainhost"),
        ("DATA", "DATA1"),
    ]
    listed = occi.xml("GET", "/compute", user=user)
    assert [c.get("href") for c in listed] == [f"{occi.url}/compute/{vm_id}"]
    verbose = occi.xml("GET", "/storage?verbose", user=user)
    assert {s.findtext("NAME") for s in verbose} == {"Ubuntu-Desktop", "Volume1"}
    wait(lambda: state(occi, user, vm_id) == "ACTIVE", "the compute ACTIVE")
    wait(lambda: "RUNNING" in occi.run("onevm", "show", vm_id).stdout, "the VM RUNNING", 60)
    # attachdisk / detachdisk
    action = (
        f"<ACTION><PERFORM>attachdisk</PERFORM><PARAMS>"
        f"<STORAGE href='{occi.url}/storage/{volume.findtext('ID')}'/></PARAMS></ACTION>"
    )
    status, _h, body = occi.request("POST", f"/compute/{vm_id}/action", action, user)
    assert status == 202, body
    attached = [d for d in ET.fromstring(body).findall("DISK") if d.get("id") == "1"]
    assert attached and attached[0].find("STORAGE").get("name") == "Volume1"
    detach = "<ACTION><PERFORM>detachdisk</PERFORM><PARAMS><DISK id='1'/></PARAMS></ACTION>"
    status, _h, body = occi.request("POST", f"/compute/{vm_id}/action", detach, user)
    assert status == 202 and [d.get("id") for d in ET.fromstring(body).findall("DISK")] == ["0"]
    bogus = "<ACTION><PERFORM>explode</PERFORM></ACTION>"
    assert occi.request("POST", f"/compute/{vm_id}/action", bogus, user)[0] == 403
    # the states of the guide
    assert put_state(occi, user, vm_id, "SUSPENDED")[0] == 202
    wait(lambda: state(occi, user, vm_id) == "SUSPENDED", "SUSPENDED")
    assert put_state(occi, user, vm_id, "SUSPENDED")[0] == 200  # no change
    assert put_state(occi, user, vm_id, "SHUTDOWN")[0] == 403  # not from SUSPENDED
    assert put_state(occi, user, vm_id, "RESUME")[0] == 202
    wait(lambda: "RUNNING" in occi.run("onevm", "show", vm_id).stdout, "RUNNING again", 60)
    assert put_state(occi, user, vm_id, "REBOOT")[0] == 202
    wait(lambda: "RUNNING" in occi.run("onevm", "show", vm_id).stdout, "RUNNING after reboot", 60)
    assert put_state(occi, user, vm_id, "STOPPED")[0] == 202
    wait(lambda: state(occi, user, vm_id) == "STOPPED", "STOPPED")
    assert put_state(occi, user, vm_id, "RESUME")[0] == 202
    wait(lambda: "RUNNING" in occi.run("onevm", "show", vm_id).stdout, "RUNNING after STOPPED", 90)
    assert put_state(occi, user, vm_id, "SHUTDOWN")[0] == 202
    wait(lambda: state(occi, user, vm_id) == "DONE", "DONE after SHUTDOWN", 90)
    # storage PUT: one change per request, 202 changed / 200 unchanged; clone; delete
    sid = volume.findtext("ID")
    both = "<STORAGE><PERSISTENT>YES</PERSISTENT><PUBLIC>YES</PUBLIC></STORAGE>"
    assert occi.request("PUT", f"/storage/{sid}", both, user)[0] == 400
    status, _h, body = occi.request(
        "PUT", f"/storage/{sid}", "<STORAGE><PERSISTENT>YES</PERSISTENT></STORAGE>", user
    )
    assert status == 202 and ET.fromstring(body).findtext("PERSISTENT") == "YES"
    assert (
        occi.request(
            "PUT", f"/storage/{sid}", "<STORAGE><PERSISTENT>YES</PERSISTENT></STORAGE>", user
        )[0]
        == 200
    )
    status, _h, body = occi.request(
        "PUT", f"/storage/{sid}", "<STORAGE><PUBLIC>YES</PUBLIC></STORAGE>", user
    )
    assert status == 202 and ET.fromstring(body).findtext("PUBLIC") == "YES"
    clone = "<ACTION><PERFORM>clone</PERFORM><PARAMS><NAME>Volume2</NAME></PARAMS></ACTION>"
    status, _h, body = occi.request("POST", f"/storage/{sid}/action", clone, user)
    assert status == 201 and ET.fromstring(body).findtext("NAME") == "Volume2"
    copy_id = ET.fromstring(body).findtext("ID")
    assert occi.request("DELETE", f"/storage/{copy_id}", user=user)[0:3:2] == (204, "")
    assert occi.request("GET", f"/storage/{copy_id}", user=user)[0] == 404
    # network PUT PUBLIC
    nid = net.findtext("ID")
    status, _h, body = occi.request(
        "PUT", f"/network/{nid}", "<NETWORK><PUBLIC>YES</PUBLIC></NETWORK>", user
    )
    assert status == 202 and ET.fromstring(body).findtext("PUBLIC") == "YES"
    assert (
        occi.request("PUT", f"/network/{nid}", "<NETWORK><PUBLIC>YES</PUBLIC></NETWORK>", user)[0]
        == 200
    )


def test_save_as_rules(occi):
    """4.6's vm_saveas_spec.rb: SAVE_AS with a state change, or two SAVE_AS, is 403;
    one SAVE_AS saves that disk (onekit: of a POWEROFF compute, at once)."""
    user = occi.user("saver")
    first = datablock(occi, user, "first_image").findtext("ID")
    second = datablock(occi, user, "second_image").findtext("ID")
    doc = (
        "<COMPUTE><NAME>saver</NAME><INSTANCE_TYPE>small</INSTANCE_TYPE>"
        f"<DISK><STORAGE href='{occi.url}/storage/{first}'/></DISK>"
        f"<DISK><STORAGE href='{occi.url}/storage/{second}'/></DISK></COMPUTE>"
    )
    vm_id = ET.fromstring(occi.request("POST", "/compute", doc, user)[2]).findtext("ID")
    wait(lambda: "RUNNING" in occi.run("onevm", "show", vm_id).stdout, "RUNNING", 60)

    def save(*disks: str, state_: str = "ACTIVE") -> int:
        body = "".join(f'<DISK id="{d}"><SAVE_AS name="copy{d}"/></DISK>' for d in disks)
        doc = f"<COMPUTE><ID>{vm_id}</ID><STATE>{state_}</STATE>{body}</COMPUTE>"
        return occi.request("PUT", f"/compute/{vm_id}", doc, user)[0]

    before = counts(occi)
    assert save("0", state_="SUSPENDED") == 403
    assert save("0", "1") == 403
    assert counts(occi) == before and state(occi, user, vm_id) == "ACTIVE"
    assert put_state(occi, user, vm_id, "POWEROFF")[0] == 202
    wait(lambda: state(occi, user, vm_id) == "POWEROFF", "POWEROFF", 90)
    assert save("0", state_="POWEROFF") == 202
    assert save("1", state_="POWEROFF") == 202
    names = {s.get("name") for s in occi.xml("GET", "/storage", user=user)}
    assert {"copy0", "copy1"} <= names


# ---- bad input ----------------------------------------------------------------------------
BOMB = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    "<NETWORK><NAME>&lol2;</NAME><ADDRESS>10.0.0.0</ADDRESS></NETWORK>"
)
EXTERNAL = (
    '<?xml version="1.0"?><!DOCTYPE n [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<NETWORK><NAME>&x;</NAME><ADDRESS>10.0.0.0</ADDRESS></NETWORK>"
)


@pytest.fixture(scope="module")
def bad_user(occi) -> str:
    return occi.user("bad_docs")


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/network", "<NETWORK><NAME>x</NAME>", "malformed XML"),
        ("/network", "<STORAGE><NAME>x</NAME></STORAGE>", "send <NETWORK>"),
        ("/network", BOMB, "DOCTYPE"),
        ("/network", EXTERNAL, "DOCTYPE"),
        (
            "/network",
            "<NETWORK><NAME>n</NAME><ADDRESS>300.1.1.1</ADDRESS></NETWORK>",
            "NETWORK/ADDRESS",
        ),
        (
            "/compute",
            "<COMPUTE><INSTANCE_TYPE>huge</INSTANCE_TYPE></COMPUTE>",
            "INSTANCE_TYPE 'huge'",
        ),
        (
            "/compute",
            "<COMPUTE><INSTANCE_TYPE>small</INSTANCE_TYPE>"
            "<DISK><STORAGE href='/storage/999'/></DISK></COMPUTE>",
            "COMPUTE/DISK[0]/STORAGE names image 999",
        ),
        (
            "/compute",
            "<COMPUTE><INSTANCE_TYPE>small</INSTANCE_TYPE>"
            "<NIC><NETWORK href='/compute/1'/></NIC></COMPUTE>",
            "COMPUTE/NIC[0]/NETWORK href",
        ),
        ("/compute", "", "the body is empty"),
    ],
)
def test_bad_documents_are_400_naming_the_field_and_create_nothing(
    occi, bad_user, path, body, needle
):
    before = counts(occi)
    status, headers, text = occi.request("POST", path, body, "bad_docs")
    assert status == 400, text
    assert headers["Content-Type"].startswith("text/plain") and needle in text, text
    assert "lollol" not in text and "root:" not in text
    assert counts(occi) == before


def test_storage_posts_refused(occi, tmp_path):
    occi.user("bad_storage")
    before = counts(occi)
    status, body = occi.curl("-F", "other=1", "/storage", user="bad_storage")
    assert status == 400 and "not present" in body
    status, body = occi.curl(
        "--form-string",
        "occixml=<STORAGE><NAME>x</NAME><TYPE>OS</TYPE></STORAGE>",
        "/storage",
        user="bad_storage",
    )
    assert status == 400 and "'file'" in body
    status, _h, body = occi.request("POST", "/storage", "<STORAGE/>", "bad_storage")
    assert status == 400 and "multipart" in body
    assert counts(occi) == before


def test_an_oversized_body_is_413_and_unknown_ids_404(occi):
    occi.user("big")
    huge = "<NETWORK><NAME>" + "x" * (2 * 1024 * 1024) + "</NAME></NETWORK>"
    status, _h, body = occi.request("POST", "/network", huge, "big")
    assert status == 413 and "larger than" in body
    for path in ("/compute/4242", "/network/4242", "/storage/4242", "/compute/abc"):
        assert occi.request("GET", path, user="big")[0] == 404
    assert (
        occi.request("PUT", "/compute/4242", "<COMPUTE><STATE>DONE</STATE></COMPUTE>", "big")[0]
        == 404
    )
    assert occi.request("DELETE", "/network/4242", user="big")[0] == 404


def test_an_unknown_state_is_400_and_a_wrong_source_403(occi):
    user = occi.user("stater")
    sid = datablock(occi, user, "st").findtext("ID")
    doc = (
        "<COMPUTE><INSTANCE_TYPE>small</INSTANCE_TYPE>"
        f"<DISK><STORAGE href='/storage/{sid}'/></DISK></COMPUTE>"
    )
    vm_id = ET.fromstring(occi.request("POST", "/compute", doc, user)[2]).findtext("ID")
    status, body = put_state(occi, user, vm_id, "FLYING")
    assert status == 400 and "Invalid state" in body
    status, body = put_state(occi, user, vm_id, "HOLD")
    assert status == 403 and "cannot be changed" in body
    assert put_state(occi, user, vm_id, "DONE")[0] == 202


def test_another_users_objects(occi):
    owner, other = occi.user("own1"), occi.user("other1")
    sid = datablock(occi, owner, "mine").findtext("ID")
    nid = network(occi, owner, "minenet").findtext("ID")
    for path in (f"/storage/{sid}", f"/network/{nid}"):
        assert occi.request("GET", path, user=other)[0] == 403
        assert occi.request("DELETE", path, user=other)[0] == 403
    doc = (
        "<COMPUTE><INSTANCE_TYPE>small</INSTANCE_TYPE>"
        f"<DISK><STORAGE href='/storage/{sid}'/></DISK></COMPUTE>"
    )
    before = counts(occi)
    assert occi.request("POST", "/compute", doc, other)[0] == 403
    assert counts(occi) == before
    seen = {s.get("name") for s in occi.xml("GET", "/storage", user=other)}
    assert "mine" not in seen  # what another user published is listed, not this


def test_user_text_is_data(occi):
    user = occi.user("jinja")
    sid = datablock(occi, user, "j").findtext("ID")
    net = occi.request(
        "POST",
        "/network",
        '<NETWORK><NAME>n{{7*7}}</NAME><DESCRIPTION>{{ 7*7 }} {% raw %}" ]</DESCRIPTION>'
        "<ADDRESS>10.9.0.0</ADDRESS><SIZE>10</SIZE></NETWORK>",
        user,
    )
    assert net[0] == 201, net
    doc = ET.fromstring(net[2])
    assert doc.findtext("NAME") == "n{{7*7}}"
    assert doc.findtext("DESCRIPTION") == '{{ 7*7 }} {% raw %}" ]'
    vm = compute(
        occi,
        user,
        sid,
        doc.findtext("ID"),
        '<CONTEXT><GREETING>{{ 7*7 }}"\n MEMORY = "1</GREETING></CONTEXT>',
    )
    assert vm.findtext("CONTEXT/GREETING") == '{{ 7*7 }}"\n MEMORY = "1'
    assert vm.findtext("MEMORY") == "1024"
    bad = "<COMPUTE><INSTANCE_TYPE>small</INSTANCE_TYPE><CONTEXT><a-b>x</a-b></CONTEXT></COMPUTE>"
    status, _h, body = occi.request("POST", "/compute", bad, user)
    assert status == 400 and "CONTEXT/a-b" in body


def test_a_storage_posted_public_says_public_in_its_answer(occi):
    """The 201 shows the storage as it is after the POST, published (a review finding:
    it said NO while a GET said YES)."""
    occi.user("pubuser")
    doc = (
        "<STORAGE><NAME>pub</NAME><TYPE>DATABLOCK</TYPE><SIZE>1</SIZE>"
        "<PUBLIC>YES</PUBLIC></STORAGE>"
    )
    status, body = occi.curl("--form-string", f"occixml={doc}", "/storage", user="pubuser")
    assert status == 201, body
    posted = ET.fromstring(body)
    assert posted.findtext("PUBLIC") == "YES", body
    shown = occi.xml("GET", f"/storage/{posted.findtext('ID')}", user="pubuser")
    assert shown.findtext("PUBLIC") == "YES"


def test_too_many_parts_in_a_storage_post_say_so(occi):
    occi.user("parts")
    fields = [a for i in range(11) for a in ("-F", f"x{i}=1")]
    doc = "<STORAGE><NAME>p</NAME><TYPE>DATABLOCK</TYPE><SIZE>1</SIZE></STORAGE>"
    status, body = occi.curl(*fields, "--form-string", f"occixml={doc}", "/storage", user="parts")
    assert status == 413
    assert "at most 10 parts" in body, body
    assert "<NAME>p</NAME>" not in occi.curl("/storage?verbose", user="parts")[1]

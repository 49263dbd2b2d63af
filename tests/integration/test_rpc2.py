"""OpenNebula's XML-RPC API on /RPC2, driven by pyone (PyPI) and the standard library's
client against a running server: VMs, templates and hosts, oned's calling convention and
error codes, and what a stranger or a malformed call gets. Every document received is
validated against OpenNebula's XML schemas (``support.rpc2``)."""

from __future__ import annotations

import urllib.error
import urllib.request

import pyone
import pytest
from support.cloud import wait
from support.stores import sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils.core.states import Lcm, VmState

pytestmark = sqlite_only  # an adapter's tests: see support.stores

TINY = 'NAME = "{name}"\nCPU = 0.1\nMEMORY = 32\n'


def _post(rpc2, body: bytes, headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(
        rpc2.endpoint, data=body, headers={"Content-Type": "text/xml", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _running(one, vm_id: int):
    def done():
        vm = one.vm.info(vm_id)
        return vm if (vm.STATE, vm.LCM_STATE) == (VmState.ACTIVE, Lcm.RUNNING) else None

    return wait(done, f"VM {vm_id} RUNNING")


def test_a_template_instantiated_through_pyone_runs_and_terminates(rpc2):
    one = rpc2.one()
    template_id = one.template.allocate(TINY.format(name="rpc-web") + 'NOTE = "{{ 7*7 }}"\n')
    template = one.template.info(template_id)
    assert (template_id, "rpc-web", "oneadmin") == (template.ID, template.NAME, template.UNAME)
    assert template.TEMPLATE["NOTE"] == "{{ 7*7 }}"  # user text is data

    vm_id = one.template.instantiate(template_id, "web-0")
    vm = _running(one, vm_id)
    assert vm.NAME == "web-0" and vm.TEMPLATE["TEMPLATE_ID"] == str(template_id)
    assert vm.USER_TEMPLATE["NOTE"] == "{{ 7*7 }}"
    assert vm.HISTORY_RECORDS.HISTORY[0].HOSTNAME == "localhost"

    listed = one.vmpool.info(-2, -1, -1, -1)
    assert vm_id in [v.ID for v in listed.VM]
    one.vm.action("terminate-hard", vm_id)
    wait(lambda: one.vm.info(vm_id).STATE == VmState.DONE, "the VM DONE")
    assert vm_id not in [v.ID for v in one.vmpool.info(-2, -1, -1, -1).VM]
    assert vm_id in [v.ID for v in one.vmpool.info(-2, -1, -1, -2).VM]  # any state


def test_errors_have_onenebulas_codes_and_change_nothing(rpc2):
    one = rpc2.one()
    with pytest.raises(pyone.OneNoExistsException, match=r"\[one.vm.info\]"):
        one.vm.info(987654)
    with pytest.raises(pyone.OneAuthenticationException):
        rpc2.one(session="oneadmin:wrong").vmpool.info(-2, -1, -1, -1)
    before = len(one.templatepool.info(-2, -1, -1).VMTEMPLATE)
    with pytest.raises(pyone.OneActionException, match="MEMORY"):
        one.template.allocate('NAME = "bad"\nCPU = 1\nMEMORY = "lots"\n')
    assert len(one.templatepool.info(-2, -1, -1).VMTEMPLATE) == before
    # a method onekit lacks, a wrong type: oned's XML_RPC_API error, never a traceback
    assert rpc2.raw("one.vm.migrate", 0, 0, False)[:3:2] == [False, 0x1000]
    answer = rpc2.raw("one.vm.info", "zero")
    assert answer[0] is False and answer[2] == 0x1000 and "id" in answer[1]


def test_a_stranger_or_a_malformed_call_is_refused_before_anything_runs(rpc2):
    status, text = _post(rpc2, b"<methodCall><methodName>one.vm.info")
    assert status == 200 and "<fault>" in text
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><methodCall><methodName>one.vm.info'
        b"</methodName><params><param><value>&b;</value></param></params></methodCall>"
    )
    status, text = _post(rpc2, bomb)
    assert status == 200 and "<fault>" in text and "DOCTYPE" in text
    status, _ = _post(rpc2, b"<methodCall>" + b" " * (2 * 1024 * 1024) + b"</methodCall>")
    assert status == 413
    answer = rpc2.raw("one.vm.info", 0, session="no-colon")
    assert answer[0] is False and answer[2] == 0x0100


def test_pool_filters_and_pages_are_oneds(rpc2):
    """Whose VMs (-3 mine, -2 all I may use, a user id) and which (an id range, or a
    page: offset ``start``, ``-end`` VMs), each VM checked against the caller's rights."""
    rpc2.user("rpc-carol")
    admin, carol = rpc2.one(), rpc2.one("rpc-carol")
    template_id = admin.template.allocate(TINY.format(name="rpc-pool"))
    admin.template.chmod(template_id, -1, -1, -1, -1, -1, -1, 1, -1, -1)  # others may use
    mine = [carol.template.instantiate(template_id, f"carol-{i}", True) for i in range(3)]
    theirs = admin.template.instantiate(template_id, "admin-0", True)

    assert [v.ID for v in carol.vmpool.info(-3, -1, -1, -1).VM] == mine
    assert theirs not in [v.ID for v in carol.vmpool.info(-2, -1, -1, -1).VM]
    everyone = [v.ID for v in admin.vmpool.info(-2, -1, -1, -1).VM]
    assert set(mine) | {theirs} <= set(everyone)
    owner = admin.vm.info(mine[0]).UID
    assert [v.ID for v in admin.vmpool.info(owner, -1, -1, -1).VM] == mine
    assert [v.ID for v in carol.vmpool.info(-3, mine[1], mine[1], -1).VM] == [mine[1]]
    page = carol.vmpool.info(-3, 1, -2, -1).VM  # skip one, take two
    assert [v.ID for v in page] == mine[1:3]
    # another user's VM: unseen, and untouched
    with pytest.raises(pyone.OneAuthorizationException):
        carol.vm.action("release", theirs)
    assert admin.vm.info(theirs).STATE == VmState.HOLD
    answer = rpc2.raw("one.vmpool.info", -5, -1, -1, -1, user="rpc-carol")
    assert answer[0] is False and "filter flag" in answer[1]


def test_owners_rights_and_user_template_through_pyone(rpc2):
    rpc2.user("rpc-dave")
    admin, dave = rpc2.one(), rpc2.one("rpc-dave")
    vm_id = admin.vm.allocate(TINY.format(name="rpc-owned"), True)
    with pytest.raises(pyone.OneAuthorizationException):
        dave.vm.info(vm_id)
    admin.vm.chmod(vm_id, -1, -1, -1, -1, -1, -1, 1, 1, -1)  # others: use and manage
    assert dave.vm.info(vm_id).PERMISSIONS.OTHER_M == 1
    dave.vm.update(vm_id, 'ROLE = "db"\nNOTE = "$(id) {{ 7*7 }}"', 1)
    seen = admin.vm.info(vm_id).USER_TEMPLATE
    assert (seen["ROLE"], seen["NOTE"]) == ("db", "$(id) {{ 7*7 }}")
    with pytest.raises(pyone.OneActionException, match="chmod takes nine"):
        admin.vm.chmod(vm_id, 2, -1, -1, -1, -1, -1, -1, -1, -1)
    dave.vm.action("release", vm_id)  # HOLD -> PENDING: the scheduler deploys it
    _running(admin, vm_id)
    dave.vm.action("poweroff-hard", vm_id)
    wait(lambda: admin.vm.info(vm_id).STATE == VmState.POWEROFF, "the VM POWEROFF")
    with pytest.raises(pyone.OneActionException, match="reboot"):
        dave.vm.action("reboot", vm_id)
    dave.vm.action("terminate", vm_id)  # holds no running guest: deleted
    wait(lambda: admin.vm.info(vm_id).STATE == VmState.DONE, "the VM DONE")


def test_hosts_through_pyone(rpc2):
    one = rpc2.one()
    host = one.host.info(0)
    assert host.NAME == "localhost" and host.HOST_SHARE.MAX_CPU > 0
    assert [h.NAME for h in one.hostpool.info().HOST] == ["localhost"]
    one.host.status(0, 1)
    assert one.host.info(0).STATE == 4  # DISABLED
    one.host.status(0, 0)
    wait(lambda: one.host.info(0).STATE == 2, "the host MONITORED again")
    one.host.update(0, 'RACK = "r1 {{ 7*7 }}"', 1)
    assert one.host.info(0).TEMPLATE["RACK"] == "r1 {{ 7*7 }}"
    rpc2.user("rpc-erin")
    with pytest.raises(pyone.OneAuthorizationException):
        rpc2.one("rpc-erin").host.status(0, 1)
    with pytest.raises(pyone.OneNoExistsException):
        one.host.info(4242)


def _call_body(method: str, *values: str, session: str) -> bytes:
    params = "".join(f"<param><value>{v}</value></param>" for v in (session, *values))
    return (
        f"<methodCall><methodName>{method}</methodName><params>{params}</params></methodCall>"
    ).encode()


@pytest.mark.parametrize(
    ("method", "values", "name"),
    [
        ("one.vmpool.info", ("<int>1180591620717411303424</int>",), "filter flag"),
        (
            "one.vmpool.info",
            ("<int>-2</int>", "<int>-1</int>", "<int>-1</int>", "<i8>4294967296</i8>"),
            "state",
        ),
        ("one.vm.info", ("<i8>-4294967296</i8>",), "id"),
        (
            "one.user.allocate",
            (
                "<string>rpc-big</string>",
                "<string>pw</string>",
                "<string></string>",
                "<array><data><value><int>4294967297</int></value></data></array>",
            ),
            "group ids",
        ),
    ],
)
def test_an_int_beyond_32_bits_is_refused_naming_the_parameter(rpc2, method, values, name):
    """XML-RPC ints are 32-bit (oned's); the standard library reads any size, which the
    store cannot hold: it was an INTERNAL error with a traceback in the server's log."""
    status, text = _post(rpc2, _call_body(method, *values, session=rpc2.session_of("oneadmin")))
    assert status == 200 and "<boolean>0</boolean>" in text and "<int>4096</int>" in text
    assert f"({name}) must be" in text and "32-bit" in text
    assert rpc2.raw("one.userpool.info")[1].count("rpc-big") == 0


def test_a_chown_that_keeps_owner_and_group_still_needs_the_object_and_manage(rpc2):
    """chown(id, -1, -1) answered success for any id, one that does not exist or another
    user's VM: oned checks the object and MANAGE on it whatever the new owner."""
    rpc2.user("rpc-frank")
    admin, frank = rpc2.one(), rpc2.one("rpc-frank")
    with pytest.raises(pyone.OneNoExistsException):
        admin.vm.chown(987654, -1, -1)
    theirs = admin.vm.allocate(TINY.format(name="rpc-not-franks"), True)
    with pytest.raises(pyone.OneAuthorizationException):
        frank.vm.chown(theirs, -1, -1)
    assert admin.vm.chown(theirs, -1, -1) == theirs
    assert (admin.vm.info(theirs).UID, admin.vm.info(theirs).GID) == (0, 0)


def test_a_body_shorter_than_its_length_is_a_fault_not_a_crash(rpc2):
    """A client that stops sending gets XML-RPC's fault, and the log no traceback."""
    import socket

    with socket.create_connection(("127.0.0.1", rpc2.core_port), timeout=30) as sock:
        sock.sendall(
            b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
            b"Content-Length: 500\r\n\r\n<methodCall>"
        )
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and b"<fault>" in answer
    log = (rpc2.instance.home / "var" / "onekit-server.log").read_text()
    assert "Traceback" not in log

"""/RPC2's wire and documents without a server: what a call must be, when the caller is
logged in, how oned's answers look, and that any text of a user's is written as data
into a document every schema-checking parser reads."""

from __future__ import annotations

import xmlrpc.client

import pytest
from lxml import etree
from support.rpc2 import validate

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    InvalidInput,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.permissions import Permissions
from onekit.server.rpc2 import documents, wire
from onekit.server.rpc2.documents import vms
from onekit.server.rpc2.methods.registry import Bool, Int, Method


def _call(method: str, *params) -> bytes:
    return xmlrpc.client.dumps(params, method).encode()


def test_the_caller_is_logged_in_before_the_parameters_after_the_session_are_read():
    seen: list[tuple[str, str]] = []

    def login(method: str, session: str) -> str:
        seen.append((method, session))
        raise wire.RpcError(wire.Code.AUTHENTICATION, "no")

    # a body whose later parameters are no XML-RPC: refused for the login, unread
    body = _call("one.vm.info", "ann:pw", 1).replace(b"<int>1</int>", b"<x>&undefined;" * 9)
    with pytest.raises(wire.RpcError) as refused:
        wire.read_call(body, login)
    assert refused.value.code == wire.Code.AUTHENTICATION
    assert seen == [("one.vm.info", "ann:pw")]
    # the same without <param> around the values, which the unmarshaller accepts
    bare = body.replace(b"<param>", b"").replace(b"</param>", b"")
    with pytest.raises(wire.RpcError) as refused:
        wire.read_call(bare, login)
    assert refused.value.code == wire.Code.AUTHENTICATION
    assert seen[-1] == ("one.vm.info", "ann:pw")


def test_a_call_is_read_with_its_parameters_and_the_session_apart():
    call = wire.read_call(_call("one.vm.action", "ann:pw", "reboot", 7), lambda m, s: s)
    assert (call.method, call.params, call.session) == ("one.vm.action", ("reboot", 7), "ann:pw")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<methodCall><methodName>one.vm.info</methodName>",
        b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><methodCall/>',
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><methodCall/>',
        # these were INTERNAL errors with a traceback in the server's log
        b"<?xml version='1.0' encoding='x-foo'?><methodCall/>",
        _call("one.vm.info", "ann:pw", 1).replace(
            b"<int>1</int>", b"<struct><name>a</name></struct>"
        ),
        _call("one.vm.info", "ann:pw", {"a": 1}).replace(b"<name>a</name>", b""),
    ],
)
def test_what_is_no_call_is_refused_and_no_entity_is_read(body: bytes):
    with pytest.raises(wire.NotXmlRpc):
        wire.read_call(body, lambda m, s: s)


def test_a_call_without_a_session_string_is_an_authentication_error():
    for params in ((), (7,), ("no-colon",)):
        with pytest.raises(wire.RpcError) as refused:
            wire.read_call(_call("one.vm.info", *params), lambda m, s: s)
        assert refused.value.code == wire.Code.AUTHENTICATION


def test_answers_are_oneds_arrays():
    ok = xmlrpc.client.loads(wire.answer("<VM/>"))[0][0]
    assert ok == [True, "<VM/>", 0]
    failed = xmlrpc.client.loads(
        wire.failure("one.vm.info", wire.RpcError(wire.Code.NO_EXISTS, "VM 9 does not exist"))
    )[0][0]
    assert failed == [False, "[one.vm.info] VM 9 does not exist", 0x0400]
    with pytest.raises(xmlrpc.client.Fault):
        xmlrpc.client.loads(wire.fault("no call"))


def test_core_errors_map_to_oneds_codes():
    assert wire.code_of(NotFound("x")) == wire.Code.NO_EXISTS
    assert wire.code_of(AuthorizationError("x")) == wire.Code.AUTHORIZATION
    assert wire.code_of(InvalidInput("x")) == wire.Code.ACTION


def test_parameters_are_checked_by_type_with_oneds_defaults():
    method = Method("one.x.y", (Int("id"), Bool("hold", False)), lambda s, i, h: (i, h))
    assert method(None, (3,)) == (3, False)
    assert method(None, (3, 1)) == (3, True)  # xmlrpc-c reads an int as a boolean too
    assert method(None, (3, 0, "more")) == (3, False)  # oned ignores what it does not read
    for given, fragment in (((), "missing"), (("3",), "must be an int")):
        with pytest.raises(wire.RpcError, match=fragment) as refused:
            method(None, given)
        assert refused.value.code == wire.Code.XML_RPC_API


def test_user_text_is_data_in_every_document():
    hostile = "{{ 7*7 }} <b>&amp; ]]> $(id)\x01"
    body = {
        "ID": 1, "UID": 0, "GID": 0, "UNAME": "oneadmin", "GNAME": "oneadmin", "NAME": hostile,
        "STATE": 1, "LCM_STATE": 0, "TEMPLATE": {"CPU": "1", "MEMORY": "32"},
        "USER_TEMPLATE": {"NOTE": hostile, "V": {"K": hostile}},
        "HISTORY_RECORDS": [{"SEQ": 0, "HOSTNAME": "h", "HID": 0, "ACTION": "deploy"}],
    }  # fmt: skip
    for document in (vms.vm(body), vms.vm_pool([body], False), vms.vm_pool([body], True)):
        root = validate(document)
        vm = root if root.tag == "VM" else root.find("VM")
        expected = hostile.replace("\x01", "\ufffd")
        assert vm.findtext("NAME") == expected
        assert vm.findtext("USER_TEMPLATE/NOTE") == expected
        assert vm.findtext("HISTORY_RECORDS/HISTORY/ACTION") == "30"  # deploy, oned's number
    assert documents.text(12) == "12"
    assert etree.fromstring(f"<a>{documents.text(hostile)}</a>").text.startswith("{{ 7*7 }}")


def test_chmod_bits_keep_what_is_minus_one():
    assert (
        Permissions.from_octal("640").with_bits([-1, -1, 1, -1, 1, -1, 1, -1, -1]).octal() == "764"
    )
    assert Permissions.from_octal("777").with_bits([0] * 9).octal() == "000"
    with pytest.raises(InvalidInput, match="nine"):
        Permissions.from_octal("640").with_bits([2] * 9)

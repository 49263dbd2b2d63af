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

from ansible_collections.onekit.cloud.plugins.module_utils.core.states import Lcm, VmState

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

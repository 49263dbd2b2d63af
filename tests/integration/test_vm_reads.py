"""``vms.list_by_ids``: the VMs asked for alone (what a set's result and the scheduler's
reports read instead of every VM in the store)."""

from __future__ import annotations

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import VmState
from ansible_collections.onekit.cloud.plugins.module_utils.objects import users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, templates, vms

TINY = 'NAME = "tiny"\nCPU = 0.1\nMEMORY = 16\n'


def test_the_vms_asked_for_in_id_order_done_ones_included(
    admin: Session, monkeypatch: pytest.MonkeyPatch
):
    templates.create(admin, TINY)
    made = [vm["ID"] for vm in templates.instantiate(admin, "tiny", 7)]
    (outcome,) = lifecycle.act(admin, [made[2]], "delete")
    assert outcome.error is None
    monkeypatch.setattr(vms, "IDS_PER_READ", 2)  # several queries for one call
    wanted = [made[5], made[2], made[0], made[5], 9999, made[3], made[6]]
    found = vms.list_by_ids(admin, wanted)
    assert [vm["ID"] for vm in found] == sorted({made[0], made[2], made[3], made[5], made[6]})
    assert {vm["ID"]: vm["STATE"] for vm in found}[made[2]] == VmState.DONE
    assert vms.list_by_ids(admin, []) == []


def test_a_user_reads_only_the_vms_it_may_see(admin: Session):
    templates.create(admin, TINY)
    theirs = templates.instantiate(admin, "tiny", 1)[0]["ID"]
    users.create(admin, "bob", "bob-pw")
    bob = Session.login(admin.db, "bob", "bob-pw")
    bobs = vms.create(bob, 'NAME = "mine"\nCPU = 0.1\nMEMORY = 16\n')["ID"]
    assert [vm["ID"] for vm in vms.list_by_ids(bob, [theirs, bobs])] == [bobs]
    assert [vm["ID"] for vm in vms.list_by_ids(admin, [theirs, bobs])] == sorted([theirs, bobs])

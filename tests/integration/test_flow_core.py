"""OneFlow's core against a real store (both backends), no server: who may put what into
a service's VMs, and what a failure report may overwrite."""

from __future__ import annotations

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    NotAllowed,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    documents,
    service_templates,
    services,
)
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import FlowState as S
from ansible_collections.onekit.cloud.plugins.module_utils.objects import images, users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates, vms

TINY = 'NAME = "tiny"\nCPU = 0.1\nMEMORY = 32\n'


@pytest.fixture
def alice(instance, admin):
    users.create(admin, "alice", "alice-pw-1")
    return instance.session("alice", "alice-pw-1")


def _live_vms(admin):
    return vms.list_vms(admin)


def test_vms_made_for_a_user_are_checked_with_that_users_rights(admin, alice):
    """The loop creates a service's VMs as oneadmin *for* the owner: the owner's rights
    decide, so vm_template_contents cannot smuggle in what the owner may not use."""
    tpl = templates.create(admin, TINY)
    objects.chmod(admin, schema.TEMPLATES, tpl["ID"], "604")
    system = Session.system(admin.db)
    alice_id = alice.subject.uid
    with pytest.raises(AuthorizationError):  # RAW is for administrators only
        templates.instantiate_named(
            system, tpl["ID"], ["x"], 'RAW = [ TYPE = "kvm", DATA = "<x/>" ]', owner=alice_id
        )
    image = images.create(admin, 'NAME = "private"\nPATH = "/var/lib/x.img"\n')
    with pytest.raises(AuthorizationError):  # an image alice may not USE
        templates.instantiate_named(
            system, tpl["ID"], ["y"], f'DISK = [ IMAGE_ID = "{image["ID"]}" ]', owner=alice_id
        )
    assert _live_vms(admin) == []
    made = templates.instantiate_named(system, tpl["ID"], ["z"], 'A = "1"', owner=alice_id)
    assert made[0]["UID"] == alice_id and made[0]["UNAME"] == "alice"


def test_a_name_asked_for_twice_makes_one_vm(admin):
    tpl = templates.create(admin, TINY)
    tags = {"SERVICE_ID": "7", "ROLE_NAME": "web"}
    first = templates.instantiate_named(admin, tpl["ID"], ["w0", "w1"], tags, unique_among=tags)
    again = templates.instantiate_named(
        admin, tpl["ID"], ["w0", "w1", "w2"], tags, unique_among=tags
    )
    assert [vm["NAME"] for vm in first] == ["w0", "w1"]
    assert [vm["NAME"] for vm in again] == ["w2"]
    assert sorted(vm["NAME"] for vm in _live_vms(admin)) == ["w0", "w1", "w2"]


def _service(admin, roles=None):
    tpl = templates.create(admin, TINY)
    roles = roles or [{"name": "web", "vm_template": tpl["ID"]}]
    doc = service_templates.create(admin, {"name": "svc", "roles": roles})
    return services.instantiate(admin, doc["ID"])


def _body(admin, service_id):
    return services.show(admin, service_id)["TEMPLATE"]["BODY"]


def test_a_late_failure_report_does_not_undo_a_shutdown(admin):
    service = _service(admin)
    services.plan_step(Session.system(admin.db), FlowConfig())  # DEPLOYING, creation asked
    services.shutdown(admin, service["ID"])  # the user, while the step's playbook runs
    services.record_failures(
        Session.system(admin.db), [(service["ID"], "web", "deploy", "no host has room")]
    )
    body = _body(admin, service["ID"])
    assert body["state"] == S.UNDEPLOYING
    assert body["log"][-1]["message"] == "Role web: no host has room"


def test_a_failure_report_fails_the_role_that_is_still_deploying(admin):
    service = _service(admin)
    services.plan_step(Session.system(admin.db), FlowConfig())
    services.record_failures(
        Session.system(admin.db), [(service["ID"], "web", "deploy", "no host has room")]
    )
    body = _body(admin, service["ID"])
    assert body["state"] == S.FAILED_DEPLOYING
    assert body["roles"][0]["state"] == S.FAILED_DEPLOYING
    assert body["log"][-1]["severity"] == "E"


def test_scale_waits_for_a_warning_to_be_recovered(admin):
    service = _service(admin)
    with admin.write() as w:
        doc = pool.get(w.tx, schema.DOCUMENTS, service["ID"], lock=True)
        doc["TEMPLATE"]["BODY"]["state"] = int(S.WARNING)
        pool.update(w.tx, schema.DOCUMENTS, doc)
    with pytest.raises(NotAllowed, match="recover"):
        services.scale(admin, service["ID"], "web", 3)


@pytest.mark.parametrize("ref", ["²", "٣", "1e3", "-1", "99999999999999"])
def test_odd_ids_are_not_found(admin, ref):
    _service(admin)
    with admin.read() as w, pytest.raises(NotFound):
        documents.get(w.tx, ref, documents.SERVICE)

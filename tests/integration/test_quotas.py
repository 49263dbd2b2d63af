"""VM quotas of users and groups (OpenNebula 4.6's ``oneuser quota``/``onegroup quota``):
set and shown through the CLIs, enforced at allocation and chown, both backends.

Every refusal is checked as a user sees it (exit 1, one line naming the limit) and with the
store exactly as it was (``assert_refused``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from support.cli import assert_error, assert_refused, created_id, login_as

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, remote, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import AuthorizationError
from ansible_collections.onekit.cloud.plugins.module_utils.objects import groups, users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates

SMALL = 'NAME = "small"\nCPU = 0.5\nMEMORY = 512\n'


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def quota(cli, kind: str, ref: str) -> dict:
    return cli.json(f"one{kind}", "show", ref)[kind.upper()]["VM_QUOTA"]


def vm_count(instance) -> int:
    with instance.database().snapshot() as tx:
        return tx.row("SELECT COUNT(*) FROM vm_pool")[0]


def bob(cli, tmp_path: Path, group: str | None = None) -> dict[str, str]:
    args = ("--group", group) if group else ()
    created_id(cli("oneuser", "create", "bob", "bob-pw", *args))
    return login_as(tmp_path, "bob", "bob-pw")


def test_set_show_and_enforce_a_user_quota(cli, instance, tmp_path):
    """The quota is set and shown with its usage; allocation is allowed up to exactly the
    limit and refused beyond it (nothing written); a deleted VM frees its share."""
    env = bob(cli, tmp_path)
    assert quota(cli, "user", "bob") == {
        "VMS": -1, "VMS_USED": 0, "CPU": -1, "CPU_USED": 0, "MEMORY": -1, "MEMORY_USED": 0,
    }  # fmt: skip
    limits = write(tmp_path, "q.tmpl", "VM = [ VMS = 4, CPU = 2, MEMORY = 1024 ]\n")
    set_out = cli("oneuser", "quota", "bob", limits, check=True).stdout
    assert "VM QUOTA" in set_out and "0 / 4" in set_out
    small = write(tmp_path, "small.tmpl", SMALL)
    first = cli("onevm", "create", small, env=env, check=True).stdout
    cli("onevm", "create", small, env=env, check=True)  # MEMORY: exactly the 1024 limit
    shown = quota(cli, "user", "bob")
    assert (shown["VMS_USED"], shown["CPU_USED"], shown["MEMORY_USED"]) == (2, 1, 1024)
    text = cli("oneuser", "show", "bob", env=env, check=True).stdout  # bob reads his own
    assert "VM QUOTA" in text and "2 / 4" in text and "1G / 1G" in text and "1.00 / 2.00" in text

    before = vm_count(instance)
    assert_refused(
        cli, instance.database(), ("onevm", "create", small),
        "user bob's VM quota: MEMORY 1024 MB of 1024 in use, this asks 512 MB more", env=env,
    )  # fmt: skip
    assert vm_count(instance) == before

    vm_id = first.split(":")[-1].strip()
    cli("onevm", "delete", vm_id, env=env, check=True)  # DONE: no longer counted
    assert quota(cli, "user", "bob")["MEMORY_USED"] == 512
    cli("onevm", "create", small, env=env, check=True)


def test_each_limit_refuses_the_whole_request(cli, instance, tmp_path):
    """VMS, CPU and MEMORY each refuse; a --multiple instantiate over the limit makes none."""
    env = bob(cli, tmp_path)
    small = write(tmp_path, "small.tmpl", SMALL)
    cli("onetemplate", "create", small, env=env, check=True)
    db = instance.database()
    for limits, message in (
        # the VMs of the request made before count: the third (or second) is refused
        ("VM = [ VMS = 2 ]", "VMS 2 of 2 in use, this asks 1 more"),
        ("VM = [ VMS = -1, CPU = 1 ]", "CPU 1 of 1 in use, this asks 0.5 more"),
        ("VM = [ CPU = -1, MEMORY = 1000 ]", "MEMORY 512 MB of 1000 in use, this asks 512 MB more"),
    ):
        cli("oneuser", "quota", "bob", "-", input=limits, check=True)
        args = ("onetemplate", "instantiate", "small", "--multiple", "3")
        before = vm_count(instance)
        assert_refused(cli, db, args, f"user bob's VM quota: {message}", env=env)
        assert vm_count(instance) == before
    assert quota(cli, "user", "bob") == {
        "VMS": -1, "VMS_USED": 0, "CPU": -1, "CPU_USED": 0, "MEMORY": 1000, "MEMORY_USED": 0,
    }  # fmt: skip
    cli("oneuser", "quota", "bob", "-", input="VM = [ VMS = 0, MEMORY = -1 ]", check=True)
    assert_refused(
        cli, db, ("onevm", "create", small), "VMS 0 of 0 in use, this asks 1 more", env=env
    )


def test_a_group_quota_applies_to_its_members(cli, instance, tmp_path):
    cli("onegroup", "create", "web", check=True)
    env = bob(cli, tmp_path, group="web")
    created_id(cli("oneuser", "create", "carol", "carol-pw", "--group", "web"))
    carol = login_as(tmp_path, "carol", "carol-pw")
    cli("onegroup", "quota", "web", "-", input="VM = [ VMS = 1 ]", check=True)
    small = write(tmp_path, "small.tmpl", SMALL)
    cli("onevm", "create", small, env=env, check=True)
    assert_refused(
        cli, instance.database(), ("onevm", "create", small),
        "group web's VM quota: VMS 1 of 1 in use, this asks 1 more", env=carol,
    )  # fmt: skip
    shown = quota(cli, "group", "web")
    assert (shown["VMS"], shown["VMS_USED"]) == (1, 1)
    assert "1 / 1" in cli("onegroup", "show", "web", env=carol, check=True).stdout


def test_oneadmin_is_not_limited_and_only_admins_set_quotas(cli, instance, tmp_path):
    env = bob(cli, tmp_path)
    db = instance.database()
    zero = write(tmp_path, "zero.tmpl", "VM = [ VMS = 0 ]")
    assert_refused(
        cli, db, ("oneuser", "quota", "bob", zero), "not authorized to perform ADMIN USER", env=env
    )
    assert_refused(
        cli, db, ("onegroup", "quota", "users", zero), "not authorized to perform ADMIN GROUP",
        env=env,
    )  # fmt: skip
    assert_refused(cli, db, ("oneuser", "quota", "oneadmin", zero), "oneadmin user has no quotas")
    assert_refused(cli, db, ("onegroup", "quota", "oneadmin", zero), "oneadmin group has no")
    # the users group at 0 VMs stops bob, never oneadmin (group oneadmin)
    cli("onegroup", "quota", "users", zero, check=True)
    small = write(tmp_path, "small.tmpl", SMALL)
    assert_refused(cli, db, ("onevm", "create", small), "group users's VM quota", env=env)
    cli("onevm", "create", small, check=True)


def test_chown_checks_the_new_owners_quota(cli, instance, tmp_path):
    bob(cli, tmp_path)
    cli("oneuser", "quota", "bob", "-", input="VM = [ VMS = 1 ]", check=True)
    small = write(tmp_path, "small.tmpl", SMALL)
    ids = [created_id(cli("onevm", "create", small)) for _ in range(2)]
    cli("onevm", "chown", str(ids[0]), "bob", check=True)
    assert quota(cli, "user", "bob")["VMS_USED"] == 1
    assert_refused(
        cli, instance.database(), ("onevm", "chown", str(ids[1]), "bob"),
        "user bob's VM quota: VMS 1 of 1 in use, this asks 1 more",
    )  # fmt: skip


def test_malformed_quota_templates_are_refused_naming_the_field(cli, instance, tmp_path):
    bob(cli, tmp_path)
    db = instance.database()
    for text, needle in (
        ('VM = [ CPU = "lots" ]', "VM/CPU must be a number"),
        ("VM = [ VMS = -3 ]", "VM/VMS must be -1 (unlimited), 0 or more, got -3"),
        ("VM = [ MEMORY = 1.5 ]", "VM/MEMORY must be a whole number"),
        ("VM = [ VMS = -2 ]", "VM/VMS = -2 (the default quota) is not supported"),
        ("VM = [ DISKS = 3 ]", "the quota's VM has VM/DISKS"),
        ("DATASTORE = [ ID = 1, SIZE = 10 ]", "the quota template has DATASTORE"),
        ('VM = [ MEMORY = "{{ 7*7 }}" ]', "VM/MEMORY must be a whole number"),
        ("VMS = 4", "the quota template has VMS"),
    ):
        path = write(tmp_path, "bad.tmpl", text)
        assert_refused(cli, db, ("oneuser", "quota", "bob", path), needle)
    # the {{ }} text was data, never evaluated to 49
    assert quota(cli, "user", "bob")["MEMORY"] == -1
    assert_error(cli("oneuser", "quota", "bob", str(tmp_path / "none")), "oneuser", "quota",
                 "cannot read quota file")  # fmt: skip


def test_core_api_quota_operations(server, cli, instance, tmp_path):
    """users.quota / users.set_quota over the core API: a non-admin's set is a 403."""
    bob(cli, tmp_path)
    endpoint = instance.config().endpoint
    admin = instance.credentials()
    answer = remote.call(endpoint, admin, "users.set_quota", ("bob", "VM = [ VMS = 3 ]"), {})
    assert answer["VM"]["VMS"] == 3
    shown = remote.call(endpoint, ("bob", "bob-pw"), "users.quota", ("bob",), {})
    assert (shown["NAME"], shown["VM"]["VMS"], shown["VM"]["VMS_USED"]) == ("bob", 3, 0)
    with pytest.raises(AuthorizationError, match="not authorized to perform ADMIN USER") as err:
        remote.call(endpoint, ("bob", "bob-pw"), "users.set_quota", ("bob", "VM = [ VMS = 9 ]"))
    assert err.value.http_status == 403
    group = remote.call(endpoint, admin, "groups.set_quota", ("users", "VM = [ CPU = 4 ]"), {})
    assert group["VM"]["CPU"] == 4


def test_a_vm_made_for_an_owner_counts_against_the_owners_quota(admin, cli, tmp_path):
    """The path of the vm module and OneFlow (``instantiate_named`` with ``owner``: made by
    oneadmin as the service's owner): the owner's quota decides, all or nothing."""
    bob(cli, tmp_path)
    tpl = templates.create(admin, SMALL)
    objects.chown(admin, schema.TEMPLATES, tpl["ID"], "bob")  # bob may use it
    users.set_quota(admin, "bob", "VM = [ VMS = 2 ]")
    uid = users.show(admin, "bob")["ID"]
    with pytest.raises(AuthorizationError, match="user bob's VM quota: VMS 2 of 2 in use"):
        templates.instantiate_named(admin, tpl["ID"], ["a", "b", "c"], owner=uid)
    assert users.quota(admin, "bob")["VM"]["VMS_USED"] == 0  # none of the three made
    made = templates.instantiate_named(admin, tpl["ID"], ["a", "b"], owner=uid)
    assert [vm["UID"] for vm in made] == [uid, uid]
    assert users.quota(admin, "bob")["VM"]["VMS_USED"] == 2


def test_quotas_stay_in_the_zone_a_slave_sets_them_locally(admin, cli, tmp_path):
    """A federation slave (a session with a master endpoint) writes its own quota table:
    set_quota is not a shared write, so it is neither forwarded nor refused."""
    bob(cli, tmp_path)
    assert not getattr(users.set_quota, "federated", False)
    assert not getattr(groups.set_quota, "federated", False)
    slave = dataclasses.replace(admin, master_endpoint="http://127.0.0.1:9")  # no master
    users.set_quota(slave, "bob", "VM = [ VMS = 3 ]")
    groups.set_quota(slave, "users", "VM = [ CPU = 2 ]")
    assert users.quota(admin, "bob")["VM"]["VMS"] == 3
    assert groups.quota(admin, "users")["VM"]["CPU"] == 2
    with admin.db.snapshot() as tx:  # in the local tables, not in the replicated bodies
        assert "VMS" not in json.dumps(pool.get(tx, schema.USERS, 1))
        assert {t.name for t in schema.LOCAL_TABLES} >= {"user_quotas", "group_quotas"}
        assert not {"user_quotas", "group_quotas"} & set(schema.SHARED_TABLE_NAMES)

"""The modules onekit.cloud.{user,group,acl} through real ansible-playbook runs.

Each playbook checks what the tasks report (``register`` + ``assert``) and the test then checks
the store from Python with the core. Runs are few and batched: ansible-playbook costs ~2 s.
"""

from __future__ import annotations

import json
import marshal
from types import CodeType

import pytest
from conftest import VENV_BIN, store_snapshot
from support.plays import HEAD, ok, sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthenticationError,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls, groups, users


def can_login(instance: Instance, name: str, password: str) -> bool:
    try:
        session = instance.session(name, password)
    except AuthenticationError:
        return False
    session.db.close()
    return True


def rule_strings(admin) -> list[str]:
    return [str(r) for r in acls.list_rules(admin)]


# ---- group -------------------------------------------------------------------------------
GROUP_PLAY = (
    HEAD
    + """
    - name: create ec2
      onekit.cloud.group: {name: ec2}
      register: r
    - assert:
        that:
          - r is changed
          - "r.group == {'id': 100, 'name': 'ec2', 'users': []}"
          - "r.diff.before == {}"
          - r.diff.after.name == 'ec2'

    - name: create ec2 again
      onekit.cloud.group: {name: ec2}
      register: r
    - assert:
        that:
          - r is not changed
          - r.group.id == 100
          - r.diff.before == r.diff.after

    - name: a group whose users may only create VMs
      onekit.cloud.group: {name: ops, resources: VM}
      register: r
    - assert:
        that:
          - r is changed
          - r.group.id == 101

    - name: a group with no CREATE rule
      onekit.cloud.group: {name: bare, resources: ""}
      register: r
    - assert:
        that:
          - r is changed
          - r.group.id == 102

    - name: remove ops
      onekit.cloud.group: {name: ops, state: absent}
      register: r
    - assert:
        that:
          - r is changed
          - "r.group == {'id': 101, 'name': 'ops', 'users': []}"
          - r.diff.before.name == 'ops'
          - "r.diff.after == {}"

    - name: remove ops again
      onekit.cloud.group: {name: ops, state: absent}
      register: r
    - assert:
        that:
          - r is not changed
          - "r.group == {}"
"""
)


def test_group_module(playbook, admin):
    result = ok(playbook(GROUP_PLAY, "--diff"))
    assert [(g["ID"], g["NAME"]) for g in groups.list_groups(admin)] == [
        (0, "oneadmin"),
        (1, "users"),
        (100, "ec2"),
        (102, "bare"),
    ]
    rules = rule_strings(admin)
    assert "@100 VM+NET+IMAGE+TEMPLATE+DOCUMENT/* CREATE #0" in rules
    assert not [r for r in rules if r.startswith(("@101 ", "@102 "))]
    # --diff prints the object before and after
    assert "--- before" in result.stdout and "+++ after" in result.stdout
    assert '+    "name": "ec2"' in result.stdout
    assert '-    "name": "ops"' in result.stdout


# ---- acl ---------------------------------------------------------------------------------
ACL_PLAY = (
    HEAD
    + """
    - name: add a rule, written loosely
      onekit.cloud.acl: {rule: "@1 net+vm/* USE"}
      register: r
    - assert:
        that:
          - r is changed
          - "r.acl == {'id': 2, 'rule': '@1 VM+NET/* USE #0', 'user': '@1',
                       'resource': 'VM+NET/*', 'rights': 'USE', 'zone': '#0'}"
          - "r.diff.before == {}"
          - "r.diff.after.rule == '@1 VM+NET/* USE #0'"

    - name: the same rule, written canonically
      onekit.cloud.acl: {rule: "@1 VM+NET/* USE"}
      register: r
    - assert:
        that:
          - r is not changed
          - r.acl.id == 2

    - name: the same rule, other order and case, explicit local zone
      onekit.cloud.acl: {rule: "@1 NET+VM/* use #0"}
      register: r
    - assert:
        that:
          - r is not changed
          - r.acl.id == 2

    - name: another zone is another rule
      onekit.cloud.acl: {rule: "@1 VM+NET/* USE *"}
      register: r
    - assert:
        that:
          - r is changed
          - r.acl.id == 3
          - r.acl.zone == '*'

    - name: remove the first rule, written another way
      onekit.cloud.acl: {rule: "@1 vm+net/* USE", state: absent}
      register: r
    - assert:
        that:
          - r is changed
          - r.acl.id == 2
          - "r.diff.before.rule == '@1 VM+NET/* USE #0'"
          - "r.diff.after == {}"

    - name: remove it again
      onekit.cloud.acl: {rule: "@1 VM+NET/* USE", state: absent}
      register: r
    - assert:
        that:
          - r is not changed
          - "r.acl == {}"

    - name: drop the bootstrap zone rule
      onekit.cloud.acl: {rule: "* ZONE/* USE *", state: absent}
      register: r
    - assert:
        that:
          - r is changed
          - r.acl.id == 1
"""
)


def test_acl_module(playbook, admin):
    result = ok(playbook(ACL_PLAY, "--diff"))
    assert [(r.oid, str(r)) for r in acls.list_rules(admin)] == [
        (0, "@1 VM+IMAGE+TEMPLATE+DOCUMENT+SECGROUP/* CREATE *"),
        (3, "@1 VM+NET/* USE *"),
    ]
    assert '+    "rule": "@1 VM+NET/* USE #0"' in result.stdout
    assert '-    "rule": "@1 VM+NET/* USE #0"' in result.stdout


# ---- user --------------------------------------------------------------------------------
USER_PLAY = (
    HEAD
    + """
    - name: create alice
      onekit.cloud.user: {name: alice, password: first-pw-1}
      register: r
    - assert:
        that:
          - r is changed
          - "r.user == {'id': 1, 'name': 'alice', 'gid': 1, 'group': 'users', 'groups': [1],
                        'auth_driver': 'core', 'enabled': true}"
          - "r.diff.before == {}"
          - r.diff.after.name == 'alice'

    - name: create alice again
      onekit.cloud.user: {name: alice, password: first-pw-1}
      register: r
    - assert:
        that:
          - r is not changed
          - r.user.id == 1

    - name: a new password (update_password always)
      onekit.cloud.user: {name: alice, password: second-pw-2}
      register: r
    - assert:
        that:
          - r is changed

    - name: another password, but only on create
      onekit.cloud.user: {name: alice, password: third-pw-3, update_password: on_create}
      register: r
    - assert:
        that:
          - r is not changed

    - name: move to ec2
      onekit.cloud.user: {name: alice, group: ec2}
      register: r
    - assert:
        that:
          - r is changed
          - r.user.gid == 100
          - r.user.group == 'ec2'
          - r.user.groups == [100]
          - r.diff.before.group == 'users'
          - r.diff.after.group == 'ec2'

    - name: move to ec2 again (by id)
      onekit.cloud.user: {name: alice, group: "100"}
      register: r
    - assert:
        that:
          - r is not changed

    - name: exactly web and dev as secondary groups
      onekit.cloud.user: {name: alice, groups: [web, dev]}
      register: r
    - assert:
        that:
          - r is changed
          - r.user.groups == [100, 101, 102]

    - name: the same groups
      onekit.cloud.user: {name: alice, groups: [dev, "101"]}
      register: r
    - assert:
        that:
          - r is not changed

    - name: append a group already there
      onekit.cloud.user: {name: alice, groups: [web], append: true}
      register: r
    - assert:
        that:
          - r is not changed
          - r.user.groups == [100, 101, 102]

    - name: append users
      onekit.cloud.user: {name: alice, groups: [users], append: true}
      register: r
    - assert:
        that:
          - r is changed
          - r.user.groups == [100, 101, 102, 1]

    - name: exactly dev, without append, drops web and users
      onekit.cloud.user: {name: alice, groups: [dev]}
      register: r
    - assert:
        that:
          - r is changed
          - r.user.groups == [100, 102]
          - r.user.gid == 100

    - name: another auth driver
      onekit.cloud.user: {name: alice, auth_driver: public}
      register: r
    - assert:
        that:
          - r is changed
          - r.user.auth_driver == 'public'

    - name: create bob in web with secondary dev
      onekit.cloud.user: {name: bob, password: bob-pw, group: web, groups: [dev]}
      register: r
    - assert:
        that:
          - r is changed
          - r.user.id == 2
          - r.user.group == 'web'
          - r.user.groups == [101, 102]

    - name: remove bob
      onekit.cloud.user: {name: bob, state: absent}
      register: r
    - assert:
        that:
          - r is changed
          - r.user.name == 'bob'
          - r.diff.before.name == 'bob'
          - "r.diff.after == {}"

    - name: remove bob again
      onekit.cloud.user: {name: bob, state: absent}
      register: r
    - assert:
        that:
          - r is not changed
          - "r.user == {}"
"""
)


def test_user_module(playbook, admin, instance: Instance):
    for name in ("ec2", "web", "dev"):  # 100, 101, 102
        groups.create(admin, name)
    result = ok(playbook(USER_PLAY, "--diff"))

    alice = users.show(admin, "alice")
    assert (alice["GID"], alice["GNAME"], alice["GROUPS"], alice["AUTH_DRIVER"]) == (
        100,
        "ec2",
        [100, 102],
        "public",
    )
    with pytest.raises(NotFound):
        users.show(admin, "bob")
    members = {g["NAME"]: g["USERS"] for g in groups.list_groups(admin)}
    assert members == {"oneadmin": [0], "users": [], "ec2": [1], "web": [], "dev": [1]}
    # always replaced the password, on_create did not
    assert can_login(instance, "alice", "second-pw-2")
    assert not can_login(instance, "alice", "first-pw-1")
    assert not can_login(instance, "alice", "third-pw-3")
    # passwords are never shown, not even in the diff
    for secret in ("first-pw-1", "second-pw-2", "third-pw-3", "bob-pw"):
        assert secret not in result.stdout + result.stderr
    assert '+    "group": "ec2"' in result.stdout and '-    "group": "users"' in result.stdout


DIFF_PLAY = (
    HEAD
    + """
    - name: add alice to web
      onekit.cloud.user: {name: alice, groups: [web]}
      register: r
    - assert:
        that:
          - r is changed
          - r.diff.after.groups == [1, 100]
          - r.diff.before.groups == [1]
"""
)


def test_user_diff_shows_the_groups_before_the_change(playbook, admin):
    groups.create(admin, "web")
    users.create(admin, "alice", "pw")
    result = playbook(DIFF_PLAY, "--diff")
    assert result.returncode == 0, result.stdout
    assert "+        100" in result.stdout


# ---- check mode --------------------------------------------------------------------------
CHECK_PLAY = (
    HEAD
    + """
    - name: a new group
      onekit.cloud.group: {name: fresh}
      register: r
    - assert:
        that:
          - r is changed
          - r.group.name == 'fresh'
          - r.diff.after.name == 'fresh'

    - name: a new user, in a group that exists
      onekit.cloud.user: {name: newbie, password: newbie-pw, group: old, groups: [users]}
      register: r
    - assert:
        that:
          - r is changed
          - r.user.name == 'newbie'
          - r.user.group == 'old'
          - "r.diff.before == {}"

    - name: a new rule
      onekit.cloud.acl: {rule: "@100 HOST/#2 USE"}
      register: r
    - assert:
        that:
          - r is changed
          - "r.acl.rule == '@100 HOST/#2 USE #0'"

    - name: a new password for an existing user
      onekit.cloud.user: {name: olduser, password: changed-pw}
      register: r
    - assert:
        that:
          - r is changed

    - name: an existing group is no change, in check mode too
      onekit.cloud.group: {name: old}
      register: r
    - assert:
        that:
          - r is not changed
          - r.group.id == 100

    - name: remove an existing rule
      onekit.cloud.acl: {rule: "@100 HOST/#3 USE", state: absent}
      register: r
    - assert:
        that:
          - r is changed
          - "r.diff.after == {}"

    - name: remove an existing user
      onekit.cloud.user: {name: olduser, state: absent}
      register: r
    - assert:
        that:
          - r is changed
          - r.user.name == 'olduser'

    - name: remove an empty group
      onekit.cloud.group: {name: empty, state: absent}
      register: r
    - assert:
        that:
          - r is changed
          - r.group.name == 'empty'
"""
)


def test_check_mode_reports_changes_and_makes_none(playbook, admin, instance: Instance):
    groups.create(admin, "old")  # 100
    groups.create(admin, "empty")  # 101
    users.create(admin, "olduser", "old-pw", group="old")
    acls.create(admin, "@100 HOST/#3 USE")
    before = store_snapshot(admin.db)
    result = ok(playbook(CHECK_PLAY, "--check", "--diff"))
    assert "changed=7" in result.stdout
    assert store_snapshot(admin.db) == before
    assert can_login(instance, "olduser", "old-pw")
    assert '+    "name": "fresh"' in result.stdout
    assert '+    "name": "newbie"' in result.stdout
    assert '-    "name": "olduser"' in result.stdout


# ---- bad input ---------------------------------------------------------------------------
def failing(task: str, module: str, args: str, *needles: str, error: str | None = None) -> str:
    """A task expected to fail, and the assert on its message."""
    checks = "".join(f"\n          - {json.dumps(f'{needle!r} in r.msg')}" for needle in needles)
    if error:
        checks += f"\n          - {json.dumps(f'r.error == {error!r}')}"
    return f"""
    - name: {task}
      onekit.cloud.{module}: {args}
      register: r
      ignore_errors: true
    - assert:
        that:
          - r is failed
          - r is not changed{checks}
"""


BAD_TASKS = [
    failing(
        "rule with two parts",
        "acl",
        '{rule: "@1 VM/*"}',
        "ACL rule '@1 VM/*' has 2 parts, expected 3 or 4",
        error="InvalidInput",
    ),
    failing(
        "group selector on HOST",
        "acl",
        '{rule: "@1 HOST/@1 USE"}',
        "@<group> does not apply to HOST",
    ),
    failing(
        "rule for a group that does not exist",
        "acl",
        '{rule: "@99 VM/* USE"}',
        "ACL rule names group @99, which does not exist",
    ),
    failing(
        "new user in an unknown group",
        "user",
        "{name: newbie, password: pw, group: nogroup}",
        "group named 'nogroup' does not exist",
        error="NotFound",
    ),
    failing(
        "new user with an unknown secondary group",
        "user",
        "{name: newbie, password: pw, groups: [users, nogroup]}",
        "group named 'nogroup' does not exist",
    ),
    # the password would change first: the whole task is one transaction
    failing(
        "existing user, new password and an unknown group",
        "user",
        '{name: alice, password: new-alice-pw, group: "999"}',
        "group 999 does not exist",
    ),
    failing(
        "new user without a password",
        "user",
        "{name: newbie}",
        "password is required to create user newbie",
    ),
    failing(
        "remove oneadmin",
        "user",
        "{name: oneadmin, state: absent}",
        "user 0 (oneadmin) cannot be deleted",
        error="Conflict",
    ),
    failing(
        "remove a group with users",
        "group",
        "{name: ec2, state: absent}",
        "group ec2 is not empty (users: alice)",
    ),
    failing(
        "wrong api_password (user)",
        "user",
        "{name: newbie, password: pw, api_username: oneadmin, api_password: wrong}",
        "authentication failed for user 'oneadmin'",
        error="AuthenticationError",
    ),
    failing(
        "api_username without api_password",
        "group",
        "{name: g, api_username: oneadmin}",
        "parameters are required together: api_username, api_password",
    ),
    failing(
        "a regular user creating a group",
        "group",
        "{name: g, api_username: alice, api_password: alice-pw}",
        "user alice [1] is not authorized to perform CREATE GROUP",
        error="AuthorizationError",
    ),
    failing(
        "a regular user managing ACL rules",
        "acl",
        '{rule: "#1 VM/* USE", api_username: alice, api_password: alice-pw}',
        "not authorized to perform MANAGE ACL",
    ),
]


def test_bad_input_fails_the_task_and_changes_nothing(playbook, admin, instance: Instance):
    groups.create(admin, "ec2")
    users.create(admin, "alice", "alice-pw", group="ec2")
    before = store_snapshot(admin.db)
    result = ok(playbook(HEAD + "".join(BAD_TASKS)))
    assert f"ignored={len(BAD_TASKS)}" in result.stdout
    assert store_snapshot(admin.db) == before
    assert can_login(instance, "alice", "alice-pw")
    assert "new-alice-pw" not in result.stdout + result.stderr


def test_api_url_names_the_instance_or_fails_clearly(playbook, instance, admin):
    """community.general's api_url (env ONE_URL): this instance's endpoint works; another
    endpoint fails with the reason and changes nothing."""
    port = instance.config().port
    before = store_snapshot(admin.db)
    result = playbook(
        f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - onekit.cloud.group: {{name: elsewhere, api_url: "http://10.0.0.9:2633"}}
      register: r
      ignore_errors: true
    - assert:
        that:
          - r is failed
          - "'api_url http://10.0.0.9:2633 is not the endpoint of the instance' in r.msg"
    - onekit.cloud.group: {{name: here, api_url: "http://127.0.0.1:{port}"}}
      register: r
    - assert:
        that: [r is changed]
    - name: without api_url, ONE_URL is the endpoint (here a wrong one)
      onekit.cloud.group: {{name: from-env}}
      register: r
      ignore_errors: true
    - assert:
        that:
          - r is failed
          - "'api_url http://127.0.0.1:1 is not the endpoint' in r.msg"
""",
        env={"ONE_URL": "http://127.0.0.1:1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert [g["NAME"] for g in groups.list_groups(admin)][-1] == "here"
    assert "elsewhere" not in str(store_snapshot(admin.db)["group_pool"])
    assert "from-env" not in str(store_snapshot(admin.db)["group_pool"])
    assert before != store_snapshot(admin.db)


# ---- compiled code kept between module runs ------------------------------------------------
NO_OP_PLAY = (
    HEAD
    + """
    - onekit.cloud.vm: {instance_ids: [], state: running}
      register: r
    - assert:
        that: r is not changed and r.instances == []
"""
)


@sqlite_only
def test_modules_keep_their_compiled_code_privately_and_replace_a_bad_copy(playbook, tmp_path):
    """A module's module_utils come in Ansible's zip, which Python recompiles on every
    call: their code is kept in the user's cache (mode 700). A copy that is not code is
    compiled again and replaced; a cache directory others may write is never used.

    The module runs through AnsiballZ as on any other host: with a Python of another path
    than ansible-playbook's (a wrapper of the same venv's), the vm action plugin does not
    run it in the controller's process (plugins/plugin_utils/in_process.py)."""
    wrapper = tmp_path / "other-python"
    wrapper.write_text(f'#!/bin/sh\nexec {VENV_BIN / "python"} "$@"\n')
    wrapper.chmod(0o755)
    zipped = ("-e", f"ansible_python_interpreter={wrapper}")
    kept = tmp_path / "cache" / "onekit" / "bytecode"
    ok(playbook(NO_OP_PLAY, *zipped, env={"XDG_CACHE_HOME": str(tmp_path / "cache")}))
    files = sorted(kept.glob("*.code"))
    assert len(files) > 20 and oct(kept.stat().st_mode & 0o777) == "0o700"
    for path in files:
        path.write_bytes(b"not code")
    ok(playbook(NO_OP_PLAY, *zipped, env={"XDG_CACHE_HOME": str(tmp_path / "cache")}))
    assert sorted(kept.glob("*.code")) == files
    assert all(isinstance(marshal.loads(path.read_bytes()), CodeType) for path in files)

    shared = tmp_path / "shared" / "onekit" / "bytecode"
    shared.mkdir(parents=True)
    shared.chmod(0o777)
    ok(playbook(NO_OP_PLAY, *zipped, env={"XDG_CACHE_HOME": str(tmp_path / "shared")}))
    assert list(shared.iterdir()) == []

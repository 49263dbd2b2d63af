"""Zones and the core API, on real servers: ``onezone`` manages the zone table, ``onezone
set`` sends every command to another front-end's core API, and a federation slave sends
its writes of the shared tables (users, groups, ACL rules, zones) to the master.

Replication itself (MySQL) is the federation playbook's test; here a slave that replicates
nothing shows that the shared writes really go to the master and never to its own store."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Cli
from support.cli import assert_error, created_id
from support.plays import HEAD, ok, sqlite_only
from support.ports import free_port

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import NotFound
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import VmState
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import GateConfig
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls, hosts, users, zones
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates, vms


def other_instance(home: Path, password: str | None = None, federation: str = "") -> Instance:
    """A second front-end on this machine (SQLite, its own ports); ``federation`` is an
    oned.conf FEDERATION line added before it starts."""
    inst = Instance(home)
    inst.init(
        InstanceConfig(port=free_port()),
        admin_password=password,
        flow=FlowConfig(port=free_port()),
        onegate=GateConfig(port=free_port()),
    )
    if federation:
        with inst.config_path.open("a") as conf:
            conf.write(federation + "\n")
    return inst


@pytest.fixture
def running(tmp_path) -> Iterator:
    """Start the servers of instances; every one is stopped at the end."""
    started: list[Cli] = []

    def start(inst: Instance) -> Cli:
        cli = Cli(inst)
        cli("onekit-server", "start", check=True)
        started.append(cli)
        return cli

    yield start
    for cli in started:
        cli("onekit-server", "stop")


def zone_file(tmp_path: Path, name: str, endpoint: str) -> str:
    path = tmp_path / f"{name}.zone"
    path.write_text(f'NAME = "{name}"\nENDPOINT = "{endpoint}"\n')
    return str(path)


@sqlite_only
def test_zone_0_is_this_instance_and_onezone_manages_the_zones(instance, cli, tmp_path):
    zone0 = cli.json("onezone", "show", "0")["ZONE"]
    assert (zone0["NAME"], zone0["TEMPLATE"]["ENDPOINT"]) == (
        "OpenNebula",
        instance.config().endpoint,
    )
    listed = cli("onezone", "list", check=True).stdout.splitlines()
    assert listed[1].split() == ["*", "0", "OpenNebula", instance.config().endpoint]

    zone_id = created_id(
        cli("onezone", "create", zone_file(tmp_path, "zone-b", "http://10.0.0.2:2633"))
    )
    assert zone_id == 100
    extra = tmp_path / "extra"
    extra.write_text('DESCRIPTION = "the second data center"\n')
    cli("onezone", "update", "zone-b", str(extra), "--append", check=True)
    cli("onezone", "rename", "100", "dc2", check=True)
    shown = cli("onezone", "show", "dc2", check=True).stdout
    assert 'ENDPOINT="http://10.0.0.2:2633"' in shown
    assert 'DESCRIPTION="the second data center"' in shown

    bad = tmp_path / "bad.zone"
    bad.write_text('NAME = "zone-c"\n')
    assert_error(cli("onezone", "create", str(bad)), "onezone", "create", "needs ENDPOINT")
    bad.write_text('NAME = "zone-c"\nENDPOINT = "10.0.0.3"\n')
    assert_error(cli("onezone", "create", str(bad)), "onezone", "create", "ENDPOINT must be")
    assert_error(cli("onezone", "delete", "0"), "onezone", "delete", "master zone")
    assert_error(cli("onezone", "show", "7"), "onezone", "show", "7")
    cli("onezone", "delete", "dc2", check=True)
    assert [z["ID"] for z in cli.json("onezone", "list")["ZONE_POOL"]["ZONE"]] == [0]


@sqlite_only
def test_onezone_set_sends_every_command_to_that_zone(instance, cli, running, tmp_path):
    # oneadmin's password is the same in both, as a federation's shared users make it
    zone_b = other_instance(tmp_path / "zone-b", password=instance.credentials()[1])
    running(zone_b)
    endpoint = zone_b.config().endpoint
    cli("onezone", "create", zone_file(tmp_path, "zone-b", endpoint), check=True)
    as_b: dict = {}

    out = cli("onezone", "set", "zone-b", env=as_b, check=True).stdout
    assert endpoint in out
    tpl = tmp_path / "t.tmpl"
    tpl.write_text('NAME = "in-b"\nCPU = 1\nMEMORY = 64\n')
    assert created_id(cli("onetemplate", "create", str(tpl), env=as_b)) == 0
    with pytest.raises(NotFound):  # made in zone-b's store, not here
        templates.show(instance.session(), "in-b")
    assert templates.show(zone_b.session(), "in-b")["TEMPLATE"]["MEMORY"] == "64"
    listed = cli("onetemplate", "list", env=as_b, check=True).stdout
    assert "in-b" in listed
    marked = [
        line.split() for line in cli("onezone", "list", env=as_b, check=True).stdout.splitlines()
    ]
    # zone-b's own zone table (not shared here) lists itself as zone 0: the active one
    assert marked[1:] == [["*", "0", "OpenNebula", endpoint]]

    # an error there is the same error, with its status and message
    assert_error(cli("onetemplate", "show", "nope", env=as_b), "onetemplate", "show", "nope")

    # back to zone 0 of this instance (ONE_XMLRPC names this one for the lookup)
    cli("onezone", "set", "0", check=True, env={"ONE_XMLRPC": instance.config().endpoint})
    assert "in-b" not in cli("onetemplate", "list", check=True).stdout

    dead = f"http://127.0.0.1:{free_port()}"
    unreachable = assert_error(
        cli("onetemplate", "list", env={"ONE_XMLRPC": dead}), "onetemplate", "list", dead
    )
    assert "cannot reach" in unreachable


def api(endpoint: str, operation: str, body: str, auth: str | None) -> tuple[int, dict]:
    args = ["curl", "-s", "-w", "\n%{http_code}", "-X", "POST", f"{endpoint}/api/{operation}"]
    args += ["-H", "Content-Type: application/json", "--data-binary", body]
    if auth:
        args += ["-u", auth]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=30).stdout
    text, _, status = out.rpartition("\n")
    return int(status), json.loads(text)


@sqlite_only
def test_the_core_api_answers_bad_calls_with_clear_errors(instance, running):
    running(instance)
    endpoint, auth = instance.config().endpoint, ":".join(instance.credentials())
    status, answer = api(endpoint, "users.list_users", '{"args": []}', auth)
    assert status == 200 and [u["NAME"] for u in answer["result"]] == ["oneadmin"]
    assert "PASSWORD" not in answer["result"][0]  # what oneuser show gives: no hash
    cases = [
        (("users.list_users", "{}", None), 401, "username and password"),
        (("users.list_users", "{}", "oneadmin:wrong"), 401, "authentication failed"),
        (("os.system", '{"args": ["true"]}', auth), 404, "no operation 'os.system'"),
        (("users.create", "not json", auth), 400, "JSON object"),
        (("users.create", '{"args": "alice"}', auth), 400, "args must be a JSON list"),
        (("users.create", '{"args": [], "kwargs": {"nope": 1}}', auth), 400, "users.create"),
        (("users.create", '{"args": ["bob", ""]}', auth), 400, "password"),
        (("zones.show", '{"args": [42]}', auth), 404, "42"),
    ]
    cases += [  # what the CLIs never send: SQL, made-up objects, pools that are not theirs
        (
            ("objects.list_visible", '{"args": [{"$pool": "template_pool"}], '
             '"kwargs": {"where": "1=1 UNION SELECT body FROM user_pool"}}', auth),
            400, "where",
        ),
        (("objects.show", '{"args": [{"$pool": "user_pool"}, 0]}', auth), 400, "pools"),
        (("objects.show", '{"args": [{"$pool": "nope"}, 0]}', auth), 400, "unknown pool"),
        (
            ("objects.show", '{"args": [{"$type": "X", "table": "user_pool"}, 0]}', auth),
            400, "$type",
        ),
    ]  # fmt: skip
    for (operation, body, who), code, needle in cases:
        status, answer = api(endpoint, operation, body, who)
        assert status == code, (operation, body, answer)
        assert needle in answer["error"]["message"], answer
    with pytest.raises(NotFound):
        users.show(instance.session(), "bob")


@sqlite_only
def test_a_slave_sends_shared_writes_to_the_master_and_keeps_local_work(
    instance, cli, running, tmp_path
):
    """The guide's RequestManagerProxy: on a slave, user, group, ACL and zone writes run
    on the master with the caller's credentials; its own store never gets them. With
    the master down they fail with a clear message, and local work goes on."""
    running(instance)
    master_endpoint = instance.config().endpoint
    _user, password = instance.credentials()
    slave = other_instance(
        tmp_path / "slave",
        password=password,  # what replication would give it: the master's oneadmin
        federation='FEDERATION = [ MODE = "SLAVE", ZONE_ID = 100, '
        f'MASTER_ONED = "{master_endpoint}" ]',
    )
    on_slave = Cli(slave)
    master = instance.session()

    assert (
        created_id(on_slave("oneuser", "create", "alice", "pw"))
        == users.show(master, "alice")["ID"]
    )
    with pytest.raises(NotFound):
        users.show(slave.session(), "alice")  # the slave's own tables are left alone
    group_id = created_id(on_slave("onegroup", "create", "apptools"))
    assert users.show(master, "alice")["ID"] != group_id
    on_slave("oneacl", "create", f"@{group_id} VM/* USE", check=True)
    rules = [r for r in acls.list_rules(master) if r.user == 0x200000000 | group_id]
    # `@id VM/* USE` without a zone is for the zone it was written in: the slave's, #100
    assert [r.zone for r in rules if r.rights == 1] == [0x100000000 | 100]
    zone_id = created_id(
        on_slave("onezone", "create", zone_file(tmp_path, "zone-c", "http://10.0.0.3:2633"))
    )
    assert zones.show(master, zone_id)["NAME"] == "zone-c"
    tpl = tmp_path / "t.tmpl"
    tpl.write_text('NAME = "local"\nCPU = 1\nMEMORY = 64\n')
    assert created_id(on_slave("onetemplate", "create", str(tpl))) == 0  # local: the slave's
    assert templates.show(slave.session(), "local")["ID"] == 0

    Cli(instance)("onekit-server", "stop", check=True)
    down = assert_error(on_slave("oneuser", "create", "bob", "pw"), "oneuser", "create")
    assert "cannot reach the federation master" in down and master_endpoint in down
    assert "local" in on_slave("onetemplate", "list", check=True).stdout


ZONE_PLAY = (
    HEAD
    + """
    - name: the zone of the second data center
      onekit.cloud.zone: {name: zone-b, endpoint: "http://10.0.0.2:2633"}
      register: r
    - assert:
        that:
          - r is changed
          - "r.zone == {'id': 100, 'name': 'zone-b', 'endpoint': 'http://10.0.0.2:2633'}"
    - name: again
      onekit.cloud.zone: {name: zone-b, endpoint: "http://10.0.0.2:2633"}
      register: r
    - assert: {that: [r is not changed]}
    - name: a new endpoint, in check mode
      onekit.cloud.zone: {name: zone-b, endpoint: "http://10.0.0.9:2633"}
      check_mode: true
      register: r
    - assert:
        that: [r is changed, "r.zone.endpoint == 'http://10.0.0.9:2633'"]
    - name: a bad endpoint
      onekit.cloud.zone: {name: zone-c, endpoint: "10.0.0.3"}
      register: r
      ignore_errors: true
    - assert:
        that: [r is failed, "'ENDPOINT must be' in r.msg"]
    - name: zone 0 stays
      onekit.cloud.zone: {name: OpenNebula, state: absent}
      register: r
      ignore_errors: true
    - assert:
        that: [r is failed, "'master zone' in r.msg"]
    - name: the other one goes
      onekit.cloud.zone: {name: zone-b, state: absent}
      register: r
    - assert: {that: [r is changed, r.zone.id == 100]}
    - name: and is gone
      onekit.cloud.zone: {name: zone-b, state: absent}
      register: r
    - assert: {that: [r is not changed]}
"""
)


@sqlite_only
def test_the_zone_module_is_idempotent_and_checks_its_input(instance, playbook):
    ok(playbook(ZONE_PLAY))
    assert [z["ID"] for z in zones.list_zones(instance.session())] == [0]


@sqlite_only
def test_the_core_api_checks_rights_as_a_local_call_does(instance, admin, running):
    """A deploy through the API checks the caller's rights itself (a client need not have
    asked first), and a deleted zone takes its ACL rules along."""
    running(instance)
    users.create(admin, "eve", "pw")
    hosts.create(admin, "h0", uri="test:///default")
    tpl = templates.create(admin, 'NAME = "t"\nCPU = 1\nMEMORY = 32\n')
    (vm,) = templates.instantiate(admin, tpl["ID"], 1)
    body = json.dumps({"args": [[[vm["ID"], "h0"]]], "kwargs": {"enforce": False}})
    status, answer = api(instance.config().endpoint, "lifecycle.deploy", body, "eve:pw")
    assert status == 403, answer
    assert vms.show(admin, vm["ID"])["STATE"] == VmState.PENDING

    zone = zones.create(admin, 'NAME = "z"\nENDPOINT = "http://10.0.0.9:2633"\n')
    acls.create(admin, f"@1 VM/* USE #{zone['ID']}")
    zones.delete(admin, zone["ID"])
    assert [r for r in acls.list_rules(admin) if r.zone & 0xFFFFFFFF == zone["ID"]] == []

"""Paged listings (the guide's 3.2.3, ONE_POOL_PAGE_SIZE): a pool larger than a page is
listed whole, each object once and in id order, by the CLIs (in-process and against
another zone), through the core API with a plain HTTP client, and by the core; what a
user may not see is never listed, whatever page it falls in; ``disabled`` prints the
same; a bad value is refused with a message naming it.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from conftest import Cli
from support.cli import assert_error, login_as
from support.plays import sqlite_only
from support.ports import free_port
from support.waiting import wait_until

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, remote, schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.flow import service_templates, services
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import FlowState
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import GateConfig
from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls, groups, users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates, vms

VM_COUNT = 50
PAGE = "7"  # 50 VMs: seven full pages and one of one


def vm_template(name: str) -> str:
    return f'NAME = "{name}"\nCPU = 0.1\nMEMORY = 32\n'


@dataclass
class Pools:
    """50 VMs of oneadmin, alice and bob in turn (VM i is ``vm-i``), and what alice and
    carol may see of them, worked out from how they were shared."""

    alice: tuple[str, str]
    carol: tuple[str, str]
    seen_by_alice: list[int]
    seen_by_carol: list[int]


def fill(instance: Instance, admin: Session) -> Pools:
    """VM i belongs to oneadmin, alice, bob for i % 3 = 0, 1, 2 (mode 600, the umask's).
    alice sees: her own; bob's even ones (chmod 640, both in group users); oneadmin's VM 6
    (604: other USE); VM 9 through ACL rule ``#alice VM/#9 USE``. carol (group team) sees
    through ``@team VM/@1 USE`` every VM in group users (alice's and bob's), and VM 6."""
    team = groups.create(admin, "team")
    ids = {
        name: users.create(admin, name, "pw", group)["ID"]
        for name, group in (("alice", None), ("bob", None), ("carol", team["ID"]))
    }
    sessions = [admin, instance.session("alice", "pw"), instance.session("bob", "pw")]
    for i in range(VM_COUNT):
        assert vms.create(sessions[i % 3], vm_template(f"vm-{i}"), hold=True)["ID"] == i
    for i in range(2, VM_COUNT, 3):
        if i % 2 == 0:
            objects.chmod(sessions[2], schema.VMS, i, "640")
    objects.chmod(admin, schema.VMS, 6, "604")
    acls.create(admin, f"#{ids['alice']} VM/#9 USE")
    acls.create(admin, f"@{team['ID']} VM/@1 USE")
    for session in sessions[1:]:
        session.db.close()
    own = [i for i in range(VM_COUNT) if i % 3 == 1]
    shared = [i for i in range(VM_COUNT) if i % 3 == 2 and i % 2 == 0]
    return Pools(
        alice=("alice", "pw"),
        carol=("carol", "pw"),
        seen_by_alice=sorted([*own, *shared, 6, 9]),
        seen_by_carol=sorted([*(i for i in range(VM_COUNT) if i % 3 != 0), 6]),
    )


@pytest.fixture
def filled(instance: Instance, admin: Session) -> Pools:
    return fill(instance, admin)


def listed_ids(stdout: str) -> list[int]:
    """The ID column of a table; the header must come once, first."""
    lines = stdout.splitlines()
    assert lines[0].split()[0] == "ID", lines[0]
    assert [line for line in lines[1:] if line.split()[0] == "ID"] == []
    return [int(line.split()[0]) for line in lines[1:]]


def onevm_list(cli: Cli, page: str, env: dict | None = None, *extra: str) -> str:
    result = cli("onevm", "list", *extra, env={"ONE_POOL_PAGE_SIZE": page, **(env or {})})
    assert result.returncode == 0, result.stderr
    return result.stdout


# ---- the CLI, in-process ----------------------------------------------------------------
def test_onevm_list_pages_through_every_vm_once_in_order(filled, cli):
    paged = onevm_list(cli, PAGE)
    assert listed_ids(paged) == list(range(VM_COUNT))
    assert [line.split()[3] for line in paged.splitlines()[1:]] == [
        f"vm-{i}" for i in range(VM_COUNT)
    ]
    assert onevm_list(cli, "disabled") == paged
    assert onevm_list(cli, "no") == paged  # the guide: any non numeric value disables it
    assert onevm_list(cli, "") == paged  # unset: the default page, 2000
    as_json = json.loads(onevm_list(cli, PAGE, None, "--json"))
    assert [vm["ID"] for vm in as_json["VM_POOL"]["VM"]] == list(range(VM_COUNT))
    assert onevm_list(cli, PAGE, None, "--json") == onevm_list(cli, "disabled", None, "--json")


def test_a_user_never_sees_what_she_may_not_across_pages(filled, cli, tmp_path):
    for who, expected in (
        (filled.alice, filled.seen_by_alice),
        (filled.carol, filled.seen_by_carol),
    ):
        env = login_as(tmp_path, *who)
        for page in ("2", PAGE, "disabled"):
            assert listed_ids(onevm_list(cli, page, env)) == expected, (who, page)
        as_json = json.loads(onevm_list(cli, "3", env, "--json"))
        assert [vm["ID"] for vm in as_json["VM_POOL"]["VM"]] == expected


@sqlite_only
def test_pages_print_as_they_come_with_columns_widening_for_later_ones(instance, admin, cli):
    """A page is printed before the next is read: the NAME column is as wide as the
    names seen so far, so a long name on the third page widens only the rows from there
    on; one request for everything lays every row out for the longest name."""
    long_name = "a-much-longer-name-than-fourteen"
    for i in range(10):
        vms.create(admin, vm_template(long_name if i == 8 else f"vm-{i}"), hold=True)
    paged = onevm_list(cli, "4").splitlines()
    whole = onevm_list(cli, "disabled").splitlines()
    assert listed_ids("\n".join(paged)) == listed_ids("\n".join(whole)) == list(range(10))
    name_width = len(long_name) + 1  # the name and the blank before the next column
    assert paged[1].index("hold") < whole[1].index("hold")  # page 1: the declared width
    assert paged[9].index("hold") == whole[9].index("hold")  # page 3: widened
    assert whole[1].index("hold") == whole[1].index("vm-0") + name_width


@sqlite_only
def test_every_list_command_pages(instance, admin, cli, tmp_path):
    for i in range(5):
        users.create(admin, f"user-{i}", "pw")
        groups.create(admin, f"group-{i}")
        templates.create(admin, vm_template(f"tpl-{i}"))
    for command in ("oneuser", "onegroup", "onetemplate", "onezone", "onehost", "oneimage"):
        paged = cli(command, "list", env={"ONE_POOL_PAGE_SIZE": "2"}, check=True).stdout
        whole = cli(command, "list", env={"ONE_POOL_PAGE_SIZE": "disabled"}, check=True).stdout
        assert paged == whole, command
    assert listed_ids(cli("oneuser", "list", env={"ONE_POOL_PAGE_SIZE": "2"}).stdout) == list(
        range(6)
    )
    names = cli("onetemplate", "list", env={"ONE_POOL_PAGE_SIZE": "2"}, check=True).stdout
    assert [line.split()[3] for line in names.splitlines()[1:]] == [f"tpl-{i}" for i in range(5)]


@sqlite_only
@pytest.mark.parametrize("value", ["1", "0", "-5", "2.5", "10 0"])
def test_a_bad_page_size_is_refused_naming_the_variable(instance, cli, value):
    result = cli("onevm", "list", env={"ONE_POOL_PAGE_SIZE": value})
    line = assert_error(result, "onevm", "list", "ONE_POOL_PAGE_SIZE", "disabled", repr(value))
    assert "from 2" in line


# ---- the core ---------------------------------------------------------------------------
def test_the_core_pages_a_listing_with_the_callers_rights(filled, instance):
    alice = instance.session(*filled.alice)
    try:
        for size in (1, 4, 100):
            pages = list(pool.pages(lambda s, n: vms.list_vms(alice, start=s, page_size=n), size))
            assert all(len(page) <= size for page in pages)
            assert [vm["ID"] for page in pages for vm in page] == filled.seen_by_alice
        page = vms.list_vms(alice, start=10, page_size=3)
        assert [vm["ID"] for vm in page] == [x for x in filled.seen_by_alice if x >= 10][:3]
        assert pool.next_start(page, 3) == page[-1]["ID"] + 1
        for start, size, needle in ((-1, 5, "start"), (0, 0, "page_size"), (2**31, 5, "start")):
            with pytest.raises(InvalidInput, match=needle):
                vms.list_vms(alice, start=start, page_size=size)
    finally:
        alice.db.close()


# ---- the core API, with a plain HTTP client -----------------------------------------------
def post(endpoint: str, operation: str, body: dict, who: tuple[str, str]) -> tuple[int, dict]:
    token = base64.b64encode(":".join(who).encode()).decode()
    request = urllib.request.Request(
        f"{endpoint}/api/{operation}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def api_pages(endpoint: str, who: tuple[str, str], size: int) -> Iterator[dict]:
    """Every answer of vms.list_vms, following ``next``."""
    start: int | None = 0
    while start is not None:
        status, answer = post(
            endpoint, "vms.list_vms", {"kwargs": {"start": start, "page_size": size}}, who
        )
        assert status == 200, answer
        yield answer
        start = answer["next"]["start"] if answer["next"] else None


@sqlite_only
def test_the_core_api_pages_and_says_where_the_next_page_starts(filled, server):
    endpoint = server.config().endpoint
    admin = server.credentials()
    answers = list(api_pages(endpoint, admin, 7))
    assert [len(a["result"]) for a in answers] == [7] * 7 + [1]
    assert [vm["ID"] for a in answers for vm in a["result"]] == list(range(VM_COUNT))
    assert answers[0]["next"] == {"start": 7} and answers[-1]["next"] is None
    seen = [vm["ID"] for a in api_pages(endpoint, filled.alice, 3) for vm in a["result"]]
    assert seen == filled.seen_by_alice
    # without page_size: everything, and no next (the answer as before)
    status, whole = post(endpoint, "vms.list_vms", {}, admin)
    assert status == 200 and "next" not in whole and len(whole["result"]) == VM_COUNT
    status, images = post(
        endpoint,
        "objects.list_visible",
        {"args": [{"$pool": "vm_pool"}], "kwargs": {"page_size": 2}},
        admin,
    )
    assert [vm["ID"] for vm in images["result"]] == [0, 1] and images["next"] == {"start": 2}

    for kwargs, needle in (
        ({"page_size": 0}, "page_size"),
        ({"page_size": "7"}, "page_size"),
        ({"start": -1, "page_size": 7}, "start"),
        ({"start": 1.5}, "start"),
    ):
        status, answer = post(endpoint, "vms.list_vms", {"kwargs": kwargs}, admin)
        assert status == 400, (kwargs, answer)
        assert needle in answer["error"]["message"], answer


# ---- OneFlow's pools (REST) ----------------------------------------------------------------
def service_template_json(name: str, vm_template: int) -> str:
    role = {"name": "web", "cardinality": 0, "vm_template": vm_template}
    return json.dumps({"name": name, "deployment": "straight", "roles": [role]})


def flow_services(admin: Session, count: int, deleted: tuple[int, ...]) -> list[int]:
    """``count`` service templates ``st-<i>`` of empty roles, one service of each; the
    services in ``deleted`` (their positions) are deleted. The ids of the others."""
    vm_tpl = templates.create(admin, vm_template("flow-vm"))["ID"]
    made = []
    for i in range(count):
        tpl = service_templates.create(admin, service_template_json(f"st-{i}", vm_tpl))
        made.append(services.instantiate(admin, tpl["ID"])["ID"])
    for i in deleted:
        services.delete(admin, made[i])
    return [sid for i, sid in enumerate(made) if i not in deleted]


def test_the_core_pages_services_skipping_those_being_deleted(instance, admin):
    """A service being deleted is gone for its users; a page is still full when more
    remain, so a client stops only after the last."""
    kept = flow_services(admin, 6, deleted=(1, 2, 4))
    pages = list(pool.pages(lambda s, n: services.list_services(admin, s, n), 2))
    assert [len(p) for p in pages] == [2, 1]
    assert (
        [d["ID"] for p in pages for d in p]
        == kept
        == [d["ID"] for d in services.list_services(admin)]
    )
    by_template = list(pool.pages(lambda s, n: service_templates.list_templates(admin, s, n), 4))
    assert [[d["NAME"] for d in p] for p in by_template] == [
        ["st-0", "st-1", "st-2", "st-3"],
        ["st-4", "st-5"],
    ]


def flow_get(url: str, who: tuple[str, str]) -> tuple[int, dict, str]:
    token = base64.b64encode(":".join(who).encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read()), answer.headers.get("Link", "")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), ""


@sqlite_only
def test_oneflow_lists_page_through_the_api_and_the_clis(server, admin, cli):
    """``GET /service_template?page_size=2`` answers OneFlow's pool document of two and a
    Link to the next page; following the links lists every template once, in order;
    without page_size the answer is the whole pool, no Link. The CLIs print the same,
    paged or not, as a table and as JSON."""
    kept = flow_services(admin, 5, deleted=(3,))
    # the server's LCM moves the new services on: list them once it is done (their
    # roles are empty, so RUNNING is where they stay)
    wait_until(
        lambda: all(
            d["TEMPLATE"]["BODY"]["state"] == FlowState.RUNNING
            for d in services.list_services(admin)
        ),
        "the services RUNNING",
    )
    base, who = server.flow_config().url, server.credentials()
    names, url, links = [], f"{base}/service_template?page_size=2", 0
    while url:
        status, answer, link = flow_get(url, who)
        assert status == 200, answer
        names += [d["NAME"] for d in answer["DOCUMENT_POOL"]["DOCUMENT"]]
        url = base + link.split(">")[0].lstrip("<") if link else ""
        links += bool(link)
    assert names == [f"st-{i}" for i in range(5)] and links == 2
    status, whole, link = flow_get(f"{base}/service_template", who)
    assert status == 200 and link == "" and len(whole["DOCUMENT_POOL"]["DOCUMENT"]) == 5
    for query, needle in (
        ("page_size=0", "page_size"),
        ("page_size=two", "page_size"),
        ("page_size=2&start=-1", "start"),
        ("start=99999999999", "start"),
    ):
        status, answer, _ = flow_get(f"{base}/service?{query}", who)
        assert status == 400 and needle in answer["error"]["message"], (query, answer)

    for command in ("oneflow", "oneflow-template"):
        for extra in ((), ("--json",)):
            paged = cli(command, "list", *extra, env={"ONE_POOL_PAGE_SIZE": "2"}, check=True)
            whole = cli(command, "list", *extra, env={"ONE_POOL_PAGE_SIZE": "disabled"})
            assert paged.stdout == whole.stdout, (command, extra)
    assert listed_ids(cli("oneflow", "list", env={"ONE_POOL_PAGE_SIZE": "2"}).stdout) == kept
    listed = json.loads(cli("oneflow", "list", "-j", env={"ONE_POOL_PAGE_SIZE": "2"}).stdout)
    assert [d["ID"] for d in listed["DOCUMENT_POOL"]["DOCUMENT"]] == [str(i) for i in kept]


@sqlite_only
def test_an_empty_oneflow_pool_prints_as_the_api_answers_it(server, cli):
    for size in ("2", "disabled"):
        out = cli("oneflow", "list", "-j", env={"ONE_POOL_PAGE_SIZE": size}, check=True).stdout
        assert json.loads(out) == {"DOCUMENT_POOL": {}}, size


# ---- another zone (onezone set) ---------------------------------------------------------
@sqlite_only
def test_a_remote_zone_is_listed_page_by_page(instance, cli, tmp_path):
    """The zone's server answers one page per request (remote.pages, as the CLI uses it)
    and the CLI here prints the zone's VMs as in-process, paged or not."""
    zone_b = Instance(tmp_path / "zone-b")
    zone_b.init(
        InstanceConfig(port=free_port()),
        admin_password=instance.credentials()[1],  # a federation's shared oneadmin
        flow=FlowConfig(port=free_port()),
        onegate=GateConfig(port=free_port()),
    )
    on_b = Cli(zone_b)
    admin_b = zone_b.session()
    on_b("onekit-server", "start", check=True)
    try:
        pools = fill(zone_b, admin_b)
        endpoint = zone_b.config().endpoint
        pages = list(remote.pages(endpoint, zone_b.credentials(), "vms.list_vms", page_size=7))
        assert [len(page) for page in pages] == [7] * 7 + [1]
        assert [vm["ID"] for page in pages for vm in page] == list(range(VM_COUNT))
        zone = tmp_path / "zone-b.zone"
        zone.write_text(f'NAME = "zone-b"\nENDPOINT = "{endpoint}"\n')
        cli("onezone", "create", str(zone), check=True)
        cli("onezone", "set", "zone-b", check=True)  # every command now goes to zone-b
        at_b: dict[str, str] = {}
        here = onevm_list(on_b, PAGE)
        assert onevm_list(cli, PAGE, at_b) == here
        assert onevm_list(cli, "disabled", at_b) == here
        assert listed_ids(here) == list(range(VM_COUNT))
        alice_at_b = {**login_as(tmp_path, *pools.alice), **at_b}
        assert listed_ids(onevm_list(cli, "2", alice_at_b)) == pools.seen_by_alice
        assert_error(
            cli("onevm", "list", env={**at_b, "ONE_POOL_PAGE_SIZE": "1"}),
            "onevm",
            "list",
            "ONE_POOL_PAGE_SIZE",
        )
    finally:
        admin_b.db.close()
        on_b("onekit-server", "stop")

"""OneGate against the real server: guests PUT metrics with their VM's token (the guide's
curl, unchanged), read their VM and their service; every bad request leaves the VM's
template as it was."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time

import pytest
from conftest import Cli
from support.plays import HEAD, ok, sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import NotFound
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.flow import service_templates, services
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import FlowState
from ansible_collections.onekit.cloud.plugins.module_utils.gate import tokens
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import (
    context,
    lifecycle,
    monitor,
    templates,
    vms,
)

TOKEN_TEMPLATE = 'NAME = "g"\nCPU = 0.1\nMEMORY = 32\nCONTEXT = [ TOKEN = "YES" ]\n'


@pytest.fixture
def onegate(instance, admin, sim_hosts):
    """The server running, with ONEGATE_ENDPOINT set and a simulated host."""
    (sim,) = sim_hosts(1)
    hosts.create(admin, "sim0", uri=sim.uri)
    monitor.cycle(Session.system(admin.db), instance.monitor_config())
    url = instance.gate_config().url
    with instance.config_path.open("a") as conf:
        conf.write(f'ONEGATE_ENDPOINT = "{url}"\n')
    flow = instance.flow_config_path.read_text().replace(":lcm_interval: 30", ":lcm_interval: 1")
    instance.flow_config_path.write_text(flow)
    cli = Cli(instance)
    cli("onekit-server", "start", check=True)
    try:
        yield url
    finally:
        cli("onekit-server", "stop")


def curl(method: str, url: str, token: str | None = None, data: str | None = None, **headers):
    args = ["curl", "-s", "-X", method, url, "-w", "\n%{http_code}"]
    if token is not None:
        args += ["--header", f"X-ONEGATE-TOKEN: {token}"]
    for name, value in headers.items():
        args += ["--header", f"{name.replace('_', '-')}: {value}"]
    if data is not None:
        args += ["--data-binary", data]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=30).stdout
    body, _, status = out.rpartition("\n")
    return int(status), (json.loads(body) if body.strip() else None)


def made(instance, admin, count: int = 2) -> list[dict]:
    """VMs of a template with CONTEXT TOKEN = YES, with a session that has the endpoint."""
    session = instance.session()
    try:
        tpl = templates.show(session, "g")
    except NotFound:
        tpl = templates.create(session, TOKEN_TEMPLATE)
    return templates.instantiate(session, tpl["ID"], count)


def token_of(instance, admin, vm_id: int) -> str:
    return tokens.token(instance.gate_secret(), vms.show(admin, vm_id))


@sqlite_only
def test_the_guides_curl_puts_a_metric_that_onevm_show_lists(instance, admin, onegate, cli):
    vm = made(instance, admin, 1)[0]
    url = vm["TEMPLATE"]["CONTEXT"]["ONEGATE_URL"]
    assert url == f"{onegate}/vm/{vm['ID']}"
    token = token_of(instance, admin, vm["ID"])
    status, answer = curl("PUT", url, token, "APP_LOAD = 9.7")
    assert status == 200 and answer["VM"]["USER_TEMPLATE"]["APP_LOAD"] == "9.7"
    shown = cli("onevm", "show", str(vm["ID"]), check=True).stdout
    user_part = shown.split("USER TEMPLATE", 1)[1].split("VIRTUAL MACHINE TEMPLATE", 1)[0]
    assert 'APP_LOAD = "9.7"' in user_part
    assert "ONEGATE_NONCE" not in json.dumps(answer)


MODULE_PLAY = (
    HEAD
    + """
    - onekit.cloud.vm:
        template_name: g
        exact_count: 1
        count_labels: [by_module]
        state: running
      register: r
    - assert:
        that: r.instances[0].lcm_state == 'RUNNING'
"""
)


@sqlite_only
def test_vms_a_module_or_a_cli_creates_get_their_token(instance, admin, onegate, cli, playbook):
    """OneGate is loaded on first use: the vm module (which loads no OneFlow) and
    ``onetemplate instantiate`` still issue each VM's token, and the module's deploy still
    puts token.txt on the context CD-ROM; the guide's curl works with both."""
    templates.create(admin, TOKEN_TEMPLATE)
    ok(playbook(MODULE_PLAY))
    cli("onetemplate", "instantiate", "g", check=True)
    by_module, by_cli = sorted(vms.list_vms(admin), key=lambda vm: vm["ID"])
    assert "by_module" in by_module["USER_TEMPLATE"]["LABELS"]
    for vm in (by_module, by_cli):
        token = token_of(instance, admin, vm["ID"])
        url = vm["TEMPLATE"]["CONTEXT"]["ONEGATE_URL"]
        status, answer = curl("PUT", url, token, "APP_LOAD = 1.5")
        assert status == 200 and answer["VM"]["USER_TEMPLATE"]["APP_LOAD"] == "1.5"
    iso = instance.var / "context" / str(by_module["ID"]) / "context.iso"
    token = token_of(instance, admin, by_module["ID"])
    assert context.read_iso(iso)["token.txt"].strip() == token


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
def test_a_name_in_the_body_replaces_all_of_its_attributes_and_only_them(instance, admin, onegate):
    vm = made(instance, admin, 1)[0]
    token = token_of(instance, admin, vm["ID"])
    url = f"{onegate}/vm/{vm['ID']}"
    assert curl("PUT", url, token, "A = 1\nB = 2\nDISK_USED = [ SDA = 10 ]")[0] == 200
    assert curl("PUT", url, token, 'A = 3\nC = "x y"\nC = "z"')[0] == 200
    user = vms.show(admin, vm["ID"])["USER_TEMPLATE"]
    assert user["A"] == "3" and user["B"] == "2" and user["DISK_USED"] == {"SDA": "10"}
    assert user["C"] == ["x y", "z"]  # a repeated name, as the template language has it
    # later OneGate's form: PUT /vm with X-ONEGATE-VMID, and GET /vm
    assert curl("PUT", f"{onegate}/vm", token, "B = 5", X_ONEGATE_VMID=vm["ID"])[0] == 200
    status, answer = curl("GET", f"{onegate}/vm", token, X_ONEGATE_VMID=vm["ID"])
    assert status == 200 and answer["VM"]["USER_TEMPLATE"]["B"] == "5"
    assert answer["VM"]["ID"] == vm["ID"]


@sqlite_only
def test_bad_requests_leave_the_vm_untouched(instance, admin, onegate):
    first, second = made(instance, admin, 2)
    token = token_of(instance, admin, first["ID"])
    other = token_of(instance, admin, second["ID"])
    url = f"{onegate}/vm/{first['ID']}"
    assert curl("PUT", url, token, "KEEP = 1")[0] == 200
    before = vms.show(admin, first["ID"])["USER_TEMPLATE"]
    cases = [
        (curl("PUT", url, None, "A = 1"), 401, "no token"),
        (curl("PUT", url, other, "A = 1"), 401, f"not VM {first['ID']}"),
        (curl("PUT", url, token + "x", "A = 1"), 401, "not VM"),
        (curl("PUT", url, token, "A = [ B = "), 400, "line 1"),
        (curl("PUT", url, token, "\n\n= 1"), 400, "line 3"),
        (curl("PUT", url, token, ""), 400, "sets no attribute"),
        (curl("PUT", url, token, 'RAW = [ DATA = "x" ]'), 403, "restricted"),
        (curl("PUT", f"{onegate}/vm/99", token, "A = 1"), 404, "VM 99"),
        (curl("PUT", f"{onegate}/vm/abc", token, "A = 1"), 404, "does not exist"),
        (curl("PUT", url, token, "A = " + "x" * 70000), 413, ""),
        (curl("PUT", f"{onegate}/vm", token, "A = 1"), 404, "X-ONEGATE-VMID"),
        (curl("DELETE", url, token), 405, ""),
    ]
    for (status, answer), wanted, needle in cases:
        assert status == wanted, (status, answer, needle)
        assert needle in answer["error"]["message"], answer
    assert vms.show(admin, first["ID"])["USER_TEMPLATE"] == before
    lifecycle.act(admin, [first["ID"]], "delete")  # DONE: its token no longer works
    status, answer = curl("PUT", url, token, "A = 1")
    assert status == 403 and "DONE" in answer["error"]["message"]


@sqlite_only
def test_a_vm_that_asked_for_no_token_has_none(instance, admin, onegate):
    tpl = templates.create(admin, 'NAME = "plain"\nCPU = 0.1\nMEMORY = 32\n')
    vm = templates.instantiate(admin, tpl["ID"], 1)[0]
    assert tokens.NONCE not in vms.show(admin, vm["ID"])
    status, _ = curl("PUT", f"{onegate}/vm/{vm['ID']}", "anything", "A = 1")
    assert status == 401


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
def test_racing_puts_to_one_vm_lose_no_update(instance, admin, onegate):
    """20 guests' worth of PUTs at once to one VM: every attribute arrives."""
    vm = made(instance, admin, 1)[0]
    token = token_of(instance, admin, vm["ID"])
    url = f"{onegate}/vm/{vm['ID']}"
    errors: list = []

    def guest(n: int) -> None:
        for k in range(5):
            status, answer = curl("PUT", url, token, f"M_{n}_{k} = {n * k}")
            if status != 200:
                errors.append((status, answer))

    threads = [threading.Thread(target=guest, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    user = vms.show(admin, vm["ID"])["USER_TEMPLATE"]
    assert {f"M_{n}_{k}" for n in range(20) for k in range(5)} <= set(user)


@sqlite_only
def test_a_guest_finds_its_service_and_peers(instance, admin, onegate):
    session = instance.session()
    tpl = templates.create(session, TOKEN_TEMPLATE)
    doc = service_templates.create(
        session,
        {
            "name": "app",
            "roles": [
                {"name": "front", "vm_template": tpl["ID"]},
                {"name": "back", "vm_template": tpl["ID"], "cardinality": 2},
            ],
        },
    )
    service = services.instantiate(session, doc["ID"])
    deadline = time.monotonic() + 90
    while services.show(admin, service["ID"])["TEMPLATE"]["BODY"]["state"] != FlowState.RUNNING:
        assert time.monotonic() < deadline, services.show(admin, service["ID"])
        time.sleep(0.5)
    body = services.show(admin, service["ID"])["TEMPLATE"]["BODY"]
    front_vm = body["roles"][0]["nodes"][0]["deploy_id"]
    back_vms = sorted(n["deploy_id"] for n in body["roles"][1]["nodes"])
    token = token_of(instance, admin, front_vm)
    status, answer = curl("GET", f"{onegate}/service", token, X_ONEGATE_VMID=front_vm)
    assert status == 200, answer
    roles = {r["name"]: r for r in answer["SERVICE"]["roles"]}
    assert answer["SERVICE"]["id"] == service["ID"]
    assert sorted(n["deploy_id"] for n in roles["back"]["nodes"]) == back_vms
    assert roles["back"]["nodes"][0]["vm_info"]["VM"]["NAME"].startswith("back_")
    # a VM of no service
    loose = made(instance, admin, 1)[0]
    status, answer = curl(
        "GET",
        f"{onegate}/service",
        token_of(instance, admin, loose["ID"]),
        X_ONEGATE_VMID=loose["ID"],
    )
    assert status == 404 and "no service" in answer["error"]["message"]


# ---- the guest's side: the context files, the onegate command, the guide's script ---------
def context_dir(instance, admin, vm_id: int, tmp_path) -> str:
    """The VM's context CD-ROM, as files (what the guest mounts at /mnt/context)."""
    folder = tmp_path / f"context-{vm_id}"
    folder.mkdir()
    for name, text in context.context_files(instance.gate_secret(), vms.show(admin, vm_id)).items():
        (folder / name).write_text(text)
    return str(folder)


@sqlite_only
def test_the_onegate_command_reads_the_context(instance, admin, onegate, cli, tmp_path):
    vm = made(instance, admin, 1)[0]
    folder = context_dir(instance, admin, vm["ID"], tmp_path)
    text = (tmp_path / f"context-{vm['ID']}" / "context.sh").read_text()
    assert f"ONEGATE_URL='{onegate}/vm/{vm['ID']}'" in text and "TOKEN='YES'" in text
    update = cli("onegate", "--context", folder, "vm", "update", "--data", "APP_LOAD = 9.7")
    assert update.returncode == 0, update.stderr
    assert vms.show(admin, vm["ID"])["USER_TEMPLATE"]["APP_LOAD"] == "9.7"
    shown = json.loads(cli("onegate", "--context", folder, "vm", "show", check=True).stdout)
    assert shown["VM"]["USER_TEMPLATE"]["APP_LOAD"] == "9.7"
    refused = cli("onegate", "--context", folder, "service", "show")
    assert refused.returncode == 1 and "no service" in refused.stderr
    bad = cli("onegate", "--context", folder, "vm", "update", "--data", "A = [")
    assert bad.returncode == 1 and "400" in bad.stderr and "line 1" in bad.stderr
    missing = cli("onegate", "--context", str(tmp_path / "none"), "vm", "show")
    assert missing.returncode == 1 and "no OneGate context" in missing.stderr
    # on the front-end: the instance's own OneGate server, for the VM ONEGATE_VMID names
    here = {"ONEGATE_VMID": str(vm["ID"]), "ONEGATE_TOKEN": f"{folder}/token.txt"}
    shown = cli("onegate", "--context", str(tmp_path / "none"), "vm", "show", env=here)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["VM"]["ID"] == vm["ID"]


@sqlite_only
def test_the_guides_sample_script_pushes_memory_swap_and_disks(instance, admin, onegate, tmp_path):
    from conftest import REPO

    vm = made(instance, admin, 1)[0]
    folder = context_dir(instance, admin, vm["ID"], tmp_path)
    script = REPO / "share" / "onegate" / "onegate-metrics.sh"
    env = {
        "PATH": "/usr/bin:/bin",
        "ONEGATE_TOKEN": f"{folder}/token.txt",
        "ONEGATE_URL": f"{onegate}/vm/{vm['ID']}",
    }
    run = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    user = vms.show(admin, vm["ID"])["USER_TEMPLATE"]
    assert 0 < float(user["MEM_USED_PERC"]) <= 100
    assert 0 <= float(user["SWAP_USED_PERC"]) <= 100
    df = subprocess.run(["df", "-k", "-P"], capture_output=True, text=True).stdout
    devices = [line.split()[0] for line in df.splitlines() if line.startswith("/dev")]
    wanted = {
        "DISK_USED_PERC_" + re.sub(r"[^A-Za-z0-9_]", "_", d.rsplit("/", 1)[-1]).upper()
        for d in devices
    }
    assert {k for k in user if k.startswith("DISK_USED_PERC_")} == wanted
    without = subprocess.run([str(script)], env={"PATH": "/usr/bin:/bin"}, capture_output=True)
    assert without.returncode == 1 and b"ONEGATE_TOKEN" in without.stdout


@sqlite_only
def test_a_deployed_vm_keeps_its_context_files_on_the_test_driver(cloud):
    """The same files as on the CD-ROM, kept with the VM, and the image attached."""
    from ansible_collections.onekit.cloud.plugins.module_utils.vm import context as context_cd

    instance = cloud.instance
    tpl = templates.create(cloud.admin, TOKEN_TEMPLATE)
    (vm,) = templates.instantiate(cloud.admin, tpl["ID"], 1)
    assert [o.error for o in cloud.schedule([vm["ID"]])] == [None]
    folder = instance.var / "context" / str(vm["ID"])
    token = token_of(instance, cloud.admin, vm["ID"])
    assert (folder / "token.txt").read_text().strip() == token
    assert oct((folder / "token.txt").stat().st_mode & 0o777) == "0o600"
    assert context_cd.read_iso(folder / "context.iso")["token.txt"].strip() == token
    host = vms.show(cloud.admin, vm["ID"])["HISTORY_RECORDS"][-1]["HID"]
    xml = cloud.sims[host].hold.lookupByName(f"one-{vm['ID']}").XMLDesc()
    assert str(folder / "context.iso") in xml and "hdb" in xml

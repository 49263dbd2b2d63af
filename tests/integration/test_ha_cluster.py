"""Front-end HA (the guide's ch. 4.2 on Pacemaker): the CIB onekit.cloud.ha_cluster builds,
proven with Pacemaker's own tools and no cluster daemons.

* ``crm_verify`` accepts the generated CIB (several specs);
* ``crm_simulate`` runs Pacemaker's scheduler on it (the way Pacemaker's cts-scheduler tests
  work): (a) the active node is lost -> it is fenced first, then the IP and the services
  start on the passive node; (b) the service fails -> it is restarted in place (and the group
  moves after ``max_restarts`` failures); (c) the fence fails -> nothing starts elsewhere;
  (d) the preferred node returns -> the group fails back, or stays with ``failback: false``;
* the module through real ``ansible-playbook`` runs on a CIB file (``CIB_file``): changed,
  then unchanged, check mode writes nothing, bad specs fail naming the field; and the example
  (playbooks/ha.yml, inventories/ha) writes a CIB file the same way.

Assertions are on the transition summaries and the order of the executed steps, never on
timing.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, VENV_BIN
from support import pacemaker
from support.pacemaker import LiveNode, Simulator

from ansible_collections.onekit.cloud.plugins.module_utils.ha import cluster as ha

# Pacemaker's tools are installed by `make setup`: a machine without them fails here, loudly
assert pacemaker.have_tools(), "needs Pacemaker's tools (Debian: pacemaker-cli-utils)"

GROUP = ["onekit-vip", "onekit-server"]
DOMAIN = (
    "<domain type='test'><name>{name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
    "<os><type arch='x86_64'>hvm</type></os></domain>"
)


def node(name: str, priority: int, plug: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "priority": priority,
        "fence": {"agent": "fence_onekit_libvirt", "plug": plug, "options": {"uri": URI}},
        **extra,
    }


URI = "qemu+ssh://root@kvm-host/system"
SPEC: dict[str, Any] = {
    "nodes": [node("fe1", 1, "one1"), node("fe2", 2, "one2")],
    "one_vip": "10.10.11.12",
    "one_vip_cidr": 24,
    "one_vip_if": "eth0",
    "onekit_options": {"home": "/var/lib/onekit"},
}


def build(path: Path, **changes: Any) -> Path:
    """Write the CIB of SPEC (with changes) into a new file, the module's way."""
    outcome = ha.apply(ha.Cib(cib_file=str(path)), ha.parse_spec({**SPEC, **changes}))
    assert outcome.changed and path.exists()
    return path


@pytest.fixture
def sim(tmp_path: Path) -> Simulator:
    return Simulator(tmp_path / "sim")


def steady(sim: Simulator, tmp_path: Path, **changes: Any) -> pacemaker.Simulation:
    cib = build(tmp_path / f"cib-{uuid.uuid4().hex[:6]}.xml", **changes)
    names = [n["name"] for n in changes.get("nodes", SPEC["nodes"])]
    return sim.steady(cib, names)


# ---- crm_verify and the CIB's shape ------------------------------------------------------------
VARIANTS = {
    "two-nodes": {},
    "three-nodes-db-no-failback": {
        "nodes": [node("fe1", 1, "one1"), node("fe2", 2, "one2"), node("fe3", 3, "one3")],
        "db_agent": "systemd:mariadb",
        "failback": False,
    },
    "systemd-relocate": {
        "onekit_agent": "systemd:onekit-server",
        "onekit_options": {},
        "recovery": "relocate",
        "one_vip_if": None,
    },
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_crm_verify_accepts_the_cib_and_the_cluster_settles_on_the_preferred_node(
    variant, sim, tmp_path
):
    changes = VARIANTS[variant]
    cib = build(tmp_path / "cib.xml", **changes)
    (tmp_path / "verifiable.xml").write_text(
        ET.tostring(ha.verifiable(ET.parse(cib).getroot()), encoding="unicode")
    )
    checked = sim.verify(tmp_path / "verifiable.xml")
    assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr

    settled = sim.steady(cib, [n["name"] for n in changes.get("nodes", SPEC["nodes"])])
    assert sim.verify(settled.output).returncode == 0
    members = ["onekit-vip", *(["onekit-db"] if "db_agent" in changes else []), "onekit-server"]
    assert [s.subject for s in settled.steps("start") if s.subject in members] == members
    assert {r: settled.placement[r] for r in members} == {r: ["fe1"] for r in members}
    for fenced in changes.get("nodes", SPEC["nodes"]):  # a device never runs on its target
        where = settled.placement[f"onekit-fence-{fenced['name']}"]
        assert len(where) == 1 and where != [fenced["name"]]


def test_the_cib_mirrors_the_guides_cluster(tmp_path):
    root = ET.parse(build(tmp_path / "cib.xml")).getroot()
    conf = root.find("configuration")

    def nvpairs(element: ET.Element) -> dict[str, str]:
        return {p.get("name"): p.get("value") for p in element.iter("nvpair")}

    assert nvpairs(conf.find("crm_config")) == {
        "stonith-enabled": "true",
        "no-quorum-policy": "stop",
    }
    group = conf.find("resources/group[@id='onekit']")
    assert [p.get("id") for p in group.findall("primitive")] == GROUP
    assert nvpairs(group.find("meta_attributes")) == {
        "resource-stickiness": "0",  # nofailback="0"
        "migration-threshold": "3",
        "failure-timeout": "600s",
    }
    vip = group.find("primitive[@id='onekit-vip']")
    assert (vip.get("class"), vip.get("provider"), vip.get("type")) == (
        "ocf",
        "heartbeat",
        "IPaddr2",
    )
    assert nvpairs(vip.find("instance_attributes")) == {
        "ip": "10.10.11.12",
        "cidr_netmask": "24",
        "nic": "eth0",
    }
    monitor = vip.find("operations/op[@name='monitor']")
    assert (monitor.get("interval"), monitor.get("on-fail")) == ("20s", "restart")
    server = group.find("primitive[@id='onekit-server']")
    assert (server.get("class"), server.get("provider"), server.get("type")) == (
        "ocf",
        "onekit",
        "server",
    )
    devices = {
        p.get("id"): nvpairs(p)
        for p in conf.findall("resources/primitive")
        if p.get("class") == "stonith"
    }
    assert devices == {
        "onekit-fence-fe1": {
            "pcmk_host_list": "fe1",
            "pcmk_host_map": "fe1:one1",
            "pcmk_delay_base": "15s",  # the preferred node's device waits: fe1 wins a race
            "uri": URI,
        },
        "onekit-fence-fe2": {
            "pcmk_host_list": "fe2",
            "pcmk_host_map": "fe2:one2",
            "pcmk_delay_base": "0s",
            "uri": URI,
        },
    }
    locations = {(c.get("rsc"), c.get("node")): c.get("score") for c in conf.iter("rsc_location")}
    assert locations == {
        ("onekit", "fe1"): "200",  # failoverdomainnode priority 1
        ("onekit", "fe2"): "100",  # priority 2
        ("onekit-fence-fe1", "fe1"): "-INFINITY",
        ("onekit-fence-fe2", "fe2"): "-INFINITY",
    }
    assert ha.corosync_quorum(ha.parse_spec(SPEC)) == {
        "provider": "corosync_votequorum",
        "two_node": 1,
    }


def test_other_resources_and_properties_are_kept_and_state_absent_removes_only_ours(tmp_path):
    path = build(tmp_path / "cib.xml")
    root = ET.parse(path).getroot()
    boot = root.find("configuration/crm_config/cluster_property_set")
    ET.SubElement(
        boot,
        "nvpair",
        {"id": "cib-bootstrap-options-dc-version", "name": "dc-version", "value": "2.1.5"},
    )
    ET.SubElement(
        root.find("configuration/resources"),
        "primitive",
        {"id": "other", "class": "ocf", "provider": "heartbeat", "type": "Dummy"},
    )
    path.write_text(ET.tostring(root, encoding="unicode"))
    cib = ha.Cib(cib_file=str(path))
    assert not ha.apply(cib, ha.parse_spec(SPEC)).changed
    gone = ha.apply(cib, None)
    assert gone.changed
    after = ET.parse(path).getroot()
    ids = [e.get("id") for e in after.find("configuration/resources")]
    assert ids == ["other"] and len(after.find("configuration/constraints")) == 0
    assert after.find(".//nvpair[@name='dc-version']") is not None
    assert not ha.apply(cib, None).changed


# ---- crm_simulate: what Pacemaker does ---------------------------------------------------------
def test_a_active_node_lost_is_fenced_first_then_everything_starts_on_the_passive(sim, tmp_path):
    settled = steady(sim, tmp_path)
    lost = sim.run(settled.output, "--quorum", "1", "--node-fail", "fe1")

    assert ("Fence (reboot)", "fe1") in lost.summary
    assert {s[1:] for s in lost.summary if s[0] == "move"} == {(r, "fe1", "fe2") for r in GROUP}
    fenced = lost.index("fence", "fe1")
    starts = [lost.index("start", r, "fe2") for r in GROUP]
    assert fenced < starts[0] < starts[1]  # fence, then the IP, then onekit-server
    # nothing runs on fe1 any more that has to be stopped by hand: only pseudo stops
    assert not [s for s in lost.steps("stop") if s.node == "fe1"]
    # in the graph every start on fe2 waits for the fence of fe1
    fence_id = lost.graph.fence("fe1").id
    for start in lost.graph.find("start", node="fe2"):
        if start.resource in GROUP:
            assert fence_id in lost.graph.prerequisites(start.id), start.key
    assert {r: lost.placement[r] for r in GROUP} == {r: ["fe2"] for r in GROUP}
    assert lost.nodes["fe1"] == "offline"  # fenced: known down, not unclean


def test_b_failed_service_is_restarted_in_place_then_moved_after_max_restarts(sim, tmp_path):
    settled = steady(sim, tmp_path)
    failure = ("--op-inject", "onekit-server_monitor_10000@fe1=7")  # OCF_NOT_RUNNING
    first = sim.run(settled.output, *failure)
    assert first.summary == [("recover", "onekit-server", "fe1")]
    assert not first.steps("fence")
    stop, start = (
        first.index("stop", "onekit-server", "fe1"),
        first.index("start", "onekit-server", "fe1"),
    )
    assert stop < start
    assert not [s for s in first.transition if s.subject == "onekit-vip"]  # the IP stays
    assert first.placement["onekit-server"] == ["fe1"]

    second = sim.run(first.output, *failure)
    assert second.summary == [("recover", "onekit-server", "fe1")]
    third = sim.run(second.output, *failure)  # max_restarts (3) reached: the group moves
    assert ("recover", "onekit-server", "fe1", "fe2") in third.summary
    assert ("move", "onekit-vip", "fe1", "fe2") in third.summary
    assert not third.steps("fence")
    assert {r: third.placement[r] for r in GROUP} == {r: ["fe2"] for r in GROUP}


def test_b_recovery_relocate_moves_at_the_first_failure(sim, tmp_path):
    settled = steady(sim, tmp_path, recovery="relocate")
    moved = sim.run(settled.output, "--op-inject", "onekit-server_monitor_10000@fe1=7")
    assert ("recover", "onekit-server", "fe1", "fe2") in moved.summary
    assert {r: moved.placement[r] for r in GROUP} == {r: ["fe2"] for r in GROUP}


def test_c_when_the_fence_fails_nothing_starts_elsewhere(sim, tmp_path):
    """crm_simulate confirms every fence; the controller runs a graph action only once its
    inputs completed, so with the fence of fe1 failed this is what runs: nothing of the
    group starts on fe2 (the controller then recomputes, with fe1 still unclean, and
    schedules the fence again first)."""
    settled = steady(sim, tmp_path)
    lost = sim.run(settled.output, "--quorum", "1", "--node-fail", "fe1")
    graph = lost.graph
    fence = graph.fence("fe1")
    ran = graph.run_without({fence.id})
    assert not [a for a in ran if a.operation == "start" and a.resource in GROUP]
    assert not [a for a in ran if a.node == "fe2" and a.resource in GROUP]
    # ...whereas the same graph with the fence confirmed starts them all on fe2
    started = [a.resource for a in graph.run_without(set()) if a.operation == "start"]
    assert set(GROUP) <= set(started)

    # the guide's reference cluster.conf has no fence devices: without fencing Pacemaker
    # starts the services on fe2 at once, while fe1 may still run them (split brain)
    unfenced = tmp_path / "unfenced.xml"
    root = ET.parse(settled.output).getroot()
    root.find(".//nvpair[@name='stonith-enabled']").set("value", "false")
    unfenced.write_text(ET.tostring(root, encoding="unicode"))
    risky = sim.run(unfenced, "--quorum", "1", "--node-fail", "fe1")
    assert not risky.steps("fence")
    assert {r: risky.placement[r] for r in GROUP} == {r: ["fe2"] for r in GROUP}


@pytest.mark.parametrize("failback", [True, False])
def test_d_the_preferred_node_returns(failback, sim, tmp_path):
    settled = steady(sim, tmp_path, failback=failback)
    lost = sim.run(settled.output, "--quorum", "1", "--node-fail", "fe1")
    back = sim.run(lost.output, "--quorum", "1", "--node-up", "fe1")
    assert not back.steps("fence")
    moves = {s[1:] for s in back.summary if s[0] == "move"}
    if failback:  # nofailback="0": back to fe1, stopped on fe2 first
        assert moves == {(r, "fe2", "fe1") for r in GROUP}
        assert back.index("stop", "onekit-vip", "fe2") < back.index("start", "onekit-vip", "fe1")
        assert {r: back.placement[r] for r in GROUP} == {r: ["fe1"] for r in GROUP}
    else:  # stays where it runs
        assert moves == set()
        assert not [
            s for s in back.transition if s.subject in GROUP and s.kind in ("start", "stop")
        ]
        assert {r: back.placement[r] for r in GROUP} == {r: ["fe2"] for r in GROUP}


# ---- the spec's checks -------------------------------------------------------------------------
BAD_SPECS = {
    "one-node": ({"nodes": [node("fe1", 1, "one1")]}, "nodes", "2 or more nodes"),
    "duplicate-name": (
        {"nodes": [node("fe1", 1, "one1"), node("fe1", 2, "one2")]},
        "nodes[1].name",
        "duplicate node name 'fe1'",
    ),
    "duplicate-address": (
        {
            "nodes": [
                node("fe1", 1, "one1", address="10.10.11.1"),
                node("fe2", 2, "one2", address="10.10.11.1"),
            ]
        },
        "nodes[1].address",
        "duplicate address",
    ),
    "vip-is-a-node": (
        {"nodes": [node("fe1", 1, "one1", address="10.10.11.12"), node("fe2", 2, "one2")]},
        "one_vip",
        "must be an address of its own",
    ),
    "vip-without-cidr": ({"one_vip_cidr": None}, "one_vip_cidr", "needs its prefix length"),
    "unknown-fence-agent": (
        {
            "nodes": [
                node("fe1", 1, "one1"),
                {"name": "fe2", "priority": 2, "fence": {"agent": "fence_nosuch_agent"}},
            ]
        },
        "nodes[1].fence.agent",
        "unknown fence agent 'fence_nosuch_agent'",
    ),
    "no-fence": (
        {"nodes": [node("fe1", 1, "one1"), {"name": "fe2", "priority": 2}]},
        "nodes[1].fence.agent",
        "every node needs a fence device",
    ),
    "same-fence-delay": (
        {"nodes": [node("fe1", 1, "one1"), node("fe2", 1, "one2")]},
        "nodes[1].fence.delay",
        "fence each other at once",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_specs_name_the_field_and_the_fix(case):
    changes, where, what = BAD_SPECS[case]
    with pytest.raises(ha.SpecError) as caught:
        ha.parse_spec({**SPEC, **changes})
    assert any(f == where and what in m for f, m in caught.value.problems), caught.value.problems


# ---- the module and the example, through ansible-playbook --------------------------------------
def ansible_env(home: Path) -> dict[str, str]:
    return {
        "PATH": f"{VENV_BIN}:/usr/bin:/bin:/usr/sbin:/sbin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
    }


def play(base: Path, tasks: list[dict[str, Any]]) -> tuple[subprocess.CompletedProcess, dict]:
    """Run the tasks (each registers r_<name>) in one play; returns the run and results."""
    out = base / f"results-{uuid.uuid4().hex[:8]}.json"
    names = [t["name"] for t in tasks]
    everything = ", ".join(f"'{n}': r_{n}" for n in names)
    body = [{**t, "register": f"r_{t['name']}"} for t in tasks]
    body.append(
        {
            "name": "save",
            "ansible.builtin.copy": {
                "content": "{{ {" + everything + "} | to_json }}",
                "dest": str(out),
            },
            "check_mode": False,
            "diff": False,
            "changed_when": False,
        }
    )
    path = base / f"play-{uuid.uuid4().hex[:8]}.yml"
    path.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": body}]))
    result = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=ansible_env(base),
        timeout=180,
    )
    if not out.exists():
        raise AssertionError(f"the play stopped early:\n{result.stdout}\n{result.stderr}")
    return result, json.loads(out.read_text())


def test_the_module_through_ansible_playbook_on_a_cib_file(tmp_path):
    cib = tmp_path / "cib.xml"
    spec = {**SPEC, "cib_file": str(cib)}
    module = "onekit.cloud.ha_cluster"
    bad = {
        case: {**SPEC, **changes, "cib_file": str(tmp_path / f"bad-{case}.xml")}
        for case, (changes, _w, _m) in BAD_SPECS.items()
    }
    tasks = [
        {"name": "create", module: spec},
        {"name": "again", module: spec},
        {"name": "check", module: {**spec, "failback": False}, "check_mode": True, "diff": True},
        *(
            {"name": f"bad_{case.replace('-', '_')}", module: options, "ignore_errors": True}
            for case, options in bad.items()
        ),
    ]
    assert not cib.exists()
    result, r = play(tmp_path, tasks)
    assert "failed=0" in result.stdout, result.stdout + result.stderr
    assert r["create"]["changed"] and "<diff" in r["create"]["patch"]
    assert r["create"]["scores"] == {"fe1": 200, "fe2": 100}
    assert r["create"]["fence_delays"] == {"fe1": 15, "fe2": 0}
    assert r["create"]["corosync_quorum"]["two_node"] == 1
    assert not r["again"]["changed"] and r["again"]["patch"] == ""
    check = r["check"]
    assert check["changed"] and check["resource_stickiness"] >= 1000
    assert 'name="resource-stickiness" value="0"' in check["diff"]["before"]
    assert f'value="{check["resource_stickiness"]}"' in check["diff"]["after"]
    after_check = ET.parse(cib).getroot()
    assert after_check.find(".//nvpair[@name='resource-stickiness']").get("value") == "0"
    for case, (_changes, where, what) in BAD_SPECS.items():
        failed = r[f"bad_{case.replace('-', '_')}"]
        assert failed["failed"], case
        assert f"{where}: " in failed["msg"] and what in failed["msg"], failed["msg"]
        assert where in [p["field"] for p in failed["problems"]]
        assert not (tmp_path / f"bad-{case}.xml").exists()
    # the file the module wrote is a CIB Pacemaker's tools work on
    assert Simulator(tmp_path / "sim").steady(cib, ["fe1", "fe2"]).placement["onekit-vip"] == [
        "fe1"
    ]


def documented_offline_command() -> list[str]:
    """The command playbooks/ha.yml's comment gives to see the CIB without a cluster."""
    lines = (REPO / "playbooks/ha.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "--tags cib" in line)
    text = " ".join(line.lstrip("# ").rstrip("\\ ") for line in lines[start : start + 2])
    return shlex.split(text)


def test_the_example_playbook_and_inventory_write_a_cib_file(tmp_path):
    """playbooks/ha.yml with inventories/ha, offline, run as its comment says (only the
    CIB file's path is this test's): nothing connects to the front-ends; a second run
    changes nothing."""
    cib = tmp_path / "example-cib.xml"
    args = documented_offline_command()
    assert args[:2] == ["ansible-playbook", "-i"]
    args = [str(VENV_BIN / "ansible-playbook")] + [
        arg.replace("/tmp/onekit-cib.xml", str(cib)) for arg in args[1:]
    ]
    assert f"ha_cluster_cib_file={cib}" in args

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(
            args, capture_output=True, text=True, cwd=REPO, env=ansible_env(tmp_path), timeout=180
        )

    first = run()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "changed=1" in first.stdout
    conf = ET.parse(cib).getroot().find("configuration")
    assert {n.get("uname") for n in conf.iter("node")} == {"one-server1", "one-server2"}
    assert conf.find(".//primitive[@id='onekit-vip']//nvpair[@name='ip']").get("value") == (
        "10.10.11.12"
    )
    host_maps = {p.get("value") for p in conf.iter("nvpair") if p.get("name") == "pcmk_host_map"}
    assert host_maps == {"one-server1:one1", "one-server2:one2"}
    second = run()
    assert second.returncode == 0 and "changed=0" in second.stdout, second.stdout


# ---- a live cluster: corosync + pacemakerd in namespaces ---------------------------------------
@pytest.fixture
def live_base():
    base = Path(tempfile.mkdtemp(prefix="okha-", dir="/tmp"))
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_live_pacemaker_fences_the_absent_peer_and_restarts_a_killed_onekit_server(
    live_base, sim_hosts
):
    """One real node, fe1 (corosync + pacemakerd in namespaces); its peer fe2 is in the
    nodelist but never starts. Both front-ends are "VMs" on a simulated hypervisor (a
    private libvirtd on the test driver). The module writes the CIB into the running
    cluster (cibadmin --query, crm_diff, cibadmin --patch; a second run changes nothing);
    Pacemaker fences fe2 through fence_onekit_libvirt before it starts anything (startup
    fencing), then starts the floating IP and onekit-server; SIGKILL of onekit-server is
    seen by the monitor and the server is restarted in place."""
    assert LiveNode.missing() is None, LiveNode.missing()
    (hv,) = sim_hosts(1)
    for name in ("fe1", "fe2"):
        hv.hold.defineXML(DOMAIN.format(name=name)).create()
    fe2_id = hv.hold.lookupByName("fe2").ID()

    node = LiveNode(live_base / "fe1", "fe1", ["fe2"], "192.168.77.1/24")
    # the agent as the nodes run it, with /usr/bin/python3 (the controller runs its metadata
    # as hacluster, who cannot reach this venv's interpreter); the fencer (root) imports
    # libvirt-python from the venv
    site = next((VENV_BIN.parent / "lib").glob("python3*/site-packages"))
    node.install(
        "sbin",
        "fence_onekit_libvirt",
        f"#!/bin/sh\nPYTHONPATH={site} exec /usr/bin/python3 "
        f'{REPO / "share/fence/fence_onekit_libvirt"} "$@"\n',
    )
    node.install(
        "ocf", "onekit/server", (REPO / "roles/ha_cluster/files/onekit-server.ocf").read_text()
    )
    home = live_base / "onekit"
    env = {"ONEKIT_HOME": str(home)}
    subprocess.run(
        [str(VENV_BIN / "onekit-server"), "init"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    node.start(dc_deadtime="2s")
    try:
        fence = {"agent": "fence_onekit_libvirt", "options": {"uri": hv.uri, "power_timeout": 10}}
        options = {
            **SPEC,
            "nodes": [
                {"name": "fe1", "priority": 1, "fence": {**fence, "plug": "fe1"}},
                {"name": "fe2", "priority": 2, "fence": {**fence, "plug": "fe2"}},
            ],
            "one_vip": "192.168.77.10",
            "one_vip_if": "vip0",
            "onekit_options": {"home": str(home), "binary": str(VENV_BIN / "onekit-server")},
            "onekit_monitor_interval": 3,
        }
        playbook = live_base / "play.yml"
        playbook.write_text(
            yaml.safe_dump(
                [
                    {
                        "hosts": "localhost",
                        "gather_facts": False,
                        "tasks": [
                            {"name": "cib", "onekit.cloud.ha_cluster": options, "register": "r"},
                            {
                                "ansible.builtin.copy": {
                                    "content": "{{ r | to_json }}",
                                    "dest": str(live_base / "r.json"),
                                }
                            },
                        ],
                    }
                ]
            )
        )

        def apply() -> dict:
            run = node.run(
                str(VENV_BIN / "ansible-playbook"), str(playbook), env=ansible_env(live_base)
            )
            assert run.returncode == 0, run.stdout + run.stderr
            return json.loads((live_base / "r.json").read_text())

        assert apply()["changed"]

        def server_pid() -> int | None:
            status = node.run(str(VENV_BIN / "onekit-server"), "status", env=env)
            return (
                int(status.stdout.split("(pid ")[1].split(")")[0])
                if status.returncode == 0
                else None
            )

        node.wait_for(lambda: server_pid() is not None, 60, "onekit-server running")
        history = node.run("stonith_admin", "--history", "fe2").stdout
        assert "reboot of fe2 successful" in history, history
        assert hv.hold.lookupByName("fe2").ID() != fe2_id  # the agent really power-cycled it
        assert "192.168.77.10/24" in node.run("ip", "-br", "addr", "show", "vip0").stdout
        assert not apply()["changed"]  # the live CIB already matches

        killed = server_pid()
        node.run("kill", "-9", str(killed), check=True)

        def recovered() -> bool:  # Pacemaker's view: failed once, started again in place
            mon = node.run("crm_mon", "-1", "--failcounts").stdout
            return (
                "onekit-server: migration-threshold=3 fail-count=1" in mon
                and "onekit-server\t(ocf:onekit:server):\t Started fe1" in mon
            )

        node.wait_for(recovered, 60, "recovery of onekit-server on fe1")
        assert server_pid() not in (None, killed)
        assert "192.168.77.10/24" in node.run("ip", "-br", "addr", "show", "vip0").stdout
    finally:
        node.stop()


def test_the_roles_corosync_conf_passes_corosync_own_check(tmp_path):
    """The role's corosync step (two_node for two nodes, the shared authkey), written to
    files here; the template task validates with ``corosync -t``. A second run changes
    nothing."""
    conf, key = tmp_path / "corosync.conf", tmp_path / "authkey"
    nodes = [
        {"name": "fe1", "address": "127.0.0.1", "node_id": 1},
        {"name": "fe2", "address": "127.0.0.2", "node_id": 2},
    ]
    play_path = tmp_path / "corosync.yml"
    play_path.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "gather_facts": False,
                    "vars": {
                        "ha_cluster_nodes": nodes,
                        "ha_cluster_corosync_conf": str(conf),
                        "ha_cluster_corosync_authkey": str(key),
                        "ha_cluster_start_services": False,
                    },
                    "tasks": [
                        {
                            "name": f"role step {step}",
                            "ansible.builtin.include_role": {
                                "name": "onekit.cloud.ha_cluster",
                                "tasks_from": step,
                            },
                        }
                        for step in ("nodes", "corosync")
                    ],
                }
            ]
        )
    )

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(VENV_BIN / "ansible-playbook"), str(play_path)],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=ansible_env(tmp_path),
            timeout=180,
        )

    first = run()
    assert first.returncode == 0, first.stdout + first.stderr
    text = conf.read_text()
    assert "two_node: 1" in text and f"keyfile: {key}" in text
    assert "ring0_addr: 127.0.0.2" in text and "cluster_name: onekit" in text
    assert key.stat().st_mode & 0o777 == 0o400
    second = run()
    assert second.returncode == 0 and "changed=0" in second.stdout, second.stdout

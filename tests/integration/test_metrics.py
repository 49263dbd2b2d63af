"""``GET /metrics`` on a running server, scraped as Prometheus scrapes it (HTTP basic auth,
a real HTTP client) and read with prometheus_client's own parsers of the text format and
of OpenMetrics: the figures match what ``onevm list`` and ``onehost list`` say, requests
and failed logins are counted as they happen, the loops' and the runner's timings fill
up, only oneadmin's group may read any of it, and VM names that look like code or carry
quotes never reach, let alone break, the exposition.
"""

from __future__ import annotations

import base64
import collections
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from conftest import Cli
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from support.cli import created_id
from support.flow import run, wait_state
from support.plays import sqlite_only
from support.waiting import wait_until

from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    HostState,
    Lcm,
    VmState,
)
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts, users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, templates, vms

# names a user may give a VM: a template, quotes, a backslash (no blanks: names refuse them)
ODD_NAMES = ("{{7*7}}", "q\"uo\\te'{%raw%}")


class Scrape:
    """One answer of /metrics: its samples by name, and its raw text."""

    def __init__(self, text: str):
        self.text = text
        self.samples: dict[str, list[Sample]] = collections.defaultdict(list)
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[sample.name].append(sample)

    def value(self, name: str, **labels: str) -> float:
        """The one sample of ``name`` with these labels (0 when none: not yet counted)."""
        found = [s.value for s in self.samples[name] if _has(s, labels)]
        assert len(found) <= 1, (name, labels, found)
        return found[0] if found else 0.0

    def by(self, name: str, label: str) -> dict[str, float]:
        return {s.labels[label]: s.value for s in self.samples[name]}


def _has(sample: Sample, labels: dict[str, str]) -> bool:
    return all(sample.labels.get(k) == v for k, v in labels.items())


def _get(
    instance: Instance, path: str, auth: str | None, accept: str | None = None, method: str = "GET"
):
    """(status, headers, body) of a request on the core API's port."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{instance.config().port}{path}",
        method=method,
        data=b"{}" if method == "POST" else None,
    )
    if auth is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    if accept is not None:
        request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()


def scrape(instance: Instance, auth: str | None = None) -> Scrape:
    status, headers, body = _get(instance, "/metrics", auth or oneadmin(instance))
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain"), headers["Content-Type"]
    return Scrape(body)


def oneadmin(instance: Instance) -> str:
    return instance.auth_path.read_text().strip()


@pytest.fixture
def running(cli: Cli) -> Iterator[Callable[[], None]]:
    """``onekit-server start`` after the test's set-up; stopped at its end, whatever."""
    servers: list[Cli] = []

    def start() -> None:
        result = cli("onekit-server", "start")
        assert result.returncode == 0, result.stderr
        servers.append(cli)

    yield start
    for each in servers:
        each("onekit-server", "stop")


def test_the_figures_are_those_the_clis_list(instance, admin, cli, sim_hosts, running):
    conf = instance.config_path.read_text()
    instance.config_path.write_text(
        conf.replace("MONITORING_INTERVAL = 60", "MONITORING_INTERVAL = 1")
    )
    instance.sched_config_path.write_text("SCHED_INTERVAL = 1\nMAX_HOST = 10\n")
    sims = sim_hosts(3)
    for index, sim in enumerate(sims):
        hosts.create(admin, f"sim{index}", uri=sim.uri)
    tpl = templates.create(admin, 'NAME = "tiny"\nCPU = 0.1\nMEMORY = 32\n')
    placed = [templates.instantiate(admin, tpl["ID"], name=n, hold=True)[0] for n in ODD_NAMES]
    held = templates.instantiate(admin, tpl["ID"], name="held", hold=True)[0]
    gone = templates.instantiate(admin, tpl["ID"], name="gone", hold=True)[0]
    lifecycle.act(admin, [gone["ID"]], "delete")  # DONE: counted, not listed
    lifecycle.act(admin, [vm["ID"] for vm in placed], "release")  # the server places them
    running()
    wait_until(
        lambda: all(vms.show(admin, vm["ID"])["LCM_STATE"] == Lcm.RUNNING for vm in placed),
        "the server to deploy the released VMs",
    )
    # placed and monitored, then sim2 disabled: three hosts in two states
    wait_until(lambda: hosts.show(admin, "sim2")["STATE"] == HostState.MONITORED, "sim2 monitored")
    hosts.disable(admin, "sim2")

    listed_vms = cli.json("onevm", "list", "--all")["VM_POOL"]["VM"]
    listed_hosts = cli.json("onehost", "list")["HOST_POOL"]["HOST"]
    got = scrape(instance)

    # VMs: by STATE, DONE included (`onevm list` hides DONE: --all shows it), and the ACTIVE
    # ones by LCM_STATE; every state is there, 0 included, so no series comes and goes
    by_state = collections.Counter(VmState(vm["STATE"]).name for vm in listed_vms)
    assert got.by("onekit_vms", "state") == {s.name: by_state[s.name] for s in VmState}
    assert by_state == {"ACTIVE": 2, "HOLD": 1, "DONE": 1}
    by_lcm = collections.Counter(
        Lcm(vm["LCM_STATE"]).name for vm in listed_vms if vm["STATE"] == VmState.ACTIVE
    )
    assert got.by("onekit_vms_active", "lcm_state") == {s.name: by_lcm[s.name] for s in Lcm}
    assert got.value("onekit_vms_active", lcm_state="RUNNING") == 2
    assert held["ID"] in {vm["ID"] for vm in listed_vms}

    # hosts: by state, and each host's HOST_SHARE in cores and bytes
    host_states = collections.Counter(HostState(h["STATE"]).name for h in listed_hosts)
    assert host_states == {"MONITORED": 2, "DISABLED": 1}
    assert got.by("onekit_hosts", "state") == {s.name: host_states[s.name] for s in HostState}
    for host in listed_hosts:
        share, hid = host["HOST_SHARE"], str(host["ID"])
        assert share["MAX_CPU"] > 0 and share["MAX_MEM"] > 0
        cores = {
            "maximum": share["MAX_CPU"] / 100,  # oned counts CPU in hundredths of a core
            "allocated": share["CPU_USAGE"] / 100,
        }
        for kind, value in cores.items():
            assert got.value(f"onekit_host_cpu_{kind}_cores", host_id=hid) == pytest.approx(value)
        assert got.value("onekit_host_memory_maximum_bytes", host_id=hid) == share["MAX_MEM"] * 1024
        assert got.value("onekit_host_memory_allocated_bytes", host_id=hid) == (
            share["MEM_USAGE"] * 1024
        )
        assert got.value("onekit_host_vms", host_id=hid) == share["RUNNING_VMS"]
    # what the two running VMs asked for: CPU = 0.1 and MEMORY = 32 (MiB) each
    assert sum(got.by("onekit_host_cpu_allocated_cores", "host_id").values()) == pytest.approx(0.2)
    assert sum(got.by("onekit_host_memory_allocated_bytes", "host_id").values()) == 64 * 2**20

    # the loops timed themselves: monitoring, scheduling and the (idle) LCM step
    assert got.value("onekit_loops_leader") == 1
    for loop in ("onekit_monitor_cycle_seconds", "onekit_scheduler_cycle_seconds"):
        assert got.value(f"{loop}_count") >= 1, loop
        assert got.value(f"{loop}_sum") > 0, loop
        assert got.value(f"{loop}_bucket", le="+Inf") == got.value(f"{loop}_count"), loop
    assert got.value("onekit_lcm_step_seconds_count") >= 1
    monitored = got.value("onekit_monitor_cycle_seconds_count")
    wait_until(
        lambda: scrape(instance).value("onekit_monitor_cycle_seconds_count") > monitored,
        "another monitoring cycle to be counted",
    )

    # user text stays out: no label holds a name, and the text parses as OpenMetrics too
    for name in ODD_NAMES:
        assert name not in got.text
    labels = {key for samples in got.samples.values() for s in samples for key in s.labels}
    assert labels <= {"state", "lcm_state", "host_id", "api", "code", "le", "playbook", "status"}
    status, headers, body = _get(
        instance, "/metrics", oneadmin(instance), "application/openmetrics-text; version=1.0.0"
    )
    assert status == 200 and headers["Content-Type"].startswith("application/openmetrics-text")
    families = {f.name: f for f in openmetrics_families(body)}
    assert families["onekit_vms"].type == "gauge"
    assert families["onekit_http_requests"].type == "counter"
    assert families["onekit_monitor_cycle_seconds"].type == "histogram"


@sqlite_only
def test_requests_and_failed_logins_are_counted_and_only_oneadmins_group_reads_them(
    instance, admin, running
):
    users.create(admin, "carol", "carol-pw")  # a user of the users group
    ops = users.create(admin, "ops", "ops-pw")
    users.chgrp(admin, ops["ID"], 0)  # an operator in the oneadmin group
    running()
    before = scrape(instance)

    for password in ("nope", "wrong", "bad"):  # three failed logins on the core API
        assert _get(instance, "/api/users.show", f"oneadmin:{password}", method="POST")[0] == 401
    assert _get(instance, "/no/such/page", None)[0] == 404
    flow_url = instance.flow_config().url
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{flow_url}/no/such/page", timeout=30)
    assert missing.value.code == 404

    # who may read it: oneadmin's group; nothing is computed for anyone else
    status, headers, body = _get(instance, "/metrics", None)
    assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="onekit"'
    assert "onekit_" not in body
    status, _headers, body = _get(instance, "/metrics", "carol:carol-pw")
    assert status == 403 and "oneadmin group" in body and "onekit_" not in body
    status, _headers, body = _get(instance, "/metrics", "carol:not-hers")
    assert status == 401 and "onekit_" not in body

    after = scrape(instance, "ops:ops-pw")

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    # the first scrape counts as a request once it was answered (in the second one)
    assert moved("onekit_http_requests_total", api="core", code="200") == 1
    assert moved("onekit_http_requests_total", api="core", code="401") == 3 + 2
    assert moved("onekit_http_requests_total", api="core", code="403") == 1
    assert moved("onekit_http_requests_total", api="core", code="404") == 1
    assert moved("onekit_http_requests_total", api="oneflow", code="404") == 1
    assert moved("onekit_http_request_seconds_count", api="core") == 1 + 3 + 1 + 1 + 1 + 1
    # wrong passwords are failed logins; a request without credentials is not a login
    assert moved("onekit_failed_logins_total") == 3 + 1


@sqlite_only
def test_an_lcm_step_and_its_runner_call_are_timed(flow, tmp_path):
    templates.create(flow.admin, 'NAME = "t0"\nCPU = 0.1\nMEMORY = 32\n')
    path = tmp_path / "one.json"
    path.write_text('{"name": "one", "roles": [{"name": "web", "vm_template": 0}]}')
    template = created_id(run(flow, "oneflow-template", "create", str(path)))
    service = created_id(run(flow, "oneflow-template", "instantiate", str(template)))
    wait_state(flow, service, "RUNNING")

    got = scrape(flow.instance)
    step = {"playbook": "flow/step", "status": "successful"}
    assert got.value("onekit_runner_call_seconds_count", **step) >= 1
    assert got.value("onekit_runner_call_seconds_sum", **step) > 0
    assert got.value("onekit_lcm_step_seconds_count") >= 1
    # an LCM step that ran orders lasts at least as long as its runner call
    assert got.value("onekit_lcm_step_seconds_sum") >= got.value(
        "onekit_runner_call_seconds_sum", **step
    )
    assert got.value("onekit_http_requests_total", api="oneflow", code="201") >= 1

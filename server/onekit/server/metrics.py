"""``GET /metrics``: the server's figures for Prometheus, as OpenNebula's own exporter
offers them: hosts and VMs by state, each host's capacity, how long the loops' cycles and
ansible-runner calls take, the HTTP requests of each API and the failed logins.

Where, and who may read it:

* **On the core API's port** (oned.conf's PORT, 2633), beside ``/api``: the port an
  operator already reaches and firewalls as the admin's. Not OneGate's (every guest reaches
  it) nor OneFlow's (every cloud user does); a port of its own would be one more listener
  and config key for the same credentials.
* **For users of the oneadmin group only**, with HTTP basic auth as every API here
  (Prometheus' ``scrape_config`` has ``basic_auth``): the figures tell how big the cloud
  is and how full each host is. No credentials (or wrong ones) get 401 before anything is
  computed; another user gets 403 from the core (``objects.summary``) before its queries.
  The password check goes through the process's ``LoginGuard``, so a scrape every 15 s
  costs one hash per the guard's ttl, and a wrong scrape password counts as a failed login.

Sample ``prometheus.yml`` (README.md has it too)::

    scrape_configs:
      - job_name: onekit
        static_configs: [{targets: ["frontend:2633"]}]
        basic_auth: {username: oneadmin, password_file: /etc/prometheus/onekit.pass}

What is computed when: the store's figures (``onekit_hosts``, ``onekit_vms``, the
``onekit_host_*`` capacity) are read at each scrape by ``objects.summary.cloud_summary``
(the SQL is in the core), as the caller. The rest are this process's instruments, kept in
``REGISTRY``, a registry of onekit's own (not prometheus_client's global one, so any
number of apps can be made in one process, as the tests do): the loops (``loops.py``) and
``playbook_runner`` time themselves into them, and every app counts its requests
(``instrument``, registered by ``app.create_app``). So a scrape shows one server
process: the HTTP requests of its three APIs, and the loops' timings only where it leads
(``onekit_loops_leader``; a standby's histograms stay empty).

Labels never hold user text (names, templates, paths a client sent): only the API's name,
the status code, state names, host ids, and the playbook's folder and name (the server's
own, or oned.conf's hook playbooks). A VM named ``{{ 7*7 }}\\n"`` cannot break a line.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from ansible_collections.onekit.cloud.plugins.module_utils.core.login_guard import LoginGuard
from ansible_collections.onekit.cloud.plugins.module_utils.objects import summary
from ansible_collections.onekit.cloud.plugins.module_utils.objects.summary import CloudSummary
from onekit.server import auth

REGISTRY = CollectorRegistry()

# seconds; the loops' cycles run from milliseconds (a few hosts) to minutes (100k VMs)
_CYCLE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_RUNNER_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

HTTP_REQUESTS = Counter(
    "onekit_http_requests",
    "HTTP requests answered, by API (core, oneflow, onegate) and status code",
    ("api", "code"),
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "onekit_http_request_seconds",
    "Time to answer an HTTP request, by API",
    ("api",),
    buckets=_HTTP_BUCKETS,
    registry=REGISTRY,
)
MONITOR_CYCLE = Histogram(
    "onekit_monitor_cycle_seconds",
    "One monitoring cycle: every host polled and the store updated (every MONITORING_INTERVAL)",
    buckets=_CYCLE_BUCKETS,
    registry=REGISTRY,
)
SCHEDULER_CYCLE = Histogram(
    "onekit_scheduler_cycle_seconds",
    "One scheduling cycle: PENDING VMs placed and deployed (every SCHED_INTERVAL)",
    buckets=_CYCLE_BUCKETS,
    registry=REGISTRY,
)
LCM_STEP = Histogram(
    "onekit_lcm_step_seconds",
    "One OneFlow LCM step: decide, write the decision, run its orders",
    buckets=_CYCLE_BUCKETS,
    registry=REGISTRY,
)
RUNNER_CALLS = Histogram(
    "onekit_runner_call_seconds",
    "One ansible-runner call, by playbook (folder/name) and the runner's status",
    ("playbook", "status"),
    buckets=_RUNNER_BUCKETS,
    registry=REGISTRY,
)


def observe_runner_call(playbook: Path, status: str, started: float) -> None:
    """A runner call on ``playbook`` that began at ``started`` (``time.monotonic()``)."""
    name = f"{playbook.parent.name}/{playbook.stem}"  # flow/step, hooks/host_error
    RUNNER_CALLS.labels(name, status).observe(time.monotonic() - started)


def instrument(app: Flask, api: str) -> None:
    """Count and time every request ``app`` answers, its errors included (a 404, a 401
    raised before the body is read): Flask runs ``after_request`` on error responses
    too. What the WSGI wrapper ``BodyLimit`` refuses never reaches Flask, so not here."""

    @app.before_request
    def _started() -> None:
        g.onekit_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        HTTP_REQUESTS.labels(api, str(response.status_code)).inc()
        started = g.get("onekit_started")
        if started is not None:
            HTTP_SECONDS.labels(api).observe(time.perf_counter() - started)
        return response


bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def scrape() -> Response:
    """The exposition, in the format the scraper's Accept asks for (Prometheus' text
    format by default, OpenMetrics when asked)."""
    session = auth.session()  # 401 without valid credentials: nothing computed yet
    cloud = summary.cloud_summary(session)  # 403 unless oneadmin's group
    loops = current_app.extensions.get("onekit.loops")
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encode(
        _Scrape(
            REGISTRY,
            _Cloud(cloud),
            _Process(auth.guard(), leader=loops is not None and loops.leader),
        )
    )
    return Response(body, content_type=content_type)


class _Scrape:
    """One scrape: the process's instruments, then what this request read."""

    def __init__(self, *parts: Collector):
        self.parts = parts

    def collect(self) -> Iterator[Metric]:
        for part in self.parts:
            yield from part.collect()


class _Process:
    """What the process knows without its instruments: failed logins, leadership."""

    def __init__(self, guard: LoginGuard, leader: bool):
        self.guard = guard
        self.leader = leader

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "onekit_failed_logins",
            "Logins refused for wrong or unreadable credentials, on any of this process's APIs",
            value=self.guard.failed_logins,
        )
        yield GaugeMetricFamily(
            "onekit_loops_leader",
            "1 when this server runs the loops (monitor, scheduler, LCM), 0 when it stands by",
            value=int(self.leader),
        )


# per host: (metric, help, HostCapacity field, factor to the metric's unit)
_CAPACITY = (
    ("onekit_host_cpu_maximum_cores", "CPU a host offers (MAX_CPU)", "max_cpu", 0.01),
    ("onekit_host_cpu_allocated_cores", "CPU given to VMs (CPU_USAGE)", "cpu_usage", 0.01),
    ("onekit_host_cpu_used_cores", "CPU its guests use, as monitored (USED_CPU)", "used_cpu", 0.01),
    ("onekit_host_memory_maximum_bytes", "Memory a host offers (MAX_MEM)", "max_mem", 1024),
    ("onekit_host_memory_allocated_bytes", "Memory given to VMs (MEM_USAGE)", "mem_usage", 1024),
    ("onekit_host_memory_used_bytes", "Memory in use, as monitored (USED_MEM)", "used_mem", 1024),
    ("onekit_host_vms", "VMs running on a host (RUNNING_VMS)", "running_vms", 1),
)  # fmt: skip


class _Cloud:
    """The store's figures of one scrape (``objects.summary``)."""

    def __init__(self, cloud: CloudSummary):
        self.cloud = cloud

    def collect(self) -> Iterator[Metric]:
        yield _by_state("onekit_hosts", "Hosts by state", "state", self.cloud.hosts.items())
        yield _by_state(
            "onekit_vms", "VMs by STATE (DONE included)", "state", self.cloud.vms.items()
        )
        yield _by_state(
            "onekit_vms_active",
            "ACTIVE VMs by LCM_STATE (RUNNING, BOOT, UNKNOWN...)",
            "lcm_state",
            self.cloud.active_vms.items(),
        )
        for name, text, field, factor in _CAPACITY:
            family = GaugeMetricFamily(name, text, labels=["host_id"])
            for host in self.cloud.capacity:
                family.add_metric([str(host.id)], getattr(host, field) * factor)
            yield family


def _by_state(name: str, text: str, label: str, counts: Iterable) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text, labels=[label])
    for state, count in counts:
        family.add_metric([state.name], count)
    return family

"""The three HTTP APIs (core, OneFlow, OneGate) under a few thousand generated requests, on
a running server: no answer is a 5xx, every answer conforms to the API's OpenAPI document
(a documented status code, its content type, its schema, its headers), and the server
logs no traceback (a request's, or a loop's choking on what a request stored).

Schemathesis generates the requests from the documents the server serves
(``GET /openapi.json``), operation by operation:

* data that fits the document (*positive*) and data that does not (*negative*: each must
  be refused with a 4xx);
* as oneadmin, with path parameters generated, and with those of objects that exist (so
  requests get past the lookup into the code behind it); and without credentials, which
  every route but /health and /openapi.json refuses whatever the rest of the request.

Hypothesis adds what random data rarely hits: service templates that validate (with
policies, times, cron lines and expressions near the edges) for the OneFlow API, and for
the core API calls built from each operation's declared signature (arguments of the
declared types, which get past the type check into the operation itself).

Generation is derandomized: every run sends the same requests. The servers' loops run
meanwhile, so services and VMs change state under the requests, as in production.
For a search by hand (not for CI): ``ONEKIT_FUZZ_SCALE=10`` sends ten times as many
requests, ``ONEKIT_FUZZ_SEED=<n>`` other ones (random, from that seed).
"""

from __future__ import annotations

import collections
import collections.abc
import datetime as dt
import functools
import inspect
import os
import time
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import requests
import schemathesis
from conftest import Flow
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from support.plays import sqlite_only

from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.flow import service_templates, services
from ansible_collections.onekit.cloud.plugins.module_utils.flow.states import FlowState
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.gate import tokens as gate
from ansible_collections.onekit.cloud.plugins.module_utils.objects import users
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates, vms
from onekit.server import core_api

pytestmark = [sqlite_only, pytest.mark.timeout(300)]

POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
SCALE = max(1, int(os.environ.get("ONEKIT_FUZZ_SCALE", "1")))
SEED = os.environ.get("ONEKIT_FUZZ_SEED")
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
]
# Data that does not fit a document is refused with one of these (413: over the size limit).
REFUSED = ["400", "401", "403", "404", "405", "409", "413", "429"]
CONFIG = schemathesis.Config.from_dict(
    {
        # Credentials are given per pass, never generated: random ones would only count as
        # failed logins, and the login guard would slow the whole run down.
        "generation": {"with-security-parameters": False, "deterministic": True},
        "checks": {"negative_data_rejection": {"expected-statuses": REFUSED}},
    }
)
TOKEN_TEMPLATE = 'NAME = "fuzz"\nCPU = 0.1\nMEMORY = 32\nCONTEXT = [ TOKEN = "YES" ]\n'
Case = schemathesis.Case


@dataclass
class Stats:
    """Requests sent, by status code (printed at the end of each test: ``pytest -s``)."""

    api: str
    statuses: collections.Counter = field(default_factory=collections.Counter)
    started: float = field(default_factory=time.monotonic)
    waiting: float = 0.0  # seconds spent waiting for answers
    slowest: tuple[float, str] = (0.0, "")

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    def report(self) -> str:
        seconds = time.monotonic() - self.started
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        return (
            f"{self.api}: {self.total} requests in {seconds:.1f} s, {self.waiting:.1f} s of it "
            f"waiting for answers (slowest {self.slowest[0]:.2f} s: {self.slowest[1]}) ({codes})"
        )


@dataclass
class Pass:
    """One way of calling the operations: a generation mode, how many requests per
    operation, credentials (``auth`` for basic auth, ``headers`` for a token), and values
    of path and header parameters fixed to objects that exist."""

    mode: GenerationMode
    examples: int
    auth: tuple[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    path: dict[str, str] = field(default_factory=dict)
    fixed_headers: dict[str, str] = field(default_factory=dict)

    @property
    def stranger(self) -> bool:
        return self.auth is None and not self.headers


class Fuzzer:
    """Sends the cases of an API's operations to its server, and checks each answer."""

    def __init__(self, api: str, url: str, http: requests.Session):
        self.url = url
        self.http = http
        self.stats = Stats(api)
        self.schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=CONFIG)
        self.schema.validate()
        # deletions last: the objects that exist are what the other operations are about
        self.operations = sorted(
            (result.ok() for result in self.schema.get_all_operations()),
            key=lambda op: op.method.upper() == "DELETE",
        )

    def operation(self, path: str, method: str) -> schemathesis.APIOperation:
        return self.schema[path][method]

    @functools.cache  # noqa: B019 (one fuzzer per test)
    def body_validator(self, path: str, method: str) -> jsonschema_rs.Validator | None:
        """The JSON schema of the operation's request body, if it takes JSON."""
        doc = self.schema.raw_schema
        body = doc["paths"][path][method.lower()].get("requestBody", {})
        content = body.get("content", {}).get("application/json")
        if content is None:
            return None
        root = {**content["schema"], "components": doc["components"]}
        return jsonschema_rs.Draft202012Validator(root)

    def check_accepted_body(self, case: Case, status: int) -> None:
        """A case built here (not by Schemathesis, which checks its own) whose body does
        not fit the document is refused, as schemathesis' negative_data_rejection asks."""
        if case.meta is not None or not 200 <= status < 300:
            return
        check = self.body_validator(case.operation.path, case.operation.method)
        if check is not None and not check.is_valid(case.body):
            error = next(check.iter_errors(case.body))
            raise AssertionError(
                f"{case.operation.label} accepted ({status}) a body the document refuses: "
                f"{error.message} at {list(error.instance_path)}: {case.body!r}"
            )

    def run_passes(self, passes: list[Pass]) -> None:
        """Every operation, once per pass (a pass with path parameters only runs the
        operations that take them, once per distinct set)."""
        for operation in self.operations:
            done = set()
            for each in passes:
                names = {p.name for p in operation.path_parameters}
                path = {k: v for k, v in each.path.items() if k in names}
                key = (each.mode, each.examples, str(each.auth), str(each.headers), str(path))
                if (each.path and not path) or key in done:
                    continue
                done.add(key)
                strategy = operation.as_strategy(
                    each.mode, path_parameters=path or None, headers=each.fixed_headers or None
                )
                self.run(strategy, each)

    def run(self, cases: st.SearchStrategy[Case], each: Pass) -> None:
        """``each.examples`` cases drawn from ``cases``, sent and checked."""

        @seed(int(SEED or 0))
        @settings(
            max_examples=each.examples * SCALE,
            derandomize=SEED is None,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
        @given(case=cases)
        def send(case: Case) -> None:
            sent = time.monotonic()
            response = case.call(
                base_url=self.url, session=self.http, auth=each.auth, headers=each.headers
            )
            took = time.monotonic() - sent
            self.stats.waiting += took
            self.stats.slowest = max(self.stats.slowest, (took, case.operation.label))
            self.stats.statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS)
            self.check_accepted_body(case, response.status_code)
            if each.stranger:
                check_stranger_refused(case, response.status_code)

        try:
            send()
        except Unsatisfiable:
            assert each.mode is NEGATIVE  # no data breaks it (no parameters, no body)


def check_stranger_refused(case: Case, status: int) -> None:
    """A request without credentials never gets in; on the basic-auth APIs not even
    past the login (only a body over the limit, or a path that is no route, is refused
    before it)."""
    root = case.operation.schema.raw_schema.get("security", [])
    schemes = {
        name for item in case.operation.definition.raw.get("security", root) for name in item
    }
    if schemes:
        assert not 200 <= status < 300, (status, case)
    if "basic" in schemes:
        assert status in (401, 404, 413), (status, case)


def assert_no_traceback(instance: Instance) -> None:
    """Nothing the requests sent made the server (a request, or a loop) crash."""
    log = Path(instance.home) / "var" / "onekit-server.log"
    text = log.read_text(errors="replace")
    index = text.find("Traceback")
    assert index < 0, text[max(0, index - 2000) : index + 4000]


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def guest_vm(session: Any, instance: Instance) -> tuple[int, str]:
    """A new VM with a OneGate token: its id and the token."""
    vm = templates.instantiate(session, templates.show(session, "fuzz")["ID"], 1)[0]
    return vm["ID"], gate.token(instance.gate_secret(), vms.show(session, vm["ID"]))


# ---- values near the edges --------------------------------------------------------------
# Strings with what JSON can carry but no store or hash takes as it is: a lone UTF-16
# surrogate, NUL, controls, a character outside the BMP.
ODD_TEXT = st.text(
    st.characters(codec=None, categories=["Cs", "Cc", "Zs", "So"]) | st.sampled_from("a:/#$"),
    max_size=4,
)
# numbers as template values: past each end of a float, of an integer, of a number at all
# (the nastiest first: Hypothesis draws the first ones most), then any float or integer
EDGE_NUMBERS = ["1e308", "-1", "0", "nan", "inf", "1e-320", "18446744073709551616", "0x10"]
NUMBER_TEXT = (
    st.sampled_from([*EDGE_NUMBERS, "32", "0.5", " 1 ", ""])
    | st.floats().map(str)
    | st.integers(-(2**70), 2**70).map(str)
)
NUMERIC = ["CPU", "VCPU", "MEMORY", "SIZE"]
# other attributes of VM, network, image, zone and host templates, and guests' metrics
WORDY = [
    "NAME", "DISK", "NIC", "CONTEXT", "OS", "GRAPHICS", "RAW", "SCHED_REQUIREMENTS",
    "SCHED_RANK", "ENDPOINT", "BRIDGE", "AR", "PATH", "TYPE", "TOKEN", "APP_LOAD", "ERROR",
]  # fmt: skip
WORDS = st.sampled_from(["YES", "x86_64", "CPU > 1", "FREE_CPU", "/x", "br0", "http://h:1"])
VECTOR = st.dictionaries(
    st.sampled_from(NUMERIC + WORDY), NUMBER_TEXT | WORDS, min_size=1, max_size=3
)
ATTRIBUTE = st.one_of(
    st.tuples(st.sampled_from(NUMERIC), NUMBER_TEXT),
    st.tuples(st.sampled_from(WORDY), WORDS | ODD_TEXT | VECTOR),
)
# a VM template (CPU and MEMORY always: without them nothing gets past the first check)
VM_TEMPLATE = st.builds(
    lambda cpu, memory, rest: [("CPU", cpu), ("MEMORY", memory), *rest],
    NUMBER_TEXT,
    NUMBER_TEXT,
    st.lists(ATTRIBUTE, max_size=3),
)
ATTRIBUTES = VM_TEMPLATE | st.lists(ATTRIBUTE, min_size=1, max_size=4)


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _line(name: str, value: str | dict) -> str:
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {_quoted(v)}" for k, v in value.items())
        return f"{name} = [ {inner} ]"
    return f"{name} = {_quoted(value)}"


TEMPLATE_TEXT = ATTRIBUTES.map(lambda pairs: "\n".join(_line(k, v) for k, v in pairs))
TEMPLATE_MAP = ATTRIBUTES.map(dict)


# ---- OneFlow ----------------------------------------------------------------------------
@dataclass
class FlowSeed:
    """What exists when the fuzzing starts."""

    vm_template: int
    templates: list[str]  # a service template, by id and by name
    services: list[str]  # RUNNING services (ids) of roles "front" and "back" (min 1, max 3)
    guest: int  # front's VM in the first service, and its OneGate token
    token: str
    loose_guest: int  # a VM of no service, and its token
    loose_token: str


def seed_flow(flow: Flow, count: int = 3) -> FlowSeed:
    """``count`` RUNNING services of a template of two roles, and two guests with tokens."""
    session = flow.instance.session()
    try:
        tpl = templates.create(session, TOKEN_TEMPLATE)
        roles = [
            {"name": "front", "vm_template": tpl["ID"]},
            {"name": "back", "vm_template": tpl["ID"], "min_vms": 1, "max_vms": 3},
        ]
        doc = service_templates.create(session, {"name": "app", "roles": roles})
        made = [services.instantiate(session, doc["ID"])["ID"] for _ in range(count)]
        for service in made:
            running = services.wait_for(session, service, {FlowState.RUNNING}, timeout=60)
            assert running is not None, services.show(session, service)
        body = services.show(session, made[0])["TEMPLATE"]["BODY"]
        guest = body["roles"][0]["nodes"][0]["deploy_id"]
        loose, loose_token = guest_vm(session, flow.instance)
        return FlowSeed(
            vm_template=tpl["ID"],
            templates=[str(doc["ID"]), "app"],
            services=[str(s) for s in made],
            guest=guest,
            token=gate.token(flow.instance.gate_secret(), vms.show(session, guest)),
            loose_guest=loose,
            loose_token=loose_token,
        )
    finally:
        session.db.close()


def _time_text(when: dt.datetime, form: int, offset: str) -> str:
    """``when`` as one of the forms the server reads (strftime drops a year's leading
    zeros, so the forms are spelled out)."""
    date, clock = f"{when.year:04d}-{when.month:02d}-{when.day:02d}", f"{when:%H:%M}"
    return [
        date,
        f"{date} {clock}",
        f"{date.replace('-', '/')} {clock}",
        f"{when.day:02d}/{when.month:02d}/{when.year:04d} {clock}",
        f"{date}T{clock}:00{offset}",
    ][form]


def _times() -> st.SearchStrategy[str]:
    """start_time values: every form the server reads, often at the ends of the calendar."""
    ends = [dt.datetime.min, dt.datetime.max, dt.datetime(1970, 1, 1), dt.datetime(2038, 1, 19)]
    forms, offsets = st.integers(0, 4), st.sampled_from(["", "+00:00", "-23:59", "+23:59"])
    anywhere = st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59))
    return (
        st.builds(_time_text, st.sampled_from(ends), forms, offsets)
        | st.builds(_time_text, anywhere, forms, offsets)
        | st.integers(0, 10**11).map(str)
        | st.text(max_size=12)
    )


# cron lines field by field, with the values at each field's ends and past them
CRON = st.tuples(
    st.sampled_from(["*", "0", "59", "60", "*/5", "*/0", "0-59/7"]),
    st.sampled_from(["*", "0", "23", "24"]),
    st.sampled_from(["*", "1", "29", "30", "31", "L", "?"]),
    st.sampled_from(["*", "1", "2", "4", "12", "13"]),
    st.sampled_from(["*", "mon-fri", "7", "8", "mon#5", "?"]),
).map(" ".join) | st.lists(st.sampled_from(["*", "0", "1"]), max_size=7).map(" ".join)
EXPRESSIONS = st.sampled_from(
    ["CPU > 80", "A & B", "!(ATT >= -5.5) || X != 1", "A > 1e3", "((((A))))", "A <", "", "-"]
)
NAMES = st.from_regex(r"[A-Za-z0-9_]{1,6}", fullmatch=True)
SMALL = st.integers(-3, 3)


def _policy(scheduled: bool) -> st.SearchStrategy[dict]:
    base = {"type": st.sampled_from(["CHANGE", "CARDINALITY", "PERCENTAGE_CHANGE"])}
    optional: dict[str, st.SearchStrategy] = {"min_adjust_step": st.integers(0, 3)}
    if scheduled:
        when = st.one_of(
            st.fixed_dictionaries({"start_time": _times()}),
            st.fixed_dictionaries({"recurrence": CRON | st.text(max_size=12)}),
        )
        policy = st.fixed_dictionaries({**base, "adjust": SMALL}, optional=optional)
        return st.builds(lambda p, w: {**p, **w}, policy, when)
    optional.update(period_number=st.integers(0, 3), period=st.integers(0, 5), cooldown=SMALL)
    required = {**base, "adjust": SMALL, "expression": EXPRESSIONS | st.text(max_size=12)}
    return st.fixed_dictionaries(required, optional=optional)


def service_template(vm_template: int) -> st.SearchStrategy[dict]:
    """Templates that mostly validate, with the VM template that exists, and values at
    the edges of what is valid (times, cron lines, expressions, policy numbers)."""
    role = st.fixed_dictionaries(
        {"name": NAMES, "vm_template": st.just(vm_template)},
        optional={
            "cardinality": st.integers(0, 2),
            "min_vms": st.integers(0, 1),
            "max_vms": st.integers(1, 3),
            "cooldown": st.integers(0, 10),
            "vm_template_contents": TEMPLATE_TEXT,
            "vm_name_template": st.sampled_from(["r$VM_NUMBER", "$ROLE_NAME-$VM_NUMBER", "x"]),
            "shutdown_action": st.sampled_from(["shutdown", "shutdown-hard"]),
            "elasticity_policies": st.lists(_policy(scheduled=False), min_size=1, max_size=2),
            "scheduled_policies": st.lists(_policy(scheduled=True), min_size=1, max_size=2),
        },
    )
    return st.fixed_dictionaries(
        {"name": NAMES, "roles": st.lists(role, min_size=1, max_size=2)},
        optional={
            "deployment": st.sampled_from(["none", "straight"]),
            "description": st.text(max_size=10) | ODD_TEXT,
            "custom_attrs": st.dictionaries(NAMES, ODD_TEXT, max_size=2),
            "ready_status_gate": st.booleans(),
        },
    )


def flow_cases(fuzzer: Fuzzer, seeded: FlowSeed) -> list[st.SearchStrategy[Case]]:
    """Requests that carry a service template that exists or validates."""
    template = service_template(seeded.vm_template)
    refs = st.sampled_from(seeded.templates)
    create = fuzzer.operation("/service_template", "POST")
    update = fuzzer.operation("/service_template/{ref}", "PUT")
    action = fuzzer.operation("/service_template/{ref}/action", "POST")
    role_action = fuzzer.operation("/service/{ref}/role/{role}/action", "POST")

    def act(perform: str, params: dict, ref: str) -> Case:
        body = {"action": {"perform": perform, "params": params}}
        return action.Case(path_parameters={"ref": ref}, body=body)

    merge = st.fixed_dictionaries({}, optional={"name": NAMES, "description": ODD_TEXT})
    owners = st.integers(-(2**70), 2**70) | ODD_TEXT | st.sampled_from(["oneadmin", "users", "0"])
    services_ = fuzzer.operation("/service/{ref}/action", "POST")
    return [
        st.builds(lambda body: create.Case(body=body), template),
        st.builds(
            lambda body, ref: update.Case(path_parameters={"ref": ref}, body=body), template, refs
        ),
        st.builds(lambda t, ref: act("update", {"template_json": t}, ref), template, refs),
        st.builds(
            lambda m, ref: act("instantiate", {"merge_template": m}, ref), merge | template, refs
        ),
        st.builds(
            lambda action, period, number, service, role: role_action.Case(
                path_parameters={"ref": service, "role": role},
                body={
                    "action": {"perform": action, "params": {"period": period, "number": number}}
                },
            ),
            st.sampled_from(["hold", "release", "reboot", "poweroff", "resume"]),
            st.none() | st.integers(0, 2**70),
            st.none() | st.integers(1, 2**70),
            st.sampled_from(seeded.services),
            st.sampled_from(["front", "back"]),
        ),
        st.builds(
            lambda perform, owner, group, octet, ref: act(
                perform, {"owner_id": owner, "group_id": group, "octet": octet}, ref
            ),
            st.sampled_from(["chown", "chgrp", "chmod"]),
            owners,
            owners,
            st.sampled_from(["640", 640, "999", -1, 2**70]),
            refs,
        ),
        st.builds(
            lambda perform, params, service: services_.Case(
                path_parameters={"ref": service},
                body={"action": {"perform": perform, "params": params}},
            ),
            st.sampled_from(["recover", "chmod", "shutdown"]),
            st.sampled_from([0, "", [], False, 1, "x", [{}], None, {}, {"octet": "640"}]),
            st.sampled_from(seeded.services),
        ),
        st.builds(
            lambda perform, owner, service: services_.Case(
                path_parameters={"ref": service},
                body={
                    "action": {"perform": perform, "params": {"owner_id": owner, "group_id": owner}}
                },
            ),
            st.sampled_from(["chown", "chgrp"]),
            owners,
            st.sampled_from(seeded.services),
        ),
    ]


def test_oneflow_answers_a_thousand_generated_requests_without_a_5xx(flow: Flow, http):
    seeded = seed_flow(flow)
    admin = flow.instance.credentials()
    fuzzer = Fuzzer("oneflow", flow.url, http)
    passes = [Pass(POSITIVE, 3), Pass(POSITIVE, 8, admin), Pass(NEGATIVE, 8, admin)]
    for ref in seeded.templates:
        passes += [Pass(POSITIVE, 10, admin, path={"ref": ref})]
        passes += [Pass(NEGATIVE, 10, admin, path={"ref": ref})]
    for service in seeded.services:
        for role in ("front", "back"):
            passes += [Pass(POSITIVE, 6, admin, path={"ref": service, "role": role})]
            passes += [Pass(NEGATIVE, 4, admin, path={"ref": service, "role": role})]
    try:
        for cases in flow_cases(fuzzer, seeded):
            fuzzer.run(cases, Pass(POSITIVE, 40, admin))
        fuzzer.run_passes(passes)
    finally:
        print(fuzzer.stats.report())
    assert fuzzer.stats.total > 900
    assert_no_traceback(flow.instance)


# ---- OneGate ----------------------------------------------------------------------------
def test_onegate_answers_a_thousand_generated_requests_without_a_5xx(flow: Flow, http):
    seeded = seed_flow(flow, count=1)
    fuzzer = Fuzzer("onegate", flow.instance.gate_config().url, http)
    passes = [Pass(POSITIVE, 15), Pass(NEGATIVE, 15)]
    for vm, token in ((seeded.guest, seeded.token), (seeded.loose_guest, seeded.loose_token)):
        headers = {"X-ONEGATE-TOKEN": token}
        vm_ref = {"vm_ref": str(vm)}
        vm_id = {"X-ONEGATE-VMID": str(vm)}
        passes += [
            Pass(POSITIVE, 25, headers=headers),
            Pass(NEGATIVE, 15, headers=headers),
            Pass(POSITIVE, 40, headers=headers, path=vm_ref),
            Pass(NEGATIVE, 20, headers=headers, path=vm_ref),
            Pass(POSITIVE, 40, headers=headers, fixed_headers=vm_id),
            Pass(NEGATIVE, 20, headers=headers, fixed_headers=vm_id),
        ]
    put = fuzzer.operation("/vm/{vm_ref}", "PUT")
    try:
        for vm, token in ((seeded.guest, seeded.token), (seeded.loose_guest, seeded.loose_token)):
            # as UTF-8 bytes; half a surrogate pair goes as the bytes no UTF-8 text holds
            metrics = st.builds(
                lambda text, vm=vm: put.Case(
                    path_parameters={"vm_ref": str(vm)},
                    body=text.encode("utf-8", "surrogatepass"),
                    media_type="text/plain",
                ),
                TEMPLATE_TEXT,
            )
            fuzzer.run(metrics, Pass(POSITIVE, 60, headers={"X-ONEGATE-TOKEN": token}))
        fuzzer.run_passes(passes)
    finally:
        print(fuzzer.stats.report())
    assert fuzzer.stats.total > 900
    assert_no_traceback(flow.instance)


# ---- the core API -----------------------------------------------------------------------
# Operations that could lock oneadmin out (its password, account, groups): they are sent
# as a user of their own, whose lockout costs nothing.
LOCKOUT = {"users.passwd", "users.delete", "users.ensure", "users.chgrp", "users.delgroup"}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
CORE_TEMPLATES = st.sampled_from(
    [
        'NAME = "t"\nCPU = 1\nMEMORY = 64',
        'NAME = "n"\nBRIDGE = "br0"\nAR = [ TYPE = "IP4", IP = "10.0.0.1", SIZE = 4 ]',
        'NAME = "i"\nPATH = "/nonexistent"\nSIZE = 10',
        'NAME = "z"\nENDPOINT = "http://127.0.0.1:1/RPC2"',
        "A = [ B = ",
        'RAW = [ DATA = "x" ]',
    ]
)
CORE_NAMES = st.sampled_from(["oneadmin", "users", "fuzz", "lockout", "x", "", " ", "a:b", "0"])


def from_hint(hint: Any, name: str) -> st.SearchStrategy:
    """JSON of the declared type ``hint`` of parameter ``name``, often naming objects
    that exist."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any or hint is object:
        return JSON
    if hint is None or hint is type(None):
        return st.none()
    if origin in (typing.Union, types.UnionType):
        return st.one_of([from_hint(arg, name) for arg in args])
    if origin is typing.Literal:
        return st.sampled_from(args)
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.integers(0, 5) | st.integers(-(2**63), 2**63 - 1)
    if hint is float:
        return st.floats(-1e6, 1e6, allow_nan=False) | st.integers(-5, 15)
    if hint is str:
        special = {  # parameters of a known form: mostly that form, at its edges
            "tpl": TEMPLATE_TEXT,
            "extra": TEMPLATE_TEXT,
            "text": CORE_TEMPLATES
            | TEMPLATE_TEXT
            | st.sampled_from(["* VM/* USE", "#5 NET/@1 USE"]),
            "state": st.sampled_from(["present", "absent", "x"]),
            "action": st.sampled_from(["poweroff", "resume", "delete", "hold", "release", "x"]),
            "mode": st.sampled_from(["640", "777", "8", ""]),
        }
        if name in special:
            return special[name] | ODD_TEXT
        return CORE_NAMES | st.text(max_size=12) | ODD_TEXT
    if origin is tuple:
        return st.tuples(*[from_hint(arg, name) for arg in args]).map(list)
    if origin in (list, collections.abc.Sequence, collections.abc.Iterable):
        return st.lists(from_hint(args[0] if args else typing.Any, name), max_size=3)
    if origin in (dict, collections.abc.Mapping):
        if name in ("tpl", "text", "extra"):  # a template as a mapping
            return TEMPLATE_MAP
        return st.dictionaries(st.text(max_size=6), from_hint(args[1], name), max_size=3)
    if hint is schema.PoolSpec:
        return st.sampled_from([{"$pool": spec.table} for spec in schema.POOLS])
    raise AssertionError(f"no strategy for {hint!r} ({name})")


def signature(operation: str) -> list[str]:
    """The parameters of a core operation, less the session."""
    return list(inspect.signature(core_api.OPERATIONS[operation]).parameters)[1:]


def signature_calls(operation: str) -> st.SearchStrategy[dict]:
    """Bodies ``{"args": [...], "kwargs": {...}}`` that fit the operation's signature:
    its required parameters in order, some of the optional ones by name."""
    fn = core_api.OPERATIONS[operation]
    hints = typing.get_type_hints(fn)
    params = list(inspect.signature(fn).parameters.values())[1:]  # less the session
    required = [p for p in params if p.default is inspect.Parameter.empty]
    optional = [p for p in params if p.default is not inspect.Parameter.empty]
    args = st.tuples(*[from_hint(hints.get(p.name, typing.Any), p.name) for p in required])
    kwargs = st.fixed_dictionaries(
        {}, optional={p.name: from_hint(hints.get(p.name, typing.Any), p.name) for p in optional}
    )
    return st.builds(lambda a, k: {"args": list(a), "kwargs": k}, args, kwargs)


def test_the_core_api_answers_a_thousand_generated_requests_without_a_5xx(server: Instance, http):
    session = server.session()
    try:
        templates.create(session, TOKEN_TEMPLATE)
        guest_vm(session, server)
        users.create(session, "lockout", "lockout-password")
    finally:
        session.db.close()
    admin = server.credentials()
    spare = ("lockout", "lockout-password")
    fuzzer = Fuzzer("core", server.config().endpoint, http)
    call = fuzzer.operation("/api/{operation}", "POST")
    passes = [Pass(POSITIVE, 5), Pass(NEGATIVE, 5)]
    for name in core_api.OPERATIONS:
        auth = spare if name in LOCKOUT else admin
        passes += [
            Pass(POSITIVE, 4, auth, path={"operation": name}),
            Pass(NEGATIVE, 3, auth, path={"operation": name}),
        ]
    try:
        fuzzer.run_passes(passes)
        for name in core_api.OPERATIONS:
            cases = st.builds(
                lambda body, name=name: call.Case(path_parameters={"operation": name}, body=body),
                signature_calls(name),
            )
            # more of those that take a template: there is more to a template
            examples = 30 if {"tpl", "extra", "text"} & set(signature(name)) else 10
            fuzzer.run(cases, Pass(POSITIVE, examples, spare if name in LOCKOUT else admin))
    finally:
        print(fuzzer.stats.report())
    assert fuzzer.stats.total > 900
    assert_no_traceback(server)

"""Cloud bursting: onekit's monitoring of one EC2 region host against a bare boto3
``describe_instances`` of the same region, in the same run, on a real moto_server.

200 VMs (``--vms``) of a template with an EC2 section are deployed (``lifecycle.deploy``) to
the host ``us-east-1`` (ec2_driver.conf capacity: m1.small x ``--vms``), then rounds
alternate:

(a) bare: one paginated ``describe_instances`` (the same filters the driver sends);
(b) onekit: ``monitor.cycle`` (the driver's poll through ``drivers.executor``, then the
    host's transaction: states, figures with the AWS_* attributes, samples).

Printed: the EC2 API calls one monitoring cycle makes (counted with a botocore
``before-call`` hook on the driver's client; the goal is one paginated DescribeInstances
per region, whatever the number of VMs), the calls the deploys made, and the best time of
(a) and (b) with their ratio. No assertions: figures only.

Run: .venv/bin/python bench/ec2.py [--vms 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.moto import MotoServer, driver_conf

from ansible_collections.onekit.cloud.plugins.module_utils import drivers
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.drivers import ec2 as ec2_driver
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import (
    lifecycle,
    monitor,
    templates,
    vms,
)

TEMPLATE = (
    'NAME = "burst"\nCPU = 1\nMEMORY = 512\nEC2 = [ AMI = "ami-1", INSTANCETYPE = "m1.small" ]\n'
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    moto = MotoServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ec2-") as tmp:
            run(Path(tmp), moto, args.vms, args.rounds)
    finally:
        moto.stop()


def run(tmp: Path, moto: MotoServer, count: int, rounds: int) -> None:
    instance = Instance(tmp / "onekit")
    instance.init(InstanceConfig())
    (instance.home / "etc" / "ec2_driver.conf").write_text(
        driver_conf(moto.url, {"us-east-1": {"capacity": {"m1.small": count}}})
    )
    admin = instance.session()
    system = Session.system(admin.db)
    config = instance.monitor_config()
    host = hosts.create(admin, "us-east-1", "ec2", "ec2")
    driver = drivers.driver_for(host).inner
    frontend = driver.region.frontend
    calls: collections.Counter[str] = collections.Counter()
    driver.client.meta.events.register(
        "before-call.ec2", lambda model, **_: calls.update([model.name])
    )
    monitor.cycle(system, config)
    tpl = templates.create(admin, TEMPLATE)
    ids = [vm["ID"] for vm in templates.instantiate(admin, tpl["ID"], count)]
    started = time.perf_counter()
    # placed by hand: the scheduler would deploy MAX_HOST a SCHED_INTERVAL to one host
    outcomes = lifecycle.deploy(admin, [(vm_id, host["ID"]) for vm_id in ids])
    errors = [o.error for o in outcomes if o.error]
    deploy_time = time.perf_counter() - started
    running = sum(vms.show(admin, i)["DEPLOY_ID"].startswith("i-") for i in ids)
    print(f"deployed {running}/{count} VMs in {deploy_time:.1f} s; EC2 calls: {dict(calls)}")
    if errors:
        print(f"deploy errors: {errors[:3]}")

    bare_client = moto.client("us-east-1")

    def bare() -> int:
        pages = bare_client.get_paginator("describe_instances").paginate(
            Filters=ec2_driver.monitor_filters(frontend),
            PaginationConfig={"PageSize": ec2_driver.PAGE_SIZE},
        )
        return sum(len(r["Instances"]) for page in pages for r in page["Reservations"])

    best_bare = best_onekit = float("inf")
    per_cycle: list[dict[str, int]] = []
    for _ in range(rounds):
        started = time.perf_counter()
        seen = bare()
        best_bare = min(best_bare, time.perf_counter() - started)
        calls.clear()
        started = time.perf_counter()
        (report,) = monitor.cycle(system, config)
        best_onekit = min(best_onekit, time.perf_counter() - started)
        per_cycle.append(dict(calls))
        assert report.error is None, report.error
    print(f"instances listed by the bare call: {seen}")
    print(f"EC2 API calls per onekit monitoring cycle: {per_cycle}")
    print(
        f"one cycle, best of {rounds}: bare describe_instances {best_bare * 1000:.0f} ms, "
        f"onekit monitor.cycle {best_onekit * 1000:.0f} ms, "
        f"ratio {best_onekit / best_bare:.2f}x"
    )
    admin.db.close()


if __name__ == "__main__":
    main()

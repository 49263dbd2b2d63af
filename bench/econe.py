"""The EC2 Query server against the core API it stands in front of, in the same run.

An instance with the embedded host (disabled, so the VMs stay PENDING and the loops'
deploys add no noise) and etc/econe.conf is started with ``onekit-server start``; then:

(a) RunInstances of ``--count`` (50) instances in one boto3 call, against the core API's
    ``templates.instantiate`` of as many VMs over HTTP (``core.remote``, basic auth), and
    in-process (``templates.instantiate``: the floor);
(b) DescribeInstances over ``--vms`` (1,000) VMs in one boto3 call, and through boto3's
    paginator (pages of 200), against the core API's ``vms.list_vms`` over HTTP, and
    in-process.

Each figure is the best of ``--rounds``; the ratios are against the core API over HTTP
(the same request/response path without EC2's signature, XML and rules). The first
boto3 call of a client loads botocore's service model (~0.3 s): a warm-up call is made
first. No assertions: figures only.

Run: .venv/bin/python bench/econe.py [--count 50] [--vms 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.econe import EconeServer
from support.timing import best

from ansible_collections.onekit.cloud.plugins.module_utils.core import remote
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates, vms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    server = EconeServer().start()
    try:
        run(server, args.count, args.vms, args.rounds)
    finally:
        server.stop()


def run(server: EconeServer, count: int, total: int, rounds: int) -> None:
    server.run("onehost", "disable", "localhost")
    user = server.user("bench")
    ami = server.ami("bench-img")
    client = server.client(user)
    session = server.instance.session(user, f"pw-{user}")
    endpoint = f"http://127.0.0.1:{server.instance.config().port}"
    creds = (user, f"pw-{user}")
    client.describe_regions()  # botocore loads its model once

    def boto_run() -> None:
        client.run_instances(ImageId=ami, InstanceType="m1.small", MinCount=count, MaxCount=count)

    def api_run() -> None:
        remote.call(endpoint, creds, "templates.instantiate", ("m1.small",), {"count": count})

    def local_run() -> None:
        templates.instantiate(session, "m1.small", count)

    run_times = {
        "boto3 RunInstances": best(rounds, boto_run),
        "core API instantiate": best(rounds, api_run),
        "in-process instantiate": best(rounds, local_run),
    }
    made = len(vms.list_vms(session))
    if made < total:
        templates.instantiate(session, "m1.small", total - made)
    listed = len(vms.list_vms(session))
    paginator = client.get_paginator("describe_instances")

    def boto_describe() -> None:
        answer = client.describe_instances()
        assert sum(len(r["Instances"]) for r in answer["Reservations"]) == listed

    def boto_pages() -> None:
        pages = paginator.paginate(PaginationConfig={"PageSize": 200})
        assert sum(len(r["Instances"]) for p in pages for r in p["Reservations"]) == listed

    def api_list() -> None:
        assert len(remote.call(endpoint, creds, "vms.list_vms")) == listed

    def local_list() -> None:
        assert len(vms.list_vms(session)) == listed

    list_times = {
        "boto3 DescribeInstances": best(rounds, boto_describe),
        "boto3 paginator (pages of 200)": best(rounds, boto_pages),
        "core API vms.list_vms": best(rounds, api_list),
        "in-process vms.list_vms": best(rounds, local_list),
    }
    served = server_times(server)
    print(f"(a) {count} instances in one call (best of {rounds})")
    base = run_times["core API instantiate"]
    for name, seconds in run_times.items():
        print(f"  {name:32} {seconds * 1000:8.1f} ms   {seconds / base:5.2f}x the core API")
    print(f"  (the server's own time for RunInstances: {served.get('RunInstances', 0):.0f} ms)")
    print(f"(b) listing {listed} VMs (best of {rounds})")
    base = list_times["core API vms.list_vms"]
    for name, seconds in list_times.items():
        print(f"  {name:32} {seconds * 1000:8.1f} ms   {seconds / base:5.2f}x the core API")
    print(
        "  (the server's own time for one DescribeInstances of all: "
        f"{served.get('DescribeInstances', 0):.0f} ms; the rest is the client's: botocore "
        "parses the XML)"
    )
    session.db.close()


def server_times(server: EconeServer) -> dict[str, float]:
    """The best time the server logged for each action (``<Action> by <user>: 200 in N ms``)."""
    found: dict[str, float] = {}
    pattern = re.compile(r"onekit\.econe: (\w+) by \S+: 200 in ([0-9]+) ms")
    for match in pattern.finditer(server.instance.log_path().read_text()):
        action, ms = match.group(1), float(match.group(2))
        found[action] = min(found.get(action, ms), ms)
    return found


if __name__ == "__main__":
    main()

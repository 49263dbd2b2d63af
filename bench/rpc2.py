"""``one.vmpool.info`` over 10,000 VMs through pyone, against the same listing through
the JSON core API (``vms.list_vms`` with ``core.remote``), in one run, on one running
server (SQLite, the embedded default).

Printed, best of ``--rounds``:
(a) the core API's ``vms.list_vms``, the JSON every onekit CLI reads: the baseline;
(b) ``one.vmpool.info`` with the standard library's XML-RPC client, the document not
    parsed: what the server and the wire cost;
(c) the same through pyone, which parses it with its generated bindings: what a pyone
    user (community.general's modules) waits for;
(d) ``one.vmpool.infoextended`` through pyone (full VMs, what the inventory plugin reads);
and each as a ratio to (a).

Run: .venv/bin/python bench/rpc2.py [--vms 10000] [--rounds 3]   (about a minute)
"""

from __future__ import annotations

import argparse
import sys
import xmlrpc.client
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pyone
from support.pools import fill_vms
from support.rpc2 import Rpc2Cloud
from support.timing import best

from ansible_collections.onekit.cloud.plugins.module_utils.core import remote


class Filled(Rpc2Cloud):
    def __init__(self, vms: int):
        super().__init__()
        self.vms = vms

    def configure(self) -> None:
        fill_vms(self.instance, 0, self.vms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vms", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cloud = Filled(args.vms).start()
    try:
        run(cloud, args.vms, args.rounds)
    finally:
        cloud.stop()


def run(cloud: Filled, total: int, rounds: int) -> None:
    user, password = cloud.session_of("oneadmin").split(":", 1)
    endpoint = f"http://127.0.0.1:{cloud.core_port}"
    one = pyone.OneServer(cloud.endpoint, session=f"{user}:{password}")
    proxy = xmlrpc.client.ServerProxy(cloud.endpoint)
    session = f"{user}:{password}"

    def json_list() -> None:
        assert len(remote.call(endpoint, (user, password), "vms.list_vms")) >= total

    def raw_info() -> None:
        assert proxy.one.vmpool.info(session, -2, -1, -1, -1)[0]

    def pyone_info() -> None:
        assert len(one.vmpool.info(-2, -1, -1, -1).VM) >= total

    def pyone_extended() -> None:
        assert len(one.vmpool.infoextended(-2, -1, -1, -1).VM) >= total

    base = best(rounds, json_list)
    print(f"{total} VMs, best of {rounds}")
    print(f"(a) core API vms.list_vms (JSON)          {base * 1000:8.0f} ms   1.00x")
    for label, fn in (
        ("(b) one.vmpool.info, XML not parsed", raw_info),
        ("(c) one.vmpool.info through pyone", pyone_info),
        ("(d) one.vmpool.infoextended, pyone", pyone_extended),
    ):
        took = best(rounds, fn)
        print(f"{label:41} {took * 1000:8.0f} ms {took / base:6.2f}x")


if __name__ == "__main__":
    main()

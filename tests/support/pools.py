"""Large pools for benches: VMs written straight through the core, fast."""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool, schema
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.vm import vms


def fill_vms(instance: Instance, have: int, total: int) -> None:
    """Grow the VM pool from ``have`` to ``total`` VMs (HOLD, as `onevm create --hold`
    leaves them): copies of the first VM's body, ``pool.insert`` giving each its id, in
    one transaction."""
    session = instance.session()
    try:
        if have == 0:
            first = vms.create(session, 'NAME = "vm-0"\nCPU = 0.1\nMEMORY = 32\n', hold=True)
            have = 1
        else:
            first = vms.list_vms(session, page_size=1)[0]
        with session.write() as w:
            model = pool.get(w.tx, schema.VMS, first["ID"])
            for i in range(have, total):
                body = dict(model, NAME=f"vm-{i}")
                body["TEMPLATE"] = dict(model["TEMPLATE"], NAME=f"vm-{i}", VMID=str(i))
                pool.insert(w.tx, schema.VMS, body)
    finally:
        session.db.close()

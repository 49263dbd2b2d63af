"""``one.vm.*`` and ``one.vmpool.*``."""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.objects.pool_filters import PoolFilter
from ansible_collections.onekit.cloud.plugins.module_utils.vm import lifecycle, reconfigure, vms
from onekit.server.rpc2.documents import vms as documents
from onekit.server.rpc2.methods import owned
from onekit.server.rpc2.methods.registry import Bool, Int, Str, method, pool_filter_params
from onekit.server.rpc2.wire import Code, RpcError

# oned's recover operations (one.vm.recover), by number
RECOVER_OPERATIONS = ("failure", "success", "retry", "delete", "recreate", "delete-db")


@method("one.vm.allocate", Str("template"), Bool("hold", False))
def allocate(session: Session, text: str, hold: bool) -> int:
    return vms.create(session, text, hold=hold)["ID"]


@method("one.vm.info", Int("id"), Bool("decrypt", False))
def info(session: Session, vm_id: int, _decrypt: bool) -> str:
    return documents.vm(vms.show(session, vm_id))


@method("one.vm.action", Str("action"), Int("id"))
def action(session: Session, name: str, vm_id: int) -> int:
    """OpenNebula 5's actions: ``terminate``/``terminate-hard`` (shutdown, or delete one
    that holds no host), and onekit's others by their names (poweroff, resume, reboot...)."""
    if name in ("terminate", "terminate-hard"):
        outcomes = lifecycle.terminate(session, vm_id, hard=name == "terminate-hard")
    elif name in lifecycle.ACTIONS:
        outcomes = lifecycle.act(session, [vm_id], name)
    else:
        known = ", ".join(("terminate", "terminate-hard", *lifecycle.ACTIONS))
        raise RpcError(Code.ACTION, f"unknown action {name!r}; actions are {known}")
    failed = [o.error for o in outcomes if o.error]
    if failed:
        raise RpcError(Code.ACTION, failed[0])
    return vm_id


@method("one.vm.update", Int("id"), Str("template"), Int("append", 0))
def update(session: Session, vm_id: int, text: str, append: int) -> int:
    vms.update_user_template(session, vm_id, text, append=bool(append))
    return vm_id


@method("one.vm.chown", *owned.CHOWN_PARAMS)
def chown(session: Session, vm_id: int, uid: int, gid: int) -> int:
    return owned.chown(session, schema.VMS, vm_id, uid, gid)


@method("one.vm.chmod", *owned.CHMOD_PARAMS)
def chmod(session: Session, vm_id: int, *bits: int) -> int:
    return owned.chmod(session, schema.VMS, vm_id, *bits)


@method(
    "one.vm.deploy", Int("id"), Int("host id"), Bool("enforce", False), Int("datastore id", -1),
    Str("template", ""),
)  # fmt: skip
def deploy(session: Session, vm_id: int, host_id: int, enforce: bool, *_unused: object) -> int:
    failed = [
        o.error for o in lifecycle.deploy_by_hand(session, [(vm_id, host_id)], enforce) if o.error
    ]
    if failed:
        raise RpcError(Code.ACTION, failed[0])
    return vm_id


@method("one.vm.recover", Int("id"), Int("operation"))
def recover(session: Session, vm_id: int, operation: int) -> int:
    if not 0 <= operation < len(RECOVER_OPERATIONS) - 1:  # delete-db: no such thing here
        raise RpcError(
            Code.ACTION,
            "operation must be 0 (failure), 1 (success), 2 (retry), 3 (delete) or 4 (recreate)",
        )
    lifecycle.recover(session, vm_id, operation=RECOVER_OPERATIONS[operation])
    return vm_id


def _pool(session: Session, whose: int, start: int, end: int, state: int, extended: bool) -> str:
    bodies = vms.list_filtered(session, PoolFilter(whose, start, end), state)
    return documents.vm_pool(bodies, extended)


@method("one.vmpool.info", *pool_filter_params(), Int("state", -1), Str("filter", ""))
def pool_info(session: Session, whose: int, start: int, end: int, state: int, query: str) -> str:
    _no_query(query)
    return _pool(session, whose, start, end, state, extended=False)


@method("one.vmpool.infoextended", *pool_filter_params(), Int("state", -1), Str("filter", ""))
def pool_info_extended(
    session: Session, whose: int, start: int, end: int, state: int, query: str
) -> str:
    _no_query(query)
    return _pool(session, whose, start, end, state, extended=True)


def _no_query(query: str) -> None:
    if query:
        raise RpcError(
            Code.XML_RPC_API,
            "onekit does not filter VMs by KEY=VALUE; leave the filter parameter empty",
        )


@method("one.vm.rename", Int("id"), Str("name"))
def rename(session: Session, vm_id: int, name: str) -> int:
    reconfigure.rename(session, vm_id, name)
    return vm_id


@method("one.vm.updateconf", Int("id"), Str("template"), Int("append", 0))
def updateconf(session: Session, vm_id: int, text: str, append: int) -> int:
    if append not in (0, 1):
        raise RpcError(
            Code.XML_RPC_API, f"update type must be 0 (replace) or 1 (merge), got {append}"
        )
    reconfigure.update_conf(session, vm_id, text, append=bool(append))
    return vm_id


@method(
    "one.vm.disksaveas", Int("id"), Int("disk id"), Str("image name"), Str("image type", ""),
    Int("snapshot id", -1),
)  # fmt: skip
def disksaveas(
    session: Session, vm_id: int, disk_id: int, name: str, kind: str, snapshot: int
) -> int:
    """The new image's id."""
    return reconfigure.disk_save_as(session, vm_id, disk_id, name, kind, snapshot)["ID"]

"""The OneGate REST API, on ``:host:``/``:port:`` of ``onegate-server.conf`` (default
127.0.0.1:5030), for guests: they authenticate with their VM's token
(``X-ONEGATE-TOKEN``) and name their VM in the path (4.x, ``PUT /vm/<id>``) or in
``X-ONEGATE-VMID`` (later versions, ``PUT /vm``, ``GET /vm``, ``GET /service``).

Errors are JSON ``{"error": {"message": ...}}``: 400 a malformed body (with its line), 401
no token or another VM's, 403 a DONE VM, 404 an unknown VM, 413 a body over 64 KiB.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput, NotFound
from ansible_collections.onekit.cloud.plugins.module_utils.flow import services
from ansible_collections.onekit.cloud.plugins.module_utils.gate import tokens
from ansible_collections.onekit.cloud.plugins.module_utils.vm import vms
from onekit.server.context import store

bp = Blueprint("onegate", __name__)


def _secret() -> bytes:
    return current_app.extensions["onekit.gate_secret"]


def _token() -> str | None:
    return request.headers.get("X-ONEGATE-TOKEN")


def _header_vm() -> str:
    vm_id = request.headers.get("X-ONEGATE-VMID")
    if not vm_id:
        raise NotFound("no VM named: use PUT /vm/<id>, or send X-ONEGATE-VMID")
    return vm_id


def _path_vm(vm_ref: str) -> str:
    """The VM of ``PUT /vm/<id>``; an X-ONEGATE-VMID naming another VM is refused."""
    header = request.headers.get("X-ONEGATE-VMID")
    if header is not None and header.strip() != vm_ref.strip():
        raise InvalidInput(
            f"the path names VM {pool.shorten(vm_ref)} and X-ONEGATE-VMID VM "
            f"{pool.shorten(header)}: send one, or the same id in both"
        )
    return vm_ref


def _put(vm_ref: str):
    vm = tokens.put(store(), _secret(), vm_ref, _token(), request.get_data())
    return jsonify(vms.guest_view(vm))


@bp.put("/vm/<vm_ref>")
def put_vm(vm_ref: str):
    return _put(_path_vm(vm_ref))


@bp.put("/vm")
def put_vm_by_header():
    return _put(_header_vm())


@bp.get("/vm")
def show_vm():
    return jsonify(vms.guest_view(tokens.show(store(), _secret(), _header_vm(), _token())))


@bp.get("/service")
def show_service():
    """The guest's service: each role with its VMs' ids, names, states and IPs."""
    vm = tokens.show(store(), _secret(), _header_vm(), _token())
    return jsonify(services.guest_view(store(), vm))

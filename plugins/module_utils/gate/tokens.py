"""OneGate: per-VM tokens, and the metrics guests push into their VM's user template.

A VM whose CONTEXT has ``TOKEN = "YES"`` gets, when it is made, a random nonce (in its
body, ``ONEGATE_NONCE``) and ``CONTEXT/ONEGATE_URL = <ONEGATE_ENDPOINT>/vm/<id>``. Its
token is HMAC-SHA256(the instance's secret, "<vm id>:<nonce>"):

* unguessable without the secret (``etc/onegate.key``, mode 600, never in the store: the
  store holds neither a token nor anything a token can be computed from alone);
* bound to its VM (the id is in the MAC: VM 3's token never writes VM 4);
* compared in constant time, and refused once the VM is DONE.

A PUT merges as OneGate does: each name in the body replaces every attribute of that name
in USER_TEMPLATE; other attributes are untouched. It is one short transaction that locks
the VM's row, so two guests writing at once never lose an update.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core import (
    pool,
    schema,
    template,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import Subject
from ansible_collections.onekit.cloud.plugins.module_utils.core.db import Database
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthenticationError,
    AuthorizationError,
    InvalidInput,
    NotFound,
)
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import VmState
from ansible_collections.onekit.cloud.plugins.module_utils.vm import vms

Body = dict[str, Any]
NONCE = "ONEGATE_NONCE"
# a guest is never trusted with what only administrators may write
_GUEST = Subject(-1, "onegate-guest", -1, frozenset())
# what onekit writes in a VM's user template: the last error (``onevm show``), why the
# scheduler cannot place it, and the service and role OneFlow made it for
SYSTEM_ATTRIBUTES = ("ERROR", "SCHED_MESSAGE", "SERVICE_ID", "ROLE_NAME")


def wants_token(tpl: dict) -> bool:
    context = tpl.get("CONTEXT")
    return isinstance(context, dict) and str(context.get("TOKEN", "")).upper() == "YES"


def issue(vm_id: int, fields: Body, endpoint: str) -> None:
    """Give a new VM's fields (if its CONTEXT asks for a token) a nonce and ONEGATE_URL."""
    if not wants_token(fields["TEMPLATE"]):
        return
    fields[NONCE] = secrets.token_hex(16)
    if endpoint:
        fields["TEMPLATE"]["CONTEXT"]["ONEGATE_URL"] = f"{endpoint}/vm/{vm_id}"


def token(secret: bytes, vm: Body) -> str:
    """The VM's token (None-safe callers check ``NONCE in vm`` first)."""
    mac = hmac.new(secret, f"{vm['ID']}:{vm[NONCE]}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _vm_id(text: Any) -> int:
    value = str(text or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        raise NotFound(f"VM {pool.shorten(value)!r} does not exist")
    return int(value)


def authenticate(tx: Any, secret: bytes, vm_ref: Any, presented: str | None, lock: bool) -> Body:
    """The VM a request may act on: it exists, is not DONE, and the token is its own."""
    if not presented:
        raise AuthenticationError("no token: send the VM's token in X-ONEGATE-TOKEN")
    vm = pool.get(tx, schema.VMS, _vm_id(vm_ref), lock=lock)
    if vm is None:
        raise NotFound(f"VM {vm_ref} does not exist")
    expected = token(secret, vm) if NONCE in vm else ""
    if not hmac.compare_digest(expected.encode(), presented.strip().encode()) or not expected:
        raise AuthenticationError(f"the token is not VM {vm['ID']}'s")
    if vm["STATE"] == VmState.DONE:
        raise AuthorizationError(f"VM {vm['ID']} is DONE")
    return vm


def parse_body(body: bytes | str) -> dict:
    """A PUT body: template syntax (``APP_LOAD = 9.7``), checked as ``onevm update``
    checks a non-admin's attributes, and none of those onekit itself writes."""
    if isinstance(body, bytes):
        try:
            body = body.decode()
        except UnicodeDecodeError:
            raise InvalidInput("the body is not UTF-8 text") from None
    attributes = template.parse(body)
    if not attributes:
        raise InvalidInput('the body sets no attribute; send template text like APP_LOAD = "9.7"')
    vms.check_user_template(_GUEST, attributes, "the body")
    written = sorted(set(attributes) & set(SYSTEM_ATTRIBUTES))
    if written:
        raise AuthorizationError(
            f"the body sets {', '.join(written)}, which only onekit writes (a guest may "
            "not fake an error, or change the service and role it belongs to)"
        )
    return attributes


def put(db: Database, secret: bytes, vm_ref: Any, presented: str | None, body: bytes) -> Body:
    """``PUT /vm/<id>``: merge the body into the VM's USER_TEMPLATE; returns the VM. The
    token is checked before the body is read."""
    with db.transaction() as tx:
        vm = authenticate(tx, secret, vm_ref, presented, lock=True)
        vm["USER_TEMPLATE"].update(parse_body(body))  # a name replaces all its attributes
        return pool.update(tx, schema.VMS, vm)


def show(db: Database, secret: bytes, vm_ref: Any, presented: str | None) -> Body:
    with db.snapshot() as tx:
        return authenticate(tx, secret, vm_ref, presented, lock=False)


def new_secret() -> str:
    return secrets.token_hex(32)


def token_file(secret: bytes, vm: Body) -> dict[str, str]:
    """``token.txt`` for the context CD-ROM of a VM with a token (nothing for others)."""
    return {"token.txt": token(secret, vm) + "\n"} if NONCE in vm else {}

"""onegate: the guest's OneGate client, run inside a VM.

It finds its VM's OneGate URL and token the way the guide's sample script does
(``ONEGATE_URL`` and ``ONEGATE_TOKEN``, the path of ``token.txt``), else in the context
CD-ROM's files (``context.sh`` and ``token.txt`` in ``--context``, ``$ONEGATE_CONTEXT``,
``/mnt/context`` or ``/mnt``); on a front-end, ``ONEGATE_VMID`` and ``ONEGATE_TOKEN`` name
a VM of the local instance's OneGate server (``etc/onegate-server.conf``):

    onegate vm update --data "APP_LOAD = 9.7"
    onegate vm show
    onegate service show
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput, OneError
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance

CONTEXT_DIRS = ("/mnt/context", "/mnt")


def _context_file(folder: Path) -> dict[str, str]:
    """``context.sh``'s variables (KEY='value' lines, as OpenNebula writes them)."""
    found: dict[str, str] = {}
    path = folder / "context.sh"
    if path.exists():
        for line in path.read_text().splitlines():
            match = re.match(r"^([A-Z_][A-Z0-9_]*)=(.*)$", line.strip())
            if match:
                found[match.group(1)] = (
                    " ".join(shlex.split(match.group(2))) if match.group(2) else ""
                )
    return found


def locate(context: str | None) -> tuple[str, str, str]:
    """(OneGate base URL, this VM's id, its token)."""
    folders = [Path(p) for p in (context, os.environ.get("ONEGATE_CONTEXT"), *CONTEXT_DIRS) if p]
    folder = next((f for f in folders if (f / "context.sh").exists()), None)
    variables = _context_file(folder) if folder else {}
    url = os.environ.get("ONEGATE_URL") or variables.get("ONEGATE_URL") or _local_url()
    token_path = os.environ.get("ONEGATE_TOKEN") or (str(folder / "token.txt") if folder else None)
    if not url or not token_path:
        raise InvalidInput(
            "no OneGate context: mount the context CD-ROM (context.sh, token.txt) and give "
            "--context, or set ONEGATE_URL and ONEGATE_TOKEN (the token.txt path); on the "
            "front-end, ONEGATE_VMID and ONEGATE_TOKEN are enough"
        )
    match = re.match(r"^(.*)/vm/([0-9]+)/?$", url)
    if not match:
        raise InvalidInput(f"ONEGATE_URL {url!r} must end in /vm/<id>")
    try:
        token = Path(token_path).read_text().strip()
    except OSError as err:
        raise InvalidInput(f"cannot read the token at {token_path}: {err.strerror}") from None
    return match.group(1), match.group(2), token


def _local_url() -> str | None:
    """On a front-end (trying a VM's token there): this instance's OneGate server, for
    the VM named by ``ONEGATE_VMID``."""
    vm_id = os.environ.get("ONEGATE_VMID", "").strip()
    instance = Instance.locate()
    if not vm_id or not instance.config_path.exists():
        return None
    return f"{instance.gate_config().url}/vm/{vm_id}"


def call(method: str, url: str, vm_id: str, token: str, data: bytes | None = None) -> dict:
    headers = {"X-ONEGATE-TOKEN": token, "X-ONEGATE-VMID": vm_id}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as err:
        try:
            message = json.load(err)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {err.code}"
        raise OneError(f"OneGate answered {err.code}: {message}") from None
    except (urllib.error.URLError, OSError) as err:
        raise OneError(f"cannot reach OneGate at {url}: {getattr(err, 'reason', err)}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="onegate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--context", help="the folder holding context.sh and token.txt")
    sub = parser.add_subparsers(dest="what", required=True, metavar="{vm,service}")
    vm = sub.add_parser("vm", help="this VM").add_subparsers(dest="action", required=True)
    update = vm.add_parser("update", help="merge attributes into the VM's user template")
    update.add_argument("--data", required=True, help='template text, e.g. "APP_LOAD = 9.7"')
    vm.add_parser("show", help="this VM as OneGate sees it (JSON)")
    service = sub.add_parser("service", help="this VM's service").add_subparsers(
        dest="action", required=True
    )
    service.add_parser("show", help="the service's roles and VMs (JSON)")
    args = parser.parse_args(argv)
    try:
        base, vm_id, token = locate(args.context)
        if args.what == "vm" and args.action == "update":
            call("PUT", f"{base}/vm/{vm_id}", vm_id, token, args.data.encode())
        elif args.what == "vm":
            print(json.dumps(call("GET", f"{base}/vm", vm_id, token), indent=2))
        else:
            print(json.dumps(call("GET", f"{base}/service", vm_id, token), indent=2))
    except OneError as err:
        print(f"onegate: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

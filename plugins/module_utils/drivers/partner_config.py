"""The partner driver's configuration: ``etc/partner_driver.conf`` in the instance home.

A partner cloud is another onekit (OpenNebula-style) front-end a host of this one stands
for (``onehost create partner --im onekit --vm onekit``, ``drivers.partner``). What the
driver needs to talk to it is kept out of the host's template, which users can read:
YAML keyed by host name, in a file only its owner may read (mode 600)::

    partner:                                  # the host's name here
      endpoint: http://partner.example:2633   # the partner's core API
      user: burst                             # a user of the partner cloud
      password: s3cret                        # or password_file: /etc/onekit/partner.pw
      capacity:                               # optional: at most this much of it
        cpu: 8                                # cores
        memory: 16384                         # MiB
      frontend: dc1-onekit                    # optional: this front-end's tag there

``capacity`` is optional: the host's capacity is the user's VM quota at the partner
(``drivers.partner``, read at every monitoring cycle), and a capacity given here caps it
(the smaller of the two wins, per figure); for a figure the quota leaves unlimited (-1),
the capacity here is the host's, and with neither the host goes ERROR naming both.

``frontend`` is the ONE_FRONTEND tag of the VMs this front-end makes at the partner, so
several front-ends bursting to one partner account never take each other's VMs; by default
it is derived from this machine's name and the instance home, so set it when the home may
move. The file is read at every call (a changed password counts at once); every error
names the file, the host and the field.

The path is process-wide, set by ``frontend.home`` (``use``) when a session of an instance
is opened, as the drivers' threads and timeouts are (``drivers.configure``).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.drivers.base import (
    DriverError,
    frontend_identity,
)

FILE_NAME = "partner_driver.conf"
_path: Path | None = None
_ENDPOINT = re.compile(r"^https?://[^\s/]+(/[^\s]*)?$")
_EXAMPLE = (
    "partner:\n  endpoint: http://partner.example:2633\n  user: burst\n  password: <password>\n"
    "  capacity: {cpu: 8, memory: 16384}"
)


def use(path: Path | str | None) -> None:
    """This process's configuration file (``<home>/etc/partner_driver.conf``)."""
    global _path
    _path = Path(path) if path is not None else None


def current_path() -> Path | None:
    return _path


@dataclass(frozen=True)
class PartnerConfig:
    """One host's partner: where, as whom, how much."""

    host: str
    endpoint: str
    user: str
    password: str = ""  # never printed (__repr__ leaves it out)
    cpu: int = 0  # hundredths of a core, as oned counts (0: no capacity given)
    memory: int = 0  # KiB (0: none given)
    frontend: str = ""
    source: str = ""  # the file, for messages

    def __repr__(self) -> str:
        return f"PartnerConfig(host={self.host!r}, endpoint={self.endpoint!r}, user={self.user!r})"

    def where(self, field: str = "") -> str:
        """``<file>: host <name>[, <field>]``: where a setting lives, for messages."""
        return f"{self.source}: host {self.host}" + (f", {field}" if field else "")


def _private(path: Path, what: str) -> None:
    """Refuse a credentials file others may read (as ssh refuses a key)."""
    mode = path.stat().st_mode
    if stat.S_IMODE(mode) & 0o077:
        raise DriverError(
            f"{path} holds {what} and may be read by others (mode "
            f"{stat.S_IMODE(mode):03o}); make it private: chmod 600 {path}"
        )


def default_frontend(path: Path) -> str:
    """This front-end's tag when the file names none (``base.frontend_identity``)."""
    return frontend_identity(path)


def _number(entry: dict, host: str, where: str, key: str, unit: str) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise DriverError(
            f"{where}: host {host}, capacity.{key} must be a positive number of {unit}, "
            f"got {value!r}"
        )
    return float(value)


def load(host: str, path: Path | None = None) -> PartnerConfig:
    """Host ``host``'s partner, from ``path`` (default: this process's file)."""
    import yaml  # only a partner host's calls need it

    path = path or _path
    if path is None:
        raise DriverError(
            f"host {host} is a partner cloud (VM_MAD onekit), and this process opened no "
            f"instance: no {FILE_NAME} to read"
        )
    try:
        _private(path, "partner passwords")
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise DriverError(
            f"host {host} is a partner cloud (VM_MAD onekit) but {path} does not exist; "
            f"write it (mode 600) with an entry for the host:\n{_EXAMPLE}"
        ) from None
    except OSError as err:
        raise DriverError(f"cannot read {path}: {err.strerror or err}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise DriverError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise DriverError(f"{path} must map host names to their partner, like:\n{_EXAMPLE}")
    entry = data.get(host)
    if not isinstance(entry, dict):
        known = ", ".join(sorted(str(k) for k in data)) or "none"
        raise DriverError(
            f"{path} has no entry for host {host} (hosts there: {known}); add one:\n"
            + _EXAMPLE.replace("partner:", f"{host}:", 1)
        )
    where = str(path)

    def text(key: str) -> str:
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            raise DriverError(f"{where}: host {host}, {key} is missing or empty")
        return value.strip()

    endpoint = text("endpoint")
    if not _ENDPOINT.match(endpoint):
        raise DriverError(
            f"{where}: host {host}, endpoint {endpoint!r} is not the partner's core API URL "
            "(http://partner.example:2633)"
        )
    user = text("user")
    password = _password(entry, host, where)
    capacity = entry.get("capacity", {})
    if not isinstance(capacity, dict):
        raise DriverError(
            f"{where}: host {host}, capacity must be capacity: {{cpu: <cores>, memory: <MiB>}} "
            "(or left out: the user's VM quota at the partner)"
        )
    unknown_figures = sorted(set(capacity) - {"cpu", "memory"})
    if unknown_figures:
        raise DriverError(
            f"{where}: host {host}, capacity has {', '.join(map(str, unknown_figures))}; "
            "it takes cpu (cores) and memory (MiB)"
        )
    cpu = _number(capacity, host, where, "cpu", "cores") if "cpu" in capacity else 0.0
    memory = _number(capacity, host, where, "memory", "MiB") if "memory" in capacity else 0.0
    frontend = entry.get("frontend", None)
    if frontend is not None and (not isinstance(frontend, str) or not frontend.strip()):
        raise DriverError(f"{where}: host {host}, frontend must be a non-empty text")
    unknown = sorted(
        set(entry) - {"endpoint", "user", "password", "password_file", "capacity", "frontend"}
    )
    if unknown:
        raise DriverError(
            f"{where}: host {host}: unknown setting(s) {', '.join(map(str, unknown))}"
        )
    return PartnerConfig(
        host=host,
        endpoint=endpoint.rstrip("/"),
        user=user,
        password=password,
        cpu=round(cpu * 100),
        memory=round(memory * 1024),
        frontend=(frontend or default_frontend(path)).strip(),
        source=where,
    )


def _password(entry: dict[str, Any], host: str, where: str) -> str:
    given, file = entry.get("password"), entry.get("password_file")
    if given is not None and file is not None:
        raise DriverError(f"{where}: host {host}: give password or password_file, not both")
    if file is not None:
        if not isinstance(file, str) or not file.strip():
            raise DriverError(f"{where}: host {host}, password_file must be a path")
        path = Path(os.path.expanduser(file.strip()))
        try:
            _private(path, f"the partner password of host {host}")
            text = path.read_text().strip()
        except OSError as err:
            raise DriverError(
                f"{where}: host {host}, password_file {path}: {err.strerror or err}"
            ) from None
        if not text:
            raise DriverError(f"{where}: host {host}, password_file {path} is empty")
        return text
    if isinstance(given, int | float) and not isinstance(given, bool):
        given = str(given)
    if not isinstance(given, str) or not given:
        raise DriverError(f"{where}: host {host}, password (or password_file) is missing")
    return given

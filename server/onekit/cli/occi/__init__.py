"""The guide's ``occi-*`` commands (7.4 "OCCI User Guide"): HTTP clients of the OCCI 0.8
server (``onekit-server`` with ``etc/occi-server.conf``), not of the core.

``client`` holds the endpoint, credentials and requests, ``documents`` the OCCI XML read
and printed, ``commands`` the four commands and their sub-commands. Each command is a
console script of its name (pyproject.toml); ``python -m onekit.cli.occi <name> ...`` runs
one without the script.
"""

from __future__ import annotations

from onekit.cli.occi import commands
from onekit.cli.occi.commands import OcciCli

COMMANDS: dict[str, OcciCli] = {
    command.cli.prog: command
    for command in (commands.storage, commands.network, commands.compute, commands.instance_type)
}

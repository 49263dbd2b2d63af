# Copyright: (c) 2026, onekit team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of onekit.cloud.vm: in the controller's process on the front-end itself,
the module anywhere else (plugins/plugin_utils/in_process.py says why and when)."""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.plugin_utils.in_process import InProcessAction


class ActionModule(InProcessAction):
    MODULE = "ansible_collections.onekit.cloud.plugins.modules.vm"

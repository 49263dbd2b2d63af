# Copyright: (c) 2026, onekit team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory plugin onekit.cloud.vms: the cloud's VMs as Ansible hosts."""

from __future__ import annotations

DOCUMENTATION = r"""
name: vms
short_description: onekit VMs as inventory hosts
description:
  - Lists the VMs of an onekit instance (those the user may see) as Ansible hosts, with
    their first IP as C(ansible_host), and groups them by template, host and label.
  - The inventory file's name must end in C(onekit_vms.yml) or C(onekit_vms.yaml).
author:
  - onekit team (@onekit)
version_added: 0.1.0
extends_documentation_fragment:
  - constructed
options:
  plugin:
    description: Marks the file as this plugin's.
    type: str
    required: true
    choices: [onekit.cloud.vms]
  onekit_home:
    description: The instance directory; else E(ONEKIT_HOME), else C(~/.onekit).
    type: path
    env:
      - name: ONEKIT_HOME
  api_username:
    description: The user to list VMs as; else the credentials of E(ONE_AUTH) or one_auth.
    type: str
    env:
      - name: ONE_USERNAME
  api_password:
    description: The password of O(api_username).
    type: str
    env:
      - name: ONE_PASSWORD
  hostname:
    description: What names an inventory host, the VM's C(name) or its first C(ip).
    type: str
    choices: [name, ip]
    default: name
  states:
    description:
      - Only VMs in these states (onevm's names, e.g. RUNNING, POWEROFF).
      - Empty for every VM but DONE ones.
    type: list
    elements: str
    default: [RUNNING]
  group_by_template:
    description: Groups C(template_<name>) of the VMs made from each template.
    type: bool
    default: true
  group_by_host:
    description: Groups C(host_<name>) of the VMs on each hypervisor.
    type: bool
    default: true
  group_by_labels:
    description: Groups C(label_<label>) from each VM's C(LABELS).
    type: bool
    default: true
"""

EXAMPLES = r"""
# inventories/cloud.onekit_vms.yml
plugin: onekit.cloud.vms
hostname: ip
keyed_groups:
  - key: onekit_attributes.ROLE | default('none')
    prefix: role
"""

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import OneError
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import state_name
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.instance import Instance
from ansible_collections.onekit.cloud.plugins.module_utils.vm import sets, templates, vms


class InventoryModule(BaseInventoryPlugin, Constructable):
    NAME = "onekit.cloud.vms"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("onekit_vms.yml", "onekit_vms.yaml"))

    def parse(self, inventory, loader, path, cache=True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        try:
            instance = Instance.locate(self.get_option("onekit_home"))
            session = instance.session(
                self.get_option("api_username"), self.get_option("api_password")
            )
            try:
                found = vms.list_vms(session)
                names = {t["ID"]: t["NAME"] for t in templates.list_templates(session)}
            finally:
                session.db.close()
        except OneError as err:
            raise AnsibleError(f"onekit.cloud.vms: {err}") from err
        states = {s.upper() for s in self.get_option("states")}
        for vm in found:
            if states and state_name(vm["STATE"], vm["LCM_STATE"]) not in states:
                continue
            self._add(vm, sets.summary(vm), names)

    def _add(self, vm: dict, info: dict, template_names: dict) -> None:
        ips = [n["ip"] for n in info["networks"] if n.get("ip")]
        name = info["vm_name"]
        if self.get_option("hostname") == "ip":
            if not ips:
                return
            name = ips[0]
        host = self.inventory.add_host(name)
        variables = {
            "onekit_vm_id": info["vm_id"],
            "onekit_state": info["state"],
            "onekit_lcm_state": info["lcm_state"],
            "onekit_host": info["host"],
            "onekit_labels": info["labels"],
            "onekit_attributes": info["attributes"],
            "onekit_ips": ips,
        }
        if ips:
            variables["ansible_host"] = ips[0]
        for key, value in variables.items():  # guests write attributes: never templates
            self.inventory.set_variable(host, key, wrap_var(value))
        template_id = vm["TEMPLATE"].get("TEMPLATE_ID")
        groups = []
        if self.get_option("group_by_template") and template_id is not None:
            groups.append("template_" + template_names.get(int(template_id), template_id))
        if self.get_option("group_by_host") and info["host"]:
            groups.append("host_" + info["host"])
        if self.get_option("group_by_labels"):
            groups += ["label_" + label for label in info["labels"]]
        for group in groups:
            group = self._sanitize_group_name(group)
            self.inventory.add_group(group)
            self.inventory.add_child(group, host)
        strict = self.get_option("strict")
        self._set_composite_vars(self.get_option("compose"), variables, host, strict)
        self._add_host_to_composed_groups(self.get_option("groups"), variables, host, strict)
        self._add_host_to_keyed_groups(self.get_option("keyed_groups"), variables, host, strict)

#!/usr/bin/python
# Copyright: (c) 2026, onekit team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module onekit.cloud.host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: host
short_description: Manage onekit hosts (hypervisors)
description:
  - Register, update, enable, disable and remove hosts, as C(onehost) does.
  - A host is reached through libvirt at O(uri) (default C(qemu+ssh://<name>/system)).
  - An EC2 region (cloud bursting) is a host with O(im_mad_name=ec2) and
    O(vmm_mad_name=ec2) and no O(uri); its region, credentials and capacity are the
    entry of its name (or C(default)) in the instance's C(etc/ec2_driver.conf).
  - A partner onekit cloud is a host with O(im_mad_name=onekit) and O(vmm_mad_name=onekit)
    and no O(uri); its core API endpoint, user, password and capacity are the entry of
    its name in C(etc/partner_driver.conf).
  - A new or re-enabled host is monitored once right away, so VMs can be placed on it.
  - Idempotent; a second run with the same options reports no change.
author:
  - onekit team (@onekit)
version_added: 0.1.0
options:
  name:
    description: The host name.
    type: str
    required: true
  state:
    description:
      - V(present) and V(enabled) make sure the host exists (V(enabled) also re-enables a
        disabled one); V(disabled) keeps VMs from being placed on it; V(absent) removes it
        (refused while it runs VMs).
    type: str
    choices: [present, absent, enabled, disabled]
    default: present
  im_mad_name:
    description:
      - The monitoring driver, as C(onehost create --im) (community.general's name; the
        alias is OpenNebula's attribute, C(IM_MAD)).
    type: str
    aliases: [im_mad]
    choices: [kvm, qemu, ec2, onekit]
    default: kvm
  vmm_mad_name:
    description: The VM driver, as C(onehost create --vm).
    type: str
    aliases: [vm_mad]
    choices: [kvm, qemu, ec2, onekit]
    default: kvm
  uri:
    description:
      - The libvirt URI of the host, for example C(qemu:///system), C(qemu+ssh://kvm1/system)
        or C(test+unix:///default) (libvirt's simulated hypervisor). Not for EC2 hosts.
    type: str
  template:
    description:
      - Host attributes merged into its template, for example C(PRIORITY) (scheduler
        policy 4), C(RESERVED_CPU), C(RESERVED_MEM) or C(CHECKPOINT_DIR).
    type: dict
    default: {}
  monitor:
    description: Monitor a new or changed host once before returning.
    type: bool
    default: true
extends_documentation_fragment:
  - onekit.cloud.connection
  - onekit.cloud.attributes
"""

EXAMPLES = r"""
- name: A KVM host reached over SSH
  onekit.cloud.host:
    name: kvm1

- name: This machine's QEMU/KVM, preferred by the fixed-priority policy
  onekit.cloud.host:
    name: local-kvm
    uri: qemu:///system
    template:
      PRIORITY: 10

- name: The EC2 region us-east-1 as a host (etc/ec2_driver.conf has its entry)
  onekit.cloud.host:
    name: us-east-1
    im_mad: ec2
    vm_mad: ec2

- name: No new VMs on kvm1 for now
  onekit.cloud.host:
    name: kvm1
    state: disabled
"""

RETURN = r"""
host:
  description: The host after the run (before it, for O(state=absent)); empty if none.
  returned: always
  type: dict
  contains:
    id:
      description: The host id.
      type: int
      sample: 0
    name:
      description: The host name.
      type: str
      sample: kvm1
    state:
      description: The host state (INIT, MONITORED, ERROR, DISABLED...).
      type: str
      sample: MONITORED
    uri:
      description: Where the host's driver talks to, its libvirt URI (an EC2 host's
        C(ec2://<region>), a partner's C(onekit+<its core API URL>)).
      type: str
      sample: qemu+ssh://kvm1/system
    error:
      description: Why the last monitoring failed, if it did.
      type: str
      sample: "cannot connect to libvirt at qemu+ssh://kvm1/system: ..."
    running_vms:
      description: How many VMs hold capacity on the host.
      type: int
      sample: 3
    max_cpu:
      description: CPU capacity, in hundredths of a core.
      type: int
      sample: 800
    max_mem:
      description: Memory capacity in KiB.
      type: int
      sample: 16777216
"""

from ansible_collections.onekit.cloud.plugins.module_utils.core.states import HostState
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.ansible_module import (
    OnekitModule,
)
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.home import Home
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import monitor


def summary(body: dict | None) -> dict:
    if not body:
        return {}
    share = body["HOST_SHARE"]
    return {
        "id": body["ID"],
        "name": body["NAME"],
        "state": HostState(body["STATE"]).name,
        "uri": hosts.address_of(body),
        "error": body["TEMPLATE"].get("ERROR"),
        "running_vms": share["RUNNING_VMS"],
        "max_cpu": share["MAX_CPU"],
        "max_mem": share["MAX_MEM"],
    }


def apply(m: OnekitModule) -> dict:
    p = m.params
    template = {str(k).upper(): str(v) for k, v in (p["template"] or {}).items()}
    changed, before, after = hosts.ensure(
        m.session,
        p["name"],
        state=p["state"],
        im_mad=p["im_mad_name"],
        vm_mad=p["vmm_mad_name"],
        uri=p["uri"],
        tpl=template,
        dry_run=m.check_mode,
    )
    if changed and after is not None and p["monitor"] and not m.check_mode:
        instance = Home.locate(p["onekit_home"])
        monitor.first_poll(m.session, instance.monitor_config(), [after["ID"]])
        after = hosts.show(m.session, after["ID"])
    result = summary(after if p["state"] != "absent" else before)
    return m.result(changed, summary(before), summary(after), host=result)


def main() -> None:
    OnekitModule(
        {
            "name": {"type": "str", "required": True},
            "state": {
                "type": "str",
                "default": "present",
                "choices": ["present", "absent", "enabled", "disabled"],
            },
            "im_mad_name": {
                "type": "str",
                "default": "kvm",
                "choices": list(hosts.IM_MADS),
                "aliases": ["im_mad"],
            },
            "vmm_mad_name": {
                "type": "str",
                "default": "kvm",
                "choices": list(hosts.VM_MADS),
                "aliases": ["vm_mad"],
            },
            "uri": {"type": "str"},
            "template": {"type": "dict", "default": {}},
            "monitor": {"type": "bool", "default": True},
        }
    ).run(apply)


if __name__ == "__main__":
    main()

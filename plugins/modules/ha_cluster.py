#!/usr/bin/python
# Copyright: (c) 2026, onekit team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module onekit.cloud.ha_cluster."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ha_cluster
short_description: Front-end HA cluster on Pacemaker
description:
  - Configures the Pacemaker cluster that keeps one onekit front-end running, the
    active-passive set-up of OpenNebula's guide (chapter 4, OpenNebula High Availability) on
    Pacemaker/Corosync, the maintained successor of the guide's cman/rgmanager.
  - "It writes the cluster information base (CIB): a group O(id_prefix) of the floating IP
    (C(ocf:heartbeat:IPaddr2) with O(one_vip), O(one_vip_cidr), O(one_vip_if)), the local
    database when O(db_agent) is given, and onekit-server (O(onekit_agent)), so all run on
    one node and start in that order; location scores from the nodes' priorities (the
    guide's ordered failover domain: priority 1 scores 200, priority 2 scores 100);
    C(resource-stickiness) from O(failback); O(recovery), O(max_restarts) and
    O(restart_expire_time) as C(migration-threshold) and C(failure-timeout) with monitors
    that restart in place (C(on-fail=restart)); one fence device per node that never runs on
    the node it fences, with a different C(pcmk_delay_base) per node so two nodes never
    fence each other at once; and C(stonith-enabled=true)."
  - Idempotent the way linux-system-roles/ha_cluster is - the live CIB is read with
    C(cibadmin --query), the desired CIB is built from it offline, C(crm_diff) compares the
    two and only the difference is pushed (C(cibadmin --patch)). A second run reports no
    change. The new configuration is checked with C(crm_verify) before it is pushed.
  - Only what the module owns is changed - resources and constraints whose id is
    O(id_prefix) or starts with C(<id_prefix>-), the properties C(stonith-enabled) and
    C(no-quorum-policy), and node entries that are missing. Other resources, constraints,
    properties and the status section stay as they are.
  - With O(cib_file) it works on a CIB file instead of the running cluster (Pacemaker's
    tools honour C(CIB_file)), which needs no cluster daemons - to prepare a configuration,
    or to test one with C(crm_verify) and C(crm_simulate).
  - Corosync's own configuration (C(corosync.conf) with C(two_node) for two nodes) is not
    part of the CIB; the role C(onekit.cloud.ha_cluster) writes it. RV(corosync_quorum)
    returns the quorum section the nodes need.
  - The spec is checked before anything is read - a single node, duplicate node names, ids
    or addresses, a floating IP that is a node's address or has no O(one_vip_cidr), an
    unknown fence agent or two nodes with the same fence delay fail with the field
    (C(nodes[1].fence.agent)) and what to do.
  - Unlike most modules of the collection it does not talk to an onekit instance, so it takes
    none of the onekit connection options (onekit_home, api_url, api_username,
    api_password).
author:
  - onekit team (@onekit)
version_added: 0.1.0
requirements:
  - Pacemaker's command line tools (C(cibadmin), C(crm_diff), C(crm_verify); Debian
    C(pacemaker-cli-utils)) on the managed host.
options:
  nodes:
    description:
      - The cluster nodes, 2 or more, in the order of the guide's failover domain.
      - Needed with O(state=present), as are O(one_vip) and O(one_vip_cidr); what is missing
        or wrong is reported with the field and the fix.
    type: list
    elements: dict
    suboptions:
      name:
        description: The node's name as the cluster knows it (its C(uname), as in
          C(corosync.conf)).
        type: str
      priority:
        description:
          - Its place in the ordered failover domain - 1 is the preferred node. Defaults to
            the position in the list (1, 2, ...). Nodes of equal priority score the same.
        type: int
      node_id:
        description: Its corosync node id, for the node entry of a new CIB. Defaults to the
          position in the list (1, 2, ...).
        type: int
      address:
        description: Its own address or host name (corosync's C(ring0_addr)); checked here
          (not a duplicate, not the floating IP) and used by the role for C(corosync.conf).
        type: str
      fence:
        description: The fence device that powers this node off (needed for every node).
        type: dict
        suboptions:
          agent:
            description: A fence agent installed on the nodes (C(fence_xvm),
              C(fence_ipmilan), ...) or V(fence_onekit_libvirt), onekit's agent for
              front-ends that are libvirt domains (the guide's fence_xvm case).
            type: str
          plug:
            description: The node's name on the device (its libvirt domain, outlet...),
              passed as C(pcmk_host_map=<node>:<plug>).
            type: str
          options:
            description: The agent's own parameters (C(uri), C(ip), C(username), ...).
            type: dict
            default: {}
          delay:
            description:
              - The device's C(pcmk_delay_base) in seconds, different for every node.
              - By default the preferred node's device waits longest (O(fence_delay) per
                priority step), so in a fence race the preferred node wins.
            type: int
          monitor_interval:
            description: Seconds between checks of the device.
            type: int
            default: 60
  one_vip:
    description: The floating IP the front-end is reached at (one-deploy's C(one_vip)).
    type: str
  one_vip_cidr:
    description: Its prefix length (one-deploy's C(one_vip_cidr)), e.g. V(24).
    type: int
  one_vip_if:
    description: The interface it is added to (one-deploy's C(one_vip_if)); IPaddr2 picks the
      interface of the matching route when not given.
    type: str
  vip_monitor_interval:
    description: Seconds between checks of the floating IP.
    type: int
    default: 20
  onekit_agent:
    description:
      - The resource agent that runs onekit-server. V(ocf:onekit:server) is the OCF agent the
        role installs (it calls C(onekit-server start|stop|status)); V(systemd:onekit-server)
        uses a systemd unit instead.
    type: str
    default: ocf:onekit:server
  onekit_options:
    description: The agent's parameters; for V(ocf:onekit:server) C(home) (ONEKIT_HOME) and
      C(binary) (the onekit-server command).
    type: dict
    default: {}
  onekit_monitor_interval:
    description: Seconds between checks of onekit-server.
    type: int
    default: 10
  db_agent:
    description: The resource agent of a database that runs on the active front-end
      (V(systemd:mariadb)); started after the floating IP and before onekit-server. Leave
      out when the database is elsewhere (the guide's HA MySQL).
    type: str
  db_options:
    description: Its parameters.
    type: dict
    default: {}
  db_monitor_interval:
    description: Seconds between checks of the database.
    type: int
    default: 30
  failback:
    description:
      - V(true) moves the services back to the preferred node when it returns (the guide's
        C(nofailback="0"); C(resource-stickiness) 0). V(false) leaves them where they run
        (stickiness larger than any score difference).
    type: bool
    default: true
  recovery:
    description:
      - What a failed service does (the guide's C(recovery)). V(restart) restarts it in
        place, and moves the group to the next node after O(max_restarts) failures within
        O(restart_expire_time); V(relocate) moves the group at the first failure.
    type: str
    choices: [restart, relocate]
    default: restart
  max_restarts:
    description: Failures in place before the group moves (C(migration-threshold)); V(0)
      restarts in place forever (rgmanager's default).
    type: int
    default: 3
  restart_expire_time:
    description: Seconds after which a failure is forgotten (C(failure-timeout)).
    type: int
    default: 600
  fence_delay:
    description: Seconds between the default fence delays of successive priorities.
    type: int
    default: 15
  no_quorum_policy:
    description:
      - What a partition without quorum does. Two nodes keep quorum with corosync's
        C(two_node), so V(stop) is right for two nodes too.
    type: str
    choices: [stop, freeze, ignore, demote, suicide]
    default: stop
  id_prefix:
    description: The id of the group and the prefix of every other id the module owns.
    type: str
    default: onekit
  state:
    description: V(absent) removes what the module owns (resources and constraints).
    type: str
    choices: [present, absent]
    default: present
  cib_file:
    description:
      - Work on this CIB file instead of the running cluster (C(CIB_file)). A missing file
        is created (mode 0600) from C(cibadmin --empty).
    type: path
  verify:
    description: Check the new configuration with C(crm_verify) before pushing it.
    type: bool
    default: true
attributes:
  check_mode:
    description: The CIB is read and the difference computed; nothing is pushed and no file
      is written.
    support: full
  diff_mode:
    description: Returns the C(configuration) section before and after.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    platforms: posix
    support: N/A
notes:
  - Run it on one node of the cluster (C(run_once)); the cluster spreads the CIB.
  - Tested with Pacemaker 2.1.5 and Corosync 3.1.7 (Debian 12).
seealso:
  - name: Pacemaker Explained
    description: Resources, constraints, fencing and cluster options in the CIB.
    link: https://clusterlabs.org/pacemaker/doc/2.1/Pacemaker_Explained/html/
  - name: linux-system-roles ha_cluster
    description: The role whose way of applying a CIB (diff, then patch) this module follows.
    link: https://github.com/linux-system-roles/ha_cluster
"""

EXAMPLES = r"""
- name: Two front-ends that are libvirt guests, a floating IP, onekit-server
  onekit.cloud.ha_cluster:
    nodes:
      - name: one-server1
        priority: 1
        fence:
          agent: fence_onekit_libvirt
          plug: one1
          options: {uri: "qemu+ssh://kvm-host/system"}
      - name: one-server2
        priority: 2
        fence:
          agent: fence_onekit_libvirt
          plug: one2
          options: {uri: "qemu+ssh://kvm-host/system"}
    one_vip: 10.10.11.12
    one_vip_cidr: 24
    one_vip_if: eth0
    onekit_options: {home: /var/lib/onekit}
  run_once: true

- name: With the local MariaDB in the group, and no failback
  onekit.cloud.ha_cluster:
    nodes: "{{ ha_cluster_nodes }}"
    one_vip: "{{ one_vip }}"
    one_vip_cidr: "{{ one_vip_cidr }}"
    db_agent: systemd:mariadb
    failback: false
  run_once: true

- name: Prepare a CIB file without a running cluster
  onekit.cloud.ha_cluster:
    nodes: "{{ ha_cluster_nodes }}"
    one_vip: 192.168.122.200
    one_vip_cidr: 24
    cib_file: /var/tmp/onekit-cib.xml
  delegate_to: localhost
"""

RETURN = r"""
patch:
  description: The difference pushed (or, in check mode, that would be pushed), as
    C(crm_diff --no-version) prints it; empty when nothing changed.
  returned: always
  type: str
  sample: '<diff format="2"><change operation="create" path="/cib/configuration/resources"
    position="0">...</change></diff>'
group:
  description: The id of the group holding the floating IP and the services.
  returned: state is present
  type: str
  sample: onekit
resources:
  description: The group's members, in start order.
  returned: state is present
  type: list
  elements: str
  sample: [onekit-vip, onekit-db, onekit-server]
fence_devices:
  description: The fence device of each node.
  returned: state is present
  type: dict
  sample: {one-server1: onekit-fence-one-server1, one-server2: onekit-fence-one-server2}
fence_delays:
  description: The C(pcmk_delay_base) of each node's device, in seconds.
  returned: state is present
  type: dict
  sample: {one-server1: 15, one-server2: 0}
scores:
  description: The group's location score on each node.
  returned: state is present
  type: dict
  sample: {one-server1: 200, one-server2: 100}
resource_stickiness:
  description: The group's C(resource-stickiness) (0 with failback).
  returned: state is present
  type: int
  sample: 0
properties:
  description: The cluster properties the module sets.
  returned: state is present
  type: dict
  sample: {stonith-enabled: "true", no-quorum-policy: stop}
corosync_quorum:
  description: The C(quorum) section of C(corosync.conf) these nodes need (C(two_node) for
    two nodes).
  returned: state is present
  type: dict
  sample: {provider: corosync_votequorum, two_node: 1}
problems:
  description: When the spec is wrong, each problem as C(field) and C(message).
  returned: failed
  type: list
  elements: dict
  sample: [{field: one_vip_cidr, message: "the floating IP 10.0.0.10 needs its prefix
    length"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.onekit.cloud.plugins.module_utils.ha import cluster as ha

TOOLS = ("cibadmin", "crm_diff", "crm_verify")
# Only types here: what is missing or wrong is reported by ha.parse_spec, with the fix.
FENCE_OPTIONS = {
    "agent": {"type": "str"},
    "plug": {"type": "str"},
    "options": {"type": "dict", "default": {}},
    "delay": {"type": "int"},
    "monitor_interval": {"type": "int", "default": 60},
}
NODE_OPTIONS = {
    "name": {"type": "str"},
    "priority": {"type": "int"},
    "node_id": {"type": "int"},
    "address": {"type": "str"},
    "fence": {"type": "dict", "options": FENCE_OPTIONS},
}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "nodes": {"type": "list", "elements": "dict", "options": NODE_OPTIONS},
            "one_vip": {"type": "str"},
            "one_vip_cidr": {"type": "int"},
            "one_vip_if": {"type": "str"},
            "vip_monitor_interval": {"type": "int", "default": 20},
            "onekit_agent": {"type": "str", "default": ha.DEFAULT_SERVER_AGENT},
            "onekit_options": {"type": "dict", "default": {}},
            "onekit_monitor_interval": {"type": "int", "default": 10},
            "db_agent": {"type": "str"},
            "db_options": {"type": "dict", "default": {}},
            "db_monitor_interval": {"type": "int", "default": 30},
            "failback": {"type": "bool", "default": True},
            "recovery": {"type": "str", "choices": list(ha.RECOVERY), "default": "restart"},
            "max_restarts": {"type": "int", "default": 3},
            "restart_expire_time": {"type": "int", "default": 600},
            "fence_delay": {"type": "int", "default": 15},
            "no_quorum_policy": {
                "type": "str",
                "choices": list(ha.NO_QUORUM_POLICIES),
                "default": "stop",
            },
            "id_prefix": {"type": "str", "default": "onekit"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "cib_file": {"type": "path"},
            "verify": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    spec = None
    if p["state"] == "present":
        try:
            spec = ha.parse_spec(p)
        except ha.SpecError as err:
            module.fail_json(
                msg=f"the cluster spec is wrong: {err}",
                problems=[{"field": f, "message": m} for f, m in err.problems],
            )
    tools = {name: module.get_bin_path(name, required=True) for name in TOOLS}

    def run(args, env=None, data=None):
        return module.run_command(list(args), environ_update=dict(env or {}), data=data)

    cib = ha.Cib(run=run, cib_file=p["cib_file"], tools=tools)
    try:
        outcome = ha.apply(
            cib, spec, check_mode=module.check_mode, verify=p["verify"], prefix=p["id_prefix"]
        )
    except (ha.CibError, OSError) as err:
        module.fail_json(msg=str(err))
    result = outcome.summary()
    if module._diff:
        result["diff"] = {
            "before": outcome.before,
            "after": outcome.after,
            "before_header": p["cib_file"] or "CIB configuration",
            "after_header": p["cib_file"] or "CIB configuration",
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()

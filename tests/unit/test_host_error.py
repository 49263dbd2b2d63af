"""host_error's decisions (pure): its arguments as the guide and 4.x/5.x write them, the
VMs it takes, fencing, and the -p re-read."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import (
    HostState,
    Lcm,
    VmState,
)
from ansible_collections.onekit.cloud.plugins.module_utils.ha import host_error
from ansible_collections.onekit.cloud.plugins.module_utils.ha.host_error import (
    Options,
    Order,
    Skip,
    parse_arguments,
    select,
)


# ---- arguments ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$HID -r", Options("recreate")),
        ("$ID -r", Options("recreate")),  # the 4.0 sample
        ("$HID", Options("recreate")),  # -r is the default mode (4.x)
        ("$HID -d", Options("delete")),
        ("$ID -m -p 5", Options("migrate", pause=5)),  # the 4.10 sample
        ("$HID --migrate --pause 5", Options("migrate", pause=5)),
        ("$HID --pause=3 --force --delete", Options("delete", force=True, pause=3)),
        ("-r -f $HID", Options("recreate", force=True)),  # GetoptLong permutes
        ("$HID -rf", Options("recreate", force=True)),
        ("$HID -fp2", Options("recreate", force=True, pause=2)),
        ("$HID -r -r", Options("recreate")),
        ("$HID -r -p 0", Options("recreate")),
        (
            "$HID -r --fence '/usr/sbin/fence_ipmilan -a 10.0.0.5 -o off' --fence-timeout 20",
            Options(
                "recreate", fence="/usr/sbin/fence_ipmilan -a 10.0.0.5 -o off", fence_timeout=20
            ),
        ),
        ("$HID -r --fence=/bin/fence", Options("recreate", fence="/bin/fence")),
    ],
)
def test_arguments_as_the_guide_and_samples_write_them(text, expected):
    assert parse_arguments(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-r", "name the failed host once, as $HID"),
        ("3 -r", "name the failed host once, as $HID"),
        ("$HID $HID -r", "name the failed host once"),
        ("$HID -r -d", "use only one of -r, -d and -m"),
        ("$HID -m --recreate", "use only one of -r, -d and -m"),
        ("$HID -x", "unknown option -x"),
        ("$HID -rx", "unknown option -x"),
        ("$HID --now", "unknown option --now"),
        ("$HID -p", "-p needs a cycle count"),
        ("$HID -p five", "-p needs a cycle count from 0 to 1000, got 'five'"),
        ("$HID -p -1", "-p needs a cycle count"),
        ("$HID -p 1001", "from 0 to 1000"),
        ("$HID --pause=", "--pause needs a cycle count"),
        ("$HID --fence", "--fence needs a command"),
        ("$HID --fence ''", "--fence needs a command"),
        ("$HID --fence-timeout 0", "--fence-timeout needs seconds from 1 to 3600"),
        ("$HID --fence 'unclosed", "cannot split"),
        ('$HID --fence "\'a"', "--fence: cannot split"),
    ],
)
def test_bad_arguments_say_what_is_wrong(text, message):
    with pytest.raises(InvalidInput, match=_escaped(message)):
        parse_arguments(text)


def _escaped(text: str) -> str:
    import re

    return re.escape(text)


@given(
    mode=st.sampled_from(host_error.MODES),
    force=st.booleans(),
    pause=st.integers(0, host_error.MAX_PAUSE),
    fence=st.sampled_from(["", "/bin/fence", "fence -o off $HOST", "fence -n 'a b' -d \"it's\""]),
    timeout=st.integers(1, 3600),
)
def test_render_parses_back(mode, force, pause, fence, timeout):
    options = Options(mode, force, pause, fence, timeout)
    assert parse_arguments(host_error.render_arguments(options)) == options


def test_modes_map_to_vm_module_actions():
    # -m: onekit has no migration; the VM is resubmitted and the scheduler places it on
    # another host (the failed one is ERROR)
    assert [Options(m).action for m in host_error.MODES] == [
        "delete-recreate",
        "delete",
        "delete-recreate",
    ]


# ---- fencing --------------------------------------------------------------------------------
HOST = {"ID": 3, "NAME": "kvm-3"}


def test_no_fence_no_command():
    assert host_error.fence_argv(Options(), HOST) == []


def test_fence_command_gets_the_host():
    options = parse_arguments("$HID -r --fence '/usr/sbin/fence_virsh -n $HOST --id=$HID -o off'")
    assert host_error.fence_argv(options, HOST) == [
        "/usr/sbin/fence_virsh",
        "-n",
        "kvm-3",
        "--id=3",
        "-o",
        "off",
    ]


def test_fence_command_substitutes_once():
    # a host's name is its owner's text: what it holds is never substituted again
    options = parse_arguments("$HID -r --fence 'fence -n $HOST -i $ID'")
    host = {"ID": 3, "NAME": "a$ID$HOST"}
    assert host_error.fence_argv(options, host) == ["fence", "-n", "a$ID$HOST", "-i", "3"]


def test_fence_playbook_gets_the_host_in_a_file_of_variables():
    # never on its command line: ansible-playbook would render `-e name=<text>`
    options = parse_arguments("$HID -r --fence '/etc/onekit/fence.yml -e mode=off'")
    argv = host_error.fence_argv(options, HOST, "/venv/bin/ansible-playbook", "/run/v.yml")
    assert argv == [
        "/venv/bin/ansible-playbook",
        "/etc/onekit/fence.yml",
        "-e",
        "mode=off",
        "-e",
        "@/run/v.yml",
    ]
    assert host_error.fence_vars(HOST) == {"one_host_id": 3, "one_host_name": "kvm-3"}
    with pytest.raises(InvalidInput, match="file of its variables"):
        host_error.fence_argv(options, HOST)


def test_a_fence_playbook_takes_no_placeholders():
    with pytest.raises(InvalidInput, match=r"one_host_name; leave \$HOST"):
        parse_arguments("$HID -r --fence '/etc/onekit/fence.yml -e x=$HOST'")


# ---- -p: the host read again ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "act"),
    [
        (HostState.ERROR, True),
        (HostState.MONITORING_ERROR, True),
        (HostState.MONITORED, False),  # it came back: 4.x's -p missed this
        (HostState.MONITORING_MONITORED, False),
        (HostState.DISABLED, False),
        (HostState.INIT, False),
    ],
)
def test_after_the_pause_only_a_host_still_in_error_is_acted_on(state, act):
    assert host_error.still_failed(state) is act


# ---- which VMs ------------------------------------------------------------------------------
def vm(vm_id, state, lcm=Lcm.LCM_INIT, host=3, history=True):
    records = [{"HID": 1}, {"HID": host}] if history else []
    return {
        "ID": vm_id,
        "NAME": f"vm-{vm_id}",
        "STATE": int(state),
        "LCM_STATE": int(lcm),
        "HISTORY_RECORDS": records,
    }


A = VmState.ACTIVE
POOL = [
    vm(10, A, Lcm.RUNNING),
    vm(11, A, Lcm.UNKNOWN),
    vm(12, A, Lcm.BOOT),  # transient: the dead host will never answer
    vm(13, VmState.SUSPENDED),
    vm(14, VmState.POWEROFF),
    vm(15, A, Lcm.CLEANUP_RESUBMIT),  # being resubmitted already
    vm(16, A, Lcm.RUNNING, host=4),  # another host
    vm(17, VmState.STOPPED),  # holds no host (its record names host 3)
    vm(18, VmState.UNDEPLOYED),
    vm(19, VmState.PENDING, history=False),
    vm(20, VmState.DONE),
    vm(21, VmState.FAILED),
    vm(22, A, Lcm.CLEANUP_DELETE),
    vm(23, VmState.POWEROFF, host=4),
]


def test_recreate_takes_the_active_vms_of_the_host():
    orders, skipped = select(3, reversed(POOL), Options("recreate"))
    assert orders == [
        Order(10, "delete-recreate", "RUNNING"),
        Order(11, "delete-recreate", "UNKNOWN"),
        Order(12, "delete-recreate", "BOOT"),
    ]
    assert skipped == [
        Skip(13, "SUSPENDED: only with -f"),
        Skip(14, "POWEROFF: only with -f"),
        Skip(15, "CLEANUP_RESUBMIT: it is leaving the host already"),
        Skip(22, "CLEANUP_DELETE: it is leaving the host already"),
    ]


def test_force_takes_suspended_and_poweroff_vms_too():
    orders, _ = select(3, POOL, Options("recreate", force=True))
    assert [(o.vm_id, o.was) for o in orders] == [
        (10, "RUNNING"),
        (11, "UNKNOWN"),
        (12, "BOOT"),
        (13, "SUSPENDED"),
        (14, "POWEROFF"),
    ]


def test_delete_and_migrate_modes():
    deleted, _ = select(3, POOL, Options("delete", force=True))
    assert {o.action for o in deleted} == {"delete"} and len(deleted) == 5
    moved, _ = select(3, POOL, Options("migrate"))
    assert [o.vm_id for o in moved] == [10, 11, 12]
    assert {o.action for o in moved} == {"delete-recreate"}


def test_a_host_without_vms_gets_no_orders():
    assert select(7, POOL, Options(force=True)) == ([], [])


def test_vm_orders_are_one_item_per_vm():
    orders, _ = select(3, POOL, Options("delete"))
    assert host_error.vm_orders(orders) == [
        {"label": "VM 10", "action": "delete", "instance_ids": [10]},
        {"label": "VM 11", "action": "delete", "instance_ids": [11]},
        {"label": "VM 12", "action": "delete", "instance_ids": [12]},
    ]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(VmState)),
            st.sampled_from(list(Lcm)),
            st.integers(0, 4),
            st.booleans(),
        ),
        max_size=30,
    ),
    st.booleans(),
    st.sampled_from(host_error.MODES),
)
def test_property_only_vms_of_the_failed_host_and_each_once(rows, force, mode):
    pool = [vm(i, s, lcm, host, hist) for i, (s, lcm, host, hist) in enumerate(rows)]
    orders, skipped = select(3, pool, Options(mode, force=force))
    ids = [o.vm_id for o in orders] + [s.vm_id for s in skipped]
    assert len(ids) == len(set(ids))
    by_id = {v["ID"]: v for v in pool}
    for order in orders:
        body = by_id[order.vm_id]
        assert body["HISTORY_RECORDS"][-1]["HID"] == 3
        assert body["STATE"] in (A, VmState.SUSPENDED, VmState.POWEROFF)
        assert force or body["STATE"] == A

"""One scheduling cycle (``scheduler.plan``) and ``etc/sched.conf`` parsing, without a store.

Host and VM bodies are built by hand in the shapes ``hosts`` and ``vms`` give them; what is
asserted is what a user sees: which host each VM lands on, and the SCHED_MESSAGE a VM
left PENDING gets.
"""

from __future__ import annotations

import copy

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.core.acl import BOOTSTRAP_RULES, AclRule
from ansible_collections.onekit.cloud.plugins.module_utils.core.auth import Subject
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import ConfigError
from ansible_collections.onekit.cloud.plugins.module_utils.core.states import HostState
from ansible_collections.onekit.cloud.plugins.module_utils.vm import scheduler
from ansible_collections.onekit.cloud.plugins.module_utils.vm.scheduler import SchedConfig, plan

GIB = 1024 * 1024  # KiB
ONEADMIN = Subject(0, "oneadmin", 0, frozenset({0}))
ALICE = Subject(5, "alice", 1, frozenset({1}))  # a regular user of group users
BOOTSTRAP = [AclRule.parse(text) for text in BOOTSTRAP_RULES]
OWNERS = {0: ONEADMIN, 5: ALICE}


def host(hid: int, name: str | None = None, vms=(), tpl=None, **share) -> dict:
    """A MONITORED host as the store holds it: 16 CPUs and 4 GiB free unless told."""
    host_share = {
        "MAX_CPU": 1600,
        "MAX_MEM": 4 * GIB,
        "CPU_USAGE": 0,
        "MEM_USAGE": 0,
        "FREE_CPU": 1600,
        "FREE_MEM": 4 * GIB,
        "USED_CPU": 0,
        "USED_MEM": 0,
        "RUNNING_VMS": len(vms),
    }
    host_share.update(share)
    return {
        "ID": hid,
        "NAME": name or f"node{hid}",
        "UID": 0,
        "GID": 0,
        "PERMISSIONS": {"OWNER_U": "1", "OWNER_M": "1"},
        "STATE": int(HostState.MONITORED),
        "CLUSTER_ID": -1,
        "HOST_SHARE": host_share,
        "VMS": list(vms),
        "TEMPLATE": {"HYPERVISOR": "kvm", **(tpl or {})},
    }


def vm(vid: int, cpu="1", memory="128", uid: int = 0, **user_template) -> dict:
    return {
        "ID": vid,
        "UID": uid,
        "GID": 0 if uid == 0 else 1,
        "NAME": f"vm-{vid}",
        "STATE": 1,
        "TEMPLATE": {"CPU": cpu, "MEMORY": memory, "VMID": str(vid)},
        "USER_TEMPLATE": dict(user_template),
    }


def run(pending, candidates, config=None, owners=None, rules=None) -> scheduler.Plan:
    return plan(
        pending,
        candidates,
        OWNERS if owners is None else owners,
        BOOTSTRAP if rules is None else rules,
        config or SchedConfig(),
    )


def placed(result: scheduler.Plan) -> dict[int, int]:
    return dict(result.placements)


# ---- policies ---------------------------------------------------------------------------
# Five hosts where every policy has a different, unique winner (ids out of list order).
POLICY_HOSTS = [
    host(13, vms=(90, 91), tpl={"PRIORITY": "9", "SPEED": "40"}, FREE_CPU=300),
    host(10, vms=(80, 81, 82), tpl={"PRIORITY": "1", "SPEED": "10"}, FREE_CPU=100),
    host(12, vms=(70,), tpl={"PRIORITY": "3", "SPEED": "20"}, FREE_CPU=1500),
    host(11, tpl={"PRIORITY": "2", "SPEED": "30"}, FREE_CPU=200),
    host(14, vms=(60, 61), tpl={"SPEED": "99"}, FREE_CPU=150),
]


@pytest.mark.parametrize(
    ("policy", "rank", "winner"),
    [
        (0, "", 10),  # packing: the host with the most RUNNING_VMS
        (1, "", 11),  # striping: the emptiest
        (2, "", 12),  # load-aware: the most FREE_CPU
        (3, "SPEED", 14),  # custom: DEFAULT_SCHED RANK
        (3, "- SPEED", 10),
        (4, "", 13),  # fixed: the highest PRIORITY (missing counts 0)
    ],
)
def test_each_policy_picks_its_host(policy, rank, winner):
    config = SchedConfig(policy=policy, rank=rank)
    result = run([vm(1)], POLICY_HOSTS, config)
    assert result.placements == [(1, winner)]
    assert result.messages == {}


def test_policies_come_from_sched_conf_text():
    text = 'DEFAULT_SCHED = [ POLICY = 3, RANK = "- FREE_CPU" ]\n'
    result = run([vm(1)], POLICY_HOSTS, SchedConfig.parse(text, "sched.conf"))
    assert result.placements == [(1, 10)]  # the least FREE_CPU


@pytest.mark.parametrize(
    ("policy", "sched_rank", "winner"),
    [
        (0, "- RUNNING_VMS", 11),
        (1, "RUNNING_VMS", 10),
        (4, "FREE_CPU", 12),
        (2, "PRIORITY", 13),
        (1, "SPEED * 2 - PRIORITY", 14),
    ],
)
def test_a_vms_sched_rank_overrides_the_policy(policy, sched_rank, winner):
    result = run([vm(1, SCHED_RANK=sched_rank)], POLICY_HOSTS, SchedConfig(policy=policy))
    assert result.placements == [(1, winner)]


@pytest.mark.parametrize("policy", [0, 1, 2, 4])
def test_ties_go_to_the_lowest_host_id(policy):
    same = [host(hid, tpl={"PRIORITY": "5"}) for hid in (7, 3, 9, 4)]
    assert run([vm(1)], same, SchedConfig(policy=policy)).placements == [(1, 3)]


def test_a_constant_custom_rank_ties_every_host():
    same = [host(hid) for hid in (8, 6, 7)]
    assert run([vm(1)], same, SchedConfig(policy=3, rank="")).placements == [(1, 6)]


def test_packing_puts_a_batch_where_most_vms_run():
    candidates = [host(0), host(1, vms=(50,))]
    result = run([vm(1), vm(2)], candidates, SchedConfig(policy=0, max_host=5))
    assert result.placements == [(1, 1), (2, 1)]


def test_striping_spreads_a_batch():
    candidates = [host(0, vms=(50,)), host(1), host(2, vms=(51, 52))]
    result = run([vm(1), vm(2), vm(3)], candidates, SchedConfig(policy=1))
    # MAX_HOST 1: one VM per host this cycle, the emptiest first
    assert result.placements == [(1, 1), (2, 0), (3, 2)]


# ---- requirements -----------------------------------------------------------------------
NAMED = [host(0, "web-1"), host(1, "web-2"), host(2, "db-1", tpl={"PRIORITY": "10"})]


@pytest.mark.parametrize(
    ("requirements", "allowed"),
    [
        ('NAME = "db-1"', {2}),
        ('NAME = "web-*"', {0, 1}),
        ('NAME != "web-*"', {2}),
        ('NAME = "web-[2-9]"', {1}),
        ("PRIORITY > 5", {2}),
        ("PRIORITY < 5", set()),  # missing attribute: false
        ('HYPERVISOR = kvm & !(NAME = "web-1")', {1, 2}),
        ("ID = 1 | ID = 0", {0, 1}),
    ],
)
def test_requirements_filter_the_hosts(requirements, allowed):
    config = SchedConfig(max_host=10)
    pending = [vm(i, SCHED_REQUIREMENTS=requirements) for i in range(1, 7)]
    result = run(pending, NAMED, config)
    if allowed:
        assert len(result.placements) == 6
        assert set(placed(result).values()) <= allowed
        assert result.messages == {}
    else:
        assert result.placements == []
        assert result.messages == {
            i: f"no host meets SCHED_REQUIREMENTS: {requirements}" for i in range(1, 7)
        }


def test_current_vms_requirements_give_affinity_and_anti_affinity():
    candidates = [host(0, vms=(40,)), host(1, vms=(41, 42)), host(2)]
    config = SchedConfig(policy=0, max_host=10)
    with_42 = vm(1, SCHED_REQUIREMENTS="CURRENT_VMS = 42")
    not_with_40 = vm(2, SCHED_REQUIREMENTS="CURRENT_VMS != 40 & CURRENT_VMS != 41")
    result = run([with_42, not_with_40], candidates, config)
    assert placed(result) == {1: 1, 2: 2}


def test_requirements_come_before_rank():
    """The best-ranked host is skipped when it does not meet the requirements."""
    result = run([vm(1, SCHED_REQUIREMENTS='NAME = "web-*"')], NAMED, SchedConfig(policy=4))
    assert result.placements == [(1, 0)]


# ---- capacity ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cpu", "memory", "fits"),
    [
        ("16", "4096", True),  # exactly the whole host
        ("16.01", "4096", False),  # one hundredth of a core more
        ("16", "4096.001", False),  # one KiB more (4096.001 MiB rounds to 4 GiB + 1 KiB)
        ("0.01", "1", True),
    ],
)
def test_capacity_boundary_on_an_empty_host(cpu, memory, fits):
    result = run([vm(1, cpu=cpu, memory=memory)], [host(0)])
    assert result.placements == ([(1, 0)] if fits else [])
    assert (1 in result.messages) is not fits


def test_capacity_counts_what_is_allocated_not_what_is_measured():
    # 15 of 16 CPUs and 3 of 4 GiB allocated (though measured use is zero)
    busy = host(0, CPU_USAGE=1500, MEM_USAGE=3 * GIB, FREE_CPU=1600, USED_CPU=0)
    assert run([vm(1, cpu="1", memory="1024")], [busy]).placements == [(1, 0)]
    assert run([vm(1, cpu="1.01", memory="1024")], [busy]).placements == []
    assert run([vm(1, cpu="1", memory="1025")], [busy]).placements == []


def test_capacity_is_consumed_within_a_cycle():
    """Two VMs that each fit alone but not together never share the host."""
    config = SchedConfig(max_host=10, policy=0)
    result = run([vm(1, cpu="10"), vm(2, cpu="10")], [host(0)], config)
    assert result.placements == [(1, 0)]
    assert result.messages == {2: "no host with enough free capacity for CPU 10 and MEMORY 128 MiB"}
    # with a second host, packing still puts the second one there
    result = run([vm(1, cpu="10"), vm(2, cpu="10")], [host(0), host(1)], config)
    assert placed(result) == {1: 0, 2: 1}


def test_memory_is_consumed_within_a_cycle_too():
    config = SchedConfig(max_host=10)
    result = run([vm(1, memory="3000"), vm(2, memory="1097")], [host(0)], config)
    assert result.placements == [(1, 0)]
    assert 2 in result.messages


def test_plan_does_not_change_its_inputs():
    pending = [vm(1, cpu="4"), vm(2, cpu="4")]
    candidates = [host(0), host(1, vms=(9,))]
    before = copy.deepcopy((pending, candidates))
    run(pending, candidates, SchedConfig(max_host=10))
    assert (pending, candidates) == before


# ---- MAX_HOST, MAX_DISPATCH, MAX_VM -----------------------------------------------------
def test_max_host_limits_vms_per_host_per_cycle():
    pending = [vm(i) for i in range(1, 6)]
    result = run(pending, [host(0)], SchedConfig(max_host=2))
    assert result.placements == [(1, 0), (2, 0)]
    assert result.messages == {}  # the rest wait for the next cycle, without a complaint


def test_max_host_sends_the_overflow_to_the_next_best_host():
    pending = [vm(i) for i in range(1, 6)]
    result = run(pending, [host(0), host(1, vms=(50,))], SchedConfig(policy=0, max_host=2))
    assert result.placements == [(1, 1), (2, 1), (3, 0), (4, 0)]


def test_max_dispatch_limits_vms_per_cycle():
    pending = [vm(i) for i in range(1, 8)]
    result = run(pending, [host(0), host(1)], SchedConfig(max_dispatch=3, max_host=10))
    assert [vid for vid, _ in result.placements] == [1, 2, 3]


def test_max_vm_limits_the_vms_considered():
    pending = [vm(1, cpu="99"), vm(2), vm(3)]
    result = run(pending, [host(0), host(1)], SchedConfig(max_vm=2, max_host=10))
    assert result.placements == [(2, 0)]
    assert set(result.messages) == {1}


# ---- ACL: the owner needs MANAGE on the host ----------------------------------------------
ACL_MESSAGE = (
    "the VM's owner may not deploy on any host: it needs MANAGE on one "
    "(an ACL rule such as @<group> HOST/* MANAGE)"
)


def test_an_owner_without_manage_on_any_host_gets_the_acl_message():
    result = run([vm(1, uid=5), vm(2, uid=0)], [host(0), host(1)])
    assert result.placements == [(2, 0)]
    assert result.messages == {1: ACL_MESSAGE}
    assert "MANAGE" in result.messages[1]


def test_use_on_hosts_is_not_enough():
    rules = [*BOOTSTRAP, AclRule.parse("@1 HOST/* USE")]
    result = run([vm(1, uid=5)], [host(0)], rules=rules)
    assert result.placements == []
    assert result.messages == {1: ACL_MESSAGE}


def test_an_owner_whose_user_is_gone_gets_the_acl_message():
    result = run([vm(1, uid=77)], [host(0)])
    assert result.messages == {1: ACL_MESSAGE}


@pytest.mark.parametrize(
    "owner",
    [
        Subject(7, "ops", 0, frozenset({0})),  # primary group oneadmin
        Subject(8, "ops2", 1, frozenset({1, 0})),  # secondary group oneadmin
    ],
)
def test_members_of_group_oneadmin_may_deploy_everywhere(owner):
    owners = {owner.uid: owner}
    result = run([vm(1, uid=owner.uid)], [host(0), host(1)], owners=owners, rules=[])
    assert result.placements == [(1, 0)]


def test_a_host_rule_allows_only_that_host():
    rules = [*BOOTSTRAP, AclRule.parse("@1 HOST/#2 MANAGE")]
    pending = [vm(i, uid=5, cpu="4") for i in range(1, 6)]
    candidates = [host(1, tpl={"PRIORITY": "9"}), host(2), host(3)]
    result = run(pending, candidates, SchedConfig(policy=4, max_host=10), rules=rules)
    # host 2 only (though host 1 ranks higher); 4 x 4 CPUs fill it, the 5th has no room
    assert result.placements == [(i, 2) for i in range(1, 5)]
    assert result.messages == {5: "no host with enough free capacity for CPU 4 and MEMORY 128 MiB"}
    # the same VMs of oneadmin go to the best host
    admin_vms = [vm(i, cpu="4") for i in range(1, 3)]
    assert run(admin_vms, candidates, SchedConfig(policy=4), rules=rules).placements == [
        (1, 1),
        (2, 2),
    ]


def test_a_user_rule_allows_every_host():
    rules = [*BOOTSTRAP, AclRule.parse("#5 HOST/* MANAGE")]
    result = run([vm(1, uid=5)], [host(0), host(1)], rules=rules)
    assert result.placements == [(1, 0)]


# ---- SCHED_MESSAGE: one reason per VM -----------------------------------------------------
def test_sched_message_for_each_reason():
    rules = [*BOOTSTRAP, AclRule.parse("@1 HOST/* MANAGE")]
    pending = [
        vm(1, uid=0, cpu="100"),  # no room anywhere
        vm(2, uid=0, SCHED_REQUIREMENTS='NAME = "nowhere"'),
        vm(3, uid=0, memory="512", cpu="2"),  # placed
    ]
    result = run(pending, [host(0), host(1)], rules=rules)
    assert result.placements == [(3, 0)]
    assert result.messages == {
        1: "no host with enough free capacity for CPU 100 and MEMORY 128 MiB",
        2: 'no host meets SCHED_REQUIREMENTS: NAME = "nowhere"',
    }


def test_sched_message_when_no_host_is_monitored():
    result = run([vm(1), vm(2, uid=5)], [])
    assert result.placements == []
    assert result.messages == {
        1: "no host is MONITORED (enabled and reachable) to run VMs",
        2: "no host is MONITORED (enabled and reachable) to run VMs",
    }


def test_the_acl_is_checked_before_requirements_and_capacity():
    result = run([vm(1, uid=5, cpu="100", SCHED_REQUIREMENTS="ID = 99")], [host(0)])
    assert result.messages == {1: ACL_MESSAGE}


def test_requirements_are_checked_before_capacity():
    result = run([vm(1, cpu="100", SCHED_REQUIREMENTS="ID = 99")], [host(0)])
    assert result.messages == {1: "no host meets SCHED_REQUIREMENTS: ID = 99"}


def test_a_fractional_capacity_message_names_the_demand():
    result = run([vm(1, cpu="0.5", memory="8192")], [host(0)])
    assert result.messages == {
        1: "no host with enough free capacity for CPU 0.5 and MEMORY 8192 MiB"
    }


# A malformed SCHED_REQUIREMENTS/SCHED_RANK (a store edited by hand) keeps its own VM
# pending, never the others: mm_sched skips only that VM.
@pytest.mark.parametrize(
    "bad", [{"SCHED_REQUIREMENTS": 'NAME = web-1"'}, {"SCHED_RANK": "FREE_CPU +"}]
)
def test_a_malformed_expression_only_keeps_its_own_vm_pending(bad):
    result = run([vm(1, **bad), vm(2)], [host(0), host(1)])
    assert result.placements == [(2, 0)]
    assert "syntax error" in result.messages[1]


# ---- sched.conf -------------------------------------------------------------------------
def test_sched_conf_defaults_are_mm_scheds():
    assert SchedConfig.parse("", "sched.conf") == SchedConfig(
        interval=30, max_vm=5000, max_dispatch=30, max_host=1, policy=1, rank=""
    )


def test_sched_conf_full_text():
    text = """
# comment
SCHED_INTERVAL = 10
MAX_VM = 0
MAX_DISPATCH = 7
MAX_HOST = 3
DEFAULT_SCHED = [
  POLICY = 3,
  RANK = "FREE_CPU * 2 - RUNNING_VMS" ]
"""
    config = SchedConfig.parse(text, "/etc/sched.conf")
    assert config == SchedConfig(
        interval=10,
        max_vm=0,
        max_dispatch=7,
        max_host=3,
        policy=3,
        rank="FREE_CPU * 2 - RUNNING_VMS",
    )
    assert config.rank_source() == "FREE_CPU * 2 - RUNNING_VMS"


@pytest.mark.parametrize(
    ("policy", "source"),
    [(0, "RUNNING_VMS"), (1, "- RUNNING_VMS"), (2, "FREE_CPU"), (4, "PRIORITY")],
)
def test_a_rank_is_only_used_by_the_custom_policy(policy, source):
    text = f'DEFAULT_SCHED = [ POLICY = {policy}, RANK = "SPEED" ]'
    assert SchedConfig.parse(text, "sched.conf").rank_source() == source


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SCHED_INTERVAL = 0", "SCHED_INTERVAL must be a whole number >= 1"),
        ("MAX_VM = -1", "MAX_VM must be a whole number >= 0"),
        ("MAX_DISPATCH = 0", "MAX_DISPATCH must be a whole number >= 1"),
        ("MAX_HOST = 0", "MAX_HOST must be a whole number >= 1"),
        ("MAX_HOST = 1.5", "MAX_HOST must be a whole number >= 1"),
        ("MAX_HOST = two", "MAX_HOST must be a whole number >= 1"),
        ('MAX_HOST = ""', "MAX_HOST must be a whole number >= 1"),
        ("DEFAULT_SCHED = 1", "DEFAULT_SCHED must be a vector [ POLICY = ... ]"),
        ("DEFAULT_SCHED = [ POLICY = 5 ]", "DEFAULT_SCHED/POLICY must be 0 to 4"),
        ("DEFAULT_SCHED = [ POLICY = -1 ]", "DEFAULT_SCHED/POLICY must be 0 to 4"),
        ("DEFAULT_SCHED = [ POLICY = packing ]", "DEFAULT_SCHED/POLICY must be 0 to 4"),
        ('DEFAULT_SCHED = [ POLICY = 3, RANK = "FREE_CPU +" ]', "DEFAULT_SCHED/RANK"),
        ('DEFAULT_SCHED = [ POLICY = 3, RANK = "A = 1" ]', "DEFAULT_SCHED/RANK"),
        ("MAX_HOST = [", "syntax error"),
    ],
)
def test_sched_conf_errors_name_the_file_and_the_setting(text, expected):
    with pytest.raises(ConfigError) as exc:
        SchedConfig.parse(text, "/srv/onekit/etc/sched.conf")
    message = str(exc.value)
    assert message.startswith("/srv/onekit/etc/sched.conf: ")
    assert expected in message


def test_sched_conf_bad_rank_says_what_is_wrong():
    with pytest.raises(ConfigError, match="syntax error"):
        SchedConfig.parse('DEFAULT_SCHED = [ POLICY = 3, RANK = "FREE_CPU +" ]', "f")


def test_a_malformed_rank_is_ignored_unless_the_policy_is_custom():
    text = 'DEFAULT_SCHED = [ POLICY = 0, RANK = "FREE_CPU +" ]'
    assert SchedConfig.parse(text, "f").policy == 0


def test_a_superscript_digit_is_a_config_error():
    with pytest.raises(ConfigError, match="MAX_HOST must be a whole number"):
        SchedConfig.parse("MAX_HOST = ²", "sched.conf")


# ---- one cycle, many kinds of VM: what the cycle keeps between VMs never changes a decision
# (a cycle works out the hosts, ranks and verdicts of a kind of VM once; these VMs
# interleave kinds, so each kind must see what the others were given)
MAX_HOST_WAIT_2 = "MAX_HOST (2) VMs dispatched in 30 s to every host that fits it"


def test_interleaved_owners_requirements_and_ranks_see_each_others_placements():
    candidates = [
        host(0, "web-1"),
        host(1, "web-2"),
        host(2, "db-1", tpl={"PRIORITY": "10"}),
        host(3, "db-2", tpl={"PRIORITY": "5"}),
    ]
    rules = [*BOOTSTRAP, AclRule.parse("@1 HOST/#1 MANAGE"), AclRule.parse("@1 HOST/#3 MANAGE")]
    web = {"SCHED_REQUIREMENTS": 'NAME = "web-*"'}
    by_priority = {"SCHED_RANK": "PRIORITY"}
    pending = [
        vm(1, **web),  # web-1 and web-2 tie: the lowest id
        vm(2, uid=5),  # alice may use hosts 1 and 3: both empty
        vm(3, **by_priority),  # db-1
        vm(4, uid=5, **web),  # of alice's hosts, only web-2 is a web host
        vm(5, **web),  # web-2 had its MAX_HOST: web-1
        vm(6),  # open: db-1 (1 VM) and db-2 (none): striping
        vm(7, uid=5),  # alice's open host: db-2
        vm(8, uid=5),  # alice's hosts all had their MAX_HOST
        vm(9, **by_priority),  # db-1 is the only open host
        vm(10),
    ]
    result = run(pending, candidates, SchedConfig(max_host=2), rules=rules)
    assert result.placements == [(1, 0), (2, 1), (3, 2), (4, 1), (5, 0), (6, 3), (7, 3), (9, 2)]
    assert result.messages == {}
    assert result.deferred == {8: MAX_HOST_WAIT_2, 10: MAX_HOST_WAIT_2}


@pytest.mark.parametrize(
    ("policy", "hosts_in_turn"),
    [
        (1, [0, 1, 2, 0, 1, 2]),  # striping spreads the batch
        (0, [0, 0, 1, 1, 2, 2]),  # packing fills a host up to MAX_HOST, then the next
    ],
)
def test_a_batch_is_striped_or_packed(policy, hosts_in_turn):
    pending = [vm(i) for i in range(1, 7)]
    result = run(pending, [host(0), host(1), host(2)], SchedConfig(policy=policy, max_host=2))
    assert result.placements == list(zip(range(1, 7), hosts_in_turn, strict=True))


def test_a_sched_rank_like_the_policys_rank_sees_the_same_placements():
    """Packing, with VMs 2 and 5 striping by their own SCHED_RANK (the text of policy 1)."""
    striping = {"SCHED_RANK": "- RUNNING_VMS"}
    pending = [vm(1), vm(2, **striping), vm(3), vm(4), vm(5, **striping), vm(6)]
    result = run(pending, [host(0), host(1), host(2)], SchedConfig(policy=0, max_host=2))
    assert result.placements == [(1, 0), (2, 1), (3, 0), (4, 1), (5, 2), (6, 2)]


def test_a_rank_on_allocated_capacity_sees_each_placement():
    by_usage = {"SCHED_RANK": "- CPU_USAGE"}
    pending = [vm(1, cpu="4", **by_usage)] + [vm(i, **by_usage) for i in range(2, 7)]
    result = run(pending, [host(0), host(1)], SchedConfig(max_host=10))
    # host 1 takes the 1-CPU VMs until its usage equals host 0's 4 CPUs: a tie, the lowest id
    assert result.placements == [(1, 0), (2, 1), (3, 1), (4, 1), (5, 1), (6, 0)]


def test_hosts_that_fill_up_mid_cycle_leave_later_vms_without_room():
    rules = [*BOOTSTRAP, AclRule.parse("@1 HOST/#2 MANAGE")]
    not_spare = {"SCHED_REQUIREMENTS": 'NAME != "spare"'}
    candidates = [host(0), host(1), host(2, "spare")]
    pending = [
        vm(1, cpu="10", **not_spare),  # host 0 (a tie: the lowest id)
        vm(2, cpu="10", **not_spare),  # host 0 has 6 CPUs left: host 1
        vm(3, cpu="10", **not_spare),  # no room
        vm(4, cpu="10", **not_spare),  # no room either
        vm(5, cpu="10", uid=5),  # alice's only host is the spare one: room there
        vm(6, cpu="4", **not_spare),  # a smaller VM still fits: host 0 (6 CPUs left)
        vm(7, cpu="10", **not_spare),
        vm(8, cpu="4", **not_spare),  # host 0 has 2 left, host 1 has 6
        vm(9, cpu="4", **not_spare),  # 2 and 2 left
        vm(10, cpu="10"),  # the spare host too: 6 left
        vm(11, cpu="2", **not_spare),
    ]
    result = run(pending, candidates, SchedConfig(policy=0, max_host=10), rules=rules)
    assert result.placements == [(1, 0), (2, 1), (5, 2), (6, 0), (8, 1), (11, 0)]
    no_room_10 = "no host with enough free capacity for CPU 10 and MEMORY 128 MiB"
    assert result.messages == {
        3: no_room_10,
        4: no_room_10,
        7: no_room_10,
        9: "no host with enough free capacity for CPU 4 and MEMORY 128 MiB",
        10: no_room_10,
    }


def test_max_host_makes_vms_wait_only_where_a_host_has_room():
    candidates = [host(0), host(1, MAX_CPU=200)]  # host 1 has 2 CPUs
    pending = [
        vm(1),  # host 0
        vm(2),  # host 1
        vm(3),  # both had their MAX_HOST: waits
        vm(4, cpu="4"),  # host 0 has room: waits
        vm(5, cpu="20"),  # no host has room
        vm(6, cpu="16"),  # host 0 has 15 CPUs left, host 1 one: no room
        vm(7),  # waits, as VM 3
    ]
    result = run(pending, candidates, SchedConfig(max_host=1, max_dispatch=10))
    wait = "MAX_HOST (1) VMs dispatched in 30 s to every host that fits it"
    assert result.placements == [(1, 0), (2, 1)]
    assert result.deferred == {3: wait, 4: wait, 7: wait}
    assert result.messages == {
        5: "no host with enough free capacity for CPU 20 and MEMORY 128 MiB",
        6: "no host with enough free capacity for CPU 16 and MEMORY 128 MiB",
    }


def test_a_host_dispatched_to_in_the_interval_is_closed_from_the_start():
    config = SchedConfig(max_host=2, max_dispatch=10)
    pending = [vm(i) for i in range(1, 6)]
    result = plan(pending, [host(0), host(1)], OWNERS, BOOTSTRAP, config, {0: 1})
    # host 0 had 1 of its 2 already: it takes one VM, host 1 two
    assert result.placements == [(1, 0), (2, 1), (3, 1)]
    assert set(result.deferred) == {4, 5}


def test_requirements_see_the_hosts_as_the_cycle_began_and_the_rank_as_it_goes():
    pending = [
        vm(1),
        vm(2, SCHED_REQUIREMENTS="RUNNING_VMS < 1"),  # host 0 ran none when the cycle began
        vm(3, SCHED_REQUIREMENTS="RUNNING_VMS < 1"),
        vm(4, SCHED_REQUIREMENTS="CURRENT_VMS != 1"),  # VM 1 was not on host 0 then
    ]
    result = run(pending, [host(0), host(1)], SchedConfig(policy=0, max_host=5))
    assert result.placements == [(1, 0), (2, 0), (3, 0), (4, 0)]


def test_a_malformed_expression_is_reported_for_each_vm_that_has_it():
    bad_rank = {"SCHED_RANK": "FREE_CPU +"}
    nowhere = {"SCHED_REQUIREMENTS": 'NAME = "nowhere"'}
    pending = [vm(1, **bad_rank), vm(2, **bad_rank), vm(3, **nowhere, **bad_rank), vm(4, **nowhere)]
    result = run([*pending, vm(5)], [host(0)])
    assert result.placements == [(5, 0)]
    assert [vid for vid, why in result.messages.items() if "syntax error" in why] == [1, 2, 3]
    assert result.messages[4] == 'no host meets SCHED_REQUIREMENTS: NAME = "nowhere"'


def test_vms_with_and_without_a_checkpoint_of_one_owner():
    def resumed(vid: int, hid: int) -> dict:
        return {**vm(vid), "CHECKPOINT": {"HID": hid}}

    pending = [vm(1), resumed(2, 1), resumed(3, 7), vm(4), resumed(5, 1)]
    result = run(pending, [host(0), host(1), host(2)], SchedConfig(max_host=2))
    assert result.placements == [(1, 0), (2, 1), (4, 2), (5, 1)]
    assert result.messages == {3: "the checkpoint's host is not available"}

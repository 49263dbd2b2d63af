"""``onevnet hold``/``release``/``update`` and ``oneuser update``, as a user types them:
real subprocesses against an instance (both backends).

They are what the EC2 server's Elastic IPs (held leases, recorded in the network's
template) and keypairs (the user's template) stand on. Every refusal is checked as a user
sees it: exit status 1, one line naming the problem, and the store as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import store_snapshot
from support.cli import assert_refused, created_id, login_as

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import Conflict
from ansible_collections.onekit.cloud.plugins.module_utils.objects import users

FIXED = (
    'NAME = "public"\nBRIDGE = "br1"\nTYPE = "FIXED"\n'
    'LEASES = [ IP = "10.0.0.1" ]\nLEASES = [ IP = "10.0.0.2" ]\nLEASES = [ IP = "10.0.0.3" ]\n'
)
VM = 'NAME = "web"\nCPU = 0.1\nMEMORY = 32\nNIC = [ NETWORK = "public" ]\n'
USER_DATA = "{{ 7*7 }}"


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def network(cli) -> dict:
    return cli.json("onevnet", "show", "public")["VNET"]


def test_a_held_lease_goes_to_no_vm_until_released(cli, instance, tmp_path):
    db = instance.database()
    assert created_id(cli("onevnet", "create", write(tmp_path, "n", FIXED))) == 0
    assert cli("onevnet", "hold", "public", "10.0.0.1", check=True).stdout == ""
    assert network(cli)["LEASES"] == {"10.0.0.1": -1}
    out = cli("onevnet", "show", "public", check=True).stdout
    assert "IP = 10.0.0.1, MAC = 02:00:0a:00:00:01, HELD" in out.splitlines()

    # a VM gets the next free lease, never the held one, even when it asks for it
    assert created_id(cli("onevm", "create", write(tmp_path, "vm", VM))) == 0
    assert network(cli)["LEASES"] == {"10.0.0.1": -1, "10.0.0.2": 0}
    asks = write(tmp_path, "asks", VM.replace('"public" ]', '"public", IP = "10.0.0.1" ]'))
    for args, needles in (
        (("onevm", "create", asks), ("IP 10.0.0.1 of network public is held",)),
        (("onevnet", "release", "public", "10.0.0.2"), ("leased to VM 0",)),
        (("onevnet", "release", "public", "10.0.0.3"), ("IP 10.0.0.3", "is not held")),
        (("onevnet", "hold", "public", "10.0.0.1"), ("is held",)),
        (("onevnet", "hold", "public", "10.0.0.2"), ("is leased to VM 0",)),
        (("onevnet", "hold", "public", "10.9.9.9"), ("IP 10.9.9.9 is not in network public",)),
        (("onevnet", "hold", "public", "$(id)"), ("IP '$(id)' is not an IPv4 address",)),
        (("onevnet", "hold", "nope", "10.0.0.3"), ("nope",)),
    ):
        assert_refused(cli, db, args, *needles)

    # a user without MANAGE on the network can neither hold nor release
    cli("oneuser", "create", "alice", "pw-alice", check=True)
    alice = login_as(tmp_path, "alice", "pw-alice")
    for command in ("hold", "release"):
        args = ("onevnet", command, "public", "10.0.0.1")
        assert_refused(cli, db, args, "not authorized", env=alice)

    # held leases keep the network; once released and the VM gone, it can be deleted
    cli("onevm", "delete", "0", check=True)
    assert network(cli)["LEASES"] == {"10.0.0.1": -1}
    assert_refused(cli, db, ("onevnet", "delete", "public"), "held leases 10.0.0.1")
    cli("onevnet", "release", "public", "10.0.0.1", check=True)
    assert network(cli)["LEASES"] == {}
    cli("onevnet", "delete", "public", check=True)


def test_onevnet_update_changes_the_template_never_the_leases(cli, instance, tmp_path):
    db = instance.database()
    cli("onevnet", "create", write(tmp_path, "n", FIXED), check=True)
    cli("onevnet", "hold", "public", "10.0.0.3", check=True)
    extra = write(tmp_path, "gw", f'GATEWAY = "10.0.0.254"\nNOTE = "{USER_DATA} $(id)"\n')
    cli("onevnet", "update", "public", extra, "--append", check=True)
    shown = network(cli)
    assert shown["TEMPLATE"]["GATEWAY"] == "10.0.0.254"
    assert shown["TEMPLATE"]["NOTE"] == "{{ 7*7 }} $(id)"
    assert shown["TEMPLATE"]["LEASES"][0] == {"IP": "10.0.0.1"}
    out = cli("onevnet", "show", "public", check=True).stdout
    assert 'NOTE = "{{ 7*7 }} $(id)"' in out.splitlines()

    # replacing: what it leaves out is gone, but the leases and bridge stay as they were
    cli("onevnet", "update", "public", write(tmp_path, "dns", 'DNS = "10.0.0.53"\n'), check=True)
    shown = network(cli)
    assert "GATEWAY" not in shown["TEMPLATE"] and shown["TEMPLATE"]["DNS"] == "10.0.0.53"
    assert (shown["BRIDGE"], shown["ADDRESSES"]) == ("br1", ["10.0.0.1", "10.0.0.2", "10.0.0.3"])
    assert shown["LEASES"] == {"10.0.0.3": -1}
    assert shown["TEMPLATE"]["TYPE"] == "FIXED" and len(shown["TEMPLATE"]["LEASES"]) == 3
    # saying the same about them is fine; changing them is refused
    cli("onevnet", "update", "public", write(tmp_path, "same", FIXED), check=True)
    bridge = write(tmp_path, "br", 'BRIDGE = "br9"\n')
    leases = write(tmp_path, "l", 'LEASES = [ IP = "10.0.0.9" ]\n')
    ranged = write(tmp_path, "r", 'TYPE = "RANGED"\nIP_START = "10.0.0.1"\nIP_END = "10.0.0.4"\n')
    broken = write(tmp_path, "b", "A = [ B = ")
    cli("oneuser", "create", "alice", "pw-alice", check=True)
    alice = login_as(tmp_path, "alice", "pw-alice")
    for args, needles, env in (
        (("onevnet", "update", "public", bridge), ("cannot change BRIDGE",), None),
        (("onevnet", "update", "public", leases, "-a"), ("cannot change LEASES",), None),
        (
            ("onevnet", "update", "public", ranged),
            ("TYPE, IP_START, IP_END of network public",),
            None,
        ),
        (("onevnet", "update", "public", broken), ("line 1",), None),
        (("onevnet", "update", "public", extra), ("not authorized",), alice),
    ):
        assert_refused(cli, db, args, *needles, env=env)


def test_a_user_updates_its_own_template(cli, instance, tmp_path):
    db = instance.database()
    for name in ("alice", "bob"):
        cli("oneuser", "create", name, f"pw-{name}", check=True)
    alice = login_as(tmp_path, "alice", "pw-alice")
    mine = write(tmp_path, "mine", f'SSH_KEY = "{USER_DATA}"\nSHELL = "$(id)"\n')
    # no user named: yourself
    assert cli("oneuser", "update", mine, env=alice, check=True).stdout == ""
    shown = cli.json("oneuser", "show", "alice")["USER"]
    assert shown["TEMPLATE"] == {"SSH_KEY": "{{ 7*7 }}", "SHELL": "$(id)"}
    assert "PASSWORD" not in shown
    out = cli("oneuser", "show", env=alice, check=True).stdout
    assert 'SSH_KEY = "{{ 7*7 }}"' in out.split("USER TEMPLATE\n")[1].splitlines()

    more = write(tmp_path, "more", 'LANG = "en"\n')
    cli("oneuser", "update", "alice", more, "--append", env=alice, check=True)
    assert list(cli.json("oneuser", "show", "alice")["USER"]["TEMPLATE"]) == [
        "SSH_KEY",
        "SHELL",
        "LANG",
    ]
    # an admin updates anyone's; a user no one else's, and never an admin's
    cli("oneuser", "update", "bob", more, check=True)
    assert cli.json("oneuser", "show", "bob")["USER"]["TEMPLATE"] == {"LANG": "en"}
    for args, needles in (
        (("oneuser", "update", "bob", mine), ("not authorized",)),
        (("oneuser", "update", "oneadmin", mine), ("not authorized",)),
        (("oneuser", "update", write(tmp_path, "bad", "A = [ B = ")), ("line 1",)),
        (("oneuser", "update", "nobody", mine), ("nobody",)),
    ):
        assert_refused(cli, db, args, *needles, env=alice)

    # replace
    cli("oneuser", "update", "alice", more, env=alice, check=True)
    assert cli.json("oneuser", "show", "alice")["USER"]["TEMPLATE"] == {"LANG": "en"}


def test_an_update_expecting_a_value_no_longer_there_changes_nothing(admin, instance):
    """The read-modify-write the EC2 server's keypairs make: a concurrent change wins,
    the late writer is told to try again."""
    users.create(admin, "alice", "pw-alice")
    users.update(admin, "alice", {"EC2_KEYPAIRS": "e30="}, append=True, expected={"X": None})
    before = store_snapshot(admin.db)
    with pytest.raises(Conflict, match="attribute EC2_KEYPAIRS of user alice changed"):
        users.update(admin, "alice", {"EC2_KEYPAIRS": "x"}, expected={"EC2_KEYPAIRS": None})
    assert store_snapshot(admin.db) == before
    users.update(admin, "alice", {"EC2_KEYPAIRS": "x"}, expected={"EC2_KEYPAIRS": "e30="})
    assert users.show(admin, "alice")["TEMPLATE"] == {"EC2_KEYPAIRS": "x"}


def test_through_another_front_ends_core_api(server, cli, tmp_path):
    """The CLIs of another front-end (ONE_XMLRPC) reach the same operations; a user's
    template is a shared table's, so a federation slave sends its update to the master."""
    assert users.update.federated
    endpoint = server.config().endpoint.replace("127.0.0.1", "localhost")  # not "here"
    remote = {"ONE_XMLRPC": endpoint}
    cli("oneuser", "create", "alice", "pw-alice", check=True)
    alice = {**remote, **login_as(tmp_path, "alice", "pw-alice")}
    cli("oneuser", "update", write(tmp_path, "t", f'NOTE = "{USER_DATA}"\n'), env=alice, check=True)
    assert cli.json("oneuser", "show", "alice")["USER"]["TEMPLATE"] == {"NOTE": "{{ 7*7 }}"}

    cli("onevnet", "create", write(tmp_path, "n", FIXED), env=remote, check=True)
    cli("onevnet", "hold", "public", "10.0.0.2", env=remote, check=True)
    cli(
        "onevnet",
        "update",
        "public",
        write(tmp_path, "g", 'GW = "1"\n'),
        "-a",
        env=remote,
        check=True,
    )
    shown = network(cli)
    assert (shown["LEASES"], shown["TEMPLATE"]["GW"]) == ({"10.0.0.2": -1}, "1")
    cli("onevnet", "release", "public", "10.0.0.2", env=remote, check=True)
    assert network(cli)["LEASES"] == {}

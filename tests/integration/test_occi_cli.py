"""The occi-* commands (guide 7.4) as a user runs them: help, credentials, errors, and the
guide's walk-through against a running OCCI server.

Each runs as a real subprocess (``support.occi_cli``). The tests that need no server
(help, usage, a missing file or credential, a refused connection) use a closed port; the
others the module's running ``onekit-server`` with ``etc/occi-server.conf``
(``support.occi``).
"""

from __future__ import annotations

import socket
import subprocess
import tomllib
import xml.etree.ElementTree as ET

import pytest
from conftest import REPO
from support.cli import peak_memory_run, usage_error
from support.cloud import wait
from support.econe_cli import ok, refused
from support.occi import OcciServer
from support.occi_cli import occi as occi_run
from support.occi_cli import occi_env

from onekit.cli.occi import COMMANDS

GUIDE = {
    "occi-storage": {"list", "create", "update", "show", "delete"},
    "occi-network": {"list", "create", "update", "show", "delete"},
    "occi-compute": {"list", "create", "update", "show", "delete", "attachdisk", "detachdisk"},
    "occi-instance-type": {"list", "show"},
}


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def xml_of(result: subprocess.CompletedProcess) -> ET.Element:
    """The XML document a command that must succeed printed."""
    return ET.fromstring(ok(result))


# ---- no server needed ---------------------------------------------------------------------
def test_every_command_is_a_console_script():
    """pyproject.toml installs each command under its name, calling the same object
    ``python -m onekit.cli.occi`` runs."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    occi_scripts = {name: target for name, target in scripts.items() if name.startswith("occi-")}
    occi_scripts.pop("occi-server", None)  # the server, not a client command
    assert set(occi_scripts) == set(COMMANDS) == set(GUIDE)
    for name, target in occi_scripts.items():
        module, _, attr = target.partition(":")
        assert getattr(__import__(module, fromlist=[attr]), attr) is COMMANDS[name], name


@pytest.mark.parametrize("name", sorted(GUIDE))
def test_help(name, tmp_path):
    """-h needs no server, no credentials and no instance; it names the guide's
    sub-commands, options and environment."""
    out = ok(occi_run(name, "-h", env=occi_env(tmp_path)))
    assert out.startswith(f"usage: {name} "), out
    for word in (*GUIDE[name], "--url URL", "--username USER", "--password PASSWORD"):
        assert word in out, word
    for word in ("-T SECONDS, --timeout SECONDS", "OCCI_URL", "ONE_AUTH", "http://localhost:4567"):
        assert word in out, word
    sub = ok(occi_run(name, "list", "-h", env=occi_env(tmp_path)))
    assert sub.startswith(f"usage: {name} list [-h] [--verbose]"), sub
    assert list(tmp_path.iterdir()) == []


def test_usage_errors_exit_2(tmp_path):
    env = occi_env(tmp_path)
    for args, message in (
        (("occi-storage",), "the following arguments are required: <command>"),
        (("occi-storage", "show"), "the following arguments are required: resource"),
        (("occi-compute", "attachdisk", "1"), "the following arguments are required: storage"),
        (("occi-instance-type", "create", "x.xml"), "invalid choice: 'create'"),
        (("occi-network", "list", "-T", "0"), "the timeout is seconds from 0 to 86400"),
    ):
        usage_error(occi_run(*args, env=env), args[0], message)


def test_a_server_not_running_is_named_with_the_fix(tmp_path):
    """A refused connection names the URL (from --url, else OCCI_URL) and what to check."""
    url = f"http://127.0.0.1:{closed_port()}"
    auth = ("--username", "helen", "--password", "pw")
    for args in (
        ("occi-compute", "list", *auth),
        ("occi-storage", "show", "3", *auth),
        ("occi-instance-type", "list", *auth),
    ):
        refused(
            occi_run(*args, env=occi_env(tmp_path, OCCI_URL=url)),
            f"{args[0]} {args[1]}",
            f"cannot connect to {url} (connection refused): is occi-server running there?",
            "OCCI_URL",
        )
    # --url wins over OCCI_URL, and may come before the sub-command (the guide's order)
    result = occi_run(
        "occi-network", "--url", url, *auth, "list", env=occi_env(tmp_path, OCCI_URL="http://h")
    )
    refused(result, "occi-network list", f"cannot connect to {url}")


def test_credentials_are_named_when_missing_or_malformed(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}"
    missing = tmp_path / "missing"
    env = occi_env(tmp_path / "no-instance", OCCI_URL=url, ONE_AUTH=str(missing))
    refused(
        occi_run("occi-compute", "list", env=env),
        "occi-compute list",
        f"cannot read {missing}",
        "ONE_AUTH",
        "--username and --password",
    )
    bad = tmp_path / "one_auth"
    bad.write_text("just-a-name\n")
    refused(
        occi_run("occi-compute", "list", env={**env, "ONE_AUTH": str(bad)}),
        "occi-compute list",
        f"{bad} must hold one line user:password",
    )
    for args, needle in (
        (("--username", "helen"), "--username is given but not --password"),
        (("--password", "pw"), "--password is given but not --username"),
    ):
        refused(occi_run("occi-storage", "list", *args, env=env), "occi-storage list", needle)


def test_bad_files_are_named_before_any_request(tmp_path):
    """A missing or malformed XML file, or a storage <URL> naming no readable local file,
    is refused naming it, before any connection (the port is closed)."""
    url = f"http://127.0.0.1:{closed_port()}"
    env = occi_env(tmp_path, OCCI_URL=url)
    auth = ("--username", "helen", "--password", "pw")
    broken = tmp_path / "broken.xml"
    broken.write_text("<COMPUTE><ID>1</ID>")
    no_id = tmp_path / "no-id.xml"
    no_id.write_text("<NETWORK><PUBLIC>YES</PUBLIC></NETWORK>")
    absent = tmp_path / "absent.img"
    remote = tmp_path / "remote.xml"
    remote.write_text("<STORAGE><NAME>x</NAME><URL>http://example.com/x.img</URL></STORAGE>")
    dangling = tmp_path / "dangling.xml"
    dangling.write_text(f"<STORAGE><NAME>x</NAME><URL>file://{absent}</URL></STORAGE>")
    for args, needle in (
        (("occi-compute", "create", str(tmp_path / "nope.xml")), "cannot read OCCI XML file"),
        (("occi-compute", "update", str(broken)), f"OCCI XML file {broken} is not well-formed"),
        (("occi-network", "update", str(no_id)), "names no resource: give its <ID>"),
        (("occi-storage", "create", str(remote)), "is not a local file"),
        (("occi-storage", "create", str(dangling)), "cannot read storage file (the <URL> of"),
        (("occi-storage", "create", str(dangling)), f"{absent}: No such file or directory"),
    ):
        refused(occi_run(*args, *auth, env=env), f"{args[0]} {args[1]}", needle)
    refused(
        occi_run("occi-storage", "list", *auth, env={**env, "OCCI_URL": "ftp://h"}),
        "occi-storage list",
        "OCCI_URL (or --url) must be an http or https URL",
    )


# ---- against the server -------------------------------------------------------------------
@pytest.fixture(scope="module")
def occi():
    server = OcciServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def as_admin(occi, tmp_path_factory):
    """The guide's environment: OCCI_URL and ONE_AUTH (oneadmin's user:password)."""
    return occi.env(OCCI_URL=occi.url, ONE_AUTH=str(occi.instance.auth_path))


def storage_xml(tmp_path, name: str, body: str) -> str:
    path = tmp_path / f"{name.replace(' ', '_')}.xml"
    path.write_text(f"<STORAGE>\n  <NAME>{name}</NAME>\n{body}</STORAGE>\n")
    return str(path)


def written(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_the_guides_walk_through(occi, as_admin, tmp_path):
    """7.4.3-7.4.4: upload an image, make a network and a compute of both, list and show
    them, hot-plug a volume, save a disk, change the state, publish, delete."""
    env = as_admin
    image = tmp_path / "ubuntu.img"
    image.write_bytes(b"\x01\x02" * 300_000)
    os_xml = storage_xml(
        tmp_path,
        "Ubuntu-Desktop",
        "  <DESCRIPTION>Ubuntu 10.04 desktop for students.</DESCRIPTION>\n"
        f"  <TYPE>OS</TYPE>\n  <URL>file://{image}</URL>\n",
    )
    made = xml_of(occi_run("occi-storage", "create", os_xml, env=env))
    assert made.tag == "STORAGE" and made.findtext("NAME") == "Ubuntu-Desktop"
    assert made.findtext("STATE") == "READY" and made.findtext("TYPE") == "OS"
    storage_id = made.findtext("ID")
    assert made.get("href") == f"{occi.url}/storage/{storage_id}"

    volume_xml = storage_xml(
        tmp_path,
        "Volume1",
        "  <TYPE>DATABLOCK</TYPE>\n  <DESCRIPTION>Volume to be hotplugged</DESCRIPTION>\n"
        "  <PUBLIC>NO</PUBLIC>\n  <PERSISTENT>NO</PERSISTENT>\n  <FSTYPE>ext3</FSTYPE>\n"
        "  <SIZE>10</SIZE>\n",
    )
    volume = xml_of(occi_run("occi-storage", "create", volume_xml, env=env))
    assert (volume.findtext("TYPE"), volume.findtext("SIZE")) == ("DATABLOCK", "10")
    volume_id = volume.findtext("ID")

    listed = xml_of(occi_run("occi-storage", "list", env=env))
    assert listed.tag == "STORAGE_COLLECTION"
    names = {s.get("href"): s.get("name") for s in listed}
    assert names[f"{occi.url}/storage/{storage_id}"] == "Ubuntu-Desktop"
    assert names[f"{occi.url}/storage/{volume_id}"] == "Volume1"
    verbose = xml_of(occi_run("occi-storage", "list", "--verbose", env=env))
    assert {s.findtext("NAME") for s in verbose} >= {"Ubuntu-Desktop", "Volume1"}

    network_xml = written(
        tmp_path,
        "network.xml",
        "<NETWORK>\n  <NAME>MyServiceNetwork</NAME>\n  <ADDRESS>192.168.1.1</ADDRESS>\n"
        "  <SIZE>200</SIZE>\n  <PUBLIC>NO</PUBLIC>\n</NETWORK>\n",
    )
    network = xml_of(occi_run("occi-network", "create", network_xml, env=env))
    assert network.findtext("NAME") == "MyServiceNetwork"
    network_id = network.findtext("ID")
    assert network_id in {
        n.get("href").rsplit("/", 1)[1] for n in xml_of(occi_run("occi-network", "list", env=env))
    }

    compute_xml = written(
        tmp_path,
        "compute.xml",
        f"""<COMPUTE>
  <NAME>MyCompute</NAME>
  <INSTANCE_TYPE href="{occi.url}/instance_type/small"/>
  <DISK>
    <STORAGE href="{occi.url}/storage/{storage_id}"/>
  </DISK>
  <NIC>
    <NETWORK href="{occi.url}/network/{network_id}"/>
  </NIC>
  <CONTEXT>
    <HOSTNAME>MAINHOST</HOSTNAME>
    <DATA>DATA1</DATA>
  </CONTEXT>
</COMPUTE>
""",
    )
    compute = xml_of(occi_run("occi-compute", "create", compute_xml, env=env))
    compute_id = compute.findtext("ID")
    assert compute.findtext("NAME") == "MyCompute"
    assert compute.find("DISK/STORAGE").get("href") == f"{occi.url}/storage/{storage_id}"
    assert compute.find("NIC/NETWORK").get("href") == f"{occi.url}/network/{network_id}"

    def shown() -> ET.Element:
        return xml_of(occi_run("occi-compute", "show", compute_id, env=env))

    wait(lambda: shown().findtext("STATE") == "ACTIVE", "the compute ACTIVE")
    listed = xml_of(occi_run("occi-compute", "list", env=env))
    assert f"{occi.url}/compute/{compute_id}" in {c.get("href") for c in listed}
    verbose = xml_of(occi_run("occi-compute", "list", "--verbose", env=env))
    assert [c.findtext("NAME") for c in verbose if c.findtext("ID") == compute_id] == ["MyCompute"]

    # hot-plug the volume, then unplug it (by the storage's id, as the guide writes it)
    ok(occi_run("occi-compute", "attachdisk", compute_id, volume_id, env=env))

    def volume_disks() -> list[ET.Element]:
        return [
            d
            for d in shown().findall("DISK")
            if d.find("STORAGE").get("href") == f"{occi.url}/storage/{volume_id}"
        ]

    wait(lambda: len(volume_disks()) == 1 and shown().findtext("STATE") == "ACTIVE", "hotplug")
    ok(occi_run("occi-compute", "detachdisk", compute_id, volume_id, env=env))
    wait(lambda: not volume_disks() and shown().findtext("STATE") == "ACTIVE", "unplug")
    refused(
        occi_run("occi-compute", "detachdisk", compute_id, volume_id, env=env),
        "occi-compute detachdisk",
        f"compute {compute_id} has no disk of storage {volume_id} (its disks: 0: storage "
        f"{storage_id}",
    )

    def set_state(state: str) -> ET.Element:
        path = written(
            tmp_path,
            f"{state.lower()}.xml",
            f"<COMPUTE href='{occi.url}/compute/{compute_id}'>\n  <ID>{compute_id}</ID>\n"
            f"  <STATE>{state}</STATE>\n</COMPUTE>\n",
        )
        answer = xml_of(occi_run("occi-compute", "update", path, env=env))
        assert answer.findtext("ID") == compute_id
        return answer

    # save the disk as a new storage (7.4.4); onekit's server saves a disk of a compute
    # that is off (POWEROFF), where 4.6 saved it at the next shutdown: power off first
    set_state("POWEROFF")
    wait(lambda: shown().findtext("STATE") == "POWEROFF", "the compute POWEROFF")
    save_xml = written(
        tmp_path,
        "save.xml",
        f"""<COMPUTE href='{occi.url}/compute/{compute_id}'>
  <ID>{compute_id}</ID>
  <DISK id="0">
    <STORAGE href="{occi.url}/storage/{storage_id}" name="Ubuntu-Desktop"/>
    <SAVE_AS name="save_as1"/>
  </DISK>
</COMPUTE>
""",
    )
    saved = xml_of(occi_run("occi-compute", "update", save_xml, env=env))
    assert saved.findtext("ID") == compute_id
    wait(
        lambda: (
            "save_as1" in {s.get("name") for s in xml_of(occi_run("occi-storage", "list", env=env))}
        ),
        "the saved storage",
    )

    # change the state: the update goes to the <ID> the file names
    set_state("RESUME")
    wait(lambda: shown().findtext("STATE") == "ACTIVE", "the compute ACTIVE again")
    set_state("STOPPED")
    wait(lambda: shown().findtext("STATE") == "STOPPED", "the compute STOPPED")

    # storage: one change a request (persistent, then public); network: public
    persistent = written(
        tmp_path,
        "persistent.xml",
        f"<STORAGE href='{occi.url}/storage/{volume_id}'>\n  <ID>{volume_id}</ID>\n"
        "  <PERSISTENT>YES</PERSISTENT>\n</STORAGE>\n",
    )
    assert xml_of(occi_run("occi-storage", "update", persistent, env=env)).findtext(
        "PERSISTENT"
    ) == ("YES")
    public = written(
        tmp_path,
        "public.xml",
        f"<STORAGE>\n  <ID>{volume_id}</ID>\n  <PUBLIC>YES</PUBLIC>\n</STORAGE>\n",
    )
    assert xml_of(occi_run("occi-storage", "update", public, env=env)).findtext("PUBLIC") == "YES"
    shown_volume = xml_of(occi_run("occi-storage", "show", volume_id, env=env))
    assert (shown_volume.findtext("PUBLIC"), shown_volume.findtext("PERSISTENT")) == ("YES", "YES")
    # the href alone names the resource too
    vnet_public = written(
        tmp_path,
        "vnet-public.xml",
        f"<NETWORK href='{occi.url}/network/{network_id}'>\n  <PUBLIC>YES</PUBLIC>\n</NETWORK>\n",
    )
    assert xml_of(occi_run("occi-network", "update", vnet_public, env=env)).findtext("PUBLIC") == (
        "YES"
    )
    assert xml_of(occi_run("occi-network", "show", network_id, env=env)).findtext("PUBLIC") == (
        "YES"
    )

    # delete: nothing printed, exit 0; the resource is gone
    assert ok(occi_run("occi-compute", "delete", compute_id, env=env)) == ""
    wait(
        lambda: (
            occi_run("occi-compute", "show", compute_id, env=env).returncode != 0
            or shown().findtext("STATE") == "DONE"
        ),
        "the compute gone",
    )
    assert ok(occi_run("occi-storage", "delete", volume_id, env=env)) == ""
    refused(
        occi_run("occi-storage", "show", volume_id, env=env), "occi-storage show", "404 Not Found"
    )
    assert ok(occi_run("occi-network", "delete", network_id, env=env)) == ""


def test_instance_types(occi, as_admin):
    env = as_admin
    listed = xml_of(occi_run("occi-instance-type", "list", env=env))
    assert listed.tag == "INSTANCE_TYPE_COLLECTION"
    assert {t.get("name") for t in listed} >= {"small", "medium", "large"}
    assert all(t.find("CPU") is None for t in listed)
    verbose = xml_of(occi_run("occi-instance-type", "list", "--verbose", env=env))
    assert {t.findtext("NAME"): t.findtext("MEMORY") for t in verbose}["medium"] == "4096"
    small = xml_of(occi_run("occi-instance-type", "show", "small", env=env))
    assert (small.findtext("CPU"), small.findtext("MEMORY")) == ("1", "1024")
    refused(
        occi_run("occi-instance-type", "show", "huge", env=env),
        "occi-instance-type show",
        "404 Not Found",
    )


def test_answers_print_indented(occi, as_admin):
    """The server sends one line; the command prints one element a line, two spaces a
    level, as 4.6's client did."""
    out = ok(occi_run("occi-instance-type", "show", "small", env=as_admin))
    lines = out.splitlines()
    assert lines[0].startswith("<INSTANCE_TYPE ") and lines[-1] == "</INSTANCE_TYPE>"
    assert "  <NAME>small</NAME>" in lines


def test_credentials_from_options_and_from_one_auth(occi, tmp_path):
    """--username/--password, else ONE_AUTH; the options win; a wrong password is the
    server's 401, said once, with where the credentials came from."""
    user = occi.user("occi-helen")
    password = occi.password(user)
    auth = tmp_path / "one_auth"
    auth.write_text(f"{user}:{password}\n")
    from_file = occi.env(OCCI_URL=occi.url, ONE_AUTH=str(auth))
    ok(occi_run("occi-storage", "list", env=from_file))
    no_file = occi.env(OCCI_URL=occi.url, ONE_AUTH=str(tmp_path / "missing"))
    ok(occi_run("occi-storage", "list", "--username", user, "--password", password, env=no_file))

    wrong = refused(
        occi_run("occi-storage", "list", "--username", user, "--password", "wrong", env=from_file),
        "occi-storage list",
        "401",
        f"user '{user}' and its password were refused",
    )
    assert "Traceback" not in wrong
    auth.write_text(f"{user}:wrong\n")
    refused(occi_run("occi-compute", "list", env=from_file), "occi-compute list", "401", "ONE_AUTH")


def test_occi_url_is_used_without_url(occi, as_admin, tmp_path):
    """OCCI_URL names the server; without it and --url the default is localhost:4567 (a
    port this test's server does not use)."""
    ok(occi_run("occi-instance-type", "list", env=as_admin))
    env = {k: v for k, v in as_admin.items() if k != "OCCI_URL"}
    ok(occi_run("occi-instance-type", "list", "--url", occi.url, env=env))
    if occi.port != 4567:
        result = occi_run("occi-instance-type", "list", "-T", "5", env=env)
        assert result.returncode == 1 and "http://localhost:4567" in result.stderr


def test_unknown_ids_are_the_servers_404(occi, as_admin):
    for args in (
        ("occi-storage", "show", "999999"),
        ("occi-network", "delete", "999999"),
        ("occi-compute", "show", "999999"),
        ("occi-compute", "detachdisk", "999999", "0"),
    ):
        refused(occi_run(*args, env=as_admin), f"{args[0]} {args[1]}", "404 Not Found")
    refused(
        occi_run("occi-compute", "attachdisk", "999999", "999998", env=as_admin),
        "occi-compute attachdisk",
        "400 Bad Request: ACTION/PARAMS/STORAGE names image 999998",
    )
    # an id is one path segment: it cannot climb to another route
    refused(
        occi_run("occi-storage", "show", "../compute", env=as_admin),
        "occi-storage show",
        "404",
    )


def test_user_text_comes_back_literally(occi, as_admin, tmp_path):
    """``{{ 7*7 }}`` and markup in a NAME are data: sent escaped, printed as sent."""
    name = "{{7*7}}<b>&amp;</b>"  # no spaces: onekit's names take none (4.6's did)
    volume_xml = written(
        tmp_path,
        "literal.xml",
        "<STORAGE>\n  <NAME>{{7*7}}&lt;b&gt;&amp;amp;&lt;/b&gt;</NAME>\n"
        "  <TYPE>DATABLOCK</TYPE>\n  <SIZE>1</SIZE>\n</STORAGE>\n",
    )
    made = xml_of(occi_run("occi-storage", "create", volume_xml, env=as_admin))
    assert made.findtext("NAME") == name
    volume_id = made.findtext("ID")
    out = ok(occi_run("occi-storage", "show", volume_id, env=as_admin))
    assert "<NAME>{{7*7}}&lt;b&gt;&amp;amp;&lt;/b&gt;</NAME>" in out and "49" not in out
    listed = xml_of(occi_run("occi-storage", "list", env=as_admin))
    assert name in {n.get("name") for n in listed}
    ok(occi_run("occi-storage", "delete", volume_id, env=as_admin))
    # a network's name takes no spaces (the core's rule), the braces stay braces
    network_xml = written(
        tmp_path,
        "literal-net.xml",
        "<NETWORK><NAME>{{7*7}}</NAME><ADDRESS>10.9.0.1</ADDRESS><SIZE>10</SIZE></NETWORK>",
    )
    network = xml_of(occi_run("occi-network", "create", network_xml, env=as_admin))
    assert network.findtext("NAME") == "{{7*7}}"
    ok(occi_run("occi-network", "delete", network.findtext("ID"), env=as_admin))


def test_storage_errors_are_the_servers(occi, as_admin, tmp_path):
    """The server's refusals print as one line with their status: two changes in one
    storage update, a bad STORAGE document."""
    volume = xml_of(
        occi_run(
            "occi-storage",
            "create",
            storage_xml(tmp_path, "two-changes", "  <TYPE>DATABLOCK</TYPE>\n  <SIZE>1</SIZE>\n"),
            env=as_admin,
        )
    )
    both = written(
        tmp_path,
        "both.xml",
        f"<STORAGE><ID>{volume.findtext('ID')}</ID><PUBLIC>YES</PUBLIC>"
        "<PERSISTENT>YES</PERSISTENT></STORAGE>",
    )
    refused(occi_run("occi-storage", "update", both, env=as_admin), "occi-storage update", "400")
    wrong_root = written(tmp_path, "wrong-root.xml", "<COMPUTE><NAME>x</NAME></COMPUTE>")
    refused(
        occi_run("occi-storage", "create", wrong_root, env=as_admin),
        "occi-storage create",
        "400",
    )
    ok(occi_run("occi-storage", "delete", volume.findtext("ID"), env=as_admin))


def test_a_large_upload_is_streamed(occi, as_admin, tmp_path):
    """A 128 MiB image goes up without the command holding it: its peak memory stays far
    below the file's size."""
    image = tmp_path / "large.img"
    size = 128 * 1024 * 1024
    with open(image, "wb") as handle:  # sparse: no disk for the source itself
        handle.truncate(size)
    document = storage_xml(tmp_path, "large", f"  <TYPE>OS</TYPE>\n  <URL>{image}</URL>\n")
    status, peak_kib, out = peak_memory_run(
        "onekit.cli.occi", "occi-storage", "create", document, env=as_admin
    )
    assert status == 0, out
    made = ET.fromstring(out)
    assert made.findtext("NAME") == "large"
    assert peak_kib * 1024 < size / 2, f"peak memory {peak_kib} KiB for a {size} byte upload"
    ok(occi_run("occi-storage", "delete", made.findtext("ID"), env=as_admin))


# ---- over TLS: a real nginx in front of the server ----------------------------------------
def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _issue(root, name: str, subject: str, *extra: str) -> None:
    """``<name>.pem``/``<name>.key`` signed by the test's CA (``ca.pem``)."""
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(root / f"{name}.key"), "-out", str(root / f"{name}.csr"), "-subj", subject,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(root / f"{name}.csr"), "-CA", str(root / "ca.pem"),
        "-CAkey", str(root / "ca.key"), "-CAcreateserial", "-out", str(root / f"{name}.pem"),
        "-days", "2", *extra,
    )  # fmt: skip


NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  client_max_body_size 0;
  ssl_certificate {dir}/server.pem;
  ssl_certificate_key {dir}/server.key;
  ssl_client_certificate {dir}/ca.pem;
  server {{
    listen 127.0.0.1:{open_port} ssl;
    location / {{ proxy_pass {upstream}; }}
  }}
  server {{
    listen 127.0.0.1:{cert_port} ssl;
    ssl_verify_client on;
    location / {{ proxy_pass {upstream}; }}
  }}
}}
"""


@pytest.fixture(scope="module")
def tls(occi, tmp_path_factory):
    """nginx terminating TLS for the server on two ports: one any client may use, one
    that asks for a client certificate signed by the test's CA."""
    root = tmp_path_factory.mktemp("tls")
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(root / "ca.key"), "-out", str(root / "ca.pem"), "-subj", "/CN=occi CA",
        "-days", "2",
    )  # fmt: skip
    (root / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _issue(root, "server", "/CN=localhost", "-extfile", str(root / "san.ext"))
    _issue(root, "client", "/CN=occi-client")
    open_port, cert_port = closed_port(), closed_port()
    (root / "nginx.conf").write_text(
        NGINX_CONF.format(dir=root, open_port=open_port, cert_port=cert_port, upstream=occi.url)
    )
    nginx = subprocess.Popen(
        ["nginx", "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def listening() -> bool:
            assert nginx.poll() is None, (root / "error.log").read_text()
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", cert_port)) == 0

        wait(listening, "nginx listening", timeout=30)
        yield {
            "open": f"https://127.0.0.1:{open_port}",
            "cert": f"https://localhost:{cert_port}",
            "dir": root,
        }
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)


def test_https_with_a_ca_file_and_a_client_certificate(tls, as_admin, tmp_path):
    """An https:// URL is verified (the system's CAs, or --cacert's); --cert/--key
    present a client certificate to a proxy that asks for one."""
    env = {k: v for k, v in as_admin.items() if k != "OCCI_URL"}
    ca, cert, key = (str(tls["dir"] / name) for name in ("ca.pem", "client.pem", "client.key"))
    listed = xml_of(
        occi_run("occi-instance-type", "list", "--url", tls["open"], "--cacert", ca, env=env)
    )
    assert {t.get("name") for t in listed} >= {"small", "medium", "large"}
    refused(
        occi_run("occi-instance-type", "list", "--url", tls["open"], env=env),
        "occi-instance-type list",
        f"TLS with {tls['open']} failed: certificate verify failed",
    )
    # the proxy that wants a certificate: refused without one (nginx's 400), served with it
    refused(
        occi_run("occi-storage", "list", "--url", tls["cert"], "--cacert", ca, env=env),
        "occi-storage list",
        "400 Bad Request",
        "No required SSL certificate was sent",
    )
    made = xml_of(
        occi_run(
            "occi-storage",
            "create",
            storage_xml(tmp_path, "over-tls", "  <TYPE>DATABLOCK</TYPE>\n  <SIZE>1</SIZE>\n"),
            *("--url", tls["cert"], "--cacert", ca, "--cert", cert, "--key", key),
            env=env,
        )
    )
    assert made.findtext("NAME") == "over-tls"
    tls_args = ("--url", tls["cert"], "--cacert", ca, "--cert", cert, "--key", key)
    ok(occi_run("occi-storage", "delete", made.findtext("ID"), *tls_args, env=env))
    for args, needle in (
        (("--cacert", str(tmp_path / "none.pem")), "cannot use --cacert"),
        (("--cacert", ca, "--cert", str(tmp_path / "none.pem")), "cannot use --cert"),
        (("--cacert", ca, "--key", key), "--key is given but not --cert"),
    ):
        refused(
            occi_run("occi-storage", "list", "--url", tls["cert"], *args, env=env),
            "occi-storage list",
            needle,
        )
    refused(
        occi_run("occi-storage", "list", "--url", "http://127.0.0.1:1", "--cacert", ca, env=env),
        "occi-storage list",
        "--cacert and --cert are for an https:// URL",
    )

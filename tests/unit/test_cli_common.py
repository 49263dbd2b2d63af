"""The standard pool commands of ``onekit.cli.common``, on a pool of plain dicts: what
they parse, call and print, without an instance (the integration tests run the real CLIs)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    InvalidInput,
    NotFound,
)
from onekit.cli.common import (
    Cli,
    Column,
    Context,
    Ownership,
    Pool,
    TableLayout,
    arg,
    pool_json_lines,
    pool_page_size,
    table,
)


class Store:
    """A conn: the objects, and the calls made on them."""

    def __init__(self) -> None:
        self.objects = {1: {"ID": 1, "NAME": "a", "SIZE": 5}, 2: {"ID": 2, "NAME": "bb", "SIZE": 7}}
        self.calls: list[tuple[Any, ...]] = []

    def get(self, ref: str) -> dict:
        for body in self.objects.values():
            if ref in (str(body["ID"]), body["NAME"]):
                return body
        raise NotFound(f"no thing {ref!r}")

    def record(self, name: str) -> Any:
        def call(_conn: Store, *args: Any, **kwargs: Any) -> None:
            if args and args[0] != "*":
                self.get(args[0])
            self.calls.append((name, *args, *sorted(kwargs.items())))

        return call


def build(store: Store) -> Cli:
    pool = Pool(
        noun="thing",
        key="THING",
        connect=lambda ctx: store,
        create=lambda conn, args: 3,
        list=lambda conn, big=False: [b for b in conn.objects.values() if b["SIZE"] > 6 or not big],
        show=lambda conn, ref: conn.get(ref),
        update=store.record("update"),
        rename=store.record("rename"),
        delete=store.record("delete"),
        owners=Ownership(store.record("chown"), store.record("chgrp"), store.record("chmod")),
        columns=[
            Column("ID", lambda b: b["ID"], right=True, width=4),
            Column("NAME", lambda b: b["NAME"]),
        ],
        sections=lambda ctx, body: [f"SIZE\n{body['SIZE']}"],
    )
    cli = Cli("onething", "Manage things.")
    commands = cli.pool(pool)
    commands.create("create a thing", arg("file"), arg("--name"))
    commands.delete("delete things")
    commands.list("list things", arg("--big", action="store_true", help="only big ones"))
    commands.show("show a thing", default=lambda ctx: "1")
    commands.update("update a thing")
    commands.rename("rename a thing")
    commands.each("poke", "poke things", store.record("poke"))
    commands.ownership()
    return cli


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    store = Store()
    status = build(store).main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_commands_come_in_the_order_they_were_added(capsys):
    with pytest.raises(SystemExit):
        build(Store()).main(["--help"])
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines if line.startswith("    ")]
    assert names == [
        "create",
        "delete",
        "list",
        "show",
        "update",
        "rename",
        "poke",
        "chown",
        "chgrp",
        "chmod",
    ]


def test_create_prints_the_id(capsys):
    assert run(capsys, "create", "f") == (0, "ID: 3\n", "")


def test_list_prints_a_table_or_the_pool_as_json(capsys):
    assert run(capsys, "list") == (0, "  ID NAME\n   1 a\n   2 bb\n", "")
    status, out, _ = run(capsys, "list", "--big", "-j")
    assert status == 0
    assert json.loads(out) == {"THING_POOL": {"THING": [{"ID": 2, "NAME": "bb", "SIZE": 7}]}}


def test_show_prints_blocks_apart_and_defaults_the_ref(capsys):
    assert run(capsys, "show", "bb") == (
        0,
        "THING 2 INFORMATION\nID   : 2\nNAME : bb\n\nSIZE\n7\n",
        "",
    )
    status, out, _ = run(capsys, "show", "-j")
    assert status == 0
    assert json.loads(out) == {"THING": {"ID": 1, "NAME": "a", "SIZE": 5}}


def test_an_error_is_one_line_and_exit_1(capsys):
    assert run(capsys, "show", "zz") == (1, "", "onething show: no thing 'zz'\n")


def test_each_goes_on_after_a_failure(capsys):
    store = Store()
    status = build(store).main(["delete", "1,zz,2"])
    assert status == 1
    assert capsys.readouterr().err == "onething delete: no thing 'zz'\n"
    assert store.calls == [("delete", "1"), ("delete", "2")]


def test_update_reads_the_file_and_passes_append(capsys, tmp_path):
    (tmp_path / "t").write_text('A = "1"\n')
    store = Store()
    assert build(store).main(["update", "a", str(tmp_path / "t"), "-a"]) == 0
    assert store.calls == [("update", "a", 'A = "1"\n', True)]


def test_ownership_commands_pass_their_arguments(capsys):
    store = Store()
    cli = build(store)
    assert cli.main(["chown", "1..2", "bob"]) == 0
    assert cli.main(["chgrp", "a", "staff"]) == 0
    assert cli.main(["chmod", "2", "640"]) == 0
    assert cli.main(["rename", "a", "c"]) == 0
    assert store.calls == [
        ("chown", "1", "bob", None),
        ("chown", "2", "bob", None),
        ("chgrp", "a", "staff"),
        ("chmod", "2", "640"),
        ("rename", "a", "c"),
    ]


def test_a_command_without_its_call_is_refused_when_the_cli_is_built():
    cli = Cli("onething", "Manage things.")
    with pytest.raises(TypeError, match="onething delete"):
        cli.pool(Pool(noun="thing")).delete("delete things")


def test_arg_dest_is_argparses():
    assert arg("--append", "-a").dest == "append"
    assert arg("-a", "--no-monitor").dest == "no_monitor"
    assert arg("--all", dest="include_done").dest == "include_done"
    assert arg("file").dest == "file"


def test_context_is_the_default_conn():
    pool = Pool(noun="thing")
    ctx = Context("onething", "list")
    assert pool.connect(ctx) is ctx
    assert (pool.ref_arg, pool.ids_arg, pool.title) == ("thing", "things", "")


def test_one_pool_page_size_is_a_number_from_2_or_a_word_that_disables_it():
    assert pool_page_size({}) == 2000  # the guide's default
    assert pool_page_size({"ONE_POOL_PAGE_SIZE": " "}) == 2000
    assert pool_page_size({"ONE_POOL_PAGE_SIZE": "5000"}) == 5000
    assert pool_page_size({"ONE_POOL_PAGE_SIZE": "2"}) == 2
    assert pool_page_size({"ONE_POOL_PAGE_SIZE": "disabled"}) is None
    assert pool_page_size({"ONE_POOL_PAGE_SIZE": "DISABLED"}) is None
    assert pool_page_size({"ONE_POOL_PAGE_SIZE": "off"}) is None  # "a non numeric value"
    for bad in ("1", "0", "-3", "1e3", "2147483648", "2.5", "x1" * 100):
        with pytest.raises(InvalidInput, match=r"ONE_POOL_PAGE_SIZE must be .* or 'disabled'"):
            pool_page_size({"ONE_POOL_PAGE_SIZE": bad})


@pytest.mark.parametrize("count", [0, 1, 3])
def test_a_pool_printed_row_by_row_is_the_pools_json(count):
    rows = [{"ID": i, "NAME": f"n{i}", "T": {"A": [1, "x\ny"]}} for i in range(count)]
    text = "\n".join(pool_json_lines("VM", iter(rows)))
    assert text == json.dumps({"VM_POOL": {"VM": rows}}, indent=2)


def test_a_table_laid_out_page_by_page_widens_for_later_cells():
    columns = [Column("ID", lambda r: r[0], right=True, width=2), Column("NAME", lambda r: r[1])]
    layout = TableLayout(columns)
    assert layout.lines([(1, "a")]) == ["ID NAME", " 1 a"]
    assert layout.lines([]) == []  # the header only once
    assert layout.lines([(123, "b")]) == ["123 b"]  # ID widened from here on
    assert layout.lines([(4, "c")]) == ["  4 c"]
    assert table([(1, "a"), (123, "b")], columns) == " ID NAME\n  1 a\n123 b"

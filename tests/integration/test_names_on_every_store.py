"""Names compare exactly on every store: MySQL's default collation (utf8mb4_general_ci)
ignores case and accents, and the store's tables use utf8mb4_bin so that names compare as
they do on SQLite. The one part of the CLIs' behaviour that depends on the store, so it
runs on both (the rest of test_cli_users.py runs on SQLite: see support.stores)."""

from __future__ import annotations

from support.cli import assert_error, created_id, login_as


def test_names_are_case_sensitive_on_every_backend(cli):
    cli("oneuser", "create", "alice", "pw", check=True)
    cli("oneuser", "create", "bé", "pw", check=True)
    assert created_id(cli("oneuser", "create", "Alice", "other-pw")) == 3
    assert created_id(cli("onegroup", "create", "Users")) == 100
    for ref in ("ALICE", "be"):
        assert_error(
            cli("oneuser", "show", ref), "oneuser", "show", f"user named '{ref}' does not exist"
        )


def test_login_needs_the_exact_user_name(cli, tmp_path):
    cli("oneuser", "create", "alice", "pw", check=True)
    cli("oneuser", "create", "bé", "pw", check=True)
    for name in ("ALICE", "BE"):
        assert_error(
            cli("oneuser", "show", env=login_as(tmp_path, name, "pw")),
            "oneuser",
            "show",
            f"authentication failed for user '{name}'",
        )

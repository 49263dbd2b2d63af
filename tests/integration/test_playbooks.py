"""The playbooks shipped in playbooks/, run as a user runs them."""

from __future__ import annotations

from conftest import REPO, store_snapshot

from ansible_collections.onekit.cloud.plugins.module_utils.objects import acls, users


def test_ec2_group_example_builds_the_guides_setup_and_reruns_clean(playbook, admin):
    text = (REPO / "playbooks/examples/ec2_group.yml").read_text()
    first = playbook(text, "-e", "clouduser_password=cloud-pw")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "changed=3" in first.stdout  # group, user, the rule loop

    user = users.show(admin, "clouduser")
    assert user["GNAME"] == "ec2"
    rules = {str(r) for r in acls.list_rules(admin)}
    gid = user["GID"]
    assert {f"@{gid} HOST/#1 MANAGE #0", f"@{gid} HOST/#3 MANAGE #0"} <= rules

    before = store_snapshot(admin.db)
    second = playbook(text, "-e", "clouduser_password=cloud-pw")
    assert second.returncode == 0 and "changed=0" in second.stdout
    assert store_snapshot(admin.db) == before

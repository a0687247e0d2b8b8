"""opsbook.stack.backup_rotate end to end through ansible-playbook on a real backup_root (check mode, then real runs)."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import local_play_results
from helpers.backups import NOW, NOW_ISO, rotation_layout, stamp, tree

from ansible_collections.opsbook.stack.plugins.filter.backup import gfs_select


@pytest.fixture()
def layout(tmp_path):
    return rotation_layout(tmp_path)


def rotate_many(tmp_path: Path, tasks: list[dict], *extra: str) -> list[dict]:
    """Run the module once per args through one ansible-playbook (localhost, connection local); the task results."""
    playbook = tmp_path / "rotate.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  connection: local\n  tasks:\n"
        + "".join(f"    - opsbook.stack.backup_rotate: {json.dumps(args)}\n      ignore_errors: true\n" for args in tasks)
    )
    return local_play_results(playbook, *extra, cwd=tmp_path)


def rotate(tmp_path: Path, args: dict, *extra: str) -> dict:
    """One module run through ansible-playbook."""
    return rotate_many(tmp_path, [args], *extra)[0]


BAD_POLICIES = [
    ({"logical": {"daily": -1}, "redis": {"max_age_days": 10}}, "policies.logical.daily must be an integer >= 0 or null, got -1"),
    ({"logical": {"daily": 7}, "redis": {"max_age_days": 0}}, "policies.redis.max_age_days 0 would remove every backup"),
    ({"logical": {"daily": 7}, "config": {}}, "policies.config would keep nothing"),
    ({"logical": {"daily": 0, "weekly": 0}}, "policies.logical would keep nothing (daily, weekly are 0"),
    ({"logical": {"weekly": "often"}}, "policies.logical.weekly must be an integer >= 0 or null, got 'often'"),
    ({"logical": {"hourly": 3}}, "policies.logical: unknown key 'hourly'"),
    ({"logical": {"daily": 7}, "wal": {"daily": 1}}, "policies: unknown kind 'wal'"),
]


POLICIES = {
    "logical": {"daily": 7, "weekly": 2},
    "redis": {"max_age_days": 10},
    "config": {"daily": 3},
}


def expected_removals(layout) -> dict[str, set[str]]:
    """What the filter (same code) says, per group, computed from the fixture's own data."""
    def backups(ids, verified_from=0):
        return [{"id": i, "time": i.split("-")[0], "verified": n >= verified_from} for n, i in enumerate(ids)]
    appdb = backups(layout["ids"]["appdb"], verified_from=2)
    appdb += [{"id": layout["failed"], "time": layout["failed"].split("-")[0], "verified": False},
              {"id": layout["manifest_only"], "time": layout["manifest_only"].split("-")[0], "verified": False}]
    return {
        "appdb": set(gfs_select(appdb, POLICIES["logical"], now=NOW_ISO)["remove"]),
        "otherdb": set(gfs_select(backups(layout["ids"]["otherdb"]), POLICIES["logical"], now=NOW_ISO)["remove"]),
        "redis": set(gfs_select(backups(layout["ids"]["redis"]), POLICIES["redis"], now=NOW_ISO)["remove"]),
        "config": set(gfs_select(backups(layout["ids"]["config"]), POLICIES["config"], now=NOW_ISO)["remove"]),
    }


def test_check_mode_removes_nothing_and_reports_then_the_real_run_removes_exactly_that(tmp_path, layout):
    root = layout["root"]
    before = tree(root)
    args = {"backup_root": str(root), "policies": POLICIES, "now": NOW_ISO, "kinds": ["logical", "redis", "config"]}

    preview = rotate(tmp_path, args, "--check", "--diff")
    assert not preview.get("failed"), preview
    assert tree(root) == before  # nothing removed, no record written
    assert preview["changed"] is True
    expected = expected_removals(layout)
    removed_ids = {item["id"] for item in preview["removed"]}
    assert removed_ids == set().union(*expected.values())
    # the numbers, spelled out: appdb and otherdb keep 7 days (the 2 weeks' picks are among them; the two newest,
    # unverified appdb dumps are protected anyway), redis 10 days, config 3 snapshots
    assert len(expected["appdb"]) == 42 - 7 and len(expected["otherdb"]) == 20 - 7
    assert len(expected["redis"]) == 30 and len(expected["config"]) == 5
    assert layout["failed"] in removed_ids and layout["manifest_only"] in removed_ids
    assert preview["protected"]["logical/appdb"] == layout["ids"]["appdb"][2]
    assert preview["protected"]["redis"] == layout["ids"]["redis"][0]
    reasons = {item["id"]: item["reason"] for item in preview["removed"] + preview["kept"]}
    newest = layout["ids"]["appdb"][0]
    assert reasons[newest].startswith("newer than the newest verified backup; daily 2026-11-26")
    assert reasons[layout["ids"]["appdb"][2]].startswith("newest verified backup; daily 2026-11-24")
    assert reasons[layout["ids"]["appdb"][10]] == "not selected by daily 7/weekly 2"
    assert reasons[layout["ids"]["redis"][12]] == "older than max_age_days 10"
    for item in preview["removed"]:
        assert set(item) == {"id", "kind", "target", "path", "reason"}
        assert item["path"].startswith(str(root) + "/")
    assert preview["diff"]["before"]["backups"] != preview["diff"]["after"]["backups"]
    assert set(preview["diff"]["before"]["backups"]) - set(preview["diff"]["after"]["backups"]) == removed_ids
    assert preview["msg"].startswith(f"would remove {len(removed_ids)} backups (logical 48, redis 30, config 5), kept")
    odd = {Path(item["path"]).name: item["reason"] for item in preview["unidentified"]}
    assert odd["not-a-stamp"] == "name is not a UTC stamp (YYYYmmddTHHMMSSZ)"
    assert odd[stamp(NOW - timedelta(days=39, hours=5))] == "no record and no manifest.json"
    assert odd["stray.rdb"] == "not a directory"
    assert odd["evil"] == odd[stamp(NOW - timedelta(days=50))] == "symbolic link, never followed"
    assert odd[layout["running"].split("-")[0]] == f"backup still running (pid {os.getpid()})"

    result = rotate(tmp_path, args)
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert {item["id"] for item in result["removed"]} == removed_ids
    assert "diff" not in result
    for item in result["removed"]:
        assert not os.path.lexists(item["path"])
        record = json.loads((root / "records" / f"{item['id']}.json").read_text())
        assert record["status"] == "removed" and record["removed_reason"] == item["reason"]
        assert record["removed_at"].endswith("Z") and record["removed_by"] == "opsbook.stack.backup_rotate"
        assert (root / "records" / f"{item['id']}.json").stat().st_mode & 0o777 == 0o640
    assert json.loads((root / "records" / f"{layout['failed']}.json").read_text())["previous_status"] == "failed"
    created = json.loads((root / "records" / f"{layout['manifest_only']}.json").read_text())
    assert created["kind"] == "logical" and created["target"] == "appdb" and created["status"] == "removed"
    for item in result["kept"]:
        assert (Path(item["path"]) / "toc.dat").exists()
        assert json.loads((root / "records" / f"{item['id']}.json").read_text())["status"] == "ok"
    for item in result["unidentified"]:
        assert os.path.lexists(item["path"])
    assert (layout["outside"] / stamp(NOW - timedelta(days=50)) / "precious").read_text() == "do not delete"
    assert len(list((root / "records").glob("*.json"))) == 40 + 20 + 40 + 8 + 2 + 1  # history kept, one created

    again = rotate(tmp_path, args)
    assert again["changed"] is False and again["removed"] == []
    assert again["msg"].startswith("removed 0 backups, kept")


def test_bad_policy_fails_naming_kind_and_key_before_anything_is_deleted(tmp_path, layout):
    before = tree(layout["root"])
    results = rotate_many(tmp_path, [
        {"backup_root": str(layout["root"]), "policies": policies, "now": NOW_ISO, "kinds": ["logical", "redis", "config"]}
        for policies, _needle in BAD_POLICIES
    ])
    for result, (_policies, needle) in zip(results, BAD_POLICIES):
        assert result["failed"] is True and result["changed"] is False
        assert needle in result["msg"]
    assert tree(layout["root"]) == before


def test_missing_root_and_unknown_kind_fail_clearly(tmp_path):
    missing, unknown = rotate_many(tmp_path, [
        {"backup_root": str(tmp_path / "nope"), "policies": POLICIES},
        {"backup_root": str(tmp_path), "policies": POLICIES, "kinds": ["wal"]},
    ])
    assert missing["failed"] and f"backup_root {tmp_path / 'nope'} does not exist" in missing["msg"]
    assert unknown["failed"] and "kinds" in unknown["msg"] and "wal" in unknown["msg"]


def test_symlinked_root_is_followed_once_but_nothing_escapes_it(tmp_path, layout):
    link = tmp_path / "root-link"
    link.symlink_to(layout["root"], target_is_directory=True)
    result = rotate(tmp_path, {"backup_root": str(link), "policies": {"redis": {"daily": 1}}, "now": NOW_ISO,
                               "kinds": ["redis"]})
    assert not result.get("failed"), result
    assert len(result["removed"]) == 39 and all(i["path"].startswith(str(layout["root"]) + "/") for i in result["removed"])
    assert (layout["outside"] / stamp(NOW - timedelta(days=50)) / "precious").exists()
    assert os.path.islink(layout["root"] / "redis" / stamp(NOW - timedelta(days=50)))

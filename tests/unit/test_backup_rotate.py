"""opsbook.stack.backup_rotate: end to end through ansible on a real backup_root, plus the pgBackRest path."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ansible_collections.opsbook.stack.plugins.filter.backup import gfs_select
from ansible_collections.opsbook.stack.plugins.modules import backup_rotate

from _runner import VENV_BIN, ansible_playbook

UTC = timezone.utc
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
NOW_ISO = "2026-11-26T12:00:00Z"


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def make_backup(root: Path, kind: str, moment: datetime, target: str | None = None, *, record: bool = True,
                manifest: bool = True, status: str = "ok", checksum: str = "verified", pid: int | None = None) -> str:
    """One backup directory (+ record, + manifest) as opsbook-backup leaves it; returns its id."""
    name = stamp(moment)
    ident = f"{name}-{kind}" + (f"-{target}" if target else "")
    directory = root / kind / target / name if target else root / kind / name
    directory.mkdir(parents=True)
    (directory / "toc.dat").write_bytes(b"x" * 64)
    sub = directory / "etc" / "redis"
    sub.mkdir(parents=True)
    (sub / "redis.conf").write_text("port 6379\n")
    if manifest:
        (directory / "manifest.json").write_text(json.dumps({"schema": 1, "id": ident, "kind": kind, "target": target}))
    if record:
        records = root / "records"
        records.mkdir(exist_ok=True)
        (records / f"{ident}.json").write_text(json.dumps({
            "schema": 1, "id": ident, "kind": kind, "target": target, "status": status, "pid": pid,
            "start": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "path": str(directory), "checksum_status": checksum,
            "pgbackrest": None, "message": "",
        }))
    return ident


@pytest.fixture()
def layout(tmp_path):
    """A backup root with 40 days of logical dumps of appdb, 20 of otherdb, redis and config snapshots, odd entries."""
    root = tmp_path / "backups"
    root.mkdir()
    outside = tmp_path / "outside"
    ids: dict[str, list[str]] = {"appdb": [], "otherdb": [], "redis": [], "config": []}
    for day in range(40):
        moment = NOW - timedelta(days=day, hours=9)  # 03:00 UTC
        ids["appdb"].append(make_backup(root, "logical", moment, "appdb"))
        if day < 20:
            ids["otherdb"].append(make_backup(root, "logical", moment + timedelta(minutes=5), "otherdb"))
        ids["redis"].append(make_backup(root, "redis", moment + timedelta(minutes=10)))
        if day % 5 == 0:
            ids["config"].append(make_backup(root, "config", moment + timedelta(minutes=15)))
    # the two newest appdb dumps are not verified yet: the third newest is the protected one
    for ident in ids["appdb"][:2]:
        rec = root / "records" / f"{ident}.json"
        rec.write_text(json.dumps(dict(json.loads(rec.read_text()), checksum_status="pending")))
    # a failed dump whose directory stayed (no manifest), an old manifest-only dump (no record)
    failed = make_backup(root, "logical", NOW - timedelta(days=30, hours=1), "appdb", manifest=False, status="failed",
                         checksum="failed")
    manifest_only = make_backup(root, "logical", NOW - timedelta(days=33, hours=2), "appdb", record=False)
    # a dump still being written by a live process
    running = make_backup(root, "logical", NOW - timedelta(days=35, hours=3), "appdb", manifest=False,
                          status="running", checksum="pending", pid=os.getpid())
    # odd entries: never removed
    (root / "logical" / "appdb" / "not-a-stamp").mkdir()
    (root / "logical" / "appdb" / stamp(NOW - timedelta(days=39, hours=5))).mkdir()  # no record, no manifest
    (root / "redis" / "stray.rdb").write_text("x")
    outside_backup = outside / stamp(NOW - timedelta(days=50))
    outside_backup.mkdir(parents=True)
    (outside_backup / "manifest.json").write_text("{}")
    (outside_backup / "precious").write_text("do not delete")
    (root / "redis" / stamp(NOW - timedelta(days=50))).symlink_to(outside_backup, target_is_directory=True)
    (root / "logical" / "evil").symlink_to(outside, target_is_directory=True)
    return {"root": root, "outside": outside, "ids": ids, "failed": failed, "manifest_only": manifest_only,
            "running": running}


def rotate_many(tmp_path: Path, tasks: list[dict], *extra: str) -> list[dict]:
    """Run the module once per args through one ansible-playbook (localhost, connection local); the task results."""
    playbook = tmp_path / "rotate.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  connection: local\n  tasks:\n"
        + "".join(f"    - opsbook.stack.backup_rotate: {json.dumps(args)}\n      ignore_errors: true\n" for args in tasks)
    )
    proc = ansible_playbook(
        "-i", "localhost,", "-e", f"ansible_python_interpreter={VENV_BIN / 'python'}", *extra, str(playbook),
        cwd=tmp_path, extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{"):])[0]
    return [task["hosts"]["localhost"] for task in doc["plays"][0]["tasks"]]


def rotate(tmp_path: Path, args: dict, *extra: str) -> dict:
    """One module run through ansible-playbook."""
    return rotate_many(tmp_path, [args], *extra)[0]


POLICIES = {
    "logical": {"daily": 7, "weekly": 2},
    "redis": {"max_age_days": 10},
    "config": {"daily": 3},
}


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


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


BAD_POLICIES = [
    ({"logical": {"daily": -1}, "redis": {"max_age_days": 10}}, "policies.logical.daily must be an integer >= 0 or null, got -1"),
    ({"logical": {"daily": 7}, "redis": {"max_age_days": 0}}, "policies.redis.max_age_days 0 would remove every backup"),
    ({"logical": {"daily": 7}, "config": {}}, "policies.config would keep nothing"),
    ({"logical": {"daily": 0, "weekly": 0}}, "policies.logical would keep nothing (daily, weekly are 0"),
    ({"logical": {"weekly": "often"}}, "policies.logical.weekly must be an integer >= 0 or null, got 'often'"),
    ({"logical": {"hourly": 3}}, "policies.logical: unknown key 'hourly'"),
    ({"logical": {"daily": 7}, "wal": {"daily": 1}}, "policies: unknown kind 'wal'"),
]


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


def test_default_kinds_are_the_directories_found_and_a_kind_without_policy_is_kept(tmp_path, layout, monkeypatch):
    params = {"backup_root": str(layout["root"]), "policies": {"config": {"daily": 1}}, "kinds": None,
              "now": NOW_ISO, "stanza": "main", "pgbackrest_config": "/nonexistent.conf"}
    result = backup_rotate.run(params, True, lambda argv: pytest.fail(f"ran {argv}"), lambda name: None)
    assert result["kinds"] == ["logical", "redis", "config"]
    assert {item["kind"] for item in result["removed"]} == {"config"} and len(result["removed"]) == 7
    assert all(item["reason"] == "not rotated (no policy for this kind)"
               for item in result["kept"] if item["kind"] != "config")


def test_the_refusal_to_leave_the_root_is_checked_again_at_removal(tmp_path):
    root = str(tmp_path)
    assert backup_rotate._inside(root, os.path.join(root, "logical", "a", "20261126T000000Z"))
    assert not backup_rotate._inside(root, root)
    assert not backup_rotate._inside(root, str(tmp_path.parent))
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "link").symlink_to(tmp_path.parent)
    assert not backup_rotate._inside(root, os.path.join(root, "redis", "link"))


# ------------------------------------------------------------------ the pgBackRest path, with a fake pgbackrest


def pgbr_set(label: str, kind: str, stop: datetime, prior: str | None = None, error: bool = False) -> dict:
    return {"label": label, "type": kind, "prior": prior, "error": error,
            "timestamp": {"start": int(stop.timestamp()) - 60, "stop": int(stop.timestamp())},
            "info": {"repository": {"delta": 100}}}


class FakePgBackRest:
    """Answers `info --output json` with the given sets and records every `expire`."""

    def __init__(self, sets: list[dict], status: dict | None = None, info_rc: int = 0) -> None:
        self.sets = sets
        self.status = status or {"code": 0, "message": "ok"}
        self.info_rc = info_rc
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str]) -> tuple[int, str, str]:
        self.calls.append(argv)
        assert argv[:5] == ["runuser", "-u", "postgres", "--", "pgbackrest"]
        assert argv[5:7] == ["--config=/etc/pgbackrest/pgbackrest.conf", "--stanza=main"]
        if argv[7:] == ["info", "--output", "json"]:
            if self.info_rc:
                return self.info_rc, "", "ERROR: [055]: unable to load info file"
            return 0, json.dumps([{"name": "main", "status": self.status, "backup": self.sets}]), ""
        assert argv[7] == "expire" and argv[8].startswith("--set=")
        label = argv[8][len("--set="):]
        assert not any(s.get("prior") == label for s in self.sets), f"{label} still has dependents"
        self.sets = [s for s in self.sets if s["label"] != label]
        return 0, "", ""

    def expired(self) -> list[str]:
        return [argv[8][len("--set="):] for argv in self.calls if argv[7] == "expire"]


def pg_calendar() -> list[dict]:
    """Weekly fulls over 20 weeks, incrementals every 6 hours in between, a differential per day on day 3."""
    sets = []
    start = NOW - timedelta(weeks=20)
    for week in range(20):
        full_time = start + timedelta(weeks=week)
        full = f"{full_time:%Y%m%d-%H%M%S}F"
        sets.append(pgbr_set(full, "full", full_time))
        prior = full
        for n in range(1, 7 * 4):
            moment = full_time + timedelta(hours=6 * n)
            if moment > NOW - timedelta(hours=1):
                break
            label = f"{full}_{moment:%Y%m%d-%H%M%S}I"
            sets.append(pgbr_set(label, "incr", moment, prior))
            prior = label
        diff_time = full_time + timedelta(days=3, minutes=30)
        if diff_time < NOW:
            sets.append(pgbr_set(f"{full}_{diff_time:%Y%m%d-%H%M%S}D", "diff", diff_time, full))
    return sorted(sets, key=lambda s: s["timestamp"]["stop"])


def pg_params(root: Path, **extra) -> dict:
    params = {"backup_root": str(root), "kinds": None, "stanza": "main",
              "pgbackrest_config": "/etc/pgbackrest/pgbackrest.conf", "now": NOW_ISO,
              "policies": {"full": {"max_age_days": 90}, "incr": {"max_age_days": 30}, "diff": {"max_age_days": 30}}}
    params.update(extra)
    return params


@pytest.fixture()
def pg_env(tmp_path, monkeypatch):
    root = tmp_path / "backups"
    (root / "records").mkdir(parents=True)
    real_isfile = os.path.isfile
    monkeypatch.setattr(backup_rotate.os.path, "isfile",
                        lambda p: True if p == "/etc/pgbackrest/pgbackrest.conf" else real_isfile(p))
    return root


def test_pgbackrest_check_mode_only_reads(pg_env):
    fake = FakePgBackRest(pg_calendar())
    policies = {"full": {"max_age_days": 20}, "incr": {"max_age_days": 30}, "diff": {"max_age_days": 30}}
    result = backup_rotate.run(pg_params(pg_env, policies=policies), True, fake, lambda name: "/usr/bin/pgbackrest")
    assert fake.expired() == [] and len(fake.calls) == 1
    assert result["kinds"] == ["full", "incr", "diff"]
    removed = {item["label"]: item for item in result["removed"]}
    kept = {item["label"]: item for item in result["kept"]}
    assert all(set(item) == {"id", "kind", "target", "label", "reason"} for item in result["removed"])
    # fulls older than 90 days go, with their chains; fulls whose incrementals are kept stay
    for s in fake.sets:
        age = NOW - datetime.fromtimestamp(s["timestamp"]["stop"], UTC)
        if s["type"] == "full":
            has_young_dependent = any(
                o["label"].startswith(s["label"] + "_") and NOW - datetime.fromtimestamp(o["timestamp"]["stop"], UTC)
                <= timedelta(days=30) for o in fake.sets)
            assert (s["label"] in kept) == (age <= timedelta(days=20) or has_young_dependent), s["label"]
        else:
            assert (s["label"] in removed) == (age > timedelta(days=30) and not any(
                o["prior"] == s["label"] and o["label"] in kept for o in fake.sets)), s["label"]
    some_full = next(label for label, item in kept.items() if item["kind"] == "full" and "needed by" in item["reason"])
    assert kept[some_full]["reason"].startswith("needed by ")
    assert result["protected"]["full"] and result["protected"]["incr"]


def test_pgbackrest_expires_newest_first_and_marks_records(pg_env):
    sets = pg_calendar()
    old_full = sets[0]
    (pg_env / "records" / "r1.json").write_text(json.dumps({
        "schema": 1, "id": "20260709T120000Z-full", "kind": "full", "status": "ok", "checksum_status": "verified",
        "pgbackrest": {"label": old_full["label"], "type": "full"}}))
    fake = FakePgBackRest(sets)
    preview = backup_rotate.run(pg_params(pg_env), True, FakePgBackRest(sets), lambda name: "/usr/bin/pgbackrest")
    result = backup_rotate.run(pg_params(pg_env), False, fake, lambda name: "/usr/bin/pgbackrest")
    assert [i["label"] for i in result["removed"]] == fake.expired()
    assert {i["label"] for i in preview["removed"]} == set(fake.expired())
    stops = {s["label"]: s["timestamp"]["stop"] for s in sets}
    assert [stops[label] for label in fake.expired()] == sorted((stops[label] for label in fake.expired()), reverse=True)
    assert "20260709T120000Z-full" in [i["id"] for i in result["removed"]]
    record = json.loads((pg_env / "records" / "r1.json").read_text())
    assert record["status"] == "removed" and record["removed_reason"] == "older than max_age_days 90"
    # a set without record gets one written at removal (history), with its pgBackRest label
    second = next(i for i in result["removed"] if i["label"] == sets[1]["label"])
    created = json.loads((pg_env / "records" / f"{second['id']}.json").read_text())
    assert created["status"] == "removed" and created["pgbackrest"]["label"] == sets[1]["label"]
    assert created["pgbackrest"]["prior"] == old_full["label"] and created["kind"] == "incr"
    assert len(list((pg_env / "records").glob("*.json"))) == len(fake.expired())
    again = backup_rotate.run(pg_params(pg_env), False, fake, lambda name: "/usr/bin/pgbackrest")
    assert again["removed"] == [] and again["changed"] is False


def test_pgbackrest_unverified_and_errored_sets_are_protected(pg_env):
    sets = pg_calendar()
    newest_full = [s for s in sets if s["type"] == "full"][-1]
    # the newest full's record says verification failed: the previous full is the protected one
    (pg_env / "records" / "x.json").write_text(json.dumps({
        "schema": 1, "id": "X-full", "kind": "full", "status": "ok", "checksum_status": "failed",
        "pgbackrest": {"label": newest_full["label"]}}))
    for s in sets:
        s["error"] = s["type"] == "full" and s["label"] != sets[0]["label"]  # every full but the oldest errored
    result = backup_rotate.run(pg_params(pg_env), True, FakePgBackRest(sets), lambda name: "/usr/bin/pgbackrest")
    assert result["protected"]["full"] == f"{datetime.fromtimestamp(sets[0]['timestamp']['start'], UTC):%Y%m%dT%H%M%SZ}-full"
    assert not any(item["kind"] == "full" for item in result["removed"])


def test_pgbackrest_problems_fail_before_anything_is_removed(pg_env, tmp_path):
    make_backup(pg_env, "redis", NOW - timedelta(days=40))
    make_backup(pg_env, "redis", NOW - timedelta(days=1))
    before = tree(pg_env)
    for fake, needle in [
        (FakePgBackRest([], info_rc=55), "failed (rc 55): ERROR: [055]: unable to load info file; nothing was removed"),
        (FakePgBackRest([], status={"code": 5, "message": "database mismatch"}),
         "stanza 'main' status 5: database mismatch; nothing was removed"),
    ]:
        params = pg_params(pg_env, policies={"redis": {"daily": 1}, "full": {"daily": 1}})
        with pytest.raises(backup_rotate.RotateError, match=re.escape(needle)):
            backup_rotate.run(params, False, fake, lambda name: "/usr/bin/pgbackrest")
        assert fake.expired() == []
        assert tree(pg_env) == before
    with pytest.raises(backup_rotate.RotateError, match="need pgBackRest, but pgbackrest is not installed"):
        backup_rotate.run(pg_params(pg_env, kinds=["full"]), False, FakePgBackRest([]), lambda name: None)
    # no valid backups yet: nothing to do
    result = backup_rotate.run(pg_params(pg_env), False, FakePgBackRest([], status={"code": 2, "message": "no valid backups"}),
                               lambda name: "/usr/bin/pgbackrest")
    assert result["removed"] == [] and result["kinds"] == ["redis"]


def test_pgbackrest_kind_not_rotated_keeps_its_fulls(pg_env):
    fake = FakePgBackRest(pg_calendar())
    result = backup_rotate.run(pg_params(pg_env, kinds=["full"], policies={"full": {"daily": 1}}), True, fake,
                               lambda name: "/usr/bin/pgbackrest")
    assert result["removed"] == []  # every full has incrementals, which are not rotated
    assert {item["reason"] for item in result["kept"] if item["kind"] == "incr"} == {"not rotated (no policy for this kind)"}

"""opsbook.stack.backup_rotate in-process: default kinds, the root guard and the pgBackRest path with a fake pgbackrest."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers.backups import NOW, NOW_ISO, make_backup, rotation_layout, tree

from ansible_collections.opsbook.stack.plugins.modules import backup_rotate

UTC = timezone.utc


@pytest.fixture()
def layout(tmp_path):
    return rotation_layout(tmp_path)


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

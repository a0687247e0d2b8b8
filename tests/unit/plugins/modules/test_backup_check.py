"""opsbook.stack.backup_check in-process: records, manifests, pgBackRest output, evaluation."""

from __future__ import annotations

import datetime
import os
from typing import Any

import pytest
from helpers.backups import NOW, at, make_artifact, record, write_records

from ansible_collections.opsbook.stack.plugins.module_utils import _backup
from ansible_collections.opsbook.stack.plugins.module_utils._checks import Threshold, ThresholdError
from ansible_collections.opsbook.stack.plugins.module_utils._host import FsUsage
from ansible_collections.opsbook.stack.plugins.module_utils._timestamps import format_utc
from ansible_collections.opsbook.stack.plugins.modules import backup_check as bc

UTC = datetime.timezone.utc
SHRINK = Threshold(20, 50, "above")
WAL = Threshold(45, 60, "above")


def parsed(*items: dict[str, Any]) -> list[_backup.Record]:
    return [_backup.resolve_status(_backup.parse_record(item), lambda pid, start: False) for item in items]


def schedule(kind: str, target: str | None = None, warn: float | None = None, crit: float | None = None) -> bc.Schedule:
    return bc.Schedule(kind, target, bc.age_threshold(kind, warn, crit))


# ------------------------------------------------------------------ records


def test_read_records_reports_bad_files_and_resolves_running(tmp_path):
    good = record("full", 3)
    dead = record("incr", 1, status="running", pid=2**22 + 12345)  # beyond pid_max on most hosts: not running
    reused = record("diff", 1, status="running", pid=os.getpid(), duration_h=48)  # started 2 days ago; this pid is younger
    live = record("logical", 0, status="running", target="appdb", pid=os.getpid())
    live["start"] = format_utc(datetime.datetime.now(UTC))  # this process started before now: alive
    write_records(tmp_path, [good, dead, reused, live])
    (tmp_path / "records" / "broken.json").write_text('{"schema": 1, "id": ')
    (tmp_path / "records" / "alien.json").write_text('{"schema": 1, "id": "x", "kind": "tape", "status": "ok"}')
    (tmp_path / "records" / "list.json").write_text("[1, 2]")
    (tmp_path / "records" / ".tmp-write.json").write_text("{")  # half-written tmp file of an atomic rewrite: ignored
    (tmp_path / "records" / "notes.txt").write_text("ignored")
    records, problems = _backup.read_records(str(tmp_path))
    assert sorted(problems) == [
        "records/alien.json: not a usable backup record: unknown kind 'tape' (known: full, incr, diff, logical, redis, config)",
        "records/broken.json: invalid JSON (Expecting value at line 1 column 21)",
        "records/list.json: not a usable backup record: not a JSON object (got list)",
    ]
    status = {r.kind: r.status for r in records}
    assert status == {"full": "ok", "incr": "interrupted", "diff": "interrupted", "logical": "running"}
    assert [r.start for r in records] == sorted(r.start for r in records)


def test_read_records_without_directory_is_empty(tmp_path):
    assert _backup.read_records(str(tmp_path)) == ([], [])


def test_parse_record_rejects_bad_fields():
    with pytest.raises(_backup.RecordError, match="missing kind"):
        _backup.parse_record({"id": "x", "status": "ok"})
    with pytest.raises(_backup.RecordError, match="unsupported schema 2"):
        _backup.parse_record({"schema": 2, "id": "x", "kind": "full", "status": "ok"})
    with pytest.raises(_backup.RecordError, match="end 'yesterday' is not an ISO 8601 time"):
        _backup.parse_record({"id": "x", "kind": "full", "status": "ok", "end": "yesterday"})
    with pytest.raises(_backup.RecordError, match="size_bytes must be an integer"):
        _backup.parse_record({"id": "x", "kind": "full", "status": "ok", "size_bytes": "big"})


def test_newest_ok_per_kind_and_target():
    records = parsed(
        record("logical", 30, target="appdb", size=100),
        record("logical", 5, target="appdb", size=110),
        record("logical", 1, "failed", target="appdb", message="boom"),
        record("logical", 2, target="other", size=7),
        record("full", 20),
        record("full", 1, "removed"),
    )
    newest = _backup.newest_ok_by_key(records)
    assert {key: r.size_bytes for key, r in newest.items()} == {("full", None): 1000, ("logical", "appdb"): 110, ("logical", "other"): 7}
    assert list(newest) == [("full", None), ("logical", "appdb"), ("logical", "other")]
    assert _backup.newest_ok(records, "incr") is None
    assert _backup.keys_found(records + parsed(record("redis", 1, "skipped"))) == [
        ("full", None), ("logical", "appdb"), ("logical", "other")]


# ------------------------------------------------------------------ manifests (real files)


FILES = {"toc.dat": b"T" * 300, "3456.dat.zst": b"Z" * 12345, "3457.dat.zst": b"y" * 10, "sub/x.dat": b"abc"}


def test_manifest_verifies_then_names_corrupt_truncated_and_missing_files(tmp_path):
    directory = tmp_path / "logical" / "appdb" / "20261126T071500Z"
    make_artifact(directory, FILES)
    (directory / "unlisted.tmp").write_text("extra files are fine")
    assert _backup.verify_manifest(str(directory))[0] == []
    data = bytearray((directory / "toc.dat").read_bytes())
    data[17] ^= 0x01  # one byte
    (directory / "toc.dat").write_bytes(bytes(data))
    (directory / "3456.dat.zst").write_bytes(b"")  # truncated
    (directory / "sub" / "x.dat").unlink()
    problems, manifest = _backup.verify_manifest(str(directory))
    assert problems == ["toc.dat: sha256 mismatch", "3456.dat.zst: size 0 != 12345", "sub/x.dat: missing"]
    assert manifest is not None and len(manifest["files"]) == 4


def test_manifest_missing_invalid_and_unsafe(tmp_path):
    assert _backup.verify_manifest(str(tmp_path / "gone")) == ([f"backup directory {tmp_path / 'gone'} is missing"], None)
    (tmp_path / "a").mkdir()
    problems, manifest = _backup.verify_manifest(str(tmp_path / "a"))
    assert manifest is None and problems == [f"manifest.json is missing in {tmp_path / 'a'} (an incomplete backup)"]
    (tmp_path / "a" / "manifest.json").write_text('{"files": [{"path": "x"}]}')
    assert "files[0] (x) has no integer size" in _backup.verify_manifest(str(tmp_path / "a"))[0][0]
    outside = {"files": [{"path": "../etc/passwd", "size": 1, "sha256": "0" * 64}]}
    assert _backup.verify_manifest(str(tmp_path / "a"), outside)[0] == ["../etc/passwd: path leaves the backup directory"]


def test_checksums_result_is_crit_and_names_the_files(tmp_path):
    directory = tmp_path / "20261126T071500Z"
    make_artifact(directory, FILES)
    (directory / "3457.dat.zst").write_bytes(b"y" * 9)
    newest = parsed(record("logical", 2, target="appdb", path=str(directory)))[0]
    problems, manifest = _backup.verify_manifest(str(directory))
    out = bc.checksums_result(schedule("logical", "appdb"), newest, problems, manifest)
    assert out.check == "backup.checksums:logical.appdb" and out.status == "crit" and out.value == 1
    assert "1 of 4 files fail verification: 3457.dat.zst: size 9 != 10" in out.message
    good = bc.checksums_result(schedule("redis"), newest, [], {"files": [{}, {}]})
    assert good.status == "ok" and "all 2 files match" in good.message
    missing = bc.checksums_result(schedule("config"), newest, ["manifest.json is missing in /x (an incomplete backup)"], None)
    assert missing.status == "crit" and "manifest.json is missing" in missing.message
    assert bc.checksums_result(schedule("config"), None, None, None).status == "crit"


# ------------------------------------------------------------------ age, last run, size


def test_age_ok_warn_crit_and_no_backup():
    records = parsed(record("full", 20), record("incr", 8), record("logical", 60, target="appdb"))
    assert bc.age_result(schedule("full"), records, NOW).status == "ok"
    incr = bc.age_result(schedule("incr"), records, NOW)
    assert (incr.status, incr.value, incr.warn, incr.crit, incr.check) == ("warn", 8.0, 7, 13, "backup.age:incr")
    assert bc.age_result(schedule("logical", "appdb"), records, NOW).status == "crit"
    assert bc.age_result(schedule("logical", "appdb", warn=70, crit=80), records, NOW).status == "ok"
    none = bc.age_result(schedule("diff"), parsed(record("logical", 1, target="appdb"), record("diff", 1, "failed", message="disk full")), NOW)
    assert none.status == "crit" and none.message.startswith("no successful diff backup (newest run ") and "failed: disk full" in none.message


def test_a_newer_full_covers_the_incremental_schedule():
    records = parsed(record("full", 2), record("incr", 20))
    incr = bc.age_result(schedule("incr"), records, NOW)
    assert (incr.status, incr.value) == ("ok", 2.0) and "a full backup also covers the incr schedule" in incr.message
    fresh_host = parsed(record("full", 1))
    assert bc.age_result(schedule("incr"), fresh_host, NOW).status == "ok"
    first = bc.last_run_result(schedule("incr"), fresh_host)
    assert first.status == "ok" and first.message.startswith("no incr backup has run yet; full backup ")
    # A logical dump or an older full does not cover it.
    stale = parsed(record("full", 30), record("logical", 1, target="appdb"))
    assert bc.age_result(schedule("incr"), stale, NOW).status == "crit"
    assert bc.age_result(schedule("full"), parsed(record("incr", 1)), NOW).status == "crit"


def test_last_run_failed_interrupted_running_skipped():
    failed = parsed(record("full", 30), record("full", 2, "failed", message="no space left on /var/backups (0 bytes free)"))
    out = bc.last_run_result(schedule("full"), failed)
    assert out.status == "crit"
    assert out.message.endswith(f"failed at {at(2)}: no space left on /var/backups (0 bytes free)")
    interrupted = parsed(record("full", 30), record("full", 0, "running", pid=2**22 + 7))
    out = bc.last_run_result(schedule("full"), interrupted)
    assert out.status == "crit" and out.value == "interrupted" and "process 4194311 is gone" in out.message
    live = [_backup.resolve_status(_backup.parse_record(record("full", 0, "running", pid=42)), lambda pid, start: True)]
    assert bc.last_run_result(schedule("full"), live).message.startswith("full backup ")
    assert bc.last_run_result(schedule("full"), live).status == "ok"
    skipped = parsed(record("full", 1, "skipped", message="standby: backups run on the primary"))
    assert bc.last_run_result(schedule("full"), skipped).status == "ok"
    assert bc.last_run_result(schedule("redis"), []).status == "crit"


def test_size_first_backup_shrink_and_growth():
    one = parsed(record("logical", 1, target="appdb", size=1000))
    first = bc.size_result(schedule("logical", "appdb"), one, SHRINK)
    assert first.status == "ok" and first.message.startswith("first logical appdb backup")
    cases = {700: ("warn", 30.0), 400: ("crit", 60.0), 1200: ("ok", -20.0), 900: ("ok", 10.0)}
    for size, (status, value) in cases.items():
        records = parsed(record("full", 25, size=1000), record("full", 1, size=size), record("full", 0.5, "failed", size=1))
        out = bc.size_result(schedule("full"), records, SHRINK)
        assert (out.status, out.value) == (status, value), out.message
    out = bc.size_result(schedule("full"), parsed(record("full", 25, size=1000), record("full", 1, size=400)), SHRINK)
    assert "is 60% smaller than the previous one (1000 B) (warn >= 20%, crit >= 50%)" in out.message


# ------------------------------------------------------------------ growth, space


def test_growth_and_days_until_full():
    week = parsed(*(record("logical", 24 * d + 1, target="appdb", size=10 * 2**30) for d in range(10)))
    rate, details = _backup.growth_per_day(week, NOW)
    assert details["backups"] == 7 and details["span_days"] == 7
    assert rate == pytest.approx(10 * 2**30)
    assert _backup.days_until_full(100 * 2**30, rate) == pytest.approx(10)
    fresh = parsed(record("full", 1, size=50 * 2**30))  # one backup on a new host: one day's worth, not 50 GiB/hour
    assert _backup.growth_per_day(fresh, NOW)[0] == pytest.approx(50 * 2**30)
    assert _backup.growth_per_day(parsed(record("full", 24 * 9)), NOW)[0] == 0
    assert _backup.days_until_full(10, 0) is None
    usage = FsUsage(200 * 2**30, 100 * 2**30, 60 * 2**30, 62.5, 0, 0, None)
    out = bc.space_days_result("/b", usage, week, NOW, Threshold(30, 7, "below"))
    assert (out.status, out.value) == ("crit", 6.0) and "growth 10.0 GiB/day, 60.0 GiB free" in out.message
    idle = bc.space_days_result("/b", usage, [], NOW, Threshold(30, 7, "below"))
    assert idle.status == "ok" and "not growing" in idle.message
    space = bc.space_result("/b", usage, None, Threshold(80, 90, "above"))
    assert space.status == "ok" and space.value == 62.5 and "60.0 GiB free" in space.message
    assert bc.space_result("/b", None, "No such file or directory", Threshold(80, 90, "above")).status == "crit"


# ------------------------------------------------------------------ pgBackRest

INFO_OK = (
    '[{"archive":[{"database":{"id":1,"repo-key":1},"id":"15-1","max":"000000010000000000000003","min":"000000010000000000000001"}],'
    '"backup":[{"archive":{"start":"000000010000000000000002","stop":"000000010000000000000003"},"backrest":{"format":5,"version":"2.45"},'
    '"database":{"id":1,"repo-key":1},"error":false,"info":{"delta":23030126,"repository":{"delta":2801702,"size":2801702},"size":23030126},'
    '"label":"20261126-065941F","lsn":{"start":"0/2000028","stop":"0/3000050"},"prior":null,"reference":null,'
    '"timestamp":{"start":1795676381,"stop":1795676384},"type":"full"}],"cipher":"none",'
    '"db":[{"id":1,"repo-key":1,"system-id":7712371013048367039,"version":"15"}],"name":"main",'
    '"repo":[{"cipher":"none","key":1,"status":{"code":0,"message":"ok"}}],'
    '"status":{"code":0,"lock":{"backup":{"held":false}},"message":"ok"}}]'
)
INFO_MISSING = (
    '[{"archive":[],"backup":[],"cipher":"none","db":[],"name":"nope","repo":[{"cipher":"none","key":1,'
    '"status":{"code":1,"message":"missing stanza path"}}],"status":{"code":1,"lock":{"backup":{"held":false}},'
    '"message":"missing stanza path"}}]'
)


def test_pgbackrest_commands_run_as_postgres():
    assert _backup.pgbackrest_info_command("main", "/etc/pgbackrest/pgbackrest.conf") == [
        "runuser", "-u", "postgres", "--", "pgbackrest", "--config=/etc/pgbackrest/pgbackrest.conf", "--stanza=main",
        "--output=json", "info"]
    assert _backup.pgbackrest_info_command("s", None)[4:] == ["pgbackrest", "--stanza=s", "--output=json", "info"]
    assert _backup.psql_command("SELECT 1", 5433) == ["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1",
                                                      "-p", "5433", "-c", "SELECT 1"]


def test_parse_pgbackrest_info_and_results():
    info = _backup.parse_pgbackrest_info(INFO_OK, "main")
    assert info.ok and info.archive_max == "000000010000000000000003"
    newest = info.newest()
    assert newest is not None and (newest.label, newest.type, newest.repo_delta) == ("20261126-065941F", "full", 2801702)
    assert format_utc(newest.stop) == "2026-11-26T06:59:44Z"
    with pytest.raises(ValueError, match="stanza 'other' is not in the output"):
        _backup.parse_pgbackrest_info(INFO_OK, "other")
    assert bc.pgbackrest_info_result("main", 0, INFO_OK, "").status == "ok"
    bad = bc.pgbackrest_info_result("nope", 0, INFO_MISSING, "")
    assert bad.status == "crit" and "missing stanza path (status code 1)" in bad.message and "stanza-create" in bad.message
    broken = bc.pgbackrest_info_result("main", 28, "", "WARN: x\nERROR: [028]: unable to open file '/etc/p.conf'")
    assert broken.status == "unknown" and broken.message.endswith("ERROR: [028]: unable to open file '/etc/p.conf'")
    assert bc.pgbackrest_info_result("main", 0, "garbage", "").status == "unknown"
    check = bc.pgbackrest_check_result("main", 68, "", "ERROR: [068]: archive_command 'false' must contain pgbackrest")
    assert check.status == "crit" and check.message.endswith("archive_command 'false' must contain pgbackrest")


def archiver(**changes: Any) -> dict[str, Any]:
    row = {
        "in_recovery": False, "archive_mode": "on", "archive_timeout_s": 1800.0, "archived_count": 6,
        "last_archived_wal": "000000010000000000000005", "last_archived_time": NOW - datetime.timedelta(minutes=90),
        "failed_count": 0, "last_failed_wal": None, "last_failed_time": None,
        "current_wal": "000000010000000000000006", "ready_count": 0, "now": NOW,
    }
    row.update(changes)
    return row


def test_parse_archiver_output():
    line = "f|on|30min|6|000000010000000000000005|1795676625.68697|3|000000010000000000000006|1795676645.7|000000010000000000000006|1|1795676652.1\n"
    row = _backup.parse_archiver(line)
    assert row["archive_timeout_s"] == 1800 and row["failed_count"] == 3 and row["ready_count"] == 1
    assert format_utc(row["last_failed_time"]) == "2026-11-26T07:04:05Z"
    with pytest.raises(ValueError, match="expected 12 fields"):
        _backup.parse_archiver("f|on\n")


def test_wal_archive_decisions():
    def decide(**changes: Any) -> Any:
        return bc.wal_archive_result(archiver(**changes), WAL, 60)

    failing = decide(failed_count=3, last_failed_wal="000000010000000000000006", last_failed_time=NOW - datetime.timedelta(minutes=1),
                     ready_count=1)
    assert failing.status == "crit" and failing.message.startswith("archiving fails: 000000010000000000000006 at 2026-11-26T11:59:00Z")
    # an old failure followed by a success is history
    assert decide(failed_count=3, last_failed_time=NOW - datetime.timedelta(hours=5)).status == "ok"
    idle = decide(current_wal="000000010000000000000005")
    assert idle.status == "ok" and idle.value == 90 and idle.message.startswith("nothing written since the last archived segment")
    pending_in_time = decide()  # no .ready file, archive_timeout 30 min within the RPO
    assert pending_in_time.status == "ok" and "follows at the next switch" in pending_in_time.message
    stuck = decide(ready_count=4)
    assert stuck.status == "crit" and "4 completed segments wait" in stuck.message
    assert decide(ready_count=4, last_archived_time=NOW - datetime.timedelta(minutes=50)).status == "warn"
    no_timeout = decide(archive_timeout_s=0.0)
    assert no_timeout.status == "crit" and "exceeds the RPO" in no_timeout.message
    assert decide(archive_mode="off").status == "crit"
    assert decide(in_recovery=True, current_wal=None).status == "ok"
    assert decide(last_archived_time=None, last_archived_wal=None, archived_count=0).status == "warn"


# ------------------------------------------------------------------ options


def params(**changes: Any) -> dict[str, Any]:
    base = {"checks": None, "thresholds": {}, "backup_root": "/b", "schedules": None, "stanza": "main",
            "pgbackrest_config": "/etc/pgbackrest/pgbackrest.conf", "pgbackrest": False, "pg_port": 5432,
            "rpo_minutes": 60.0, "verify": False}
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"thresholds": {"shrink_pct": {"warn": 60, "crit": 50}}}, "threshold 'shrink_pct': warn 60 is beyond crit 50"),
        ({"thresholds": {"space_days": {"warn": 3}}}, "threshold 'space_days': warn 3 is beyond crit 7"),
        ({"thresholds": {"age_hours": {"warn": 3}}}, "unknown threshold 'age_hours'"),
        ({"thresholds": {"space_pct": {"warn": "lots"}}}, "threshold 'space_pct' warn must be a number, got 'lots'"),
        ({"checks": ["age", "tape"]}, "unknown check name(s) 'tape'"),
        ({"rpo_minutes": 0}, "rpo_minutes must be a positive number of minutes, got 0"),
        ({"schedules": [{"kind": "full", "target": "x"}]}, "schedules[0]: kind full takes no target"),
        ({"schedules": [{"kind": "incr", "warn_hours": 20, "crit_hours": None}]}, "threshold 'schedules[0] (incr)': warn 20 is beyond crit 13"),
        ({"schedules": [{"kind": "full", "warn_hours": -1}]}, "warn_hours must be more than 0 hours, got -1"),
        ({"schedules": [{"kind": "full"}, {"kind": "full"}]}, "schedules[1] (full): full is scheduled twice"),
    ],
)
def test_bad_options_name_the_value(changes, message):
    with pytest.raises((ValueError, ThresholdError)) as caught:
        bc.validate(params(**changes))
    assert message in str(caught.value)


def test_wal_threshold_follows_rpo_and_schedules_derive_from_records():
    thresholds = bc.validate(params(rpo_minutes=30))[1]
    assert (thresholds["wal_archive_minutes"].warn, thresholds["wal_archive_minutes"].crit) == (22.5, 30)
    records = parsed(record("logical", 1, target="b"), record("logical", 1, target="a"), record("full", 1),
                     record("redis", 1, "skipped"))
    assert [(s.instance, s.threshold.warn) for s in bc.build_schedules(None, records)] == [
        ("full", 26), ("logical.a", 26), ("logical.b", 26)]
    explicit = bc.build_schedules([{"kind": "logical", "warn_hours": 2, "crit_hours": 3}, {"kind": "config"}], records)
    assert [(s.instance, s.threshold.crit) for s in explicit] == [("logical.a", 3), ("logical.b", 3), ("config", 50)]


def test_collect_with_fake_commands(tmp_path):
    write_records(tmp_path, [record("full", 2)])
    calls: list[list[str]] = []

    def run(command):
        calls.append(list(command))
        if command[-1] == "info":
            return 0, INFO_OK, ""
        if command[-1] == "check":
            return 0, "", ""
        return 0, "f|on|30min|6|000000010000000000000005|1795676625|0|||000000010000000000000005|0|1795676652\n", ""

    results = bc.collect(params(backup_root=str(tmp_path), pgbackrest=True), list(bc.CHECKS), bc.default_thresholds(60),
                         run, lambda name: f"/usr/bin/{name}", now=NOW)
    ids = [r.check for r in results]
    assert ids == ["backup.records", "backup.age:full", "backup.last_run:full", "backup.size:full", "pgbackrest.info",
                   "pgbackrest.wal_archive", "pgbackrest.check", "backup.space", "backup.space_days"]
    assert [c[-1] for c in calls] == ["info", _backup.WAL_QUERY, "check"]  # archiver read before check switches WAL
    assert all(c[:4] == ["runuser", "-u", "postgres", "--"] for c in calls)
    missing = bc.collect(params(backup_root=str(tmp_path), pgbackrest=True, checks=["pgbackrest_info"]), ["pgbackrest_info"],
                         bc.default_thresholds(60), run, lambda name: None, now=NOW)
    assert missing[0].status == "unknown" and "set pgbackrest: false" in missing[0].message

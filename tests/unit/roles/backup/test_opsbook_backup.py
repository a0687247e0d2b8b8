"""opsbook-backup (roles/backup/files/opsbook_backup.py): pure parts and the no-PostgreSQL paths, with real files."""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import importlib.machinery
import importlib.util
import json
import os
import stat
import sys
from pathlib import Path

import pytest
from helpers import ROOT

SCRIPT = ROOT / "roles" / "backup" / "files" / "opsbook_backup.py"


def _load():
    loader = importlib.machinery.SourceFileLoader("opsbook_backup", str(SCRIPT))
    spec = importlib.util.spec_from_loader("opsbook_backup", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["opsbook_backup"] = module  # dataclasses resolve annotations through sys.modules
    loader.exec_module(module)
    return module


ob = _load()


# -- fixtures ----------------------------------------------------------------


@pytest.fixture
def env(tmp_path):
    """A backup root, a lock path and a config file pointing at tmp paths, plus sources to back up."""
    root = tmp_path / "backups"
    root.mkdir(mode=0o750)
    src = tmp_path / "etc"
    (src / "app" / "conf.d").mkdir(parents=True)
    (src / "app" / "main.conf").write_text("listen 8080\n")
    (src / "app" / "conf.d" / "extra.conf").write_text("x = 1\n")
    secret = src / "app" / "app.env"
    secret.write_text("SECRET_KEY=hunter2\n")
    secret.chmod(0o600)
    cfg = {
        "backup_root": str(root),
        "lock_path": str(tmp_path / "lock" / "opsbook-backup.lock"),
        "lock_wait_seconds": 5,
        "config_paths": [str(src / "app"), str(src / "nginx"), str(src / "*.missing")],
    }
    config = tmp_path / "backup.json"
    config.write_text(json.dumps(cfg))
    return {"root": root, "src": src, "secret": secret, "config": config, "cfg": cfg, "tmp": tmp_path}


def run(capsys, *argv):
    code = ob.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- stamps, ids, messages ---------------------------------------------------


def test_stamp_and_id_are_utc():
    when = dt.datetime(2026, 11, 26, 8, 15, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert ob.format_compact(when) == "20261126T071500Z"
    assert ob.format_utc(when) == "2026-11-26T07:15:00Z"
    assert ob.format_compact(dt.datetime(2026, 1, 2, 3, 4, 5)) == "20260102T030405Z"
    assert ob.record_id("20261126T071500Z", "logical", "appdb") == "20261126T071500Z-logical-appdb"
    assert ob.record_id("20261126T071500Z", "full") == "20261126T071500Z-full"
    assert ob.parse_utc("20261126T071500Z") == dt.datetime(2026, 11, 26, 7, 15, tzinfo=dt.timezone.utc)


def test_error_messages_are_one_line():
    enospc = OSError(errno.ENOSPC, "No space left on device", "/b/x")
    assert ob.error_message(enospc, "/var/backups/opsbook", 1024 * 1024) == "no space left on /var/backups/opsbook (1.0 MiB free)"
    gone = ob.CommandError("pg_dump", 1, "pg_dump: error: query failed: FATAL:  terminating connection due to administrator command\nmore\n")
    assert ob.error_message(gone) == "pg_dump: error: query failed: FATAL: terminating connection due to administrator command"
    mismatch = ob.CommandError("pgbackrest", 28, "WARN: x\nERROR: [028]: backup and archive info files exist but do not match the database\n")
    msg = ob.error_message(mismatch)
    assert "do not match the database" in msg and "stanza-upgrade" in msg and "\n" not in msg
    full = ob.CommandError("pgbackrest", 64, "ERROR: [064]: unable to write '/r/x.zst'\n[28] No space left on device\n")
    assert ob.error_message(full, "/r", 0).startswith("no space left on /r (0 B free); pgbackrest: ERROR: [064]")
    denied = ob.CommandError("pgbackrest", 47, "ERROR: [047]: unable to create path '/r/backup': [13] Permission denied\n")
    assert "writable by postgres" in ob.error_message(denied)


def test_pg_version_parsing():
    text = "pg_dump (PostgreSQL) 15.10 (Debian 15.10-0+deb12u1)"
    assert ob.pg_major(text) == 15
    assert ob.pg_version(text) == "15.10"
    assert ob.pg_major("pg_dump (PostgreSQL) 17.6 (Debian 17.6-0+deb13u1)") == 17
    assert ob.dump_compression(15, 3) == (["--compress=0"], "zstd:3 (per file)", True)
    assert ob.dump_compression(17, 5) == (["--compress=zstd:5"], "zstd:5 (pg_dump)", False)


def test_pgbackrest_info_parsing():
    info = [
        {
            "name": "main",
            "status": {"code": 0, "message": "ok"},
            "backup": [
                {"label": "20261126-071500F", "type": "full", "prior": None, "info": {"size": 100, "delta": 100, "repository": {"size": 30, "delta": 30}}},
                {
                    "label": "20261126-071500F_20261126-131500I",
                    "type": "incr",
                    "prior": "20261126-071500F",
                    "archive": {"start": "000000010000000000000007", "stop": "000000010000000000000007"},
                    "info": {"size": 101, "delta": 5, "repository": {"size": 31, "delta": 2}},
                },
            ],
        }
    ]
    sets = ob.pgbackrest_sets(info, "main")
    assert ob.pgbackrest_status(info, "main") == (0, "ok")
    assert ob.pgbackrest_status(info, "other")[0] == 99
    new = ob.pick_new_set(["20261126-071500F"], sets, "incr")
    assert new["label"] == "20261126-071500F_20261126-131500I"
    assert ob.pick_new_set(["20261126-071500F"], sets, "full") is None
    fields = ob.pgbackrest_fields(new, "main")
    assert fields == {
        "label": "20261126-071500F_20261126-131500I",
        "type": "incr",
        "prior": "20261126-071500F",
        "stanza": "main",
        "repo_size": 2,
        "db_size": 101,
        "wal_start": "000000010000000000000007",
        "wal_stop": "000000010000000000000007",
    }


# -- manifests ---------------------------------------------------------------


def _artifact(tmp_path):
    art = tmp_path / "20261126T071500Z"
    (art / "sub").mkdir(parents=True)
    (art / "toc.dat").write_bytes(b"toc-contents" * 100)
    (art / "3456.dat.zst").write_bytes(os.urandom(5000))
    (art / "sub" / "x.conf").write_text("a = 1\n")
    return art


def test_manifest_build_and_verify_ok(tmp_path):
    art = _artifact(tmp_path)
    doc = ob.write_manifest(art, {"id": "i", "kind": "logical", "target": "appdb"})
    assert [f["path"] for f in doc["files"]] == ["3456.dat.zst", "sub/x.conf", "toc.dat"]
    assert doc["total_size"] == 5000 + 1200 + 6
    assert json.loads((art / "manifest.json").read_text()) == doc
    manifest, problems = ob.verify_manifest(art)
    assert problems == [] and manifest["id"] == "i"
    assert not list(art.glob(".manifest.json.*"))  # no temp file left


def test_manifest_corrupt_byte_and_truncate_name_the_file(tmp_path):
    art = _artifact(tmp_path)
    ob.write_manifest(art, {"id": "i", "kind": "logical"})
    with open(art / "toc.dat", "r+b") as handle:  # flip one byte, same size
        handle.seek(10)
        byte = handle.read(1)
        handle.seek(10)
        handle.write(bytes([byte[0] ^ 0xFF]))
    os.truncate(art / "3456.dat.zst", 0)
    (art / "sub" / "x.conf").unlink()
    _manifest, problems = ob.verify_manifest(art)
    assert problems == ["3456.dat.zst: size 0 != 5000", "sub/x.conf: missing", "toc.dat: sha256 mismatch"]


def test_manifest_missing_means_incomplete(tmp_path):
    art = _artifact(tmp_path)
    manifest, problems = ob.verify_manifest(art)
    assert manifest is None and "missing (incomplete backup)" in problems[0]


def test_manifest_problems_pure():
    expected = [{"path": "a", "size": 1, "sha256": "x"}, {"path": "b", "size": 2, "sha256": "y"}]
    assert ob.manifest_problems(expected, {"a": (1, "x"), "b": (2, "y")}) == []
    assert ob.manifest_problems(expected, {"a": (1, "z"), "b": None}) == ["a: sha256 mismatch", "b: missing"]


def test_count_problems():
    tables = [{"schema": "public", "name": "t", "rows": 10}, {"schema": "s", "name": "Mixed Case", "rows": 3}]
    assert ob.count_problems(tables, {("public", "t"): 10, ("s", "Mixed Case"): 3}) == []
    assert ob.count_problems(tables, {("public", "t"): 9}) == ["public.t: 9 rows != 10", "s.Mixed Case: missing after restore"]
    assert ob.quote_ident('we"ird') == '"we""ird"'


# -- records -----------------------------------------------------------------


def test_record_lifecycle(tmp_path):
    start = dt.datetime(2026, 11, 26, 7, 15, tzinfo=dt.timezone.utc)
    rec = ob.new_record("20261126T071500Z-config", "config", None, "timer", start, "db1", os.getpid(), "/b/config/20261126T071500Z")
    assert rec["status"] == "running" and rec["pid"] == os.getpid() and rec["checksum_status"] == "pending"
    path = tmp_path / "r.json"
    ob.write_json_atomic(path, rec)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    ok = ob.finish_record(rec, "ok", start + dt.timedelta(seconds=9.1), "fine", size_bytes=12, checksum_status="verified")
    assert (ok["status"], ok["end"], ok["duration_s"], ok["size_bytes"]) == ("ok", "2026-11-26T07:15:09Z", 9.1, 12)
    failed = ob.finish_record(rec, "failed", start + dt.timedelta(seconds=2), "no space left on /b (0 B free)\nsecond line")
    assert failed["status"] == "failed" and failed["checksum_status"] == "not_applicable" and "\n" not in failed["message"]
    ob.write_json_atomic(path, failed)
    assert json.loads(path.read_text())["status"] == "failed"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # the temp file was replaced, not left


def test_dead_pid_reads_as_interrupted(env):
    records = env["root"] / "records"
    records.mkdir()
    dead = 2**22 + 12345  # above pid_max of most systems
    while ob.pid_alive(dead):
        dead += 1
    rec = ob.new_record("20261126T071500Z-full", "full", None, "timer", ob.utc_now(), os.uname().nodename, dead, None)
    ob.write_json_atomic(records / f"{rec['id']}.json", rec)
    live = ob.new_record("20261126T071600Z-config", "config", None, "timer", ob.utc_now(), os.uname().nodename, os.getpid(), None)
    ob.write_json_atomic(records / f"{live['id']}.json", live)
    by_id = {r["id"]: r for r in ob.load_records(env["root"])}
    assert by_id["20261126T071500Z-full"]["status"] == "failed"
    assert "interrupted" in by_id["20261126T071500Z-full"]["message"]
    assert by_id["20261126T071600Z-config"]["status"] == "running"
    assert ob.effective_status({"status": "running", "pid": 1}, pid_alive=False)[0] == "failed"
    assert ob.effective_status({"status": "ok", "pid": 1}, pid_alive=False) == ("ok", None)


# -- CLI: bad input ------------------------------------------------------------


def test_unknown_kind_exit_2_one_line(env, capsys):
    code, out, err = run(capsys, "--config", str(env["config"]), "run", "weekly")
    assert code == 2
    assert err.count("\n") == 1 and "unknown backup kind 'weekly'" in err and "full, incr, diff, logical, redis, config" in err
    assert not (env["root"] / "records").exists()


def test_unknown_kind_json(env, capsys):
    code, out, _err = run(capsys, "--config", str(env["config"]), "run", "weekly", "--json")
    assert code == 2 and "unknown backup kind" in json.loads(out)["message"]


def test_bad_usage_exit_2(env, capsys):
    code, _out, err = run(capsys, "--config", str(env["config"]), "run")
    assert code == 2 and err.count("\n") == 1
    code, _out, err = run(capsys, "--config", str(env["config"]), "run", "config", "--target", "appdb")
    assert code == 2 and "--target applies to logical" in err


def test_backup_root_missing_exit_2(env, capsys):
    cfg = dict(env["cfg"], backup_root=str(env["tmp"] / "nope"))
    env["config"].write_text(json.dumps(cfg))
    code, _out, err = run(capsys, "--config", str(env["config"]), "run", "config")
    assert code == 2 and err.count("\n") == 1
    assert f"backup location {env['tmp'] / 'nope'} does not exist" in err and "set backup_root" in err


def test_backup_root_not_a_directory_exit_2(env, capsys):
    afile = env["tmp"] / "afile"
    afile.write_text("")
    env["config"].write_text(json.dumps(dict(env["cfg"], backup_root=str(afile))))
    code, _out, err = run(capsys, "--config", str(env["config"]), "run", "config")
    assert code == 2 and "is not a directory" in err


def test_backup_root_not_writable_exit_2(env, capsys, monkeypatch):
    env["root"].chmod(0o500)
    try:
        if os.geteuid() == 0:  # root writes anyway: simulate what a read-only mount answers
            monkeypatch.setattr(ob.os, "access", lambda path, mode: False)
        code, _out, err = run(capsys, "--config", str(env["config"]), "run", "config")
    finally:
        env["root"].chmod(0o750)
    assert code == 2 and err.count("\n") == 1
    assert f"backup location {env['root']} is not writable by" in err and "fix its mode or set backup_root" in err
    assert not (env["root"] / "records").exists()


def test_bad_config_names_the_key(env, capsys):
    env["config"].write_text(json.dumps(dict(env["cfg"], logical_jobs="two")))
    code, _out, err = run(capsys, "--config", str(env["config"]), "run", "config")
    assert code == 2 and "logical_jobs must be an integer 1..64, got 'two'" in err
    env["config"].write_text("{not json")
    code, _out, err = run(capsys, "--config", str(env["config"]), "list")
    assert code == 2 and "is not valid JSON" in err
    code, _out, err = run(capsys, "--config", str(env["tmp"] / "absent.json"), "list")
    assert code == 2 and "does not exist" in err


def test_disabled_kind_exit_2(env, capsys):
    code, _out, err = run(capsys, "--config", str(env["config"]), "run", "full")
    assert code == 2 and "pgBackRest is not enabled" in err


# -- lock --------------------------------------------------------------------


def test_lock_refusal_names_the_holder(env, capsys):
    lock_path = env["cfg"]["lock_path"]
    os.makedirs(os.path.dirname(lock_path))
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    holder = {"pid": 4242, "kind": "full", "target": None, "start": "2026-11-26T07:15:00Z"}
    Path(ob.holder_path(lock_path)).write_text(json.dumps(holder))
    try:
        code, _out, err = run(capsys, "--config", str(env["config"]), "run", "config", "--wait", "0")
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    assert code == 3 and err.count("\n") == 1
    assert "pid 4242 (full since 2026-11-26T07:15:00Z)" in err and "--wait" in err
    assert not (env["root"] / "records").exists()  # nothing started


def test_lock_released_and_holder_file_removed(env):
    lock = ob.BackupLock(env["cfg"]["lock_path"])
    lock.acquire(0, "config", None)
    assert ob.read_holder(env["cfg"]["lock_path"])["pid"] == os.getpid()
    other = ob.BackupLock(env["cfg"]["lock_path"])
    with pytest.raises(ob.LockBusy, match=f"pid {os.getpid()} \\(config since"):
        other.acquire(0.3, "full", None)
    lock.release()
    assert ob.read_holder(env["cfg"]["lock_path"]) is None
    other.acquire(0, "full", None)
    other.release()


# -- config backup end to end -----------------------------------------------


def test_config_backup_end_to_end(env, capsys):
    code, out, err = run(capsys, "--config", str(env["config"]), "run", "config", "--json")
    assert code == 0, err
    doc = json.loads(out)
    (rec,) = doc["records"]
    assert rec["status"] == "ok" and rec["checksum_status"] == "verified" and rec["kind"] == "config"
    art = Path(rec["path"])
    assert art.parent == env["root"] / "config" and stat.S_IMODE(art.stat().st_mode) == 0o700
    rel = str(env["secret"]).lstrip("/")
    copy = art / rel
    assert copy.read_text() == "SECRET_KEY=hunter2\n"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert (copy.stat().st_uid, copy.stat().st_gid) == (env["secret"].stat().st_uid, env["secret"].stat().st_gid)
    manifest = json.loads((art / "manifest.json").read_text())
    paths = sorted(f["path"] for f in manifest["files"])
    assert paths == sorted(str(env["src"] / "app" / p).lstrip("/") for p in ("app.env", "conf.d/extra.conf", "main.conf"))
    assert manifest["missing"] == [str(env["src"] / "nginx"), str(env["src"] / "*.missing")]
    assert manifest["total_size"] == rec["size_bytes"]
    saved = json.loads((env["root"] / "records" / f"{rec['id']}.json").read_text())
    assert saved == rec
    assert not list((env["root"] / "records").glob(".*"))  # no reserve / temp file left

    code, out, _err = run(capsys, "--config", str(env["config"]), "list", "--json")
    assert code == 0 and [r["id"] for r in json.loads(out)["records"]] == [rec["id"]]

    code, out, _err = run(capsys, "--config", str(env["config"]), "verify", "--latest", "config")
    assert code == 0 and "every file matches" in out

    with open(copy, "r+b") as handle:  # corrupt the copy: verify says which file
        handle.write(b"X")
    code, out, _err = run(capsys, "--config", str(env["config"]), "verify", "--id", rec["id"], "--json")
    assert code == 1 and f"{rel}: sha256 mismatch" in json.loads(out)["message"]
    assert json.loads((env["root"] / "records" / f"{rec['id']}.json").read_text())["checksum_status"] == "failed"


def test_config_backup_failure_removes_partial_dir(env, capsys, monkeypatch):
    real_copy = ob.copy_file_secure
    calls = []

    def failing_copy(src, dst, mode, uid, gid):
        calls.append(src)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_copy(src, dst, mode, uid, gid)

    monkeypatch.setattr(ob, "copy_file_secure", failing_copy)
    code, out, err = run(capsys, "--config", str(env["config"]), "run", "config", "--json")
    assert code == 1
    (rec,) = json.loads(out)["records"]
    assert rec["status"] == "failed" and rec["message"].startswith("no space left on ") and rec["path"] is None
    assert list((env["root"] / "config").iterdir()) == []  # partial artifact removed
    assert json.loads((env["root"] / "records" / f"{rec['id']}.json").read_text())["status"] == "failed"


def test_two_runs_in_one_second_get_distinct_ids(env, capsys):
    ids = []
    for _attempt in range(2):
        code, out, _err = run(capsys, "--config", str(env["config"]), "run", "config", "--json")
        assert code == 0
        ids.append(json.loads(out)["records"][0]["id"])
    assert ids[0] != ids[1]


def test_standby_is_skipped_exit_0(env, capsys, monkeypatch):
    env["config"].write_text(json.dumps(dict(env["cfg"], pgbackrest={"enabled": True}, postgresql={"enabled": True}, logical_databases=["appdb"])))
    monkeypatch.setattr(ob, "pg_in_recovery", lambda ctx: True)
    monkeypatch.setattr(ob, "run_pgbackrest", lambda *a: pytest.fail("a standby must not run pgBackRest"))
    code, out, _err = run(capsys, "--config", str(env["config"]), "run", "incr", "--json")
    assert code == 0
    (rec,) = json.loads(out)["records"]
    assert (rec["status"], rec["message"], rec["checksum_status"]) == ("skipped", "standby: backups run on the primary", "not_applicable")
    code, out, _err = run(capsys, "--config", str(env["config"]), "run", "logical", "--json")
    assert code == 0 and [r["id"].endswith("-logical-appdb") and r["status"] == "skipped" for r in json.loads(out)["records"]] == [True]


def test_postgresql_gone_is_a_failed_record(env, capsys, monkeypatch):
    env["config"].write_text(json.dumps(dict(env["cfg"], pgbackrest={"enabled": True}, postgresql={"enabled": True})))

    def down(ctx):
        raise ob.BackupError('PostgreSQL: psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: No such file or directory')

    monkeypatch.setattr(ob, "pg_in_recovery", down)
    code, out, err = run(capsys, "--config", str(env["config"]), "run", "full")
    assert code == 1 and "full failed" in err.replace("-full failed", "full failed") and "connection to server" in err
    (rec,) = ob.load_records(env["root"])
    assert rec["status"] == "failed" and rec["message"].startswith("PostgreSQL: psql: error: connection to server")


def test_full_filesystem_heuristics():
    assert ob.nearly_full(1024 * 1024, 64 * 1024 * 1024)
    assert not ob.nearly_full(50 * 1024**3, 100 * 1024**3)
    assert ob.is_write_error("ERROR: [064]: raised from local-2 protocol: unable to write '/r/x.zst'")
    assert not ob.is_write_error("ERROR: [055]: unable to load info file")
    assert ob.is_no_space("pg_dump: error: could not write to output file: No space left on device")


# -- restore test ------------------------------------------------------------


def test_scratch_dir_never_the_live_cluster(tmp_path):
    live = tmp_path / "pg" / "17" / "main"
    live.mkdir(parents=True)
    assert "is the live cluster's data directory" in ob.scratch_dir_problem(str(live), str(live))
    assert "inside the live cluster's data directory" in ob.scratch_dir_problem(str(live / "restore"), str(live))
    assert "contains the live cluster's data directory" in ob.scratch_dir_problem(str(tmp_path / "pg"), str(live))
    # A symlink to the live data directory is the live data directory.
    link = tmp_path / "innocent"
    link.symlink_to(live)
    assert "is the live cluster's data directory" in ob.scratch_dir_problem(str(link), str(live))
    assert ob.scratch_dir_problem(str(tmp_path / "restore-test"), str(live)) is None
    # A sibling whose name starts like the live directory is not inside it.
    assert ob.scratch_dir_problem(str(tmp_path / "pg" / "17" / "main-restore"), str(live)) is None


def test_restore_space_and_amcheck_parsing():
    assert ob.space_needed(0) == 256 << 20
    assert ob.space_needed(10 << 30) == int((10 << 30) * 1.1) + (256 << 20)
    assert ob.amcheck_result(["173", "0", ""]) == (173, [])
    checked, problems = ob.amcheck_result(["5", "2", "a_pkey: index \"a_pkey\" lacks a main relation fork; b_idx: item order invariant violated"])
    assert checked == 5 and problems == ['a_pkey: index "a_pkey" lacks a main relation fork', "b_idx: item order invariant violated"]
    assert ob.throughput(100_000_000, 4.0) == 25.0
    assert ob.throughput(None, 4.0) is None and ob.throughput(1, 0) is None


def test_restore_test_usage_refusals(env, capsys):
    config = env["config"]
    code, _out, err = run(capsys, "--config", str(config), "restore-test", "weekly")
    assert code == 2 and "unknown restore-test kind 'weekly'; choose logical or physical" in err
    code, _out, err = run(capsys, "--config", str(config), "restore-test", "physical")
    assert code == 2 and "pgBackRest is not enabled" in err
    code, _out, err = run(capsys, "--config", str(config), "restore-test", "logical")
    assert code == 2 and "logical_databases is empty" in err
    env["config"].write_text(json.dumps(dict(env["cfg"], restore_test={"port": 0})))
    code, _out, err = run(capsys, "--config", str(config), "restore-test", "logical", "--target", "appdb")
    assert code == 2 and "restore_test.port must be a port number, got 0" in err
    env["config"].write_text(json.dumps(dict(env["cfg"], restore_test={"dir": "relative/dir"})))
    code, _out, err = run(capsys, "--config", str(config), "restore-test", "logical", "--target", "appdb")
    assert code == 2 and "restore_test.dir must be an absolute path below /" in err


def test_blocked_directory_names_the_first_directory_a_user_cannot_enter():
    """The restore test's scratch cluster runs as postgres: a 0700 root parent is found before anything is restored."""
    import shutil
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="opsbook-blocked-", dir="/tmp"))  # /tmp is traversable by everyone
    try:
        top.chmod(0o755)
        opsbook = top / "var" / "lib" / "opsbook"
        base = opsbook / "restore-test"
        base.mkdir(parents=True)
        for part in (top / "var", top / "var" / "lib"):
            part.chmod(0o755)
        opsbook.chmod(0o700)
        assert ob.blocked_directory(str(base), "nobody") == str(opsbook)
        opsbook.chmod(0o755)
        assert ob.blocked_directory(str(base), "nobody") is None
        opsbook.chmod(0o700)
        assert ob.blocked_directory(str(base), "root") is None  # root enters everything
    finally:
        shutil.rmtree(top)

"""Backups on the stack: backup.yml and weekly.yml as a user runs them, the
backup tool against real PostgreSQL, pgBackRest and Redis, the faults it must
survive, and restore tests.

The db host keeps its backups on a 256 MiB volume (tests/testbed/stack.py),
so the backup filesystem can be filled. Tests of one release run in file
order: later ones use the backups the earlier ones took.

Version-dependent behaviour: pgBackRest 2.45 (Debian 12) copies a changed
file whole; 2.55 (Debian 13) stores changed blocks (block incremental, which
roles/backup turns on from 2.46). PostgreSQL 15 vs 17 for pg_dump and the
restore tests.
"""

from __future__ import annotations

import fnmatch
import json
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from testbed.stack import Stack, StackHost

ROOT = "/var/backups/opsbook"
TOOL = "/usr/local/sbin/opsbook-backup"
FILLER = f"{ROOT}/filler"
REPO = f"{ROOT}/pgbackrest"
SCRATCH = "/var/lib/opsbook/restore-test"


class Db:
    """The stack's db host: shell, psql and the backup tool as root."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.name = stack.hosts("db")[0]
        self.host = StackHost(stack, self.name)

    def sh(self, command: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.stack.sh(self.name, command, check=check, timeout=timeout)

    def psql(self, sql: str, db: str = "appdb") -> str:
        return self.sh(f"runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d {db} -c {shlex.quote(sql)}").stdout.strip()

    def tool(self, *args: str, expect_rc: int | None = 0) -> tuple[int, dict[str, Any], str]:
        """opsbook-backup with --json: rc, the JSON document and stderr."""
        done = self.sh(" ".join([TOOL, *map(shlex.quote, args), "--json"]), check=False)
        if expect_rc is not None:
            assert done.returncode == expect_rc, f"opsbook-backup {' '.join(args)}: rc {done.returncode}\n{done.stdout}\n{done.stderr}"
        try:
            doc = json.loads(done.stdout) if done.stdout.strip() else {}
        except ValueError:
            doc = {}
        return done.returncode, doc, done.stderr

    def module(self, name: str, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
        return self.host.ansible(f"opsbook.stack.{name}", args, become=True, check=check)

    def backup_checks(self, **args: Any) -> dict[str, dict[str, Any]]:
        """opsbook.stack.backup_check on the db host, keyed by check id."""
        params: dict[str, Any] = {
            "schedules": [{"kind": "full"}, {"kind": "incr"}, {"kind": "logical"}],
            "verify": False,
            # The 256 MiB backup volume is full in a few weeks at the first
            # day's growth, which the default levels (warn at 30 days) rightly
            # report; levels sized for it keep the rest green.
            "thresholds": {"space_days": {"warn": 10, "crit": 3}},
        }
        params.update(args)
        out = self.module("backup_check", params)
        assert "checks" in out, out
        return {item["check"]: item for item in out["checks"]}

    def pgbackrest_info(self) -> dict[str, Any]:
        return json.loads(self.sh("runuser -u postgres -- pgbackrest --stanza=main info --output json").stdout)[0]

    def block_incremental(self) -> bool:
        """pgBackRest >= 2.46 (Debian 13): roles/backup turns block incremental on."""
        return "repo1-block=y" in self.sh("cat /etc/pgbackrest/pgbackrest.conf").stdout


@pytest.fixture(scope="session")
def db(stack: Stack) -> Db:
    return Db(stack)


def record(doc: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return doc["records"][index]


def not_ok(checks: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {cid: item["status"] for cid, item in checks.items() if item["status"] != "ok"}


def leftovers(db: Db) -> tuple[str, str]:
    """Scratch databases and scratch directories a restore test left behind (both must be empty)."""
    dbs = db.psql("SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'opsbook_restore_test_%'", db="postgres")
    dirs = db.sh(f"ls -A {SCRATCH} 2>/dev/null || true").stdout.strip()
    return dbs, dirs


# Session-scoped: this file's tests run in several stages, between other files' tests.
@pytest.fixture(scope="session", autouse=True)
def data(db: Db) -> None:
    """A table with enough rows that a dump and a backup have real work, in two schemas; dropped afterwards."""
    db.psql(
        "DROP TABLE IF EXISTS items, audit.log; CREATE SCHEMA IF NOT EXISTS audit; "
        "CREATE TABLE items (id bigint PRIMARY KEY, payload text); "
        "INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 50000) g; "
        "CREATE TABLE audit.log (id serial PRIMARY KEY, note text); "
        "INSERT INTO audit.log (note) SELECT 'n' || g FROM generate_series(1, 1234) g"
    )
    yield
    db.psql("DROP TABLE IF EXISTS items, audit.log; DROP SCHEMA IF EXISTS audit")


# ------------------------------------------------------------ the playbooks


def test_backup_full_reports_green(stack: Stack, db: Db) -> None:
    before = {item["id"] for item in db.tool("list", "--kind", "full")[1]["records"]}
    run = stack.playbook("backup", "-e", "backup_kind=full")
    assert run.rc == 0, run.output[-4000:]
    new = [item for item in db.tool("list", "--kind", "full")[1]["records"] if item["id"] not in before]
    assert len(new) == 1 and new[0]["status"] == "ok" and new[0]["trigger"] == "ansible", new
    assert not run.not_ok(), run.not_ok()
    checks = {check for _host, check in run.statuses()}
    for expected in ("backup.age:full", "backup.last_run:full", "pgbackrest.info", "pgbackrest.check", "pgbackrest.wal_archive"):
        assert expected in checks, sorted(checks)
    assert not any(check.startswith(("backup.age:redis", "backup.age:config")) for check in checks)


def test_weekly_reports_green(stack: Stack) -> None:
    # The shared stack's logs hold the errors earlier suites caused on purpose, and the
    # weekly's first run reads each log from its start: it may warn about those, and only them.
    first = stack.playbook("weekly")
    assert first.rc == 0, first.output[-4000:]
    assert {check.split(":")[0] for _host, check in first.not_ok()} <= {"log.errors"}, first.not_ok()
    # The second run reads only what was logged since: a healthy stack is green throughout.
    run = stack.playbook("weekly")
    # Latency-free checks only: nothing here depends on how busy the machine is.
    assert run.rc == 0, run.output[-4000:]
    assert not run.not_ok(), run.not_ok()
    checks = set(run.statuses())
    assert {host for host, _check in checks} == set(stack.hosts("sandbox"))
    for pattern in ("backup.age:full", "backup.age:incr", "backup.age:logical.*", "backup.checksums:logical.*",
                    "backup.age:redis", "backup.age:config", "pgbackrest.verify", "pgbackrest.wal_archive",
                    "backup.space_days", "host.disk_growth:*", "log.errors:*", "log.rate_limit:nginx_error", "tls.cert:nginx"):
        assert any(fnmatch.fnmatch(check, pattern) for _host, check in checks), (pattern, sorted(checks))
    assert run.path is not None and (run.path / "report.md").read_text().startswith("# Checklist weekly: OK")


@pytest.mark.debian("bookworm")
def test_unknown_backup_kind_is_refused_before_anything_runs(stack: Stack, db: Db) -> None:
    def count() -> int:
        return len(db.tool("list", "--kind", "full")[1]["records"]) + len(db.tool("list", "--kind", "logical")[1]["records"])

    before = count()
    run = stack.playbook("backup", "-e", "backup_kind=weekly", report=False)
    assert run.rc != 0
    assert "backup_kind weekly is not a backup kind" in run.output, run.output[-2000:]
    assert count() == before


# ------------------------------------------------------------ the backup tool


def test_full_then_incremental_after_a_write_is_smaller(db: Db) -> None:
    _rc, full_doc, _err = db.tool("run", "full")
    full = record(full_doc)
    assert (full["kind"], full["status"], full["checksum_status"]) == ("full", "ok", "verified")
    assert full["pgbackrest"]["type"] == "full" and full["size_bytes"] > 0
    db.psql("UPDATE items SET payload = md5(payload) WHERE id <= 500; INSERT INTO items SELECT g, 'new' FROM generate_series(50001, 50500) g")
    _rc, incr_doc, _err = db.tool("run", "incr")
    incr = record(incr_doc)
    assert (incr["kind"], incr["status"]) == ("incr", "ok")
    assert incr["pgbackrest"]["prior"] == full["pgbackrest"]["label"]
    assert 0 < incr["size_bytes"] < full["size_bytes"], (incr["size_bytes"], full["size_bytes"])
    info = db.pgbackrest_info()
    labels = {item["label"]: item["type"] for item in info["backup"]}
    assert labels[full["pgbackrest"]["label"]] == "full" and labels[incr["pgbackrest"]["label"]] == "incr"
    assert info["status"]["code"] == 0
    # Debian 13 (pgBackRest 2.55): block incremental is on; Debian 12 (2.45): it is not offered.
    expected = db.stack.debian == "trixie"
    assert db.block_incremental() is expected, f"block incremental on {db.stack.debian} should be {expected}"


def test_logical_dump_has_a_manifest_and_restores_with_equal_row_counts(db: Db) -> None:
    _rc, doc, _err = db.tool("run", "logical", "--target", "appdb")
    rec = record(doc)
    assert (rec["kind"], rec["target"], rec["status"], rec["checksum_status"]) == ("logical", "appdb", "ok", "verified")
    manifest = json.loads(db.sh(f"cat {rec['path']}/manifest.json").stdout)
    assert manifest["format"] == "directory" and manifest["server_version"] and "zstd" in manifest["compression"]
    # PostgreSQL 15 (Debian 12) or 17 (Debian 13) made the dump.
    assert manifest["server_version"].startswith({"bookworm": "15", "trixie": "17"}[db.stack.debian]), manifest["server_version"]
    assert any(item["path"] == "toc.dat" for item in manifest["files"])
    assert all(len(item["sha256"]) == 64 and item["size"] >= 0 for item in manifest["files"])
    counts = {f"{t['schema']}.{t['name']}": t["rows"] for t in manifest["tables"]}
    assert counts["public.items"] == 50500 and counts["audit.log"] == 1234
    # Restore into a scratch database (never the live one) and count the rows ourselves.
    _rc, restored, _err = db.tool("restore-logical", "--id", rec["id"], "--into", "scratch_restore")
    try:
        assert int(db.psql("SELECT count(*) FROM items", db="scratch_restore")) == counts["public.items"]
        assert int(db.psql("SELECT count(*) FROM audit.log", db="scratch_restore")) == counts["audit.log"]
    finally:
        db.psql("DROP DATABASE IF EXISTS scratch_restore", db="postgres")
    assert "scratch_restore" not in db.psql("SELECT string_agg(datname, ',') FROM pg_database", db="postgres")
    assert restored.get("records") is not None or restored.get("message")


@pytest.mark.debian("trixie")
def test_redis_and_config_snapshots_keep_secrets_private(stack: Stack) -> None:
    """On the cache host: a Redis snapshot, and a config snapshot holding the ACL file (password hashes)."""
    cache = stack.hosts("cache")[0]

    def tool(*args: str) -> dict[str, Any]:
        done = stack.sh(cache, " ".join([TOOL, *args, "--json"]))
        return json.loads(done.stdout)

    doc = tool("run", "redis")
    assert record(doc)["status"] == "ok" and record(doc)["checksum_status"] == "verified"
    rec = record(tool("run", "config"))
    assert rec["status"] == "ok"
    # Every copy keeps its original's mode and owner; the Redis ACL file stays
    # unreadable by others, and so does the snapshot directory.
    listing = stack.sh(cache, f"cd {rec['path']} && find . -type f ! -name manifest.json -printf '%m %u %g %P\\n'").stdout
    copies = [line.split(" ", 3) for line in listing.splitlines()]
    assert copies, rec
    for mode, user, group, rel in copies:
        original = stack.sh(cache, f"stat -c '%a %U %G' /{rel}").stdout.split()
        assert [mode, user, group] == original, (rel, mode, user, group, original)
    acl = [c for c in copies if c[3].endswith("users.acl")]
    assert acl and int(acl[0][0], 8) & 0o007 == 0, acl
    assert int(stack.sh(cache, f"stat -c '%a' {rec['path']}").stdout.strip(), 8) & 0o007 == 0


def test_backup_checks_are_green_after_the_backups(db: Db) -> None:
    checks = db.backup_checks(verify=True)
    assert checks["backup.space_days"]["value"] is not None and checks["backup.space_days"]["value"] > 10
    assert not not_ok(checks), {cid: checks[cid]["message"] for cid in not_ok(checks)}
    for cid in ("backup.age:full", "backup.age:incr", "backup.age:logical.appdb", "backup.checksums:logical.appdb",
                "pgbackrest.info", "pgbackrest.check", "pgbackrest.verify", "pgbackrest.wal_archive", "backup.space"):
        assert cid in checks, sorted(checks)


# ------------------------------------------------------------ restore tests


def test_logical_restore_test_checks_and_drops_the_scratch_database(db: Db) -> None:
    rc, doc, err = db.tool("restore-test", "logical", "--target", "appdb", expect_rc=None)
    assert rc == 0, (doc, err)
    res = doc["results"][0]
    assert res["status"] == "ok" and res["equal"] is True, res
    assert res["rows"] > 0 and res["tables"] >= 2, res
    assert res["indexes_checked"] > 0 and res["index_problems"] == [], res
    assert res["dropped"] is True and res["mb_per_s"] is not None, res
    assert "counts equal to the manifest" in res["message"] and "intact" in res["message"], res
    assert leftovers(db) == ("", ""), leftovers(db)


def test_physical_restore_test_recovers_a_scratch_cluster_and_leaves_no_trace(db: Db) -> None:
    db.tool("run", "full")
    archive_before = db.sh(f"find {REPO}/archive -type f | sort").stdout
    rc, doc, err = db.tool("restore-test", "physical", expect_rc=None)
    assert rc == 0, (doc, err)
    res = doc["results"][0]
    assert res["status"] == "ok", res
    assert res["set_type"] == "full" and res["port"] == 5499, res
    assert "appdb" in res["databases"] and res["indexes_checked"] > 0 and res["index_problems"] == [], res
    assert res["page_checksums"] in ("verified", "off"), res
    assert res["removed"] is True and res["recovered_s"] >= res["restore_s"] > 0, res
    assert leftovers(db) == ("", ""), leftovers(db)
    # The scratch cluster promoted to a new timeline with archiving off: nothing of it reached the repository.
    assert not db.sh(f"find {REPO}/archive -name '*.history'").stdout.strip()
    assert db.sh(f"find {REPO}/archive -type f | sort").stdout == archive_before
    # The live cluster is untouched: still the primary on 5432, pgBackRest still happy with it.
    assert db.psql("SELECT pg_is_in_recovery()::text || ' ' || current_setting('port')", db="postgres") == "false 5432"
    db.sh("runuser -u postgres -- pgbackrest --stanza=main check")


# ------------------------------------------------------------ faults


@pytest.mark.stage("faults")
@pytest.mark.debian("bookworm")
def test_corrupt_byte_and_truncated_file_are_crit_and_named(db: Db) -> None:
    _rc, doc, _err = db.tool("run", "logical", "--target", "appdb")
    path = record(doc)["path"]
    manifest = json.loads(db.sh(f"cat {path}/manifest.json").stdout)
    data_files = sorted((f for f in manifest["files"] if f["path"] != "toc.dat" and f["size"] > 16), key=lambda f: -f["size"])
    corrupt, truncate = "toc.dat", data_files[0]["path"]
    db.sh(f"cp -a {path}/{corrupt} /root/keep-corrupt && cp -a {path}/{truncate} /root/keep-truncate")
    try:
        # Flip one byte in the middle of toc.dat; cut the biggest data file to half.
        db.sh(f"python3 -c \"import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=0xFF; open(p,'wb').write(b)\" {path}/{corrupt}")
        db.sh(f"truncate -s {data_files[0]['size'] // 2} {path}/{truncate}")
        item = db.backup_checks(checks=["checksums"])["backup.checksums:logical.appdb"]
        assert item["status"] == "crit", item
        assert f"{corrupt}: sha256 mismatch" in item["message"], item["message"]
        assert f"{truncate}: size {data_files[0]['size'] // 2} != {data_files[0]['size']}" in item["message"], item["message"]
        verify = db.sh(f"{TOOL} verify --latest logical --target appdb", check=False)
        assert verify.returncode == 1 and corrupt in verify.stdout + verify.stderr
    finally:
        db.sh(f"cp -a /root/keep-corrupt {path}/{corrupt} && cp -a /root/keep-truncate {path}/{truncate}")
    healed = db.backup_checks(checks=["checksums"])["backup.checksums:logical.appdb"]
    assert healed["status"] == "ok", healed


def _previous_ok(db: Db, kind: str, target: str | None = None) -> dict[str, Any]:
    _rc, doc, _err = db.tool("list", "--kind", kind)
    good = [r for r in doc["records"] if r["status"] == "ok" and (target is None or r["target"] == target)]
    assert good, doc
    return good[0]


@pytest.mark.stage("faults")
def test_full_backup_filesystem_fails_cleanly_and_keeps_older_backups(db: Db) -> None:
    before_full = _previous_ok(db, "full")
    before_logical = _previous_ok(db, "logical", "appdb")
    # Only ever fill the stack's own small backup volume (tests/testbed/stack.py), never a real disk.
    fstype, blocks, block_size = db.sh(f"stat -f -c '%T %b %S' {ROOT}").stdout.split()
    size = int(blocks) * int(block_size)
    assert fstype == "tmpfs" and size <= 512 * 1024 * 1024, (
        f"{ROOT} is {fstype} of {size} bytes: the test stack gives the db host a 256 MiB tmpfs volume")
    avail = int(db.sh(f"df -B1 --output=avail {ROOT} | tail -1").stdout.strip())
    db.sh(f"fallocate -l {avail - 1024 * 1024} {FILLER}")
    try:
        rc, doc, err = db.tool("run", "logical", "--target", "appdb", expect_rc=None)
        assert rc == 1, (rc, doc, err)
        failed = record(doc)
        assert failed["status"] == "failed" and "no space left on" in failed["message"], failed
        assert db.sh(f"test -e {failed['path']}", check=False).returncode != 0, "the partial dump was left behind"
        rc, doc, err = db.tool("run", "full", expect_rc=None)
        assert rc == 1 and record(doc)["status"] == "failed" and "no space left on" in record(doc)["message"], (doc, err)
        # The earlier backups are intact and still verify.
        assert db.sh(f"{TOOL} verify --id {before_logical['id']}", check=False).returncode == 0
        assert db.sh(f"{TOOL} verify --id {before_full['id']}", check=False).returncode == 0
        checks = db.backup_checks()
        assert checks["backup.last_run:full"]["status"] == "crit" and "no space left" in checks["backup.last_run:full"]["message"]
        assert checks["backup.last_run:logical.appdb"]["status"] == "crit"
        assert checks["backup.age:full"]["status"] == "ok"  # the previous good one still counts
        assert checks["backup.checksums:logical.appdb"]["status"] == "ok"
        assert checks["backup.space"]["status"] == "crit"
    finally:
        db.sh(f"rm -f {FILLER}")
    assert record(db.tool("run", "logical", "--target", "appdb")[1])["status"] == "ok"
    assert record(db.tool("run", "full")[1])["status"] == "ok"
    assert not not_ok(db.backup_checks(checks=["last_run", "age", "space"]))


@pytest.mark.stage("faults")
@pytest.mark.debian("bookworm")
def test_postgresql_stopped_mid_backup_records_failure_and_no_good_backup(db: Db) -> None:
    before = _previous_ok(db, "logical", "appdb")
    # Hold a lock the dump must wait for, so the backup is reliably in progress when PostgreSQL stops.
    locker = subprocess.Popen(
        db.stack.command(db.name, ["psql", "-XAtq", "-d", "appdb", "-c",
                                   "BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120);"], user="postgres"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    backup = None
    try:
        time.sleep(2)
        backup = subprocess.Popen(db.stack.command(db.name, [TOOL, "run", "logical", "--target", "appdb", "--json"]),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = db.tool("list", "--kind", "logical")[1]["records"]
            if running and running[0]["status"] == "running":
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the logical backup never showed up as running")
        time.sleep(1)
        assert backup.poll() is None, "the dump finished although a lock blocks it"
        db.sh("systemctl stop postgresql")
        out, err = backup.communicate(timeout=120)
        assert backup.returncode == 1, (out, err)
        failed = json.loads(out)["records"][0]
        assert failed["status"] == "failed" and failed["message"], failed
        assert db.sh(f"test -e {failed['path']}/manifest.json", check=False).returncode != 0
        assert db.sh(f"test -e {failed['path']}", check=False).returncode != 0, "the partial dump was left behind"
        assert _previous_ok(db, "logical", "appdb")["id"] == before["id"]
        checks = db.backup_checks(checks=["last_run", "age"], schedules=[{"kind": "logical", "target": "appdb"}])
        assert checks["backup.last_run:logical.appdb"]["status"] == "crit"
        assert checks["backup.age:logical.appdb"]["details"]["newest"]["id"] == before["id"]
    finally:
        locker.kill()
        if backup is not None and backup.poll() is None:
            backup.kill()
        db.sh("systemctl start postgresql")
    db.stack.wait_for("PostgreSQL to come back",
                      lambda: db.sh("runuser -u postgres -- pg_isready -q", check=False).returncode == 0, 60, 1)
    assert record(db.tool("run", "logical", "--target", "appdb")[1])["status"] == "ok"


@pytest.mark.stage("faults")
@pytest.mark.debian("trixie")
def test_broken_wal_archiving_is_crit_then_heals(db: Db) -> None:
    conf = db.sh("grep -l '^archive_command' /etc/postgresql/*/main/conf.d/*.conf").stdout.split()[0]
    db.sh(f"cp -a {conf} /root/keep-archive.conf")
    try:
        db.sh(f"sed -i \"s|^archive_command.*|archive_command = 'false'|\" {conf} && systemctl reload postgresql")
        time.sleep(1)
        db.psql("INSERT INTO items SELECT g, 'wal' FROM generate_series(60001, 61000) g; SELECT pg_switch_wal()")
        item: dict[str, Any] = {}

        def crit() -> bool:
            nonlocal item
            item = db.backup_checks(checks=["wal_archive"])["pgbackrest.wal_archive"]
            return item["status"] == "crit"

        db.stack.wait_for("the WAL archiving check to turn crit", crit, 60)
        assert "archiving fails" in item["message"], item
    finally:
        db.sh(f"cp -a /root/keep-archive.conf {conf} && systemctl reload postgresql")
    db.stack.wait_for("WAL archiving to recover",
                      lambda: db.backup_checks(checks=["wal_archive"])["pgbackrest.wal_archive"]["status"] == "ok", 90, 3)


@pytest.mark.stage("faults")
@pytest.mark.debian("bookworm")
def test_corrupt_repository_file_turns_the_restore_test_red_then_heals(db: Db) -> None:
    """One flipped byte in the newest full set: the restore test fails, names the set, and still cleans up."""
    label = [b["label"] for b in db.pgbackrest_info()["backup"] if b["type"] == "full"][-1]
    victim = db.sh(f"find {REPO}/backup/main/{label}/pg_data/base -type f -size +8k -printf '%s %p\\n' | sort -n | tail -1").stdout.split()[1]
    db.sh(f"cp -p {victim} /root/victim.keep")
    try:
        size = int(db.sh(f"stat -c %s {victim}").stdout)
        db.sh(f"printf '\\377\\377\\377\\377' | dd of={victim} bs=1 seek={size // 2} conv=notrunc status=none")
        rc, doc, err = db.tool("restore-test", "physical", "--id", label, expect_rc=None)
        assert rc == 1, (doc, err)
        res = doc["results"][0]
        assert res["status"] == "failed" and label in res["message"], res
        assert "pgbackrest restore exited" in res["message"], res
        assert res["removed"] is True, res
        assert leftovers(db) == ("", ""), leftovers(db)
    finally:
        db.sh(f"cp -p /root/victim.keep {victim} && rm -f /root/victim.keep")
    rc, doc, err = db.tool("restore-test", "physical", "--id", label, expect_rc=None)
    assert rc == 0 and doc["results"][0]["status"] == "ok", (doc, err)


# ------------------------------------------------------------ bad input


@pytest.mark.stage("faults")
@pytest.mark.debian("trixie")
def test_restore_test_refuses_the_live_cluster_before_writing_anything(db: Db) -> None:
    live = db.psql("SHOW data_directory", db="postgres")
    listing = db.sh(f"ls -A {live} | sort").stdout
    for change, expected in (
        (f"c['restore_test']['dir'] = '{live}'", "is the live cluster's data directory"),
        (f"c['restore_test']['dir'] = '{live}/restore'", "inside the live cluster's data directory"),
        ("c['restore_test']['dir'] = '/var/lib/postgresql'", "contains the live cluster's data directory"),
        ("c['restore_test']['port'] = 5432", "is the live cluster's port"),
    ):
        db.sh(f"python3 -c \"import json; c = json.load(open('/etc/opsbook/backup.json')); {change}; "
              "json.dump(c, open('/root/live.json', 'w'))\" && chmod 600 /root/live.json")
        done = db.sh(f"{TOOL} --config /root/live.json restore-test physical", check=False)
        assert done.returncode == 2, done
        assert expected in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    db.sh("rm -f /root/live.json")
    assert db.sh(f"ls -A {live} | sort").stdout == listing
    assert leftovers(db) == ("", ""), leftovers(db)
    rc, doc, err = db.tool("restore-test", "logical", "--id", "20000101T000000Z-logical-appdb", expect_rc=None)
    assert rc == 2 and "no record 20000101T000000Z-logical-appdb" in doc.get("message", ""), (doc, err)


@pytest.mark.stage("faults")
@pytest.mark.debian("bookworm")
def test_bad_input_fails_before_anything_is_touched(db: Db) -> None:
    listing = db.sh(f"find {ROOT} -path {ROOT}/records -prune -o -print | sort").stdout
    _rc, doc, err = db.tool("run", "weekly", expect_rc=2)
    assert "weekly" in (doc.get("message", "") + err)
    # A backup location that does not exist / is not writable.
    db.sh("python3 -c \"import json; c=json.load(open('/etc/opsbook/backup.json')); c['backup_root']='/srv/nope'; "
          "json.dump(c, open('/root/bad-root.json','w'))\" && chmod 600 /root/bad-root.json")
    done = db.sh(f"{TOOL} --config /root/bad-root.json run config", check=False)
    assert done.returncode == 2 and "/srv/nope" in done.stderr + done.stdout, done
    db.sh("rm -f /root/bad-root.json")
    # Retention that would keep nothing.
    bad = db.module("backup_rotate", {"policies": {"logical": {"max_age_days": 0}}})
    assert "max_age_days" in bad.get("msg", ""), bad
    # An unknown kind in the module and in the playbook-facing module.
    run = db.module("backup_run", {"kind": "weekly"})
    assert "weekly" in run.get("msg", ""), run
    assert db.sh(f"find {ROOT} -path {ROOT}/records -prune -o -print | sort").stdout == listing


@pytest.mark.stage("faults")
def test_stanza_mismatch_names_the_fix(db: Db) -> None:
    """A second cluster pointed at the same stanza: pgBackRest refuses, the tool says what to do."""
    version = db.sh("ls /usr/lib/postgresql | sort -n | tail -1").stdout.strip()
    db.sh(f"pg_createcluster {version} other -p 5499 -- -A trust >/dev/null && pg_ctlcluster {version} other start")
    try:
        cfg = Path("/etc/pgbackrest/other-test.conf")  # postgres must be able to read it
        conf = db.sh("cat /etc/pgbackrest/pgbackrest.conf").stdout
        conf = conf.replace(f"/var/lib/postgresql/{version}/main", f"/var/lib/postgresql/{version}/other")
        lines = [line for line in conf.splitlines() if not line.startswith("pg1-port")]
        conf = "\n".join(line + ("\npg1-port=5499" if line.startswith("pg1-path") else "") for line in lines)
        db.sh(f"cat > {cfg} <<'EOF'\n{conf}\nEOF\nchown postgres {cfg}")
        db.sh("python3 -c \"import json; c=json.load(open('/etc/opsbook/backup.json')); "
              f"c['pgbackrest']['config']='{cfg}'; c['postgresql']['port']=5499; "
              "json.dump(c, open('/root/other.json','w'))\" && chmod 600 /root/other.json")
        before = db.sh("runuser -u postgres -- pgbackrest --stanza=main info --output json").stdout
        done = db.sh(f"{TOOL} --config /root/other.json run full --json", check=False)
        assert done.returncode in (1, 2), done
        text = done.stdout + done.stderr
        assert "stanza-upgrade" in text and "do not match" in text, text
        after = db.sh("runuser -u postgres -- pgbackrest --stanza=main info --output json").stdout
        assert [b["label"] for b in json.loads(after)[0]["backup"]] == [b["label"] for b in json.loads(before)[0]["backup"]]
    finally:
        db.sh(f"pg_dropcluster --stop {version} other; rm -f /etc/pgbackrest/other-test.conf /root/other.json", check=False)


# ------------------------------------------------------------ rotation (removes backups)


@pytest.mark.stage("destructive")
@pytest.mark.debian("bookworm")
def test_rotation_check_mode_removes_nothing_then_keeps_the_newest_verified(db: Db) -> None:
    for _round in range(2):
        db.tool("run", "config")
    before = db.sh(f"ls {ROOT}/config").stdout.split()
    assert len(before) >= 3
    policies = {"config": {"daily": 1}}
    dry = db.module("backup_rotate", {"policies": policies, "kinds": ["config"]}, check=True)
    assert dry.get("changed") is True and len(dry["removed"]) == len(before) - 1, dry
    assert db.sh(f"ls {ROOT}/config").stdout.split() == before
    real = db.module("backup_rotate", {"policies": policies, "kinds": ["config"]})
    left = db.sh(f"ls {ROOT}/config").stdout.split()
    assert left == [max(before)], (left, real)
    assert {item["id"] for item in real["removed"]} == {item["id"] for item in dry["removed"]}
    again = db.module("backup_rotate", {"policies": policies, "kinds": ["config"]})
    assert again.get("changed") is False and again["removed"] == []


@pytest.mark.stage("destructive")
@pytest.mark.debian("trixie")
def test_pgbackrest_rotation_goes_through_expire(db: Db) -> None:
    db.tool("run", "full")
    labels_before = [b["label"] for b in db.pgbackrest_info()["backup"]]
    policies = {"full": {"daily": 1}, "incr": {"daily": 1}}
    dry = db.module("backup_rotate", {"policies": policies, "kinds": ["full", "incr"]}, check=True)
    assert dry["removed"], dry
    real = db.module("backup_rotate", {"policies": policies, "kinds": ["full", "incr"]})
    info = db.pgbackrest_info()
    labels_after = [b["label"] for b in info["backup"]]
    assert labels_after and labels_after[-1] == labels_before[-1], (labels_before, labels_after, real)
    assert len(labels_after) < len(labels_before)
    assert info["status"]["code"] == 0
    assert db.sh("runuser -u postgres -- pgbackrest --stanza=main check", check=False).returncode == 0

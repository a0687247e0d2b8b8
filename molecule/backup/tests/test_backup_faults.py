"""Backups against real PostgreSQL, pgBackRest and Redis, and the faults they must survive.

Issue 4, part 6: full + incremental after a write (the incremental is smaller),
a logical dump with its manifest restored into a scratch database with the
manifest's row counts, corrupt / truncated backup files named by the checks,
a backup filesystem filled during a backup, PostgreSQL stopped in the middle
of a backup, rotation in check mode removing nothing, and the bad-input rules.
Every fault is healed at the end of its test, and the test asserts it healed.

The tests run in file order (pytest keeps it): later ones use the backups the
earlier ones took.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

HOST = "backup-db"
ROOT = "/var/backups/opsbook"
TOOL = "/usr/local/sbin/opsbook-backup"
FILLER = f"{ROOT}/filler"


def sh(command: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """A shell command in the scenario host, as root."""
    done = subprocess.run(
        ["docker", "exec", HOST, "sh", "-c", command], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{command!r} failed ({done.returncode}): {done.stderr or done.stdout}")
    return done


def psql(sql: str, db: str = "appdb") -> str:
    return sh(f"runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d {db} -c {shlex.quote(sql)}").stdout.strip()


def tool(*args: str, expect_rc: int | None = 0) -> tuple[int, dict[str, Any], str]:
    """Run opsbook-backup with --json; returns rc, the JSON document and stderr."""
    done = sh(" ".join([TOOL, *map(shlex.quote, args), "--json"]), check=False)
    if expect_rc is not None:
        assert done.returncode == expect_rc, f"opsbook-backup {' '.join(args)}: rc {done.returncode}\n{done.stdout}\n{done.stderr}"
    try:
        doc = json.loads(done.stdout) if done.stdout.strip() else {}
    except ValueError:
        doc = {}
    return done.returncode, doc, done.stderr


def record(doc: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return doc["records"][index]


def module(host, name: str, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    """Run an opsbook.stack module on the host (become) with JSON arguments."""
    return host.ansible(f"opsbook.stack.{name}", json.dumps(args), become=True, check=check)


def backup_checks(host, **args: Any) -> dict[str, dict[str, Any]]:
    """opsbook.stack.backup_check on the host, keyed by check id."""
    params = {
        "schedules": [{"kind": "full"}, {"kind": "incr"}, {"kind": "logical"}, {"kind": "redis"}, {"kind": "config"}],
        "verify": False,
    }
    params.update(args)
    out = module(host, "backup_check", params)
    assert "checks" in out, out
    return {item["check"]: item for item in out["checks"]}


def not_ok(checks: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {cid: item["status"] for cid, item in checks.items() if item["status"] != "ok"}


@pytest.fixture(scope="module", autouse=True)
def data() -> None:
    """A table with enough rows that a dump and a backup have real work, in two schemas."""
    psql(
        "DROP TABLE IF EXISTS items, audit.log; CREATE SCHEMA IF NOT EXISTS audit; "
        "CREATE TABLE items (id bigint PRIMARY KEY, payload text); "
        "INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 50000) g; "
        "CREATE TABLE audit.log (id serial PRIMARY KEY, note text); "
        "INSERT INTO audit.log (note) SELECT 'n' || g FROM generate_series(1, 1234) g"
    )


# ------------------------------------------------------------------ the happy path


def test_full_then_incremental_after_a_write_is_smaller():
    _rc, full_doc, _err = tool("run", "full")
    full = record(full_doc)
    assert (full["kind"], full["status"], full["checksum_status"]) == ("full", "ok", "verified")
    assert full["pgbackrest"]["type"] == "full" and full["size_bytes"] > 0
    psql("UPDATE items SET payload = md5(payload) WHERE id <= 500; INSERT INTO items SELECT g, 'new' FROM generate_series(50001, 50500) g")
    _rc, incr_doc, _err = tool("run", "incr")
    incr = record(incr_doc)
    assert (incr["kind"], incr["status"]) == ("incr", "ok")
    assert incr["pgbackrest"]["prior"] == full["pgbackrest"]["label"]
    assert 0 < incr["size_bytes"] < full["size_bytes"], (incr["size_bytes"], full["size_bytes"])
    info = json.loads(sh("runuser -u postgres -- pgbackrest --stanza=main info --output json").stdout)[0]
    labels = {item["label"]: item["type"] for item in info["backup"]}
    assert labels[full["pgbackrest"]["label"]] == "full" and labels[incr["pgbackrest"]["label"]] == "incr"
    assert info["status"]["code"] == 0


def test_logical_dump_has_a_manifest_and_restores_with_equal_row_counts():
    _rc, doc, _err = tool("run", "logical", "--target", "appdb")
    rec = record(doc)
    assert (rec["kind"], rec["target"], rec["status"], rec["checksum_status"]) == ("logical", "appdb", "ok", "verified")
    manifest = json.loads(sh(f"cat {rec['path']}/manifest.json").stdout)
    assert manifest["format"] == "directory" and manifest["server_version"] and "zstd" in manifest["compression"]
    assert any(item["path"] == "toc.dat" for item in manifest["files"])
    assert all(len(item["sha256"]) == 64 and item["size"] >= 0 for item in manifest["files"])
    counts = {f"{t['schema']}.{t['name']}": t["rows"] for t in manifest["tables"]}
    assert counts["public.items"] == 50500 and counts["audit.log"] == 1234
    # Restore into a scratch database (never the live one) and count the rows ourselves.
    _rc, restored, _err = tool("restore-logical", "--id", rec["id"], "--into", "scratch_restore")
    try:
        assert int(psql("SELECT count(*) FROM items", db="scratch_restore")) == counts["public.items"]
        assert int(psql("SELECT count(*) FROM audit.log", db="scratch_restore")) == counts["audit.log"]
    finally:
        psql("DROP DATABASE IF EXISTS scratch_restore", db="postgres")
    assert "scratch_restore" not in psql("SELECT string_agg(datname, ',') FROM pg_database", db="postgres")
    assert restored.get("records") is not None or restored.get("message")


def test_redis_and_config_snapshots_keep_secrets_private():
    _rc, doc, _err = tool("run", "redis")
    assert record(doc)["status"] == "ok" and record(doc)["checksum_status"] == "verified"
    _rc, doc, _err = tool("run", "config")
    rec = record(doc)
    assert rec["status"] == "ok"
    # Every copy keeps its original's mode and owner; the Redis ACL file (password
    # hashes) stays unreadable by others, and so does the snapshot directory.
    copies = [line.split(" ", 3) for line in sh(f"cd {rec['path']} && find . -type f ! -name manifest.json -printf '%m %u %g %P\\n'").stdout.splitlines()]
    assert copies, rec
    for mode, user, group, rel in copies:
        original = sh(f"stat -c '%a %U %G' /{rel}").stdout.split()
        assert [mode, user, group] == original, (rel, mode, user, group, original)
    acl = [c for c in copies if c[3].endswith("users.acl")]
    assert acl and int(acl[0][0], 8) & 0o007 == 0, acl
    assert int(sh(f"stat -c '%a' {rec['path']}").stdout.strip(), 8) & 0o007 == 0


def test_backup_checks_are_green_after_the_backups(host):
    # The scenario's backup filesystem is a 256 MiB tmpfs: at the first day's
    # growth it is full in about three weeks, which the default levels (warn at
    # 30 days) rightly report. Levels sized for such a volume keep the rest green.
    checks = backup_checks(host, verify=True, thresholds={"space_days": {"warn": 10, "crit": 3}})
    assert checks["backup.space_days"]["value"] is not None and checks["backup.space_days"]["value"] > 10
    assert not not_ok(checks), {cid: checks[cid]["message"] for cid in not_ok(checks)}
    for cid in ("backup.age:full", "backup.age:incr", "backup.age:logical.appdb", "backup.checksums:logical.appdb",
                "pgbackrest.info", "pgbackrest.check", "pgbackrest.verify", "pgbackrest.wal_archive", "backup.space"):
        assert cid in checks, sorted(checks)


# ------------------------------------------------------------------ faults


def test_corrupt_byte_and_truncated_file_are_crit_and_named(host):
    _rc, doc, _err = tool("run", "logical", "--target", "appdb")
    path = record(doc)["path"]
    manifest = json.loads(sh(f"cat {path}/manifest.json").stdout)
    data_files = sorted((f for f in manifest["files"] if f["path"] != "toc.dat" and f["size"] > 16), key=lambda f: -f["size"])
    corrupt, truncate = "toc.dat", data_files[0]["path"]
    sh(f"cp -a {path}/{corrupt} /root/keep-corrupt && cp -a {path}/{truncate} /root/keep-truncate")
    try:
        # Flip one byte in the middle of toc.dat; cut the biggest data file to half.
        sh(f"python3 -c \"import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=0xFF; open(p,'wb').write(b)\" {path}/{corrupt}")
        sh(f"truncate -s {data_files[0]['size'] // 2} {path}/{truncate}")
        item = backup_checks(host, checks=["checksums"])["backup.checksums:logical.appdb"]
        assert item["status"] == "crit", item
        assert f"{corrupt}: sha256 mismatch" in item["message"], item["message"]
        assert f"{truncate}: size {data_files[0]['size'] // 2} != {data_files[0]['size']}" in item["message"], item["message"]
        verify = sh(f"{TOOL} verify --latest logical --target appdb", check=False)
        assert verify.returncode == 1 and corrupt in verify.stdout + verify.stderr
    finally:
        sh(f"cp -a /root/keep-corrupt {path}/{corrupt} && cp -a /root/keep-truncate {path}/{truncate}")
    healed = backup_checks(host, checks=["checksums"])["backup.checksums:logical.appdb"]
    assert healed["status"] == "ok", healed


def _fill_backup_fs(leave_bytes: int = 1024 * 1024) -> None:
    avail = int(sh(f"df -B1 --output=avail {ROOT} | tail -1").stdout.strip())
    sh(f"fallocate -l {avail - leave_bytes} {FILLER}")


def _previous_ok(kind: str, target: str | None = None) -> dict[str, Any]:
    _rc, doc, _err = tool("list", "--kind", kind)
    good = [r for r in doc["records"] if r["status"] == "ok" and (target is None or r["target"] == target)]
    assert good, doc
    return good[0]


def test_full_backup_filesystem_fails_cleanly_and_keeps_older_backups(host):
    before_full = _previous_ok("full")
    before_logical = _previous_ok("logical", "appdb")
    _fill_backup_fs()
    try:
        rc, doc, err = tool("run", "logical", "--target", "appdb", expect_rc=None)
        assert rc == 1, (rc, doc, err)
        failed = record(doc)
        assert failed["status"] == "failed" and "no space left on" in failed["message"], failed
        assert sh(f"test -e {failed['path']}", check=False).returncode != 0, "the partial dump was left behind"
        rc, doc, err = tool("run", "full", expect_rc=None)
        assert rc == 1 and record(doc)["status"] == "failed" and "no space left on" in record(doc)["message"], (doc, err)
        # The earlier backups are intact and still verify.
        assert sh(f"{TOOL} verify --id {before_logical['id']}", check=False).returncode == 0
        assert sh(f"{TOOL} verify --id {before_full['id']}", check=False).returncode == 0
        checks = backup_checks(host)
        assert checks["backup.last_run:full"]["status"] == "crit" and "no space left" in checks["backup.last_run:full"]["message"]
        assert checks["backup.last_run:logical.appdb"]["status"] == "crit"
        assert checks["backup.age:full"]["status"] == "ok"  # the previous good one still counts
        assert checks["backup.checksums:logical.appdb"]["status"] == "ok"
        assert checks["backup.space"]["status"] == "crit"
    finally:
        sh(f"rm -f {FILLER}")
    _rc, doc, _err = tool("run", "logical", "--target", "appdb")
    assert record(doc)["status"] == "ok"
    _rc, doc, _err = tool("run", "full")
    assert record(doc)["status"] == "ok"
    assert not not_ok(backup_checks(host, checks=["last_run", "age", "space"]))


def test_postgresql_stopped_mid_backup_records_failure_and_no_good_backup(host):
    before = _previous_ok("logical", "appdb")
    # Hold a lock the dump must wait for, so the backup is reliably in progress when PostgreSQL stops.
    locker = subprocess.Popen(
        ["docker", "exec", HOST, "runuser", "-u", "postgres", "--", "psql", "-XAtq", "-d", "appdb", "-c",
         "BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120);"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    backup = None
    try:
        time.sleep(2)
        backup = subprocess.Popen(["docker", "exec", HOST, TOOL, "run", "logical", "--target", "appdb", "--json"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = json.loads(sh(f"{TOOL} list --kind logical --json").stdout)["records"]
            if running and running[0]["status"] == "running":
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the logical backup never showed up as running")
        time.sleep(1)
        assert backup.poll() is None, "the dump finished although a lock blocks it"
        sh("systemctl stop postgresql")
        out, err = backup.communicate(timeout=120)
        assert backup.returncode == 1, (out, err)
        failed = json.loads(out)["records"][0]
        assert failed["status"] == "failed" and failed["message"], failed
        assert sh(f"test -e {failed['path']}/manifest.json", check=False).returncode != 0
        assert sh(f"test -e {failed['path']}", check=False).returncode != 0, "the partial dump was left behind"
        assert _previous_ok("logical", "appdb")["id"] == before["id"]
        checks = backup_checks(host, checks=["last_run", "age"], schedules=[{"kind": "logical", "target": "appdb"}])
        assert checks["backup.last_run:logical.appdb"]["status"] == "crit"
        assert checks["backup.age:logical.appdb"]["details"]["newest"]["id"] == before["id"]
    finally:
        locker.kill()
        if backup is not None and backup.poll() is None:
            backup.kill()
        sh("systemctl start postgresql")
    deadline = time.monotonic() + 60
    while sh("runuser -u postgres -- pg_isready -q", check=False).returncode != 0:
        assert time.monotonic() < deadline, "PostgreSQL did not come back"
        time.sleep(1)
    _rc, doc, _err = tool("run", "logical", "--target", "appdb")
    assert record(doc)["status"] == "ok"


def test_broken_wal_archiving_is_crit_then_heals(host):
    conf = sh("grep -l '^archive_command' /etc/postgresql/*/main/conf.d/*.conf").stdout.split()[0]
    sh(f"cp -a {conf} /root/keep-archive.conf")
    try:
        sh(f"sed -i \"s|^archive_command.*|archive_command = 'false'|\" {conf} && systemctl reload postgresql")
        time.sleep(1)
        psql("INSERT INTO items SELECT g, 'wal' FROM generate_series(60001, 61000) g; SELECT pg_switch_wal()")
        deadline = time.monotonic() + 60
        while True:
            item = backup_checks(host, checks=["wal_archive"])["pgbackrest.wal_archive"]
            if item["status"] == "crit" or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert item["status"] == "crit" and "archiving fails" in item["message"], item
    finally:
        sh(f"cp -a /root/keep-archive.conf {conf} && systemctl reload postgresql")
    deadline = time.monotonic() + 90
    while backup_checks(host, checks=["wal_archive"])["pgbackrest.wal_archive"]["status"] != "ok":
        assert time.monotonic() < deadline, "WAL archiving did not recover"
        time.sleep(3)


# ------------------------------------------------------------------ rotation


def test_rotation_check_mode_removes_nothing_then_keeps_the_newest_verified(host):
    for _round in range(2):
        tool("run", "config")
    before = sh(f"ls {ROOT}/config").stdout.split()
    assert len(before) >= 3
    policies = {"config": {"daily": 1}}
    dry = module(host, "backup_rotate", {"policies": policies, "kinds": ["config"]}, check=True)
    assert dry.get("changed") is True and len(dry["removed"]) == len(before) - 1, dry
    assert sh(f"ls {ROOT}/config").stdout.split() == before
    real = module(host, "backup_rotate", {"policies": policies, "kinds": ["config"]}, check=False)
    left = sh(f"ls {ROOT}/config").stdout.split()
    assert left == [max(before)], (left, real)
    removed_ids = {item["id"] for item in real["removed"]}
    assert removed_ids == {item["id"] for item in dry["removed"]}
    again = module(host, "backup_rotate", {"policies": policies, "kinds": ["config"]}, check=False)
    assert again.get("changed") is False and again["removed"] == []


def test_pgbackrest_rotation_goes_through_expire(host):
    tool("run", "full")
    labels_before = [b["label"] for b in json.loads(sh("runuser -u postgres -- pgbackrest --stanza=main info --output json").stdout)[0]["backup"]]
    policies = {"full": {"daily": 1}, "incr": {"daily": 1}}
    dry = module(host, "backup_rotate", {"policies": policies, "kinds": ["full", "incr"]}, check=True)
    assert dry["removed"], dry
    real = module(host, "backup_rotate", {"policies": policies, "kinds": ["full", "incr"]}, check=False)
    info = json.loads(sh("runuser -u postgres -- pgbackrest --stanza=main info --output json").stdout)[0]
    labels_after = [b["label"] for b in info["backup"]]
    assert labels_after and labels_after[-1] == labels_before[-1], (labels_before, labels_after, real)
    assert len(labels_after) < len(labels_before)
    assert info["status"]["code"] == 0
    assert sh("runuser -u postgres -- pgbackrest --stanza=main check", check=False).returncode == 0


# ------------------------------------------------------------------ bad input


def test_bad_input_fails_before_anything_is_touched(host):
    listing = sh(f"find {ROOT} -path {ROOT}/records -prune -o -print | sort").stdout
    rc, doc, err = tool("run", "weekly", expect_rc=2)
    assert "weekly" in (doc.get("message", "") + err)
    # A backup location that does not exist / is not writable.
    sh("python3 -c \"import json; c=json.load(open('/etc/opsbook/backup.json')); c['backup_root']='/srv/nope'; "
       "json.dump(c, open('/root/bad-root.json','w'))\" && chmod 600 /root/bad-root.json")
    done = sh(f"{TOOL} --config /root/bad-root.json run config", check=False)
    assert done.returncode == 2 and "/srv/nope" in done.stderr + done.stdout, done
    # Retention that would keep nothing.
    bad = module(host, "backup_rotate", {"policies": {"logical": {"max_age_days": 0}}}, check=False)
    assert "max_age_days" in bad.get("msg", ""), bad
    # An unknown kind in the module and in the playbook-facing module.
    run = module(host, "backup_run", {"kind": "weekly"}, check=False)
    assert "weekly" in run.get("msg", ""), run
    assert sh(f"find {ROOT} -path {ROOT}/records -prune -o -print | sort").stdout == listing


def test_stanza_mismatch_names_the_fix(host):
    """A second cluster pointed at the same stanza: pgBackRest refuses, the tool says what to do."""
    version = sh("ls /usr/lib/postgresql | sort -n | tail -1").stdout.strip()
    sh(f"pg_createcluster {version} other -p 5499 -- -A trust >/dev/null && pg_ctlcluster {version} other start")
    try:
        cfg = Path("/etc/pgbackrest/other-test.conf")  # postgres must be able to read it
        conf = sh("cat /etc/pgbackrest/pgbackrest.conf").stdout
        conf = conf.replace(f"/var/lib/postgresql/{version}/main", f"/var/lib/postgresql/{version}/other")
        lines = [line for line in conf.splitlines() if not line.startswith("pg1-port")]
        conf = "\n".join(line + ("\npg1-port=5499" if line.startswith("pg1-path") else "") for line in lines)
        sh(f"cat > {cfg} <<'EOF'\n{conf}\nEOF\nchown postgres {cfg}")
        sh("python3 -c \"import json; c=json.load(open('/etc/opsbook/backup.json')); "
           f"c['pgbackrest']['config']='{cfg}'; c['postgresql']['port']=5499; "
           "json.dump(c, open('/root/other.json','w'))\" && chmod 600 /root/other.json")
        before = sh("runuser -u postgres -- pgbackrest --stanza=main info --output json").stdout
        done = sh(f"{TOOL} --config /root/other.json run full --json", check=False)
        assert done.returncode in (1, 2), done
        text = done.stdout + done.stderr
        assert "stanza-upgrade" in text and "do not match" in text, text
        after = sh("runuser -u postgres -- pgbackrest --stanza=main info --output json").stdout
        assert [b["label"] for b in json.loads(after)[0]["backup"]] == [b["label"] for b in json.loads(before)[0]["backup"]]
    finally:
        sh(f"pg_dropcluster --stop {version} other; rm -f /etc/pgbackrest/other-test.conf", check=False)

"""Restore tests (issue 5, part 1) against real PostgreSQL and pgBackRest.

`opsbook-backup restore-test logical|physical` restores the latest backup into a
scratch target, checks it (row counts against the manifest, amcheck, page
checksums), and removes the scratch target whatever happens. These tests prove
that on the backups the scenario takes, that a corrupt file in the repository
turns the test red and still leaves nothing behind, and that the live cluster is
refused as a target before anything is written.

They run after test_backup_faults.py and test_backup_role.py (file order).
"""

from __future__ import annotations

import json
import shlex
import subprocess
from typing import Any

HOST = "backup-db"
TOOL = "/usr/local/sbin/opsbook-backup"
REPO = "/var/backups/opsbook/pgbackrest"
SCRATCH = "/var/lib/opsbook/restore-test"


def sh(command: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", "exec", HOST, "sh", "-c", command], capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{command!r} failed ({done.returncode}): {done.stderr or done.stdout}")
    return done


def tool(*args: str) -> tuple[int, dict[str, Any], str]:
    done = sh(" ".join([TOOL, *map(shlex.quote, args), "--json"]), check=False)
    try:
        doc = json.loads(done.stdout) if done.stdout.strip() else {}
    except ValueError:
        doc = {}
    return done.returncode, doc, done.stderr


def psql(sql: str, db: str = "postgres") -> str:
    return sh(f"runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d {db} -c {shlex.quote(sql)}").stdout.strip()


def leftovers() -> tuple[str, str]:
    """Scratch databases and scratch directories a restore test left behind (both must be empty)."""
    dbs = psql("SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'opsbook_restore_test_%'")
    dirs = sh(f"ls -A {SCRATCH} 2>/dev/null || true").stdout.strip()
    return dbs, dirs


def test_logical_restore_test_checks_and_drops_the_scratch_database(host):
    rc, doc, err = tool("run", "logical", "--target", "appdb")
    assert rc == 0, (doc, err)
    rc, doc, err = tool("restore-test", "logical", "--target", "appdb")
    assert rc == 0, (doc, err)
    res = doc["results"][0]
    assert res["status"] == "ok" and res["equal"] is True, res
    assert res["rows"] > 0 and res["tables"] >= 2, res
    assert res["indexes_checked"] > 0 and res["index_problems"] == [], res
    assert res["dropped"] is True and res["mb_per_s"] is not None, res
    assert "counts equal to the manifest" in res["message"] and "intact" in res["message"], res
    assert leftovers() == ("", ""), leftovers()


def test_physical_restore_test_recovers_a_scratch_cluster_and_leaves_no_trace(host):
    rc, doc, err = tool("run", "full")
    assert rc == 0, (doc, err)
    archive_before = sh(f"find {REPO}/archive -type f | sort").stdout
    rc, doc, err = tool("restore-test", "physical")
    assert rc == 0, (doc, err)
    res = doc["results"][0]
    assert res["status"] == "ok", res
    assert res["set_type"] == "full" and res["port"] == 5499, res
    assert "appdb" in res["databases"] and res["indexes_checked"] > 0 and res["index_problems"] == [], res
    assert res["page_checksums"] in ("verified", "off"), res
    assert res["removed"] is True and res["recovered_s"] >= res["restore_s"] > 0, res
    assert leftovers() == ("", ""), leftovers()
    # The scratch cluster promoted to a new timeline with archiving off: nothing of it reached the repository.
    assert not sh(f"find {REPO}/archive -name '*.history'").stdout.strip()
    assert sh(f"find {REPO}/archive -type f | sort").stdout == archive_before
    # The live cluster is untouched: still the primary on 5432, pgBackRest still happy with it.
    assert psql("SELECT pg_is_in_recovery()::text || ' ' || current_setting('port')") == "false 5432"
    sh("runuser -u postgres -- pgbackrest --stanza=main check")


def test_corrupt_repository_file_turns_the_restore_test_red_then_heals(host):
    """One flipped byte in the newest full set: the restore test fails, names the set, and still cleans up."""
    info = json.loads(sh("runuser -u postgres -- pgbackrest --stanza=main info --output json").stdout)
    label = [b["label"] for b in info[0]["backup"] if b["type"] == "full"][-1]
    victim = sh(f"find {REPO}/backup/main/{label}/pg_data/base -type f -size +8k -printf '%s %p\\n' | sort -n | tail -1").stdout.split()[1]
    sh(f"cp -p {victim} /root/victim.keep")
    try:
        size = int(sh(f"stat -c %s {victim}").stdout)
        sh(f"printf '\\377\\377\\377\\377' | dd of={victim} bs=1 seek={size // 2} conv=notrunc status=none")
        rc, doc, err = tool("restore-test", "physical", "--id", label)
        assert rc == 1, (doc, err)
        res = doc["results"][0]
        assert res["status"] == "failed" and label in res["message"], res
        assert "pgbackrest restore exited" in res["message"], res
        assert res["removed"] is True, res
        assert leftovers() == ("", ""), leftovers()
    finally:
        sh(f"cp -p /root/victim.keep {victim} && rm -f /root/victim.keep")
    rc, doc, err = tool("restore-test", "physical", "--id", label)
    assert rc == 0 and doc["results"][0]["status"] == "ok", (doc, err)


def test_restore_test_refuses_the_live_cluster_before_writing_anything(host):
    live = psql("SHOW data_directory")
    listing = sh(f"ls -A {live} | sort").stdout
    for change, expected in (
        (f"c['restore_test']['dir'] = '{live}'", "is the live cluster's data directory"),
        (f"c['restore_test']['dir'] = '{live}/restore'", "inside the live cluster's data directory"),
        ("c['restore_test']['dir'] = '/var/lib/postgresql'", "contains the live cluster's data directory"),
        ("c['restore_test']['port'] = 5432", "is the live cluster's port"),
    ):
        sh(f"python3 -c \"import json; c = json.load(open('/etc/opsbook/backup.json')); {change}; "
           "json.dump(c, open('/root/live.json', 'w'))\" && chmod 600 /root/live.json")
        done = sh(f"{TOOL} --config /root/live.json restore-test physical", check=False)
        assert done.returncode == 2, done
        assert expected in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    sh("rm -f /root/live.json")
    assert sh(f"ls -A {live} | sort").stdout == listing
    assert leftovers() == ("", ""), leftovers()
    rc, doc, err = tool("restore-test", "logical", "--id", "20000101T000000Z-logical-appdb")
    assert rc == 2 and "no record 20000101T000000Z-logical-appdb" in doc.get("message", ""), (doc, err)

"""Issue 4's "done when" on the provisioned stack: playbooks/backup.yml with
backup_kind=full and playbooks/weekly.yml run as a user runs them and report
green; an unknown kind is refused before anything runs. Runs on Debian 12 and
13 (file order puts it before the fault tests, which add errors to the logs).
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess

from conftest import ROOT, hosts_of, run_playbook

DB = hosts_of("db")[0]


def records(kind: str) -> list[dict]:
    done = subprocess.run(
        ["docker", "exec", DB, "/usr/local/sbin/opsbook-backup", "list", "--kind", kind, "--json"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return json.loads(done.stdout)["records"]


def test_backup_full_reports_green(tmp_path):
    before = {item["id"] for item in records("full")}
    run = run_playbook(tmp_path, "backup", "-e", "backup_kind=full")
    assert run.rc == 0, run.output[-4000:]
    new = [item for item in records("full") if item["id"] not in before]
    assert len(new) == 1 and new[0]["status"] == "ok" and new[0]["trigger"] == "ansible", new
    assert not run.not_ok(), run.not_ok()
    checks = {check for _host, check in run.statuses()}
    for expected in ("backup.age:full", "backup.last_run:full", "pgbackrest.info", "pgbackrest.check", "pgbackrest.wal_archive"):
        assert expected in checks, sorted(checks)
    assert not any(check.startswith(("backup.age:redis", "backup.age:config")) for check in checks)


def test_weekly_reports_green(tmp_path):
    run = run_playbook(tmp_path, "weekly")
    # Latency-free checks only: nothing here depends on how busy the machine is.
    assert run.rc == 0, run.output[-4000:]
    assert not run.not_ok(), run.not_ok()
    checks = set(run.statuses())
    hosts = {host for host, _check in checks}
    assert hosts == set(hosts_of("all")), hosts
    for pattern in ("backup.age:full", "backup.age:incr", "backup.age:logical.*", "backup.checksums:logical.*",
                    "backup.age:redis", "backup.age:config", "pgbackrest.verify", "pgbackrest.wal_archive",
                    "backup.space_days", "host.disk_growth:*", "log.errors:*", "log.rate_limit:nginx_error", "tls.cert:nginx"):
        assert any(fnmatch.fnmatch(check, pattern) for _host, check in checks), (pattern, sorted(checks))
    assert (run.path / "report.md").read_text().startswith("# Checklist weekly: OK")


def test_unknown_backup_kind_is_refused_before_anything_runs(tmp_path):
    before = len(records("full")) + len(records("logical"))
    done = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "playbooks/backup.yml",
         "-e", "backup_kind=weekly"],
        capture_output=True, text=True, timeout=300, check=False,
        cwd=str(ROOT),
    )
    assert done.returncode != 0
    assert "backup_kind weekly is not a backup kind" in done.stdout + done.stderr, (done.stdout + done.stderr)[-2000:]
    assert len(records("full")) + len(records("logical")) == before

"""Monthly checklist, security review faults and the disaster-recovery drill on the stack.

The monthly checklist runs on both releases (restore tests, slow queries from
pg_stat_statements: PostgreSQL 15 and 17 differ). The drill that must pass
runs on Debian 13 (through the DR benchmark's smoke run, so it keeps that
plumbing working too) and the drill on a corrupt backup on Debian 12: each
release carries one fresh DR host, and both exercise provision and restore
of their release (pgBackRest 2.45 / 2.55, PostgreSQL 15 / 17).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from testbed.stack import PlaybookRun, Stack

REPO = "/var/backups/opsbook/pgbackrest"
BENCH_DR = Path(__file__).resolve().parents[2] / "bench" / "bench_dr.py"


def db(stack: Stack) -> str:
    return stack.hosts("db")[0]


def sh(stack: Stack, command: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return stack.sh(db(stack), command, check=check, timeout=timeout)


def psql(stack: Stack, sql: str, database: str = "postgres") -> str:
    return sh(stack, f"runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d {database} -c {shlex.quote(sql)}").stdout.strip()


def drill(stack: Stack, *extra: str) -> PlaybookRun:
    return stack.playbook("dr_drill", *extra, timeout=1500)


def dr_container_exists(stack: Stack) -> bool:
    return subprocess.run(["docker", "inspect", stack.hosts("dr")[0]], capture_output=True, check=False).returncode == 0


def security(stack: Stack, host: str, checks: str) -> dict[str, dict[str, Any]]:
    """security_check as the monthly checklist runs it (PostgreSQL checks as postgres)."""
    res = stack.module(host, "security_check", f"checks={checks}", become=True,
                       become_user="postgres" if checks.startswith("pg_") else None)
    return {item["check"]: item for item in res["checks"]}


# --------------------------------------------------------------------- monthly


def test_monthly_checklist_is_green_and_records_history(stack: Stack) -> None:
    psql(stack, "SELECT count(*) FROM measurements", "appdb")  # a statement for pg_stat_statements
    run = stack.playbook("monthly")
    checks = run.checks(db(stack))
    assert run.rc == 0, run.output[-3000:]
    bad = {(host, key): item["message"] for (host, key), status in run.statuses().items() if status == "crit"
           for item in [run.checks(host)[key]]}
    assert not bad, bad
    # Test restores of both kinds, in scratch targets that are gone again.
    assert checks["restore.logical:appdb"]["status"] == "ok", checks["restore.logical:appdb"]
    assert [key for key in checks if key.startswith("restore.physical:")], sorted(checks)
    assert psql(stack, "SELECT count(*) FROM pg_database WHERE datname LIKE 'opsbook_restore_test_%'") == "0"
    # Maintenance reports only (no explicit variable, no window).
    assert checks["pg_maintenance.analyze:appdb"]["status"] == "ok"
    # Slow queries, growth (no baseline yet), data quality, security review.
    assert {"pg.statements_mean", "pg.statements_total", "pg.database_growth:appdb"} <= set(checks)
    assert checks["pg.database_growth:appdb"]["status"] == "unknown"
    assert checks["pg.query:validation_rate_30d"]["status"] in ("ok", "unknown")
    assert {"security.pg_hba", "security.pg_superusers", "security.secret_files"} <= set(checks)
    assert "security.redis_auth" in run.checks(stack.hosts("cache")[0])
    # The history on the control node has this run's sizes; a second run compares with them.
    assert run.path is not None
    history = json.loads((run.path.parent / "history" / f"{db(stack)}.json").read_text())
    assert "pg.database_size:appdb" in history["series"], history


# -------------------------------------------------------------------- security


@pytest.mark.stage("faults")
@pytest.mark.debian("bookworm")
def test_a_trust_line_in_pg_hba_is_found_then_gone(stack: Stack) -> None:
    hba = psql(stack, "SHOW hba_file")
    sh(stack, f"cp -p {hba} /root/pg_hba.keep && printf '\\nhost all all 0.0.0.0/0 trust\\n' >> {hba}")
    try:
        psql(stack, "SELECT pg_reload_conf()")
        found = security(stack, db(stack), "pg_hba")["security.pg_hba"]
        assert found["status"] == "crit" and "trust" in found["message"], found
    finally:
        sh(stack, f"cp -p /root/pg_hba.keep {hba} && rm -f /root/pg_hba.keep")
        psql(stack, "SELECT pg_reload_conf()")
    assert security(stack, db(stack), "pg_hba")["security.pg_hba"]["status"] == "ok"


@pytest.mark.stage("faults")
@pytest.mark.debian("trixie")
def test_an_extra_superuser_is_found_then_gone(stack: Stack) -> None:
    psql(stack, "CREATE ROLE opsbook_intruder SUPERUSER NOLOGIN")
    try:
        found = security(stack, db(stack), "pg_superusers")["security.pg_superusers"]
        assert found["status"] == "crit" and "opsbook_intruder" in found["message"], found
    finally:
        psql(stack, "DROP ROLE opsbook_intruder")
    assert security(stack, db(stack), "pg_superusers")["security.pg_superusers"]["status"] == "ok"


@pytest.mark.stage("faults")
@pytest.mark.debian("bookworm")
def test_redis_without_authentication_is_found_then_gone(stack: Stack) -> None:
    cache = stack.hosts("cache")[0]
    stack.sh(cache, "cp -p /etc/redis/users.acl /root/users.acl.keep && sed -i 's/^user default .*/user default on nopass ~* \\&* +@all/' /etc/redis/users.acl"
                    " && grep -q '^user default on nopass' /etc/redis/users.acl && systemctl restart redis-server")
    try:
        found = security(stack, cache, "redis_auth")["security.redis_auth"]
        assert found["status"] == "crit", found
    finally:
        stack.sh(cache, "cp -p /root/users.acl.keep /etc/redis/users.acl && rm -f /root/users.acl.keep && systemctl restart redis-server")
    assert security(stack, cache, "redis_auth")["security.redis_auth"]["status"] == "ok"


# -------------------------------------------------------------------- refusals


@pytest.mark.stage("faults")
@pytest.mark.debian("bookworm")
def test_a_restore_test_on_the_live_cluster_is_refused(stack: Stack) -> None:
    sh(stack, "python3 -c \"import json; c = json.load(open('/etc/opsbook/backup.json')); c['restore_test']['port'] = 5432; "
              "json.dump(c, open('/root/live.json', 'w'))\" && chmod 600 /root/live.json")
    try:
        done = sh(stack, "/usr/local/sbin/opsbook-backup --config /root/live.json restore-test physical", check=False)
    finally:
        sh(stack, "rm -f /root/live.json")
    assert done.returncode == 2 and "is the live cluster's port" in done.stderr, done


@pytest.mark.stage("faults")
@pytest.mark.debian("trixie")
def test_a_drill_onto_a_live_host_or_to_a_bad_target_is_refused_up_front(stack: Stack) -> None:
    before = psql(stack, "SELECT count(*) FROM measurements", "appdb")
    run = drill(stack, "-e", f"dr_host={db(stack)}")
    assert run.rc != 0 and "Refused: the DR host must be a separate host" in run.output, run.output[-2000:]
    run = drill(stack, "-e", "dr_target_time=yesterday")
    assert run.rc != 0 and "Refused: dr_target_time 'yesterday'" in run.output, run.output[-2000:]
    assert not dr_container_exists(stack)
    assert int(psql(stack, "SELECT count(*) FROM measurements", "appdb")) >= int(before)


# ----------------------------------------------------------------------- drill


@pytest.fixture
def no_dr_container_left(stack: Stack) -> None:
    yield
    subprocess.run(["docker", "rm", "-f", stack.hosts("dr")[0]], capture_output=True, check=False)


@pytest.mark.stage("destructive")
@pytest.mark.debian("trixie")
@pytest.mark.usefixtures("no_dr_container_left")
def test_the_drill_recovers_the_stack_within_its_targets(stack: Stack, tmp_path: Path) -> None:
    """The drill as the DR benchmark runs it, at its smallest size on this stack
    (tests/bench/bench_dr.py --smoke --inventory: a little pgbench data, a full
    and a logical backup, the restore tests, then the drill): one drill proves
    the drill and keeps the benchmark's plumbing working."""
    results = tmp_path / "bench-dr.json"
    done = subprocess.run(
        [sys.executable, str(BENCH_DR), "run", "--smoke", "--inventory", str(stack.inventory), "--results", str(results)],
        capture_output=True, text=True, env=stack.env(), timeout=1800, check=False, cwd=stack.dir,
    )
    output = done.stdout + done.stderr
    assert results.exists(), output[-4000:]
    res = json.loads(results.read_text())
    assert "error" not in res, (res.get("error"), output[-3000:])
    drill_result = res["drill"]
    report = json.loads((Path(drill_result["report_dir"]) / "report.json").read_text())
    run = PlaybookRun(drill_result["rc"], output, report, Path(drill_result["report_dir"]), 0.0)
    checks = run.checks()
    assert done.returncode == 0 and drill_result["passed"] is True, output[-4000:]
    assert checks["dr.rto"]["status"] == "ok" and checks["dr.rto"]["value"] > 0, checks["dr.rto"]
    assert checks["dr.rpo"]["status"] == "ok" and checks["dr.rpo"]["value"] < 3600, checks["dr.rpo"]
    assert checks["dr.consistency"]["status"] == "ok", checks["dr.consistency"]
    assert checks["dr.rows:public.measurements"]["value"] > 0
    assert checks["dr.checklist"]["status"] != "crit", checks["dr.checklist"]
    phases = [step["name"] for step in checks["dr.rto"]["details"]["timeline"]]
    assert phases == ["provision", "restore", "app", "checklist", "compare"], phases
    dr_host = stack.hosts("dr")[0]
    # The recovered host's own daily checklist is in the report, and the host is gone again.
    assert "pg.connect" in run.checks(dr_host) and "http.status:app_health" in run.checks(dr_host)
    assert not dr_container_exists(stack)
    # The benchmark's figures: the drill's, and its restore tests of the fresh backups.
    assert drill_result["rto_s"] == checks["dr.rto"]["value"] and drill_result["rpo_s"] == checks["dr.rpo"]["value"]
    assert res["restore_tests"] and all(item["status"] == "ok" for item in res["restore_tests"].values()), res["restore_tests"]
    assert res["created_stack"] is False and res["backup_full_s"] > 0 and res["backup_logical_s"] > 0
    if stack.connection == "ssh":
        # The fresh host was reached over SSH like the others: its new host key was pinned first.
        known = (stack.inventory / ".secrets" / "ssh" / "known_hosts").read_text()
        assert stack.address(dr_host) in known


@pytest.mark.stage("destructive")
@pytest.mark.debian("bookworm")
@pytest.mark.usefixtures("no_dr_container_left")
def test_a_corrupt_newest_backup_fails_the_drill_naming_the_cause(stack: Stack) -> None:
    info = json.loads(sh(stack, "runuser -u postgres -- pgbackrest --stanza=main info --output json").stdout)
    label = info[0]["backup"][-1]["label"]
    victim = sh(stack, f"find {REPO}/backup/main/{label}/pg_data/base -type f -size +8k -printf '%s %p\\n' | sort -n | tail -1").stdout.split()[1]
    sh(stack, f"cp -p {victim} /root/victim.keep")
    try:
        size = int(sh(stack, f"stat -c %s {victim}").stdout)
        sh(stack, f"printf '\\377\\377\\377\\377' | dd of={victim} bs=1 seek={size // 2} conv=notrunc status=none")
        run = drill(stack, "-e", f"dr_set={label}")
    finally:
        sh(stack, f"cp -p /root/victim.keep {victim} && rm -f /root/victim.keep")
    checks = run.checks()
    assert run.rc != 0, run.output[-3000:]
    restore = checks["dr.phase:restore"]
    assert restore["status"] == "crit", restore
    assert "restore" in restore["message"].lower() and any(word in restore["message"] for word in ("checksum", "decompress", "ERROR")), restore
    assert checks["dr.rto"]["status"] == "crit" and "never became healthy" in checks["dr.rto"]["message"]
    assert not dr_container_exists(stack)

"""Monthly checklist and disaster-recovery drill on the provisioned source (issue 5, part 4).

Order matters (file order, top to bottom): the monthly checklist first (it
takes its own test restores), then the security review faults, the refusals,
the drill that passes, and the drill on a corrupt backup.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

testinfra_hosts = ["ansible://dr-db"]

ROOT = Path(__file__).resolve().parents[3]
HOST = "dr-db"
DR_HOST = "dr-dr1"
NETWORK = "molecule-dr"
REPO = "/var/backups/opsbook/pgbackrest"


def sh(command: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", "exec", HOST, "sh", "-c", command], capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{command!r} failed ({done.returncode}): {done.stderr or done.stdout}")
    return done


def psql(sql: str, db: str = "postgres") -> str:
    return sh(f"runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d {db} -c {shlex.quote(sql)}").stdout.strip()


@dataclass
class Run:
    rc: int
    output: str
    report: dict

    def checks(self, host: str | None = None) -> dict[str, dict]:
        return {
            item["check"]: item
            for data in self.report.get("hosts", [])
            if host is None or data["name"] == host
            for item in data["checks"]
        }


def playbook(tmp_path: Path, name: str, *extra: str, timeout: float = 1500) -> Run:
    report_dir = tmp_path / f"reports-{time.monotonic_ns()}"
    env = dict(os.environ)
    env.update(
        OPSBOOK_REPORT_DIR=str(report_dir),
        ANSIBLE_CALLBACKS_ENABLED="opsbook.stack.checklist",
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
    )
    # The inventory directory, not only its generated file: hosts.yml (group dr) is linked next to it.
    inventory = str(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent)
    done = subprocess.run(
        ["ansible-playbook", "-i", inventory, str(ROOT / "playbooks" / f"{name}.yml"), *extra],
        capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT, check=False,
    )
    output = done.stdout + done.stderr
    reports = sorted(p for p in report_dir.glob(f"{name}-*") if p.is_dir()) if report_dir.exists() else []
    report = json.loads((reports[-1] / "report.json").read_text()) if reports else {}
    return Run(done.returncode, output, report)


def drill(tmp_path: Path, *extra: str) -> Run:
    return playbook(tmp_path, "dr_drill", "-e", f"dr_sandbox_network={NETWORK}", *extra)


def dr_container_exists() -> bool:
    return subprocess.run(["docker", "inspect", DR_HOST], capture_output=True, check=False).returncode == 0


def security(host, checks: str) -> dict[str, dict]:
    """security_check as the module runs in the monthly checklist (PostgreSQL checks as postgres)."""
    as_postgres = checks.startswith("pg_")
    res = host.ansible(
        "opsbook.stack.security_check", f"checks={checks}", become=True,
        **({"become_user": "postgres"} if as_postgres else {}), check=False,
    )
    return {item["check"]: item for item in res["checks"]}


# --------------------------------------------------------------------- monthly


def test_monthly_checklist_is_green_and_records_history(tmp_path):
    psql("SELECT count(*) FROM measurements", "appdb")  # a statement for pg_stat_statements
    run = playbook(tmp_path, "monthly")
    checks = run.checks(HOST)
    assert run.rc == 0, run.output[-3000:]
    bad = {key: item["message"] for key, item in checks.items() if item["status"] == "crit"}
    assert not bad, bad
    # Test restores of both kinds, in scratch targets that are gone again.
    assert checks["restore.logical:appdb"]["status"] == "ok", checks["restore.logical:appdb"]
    assert [key for key in checks if key.startswith("restore.physical:")], sorted(checks)
    assert psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'opsbook_restore_test_%'") == "0"
    # Maintenance reports only (no explicit variable, no window).
    assert checks["pg_maintenance.analyze:appdb"]["status"] == "ok"
    # Slow queries, growth (no baseline yet), data quality, security review.
    assert {"pg.statements_mean", "pg.statements_total", "pg.database_growth:appdb"} <= set(checks)
    assert checks["pg.database_growth:appdb"]["status"] == "unknown"
    assert checks["pg.query:validation_rate_30d"]["status"] in ("ok", "unknown")
    assert {"security.pg_hba", "security.pg_superusers", "security.redis_auth", "security.secret_files"} <= set(checks)
    # The history on the control node has this run's sizes; a second run compares with them.
    history = json.loads((tmp_path / next(p.name for p in tmp_path.iterdir()) / "history" / f"{HOST}.json").read_text())
    assert "pg.database_size:appdb" in history["series"], history


# -------------------------------------------------------------------- security


def test_a_trust_line_in_pg_hba_is_found_then_gone(host):
    hba = psql("SHOW hba_file")
    sh(f"cp -p {hba} /root/pg_hba.keep && printf '\\nhost all all 0.0.0.0/0 trust\\n' >> {hba}")
    try:
        psql("SELECT pg_reload_conf()")
        found = security(host, "pg_hba")["security.pg_hba"]
        assert found["status"] == "crit" and "trust" in found["message"], found
    finally:
        sh(f"cp -p /root/pg_hba.keep {hba} && rm -f /root/pg_hba.keep")
        psql("SELECT pg_reload_conf()")
    assert security(host, "pg_hba")["security.pg_hba"]["status"] == "ok"


def test_an_extra_superuser_is_found_then_gone(host):
    psql("CREATE ROLE opsbook_intruder SUPERUSER NOLOGIN")
    try:
        found = security(host, "pg_superusers")["security.pg_superusers"]
        assert found["status"] == "crit" and "opsbook_intruder" in found["message"], found
    finally:
        psql("DROP ROLE opsbook_intruder")
    assert security(host, "pg_superusers")["security.pg_superusers"]["status"] == "ok"


def test_redis_without_authentication_is_found_then_gone(host):
    sh("cp -p /etc/redis/users.acl /root/users.acl.keep && sed -i 's/^user default .*/user default on nopass ~* \\&* +@all/' /etc/redis/users.acl"
       " && grep -q '^user default on nopass' /etc/redis/users.acl && systemctl restart redis-server")
    try:
        found = security(host, "redis_auth")["security.redis_auth"]
        assert found["status"] == "crit", found
    finally:
        sh("cp -p /root/users.acl.keep /etc/redis/users.acl && rm -f /root/users.acl.keep && systemctl restart redis-server")
    assert security(host, "redis_auth")["security.redis_auth"]["status"] == "ok"


# -------------------------------------------------------------------- refusals


def test_a_restore_test_on_the_live_cluster_is_refused():
    sh("python3 -c \"import json; c = json.load(open('/etc/opsbook/backup.json')); c['restore_test']['port'] = 5432; "
       "json.dump(c, open('/root/live.json', 'w'))\" && chmod 600 /root/live.json")
    try:
        done = sh("/usr/local/sbin/opsbook-backup --config /root/live.json restore-test physical", check=False)
    finally:
        sh("rm -f /root/live.json")
    assert done.returncode == 2 and "is the live cluster's port" in done.stderr, done


def test_a_drill_onto_a_live_host_or_to_a_bad_target_is_refused_up_front(tmp_path):
    before = psql("SELECT count(*) FROM measurements", "appdb")
    run = drill(tmp_path, "-e", f"dr_host={HOST}")
    assert run.rc != 0 and "Refused: the DR host must be a separate host" in run.output, run.output[-2000:]
    run = drill(tmp_path, "-e", "dr_target_time=yesterday")
    assert run.rc != 0 and "Refused: dr_target_time 'yesterday'" in run.output, run.output[-2000:]
    assert not dr_container_exists()
    assert int(psql("SELECT count(*) FROM measurements", "appdb")) >= int(before)


# ----------------------------------------------------------------------- drill


def test_the_drill_recovers_the_stack_within_its_targets(tmp_path):
    # The app ingests all the time; wait until WAL with its recent rows is archived (archive_timeout 30 s).
    time.sleep(35)
    run = drill(tmp_path)
    checks = run.checks()
    assert run.rc == 0, run.output[-4000:]
    assert checks["dr.rto"]["status"] == "ok" and checks["dr.rto"]["value"] > 0, checks["dr.rto"]
    assert checks["dr.rpo"]["status"] == "ok" and checks["dr.rpo"]["value"] < 3600, checks["dr.rpo"]
    assert checks["dr.consistency"]["status"] == "ok", checks["dr.consistency"]
    assert checks["dr.rows:public.measurements"]["value"] > 0
    assert checks["dr.checklist"]["status"] != "crit", checks["dr.checklist"]
    phases = [step["name"] for step in checks["dr.rto"]["details"]["timeline"]]
    assert phases == ["provision", "restore", "app", "checklist", "compare"], phases
    # The recovered host's own daily checklist is in the report, and the host is gone again.
    assert "pg.connect" in run.checks(DR_HOST) and "http.status:app_health" in run.checks(DR_HOST)
    assert not dr_container_exists()
    # Nothing in the source's repository was written by the DR host (it had it read-only).
    assert "Read-only file system" not in run.output


def test_a_corrupt_newest_backup_fails_the_drill_naming_the_cause(tmp_path):
    info = json.loads(sh("runuser -u postgres -- pgbackrest --stanza=main info --output json").stdout)
    label = info[0]["backup"][-1]["label"]
    victim = sh(f"find {REPO}/backup/main/{label}/pg_data/base -type f -size +8k -printf '%s %p\\n' | sort -n | tail -1").stdout.split()[1]
    sh(f"cp -p {victim} /root/victim.keep")
    try:
        size = int(sh(f"stat -c %s {victim}").stdout)
        sh(f"printf '\\377\\377\\377\\377' | dd of={victim} bs=1 seek={size // 2} conv=notrunc status=none")
        run = drill(tmp_path, "-e", f"dr_set={label}")
    finally:
        sh(f"cp -p /root/victim.keep {victim} && rm -f /root/victim.keep")
    checks = run.checks()
    assert run.rc != 0, run.output[-3000:]
    restore = checks["dr.phase:restore"]
    assert restore["status"] == "crit", restore
    assert "restore" in restore["message"].lower() and any(word in restore["message"] for word in ("checksum", "decompress", "ERROR")), restore
    assert checks["dr.rto"]["status"] == "crit" and "never became healthy" in checks["dr.rto"]["message"]
    assert not dr_container_exists()


@pytest.fixture(autouse=True, scope="module")
def _no_dr_container_left():
    yield
    subprocess.run(["docker", "rm", "-f", DR_HOST], capture_output=True, check=False)

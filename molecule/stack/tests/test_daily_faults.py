"""The daily checklist against the real stack: green when healthy, and every
fault it exists to catch turns the right checks (and only those) red.

Each fault test breaks one real thing on the scenario's hosts, runs
playbooks/daily.yml exactly as a user does (with the report callback), reads
the JSON report, asserts the expected checks are warn/crit and nothing else
is, heals, and asserts those checks are green again.

The fault tests run when OPSBOOK_FAULTS=1 (make molecule sets it for the
Debian 12 run of the stack scenario); the healthy baseline always runs.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import Run, hosts_of, run_playbook

DB = hosts_of("db")[0]
CACHE = hosts_of("cache")[0]
APP = hosts_of("app")[0]
ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = ROOT / "playbooks" / "daily.yml"
SCRATCH = "/srv/scratch"

# Readings that depend on how busy the machine running the scenario is (CI
# runs it on 2 shared cores): they may *warn* under load, never go crit, and
# are not part of any fault.
NOISE = ("host.cpu", "http.latency:*")


def is_noise(check: str, status: str) -> bool:
    return status == "warn" and any(fnmatch.fnmatch(check, pattern) for pattern in NOISE)


faults_enabled = pytest.mark.skipif(
    os.environ.get("OPSBOOK_FAULTS") != "1", reason="fault tests run with OPSBOOK_FAULTS=1 (Debian 12 stack run)"
)


def sh(container: str, command: str, check: bool = True) -> str:
    """Run a shell command in a scenario container as root."""
    done = subprocess.run(
        ["docker", "exec", container, "sh", "-c", command], capture_output=True, text=True, timeout=180, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{container}: {command!r} failed ({done.returncode}): {done.stderr or done.stdout}")
    return done.stdout


def psql(sql: str, db: str = "appdb") -> str:
    return sh(DB, f"runuser -u postgres -- psql -XAtq -d {db} -c \"{sql}\"")


def wait_for(what: str, probe: Callable[[], bool], timeout: float = 150) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def app_health(url: str = "http://127.0.0.1:8000/health") -> dict:
    """The app's /health body (any status code) as seen on the app host."""
    probe = (
        "import ssl, sys, urllib.request, urllib.error\n"
        "ctx = ssl._create_unverified_context()\n"
        "try:\n"
        "    body = urllib.request.urlopen(sys.argv[1], timeout=5, context=ctx).read()\n"
        "except urllib.error.HTTPError as exc:\n"
        "    body = exc.read()\n"
        "except OSError:\n"
        "    body = b'{}'\n"
        "print(body.decode())\n"
    )
    out = sh(APP, f"python3 -c \"{probe}\" {url}", check=False)
    try:
        return json.loads(out)
    except ValueError:
        return {}


def app_healthy() -> bool:
    """Healthy three times in a row, directly and through nginx (every worker recovered)."""
    for _attempt in range(3):
        for url in ("http://127.0.0.1:8000/health", "https://127.0.0.1/health"):
            if app_health(url).get("status") != "healthy":
                return False
    return True


def run_daily(tmp_path: Path, *extra: str) -> Run:
    """ansible-playbook playbooks/daily.yml on the scenario inventory; parse the report."""
    # The scenario's hosts carry a small tmpfs standing in for a data volume.
    return run_playbook(tmp_path, "daily", "-e", json.dumps({"checklist_host_mounts": ["/", SCRATCH]}), *extra)


def describe(run: Run) -> str:
    lines = [f"rc={run.rc} report={run.path}"]
    for data in run.report["hosts"]:
        for item in data["checks"]:
            if item["status"] != "ok":
                lines.append(f"  {data['name']} {item['check']} {item['status']}: {item['message']}")
    return "\n".join(lines)


def test_daily_is_green_on_the_healthy_stack(tmp_path: Path) -> None:
    wait_for("the app to report healthy", app_healthy)
    run_daily(tmp_path)  # first run reads the logs from their start
    run = run_daily(tmp_path)
    unexpected = {key: s for key, s in run.not_ok().items() if not is_noise(key[1], s)}
    assert not unexpected, describe(run)
    assert run.rc == 0, describe(run) + run.output[-3000:]
    hosts = {data["name"] for data in run.report["hosts"]}
    assert hosts == {DB, CACHE, APP}
    checks = {check for _host, check in run.statuses()}
    for expected in (
        "pg.connect", "pg.query:failed_jobs_24h", "pg.query:data_age_hours", "pg.query:validation_rate_24h",
        "redis.ping", "redis.memory", "http.status:app_health", "http.json:app_health.scheduler.running",
        "http.status:proxy_health", "tls.cert:nginx", "tls.endpoint:https", "host.disk:/",
        "host.unit:postgresql", "host.unit:refservice-scheduler", "log.errors:app*",
    ):
        assert any(fnmatch.fnmatch(check, expected) for check in checks), f"{expected} missing from {sorted(checks)}"
    for name in ("report.json", "report.md", "report.html", "junit.xml", "metrics.prom"):
        assert (run.path / name).stat().st_size > 0, name


def test_check_mode_runs_and_reports(tmp_path: Path) -> None:
    run = run_daily(tmp_path, "--check")
    assert run.report["check_mode"] is True
    assert run.rc == 0, describe(run)


@dataclass
class Fault:
    name: str
    brk: Callable[[], None]
    heal: Callable[[], None]
    must: dict[tuple[str, str], set[str]]
    may: set[str] = field(default_factory=set)
    extra: tuple[str, ...] = ()


def _stop(container: str, unit: str) -> Callable[[], None]:
    return lambda: sh(container, f"systemctl stop {unit}")


def _start(container: str, unit: str) -> Callable[[], None]:
    def heal() -> None:
        sh(container, f"systemctl start {unit}")
        wait_for("the app to report healthy again", app_healthy)
    return heal


def _fill_disk() -> None:
    sh(DB, f"mountpoint -q {SCRATCH} && fallocate -l 62M {SCRATCH}/fault-fill")


def _degrade_app() -> None:
    psql("ALTER ROLE app NOLOGIN", db="postgres")
    psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'app'", db="postgres")
    wait_for(
        "the app to report unhealthy directly and through nginx",
        lambda: all(app_health(url).get("status") == "unhealthy"
                    for url in ("http://127.0.0.1:8000/health", "https://127.0.0.1/health")),
        60,
    )


def _heal_app() -> None:
    psql("ALTER ROLE app LOGIN", db="postgres")
    wait_for("the app to report healthy again", app_healthy)


def _stop_scheduler() -> None:
    sh(APP, "systemctl stop refservice-scheduler")
    # The heartbeat key expires 90 s after the last beat; drop it now instead
    # of waiting, exactly what its expiry would do.
    secrets = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent / ".secrets"
    password = (secrets / "redis_app").read_text().split()[0]
    sh(CACHE, f"REDISCLI_AUTH={password} redis-cli --no-auth-warning --user app DEL refservice:scheduler:heartbeat")
    wait_for("the app to notice the scheduler is gone", lambda: app_health().get("scheduler", {}).get("running") is False, 150)


def _failed_jobs() -> None:
    psql(
        "INSERT INTO job_executions (job_name, started_at, finished_at, status, error) "
        "SELECT 'fault-test', now() - interval '1 minute', now(), 'FAILED', 'injected by the fault test' "
        "FROM generate_series(1, 6)"
    )


def _heal_failed_jobs() -> None:
    psql("DELETE FROM job_executions WHERE job_name = 'fault-test'")


def _stale_data() -> None:
    psql("UPDATE jobs SET enabled = false WHERE name = 'ingest'")
    time.sleep(1)
    psql("UPDATE measurements SET ts = ts - interval '49 hours'")


def _heal_stale_data() -> None:
    psql("UPDATE measurements SET ts = ts + interval '49 hours'")
    psql("UPDATE jobs SET enabled = true WHERE name = 'ingest'")


def _log_errors() -> None:
    lines = "\\n".join(
        f"2026-11-26 06:00:{i:02d},000 ERROR refservice.web [1] injected fault line {i}" for i in range(12)
    )
    sh(APP, f"printf '{lines}\\n' >> /var/log/refservice/refservice.log")


def _expiring_cert() -> None:
    sh(APP, "cp -p /etc/nginx/tls/opsbook.crt /root/fault-opsbook.crt && cp -p /etc/nginx/tls/opsbook.key /root/fault-opsbook.key")
    sh(
        APP,
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 5 -subj /CN=localhost "
        "-keyout /etc/nginx/tls/opsbook.key -out /etc/nginx/tls/opsbook.crt 2>/dev/null && systemctl reload nginx",
    )
    time.sleep(1)


def _heal_cert() -> None:
    sh(APP, "cp -p /root/fault-opsbook.crt /etc/nginx/tls/opsbook.crt && cp -p /root/fault-opsbook.key /etc/nginx/tls/opsbook.key "
            "&& systemctl reload nginx && rm -f /root/fault-opsbook.*")
    time.sleep(1)


FAULTS = [
    Fault(
        "postgresql_stopped", _stop(DB, "postgresql"), _start(DB, "postgresql"),
        must={(DB, "pg.connect"): {"crit"}, (DB, "host.unit:postgresql"): {"crit"},
              (APP, "http.status:app_health"): {"crit"}},
        may={"pg.*", "http.*", "log.*"},
    ),
    Fault(
        "redis_stopped", _stop(CACHE, "redis-server"), _start(CACHE, "redis-server"),
        must={(CACHE, "redis.ping"): {"crit"}, (CACHE, "host.unit:redis-server"): {"crit"},
              (APP, "http.status:app_health"): {"crit"}},
        may={"redis.*", "http.*", "log.*"},
    ),
    Fault(
        "disk_filled", _fill_disk, lambda: sh(DB, f"rm -f {SCRATCH}/fault-fill"),
        must={(DB, f"host.disk:{SCRATCH}"): {"crit"}},
    ),
    Fault(
        "app_health_degraded", _degrade_app, _heal_app,
        must={(APP, "http.status:app_health"): {"crit"}, (APP, "http.json:app_health.status"): {"crit"},
              (APP, "http.json:app_health.database.ok"): {"crit"}, (APP, "http.status:proxy_health"): {"crit"}},
        may={"http.*", "log.*"},
    ),
    Fault(
        "scheduler_stopped", _stop_scheduler, _start(APP, "refservice-scheduler"),
        must={(APP, "host.unit:refservice-scheduler"): {"crit"},
              (APP, "http.json:app_health.scheduler.running"): {"crit"}},
        may={"http.*", "log.*"},
    ),
    Fault(
        "failed_job_executions", _failed_jobs, _heal_failed_jobs,
        must={(DB, "pg.query:failed_jobs_24h"): {"crit"}},
    ),
    Fault(
        "stale_data", _stale_data, _heal_stale_data,
        must={(DB, "pg.query:data_age_hours"): {"crit"}},
        # No row younger than 24 h: the rate has no sample (unknown), no gaps.
        may={"pg.query:validation_rate_24h", "pg.query:gaps_24h"},
    ),
    Fault(
        "app_log_errors", _log_errors, lambda: None,
        must={(APP, "log.errors:app/refservice.log"): {"crit"}},
    ),
    Fault(
        "certificate_near_expiry", _expiring_cert, _heal_cert,
        must={(APP, "tls.cert:nginx"): {"crit"}, (APP, "tls.endpoint:https"): {"crit"}},
    ),
    Fault(
        "wrong_redis_password", lambda: None, lambda: None,
        must={(CACHE, "redis.ping"): {"crit"}},
        may={"redis.*"},
        extra=("-e", "checklist_redis_login_password=not-the-password"),
    ),
]


@faults_enabled
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_is_caught_then_clears(fault: Fault, tmp_path: Path) -> None:
    wait_for("the app to report healthy before the fault", app_healthy)
    # Read past the log lines written since the previous test (recovery noise).
    run_daily(tmp_path, "--tags", "checklist_logs")
    fault.brk()
    try:
        run = run_daily(tmp_path, *fault.extra)
    finally:
        fault.heal()
    report = describe(run)
    statuses = run.statuses()
    for key, wanted in fault.must.items():
        assert statuses.get(key) in wanted, f"{key} should be {wanted}, is {statuses.get(key)}\n{report}"
    unexpected = {
        key: status for key, status in run.not_ok().items()
        if key not in fault.must and not is_noise(key[1], status)
        and not any(fnmatch.fnmatch(key[1], pattern) for pattern in fault.may)
    }
    assert not unexpected, f"checks that should have stayed ok: {unexpected}\n{report}"
    assert run.rc == 2, f"a critical check must fail the run (rc 2), got {run.rc}\n{report}"

    healed = run_daily(tmp_path)
    after = healed.statuses()
    for key in fault.must:
        assert after.get(key) == "ok", f"{key} still {after.get(key)} after healing\n{describe(healed)}"


# ------------------------------------------------------------------ bad input


@faults_enabled
def test_unreachable_host_is_crit_and_the_others_are_checked(tmp_path: Path) -> None:
    ghost = tmp_path / "ghost.yml"
    ghost.write_text(
        "all:\n  hosts:\n    stack-ghost:\n"
        "      ansible_connection: community.docker.docker\n"
        "      ansible_host: opsbook-no-such-container\n"
    )
    run = run_daily(tmp_path, "-i", str(ghost))
    statuses = run.statuses()
    assert statuses.get(("stack-ghost", "host.reachable")) == "crit", describe(run)
    for name in (DB, CACHE, APP):
        assert any(host == name for host, _check in statuses), f"{name} was not checked\n{describe(run)}"
    # 4 when the connection reports the host unreachable, 2 when (as docker exec
    # with pipelining does) the connection probe fails as a task.
    assert run.rc in (2, 4), describe(run)


@faults_enabled
@pytest.mark.parametrize(
    ("extra", "family", "named"),
    [
        ({"checklist_host_checks": ["cpu", "bogus"]}, "host.module", "bogus"),
        ({"checklist_tls_thresholds": {"days_left": {"warn": 5, "crit": 10}}}, "tls.module", "days_left"),
    ],
    ids=["unknown_check_name", "warn_beyond_crit"],
)
def test_bad_options_give_unknown_and_the_rest_still_runs(tmp_path: Path, extra: dict, family: str, named: str) -> None:
    run = run_daily(tmp_path, "-e", json.dumps(extra))
    failed = [
        item for data in run.report["hosts"] for item in data["checks"] if item["check"] == family
    ]
    assert failed and all(item["status"] == "unknown" for item in failed), describe(run)
    assert all(named in item["message"] for item in failed), [item["message"] for item in failed]
    statuses = run.statuses()
    assert statuses.get((DB, "pg.connect")) == "ok", describe(run)
    assert statuses.get((APP, "http.status:app_health")) == "ok", describe(run)
    assert run.rc == 0, describe(run)

"""The daily checklist against the real stack: green when healthy, and every
fault it exists to catch turns the right checks (and only those) red.

A fault breaks one real thing on the stack's hosts; playbooks/daily.yml runs
exactly as a user runs it (with the report callback); the JSON report must
show the fault's checks warn/crit and nothing else; the fault is healed and
the next run must show those checks green again. Faults that touch different
checks are broken together and share one broken and one healed run; each
group runs on one Debian release, so the two releases carry about half each.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from testbed.health import app_health, app_healthy
from testbed.stack import PlaybookRun, Stack

SCRATCH = "/srv/scratch"

# Readings that depend on how busy the machine running the stack is (CI runs
# it on 2 shared cores): they may *warn* under load, never go crit, and are
# not part of any fault.
NOISE = ("host.cpu", "http.latency:*")


def is_noise(check: str, status: str) -> bool:
    return status == "warn" and any(fnmatch.fnmatch(check, pattern) for pattern in NOISE)


def run_daily(stack: Stack, *extra: str) -> PlaybookRun:
    """playbooks/daily.yml on the stack; every host also checks its small /srv/scratch disk."""
    run = stack.playbook("daily", "-e", json.dumps({"checklist_host_mounts": ["/", SCRATCH]}), *extra)
    assert run.report, f"no report written; output:\n{run.output[-4000:]}"
    assert "Report: " in run.output, run.output[-2000:]
    return run


def test_daily_is_green_on_the_healthy_stack(stack: Stack) -> None:
    stack.wait_for("the app to report healthy", lambda: app_healthy(stack))
    run_daily(stack)  # the first run reads the logs from their start
    run = run_daily(stack)
    unexpected = {key: s for key, s in run.not_ok().items() if not is_noise(key[1], s)}
    assert not unexpected, run.describe()
    assert run.rc == 0, run.describe() + run.output[-3000:]
    assert {data["name"] for data in run.report["hosts"]} == set(stack.hosts("sandbox"))
    checks = {check for _host, check in run.statuses()}
    for expected in (
        "pg.connect", "pg.query:failed_jobs_24h", "pg.query:data_age_hours", "pg.query:validation_rate_24h",
        "redis.ping", "redis.memory", "http.status:app_health", "http.json:app_health.scheduler.running",
        "http.status:proxy_health", "tls.cert:nginx", "tls.endpoint:https", "host.disk:/",
        "host.unit:postgresql", "host.unit:refservice-scheduler", "log.errors:app*",
    ):
        assert any(fnmatch.fnmatch(check, expected) for check in checks), f"{expected} missing from {sorted(checks)}"
    for name in ("report.json", "report.md", "report.html", "junit.xml", "metrics.prom"):
        assert run.path is not None and (run.path / name).stat().st_size > 0, name


def test_check_mode_runs_and_reports(stack: Stack) -> None:
    run = run_daily(stack, "--check")
    assert run.report["check_mode"] is True
    assert run.rc == 0, run.describe()


# ------------------------------------------------------------------ faults


@dataclass
class Fault:
    name: str
    brk: Callable[[Stack], None]
    heal: Callable[[Stack], None]
    must: Callable[[Stack], dict[tuple[str, str], set[str]]]
    may: set[str] = field(default_factory=set)
    extra: dict[str, str] = field(default_factory=dict)


def db(stack: Stack) -> str:
    return stack.hosts("db")[0]


def cache(stack: Stack) -> str:
    return stack.hosts("cache")[0]


def app(stack: Stack) -> str:
    return stack.hosts("app")[0]


def _stop(group: str, unit: str) -> Callable[[Stack], None]:
    def brk(stack: Stack) -> None:
        stack.sh(stack.hosts(group)[0], f"systemctl stop {unit}")
    return brk


def _start(group: str, unit: str) -> Callable[[Stack], None]:
    def heal(stack: Stack) -> None:
        stack.sh(stack.hosts(group)[0], f"systemctl start {unit}")
        stack.wait_for("the app to report healthy again", lambda: app_healthy(stack))
    return heal


def _fill_disk(stack: Stack) -> None:
    stack.sh(db(stack), f"mountpoint -q {SCRATCH} && fallocate -l 62M {SCRATCH}/fault-fill")


def _empty_disk(stack: Stack) -> None:
    stack.sh(db(stack), f"rm -f {SCRATCH}/fault-fill")


def _degrade_app(stack: Stack) -> None:
    stack.psql("ALTER ROLE app NOLOGIN", db="postgres")
    stack.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'app'", db="postgres")
    stack.wait_for(
        "the app to report unhealthy directly and through nginx",
        lambda: all(app_health(stack, url).get("status") == "unhealthy"
                    for url in ("http://127.0.0.1:8000/health", "https://127.0.0.1/health")),
        60,
    )


def _heal_app(stack: Stack) -> None:
    stack.psql("ALTER ROLE app LOGIN", db="postgres")
    stack.wait_for("the app to report healthy again", lambda: app_healthy(stack))


def _stop_scheduler(stack: Stack) -> None:
    stack.sh(app(stack), "systemctl stop refservice-scheduler")
    # The heartbeat key expires 90 s after the last beat; drop it now instead
    # of waiting, exactly what its expiry would do.
    stack.sh(cache(stack), f"REDISCLI_AUTH={stack.secrets['redis_app']} redis-cli --no-auth-warning --user app "
                           "DEL refservice:scheduler:heartbeat")
    stack.wait_for("the app to notice the scheduler is gone",
                   lambda: app_health(stack).get("scheduler", {}).get("running") is False, 150)


def _failed_jobs(stack: Stack) -> None:
    stack.psql(
        "INSERT INTO job_executions (job_name, started_at, finished_at, status, error) "
        "SELECT 'fault-test', now() - interval '1 minute', now(), 'FAILED', 'injected by the fault test' "
        "FROM generate_series(1, 6)"
    )


def _heal_failed_jobs(stack: Stack) -> None:
    stack.psql("DELETE FROM job_executions WHERE job_name = 'fault-test'")


def _stale_data(stack: Stack) -> None:
    stack.psql("UPDATE jobs SET enabled = false WHERE name = 'ingest'")
    time.sleep(1)
    stack.psql("UPDATE measurements SET ts = ts - interval '49 hours'")


def _heal_stale_data(stack: Stack) -> None:
    stack.psql("UPDATE measurements SET ts = ts + interval '49 hours'")
    stack.psql("UPDATE jobs SET enabled = true WHERE name = 'ingest'")


def _log_errors(stack: Stack) -> None:
    lines = "\\n".join(
        f"2026-11-26 06:00:{i:02d},000 ERROR refservice.web [1] injected fault line {i}" for i in range(12)
    )
    stack.sh(app(stack), f"printf '{lines}\\n' >> /var/log/refservice/refservice.log")


def _expiring_cert(stack: Stack) -> None:
    stack.sh(app(stack), "cp -p /etc/nginx/tls/opsbook.crt /root/fault-opsbook.crt && cp -p /etc/nginx/tls/opsbook.key /root/fault-opsbook.key")
    stack.sh(
        app(stack),
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 5 -subj /CN=localhost "
        "-keyout /etc/nginx/tls/opsbook.key -out /etc/nginx/tls/opsbook.crt 2>/dev/null && systemctl reload nginx",
    )
    time.sleep(1)


def _heal_cert(stack: Stack) -> None:
    stack.sh(app(stack), "cp -p /root/fault-opsbook.crt /etc/nginx/tls/opsbook.crt && cp -p /root/fault-opsbook.key /etc/nginx/tls/opsbook.key "
                         "&& systemctl reload nginx && rm -f /root/fault-opsbook.*")
    time.sleep(1)


def _nothing(_stack: Stack) -> None:
    return None


FAULTS = {
    f.name: f
    for f in [
        Fault(
            "postgresql_stopped", _stop("db", "postgresql"), _start("db", "postgresql"),
            must=lambda s: {(db(s), "pg.connect"): {"crit"}, (db(s), "host.unit:postgresql"): {"crit"},
                            (app(s), "http.status:app_health"): {"crit"}},
            may={"pg.*", "http.*", "log.*"},
        ),
        Fault(
            "redis_stopped", _stop("cache", "redis-server"), _start("cache", "redis-server"),
            must=lambda s: {(cache(s), "redis.ping"): {"crit"}, (cache(s), "host.unit:redis-server"): {"crit"},
                            (app(s), "http.status:app_health"): {"crit"}},
            may={"redis.*", "http.*", "log.*"},
        ),
        Fault(
            "disk_filled", _fill_disk, _empty_disk,
            must=lambda s: {(db(s), f"host.disk:{SCRATCH}"): {"crit"}},
        ),
        Fault(
            "app_health_degraded", _degrade_app, _heal_app,
            must=lambda s: {(app(s), "http.status:app_health"): {"crit"}, (app(s), "http.json:app_health.status"): {"crit"},
                            (app(s), "http.json:app_health.database.ok"): {"crit"}, (app(s), "http.status:proxy_health"): {"crit"}},
            may={"http.*", "log.*"},
        ),
        Fault(
            "scheduler_stopped", _stop_scheduler, _start("app", "refservice-scheduler"),
            must=lambda s: {(app(s), "host.unit:refservice-scheduler"): {"crit"},
                            (app(s), "http.json:app_health.scheduler.running"): {"crit"}},
            may={"http.*", "log.*"},
        ),
        Fault(
            "failed_job_executions", _failed_jobs, _heal_failed_jobs,
            must=lambda s: {(db(s), "pg.query:failed_jobs_24h"): {"crit"}},
        ),
        Fault(
            "stale_data", _stale_data, _heal_stale_data,
            must=lambda s: {(db(s), "pg.query:data_age_hours"): {"crit"}},
            # No row younger than 24 h: the rate has no sample (unknown), no gaps.
            may={"pg.query:validation_rate_24h", "pg.query:gaps_24h"},
        ),
        Fault(
            "app_log_errors", _log_errors, _nothing,
            must=lambda s: {(app(s), "log.errors:app/refservice.log"): {"crit"}},
        ),
        Fault(
            "certificate_near_expiry", _expiring_cert, _heal_cert,
            must=lambda s: {(app(s), "tls.cert:nginx"): {"crit"}, (app(s), "tls.endpoint:https"): {"crit"}},
        ),
        Fault(
            "wrong_redis_password", _nothing, _nothing,
            must=lambda s: {(cache(s), "redis.ping"): {"crit"}},
            may={"redis.*"},
            extra={"checklist_redis_login_password": "not-the-password"},
        ),
    ]
}

# Faults broken together touch different checks; a fault that stops a data
# store or the app changes what the app reports and stays alone. Every fault
# is in exactly one group, every group runs on one release.
GROUPS = [
    pytest.param(["postgresql_stopped"], id="postgresql_stopped", marks=pytest.mark.debian("bookworm")),
    pytest.param(["app_health_degraded"], id="app_health_degraded", marks=pytest.mark.debian("bookworm")),
    pytest.param(["disk_filled", "failed_job_executions", "certificate_near_expiry"],
                 id="disk_filled+failed_job_executions+certificate_near_expiry", marks=pytest.mark.debian("bookworm")),
    pytest.param(["redis_stopped"], id="redis_stopped", marks=pytest.mark.debian("trixie")),
    pytest.param(["scheduler_stopped"], id="scheduler_stopped", marks=pytest.mark.debian("trixie")),
    pytest.param(["stale_data", "app_log_errors", "wrong_redis_password"],
                 id="stale_data+app_log_errors+wrong_redis_password", marks=pytest.mark.debian("trixie")),
]


def test_every_fault_is_in_one_group() -> None:
    grouped = [name for param in GROUPS for name in param.values[0]]
    assert sorted(grouped) == sorted(FAULTS), "every fault must be in exactly one group"


@pytest.mark.stage("faults")
@pytest.mark.parametrize("names", GROUPS)
def test_faults_are_caught_then_clear(stack: Stack, names: list[str]) -> None:
    faults = [FAULTS[name] for name in names]
    # Read past the log lines written since the previous test (recovery noise).
    run_daily(stack, "--tags", "checklist_logs")
    extra: dict[str, str] = {}
    broken: list[Fault] = []
    try:
        for fault in faults:
            fault.brk(stack)
            broken.append(fault)
            extra.update(fault.extra)
        run = run_daily(stack, *(["-e", json.dumps(extra)] if extra else []))
    finally:
        for fault in reversed(broken):
            fault.heal(stack)
    must = {key: wanted for fault in faults for key, wanted in fault.must(stack).items()}
    may = {pattern for fault in faults for pattern in fault.may}
    report = run.describe()
    statuses = run.statuses()
    for key, wanted in must.items():
        assert statuses.get(key) in wanted, f"{key} should be {wanted}, is {statuses.get(key)}\n{report}"
    unexpected = {
        key: status for key, status in run.not_ok().items()
        if key not in must and not is_noise(key[1], status)
        and not any(fnmatch.fnmatch(key[1], pattern) for pattern in may)
    }
    assert not unexpected, f"checks that should have stayed ok: {unexpected}\n{report}"
    assert run.rc == 2, f"a critical check must fail the run (rc 2), got {run.rc}\n{report}"

    healed = run_daily(stack)
    after = healed.statuses()
    for key in must:
        assert after.get(key) == "ok", f"{key} still {after.get(key)} after healing\n{healed.describe()}"


# ------------------------------------------------------------------ bad input


@pytest.mark.stage("faults")
@pytest.mark.debian("bookworm")
def test_unreachable_host_is_crit_and_the_others_are_checked(stack: Stack, tmp_path: Path) -> None:
    ghost = tmp_path / "ghost.yml"
    ghost.write_text(
        "all:\n  hosts:\n    stack-ghost:\n"
        "      ansible_connection: community.docker.docker\n"
        "      ansible_host: opsbook-no-such-container\n"
    )
    run = run_daily(stack, "-i", str(stack.inventory), "-i", str(ghost))
    statuses = run.statuses()
    assert statuses.get(("stack-ghost", "host.reachable")) == "crit", run.describe()
    for name in stack.hosts("sandbox"):
        assert any(host == name for host, _check in statuses), f"{name} was not checked\n{run.describe()}"
    # 4 when the connection reports the host unreachable, 2 when (as docker exec
    # with pipelining does) the connection probe fails as a task.
    assert run.rc in (2, 4), run.describe()


@pytest.mark.stage("faults")
@pytest.mark.parametrize(
    ("extra", "family", "named"),
    [
        pytest.param({"checklist_host_checks": ["cpu", "bogus"]}, "host.module", "bogus",
                     id="unknown_check_name", marks=pytest.mark.debian("trixie")),
        pytest.param({"checklist_tls_thresholds": {"days_left": {"warn": 5, "crit": 10}}}, "tls.module", "days_left",
                     id="warn_beyond_crit", marks=pytest.mark.debian("bookworm")),
    ],
)
def test_bad_options_give_unknown_and_the_rest_still_runs(stack: Stack, extra: dict, family: str, named: str) -> None:
    run = run_daily(stack, "-e", json.dumps(extra))
    failed = [item for data in run.report["hosts"] for item in data["checks"] if item["check"] == family]
    assert failed and all(item["status"] == "unknown" for item in failed), run.describe()
    assert all(named in item["message"] for item in failed), [item["message"] for item in failed]
    statuses = run.statuses()
    assert statuses.get((db(stack), "pg.connect")) == "ok", run.describe()
    assert statuses.get((app(stack), "http.status:app_health")) == "ok", run.describe()
    assert run.rc == 0, run.describe()

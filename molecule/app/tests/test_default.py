"""Verify the app role: units, HTTP endpoints, jobs, auth, files."""

import json
import time

import pytest

BASE = "http://127.0.0.1:8000"
TOKEN = "molecule-admin-token"
PSQL = "PGPASSWORD=molecule-db-S3cret psql -h 127.0.0.1 -U app -d appdb -At -c"


def http(host, method, path, token=None):
    """Return (status, body) of a request made on the host with curl."""
    auth = f"-H 'Authorization: Bearer {token}'" if token else ""
    cmd = host.run(f"curl -s -o /tmp/body -w '%{{http_code}}' -X {method} {auth} {BASE}{path}; echo; cat /tmp/body")
    status, _sep, body = cmd.stdout.partition("\n")
    return int(status or 0), body


def wait_for(check, timeout=60, step=2):
    """Call check() until it returns a truthy value or timeout seconds pass."""
    deadline = time.time() + timeout
    result = check()
    while not result and time.time() < deadline:
        time.sleep(step)
        result = check()
    return result


@pytest.mark.parametrize("unit", ["refservice-web", "refservice-scheduler"])
def test_units_active_and_enabled(host, unit):
    service = host.service(unit)
    assert service.is_running
    assert service.is_enabled


def test_web_listens_on_loopback(host):
    assert host.socket("tcp://127.0.0.1:8000").is_listening


def test_health_is_healthy(host):
    def healthy():
        status, body = http(host, "GET", "/health")
        return status == 200 and json.loads(body)

    data = wait_for(healthy)
    assert data, "GET /health never answered 200"
    assert data["status"] == "healthy"
    assert data["database"]["ok"] is True
    assert data["redis"]["ok"] is True
    assert data["scheduler"]["running"] is True
    assert data["version"] == "0.1.0"


def test_jobs_ran_successfully(host):
    def successes():
        out = host.run(f"{PSQL} \"SELECT count(*) FROM job_executions WHERE status = 'SUCCESS'\"")
        return out.rc == 0 and int(out.stdout.strip() or 0) >= 2

    # INGEST_INTERVAL_SECONDS is 5 in this scenario: two runs within ~15 s.
    assert wait_for(successes, timeout=30), "job_executions has no SUCCESS rows"
    status, body = http(host, "GET", "/jobs/summary")
    assert status == 200
    summary = json.loads(body)
    assert summary["counts"]["SUCCESS"] >= 2
    assert any(r["name"] == "ingest" and r["status"] == "SUCCESS" and r["rows"] > 0 for r in summary["recent"])


def test_status_endpoint(host):
    status, body = http(host, "GET", "/api/v1/status")
    assert status == 200
    data = json.loads(body)
    for field in ("record_count", "latest_data_timestamp", "validation_rate_pct", "gaps_flagged"):
        assert field in data
    assert data["record_count"] > 0
    assert 0 <= data["validation_rate_pct"] <= 100


def test_admin_requires_token(host):
    assert http(host, "POST", "/admin/jobs/ingest/run")[0] == 401
    assert http(host, "POST", "/admin/jobs/ingest/run", token="wrong-token")[0] == 401
    status, body = http(host, "POST", "/admin/jobs/ingest/run", token=TOKEN)
    assert status == 200
    assert json.loads(body)["run_requested"] is True
    assert http(host, "POST", "/admin/jobs/nosuchjob/run", token=TOKEN)[0] == 404


def test_disable_and_enable_job(host):
    status, body = http(host, "POST", "/admin/jobs/ingest/disable", token=TOKEN)
    assert status == 200 and json.loads(body)["enabled"] is False
    out = host.run(f"{PSQL} \"SELECT enabled FROM jobs WHERE name = 'ingest'\"")
    assert out.stdout.strip() == "f"
    status, body = http(host, "POST", "/admin/jobs/ingest/enable", token=TOKEN)
    assert status == 200 and json.loads(body)["enabled"] is True


def test_env_file_is_private(host):
    env = host.file("/etc/refservice/app.env")
    assert env.user == "root"
    assert env.mode == 0o600
    assert not env.mode & 0o007
    assert env.contains("DB_PASSWORD=")
    # the app user cannot read it; systemd reads it as root
    assert host.run("runuser -u refservice -- cat /etc/refservice/app.env").rc != 0


def test_current_points_into_releases(host):
    current = host.file("/opt/refservice/current")
    assert current.is_symlink
    assert current.linked_to == "/opt/refservice/releases/0.1.0"
    assert host.file("/opt/refservice/current/venv/bin/gunicorn").is_file


def test_processes_run_as_app_user(host):
    out = host.run("ps -o user= -C gunicorn")
    assert out.stdout.split() and set(out.stdout.split()) == {"refservice"}


def test_log_file_has_lines(host):
    log = host.file("/var/log/refservice/refservice.log")
    assert log.is_file
    assert log.user == "refservice"
    assert "INFO refservice.scheduler" in log.content_string
    assert "job ingest SUCCESS" in log.content_string


def test_redis_refuses_wrong_password(host):
    out = host.run("redis-cli --user app --pass wrong --no-auth-warning PING")
    assert "PONG" not in out.stdout

"""opsbook.stack.http_check and tls_check against the real app, nginx and certificate (web host)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from testbed.stack import StackHost

# Written by the nginx role: <nginx_tls_dir>/<nginx_site_name>.crt with the defaults
# (self-signed, CN localhost, SAN localhost / the host name / 127.0.0.1 in the sandbox vars).
NGINX_CERT = "/etc/nginx/tls/opsbook.crt"

APP_HEALTH = {
    "name": "app",
    "url": "http://127.0.0.1:8000/health",
    "json": [
        {"path": "status", "equals": "healthy"},
        {"path": "database.ok", "equals": True},
        {"path": "redis.ok", "equals": True},
        {"path": "scheduler.running", "equals": True},
        {"path": "scheduler.last_heartbeat", "max_age_hours": 0.5},
        {"path": "checked_at", "max_age_hours": 0.1},
    ],
}
NGINX_HEALTH = {
    "name": "nginx",
    "url": "https://localhost/health",
    "ca_path": NGINX_CERT,
    "json": [{"path": "status", "equals": "healthy"}],
}
NGINX_BY_ADDRESS = {"name": "nginx_ip", "url": "https://127.0.0.1/health", "validate_certs": False}
API_STATUS = {
    "name": "api_status",
    "url": "http://127.0.0.1:8000/api/v1/status",
    "json": [
        {"path": "generated_at", "max_age_hours": 1},
        {"path": "gaps_flagged", "warn": 1000000},
    ],
}
JOBS = {"name": "jobs", "url": "https://localhost/jobs/summary", "ca_path": NGINX_CERT}


pytestmark = pytest.mark.stage("checks")


@pytest.fixture
def web(stack):
    """The stack's web host (nginx + app)."""
    return StackHost(stack, stack.hosts("web")[0])


def run(host, module: str, args: dict[str, Any]) -> dict[str, Any]:
    return host.ansible(f"opsbook.stack.{module}", args, become=True, check=False)


def by_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["check"]: item for item in result["checks"]}


def test_app_direct_and_through_nginx_all_ok(web):
    targets = [APP_HEALTH, NGINX_HEALTH, NGINX_BY_ADDRESS, API_STATUS, JOBS]
    for _attempt in range(30):  # a freshly converged app may need a moment for its first heartbeat
        result = run(web, "http_check", {"targets": targets})
        if result["summary"]["worst"] == "ok":
            break
        time.sleep(2)
    assert result["summary"]["worst"] == "ok", [c["message"] for c in result["checks"] if c["status"] != "ok"]
    assert result["changed"] is False
    checks = by_id(result)
    assert checks["http.status:app"]["value"] == 200
    assert checks["http.status:nginx"]["details"]["content_type"].startswith("application/json")
    assert checks["http.latency:nginx"]["unit"] == "ms" and checks["http.latency:nginx"]["value"] > 0
    assert checks["http.json:app.scheduler.running"]["value"] is True
    assert checks["http.json:app.checked_at"]["unit"] == "h"
    assert result["summary"]["total"] == len(result["checks"]) == 5 * 2 + 6 + 1 + 2


def test_json_assertion_that_must_fail_is_crit(web):
    target = dict(
        APP_HEALTH,
        json=[
            {"path": "status", "equals": "nope"},
            {"path": "scheduler", "equals": "x", "severity": "warn", "name": "sched"},
        ],
    )
    result = run(web, "http_check", {"targets": [target], "checks": ["status", "json"]})
    checks = by_id(result)
    assert checks["http.status:app"]["status"] == "ok"
    status = checks["http.json:app.status"]
    assert status["status"] == "crit"
    assert status["value"] in ("healthy", "degraded", "unhealthy")
    assert 'expected "nope"' in status["message"]
    assert checks["http.json:app.sched"]["status"] == "warn"
    assert result["summary"]["worst"] == "crit"


def test_certificate_verification_against_system_store_fails(web):
    """The self-signed nginx certificate is not in the system store: verifying without ca_path is crit."""
    result = run(web, "http_check", {"targets": [{"name": "strict", "url": "https://localhost/health"}]})
    checks = by_id(result)
    assert checks["http.status:strict"]["status"] == "crit"
    assert "TLS certificate verification failed" in checks["http.status:strict"]["message"]
    assert checks["http.latency:strict"]["status"] == "unknown"


def test_http_redirect_is_followed_and_refused_port_is_crit(web):
    result = run(
        web,
        "http_check",
        {
            "checks": ["status"],
            "targets": [
                {"name": "plain", "url": "http://localhost/health", "validate_certs": False},
                {"name": "closed", "url": "http://127.0.0.1:1/", "timeout": 5},
            ],
        },
    )
    checks = by_id(result)
    assert checks["http.status:plain"]["status"] == "ok"
    assert checks["http.status:plain"]["details"]["final_url"] == "https://localhost/health"
    assert checks["http.status:closed"]["status"] == "crit"
    assert "connection refused" in checks["http.status:closed"]["message"]


@pytest.mark.parametrize(
    ("module", "args", "needle"),
    [
        ("http_check", {"thresholds": {"latency_ms": {"warn": 900, "crit": 100}}, "targets": [APP_HEALTH]},
         "'latency_ms': warn 900 is beyond crit 100"),
        ("http_check", {"targets": [{"name": "x", "url": "localhost/health"}]}, "is not an http:// or https:// URL"),
        ("tls_check", {"checks": ["chains"], "certificates": [{"path": NGINX_CERT}]},
         "unknown check name(s) 'chains'; known checks: certificates, endpoints"),
        ("tls_check", {"thresholds": {"days_left": {"warn": 5, "crit": 10}}, "certificates": [{"path": NGINX_CERT}]},
         "'days_left': warn 5 is beyond crit 10"),
    ],
)
def test_bad_input_fails_naming_it(web, module, args, needle):
    result = run(web, module, args)
    assert result.get("failed") and "checks" not in result, result  # the module refused to run
    assert needle in result["msg"]


TLS_ARGS = {
    "certificates": [{"path": NGINX_CERT}],
    "endpoints": [{"host": "127.0.0.1", "port": 443, "server_name": "localhost", "name": "nginx"}],
}


def test_tls_nginx_certificate_and_endpoint_ok(web):
    result = run(web, "tls_check", TLS_ARGS)
    assert result["summary"] == {"ok": 2, "warn": 0, "crit": 0, "unknown": 0, "total": 2, "worst": "ok"}
    checks = by_id(result)
    cert, endpoint = checks["tls.cert:opsbook.crt"], checks["tls.endpoint:nginx"]
    assert cert["value"] > 30 and cert["unit"] == "days"
    assert cert["details"]["common_name"] == "localhost"
    assert {"DNS:localhost", "IP:127.0.0.1"} <= set(cert["details"]["san"])
    # nginx serves exactly that file
    assert endpoint["details"]["fingerprint_sha256"] == cert["details"]["fingerprint_sha256"]
    assert endpoint["details"]["protocol"] in ("TLSv1.2", "TLSv1.3")
    assert endpoint["details"]["backend"] == "cryptography"
    # self-signed: reported as not verified by the system store, status unchanged
    assert endpoint["details"]["verified"] is False
    assert endpoint["details"]["verify_error"]


def test_tls_days_left_threshold_override_warns(web):
    result = run(web, "tls_check", dict(TLS_ARGS, thresholds={"days_left": {"warn": 10000}}))
    assert [(item["check"], item["status"]) for item in result["checks"]] == [
        ("tls.cert:opsbook.crt", "warn"),
        ("tls.endpoint:nginx", "warn"),
    ]
    assert "warn <= 10000 days" in result["checks"][0]["message"]


def test_tls_missing_file_unknown_and_refused_endpoint_crit(web):
    result = run(
        web,
        "tls_check",
        {"certificates": [{"path": "/etc/nginx/tls/absent.crt"}], "endpoints": [{"host": "127.0.0.1", "port": 1}]},
    )
    checks = by_id(result)
    assert checks["tls.cert:absent.crt"]["status"] == "unknown"
    assert "does not exist" in checks["tls.cert:absent.crt"]["message"]
    assert checks["tls.endpoint:127.0.0.1:1"]["status"] == "crit"
    assert "connection refused" in checks["tls.endpoint:127.0.0.1:1"]["message"]

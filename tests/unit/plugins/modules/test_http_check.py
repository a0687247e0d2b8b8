"""Unit tests of opsbook.stack.http_check against real local HTTP(S) servers."""

from __future__ import annotations

import datetime as dt
import json
import ssl
from typing import Any

import pytest
from helpers import free_port
from helpers.tls import make_cert
from helpers.web import serve
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.opsbook.stack.plugins.module_utils import _checks, _http
from ansible_collections.opsbook.stack.plugins.modules import http_check

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def base_url():
    server, port = serve()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    cert, key = make_cert(directory, "server", ca=True)[:2]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server, port = serve(context)
    yield port, cert
    server.shutdown()


def params(targets: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """Module parameters after the real argument spec validation (defaults filled in)."""
    validated = ArgumentSpecValidator(http_check.ARGUMENT_SPEC).validate(dict(extra, targets=targets))
    assert not validated.error_messages, validated.error_messages
    return validated.validated_parameters


def run(targets: list[dict[str, Any]], **extra: Any) -> dict[str, dict[str, Any]]:
    """Run the module logic; results keyed by check id."""
    p = params(targets, **extra)
    selected = _checks.select(p["checks"], http_check.KNOWN_CHECKS)
    thresholds = _checks.merge_thresholds(http_check.DEFAULTS, p["thresholds"])
    out: dict[str, dict[str, Any]] = {}
    for target in http_check.validate_targets(p["targets"], thresholds):
        for res in http_check.check_target(target, selected):
            assert res.check not in out
            out[res.check] = res.as_dict()
    return out


# --- healthy, degraded, status codes ---------------------------------------------------------


def test_healthy_all_ok(base_url):
    res = run(
        [
            {
                "name": "app",
                "url": f"{base_url}/health",
                "json": [
                    {"path": "status", "equals": "healthy"},
                    {"path": "scheduler.running", "equals": True},
                    {"path": "checked_at", "max_age_hours": 0.5, "name": "fresh"},
                    {"path": "scheduler.last_heartbeat", "max_age_hours": 1},
                    {"path": "database.latency_ms", "warn": 100, "crit": 1000, "unit": "ms"},
                    {"path": "jobs.0.state", "not_equals": "failed"},
                ],
            }
        ]
    )
    assert list(res) == [
        "http.status:app",
        "http.latency:app",
        "http.json:app.status",
        "http.json:app.scheduler.running",
        "http.json:app.fresh",
        "http.json:app.scheduler.last_heartbeat",
        "http.json:app.database.latency_ms",
        "http.json:app.jobs.0.state",
    ]
    assert {item["status"] for item in res.values()} == {"ok"}, res
    status = res["http.status:app"]
    assert status["value"] == 200
    assert status["details"]["content_type"] == "application/json"
    assert status["details"]["bytes"] > 100
    assert "answered 200 OK" in status["message"]
    latency = res["http.latency:app"]
    assert latency["unit"] == "ms" and 0 < latency["value"] < 500
    assert (latency["warn"], latency["crit"]) == (500, 2000)
    assert res["http.json:app.fresh"]["unit"] == "h"
    assert res["http.json:app.fresh"]["value"] < 0.5
    assert res["http.json:app.database.latency_ms"]["value"] == 1.2


def test_error_status_body_is_still_asserted(base_url):
    """/health answering 503 with JSON: status crit, and the assertions evaluate that body."""
    res = run(
        [
            {
                "name": "app",
                "url": f"{base_url}/degraded",
                "json": [
                    {"path": "scheduler.running", "equals": True},
                    {"path": "status", "equals": "healthy", "severity": "warn"},
                    {"path": "database.ok", "equals": True},
                    {"path": "scheduler.last_heartbeat", "max_age_hours": 1},
                ],
            }
        ]
    )
    status = res["http.status:app"]
    assert status["status"] == "crit"
    assert status["value"] == 503
    assert "answered 503" in status["message"] and "expected 200" in status["message"]
    assert '"degraded"' in status["details"]["body_excerpt"]
    assert res["http.latency:app"]["status"] == "ok"
    running = res["http.json:app.scheduler.running"]
    assert running["status"] == "crit" and running["value"] is False
    assert running["message"] == "scheduler.running of app is false, expected true"
    assert res["http.json:app.status"]["status"] == "warn"
    assert res["http.json:app.database.ok"]["status"] == "ok"
    heartbeat = res["http.json:app.scheduler.last_heartbeat"]
    assert heartbeat["status"] == "crit" and "is null" in heartbeat["message"]


def test_expected_error_status_is_ok(base_url):
    res = run([{"name": "gone", "url": f"{base_url}/missing", "status_codes": [404, 410]}])
    assert res["http.status:gone"]["status"] == "ok"
    assert res["http.status:gone"]["value"] == 404
    assert "body_excerpt" not in res["http.status:gone"]["details"]


def test_status_mismatch_on_success(base_url):
    res = run([{"name": "app", "url": f"{base_url}/health", "status_codes": [204]}])
    assert res["http.status:app"]["status"] == "crit"
    assert "expected 204" in res["http.status:app"]["message"]


def test_headers_are_sent_but_not_echoed(base_url):
    res = run([{"name": "p", "url": f"{base_url}/health", "headers": {"X-Probe": "s3cret"},
                "json": [{"path": "probe", "equals": "s3cret"}]}])
    assert res["http.json:p.probe"]["status"] == "ok"
    assert "s3cret" not in json.dumps(res["http.status:p"])


# --- latency -----------------------------------------------------------------------------------


def test_latency_counts_the_whole_body(base_url):
    """/slow sends its headers at once and the body after 0.3 s: latency includes the body."""
    res = run(
        [
            {"name": "warn", "url": f"{base_url}/slow", "latency": {"warn": 100, "crit": 1000}},
            {"name": "crit", "url": f"{base_url}/slow", "latency": {"warn": 100, "crit": 200}},
        ]
    )
    assert res["http.latency:warn"]["status"] == "warn"
    assert res["http.latency:warn"]["value"] >= 280
    assert "latency of warn is" in res["http.latency:warn"]["message"]
    assert "warn >= 100 ms" in res["http.latency:warn"]["message"]
    crit = res["http.latency:crit"]
    assert crit["status"] == "crit"
    assert (crit["warn"], crit["crit"]) == (100, 200)


def test_module_latency_threshold_and_target_override(base_url):
    res = run(
        [
            {"name": "a", "url": f"{base_url}/slow"},
            {"name": "b", "url": f"{base_url}/slow", "latency": {"warn": None, "crit": None}},
        ],
        thresholds={"latency_ms": {"warn": 50, "crit": 5000}},
    )
    assert res["http.latency:a"]["status"] == "warn"
    assert (res["http.latency:a"]["warn"], res["http.latency:a"]["crit"]) == (50, 5000)
    assert res["http.latency:b"]["status"] == "ok"


def test_timeout_is_crit(base_url):
    res = run([{"name": "t", "url": f"{base_url}/slower", "timeout": 0.3, "json": [{"path": "ok", "equals": True}]}])
    assert res["http.status:t"]["status"] == "crit"
    assert "timed out after 0.3 s" in res["http.status:t"]["message"]
    assert res["http.latency:t"]["status"] == "unknown"
    assert res["http.json:t.ok"]["status"] == "unknown"


# --- JSON assertions ---------------------------------------------------------------------------


def test_json_timestamps_numbers_and_missing_fields(base_url):
    res = run(
        [
            {
                "name": "api",
                "url": f"{base_url}/api/v1/status",
                "json": [
                    {"path": "latest_data_timestamp", "max_age_hours": 3, "name": "naive_fresh"},
                    {"path": "latest_data_timestamp", "max_age_hours": 1, "name": "naive_stale"},
                    {"path": "stale_timestamp", "max_age_hours": 26, "severity": "warn"},
                    {"path": "epoch", "max_age_hours": 1},
                    {"path": "garbage_time", "max_age_hours": 1},
                    {"path": "validation_rate_pct", "warn": 99, "crit": 90, "direction": "below", "unit": "%"},
                    {"path": "rate_as_text", "warn": 90, "crit": 95},
                    {"path": "version", "warn": 1},
                    {"path": "gaps_flagged", "equals": "3", "name": "gaps_as_text"},
                    {"path": "gaps_flagged", "not_equals": 3},
                    {"path": "no.such.field", "equals": 1},
                    {"path": "also_missing", "warn": 1, "severity": "warn"},
                ],
            }
        ]
    )

    def get(name: str) -> dict[str, Any]:
        return res[f"http.json:api.{name}"]

    assert get("naive_fresh")["status"] == "ok"
    assert 1.9 < get("naive_fresh")["value"] < 2.1  # naive timestamp read as UTC
    assert get("naive_stale")["status"] == "crit"
    stale = get("stale_timestamp")
    assert stale["status"] == "warn" and 29.9 < stale["value"] < 30.1
    assert stale["message"] == "stale_timestamp of api is 30 h old (max 26 h)"
    assert get("epoch")["status"] == "ok"
    garbage = get("garbage_time")
    assert garbage["status"] == "unknown" and "not an ISO-8601 timestamp" in garbage["message"]
    rate = get("validation_rate_pct")
    assert rate["status"] == "warn" and rate["value"] == 97.5 and rate["unit"] == "%"
    assert "warn <= 99%" in rate["message"]
    assert get("rate_as_text")["status"] == "crit"
    assert get("version")["status"] == "unknown"  # "1.2.0" is no number
    assert get("gaps_as_text")["status"] == "ok"
    gaps = get("gaps_flagged")
    assert gaps["status"] == "crit" and "must not be 3" in gaps["message"]
    missing = get("no.such.field")
    assert missing["status"] == "crit"
    assert missing["message"] == "field no.such.field missing from body of api"
    assert get("also_missing")["status"] == "warn"


def test_non_json_body_makes_assertions_unknown(base_url):
    res = run(
        [
            {"name": "html", "url": f"{base_url}/html", "json": [{"path": "status", "equals": "healthy"}]},
            {"name": "empty", "url": f"{base_url}/empty", "status_codes": [204], "json": [{"path": "a", "equals": 1}]},
        ]
    )
    html = res["http.json:html.status"]
    assert html["status"] == "unknown"
    assert html["message"] == "body is not JSON: " + "<!DOCTYPE html> <html><body>It works, but this is no JSON at "[:60]
    assert res["http.status:html"]["status"] == "ok"
    assert res["http.json:empty.a"]["message"] == "body is not JSON: (empty body)"


def test_checks_option_selects(base_url):
    res = run([{"name": "app", "url": f"{base_url}/health", "json": [{"path": "status", "equals": "healthy"}]}],
              checks=["json"])
    assert list(res) == ["http.json:app.status"]
    with pytest.raises(ValueError, match="unknown check name.*'body'.*known checks: status, latency, json"):
        _checks.select(["status", "body"], http_check.KNOWN_CHECKS)


# --- failures to connect, bad options --------------------------------------------------------------


def test_connection_refused():
    port = free_port()
    res = run([{"name": "down", "url": f"http://127.0.0.1:{port}/health", "json": [{"path": "status", "equals": "x"}]}])
    assert res["http.status:down"]["status"] == "crit"
    assert res["http.status:down"]["message"] == f"GET http://127.0.0.1:{port}/health failed: connection refused"
    assert res["http.latency:down"]["status"] == "unknown"
    assert "not measured: connection refused" in res["http.latency:down"]["message"]
    assert res["http.json:down.status"]["status"] == "unknown"


def test_unresolvable_host_is_crit():
    res = run([{"name": "dns", "url": "http://no-such-host.invalid/health"}], checks=["status"])
    assert res["http.status:dns"]["status"] == "crit"
    assert "cannot resolve host" in res["http.status:dns"]["message"] or "failed" in res["http.status:dns"]["message"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"name": "x", "url": "not a url"}, "targets[0] (name 'x'): url 'not a url' is not an http:// or https:// URL"),
        ({"name": "x", "url": "ftp://host/file"}, "is not an http:// or https:// URL"),
        ({"name": "x", "url": "http://"}, "is not an http:// or https:// URL"),
        ({"name": "x", "url": "http://h/", "timeout": 0}, "timeout must be > 0"),
        ({"name": "x", "url": "http://h/", "status_codes": [99]}, "status code 99 is not an HTTP status"),
        ({"name": "x", "url": "https://h/", "ca_path": "/nonexistent/ca.pem"}, "ca_path '/nonexistent/ca.pem' does not exist"),
        ({"name": "x", "url": "http://h/", "json": [{"path": "a"}]}, "json[0] (path 'a'): needs exactly one of"),
        ({"name": "x", "url": "http://h/", "json": [{"path": "a", "equals": 1, "warn": 2}]}, "found: equals, numeric"),
        ({"name": "x", "url": "http://h/", "json": [{"path": "a", "equals": 1}, {"path": "a", "not_equals": 2}]},
         "duplicate assertion id 'http.json:x.a'"),
    ],
)
def test_bad_options_name_the_target(target, message):
    with pytest.raises(http_check.OptionError) as info:
        http_check.validate_targets(params([target])["targets"], dict(http_check.DEFAULTS))
    assert message in str(info.value)


def test_bad_thresholds_name_the_threshold():
    with pytest.raises(_checks.ThresholdError, match="latency of target x.*warn 900 is beyond crit 100"):
        http_check.validate_targets(
            params([{"name": "x", "url": "http://h/", "latency": {"warn": 900, "crit": 100}}])["targets"],
            dict(http_check.DEFAULTS),
        )
    with pytest.raises(_checks.ThresholdError, match="'http.json:x.rate'.*direction below"):
        http_check.validate_targets(
            params([{"name": "x", "url": "http://h/",
                     "json": [{"path": "rate", "warn": 80, "crit": 90, "direction": "below"}]}])["targets"],
            dict(http_check.DEFAULTS),
        )
    with pytest.raises(_checks.ThresholdError, match="unknown threshold 'latency'"):
        _checks.merge_thresholds(http_check.DEFAULTS, {"latency": {"warn": 1}})
    with pytest.raises(http_check.OptionError, match="duplicate target name"):
        http_check.validate_targets(
            params([{"name": "x", "url": "http://h/"}, {"name": "x", "url": "http://i/"}])["targets"],
            dict(http_check.DEFAULTS),
        )


# --- TLS -----------------------------------------------------------------------------------------


def test_tls_verify_on_fails_for_self_signed(tls_server):
    port, _cert = tls_server
    res = run([{"name": "tls", "url": f"https://127.0.0.1:{port}/health", "json": [{"path": "status", "equals": "healthy"}]}])
    status = res["http.status:tls"]
    assert status["status"] == "crit"
    assert "TLS certificate verification failed" in status["message"]
    assert "self-signed" in status["message"] or "self signed" in status["message"]
    assert res["http.json:tls.status"]["status"] == "unknown"


def test_tls_verify_off_and_ca_path(tls_server):
    port, cert = tls_server
    res = run(
        [
            {"name": "off", "url": f"https://127.0.0.1:{port}/health", "validate_certs": False,
             "json": [{"path": "status", "equals": "healthy"}]},
            {"name": "ca", "url": f"https://localhost:{port}/health", "ca_path": str(cert)},
        ]
    )
    assert {item["status"] for item in res.values()} == {"ok"}, res
    assert res["http.json:off.status"]["value"] == "healthy"


# --- helpers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "expected", "same"),
    [
        (True, True, True),
        (True, 1, False),
        (1, True, False),
        (200, 200.0, True),
        (3, "3", True),
        (True, "true", True),
        (None, "null", True),
        ("3", 3, False),
        ("healthy", "healthy", True),
        ("healthy", "Healthy", False),
        ({"a": 1}, {"a": 1}, True),
    ],
)
def test_same_value(actual, expected, same):
    assert _http.same_value(actual, expected) is same


def test_max_age_messages_and_future_timestamps():
    now = dt.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    spec = {"path": "t", "max_age_hours": 1}
    fresh = _http.evaluate_assertion("app", spec, {"t": "2024-05-01T11:59:30Z"}, now)
    assert (fresh.status, fresh.value, fresh.message) == ("ok", 0.008, "t of app is 30 s old (max 1 h)")
    minutes = _http.evaluate_assertion("app", spec, {"t": "2024-05-01T11:15:00Z"}, now)
    assert minutes.message == "t of app is 45 min old (max 1 h)"
    future = _http.evaluate_assertion("app", spec, {"t": "2024-05-01T15:00:00+02:00"}, now)
    assert future.status == "ok" and "60 min in the future" in future.message
    stale = _http.evaluate_assertion("app", dict(spec, severity="warn"), {"t": "2024-04-30"}, now)
    assert (stale.status, stale.value, stale.unit) == ("warn", 36.0, "h")


def test_lookup_paths():
    doc = {"a": {"b": [10, {"c": None}]}}
    assert _http.lookup(doc, "a.b.0") == 10
    assert _http.lookup(doc, "a.b.-1.c") is None
    assert _http.is_missing(_http.lookup(doc, "a.b.5"))
    assert _http.is_missing(_http.lookup(doc, "a.b.x"))
    assert _http.is_missing(_http.lookup(doc, "a.b.0.c"))

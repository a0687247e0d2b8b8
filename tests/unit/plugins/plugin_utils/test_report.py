"""Unit tests for the checklist report renderers (plugins/plugin_utils/_report.py); no Ansible run."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.opsbook.stack.plugins.module_utils._checks import CODE, unknown
from ansible_collections.opsbook.stack.plugins.plugin_utils import _report

DATA = Path(__file__).parent / "data"
STARTED = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
META = {
    "checklist": "daily",
    "started": "2026-01-02T03:04:05Z",
    "finished": "2026-01-02T03:04:17Z",
    "finished_timestamp": 1767323057.0,
    "duration_seconds": 12.5,
    "ansible_version": "2.19.14",
    "playbook": "/srv/playbooks/daily.yml",
    "inventory": ["/srv/inventories/prod"],
    "check_mode": False,
}


def check(cid: str, status: str, value: Any = None, unit: str = "", message: str = "", **extra: Any) -> dict[str, Any]:
    item = {"check": cid, "status": status, "value": value, "warn": None, "crit": None, "unit": unit, "message": message, "details": {}}
    item.update(extra)
    return item


def sample_report() -> dict[str, Any]:
    collector = _report.Collector()
    collector.add_checks(
        "web1",
        [
            check("http.status:app", "ok", 200, message="HTTP 200 from app"),
            check("http.latency:app", "warn", 812.5, "ms", "latency of app is 812.5 ms (warn >= 500 ms)", warn=500, crit=2000),
            check("host.disk:/", "ok", 41.0, "%", "disk usage of / is 41%", warn=85, crit=95),
        ],
        "HTTP checks",
    )
    collector.add_checks("db1", [check("pg.connect", "crit", message="connection refused <b>&</b>")], "PG")
    collector.add_result("db1", "opsbook.stack.host_check", "Host", {"failed": True, "msg": "unknown threshold 'x'"}, True)
    collector.add_unreachable("cache1", "ssh: connect to host 10.0.0.9 port 22: No route to host", "Redis")
    collector.add_checks("cache1", [unknown("redis.ping", "not measured").as_dict()], "Redis")
    return collector.build(META)


# --------------------------------------------------------------------------- collection


def test_loop_results_failures_skips_and_duplicates() -> None:
    collector = _report.Collector()
    looped = {
        "results": [
            {"checks": [check("http.status:a", "ok", 200)], "item": "a"},
            {"skipped": True, "item": "b"},
            {"failed": True, "msg": "url is required", "item": "c"},
            {"checks": [check("http.status:a", "crit", 500, message="second")], "item": "d"},
        ]
    }
    collector.add_result("h", "opsbook.stack.http_check", "HTTP", looped, True)
    collector.add_result("h", "opsbook.stack.pg_check", "PG", {"skipped": True, "changed": False}, False)
    collector.add_result("h", "ansible.builtin.command", "cmd", {"failed": True, "msg": "rc 1"}, True)
    checks = collector.hosts["h"].checks
    assert [c["check"] for c in checks] == ["http.status:a", "http.module", "http.status:a#2"]
    assert checks[1]["status"] == "unknown" and "url is required" in checks[1]["message"]
    assert "more than once" in checks[2]["details"]["duplicate"]
    assert checks[2]["details"]["task"] == "HTTP"


@pytest.mark.parametrize(
    ("action", "family"),
    [
        ("opsbook.stack.http_check", "http"),
        ("pg_check", "pg"),
        ("ansible.legacy.redis_check", "redis"),
        ("opsbook.stack.tls_check", "tls"),
        ("opsbook.stack.restore_test", "restore"),
        ("opsbook.stack.pg_maintenance", "pg_maintenance"),
        ("opsbook.stack.dr_evaluate", "dr"),
        ("site.local.disk_check", "disk"),
        ("weird-Name", "weird_name"),
    ],
)
def test_family_of(action: str, family: str) -> None:
    assert _report.family_of(action) == family


def test_a_refused_restore_test_is_an_unknown_result_in_the_report() -> None:
    """restore_test fails (exit 2 of the tool) on a refused request; the monthly checklist ignores the error so the
    other checks still run, and the report must still show it."""
    collector = _report.Collector()
    collector.add_result("db1", "opsbook.stack.restore_test", "Test-restore",
                         {"failed": True, "msg": "not enough space in /var/lib/opsbook/restore-test"}, True)
    collector.add_result("db1", "ansible.builtin.command", "Other", {"failed": True, "msg": "x"}, True)
    checks = collector.hosts["db1"].checks
    assert [c["check"] for c in checks] == ["restore.module"]
    assert checks[0]["status"] == "unknown" and "not enough space" in checks[0]["message"]


def test_malformed_check_is_normalised() -> None:
    collector = _report.Collector()
    collector.add_checks("h", [{"check": "x.y", "status": "bogus", "value": float("nan"), "warn": "7", "details": [1]}])
    item = collector.hosts["h"].checks[0]
    assert item["status"] == "unknown"
    assert item["details"]["reported_status"] == "bogus"
    assert item["details"]["raw"] == [1]
    assert item["value"] is None and item["warn"] is None


def test_unreachable_recorded_once() -> None:
    collector = _report.Collector()
    collector.add_unreachable("h", "refused", "t1")
    collector.add_unreachable("h", "refused", "t2")
    checks = collector.hosts["h"].checks
    assert len(checks) == 1 and checks[0]["status"] == "crit" and checks[0]["check"] == "host.reachable"


def test_report_order_and_summary() -> None:
    report = sample_report()
    assert [h["name"] for h in report["hosts"]] == ["cache1", "db1", "web1"]
    assert report["worst"] == "crit"
    assert report["summary"] == {
        "ok": 2, "warn": 1, "crit": 2, "unknown": 2, "total": 7, "worst": "crit", "hosts": 3,
        "hosts_by_worst": {"ok": 0, "warn": 1, "crit": 2, "unknown": 0},
    }


def test_console_is_sorted_worst_first() -> None:
    lines = [line for line, _status in _report.render_console(sample_report())]
    web = lines.index(next(line for line in lines if line.startswith("web1:")))
    rows = lines[web + 2: web + 5]
    assert [row.split()[0] for row in rows] == ["WARN", "OK", "OK"]
    assert lines[-1].startswith("TOTAL: 7 checks: 2 crit, 2 unknown, 1 warn, 2 ok")


# --------------------------------------------------------------------------- formats


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attrs: list[dict[str, str | None]] = []
        self.stack: list[str] = []
        self.msgs: list[str] = []
        self.ids: list[str] = []
        self.capture: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.attrs.append(found)
        classes = (found.get("class") or "").split()
        self.capture.append("msg" if "msg" in classes else "check-id" if "check-id" in classes else "")
        if tag in ("br", "meta", "input"):
            self.capture.pop()

    def handle_endtag(self, tag: str) -> None:
        if self.capture:
            self.capture.pop()

    def handle_data(self, data: str) -> None:
        if self.capture and self.capture[-1] == "msg":
            self.msgs.append(data)
        elif self.capture and self.capture[-1] == "check-id":
            self.ids.append(data)


def parse_html(text: str) -> _Collect:
    parser = _Collect()
    parser.feed(text)
    parser.close()
    return parser


def test_html_contains_every_host_and_check() -> None:
    report = sample_report()
    page = _report.render_html(report)
    parsed = parse_html(page)
    hosts = {a.get("data-host") for a in parsed.attrs}
    checks = {a.get("data-check") for a in parsed.attrs}
    for host in report["hosts"]:
        assert host["name"] in hosts
        for item in host["checks"]:
            assert item["check"] in checks
            assert item["message"] in parsed.msgs
    cells = [a for a in parsed.attrs if "cell" in (a.get("class") or "").split()]
    assert len(cells) == len(report["hosts"]) * len({c["check"] for h in report["hosts"] for c in h["checks"]})
    assert "<b>&</b>" not in page and "&lt;b&gt;&amp;&lt;/b&gt;" in page
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=", page)  # self-contained
    assert "http://" not in page and "https://" not in page
    rows = [a.get("data-host") for a in parsed.attrs if a.get("data-worst") and a.get("data-host") and "card" not in (a.get("class") or "")]
    assert rows == ["cache1", "db1", "web1"]


def test_html_parses_with_html5lib() -> None:
    html5lib = pytest.importorskip("html5lib")
    report = sample_report()
    parser = html5lib.HTMLParser(strict=False, namespaceHTMLElements=False)
    tree = parser.parse(_report.render_html(report))
    cells = tree.findall(".//td[@data-status]")
    assert {(c.get("data-host"), c.get("data-check"), c.get("data-status")) for c in cells} == {
        (h["name"], c["check"], c["status"]) for h in report["hosts"] for c in h["checks"]
    }


def test_prometheus_parses() -> None:
    report = sample_report()
    families = {f.name: f for f in text_string_to_metric_families(_report.render_prometheus(report))}
    status = {(s.labels["host"], s.labels["check"]): s.value for s in families["opsbook_check_status"].samples}
    assert status[("db1", "pg.connect")] == CODE["crit"]
    assert status[("db1", "host.module")] == CODE["unknown"]
    assert status[("cache1", "host.reachable")] == CODE["crit"]
    assert len(status) == report["summary"]["total"]
    values = {s.labels["check"]: (s.value, s.labels["unit"]) for s in families["opsbook_check_value"].samples}
    assert values == {"http.status:app": (200, ""), "http.latency:app": (812.5, "ms"), "host.disk:/": (41.0, "%")}
    counts = {s.labels["status"]: s.value for s in families["opsbook_checklist_checks"].samples}
    assert counts == {"ok": 2, "warn": 1, "crit": 2, "unknown": 2}
    assert families["opsbook_checklist_last_run_timestamp_seconds"].samples[0].value == META["finished_timestamp"]
    assert families["opsbook_checklist_duration_seconds"].samples[0].value == 12.5
    assert all(f.type == "gauge" and f.documentation for f in families.values())


@pytest.fixture(scope="module")
def junit_schema() -> Any:
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(DATA / "junit-10.xsd"))


def test_junit_validates_and_maps_statuses(junit_schema: Any) -> None:
    text = _report.render_junit(sample_report())
    junit_schema.validate(text)
    root = ET.fromstring(text)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("7", "2", "2")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"db1", "cache1", "web1"}
    cases = {c.get("name"): c for c in suites["db1"].findall("testcase")}
    assert cases["pg.connect"].find("failure").get("message") == "connection refused <b>&</b>"
    assert cases["host.module"].find("error") is not None
    web = {c.get("name"): c for c in suites["web1"].findall("testcase")}
    assert web["http.latency:app"].find("failure") is None
    assert "WARNING" in web["http.latency:app"].find("system-out").text
    assert list(web["http.status:app"]) == []
    props = {p.get("name"): p.get("value") for p in suites["web1"].find("properties")}
    assert props["warn:http.latency:app"].startswith("latency of app")


def test_markdown_escapes_and_lists_hosts() -> None:
    text = _report.render_markdown(sample_report())
    for host in ("db1", "cache1", "web1"):
        assert f"## {host}:" in text
    assert "<b>" not in text and "&lt;b&gt;" in text


def test_markdown_lists_recurring_messages_of_log_checks() -> None:
    collector = _report.Collector()
    top = [
        {"signature": "ERROR db timeout after <n> ms", "count": 14, "example": "2026-11-20 10:00:00 ERROR db timeout after 31 ms"},
        {"signature": "ERROR disk | full", "count": 2, "example": "ERROR disk | full"},
    ]
    collector.add_checks("app1", [check("log.errors:app.log", "warn", 16, "lines", "16 new lines", details={"top": top})], "Logs")
    collector.add_checks("db1", [check("host.disk:/", "ok", 41.0, "%", "fine")], "Host")
    text = _report.render_markdown(collector.build(META))
    assert text.count("### Recurring messages") == 1
    assert "| log.errors:app.log | 14 | ERROR db timeout after &lt;n&gt; ms | 2026-11-20 10:00:00 ERROR db timeout after 31 ms |" in text
    assert "ERROR disk \\| full" in text  # a pipe cannot break the table


def test_json_round_trip() -> None:
    report = sample_report()
    assert json.loads(_report.render_json(report)) == report


# --------------------------------------------------------------------------- writing


def test_write_report_folder_latest_and_textfile(tmp_path: Path) -> None:
    report = sample_report()
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    outcome = _report.write_report(report, str(tmp_path / "reports"), _report.ALL_FORMATS, STARTED, str(textfile_dir))
    assert outcome.warnings == []
    folder = Path(outcome.folder or "")
    assert folder.name == "daily-20260102T030405Z"
    assert sorted(p.name for p in folder.iterdir()) == ["junit.xml", "metrics.prom", "report.html", "report.json", "report.md"]
    latest = tmp_path / "reports" / "latest"
    assert latest.is_symlink() and os.readlink(latest) == folder.name
    assert (textfile_dir / "opsbook_daily.prom").read_text() == (folder / "metrics.prom").read_text()
    assert not [p for p in textfile_dir.iterdir() if p.name.startswith(".tmp-")]
    assert json.loads((folder / "report.json").read_text())["report_path"] == str(folder)
    # a second run in the same second gets its own folder, latest follows
    again = _report.write_report(sample_report(), str(tmp_path / "reports"), ["json"], STARTED)
    assert again.folder == f"{folder}-2" and os.readlink(latest) == f"{folder.name}-2"


def test_latest_fallback_and_unwritable_dir(tmp_path: Path) -> None:
    (tmp_path / "r" / "latest").mkdir(parents=True)
    outcome = _report.write_report(sample_report(), str(tmp_path / "r"), ["json"], STARTED)
    assert outcome.latest == str(tmp_path / "r" / "latest.txt")
    assert (tmp_path / "r" / "latest.txt").read_text().strip() == outcome.folder
    blocker = tmp_path / "file"
    blocker.write_text("x")
    bad = _report.write_report(sample_report(), str(blocker / "sub"), ["json"], STARTED, str(blocker / "sub" / "x.prom"))
    assert bad.folder is None and len(bad.warnings) == 2


# --------------------------------------------------------------------------- escaping, property based

TRICKY = st.sampled_from(list("<>&\"'\\\n\r\t\x00\x0b\x1f\x7f\x85\u2028\ufffe\ud800{},=#|`*[]()!-/ ") + ["]]>", "-->", "</script>", "&amp;", "\r\n", "{{ x }}"])
TEXT = st.one_of(st.text(max_size=40), st.lists(TRICKY, max_size=12).map("".join))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(host=TEXT.filter(bool), cid=TEXT, message=TEXT, unit=TEXT)
def test_any_text_round_trips_escaped(host: str, cid: str, message: str, unit: str) -> None:
    collector = _report.Collector()
    collector.add_checks(host, [check(cid, "crit", 1.5, unit, message, details={"note": message})])
    report = collector.build(META)
    item = report["hosts"][0]["checks"][0]
    want_id, want_msg, want_host = (_report.clean_text(v) for v in (item["check"], message, host))

    parsed = parse_html(_report.render_html(report))
    assert want_id in {a.get("data-check") for a in parsed.attrs}
    assert want_host in {a.get("data-host") for a in parsed.attrs}
    assert want_msg in parsed.msgs or (want_msg == "" and "" not in parsed.msgs)
    assert want_id in parsed.ids

    root = ET.fromstring(_report.render_junit(report))
    suite = root.find("testsuite")
    assert suite.get("name") == want_host
    case = suite.find("testcase")
    assert case.get("name") == want_id
    assert case.find("failure").get("message") == want_msg

    families = {f.name: f for f in text_string_to_metric_families(_report.render_prometheus(report))}
    sample = families["opsbook_check_status"].samples[0]
    assert (sample.labels["host"], sample.labels["check"], sample.value) == (want_host, want_id, 2)
    assert families["opsbook_check_value"].samples[0].labels["unit"] == _report.clean_text(unit)

    assert json.loads(_report.render_json(report))["hosts"][0]["checks"][0]["message"] == message
    _report.render_markdown(report).encode("utf-8")


def test_failed_ping_probe_is_reported_as_unreachable() -> None:
    from ansible_collections.opsbook.stack.plugins.plugin_utils._report import Collector

    collector = Collector()
    collector.add_result("web9", "ansible.builtin.ping", "probe",
                         {"failed": True, "msg": "MODULE FAILURE", "module_stderr": "No such container: web9"}, True)
    checks = collector.hosts["web9"].checks
    assert [c["check"] for c in checks] == ["host.reachable"]
    assert checks[0]["status"] == "crit"
    assert "MODULE FAILURE" in checks[0]["message"]

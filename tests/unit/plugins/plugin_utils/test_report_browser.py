"""report.html in headless Chromium (Debian's chromium package) driven by Playwright.

Never downloads a browser: it uses /usr/bin/chromium. Without Chromium or Playwright
the test is skipped locally but FAILS when the environment variable CI is set.
Screenshots go to tmp_path and to tests/output/report_browser/ (git-ignored).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT

from ansible_collections.opsbook.stack.plugins.module_utils._checks import unknown
from ansible_collections.opsbook.stack.plugins.plugin_utils import _report

CHROMIUM = os.environ.get("OPSBOOK_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT = ROOT / "tests" / "output" / "report_browser"
COLOURS = {
    "ok": "rgb(26, 127, 55)",
    "warn": "rgb(242, 199, 68)",
    "crit": "rgb(209, 36, 47)",
    "unknown": "rgb(140, 149, 159)",
}
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error: install Debian's chromium and pip playwright)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"{CHROMIUM} not found")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


def _check(cid: str, status: str, value: Any = None, unit: str = "", message: str = "", **extra: Any) -> dict[str, Any]:
    item = {"check": cid, "status": status, "value": value, "warn": None, "crit": None, "unit": unit, "message": message, "details": {}}
    item.update(extra)
    return item


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    collector = _report.Collector()
    collector.add_checks(
        "web1.example.com",
        [
            _check("http.status:app", "ok", 200, message="HTTP 200 from app"),
            _check("http.latency:app", "warn", 812.5, "ms", "latency of app is 812.5 ms (warn >= 500 ms, crit >= 2000 ms)", warn=500, crit=2000),
            _check("host.disk:/", "ok", 41, "%", "disk usage of / is 41%", warn=85, crit=95),
        ],
    )
    collector.add_checks(
        "db1.example.com",
        [
            _check("pg.connect", "crit", message="connection refused " + XSS, details={"host": "10.0.0.5", "port": 5432}),
            _check("host.disk:/", "warn", 91.0, "%", "disk usage of / is 91% (warn >= 85%, crit >= 95%)", warn=85, crit=95),
            _check("http.status:app", "ok", 200, message="HTTP 200"),
        ],
    )
    collector.add_checks("cache1.example.com", [unknown("redis.ping", "not measured: cannot connect").as_dict()])
    collector.add_checks("cache1.example.com", [_check("host.disk:/", "ok", 12, "%", "disk usage of / is 12%")])
    report = collector.build(
        {
            "checklist": "daily",
            "started": "2026-01-02T03:04:05Z",
            "finished": "2026-01-02T03:04:17Z",
            "finished_timestamp": 1767323057.0,
            "duration_seconds": 12.0,
            "ansible_version": "2.19.14",
            "playbook": "/srv/daily.yml",
            "inventory": ["/srv/inventory"],
            "check_mode": False,
        }
    )
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(_report.render_html(report), encoding="utf-8")
    return path


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    target = tmp_path / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(target, OUTPUT / target.name)


def _open(browser: Any, report_file: Path, width: int, height: int) -> tuple[Any, list[str]]:
    context = browser.new_context(viewport={"width": width, "height": height}, java_script_enabled=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.route("**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else route.continue_())
    page.goto(report_file.as_uri())
    return page, errors


def test_grid_colours_and_drill_down(browser: Any, report_file: Path, tmp_path: Path) -> None:
    page, errors = _open(browser, report_file, 1280, 800)
    assert page.is_visible("#grid")
    assert not page.is_visible("#cards")
    hosts = page.eval_on_selector_all("#grid tbody tr", "rows => rows.map(r => r.dataset.host)")
    assert hosts == ["db1.example.com", "cache1.example.com", "web1.example.com"]  # worst first
    cells = page.eval_on_selector_all(
        "#grid td.cell[data-status]",
        "cells => cells.map(c => [c.dataset.host, c.dataset.check, c.dataset.status, getComputedStyle(c).backgroundColor])",
    )
    assert len(cells) == 8
    for _host, _check_id, status, colour in cells:
        assert colour == COLOURS[status], (status, colour)
    assert page.eval_on_selector_all("#grid td.none", "c => c.length") == 7
    _shot(page, tmp_path, "desktop-grid")

    assert not page.is_visible("#panel")
    page.click('td.cell[data-host="db1.example.com"][data-check="pg.connect"]')
    assert page.is_visible("#panel")
    panel = page.inner_text("#panel")
    assert "pg.connect" in panel and "connection refused <img src=x" in panel and "10.0.0.5" in panel
    _shot(page, tmp_path, "desktop-detail")

    page.keyboard.press("Escape")
    assert not page.is_visible("#panel")
    page.click('#grid button.host[data-host="web1.example.com"]')
    panel = page.inner_text("#panel")
    assert "web1.example.com" in panel and "http.latency:app" in panel and "0 crit, 0 unknown, 1 warn, 2 ok" in panel
    page.click('#panel button.host:has-text("http.latency:app")')
    assert "812.5 ms" in page.inner_text("#panel")
    page.click("#panel-close")
    assert not page.is_visible("#panel")

    assert page.evaluate("window.__xss") is None
    assert errors == []
    page.context.close()


def test_phone_width_shows_cards(browser: Any, report_file: Path, tmp_path: Path) -> None:
    page, errors = _open(browser, report_file, 390, 844)
    assert not page.is_visible("#grid")
    assert page.is_visible("#cards")
    cards = page.eval_on_selector_all("#cards article.card", "cards => cards.map(c => [c.dataset.host, c.dataset.worst])")
    assert cards == [["db1.example.com", "crit"], ["cache1.example.com", "unknown"], ["web1.example.com", "warn"]]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page scrolls sideways at phone width ({width}px)"
    first = page.locator('#cards article.card[data-host="db1.example.com"] details[data-check="pg.connect"]')
    assert not first.locator(".msg").is_visible()
    first.locator("summary").click()
    assert first.locator(".msg").is_visible()
    assert "connection refused" in first.inner_text()
    _shot(page, tmp_path, "phone-cards")
    assert page.evaluate("window.__xss") is None
    assert errors == []
    page.context.close()

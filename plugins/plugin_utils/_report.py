# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collect opsbook.stack check results and render them as checklist reports.

Pure Python (no Ansible run needed), used by the ``opsbook.stack.checklist``
callback and importable by tests as
``ansible_collections.opsbook.stack.plugins.plugin_utils._report``.

Everything a check module returns is treated as untrusted text: every
renderer escapes it for its format, and characters a format cannot carry
(control characters, lone surrogates) are replaced by U+FFFD there
(see :func:`clean_text`). ``report.json`` keeps the original text.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.opsbook.stack.plugins.module_utils._atomic import atomic_write
from ansible_collections.opsbook.stack.plugins.module_utils._checks import (
    CODE,
    CRIT,
    OK,
    RANK,
    STATUSES,
    UNKNOWN,
    WARN,
    is_number,
    module_family,
    summarize,
)
from ansible_collections.opsbook.stack.plugins.module_utils._timestamps import format_compact

FORMAT_VERSION = 1
ALL_FORMATS: tuple[str, ...] = ("console", "json", "markdown", "html", "junit", "prometheus")
FILE_NAMES: dict[str, str] = {
    "json": "report.json",
    "markdown": "report.md",
    "html": "report.html",
    "junit": "junit.xml",
    "prometheus": "metrics.prom",
}
REPORT_LINE_PREFIX = "Report: "
# Mode of the report files and the Prometheus textfile (node-exporter reads it as another user).
REPORT_MODE = 0o644
CHECK_MODE_NOTE = " \u00b7 check mode"

# Control characters (except tab and newline), lone surrogates and the two
# non-characters U+FFFE/U+FFFF cannot appear in XML 1.0 and are mangled by
# HTML parsers; C1 controls are remapped by HTML5 character references.
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def clean_text(value: Any) -> str:
    """Text every renderer can carry: newlines normalised to ``\\n``, unsafe characters -> U+FFFD."""
    text = value if isinstance(value, str) else _plain(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _UNSAFE_CHARS.sub("\ufffd", text)


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.6g}" if abs(value) >= 1e6 else f"{round(value, 4)}"
    if isinstance(value, (str, int)):
        return str(value)
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def safe_name(text: str, fallback: str = "checklist") -> str:
    """A file-system friendly version of a checklist name."""
    name = _SAFE_NAME.sub("_", text).strip("._-")
    return name or fallback


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so the report only holds plain data."""
    try:
        return json.loads(json.dumps(value, default=str, allow_nan=False))
    except (TypeError, ValueError):
        return str(value)


def normalize_check(item: Mapping[str, Any]) -> dict[str, Any]:
    """Coerce a (possibly malformed) contract dict into a clean one."""
    details = item.get("details")
    details = dict(_jsonable(details)) if isinstance(details, Mapping) else ({} if details is None else {"raw": _jsonable(details)})
    status = item.get("status")
    if status not in STATUSES:
        details["reported_status"] = _jsonable(status)
        status = UNKNOWN
    check = item.get("check")
    check = check if isinstance(check, str) and check else f"unnamed.check:{_plain(check) or 'none'}"
    value = item.get("value")
    if isinstance(value, float) and not math.isfinite(value):
        value = None
    out = {
        "check": check,
        "status": status,
        "value": _jsonable(value),
        "warn": item.get("warn") if is_number(item.get("warn")) else None,
        "crit": item.get("crit") if is_number(item.get("crit")) else None,
        "unit": _plain(item.get("unit")),
        "message": _plain(item.get("message")),
        "details": details,
    }
    return out


def is_check_list(value: Any) -> bool:
    """True for a non-empty list of dicts that look like contract results."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, Mapping) and "check" in item and "status" in item for item in value)
    )


def family_of(action: str) -> str:
    """``opsbook.stack.http_check`` -> ``http``, ``opsbook.stack.restore_test`` -> ``restore`` (CHECK_MODULES);
    any other module -> its sanitised short name."""
    short = module_family(action) or (action or "").rsplit(".", 1)[-1]
    family = re.sub(r"[^a-z0-9_]", "_", short.lower()).strip("_")
    if not family or not family[0].isalpha():
        family = f"m_{family}" if family else "unknown"
    return family


def is_check_module(action: str) -> bool:
    """A module that speaks the result contract: the collection's (CHECK_MODULES) or any ``*_check``."""
    return module_family(action) is not None


@dataclass
class HostResults:
    name: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)

    def add(self, check: dict[str, Any], task: str = "") -> None:
        base = check["check"]
        count = self.seen.get(base, 0) + 1
        self.seen[base] = count
        if count > 1:
            unique = f"{base}#{count}"
            while unique in self.seen:
                count += 1
                unique = f"{base}#{count}"
            self.seen[unique] = 1
            check["check"] = unique
            where = f" (task {task!r})" if task else ""
            check["details"]["duplicate"] = (
                f"check id {base!r} was reported more than once for this host; this is occurrence {count}{where}, renamed to {unique!r}"
            )
        if task:
            check["details"].setdefault("task", task)
        self.checks.append(check)


class Collector:
    """Accumulates check results per host while a playbook runs."""

    def __init__(self) -> None:
        self.hosts: dict[str, HostResults] = {}

    def _host(self, host: str) -> HostResults:
        if host not in self.hosts:
            self.hosts[host] = HostResults(host)
        return self.hosts[host]

    def add_checks(self, host: str, checks: Iterable[Mapping[str, Any]], task: str = "") -> int:
        added = 0
        for item in checks:
            if isinstance(item, Mapping):
                self._host(host).add(normalize_check(item), task)
                added += 1
        return added

    def add_failure(self, host: str, action: str, message: str, task: str = "") -> None:
        check = f"{family_of(action)}.module"
        self._host(host).add(
            {
                "check": check,
                "status": UNKNOWN,
                "value": None,
                "warn": None,
                "crit": None,
                "unit": "",
                "message": f"{action or 'module'} failed: {message or 'no message'}",
                "details": {"module": action, "error": message},
            },
            task,
        )

    def add_unreachable(self, host: str, message: str, task: str = "") -> None:
        entry = self._host(host)
        for check in entry.checks:
            if check["check"] == "host.reachable":
                check["details"].setdefault("later_tasks", []).append(task)
                return
        entry.add(
            {
                "check": "host.reachable",
                "status": CRIT,
                "value": None,
                "warn": None,
                "crit": None,
                "unit": "",
                "message": f"host is unreachable: {message or 'no reason given'}",
                "details": {"reason": message},
            },
            task,
        )

    def add_result(self, host: str, action: str, task: str, result: Mapping[str, Any], failed: bool) -> None:
        """One task result (or loop item): checks, a failure, or nothing."""
        if result.get("skipped"):
            return
        checks = result.get("checks")
        if is_check_list(checks):
            self.add_checks(host, checks, task)
            return
        loop = result.get("results")
        if isinstance(loop, list) and loop and all(isinstance(item, Mapping) for item in loop):
            for item in loop:
                self.add_result(host, action, task, item, bool(item.get("failed")))
            return
        if failed and (action or "").rsplit(".", 1)[-1] == "ping":
            # A failed connection probe (ansible.builtin.ping) means the host cannot be used:
            # docker exec into a missing container, no Python, ... (pipelining reports these as failures).
            message = str(result.get("msg") or "")
            stderr = str(result.get("module_stderr") or result.get("stderr") or "").strip()
            if stderr:
                message = f"{message} ({stderr.splitlines()[0]})" if message else stderr.splitlines()[0]
            self.add_unreachable(host, _plain(message), task)
            return
        if failed and is_check_module(action):
            message = result.get("msg") or result.get("message") or result.get("stderr") or ""
            self.add_failure(host, action, _plain(message), task)

    def build(self, meta: Mapping[str, Any]) -> dict[str, Any]:
        return build_report(meta, {name: entry.checks for name, entry in self.hosts.items()})


def _check_sort_key(check: Mapping[str, Any]) -> tuple[int, str]:
    return (-RANK.get(check["status"], RANK[UNKNOWN]), check["check"])


def sorted_checks(checks: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Worst first, then by id."""
    return sorted(checks, key=_check_sort_key)


def build_report(meta: Mapping[str, Any], hosts: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The report document (what report.json holds)."""
    host_entries = []
    for name, checks in hosts.items():
        summary = summarize(checks)
        host_entries.append({"name": name, "worst": summary["worst"], "summary": summary, "checks": list(checks)})
    host_entries.sort(
        key=lambda h: (
            -RANK[h["worst"]],
            -h["summary"][CRIT],
            -h["summary"][UNKNOWN],
            -h["summary"][WARN],
            h["name"],
        )
    )
    all_checks = [check for entry in host_entries for check in entry["checks"]]
    summary = summarize(all_checks)
    summary["hosts"] = len(host_entries)
    summary["hosts_by_worst"] = {status: sum(1 for h in host_entries if h["worst"] == status) for status in STATUSES}
    report: dict[str, Any] = {"format_version": FORMAT_VERSION}
    report.update(meta)
    report["summary"] = summary
    report["worst"] = summary["worst"]
    report["hosts"] = host_entries
    return report


# --------------------------------------------------------------------------- helpers for text


def value_text(check: Mapping[str, Any]) -> str:
    value = check.get("value")
    if value is None:
        return "-"
    text = _plain(value)
    unit = check.get("unit") or ""
    if unit and is_number(value):
        text = f"{text}{unit}" if unit == "%" else f"{text} {unit}"
    return text


def threshold_text(check: Mapping[str, Any]) -> str:
    unit = check.get("unit") or ""
    parts = []
    for level in ("warn", "crit"):
        if check.get(level) is not None:
            number = _plain(check[level])
            parts.append(f"{level} {number}{unit}" if unit == "%" else f"{level} {number}{(' ' + unit) if unit else ''}")
    return ", ".join(parts) or "-"


def totals_text(summary: Mapping[str, Any]) -> str:
    parts = [f"{summary.get(status, 0)} {status}" for status in (CRIT, UNKNOWN, WARN, OK)]
    return f"{summary.get('total', 0)} checks: " + ", ".join(parts)


# --------------------------------------------------------------------------- console


def render_console(report: Mapping[str, Any], max_message: int = 120) -> list[tuple[str, str | None]]:
    """Lines of the console summary with the status that colours each (None = plain)."""
    lines: list[tuple[str, str | None]] = []
    summary = report["summary"]
    lines.append(
        (
            f"CHECKLIST {clean_text(report.get('checklist', ''))}: {summary['hosts']} host(s), "
            f"{totals_text(summary)} (worst: {report['worst'].upper()})",
            report["worst"],
        )
    )
    for host in report["hosts"]:
        rows = [
            (
                check["status"].upper(),
                clean_text(check["check"]),
                clean_text(value_text(check)),
                " ".join(clean_text(check.get("message", "")).split()),
                check["status"],
            )
            for check in sorted_checks(host["checks"])
        ]
        lines.append(("", None))
        lines.append((f"{clean_text(host['name'])}: {host['worst'].upper()} ({totals_text(host['summary'])})", host["worst"]))
        if not rows:
            continue
        width_check = min(max(len("CHECK"), *(len(r[1]) for r in rows)), 48)
        width_value = min(max(len("VALUE"), *(len(r[2]) for r in rows)), 24)
        lines.append((f"  {'STATUS':<8} {'CHECK':<{width_check}} {'VALUE':<{width_value}} MESSAGE", None))
        for status, check, value, message, raw in rows:
            if len(message) > max_message:
                message = message[: max_message - 1] + "\u2026"
            lines.append((f"  {status:<8} {check:<{width_check}} {value:<{width_value}} {message}".rstrip(), raw))
    lines.append(("", None))
    by_worst = summary["hosts_by_worst"]
    lines.append(
        (
            f"TOTAL: {totals_text(summary)}; hosts: "
            + ", ".join(f"{by_worst[s]} {s}" for s in (CRIT, UNKNOWN, WARN, OK))
            + f"; duration {report.get('duration_seconds', 0):.1f}s",
            report["worst"],
        )
    )
    return lines


# --------------------------------------------------------------------------- JSON


def render_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False, default=str, ensure_ascii=True) + "\n"


# --------------------------------------------------------------------------- Markdown

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def md(value: Any) -> str:
    """Escape text for a Markdown table cell (also neutralises inline HTML)."""
    text = clean_text(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return text.replace("\n", "<br>")


def render_markdown(report: Mapping[str, Any]) -> str:
    summary = report["summary"]
    out = [
        f"# Checklist {md(report.get('checklist', ''))}: {report['worst'].upper()}",
        "",
        f"- Started: {md(report.get('started', ''))}, finished: {md(report.get('finished', ''))} "
        f"({report.get('duration_seconds', 0):.1f} s)",
        f"- Playbook: {md(report.get('playbook', ''))}; inventory: {md(', '.join(report.get('inventory') or []) or '-')}",
        f"- Ansible {md(report.get('ansible_version', ''))}; check mode: {'yes' if report.get('check_mode') else 'no'}",
        f"- {summary['hosts']} host(s), {totals_text(summary)}",
        "",
        "| Host | Worst | crit | unknown | warn | ok |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for host in report["hosts"]:
        s = host["summary"]
        out.append(f"| {md(host['name'])} | {host['worst'].upper()} | {s[CRIT]} | {s[UNKNOWN]} | {s[WARN]} | {s[OK]} |")
    for host in report["hosts"]:
        out += ["", f"## {md(host['name'])}: {host['worst'].upper()}", ""]
        if not host["checks"]:
            out.append("No checks.")
            continue
        out += ["| Status | Check | Value | Thresholds | Message |", "| --- | --- | --- | --- | --- |"]
        for check in sorted_checks(host["checks"]):
            out.append(
                f"| {check['status'].upper()} | {md(check['check'])} | {md(value_text(check))} | "
                f"{md(threshold_text(check))} | {md(check.get('message', ''))} |"
            )
        out += _recurring_markdown(host["checks"])
    return "\n".join(out) + "\n"


def _recurring_markdown(checks: Iterable[Mapping[str, Any]]) -> list[str]:
    """The most frequent recurring messages of log checks that counted them (log_check ``top``)."""
    rows = []
    for check in sorted_checks(checks):
        top = (check.get("details") or {}).get("top")
        if not isinstance(top, list):
            continue
        for item in top:
            if isinstance(item, Mapping) and item.get("count"):
                rows.append(f"| {md(check['check'])} | {md(item.get('count'))} | {md(item.get('signature', ''))} | {md(item.get('example', ''))} |")
    if not rows:
        return []
    return ["", "### Recurring messages", "", "| Check | Count | Message | Example |", "| --- | ---: | --- | --- |", *rows]


# --------------------------------------------------------------------------- HTML


def h(value: Any) -> str:
    """Escape text for HTML element content and quoted attributes."""
    return html.escape(clean_text(value), quote=True)


_CSS = """
:root{--ok:#1a7f37;--warn:#f2c744;--crit:#d1242f;--unknown:#8c959f;--none:#f6f8fa;--fg:#1f2328;--muted:#59636e;--line:#d0d7de}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#fff}
header{padding:16px 20px;border-bottom:1px solid var(--line)}
h1{font-size:1.4rem;margin:0 0 4px}
.meta{color:var(--muted);margin:2px 0;font-size:.9rem}
.pills{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}
.pill{border-radius:999px;padding:2px 10px;font-weight:600;font-size:.85rem}
.s-ok{background:var(--ok);color:#fff}.s-warn{background:var(--warn);color:#1f2328}
.s-crit{background:var(--crit);color:#fff}.s-unknown{background:var(--unknown);color:#fff}
main{padding:12px 20px 40px}
.scroll{overflow-x:auto;border:1px solid var(--line);border-radius:6px}
table.grid{border-collapse:collapse;font-size:.85rem}
.grid th,.grid td{border:1px solid var(--line);padding:0}
.grid thead th{vertical-align:bottom;background:#fff;position:sticky;top:0}
.grid thead th.ck span{display:block;writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;padding:6px 4px}
.grid thead th.ck span{max-height:14em;overflow:hidden;text-overflow:ellipsis}
.grid tbody th{position:sticky;left:0;background:#fff;text-align:left}
button.host{all:unset;cursor:pointer;display:block;padding:6px 10px;font-weight:600;white-space:nowrap}
button.host::before{content:"";display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:6px;vertical-align:middle;background:var(--dot)}
button.host.s-ok{--dot:var(--ok)}button.host.s-warn{--dot:var(--warn)}button.host.s-crit{--dot:var(--crit)}button.host.s-unknown{--dot:var(--unknown)}
button.host{background:none;color:inherit}
td.cell{min-width:3.2em;height:2.4em;text-align:center;cursor:pointer;font-weight:600;font-size:.75rem;padding:2px 4px}
td.cell small{display:block;font-weight:400;white-space:nowrap;max-width:8em;overflow:hidden;text-overflow:ellipsis}
td.none{background:var(--none);cursor:default}
td.cell:focus,button.host:focus{outline:3px solid #0969da;outline-offset:-3px}
td.cell.sel{outline:3px solid #0969da;outline-offset:-3px}
#panel{position:fixed;right:0;top:0;bottom:0;width:min(520px,100%);background:#fff;border-left:1px solid var(--line)}
#panel{box-shadow:-4px 0 16px rgba(0,0,0,.12);overflow:auto;padding:16px 20px;z-index:10}
#panel[hidden]{display:none}
#panel-close{float:right;font-size:1.2rem;border:1px solid var(--line);background:#fff;border-radius:6px;padding:2px 10px;cursor:pointer}
.detail h3{margin:0 0 8px;font-size:1.05rem;word-break:break-all}
.detail dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;margin:0}
.detail dt{color:var(--muted)}
.detail dd{margin:0;word-break:break-word;white-space:pre-wrap}
.detail pre{margin:0;white-space:pre-wrap;word-break:break-word;font-size:.8rem;background:var(--none);padding:6px;border-radius:4px}
.badge{display:inline-block;border-radius:4px;padding:0 6px;font-size:.75rem;font-weight:700;vertical-align:middle}
.hostlist{list-style:none;padding:0;margin:0}
.hostlist li{border-top:1px solid var(--line);padding:8px 0}
#cards{display:none}
.card{border:1px solid var(--line);border-left:8px solid var(--unknown);border-radius:6px;margin:0 0 12px;padding:10px 12px}
.card.s-ok{border-left-color:var(--ok)}.card.s-warn{border-left-color:var(--warn)}.card.s-crit{border-left-color:var(--crit)}
.card{background:#fff;color:var(--fg)}
.card h2{font-size:1.1rem;margin:0 0 4px;word-break:break-all}
.card ul{list-style:none;padding:0;margin:6px 0 0}
.card li{border-top:1px solid var(--line);padding:6px 0}
.card summary{cursor:pointer;word-break:break-all}
.card details>div{padding:6px 0 0 4px}
.empty{color:var(--muted)}
footer{color:var(--muted);font-size:.8rem;padding:0 20px 20px}
@media (max-width:700px){#grid-view{display:none}#cards{display:block}main{padding:10px}header{padding:12px}}
"""

_JS = """
(function(){
  var panel=document.getElementById('panel'),body=document.getElementById('panel-body'),last=null;
  function show(id,origin){
    var src=document.getElementById(id);if(!src)return;
    var copy=src.cloneNode(true);copy.removeAttribute('id');
    body.textContent='';body.appendChild(copy);panel.hidden=false;
    if(last)last.classList.remove('sel');last=origin;if(origin)origin.classList.add('sel');
    document.getElementById('panel-close').focus();
  }
  function hide(){panel.hidden=true;if(last){last.classList.remove('sel');last.focus();last=null;}}
  document.addEventListener('click',function(e){
    var t=e.target.closest?e.target.closest('[data-target]'):null;
    if(t){e.preventDefault();show(t.getAttribute('data-target'),t);}
  });
  document.addEventListener('keydown',function(e){
    if(e.key==='Escape'&&!panel.hidden){hide();return;}
    var t=e.target;
    if((e.key==='Enter'||e.key===' ')&&t&&t.getAttribute&&t.getAttribute('data-target')){e.preventDefault();show(t.getAttribute('data-target'),t);}
  });
  document.getElementById('panel-close').addEventListener('click',hide);
})();
"""


def _detail_html(host: str, check: Mapping[str, Any], element_id: str | None = None) -> str:
    attr = f' id="{h(element_id)}"' if element_id else ""
    details = check.get("details") or {}
    rows = [
        ("Status", f'<span class="badge s-{check["status"]}">{check["status"].upper()}</span>'),
        ("Host", h(host)),
        ("Message", f'<span class="msg">{h(check.get("message", ""))}</span>'),
        ("Value", f'<span class="val">{h(value_text(check))}</span>'),
        ("Warn", h(_plain(check.get("warn")) or "-")),
        ("Crit", h(_plain(check.get("crit")) or "-")),
        ("Unit", h(check.get("unit") or "-")),
    ]
    if details:
        rows.append(("Details", f"<pre>{h(json.dumps(details, indent=2, sort_keys=True, ensure_ascii=False, default=str))}</pre>"))
    inner = "".join(f"<dt>{label}</dt><dd>{content}</dd>" for label, content in rows)
    return (
        f'<article class="detail"{attr} data-status="{check["status"]}" data-check="{h(check["check"])}">'
        f'<h3 class="check-id">{h(check["check"])}</h3><dl>{inner}</dl></article>'
    )


def _value_span(check: Mapping[str, Any]) -> str:
    value = value_text(check)
    return f'<span class="val">{h(value)}</span>' if value != "-" else ""


def render_html(report: Mapping[str, Any]) -> str:
    hosts = report["hosts"]
    summary = report["summary"]
    check_ids = sorted({check["check"] for host in hosts for check in host["checks"]})
    column = {check_id: index for index, check_id in enumerate(check_ids)}
    store: list[str] = []
    rows: list[str] = []
    cards: list[str] = []
    for host_index, host in enumerate(hosts):
        name = host["name"]
        by_id: dict[str, tuple[int, Mapping[str, Any]]] = {}
        for check_index, check in enumerate(host["checks"]):
            by_id.setdefault(check["check"], (check_index, check))
        cells = []
        for check_id in check_ids:
            if check_id not in by_id:
                cells.append(f'<td class="cell none" data-host="{h(name)}" data-check="{h(check_id)}" title="not checked"></td>')
                continue
            check_index, check = by_id[check_id]
            target = f"d-{host_index}-{check_index}"
            status = check["status"]
            value = value_text(check)
            cells.append(
                f'<td class="cell s-{status}" data-status="{status}" data-host="{h(name)}" data-check="{h(check_id)}" '
                f'data-target="{target}" tabindex="0" role="button" title="{h(name)} {h(check_id)}: {h(check.get("message", ""))}">'
                f"{status.upper()}{'<small>' + h(value) + '</small>' if value != '-' else ''}</td>"
            )
        worst_status = host["worst"]
        rows.append(
            f'<tr data-host="{h(name)}" data-worst="{worst_status}"><th scope="row">'
            f'<button type="button" class="host s-{worst_status}" data-target="h-{host_index}" data-host="{h(name)}">{h(name)}</button>'
            f"</th>{''.join(cells)}</tr>"
        )
        ordered = sorted(enumerate(host["checks"]), key=lambda pair: _check_sort_key(pair[1]))
        for check_index, check in ordered:
            store.append(_detail_html(name, check, f"d-{host_index}-{check_index}"))
        host_items = "".join(
            f'<li><button type="button" class="host s-{check["status"]}" data-target="d-{host_index}-{check_index}">'
            f'{check["status"].upper()} {h(check["check"])}</button><span class="msg">{h(check.get("message", ""))}</span></li>'
            for check_index, check in ordered
        )
        s = host["summary"]
        counts = f"{s[CRIT]} crit, {s[UNKNOWN]} unknown, {s[WARN]} warn, {s[OK]} ok"
        store.append(
            f'<article class="detail host-detail" id="h-{host_index}" data-host="{h(name)}"><h3>{h(name)} '
            f'<span class="badge s-{worst_status}">{worst_status.upper()}</span></h3><p>{counts}</p>'
            f'<ul class="hostlist">{host_items or "<li class=empty>No checks.</li>"}</ul></article>'
        )
        card_items = "".join(
            f'<li><details data-status="{check["status"]}" data-check="{h(check["check"])}"><summary>'
            f'<span class="badge s-{check["status"]}">{check["status"].upper()}</span> {h(check["check"])} '
            f'{_value_span(check)}</summary><div>{_detail_html(name, check)}</div></details></li>'
            for _index, check in ordered
        )
        cards.append(
            f'<article class="card s-{worst_status}" data-host="{h(name)}" data-worst="{worst_status}">'
            f'<h2>{h(name)} <span class="badge s-{worst_status}">{worst_status.upper()}</span></h2>'
            f'<p class="meta">{counts}</p><ul>{card_items or "<li class=empty>No checks.</li>"}</ul></article>'
        )
    header_cells = "".join(f'<th scope="col" class="ck" title="{h(c)}" data-col="{column[c]}"><span>{h(c)}</span></th>' for c in check_ids)
    pills = "".join(f'<span class="pill s-{status}">{summary[status]} {status}</span>' for status in (CRIT, UNKNOWN, WARN, OK))
    checklist = h(report.get("checklist", ""))
    grid = (
        '<div class="scroll"><table class="grid" id="grid"><thead><tr><th scope="col">host</th>'
        f"{header_cells}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        if hosts
        else '<p class="empty">No check results were collected.</p>'
    )
    inventory = ", ".join(report.get("inventory") or []) or "-"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">"
        f"<title>Checklist {checklist}: {report['worst'].upper()}</title>"
        f"<style>{_CSS}</style></head>\n"
        f'<body data-worst="{report["worst"]}">'
        f'<header><h1>Checklist <span id="checklist">{checklist}</span> '
        f'<span class="badge s-{report["worst"]}">{report["worst"].upper()}</span></h1>'
        f'<p class="meta">{h(report.get("started", ""))} \u2192 {h(report.get("finished", ""))} '
        f'({report.get("duration_seconds", 0):.1f} s) \u00b7 {summary["hosts"]} host(s), {summary["total"]} checks'
        f"{CHECK_MODE_NOTE if report.get('check_mode') else ''}</p>"
        f'<p class="meta">playbook {h(report.get("playbook", ""))} \u00b7 inventory {h(inventory)} \u00b7 '
        f'ansible-core {h(report.get("ansible_version", ""))}</p>'
        f'<div class="pills">{pills}</div></header>\n'
        f'<main><section id="grid-view" aria-label="host by check grid">{grid}'
        '<p class="meta">Click a cell or a host for details.</p></section>\n'
        f'<section id="cards" aria-label="hosts">{"".join(cards) or "<p class=empty>No check results were collected.</p>"}</section>\n'
        f'<div id="store" hidden>{"".join(store)}</div></main>\n'
        '<aside id="panel" hidden tabindex="-1" aria-label="details"><button type="button" id="panel-close" '
        'aria-label="close">\u00d7</button><div id="panel-body"></div></aside>\n'
        f'<footer>opsbook.stack checklist report, format {FORMAT_VERSION}</footer>'
        f"<script>{_JS}</script></body></html>\n"
    )


# --------------------------------------------------------------------------- XML / JUnit


def x(value: Any) -> str:
    """Escape text for XML content or a double-quoted attribute (newlines and tabs survive)."""
    text = clean_text(value)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
        .replace("\t", "&#9;")
    )


def render_junit(report: Mapping[str, Any]) -> str:
    """JUnit XML: one testsuite per host, one testcase per check."""
    checklist = report.get("checklist", "")
    summary = report["summary"]
    timestamp = str(report.get("started", "")).rstrip("Z")
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites name="{x("opsbook checklist " + checklist)}" tests="{summary["total"]}" '
        f'failures="{summary[CRIT]}" errors="{summary[UNKNOWN]}" time="{float(report.get("duration_seconds", 0)):.3f}">',
    ]
    for host in report["hosts"]:
        s = host["summary"]
        classname = f"{safe_name(checklist)}.{str(host['name']).replace('.', '_')}"
        out.append(
            f'  <testsuite name="{x(host["name"])}" tests="{s["total"]}" failures="{s[CRIT]}" errors="{s[UNKNOWN]}" '
            f'skipped="0" time="0" timestamp="{x(timestamp)}" hostname="{x(host["name"])}">'
        )
        props = [("checklist", checklist), ("worst", host["worst"])]
        props += [(f"warn:{c['check']}", c.get("message", "")) for c in host["checks"] if c["status"] == WARN]
        out.append("    <properties>")
        out += [f'      <property name="{x(name)}" value="{x(value)}"/>' for name, value in props]
        out.append("    </properties>")
        for check in host["checks"]:
            body = (
                f"status: {check['status']}\nvalue: {value_text(check)}\nthresholds: {threshold_text(check)}\n"
                f"message: {check.get('message', '')}"
            )
            if check.get("details"):
                body += "\ndetails: " + json.dumps(check["details"], sort_keys=True, ensure_ascii=False, default=str)
            head = f'    <testcase name="{x(check["check"])}" classname="{x(classname)}" time="0"'
            status = check["status"]
            if status == CRIT:
                out.append(f'{head}><failure type="crit" message="{x(check.get("message", ""))}">{x(body)}</failure></testcase>')
            elif status == UNKNOWN:
                out.append(f'{head}><error type="unknown" message="{x(check.get("message", ""))}">{x(body)}</error></testcase>')
            elif status == WARN:
                out.append(f"{head}><system-out>{x('WARNING: ' + body)}</system-out></testcase>")
            else:
                out.append(f"{head}/>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- Prometheus


def prom_label(value: Any) -> str:
    """Escape a label value for the Prometheus text exposition format."""
    return clean_text(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _prom_number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def render_prometheus(report: Mapping[str, Any]) -> str:
    checklist = prom_label(report.get("checklist", ""))
    status_lines = []
    value_lines = []
    for host in report["hosts"]:
        host_label = prom_label(host["name"])
        for check in host["checks"]:
            labels = f'checklist="{checklist}",host="{host_label}",check="{prom_label(check["check"])}"'
            status_lines.append(f"opsbook_check_status{{{labels}}} {CODE[check['status']]}")
            if is_number(check.get("value")):
                value_lines.append(
                    f'opsbook_check_value{{{labels},unit="{prom_label(check.get("unit", ""))}"}} {_prom_number(check["value"])}'
                )
    summary = report["summary"]
    out = [
        "# HELP opsbook_check_status Status of one opsbook.stack check in the last run (0 ok, 1 warn, 2 crit, 3 unknown).",
        "# TYPE opsbook_check_status gauge",
        *status_lines,
        "# HELP opsbook_check_value Value measured by one opsbook.stack check in the last run (numeric checks only).",
        "# TYPE opsbook_check_value gauge",
        *value_lines,
        "# HELP opsbook_checklist_checks Number of checks per status in the last run of the checklist.",
        "# TYPE opsbook_checklist_checks gauge",
        *(f'opsbook_checklist_checks{{checklist="{checklist}",status="{status}"}} {summary[status]}' for status in STATUSES),
        "# HELP opsbook_checklist_last_run_timestamp_seconds When the last run of the checklist finished (Unix time).",
        "# TYPE opsbook_checklist_last_run_timestamp_seconds gauge",
        f'opsbook_checklist_last_run_timestamp_seconds{{checklist="{checklist}"}} {_prom_number(float(report.get("finished_timestamp", 0)))}',
        "# HELP opsbook_checklist_duration_seconds How long the last run of the checklist took.",
        "# TYPE opsbook_checklist_duration_seconds gauge",
        f'opsbook_checklist_duration_seconds{{checklist="{checklist}"}} {_prom_number(float(report.get("duration_seconds", 0)))}',
    ]
    return "\n".join(out) + "\n"


RENDERERS = {
    "json": render_json,
    "markdown": render_markdown,
    "html": render_html,
    "junit": render_junit,
    "prometheus": render_prometheus,
}


# --------------------------------------------------------------------------- writing


@dataclass
class WriteOutcome:
    folder: str | None = None
    files: list[str] = field(default_factory=list)
    latest: str | None = None
    textfile: str | None = None
    warnings: list[str] = field(default_factory=list)


def run_folder_name(checklist: str, started: _dt.datetime) -> str:
    return f"{safe_name(checklist)}-{format_compact(started)}"


def _update_latest(report_dir: str, folder: str, outcome: WriteOutcome) -> None:
    link = os.path.join(report_dir, "latest")
    name = os.path.basename(folder)
    try:
        if os.path.lexists(link) and not os.path.islink(link):
            raise OSError(f"{link} exists and is not a symlink")
        tmp = os.path.join(report_dir, f".latest-{os.getpid()}")
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(name, tmp)
        os.replace(tmp, link)
        outcome.latest = link
    except OSError as exc:
        text_path = os.path.join(report_dir, "latest.txt")
        try:
            atomic_write(text_path, folder + "\n", REPORT_MODE)
            outcome.latest = text_path
            outcome.warnings.append(f"could not point the 'latest' symlink at {name} ({exc}); wrote {text_path} instead")
        except OSError as exc2:
            outcome.warnings.append(f"could not update latest ({exc}; {exc2})")


def textfile_path(target: str, checklist: str) -> str:
    """A directory target gets ``opsbook_<checklist>.prom`` inside it."""
    if os.path.isdir(target):
        return os.path.join(target, f"opsbook_{safe_name(checklist)}.prom")
    return target


def write_report(
    report: dict[str, Any],
    report_dir: str,
    formats: Iterable[str],
    started: _dt.datetime,
    prometheus_textfile: str | None = None,
) -> WriteOutcome:
    """Write one folder per run; per-format failures become warnings, never exceptions."""
    outcome = WriteOutcome()
    wanted = [fmt for fmt in formats if fmt in FILE_NAMES]
    if wanted:
        try:
            os.makedirs(report_dir, exist_ok=True)
            base = os.path.join(report_dir, run_folder_name(str(report.get("checklist", "")), started))
            folder = base
            counter = 1
            while True:
                try:
                    os.mkdir(folder)
                    break
                except FileExistsError:
                    counter += 1
                    folder = f"{base}-{counter}"
            outcome.folder = os.path.abspath(folder)
        except OSError as exc:
            outcome.warnings.append(f"cannot create a report folder under {report_dir}: {exc}")
        if outcome.folder:
            report["report_path"] = outcome.folder
            for fmt in wanted:
                path = os.path.join(outcome.folder, FILE_NAMES[fmt])
                try:
                    atomic_write(path, RENDERERS[fmt](report), REPORT_MODE)
                    outcome.files.append(path)
                except Exception as exc:  # pylint: disable=broad-exception-caught
                    outcome.warnings.append(f"cannot write {path}: {type(exc).__name__}: {exc}")
            _update_latest(os.path.abspath(report_dir), outcome.folder, outcome)
    if prometheus_textfile:
        target = textfile_path(prometheus_textfile, str(report.get("checklist", "")))
        try:
            atomic_write(target, render_prometheus(report), REPORT_MODE)
            outcome.textfile = target
        except Exception as exc:  # pylint: disable=broad-exception-caught
            outcome.warnings.append(f"cannot write the Prometheus textfile {target}: {type(exc).__name__}: {exc}")
    return outcome

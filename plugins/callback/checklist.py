# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checklist report callback: turns opsbook.stack check results into reports."""

from __future__ import annotations

DOCUMENTATION = r"""
name: checklist
type: notification
short_description: Write the results of opsbook.stack check modules as a checklist report
version_added: 0.2.0
author: opsbook.stack contributors (!UNKNOWN)
description:
  - Collects every task result that carries a C(checks) list (the result contract of the opsbook.stack check modules,
    for example M(opsbook.stack.http_check)), per host, including the items of looped tasks.
  - A failed check module task (bad options, a refused request, missing library) becomes an C(unknown) result
    C(<family>.module) for that host (C(http_check) gives C(http.module), C(restore_test) C(restore.module),
    C(pg_maintenance) C(pg_maintenance.module), C(dr_evaluate) C(dr.module)) with the failure message. An unreachable host becomes a C(crit) result
    C(host.reachable) with the reason, and so does a failed M(ansible.builtin.ping) (the checklists start with one as
    a connection probe; with pipelining, some connections report a host they cannot reach as a failed task).
    Skipped tasks add nothing. Failures of other modules (not one of the collection's check modules and not named
    C(*_check)) are left to the normal Ansible output.
  - When a check id appears twice for a host, both are kept; the second gets the suffix C(#2) (C(#3), ...) and its
    C(details.duplicate) says so.
  - At the end of the playbook it writes one folder per run, C(<report_dir>/<checklist>-<UTC yyyymmddTHHMMSSZ>/),
    with C(report.json), C(report.md), C(report.html) (self-contained, works offline and on a phone), C(junit.xml) and
    C(metrics.prom) (Prometheus text format), points the symlink C(<report_dir>/latest) at it (or writes
    C(latest.txt) with the path where symlinks are not possible), and prints a summary table per host, worst first,
    ending with a line that starts with C(Report:) and names the run folder.
  - It is a notification callback, so it works next to any stdout callback, including the C(awx_display) callback of
    ansible-runner and AWX. Errors while writing are reported as warnings and never fail the playbook.
  - A playbook that produced no check results at all (no task returned C(checks), no check module failed, no host was
    unreachable) writes no report and prints nothing, so the callback can stay enabled for every playbook.
requirements:
  - Enable it with C(callbacks_enabled = opsbook.stack.checklist) in the C([defaults]) section of C(ansible.cfg)
    or with the environment variable E(ANSIBLE_CALLBACKS_ENABLED=opsbook.stack.checklist).
options:
  report_dir:
    description:
      - Directory that receives one sub-folder per run and the C(latest) link.
      - When not set, C(./reports) in the current directory; under ansible-runner or AWX (the environment variable
        E(AWX_ISOLATED_DATA_DIR) names the runner's artifact directory of the job) C(<artifact dir>/reports),
        so the report is kept with the job's artifacts.
      - A relative path in C(ansible.cfg) is relative to the directory of that file.
    type: path
    env:
      - name: OPSBOOK_REPORT_DIR
    ini:
      - section: opsbook_checklist
        key: report_dir
  formats:
    description:
      - What to produce. C(console) prints the summary table; the others are files in the run folder
        (C(json) report.json, C(markdown) report.md, C(html) report.html, C(junit) junit.xml, C(prometheus) metrics.prom).
      - The C(Report:) line is printed whenever a run folder was written.
      - Unknown names are ignored with a warning.
    type: list
    elements: str
    default: [console, json, markdown, html, junit, prometheus]
    env:
      - name: OPSBOOK_REPORT_FORMATS
    ini:
      - section: opsbook_checklist
        key: formats
  prometheus_textfile:
    description:
      - Also write the Prometheus metrics to this file, atomically (temporary file in the same directory, then
        rename), for example into the directory of the node_exporter textfile collector.
      - If it names an existing directory, the file C(opsbook_<checklist>.prom) is written inside it.
    type: path
    env:
      - name: OPSBOOK_PROMETHEUS_TEXTFILE
    ini:
      - section: opsbook_checklist
        key: prometheus_textfile
  checklist:
    description:
      - Name of the checklist, used in folder names, reports and metric labels.
      - Default is the file name of the (first) playbook without its extension, for example C(daily) for C(daily.yml).
    type: str
    env:
      - name: OPSBOOK_CHECKLIST
    ini:
      - section: opsbook_checklist
        key: checklist
"""

import datetime
import os
import time
from typing import Any

from ansible import context
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.callback import CallbackBase
from ansible.release import __version__ as ansible_version

from ansible_collections.opsbook.stack.plugins.module_utils._timestamps import format_utc, utc_now
from ansible_collections.opsbook.stack.plugins.plugin_utils import _report

_COLOURS = {"ok": "green", "warn": "yellow", "crit": "red", "unknown": "bright gray"}


def _field(result: Any, name: str) -> Any:
    """ansible-core 2.19 public names (result/host/task) with the older private fallback."""
    if hasattr(type(result), name):
        return getattr(result, name)
    return getattr(result, f"_{name}")


class CallbackModule(CallbackBase):
    """Collect check results and write the checklist report at the end of the playbook."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "opsbook.stack.checklist"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display: Any = None) -> None:
        super().__init__(display=display)
        self.collector = _report.Collector()
        self.started = utc_now()
        self.started_monotonic = time.monotonic()
        self.playbook_path: str | None = None
        self._warned: set[str] = set()

    # ------------------------------------------------------------------ helpers

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self._display.warning(f"opsbook.stack.checklist: {message}")

    def _record(self, result: Any, failed: bool = False, unreachable: bool = False) -> None:
        try:
            host = _field(result, "host").get_name()
            task = _field(result, "task")
            data = _field(result, "result")
            task_name = to_text(task.get_name()) if task is not None else ""
            action = to_text(getattr(task, "action", "") or "")
            if unreachable:
                self.collector.add_unreachable(host, to_text(data.get("msg", "")), task_name)
            else:
                self.collector.add_result(host, action, task_name, data, failed)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            self._warn_once("record", f"could not record a task result ({type(exc).__name__}: {exc}); the report may be incomplete")

    def _option(self, name: str) -> Any:
        try:
            return self.get_option(name)
        except Exception:  # pylint: disable=broad-exception-caught
            return None

    def _report_dir(self) -> str:
        configured = self._option("report_dir")
        if configured:
            return os.path.abspath(os.path.expanduser(str(configured)))
        artifacts = os.environ.get("AWX_ISOLATED_DATA_DIR")
        if artifacts:
            return os.path.join(os.path.abspath(artifacts), "reports")
        return os.path.abspath("reports")

    def _checklist(self) -> str:
        configured = self._option("checklist")
        if configured:
            return str(configured)
        if self.playbook_path:
            return os.path.splitext(os.path.basename(self.playbook_path))[0]
        return "checklist"

    def _formats(self) -> list[str]:
        formats = self._option("formats")
        if formats is None:
            return list(_report.ALL_FORMATS)
        if isinstance(formats, str):
            formats = [part.strip() for part in formats.split(",")]
        wanted = [str(item).strip().lower() for item in formats if str(item).strip()]
        unknown = [item for item in wanted if item not in _report.ALL_FORMATS]
        if unknown:
            self._warn_once(
                "formats", f"unknown report format(s) {', '.join(unknown)} ignored; known: {', '.join(_report.ALL_FORMATS)}"
            )
        return [item for item in wanted if item in _report.ALL_FORMATS]

    @staticmethod
    def _inventory_sources() -> list[str]:
        sources = context.CLIARGS.get("inventory") or ()
        if isinstance(sources, str):
            sources = [sources]
        out = []
        for source in sources:
            for part in to_text(source).split(","):
                part = part.strip()
                if part:
                    out.append(os.path.abspath(part) if os.path.exists(part) else part)
        return out

    # ------------------------------------------------------------------ events

    def v2_playbook_on_start(self, playbook: Any) -> None:
        if self.playbook_path is None:
            name = getattr(playbook, "_file_name", None)
            if not name:
                args = context.CLIARGS.get("args") or ()
                name = args[0] if args else None
            self.playbook_path = os.path.abspath(to_text(name)) if name else None

    def v2_runner_on_ok(self, result: Any) -> None:
        self._record(result)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._record(result, failed=True)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        try:
            self._finish()
        except Exception as exc:  # pylint: disable=broad-exception-caught
            self._display.warning(f"opsbook.stack.checklist: could not produce the checklist report: {type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ report

    def _finish(self) -> None:
        if not self.collector.hosts:
            # Enabled globally, the callback stays silent for playbooks that ran no checks (site.yml, ...).
            self._display.vv("opsbook.stack.checklist: no check results were collected; no report written")
            return
        finished = utc_now()
        duration = round(time.monotonic() - self.started_monotonic, 3)
        checklist = self._checklist()
        meta = {
            "checklist": checklist,
            "started": format_utc(self.started),
            "finished": format_utc(finished),
            "finished_timestamp": round(finished.timestamp(), 3),
            "duration_seconds": duration,
            "ansible_version": ansible_version,
            "playbook": self.playbook_path or "",
            "inventory": self._inventory_sources(),
            "check_mode": bool(context.CLIARGS.get("check", False)),
            "limit": context.CLIARGS.get("subset") or None,
        }
        report = self.collector.build(meta)
        formats = self._formats()
        report_dir = self._report_dir()
        outcome = _report.write_report(
            report,
            report_dir,
            formats,
            self.started if isinstance(self.started, datetime.datetime) else utc_now(),
            self._option("prometheus_textfile"),
        )
        if "console" in formats:
            self._display.banner(f"CHECKLIST {checklist}")
            for line, status in _report.render_console(report):
                self._display.display(line, color=_COLOURS.get(status) if status else None)
        for warning in outcome.warnings:
            self._display.warning(f"opsbook.stack.checklist: {warning}")
        if outcome.textfile:
            self._display.display(f"Prometheus textfile: {outcome.textfile}")
        if outcome.folder:
            self._display.display(f"{_report.REPORT_LINE_PREFIX}{outcome.folder}")
        elif any(fmt in _report.FILE_NAMES for fmt in formats):
            self._display.warning(f"opsbook.stack.checklist: no report was written under {report_dir} (see the warnings above)")

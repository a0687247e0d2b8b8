"""The opsbook.stack.checklist callback in real ansible-playbook / ansible-runner runs (localhost only)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import BIN, COLLECTIONS, PYTHON, tool
from prometheus_client.parser import text_string_to_metric_families

DATA = Path(__file__).parent / "data"

PLAYBOOK = """\
- name: Daily checklist (test)
  hosts: all
  gather_facts: false
  tasks:
    - name: Plain checks
      fake_check:
        checks:
          - {check: "http.status:app", status: ok, value: 200, warn: null, crit: null, unit: "", message: "HTTP 200", details: {}}
          - {check: "host.disk:/", status: warn, value: 91.5, warn: 85, crit: 95, unit: "%",
             message: "disk usage of / is 91.5% <script>alert(1)</script>", details: {mount: /}}
    - name: Looped checks
      fake_check:
        checks:
          - {check: "{{ item.id }}", status: "{{ item.status }}", value: 3, unit: s, message: "looped {{ item.id }}", details: {}}
      loop:
        - {id: pg.long_running, status: crit}
        - {id: "http.status:app", status: ok}
    - name: Check module failing on bad input
      fake_check:
        fail_msg: "unknown check name(s) 'bogus'"
      ignore_errors: true
    - name: Skipped check
      fake_check: {}
      when: false
"""

INVENTORY_LOCAL = f"localhost ansible_connection=local ansible_python_interpreter={PYTHON}\n"
INVENTORY_UNREACHABLE = "unreach ansible_host=127.0.0.2 ansible_connection=ssh ansible_port=1 ansible_ssh_timeout=5\n"

CONFIG = """\
[defaults]
callbacks_enabled = opsbook.stack.checklist
library = {library}
collections_path = {collections}
host_key_checking = false
retry_files_enabled = false
[opsbook_checklist]
prometheus_textfile = textfile
"""


def write_project(path: Path, unreachable: bool = True) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "daily.yml").write_text(PLAYBOOK)
    (path / "hosts.ini").write_text(INVENTORY_LOCAL + (INVENTORY_UNREACHABLE if unreachable else ""))
    (path / "ansible.cfg").write_text(CONFIG.format(library=DATA / "library", collections=COLLECTIONS))


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "OPSBOOK_", "AWX_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false")
    env.update(extra)
    return env


def checks_of(report: dict[str, Any], host: str) -> dict[str, dict[str, Any]]:
    entry = next(h for h in report["hosts"] if h["name"] == host)
    return {c["check"]: c for c in entry["checks"]}


def test_playbook_run_writes_report(tmp_path: Path) -> None:
    write_project(tmp_path)
    (tmp_path / "textfile").mkdir()
    proc = subprocess.run(
        [tool("ansible-playbook"), "-i", "hosts.ini", "daily.yml"],
        cwd=tmp_path,
        env=clean_env(ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg")),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 4, output  # 4 = a host was unreachable; the callback itself never fails the run
    lines = [line for line in proc.stdout.splitlines() if line.startswith("Report: ")]
    assert len(lines) == 1, output
    folder = Path(lines[0][len("Report: "):])
    assert folder.parent == tmp_path / "reports"
    assert re.fullmatch(r"daily-\d{8}T\d{6}Z", folder.name)
    assert (tmp_path / "reports" / "latest").resolve() == folder.resolve()
    assert "CHECKLIST daily" in proc.stdout and "TOTAL: 6 checks: 2 crit, 1 unknown, 1 warn, 2 ok" in proc.stdout

    report = json.loads((folder / "report.json").read_text())
    assert report["checklist"] == "daily"
    assert report["playbook"] == str(tmp_path / "daily.yml")
    assert report["inventory"] == [str(tmp_path / "hosts.ini")]
    assert report["check_mode"] is False and report["ansible_version"].startswith("2.")
    assert report["started"].endswith("Z") and report["duration_seconds"] > 0
    assert [h["name"] for h in report["hosts"]] == ["localhost", "unreach"]  # both crit; localhost has more problems
    assert report["worst"] == "crit"
    local = checks_of(report, "localhost")
    assert set(local) == {"http.status:app", "host.disk:/", "pg.long_running", "http.status:app#2", "fake.module"}
    assert local["pg.long_running"]["status"] == "crit"
    assert "more than once" in local["http.status:app#2"]["details"]["duplicate"]
    assert local["fake.module"]["status"] == "unknown"
    assert "unknown check name(s) 'bogus'" in local["fake.module"]["message"]
    unreach = checks_of(report, "unreach")
    assert list(unreach) == ["host.reachable"]
    assert unreach["host.reachable"]["status"] == "crit" and "127.0.0.2" in unreach["host.reachable"]["message"]

    metrics = (folder / "metrics.prom").read_text()
    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    status = {(s.labels["host"], s.labels["check"]): s.value for s in families["opsbook_check_status"].samples}
    assert status[("unreach", "host.reachable")] == 2 and status[("localhost", "fake.module")] == 3
    assert (tmp_path / "textfile" / "opsbook_daily.prom").read_text() == metrics
    for name in ("report.md", "report.html", "junit.xml"):
        assert "host.reachable" in (folder / name).read_text()
    assert "<script>alert(1)</script>" not in (folder / "report.html").read_text()


def test_json_only_and_env_overrides(tmp_path: Path) -> None:
    write_project(tmp_path, unreachable=False)
    proc = subprocess.run(
        [tool("ansible-playbook"), "-i", "hosts.ini", "daily.yml", "--check"],
        cwd=tmp_path,
        env=clean_env(
            ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"),
            OPSBOOK_REPORT_DIR=str(tmp_path / "elsewhere"),
            OPSBOOK_REPORT_FORMATS="json,bogus",
            OPSBOOK_CHECKLIST="morning round",
        ),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "CHECKLIST" not in proc.stdout  # console format not selected
    assert "unknown report format(s) bogus" in proc.stderr + proc.stdout
    folder = Path(next(line for line in proc.stdout.splitlines() if line.startswith("Report: "))[8:])
    assert folder.parent == tmp_path / "elsewhere" and folder.name.startswith("morning_round-")
    assert sorted(p.name for p in folder.iterdir()) == ["report.json"]
    report = json.loads((folder / "report.json").read_text())
    assert report["check_mode"] is True and report["checklist"] == "morning round"


def test_no_checks_no_report(tmp_path: Path) -> None:
    write_project(tmp_path, unreachable=False)
    (tmp_path / "plain.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Nothing to report\n      ansible.builtin.ping:\n"
    )
    proc = subprocess.run(
        [tool("ansible-playbook"), "-i", "hosts.ini", "plain.yml"],
        cwd=tmp_path,
        env=clean_env(ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg")),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Report: " not in proc.stdout and "CHECKLIST" not in proc.stdout
    assert not (tmp_path / "reports").exists()


def test_ansible_runner_puts_report_in_artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ansible_runner = pytest.importorskip("ansible_runner")
    for key in list(os.environ):
        if key.startswith(("ANSIBLE_", "OPSBOOK_", "AWX_")):
            monkeypatch.delenv(key)
    private = tmp_path / "private"
    project = private / "project"
    write_project(project, unreachable=False)
    config = project / "ansible.cfg"
    config.write_text(config.read_text().replace("prometheus_textfile = textfile\n", ""))
    runner = ansible_runner.run(
        private_data_dir=str(private),
        playbook="daily.yml",
        inventory=str(project / "hosts.ini"),
        ident="job42",
        envvars={"ANSIBLE_CONFIG": str(config), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "ANSIBLE_NOCOLOR": "1"},
        quiet=True,
        timeout=180,
    )
    stdout = runner.stdout.read()
    assert runner.rc == 0, stdout
    artifacts = private / "artifacts" / "job42"
    reports = artifacts / "reports"
    folders = [p for p in reports.iterdir() if p.name.startswith("daily-")]
    assert len(folders) == 1, stdout
    assert f"Report: {folders[0]}" in stdout
    report = json.loads((folders[0] / "report.json").read_text())
    assert set(checks_of(report, "localhost")) >= {"http.status:app", "pg.long_running", "fake.module"}
    # the awx_display stdout callback still produced its events next to ours
    assert any(e.get("event") == "playbook_on_stats" for e in runner.events)
    assert (reports / "latest").resolve() == folders[0].resolve()

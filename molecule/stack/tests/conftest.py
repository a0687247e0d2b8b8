"""Helpers for the stack scenario's testinfra tests."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner


def hosts_of(group: str) -> list[str]:
    """Inventory hosts of a group in the molecule inventory."""
    runner = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
    return runner.get_hosts(group)


@pytest.fixture(scope="session")
def secrets() -> dict[str, str]:
    """The secrets the sandbox group_vars generated into the inventory's .secrets dir."""
    inventory_dir = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    secrets_dir = inventory_dir / ".secrets"
    out = {}
    for path in secrets_dir.iterdir():
        out[path.name] = path.read_text().split()[0]
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by group/others"
    return out


def pytest_collection_modifyitems(config, items):
    """The module-level and fault tests run once per `make molecule` (Debian 12,
    OPSBOOK_FAULTS=1); the Debian 13 run proves the provisioned stack and a green
    daily checklist, which exercises every check module there too."""
    if os.environ.get("OPSBOOK_FAULTS") == "1":
        return
    skip = pytest.mark.skip(reason="module and fault tests run with OPSBOOK_FAULTS=1 (the Debian 12 stack run)")
    for item in items:
        if Path(str(item.fspath)).name.startswith("test_check_"):
            item.add_marker(skip)


ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Run:
    """One ansible-playbook run of a checklist playbook and its JSON report."""

    rc: int
    output: str
    report: dict
    path: Path

    def statuses(self) -> dict[tuple[str, str], str]:
        return {
            (data["name"], item["check"]): item["status"]
            for data in self.report["hosts"]
            for item in data["checks"]
        }

    def not_ok(self) -> dict[tuple[str, str], str]:
        return {key: status for key, status in self.statuses().items() if status != "ok"}


def run_playbook(tmp_path: Path, name: str, *extra: str) -> Run:
    """ansible-playbook playbooks/<name>.yml on the scenario inventory, as a user runs it; parse its report."""
    report_dir = tmp_path / f"reports-{time.monotonic_ns()}"
    env = dict(os.environ)
    env.update(
        OPSBOOK_REPORT_DIR=str(report_dir),
        ANSIBLE_CALLBACKS_ENABLED="opsbook.stack.checklist",
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
    )
    done = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(ROOT / "playbooks" / f"{name}.yml"), *extra],
        capture_output=True, text=True, env=env, timeout=900, cwd=ROOT, check=False,
    )
    output = done.stdout + done.stderr
    reports = sorted(p for p in report_dir.glob(f"{name}-*") if p.is_dir()) if report_dir.exists() else []
    assert reports, f"no report folder written under {report_dir}; output:\n{output[-4000:]}"
    report = json.loads((reports[-1] / "report.json").read_text())
    assert "Report: " in output, output[-2000:]
    return Run(done.returncode, output, report, reports[-1])

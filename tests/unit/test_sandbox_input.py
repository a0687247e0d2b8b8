"""playbooks/sandbox.yml refuses bad input with one clear line, before touching Docker."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"


def _sandbox(*extra: str, docker_host: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if docker_host:
        env["DOCKER_HOST"] = docker_host
    env.update(
        PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
    )
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", "inventories/sandbox", "playbooks/sandbox.yml", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (("-e", "sandbox_debian=jessie"), "got 'jessie'"),
        (("-e", "sandbox_state=gone"), "got 'gone'"),
    ],
)
def test_bad_input_is_refused(extra: tuple[str, ...], named: str) -> None:
    result = _sandbox(*extra)
    assert result.returncode != 0
    assert named in result.stdout, result.stdout[-2000:]
    # Refused by the first task: no container or network task ran.
    assert "Run each host as a systemd container" not in result.stdout


def test_missing_docker_engine_is_one_clear_line() -> None:
    result = _sandbox(docker_host="unix:///nonexistent/docker.sock")
    assert result.returncode != 0
    assert "No Docker engine answers" in result.stdout, result.stdout[-2000:]
    assert "make docker" in result.stdout

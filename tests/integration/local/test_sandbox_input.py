"""playbooks/sandbox.yml refuses bad input with one clear line, before touching Docker."""

from __future__ import annotations

import subprocess

import pytest
from helpers import ansible_playbook


def _sandbox(*extra: str, docker_host: str | None = None) -> subprocess.CompletedProcess[str]:
    return ansible_playbook(
        "-i", "inventories/sandbox", "playbooks/sandbox.yml", *extra,
        extra_env={"DOCKER_HOST": docker_host} if docker_host else None,
    )


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (("-e", "sandbox_debian=jessie"), "got: jessie"),
        (("-e", "sandbox_state=gone"), "got: gone"),
        (("-e", "sandbox_connection=telnet"), "got: telnet"),
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

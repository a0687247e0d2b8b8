"""The app role's argument spec rejects wrong types and names the variable."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"


def run_role(tmp_path: Path, variables: str) -> subprocess.CompletedProcess[str]:
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n"
        "  gather_facts: false\n"
        "  connection: local\n"
        "  tasks:\n"
        "    - ansible.builtin.include_role:\n"
        "        name: opsbook.stack.app\n"
        "      vars:\n" + variables
    )
    env = dict(os.environ)
    env.update(
        PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
    )
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(playbook)],
        env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.mark.parametrize(
    ("variables", "name"),
    [
        ("        app_port: not-a-port\n", "app_port"),
        ("        app_source_type: svn\n", "app_source_type"),
        ("        app_env: [1, 2]\n", "app_env"),
    ],
)
def test_argspec_rejects_bad_input(tmp_path, variables, name):
    result = run_role(tmp_path, variables)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert name in output, output

"""The postgresql role's argument spec rejects bad input before any task runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"

PLAYBOOK = """\
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - ansible.builtin.include_role:
        name: opsbook.stack.postgresql
      vars:
{vars}
"""


def run_playbook(tmp_path: Path, role_vars: str) -> subprocess.CompletedProcess:
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK.format(vars=role_vars))
    env = dict(
        os.environ,
        PATH="%s:%s" % (BIN, os.environ.get("PATH", "")),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
    )
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", str(playbook)],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.mark.parametrize(
    "role_vars, name",
    [
        ("        postgresql_port: not-a-port", "postgresql_port"),
        ("        postgresql_listen_addresses: {a: b}", "postgresql_listen_addresses"),
        ("        postgresql_tls_enabled: maybe", "postgresql_tls_enabled"),
        ("        postgresql_users:\n          - password: secret", "postgresql_users"),
        ("        postgresql_hba_entries:\n          - {database: all, user: all, address: 0.0.0.0/0, method: trust}", "postgresql_hba_entries"),
    ],
)
def test_bad_input_is_rejected(tmp_path: Path, role_vars: str, name: str) -> None:
    result = run_playbook(tmp_path, role_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "argument" in output.lower() or "validation" in output.lower(), output
    assert name in output, output
    # The password of a rejected entry is never echoed.
    assert "secret" not in output.replace("no_log", "")

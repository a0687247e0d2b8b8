"""Run ansible-playbook from the project venv, the way the unit tests need it."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"

ROLE_PLAY = """\
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - name: Include the role with the given variables
      ansible.builtin.include_role:
        name: opsbook.stack.{role}
      vars:
{variables}
"""


def ansible_playbook(*args: str, cwd: Path = ROOT, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ansible-playbook with the collection checkout on the collections path."""
    env = dict(os.environ)
    env.update(
        PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
    )
    env.update(extra_env or {})
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), *args],
        cwd=str(cwd),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_role(tmp_path: Path, role: str, variables: str) -> subprocess.CompletedProcess[str]:
    """Include opsbook.stack.<role> on localhost with the given (indented) vars YAML."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(ROLE_PLAY.format(role=role, variables=variables))
    return ansible_playbook("-i", "localhost,", str(playbook), cwd=tmp_path)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for connection-refused cases)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

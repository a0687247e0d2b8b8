"""Argument spec of opsbook.stack.nginx rejects bad input, naming the variable."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"

PLAY = """\
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - ansible.builtin.include_role:
        name: opsbook.stack.nginx
      vars:
{vars}
"""


def _run(tmp_path, role_vars):
    (tmp_path / "play.yml").write_text(PLAY.format(vars=role_vars))
    env = dict(
        os.environ,
        PATH=f"{BIN}:{os.environ.get('PATH', '')}",
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
    )
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", str(tmp_path / "play.yml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("role_vars", "name"),
    [
        ("        nginx_https_port: not-a-port", "nginx_https_port"),
        ("        nginx_tls_protocols: ['TLSv1.1', 'TLSv1.2']", "nginx_tls_protocols"),
        ("        nginx_upstreams: [{servers: ['127.0.0.1:8000']}]", "name"),
    ],
)
def test_argspec_rejects(tmp_path, role_vars, name):
    rc, out = _run(tmp_path, role_vars)
    assert rc != 0, out
    assert "Validating arguments against arg spec" in out or "argument spec" in out.lower(), out
    assert name in out, out

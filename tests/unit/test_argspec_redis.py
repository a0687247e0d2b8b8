"""The redis role's argument spec rejects bad input before any task runs."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"

PLAY = """\
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - name: Include the role with bad input
      ansible.builtin.include_role:
        name: opsbook.stack.redis
      vars:
{vars}
"""


def _run(tmp_path, vars_yaml):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY.format(vars=vars_yaml))
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
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_bad_input_is_rejected(tmp_path):
    # One run: argument spec validation reports every offending variable at once.
    result = _run(
        tmp_path,
        "\n".join(
            [
                "        redis_port: not-a-port",
                "        redis_bind: {a: b}",
                "        redis_users: [{name: app}]",
                "        redis_appendfsync: sometimes",
            ]
        ),
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Validation of arguments failed" in output, output
    # Only the error lines, not the argument_spec_data dump that follows them.
    errors = output.split("Validation of arguments failed", 1)[1].split("Origin:", 1)[0]
    for name in ("redis_port", "redis_bind", "redis_users", "redis_appendfsync"):
        assert name in errors, f"{name} not named in:\n{errors}"
    assert "password" in errors, errors

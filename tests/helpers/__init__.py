"""Helpers shared by every test suite of the collection (tests/unit, tests/integration/...).

tests/conftest.py puts tests/ on sys.path, so test modules import them as
``from helpers import ansible_playbook, free_port, PYTHON``. The tools come
from the Python environment that runs pytest (``sys.executable`` and the
scripts next to it), whatever virtual environment that is.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

# Root of the checkout (the collection root).
ROOT = Path(__file__).resolve().parents[2]
# The interpreter that runs the tests; modules run by ansible-playbook on localhost use it too.
PYTHON = sys.executable
# Directory of that interpreter's scripts (ansible-playbook, ansible-config...).
BIN = Path(sys.executable).parent
# ANSIBLE_COLLECTIONS_PATH that makes the checkout importable as opsbook.stack (`make collection`).
COLLECTIONS = ROOT / ".cache" / "collections"

# The head of a play that runs its tasks on this machine with the tests' Python
# (str.format field {python}); a test appends its tasks, indented by four.
LOCAL_PLAY = """\
- hosts: localhost
  gather_facts: false
  connection: local
  vars:
    ansible_python_interpreter: {python}
  tasks:
"""

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


def tool(name: str) -> str:
    """Path of an Ansible command line tool: the one next to the test interpreter, else the one on PATH."""
    beside = BIN / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is neither next to {PYTHON} nor on PATH; install ansible-core in this environment")
    return found


def tool_env(**extra: str) -> dict[str, str]:
    """The environment for Ansible tools: this interpreter's scripts first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def ansible_playbook(*args: str, cwd: Path = ROOT, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ansible-playbook with the collection checkout on the collections path."""
    env = tool_env(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
    )
    env.update(extra_env or {})
    return subprocess.run(
        [tool("ansible-playbook"), *args],
        cwd=str(cwd),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def local_play_results(playbook: Path, *extra: str, cwd: Path) -> list[dict]:
    """Run a playbook on localhost with the tests' Python and the JSON stdout callback;
    each task's result on localhost, in order (the run must exit 0)."""
    proc = ansible_playbook(
        "-i", "localhost,", "-e", f"ansible_python_interpreter={PYTHON}", *extra, str(playbook),
        cwd=cwd, extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{"):])[0]
    return [task["hosts"]["localhost"] for task in doc["plays"][0]["tasks"]]


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

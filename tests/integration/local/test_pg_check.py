"""opsbook.stack.pg_check through ansible-playbook on localhost: refused connection, bad thresholds, missing psycopg."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from helpers import LOCAL_PLAY, PYTHON, ansible_playbook, free_port


# -- end to end through ansible on this machine ----------------------------------

PLAY = LOCAL_PLAY + """\
    - name: Refused connection
      opsbook.stack.pg_check:
        login_host: 127.0.0.1
        login_port: {port}
        login_user: app
        login_password: Hunter2-not-echoed
        connect_timeout: 2
        checks: [connect, connections, database_size]
        queries:
          - {{name: failed_jobs, sql: "SELECT 1", warn: 1}}
      register: refused
    - name: Warn beyond crit
      opsbook.stack.pg_check:
        thresholds:
          connections_pct: {{warn: 99}}
      register: bad_threshold
      ignore_errors: true
    - name: Without psycopg (the system python has none)
      opsbook.stack.pg_check:
      vars:
        ansible_python_interpreter: /usr/bin/python3
      register: no_lib
      ignore_errors: true
"""


def _system_python_lacks_psycopg() -> bool:
    probe = subprocess.run(["/usr/bin/python3", "-c", "import psycopg"], capture_output=True, check=False)
    return probe.returncode != 0


def test_end_to_end_on_localhost(tmp_path: Path) -> None:
    (tmp_path / "play.yml").write_text(PLAY.format(python=PYTHON, port=free_port()))
    run = ansible_playbook(
        "-i", "localhost,", str(tmp_path / "play.yml"), cwd=tmp_path, extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # raw_decode: other enabled callbacks may print after the JSON document.
    tasks = json.JSONDecoder().raw_decode(run.stdout)[0]["plays"][0]["tasks"]
    data = dict(zip(("refused", "bad_threshold", "no_lib"), (t["hosts"]["localhost"] for t in tasks)))

    refused = data["refused"]
    assert refused["changed"] is False
    assert "failed" not in refused or refused["failed"] is False
    ids = [c["check"] for c in refused["checks"]]
    assert ids == ["pg.connect", "pg.connections", "pg.database_size:postgres", "pg.query:failed_jobs"]
    first = refused["checks"][0]
    assert first["status"] == "crit"
    assert "cannot connect to PostgreSQL as app@127.0.0.1" in first["message"]
    assert "refused" in first["message"].lower()
    assert all(c["status"] == "unknown" and c["message"].startswith("not measured - cannot connect") for c in refused["checks"][1:])
    assert refused["summary"] == {"ok": 0, "warn": 0, "crit": 1, "unknown": 3, "total": 4, "worst": "crit"}
    assert set(first) == {"check", "status", "value", "warn", "crit", "unit", "message", "details"}
    assert "Hunter2" not in run.stdout + run.stderr

    assert data["bad_threshold"]["failed"] is True
    assert "threshold 'connections_pct': warn 99 is beyond crit 95" in data["bad_threshold"]["msg"]
    if _system_python_lacks_psycopg():
        assert data["no_lib"]["failed"] is True
        assert "install python3-psycopg on this host" in data["no_lib"]["msg"]
        assert "psycopg (version 3)" in data["no_lib"]["msg"]

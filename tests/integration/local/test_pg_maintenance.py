"""opsbook.stack.pg_maintenance through ansible-playbook on localhost, no server needed."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import LOCAL_PLAY, PYTHON, ansible_playbook, free_port


# -- end to end through ansible, no server needed --------------------------------

PLAY = LOCAL_PLAY + """\
    - name: Refused connection, apply asked
      opsbook.stack.pg_maintenance:
        login_host: 127.0.0.1
        login_port: {port}
        login_password: Hunter2-not-echoed
        connect_timeout: 2
        databases: [appdb]
        apply: true
      register: refused
    - name: Same in check mode
      opsbook.stack.pg_maintenance:
        login_host: 127.0.0.1
        login_port: {port}
        connect_timeout: 2
        apply: true
      check_mode: true
      register: checked
    # Must fail (bad option); ignore_errors keeps the play going and the test asserts the failure and its message.
    - name: Threshold out of range
      opsbook.stack.pg_maintenance:
        bloat_threshold_pct: 130
      register: bad
      ignore_errors: true
"""


def test_end_to_end_on_localhost(tmp_path: Path) -> None:
    (tmp_path / "play.yml").write_text(PLAY.format(python=PYTHON, port=free_port()))
    run = ansible_playbook("-i", "localhost,", str(tmp_path / "play.yml"), cwd=tmp_path,
                           extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    assert run.returncode == 0, run.stdout + run.stderr
    tasks = json.JSONDecoder().raw_decode(run.stdout)[0]["plays"][0]["tasks"]
    refused, checked, bad = (t["hosts"]["localhost"] for t in tasks)

    assert refused["changed"] is False and refused["mode"] == "apply"
    assert [c["check"] for c in refused["checks"]] == [
        "pg_maintenance.analyze:appdb", "pg_maintenance.bloat:appdb", "pg_maintenance.reindex:appdb"]
    assert all(c["status"] == "unknown" and "cannot connect to database appdb" in c["message"] for c in refused["checks"])
    assert refused["reclaimed_bytes"] == 0 and refused["reindexed"] == [] and refused["analyzed"] == []
    assert set(refused["checks"][0]) == {"check", "status", "value", "warn", "crit", "unit", "message", "details"}

    assert checked["changed"] is False and checked["mode"] == "check_mode"
    assert checked["checks"][0]["check"] == "pg_maintenance.databases" and checked["checks"][0]["status"] == "unknown"

    assert bad["failed"] is True and "bloat_threshold_pct must be between 0 and 100, got 130" in bad["msg"]
    assert "Hunter2" not in run.stdout + run.stderr

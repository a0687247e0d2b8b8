"""opsbook.stack.pg_check's monthly options (statements, database_growth, baseline) through ansible-playbook on localhost."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import LOCAL_PLAY, PYTHON, ansible_playbook, free_port


# -- through ansible on this machine (no server: option handling and ids) ---------------

PLAY = LOCAL_PLAY + """\
    - name: Monthly checks against a closed port
      opsbook.stack.pg_check:
        login_host: 127.0.0.1
        login_port: {port}
        login_db: appdb
        connect_timeout: 2
        checks: [statements, database_growth]
        baseline:
          pg.database_size:appdb: {{value: 1000, at: "2026-10-26T06:00:00Z"}}
      register: refused
    # The next two must fail (bad options); ignore_errors keeps the play going and the test asserts each failure.
    - name: Bad baseline entry
      opsbook.stack.pg_check:
        checks: [database_growth]
        baseline:
          pg.database_size:appdb: {{value: 1000, at: last month}}
      register: bad_baseline
      ignore_errors: true
    - name: Bad top
      opsbook.stack.pg_check:
        statements_top: 0
      register: bad_top
      ignore_errors: true
"""


def test_options_end_to_end_on_localhost(tmp_path: Path) -> None:
    (tmp_path / "play.yml").write_text(PLAY.format(python=PYTHON, port=free_port()))
    run = ansible_playbook("-i", "localhost,", str(tmp_path / "play.yml"), cwd=tmp_path,
                           extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    assert run.returncode == 0, run.stdout + run.stderr
    tasks = json.JSONDecoder().raw_decode(run.stdout)[0]["plays"][0]["tasks"]
    refused, bad_baseline, bad_top = (t["hosts"]["localhost"] for t in tasks)
    assert [c["check"] for c in refused["checks"]] == ["pg.database_size:appdb", "pg.statements", "pg.database_growth:appdb"]
    assert all(c["status"] == "unknown" and c["message"].startswith("not measured - cannot connect") for c in refused["checks"])
    assert bad_baseline["failed"] is True
    assert "baseline['pg.database_size:appdb']: at must be an ISO-8601" in bad_baseline["msg"]
    assert bad_top["failed"] is True and "statements_top must be 1 or more, got 0" in bad_top["msg"]

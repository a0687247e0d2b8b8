"""opsbook.stack.security_check through ansible-playbook on localhost: bad options, secret files in check mode."""

from __future__ import annotations

import json
import os
from pathlib import Path

from helpers import LOCAL_PLAY, PYTHON, ansible_playbook


PLAY = LOCAL_PLAY + """\
    # The first two fail on purpose (bad options); ignore_errors lets the run go on so the
    # test can assert that each one failed and what its message says.
    - name: Unknown check name
      opsbook.stack.security_check:
        checks: [ports, nginx]
      register: bad_name
      ignore_errors: true
    - name: Wrong type
      opsbook.stack.security_check:
        expected_ports: [ssh]
      register: bad_type
      ignore_errors: true
    - name: Secret files only, in check mode, password never echoed
      opsbook.stack.security_check:
        checks: [secret_files, pg_hba]
        secret_paths: [{secret}]
        login_unix_socket: {tmp}
        login_password: Hunter2-not-echoed
      check_mode: true
      register: files
"""


def test_end_to_end(tmp_path: Path) -> None:
    secret = tmp_path / "app.env"
    secret.write_text("TOKEN=x")
    os.chmod(secret, 0o644)
    (tmp_path / "play.yml").write_text(PLAY.format(python=PYTHON, secret=secret, tmp=tmp_path))
    run = ansible_playbook("-i", "localhost,", str(tmp_path / "play.yml"), cwd=tmp_path,
                           extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.json"})
    assert run.returncode == 0, run.stdout + run.stderr
    tasks = json.JSONDecoder().raw_decode(run.stdout)[0]["plays"][0]["tasks"]
    bad_name, bad_type, files = (t["hosts"]["localhost"] for t in tasks)
    assert bad_name["failed"] is True and "unknown check name(s) 'nginx'" in bad_name["msg"]
    assert bad_type["failed"] is True and "expected_ports" in bad_type["msg"]
    assert files["changed"] is False
    by_id = {c["check"]: c for c in files["checks"]}
    assert by_id["security.secret_files"]["status"] == "crit" and "(0644)" in by_id["security.secret_files"]["message"]
    assert by_id["security.pg_hba"]["status"] == "unknown"
    assert "no PostgreSQL socket" in by_id["security.pg_hba"]["message"] or "psycopg" in by_id["security.pg_hba"]["message"]
    assert "Hunter2" not in run.stdout + run.stderr

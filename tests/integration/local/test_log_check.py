"""opsbook.stack.log_check through ansible-playbook on localhost."""

from __future__ import annotations

import json

from helpers import PYTHON, ansible_playbook


# ------------------------------------------------------------------ end to end through ansible


def test_module_end_to_end_via_ansible(tmp_path):
    log = tmp_path / "e2e.log"
    log.write_text("ERROR via ansible\n")
    state = tmp_path / "st" / "s.json"
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  connection: local\n  tasks:\n"
        "    - opsbook.stack.log_check:\n"
        f"        files: [{{path: '{log}', name: e2e}}]\n"
        f"        state_file: '{state}'\n"
        "      register: r\n"
        "    - opsbook.stack.log_check:\n"
        f"        files: [{{path: '{log}', name: e2e}}]\n"
        "        patterns: [{name: bad, regex: '(', warn: 1}]\n"
        "      ignore_errors: true\n"
    )
    proc = ansible_playbook(
        "-i", "localhost,", "-e", f"ansible_python_interpreter={PYTHON}", str(playbook),
        cwd=tmp_path, extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tasks = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{"):])[0]["plays"][0]["tasks"]
    good = tasks[0]["hosts"]["localhost"]
    assert good["changed"] is True
    assert good["summary"] == {"ok": 1, "warn": 1, "crit": 0, "unknown": 0, "total": 2, "worst": "warn"}
    assert [item["check"] for item in good["checks"]] == ["log.errors:e2e", "log.rate_limit:e2e"]
    assert set(good["checks"][0]) == {"check", "status", "value", "warn", "crit", "unit", "message", "details"}
    assert state.exists()
    bad = tasks[1]["hosts"]["localhost"]
    assert bad["failed"] and "pattern 'bad': invalid regex" in bad["msg"]

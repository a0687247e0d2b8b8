"""opsbook.stack.log_check through ansible-playbook on localhost."""

from __future__ import annotations


from helpers import local_play_results


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
    results = local_play_results(playbook, cwd=tmp_path)
    good = results[0]
    assert good["changed"] is True
    assert good["summary"] == {"ok": 1, "warn": 1, "crit": 0, "unknown": 0, "total": 2, "worst": "warn"}
    assert [item["check"] for item in good["checks"]] == ["log.errors:e2e", "log.rate_limit:e2e"]
    assert set(good["checks"][0]) == {"check", "status", "value", "warn", "crit", "unit", "message", "details"}
    assert state.exists()
    bad = results[1]
    assert bad["failed"] and "pattern 'bad': invalid regex" in bad["msg"]

"""opsbook.stack.backup_run: how the tool's exit codes and output become the module result."""

from __future__ import annotations

import json

from ansible_collections.opsbook.stack.plugins.module_utils import _backup
from ansible_collections.opsbook.stack.plugins.modules import backup_run


def params(**extra):
    base = {"kind": "full", "target": None, "wait": 600, "tool": "/usr/local/sbin/opsbook-backup", "trigger": "ansible"}
    base.update(extra)
    return base


def test_command_line():
    assert backup_run.command(params()) == ["/usr/local/sbin/opsbook-backup", "run", "full", "--trigger", "ansible", "--wait", "600", "--json"]
    assert backup_run.command(params(kind="logical", target="appdb", wait=0))[2:5] == ["logical", "--target", "appdb"]


def test_ok_run_is_a_change_and_a_standby_skip_is_not():
    ok = {"records": [{"id": "20261126T071500Z-full-main", "status": "ok"}], "message": "full backup done"}
    assert backup_run.outcome(0, "log line\n" + json.dumps(ok) + "\n", "") == (False, True, "full backup done", ok["records"])
    skipped = {"records": [{"id": "x", "status": "skipped", "message": "standby: backups run on the primary"}], "message": "skipped"}
    failed, changed, _msg, _records = backup_run.outcome(0, json.dumps(skipped), "")
    assert (failed, changed) == (False, False)


def test_failed_backup_names_each_failed_record():
    doc = {"records": [{"id": "a", "status": "ok"}, {"id": "b", "status": "failed", "message": "no space left on /var/backups (812 KiB free)"}]}
    failed, changed, message, records = backup_run.outcome(1, json.dumps(doc), "")
    assert failed and changed and len(records) == 2
    assert message == "backup failed: b: no space left on /var/backups (812 KiB free)"


def test_refusal_and_lock_use_the_tool_message_or_stderr():
    failed, changed, message, records = backup_run.outcome(2, "", "opsbook-backup: backup location /x does not exist; create it or set backup_root\n")
    assert failed and not changed and records == []
    assert message == "backup refused: opsbook-backup: backup location /x does not exist; create it or set backup_root"
    locked = {"records": [], "message": "another backup runs: full (pid 4242) since 2026-11-26T07:00:00Z"}
    assert backup_run.outcome(3, json.dumps(locked), "")[2] == "another backup holds the lock: another backup runs: full (pid 4242) since 2026-11-26T07:00:00Z"
    assert backup_run.outcome(9, "not json", "")[2] == "opsbook-backup exited with 9: no output"


def test_parse_output_takes_the_last_json_line_or_the_whole_document():
    assert _backup.tool_json('{"a": 1}\n{"records": []}\n') == {"records": []}
    assert _backup.tool_json('{\n  "records": [],\n  "message": "m"\n}') == {"records": [], "message": "m"}
    assert _backup.tool_json("[1, 2]") == {}

"""opsbook.stack.restore_test: command lines and how the tool's results become contract results."""

from __future__ import annotations

import json

from ansible_collections.opsbook.stack.plugins.module_utils import _backup
from ansible_collections.opsbook.stack.plugins.module_utils._checks import CRIT, OK, WARN, Threshold
from ansible_collections.opsbook.stack.plugins.modules import restore_test


def params(**extra):
    base = {"kinds": ["logical", "physical"], "target": None, "id": None, "wait": 3600, "tool": "/usr/local/sbin/opsbook-backup", "thresholds": {}}
    base.update(extra)
    return base


def test_command_lines():
    assert restore_test.command(params(), "physical") == ["/usr/local/sbin/opsbook-backup", "restore-test", "physical", "--wait", "3600", "--json"]
    assert restore_test.command(params(target="appdb"), "logical")[3:5] == ["--target", "appdb"]
    # --target is for logical tests only; a physical one restores the whole cluster.
    assert "--target" not in restore_test.command(params(target="appdb"), "physical")
    assert restore_test.command(params(id="20261122-031500F"), "physical")[3:5] == ["--id", "20261122-031500F"]


def test_parse_takes_the_json_line():
    doc = {"results": [{"status": "ok"}], "message": "m"}
    assert _backup.tool_json("waiting for the lock\n" + json.dumps(doc) + "\n") == doc
    assert _backup.tool_json("not json at all") == {}


def test_ok_restore_is_ok_with_duration_and_details():
    item = {"kind": "logical", "id": "20261126T114740Z-logical-appdb", "target": "appdb", "status": "ok", "duration_s": 3.4,
            "mb_per_s": 12.5, "tables": 4, "rows": 605, "indexes_checked": 173, "message": "restored ...; amcheck: 173 btree indexes intact"}
    res = restore_test.to_check("logical", item, Threshold(None, None)).as_dict()
    assert res["check"] == "restore.logical:appdb" and res["status"] == OK and res["value"] == 3.4 and res["unit"] == "s"
    assert res["details"]["mb_per_s"] == 12.5 and res["details"]["indexes_checked"] == 173
    assert "message" not in res["details"] and "status" not in res["details"]


def test_failed_restore_is_crit_with_the_tools_message():
    item = {"kind": "physical", "id": "20261126-114741F", "status": "failed", "duration_s": 1.2, "removed": True,
            "message": "restore test of set 20261126-114741F: pgbackrest restore exited 26: ERROR: [026]: ... does not match expected checksum"}
    res = restore_test.to_check("physical", item, Threshold(None, None)).as_dict()
    assert res["check"] == "restore.physical:20261126-114741F" and res["status"] == CRIT
    assert "does not match expected checksum" in res["message"] and res["details"]["removed"] is True


def test_duration_levels():
    item = {"id": "x", "target": "appdb", "status": "ok", "duration_s": 120.0, "message": "restored"}
    warn = restore_test.to_check("logical", item, Threshold(60, 600)).as_dict()
    assert warn["status"] == WARN and warn["warn"] == 60 and "took 120.0 s (level 60 s)" in warn["message"]
    crit = restore_test.to_check("logical", item, Threshold(10, 100)).as_dict()
    assert crit["status"] == CRIT and "level 100 s" in crit["message"]

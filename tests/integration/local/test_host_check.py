"""opsbook.stack.host_check through ansible-playbook on localhost: checks, bad options, disk growth history."""

from __future__ import annotations

import json
import os
import stat

from helpers import local_play_results

from ansible_collections.opsbook.stack.plugins.module_utils._checks import CHECK_ID_RE


# ------------------------------------------------------------------ end to end through ansible

PLAY = """\
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - opsbook.stack.host_check:
        cpu_sample_seconds: 0.2
        units: [{{name: dbus}}]
        mounts: ['{tmp}']
      register: r
    - opsbook.stack.host_check:
        checks: [cpu, gpu]
      ignore_errors: true
    - opsbook.stack.host_check:
        thresholds: {{disk_pct: {{warn: 99, crit: 90}}}}
      ignore_errors: true
    - opsbook.stack.host_check:
        units: [{{name: 'postgresql@*'}}]
      ignore_errors: true
"""


def test_module_end_to_end_via_ansible(tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY.format(tmp=tmp_path))
    results = local_play_results(playbook, cwd=tmp_path)
    out = results[0]
    assert out["changed"] is False
    ids = [item["check"] for item in out["checks"]]
    assert ids == ["host.cpu", "host.load", "host.memory", f"host.disk:{tmp_path}", f"host.inodes:{tmp_path}", "host.unit:dbus", "host.clock"]
    for item in out["checks"]:
        assert CHECK_ID_RE.match(item["check"])
        assert set(item) == {"check", "status", "value", "warn", "crit", "unit", "message", "details"}
        assert item["status"] in ("ok", "warn", "crit", "unknown") and item["message"]
    summary = out["summary"]
    assert summary["total"] == len(ids) == sum(summary[key] for key in ("ok", "warn", "crit", "unknown"))
    if not os.path.exists("/run/systemd/system"):  # this control machine has no systemd
        assert out["checks"][5]["status"] in ("unknown", "crit")
    assert "unknown check name(s) 'gpu'" in results[1]["msg"]
    assert "threshold 'disk_pct': warn 99 is beyond crit 90" in results[2]["msg"]
    assert "glob characters" in results[3]["msg"]


GROWTH_PLAY = """\
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - opsbook.stack.host_check:
        checks: [disk_growth]
        mounts: ['{tmp}']
        history_file: '{tmp}/state/history.json'
      check_mode: true
    - opsbook.stack.host_check:
        checks: [disk_growth]
        mounts: ['{tmp}']
        history_file: '{tmp}/state/history.json'
    - opsbook.stack.host_check:
        checks: [disk_growth]
        growth_window_days: 0
      ignore_errors: true
"""


def test_disk_growth_history_via_ansible(tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(GROWTH_PLAY.format(tmp=tmp_path))
    history = tmp_path / "state" / "history.json"
    results = local_play_results(playbook, cwd=tmp_path)
    checked, real = results[0], results[1]
    assert checked["changed"] is True and real["changed"] is True
    assert [item["check"] for item in real["checks"]] == [f"host.disk_growth:{tmp_path}"]
    assert real["checks"][0]["status"] == "ok" and "first usage sample" in real["checks"][0]["message"]
    assert stat.S_IMODE(history.stat().st_mode) == 0o600 and stat.S_IMODE(history.parent.stat().st_mode) == 0o700
    saved = json.loads(history.read_text())["filesystems"][str(tmp_path)]
    assert len(saved) == 1  # the check-mode run wrote nothing
    assert "growth_window_days must be more than 0" in results[2]["msg"]

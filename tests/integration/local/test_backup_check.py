"""opsbook.stack.backup_check through ansible-playbook on localhost: records, manifests and bad options end to end."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from helpers import local_play_results
from helpers.backups import iso, make_artifact, record, write_records

from ansible_collections.opsbook.stack.plugins.module_utils._checks import CHECK_ID_RE

UTC = datetime.timezone.utc


# ------------------------------------------------------------------ end to end through ansible

PLAY = """\
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - opsbook.stack.backup_check:
        backup_root: {root}
        pgbackrest: false
        schedules:
          - kind: logical
            target: appdb
          - kind: config
          - kind: redis
    - opsbook.stack.backup_check:
        backup_root: {root}
        pgbackrest: false
        thresholds:
          shrink_pct: {{warn: 60, crit: 50}}
      ignore_errors: true
    - opsbook.stack.backup_check:
        backup_root: {root}
        pgbackrest: false
        schedules: [{{kind: tape}}]
      ignore_errors: true
"""


def test_module_end_to_end_via_ansible(tmp_path):
    root = tmp_path / "backups"
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    items = []
    runs = (("logical", "appdb", 26, 9000), ("logical", "appdb", 2, 12683), ("config", None, 3, 33), ("redis", None, 1, 5))
    for kind, target, hours, size in runs:
        start = now - datetime.timedelta(hours=hours)
        stamp = start.strftime("%Y%m%dT%H%M%SZ")
        directory = root / kind / (target or "") / stamp if target else root / kind / stamp
        files = {"toc.dat": b"t" * 338, "3456.dat.zst": b"z" * 12345} if kind == "logical" else {"f.conf": b"c" * 33}
        make_artifact(directory, files)
        item = record(kind, 0, target=target, size=size, path=str(directory))
        item.update(id=f"{stamp}-{kind}{'-' + target if target else ''}", start=iso(start),
                    end=iso(start + datetime.timedelta(seconds=9)))
        items.append(item)
    write_records(root, items)
    (root / "records" / "garbage.json").write_text("{not json")
    newest_logical = Path(items[1]["path"])
    data = bytearray((newest_logical / "toc.dat").read_bytes())
    data[0] ^= 0xFF
    (newest_logical / "toc.dat").write_bytes(bytes(data))
    (newest_logical / "3456.dat.zst").write_bytes(b"")
    (Path(items[3]["path"]) / "manifest.json").unlink()

    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY.format(root=root))
    results = local_play_results(playbook, cwd=tmp_path)
    out = results[0]
    assert out["changed"] is False and not out.get("failed")
    by_id = {item["check"]: item for item in out["checks"]}
    assert list(by_id) == [
        "backup.records",
        "backup.age:logical.appdb", "backup.last_run:logical.appdb", "backup.size:logical.appdb", "backup.checksums:logical.appdb",
        "backup.age:config", "backup.last_run:config", "backup.size:config", "backup.checksums:config",
        "backup.age:redis", "backup.last_run:redis", "backup.size:redis", "backup.checksums:redis",
        "backup.space", "backup.space_days",
    ]
    for item in out["checks"]:
        assert CHECK_ID_RE.match(item["check"])
        assert set(item) == {"check", "status", "value", "warn", "crit", "unit", "message", "details"}
    assert by_id["backup.records"]["status"] == "warn" and "records/garbage.json: invalid JSON" in by_id["backup.records"]["message"]
    assert by_id["backup.age:logical.appdb"]["status"] == "ok" and by_id["backup.age:logical.appdb"]["value"] == pytest.approx(2, abs=0.1)
    assert by_id["backup.size:logical.appdb"]["status"] == "ok" and "larger" in by_id["backup.size:logical.appdb"]["message"]
    checksums = by_id["backup.checksums:logical.appdb"]
    assert checksums["status"] == "crit"
    assert "toc.dat: sha256 mismatch; 3456.dat.zst: size 0 != 12345" in checksums["message"]
    assert by_id["backup.checksums:config"]["status"] == "ok"
    assert by_id["backup.checksums:redis"]["status"] == "crit" and "manifest.json is missing" in by_id["backup.checksums:redis"]["message"]
    assert by_id["backup.size:redis"]["message"].startswith("first redis backup")
    assert out["summary"]["crit"] == 2 and out["summary"]["worst"] == "crit"
    assert "threshold 'shrink_pct': warn 60 is beyond crit 50" in results[1]["msg"]
    bad_kind = results[2]["msg"]
    assert "kind" in bad_kind and "tape" in bad_kind

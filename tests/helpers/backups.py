"""Backup roots as opsbook-backup leaves them, for the backup_check and backup_rotate tests."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from pathlib import Path
from typing import Any

UTC = datetime.timezone.utc
# The fixed "now" of the backup tests.
NOW = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
NOW_ISO = "2026-11-26T12:00:00Z"


def stamp(moment: datetime.datetime) -> str:
    """The ``YYYYmmddTHHMMSSZ`` stamp of a backup directory and record id."""
    return moment.strftime("%Y%m%dT%H%M%SZ")


def iso(moment: datetime.datetime) -> str:
    """The ``YYYY-mm-ddTHH:MM:SSZ`` form of a record's times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def at(hours_ago: float) -> str:
    """``iso`` of NOW minus the given hours."""
    return iso(NOW - datetime.timedelta(hours=hours_ago))


def record(kind: str, ended_hours_ago: float, status: str = "ok", *, target: str | None = None, size: int | None = 1000,
           path: str | None = None, message: str = "", pid: int | None = None, duration_h: float = 0.1) -> dict[str, Any]:
    """An outcome record of a backup that ended the given hours before NOW."""
    start = NOW - datetime.timedelta(hours=ended_hours_ago + duration_h)
    rid = f"{stamp(start)}-{kind}{'-' + target if target else ''}"
    return {
        "schema": 1, "id": rid, "host": "db1", "kind": kind, "target": target, "status": status, "pid": pid,
        "trigger": "timer", "start": iso(start), "end": None if status == "running" else at(ended_hours_ago),
        "duration_s": duration_h * 3600, "size_bytes": size, "path": path,
        "checksum_status": "verified" if status == "ok" else "not_applicable", "verified_at": None,
        "message": message, "pgbackrest": None, "details": {},
    }


def write_records(root: Path, items: list[dict[str, Any]]) -> None:
    """The records under ``<root>/records``."""
    (root / "records").mkdir(parents=True, exist_ok=True)
    for item in items:
        (root / "records" / f"{item['id']}.json").write_text(json.dumps(item))


def make_artifact(directory: Path, files: dict[str, bytes]) -> dict[str, Any]:
    """A backup directory with the given files and the manifest.json that lists them; returns the manifest."""
    directory.mkdir(parents=True)
    entries = []
    for name, content in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(content)
        entries.append({"path": name, "size": len(content), "sha256": hashlib.sha256(content).hexdigest()})
    manifest = {"schema": 1, "id": directory.name, "kind": "logical", "files": entries,
                "total_size": sum(len(c) for c in files.values()), "missing": []}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def make_backup(root: Path, kind: str, moment: datetime.datetime, target: str | None = None, *, record: bool = True,
                manifest: bool = True, status: str = "ok", checksum: str = "verified", pid: int | None = None) -> str:
    """One backup directory (+ record, + manifest) as opsbook-backup leaves it; returns its id."""
    name = stamp(moment)
    ident = f"{name}-{kind}" + (f"-{target}" if target else "")
    directory = root / kind / target / name if target else root / kind / name
    directory.mkdir(parents=True)
    (directory / "toc.dat").write_bytes(b"x" * 64)
    sub = directory / "etc" / "redis"
    sub.mkdir(parents=True)
    (sub / "redis.conf").write_text("port 6379\n")
    if manifest:
        (directory / "manifest.json").write_text(json.dumps({"schema": 1, "id": ident, "kind": kind, "target": target}))
    if record:
        records = root / "records"
        records.mkdir(exist_ok=True)
        (records / f"{ident}.json").write_text(json.dumps({
            "schema": 1, "id": ident, "kind": kind, "target": target, "status": status, "pid": pid,
            "start": iso(moment), "path": str(directory), "checksum_status": checksum,
            "pgbackrest": None, "message": "",
        }))
    return ident


def rotation_layout(tmp_path: Path) -> dict[str, Any]:
    """A backup root with 40 days of logical dumps of appdb, 20 of otherdb, redis and config snapshots, odd entries."""
    root = tmp_path / "backups"
    root.mkdir()
    outside = tmp_path / "outside"
    ids: dict[str, list[str]] = {"appdb": [], "otherdb": [], "redis": [], "config": []}
    for day in range(40):
        moment = NOW - datetime.timedelta(days=day, hours=9)  # 03:00 UTC
        ids["appdb"].append(make_backup(root, "logical", moment, "appdb"))
        if day < 20:
            ids["otherdb"].append(make_backup(root, "logical", moment + datetime.timedelta(minutes=5), "otherdb"))
        ids["redis"].append(make_backup(root, "redis", moment + datetime.timedelta(minutes=10)))
        if day % 5 == 0:
            ids["config"].append(make_backup(root, "config", moment + datetime.timedelta(minutes=15)))
    # the two newest appdb dumps are not verified yet: the third newest is the protected one
    for ident in ids["appdb"][:2]:
        rec = root / "records" / f"{ident}.json"
        rec.write_text(json.dumps(dict(json.loads(rec.read_text()), checksum_status="pending")))
    # a failed dump whose directory stayed (no manifest), an old manifest-only dump (no record)
    failed = make_backup(root, "logical", NOW - datetime.timedelta(days=30, hours=1), "appdb", manifest=False, status="failed",
                         checksum="failed")
    manifest_only = make_backup(root, "logical", NOW - datetime.timedelta(days=33, hours=2), "appdb", record=False)
    # a dump still being written by a live process
    running = make_backup(root, "logical", NOW - datetime.timedelta(days=35, hours=3), "appdb", manifest=False,
                          status="running", checksum="pending", pid=os.getpid())
    # odd entries: never removed
    (root / "logical" / "appdb" / "not-a-stamp").mkdir()
    (root / "logical" / "appdb" / stamp(NOW - datetime.timedelta(days=39, hours=5))).mkdir()  # no record, no manifest
    (root / "redis" / "stray.rdb").write_text("x")
    outside_backup = outside / stamp(NOW - datetime.timedelta(days=50))
    outside_backup.mkdir(parents=True)
    (outside_backup / "manifest.json").write_text("{}")
    (outside_backup / "precious").write_text("do not delete")
    (root / "redis" / stamp(NOW - datetime.timedelta(days=50))).symlink_to(outside_backup, target_is_directory=True)
    (root / "logical" / "evil").symlink_to(outside, target_is_directory=True)
    return {"root": root, "outside": outside, "ids": ids, "failed": failed, "manifest_only": manifest_only,
            "running": running}


def tree(root: Path) -> set[str]:
    """Every path below root, relative to it."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}

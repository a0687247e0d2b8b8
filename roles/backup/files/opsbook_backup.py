# Managed by Ansible (role opsbook.stack.backup).
# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""opsbook-backup: take, record, verify, list and restore-test backups on this host.

Interface: docs of the backup role (backup-spec). Kinds full/incr/diff run
pgBackRest, logical runs pg_dump (directory format) per database, redis copies
an RDB snapshot, config copies configuration files. Every run writes an outcome
record under ``{backup_root}/records`` (``running`` first, the final status
last, both atomically); logical/redis/config artifacts get a ``manifest.json``
written last, so a directory without one is incomplete by definition.

Exit codes of ``run``: 0 all ok or skipped, 1 a backup failed, 2 bad usage or
config (nothing written), 3 the lock was not obtained within --wait.

Python 3.11+ stdlib; python3-psycopg (logical) and python3-redis (redis) are
imported only where needed. Timestamps, sizes, atomic writes and the
PostgreSQL / Redis sessions come from the modules it shares with the
collection's plugins (plugins/module_utils/_timestamps.py, _sizes.py,
_atomic.py, _pg.py, _redis.py): the backup role installs them into
``<prefix>/lib/opsbook`` for ``<prefix>/sbin/opsbook-backup``; run from a
checkout of the collection, the tool takes them from plugins/module_utils.
"""

from __future__ import annotations

import argparse
import configparser
import datetime as dt
import errno
import fcntl
import glob
import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _shared_modules_dir() -> str | None:
    """Where the modules shared with the collection are: installed next to the tool, or in a checkout."""
    here = Path(__file__).resolve().parent
    # <prefix>/sbin -> <prefix>/lib/opsbook; roles/backup/files -> plugins/module_utils of the collection.
    for candidate in (here.parent / "lib" / "opsbook", here / ".." / ".." / ".." / "plugins" / "module_utils"):
        if (candidate / "_timestamps.py").is_file():
            return str(candidate)
    return None


_SHARED = _shared_modules_dir()
if _SHARED and _SHARED not in sys.path:
    sys.path.insert(0, _SHARED)

# pylint: disable=wrong-import-position
try:
    from _atomic import atomic_write, fsync_dir, temp_prefix  # noqa: E402
    from _sizes import human_bytes  # noqa: E402
    from _timestamps import format_compact, format_utc, parse_utc, utc_now  # noqa: E402
except ImportError as _missing:
    sys.exit(f"opsbook-backup: {_missing}: the modules it shares with the collection are not in "
             f"{Path(__file__).resolve().parent.parent / 'lib' / 'opsbook'}; apply the opsbook.stack.backup role")
# pylint: enable=wrong-import-position

PROG = "opsbook-backup"
DEFAULT_CONFIG = "/etc/opsbook/backup.json"
DEFAULT_LOCK = "/run/lock/opsbook-backup.lock"
SCHEMA = 1
KINDS = ("full", "incr", "diff", "logical", "redis", "config")
PGBACKREST_KINDS = ("full", "incr", "diff")
PRIMARY_ONLY = ("full", "incr", "diff", "logical")
TRIGGERS = ("timer", "manual", "ansible")
MANIFEST = "manifest.json"
HASH_CHUNK = 1024 * 1024
STANZA_HINT = "run `pgbackrest stanza-upgrade` if the cluster was upgraded, else fix repo path/stanza"

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCK = 0, 1, 2, 3


class UsageError(Exception):
    """Bad usage or configuration: exit 2, nothing written."""


class LockBusy(Exception):
    """The lock was not obtained within --wait: exit 3."""


class BackupError(Exception):
    """A backup step failed; the text is the record's one-line message."""


class Skipped(Exception):
    """The backup does not apply here (standby)."""


class Interrupted(BaseException):
    """SIGTERM/SIGINT/SIGHUP during a run (BaseException: not swallowed by except Exception)."""


@dataclass
class CommandError(Exception):
    """A command exited non-zero; ``output`` is what it printed."""

    program: str
    returncode: int
    output: str

    def __str__(self) -> str:
        return f"{self.program} exited {self.returncode}: {pick_error_line(self.output)}"


# ---------------------------------------------------------------------------
# Pure helpers: stamps, ids, messages, manifests, records (no I/O here)
# ---------------------------------------------------------------------------


def record_id(stamp: str, kind: str, target: str | None = None) -> str:
    """``<stamp>-<kind>[-<target>]``."""
    return f"{stamp}-{kind}-{target}" if target else f"{stamp}-{kind}"


def one_line(text: Any, limit: int = 400) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


_ERROR_LINE = re.compile(r"(ERROR|FATAL|PANIC|error:|fatal:|No space left|Permission denied)", re.I)


_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? P\d+\s+")  # pgBackRest log timestamp/process


def pick_error_line(output: str) -> str:
    """The most telling line of a program's output: the first error line, else the last line."""
    lines = [_LOG_PREFIX.sub("", ln.strip()) for ln in str(output).splitlines() if ln.strip()]
    if not lines:
        return "(no output)"
    for ln in lines:
        if _ERROR_LINE.search(ln):
            return one_line(ln)
    return one_line(lines[-1])


def is_no_space(text: str) -> bool:
    return "no space left on device" in text.lower() or "[28]" in text and "space" in text.lower()


_STANZA_MISMATCH = re.compile(
    r"(do(es)? not match|mismatch)[^\n]*(stanza|database|system[- ]id|version)|"
    r"(stanza|system[- ]id|database)[^\n]*(do(es)? not match|mismatch)|\[028\]|\[044\]|\[051\]",
    re.I,
)


def is_stanza_mismatch(text: str) -> bool:
    return bool(_STANZA_MISMATCH.search(text))


def is_write_error(text: str) -> bool:
    return "unable to write" in text or "FileWriteError" in text or "[064]" in text and "write" in text


def nearly_full(free: int, total: int) -> bool:
    """Less than 2 % or 16 MiB free: a write error there is most likely ENOSPC."""
    return free < 16 * 1024 * 1024 or (total > 0 and free < total * 0.02)


def space_message(mount: str, free_bytes: int | None) -> str:
    """The ENOSPC message: ``no space left on <fs> (<free> free)``."""
    return f"no space left on {mount} ({human_bytes(free_bytes)} free)"


def error_message(exc: BaseException, mount: str = "", free_bytes: int | None = None) -> str:
    """One line for a record's ``message`` from any failure.

    ``mount``/``free_bytes`` describe the backup filesystem (for ENOSPC).
    """
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return space_message(mount or (exc.filename or "?"), free_bytes)
    text = str(exc)
    if isinstance(exc, CommandError):
        text = exc.output
        if is_no_space(text):
            line = pick_error_line(text)
            return f"{space_message(mount or '?', free_bytes)}; {line if line.startswith(exc.program + ':') else exc.program + ': ' + line}"
        line = pick_error_line(text)
        if exc.program == "pgbackrest" and is_stanza_mismatch(text):
            return f"pgbackrest: {line}; {STANZA_HINT}"
        if exc.program == "pgbackrest" and "permission denied" in text.lower():
            return f"pgbackrest: {line}; the repository must be writable by postgres"
        return line if line.startswith(f"{exc.program}:") else f"{exc.program}: {line}"
    if isinstance(exc, BackupError):
        if is_no_space(text):
            return f"{space_message(mount or '?', free_bytes)}; {one_line(text)}"
        return one_line(text)
    if isinstance(exc, Interrupted):
        return one_line(text or "interrupted")
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return one_line(f"{exc.strerror or exc}{where}")
    return one_line(f"{type(exc).__name__}: {text}")


def effective_status(record: Mapping[str, Any], pid_alive: bool) -> tuple[str, str | None]:
    """(status, message) as readers must see it: ``running`` with a dead pid is failed (interrupted)."""
    status = str(record.get("status", "failed"))
    if status == "running" and not pid_alive:
        return "failed", f"interrupted (pid {record.get('pid')} is gone; the run died)"
    return status, record.get("message")


def new_record(rid: str, kind: str, target: str | None, trigger: str, start: dt.datetime, host: str, pid: int, path: str | None) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "id": rid,
        "host": host,
        "kind": kind,
        "target": target,
        "status": "running",
        "pid": pid,
        "trigger": trigger,
        "start": format_utc(start),
        "end": None,
        "duration_s": None,
        "size_bytes": None,
        "path": path,
        "checksum_status": "pending",
        "verified_at": None,
        "message": "running",
        "pgbackrest": None,
        "details": {},
    }


def finish_record(record: Mapping[str, Any], status: str, end: dt.datetime, message: str, **fields: Any) -> dict[str, Any]:
    """The final record: status, end, duration; ``fields`` override the rest."""
    out = dict(record)
    start = parse_utc(str(record["start"]), "record start")
    out.update(status=status, end=format_utc(end), duration_s=round(max((end - start).total_seconds(), 0.0), 1), message=one_line(message))
    if status in ("failed", "skipped") and out.get("checksum_status") == "pending":
        out["checksum_status"] = "not_applicable"
    out.update(fields)
    return out


def lock_holder_text(holder: Mapping[str, Any] | None) -> str:
    if not holder:
        return "an unknown process (no holder file)"
    what = " ".join(str(holder[k]) for k in ("kind", "target") if holder.get(k))
    return f"pid {holder.get('pid', '?')} ({what or 'backup'} since {holder.get('start', '?')})"


def lock_refusal(holder: Mapping[str, Any] | None, waited: float, lock_path: str) -> str:
    return f"another backup holds {lock_path}: {lock_holder_text(holder)}; not started after waiting {int(waited)} s (use --wait SECONDS to wait longer)"


def manifest_problems(expected: Sequence[Mapping[str, Any]], actual: Mapping[str, tuple[int, str] | None]) -> list[str]:
    """Compare manifest ``files`` with what is on disk: ``actual[path] = (size, sha256)`` or None if missing.

    One problem per file, naming it: ``toc.dat: sha256 mismatch``, ``3456.dat.zst: size 0 != 12345``.
    """
    problems: list[str] = []
    for entry in expected:
        path = str(entry["path"])
        got = actual.get(path)
        if got is None:
            problems.append(f"{path}: missing")
            continue
        size, digest = got
        if size != entry.get("size"):
            problems.append(f"{path}: size {size} != {entry.get('size')}")
        elif digest != entry.get("sha256"):
            problems.append(f"{path}: sha256 mismatch")
    return problems


def count_problems(expected: Sequence[Mapping[str, Any]], actual: Mapping[tuple[str, str], int | None]) -> list[str]:
    """Compare manifest ``tables`` row counts with restored counts."""
    problems = []
    for table in expected:
        key = (str(table["schema"]), str(table["name"]))
        got = actual.get(key)
        if got is None:
            problems.append(f"{key[0]}.{key[1]}: missing after restore")
        elif got != table["rows"]:
            problems.append(f"{key[0]}.{key[1]}: {got} rows != {table['rows']}")
    return problems


def pg_major(version_output: str) -> int:
    """Major version from ``pg_dump --version`` / server_version text."""
    match = re.search(r"\(PostgreSQL\)\s*(\d+)", version_output) or re.search(r"(\d+)", version_output)
    if not match:
        raise BackupError(f"cannot read a PostgreSQL version from {version_output!r}")
    return int(match.group(1))


def pg_version(version_output: str) -> str:
    match = re.search(r"\)\s*([0-9][0-9.]*)", version_output) or re.search(r"([0-9]+\.[0-9.]+)", version_output)
    return match.group(1) if match else version_output.strip()


def pgbackrest_sets(info: Any, stanza: str) -> list[dict[str, Any]]:
    """The backup list of ``stanza`` from ``pgbackrest info --output json``."""
    for entry in info if isinstance(info, list) else []:
        if entry.get("name") == stanza:
            return list(entry.get("backup") or [])
    return []


def pgbackrest_status(info: Any, stanza: str) -> tuple[int, str]:
    for entry in info if isinstance(info, list) else []:
        if entry.get("name") == stanza:
            status = entry.get("status") or {}
            return int(status.get("code", 99)), str(status.get("message", ""))
    return 99, f"stanza {stanza} not in pgbackrest info"


def pick_new_set(before: Iterable[str], sets: Sequence[Mapping[str, Any]], backup_type: str) -> Mapping[str, Any] | None:
    """The backup set this run created: newest label of ``backup_type`` not present before."""
    old = set(before)
    fresh = [s for s in sets if s.get("label") not in old and s.get("type") == backup_type]
    return fresh[-1] if fresh else None


def pgbackrest_fields(entry: Mapping[str, Any], stanza: str) -> dict[str, Any]:
    info = entry.get("info") or {}
    repo = info.get("repository") or {}
    archive = entry.get("archive") or {}
    return {
        "label": entry.get("label"),
        "type": entry.get("type"),
        "prior": entry.get("prior"),
        "stanza": stanza,
        "repo_size": repo.get("delta", 0),
        "db_size": info.get("size", 0),
        "wal_start": archive.get("start") or "",
        "wal_stop": archive.get("stop") or "",
    }


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def build_manifest(base: Mapping[str, Any], files: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The manifest document: ``base`` fields, ``files`` sorted by path, ``total_size``."""
    doc = {"schema": SCHEMA, **base}
    doc["files"] = sorted((dict(f) for f in files), key=lambda f: f["path"])
    doc["total_size"] = sum(int(f["size"]) for f in doc["files"])
    doc.setdefault("missing", [])
    return doc


# ---------------------------------------------------------------------------
# Files: hashing, atomic writes, manifests on disk
# ---------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike[str], sync: bool = False) -> tuple[int, str]:
    """(size, sha256) of a file; ``sync`` also fsyncs it (works on a read-only descriptor on Linux)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
        if sync:
            os.fsync(handle.fileno())
    return size, digest.hexdigest()


def write_json_atomic(path: str | os.PathLike[str], doc: Any, mode: int = 0o640) -> None:
    """``doc`` as JSON (one-space indent) in ``path``, written atomically (see _atomic.atomic_write)."""
    atomic_write(path, json.dumps(doc, indent=1, sort_keys=False) + "\n", mode)


def read_json(path: str | os.PathLike[str]) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def artifact_files(directory: str | os.PathLike[str]) -> list[str]:
    """Regular files under ``directory`` (relative paths), manifest.json and temp files excluded."""
    root = Path(directory)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if rel == MANIFEST or (name.startswith(temp_prefix(MANIFEST)) and name.endswith(".tmp")):
                continue
            if full.is_symlink() or not full.is_file():
                continue
            out.append(rel)
    return out


def hash_files(directory: str | os.PathLike[str], paths: Iterable[str] | None = None, sync: bool = False) -> list[dict[str, Any]]:
    root = Path(directory)
    entries = []
    for rel in artifact_files(root) if paths is None else paths:
        size, digest = sha256_file(root / rel, sync=sync)
        entries.append({"path": rel, "size": size, "sha256": digest})
    return entries


def write_manifest(directory: str | os.PathLike[str], base: Mapping[str, Any], files: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Hash (and fsync) every file, then write manifest.json LAST (atomically)."""
    if files is None:
        files = hash_files(directory, sync=True)
    doc = build_manifest(base, files)
    fsync_dir(directory)
    write_json_atomic(Path(directory) / MANIFEST, doc, mode=0o640)
    return doc


def verify_manifest(directory: str | os.PathLike[str]) -> tuple[dict[str, Any] | None, list[str]]:
    """Re-read manifest.json and recompute every file: (manifest, problems naming files)."""
    root = Path(directory)
    try:
        manifest = read_json(root / MANIFEST)
    except FileNotFoundError:
        return None, [f"{root / MANIFEST}: missing (incomplete backup)"]
    except (OSError, ValueError) as exc:
        return None, [f"{root / MANIFEST}: unreadable ({one_line(exc)})"]
    actual: dict[str, tuple[int, str] | None] = {}
    for entry in manifest.get("files", []):
        path = root / str(entry["path"])
        try:
            actual[str(entry["path"])] = sha256_file(path)
        except FileNotFoundError:
            actual[str(entry["path"])] = None
    return manifest, manifest_problems(manifest.get("files", []), actual)


# ---------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------

DEFAULTS: dict[str, Any] = {
    "backup_root": "/var/backups/opsbook",
    "lock_wait_seconds": 3600,
    "lock_path": DEFAULT_LOCK,
    "scratch_dir": "/var/tmp",
    "pgbackrest": {"enabled": False, "stanza": "main", "config": "/etc/pgbackrest/pgbackrest.conf"},
    "postgresql": {"enabled": False, "port": 5432, "version": "", "bindir": ""},
    "logical_databases": [],
    "logical_jobs": 2,
    "logical_compress_level": 3,
    "redis": {
        "enabled": False,
        "host": "127.0.0.1",
        "port": 6379,
        "user": "opsbook-backup",
        "password_file": "",
        "rdb_path": "/var/lib/redis/dump.rdb",
        "timeout": 600,
    },
    "config_paths": [],
    "restore_test": {"port": 5499, "dir": "/var/lib/opsbook/restore-test", "space_path": "", "timeout": 3600},
}


def validate_config(raw: Any, source: str) -> dict[str, Any]:
    """Merge defaults and check types; UsageError names the key and the fix."""
    fix = f"fix {source} (written by the backup role)"
    if not isinstance(raw, dict):
        raise UsageError(f"{source}: must hold a JSON object; {fix}")
    cfg: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        value = raw.get(key, default)
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise UsageError(f"{source}: {key} must be an object, got {type(value).__name__}; {fix}")
            value = {**default, **value}
        cfg[key] = value

    def coerce(section: dict[str, Any], key: str) -> None:  # "2" / "true" from a templated file
        value = section.get(key)
        if isinstance(value, str) and re.fullmatch(r"\d+", value.strip()):
            section[key] = int(value)
        elif isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
            section[key] = value.strip().lower() in ("true", "yes")

    for key in ("lock_wait_seconds", "logical_jobs", "logical_compress_level"):
        coerce(cfg, key)
    for section, key in (
        ("postgresql", "port"),
        ("redis", "port"),
        ("redis", "timeout"),
        ("pgbackrest", "enabled"),
        ("postgresql", "enabled"),
        ("redis", "enabled"),
        ("restore_test", "port"),
        ("restore_test", "timeout"),
    ):
        coerce(cfg[section], key)

    def need(cond: bool, key: str, what: str, value: Any) -> None:
        if not cond:
            raise UsageError(f"{source}: {key} must be {what}, got {value!r}; {fix}")

    def is_int(value: Any, low: int, high: int | None = None) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)

    need(isinstance(cfg["backup_root"], str) and cfg["backup_root"].startswith("/"), "backup_root", "an absolute path", cfg["backup_root"])
    need(is_int(cfg["lock_wait_seconds"], 0), "lock_wait_seconds", "an integer >= 0", cfg["lock_wait_seconds"])
    need(isinstance(cfg["lock_path"], str) and cfg["lock_path"].startswith("/"), "lock_path", "an absolute path", cfg["lock_path"])
    need(
        isinstance(cfg["logical_databases"], list) and all(isinstance(d, str) and d for d in cfg["logical_databases"]),
        "logical_databases",
        "a list of database names",
        cfg["logical_databases"],
    )
    need(is_int(cfg["logical_jobs"], 1, 64), "logical_jobs", "an integer 1..64", cfg["logical_jobs"])
    need(is_int(cfg["logical_compress_level"], 1, 19), "logical_compress_level", "an integer 1..19", cfg["logical_compress_level"])
    need(is_int(cfg["postgresql"]["port"], 1, 65535), "postgresql.port", "a port number", cfg["postgresql"]["port"])
    need(isinstance(cfg["pgbackrest"]["stanza"], str) and bool(cfg["pgbackrest"]["stanza"]), "pgbackrest.stanza", "a stanza name", cfg["pgbackrest"]["stanza"])
    need(is_int(cfg["redis"]["port"], 1, 65535), "redis.port", "a port number", cfg["redis"]["port"])
    need(is_int(cfg["redis"]["timeout"], 1), "redis.timeout", "an integer >= 1 (seconds)", cfg["redis"]["timeout"])
    rt = cfg["restore_test"]
    need(is_int(rt["port"], 1, 65535), "restore_test.port", "a port number", rt["port"])
    need(isinstance(rt["dir"], str) and rt["dir"].startswith("/") and rt["dir"] != "/", "restore_test.dir", "an absolute path below /", rt["dir"])
    space_path = rt["space_path"]
    need(isinstance(space_path, str) and (not space_path or space_path.startswith("/")), "restore_test.space_path", "empty or an absolute path", space_path)
    need(is_int(rt["timeout"], 1), "restore_test.timeout", "an integer >= 1 (seconds)", rt["timeout"])
    paths = cfg["config_paths"]
    need(isinstance(paths, list) and all(isinstance(p, str) and p.startswith("/") for p in paths), "config_paths", "a list of absolute paths", paths)
    return cfg


def load_config(path: str) -> dict[str, Any]:
    try:
        raw = read_json(path)
    except FileNotFoundError:
        raise UsageError(f"config {path} does not exist; run the backup role (it writes it) or pass --config") from None
    except PermissionError:
        raise UsageError(f"config {path} is not readable; run as root") from None
    except ValueError as exc:
        raise UsageError(f"config {path} is not valid JSON ({one_line(exc)}); fix the file or re-run the backup role") from None
    return validate_config(raw, path)


def check_backup_root(root: str) -> None:
    """backup_root exists, is a directory and is writable (os.access and a probe file)."""
    fix = "fix its mode or set backup_root"
    if not os.path.lexists(root):
        raise UsageError(f"backup location {root} does not exist; create it (the backup role does) or set backup_root")
    if not os.path.isdir(root):
        raise UsageError(f"backup location {root} is not a directory; {fix}")
    who = pwd.getpwuid(os.geteuid()).pw_name
    if not os.access(root, os.W_OK | os.X_OK):
        raise UsageError(f"backup location {root} is not writable by {who}; {fix}")
    probe = os.path.join(root, f".opsbook-backup-probe-{os.getpid()}")
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"backup location {root} is not writable by {who} ({exc.strerror}); {fix}") from None


def check_kind_enabled(cfg: Mapping[str, Any], kind: str, source: str) -> None:
    if kind in PGBACKREST_KINDS and not cfg["pgbackrest"].get("enabled"):
        raise UsageError(f"{kind}: pgBackRest is not enabled in {source}; enable it in the backup role (backup_postgresql_enabled)")
    if kind == "logical" and not cfg["postgresql"].get("enabled"):
        raise UsageError(f"logical: postgresql is not enabled in {source}; enable it in the backup role")
    if kind == "redis" and not cfg["redis"].get("enabled"):
        raise UsageError(f"redis: Redis backups are not enabled in {source}; enable them in the backup role")


# ---------------------------------------------------------------------------
# Lock
# ---------------------------------------------------------------------------


def holder_path(lock_path: str) -> str:
    base = lock_path[: -len(".lock")] if lock_path.endswith(".lock") else lock_path
    return base + ".json"


def read_holder(lock_path: str) -> dict[str, Any] | None:
    try:
        doc = read_json(holder_path(lock_path))
        return doc if isinstance(doc, dict) else None
    except (OSError, ValueError):
        return None


class BackupLock:
    """fcntl.flock on ``lock_path`` for the whole run; the holder is described in a JSON file next to it."""

    def __init__(self, lock_path: str) -> None:
        self.lock_path = lock_path
        self.fd: int | None = None

    def acquire(self, wait: float, kind: str, target: str | None, on_wait: Callable[[str], None] | None = None) -> None:
        os.makedirs(os.path.dirname(self.lock_path), exist_ok=True)
        self.fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        started = time.monotonic()
        told = False
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= wait:
                    os.close(self.fd)
                    self.fd = None
                    raise LockBusy(lock_refusal(read_holder(self.lock_path), waited, self.lock_path)) from None
                if not told and on_wait:
                    on_wait(f"waiting up to {int(wait)} s for the lock held by {lock_holder_text(read_holder(self.lock_path))}")
                    told = True
                time.sleep(min(1.0, max(wait - waited, 0.05)))
        holder = {"pid": os.getpid(), "kind": kind, "target": target, "start": format_utc(utc_now())}
        write_json_atomic(holder_path(self.lock_path), holder, mode=0o644)

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(holder_path(self.lock_path))
        except OSError:
            pass
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None


# ---------------------------------------------------------------------------
# System helpers
# ---------------------------------------------------------------------------


def pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mount_point(path: str) -> str:
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def free_bytes(path: str) -> int | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def as_postgres(*argv: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv]


def run_cmd(argv: Sequence[str], program: str, timeout: float | None = None, env: Mapping[str, str] | None = None) -> str:
    """Run a command (cwd /), return stdout+stderr; CommandError if it fails."""
    try:
        proc = subprocess.run(
            list(argv), cwd="/", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, env=dict(env) if env else None, check=False
        )
    except FileNotFoundError as exc:
        raise BackupError(f"{program}: command not found ({exc.filename}); install it") from None
    except subprocess.TimeoutExpired:
        raise BackupError(f"{program}: no answer within {int(timeout or 0)} s") from None
    if proc.returncode != 0:
        raise CommandError(program, proc.returncode, proc.stdout)
    return proc.stdout


def chown_name(path: str | os.PathLike[str], user: str, group: str | None = None) -> None:
    pw = pwd.getpwnam(user)
    gid = grp.getgrnam(group).gr_gid if group else pw.pw_gid
    os.chown(path, pw.pw_uid, gid)


def ensure_dir(path: str | os.PathLike[str], mode: int, user: str = "root", group: str | None = None) -> None:
    os.makedirs(path, mode=mode, exist_ok=True)
    os.chmod(path, mode)
    chown_name(path, user, group or ("root" if user == "root" else None))


def make_private_dirs(base: Path, rel: Path) -> Path:
    """Create ``base/rel`` one component at a time, each new directory 0700 (pathlib's parents=True would use the umask)."""
    path = base
    for part in rel.parts:
        path = path / part
        if not path.is_dir():
            os.mkdir(path, 0o700)
    return path


def make_artifact_dir(path: Path, mode: int, user: str = "root") -> None:
    """Create the artifact directory exclusively (so a cleanup only ever removes our own)."""
    os.mkdir(path, mode)
    os.chmod(path, mode)
    chown_name(path, user)


def remove_partial(path: Path | None) -> None:
    if path is not None and path.exists():
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------
# The run context and records on disk
# ---------------------------------------------------------------------------


@dataclass
class Context:
    cfg: dict[str, Any]
    config_path: str
    trigger: str = "manual"
    host: str = field(default_factory=socket.gethostname)
    say: Callable[[str], None] = lambda msg: print(f"{PROG}: {msg}", file=sys.stderr)

    @property
    def root(self) -> Path:
        return Path(self.cfg["backup_root"])

    @property
    def records_dir(self) -> Path:
        return self.root / "records"

    def pg_bin(self, name: str) -> str:
        bindir = self.cfg["postgresql"].get("bindir") or ""
        candidate = os.path.join(bindir, name) if bindir else ""
        return candidate if candidate and os.path.exists(candidate) else name

    @property
    def port(self) -> str:
        return str(self.cfg["postgresql"]["port"])

    def pgbackrest(self, *args: str) -> list[str]:
        pgb = self.cfg["pgbackrest"]
        return as_postgres("pgbackrest", f"--config={pgb['config']}", f"--stanza={pgb['stanza']}", *args)


def save_record(ctx: Context, record: Mapping[str, Any]) -> None:
    ensure_dir(ctx.records_dir, 0o750)
    write_json_atomic(ctx.records_dir / f"{record['id']}.json", dict(record), mode=0o640)


def load_records(root: Path) -> list[dict[str, Any]]:
    """Every record, newest first, with the effective status (dead running -> failed, interrupted)."""
    out = []
    records_dir = root / "records"
    if not records_dir.is_dir():
        return out
    for path in records_dir.glob("*.json"):
        try:
            rec = read_json(path)
        except (OSError, ValueError):
            continue
        if not isinstance(rec, dict) or "id" not in rec:
            continue
        status, message = effective_status(rec, pid_alive(rec.get("pid")) if rec.get("host") in (None, socket.gethostname()) else True)
        if status != rec.get("status"):
            rec = {**rec, "status": status, "message": message, "interrupted": True}
        out.append(rec)
    out.sort(key=lambda r: (str(r.get("start") or ""), str(r["id"])), reverse=True)
    return out


def allocate_stamp(ctx: Context, kind: str, target: str | None) -> tuple[dt.datetime, str, str]:
    """A start time whose record id is not taken yet (two runs in one second wait a second)."""
    while True:
        start = utc_now().replace(microsecond=0)
        stamp = format_compact(start)
        rid = record_id(stamp, kind, target)
        if not (ctx.records_dir / f"{rid}.json").exists():
            return start, stamp, rid
        time.sleep(1.05 - utc_now().microsecond / 1e6)


# ---------------------------------------------------------------------------
# PostgreSQL helpers
# ---------------------------------------------------------------------------


def pg_in_recovery(ctx: Context) -> bool:
    try:
        out = run_cmd(
            as_postgres(ctx.pg_bin("psql"), "-X", "-A", "-t", "-p", ctx.port, "-d", "postgres", "-c", "SELECT pg_is_in_recovery()"), "psql", timeout=60
        )
    except CommandError as exc:
        raise BackupError(f"PostgreSQL: {pick_error_line(exc.output)}") from None
    return out.strip().splitlines()[-1].strip() == "t"


def psql_query(ctx: Context, db: str, sql: str, timeout: float | None = 600, host: str | None = None, port: int | str | None = None) -> list[list[str]]:
    """Rows of ``sql`` in ``db`` as postgres: the live cluster, or the one at socket directory ``host`` and ``port``."""
    where = ["-h", host] if host else []
    out = run_cmd(
        as_postgres(ctx.pg_bin("psql"), "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", *where, "-p", str(port or ctx.port), "-d", db, "-c", sql),
        "psql",
        timeout=timeout,
    )
    return [line.split("\t") for line in out.splitlines() if line]


# ---------------------------------------------------------------------------
# Kinds
# ---------------------------------------------------------------------------


@dataclass
class Outcome:
    size_bytes: int | None
    message: str
    checksum_status: str = "verified"
    path: str | None = None
    pgbackrest: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)


def pgbackrest_info(ctx: Context) -> Any:
    out = run_cmd(ctx.pgbackrest("--output=json", "info"), "pgbackrest", timeout=300)
    start = out.find("[")
    try:
        return json.loads(out[start:] if start >= 0 else out)
    except ValueError:
        raise BackupError(f"pgbackrest info: unreadable JSON ({pick_error_line(out)})") from None


def pgbackrest_repo_path(ctx: Context) -> str | None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(ctx.cfg["pgbackrest"]["config"])
    except (OSError, configparser.Error):
        return None
    if parser.has_section("global") and parser.get("global", "repo1-type", fallback="posix") == "posix":
        return parser.get("global", "repo1-path", fallback="/var/lib/pgbackrest")
    return None


def run_pgbackrest(ctx: Context, kind: str, stamp: str, record: dict[str, Any]) -> Outcome:
    stanza = ctx.cfg["pgbackrest"]["stanza"]
    before = [s.get("label") for s in pgbackrest_sets(pgbackrest_info(ctx), stanza)]
    try:
        output = run_cmd(ctx.pgbackrest("backup", f"--type={kind}"), "pgbackrest", timeout=None)
    except CommandError as exc:
        # pgBackRest reports a full repository as "unable to write" without the errno: look at the filesystem.
        repo = pgbackrest_repo_path(ctx) or str(ctx.root)
        where = repo if os.path.isdir(repo) else str(ctx.root)
        try:
            st = os.statvfs(where)
        except OSError:
            raise exc from None
        if not is_no_space(exc.output) and is_write_error(exc.output) and nearly_full(st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize):
            raise BackupError(f"{space_message(mount_point(where), st.f_bavail * st.f_frsize)}; pgbackrest: {pick_error_line(exc.output)}") from None
        raise
    info = pgbackrest_info(ctx)
    entry = pick_new_set(before, pgbackrest_sets(info, stanza), kind)
    if entry is None:
        raise BackupError(f"pgbackrest backup --type={kind} exited 0 but no new {kind} set is in pgbackrest info ({pick_error_line(output)})")
    fields = pgbackrest_fields(entry, stanza)
    repo = pgbackrest_repo_path(ctx)
    path = f"{repo}/backup/{stanza}/{fields['label']}" if repo else f"repo1:{fields['label']}"
    error_flag = bool(entry.get("error"))
    details = {
        "repo_size_total": ((entry.get("info") or {}).get("repository") or {}).get("size"),
        "db_delta": (entry.get("info") or {}).get("delta"),
        "timestamp": entry.get("timestamp"),
        "lsn": entry.get("lsn"),
    }
    msg = f"{kind} {fields['label']}: {human_bytes(fields['repo_size'])} in the repository (database {human_bytes(fields['db_size'])})"
    if error_flag:
        msg += "; pgBackRest flagged page checksum errors"
    return Outcome(fields["repo_size"], msg, "failed" if error_flag else "verified", path, fields, details)


def dump_compression(major: int, level: int) -> tuple[list[str], str, bool]:
    """(pg_dump options, manifest compression text, per-file zstd needed)."""
    if major >= 16:
        return [f"--compress=zstd:{level}"], f"zstd:{level} (pg_dump)", False
    return ["--compress=0"], f"zstd:{level} (per file)", True


class SnapshotHelper:
    """This script as postgres (``_snapshot``): holds a REPEATABLE READ snapshot, exports it, counts rows."""

    def __init__(self, ctx: Context, db: str) -> None:
        argv = as_postgres(sys.executable, "-I", os.path.realpath(__file__), "_snapshot", "--db", db, "--port", ctx.port)
        self.proc = subprocess.Popen(argv, cwd="/", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def read(self, key: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise BackupError(f"PostgreSQL: the snapshot session ended unexpectedly (exit {self.proc.returncode})")
        try:
            doc = json.loads(line)
        except ValueError:
            rest = line + self.proc.stdout.read()
            raise BackupError(f"snapshot helper: {pick_error_line(rest)}") from None
        if "error" in doc:
            raise BackupError(f"PostgreSQL: {doc['error']}")
        if key not in doc:
            raise BackupError(f"snapshot helper: unexpected answer {one_line(line)}")
        return doc

    def abort(self) -> None:
        """Stop the session now (a failed or interrupted dump): do not wait for a blocked count(*)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def snapshot_helper_main(db: str, port: int) -> int:
    """Runs as postgres. Prints {"snapshot"...}, then {"tables"...}, keeps the snapshot until stdin closes."""
    import _pg  # pylint: disable=import-outside-toplevel  # psycopg is loaded by this helper only

    if _pg.psycopg is None:
        print(json.dumps({"error": _pg.PSYCOPG_MISSING}), flush=True)
        return 1
    try:
        # A transaction (no autocommit) holds the exported snapshot until stdin closes.
        with _pg.connect({"login_port": port, "connect_timeout": 30}, db, PROG, autocommit=False) as conn:
            conn.isolation_level = _pg.psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            row = conn.execute(
                "SELECT pg_export_snapshot(), current_setting('server_version'), pg_is_in_recovery(), pg_database_size(current_database())"
            ).fetchone()
            assert row is not None
            print(json.dumps({"snapshot": row[0], "server_version": row[1].split()[0], "in_recovery": row[2], "database_size": row[3]}), flush=True)
            tables = conn.execute(
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' "
                "AND NOT c.relispartition ORDER BY 1, 2"
            ).fetchall()
            counts = []
            for schema, name in tables:
                query = _pg.sql.SQL("SELECT count(*) FROM {}.{}").format(_pg.sql.Identifier(schema), _pg.sql.Identifier(name))
                result = conn.execute(query).fetchone()
                counts.append({"schema": schema, "name": name, "rows": int(result[0]) if result else 0})
            print(json.dumps({"tables": counts}), flush=True)
            sys.stdin.read()
            conn.rollback()
    except _pg.psycopg.Error as exc:
        print(json.dumps({"error": one_line(_pg.error_text(exc))}), flush=True)
        return 1
    return 0


def run_logical(ctx: Context, db: str, stamp: str, record: dict[str, Any], artifact: list[Path]) -> Outcome:
    cfg = ctx.cfg
    jobs = int(cfg["logical_jobs"])
    level = int(cfg["logical_compress_level"])
    dump_version_text = run_cmd([ctx.pg_bin("pg_dump"), "--version"], "pg_dump").strip()
    major = pg_major(dump_version_text)
    options, compression, per_file = dump_compression(major, level)
    parent = ctx.root / "logical"
    ensure_dir(parent, 0o755)
    ensure_dir(parent / db, 0o700, "postgres")
    target = parent / db / stamp
    started = time.monotonic()
    helper = SnapshotHelper(ctx, db)
    try:
        snap = helper.read("snapshot")
        make_artifact_dir(target, 0o700, "postgres")
        artifact.append(target)
        argv = as_postgres(
            ctx.pg_bin("pg_dump"), "-p", ctx.port, "-d", db, "-Fd", "-j", str(jobs), f"--snapshot={snap['snapshot']}", *options, "-f", str(target)
        )
        with tempfile.TemporaryFile("w+") as errfile:
            dump = subprocess.Popen(argv, cwd="/", stdout=errfile, stderr=subprocess.STDOUT, text=True)
            try:
                tables = helper.read("tables")["tables"]
            except BaseException:
                dump.terminate()
                try:
                    dump.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    dump.kill()
                    dump.wait()
                raise
            rc = dump.wait()
            errfile.seek(0)
            dump_output = errfile.read()
        if rc != 0:
            raise CommandError("pg_dump", rc, dump_output)
    except BaseException:
        helper.abort()
        raise
    helper.close()
    if per_file:
        data_files = [str(target / p) for p in artifact_files(target) if re.fullmatch(r"\d+\.dat", p)]
        if data_files:
            run_cmd(as_postgres("zstd", "-q", "--rm", f"-{level}", f"-T{jobs}", *data_files), "zstd")
    base = {
        "id": record["id"],
        "kind": "logical",
        "target": db,
        "created": format_utc(utc_now()),
        "duration_s": round(time.monotonic() - started, 1),
        "host": ctx.host,
        "server_version": snap["server_version"],
        "pg_dump_version": pg_version(dump_version_text),
        "format": "directory",
        "compression": compression,
        "jobs": jobs,
        "snapshot": snap["snapshot"],
        "database_size": snap.get("database_size"),
        "tables": tables,
        "missing": [],
    }
    manifest = write_manifest(target, base)
    problems = verify_manifest(target)[1]
    if problems:
        raise BackupError(f"read-back check failed: {'; '.join(problems)}")
    rows = sum(t["rows"] for t in tables)
    msg = f"logical {db}: {len(tables)} tables, {rows} rows, {human_bytes(manifest['total_size'])} ({compression})"
    return Outcome(manifest["total_size"], msg, "verified", str(target), None, {"tables": len(tables), "rows": rows, "compression": compression})


def epoch(value: Any) -> int:
    """LASTSAVE as seconds (redis-py returns a datetime)."""
    return int(value.timestamp()) if hasattr(value, "timestamp") else int(value)


def run_redis(ctx: Context, stamp: str, record: dict[str, Any], artifact: list[Path]) -> Outcome:
    import _redis  # pylint: disable=import-outside-toplevel  # redis-py is loaded for redis backups only

    redis = _redis.redis
    if redis is None:
        raise BackupError(_redis.REDIS_MISSING)
    rcfg = ctx.cfg["redis"]
    password = None
    if rcfg.get("password_file"):
        try:
            password = Path(rcfg["password_file"]).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise BackupError(f"redis: cannot read password_file {rcfg['password_file']} ({exc.strerror})") from None
    started = time.monotonic()
    timeout = int(rcfg["timeout"])
    try:
        client = _redis.client(_redis.client_kwargs(rcfg["host"], int(rcfg["port"]), timeout=30, user=rcfg.get("user") or None, password=password))
        before = epoch(client.lastsave())
        while int(time.time()) <= before:  # LASTSAVE has one-second resolution
            time.sleep(0.2)
        try:
            client.bgsave()
        except redis.ResponseError as exc:
            if "in progress" not in str(exc).lower():
                raise
        deadline = time.monotonic() + timeout
        while True:
            now_save = epoch(client.lastsave())
            if now_save > before:
                break
            if time.monotonic() > deadline:
                raise BackupError(f"redis: BGSAVE did not finish within {timeout} s (LASTSAVE unchanged)")
            time.sleep(0.2)
        persistence = client.info("persistence")
        server = client.info("server")
    except redis.RedisError as exc:
        raise BackupError(f"redis: {one_line(exc)}") from None
    if persistence.get("rdb_last_bgsave_status") not in (None, "ok"):
        raise BackupError(f"redis: BGSAVE failed (rdb_last_bgsave_status={persistence.get('rdb_last_bgsave_status')}); see the Redis log")
    parent = ctx.root / "redis"
    ensure_dir(parent, 0o750)
    target = parent / stamp
    make_artifact_dir(target, 0o700)
    artifact.append(target)
    copy = target / "dump.rdb"
    copy_file_secure(Path(rcfg["rdb_path"]), copy, 0o600, 0, 0)
    check = run_cmd(["redis-check-rdb", str(copy)], "redis-check-rdb", timeout=3600)
    base = {
        "id": record["id"],
        "kind": "redis",
        "target": None,
        "created": format_utc(utc_now()),
        "duration_s": round(time.monotonic() - started, 1),
        "host": ctx.host,
        "redis_version": server.get("redis_version"),
        "source": rcfg["rdb_path"],
        "lastsave": now_save,
        "check": pick_error_line(check) if "ok" not in check.lower() else "redis-check-rdb: RDB looks OK",
        "missing": [],
    }
    manifest = write_manifest(target, base)
    problems = verify_manifest(target)[1]
    if problems:
        raise BackupError(f"read-back check failed: {'; '.join(problems)}")
    return Outcome(manifest["total_size"], f"redis: {human_bytes(manifest['total_size'])} RDB, redis-check-rdb ok", "verified", str(target))


def copy_file_secure(src: Path, dst: Path, mode: int, uid: int, gid: int) -> None:
    """Copy with the file created 0600 first (a secret is never readable by others), synced, then owner/mode set."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
        shutil.copyfileobj(inp, out, HASH_CHUNK)
        out.flush()
        os.fsync(out.fileno())
    os.chown(dst, uid, gid)
    os.chmod(dst, stat.S_IMODE(mode))
    st = os.stat(src)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def expand_config_paths(patterns: Iterable[str]) -> tuple[list[str], list[str]]:
    """(existing paths, missing patterns); globs expanded."""
    found: list[str] = []
    missing: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else ([pattern] if os.path.lexists(pattern) else [])
        if not matches:
            missing.append(pattern)
        for match in matches:
            if match not in found:
                found.append(match)
    return found, missing


def run_config(ctx: Context, stamp: str, record: dict[str, Any], artifact: list[Path]) -> Outcome:
    started = time.monotonic()
    parent = ctx.root / "config"
    ensure_dir(parent, 0o750)
    target = parent / stamp
    make_artifact_dir(target, 0o700)
    artifact.append(target)
    found, missing = expand_config_paths(ctx.cfg["config_paths"])
    entries: list[dict[str, Any]] = []
    skipped: list[str] = []
    dirs: list[tuple[Path, os.stat_result]] = []
    root_real = os.path.realpath(ctx.root)

    def copy_one(src: str) -> None:
        st = os.lstat(src)
        rel = src.lstrip("/")
        dst = target / rel
        make_private_dirs(target, Path(rel).parent)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), dst)
            os.lchown(dst, st.st_uid, st.st_gid)
            return
        if not stat.S_ISREG(st.st_mode):
            skipped.append(f"{src}: not a regular file")
            return
        copy_file_secure(Path(src), dst, st.st_mode, st.st_uid, st.st_gid)
        size, digest = sha256_file(dst, sync=False)
        entries.append(
            {"path": rel, "size": size, "sha256": digest, "mode": f"{stat.S_IMODE(st.st_mode):04o}", "uid": st.st_uid, "gid": st.st_gid, "source": src}
        )

    for path in found:
        if os.path.realpath(path).startswith(root_real + os.sep) or os.path.realpath(path) == root_real:
            skipped.append(f"{path}: inside backup_root")
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                dst_dir = make_private_dirs(target, Path(dirpath.lstrip("/")))
                dirs.append((dst_dir, os.stat(dirpath)))
                for name in dirnames:
                    if os.path.islink(os.path.join(dirpath, name)):
                        copy_one(os.path.join(dirpath, name))
                for name in sorted(filenames):
                    copy_one(os.path.join(dirpath, name))
        else:
            copy_one(path)
    for dst_dir, st in reversed(dirs):  # directory modes/owners last (a 0500 dir would block the copy)
        os.chown(dst_dir, st.st_uid, st.st_gid)
        os.chmod(dst_dir, stat.S_IMODE(st.st_mode))
    for entry in entries:
        fd = os.open(target / entry["path"], os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    base = {
        "id": record["id"],
        "kind": "config",
        "target": None,
        "created": format_utc(utc_now()),
        "duration_s": round(time.monotonic() - started, 1),
        "host": ctx.host,
        "sources": list(ctx.cfg["config_paths"]),
        "missing": missing,
        "skipped": skipped,
    }
    manifest = write_manifest(target, base, entries)
    problems = verify_manifest(target)[1]
    if problems:
        raise BackupError(f"read-back check failed: {'; '.join(problems)}")
    extra = f", missing: {', '.join(missing)}" if missing else ""
    return Outcome(
        manifest["total_size"],
        f"config: {len(entries)} files, {human_bytes(manifest['total_size'])}{extra}",
        "verified",
        str(target),
        details={"files": len(entries), "missing": missing, "skipped": skipped},
    )


class RecordSpace:
    """A small reserve file next to the records, freed before the final record is written.

    A backup that fills the filesystem must still be able to say so: the reserve
    guarantees room for the final record (tmp file + os.replace).
    """

    SIZE = 64 * 1024

    def __init__(self, records_dir: Path, rid: str) -> None:
        self.path = records_dir / f".{rid}.reserve"

    def take(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            try:
                os.posix_fallocate(fd, 0, self.SIZE)
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                os.write(fd, b"\0" * self.SIZE)
            os.fsync(fd)
        except OSError:
            os.close(fd)
            self.free()
            raise
        os.close(fd)

    def free(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class RecordWriteError(Exception):
    """The outcome record cannot be written (exit 1, message on stderr)."""


def run_one(ctx: Context, kind: str, target: str | None) -> dict[str, Any]:
    """One backup with its record: running first, then the final status. Never raises for backup failures."""
    start, stamp, rid = allocate_stamp(ctx, kind, target)
    if kind == "logical":
        planned: str | None = str(ctx.root / "logical" / str(target) / stamp)
    elif kind in ("redis", "config"):
        planned = str(ctx.root / kind / stamp)
    else:
        planned = None
    record = new_record(rid, kind, target, ctx.trigger, start, ctx.host, os.getpid(), planned)
    root = str(ctx.root)
    reserve = RecordSpace(ctx.records_dir, rid)
    try:
        ensure_dir(ctx.records_dir, 0o750)
        reserve.take()
        save_record(ctx, record)
    except OSError as exc:
        reserve.free()
        raise RecordWriteError(
            f"{kind}: not started, cannot write its record in {ctx.records_dir}: {error_message(exc, mount_point(root), free_bytes(root))}"
        ) from None
    artifact: list[Path] = []
    interrupted: Interrupted | None = None
    try:
        if kind in PRIMARY_ONLY and pg_in_recovery(ctx):
            raise Skipped("standby: backups run on the primary")
        if kind in PGBACKREST_KINDS:
            outcome = run_pgbackrest(ctx, kind, stamp, record)
        elif kind == "logical":
            outcome = run_logical(ctx, str(target), stamp, record, artifact)
        elif kind == "redis":
            outcome = run_redis(ctx, stamp, record, artifact)
        else:
            outcome = run_config(ctx, stamp, record, artifact)
    except Skipped as exc:
        final = finish_record(record, "skipped", utc_now(), str(exc), path=None)
    except (Exception, Interrupted) as exc:  # noqa: BLE001 - every failure becomes a failed record
        message = error_message(exc, mount_point(root), free_bytes(root))  # before the cleanup frees space
        for path in artifact:
            remove_partial(path)
        final = finish_record(record, "failed", utc_now(), message, path=None)
        interrupted = exc if isinstance(exc, Interrupted) else None
    else:
        now = utc_now()
        final = finish_record(
            record,
            "ok" if outcome.checksum_status != "failed" else "failed",
            now,
            outcome.message,
            size_bytes=outcome.size_bytes,
            path=outcome.path,
            checksum_status=outcome.checksum_status,
            verified_at=format_utc(now) if outcome.checksum_status == "verified" else None,
            pgbackrest=outcome.pgbackrest,
            details=outcome.details,
        )
    reserve.free()
    try:
        save_record(ctx, final)
    except OSError as exc:
        ctx.say(f"{rid}: cannot write the final record ({error_message(exc, mount_point(root), free_bytes(root))}); it reads as interrupted")
    if interrupted is not None:
        raise interrupted
    return final


# ---------------------------------------------------------------------------
# verify / list / restore-logical
# ---------------------------------------------------------------------------


def find_record(records: Sequence[Mapping[str, Any]], rid: str | None = None, latest: str | None = None, target: str | None = None) -> Mapping[str, Any]:
    if rid:
        for rec in records:
            if rec["id"] == rid:
                return rec
        raise UsageError(f"no record {rid}; see `{PROG} list`")
    for rec in records:
        if rec.get("kind") == latest and rec.get("status") == "ok" and (target is None or rec.get("target") == target):
            return rec
    raise UsageError(f"no successful {latest}{' ' + target if target else ''} backup recorded; see `{PROG} list`")


def verify_record(ctx: Context, rec: Mapping[str, Any]) -> tuple[bool, str]:
    """Check one backup; rewrite its record's checksum_status/verified_at. (ok, message)."""
    if rec.get("kind") in PGBACKREST_KINDS:
        label = (rec.get("pgbackrest") or {}).get("label")
        if not label:
            return False, f"{rec['id']}: no pgBackRest label in the record"
        try:
            run_cmd(ctx.pgbackrest("verify", f"--set={label}"), "pgbackrest", timeout=None)
            ok, msg = True, f"{rec['id']}: pgbackrest verify --set={label} ok"
        except (CommandError, BackupError) as exc:
            ok, msg = False, f"{rec['id']}: {error_message(exc)}"
    else:
        if not rec.get("path"):
            return False, f"{rec['id']}: no artifact path (status {rec.get('status')})"
        problems = verify_manifest(str(rec["path"]))[1]
        ok = not problems
        msg = f"{rec['id']}: " + ("; ".join(problems) if problems else "every file matches its manifest")
    path = ctx.records_dir / f"{rec['id']}.json"
    try:
        current = read_json(path)
        current.update(checksum_status="verified" if ok else "failed", verified_at=format_utc(utc_now()))
        if not ok:
            current["verify_message"] = one_line(msg)
        else:
            current.pop("verify_message", None)
        write_json_atomic(path, current, mode=0o640)
    except (OSError, ValueError):
        pass
    return ok, msg


def restore_logical(ctx: Context, rid: str, into: str, drop: bool) -> tuple[int, dict[str, Any]]:
    rec = find_record(load_records(ctx.root), rid=rid)
    if rec.get("kind") != "logical" or not rec.get("path"):
        raise UsageError(f"{rid} is not a logical backup with a dump directory")
    source = str(rec.get("target"))
    live = set(ctx.cfg["logical_databases"]) | {source, "postgres", "template0", "template1"}
    if into in live:
        raise UsageError(f"refusing to restore into {into}: a restore never targets the live database; choose a new scratch name")
    dump_dir = Path(str(rec["path"]))
    manifest, problems = verify_manifest(dump_dir)
    if manifest is None or problems:
        return EXIT_FAILED, {"id": rid, "into": into, "equal": False, "message": f"dump does not verify: {'; '.join(problems)}"}
    exists = psql_query(ctx, "postgres", f"SELECT 1 FROM pg_database WHERE datname = '{into.replace(chr(39), chr(39) * 2)}'")
    if exists:
        raise UsageError(f"database {into} already exists; restore needs a NEW database (drop it or choose another name)")
    jobs = str(ctx.cfg["logical_jobs"])
    started = time.monotonic()
    scratch: Path | None = None
    source_dir = dump_dir
    try:
        if "per file" in str(manifest.get("compression", "")):
            scratch = Path(tempfile.mkdtemp(prefix=f"opsbook-restore-{rid}-", dir=ctx.cfg["scratch_dir"]))
            chown_name(scratch, "postgres")
            zst = [str(dump_dir / f["path"]) for f in manifest["files"] if str(f["path"]).endswith(".zst")]
            plain = [f["path"] for f in manifest["files"] if not str(f["path"]).endswith(".zst")]
            for rel in plain:
                run_cmd(as_postgres("cp", "--", str(dump_dir / rel), str(scratch / rel)), "cp")
            if zst:
                run_cmd(as_postgres("zstd", "-d", "-q", f"-T{jobs}", "--output-dir-flat", str(scratch), *zst), "zstd")
            source_dir = scratch
        run_cmd(as_postgres(ctx.pg_bin("createdb"), "-p", ctx.port, into), "createdb")
        run_cmd(as_postgres(ctx.pg_bin("pg_restore"), "-p", ctx.port, "-d", into, "-j", jobs, "--exit-on-error", str(source_dir)), "pg_restore", timeout=None)
        tables = manifest.get("tables", [])
        counts: dict[tuple[str, str], int | None] = {}
        if tables:
            parts = [
                f"SELECT '{t['schema'].replace(chr(39), chr(39) * 2)}', '{t['name'].replace(chr(39), chr(39) * 2)}', "
                f"count(*) FROM {quote_ident(t['schema'])}.{quote_ident(t['name'])}"
                for t in tables
            ]
            for row in psql_query(ctx, into, " UNION ALL ".join(parts)):
                counts[(row[0], row[1])] = int(row[2])
        diff = count_problems(tables, counts)
    except (CommandError, BackupError) as exc:
        return EXIT_FAILED, {"id": rid, "into": into, "equal": False, "message": error_message(exc, mount_point(str(ctx.root)), free_bytes(str(ctx.root)))}
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    took = round(time.monotonic() - started, 1)
    result: dict[str, Any] = {"id": rid, "into": into, "equal": not diff, "tables": len(tables), "rows": sum(t["rows"] for t in tables), "duration_s": took}
    if diff:
        result["message"] = f"row counts differ: {'; '.join(diff)}"
    else:
        result["message"] = f"restored {rid} into {into} in {took} s: {len(tables)} tables, {result['rows']} rows, counts equal to the manifest"
    if drop:
        run_cmd(as_postgres(ctx.pg_bin("dropdb"), "-p", ctx.port, into), "dropdb")
        result["dropped"] = True
        result["message"] += f"; dropped {into}"
    return (EXIT_OK if not diff else EXIT_FAILED), result


# ---------------------------------------------------------------------------
# Restore test: the latest (or a named) backup restored into a scratch target,
# checked, and the scratch target removed again, whatever happens.
# ---------------------------------------------------------------------------

SCRATCH_DB_PREFIX = "opsbook_restore_test_"
AMCHECK_SQL = """CREATE EXTENSION IF NOT EXISTS amcheck;
CREATE TEMP TABLE opsbook_amcheck (idx text, err text);
DO $opsbook$ DECLARE r record; BEGIN
  FOR r IN SELECT c.oid, c.oid::regclass::text AS name FROM pg_index i
             JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
            WHERE a.amname = 'btree' AND i.indisvalid AND i.indisready AND c.relpersistence <> 't' LOOP
    BEGIN
      PERFORM bt_index_check(r.oid, true);
      INSERT INTO opsbook_amcheck VALUES (r.name, NULL);
    EXCEPTION WHEN OTHERS THEN
      INSERT INTO opsbook_amcheck VALUES (r.name, SQLERRM);
    END;
  END LOOP;
END $opsbook$;
SELECT count(*), count(err), coalesce(string_agg(idx || ': ' || err, '; ') FILTER (WHERE err IS NOT NULL), '') FROM opsbook_amcheck"""
# Tables, rows as the planner last estimated them (pg_class.reltuples; the
# activity statistics do not survive a restore), database size.
COUNTS_SQL = (
    "SELECT count(*), coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint, pg_database_size(current_database()) "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
)


def scratch_dir_problem(scratch: str, live_dir: str) -> str | None:
    """Why ``scratch`` cannot hold a restored cluster next to the live one (None: it can)."""
    s, live = os.path.realpath(scratch), os.path.realpath(live_dir)
    if s == live:
        return f"{scratch} is the live cluster's data directory"
    if s.startswith(live + os.sep):
        return f"{scratch} is inside the live cluster's data directory {live_dir}"
    if live.startswith(s + os.sep):
        return f"{scratch} contains the live cluster's data directory {live_dir}"
    return None


def space_needed(db_bytes: int) -> int:
    """Free bytes a restore of ``db_bytes`` needs: the data, 10 % and 256 MiB for WAL and temp files."""
    return int(db_bytes * 1.1) + (256 << 20)


def amcheck_result(row: Sequence[str]) -> tuple[int, list[str]]:
    """(indexes checked, problems) from the last row of AMCHECK_SQL."""
    checked, bad, text = int(row[0]), int(row[1]), row[2] if len(row) > 2 else ""
    return checked, ([part for part in text.split("; ") if part] if bad else [])


def throughput(size_bytes: int | None, seconds: float) -> float | None:
    if not size_bytes or seconds <= 0:
        return None
    return round(size_bytes / seconds / 1e6, 1)


def wait_promoted(ctx: Context, sock: str, port: int, deadline: float) -> None:
    """Wait until the scratch cluster has replayed to its target, promoted and accepts connections."""
    last = ""
    while time.monotonic() < deadline:
        try:
            if psql_query(ctx, "postgres", "SELECT pg_is_in_recovery()", timeout=60, host=sock, port=port)[-1][0] == "f":
                return
            last = "still in recovery"
        except CommandError as exc:
            last = pick_error_line(exc.output)
            if not re.search(r"not accepting connections|starting up|in recovery|No such file|Connection refused", last):
                raise
        time.sleep(0.5)
    raise BackupError(f"the scratch cluster did not finish recovery in time ({last})")


def live_cluster(ctx: Context) -> dict[str, Any]:
    row = psql_query(ctx, "postgres", "SELECT current_setting('data_directory'), current_setting('port'), current_setting('data_checksums')")[0]
    return {"data_directory": row[0], "port": int(row[1]), "data_checksums": row[2] == "on"}


def restore_test_logical(ctx: Context, rid: str | None, target: str | None) -> dict[str, Any]:
    rec = find_record(load_records(ctx.root), rid=rid, latest="logical", target=target)
    if rec.get("kind") != "logical":
        raise UsageError(f"{rec['id']} is a {rec.get('kind')} backup; --kind logical needs a logical one")
    manifest = read_json(Path(str(rec["path"])) / "manifest.json") if rec.get("path") else {}
    need = manifest.get("database_size")
    if isinstance(need, int):
        free = free_bytes(ctx.cfg["restore_test"]["space_path"] or live_cluster(ctx)["data_directory"])
        if free is not None and free < space_needed(need):
            raise UsageError(
                f"not enough space for the scratch database: {human_bytes(free)} free, {human_bytes(space_needed(need))} needed "
                f"(database {human_bytes(need)} at backup time); free space or restore-test on another host"
            )
    scratch = SCRATCH_DB_PREFIX + format_compact(utc_now()).lower()
    if psql_query(ctx, "postgres", f"SELECT 1 FROM pg_database WHERE datname = '{scratch}'"):
        raise UsageError(f"database {scratch} already exists; is another restore test running?")
    started = time.monotonic()
    result: dict[str, Any] = {"kind": "logical", "id": rec["id"], "target": rec.get("target"), "scratch": scratch}
    try:
        code, restored = restore_logical(ctx, str(rec["id"]), scratch, drop=False)
        result.update(restored)
        result["restore_s"] = restored.get("duration_s")
        if code != EXIT_OK:
            result["status"] = "failed"
            return result
        checked, problems = amcheck_result(psql_query(ctx, scratch, AMCHECK_SQL, timeout=None)[-1])
        size = int(psql_query(ctx, scratch, COUNTS_SQL)[-1][2])
        result.update(indexes_checked=checked, index_problems=problems, restored_bytes=size)
        result["status"] = "failed" if problems else "ok"
        note = f"amcheck: {checked} btree indexes" + (f", {len(problems)} corrupt: {'; '.join(problems)}" if problems else " intact")
        result["message"] = f"{restored['message']}; {note}"
    except (CommandError, BackupError) as exc:
        result.update(status="failed", message=f"restore test of {rec['id']}: {exc}")
    finally:
        result["duration_s"] = round(time.monotonic() - started, 1)
        try:
            psql_query(ctx, "postgres", f"DROP DATABASE IF EXISTS {quote_ident(scratch)} WITH (FORCE)")
            result["dropped"] = True
        except (CommandError, BackupError) as exc:
            result["dropped"] = False
            result["message"] = f"{result.get('message', '')}; could not drop {scratch}: {exc}".lstrip("; ")
            result["status"] = "failed"
    result["mb_per_s"] = throughput(result.get("restored_bytes"), float(result.get("restore_s") or 0))
    return result


def blocked_directory(path: str, user: str) -> str | None:
    """The first directory on the way to ``path`` that ``user`` cannot enter (no search bit for it), or None."""
    account = pwd.getpwnam(user)
    gids = {account.pw_gid} | {group.gr_gid for group in grp.getgrall() if user in group.gr_mem}
    current = os.sep
    for part in Path(os.path.abspath(path)).parts[1:]:
        current = os.path.join(current, part)
        info = os.stat(current)
        if account.pw_uid == 0:
            continue
        if info.st_uid == account.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in gids:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return current
    return None


def restore_test_physical(ctx: Context, label: str | None) -> dict[str, Any]:
    rt = ctx.cfg["restore_test"]
    live = live_cluster(ctx)
    port = int(rt["port"])
    if port == live["port"]:
        raise UsageError(f"restore_test port {port} is the live cluster's port; choose another (backup_restore_test_port)")
    base = str(rt["dir"])
    why = scratch_dir_problem(base, live["data_directory"])
    if why:
        raise UsageError(f"refusing to restore into {base}: {why}; a restore test never targets the live cluster (backup_restore_test_dir)")
    stanza = ctx.cfg["pgbackrest"]["stanza"]
    sets = pgbackrest_sets(pgbackrest_info(ctx), stanza)
    if not sets:
        raise UsageError(f"stanza {stanza} has no backup set to restore; run a full backup first")
    chosen = next((s for s in sets if s.get("label") == label), None) if label else sets[-1]
    if chosen is None:
        raise UsageError(f"no backup set {label} in stanza {stanza}; see `pgbackrest info`")
    db_bytes = int(((chosen.get("info") or {}).get("size")) or 0)
    os.makedirs(base, mode=0o700, exist_ok=True)
    chown_name(base, "postgres")
    blocked = blocked_directory(base, "postgres")
    if blocked:
        raise UsageError(
            f"postgres cannot enter {blocked} (mode {stat.S_IMODE(os.stat(blocked).st_mode):04o}), so the scratch cluster in {base} "
            f"could not start; make it traversable (chmod o+x {blocked}) or set backup_restore_test_dir elsewhere"
        )
    free = free_bytes(base)
    if free is not None and free < space_needed(db_bytes):
        raise UsageError(
            f"not enough space in {base} for the scratch cluster: {human_bytes(free)} free, {human_bytes(space_needed(db_bytes))} needed "
            f"(set {chosen['label']}: {human_bytes(db_bytes)}); free space or set backup_restore_test_dir"
        )
    work = Path(base) / format_compact(utc_now())
    data, sock = work / "data", work / "run"
    try:
        make_artifact_dir(work, 0o700, "postgres")  # exclusive: the cleanup below only ever removes our own
    except FileExistsError:
        raise UsageError(f"{work} already exists; is another restore test running?") from None
    result: dict[str, Any] = {"kind": "physical", "id": chosen["label"], "set_type": chosen.get("type"), "scratch": str(data), "port": port}
    started = time.monotonic()
    running = False
    try:
        for path in (data, sock):
            make_artifact_dir(path, 0o700, "postgres")
        (work / "postgresql.conf").write_text("# opsbook-backup restore test: settings come from the command line\n")
        (work / "pg_hba.conf").write_text("local all postgres peer\n")
        (work / "pg_ident.conf").write_text("")
        for name in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"):
            chown_name(work / name, "postgres")
        run_cmd(
            ctx.pgbackrest(
                "restore", f"--pg1-path={data}", f"--set={chosen['label']}", "--type=immediate", "--target-action=promote",
                "--archive-mode=off", f"--tablespace-map-all={work / 'tablespaces'}", "--log-level-console=warn",
            ),
            "pgbackrest restore",
            timeout=float(rt["timeout"]),
        )
        result["restore_s"] = round(time.monotonic() - started, 1)
        options = " ".join(
            f"-c {key}={value}"
            for key, value in (
                ("config_file", work / "postgresql.conf"), ("hba_file", work / "pg_hba.conf"), ("ident_file", work / "pg_ident.conf"),
                ("port", port), ("listen_addresses", "''"), ("unix_socket_directories", sock), ("archive_mode", "off"),
                ("hot_standby", "off"), ("max_wal_senders", 0), ("logging_collector", "off"),
            )
        )
        running = True
        run_cmd(
            as_postgres(ctx.pg_bin("pg_ctl"), "-D", str(data), "-l", str(work / "postgres.log"), "-w", "-t", str(int(rt["timeout"])), "-o", options, "start"),
            "pg_ctl start",
            timeout=float(rt["timeout"]) + 30,
        )
        wait_promoted(ctx, str(sock), port, started + float(rt["timeout"]))
        result["recovered_s"] = round(time.monotonic() - started, 1)
        dbs_sql = "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1"
        dbs = [r[0] for r in psql_query(ctx, "postgres", dbs_sql, timeout=3600, host=str(sock), port=port)]
        tables = rows = size = checked = 0
        problems: list[str] = []
        for db in dbs:
            t, n, s = psql_query(ctx, db, COUNTS_SQL, timeout=3600, host=str(sock), port=port)[-1]
            tables, rows, size = tables + int(t), rows + int(n), size + int(s)
            c, p = amcheck_result(psql_query(ctx, db, AMCHECK_SQL, timeout=None, host=str(sock), port=port)[-1])
            checked += c
            problems += [f"{db}: {x}" for x in p]
        checksums = psql_query(ctx, "postgres", "SHOW data_checksums", timeout=3600, host=str(sock), port=port)[-1][0] == "on"
        run_cmd(as_postgres(ctx.pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"), "pg_ctl stop", timeout=300)
        running = False
        if checksums:
            try:
                run_cmd(as_postgres(ctx.pg_bin("pg_checksums"), "--check", "-D", str(data)), "pg_checksums", timeout=None)
                result["page_checksums"] = "verified"
            except CommandError as exc:
                result["page_checksums"] = "failed"
                problems.append(f"pg_checksums: {pick_error_line(exc.output)}")
        else:
            result["page_checksums"] = "off"
        result.update(databases=dbs, tables=tables, rows_estimate=rows, restored_bytes=size, indexes_checked=checked, index_problems=problems)
        result["status"] = "failed" if problems else "ok"
        note = "; ".join(problems) if problems else f"amcheck: {checked} btree indexes intact; page checksums {result['page_checksums']}"
        result["message"] = (
            f"restored {chosen.get('type')} set {chosen['label']} ({human_bytes(db_bytes)}) into a scratch cluster on port {port} in "
            f"{result['restore_s']} s, consistent after {result['recovered_s']} s: {len(dbs)} databases, {tables} tables; {note}"
        )
    except (CommandError, BackupError, OSError) as exc:
        log_tail = ""
        try:
            log_tail = pick_error_line((work / "postgres.log").read_text(errors="replace"))
        except OSError:
            pass
        result.update(status="failed", message=f"restore test of set {chosen['label']}: {exc}" + (f" (postgres: {log_tail})" if log_tail else ""))
    finally:
        if running:
            subprocess.run(as_postgres(ctx.pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"), cwd="/", capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
        result["removed"] = not work.exists()
        result["duration_s"] = round(time.monotonic() - started, 1)
    result["mb_per_s"] = throughput(result.get("restored_bytes") or db_bytes, float(result.get("restore_s") or 0))
    return result


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="Take, record, verify, list and restore-test backups (opsbook.stack backup role).")
    parser.add_argument("--config", default=os.environ.get("OPSBOOK_BACKUP_CONFIG", DEFAULT_CONFIG), help=f"script config (default {DEFAULT_CONFIG})")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    run = sub.add_parser("run", help="take a backup")
    run.add_argument("kind", help="|".join(KINDS))
    run.add_argument("--target", help="database (logical only; default: every logical_databases entry)")
    run.add_argument("--trigger", default="manual", help="|".join(TRIGGERS))
    run.add_argument("--wait", type=float, default=None, help="seconds to wait for the lock (0 = refuse at once)")
    run.add_argument("--json", action="store_true")
    ver = sub.add_parser("verify", help="recompute checksums / pgbackrest verify")
    ver.add_argument("--id")
    ver.add_argument("--latest", metavar="KIND")
    ver.add_argument("--target")
    ver.add_argument("--json", action="store_true")
    lst = sub.add_parser("list", help="records, newest first")
    lst.add_argument("--kind")
    lst.add_argument("--json", action="store_true")
    res = sub.add_parser("restore-logical", help="restore a logical dump into a NEW scratch database and compare row counts")
    res.add_argument("--id", required=True)
    res.add_argument("--into", required=True)
    res.add_argument("--drop", action="store_true", help="drop the scratch database afterwards")
    res.add_argument("--json", action="store_true")
    rtest = sub.add_parser("restore-test", help="restore the latest (or a named) backup into a scratch target, check it, remove the scratch target")
    rtest.add_argument("kind", help="logical|physical")
    rtest.add_argument("--id", help="logical: record id; physical: pgBackRest set label (default: the latest)")
    rtest.add_argument("--target", help="logical: database (default: every logical_databases entry)")
    rtest.add_argument("--wait", type=float, default=None, help="seconds to wait for the lock (0 = refuse at once)")
    rtest.add_argument("--json", action="store_true")
    helper = sub.add_parser("_snapshot")
    helper.add_argument("--db", required=True)
    helper.add_argument("--port", type=int, default=5432)
    return parser


def _raise_interrupted(signum: int, _frame: Any) -> None:
    raise Interrupted(f"interrupted by {signal.Signals(signum).name}")


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    kind = args.kind
    if args.target and kind != "logical":
        raise UsageError(f"--target applies to logical backups only, not {kind}")
    targets: list[str | None]
    if kind == "logical":
        targets = [args.target] if args.target else list(ctx.cfg["logical_databases"])
        if not targets:
            raise UsageError(f"logical: no --target and logical_databases is empty in {ctx.config_path}; pass --target DB or set it in the backup role")
    else:
        targets = [None]
    wait = args.wait if args.wait is not None else float(ctx.cfg["lock_wait_seconds"])
    if wait < 0:
        raise UsageError("--wait must be >= 0 seconds")
    lock = BackupLock(ctx.cfg["lock_path"])
    lock.acquire(wait, kind, args.target, on_wait=None if args.json else ctx.say)
    records = []
    old_handlers = {sig: signal.signal(sig, _raise_interrupted) for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    try:
        for target in targets:
            records.append(run_one(ctx, kind, target))
    except RecordWriteError as exc:
        if args.json:
            print(json.dumps({"records": records, "message": str(exc)}))
        ctx.say(str(exc))
        return EXIT_FAILED
    except (Interrupted, KeyboardInterrupt) as exc:
        message = f"{kind}: interrupted ({exc or 'SIGINT'}); the record says failed"
        if args.json:
            print(json.dumps({"records": records, "message": message}))
        else:
            ctx.say(message)
        return EXIT_FAILED
    finally:
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
        lock.release()
    failed = [r for r in records if r["status"] == "failed"]
    summary = "; ".join(f"{r['id']} {r['status']}: {r['message']}" for r in records)
    if args.json:
        print(json.dumps({"records": records, "message": summary}))
    else:
        for rec in records:
            line = f"{rec['id']} {rec['status']} ({rec['duration_s']} s): {rec['message']}"
            if rec["status"] == "failed":
                ctx.say(line)
            else:
                print(f"{PROG}: {line}")
    return EXIT_FAILED if failed else EXIT_OK


def cmd_restore_test(ctx: Context, args: argparse.Namespace) -> int:
    if args.kind not in ("logical", "physical"):
        raise UsageError(f"unknown restore-test kind {args.kind!r}; choose logical or physical")
    if args.kind == "physical":
        if args.target:
            raise UsageError("--target applies to logical restore tests only; a physical one restores the whole cluster")
        if not ctx.cfg["pgbackrest"]["enabled"]:
            raise UsageError(f"pgBackRest is not enabled in {ctx.config_path}; a physical restore test needs it")
        targets: list[str | None] = [None]
    elif args.id:
        targets = [None]
    else:
        targets = [args.target] if args.target else list(ctx.cfg["logical_databases"])
        if not targets:
            raise UsageError(f"no --target and logical_databases is empty in {ctx.config_path}")
    wait = args.wait if args.wait is not None else float(ctx.cfg["lock_wait_seconds"])
    if wait < 0:
        raise UsageError("--wait must be >= 0 seconds")
    lock = BackupLock(ctx.cfg["lock_path"])
    lock.acquire(wait, f"restore-test {args.kind}", args.target, on_wait=None if args.json else ctx.say)
    results: list[dict[str, Any]] = []
    old_handlers = {sig: signal.signal(sig, _raise_interrupted) for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    try:
        for target in targets:
            if args.kind == "physical":
                results.append(restore_test_physical(ctx, args.id))
            else:
                results.append(restore_test_logical(ctx, args.id, target))
    except (Interrupted, KeyboardInterrupt) as exc:
        results.append({"kind": args.kind, "status": "failed", "message": f"restore test interrupted ({exc or 'SIGINT'}); the scratch target was removed"})
    finally:
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
        lock.release()
    failed = [r for r in results if r.get("status") != "ok"]
    if args.json:
        print(json.dumps({"results": results, "message": "; ".join(str(r.get("message")) for r in results)}))
    else:
        for res in results:
            line = f"restore-test {res.get('kind')} {res.get('id', '')} {res.get('status')}: {res.get('message')}"
            if res.get("status") == "ok":
                print(f"{PROG}: {line}")
            else:
                ctx.say(line)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_verify(ctx: Context, args: argparse.Namespace) -> int:
    records = load_records(ctx.root)
    if args.id or args.latest:
        if args.latest and args.latest not in KINDS:
            raise UsageError(f"unknown backup kind {args.latest!r}; choose one of {', '.join(KINDS)}")
        chosen = [find_record(records, rid=args.id, latest=args.latest, target=args.target)]
    else:
        seen: set[tuple[Any, Any]] = set()
        chosen = []
        for rec in records:
            key = (rec.get("kind"), rec.get("target"))
            if rec.get("status") == "ok" and key not in seen:
                seen.add(key)
                chosen.append(rec)
        if not chosen:
            raise UsageError(f"no successful backup recorded under {ctx.root}; nothing to verify")
    results = [verify_record(ctx, rec) for rec in chosen]
    bad = [msg for ok, msg in results if not ok]
    if args.json:
        print(json.dumps({"results": [{"ok": ok, "message": msg} for ok, msg in results], "message": "; ".join(bad) or "all verified"}))
    else:
        for ok, msg in results:
            print(f"{PROG}: {'ok' if ok else 'BAD'} {msg}")
    return EXIT_FAILED if bad else EXIT_OK


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    records = [r for r in load_records(ctx.root) if not args.kind or r.get("kind") == args.kind]
    if args.json:
        print(json.dumps({"records": records}))
        return EXIT_OK
    print(f"{'ID':<40} {'STATUS':<8} {'SIZE':>10} {'TIME':>7} {'CHECKSUM':<14} MESSAGE")
    for rec in records:
        took = f"{rec['duration_s']}s" if rec.get("duration_s") is not None else "-"
        size = human_bytes(rec.get("size_bytes")) if rec.get("size_bytes") is not None else "-"
        print(f"{rec['id']:<40} {rec.get('status', '?'):<8} {size:>10} {took:>7} {rec.get('checksum_status') or '-':<14} {rec.get('message') or ''}")
    return EXIT_OK


def report_error(message: str, as_json: bool) -> None:
    """One line on stderr; with --json also the JSON object on stdout."""
    if as_json:
        print(json.dumps({"records": [], "message": message}))
    print(f"{PROG}: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "_snapshot":
            return snapshot_helper_main(args.db, args.port)
        if args.command == "run":
            if args.kind not in KINDS:
                raise UsageError(f"unknown backup kind {args.kind!r}; choose one of {', '.join(KINDS)}")
            if args.trigger not in TRIGGERS:
                raise UsageError(f"unknown trigger {args.trigger!r}; choose one of {', '.join(TRIGGERS)}")
        cfg = load_config(args.config)
        check_backup_root(cfg["backup_root"])
        ctx = Context(cfg=cfg, config_path=args.config, trigger=getattr(args, "trigger", "manual"))
        if args.command == "run":
            check_kind_enabled(cfg, args.kind, args.config)
            return cmd_run(ctx, args)
        if args.command == "verify":
            return cmd_verify(ctx, args)
        if args.command == "list":
            return cmd_list(ctx, args)
        if args.command == "restore-test":
            return cmd_restore_test(ctx, args)
        code, result = restore_logical(ctx, args.id, args.into, args.drop)
        if args.json:
            print(json.dumps(result))
        else:
            print(f"{PROG}: {result['message']}", file=sys.stdout if code == EXIT_OK else sys.stderr)
        return code
    except UsageError as exc:
        report_error(one_line(exc), "--json" in argv)
        return EXIT_USAGE
    except LockBusy as exc:
        report_error(str(exc), "--json" in argv)
        return EXIT_LOCK
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())

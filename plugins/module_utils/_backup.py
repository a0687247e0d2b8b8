# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup records, manifests and pgBackRest output of opsbook.stack.

Private to the collection: import as
``ansible_collections.opsbook.stack.plugins.module_utils._backup``.

The on-host layout and the record / manifest formats are fixed in the backup
design (docs, "Record" and "manifest.json")::

    {root}/records/<id>.json           one outcome record per backup run
    {root}/<kind>[/<target>]/<stamp>/  artifact directory with manifest.json (logical, redis, config)
    {root}/pgbackrest/                 pgBackRest repository (full, incr, diff)

I/O and evaluation are kept apart: ``read_records``, ``read_manifest``,
``observe_files`` and ``pid_alive`` touch the system; everything else works on
plain data so it can be unit-tested without a host.

Public helpers other modules rely on (keep their signatures):
``read_records(root) -> (records, problems)`` and
``pgbackrest_info_command(stanza, config) -> list[str]``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.opsbook.stack.plugins.module_utils._timestamps import format_utc, parse_utc

SCHEMA = 1
KINDS: tuple[str, ...] = ("full", "incr", "diff", "logical", "redis", "config")
PGBACKREST_KINDS: tuple[str, ...] = ("full", "incr", "diff")
MANIFEST_KINDS: tuple[str, ...] = ("logical", "redis", "config")
STATUSES: tuple[str, ...] = ("running", "ok", "failed", "skipped", "removed")
# What a reader makes of a record: the stored status, except that a "running"
# record whose process is gone is "interrupted" (counts as failed).
INTERRUPTED = "interrupted"
MANIFEST = "manifest.json"
RECORDS_DIR = "records"
RUNUSER: tuple[str, ...] = ("runuser", "-u", "postgres", "--")
WAL_NAME_RE = re.compile(r"^[0-9A-F]{24}$")
DAY = 86400.0
GROWTH_WINDOW_DAYS = 7
# A process that started this much later than the record it supposedly wrote
# is a different process that got the recycled pid.
PID_REUSE_SLACK_S = 120.0


# Exit codes of the on-host tool opsbook-backup.
TOOL_OK, TOOL_FAILED, TOOL_USAGE, TOOL_LOCKED = 0, 1, 2, 3


def tool_json(stdout: str) -> dict[str, Any]:
    """The JSON document opsbook-backup printed with --json (the last line that parses, else the
    whole output), or {} when there is none."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    try:
        data = json.loads(stdout)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class RecordError(ValueError):
    """Content that is not a usable backup record."""


# ---------------------------------------------------------------- time


def optional_utc(value: Any, what: str = "timestamp") -> datetime.datetime | None:
    """None for a value that is not set (None or empty), else :func:`parse_utc` (epoch seconds too).

    Raises ValueError naming ``what`` for anything else.
    """
    if value is None or value == "":
        return None
    return parse_utc(value, what, epoch=True)


# ---------------------------------------------------------------- records


def _record_time(data: Mapping[str, Any], key: str) -> datetime.datetime | None:
    try:
        return optional_utc(data.get(key), key)
    except ValueError:
        raise RecordError(f"{key} {data.get(key)!r} is not an ISO 8601 time") from None


@dataclass
class Record:
    """One outcome record, normalized. ``raw`` keeps the file's content."""

    id: str
    kind: str
    target: str | None
    status: str
    start: datetime.datetime | None = None
    end: datetime.datetime | None = None
    pid: int | None = None
    size_bytes: int | None = None
    path: str | None = None
    checksum_status: str | None = None
    message: str = ""
    pgbackrest: dict[str, Any] | None = None
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.kind, self.target)

    @property
    def finished(self) -> datetime.datetime | None:
        """When the run ended (start if a record lacks its end)."""
        return self.end or self.start

    def summary(self) -> dict[str, Any]:
        """Small dict for result details."""
        return {
            "id": self.id,
            "status": self.status,
            "start": format_utc(self.start),
            "end": format_utc(self.end),
            "size_bytes": self.size_bytes,
            "path": self.path,
            "checksum_status": self.checksum_status,
            "message": self.message,
        }


def _optional_int(value: Any, what: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError(f"{what} must be an integer, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RecordError(f"{what} must be an integer, got {value!r}") from None


def parse_record(data: Any, source: str = "") -> Record:
    """Validate and normalize one record's JSON content (raises RecordError)."""
    if not isinstance(data, Mapping):
        raise RecordError(f"not a JSON object (got {type(data).__name__})")
    schema = data.get("schema", SCHEMA)
    if schema != SCHEMA:
        raise RecordError(f"unsupported schema {schema!r} (this reader knows schema {SCHEMA})")
    missing = [key for key in ("id", "kind", "status") if not data.get(key)]
    if missing:
        raise RecordError(f"missing {', '.join(missing)}")
    kind = str(data["kind"])
    if kind not in KINDS:
        raise RecordError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    status = str(data["status"])
    if status not in STATUSES:
        raise RecordError(f"unknown status {status!r} (known: {', '.join(STATUSES)})")
    start = _record_time(data, "start")
    end = _record_time(data, "end")
    pgbackrest = data.get("pgbackrest")
    return Record(
        id=str(data["id"]),
        kind=kind,
        target=str(data["target"]) if data.get("target") else None,
        status=status,
        start=start,
        end=end,
        pid=_optional_int(data.get("pid"), "pid"),
        size_bytes=_optional_int(data.get("size_bytes"), "size_bytes"),
        path=str(data["path"]) if data.get("path") else None,
        checksum_status=str(data["checksum_status"]) if data.get("checksum_status") else None,
        message=" ".join(str(data.get("message") or "").split()),
        pgbackrest=dict(pgbackrest) if isinstance(pgbackrest, Mapping) else None,
        source=source,
        raw=dict(data),
    )


def resolve_status(record: Record, alive: Callable[[int, datetime.datetime | None], bool]) -> Record:
    """Turn ``running`` into ``interrupted`` when its process is gone (or it has no pid)."""
    if record.status == "running" and (record.pid is None or not alive(record.pid, record.start)):
        record.status = INTERRUPTED
    return record


def _boot_time() -> float | None:
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def process_start(pid: int) -> float | None:
    """Epoch seconds the process started (from /proc), None when unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        ticks = float(text[text.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None
    boot = _boot_time()
    if boot is None:
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def pid_alive(pid: int, started_by: datetime.datetime | None = None) -> bool:
    """Does ``pid`` run, and (when known) did it start no later than ``started_by`` (pid reuse)?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    if started_by is not None:
        began = process_start(pid)
        if began is not None and began > started_by.timestamp() + PID_REUSE_SLACK_S:
            return False
    return True


def read_records(
    root: str, alive: Callable[[int, datetime.datetime | None], bool] = pid_alive
) -> tuple[list[Record], list[str]]:
    """Read every ``{root}/records/*.json``.

    Returns ``(records, problems)``: records sorted oldest first (by start, then id),
    ``running`` records with a dead pid turned ``interrupted``; ``problems`` are
    one line per file that could not be used ("records/x.json: invalid JSON ...").
    A missing records directory is no problem (no backup ran yet); an unreadable one is.
    """
    directory = os.path.join(root, RECORDS_DIR)
    records: list[Record] = []
    problems: list[str] = []
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return records, problems
    except OSError as exc:
        return records, [f"{directory}: cannot list records: {exc.strerror or exc}"]
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue  # tmp files of an atomic rewrite, editor leftovers
        path = os.path.join(directory, name)
        label = f"{RECORDS_DIR}/{name}"
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except json.JSONDecodeError as exc:
            problems.append(f"{label}: invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")
            continue
        except UnicodeDecodeError:
            problems.append(f"{label}: invalid JSON (not UTF-8)")
            continue
        except OSError as exc:
            problems.append(f"{label}: cannot read: {exc.strerror or exc}")
            continue
        try:
            records.append(resolve_status(parse_record(data, path), alive))
        except RecordError as exc:
            problems.append(f"{label}: not a usable backup record: {exc}")
    records.sort(key=sort_key)
    return records, problems


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def sort_key(record: Record) -> tuple[datetime.datetime, str]:
    return (record.start or record.end or _EPOCH, record.id)


def of_kind(records: Iterable[Record], kind: str, target: str | None = None) -> list[Record]:
    """Records of one kind/target, oldest first (``removed`` ones left out)."""
    return sorted(
        (r for r in records if r.kind == kind and r.target == target and r.status != "removed"), key=sort_key
    )


def ok_records(records: Iterable[Record], kind: str, target: str | None = None) -> list[Record]:
    """Successful backups of one kind/target, oldest first by their end."""
    good = [r for r in of_kind(records, kind, target) if r.status == "ok"]
    return sorted(good, key=lambda r: (r.finished or _EPOCH, r.id))


def newest_ok(records: Iterable[Record], kind: str, target: str | None = None) -> Record | None:
    good = ok_records(records, kind, target)
    return good[-1] if good else None


def newest_ok_by_key(records: Iterable[Record]) -> dict[tuple[str, str | None], Record]:
    """``{(kind, target): newest ok record}`` for every kind/target with an ok record."""
    items = list(records)
    found: dict[tuple[str, str | None], Record] = {}
    for key in sorted({r.key for r in items if r.status == "ok"}, key=_key_order):
        newest = newest_ok(items, *key)
        if newest is not None:
            found[key] = newest
    return found


def _key_order(key: tuple[str, str | None]) -> tuple[int, str]:
    kind, target = key
    return (KINDS.index(kind) if kind in KINDS else len(KINDS), target or "")


def keys_found(records: Iterable[Record]) -> list[tuple[str, str | None]]:
    """Kind/target pairs this host backs up, judged by its records (skipped and removed ones do not count)."""
    return sorted({r.key for r in records if r.status not in ("skipped", "removed")}, key=_key_order)


# ---------------------------------------------------------------- manifests


def read_manifest(directory: str) -> tuple[dict[str, Any] | None, str | None]:
    """Load ``directory/manifest.json``: ``(manifest, None)`` or ``(None, problem)``."""
    path = os.path.join(directory, MANIFEST)
    if not os.path.isdir(directory):
        return None, f"backup directory {directory} is missing"
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None, f"{MANIFEST} is missing in {directory} (an incomplete backup)"
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, f"{path} is not valid JSON: {exc}"
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror or exc}"
    problem = manifest_problem(data)
    if problem:
        return None, f"{path}: {problem}"
    return data, None


def manifest_problem(data: Any) -> str | None:
    """Why a manifest cannot be checked (None when it can)."""
    if not isinstance(data, Mapping):
        return "not a JSON object"
    files = data.get("files")
    if not isinstance(files, list):
        return "has no files list"
    for index, entry in enumerate(files):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("path"), str) or not entry["path"]:
            return f"files[{index}] has no path"
        if not isinstance(entry.get("size"), int) or isinstance(entry.get("size"), bool):
            return f"files[{index}] ({entry['path']}) has no integer size"
        if not isinstance(entry.get("sha256"), str) or not re.match(r"^[0-9a-fA-F]{64}$", entry["sha256"]):
            return f"files[{index}] ({entry['path']}) has no sha256"
    return None


def unsafe_path(path: str) -> bool:
    """A manifest path must stay inside its directory."""
    parts = path.replace("\\", "/").split("/")
    return path.startswith("/") or ".." in parts


def sha256_file(path: str, chunk: int = 1024 * 1024) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Observed:
    """What is on disk for one manifest entry: size and (when the size matched) sha256."""

    size: int | None = None  # None: missing
    sha256: str | None = None  # None: not hashed (size differs) or missing
    error: str | None = None  # unreadable, not a regular file


def observe_files(directory: str, files: Iterable[Mapping[str, Any]]) -> dict[str, Observed]:
    """Stat (and hash, when the size matches) every manifest entry under ``directory``."""
    seen: dict[str, Observed] = {}
    for entry in files:
        rel = str(entry["path"])
        if unsafe_path(rel):
            seen[rel] = Observed(error="path leaves the backup directory")
            continue
        full = os.path.join(directory, rel)
        try:
            info = os.lstat(full)
        except FileNotFoundError:
            seen[rel] = Observed()
            continue
        except OSError as exc:
            seen[rel] = Observed(error=f"cannot stat: {exc.strerror or exc}")
            continue
        if not os.path.isfile(full) or os.path.islink(full):
            seen[rel] = Observed(size=info.st_size, error="not a regular file")
            continue
        if info.st_size != entry.get("size"):
            seen[rel] = Observed(size=info.st_size)
            continue
        try:
            seen[rel] = Observed(size=info.st_size, sha256=sha256_file(full))
        except OSError as exc:
            seen[rel] = Observed(size=info.st_size, error=f"cannot read: {exc.strerror or exc}")
    return seen


def compare_manifest(files: Iterable[Mapping[str, Any]], observed: Mapping[str, Observed]) -> list[str]:
    """Per-file problems, in manifest order: ``"toc.dat: sha256 mismatch"``, ``"x: size 0 != 12345"``,
    ``"y: missing"``. Files on disk that the manifest does not list are fine (not looked at)."""
    problems: list[str] = []
    for entry in files:
        rel = str(entry["path"])
        seen = observed.get(rel)
        if seen is None or (seen.size is None and seen.error is None):
            problems.append(f"{rel}: missing")
        elif seen.error:
            problems.append(f"{rel}: {seen.error}")
        elif seen.size != entry.get("size"):
            problems.append(f"{rel}: size {seen.size} != {entry.get('size')}")
        elif seen.sha256 is None or seen.sha256.lower() != str(entry.get("sha256", "")).lower():
            problems.append(f"{rel}: sha256 mismatch")
    return problems


def verify_manifest(directory: str, manifest: Mapping[str, Any] | None = None) -> tuple[list[str], dict[str, Any] | None]:
    """Read (unless given) and verify a manifest against its directory.

    Returns ``(problems, manifest)``; a missing or unreadable manifest is one problem.
    """
    if manifest is None:
        manifest, problem = read_manifest(directory)
        if manifest is None:
            return [problem or f"{MANIFEST} is missing in {directory}"], None
    files = manifest.get("files") or []
    return compare_manifest(files, observe_files(directory, files)), dict(manifest)


# ---------------------------------------------------------------- pgBackRest


def _pgbackrest(stanza: str, config: str | None) -> list[str]:
    command = [*RUNUSER, "pgbackrest"]
    if config:
        command.append(f"--config={config}")
    command.append(f"--stanza={stanza}")
    return command


def pgbackrest_info_command(stanza: str, config: str | None) -> list[str]:
    """``runuser -u postgres -- pgbackrest [--config=C] --stanza=S --output=json info``."""
    return [*_pgbackrest(stanza, config), "--output=json", "info"]


def pgbackrest_check_command(stanza: str, config: str | None) -> list[str]:
    return [*_pgbackrest(stanza, config), "--log-level-console=warn", "check"]


def pgbackrest_verify_command(stanza: str, config: str | None) -> list[str]:
    """Verify the stanza's backups and archive (pgBackRest 2.45 has no --set for verify)."""
    return [*_pgbackrest(stanza, config), "--log-level-console=warn", "--output=text", "verify"]


@dataclass
class PgbrBackup:
    label: str
    type: str
    prior: str | None
    start: datetime.datetime | None
    stop: datetime.datetime | None
    repo_size: int | None
    repo_delta: int | None
    db_size: int | None
    error: bool
    wal_start: str | None = None
    wal_stop: str | None = None


@dataclass
class StanzaInfo:
    name: str
    code: int
    message: str
    backup_running: bool = False
    backups: list[PgbrBackup] = field(default_factory=list)
    archive_min: str | None = None
    archive_max: str | None = None
    repos: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.code == 0

    def newest(self, kinds: Iterable[str] = PGBACKREST_KINDS) -> PgbrBackup | None:
        wanted = set(kinds)
        found = [b for b in self.backups if b.type in wanted]
        return max(found, key=lambda b: (b.stop or _EPOCH, b.label)) if found else None


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def parse_pgbackrest_info(text: str, stanza: str) -> StanzaInfo:
    """Parse ``pgbackrest info --output json``; raises ValueError when it is not that output
    or does not name the stanza."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"pgbackrest info did not print JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise ValueError("pgbackrest info JSON is not a list of stanzas")
    entry = next((item for item in data if isinstance(item, Mapping) and item.get("name") == stanza), None)
    if entry is None:
        names = [str(item.get("name")) for item in data if isinstance(item, Mapping)]
        raise ValueError(f"stanza {stanza!r} is not in the output (found: {', '.join(names) or 'none'})")
    status = entry.get("status") or {}
    backups = []
    for item in entry.get("backup") or []:
        info = item.get("info") or {}
        repository = info.get("repository") or {}
        stamps = item.get("timestamp") or {}
        archive = item.get("archive") or {}
        backups.append(
            PgbrBackup(
                label=str(item.get("label", "")),
                type=str(item.get("type", "")),
                prior=item.get("prior"),
                start=optional_utc(stamps.get("start"), "timestamp.start"),
                stop=optional_utc(stamps.get("stop"), "timestamp.stop"),
                repo_size=_int_or_none(repository.get("size")),
                repo_delta=_int_or_none(repository.get("delta")),
                db_size=_int_or_none(info.get("size")),
                error=bool(item.get("error", False)),
                wal_start=archive.get("start"),
                wal_stop=archive.get("stop"),
            )
        )
    archives = [a for a in entry.get("archive") or [] if isinstance(a, Mapping)]
    return StanzaInfo(
        name=stanza,
        code=int(status.get("code", 99)),
        message=str(status.get("message", "no status")),
        backup_running=bool(((status.get("lock") or {}).get("backup") or {}).get("held", False)),
        backups=backups,
        archive_min=min((str(a["min"]) for a in archives if a.get("min")), default=None),
        archive_max=max((str(a["max"]) for a in archives if a.get("max")), default=None),
        repos=[dict(r) for r in entry.get("repo") or [] if isinstance(r, Mapping)],
    )


def error_line(*texts: str) -> str:
    """The most telling line of a command's output: the first ``ERROR:`` line, else the last line."""
    lines = [line.strip() for text in texts for line in (text or "").splitlines() if line.strip()]
    for line in lines:
        if "ERROR:" in line:
            return line[line.index("ERROR:"):]
    return lines[-1] if lines else ""


# ---------------------------------------------------------------- WAL archiving

# One psql round trip, fields separated by "|" (psql -XAt): works as postgres on
# a primary and a standby (pg_current_wal_lsn() is not called in recovery).
WAL_QUERY = (
    "SELECT pg_is_in_recovery(), current_setting('archive_mode'), current_setting('archive_timeout'), "
    "archived_count, coalesce(last_archived_wal, ''), "
    "coalesce(extract(epoch FROM last_archived_time)::text, ''), failed_count, coalesce(last_failed_wal, ''), "
    "coalesce(extract(epoch FROM last_failed_time)::text, ''), "
    "CASE WHEN pg_is_in_recovery() THEN '' ELSE pg_walfile_name(pg_current_wal_lsn()) END, "
    "(SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'), "
    "extract(epoch FROM now())::text "
    "FROM pg_stat_archiver"
)
WAL_FIELDS: tuple[str, ...] = (
    "in_recovery", "archive_mode", "archive_timeout", "archived_count", "last_archived_wal", "last_archived_time",
    "failed_count", "last_failed_wal", "last_failed_time", "current_wal", "ready_count", "now",
)


def psql_command(sql: str, port: int | None = None) -> list[str]:
    command = [*RUNUSER, "psql", "-XAtq", "-v", "ON_ERROR_STOP=1"]
    if port:
        command += ["-p", str(port)]
    return [*command, "-c", sql]


def parse_archiver(text: str) -> dict[str, Any]:
    """Parse the psql output of WAL_QUERY into typed values (raises ValueError)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        raise ValueError(f"expected one row from pg_stat_archiver, got {len(lines)}")
    values = lines[0].split("|")
    if len(values) != len(WAL_FIELDS):
        raise ValueError(f"expected {len(WAL_FIELDS)} fields from pg_stat_archiver, got {len(values)}")
    row = dict(zip(WAL_FIELDS, values))
    out: dict[str, Any] = {
        "in_recovery": row["in_recovery"] == "t",
        "archive_mode": row["archive_mode"],
        "archive_timeout_s": parse_duration_s(row["archive_timeout"]),
        "archived_count": int(row["archived_count"] or 0),
        "last_archived_wal": row["last_archived_wal"] or None,
        "last_archived_time": parse_utc(float(row["last_archived_time"]), epoch=True) if row["last_archived_time"] else None,
        "failed_count": int(row["failed_count"] or 0),
        "last_failed_wal": row["last_failed_wal"] or None,
        "last_failed_time": parse_utc(float(row["last_failed_time"]), epoch=True) if row["last_failed_time"] else None,
        "current_wal": row["current_wal"] or None,
        "ready_count": int(row["ready_count"] or 0),
        "now": parse_utc(float(row["now"]), epoch=True),
    }
    return out


def parse_duration_s(text: str) -> float | None:
    """A PostgreSQL time setting as shown (``30min``, ``1800s``, ``1h``, ``0``) -> seconds."""
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h|d)?\s*$", text or "")
    if not match:
        return None
    factor = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}[match.group(2) or "s"]
    return float(match.group(1)) * factor


def wal_not_after(current: str | None, archived: str | None) -> bool:
    """True when the WAL segment being written is the last archived one (or older):
    nothing was written since. Only plain segment names compare (not .history/.partial)."""
    if not current or not archived or not WAL_NAME_RE.match(current) or not WAL_NAME_RE.match(archived):
        return False
    return current <= archived


# ---------------------------------------------------------------- growth and space


def growth_per_day(
    records: Iterable[Record], now: datetime.datetime, window_days: float = GROWTH_WINDOW_DAYS
) -> tuple[float, dict[str, Any]]:
    """Bytes per day written by the ok backups that ended in the last ``window_days``.

    The span is the whole window when older ok backups exist (history covers it),
    else the time since the first backup in it (at least one day), so a new host
    is neither flattered nor alarmed. Returns ``(bytes_per_day, details)``.
    """
    start = now - datetime.timedelta(days=window_days)
    ended = [(r.finished, r.size_bytes or 0) for r in records if r.status == "ok" and r.size_bytes is not None]
    good = [(finished, size) for finished, size in ended if finished is not None]
    recent = [(finished, size) for finished, size in good if start < finished <= now]
    total = sum(size for _finished, size in recent)
    older = any(finished <= start for finished, _size in good)
    if older or not recent:
        span_days = float(window_days)
    else:
        first = min(finished for finished, _size in recent)
        span_days = max(1.0, (now - first).total_seconds() / DAY)
    rate = total / span_days if span_days > 0 else 0.0
    return rate, {"window_days": window_days, "span_days": round(span_days, 2), "bytes_written": total, "backups": len(recent)}


def days_until_full(avail_bytes: int, bytes_per_day: float) -> float | None:
    """Days until ``avail_bytes`` are used up at ``bytes_per_day`` (None: not growing)."""
    if bytes_per_day <= 0:
        return None
    return avail_bytes / bytes_per_day


def shrink_pct(newest: int, previous: int) -> float | None:
    """How much smaller ``newest`` is than ``previous``, in % (negative: it grew). None if previous is 0."""
    if previous <= 0:
        return None
    return round(100.0 * (previous - newest) / previous, 2)

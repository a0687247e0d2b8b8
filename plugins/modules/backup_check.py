#!/usr/bin/python
# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks that the backups of a host exist, are fresh, intact and have room to grow."""

from __future__ import annotations

# Documentation repeats the result contract on purpose (RETURN has no doc fragments): no duplicate-code check.
# pylint: disable=duplicate-code
DOCUMENTATION = r"""
---
module: backup_check
short_description: Check the backups of a host - age, last run, size, checksums, pgBackRest, WAL archiving, space
version_added: 0.3.0
author: opsbook.stack contributors (!UNKNOWN)
description:
  - Reads the backup outcome records under O(backup_root) (C(records/*.json), written by C(opsbook-backup)), the
    C(manifest.json) of the newest logical, Redis and config backups, C(pgbackrest info), C(pgbackrest check),
    optionally C(pgbackrest verify), and C(pg_stat_archiver); reports each finding in the opsbook.stack result contract.
    Changes nothing on the host.
  - "Check ids: V(backup.records), per expected kind/target V(backup.age:<kind>[.<target>]),
    V(backup.last_run:<kind>[.<target>]), V(backup.size:<kind>[.<target>]), V(backup.checksums:<kind>[.<target>]),
    then V(pgbackrest.info), V(pgbackrest.wal_archive), V(pgbackrest.check), V(pgbackrest.verify), V(backup.space),
    V(backup.space_days), in this order (the archiver is read before C(pgbackrest check) forces a WAL switch)."
  - "V(backup.records): record files that are not valid JSON or not backup records are listed (warn); they never
    crash the module. A missing O(backup_root) is crit."
  - "V(backup.age): hours since the end of the newest C(ok) record, against the schedule's O(schedules[].warn_hours) and
    O(schedules[].crit_hours). No successful backup at all is crit. A newer full (or differential) backup also satisfies the
    schedule of V(incr), and a newer full that of V(diff): it holds everything the smaller backup would."
  - "V(backup.last_run): the newest record. C(failed) is crit with its message; C(running) whose process is gone is
    C(interrupted) and crit; C(running) with a live process is ok (running since); C(skipped) (a standby) is ok."
  - "V(backup.size): the newest ok backup against the previous ok one, as % shrink (threshold C(shrink_pct)).
    A single backup is ok (first backup). Not made for C(incr) and C(diff), whose sizes vary by nature."
  - "V(backup.checksums) (logical, redis, config): the sha256 and size of every file in the newest ok backup's
    C(manifest.json) are recomputed; a mismatch, a size change or a missing file is crit naming the files. A missing
    manifest is crit (the backup is incomplete). Files not listed in the manifest are ignored."
  - "V(pgbackrest.info): C(status.code) of the stanza in C(pgbackrest info --output json) (0 ok, else crit with
    pgBackRest's message). V(pgbackrest.check): C(pgbackrest check) exits 0. V(pgbackrest.verify): only with
    O(verify), C(pgbackrest verify) of the stanza exits 0."
  - "V(pgbackrest.wal_archive): minutes since C(pg_stat_archiver.last_archived_time), threshold C(wal_archive_minutes)
    (default 75% and 100% of O(rpo_minutes)). Crit when an archive attempt failed after the last success (archiving
    fails). Ok when nothing was written since the last archived segment (C(pg_walfile_name(pg_current_wal_lsn())) is
    the last archived WAL), and ok when no completed segment waits (no C(.ready) file) while C(archive_timeout) is
    within the RPO - PostgreSQL then switches and archives the current segment in time. Ok on a standby."
  - "V(backup.space): percent used of the filesystem holding O(backup_root) (threshold C(space_pct)).
    V(backup.space_days): days until it is full at the bytes per day the ok backups of the last 7 days wrote
    (threshold C(space_days), direction below); ok (not growing) when nothing was written."
  - pgBackRest and psql run as C(postgres) through C(runuser -u postgres --); the module runs as root (C(become)).
extends_documentation_fragment:
  - opsbook.stack.checks
options:
  checks:
    description:
      - "Names of the checks to run: V(records), V(age), V(last_run), V(size), V(checksums), V(pgbackrest_info),
        V(wal_archive), V(pgbackrest_check), V(pgbackrest_verify), V(space), V(space_days)."
      - Omit to run all of them. An unknown name fails the module with a message listing the known ones.
      - The pgBackRest checks and V(wal_archive) run only with O(pgbackrest); V(pgbackrest_verify) only with O(verify).
  thresholds:
    description:
      - Overrides of the default thresholds, keyed by threshold name; each value is a mapping with C(warn), C(crit) and
        optionally C(direction); keys left out keep the default, an explicit C(null) turns that level off.
        A warn level beyond the crit level fails the module with a message naming the threshold.
      - "Threshold names (default warn/crit): C(shrink_pct) 20/50 (%, above), C(space_pct) 80/90 (%, above),
        C(space_days) 30/7 (days, below), C(wal_archive_minutes) 75% / 100% of O(rpo_minutes) (min, above)."
      - Backup age levels come from O(schedules).
  backup_root:
    description:
      - The backup location (records, artifacts and the pgBackRest repository live below it).
    type: path
    default: /var/backups/opsbook
  schedules:
    description:
      - The backups expected on this host; each gets the age, last run, size and (logical, redis, config) checksum checks.
      - Omit to expect every kind/target that has records here (records with status C(skipped) or C(removed) do not
        count), with the default age levels.
      - A O(schedules[].kind=logical) entry without O(schedules[].target) expands to every database with logical records
        (none found - one check that says no backup exists).
      - A wrong kind, a target on a kind that has none, levels that are not positive or a warn level beyond the crit level
        fail the module naming the entry.
    type: list
    elements: dict
    suboptions:
      kind:
        description: Backup kind.
        type: str
        required: true
        choices: [full, incr, diff, logical, redis, config]
      target:
        description: Database name, for O(schedules[].kind=logical) only.
        type: str
      warn_hours:
        description:
          - Age of the newest ok backup (hours since its end) that warns.
          - Default 7 for V(incr), 26 for the other kinds.
        type: float
      crit_hours:
        description:
          - Age that is critical. Default 13 for V(incr), 50 for the other kinds.
        type: float
  stanza:
    description: The pgBackRest stanza.
    type: str
    default: main
  pgbackrest_config:
    description: The pgBackRest configuration file (passed as C(--config)).
    type: path
    default: /etc/pgbackrest/pgbackrest.conf
  pgbackrest:
    description:
      - Whether this host runs pgBackRest (and PostgreSQL with WAL archiving); V(false) leaves out the pgBackRest and
        WAL archive checks.
    type: bool
    default: true
  pg_port:
    description: Port of the local PostgreSQL server, for the V(wal_archive) check (unix socket, peer authentication).
    type: int
    default: 5432
  rpo_minutes:
    description:
      - Recovery point objective in minutes; the V(wal_archive) levels default to 75% (warn) and 100% (crit) of it.
    type: float
    default: 60
  verify:
    description:
      - Run C(pgbackrest verify) for the stanza (reads the whole repository; meant for the weekly run).
    type: bool
    default: false
notes:
  - Runs as root on the host that takes the backups (C(become=true)); records and artifacts are readable by root only.
  - "Growth counts the backups recorded in the last 7 days, not the WAL archive and not what rotation frees; it is an
    upper bound of the real growth."
seealso:
  - module: opsbook.stack.pg_check
  - module: opsbook.stack.host_check
"""

EXAMPLES = r"""
- name: Check the backups of the database host
  opsbook.stack.backup_check:
    schedules:
      - kind: full
      - kind: incr
      - kind: logical
        target: appdb
      - kind: config
    rpo_minutes: 60
  become: true
  register: backups

- name: Weekly - also verify the pgBackRest repository, tighter space warning
  opsbook.stack.backup_check:
    verify: true
    thresholds:
      space_pct: {warn: 70, crit: 85}
  become: true

- name: A host without pgBackRest (Redis and config snapshots only)
  opsbook.stack.backup_check:
    pgbackrest: false
    schedules: [{kind: redis}, {kind: config}]
  become: true

- name: Fail the play when anything is critical
  ansible.builtin.assert:
    that: backups.summary.worst != 'crit'
    fail_msg: "{{ backups.checks | selectattr('status', 'eq', 'crit') | map(attribute='message') | list }}"
"""

RETURN = r"""
checks:
  description: One result per check, in the order records, per schedule (age, last_run, size, checksums), pgBackRest, space.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: Stable check id, for example V(backup.age:logical.appdb) or V(pgbackrest.wal_archive).
      type: str
    status:
      description: V(ok), V(warn), V(crit) or V(unknown).
      type: str
    value:
      description: The measured value (hours, %, minutes, days, count), or null.
      type: raw
    warn:
      description: Warning level in effect, or null.
      type: float
    crit:
      description: Critical level in effect, or null.
      type: float
    unit:
      description: Unit of value and levels (V(h), V(%), V(min), V(days)).
      type: str
    message:
      description: One human sentence; checksum problems name the files.
      type: str
    details:
      description: Structured extras (the records looked at, file problems, pgBackRest status, archiver state, growth).
      type: dict
  sample:
    - check: backup.checksums:logical.appdb
      status: crit
      value: 2
      warn: null
      crit: null
      unit: files
      message: "logical appdb backup 20261126T071500Z-logical-appdb: 2 of 5 files fail verification: toc.dat: sha256 mismatch;
        3456.dat.zst: size 0 != 12345"
      details: {problems: ["toc.dat: sha256 mismatch", "3456.dat.zst: size 0 != 12345"]}
summary:
  description: Counts per status and the worst status.
  returned: always
  type: dict
  contains:
    ok:
      description: Number of ok results.
      type: int
    warn:
      description: Number of warn results.
      type: int
    crit:
      description: Number of crit results.
      type: int
    unknown:
      description: Number of unknown results.
      type: int
    total:
      description: Number of results.
      type: int
    worst:
      description: Worst status (crit > unknown > warn > ok).
      type: str
  sample: {ok: 12, warn: 0, crit: 0, unknown: 0, total: 12, worst: ok}
"""
# pylint: enable=duplicate-code

import datetime
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opsbook.stack.plugins.module_utils import _backup
from ansible_collections.opsbook.stack.plugins.module_utils._backup import Record
from ansible_collections.opsbook.stack.plugins.module_utils._checks import (
    ABOVE,
    BELOW,
    CRIT,
    OK,
    THRESHOLDS_SPEC,
    WARN,
    CheckResult,
    Threshold,
    ThresholdError,
    evaluate,
    merge_thresholds,
    module_output,
    result,
    select,
    unknown,
)
from ansible_collections.opsbook.stack.plugins.module_utils._host import FsUsage, fs_usage
from ansible_collections.opsbook.stack.plugins.module_utils._sizes import human_bytes
from ansible_collections.opsbook.stack.plugins.module_utils._timestamps import format_utc, utc_now

CHECKS: tuple[str, ...] = (
    "records",
    "age",
    "last_run",
    "size",
    "checksums",
    "pgbackrest_info",
    "wal_archive",
    "pgbackrest_check",
    "pgbackrest_verify",
    "space",
    "space_days",
)
PGBACKREST_CHECKS: tuple[str, ...] = ("pgbackrest_info", "wal_archive", "pgbackrest_check", "pgbackrest_verify")

# Default age levels (hours) per kind: a daily schedule warns after a missed run plus slack.
AGE_DEFAULTS: dict[str, tuple[float, float]] = {
    "full": (26, 50),
    "incr": (7, 13),
    "diff": (26, 50),
    "logical": (26, 50),
    "redis": (26, 50),
    "config": (26, 50),
}
SIZE_KINDS: tuple[str, ...] = ("full", "logical", "redis", "config")
RPO_WARN_SHARE = 0.75


def default_thresholds(rpo_minutes: float) -> dict[str, Threshold]:
    return {
        "shrink_pct": Threshold(20, 50, ABOVE),
        "space_pct": Threshold(80, 90, ABOVE),
        "space_days": Threshold(30, 7, BELOW),
        "wal_archive_minutes": Threshold(round(rpo_minutes * RPO_WARN_SHARE, 2), rpo_minutes, ABOVE),
    }


@dataclass(frozen=True)
class Schedule:
    kind: str
    target: str | None
    threshold: Threshold

    @property
    def instance(self) -> str:
        return f"{self.kind}.{self.target}" if self.target else self.kind

    @property
    def label(self) -> str:
        return f"{self.kind} {self.target}" if self.target else self.kind


class ScheduleError(ValueError):
    """A schedules entry that makes no sense."""


def age_threshold(kind: str, warn: Any = None, crit: Any = None, name: str | None = None) -> Threshold:
    default = AGE_DEFAULTS[kind]
    spec: dict[str, Any] = {}
    if warn is not None:
        spec["warn"] = warn
    if crit is not None:
        spec["crit"] = crit
    name = name or f"age of {kind}"
    threshold = Threshold.from_spec(spec, name, Threshold(default[0], default[1], ABOVE))
    for level, value in (("warn_hours", threshold.warn), ("crit_hours", threshold.crit)):
        if value is not None and value <= 0:
            raise ThresholdError(f"threshold {name!r}: {level} must be more than 0 hours, got {value:g}")
    return threshold


def build_schedules(entries: list[Mapping[str, Any]] | None, records: list[Record]) -> list[Schedule]:
    """Validate the ``schedules`` option, or derive the schedules from the records found.

    Raises ScheduleError / ThresholdError naming the entry.
    """
    found = _backup.keys_found(records)
    if entries is None:
        return [Schedule(kind, target, age_threshold(kind)) for kind, target in found]
    out: list[Schedule] = []
    seen: set[tuple[str, str | None]] = set()
    for index, entry in enumerate(entries):
        kind = str(entry.get("kind") or "")
        if kind not in _backup.KINDS:
            raise ScheduleError(f"schedules[{index}]: kind {kind!r} is unknown; use one of {', '.join(_backup.KINDS)}")
        target = entry.get("target") or None
        if target is not None and kind != "logical":
            raise ScheduleError(f"schedules[{index}]: kind {kind} takes no target (got {target!r}); only logical backups have one")
        name = f"schedules[{index}] ({kind}{' ' + target if target else ''})"
        threshold = age_threshold(kind, entry.get("warn_hours"), entry.get("crit_hours"), name)
        if kind == "logical" and target is None:
            targets: list[str | None] = [t for k, t in found if k == "logical" and t] or [None]
        else:
            targets = [target]
        for one in targets:
            if (kind, one) in seen:
                raise ScheduleError(f"{name}: {kind}{' ' + one if one else ''} is scheduled twice")
            seen.add((kind, one))
            out.append(Schedule(kind, one, threshold))
    return out


# ---------------------------------------------------------------- evaluation (plain data)


def _hours(later: datetime.datetime, earlier: datetime.datetime) -> float:
    return round(max(0.0, (later - earlier).total_seconds()) / 3600.0, 2)


def records_result(root: str, root_exists: bool, records: list[Record], problems: list[str]) -> CheckResult:
    check = "backup.records"
    details: dict[str, Any] = {"backup_root": root, "records": len(records), "problems": list(problems)}
    if not root_exists:
        return result(check, CRIT, f"backup location {root} does not exist (no backup can have run here; check backup_root)",
                      value=0, unit="records", details=details)
    if problems:
        return result(
            check, WARN,
            f"{len(problems)} record file(s) under {root}/records cannot be used: {'; '.join(problems)}",
            value=len(records), unit="records", details=details,
        )
    if not records:
        return result(check, OK, f"no backup records under {root}/records yet", value=0, unit="records", details=details)
    return result(check, OK, f"{len(records)} backup records read from {root}/records", value=len(records),
                  unit="records", details=details)


# A newer backup of a "larger" kind also satisfies the schedule of an
# incremental (or differential): it holds everything the incremental would.
COVERED_BY = {"incr": ("incr", "diff", "full"), "diff": ("diff", "full")}


def newest_covering(records: list[Record], schedule: Schedule) -> Record | None:
    """The newest ok backup that satisfies the schedule (for incr/diff also a newer diff or full)."""
    candidates = [_backup.newest_ok(records, kind, schedule.target) for kind in COVERED_BY.get(schedule.kind, (schedule.kind,))]
    found = [record for record in candidates if record is not None and record.finished is not None]
    return max(found, key=lambda record: record.finished) if found else None


def age_result(schedule: Schedule, records: list[Record], now: datetime.datetime) -> CheckResult:
    check = f"backup.age:{schedule.instance}"
    newest = newest_covering(records, schedule)
    history = _backup.of_kind(records, schedule.kind, schedule.target)
    if newest is None or newest.finished is None:
        details: dict[str, Any] = {"records": len(history)}
        message = f"no successful {schedule.label} backup"
        if history:
            last = history[-1]
            details["newest"] = last.summary()
            message += f" (newest run {last.id}: {last.status}{': ' + last.message if last.message else ''})"
        else:
            message += " (no records)"
        return result(check, CRIT, message, unit="h", threshold=schedule.threshold, details=details)
    age = _hours(now, newest.finished)
    evaluated = evaluate(
        check, age, schedule.threshold, unit="h", label=f"age of the newest successful {schedule.label} backup",
        details={"newest": newest.summary()},
    )
    evaluated.message = f"{evaluated.message}; {newest.id} ended {format_utc(newest.finished)}"
    if newest.kind != schedule.kind:
        evaluated.message += f" (a {newest.kind} backup also covers the {schedule.kind} schedule)"
    return evaluated


def last_run_result(schedule: Schedule, records: list[Record]) -> CheckResult:
    check = f"backup.last_run:{schedule.instance}"
    history = _backup.of_kind(records, schedule.kind, schedule.target)
    if not history:
        covering = newest_covering(records, schedule)
        if covering is not None:
            return result(check, OK, f"no {schedule.label} backup has run yet; {covering.kind} backup {covering.id} covers it",
                          value=None, details={"newest": covering.summary()})
        return result(check, CRIT, f"no {schedule.label} backup has run (no records)")
    last = history[-1]
    details = {"newest": last.summary()}
    when = format_utc(last.finished)
    reason = f": {last.message}" if last.message else ""
    if last.status == "failed":
        return result(check, CRIT, f"last {schedule.label} backup {last.id} failed at {when}{reason}", value=last.status, details=details)
    if last.status == _backup.INTERRUPTED:
        return result(
            check, CRIT,
            f"last {schedule.label} backup {last.id} was interrupted: started {format_utc(last.start)}, "
            f"its process {last.pid if last.pid is not None else '(no pid)'} is gone and the record still says running",
            value=last.status, details=details,
        )
    if last.status == "running":
        return result(check, OK, f"{schedule.label} backup {last.id} running since {format_utc(last.start)} (pid {last.pid})",
                      value=last.status, details=details)
    if last.status == "skipped":
        return result(check, OK, f"last {schedule.label} backup {last.id} was skipped at {when}{reason}", value=last.status, details=details)
    return result(check, OK, f"last {schedule.label} backup {last.id} ok at {when}", value=last.status, details=details)


def size_result(schedule: Schedule, records: list[Record], threshold: Threshold) -> CheckResult:
    check = f"backup.size:{schedule.instance}"
    good = _backup.ok_records(records, schedule.kind, schedule.target)
    if not good:
        return unknown(check, f"no successful {schedule.label} backup to size")
    newest = good[-1]
    if newest.size_bytes is None:
        return unknown(check, f"{schedule.label} backup {newest.id}: the record has no size_bytes", details={"newest": newest.summary()})
    if len(good) == 1:
        return result(check, OK, f"first {schedule.label} backup ({human_bytes(newest.size_bytes)}), nothing to compare with",
                      value=0.0, unit="%", threshold=threshold, details={"newest": newest.summary()})
    previous = good[-2]
    details = {"newest": newest.summary(), "previous": previous.summary()}
    if previous.size_bytes is None:
        return unknown(check, f"{schedule.label} backup {previous.id}: the record has no size_bytes", details=details)
    shrink = _backup.shrink_pct(newest.size_bytes, previous.size_bytes)
    if shrink is None:
        return result(check, OK, f"{schedule.label} backup {newest.id} is {human_bytes(newest.size_bytes)}; the previous one was empty",
                      unit="%", threshold=threshold, details=details)
    evaluated = evaluate(check, shrink, threshold, unit="%", details=details)
    limits = evaluated.message[evaluated.message.rfind(" ("):] if evaluated.message.endswith(")") else ""
    direction = f"{shrink:g}% smaller" if shrink >= 0 else f"{-shrink:g}% larger"
    evaluated.message = (
        f"{schedule.label} backup {newest.id} ({human_bytes(newest.size_bytes)}) is {direction} than the previous one "
        f"({human_bytes(previous.size_bytes)}){limits}"
    )
    return evaluated


def checksums_result(
    schedule: Schedule, newest: Record | None, problems: list[str] | None, manifest: Mapping[str, Any] | None
) -> CheckResult:
    """Judge the outcome of ``_backup.verify_manifest`` on the newest ok backup."""
    check = f"backup.checksums:{schedule.instance}"
    if newest is None:
        return result(check, CRIT, f"no successful {schedule.label} backup to verify", unit="files")
    details: dict[str, Any] = {"id": newest.id, "path": newest.path, "record_checksum_status": newest.checksum_status}
    if not newest.path:
        return result(check, CRIT, f"{schedule.label} backup {newest.id}: the record has no path; cannot find its manifest",
                      unit="files", details=details)
    problems = list(problems or [])
    details["problems"] = problems
    if manifest is None:
        return result(check, CRIT, f"{schedule.label} backup {newest.id}: {problems[0] if problems else 'manifest.json cannot be read'}",
                      unit="files", details=details)
    files = manifest.get("files") or []
    details["files"] = len(files)
    details["total_size"] = manifest.get("total_size")
    if problems:
        return result(
            check, CRIT,
            f"{schedule.label} backup {newest.id}: {len(problems)} of {len(files)} files fail verification: {'; '.join(problems)}",
            value=len(problems), unit="files", details=details,
        )
    return result(check, OK, f"{schedule.label} backup {newest.id}: all {len(files)} files match manifest.json (sha256 and size)",
                  value=0, unit="files", details=details)


def pgbackrest_info_result(stanza: str, rc: int, out: str, err: str) -> CheckResult:
    check = "pgbackrest.info"
    if rc != 0:
        return unknown(check, f"pgbackrest info failed (exit {rc}): {_backup.error_line(err, out) or 'no output'}")
    try:
        info = _backup.parse_pgbackrest_info(out, stanza)
    except ValueError as exc:
        return unknown(check, f"cannot read pgbackrest info: {exc}")
    newest = info.newest()
    details: dict[str, Any] = {
        "stanza": stanza,
        "code": info.code,
        "status_message": info.message,
        "backups": len(info.backups),
        "backup_running": info.backup_running,
        "archive_min": info.archive_min,
        "archive_max": info.archive_max,
        "repos": info.repos,
        "newest": None if newest is None else {
            "label": newest.label, "type": newest.type, "stop": format_utc(newest.stop),
            "repo_delta": newest.repo_delta, "error": newest.error,
        },
    }
    if not info.ok:
        hint = ""
        if info.code == 1:
            hint = " (run `pgbackrest stanza-create` or fix repo1-path)"
        elif info.code == 2:
            hint = " (no valid backup in the repository: run a full backup)"
        return result(check, CRIT, f"pgBackRest stanza {stanza}: {info.message} (status code {info.code}){hint}",
                      value=info.code, details=details)
    running = "; a backup is running" if info.backup_running else ""
    if newest is not None and newest.error:
        return result(
            check, WARN,
            f"pgBackRest stanza {stanza} ok, but the newest backup {newest.label} reported page checksum errors{running}",
            value=info.code, details=details,
        )
    newest_text = f"newest {newest.label} ({newest.type}) at {format_utc(newest.stop)}" if newest else "no backups"
    return result(
        check, OK,
        f"pgBackRest stanza {stanza} ok: {len(info.backups)} backups, {newest_text}; WAL archive "
        f"{info.archive_min or '-'} .. {info.archive_max or '-'}{running}",
        value=info.code, details=details,
    )


def pgbackrest_check_result(stanza: str, rc: int, out: str, err: str) -> CheckResult:
    check = "pgbackrest.check"
    if rc == 0:
        return result(check, OK, f"pgbackrest check passed for stanza {stanza} (repository reachable, WAL archived)", value=rc)
    return result(check, CRIT, f"pgbackrest check failed for stanza {stanza} (exit {rc}): {_backup.error_line(err, out) or 'no output'}",
                  value=rc, details={"output": (err or out).strip()[-2000:]})


def pgbackrest_verify_result(stanza: str, rc: int, out: str, err: str) -> CheckResult:
    check = "pgbackrest.verify"
    details = {"output": (out or "").strip()[-4000:]}
    if rc == 0:
        return result(check, OK, f"pgbackrest verify found no problem in stanza {stanza} (backups and WAL archive)",
                      value=rc, details=details)
    return result(check, CRIT, f"pgbackrest verify failed for stanza {stanza} (exit {rc}): {_backup.error_line(err, out) or 'no output'}",
                  value=rc, details=details)


def wal_archive_result(row: Mapping[str, Any], threshold: Threshold, rpo_minutes: float) -> CheckResult:
    """Decide pgbackrest.wal_archive from the parsed pg_stat_archiver row (``_backup.parse_archiver``)."""
    check = "pgbackrest.wal_archive"
    now = row["now"]
    archived_at = row.get("last_archived_time")
    failed_at = row.get("last_failed_time")
    age = round(max(0.0, (now - archived_at).total_seconds()) / 60.0, 1) if archived_at else None
    details = {
        key: (format_utc(value) if isinstance(value, datetime.datetime) else value) for key, value in row.items()
    }
    details["rpo_minutes"] = rpo_minutes

    def decided(status: str, message: str) -> CheckResult:
        return result(check, status, message, value=age, unit="min", threshold=threshold, details=details)

    if row.get("in_recovery") and row.get("archive_mode") != "always":
        return decided(OK, "standby: WAL is archived by the primary")
    if row.get("archive_mode") == "off":
        return decided(CRIT, "archive_mode is off: WAL is not archived, point-in-time recovery is impossible")
    last_text = f"last archived {row.get('last_archived_wal')} at {format_utc(archived_at)}" if archived_at else "nothing archived yet"
    if failed_at is not None and (archived_at is None or failed_at > archived_at):
        return decided(
            CRIT,
            f"archiving fails: {row.get('last_failed_wal')} at {format_utc(failed_at)} "
            f"({row.get('failed_count')} failed attempts since the statistics reset; {last_text}; "
            f"{row.get('ready_count')} segments waiting)",
        )
    ready = int(row.get("ready_count") or 0)
    if archived_at is None:
        if ready:
            return decided(CRIT, f"no WAL segment has ever been archived and {ready} wait (is archive_command working?)")
        return decided(WARN, "no WAL segment has been archived yet (`pgbackrest check` archives one)")
    if _backup.wal_not_after(row.get("current_wal"), row.get("last_archived_wal")):
        return decided(OK, f"nothing written since the last archived segment: {last_text} ({age:g} min ago)")
    timeout_s = row.get("archive_timeout_s")
    timeout_ok = bool(timeout_s) and timeout_s <= rpo_minutes * 60
    if ready == 0 and (timeout_ok or threshold.status_of(age) == OK):
        return decided(
            OK,
            f"every completed WAL segment is archived ({last_text}, {age:g} min ago); the current segment "
            f"{row.get('current_wal')} follows at the next switch (archive_timeout {timeout_s:g} s)" if timeout_s else
            f"every completed WAL segment is archived ({last_text}, {age:g} min ago)",
        )
    waiting = f"{ready} completed segments wait" if ready else (
        f"archive_timeout {timeout_s or 0:g} s exceeds the RPO of {rpo_minutes:g} min, the current segment "
        f"{row.get('current_wal')} is not archived yet"
    )
    evaluated = evaluate(check, age, threshold, unit="min", label="age of the last archived WAL", details=details)
    evaluated.message = f"{evaluated.message}; {last_text}; {waiting}"
    return evaluated


def space_result(root: str, usage: FsUsage | None, error: str | None, threshold: Threshold) -> CheckResult:
    check = "backup.space"
    if usage is None:
        return result(check, CRIT, f"cannot measure the space of backup location {root}: {error}", unit="%", threshold=threshold)
    details = {"path": root, "size_bytes": usage.size_bytes, "used_bytes": usage.used_bytes, "avail_bytes": usage.avail_bytes}
    evaluated = evaluate(check, usage.used_pct, threshold, unit="%", label=f"space used on the filesystem of {root}", details=details)
    evaluated.message = f"{evaluated.message}; {human_bytes(usage.avail_bytes)} free"
    return evaluated


def space_days_result(
    root: str, usage: FsUsage | None, records: list[Record], now: datetime.datetime, threshold: Threshold
) -> CheckResult:
    check = "backup.space_days"
    if usage is None:
        return unknown(check, f"cannot measure the space of backup location {root}")
    rate, growth = _backup.growth_per_day(records, now)
    details = dict(growth, bytes_per_day=round(rate), avail_bytes=usage.avail_bytes, path=root)
    days = _backup.days_until_full(usage.avail_bytes, rate)
    if days is None:
        return result(check, OK, f"backups under {root} are not growing (no successful backup in the last "
                      f"{growth['window_days']} days)", unit="days", threshold=threshold, details=details)
    evaluated = evaluate(check, round(days, 1), threshold, unit="days", label=f"days until the filesystem of {root} is full",
                         details=details)
    evaluated.message = f"{evaluated.message}; growth {human_bytes(rate)}/day, {human_bytes(usage.avail_bytes)} free"
    return evaluated


# ---------------------------------------------------------------- collection (I/O)


def collect(
    params: Mapping[str, Any],
    selected: list[str],
    thresholds: Mapping[str, Threshold],
    run: Callable[[Sequence[str]], tuple[int, str, str]],
    which: Callable[[str], str | None],
    now: datetime.datetime | None = None,
) -> list[CheckResult]:
    """Read the host and build every selected result; ``run``/``which`` execute and locate commands."""
    now = now or utc_now()
    root = params["backup_root"]
    root_exists = os.path.isdir(root)
    records, problems = _backup.read_records(root) if root_exists else ([], [])
    schedules = build_schedules(params["schedules"], records)
    results: list[CheckResult] = []
    if "records" in selected:
        results.append(records_result(root, root_exists, records, problems))
    for schedule in schedules:
        if "age" in selected:
            results.append(age_result(schedule, records, now))
        if "last_run" in selected:
            results.append(last_run_result(schedule, records))
        if "size" in selected and schedule.kind in SIZE_KINDS:
            results.append(size_result(schedule, records, thresholds["shrink_pct"]))
        if "checksums" in selected and schedule.kind in _backup.MANIFEST_KINDS:
            newest = _backup.newest_ok(records, schedule.kind, schedule.target)
            verified: list[str] | None = None
            manifest: dict[str, Any] | None = None
            if newest is not None and newest.path:
                verified, manifest = _backup.verify_manifest(newest.path)
            results.append(checksums_result(schedule, newest, verified, manifest))
    if params["pgbackrest"]:
        results.extend(collect_pgbackrest(params, selected, thresholds, run, which))
    usage: FsUsage | None = None
    error: str | None = None
    if "space" in selected or "space_days" in selected:
        try:
            usage = fs_usage(root)
        except OSError as exc:
            error = exc.strerror or str(exc)
    if "space" in selected:
        results.append(space_result(root, usage, error, thresholds["space_pct"]))
    if "space_days" in selected:
        results.append(space_days_result(root, usage, records, now, thresholds["space_days"]))
    return results


def collect_pgbackrest(
    params: Mapping[str, Any],
    selected: list[str],
    thresholds: Mapping[str, Threshold],
    run: Callable[[Sequence[str]], tuple[int, str, str]],
    which: Callable[[str], str | None],
) -> list[CheckResult]:
    stanza, config = params["stanza"], params["pgbackrest_config"]
    wanted = [name for name in PGBACKREST_CHECKS if name in selected and (name != "pgbackrest_verify" or params["verify"])]
    ids = {name: ("pgbackrest.wal_archive" if name == "wal_archive" else f"pgbackrest.{name.split('_', 1)[1]}") for name in wanted}
    missing = [tool for tool in ("runuser", "pgbackrest") if not which(tool)]
    if missing:
        reason = f"{' and '.join(missing)} not found on this host; install pgBackRest or set pgbackrest: false"
        return [unknown(ids[name], reason) for name in wanted]
    results: list[CheckResult] = []
    if "pgbackrest_info" in wanted:
        results.append(pgbackrest_info_result(stanza, *run(_backup.pgbackrest_info_command(stanza, config))))
    # Before `pgbackrest check`: it forces a WAL switch and archives it, which would hide the archiver's state.
    if "wal_archive" in wanted:
        results.append(collect_wal(params, thresholds["wal_archive_minutes"], run, which))
    if "pgbackrest_check" in wanted:
        results.append(pgbackrest_check_result(stanza, *run(_backup.pgbackrest_check_command(stanza, config))))
    if "pgbackrest_verify" in wanted:
        results.append(pgbackrest_verify_result(stanza, *run(_backup.pgbackrest_verify_command(stanza, config))))
    return results


def collect_wal(
    params: Mapping[str, Any],
    threshold: Threshold,
    run: Callable[[Sequence[str]], tuple[int, str, str]],
    which: Callable[[str], str | None],
) -> CheckResult:
    check = "pgbackrest.wal_archive"
    if not which("psql"):
        return unknown(check, "psql not found on this host (install postgresql-client)")
    rc, out, err = run(_backup.psql_command(_backup.WAL_QUERY, params["pg_port"]))
    if rc != 0:
        return unknown(check, f"cannot read pg_stat_archiver as postgres (exit {rc}): {_backup.error_line(err, out) or 'no output'}")
    try:
        row = _backup.parse_archiver(out)
    except ValueError as exc:
        return unknown(check, f"cannot read pg_stat_archiver: {exc}")
    return wal_archive_result(row, threshold, float(params["rpo_minutes"]))


ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "checks": {"type": "list", "elements": "str"},
    "thresholds": THRESHOLDS_SPEC,
    "backup_root": {"type": "path", "default": "/var/backups/opsbook"},
    "schedules": {
        "type": "list",
        "elements": "dict",
        "options": {
            "kind": {"type": "str", "required": True, "choices": list(_backup.KINDS)},
            "target": {"type": "str"},
            "warn_hours": {"type": "float"},
            "crit_hours": {"type": "float"},
        },
    },
    "stanza": {"type": "str", "default": "main"},
    "pgbackrest_config": {"type": "path", "default": "/etc/pgbackrest/pgbackrest.conf"},
    "pgbackrest": {"type": "bool", "default": True},
    "pg_port": {"type": "int", "default": 5432},
    "rpo_minutes": {"type": "float", "default": 60},
    "verify": {"type": "bool", "default": False},
}


def validate(params: Mapping[str, Any]) -> tuple[list[str], dict[str, Threshold]]:
    """Check the options (raises ValueError naming the bad one); return selected checks and thresholds."""
    selected = select(params["checks"], CHECKS)
    rpo = params["rpo_minutes"]
    if rpo is None or rpo <= 0:
        raise ValueError(f"rpo_minutes must be a positive number of minutes, got {rpo}")
    if not 0 < params["pg_port"] < 65536:
        raise ValueError(f"pg_port must be a TCP port (1-65535), got {params['pg_port']}")
    if not params["stanza"] or any(char.isspace() for char in params["stanza"]):
        raise ValueError(f"stanza must be a non-empty name without spaces, got {params['stanza']!r}")
    thresholds = merge_thresholds(default_thresholds(float(rpo)), params["thresholds"])
    # Schedules are validated against the real records in collect(); check their shape here too.
    build_schedules(params["schedules"], [])
    return selected, thresholds


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        selected, thresholds = validate(params)
    except (ValueError, ThresholdError) as exc:
        module.fail_json(msg=str(exc))

    def run(command: Sequence[str]) -> tuple[int, str, str]:
        return module.run_command(list(command), cwd="/", environ_update={"LC_ALL": "C"})

    def which(name: str) -> str | None:
        return module.get_bin_path(name)

    try:
        results = collect(params, selected, thresholds, run, which)
    except (ValueError, ThresholdError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **module_output(results))


if __name__ == "__main__":
    main()

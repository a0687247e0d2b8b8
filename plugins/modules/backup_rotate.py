#!/usr/bin/python
# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remove old backups under a grandfather-father-son policy, never the ones that matter."""

from __future__ import annotations

# Documentation repeats the result contract on purpose (RETURN has no doc fragments): no duplicate-code check.
# pylint: disable=duplicate-code
DOCUMENTATION = r"""
---
module: backup_rotate
short_description: Remove old backups by a grandfather-father-son policy, safely
version_added: 0.3.0
author: opsbook.stack contributors (!UNKNOWN)
description:
  - Applies a GFS retention policy per backup kind to the backups of the opsbook backup layout under O(backup_root)
    (see docs of the C(backup) role) and removes what the policy does not keep, with the reason for every decision.
    The selection is the one of the P(opsbook.stack.gfs_select#filter) filter.
  - "Logical dumps, Redis snapshots and config snapshots (kinds V(logical), V(redis), V(config)): the candidates are the
    directories C(<backup_root>/<kind>/[<target>/]<stamp>/) (the target level only for V(logical)). A directory is
    identified when its name is a UTC stamp (C(20261126T071500Z)) and it has an outcome record
    (C(<backup_root>/records/<stamp>-<kind>[-<target>].json)) or a C(manifest.json). It counts as verified when its
    record says C(status) V(ok) and C(checksum_status) V(verified). Removing one deletes the directory (never following a
    symbolic link, never outside O(backup_root)) and rewrites its record with C(status) V(removed), C(removed_at) and
    C(removed_reason); the record file stays as history (one is written for a directory identified by its manifest only)."
  - "pgBackRest backups (kinds V(full), V(incr), V(diff)): the candidates are the backup sets of
    C(runuser -u postgres -- pgbackrest --config=<pgbackrest_config> --stanza=<stanza> info --output json)
    (time = C(timestamp.stop); an incremental or differential depends on its C(prior)). A set is verified when the
    outcome record whose C(pgbackrest.label) is the set's label says C(status) V(ok) and C(checksum_status) V(verified);
    a set without a record counts as verified when pgBackRest lists it without error. Removal is only ever
    C(runuser -u postgres -- pgbackrest --config=<pgbackrest_config> --stanza=<stanza> expire --set=<label>), newest set
    first, so every set is expired on its own; repository files are never touched. The matching record is marked
    V(removed) like above."
  - "Never removed: a directory or entry that cannot be identified (listed in RV(unidentified), for example a symbolic
    link, a name that is not a stamp, a directory without record and manifest, a backup whose record says it is still
    running); per kind (and target) the newest verified backup and every backup at least as new (when none is verified,
    nothing of that kind is removed); and every backup that a kept one depends on, across kinds (a full stays while a
    kept incremental or differential needs it)."
  - Every policy is validated before anything is read or removed; a bad one fails the module naming the kind and the key.
options:
  backup_root:
    description:
      - The backup location (the C(backup) role's C(backup_root)). It must exist.
    type: path
    default: /var/backups/opsbook
  policies:
    description:
      - The retention policy per kind, keyed by kind (V(full), V(incr), V(diff), V(logical), V(redis), V(config)).
      - "Each policy is a mapping with the optional keys C(daily), C(weekly), C(monthly), C(yearly) (keep the newest backup
        of each of the N most recent UTC days / ISO weeks / months / years that have backups) and C(max_age_days)
        (remove backups older than that unless protected; alone it keeps everything within the age); values are
        integers >= 0 or null."
      - A policy that would keep nothing (all counts 0 or null without C(max_age_days), or C(max_age_days) 0), a negative or
        non-integer value, an unknown key or an unknown kind fails the module before anything is removed.
      - The policy of V(logical) applies to each database (target) on its own.
      - A kind that is rotated (see O(kinds)) but has no policy is kept whole.
    type: dict
    required: true
  kinds:
    description:
      - The kinds to rotate. Default every kind found (a directory C(<backup_root>/<kind>) for V(logical), V(redis),
        V(config); the set types pgBackRest lists, when C(pgbackrest) is installed and O(pgbackrest_config) exists).
      - pgBackRest sets of a type not listed are all kept, and keep the sets they depend on.
    type: list
    elements: str
    choices: [full, incr, diff, logical, redis, config]
  stanza:
    description: The pgBackRest stanza.
    type: str
    default: main
  pgbackrest_config:
    description: The pgBackRest configuration file, passed as C(--config).
    type: path
    default: /etc/pgbackrest/pgbackrest.conf
  now:
    description:
      - Reference time for C(max_age_days), ISO 8601 (C(2026-11-26T07:15:00Z)). Default the current time. Meant for tests.
    type: str
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - In check mode nothing is removed and no record is written; RV(removed) lists what would be removed and why.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details:
      - The diff lists the ids of the backups before and after the rotation.
notes:
  - Run it as root (C(become)); it runs pgBackRest as the C(postgres) user through C(runuser).
  - C(changed) is true when something was (or in check mode would be) removed.
seealso:
  - plugin: opsbook.stack.gfs_select
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Rotate every backup kind by the manuals' retention (90 days of fulls, 30 days of incrementals)
  opsbook.stack.backup_rotate:
    policies:
      full: {max_age_days: 90}
      incr: {max_age_days: 30}
      diff: {max_age_days: 30}
      logical: {daily: 7, weekly: 4, monthly: 12, yearly: 3}
      redis: {daily: 7, weekly: 4}
      config: {daily: 14, monthly: 12}
  become: true
  register: rotation

- name: What would go, and why
  opsbook.stack.backup_rotate:
    backup_root: /srv/backups
    kinds: [logical]
    policies:
      logical: {daily: 7, weekly: 4}
  check_mode: true
  diff: true
  become: true
  register: preview

- name: Show it
  ansible.builtin.debug:
    msg: "{{ preview.removed | map(attribute='id') | zip(preview.removed | map(attribute='reason')) | list }}"
"""

RETURN = r"""
kept:
  description: The backups kept, newest first per kind.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Record id (C(<stamp>-<kind>[-<target>])); for a pgBackRest set without record C(<start stamp>-<type>).
      type: str
      sample: 20261126T071500Z-logical-appdb
    kind:
      description: Backup kind.
      type: str
      sample: logical
    target:
      description: The database of a logical dump, else null.
      type: str
      sample: appdb
    path:
      description: The backup's directory (logical, redis, config).
      type: str
      returned: for logical, redis and config
      sample: /var/backups/opsbook/logical/appdb/20261126T071500Z
    label:
      description: The pgBackRest backup label (full, incr, diff).
      type: str
      returned: for full, incr and diff
      sample: 20261126-071500F
    reason:
      description: Why it is kept.
      type: str
      sample: daily 2026-11-26, weekly 2026-W48
removed:
  description: The backups removed (in check mode, that would be removed), same fields as RV(kept); C(reason) says why.
  returned: always
  type: list
  elements: dict
  sample:
    - id: 20261001T071500Z-logical-appdb
      kind: logical
      target: appdb
      path: /var/backups/opsbook/logical/appdb/20261001T071500Z
      reason: not selected by daily 7/weekly 4/monthly 12
unidentified:
  description: Entries that could not be identified; they are never removed.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: The kind directory they were found in.
      type: str
    target:
      description: The target directory, or null.
      type: str
    path:
      description: The entry.
      type: str
    reason:
      description: Why it is not identified.
      type: str
      sample: symbolic link, never followed
protected:
  description: Per rotated group (V(full), V(incr), V(diff), V(redis), V(config), V(logical/<target>)) the id of the newest
    verified backup, kept with every backup at least as new; null when none is verified (then nothing of it is removed).
  returned: always
  type: dict
  sample: {"logical/appdb": "20261126T071500Z-logical-appdb", "full": "20261126T010000Z-full"}
kinds:
  description: The kinds rotated.
  returned: always
  type: list
  elements: str
msg:
  description: One line summary.
  returned: always
  type: str
  sample: removed 3 backups (logical 2, full 1), kept 12
"""
# pylint: enable=duplicate-code

import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.opsbook.stack.plugins.module_utils import _backup
from ansible_collections.opsbook.stack.plugins.module_utils._atomic import atomic_write
from ansible_collections.opsbook.stack.plugins.module_utils._gfs import (
    GfsError,
    Policy,
    parse_policy,
    parse_time,
    select_groups,
)
from ansible_collections.opsbook.stack.plugins.module_utils._timestamps import format_compact, format_utc, parse_utc, utc_now

PGBACKREST_KINDS: tuple[str, ...] = ("full", "incr", "diff")
DIR_KINDS: tuple[str, ...] = ("logical", "redis", "config")
ALL_KINDS: tuple[str, ...] = PGBACKREST_KINDS + DIR_KINDS

# (argv) -> (rc, stdout, stderr)
Runner = Callable[[list[str]], tuple[int, str, str]]


class RotateError(Exception):
    """A problem that fails the module; ``result`` holds what was already done."""

    def __init__(self, message: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.result = result or {}


@dataclass
class Candidate:
    """One backup the policy decides on."""

    id: str
    kind: str
    group: str
    time: datetime
    verified: bool
    target: str | None = None
    depends_on: str | None = None
    path: str | None = None
    label: str | None = None
    record_path: str | None = None
    record: dict[str, Any] | None = None
    # fields of a record written for a removed backup that had none
    new_record: dict[str, Any] | None = None

    def as_gfs(self) -> dict[str, Any]:
        return {"id": self.id, "time": self.time, "verified": self.verified, "depends_on": self.depends_on}

    def as_result(self, reason: str) -> dict[str, Any]:
        item: dict[str, Any] = {"id": self.id, "kind": self.kind, "target": self.target}
        if self.label is not None:
            item["label"] = self.label
        else:
            item["path"] = self.path
        item["reason"] = reason
        return item


def parse_stamp(name: str) -> datetime | None:
    """The UTC time of a ``20261126T071500Z`` directory name, else None (any other name, even a valid time)."""
    try:
        moment = parse_utc(name, "directory name")
    except ValueError:
        return None
    return moment if format_compact(moment) == name else None


def validate_policies(policies: Mapping[str, Any] | None) -> dict[str, Policy]:
    """Every policy checked, before anything is read or removed."""
    parsed: dict[str, Policy] = {}
    for kind, policy in (policies or {}).items():
        if kind not in ALL_KINDS:
            raise RotateError(f"policies: unknown kind {kind!r} (known: {', '.join(ALL_KINDS)})")
        try:
            parsed[kind] = parse_policy(policy, f"policies.{kind}")
        except GfsError as exc:
            raise RotateError(to_native(exc)) from None
    return parsed


def _running_pid(pid: Any) -> bool:
    """Whether a record's pid still runs (the same test backup_check uses)."""
    return isinstance(pid, int) and not isinstance(pid, bool) and _backup.pid_alive(pid)


def _verified(record: Mapping[str, Any] | None) -> bool:
    if record is None:
        return False
    return record.get("status") == "ok" and record.get("checksum_status") == "verified"


class Records:
    """The outcome records under ``<root>/records``."""

    def __init__(self, root: str) -> None:
        self.dir = os.path.join(root, "records")
        self.by_id: dict[str, tuple[str, dict[str, Any]]] = {}
        self.by_path: dict[str, tuple[str, dict[str, Any]]] = {}
        self.by_label: dict[str, tuple[str, dict[str, Any]]] = {}
        self.warnings: list[str] = []
        if not os.path.isdir(self.dir):
            return
        for name in sorted(os.listdir(self.dir)):
            if not name.endswith(".json") or name.startswith("."):
                continue
            file_path = os.path.join(self.dir, name)
            if os.path.islink(file_path) or not os.path.isfile(file_path):
                continue
            try:
                with open(file_path, encoding="utf-8") as handle:
                    record = json.load(handle)
            except (OSError, ValueError) as exc:
                self.warnings.append(f"record {file_path} is not readable JSON, ignored: {to_native(exc)}")
                continue
            if not isinstance(record, dict):
                continue
            entry = (file_path, record)
            if isinstance(record.get("id"), str):
                self.by_id[record["id"]] = entry
            if isinstance(record.get("path"), str):
                self.by_path[os.path.normpath(record["path"])] = entry
            pgbr = record.get("pgbackrest")
            if isinstance(pgbr, dict) and isinstance(pgbr.get("label"), str):
                previous = self.by_label.get(pgbr["label"])
                # several records for one label: prefer the one that ended ok
                if previous is None or record.get("status") == "ok":
                    self.by_label[pgbr["label"]] = entry

    def write_removed(self, candidate: Candidate, reason: str, when: datetime) -> None:
        """Mark the candidate's record removed (atomic rewrite); create one when there is none."""
        if candidate.record:
            record = dict(candidate.record)
        else:
            record = {
                "schema": 1,
                "id": candidate.id,
                "kind": candidate.kind,
                "target": candidate.target,
                "path": candidate.path,
                "start": format_utc(candidate.time),
                "checksum_status": "not_applicable",
                "pgbackrest": None,
                "message": "no outcome record was found; written when the backup was removed",
            }
            record.update(candidate.new_record or {})
        record["previous_status"] = record.get("status")
        record["status"] = "removed"
        record["removed_at"] = format_utc(when)
        record["removed_reason"] = reason
        record["removed_by"] = "opsbook.stack.backup_rotate"
        target = candidate.record_path or os.path.join(self.dir, f"{candidate.id}.json")
        os.makedirs(os.path.dirname(target), mode=0o750, exist_ok=True)
        atomic_write(target, json.dumps(record, indent=2, sort_keys=True) + "\n", 0o640)


class Scan:
    """What was found: candidates per group, unidentified entries, warnings."""

    def __init__(self) -> None:
        self.groups: dict[str, list[Candidate]] = {}
        self.group_kind: dict[str, str] = {}
        self.unidentified: list[dict[str, Any]] = []
        self.kinds_found: list[str] = []

    def add(self, candidate: Candidate) -> None:
        self.groups.setdefault(candidate.group, []).append(candidate)
        self.group_kind[candidate.group] = candidate.kind

    def odd(self, kind: str, target: str | None, path: str, reason: str) -> None:
        self.unidentified.append({"kind": kind, "target": target, "path": path, "reason": reason})


def _scan_stamp_entry(scan: Scan, records: Records, kind: str, target: str | None, path: str) -> None:
    name = os.path.basename(path)
    if os.path.islink(path):
        scan.odd(kind, target, path, "symbolic link, never followed")
        return
    if not os.path.isdir(path):
        scan.odd(kind, target, path, "not a directory")
        return
    moment = parse_stamp(name)
    if moment is None:
        scan.odd(kind, target, path, "name is not a UTC stamp (YYYYmmddTHHMMSSZ)")
        return
    ident = f"{name}-{kind}" + (f"-{target}" if target else "")
    entry = records.by_id.get(ident) or records.by_path.get(os.path.normpath(path))
    record_path, record = entry if entry else (None, None)
    manifest = os.path.join(path, "manifest.json")
    has_manifest = os.path.isfile(manifest) and not os.path.islink(manifest)
    if record is None and not has_manifest:
        scan.odd(kind, target, path, "no record and no manifest.json")
        return
    if record is not None and record.get("status") == "running" and _running_pid(record.get("pid")):
        scan.odd(kind, target, path, f"backup still running (pid {record.get('pid')})")
        return
    scan.add(
        Candidate(
            id=ident,
            kind=kind,
            group=f"{kind}/{target}" if target else kind,
            time=moment,
            verified=_verified(record),
            target=target,
            path=path,
            record_path=record_path,
            record=record,
        )
    )


def scan_dirs(scan: Scan, records: Records, root: str, kind: str) -> None:
    """Candidates of a directory kind under ``root`` (already a real path)."""
    kind_dir = os.path.join(root, kind)
    if os.path.islink(kind_dir):
        scan.odd(kind, None, kind_dir, "symbolic link, never followed")
        return
    if not os.path.isdir(kind_dir):
        return
    for name in sorted(os.listdir(kind_dir)):
        path = os.path.join(kind_dir, name)
        if kind != "logical":
            _scan_stamp_entry(scan, records, kind, None, path)
            continue
        if os.path.islink(path):
            scan.odd(kind, None, path, "symbolic link, never followed")
        elif not os.path.isdir(path):
            scan.odd(kind, None, path, "not a directory")
        else:
            for stamp in sorted(os.listdir(path)):
                _scan_stamp_entry(scan, records, kind, name, os.path.join(path, stamp))


def pgbackrest_argv(params: Mapping[str, Any], *args: str) -> list[str]:
    """``runuser -u postgres -- pgbackrest --config=C --stanza=S <args>``."""
    return [
        "runuser", "-u", "postgres", "--", "pgbackrest",
        f"--config={params['pgbackrest_config']}", f"--stanza={params['stanza']}", *args,
    ]


def pgbackrest_sets(params: Mapping[str, Any], runner: Runner) -> list[dict[str, Any]]:
    """The stanza's backup sets from ``pgbackrest info --output json``; RotateError on any problem."""
    argv = pgbackrest_argv(params, "info", "--output", "json")
    rc, out, err = runner(argv)
    if rc != 0:
        raise RotateError(
            f"`{' '.join(argv)}` failed (rc {rc}): {(err or out).strip() or 'no output'}; nothing was removed"
        )
    try:
        info = json.loads(out)
    except ValueError:
        raise RotateError(f"`{' '.join(argv)}` did not print JSON; nothing was removed") from None
    stanza = next((item for item in info if isinstance(item, dict) and item.get("name") == params["stanza"]), None)
    if stanza is None:
        raise RotateError(f"pgBackRest does not know stanza {params['stanza']!r}; nothing was removed")
    status = stanza.get("status") or {}
    code = status.get("code")
    if code == 2:  # no valid backups
        return []
    if code != 0:
        raise RotateError(
            f"pgBackRest stanza {params['stanza']!r} status {code}: {status.get('message')}; nothing was removed"
        )
    return [item for item in stanza.get("backup") or [] if isinstance(item, dict)]


def scan_pgbackrest(scan: Scan, records: Records, sets: list[dict[str, Any]], stanza: str) -> None:
    """Candidates of the pgBackRest sets (group = type)."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for item in sets:
        label = str(item.get("label"))
        entry = records.by_label.get(label)
        if entry:
            ident = str(entry[1].get("id"))
        else:
            start = (item.get("timestamp") or {}).get("start")
            ident = f"{format_compact(parse_time(start))}-{item.get('type')}"
        if ident in taken:
            ident = f"{ident}-{label}"
        taken.add(ident)
        ids[label] = ident
    for item in sets:
        label = str(item.get("label"))
        kind = str(item.get("type"))
        if kind not in PGBACKREST_KINDS:
            continue
        entry = records.by_label.get(label)
        record_path, record = entry if entry else (None, None)
        error = bool(item.get("error"))
        verified = not error and (_verified(record) if record is not None else True)
        timestamp = item.get("timestamp") or {}
        prior = item.get("prior")
        start = parse_time(timestamp.get("start") or timestamp.get("stop"))
        stop = parse_time(timestamp.get("stop") or timestamp.get("start"))
        scan.add(
            Candidate(
                id=ids[label],
                kind=kind,
                group=kind,
                time=stop,
                verified=verified,
                depends_on=ids.get(prior) if prior else None,
                label=label,
                record_path=record_path,
                record=record,
                new_record={
                    "start": format_utc(start),
                    "end": format_utc(stop),
                    "pgbackrest": {"label": label, "type": kind, "prior": prior, "stanza": stanza},
                },
            )
        )


def _inside(root: str, path: str) -> bool:
    """``path`` is strictly below ``root`` and no component of it is a symbolic link."""
    return (
        os.path.realpath(path) == path
        and not os.path.islink(path)
        and os.path.commonpath([root, path]) == root
        and path != root
    )


def run(params: Mapping[str, Any], check_mode: bool, runner: Runner, which: Callable[[str], str | None]) -> dict[str, Any]:
    """The whole rotation; raises RotateError (with the partial result) on failure."""
    policies = validate_policies(params.get("policies"))
    try:
        now = parse_time(params["now"], "now") if params.get("now") else utc_now()
    except GfsError as exc:
        raise RotateError(f"now: {exc}") from None
    root_param = params["backup_root"]
    if not os.path.isdir(root_param):
        raise RotateError(f"backup_root {root_param} does not exist or is not a directory; set backup_root")
    root = os.path.realpath(root_param)
    records = Records(root)
    scan = Scan()
    requested = params.get("kinds")
    for kind in DIR_KINDS:
        if requested is None and os.path.isdir(os.path.join(root, kind)) or requested and kind in requested:
            scan_dirs(scan, records, root, kind)
            scan.kinds_found.append(kind)
    want_pgbr = requested is None or any(kind in PGBACKREST_KINDS for kind in requested)
    if want_pgbr:
        available = which("pgbackrest") is not None and os.path.isfile(params["pgbackrest_config"])
        if requested and not available:
            raise RotateError(
                f"kinds {', '.join(k for k in requested if k in PGBACKREST_KINDS)} need pgBackRest, but "
                f"pgbackrest is not installed or {params['pgbackrest_config']} does not exist; set pgbackrest_config"
            )
        if available:
            scan_pgbackrest(scan, records, pgbackrest_sets(params, runner), params["stanza"])
            for kind in PGBACKREST_KINDS:
                if requested is None and kind in scan.groups or requested and kind in requested:
                    scan.kinds_found.insert(PGBACKREST_KINDS.index(kind), kind)

    group_policies: dict[str, Policy | None] = {}
    for group, kind in scan.group_kind.items():
        rotated = kind in scan.kinds_found
        group_policies[group] = policies.get(kind) if rotated else None
    try:
        selections = select_groups(
            {group: [c.as_gfs() for c in items] for group, items in scan.groups.items()}, group_policies, now
        )
    except GfsError as exc:
        raise RotateError(to_native(exc)) from None

    by_id = {c.id: c for items in scan.groups.values() for c in items}
    kept: list[dict[str, Any]] = []
    removing: list[tuple[Candidate, str]] = []
    for group in sorted(selections, key=lambda g: (ALL_KINDS.index(scan.group_kind[g]), g)):
        selection = selections[group]
        for ident in selection.keep:
            kept.append(by_id[ident].as_result(selection.reasons[ident]))
        for ident in selection.remove:
            removing.append((by_id[ident], selection.reasons[ident]))

    result: dict[str, Any] = {
        "changed": bool(removing),
        "kinds": list(scan.kinds_found),
        "kept": kept,
        "removed": [],
        "unidentified": scan.unidentified,
        "protected": {group: selections[group].protected for group in selections},
        "warnings": list(records.warnings),
    }
    before = [c.id for items in scan.groups.values() for c in items]
    removed_ids = {c.id for c, _reason in removing}
    result["diff"] = {
        "before": {"backups": sorted(before, reverse=True)},
        "after": {"backups": sorted((i for i in before if i not in removed_ids), reverse=True)},
    }
    if check_mode:
        result["removed"] = [c.as_result(reason) for c, reason in removing]
    else:
        _remove(params, root, records, removing, runner, result)
    counts: dict[str, int] = {}
    for item in result["removed"]:
        counts[item["kind"]] = counts.get(item["kind"], 0) + 1
    verb = "would remove" if check_mode else "removed"
    detail = f" ({', '.join(f'{k} {n}' for k, n in counts.items())})" if counts else ""
    result["msg"] = (
        f"{verb} {len(result['removed'])} backup{'s' if len(result['removed']) != 1 else ''}{detail}, "
        f"kept {len(kept)}" + (f", {len(scan.unidentified)} unidentified entries left alone" if scan.unidentified else "")
    )
    return result


def _remove(
    params: Mapping[str, Any],
    root: str,
    records: Records,
    removing: list[tuple[Candidate, str]],
    runner: Runner,
    result: dict[str, Any],
) -> None:
    """Remove directories, then expire pgBackRest sets newest first; record each removal."""
    dirs = [(c, r) for c, r in removing if c.label is None]
    sets = sorted(((c, r) for c, r in removing if c.label is not None), key=lambda cr: cr[0].time, reverse=True)
    for candidate, reason in dirs:
        path = str(candidate.path)
        if not _inside(root, path):
            raise RotateError(f"refusing to remove {path}: not a real directory inside {root}", result)
        try:
            shutil.rmtree(path)
        except OSError as exc:
            raise RotateError(f"removing {path} failed: {to_native(exc)}", result) from None
        result["removed"].append(candidate.as_result(reason))
        records.write_removed(candidate, reason, utc_now())
    for candidate, reason in sets:
        argv = pgbackrest_argv(params, "expire", f"--set={candidate.label}")
        rc, out, err = runner(argv)
        if rc != 0:
            raise RotateError(
                f"`{' '.join(argv)}` failed (rc {rc}): {(err or out).strip() or 'no output'}", result
            )
        result["removed"].append(candidate.as_result(reason))
        records.write_removed(candidate, reason, utc_now())


ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "backup_root": {"type": "path", "default": "/var/backups/opsbook"},
    "policies": {"type": "dict", "required": True},
    "kinds": {"type": "list", "elements": "str", "choices": list(ALL_KINDS)},
    "stanza": {"type": "str", "default": "main"},
    "pgbackrest_config": {"type": "path", "default": "/etc/pgbackrest/pgbackrest.conf"},
    "now": {"type": "str"},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)

    def runner(argv: list[str]) -> tuple[int, str, str]:
        rc, out, err = module.run_command(argv)
        return rc, to_native(out), to_native(err)

    def which(name: str) -> str | None:
        return module.get_bin_path(name)

    try:
        result = run(module.params, module.check_mode, runner, which)
    except RotateError as exc:
        partial = dict(exc.result)
        partial.pop("diff", None)
        for warning in partial.pop("warnings", []):
            module.warn(warning)
        partial["changed"] = bool(partial.get("removed"))
        module.fail_json(msg=to_native(exc), **partial)
    for warning in result.pop("warnings"):
        module.warn(warning)
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()

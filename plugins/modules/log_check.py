#!/usr/bin/python
# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Count log lines matching patterns since the last run."""

from __future__ import annotations

# Documentation repeats the result contract on purpose (RETURN has no doc fragments): no duplicate-code check.
# pylint: disable=duplicate-code
DOCUMENTATION = r"""
---
module: log_check
short_description: Count new log lines matching error patterns since the last run
version_added: 0.2.0
author: opsbook.stack contributors (!UNKNOWN)
description:
  - Reads what each log file gained since the previous run (offsets kept in O(state_file)) and counts the lines matching
    each of O(patterns); the count is compared with the pattern's warn and crit levels. Uses only the Python standard library.
  - "Check ids: V(log.<pattern name>:<file name>); the file name is O(files[].name) or the file's basename; for a glob each
    matching file is its own instance, named C(<name>/<basename>) when O(files[].name) is set, else its basename.
    The value is the number of matching lines since the last run, unit C(lines)."
  - "Per file the state remembers device, inode, offset and a hash of the first bytes. Rotation (the path has a new inode):
    the rest of the old file is read first when it is still in the same directory (for example C(app.log.1)) and not
    compressed, then the new file from the start. copytruncate or truncation (the file is smaller than the offset, or its
    start changed): the copy (same first bytes, for example C(app.log.1)) is finished when found, then the file is read from the
    start. First run for a file: read from the start, but at most O(max_bytes) from the end. What happened is listed in
    C(details.events)."
  - Only complete lines are counted; a line still being written is counted on the next run.
  - A missing file (or a glob without matches) gives V(unknown) "log file <path> does not exist".
    Compressed files matched by a glob are ignored.
extends_documentation_fragment:
  - opsbook.stack.checks
options:
  checks:
    description:
      - Names of the patterns of O(patterns) to count (by default V(errors) and V(rate_limit)).
      - Omit to count all of them. An unknown name fails the module with a message listing the known ones.
  thresholds:
    description:
      - Overrides of the pattern levels, keyed by pattern name of O(patterns) (direction above, unit lines); each value is a
        mapping with C(warn) and C(crit); keys left out keep the pattern's O(patterns[].warn) / O(patterns[].crit),
        an explicit C(null) turns that level off. A warn level beyond the crit level fails the module naming the pattern.
      - Defaults of the default patterns (warn/crit) V(errors) 1/10, V(rate_limit) 1/50.
  files:
    description:
      - Log files to scan. The module reads them, so run it with C(become) for logs only root or a service user can read.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description:
          - Absolute path of the file, or a glob (each match is its own instance).
        type: str
        required: true
      name:
        description:
          - Instance name used in the check ids (default the basename).
        type: str
      patterns:
        description:
          - Patterns for this file only, in place of O(patterns) (same format), so one call can scan logs of different
            formats. O(checks) and O(thresholds) refer to pattern names of either list.
        type: list
        elements: dict
        suboptions:
          name:
            description: Pattern name, part of the check id (lowercase letters, digits, underscore).
            type: str
            required: true
          regex:
            description: Python regular expression (C(re.search) on each line).
            type: str
            required: true
          warn:
            description: Matching lines since the last run from which the result is warn; V(null) turns the level off.
            type: float
            default: 1
          crit:
            description: Matching lines since the last run from which the result is crit; V(null) (default) turns the level off.
            type: float
  patterns:
    description:
      - Patterns to count, each a Python regular expression searched in every new line (a line counts once per pattern).
      - "Default: V(errors) C(\\b(ERROR|CRITICAL|FATAL)\\b|Traceback \\(most recent call last\\)) warn 1 crit 10, and
        V(rate_limit) C((?i)rate[ -]?limit|too many requests|(HTTP/[0-9.]+\\x22? |status[=: ]+)429\\b|limiting (requests|connections)) warn 1
        crit 50 (an HTTP 429 counts only as a status, not as any 429 in a line, such as the milliseconds of a timestamp)."
    type: list
    elements: dict
    suboptions:
      name:
        description: Pattern name, part of the check id (lowercase letters, digits, underscore).
        type: str
        required: true
      regex:
        description: Python regular expression (C(re.search) on each line; use C((?i)) for case-insensitive).
        type: str
        required: true
      warn:
        description: Matching lines since the last run from which the result is warn; V(null) turns the level off.
        type: float
        default: 1
      crit:
        description: Matching lines since the last run from which the result is crit; V(null) (default) turns the level off.
        type: float
  state_file:
    description:
      - Where the offsets are kept (JSON). Its directory is created with mode 0700, the file is written with mode 0600.
      - Use one state file per set of files a task checks if several tasks check the same file independently.
    type: path
    default: /var/lib/opsbook/log_check.json
  max_bytes:
    description:
      - Scan at most this many new bytes per file and run (the newest ones); the details say when the cap applied.
    type: int
    default: 52428800
  samples:
    description:
      - How many of the most recent matching lines per pattern and file to return in the details (each trimmed to 300 characters).
    type: int
    default: 3
  top:
    description:
      - Also count the matching lines per recurring message and return the O(top) most frequent ones per pattern and file
        in C(details.top) (signature, count, one example line), the most frequent one also in the message.
      - Lines that differ only in a leading timestamp, ids, addresses, numbers or quoted values count as the same message
        (their signature replaces those parts with placeholders such as C(<n>) and C(<ip>)).
      - V(0) (default) turns this off.
    type: int
    default: 0
attributes:
  check_mode:
    details:
      - In check mode the files are scanned and reported but the state file is not written, so the next run reports the same
        lines again. C(changed) says whether the state file would change.
notes:
  - C(changed) is true when the state file changes (new data was read, a new file was seen), also in check mode, where it
    is only predicted.
seealso:
  - module: opsbook.stack.host_check
"""

EXAMPLES = r"""
- name: Count errors in the app logs since yesterday's run
  opsbook.stack.log_check:
    files:
      - path: /var/log/refservice/*.log
      - path: /var/log/nginx/error.log
        name: nginx_error
  become: true
  register: logs

- name: Own patterns and levels
  opsbook.stack.log_check:
    files:
      - path: /var/log/postgresql/postgresql-15-main.log
        name: pg
    patterns:
      - name: deadlock
        regex: 'deadlock detected'
        warn: 1
        crit: 5
      - name: errors
        regex: '\b(ERROR|FATAL|PANIC):'
        warn: 5
        crit: 50
    state_file: /var/lib/opsbook/log_check_pg.json

- name: The week's recurring errors, the 5 most frequent messages per file (own state file, so the daily run is not affected)
  opsbook.stack.log_check:
    files:
      - path: /var/log/refservice/app.log
    top: 5
    state_file: /var/lib/opsbook/log_check_weekly.json

- name: Default patterns, rate limiting only warns from 10 lines
  opsbook.stack.log_check:
    files: [{path: /var/log/nginx/error.log}]
    thresholds:
      rate_limit: {warn: 10, crit: null}
"""

RETURN = r"""
checks:
  description: One result per pattern and file, in order of O(files) then O(patterns).
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: Stable check id, V(log.<pattern>:<file name>).
      type: str
    status:
      description: V(ok), V(warn), V(crit) or V(unknown).
      type: str
    value:
      description: Number of matching lines since the last run, null when unknown.
      type: int
    warn:
      description: Warning level, or null.
      type: float
    crit:
      description: Critical level, or null.
      type: float
    unit:
      description: Always V(lines) (empty for unknown).
      type: str
    message:
      description: One sentence for humans.
      type: str
    details:
      description:
        - path, pattern, samples (the most recent matching lines), from_offset, to_offset, size_bytes, bytes_scanned,
          lines_scanned, capped, skipped_bytes, events (first run, rotation, truncation, cap).
        - With O(top), also C(top), a list of C(signature), C(count) and C(example), most frequent first.
      type: dict
  sample:
    - check: log.errors:app.log
      status: warn
      value: 2
      warn: 1.0
      crit: 10.0
      unit: lines
      message: 2 new lines in app.log matched errors since the last run (warn >= 1 lines, crit >= 10 lines)
      details:
        path: /var/log/refservice/app.log
        pattern: errors
        samples: ["2025-01-01 10:00:00 ERROR db timeout", "2025-01-01 11:00:00 ERROR db timeout"]
        from_offset: 1024
        to_offset: 4096
        events: []
summary:
  description: Counts per status, the total and the worst status.
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
      description: Worst status (ok < warn < unknown < crit).
      type: str
  sample: {ok: 3, warn: 1, crit: 0, unknown: 0, total: 4, worst: warn}
"""
# pylint: enable=duplicate-code

import collections
import re
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.opsbook.stack.plugins.module_utils import _logscan
from ansible_collections.opsbook.stack.plugins.module_utils._checks import (
    THRESHOLDS_SPEC,
    CheckResult,
    Threshold,
    ThresholdError,
    evaluate,
    merge_thresholds,
    module_output,
    select,
    unknown,
)

DEFAULT_PATTERNS: list[dict[str, Any]] = [
    {"name": "errors", "regex": r"\b(ERROR|CRITICAL|FATAL)\b|Traceback \(most recent call last\)", "warn": 1, "crit": 10},
    # A 429 counts only as an HTTP status ('HTTP/1.1" 429', 'status=429'), never as digits
    # elsewhere in a line (",429" is also the milliseconds of a Python log timestamp).
    {
        "name": "rate_limit",
        "regex": r"(?i)rate[ -]?limit|too many requests|(HTTP/[0-9.]+\"? |status[=: ]+)429\b|limiting (requests|connections)",
        "warn": 1,
        "crit": 50,
    },
]
PATTERN_NAME_RE = re.compile(r"^[a-z0-9_]+$")


class StateFileError(Exception):
    """The state file cannot be written."""


def build_patterns(specs: list[dict[str, Any]], overrides: dict[str, Any] | None) -> tuple[list[_logscan.Pattern], dict[str, Threshold]]:
    """Compiled patterns and their thresholds; ValueError / ThresholdError name the bad entry."""
    patterns = []
    defaults: dict[str, Threshold] = {}
    for spec in specs:
        name = spec["name"]
        if not PATTERN_NAME_RE.match(name or ""):
            raise ValueError(f"pattern name {name!r} must consist of lowercase letters, digits and underscores (it is part of the check id)")
        if name in defaults:
            raise ValueError(f"pattern name {name!r} is used twice")
        defaults[name] = Threshold.from_spec({"warn": spec.get("warn"), "crit": spec.get("crit")}, name)
        patterns.append(_logscan.compile_pattern(name, spec["regex"]))
    return patterns, merge_thresholds(defaults, overrides)


def run(params: dict[str, Any], check_mode: bool) -> tuple[list[CheckResult], bool, list[str]]:
    """Scan, evaluate and (outside check mode) save the state. Returns results, changed, warnings.

    Raises ValueError / ThresholdError for bad options.
    """
    if params["max_bytes"] < 1:
        raise ValueError(f"max_bytes must be at least 1, got {params['max_bytes']}")
    if params["samples"] < 0:
        raise ValueError(f"samples must be 0 or more, got {params['samples']}")
    if params["top"] < 0:
        raise ValueError(f"top must be 0 or more, got {params['top']}")
    specs = params["patterns"] if params["patterns"] is not None else DEFAULT_PATTERNS
    if not specs:
        raise ValueError("patterns must not be empty; omit it to use the default patterns")
    # Each file scans with its own patterns when it has them, else the module's.
    pattern_sets: list[tuple[list[_logscan.Pattern], dict[str, Threshold]]] = []
    known: list[str] = []
    for spec in [{"patterns": None}] + list(params["files"]):
        own = spec.get("patterns")
        if own is not None and not own:
            raise ValueError(f"patterns of file {spec.get('path')!r} must not be empty; omit it to use the module's patterns")
        compiled, defaults = build_patterns(own if own is not None else specs, None)
        pattern_sets.append((compiled, defaults))
        known.extend(pattern.name for pattern in compiled if pattern.name not in known)
    overrides = dict(params["thresholds"] or {})
    bad = sorted(name for name in overrides if name not in known)
    if bad:
        raise ThresholdError(f"unknown threshold {', '.join(map(repr, bad))}; known thresholds (pattern names): {', '.join(known)}")
    wanted = select(params["checks"], known)

    warnings: list[str] = []
    old_files, warning = _logscan.load_state(params["state_file"])
    if warning:
        warnings.append(warning)
    new_files = dict(old_files)
    results: list[CheckResult] = []
    expanded = [(file_spec, item) for file_spec in params["files"] for item in _logscan.expand([file_spec])]
    instances = collections.Counter(instance for _spec, (instance, _path, _err) in expanded)
    for file_spec, (instance, path, error) in expanded:
        if instances[instance] > 1 and path:
            instance = path  # same name for two files: tell them apart by path
        set_index = params["files"].index(file_spec) + 1
        compiled, defaults = pattern_sets[set_index]
        thresholds = merge_thresholds(defaults, {k: v for k, v in overrides.items() if k in defaults})
        patterns = [pattern for pattern in compiled if pattern.name in wanted]
        report = None
        if path is not None:
            try:
                report, entry = _logscan.scan_file(
                    path, old_files.get(path), patterns, max_bytes=params["max_bytes"], samples=params["samples"], top=params["top"]
                )
            except OSError as exc:
                report, entry = None, None
                error = f"cannot read log file {path}: {exc.strerror or exc}"
            else:
                error = report.error
            if entry is not None:
                new_files[path] = entry
        for pattern in patterns:
            check = f"log.{pattern.name}:{instance}"
            if error or report is None:
                results.append(unknown(check, error or "not scanned", details={"path": path, "pattern": pattern.name}))
                continue
            details = dict(report.details, pattern=pattern.name, samples=report.samples[pattern.name])
            top = report.top.get(pattern.name)
            if top is not None:
                details["top"] = top
            count = report.counts[pattern.name]
            label = f"{pattern.name} lines in {instance}"
            item = evaluate(check, count, thresholds[pattern.name], unit="lines", label=label, details=details)
            limits = item.message.partition(" (")[2]
            item.message = f"{count} new {'line' if count == 1 else 'lines'} in {instance} matched {pattern.name} since the last run"
            item.message += f" ({limits}" if limits else ""
            if top:
                item.message += f"; most frequent ({top[0]['count']}x): {top[0]['signature']}"
            results.append(item)
    globs = [spec["path"] for spec in params["files"] if _logscan.glob.has_magic(spec["path"])]
    new_files = _logscan.prune(new_files, globs)
    changed = new_files != old_files
    if changed and not check_mode:
        try:
            _logscan.write_state(params["state_file"], new_files)
        except OSError as exc:
            raise StateFileError(f"cannot write the state file {params['state_file']}: {exc.strerror or exc}") from None
    return results, changed, warnings


# Suboptions of one pattern, in O(patterns) and in a file's own patterns.
PATTERN_OPTIONS: dict[str, dict[str, Any]] = {
    "name": {"type": "str", "required": True},
    "regex": {"type": "str", "required": True},
    "warn": {"type": "float", "default": 1},
    "crit": {"type": "float"},
}

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "checks": {"type": "list", "elements": "str"},
    "thresholds": THRESHOLDS_SPEC,
    "files": {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": {
            "path": {"type": "str", "required": True},
            "name": {"type": "str"},
            "patterns": {
                "type": "list",
                "elements": "dict",
                "options": PATTERN_OPTIONS,
            },
        },
    },
    "patterns": {
        "type": "list",
        "elements": "dict",
        "options": PATTERN_OPTIONS,
    },
    "state_file": {"type": "path", "default": "/var/lib/opsbook/log_check.json"},
    "max_bytes": {"type": "int", "default": 52428800},
    "samples": {"type": "int", "default": 3},
    "top": {"type": "int", "default": 0},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        results, changed, warnings = run(module.params, module.check_mode)
    except (ValueError, ThresholdError, StateFileError) as exc:
        module.fail_json(msg=to_native(exc))
    for warning in warnings:
        module.warn(warning)
    module.exit_json(changed=changed, **module_output(results))


if __name__ == "__main__":
    main()

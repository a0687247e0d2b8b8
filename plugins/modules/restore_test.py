#!/usr/bin/python
# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""opsbook.stack.restore_test: restore the latest backup into a scratch target, check it, remove the scratch target."""

from __future__ import annotations

# Documentation repeats the result contract on purpose (RETURN has no doc fragments): no duplicate-code check.
# pylint: disable=duplicate-code
DOCUMENTATION = r"""
module: restore_test
short_description: Test-restore the latest (or a named) backup into a scratch target and report it as checks
version_added: 0.4.0
author: opsbook.stack contributors (!UNKNOWN)
description:
  - Runs C(opsbook-backup restore-test), the on-host tool the C(opsbook.stack.backup) role installs, for each kind in
    O(kinds), and reports each outcome in the opsbook.stack result contract (docs/checks.md).
  - V(logical) restores the latest (or O(id)) C(pg_dump) backup of each database into a new scratch database
    C(opsbook_restore_test_<stamp>), compares every table's row count with the backup's manifest, runs C(amcheck)
    (C(bt_index_check) with C(heapallindexed)) on every btree index and drops the scratch database.
  - V(physical) restores the latest (or O(id)) pgBackRest set into a scratch data directory below the role's
    C(backup_restore_test_dir), with archiving off and every tablespace mapped below it, starts it on the role's
    C(backup_restore_test_port) with a Unix socket only, waits for recovery and promotion, runs C(amcheck) in every
    database, stops it, runs C(pg_checksums --check) when data checksums are on, and removes the directory.
  - The scratch target is removed also when the restore or a check fails. A target that resolves to the live cluster
    (its data directory, a directory inside or around it, its port), an O(id) that does not exist and too little free
    space are refused before anything is written; the module then fails with the tool's one-line reason.
  - The tool takes the host's backup lock, so no backup or rotation runs during the test.
options:
  kinds:
    description:
      - What to test-restore.
    type: list
    elements: str
    choices: [logical, physical]
    default: [logical, physical]
  target:
    description:
      - For V(logical), the database whose latest dump is restored. By default every database the role dumps.
    type: str
  id:
    description:
      - A backup to restore instead of the latest - a logical record id (C(opsbook-backup list)) when O(kinds) is
        V(logical), a pgBackRest set label when it is V(physical). Needs exactly one kind in O(kinds).
    type: str
  wait:
    description:
      - Seconds to wait for the backup lock while a backup runs on the host.
    type: int
    default: 3600
  tool:
    description:
      - Path of the on-host tool.
    type: path
    default: /usr/local/sbin/opsbook-backup
  thresholds:
    description:
      - Levels of the restore duration in seconds, keyed C(duration_s); a mapping with C(warn), C(crit) and optionally
        C(direction). No levels by default - a restore that works is ok however long it takes; set them from the
        recovery time objective.
    type: dict
    default: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - In check mode nothing is restored (a restore writes a scratch database or data directory, even if only for the
        test); each kind reports C(unknown) with the command that would run.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - Run it with C(become); the tool runs as root and starts pgBackRest, PostgreSQL and C(psql) as C(postgres).
  - Check ids are C(restore.logical:<database>) and C(restore.physical:<set label>); the value is the duration in
    seconds, the details carry the throughput (C(mb_per_s)), tables, rows, indexes checked and page checksum state.
  - A failed restore or check is C(crit) with the tool's message (it names the file or the index); it does not fail
    the module, like every check module. Only refused requests and a missing tool fail it.
  - C(changed) is always false - the scratch target is gone again when the module returns.
requirements:
  - The C(opsbook.stack.backup) role applied to the host (it installs the tool and its configuration).
seealso:
  - module: opsbook.stack.backup_run
  - module: opsbook.stack.backup_check
"""

EXAMPLES = r"""
- name: Monthly restore test of the latest backups
  opsbook.stack.restore_test:
  become: true
  register: restore

- name: Test the pgBackRest set of last Sunday, warn when it takes longer than an hour
  opsbook.stack.restore_test:
    kinds: [physical]
    id: 20261122-031500F
    thresholds:
      duration_s: {warn: 3600, crit: 14400}
  become: true
"""

RETURN = r"""
checks:
  description: One result per restore test, in the opsbook.stack result contract.
  returned: always
  type: list
  elements: dict
  sample:
    - check: restore.logical:appdb
      status: ok
      value: 3.4
      warn: null
      crit: null
      unit: s
      message: "restored 20261126T114740Z-logical-appdb into opsbook_restore_test_20261126t114743z in 0.6 s: 4 tables, 605 rows,
        counts equal to the manifest; amcheck: 173 btree indexes intact"
      details: {id: 20261126T114740Z-logical-appdb, mb_per_s: 12.5, tables: 4, rows: 605, indexes_checked: 173}
summary:
  description: Counts per status and the worst status.
  returned: always
  type: dict
  sample: {ok: 2, warn: 0, crit: 0, unknown: 0, total: 2, worst: ok}
results:
  description: What the tool returned for each restore test (scratch target, timings, databases, problems).
  returned: always
  type: list
  elements: dict
cmd:
  description: The commands that ran (or would run in check mode), one per kind.
  returned: always
  type: list
  elements: list
"""
# pylint: enable=duplicate-code

import os
from collections.abc import Mapping
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opsbook.stack.plugins.module_utils._backup import TOOL_LOCKED, TOOL_OK, TOOL_USAGE, tool_json
from ansible_collections.opsbook.stack.plugins.module_utils._checks import (
    CRIT,
    OK,
    THRESHOLDS_SPEC,
    UNKNOWN,
    CheckResult,
    Threshold,
    ThresholdError,
    module_output,
    result,
)


def command(params: Mapping[str, Any], kind: str) -> list[str]:
    cmd = [params["tool"], "restore-test", kind]
    if params["id"]:
        cmd += ["--id", params["id"]]
    if params["target"] and kind == "logical":
        cmd += ["--target", params["target"]]
    return cmd + ["--wait", str(params["wait"]), "--json"]


def to_check(kind: str, item: Mapping[str, Any], threshold: Threshold) -> CheckResult:
    """One tool result as a contract result: crit when the restore or a check failed, else the duration's level."""
    instance = str(item.get("target") or item.get("id") or "latest") if kind == "logical" else str(item.get("id") or "latest")
    check = f"restore.{kind}:{instance}"
    details = {
        key: item[key]
        for key in ("id", "scratch", "restore_s", "recovered_s", "mb_per_s", "tables", "rows", "rows_estimate", "databases",
                    "indexes_checked", "index_problems", "page_checksums", "restored_bytes", "dropped", "removed")
        if key in item
    }
    message = str(item.get("message") or f"restore test of {instance}: no message")
    duration = item.get("duration_s")
    if item.get("status") != "ok":
        return result(check, CRIT, message, value=duration, unit="s", threshold=threshold, details=details)
    if not isinstance(duration, (int, float)) or isinstance(duration, bool):
        return result(check, OK, message, unit="s", threshold=threshold, details=details)
    status = threshold.status_of(float(duration))
    if status != OK:
        limit = threshold.crit if status == CRIT else threshold.warn
        message = f"{message}; took {duration} s (level {limit:g} s)"
    return result(check, status, message, value=duration, unit="s", threshold=threshold, details=details)


ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "kinds": {"type": "list", "elements": "str", "choices": ["logical", "physical"], "default": ["logical", "physical"]},
    "target": {"type": "str"},
    "id": {"type": "str"},
    "wait": {"type": "int", "default": 3600},
    "tool": {"type": "path", "default": "/usr/local/sbin/opsbook-backup"},
    "thresholds": THRESHOLDS_SPEC,
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    kinds = list(dict.fromkeys(params["kinds"]))
    if not kinds:
        module.fail_json(msg="kinds is empty; give logical, physical or both")
    if params["id"] and len(kinds) != 1:
        module.fail_json(msg=f"id {params['id']!r} names one backup, but kinds is {kinds}; give exactly one kind with id")
    if params["wait"] < 0:
        module.fail_json(msg=f"wait must be 0 or more seconds, got {params['wait']}")
    unknown_keys = sorted(set(params["thresholds"]) - {"duration_s"})
    if unknown_keys:
        module.fail_json(msg=f"unknown threshold(s) {', '.join(unknown_keys)}; restore_test knows duration_s")
    try:
        threshold = Threshold.from_spec(params["thresholds"].get("duration_s"), "duration_s", Threshold(None, None))
    except ThresholdError as exc:
        module.fail_json(msg=str(exc))
    cmds = [command(params, kind) for kind in kinds]
    if not os.access(params["tool"], os.X_OK):
        module.fail_json(
            msg=f"{params['tool']} is not installed on this host; apply the opsbook.stack.backup role first (playbooks/site.yml)", cmd=cmds
        )
    checks: list[CheckResult] = []
    results: list[dict[str, Any]] = []
    for kind, cmd in zip(kinds, cmds):
        if module.check_mode:
            checks.append(result(f"restore.{kind}:latest", UNKNOWN, f"check mode: a restore test writes a scratch target; would run {' '.join(cmd)}"))
            continue
        rc, stdout, stderr = module.run_command(cmd, cwd="/")
        data = tool_json(stdout)
        items = [item for item in data.get("results") or [] if isinstance(item, dict)]
        if rc in (TOOL_USAGE, TOOL_LOCKED) or (rc != TOOL_OK and not items):
            reason = str(data.get("message") or "").strip() or (stderr.strip().splitlines() or [f"exit {rc}"])[-1]
            module.fail_json(msg=f"restore test ({kind}) refused: {reason}", cmd=cmd, rc=rc, results=results)
        results += items
        checks += [to_check(kind, item, threshold) for item in items]
    module.exit_json(changed=False, cmd=cmds, results=results, **module_output(checks))


if __name__ == "__main__":
    main()

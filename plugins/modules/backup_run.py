#!/usr/bin/python
# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""opsbook.stack.backup_run: take one backup now with the host's opsbook-backup tool."""

from __future__ import annotations

# Documentation repeats the result contract on purpose (RETURN has no doc fragments): no duplicate-code check.
# pylint: disable=duplicate-code
DOCUMENTATION = r"""
module: backup_run
short_description: Take a backup of one kind now (pgBackRest full/incr/diff, logical dump, Redis or config snapshot)
version_added: 0.3.0
author: opsbook.stack contributors (!UNKNOWN)
description:
  - Runs C(opsbook-backup run <kind>), the on-host backup tool the C(opsbook.stack.backup) role installs, the same
    command its systemd timers run. The tool waits for the backup lock so two backups never run at once on a host,
    writes an outcome record (start, end, size, type, checksum status) under C(<backup_root>/records/) for the
    checks and reports, verifies what it wrote, and never removes or changes an older backup, also when it fails.
  - Backups of PostgreSQL (O(kind=full), V(incr), V(diff), V(logical)) run only on the primary; on a standby the
    record says C(skipped) and the module reports ok without a change.
  - The module fails, with the tool's one-line reason, when the backup fails, when the lock is not obtained within
    O(wait) seconds (naming the backup that holds it) or when the tool refuses the request (repository path missing
    or not writable, stanza mismatch...).
options:
  kind:
    description:
      - What to back up. V(full), V(incr) and V(diff) are pgBackRest backups of the PostgreSQL cluster; V(logical) is a
        C(pg_dump) directory-format dump with a checksummed manifest and per-table row counts; V(redis) copies a fresh
        RDB snapshot; V(config) snapshots the configuration files (secrets keep mode 0600).
    type: str
    required: true
    choices: [full, incr, diff, logical, redis, config]
  target:
    description:
      - For O(kind=logical), the database to dump. By default every database the role configured is dumped, one
        record each.
    type: str
  wait:
    description:
      - Seconds to wait for the backup lock when another backup runs on the host; V(0) refuses at once.
    type: int
    default: 600
  tool:
    description:
      - Path of the on-host tool.
    type: path
    default: /usr/local/sbin/opsbook-backup
  trigger:
    description:
      - Recorded as the backup's trigger.
    type: str
    default: ansible
    choices: [ansible, manual]
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - In check mode nothing runs; the module reports the command it would run and C(changed=true), since a backup
        would be written.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - Run it with C(become); the tool runs as root and starts pgBackRest and pg_dump as C(postgres).
  - Read the records back with M(opsbook.stack.backup_check).
requirements:
  - The C(opsbook.stack.backup) role applied to the host (it installs the tool and its configuration).
seealso:
  - module: opsbook.stack.backup_check
  - module: opsbook.stack.backup_rotate
"""

EXAMPLES = r"""
- name: Full pgBackRest backup now
  opsbook.stack.backup_run:
    kind: full
  become: true
  register: backup

- name: Logical dump of one database, refusing if another backup runs
  opsbook.stack.backup_run:
    kind: logical
    target: appdb
    wait: 0
  become: true
"""

RETURN = r"""
records:
  description: The outcome record of each backup this run took (one per database for O(kind=logical)).
  returned: when the tool ran
  type: list
  elements: dict
  contains:
    id:
      description: Record id, C(<UTC stamp>-<kind>[-<target>]).
      type: str
    kind:
      description: Backup kind.
      type: str
    target:
      description: Database for logical dumps, the stanza for pgBackRest backups, C(redis) or C(config).
      type: str
    status:
      description: V(ok), V(failed) or V(skipped) (standby).
      type: str
    start:
      description: Start, ISO 8601 UTC.
      type: str
    end:
      description: End, ISO 8601 UTC.
      type: str
    duration_s:
      description: Duration in seconds.
      type: float
    size_bytes:
      description: Size of what the backup stored.
      type: int
    checksum_status:
      description: V(verified), V(failed), V(pending) or V(not_applicable).
      type: str
    path:
      description: Where the backup is (pgBackRest backups are in the repository; see C(pgbackrest.label)).
      type: str
    message:
      description: One line about the outcome.
      type: str
  sample:
    - id: 20261126T071500Z-full-main
      kind: full
      target: main
      status: ok
      start: "2026-11-26T07:15:00Z"
      end: "2026-11-26T07:15:21Z"
      duration_s: 21.3
      size_bytes: 4718592
      checksum_status: verified
      path: /var/backups/opsbook/pgbackrest
      message: full backup 20261126-071500F of stanza main
cmd:
  description: The command that ran (or would run in check mode).
  returned: always
  type: list
  elements: str
  sample: [/usr/local/sbin/opsbook-backup, run, full, --trigger, ansible, --wait, "600", --json]
msg:
  description: The tool's summary line.
  returned: always
  type: str
"""
# pylint: enable=duplicate-code

import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opsbook.stack.plugins.module_utils._backup import TOOL_FAILED, TOOL_LOCKED, TOOL_OK, TOOL_USAGE, tool_json


def command(params: dict[str, Any]) -> list[str]:
    cmd = [params["tool"], "run", params["kind"]]
    if params["target"]:
        cmd += ["--target", params["target"]]
    return cmd + ["--trigger", params["trigger"], "--wait", str(params["wait"]), "--json"]


def outcome(rc: int, stdout: str, stderr: str) -> tuple[bool, bool, str, list[dict[str, Any]]]:
    """(failed, changed, message, records) from the tool's exit code and output."""
    data = tool_json(stdout)
    records = [item for item in data.get("records") or [] if isinstance(item, dict)]
    reason = str(data.get("message") or "").strip() or (stderr.strip().splitlines() or [""])[-1]
    changed = any(item.get("status") == "ok" for item in records)
    if rc == TOOL_OK:
        return False, changed, reason or "backup done", records
    failed_records = [item for item in records if item.get("status") == "failed"]
    if rc == TOOL_FAILED and failed_records:
        reason = "; ".join(f"{item.get('id')}: {item.get('message')}" for item in failed_records)
    prefix = {TOOL_FAILED: "backup failed", TOOL_USAGE: "backup refused", TOOL_LOCKED: "another backup holds the lock"}
    return True, changed, f"{prefix.get(rc, f'opsbook-backup exited with {rc}')}: {reason or 'no output'}", records


ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "kind": {"type": "str", "required": True, "choices": ["full", "incr", "diff", "logical", "redis", "config"]},
    "target": {"type": "str"},
    "wait": {"type": "int", "default": 600},
    "tool": {"type": "path", "default": "/usr/local/sbin/opsbook-backup"},
    "trigger": {"type": "str", "default": "ansible", "choices": ["ansible", "manual"]},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    if params["wait"] < 0:
        module.fail_json(msg=f"wait must be 0 or more seconds, got {params['wait']}")
    if params["target"] and params["kind"] != "logical":
        module.fail_json(msg=f"target {params['target']!r} only applies to kind logical, not {params['kind']}")
    cmd = command(params)
    if not os.access(params["tool"], os.X_OK):
        module.fail_json(
            msg=f"{params['tool']} is not installed on this host; apply the opsbook.stack.backup role first (playbooks/site.yml)",
            cmd=cmd,
        )
    if module.check_mode:
        module.exit_json(changed=True, cmd=cmd, msg=f"check mode: would run {' '.join(cmd)}")
    rc, stdout, stderr = module.run_command(cmd)
    failed, changed, message, records = outcome(rc, stdout, stderr)
    if failed:
        module.fail_json(msg=message, cmd=cmd, rc=rc, records=records, changed=changed)
    module.exit_json(changed=changed, cmd=cmd, msg=message, records=records)


if __name__ == "__main__":
    main()

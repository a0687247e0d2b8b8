#!/usr/bin/python
# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""opsbook.stack.dr_evaluate: judge a disaster-recovery drill (RTO, RPO, data) in the check result contract."""

from __future__ import annotations

# Documentation repeats the result contract on purpose (RETURN has no doc fragments): no duplicate-code check.
# pylint: disable=duplicate-code
DOCUMENTATION = r"""
module: dr_evaluate
short_description: Judge a disaster-recovery drill - RTO, RPO, recovered data and phase timeline - as checks
version_added: 0.5.0
author: opsbook.stack contributors (!UNKNOWN)
description:
  - Turns the measurements a disaster-recovery drill collected (phase start and end times, the moment the recovered
    application became healthy, the newest data timestamp and the row counts of the source and of the recovered
    database) into results of the opsbook.stack result contract (docs/checks.md), so the drill gets the same report
    as the checklists (console, JSON, Markdown, HTML, JUnit, Prometheus), plus a timeline.
  - It measures nothing itself and changes nothing; C(playbooks/dr_drill.yml) (role C(opsbook.stack.dr)) runs it on
    the control node at the end of a drill, also after a failed phase, so the report names the cause.
  - "V(dr.rto): seconds from the start of the drill to a healthy application on the DR host; C(crit) when it reaches
    O(rto_target_seconds), and when the application never became healthy."
  - "V(dr.rpo): age of the newest recovered transaction against the source at the moment the drill started - the start
    of the drill minus the commit time of the last transaction the recovery replayed (O(recovered_transaction)), in
    seconds, and at least the age at the start of the source's last archived WAL (O(source_archived_at)): a disaster
    at the start would have lost what was not archived yet; C(crit) when it reaches O(rpo_target_seconds). Without
    a replayed transaction it falls back to the data - the newest write time on the source at the start minus the
    newest recovered one. Its details carry both, the data loss as C(data_loss_s)."
  - "V(dr.phase:<name>): one result per phase with its duration; C(crit) for the phase that failed, with its message;
    the phases that never ran because of it are not reported."
  - "V(dr.rows:<table>): row count of each source table on the DR host against the source's count when compared
    (after the recovery; the recovery replays WAL archived after the start too); C(crit) for a table missing on the
    DR host or with more rows than the source has (the recovered copy cannot be newer than its source)."
  - "V(dr.consistency): rows of O(consistency.table) up to the newest recovered timestamp on both sides; they must be
    equal - a difference means rows lost or changed in the recovered copy."
options:
  started:
    description:
      - Start of the drill, seconds since the epoch (UTC).
    type: float
    required: true
  phases:
    description:
      - The phases in the order they ran.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name of the phase, letters, digits, C(_) and C(-).
        type: str
        required: true
      start:
        description:
          - Start, seconds since the epoch.
        type: float
        required: true
      end:
        description:
          - End, seconds since the epoch. Omitted for a phase that did not finish.
        type: float
      failed:
        description:
          - The phase failed; the drill stopped there.
        type: bool
        default: false
      note:
        description:
          - What happened, for the report (the cause, when the phase failed).
        type: str
        default: ''
  healthy_at:
    description:
      - When the recovered application first answered its health check as healthy, seconds since the epoch.
        Omitted when it never did.
    type: float
  rto_target_seconds:
    description:
      - Recovery time objective. The RTO reaching it is C(crit).
    type: float
    default: 14400
  rpo_target_seconds:
    description:
      - Recovery point objective. The RPO reaching it is C(crit).
    type: float
    default: 3600
  source_newest:
    description:
      - Newest data timestamp of the source at the start of the drill, seconds since the epoch.
    type: float
  recovered_newest:
    description:
      - Newest data timestamp in the recovered database, seconds since the epoch.
    type: float
  backup_stop:
    description:
      - End of the backup set the recovery started from, seconds since the epoch. When the recovery replayed no
        transaction and no recovered data timestamp is known, the RPO is the age of this moment.
    type: float
  source_archived_at:
    description:
      - When the source had last archived a WAL segment, at the start of the drill (C(pg_stat_archiver)), seconds since
        the epoch. The source keeps running during a drill, so the recovery can replay WAL archived after the start;
        had the source been lost at the start, the data after its last archived segment would be gone. The RPO is
        therefore at least the age of this moment at the start (C(details.archive_lag_s)).
    type: float
  recovered_transaction:
    description:
      - Commit time of the last transaction the recovery replayed (C(pg_last_xact_replay_timestamp()) after
        promotion), seconds since the epoch.
    type: float
  source_counts:
    description:
      - Row count per table (C(schema.table)) of the source, read after the recovery.
    type: dict
    default: {}
  recovered_counts:
    description:
      - Row count per table of the recovered database.
    type: dict
    default: {}
  consistency:
    description:
      - Rows of one table up to the newest recovered timestamp, counted on both sides.
    type: dict
    suboptions:
      table:
        description:
          - The table (and its timestamp column) that was counted, for the message.
        type: str
        required: true
      source:
        description:
          - Count on the source.
        type: int
        required: true
      recovered:
        description:
          - Count on the DR host.
        type: int
        required: true
  checklist_results:
    description:
      - Results of the daily checklist on the recovered host (the C(checklist_last_results) fact of the
        C(opsbook.stack.checklist) role). V(dr.checklist) takes their worst status and names the checks that are not ok.
    type: list
    elements: dict
    default: []
  restore:
    description:
      - What was restored (set label, recovery type and target, repository), copied into the details of V(dr.rto).
    type: dict
    default: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - C(changed) is always false.
seealso:
  - module: opsbook.stack.restore_test
"""

EXAMPLES = r"""
- name: Judge the drill
  opsbook.stack.dr_evaluate:
    started: 1764160000.0
    phases:
      - {name: provision, start: 1764160000.0, end: 1764160090.5}
      - {name: restore, start: 1764160090.5, end: 1764160131.0}
      - {name: app, start: 1764160131.0, end: 1764160190.2}
    healthy_at: 1764160190.2
    rto_target_seconds: 300
    rpo_target_seconds: 60
    source_newest: 1764159990.0
    recovered_newest: 1764159962.0
    source_counts: {public.measurements: 120400}
    recovered_counts: {public.measurements: 120380}
    consistency: {table: public.measurements (ts), source: 120380, recovered: 120380}
  delegate_to: localhost
  register: drill
"""

RETURN = r"""
checks:
  description: One result per check (docs/checks.md), RTO and RPO first, then the phases, the tables, consistency.
  returned: always
  type: list
  elements: dict
  sample:
    - {check: dr.rto, status: ok, value: 190.2, warn: null, crit: 300.0, unit: s,
       message: "recovery time is 190.2 s (target 300 s)", details: {}}
summary:
  description: Counts per status and the worst status.
  returned: always
  type: dict
  sample: {ok: 6, warn: 0, crit: 0, unknown: 0, total: 6, worst: ok}
timeline:
  description: The phases with their offsets from the start of the drill, for the report's timeline.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: provision, start: "2026-11-26T12:26:40Z", offset_s: 0.0, duration_s: 90.5, status: ok, message: ""}
rto_seconds:
  description: The measured RTO, null when the application never became healthy.
  returned: always
  type: float
  sample: 190.2
rpo_seconds:
  description: The measured RPO, null when a timestamp is missing.
  returned: always
  type: float
  sample: 28.0
"""
# pylint: enable=duplicate-code

import re
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsbook.stack.plugins.module_utils import _checks
from ansible_collections.opsbook.stack.plugins.module_utils._timestamps import format_utc, parse_utc

PHASE_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def _seconds(value: float) -> str:
    if value >= 120:
        return f"{value:.0f} s ({value / 60:.1f} min)"
    return f"{value:.1f} s"


def timeline(started: float, phases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Phases with ISO start, offset from the drill start and duration (None while unfinished)."""
    out = []
    for phase in phases:
        end = phase.get("end")
        out.append({
            "name": phase["name"],
            "start": format_utc(parse_utc(phase["start"], epoch=True)),
            "offset_s": round(phase["start"] - started, 1),
            "duration_s": round(end - phase["start"], 1) if end is not None else None,
            "status": "crit" if phase.get("failed") else "ok",
            "message": phase.get("note") or "",
        })
    return out


def evaluate(params: dict[str, Any]) -> dict[str, Any]:
    """All results of a drill from its measurements (pure; the unit tests call it directly)."""
    started = float(params["started"])
    phases = params["phases"]
    for phase in phases:
        if not PHASE_RE.match(phase["name"]):
            raise ValueError(f"phase name {phase['name']!r} may only hold letters, digits, '_' and '-'")
        if phase.get("end") is not None and phase["end"] < phase["start"]:
            raise ValueError(f"phase {phase['name']!r} ends before it starts ({phase['end']} < {phase['start']})")
    rto_target = float(params["rto_target_seconds"])
    rpo_target = float(params["rpo_target_seconds"])
    if rto_target <= 0 or rpo_target <= 0:
        raise ValueError(f"rto_target_seconds and rpo_target_seconds must be positive (got {rto_target}, {rpo_target})")
    steps = timeline(started, phases)
    failed = [step for step in steps if step["status"] == "crit"]
    results: list[_checks.CheckResult] = []

    rto_threshold = _checks.Threshold(warn=None, crit=rto_target)
    healthy_at = params.get("healthy_at")
    rto: float | None = None
    details = {"timeline": steps, "target_s": rto_target, "restore": params.get("restore") or {}}
    if healthy_at is None:
        cause = f"; the drill stopped in phase {failed[0]['name']}: {failed[0]['message']}" if failed else ""
        results.append(_checks.result(
            "dr.rto", _checks.CRIT, f"the application on the DR host never became healthy{cause}",
            unit="s", threshold=rto_threshold, details=details,
        ))
    else:
        rto = round(float(healthy_at) - started, 1)
        item = _checks.evaluate("dr.rto", rto, rto_threshold, unit="s", details=details)
        item.message = f"recovery time (start to a healthy application) is {_seconds(rto)}, target {_seconds(rto_target)}"
        results.append(item)

    rpo: float | None = None
    what = ""
    source_newest = params.get("source_newest")
    recovered_newest = params.get("recovered_newest")
    replayed = params.get("recovered_transaction")
    rpo_threshold = _checks.Threshold(warn=None, crit=rpo_target)
    rpo_details: dict[str, Any] = {"target_s": rpo_target}
    if source_newest is not None:
        rpo_details["source_newest"] = format_utc(parse_utc(float(source_newest), epoch=True))
    if recovered_newest is not None:
        rpo_details["recovered_newest"] = format_utc(parse_utc(float(recovered_newest), epoch=True))
    if source_newest is not None and recovered_newest is not None:
        rpo_details["data_loss_s"] = round(max(0.0, float(source_newest) - float(recovered_newest)), 1)
    if replayed is not None:
        rpo_details["recovered_transaction"] = format_utc(parse_utc(float(replayed), epoch=True))
        rpo = round(max(0.0, started - float(replayed)), 1)
        what = f"age of the newest recovered transaction ({rpo_details['recovered_transaction']}) at the start of the drill"
    elif "data_loss_s" in rpo_details:
        rpo = rpo_details["data_loss_s"]
        what = "data loss (newest recovered write against the source's at the start; no transaction was replayed)"
    elif params.get("backup_stop") is not None:
        rpo_details["backup_stop"] = format_utc(parse_utc(float(params["backup_stop"]), epoch=True))
        rpo = round(max(0.0, started - float(params["backup_stop"])), 1)
        what = f"age of the recovery point (end of the backup, {rpo_details['backup_stop']}; no transaction was replayed after it)"
    archived_at = params.get("source_archived_at")
    if archived_at is not None:
        # The source keeps running during a drill, so the recovery may replay WAL archived after the start. Had the
        # source been lost at the start, only the WAL archived by then would exist: its age bounds the loss.
        lag = round(max(0.0, started - float(archived_at)), 1)
        rpo_details["source_archived_at"] = format_utc(parse_utc(float(archived_at), epoch=True))
        rpo_details["archive_lag_s"] = lag
        if rpo is None or lag > rpo:
            rpo = lag
            what = (f"age at the start of the drill of the newest WAL the source had archived ({rpo_details['source_archived_at']}; "
                    "a disaster at the start would have lost what came after it)")
    if rpo is None:
        missing = "the source" if source_newest is None else "the recovered database"
        status = _checks.CRIT if failed else _checks.UNKNOWN
        results.append(_checks.result(
            "dr.rpo", status, f"no replayed transaction and no newest data timestamp from {missing}, so the recovery point is not known",
            unit="s", threshold=rpo_threshold, details=rpo_details,
        ))
    else:
        item = _checks.evaluate("dr.rpo", rpo, rpo_threshold, unit="s", details=rpo_details)
        item.message = f"{what} is {_seconds(rpo)}, target {_seconds(rpo_target)}"
        results.append(item)

    for step in steps:
        if step["status"] == "crit":
            results.append(_checks.result(
                f"dr.phase:{step['name']}", _checks.CRIT, f"phase {step['name']} failed: {step['message']}",
                value=step["duration_s"], unit="s", details=step,
            ))
        else:
            took = _seconds(step["duration_s"]) if step["duration_s"] is not None else "unfinished"
            note = f" - {step['message']}" if step["message"] else ""
            results.append(_checks.result(
                f"dr.phase:{step['name']}", _checks.OK,
                f"phase {step['name']} took {took}, from +{step['offset_s']:.1f} s{note}",
                value=step["duration_s"], unit="s", details=step,
            ))

    source_counts = params.get("source_counts") or {}
    recovered_counts = params.get("recovered_counts") or {}
    if recovered_counts or not failed:
        for table in sorted(source_counts):
            src = int(source_counts[table])
            if table not in recovered_counts:
                results.append(_checks.result(
                    f"dr.rows:{table}", _checks.CRIT, f"table {table} ({src} rows on the source) is missing on the DR host",
                    details={"source": src},
                ))
                continue
            rec = int(recovered_counts[table])
            detail = {"source": src, "recovered": rec, "difference": src - rec}
            if rec > src:
                results.append(_checks.result(
                    f"dr.rows:{table}", _checks.CRIT,
                    f"table {table} has {rec} rows on the DR host, more than the {src} the source has",
                    value=rec, unit="rows", details=detail,
                ))
            else:
                results.append(_checks.result(
                    f"dr.rows:{table}", _checks.OK,
                    f"table {table}: {rec} rows recovered, {src} on the source ({src - rec} written after the recovery point)",
                    value=rec, unit="rows", details=detail,
                ))
    checklist = [item for item in params.get("checklist_results") or [] if isinstance(item, dict)]
    if checklist:
        counts = _checks.summarize(checklist)
        status = counts["worst"]
        bad = [f"{item.get('check')} {item.get('status')}" for item in checklist if item.get("status") != _checks.OK]
        text = ", ".join(f"{counts[name]} {name}" for name in _checks.STATUSES if counts[name])
        results.append(_checks.result(
            "dr.checklist", status,
            f"daily checklist on the DR host: {text}" + (f" ({'; '.join(bad[:8])})" if bad else ""),
            value=counts["total"], details={"summary": counts, "not_ok": bad},
        ))
    consistency = params.get("consistency")
    if consistency:
        src, rec = int(consistency["source"]), int(consistency["recovered"])
        same = src == rec
        results.append(_checks.result(
            "dr.consistency", _checks.OK if same else _checks.CRIT,
            f"{consistency['table']}: {rec} rows up to the newest recovered timestamp on the DR host, {src} on the source"
            + ("" if same else f" - {abs(src - rec)} rows differ"),
            value=rec - src, unit="rows", details={"source": src, "recovered": rec},
        ))
    out = _checks.module_output(results)
    out.update({"timeline": steps, "rto_seconds": rto, "rpo_seconds": rpo})
    return out


ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "started": {"type": "float", "required": True},
    "phases": {
        "type": "list", "elements": "dict", "required": True,
        "options": {
            "name": {"type": "str", "required": True},
            "start": {"type": "float", "required": True},
            "end": {"type": "float"},
            "failed": {"type": "bool", "default": False},
            "note": {"type": "str", "default": ""},
        },
    },
    "healthy_at": {"type": "float"},
    "rto_target_seconds": {"type": "float", "default": 14400},
    "rpo_target_seconds": {"type": "float", "default": 3600},
    "source_newest": {"type": "float"},
    "recovered_newest": {"type": "float"},
    "recovered_transaction": {"type": "float"},
    "backup_stop": {"type": "float"},
    "source_archived_at": {"type": "float"},
    "source_counts": {"type": "dict", "default": {}},
    "recovered_counts": {"type": "dict", "default": {}},
    "consistency": {
        "type": "dict",
        "options": {
            "table": {"type": "str", "required": True},
            "source": {"type": "int", "required": True},
            "recovered": {"type": "int", "required": True},
        },
    },
    "checklist_results": {"type": "list", "elements": "dict", "default": []},
    "restore": {"type": "dict", "default": {}},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        out = evaluate(module.params)
    except (ValueError, TypeError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **out)


if __name__ == "__main__":
    main()

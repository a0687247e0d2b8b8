#!/usr/bin/python
# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only health checks of a PostgreSQL server (opsbook.stack result contract)."""

from __future__ import annotations

# Documentation repeats the result contract on purpose (RETURN has no doc fragments): no duplicate-code check.
# pylint: disable=duplicate-code
DOCUMENTATION = r"""
module: pg_check
short_description: Read-only health checks of a PostgreSQL server
version_added: 0.2.0
author: opsbook.stack contributors (!UNKNOWN)
description:
  - Connects to PostgreSQL with psycopg 3 and reports connection, session, wraparound, vacuum, size and
    replication checks, a slow-query review from C(pg_stat_statements), database growth against a baseline
    plus custom SQL queries in the opsbook.stack result contract.
  - "Check ids: V(pg.connect), V(pg.connections), V(pg.long_running), V(pg.idle_in_transaction), V(pg.wraparound),
    V(pg.vacuum), V(pg.database_size:<database>) (one per non-template database), V(pg.replication),
    V(pg.statements_mean) and V(pg.statements_total) (or one V(pg.statements) when C(pg_stat_statements) is not
    usable), V(pg.database_growth:<database>) and V(pg.query:<name>) (one per entry of O(queries))."
  - "Slow-query review (V(statements)): reads the C(pg_stat_statements) view of O(login_db). V(pg.statements_mean) is
    the highest mean execution time (ms) of the statements called at least O(statements_min_calls) times,
    V(pg.statements_total) the highest total execution time (s) of any statement since the statistics were last reset.
    C(details.top) lists the O(statements_top) heaviest statements (queryid, query collapsed to one line and cut at
    200 characters, calls, mean_ms, total_s, rows, database, user); C(details.since) is the time of the last reset
    (C(pg_stat_statements_info.stats_reset)) so the figures cover C(details.period_days) days. The module's own
    statements (text containing C(pg_stat_statements)) are left out. When the library is not in
    C(shared_preload_libraries) or the extension is not created in O(login_db), the one result V(pg.statements) is
    C(unknown) and says what to do. Query texts of other roles are visible only to superusers and members of
    C(pg_read_all_stats) / C(pg_monitor); otherwise the message says so."
  - "Trend (O(baseline)): every numeric result whose id is a key of O(baseline) gets C(details.trend) (previous,
    previous_at, change, change_pct, days) and a short note in parentheses such as C(+12.3 % since 2026-10-26) at the end of its
    message; its status does not change. V(pg.database_growth:<database>) results are not decorated (they are a
    comparison already)."
  - "Database growth (V(database_growth), implies V(database_size)): for each database, the size change in % against
    the O(baseline) entry C(pg.database_size:<database>), judged by threshold V(database_growth_pct);
    C(details.per_30_days) scales it to 30 days. A database without a baseline entry is C(unknown) (first run).
    Baseline entries of databases that no longer exist are ignored."
  - The session is read-only (C(default_transaction_read_only)) and every statement is bounded by O(query_timeout).
  - If the connection fails (refused, authentication), V(pg.connect) is C(crit) with the server's reason and every
    other requested check is C(unknown) with "not measured - cannot connect".
  - Session checks see every session only as a superuser or a member of C(pg_monitor) / C(pg_read_all_stats);
    otherwise they see the login role's own sessions and say so in the message.
extends_documentation_fragment:
  - opsbook.stack.checks
  - opsbook.stack.pg_connection
options:
  checks:
    description:
      - "Names of the checks to run: V(connect), V(connections), V(long_running), V(idle_in_transaction), V(wraparound),
        V(vacuum), V(database_size), V(replication), V(statements), V(database_growth)."
      - "Omit to run the daily set: every check except V(statements) and V(database_growth). Those two are periodic
        reviews that need an extension or a baseline from an earlier run; select them explicitly (they report
        C(unknown) with the reason when their prerequisite is missing)."
      - V(database_growth) implies V(database_size) (the sizes are measured and reported, so they can be recorded
        for the next run).
      - An unknown name fails the module with a message listing the known ones.
      - O(queries) always run when given; they are not selected here.
    type: list
    elements: str
  thresholds:
    description:
      - Overrides of the default thresholds, keyed by threshold name.
        Each value is a mapping with C(warn), C(crit) and optionally C(direction) (C(above) or C(below));
        keys left out keep the default, an explicit C(null) turns that level off.
      - A warn level beyond the crit level fails the module with a message naming the threshold.
      - "V(connections_pct): client connections as % of C(max_connections), warn 80, crit 95, above."
      - "V(long_running_seconds): longest running statement, warn 300, crit 3600, above."
      - "V(idle_in_transaction_seconds): longest idle-in-transaction session, warn 60, crit 600, above."
      - "V(wraparound_pct): oldest C(age(datfrozenxid)) of any database as % of 2^31, warn 50, crit 75, above."
      - "V(vacuum_age_hours): hours since the last (auto)vacuum of the stalest table of O(login_db) with at least
        O(vacuum_min_rows) live rows, warn 168, crit 720, above."
      - "V(database_size_bytes): size of each database, no levels (informational), above."
      - "V(replication_lag_seconds): replay lag (of the worst standby on a primary, of itself on a standby),
        warn 30, crit 300, above."
      - "V(statement_mean_ms): highest mean execution time of a statement called at least O(statements_min_calls)
        times, warn 500, crit 5000, above."
      - "V(statement_total_seconds): highest total execution time of one statement since the statistics were reset,
        warn 3600, no crit, above."
      - "V(database_growth_pct): size change of a database in % since its O(baseline) entry, warn 50, crit 100, above."
    type: dict
    default: {}
  query_timeout:
    description:
      - Seconds any statement may run (C(statement_timeout)), built-in checks and O(queries) alike.
    type: float
    default: 30
  vacuum_min_rows:
    description:
      - Only tables with at least this many live rows (C(n_live_tup)) count for the V(vacuum) check.
    type: int
    default: 10000
  statements_min_calls:
    description:
      - Only statements called at least this many times count for V(pg.statements_mean) (one slow call of a
        rare report is no pattern).
    type: int
    default: 5
  statements_top:
    description:
      - How many statements C(details.top) of V(pg.statements_mean) and V(pg.statements_total) list.
    type: int
    default: 5
  baseline:
    description:
      - "Earlier readings to compare with, keyed by check id, each C({value: <number>, at: <ISO-8601 UTC time>}),
        for example C({\"pg.database_size:appdb\": {\"value\": 8123456, \"at\": \"2026-10-26T06:00:00Z\"}})."
      - Build it on the control node with the P(opsbook.stack.trend_baseline#filter) filter from the history kept by
        P(opsbook.stack.trend_history#filter).
      - Keys that match no result are ignored. An entry without a numeric C(value) or a readable C(at) fails the
        module with a message naming the key.
    type: dict
    default: {}
  replication_expected_standbys:
    description:
      - On a primary, the number of standbys that must be streaming; fewer connected is C(crit).
      - With V(0) a primary without standbys is C(ok).
    type: int
    default: 0
  queries:
    description:
      - Custom checks, each a SQL query whose first column of the first row is the measured value.
      - Each query runs in its own READ ONLY transaction that is rolled back afterwards, over the extended query
        protocol (one statement only), with C(statement_timeout) O(query_timeout). A write is refused by the server
        and reported as C(unknown) with its message.
      - The value must be numeric (a boolean counts as 1 or 0). NULL, no rows or any other type give C(unknown) with
        the reason; so does an SQL error (with the server's message).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Instance of the check id V(pg.query:<name>); letters, digits, C(_), C(-) and C(.); unique.
        type: str
        required: true
      sql:
        description:
          - The query. Use C(extract(epoch FROM ...)) to turn intervals into numbers.
        type: str
        required: true
      db:
        description:
          - Database to run it in; defaults to O(login_db).
        type: str
      warn:
        description:
          - Warning level (none if omitted).
        type: float
      crit:
        description:
          - Critical level (none if omitted).
        type: float
      direction:
        description:
          - V(above) - bad when the value reaches the levels from below; V(below) - bad when it falls to them.
        type: str
        default: above
        choices: [above, below]
      unit:
        description:
          - Unit of the value, for messages (V(%), V(h), V(rows)...).
        type: str
        default: ''
      label:
        description:
          - Human label for messages; defaults to "query <name>".
        type: str
notes:
  - Runs on the database host as the C(postgres) OS user over the unix socket with peer authentication
    (C(become_user=postgres)), or anywhere with O(login_host) and O(login_password).
"""

EXAMPLES = r"""
- name: Check the local PostgreSQL server as postgres (peer authentication)
  opsbook.stack.pg_check:
  become: true
  become_user: postgres
  register: pg

- name: Check the application database over TCP, with custom queries
  opsbook.stack.pg_check:
    login_host: 127.0.0.1
    login_user: app
    login_password: "{{ app_db_password }}"
    login_db: appdb
    checks: [connect, connections, vacuum]
    thresholds:
      connections_pct: {warn: 70, crit: 90}
    queries:
      - name: failed_jobs_24h
        label: failed job executions in the last 24 h
        sql: SELECT count(*) FROM job_executions WHERE status = 'FAILED' AND started_at > now() - interval '24 hours'
        warn: 1
        crit: 5
        unit: runs
      - name: data_freshness_hours
        label: age of the newest measurement
        sql: SELECT extract(epoch FROM now() - max(ts)) / 3600 FROM measurements
        warn: 2
        crit: 6
        unit: h
      - name: valid_pct_24h
        label: valid measurements in the last 24 h
        sql: >-
          SELECT 100.0 * count(*) FILTER (WHERE valid) / nullif(count(*), 0)
          FROM measurements WHERE ts > now() - interval '24 hours'
        warn: 95
        crit: 80
        direction: below
        unit: '%'
  register: app_db
  no_log: false

- name: Monthly slow-query review and growth against last month's sizes
  opsbook.stack.pg_check:
    login_db: appdb
    checks: [statements, database_growth]
    statements_top: 10
    thresholds:
      statement_mean_ms: {warn: 250, crit: 2000}
    baseline: "{{ pg_history | opsbook.stack.trend_baseline(min_age_days=20) }}"
  become: true
  become_user: postgres
  register: monthly_pg

- name: Fail the play when anything is critical
  ansible.builtin.assert:
    that: pg.summary.worst != 'crit'
"""

RETURN = r"""
checks:
  description: One result per check, in evaluation order (connect first, custom queries last).
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: Stable check id, for example V(pg.connections) or V(pg.query:failed_jobs_24h).
      type: str
    status:
      description: V(ok), V(warn), V(crit) or V(unknown).
      type: str
    value:
      description: The measured value (number), or null when nothing could be measured.
      type: raw
    warn:
      description: Warning level in effect, or null.
      type: float
    crit:
      description: Critical level in effect, or null.
      type: float
    unit:
      description: Unit of value and levels (V(%), V(s), V(h), V(bytes), V(ms)...).
      type: str
    message:
      description: One human sentence.
      type: str
    details:
      description:
        - Structured extras (database, sessions, standbys, server version, top statements...).
        - C(trend) (previous, previous_at, change, change_pct, days) when O(baseline) has an entry for the check.
      type: dict
  sample:
    - check: pg.connections
      status: ok
      value: 4.0
      warn: 80.0
      crit: 95.0
      unit: "%"
      message: client connections of max_connections is 4% (warn >= 80%, crit >= 95%)
      details: {clients: 4, max_connections: 100, superuser_reserved_connections: 3}
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
  sample: {ok: 9, warn: 0, crit: 0, unknown: 0, total: 9, worst: ok}
"""
# pylint: enable=duplicate-code

import datetime
import re
import time
from collections.abc import Mapping
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opsbook.stack.plugins.module_utils._checks import (
    ABOVE,
    CRIT,
    OK,
    THRESHOLDS_SPEC,
    CheckResult,
    Threshold,
    ThresholdError,
    evaluate,
    is_number,
    merge_thresholds,
    module_output,
    result,
    select,
    trend_of,
    trend_text,
    unknown,
)
from ansible_collections.opsbook.stack.plugins.module_utils._pg import (
    PG_CONNECTION_SPEC,
    coerce_number,
    connect,
    describe_target,
    dict_row,
    error_text,
    fail_without_psycopg,
    psycopg,
)
from ansible_collections.opsbook.stack.plugins.module_utils._pg import sql as pgsql
from ansible_collections.opsbook.stack.plugins.module_utils._sizes import human_bytes
from ansible_collections.opsbook.stack.plugins.module_utils._timestamps import format_utc, parse_utc

CHECKS: tuple[str, ...] = (
    "connect",
    "connections",
    "long_running",
    "idle_in_transaction",
    "wraparound",
    "vacuum",
    "database_size",
    "replication",
    "statements",
    "database_growth",
)
# Run when ``checks`` is omitted: the daily checks. The periodic reviews need an
# extension (statements) or a baseline from an earlier run (database_growth).
DEFAULT_CHECKS: tuple[str, ...] = CHECKS[:8]

DEFAULTS: dict[str, Threshold] = {
    "connections_pct": Threshold(80, 95, ABOVE),
    "long_running_seconds": Threshold(300, 3600, ABOVE),
    "idle_in_transaction_seconds": Threshold(60, 600, ABOVE),
    "wraparound_pct": Threshold(50, 75, ABOVE),
    "vacuum_age_hours": Threshold(168, 720, ABOVE),
    "database_size_bytes": Threshold(None, None, ABOVE),
    "replication_lag_seconds": Threshold(30, 300, ABOVE),
    "statement_mean_ms": Threshold(500, 5000, ABOVE),
    "statement_total_seconds": Threshold(3600, None, ABOVE),
    "database_growth_pct": Threshold(50, 100, ABOVE),
}

XID_SPACE = 2**31
QUERY_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
APPLICATION_NAME = "opsbook.stack.pg_check"
NOT_CONNECTED = "not measured - cannot connect"
VISIBILITY_HINT = " (only the login role's own sessions are visible: grant pg_monitor to see all)"
STATEMENTS_HINT = " (query texts of other roles' statements are hidden: grant pg_read_all_stats or pg_monitor)"
QUERY_TEXT_MAX = 200


class BaselineError(ValueError):
    """A ``baseline`` entry that cannot be compared with."""


def choose_checks(requested: list[str] | None) -> list[str]:
    """The checks to run, in evaluation order; database_growth brings database_size along.

    Raises ValueError naming unknown names.
    """
    if requested is None:
        return list(DEFAULT_CHECKS)
    wanted = select(requested, CHECKS)
    if "database_growth" in wanted and "database_size" not in wanted:
        wanted = select([*wanted, "database_size"], CHECKS)
    return wanted


def placeholder_id(name: str, login_db: str) -> str:
    """The id a check reports under when it cannot run at all."""
    if name in ("database_size", "database_growth"):
        return f"pg.{name}:{login_db}"
    return f"pg.{name}"


def validate_baseline(raw: Mapping[str, Any] | None) -> dict[str, tuple[float, datetime.datetime]]:
    """``{check id: {value, at}}`` -> ``{check id: (value, aware UTC datetime)}``; BaselineError names a bad entry."""
    out: dict[str, tuple[float, datetime.datetime]] = {}
    for key, entry in (raw or {}).items():
        if not isinstance(entry, Mapping):
            raise BaselineError(f"baseline[{key!r}] must be a mapping with value and at, got {type(entry).__name__} {entry!r}")
        value = entry.get("value")
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if not is_number(value):
            raise BaselineError(f"baseline[{key!r}]: value must be a finite number, got {value!r}")
        try:
            at = parse_utc(entry.get("at"), f"baseline[{key!r}]: at")
        except ValueError as exc:
            raise BaselineError(str(exc)) from None
        out[str(key)] = (value, at)
    return out


def apply_baseline(results: list[CheckResult], baseline: Mapping[str, tuple[float, datetime.datetime]], now: datetime.datetime) -> None:
    """Add details.trend and a "(+x % since <date>)" note to numeric results that have a baseline entry."""
    for res in results:
        if res.check.startswith("pg.database_growth:") or res.check not in baseline or not is_number(res.value):
            continue
        previous, previous_at = baseline[res.check]
        trend = trend_of(res.value, previous, previous_at, now)
        res.details["trend"] = trend
        res.message += " " + trend_text(trend, res.unit)


def growth_results(
    sizes: list[tuple[str, int]],
    baseline: Mapping[str, tuple[float, datetime.datetime]],
    threshold: Threshold,
    now: datetime.datetime,
) -> list[CheckResult]:
    """pg.database_growth:<db> per measured database: % size change since its baseline entry."""
    out: list[CheckResult] = []
    for name, size in sizes:
        check_id = f"pg.database_growth:{name}"
        details: dict[str, Any] = {"database": name, "size": size, "human": human_bytes(size)}
        entry = baseline.get(f"pg.database_size:{name}")
        if entry is None:
            out.append(
                unknown(
                    check_id,
                    f"growth of database {name}: no size recorded from a previous run yet; the next run compares against this one",
                    details=details,
                )
            )
            continue
        previous, previous_at = entry
        trend = trend_of(size, previous, previous_at, now)
        details.update(
            previous=previous,
            previous_human=human_bytes(previous),
            previous_at=trend["previous_at"],
            days=trend["days"],
            change_bytes=trend["change"],
        )
        if trend["change_pct"] is None or previous < 0:
            out.append(unknown(check_id, f"growth of database {name}: the recorded size ({previous}) is not a usable base", details=details))
            continue
        elapsed = (now - previous_at).total_seconds() / 86400
        pct = trend["change_pct"]
        details["per_30_days"] = round(pct * 30 / elapsed, 2) if elapsed > 0 else None
        label = (
            f"growth of database {name} since {trend['previous_at'][:10]} "
            f"({human_bytes(previous)} -> {human_bytes(size)} in {trend['days']} days)"
        )
        out.append(evaluate(check_id, pct, threshold, unit="%", label=label, details=details))
    return out


def one_line_query(text: Any) -> str:
    """A statement's text on one line, cut at QUERY_TEXT_MAX characters."""
    line = " ".join(str(text or "").split())
    return line if len(line) <= QUERY_TEXT_MAX else line[: QUERY_TEXT_MAX - 3] + "..."


def statements_missing(database: str, preloaded: bool | None, created: bool) -> CheckResult:
    """pg.statements unknown: what is missing and what to do."""
    details = {"database": database, "preloaded": preloaded, "extension_created": created}
    if preloaded is not False and not created:
        return unknown(
            "pg.statements",
            f"the pg_stat_statements extension is not created in database {database}: "
            f"CREATE EXTENSION pg_stat_statements in {database}"
            + (" (the library is in shared_preload_libraries already)" if preloaded else ""),
            details=details,
        )
    return unknown(
        "pg.statements",
        "pg_stat_statements is not loaded: add it to shared_preload_libraries (postgresql role default) and "
        f"CREATE EXTENSION pg_stat_statements in {database}"
        + (" (the extension is created already; restart PostgreSQL after changing shared_preload_libraries)" if created else ""),
        details=details,
    )


def _excerpt(row: Mapping[str, Any]) -> str:
    text = str(row.get("query") or "")
    return text if len(text) <= 60 else text[:57] + "..."


def statements_results(
    by_mean: list[Mapping[str, Any]],
    by_total: list[Mapping[str, Any]],
    info: Mapping[str, Any],
    thresholds: Mapping[str, Threshold],
    min_calls: int,
    sees_all: bool,
) -> list[CheckResult]:
    """pg.statements_mean and pg.statements_total from pg_stat_statements rows.

    Rows: queryid, query, calls, mean_ms, total_s, rows, database, user (heaviest first).
    ``info``: database (where the view was read), statements, frequent, all_total_s,
    since (datetime or None), now (datetime), dealloc.
    """
    since = info.get("since")
    now = info["now"]
    common: dict[str, Any] = {
        "database": info["database"],
        "since": format_utc(since) if since else None,
        "period_days": round((now - since).total_seconds() / 86400, 1) if since else None,
        "statements": info.get("statements"),
        "all_total_s": info.get("all_total_s"),
        "dealloc": info.get("dealloc"),
        "sees_all_statements": sees_all,
    }
    period = f" since {common['since'][:10]}" if since else ""
    hint = "" if sees_all else STATEMENTS_HINT
    top_mean = [dict(row, query=one_line_query(row.get("query"))) for row in by_mean]
    top_total = [dict(row, query=one_line_query(row.get("query"))) for row in by_total]
    total_details = dict(common, top=top_total)
    if top_total and common["all_total_s"]:
        total_details["share_pct"] = round(100.0 * top_total[0]["total_s"] / common["all_total_s"], 1)
    out: list[CheckResult] = []
    for check, top, field, threshold, unit, details, nothing in (
        ("pg.statements_mean", top_mean, "mean_ms", "statement_mean_ms", "ms",
         dict(common, min_calls=min_calls, frequent=info.get("frequent"), top=top_mean),
         f"no statement was called {min_calls} or more times"),
        ("pg.statements_total", top_total, "total_s", "statement_total_seconds", "s", total_details, "no statements recorded"),
    ):
        kind = "mean" if field == "mean_ms" else "total"
        if top:
            worst_row = top[0]
            label = (
                f"highest {kind} execution time of a statement ({_excerpt(worst_row)!r} in {worst_row.get('database')}, "
                f"{worst_row.get('calls')} calls{period})"
            )
            res = evaluate(check, worst_row[field], thresholds[threshold], unit=unit, label=label, details=details)
        else:
            res = result(check, OK, f"{nothing}{period or ' since the statistics were reset'}", unit=unit,
                         threshold=thresholds[threshold], details=details)
        res.message += hint
        out.append(res)
    return out


class QuerySpecError(ValueError):
    """A custom query entry that cannot be run as given."""


def validate_queries(queries: list[Mapping[str, Any]] | None, login_db: str) -> list[dict[str, Any]]:
    """Check the ``queries`` option; return normalized entries with their Threshold.

    Raises QuerySpecError / ThresholdError naming the bad entry.
    """
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, raw in enumerate(queries or []):
        name = str(raw.get("name") or "")
        if not QUERY_NAME_RE.match(name):
            raise QuerySpecError(
                f"queries[{index}]: name {name!r} must consist of letters, digits, '_', '-' and '.' "
                "(it becomes the check id pg.query:<name>)"
            )
        if name in seen:
            raise QuerySpecError(f"queries[{index}]: name {name!r} is used twice; query names must be unique")
        seen.add(name)
        sql = str(raw.get("sql") or "").strip()
        if not sql:
            raise QuerySpecError(f"query {name!r}: sql is empty")
        direction = str(raw.get("direction") or ABOVE)
        threshold = Threshold.from_spec(
            {"warn": raw.get("warn"), "crit": raw.get("crit"), "direction": direction},
            f"query {name}",
        )
        out.append(
            {
                "name": name,
                "sql": sql,
                "db": raw.get("db") or login_db,
                "threshold": threshold,
                "unit": str(raw.get("unit") or ""),
                "label": str(raw.get("label") or f"query {name}"),
            }
        )
    return out


def query_result(spec: Mapping[str, Any], row: Any, has_result: bool = True) -> CheckResult:
    """Turn a custom query's first row (None: no rows) into a result.

    ``has_result`` is false when the statement returned no result set at all.
    """
    check_id = f"pg.query:{spec['name']}"
    label = spec["label"]
    details = {"database": spec["db"]}
    if not has_result:
        return unknown(check_id, f"{label}: the statement returned no result set (use a SELECT)", details=details)
    if row is None:
        return unknown(check_id, f"{label}: the query returned no rows", details=details)
    if len(row) == 0:
        return unknown(check_id, f"{label}: the query returned no columns", details=details)
    number, reason = coerce_number(row[0])
    if reason is not None:
        return unknown(check_id, f"{label}: {reason}", details=details)
    return evaluate(check_id, number, spec["threshold"], unit=spec["unit"], label=label, details=details)


def replication_result(
    in_recovery: bool,
    standbys: list[Mapping[str, Any]],
    standby_state: Mapping[str, Any] | None,
    expected: int,
    threshold: Threshold,
) -> CheckResult:
    """Decide pg.replication from what the server reports.

    Primary: ``standbys`` are pg_stat_replication rows (state, replay_lag seconds or None
    when caught up and idle). Fewer streaming than ``expected`` -> crit; else the worst
    replay lag is judged. Standby: ``standby_state`` has receiver_status, caught_up and
    replay_age (seconds since the last replayed transaction).
    """
    check_id = "pg.replication"
    if not in_recovery:
        streaming = [s for s in standbys if (s.get("state") or "streaming") == "streaming"]
        details: dict[str, Any] = {
            "role": "primary",
            "expected_standbys": expected,
            "streaming": len(streaming),
            "standbys": [dict(s) for s in standbys],
        }
        if len(streaming) < expected:
            return result(
                check_id,
                CRIT,
                f"{len(streaming)} of {expected} expected standbys are streaming from this primary",
                value=None,
                unit="s",
                threshold=threshold,
                details=details,
            )
        if not streaming:
            return result(
                check_id, OK, "primary without standbys (none expected)", unit="s", threshold=threshold, details=details
            )
        lag = max(float(s.get("replay_lag") or 0.0) for s in streaming)
        return evaluate(
            check_id,
            round(lag, 3),
            threshold,
            unit="s",
            label=f"worst replay lag of {len(streaming)} streaming standby(s)",
            details=details,
        )
    state = dict(standby_state or {})
    details = {"role": "standby", **state}
    receiver = state.get("receiver_status")
    if receiver != "streaming":
        return result(
            check_id,
            CRIT,
            f"this standby's WAL receiver is not streaming (status {receiver or 'none: no WAL receiver running'})",
            unit="s",
            threshold=threshold,
            details=details,
        )
    if state.get("caught_up"):
        lag: float | None = 0.0
    else:
        lag = state.get("replay_age")
    if lag is None:
        return unknown(check_id, "standby has not replayed any transaction yet; replay lag unknown", details=details)
    return evaluate(check_id, round(float(lag), 3), threshold, unit="s", label="replay lag of this standby", details=details)


class Checker:
    """Runs the checks over one psycopg connection (autocommit, read-only session)."""

    def __init__(
        self,
        conn: Any,
        params: Mapping[str, Any],
        thresholds: Mapping[str, Threshold],
        baseline: Mapping[str, tuple[float, datetime.datetime]] | None = None,
        now: datetime.datetime | None = None,
    ) -> None:
        self.conn = conn
        self.params = params
        self.thresholds = thresholds
        self.secrets = [params.get("login_password")]
        self.sees_all = True
        self.baseline = baseline or {}
        self.now = now or datetime.datetime.now(datetime.timezone.utc)
        # (database, bytes) measured by database_size, reused by database_growth.
        self.sizes: list[tuple[str, int]] | None = None

    def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, args or None)
            return list(cur.fetchall())

    def guard(self, check_id: str, func: Any) -> list[CheckResult]:
        """Run one check; a database error makes it unknown with the server's message."""
        try:
            return func()
        except psycopg.Error as exc:
            return [unknown(check_id, f"{check_id} could not be measured: {error_text(exc, self.secrets)}")]

    # -- individual checks -------------------------------------------------

    def connect_info(self, connect_ms: float) -> list[CheckResult]:
        row = self.rows(
            "SELECT current_setting('server_version') AS server_version, pg_is_in_recovery() AS in_recovery,"
            " current_user AS login_user, current_database() AS database,"
            " (current_setting('is_superuser') = 'on' OR pg_has_role('pg_read_all_stats', 'USAGE')) AS sees_all"
        )[0]
        self.sees_all = bool(row["sees_all"])
        role = "standby" if row["in_recovery"] else "primary"
        details = dict(row)
        details["target"] = describe_target(self.params)
        return [
            result(
                "pg.connect",
                OK,
                f"connected to PostgreSQL {str(row['server_version']).split()[0]} ({role}) as {row['login_user']} "
                f"to database {row['database']} in {connect_ms:.1f} ms",
                value=round(connect_ms, 1),
                unit="ms",
                details=details,
            )
        ]

    def connections(self) -> list[CheckResult]:
        row = self.rows(
            "SELECT count(*) FILTER (WHERE backend_type = 'client backend') AS clients,"
            " count(*) FILTER (WHERE backend_type = 'client backend' AND state = 'active') AS active,"
            " current_setting('max_connections')::int AS max_connections,"
            " current_setting('superuser_reserved_connections')::int AS superuser_reserved_connections"
            " FROM pg_stat_activity"
        )[0]
        pct = round(100.0 * row["clients"] / row["max_connections"], 1) if row["max_connections"] else None
        return [
            evaluate(
                "pg.connections",
                pct,
                self.thresholds["connections_pct"],
                unit="%",
                label=f"client connections ({row['clients']} of max_connections {row['max_connections']})",
                details=dict(row),
            )
        ]

    def _sessions(self, check_id: str, threshold_name: str, where: str, since: str, what: str) -> list[CheckResult]:
        found = self.rows(
            f"SELECT pid, usename AS user, datname AS database, application_name,"
            f" client_addr::text AS client_addr, state, wait_event_type,"
            f" round(extract(epoch FROM now() - {since})::numeric, 1)::float8 AS seconds"
            f" FROM pg_stat_activity WHERE {where} AND backend_type = 'client backend'"
            f" AND pid <> pg_backend_pid() AND {since} IS NOT NULL ORDER BY seconds DESC"
        )
        longest = found[0]["seconds"] if found else 0.0
        details = {"sessions": len(found), "top": found[:5], "sees_all_sessions": self.sees_all}
        res = evaluate(
            check_id,
            longest,
            self.thresholds[threshold_name],
            unit="s",
            label=f"longest {what} ({len(found)} session(s))",
            details=details,
        )
        if not self.sees_all:
            res.message += VISIBILITY_HINT
        return [res]

    def long_running(self) -> list[CheckResult]:
        return self._sessions("pg.long_running", "long_running_seconds", "state = 'active'", "query_start", "running statement")

    def idle_in_transaction(self) -> list[CheckResult]:
        return self._sessions(
            "pg.idle_in_transaction",
            "idle_in_transaction_seconds",
            "state IN ('idle in transaction', 'idle in transaction (aborted)')",
            "state_change",
            "idle-in-transaction session",
        )

    def wraparound(self) -> list[CheckResult]:
        found = self.rows("SELECT datname AS database, age(datfrozenxid)::bigint AS xid_age FROM pg_database ORDER BY 2 DESC")
        top = found[0]
        pct = round(100.0 * top["xid_age"] / XID_SPACE, 2)
        return [
            evaluate(
                "pg.wraparound",
                pct,
                self.thresholds["wraparound_pct"],
                unit="%",
                label=f"transaction id age of database {top['database']} ({top['xid_age']} of 2^31)",
                details={"database": top["database"], "xid_age": top["xid_age"], "databases": found[:5]},
            )
        ]

    def vacuum(self) -> list[CheckResult]:
        min_rows = int(self.params["vacuum_min_rows"])
        base = self.rows(
            "SELECT current_database() AS database, round(extract(epoch FROM now() - coalesce("
            "(SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()),"
            " pg_postmaster_start_time()))::numeric / 3600, 2)::float8 AS stats_hours"
        )[0]
        tables = self.rows(
            "SELECT schemaname || '.' || relname AS table, n_live_tup AS live_rows,"
            " greatest(last_vacuum, last_autovacuum)::text AS last_vacuum,"
            " round(extract(epoch FROM now() - greatest(last_vacuum, last_autovacuum))::numeric / 3600, 2)::float8 AS hours"
            " FROM pg_stat_user_tables WHERE n_live_tup >= %s ORDER BY hours DESC NULLS FIRST",
            (min_rows,),
        )
        database = base["database"]
        details: dict[str, Any] = {"database": database, "min_rows": min_rows, "tables": len(tables)}
        threshold = self.thresholds["vacuum_age_hours"]
        if not tables:
            return [
                result(
                    "pg.vacuum",
                    OK,
                    f"no table in database {database} has {min_rows} or more live rows",
                    unit="h",
                    threshold=threshold,
                    details=details,
                )
            ]
        never = [t["table"] for t in tables if t["hours"] is None]
        for table in tables:
            if table["hours"] is None:
                # Never vacuumed as far as the statistics know: at least since they began.
                table["hours"] = base["stats_hours"]
                table["never_vacuumed"] = True
        stalest = max(tables, key=lambda t: t["hours"])
        details.update(stalest=stalest, never_vacuumed=never, oldest=tables[:5])
        label = f"time since the last vacuum of {stalest['table']} in {database}"
        if stalest.get("never_vacuumed"):
            label += " (never vacuumed since statistics began)"
        return [evaluate("pg.vacuum", stalest["hours"], threshold, unit="h", label=label, details=details)]

    def database_size(self) -> list[CheckResult]:
        names = [r["datname"] for r in self.rows("SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY datname")]
        out = []
        self.sizes = []
        for name in names:
            check_id = f"pg.database_size:{name}"
            try:
                size = self.rows("SELECT pg_database_size(%s) AS size", (name,))[0]["size"]
            except psycopg.Error as exc:
                out.append(unknown(check_id, f"size of database {name} could not be measured: {error_text(exc, self.secrets)}"))
                continue
            self.sizes.append((name, int(size)))
            out.append(
                evaluate(
                    check_id,
                    int(size),
                    self.thresholds["database_size_bytes"],
                    unit="bytes",
                    label=f"size of database {name} ({human_bytes(size)})",
                    details={"database": name, "human": human_bytes(size)},
                )
            )
        return out

    def database_growth(self) -> list[CheckResult]:
        if self.sizes is None:
            self.database_size()
        return growth_results(self.sizes or [], self.baseline, self.thresholds["database_growth_pct"], self.now)

    def statements(self) -> list[CheckResult]:
        database = self.conn.info.dbname
        state = self.rows(
            "SELECT (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries') AS preload,"
            " (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            "  WHERE e.extname = 'pg_stat_statements') AS schema"
        )[0]
        # shared_preload_libraries is hidden (NULL) without pg_read_all_settings: then the view tells.
        preloaded = None
        if state["preload"] is not None:
            preloaded = "pg_stat_statements" in [item.strip().strip('"') for item in str(state["preload"]).split(",")]
        schema = state["schema"]
        if preloaded is False or schema is None:
            return [statements_missing(database, preloaded, schema is not None)]
        view = pgsql.Identifier(schema, "pg_stat_statements")
        mine = "s.query NOT LIKE '%%pg_stat_statements%%'"
        select_rows = pgsql.SQL(
            "SELECT s.queryid::text AS queryid, s.query, s.calls,"
            " round(s.mean_exec_time::numeric, 2)::float8 AS mean_ms,"
            " round((s.total_exec_time / 1000)::numeric, 3)::float8 AS total_s,"
            " s.rows, d.datname AS database, r.rolname AS user"
            " FROM {view} s LEFT JOIN pg_database d ON d.oid = s.dbid LEFT JOIN pg_roles r ON r.oid = s.userid"
            " WHERE " + mine
        ).format(view=view)
        min_calls = int(self.params["statements_min_calls"])
        top = int(self.params["statements_top"])
        try:
            by_mean = self.rows(select_rows + pgsql.SQL(" AND s.calls >= %s ORDER BY s.mean_exec_time DESC LIMIT %s"), (min_calls, top))
        except psycopg.Error as exc:
            if "shared_preload_libraries" in error_text(exc):
                return [statements_missing(database, False, True)]
            raise
        by_total = self.rows(select_rows + pgsql.SQL(" ORDER BY s.total_exec_time DESC LIMIT %s"), (top,))
        counts = self.rows(
            pgsql.SQL(
                "SELECT count(*) AS statements, count(*) FILTER (WHERE s.calls >= %s) AS frequent,"
                " round((coalesce(sum(s.total_exec_time), 0) / 1000)::numeric, 3)::float8 AS all_total_s,"
                " now() AS now FROM {view} s WHERE " + mine
            ).format(view=view),
            (min_calls,),
        )[0]
        info: dict[str, Any] = dict(counts, database=database, since=None, dealloc=None)
        info_view = pgsql.Identifier(schema, "pg_stat_statements_info")
        if self.rows("SELECT to_regclass(%s) IS NOT NULL AS present", (info_view.as_string(self.conn),))[0]["present"]:
            info.update(self.rows(pgsql.SQL("SELECT stats_reset AS since, dealloc FROM {view}").format(view=info_view))[0])
        return statements_results(by_mean, by_total, info, self.thresholds, min_calls, self.sees_all)

    def replication(self) -> list[CheckResult]:
        in_recovery = bool(self.rows("SELECT pg_is_in_recovery() AS r")[0]["r"])
        standbys: list[dict[str, Any]] = []
        state = None
        if in_recovery:
            state = self.rows(
                "SELECT pg_last_wal_receive_lsn() IS NOT NULL AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() AS caught_up,"
                " extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS replay_age,"
                " (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS receiver_status"
            )[0]
        else:
            standbys = self.rows(
                "SELECT application_name, client_addr::text AS client_addr, state, sync_state,"
                " extract(epoch FROM replay_lag)::float8 AS replay_lag FROM pg_stat_replication ORDER BY 1"
            )
        return [
            replication_result(
                in_recovery,
                standbys,
                state,
                int(self.params["replication_expected_standbys"]),
                self.thresholds["replication_lag_seconds"],
            )
        ]


def run_query(conn: Any, spec: Mapping[str, Any], timeout_s: float, secrets: list[Any]) -> CheckResult:
    """One custom query in a READ ONLY transaction that is always rolled back."""
    check_id = f"pg.query:{spec['name']}"
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (str(int(timeout_s * 1000)),))
            with conn.cursor() as cur:
                # binary=True forces the extended query protocol: one statement only,
                # so "...; COMMIT; DELETE ..." cannot escape the read-only transaction.
                cur.execute(spec["sql"], binary=True)
                has_result = cur.description is not None
                row = cur.fetchone() if has_result else None
    except psycopg.Error as exc:
        return unknown(
            check_id,
            f"{spec['label']}: query failed in database {spec['db']}: {error_text(exc, secrets)}",
            details={"database": spec["db"]},
        )
    return query_result(spec, row, has_result)


def open_connection(params: Mapping[str, Any], dbname: str | None = None) -> Any:
    """Connect (autocommit): a read-only session whose statements are bounded by query_timeout."""
    return connect(params, dbname, APPLICATION_NAME, read_only=True, statement_timeout=params["query_timeout"])


def collect(
    params: Mapping[str, Any],
    selected: list[str],
    thresholds: Mapping[str, Threshold],
    queries: list[dict[str, Any]],
    baseline: Mapping[str, tuple[float, datetime.datetime]] | None = None,
) -> list[CheckResult]:
    """Connect and run the selected checks and the custom queries; compare with the baseline."""
    now = datetime.datetime.now(datetime.timezone.utc)
    results = _collect(params, selected, thresholds, queries, baseline or {}, now)
    apply_baseline(results, baseline or {}, now)
    return results


def _collect(
    params: Mapping[str, Any],
    selected: list[str],
    thresholds: Mapping[str, Threshold],
    queries: list[dict[str, Any]],
    baseline: Mapping[str, tuple[float, datetime.datetime]],
    now: datetime.datetime,
) -> list[CheckResult]:
    secrets = [params.get("login_password")]
    results: list[CheckResult] = []
    started = time.monotonic()
    try:
        conn = open_connection(params)
    except psycopg.Error as exc:
        reason = error_text(exc, secrets)
        if "connect" in selected:
            results.append(
                result(
                    "pg.connect",
                    CRIT,
                    f"cannot connect to PostgreSQL as {describe_target(params)}: {reason}",
                    details={"target": describe_target(params)},
                )
            )
        for name in selected:
            if name == "connect":
                continue
            results.append(unknown(placeholder_id(name, params["login_db"]), f"{NOT_CONNECTED}: {reason}"))
        for spec in queries:
            results.append(unknown(f"pg.query:{spec['name']}", f"{NOT_CONNECTED}: {reason}"))
        return results
    connect_ms = (time.monotonic() - started) * 1000
    extra: dict[str, Any] = {}
    try:
        checker = Checker(conn, params, thresholds, baseline, now)
        # connect_info also learns whether this role sees every session.
        connect_results = checker.guard("pg.connect", lambda: checker.connect_info(connect_ms))
        if "connect" in selected:
            results.extend(connect_results)
        for name in selected:
            if name == "connect":
                continue
            results.extend(checker.guard(placeholder_id(name, params["login_db"]), getattr(checker, name)))
        for spec in queries:
            if spec["db"] == conn.info.dbname:
                target = conn
            elif spec["db"] in extra:
                target = extra[spec["db"]]
            else:
                try:
                    target = extra[spec["db"]] = open_connection(params, spec["db"])
                except psycopg.Error as exc:
                    extra[spec["db"]] = exc
                    target = exc
            if isinstance(target, Exception):
                results.append(
                    unknown(
                        f"pg.query:{spec['name']}",
                        f"{spec['label']}: cannot connect to database {spec['db']}: {error_text(target, secrets)}",
                    )
                )
                continue
            results.append(run_query(target, spec, float(params["query_timeout"]), secrets))
    finally:
        for other in extra.values():
            if not isinstance(other, Exception):
                other.close()
        conn.close()
    return results


ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    **PG_CONNECTION_SPEC,
    "checks": {"type": "list", "elements": "str"},
    "thresholds": THRESHOLDS_SPEC,
    "query_timeout": {"type": "float", "default": 30},
    "vacuum_min_rows": {"type": "int", "default": 10000},
    "statements_min_calls": {"type": "int", "default": 5},
    "statements_top": {"type": "int", "default": 5},
    "baseline": {"type": "dict", "default": {}},
    "replication_expected_standbys": {"type": "int", "default": 0},
    "queries": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "name": {"type": "str", "required": True},
            "sql": {"type": "str", "required": True},
            "db": {"type": "str"},
            "warn": {"type": "float"},
            "crit": {"type": "float"},
            "direction": {"type": "str", "default": "above", "choices": ["above", "below"]},
            "unit": {"type": "str", "default": ""},
            "label": {"type": "str"},
        },
    },
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        selected = choose_checks(params["checks"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    try:
        thresholds = merge_thresholds(DEFAULTS, params["thresholds"])
        queries = validate_queries(params["queries"], params["login_db"])
        baseline = validate_baseline(params["baseline"])
    except (ThresholdError, QuerySpecError, BaselineError) as exc:
        module.fail_json(msg=str(exc))
    if params["query_timeout"] <= 0:
        module.fail_json(msg=f"query_timeout must be a positive number of seconds, got {params['query_timeout']}")
    if params["statements_top"] < 1:
        module.fail_json(msg=f"statements_top must be 1 or more, got {params['statements_top']}")
    if params["statements_min_calls"] < 1:
        module.fail_json(msg=f"statements_min_calls must be 1 or more, got {params['statements_min_calls']}")
    fail_without_psycopg(module, "opsbook.stack.pg_check")
    results = collect(params, selected, thresholds, queries, baseline)
    module.exit_json(changed=False, **module_output(results))


if __name__ == "__main__":
    main()

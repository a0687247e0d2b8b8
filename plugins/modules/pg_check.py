#!/usr/bin/python
# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only health checks of a PostgreSQL server (opsbook.stack result contract)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_check
short_description: Read-only health checks of a PostgreSQL server
version_added: 0.2.0
author: opsbook.stack contributors (!UNKNOWN)
description:
  - Connects to PostgreSQL with psycopg 3 and reports connection, session, wraparound, vacuum, size and
    replication checks plus custom SQL queries in the opsbook.stack result contract.
  - "Check ids: V(pg.connect), V(pg.connections), V(pg.long_running), V(pg.idle_in_transaction), V(pg.wraparound),
    V(pg.vacuum), V(pg.database_size:<database>) (one per non-template database), V(pg.replication) and
    V(pg.query:<name>) (one per entry of O(queries))."
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
        V(vacuum), V(database_size), V(replication)."
      - Omit to run all of them. An unknown name fails the module with a message listing the known ones.
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
      description: Structured extras (database, sessions, standbys, server version...).
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

import re
import time
import traceback
from collections.abc import Mapping
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.opsbook.stack.plugins.module_utils._checks import (
    ABOVE,
    CRIT,
    OK,
    THRESHOLDS_SPEC,
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
from ansible_collections.opsbook.stack.plugins.module_utils._pg import (
    PG_CONNECTION_SPEC,
    coerce_number,
    connect_kwargs,
    describe_target,
    error_text,
    human_bytes,
)

PSYCOPG_IMPORT_ERROR: str | None
try:
    import psycopg
    from psycopg.rows import dict_row
except ImportError:
    psycopg = None
    dict_row = None
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()
else:
    PSYCOPG_IMPORT_ERROR = None

CHECKS: tuple[str, ...] = (
    "connect",
    "connections",
    "long_running",
    "idle_in_transaction",
    "wraparound",
    "vacuum",
    "database_size",
    "replication",
)

DEFAULTS: dict[str, Threshold] = {
    "connections_pct": Threshold(80, 95, ABOVE),
    "long_running_seconds": Threshold(300, 3600, ABOVE),
    "idle_in_transaction_seconds": Threshold(60, 600, ABOVE),
    "wraparound_pct": Threshold(50, 75, ABOVE),
    "vacuum_age_hours": Threshold(168, 720, ABOVE),
    "database_size_bytes": Threshold(None, None, ABOVE),
    "replication_lag_seconds": Threshold(30, 300, ABOVE),
}

XID_SPACE = 2**31
QUERY_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
APPLICATION_NAME = "opsbook.stack.pg_check"
NOT_CONNECTED = "not measured - cannot connect"
VISIBILITY_HINT = " (only the login role's own sessions are visible: grant pg_monitor to see all)"


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

    def __init__(self, conn: Any, params: Mapping[str, Any], thresholds: Mapping[str, Threshold]) -> None:
        self.conn = conn
        self.params = params
        self.thresholds = thresholds
        self.secrets = [params.get("login_password")]
        self.sees_all = True

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
        for name in names:
            check_id = f"pg.database_size:{name}"
            try:
                size = self.rows("SELECT pg_database_size(%s) AS size", (name,))[0]["size"]
            except psycopg.Error as exc:
                out.append(unknown(check_id, f"size of database {name} could not be measured: {error_text(exc, self.secrets)}"))
                continue
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
    """Connect (autocommit) and make the session read-only with a statement timeout."""
    conn = psycopg.connect(autocommit=True, **connect_kwargs(params, dbname, APPLICATION_NAME))
    timeout_ms = str(int(float(params["query_timeout"]) * 1000))
    conn.execute("SELECT set_config('statement_timeout', %s, false)", (timeout_ms,))
    conn.execute("SET default_transaction_read_only = on")
    return conn


def collect(params: Mapping[str, Any], selected: list[str], thresholds: Mapping[str, Threshold], queries: list[dict[str, Any]]) -> list[CheckResult]:
    """Connect and run the selected checks and the custom queries."""
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
            check_id = f"pg.{name}" if name != "database_size" else f"pg.database_size:{params['login_db']}"
            results.append(unknown(check_id, f"{NOT_CONNECTED}: {reason}"))
        for spec in queries:
            results.append(unknown(f"pg.query:{spec['name']}", f"{NOT_CONNECTED}: {reason}"))
        return results
    connect_ms = (time.monotonic() - started) * 1000
    extra: dict[str, Any] = {}
    try:
        checker = Checker(conn, params, thresholds)
        # connect_info also learns whether this role sees every session.
        connect_results = checker.guard("pg.connect", lambda: checker.connect_info(connect_ms))
        if "connect" in selected:
            results.extend(connect_results)
        for name in selected:
            if name == "connect":
                continue
            check_id = f"pg.{name}" if name != "database_size" else f"pg.database_size:{params['login_db']}"
            results.extend(checker.guard(check_id, getattr(checker, name)))
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


def argument_spec() -> dict[str, Any]:
    spec: dict[str, Any] = {name: dict(value) for name, value in PG_CONNECTION_SPEC.items()}
    spec.update(
        checks={"type": "list", "elements": "str"},
        thresholds=dict(THRESHOLDS_SPEC),
        query_timeout={"type": "float", "default": 30},
        vacuum_min_rows={"type": "int", "default": 10000},
        replication_expected_standbys={"type": "int", "default": 0},
        queries={
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
    )
    return spec


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        selected = select(params["checks"], CHECKS)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    try:
        thresholds = merge_thresholds(DEFAULTS, params["thresholds"])
        queries = validate_queries(params["queries"], params["login_db"])
    except (ThresholdError, QuerySpecError) as exc:
        module.fail_json(msg=str(exc))
    if params["query_timeout"] <= 0:
        module.fail_json(msg=f"query_timeout must be a positive number of seconds, got {params['query_timeout']}")
    if psycopg is None:
        module.fail_json(
            msg=missing_required_lib(
                "psycopg (version 3)",
                reason="by opsbook.stack.pg_check; install python3-psycopg on this host (apt-get install python3-psycopg)",
            ),
            exception=PSYCOPG_IMPORT_ERROR,
        )
    results = collect(params, selected, thresholds, queries)
    module.exit_json(changed=False, **module_output(results))


if __name__ == "__main__":
    main()

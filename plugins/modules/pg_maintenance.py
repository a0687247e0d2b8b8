#!/usr/bin/python
# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Monthly PostgreSQL maintenance: ANALYZE and REINDEX CONCURRENTLY of bloated btree indexes, with a report."""

from __future__ import annotations

# Documentation repeats the result contract on purpose (RETURN has no doc fragments): no duplicate-code check.
# pylint: disable=duplicate-code
DOCUMENTATION = r"""
module: pg_maintenance
short_description: Monthly PostgreSQL maintenance (ANALYZE, REINDEX CONCURRENTLY of bloated indexes) with a report
version_added: 0.5.0
author: opsbook.stack contributors (!UNKNOWN)
description:
  - Measures, per database, which tables need C(ANALYZE) and how bloated each btree index is, and with O(apply=true)
    runs C(ANALYZE) on those tables and C(REINDEX INDEX CONCURRENTLY) on the indexes whose estimated bloat reaches
    O(bloat_threshold_pct). Without O(apply) (the default) and in check mode it only reports what it would do.
  - "Results follow the opsbook.stack check contract (docs/checks.md), three per database:
    V(pg_maintenance.analyze:<db>), V(pg_maintenance.bloat:<db>) and V(pg_maintenance.reindex:<db>)."
  - "Index bloat is estimated with pgstattuple's C(pgstatindex()):
    C(bloat_pct = max(0, 100 - avg_leaf_density / fillfactor * 100)) with the index's fillfactor (btree default 90), and
    C(reclaimable bytes = index size * bloat_pct / 100). A freshly built index is about 0%; an index whose leaf pages
    are half as full as a fresh one is 50%. Only valid btree indexes of at least O(min_index_size) bytes outside the
    system schemas are measured (C(pgstatindex) reads the whole index)."
  - The module never changes the schema in report-only mode. C(pgstattuple) must exist in each database
    (the opsbook.stack.postgresql role creates it, see its C(postgresql_maintenance_extensions)); where it is
    missing the bloat result is C(unknown) and says how to add it.
  - "C(ANALYZE) runs only on the tables that need it: never analysed, last (auto)analysed more than
    O(analyze_age_days) days ago, or more than O(analyze_changed_pct)% of their live rows changed since
    (C(n_mod_since_analyze)). So a second run finds nothing to do and reports C(changed=false)."
  - C(REINDEX INDEX CONCURRENTLY) (PostgreSQL 12 or later) runs outside a transaction, biggest estimated gain first,
    at most O(max_reindex) per run over all databases. Sizes before and after give the reclaimed bytes; the
    rebuilt index is measured again. Invalid indexes, system catalogs and exclusion-constraint indexes are never
    rebuilt. When a rebuild fails (lock or statement timeout, cancel, disk full), the invalid C(<index>_ccnew)
    index it left is dropped with C(DROP INDEX CONCURRENTLY); the original index keeps serving.
extends_documentation_fragment:
  - opsbook.stack.pg_connection
options:
  databases:
    description:
      - Databases to maintain.
      - Omit for every database that allows connections, except templates and V(postgres).
    type: list
    elements: str
  analyze:
    description:
      - Look for tables that need C(ANALYZE) (and run it with O(apply)).
    type: bool
    default: true
  reindex:
    description:
      - Rebuild indexes at or above O(bloat_threshold_pct) with O(apply). Bloat is measured and reported either way.
    type: bool
    default: true
  apply:
    description:
      - V(false) reports only (what would be analysed and rebuilt); V(true) runs C(ANALYZE) and C(REINDEX).
      - Check mode always reports only, whatever this says.
    type: bool
    default: false
  bloat_threshold_pct:
    description:
      - Estimated bloat % (0 to 100) at which an index is rebuilt and the bloat result warns.
    type: float
    default: 30
  min_index_size:
    description:
      - Smallest index, in bytes, that is measured and considered for a rebuild (default 10 MiB).
    type: int
    default: 10485760
  max_reindex:
    description:
      - Most indexes rebuilt in one run, over all databases; the rest are reported as deferred.
    type: int
    default: 20
  analyze_age_days:
    description:
      - A table whose last manual or automatic analyse is older than this many days needs C(ANALYZE).
    type: float
    default: 7
  analyze_changed_pct:
    description:
      - A table with more rows changed since its last analyse than this % of its live rows needs C(ANALYZE).
    type: float
    default: 10
  statement_timeout:
    description:
      - Seconds any statement (C(pgstatindex), C(ANALYZE), each C(REINDEX)) may run; V(0) means no limit.
    type: float
    default: 3600
  lock_timeout:
    description:
      - Seconds to wait for a lock (C(REINDEX CONCURRENTLY) waits for transactions that use the table); V(0) means no limit.
      - A rebuild that times out is reported as failed, its leftover dropped, and is retried on the next run.
        The drop of the leftover may wait longer, 6 times this or at least 60 seconds.
    type: float
    default: 10
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - Check mode is report only (as O(apply=false)) and the messages say so.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
    details:
      - RV(reindexed) and RV(analyzed) list what was done.
notes:
  - Runs on the database host as the C(postgres) OS user over the unix socket with peer authentication
    (C(become_user=postgres)), or anywhere with O(login_host) and O(login_password). The login role must own the tables
    and indexes (a superuser does); C(ANALYZE) skips tables it does not own and the module reports them.
  - C(REINDEX CONCURRENTLY) needs free disk space for a second copy of the index while it runs.
  - C(changed) is true only when C(ANALYZE) or C(REINDEX) ran.
  - Findings never fail the module; only bad options do (for example O(bloat_threshold_pct) outside 0..100).
"""

EXAMPLES = r"""
- name: Report what the monthly maintenance would do (no change)
  opsbook.stack.pg_maintenance:
    databases: [appdb]
  become: true
  become_user: postgres
  register: maintenance_report

- name: Run the maintenance in the window
  opsbook.stack.pg_maintenance:
    apply: "{{ maintenance_window | default(false) | bool }}"
    bloat_threshold_pct: 30
    min_index_size: 10485760
    max_reindex: 20
    lock_timeout: 10
  become: true
  become_user: postgres
  register: maintenance

- name: Show the space reclaimed
  ansible.builtin.debug:
    msg: "{{ maintenance.reclaimed_bytes }} bytes reclaimed from {{ maintenance.reindexed | length }} index(es)"
"""

RETURN = r"""
checks:
  description: Per database, in order, V(pg_maintenance.analyze:<db>) (with O(analyze)), V(pg_maintenance.bloat:<db>) and
    V(pg_maintenance.reindex:<db>) (with O(reindex)).
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: Check id, for example V(pg_maintenance.bloat:appdb).
      type: str
    status:
      description:
        - V(ok), V(warn), V(crit) or V(unknown).
        - V(pg_maintenance.bloat) warns while an index at or above O(bloat_threshold_pct) is left (report only,
          deferred by O(max_reindex) or a failed rebuild); after its rebuild it is judged again.
        - V(pg_maintenance.reindex) warns when a rebuild failed (its leftover dropped) and is crit when an invalid
          leftover index could not be dropped.
        - V(unknown) when the database cannot be reached or pgstattuple is missing.
      type: str
    value:
      description: Tables analysed (or to analyse), worst bloat %, or bytes reclaimed.
      type: raw
    warn:
      description: Warning level (O(bloat_threshold_pct) for the bloat result), or null.
      type: float
    crit:
      description: Critical level, or null.
      type: float
    unit:
      description: V(tables), V(%) or V(bytes).
      type: str
    message:
      description: One human sentence.
      type: str
    details:
      description:
        - analyze - C(candidates) (schema, table, reason), with apply C(analyzed), C(failures), C(seconds).
        - bloat - C(indexes) (schema, index, table, size, fillfactor, avg_leaf_density, leaf_fragmentation, bloat_pct,
          reclaimable_bytes), C(worst), C(errors), C(invalid_indexes), C(formula).
        - reindex - C(would_reindex) or C(indexes) (name, size_before, size_after, bloat_pct_before, bloat_pct_after,
          reclaimed_bytes, seconds), C(failures), C(deferred).
      type: dict
  sample:
    - check: pg_maintenance.reindex:appdb
      status: ok
      value: 9519104
      warn: null
      crit: null
      unit: bytes
      message: "reindexed 1 index(es) concurrently in appdb, reclaimed 9.1 MiB: readings_pkey 13.1 MiB -> 4.0 MiB"
      details: {database: appdb}
summary:
  description: Counts per status and the worst status.
  returned: always
  type: dict
  sample: {ok: 3, warn: 0, crit: 0, unknown: 0, total: 3, worst: ok}
mode:
  description: V(apply) when changes were allowed, V(report) with O(apply=false), V(check_mode) in check mode.
  returned: always
  type: str
  sample: report
databases:
  description: The databases maintained.
  returned: always
  type: list
  elements: str
  sample: [appdb]
reclaimed_bytes:
  description: Bytes reclaimed by all rebuilds of this run (0 in report only).
  returned: always
  type: int
  sample: 9519104
reindexed:
  description: Indexes rebuilt by this run.
  returned: always
  type: list
  elements: dict
  sample:
    - {database: appdb, schema: public, index: readings_pkey, table: readings, size_before: 13737984,
       size_after: 4218880, reclaimed_bytes: 9519104, bloat_pct_before: 70.2, bloat_pct_after: 0.0, seconds: 0.42}
analyzed:
  description: Per database where C(ANALYZE) ran, the tables analysed and the seconds it took.
  returned: always
  type: list
  elements: dict
  sample:
    - {database: appdb, tables: [public.readings], seconds: 0.12}
"""
# pylint: enable=duplicate-code

import time
from collections.abc import Mapping
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opsbook.stack.plugins.module_utils._checks import CheckResult, module_output, unknown
from ansible_collections.opsbook.stack.plugins.module_utils._maintenance import (
    analyze_reason,
    analyze_result,
    bloat_pct,
    bloat_result,
    check_id,
    reclaimable_bytes,
    reindex_result,
    select_for_reindex,
    validate_options,
)
from ansible_collections.opsbook.stack.plugins.module_utils._pg import (
    PG_CONNECTION_SPEC,
    connect,
    describe_target,
    dict_row,
    error_text,
    fail_without_psycopg,
    psycopg,
    sql,
)

APPLICATION_NAME = "opsbook.stack.pg_maintenance"
# Seconds (at least) the drop of a failed rebuild's leftover index may wait for locks.
CLEANUP_LOCK_TIMEOUT = 60

DATABASES_SQL = (
    "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate AND datname <> 'postgres' ORDER BY datname"
)

TABLES_SQL = (
    "SELECT schemaname AS schema, relname AS table, n_live_tup AS live_rows, n_mod_since_analyze AS changed_rows,"
    " extract(epoch FROM now() - greatest(last_analyze, last_autoanalyze))::float8 AS analyze_age_s"
    " FROM pg_stat_user_tables ORDER BY schemaname, relname"
)

# Valid, ready btree indexes with storage, outside system and temporary schemas,
# not backing an exclusion constraint (REINDEX CONCURRENTLY cannot rebuild those).
INDEXES_SQL = """
SELECT c.oid::int8 AS oid, i.indrelid::int8 AS table_oid, n.nspname AS schema, c.relname AS index, t.relname AS table,
       pg_relation_size(c.oid) AS size, i.indisvalid AS valid,
       coalesce((SELECT option_value::int FROM pg_options_to_table(c.reloptions) WHERE option_name = 'fillfactor'), 90)
         AS fillfactor
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_am am ON am.oid = c.relam
 WHERE am.amname = 'btree' AND c.relkind = 'i' AND c.relpersistence <> 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp_'
   AND NOT EXISTS (SELECT 1 FROM pg_constraint x WHERE x.conindid = c.oid AND x.contype = 'x')
 ORDER BY pg_relation_size(c.oid) DESC, n.nspname, c.relname
"""

LEFTOVERS_SQL = """
SELECT n.nspname AS schema, c.relname AS index, c.oid::int8 AS oid
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE i.indrelid = %s AND NOT i.indisvalid AND c.relname ~ '_cc(new|old)[0-9]*$'
"""


class DatabaseSurvey:
    """What one database needs: tables to analyse, measured indexes, or the reason nothing was measured."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.error: str | None = None
        self.analyze_candidates: list[dict[str, Any]] = []
        self.measured: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.invalid: list[dict[str, Any]] = []
        self.pgstattuple_schema: str | None = None
        self.missing_pgstattuple = False
        self.server_version = 0


class Maintenance:
    """Survey every database, pick the rebuilds, then (with apply) run them."""

    def __init__(self, params: Mapping[str, Any], apply: bool, mode_note: str) -> None:
        self.params = params
        self.apply = apply
        self.mode_note = mode_note
        self.secrets = [params.get("login_password")]

    # -- connections -----------------------------------------------------

    def connect(self, dbname: str) -> Any:
        return connect(
            self.params, dbname, APPLICATION_NAME,
            statement_timeout=self.params["statement_timeout"], lock_timeout=self.params["lock_timeout"],
        )

    @staticmethod
    def rows(conn: Any, query: Any, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, args or None)
            return list(cur.fetchall()) if cur.description is not None else []

    def databases(self) -> tuple[list[str], str | None]:
        if self.params.get("databases"):
            return [str(d).strip() for d in self.params["databases"]], None
        try:
            conn = self.connect(self.params.get("login_db") or "postgres")
        except psycopg.Error as exc:
            return [], f"cannot list the databases as {describe_target(self.params)}: {error_text(exc, self.secrets)}"
        try:
            return [r["datname"] for r in self.rows(conn, DATABASES_SQL)], None
        except psycopg.Error as exc:
            return [], f"cannot list the databases: {error_text(exc, self.secrets)}"
        finally:
            conn.close()

    # -- survey ----------------------------------------------------------

    def measure(self, conn: Any, schema: str, target: Any) -> dict[str, Any]:
        """pgstatindex of one index (oid or qualified name) -> density, fragmentation."""
        query = sql.SQL(
            "SELECT avg_leaf_density::float8 AS avg_leaf_density, leaf_fragmentation::float8 AS leaf_fragmentation,"
            " leaf_pages FROM {}.pgstatindex(%s::regclass)"
        ).format(sql.Identifier(schema))
        return self.rows(conn, query, (target,))[0]

    def survey(self, name: str) -> DatabaseSurvey:
        found = DatabaseSurvey(name)
        try:
            conn = self.connect(name)
        except psycopg.Error as exc:
            found.error = f"cannot connect to database {name} as {describe_target(self.params, name)}: {error_text(exc, self.secrets)}"
            return found
        try:
            found.server_version = int(conn.info.server_version)
            if self.params["analyze"]:
                for row in self.rows(conn, TABLES_SQL):
                    reason = analyze_reason(row, float(self.params["analyze_age_days"]), float(self.params["analyze_changed_pct"]))
                    if reason:
                        found.analyze_candidates.append({"schema": row["schema"], "table": row["table"], "reason": reason})
            indexes = self.rows(conn, INDEXES_SQL)
            found.invalid = [
                {"schema": i["schema"], "index": i["index"], "table": i["table"], "size": i["size"]} for i in indexes if not i["valid"]
            ]
            big = [i for i in indexes if i["valid"] and int(i["size"]) >= int(self.params["min_index_size"])]
            ext = self.rows(
                conn,
                "SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pgstattuple'",
            )
            found.pgstattuple_schema = ext[0]["schema"] if ext else None
            if big and not found.pgstattuple_schema:
                found.missing_pgstattuple = True
                return found
            for index in big:
                entry = {k: index[k] for k in ("oid", "table_oid", "schema", "index", "table", "size", "fillfactor")}
                entry["database"] = name
                try:
                    stats = self.measure(conn, found.pgstattuple_schema or "public", index["oid"])
                except psycopg.Error as exc:
                    found.errors.append({"schema": index["schema"], "index": index["index"], "error": error_text(exc, self.secrets)})
                    continue
                entry["avg_leaf_density"] = stats["avg_leaf_density"]
                entry["leaf_fragmentation"] = stats["leaf_fragmentation"]
                entry["bloat_pct"] = bloat_pct(stats["avg_leaf_density"], index["fillfactor"])
                entry["reclaimable_bytes"] = reclaimable_bytes(int(index["size"]), entry["bloat_pct"])
                if entry["bloat_pct"] is None:
                    found.errors.append({"schema": index["schema"], "index": index["index"], "error": "no leaf pages to measure"})
                    continue
                found.measured.append(entry)
        except psycopg.Error as exc:
            found.error = f"database {name} could not be surveyed: {error_text(exc, self.secrets)}"
        finally:
            conn.close()
        return found

    # -- apply -----------------------------------------------------------

    def run_analyze(self, conn: Any, candidates: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], float]:
        notices: list[str] = []
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        analyzed: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        started = time.monotonic()
        for table in candidates:
            notices.clear()
            t0 = time.monotonic()
            try:
                conn.execute(sql.SQL("ANALYZE {}.{}").format(sql.Identifier(table["schema"]), sql.Identifier(table["table"])))
            except psycopg.Error as exc:
                failures.append({**table, "error": error_text(exc, self.secrets)})
                continue
            skipped = [n for n in notices if "skipping" in n]
            if skipped:
                failures.append({**table, "error": skipped[0]})
                continue
            analyzed.append({**table, "seconds": round(time.monotonic() - t0, 3)})
        return analyzed, failures, time.monotonic() - started

    def drop_leftovers(self, conn: Any, table_oid: int, before: set[int]) -> tuple[list[str], list[str]]:
        dropped: list[str] = []
        stuck: list[str] = []
        try:
            leftovers = [r for r in self.rows(conn, LEFTOVERS_SQL, (table_oid,)) if int(r["oid"]) not in before]
        except psycopg.Error:
            return dropped, stuck
        # The transactions that made REINDEX time out usually still run and would
        # block DROP INDEX CONCURRENTLY as well: give the clean-up longer.
        lock_timeout = float(self.params["lock_timeout"])
        cleanup_ms = 0 if lock_timeout <= 0 else int(max(CLEANUP_LOCK_TIMEOUT, 6 * lock_timeout) * 1000)
        try:
            conn.execute("SELECT set_config('lock_timeout', %s, false)", (str(cleanup_ms),))
        except psycopg.Error:
            pass
        for left in leftovers:
            qualified = f"{left['schema']}.{left['index']}"
            try:
                conn.execute(
                    sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}.{}").format(sql.Identifier(left["schema"]), sql.Identifier(left["index"]))
                )
                dropped.append(qualified)
            except psycopg.Error:
                stuck.append(qualified)
        try:
            conn.execute("SELECT set_config('lock_timeout', %s, false)", (str(int(lock_timeout * 1000)),))
        except psycopg.Error:
            pass
        return dropped, stuck

    def rebuild(self, conn: Any, index: dict[str, Any], pgstattuple_schema: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """REINDEX INDEX CONCURRENTLY one index -> (done entry, None) or (None, failure entry)."""
        schema, name = index["schema"], index["index"]
        qualified = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))
        base = {"database": index["database"], "schema": schema, "index": name, "table": index["table"], "bloat_pct_before": index["bloat_pct"]}
        try:
            before_leftovers = {int(r["oid"]) for r in self.rows(conn, LEFTOVERS_SQL, (index["table_oid"],))}
            size_before = int(self.rows(conn, "SELECT pg_relation_size(%s::oid) AS s", (index["oid"],))[0]["s"])
        except psycopg.Error as exc:
            return None, {**base, "error": error_text(exc, self.secrets)}
        started = time.monotonic()
        try:
            conn.execute(sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(qualified))
        except psycopg.Error as exc:
            failure = {**base, "error": error_text(exc, self.secrets), "seconds": round(time.monotonic() - started, 3)}
            dropped, stuck = self.drop_leftovers(conn, int(index["table_oid"]), before_leftovers)
            failure["leftover_dropped"] = dropped
            if stuck:
                failure["leftover_not_dropped"] = stuck
            return None, failure
        seconds = round(time.monotonic() - started, 3)
        # The rebuilt index has a new oid under the old name: look it up by name.
        regclass = _regclass_text(schema, name)
        try:
            size_after = int(self.rows(conn, "SELECT pg_relation_size(%s::regclass) AS s", (regclass,))[0]["s"])
            stats = self.measure(conn, pgstattuple_schema, regclass)
            after_pct = bloat_pct(stats["avg_leaf_density"], index["fillfactor"])
        except psycopg.Error:
            size_after, after_pct = size_before, None
        done = {
            **base,
            "size_before": size_before,
            "size_after": size_after,
            "reclaimed_bytes": max(0, size_before - size_after),
            "bloat_pct_after": after_pct,
            "seconds": seconds,
        }
        return done, None

    # -- the run ---------------------------------------------------------

    def not_measured(self, database: str, reason: str, reindex: bool) -> list[CheckResult]:
        """The database's analyze (when asked for), bloat and reindex (when asked for) results as unknown."""
        names = (["analyze"] if self.params["analyze"] else []) + ["bloat"] + (["reindex"] if reindex else [])
        return [unknown(check_id(what, database), reason) for what in names]

    def run(self) -> dict[str, Any]:
        names, list_error = self.databases()
        out: dict[str, Any] = {"databases": names, "reclaimed_bytes": 0, "reindexed": [], "analyzed": []}
        if list_error:
            out["results"] = [unknown("pg_maintenance.databases", list_error)]
            out["changed"] = False
            return out
        surveys = [self.survey(name) for name in names]
        threshold = float(self.params["bloat_threshold_pct"])
        reindex = bool(self.params["reindex"])
        all_measured = [m for s in surveys for m in s.measured]
        selected, deferred = select_for_reindex(all_measured, threshold, int(self.params["max_reindex"]) if reindex else 0)
        results: list[CheckResult] = []
        changed = False
        for found in surveys:
            name = found.name
            if found.error:
                results.extend(self.not_measured(name, found.error, reindex))
                continue
            mine = [s for s in selected if s["database"] == name]
            later = [d for d in deferred if d["database"] == name]
            if reindex and self.apply and mine and found.server_version and found.server_version < 120000:
                later = mine + later
                mine = []
            conn = None
            if self.apply and ((self.params["analyze"] and found.analyze_candidates) or (reindex and mine)):
                try:
                    conn = self.connect(name)
                except psycopg.Error as exc:
                    reason = f"cannot connect to database {name} to apply: {error_text(exc, self.secrets)}"
                    results.extend(self.not_measured(name, reason, reindex))
                    continue
            try:
                if self.params["analyze"]:
                    if self.apply and found.analyze_candidates:
                        analyzed, failures, seconds = self.run_analyze(conn, found.analyze_candidates)
                        changed = changed or bool(analyzed)
                        if analyzed:
                            out["analyzed"].append(
                                {"database": name, "tables": [f"{a['schema']}.{a['table']}" for a in analyzed], "seconds": round(seconds, 3)}
                            )
                        results.append(analyze_result(name, True, found.analyze_candidates, analyzed, failures, seconds))
                    else:
                        results.append(analyze_result(name, self.apply, found.analyze_candidates, mode_note=self.mode_note))
                if found.missing_pgstattuple:
                    reason = (
                        f"index bloat in {name} not measured: the pgstattuple extension is not installed there; "
                        f"run CREATE EXTENSION pgstattuple in {name} (the opsbook.stack.postgresql role creates it, "
                        "postgresql_maintenance_extensions); this module never changes the schema"
                    )
                    results.append(unknown(check_id("bloat", name), reason, details={"database": name}))
                    if reindex:
                        results.append(unknown(check_id("reindex", name), f"nothing rebuilt in {name}: bloat not measured (pgstattuple missing)"))
                    continue
                done: list[dict[str, Any]] = []
                failed: list[dict[str, Any]] = []
                if reindex and self.apply and mine:
                    for index in mine:
                        ok, bad = self.rebuild(conn, index, found.pgstattuple_schema or "public")
                        if ok:
                            done.append(ok)
                            changed = True
                        else:
                            failed.append(bad or {})
                            changed = changed or bool((bad or {}).get("leftover_dropped"))
                # Judge the bloat as it is now: rebuilt indexes with their new figures.
                rebuilt = {(d["schema"], d["index"]): d for d in done}
                now_measured = []
                for m in found.measured:
                    entry = {k: v for k, v in m.items() if k not in ("oid", "table_oid")}
                    after = rebuilt.get((m["schema"], m["index"]))
                    if after is not None:
                        entry["bloat_pct_before"] = m["bloat_pct"]
                        entry["bloat_pct"] = after["bloat_pct_after"] if after["bloat_pct_after"] is not None else 0.0
                        entry["size"] = after["size_after"]
                        entry["reclaimable_bytes"] = reclaimable_bytes(int(entry["size"]), entry["bloat_pct"])
                        entry["reindexed"] = True
                    now_measured.append(entry)
                results.append(
                    bloat_result(
                        name, now_measured, threshold, found.errors, found.invalid, int(self.params["min_index_size"]),
                        after_reindex=bool(done),
                    )
                )
                if not self.apply and self.mode_note and results[-1].status != "ok":
                    results[-1].message += self.mode_note
                if reindex:
                    strip = [{k: v for k, v in s.items() if k not in ("oid", "table_oid")} for s in mine]
                    later_clean = [{k: v for k, v in d.items() if k not in ("oid", "table_oid")} for d in later]
                    res = reindex_result(name, self.apply, strip, later_clean, done, failed, threshold, mode_note=self.mode_note)
                    if found.server_version and found.server_version < 120000 and self.apply:
                        res.message += "; REINDEX CONCURRENTLY needs PostgreSQL 12 or later, nothing rebuilt"
                    results.append(res)
                    out["reindexed"].extend(done)
                    out["reclaimed_bytes"] += sum(int(d["reclaimed_bytes"]) for d in done)
            finally:
                if conn is not None:
                    conn.close()
        out["results"] = results
        out["changed"] = changed
        return out


def _regclass_text(schema: str, name: str) -> str:
    """A quoted ``schema.name`` for a ``::regclass`` cast."""
    return '"' + schema.replace('"', '""') + '"."' + name.replace('"', '""') + '"'


ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    **PG_CONNECTION_SPEC,
    "databases": {"type": "list", "elements": "str"},
    "analyze": {"type": "bool", "default": True},
    "reindex": {"type": "bool", "default": True},
    "apply": {"type": "bool", "default": False},
    "bloat_threshold_pct": {"type": "float", "default": 30},
    "min_index_size": {"type": "int", "default": 10485760},
    "max_reindex": {"type": "int", "default": 20},
    "analyze_age_days": {"type": "float", "default": 7},
    "analyze_changed_pct": {"type": "float", "default": 10},
    "statement_timeout": {"type": "float", "default": 3600},
    "lock_timeout": {"type": "float", "default": 10},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    problem = validate_options(params)
    if problem:
        module.fail_json(msg=problem)
    fail_without_psycopg(module, "opsbook.stack.pg_maintenance")
    if module.check_mode:
        apply, mode, note = False, "check_mode", " (check mode: report only)"
    elif params["apply"]:
        apply, mode, note = True, "apply", ""
    else:
        apply, mode, note = False, "report", " (report only: apply=false)"
    outcome = Maintenance(params, apply, note).run()
    module.exit_json(
        changed=bool(outcome["changed"]),
        mode=mode,
        databases=outcome["databases"],
        reclaimed_bytes=int(outcome["reclaimed_bytes"]),
        reindexed=outcome["reindexed"],
        analyzed=outcome["analyzed"],
        **module_output(outcome["results"]),
    )


if __name__ == "__main__":
    main()

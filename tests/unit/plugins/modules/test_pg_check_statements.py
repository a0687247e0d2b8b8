"""pg_check: slow-query review (statements), baseline trends and database growth (pure functions + options)."""

from __future__ import annotations

import datetime

import pytest
import yaml

from ansible_collections.opsbook.stack.plugins.module_utils._checks import ABOVE, Threshold, evaluate, merge_thresholds, trend_of, trend_text, unknown
from ansible_collections.opsbook.stack.plugins.modules import pg_check
from ansible_collections.opsbook.stack.plugins.modules.pg_check import (
    BaselineError,
    apply_baseline,
    choose_checks,
    growth_results,
    one_line_query,
    placeholder_id,
    statements_missing,
    statements_results,
    validate_baseline,
)

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
THRESHOLDS = merge_thresholds(pg_check.DEFAULTS, {})


# -- selection, ids, thresholds ---------------------------------------------------


def test_default_selection_is_the_daily_set_and_growth_brings_sizes():
    assert choose_checks(None) == [
        "connect", "connections", "long_running", "idle_in_transaction", "wraparound", "vacuum", "database_size", "replication"]
    assert choose_checks(["database_growth"]) == ["database_size", "database_growth"]
    assert choose_checks(["database_growth", "statements", "connect"]) == ["connect", "database_size", "statements", "database_growth"]
    assert choose_checks(["statements"]) == ["statements"]
    with pytest.raises(ValueError, match="unknown check name.*'statement'.*known checks: .*statements, database_growth"):
        choose_checks(["statement"])


def test_placeholder_ids():
    assert placeholder_id("statements", "appdb") == "pg.statements"
    assert placeholder_id("database_growth", "appdb") == "pg.database_growth:appdb"
    assert placeholder_id("database_size", "appdb") == "pg.database_size:appdb"


def test_new_default_thresholds():
    assert THRESHOLDS["statement_mean_ms"] == Threshold(500, 5000, ABOVE)
    assert THRESHOLDS["statement_total_seconds"] == Threshold(3600, None, ABOVE)
    assert THRESHOLDS["database_growth_pct"] == Threshold(50, 100, ABOVE)


def test_documentation_matches_argument_spec():
    doc = yaml.safe_load(pg_check.DOCUMENTATION)
    spec = pg_check.ARGUMENT_SPEC
    for name in ("statements_min_calls", "statements_top", "baseline"):
        assert doc["options"][name]["type"] == spec[name]["type"]
        assert doc["options"][name]["default"] == spec[name]["default"]
    assert (spec["statements_min_calls"]["default"], spec["statements_top"]["default"], spec["baseline"]["default"]) == (5, 5, {})
    text = " ".join(doc["options"]["thresholds"]["description"])
    for name in pg_check.DEFAULTS:
        assert f"V({name})" in text
    for name in pg_check.CHECKS:
        assert f"V({name})" in " ".join(doc["options"]["checks"]["description"])


# -- baseline and trend ------------------------------------------------------------


def test_trend_of_and_text():
    trend = trend_of(112.3, 100, datetime.datetime(2026, 10, 26, 6, tzinfo=UTC), NOW)
    assert trend == {"previous": 100, "previous_at": "2026-10-26T06:00:00Z", "change": 12.3, "change_pct": 12.3, "days": 31.0}
    assert trend_text(trend) == "(+12.3 % since 2026-10-26)"
    shrink = trend_of(50, 200, datetime.datetime(2026, 11, 25, 18, tzinfo=UTC), NOW)
    assert (shrink["change"], shrink["change_pct"], shrink["days"]) == (-150, -75.0, 0.5)
    assert trend_text(shrink) == "(-75.0 % since 2026-11-25)"
    zero = trend_of(3, 0, datetime.datetime(2026, 11, 1, tzinfo=UTC), NOW)
    assert zero["change_pct"] is None
    assert trend_text(zero, "runs") == "(+3 runs since 2026-11-01)"


def test_validate_baseline_accepts_and_refuses_naming_the_key():
    good = validate_baseline({"pg.connect": {"value": 3.5, "at": "2026-10-26T06:00:00Z"}, "pg.x": {"value": "7", "at": "2026-10-26"}})
    assert good["pg.connect"] == (3.5, datetime.datetime(2026, 10, 26, 6, tzinfo=UTC))
    assert good["pg.x"][0] == 7.0
    assert validate_baseline(None) == {}
    cases = [
        ({"pg.a": 5}, "baseline['pg.a'] must be a mapping"),
        ({"pg.b": {"value": "many", "at": "2026-10-26T06:00:00Z"}}, "baseline['pg.b']: value must be a finite number"),
        ({"pg.c": {"value": True, "at": "2026-10-26T06:00:00Z"}}, "baseline['pg.c']: value"),
        ({"pg.d": {"value": 1}}, "baseline['pg.d']: at must be an ISO-8601"),
        ({"pg.e": {"value": 1, "at": "last month"}}, "baseline['pg.e']: at must be an ISO-8601"),
    ]
    for raw, fragment in cases:
        with pytest.raises(BaselineError) as exc:
            validate_baseline(raw)
        assert fragment in str(exc.value)


def test_apply_baseline_decorates_numeric_results_only():
    threshold = Threshold(80, 95, ABOVE)
    conn = evaluate("pg.connections", 44.0, threshold, unit="%", label="client connections")
    size = evaluate("pg.database_size:appdb", 1100, Threshold(), unit="bytes", label="size of database appdb")
    growth = evaluate("pg.database_growth:appdb", 10.0, threshold, unit="%", label="growth")
    failed = unknown("pg.vacuum", "could not be measured")
    baseline = validate_baseline({
        "pg.connections": {"value": 40, "at": "2026-10-26T06:00:00Z"},
        "pg.database_size:appdb": {"value": 1000, "at": "2026-10-27T06:00:00Z"},
        "pg.database_growth:appdb": {"value": 5, "at": "2026-10-26T06:00:00Z"},
        "pg.vacuum": {"value": 5, "at": "2026-10-26T06:00:00Z"},
    })
    apply_baseline([conn, size, growth, failed], baseline, NOW)
    assert conn.status == "ok"
    assert conn.message == "client connections is 44% (warn >= 80%, crit >= 95%) (+10.0 % since 2026-10-26)"
    assert conn.details["trend"] == {"previous": 40, "previous_at": "2026-10-26T06:00:00Z", "change": 4.0, "change_pct": 10.0, "days": 31.0}
    assert size.details["trend"]["days"] == 30.0
    assert size.message.endswith("(+10.0 % since 2026-10-27)")
    assert "trend" not in growth.details and "since" not in growth.message
    assert "trend" not in failed.details


# -- database growth ----------------------------------------------------------------


def test_growth_without_baseline_is_unknown_with_the_first_run_message():
    [res] = growth_results([("appdb", 9_000_000)], {}, THRESHOLDS["database_growth_pct"], NOW)
    assert (res.check, res.status, res.value) == ("pg.database_growth:appdb", "unknown", None)
    assert res.message == "growth of database appdb: no size recorded from a previous run yet; the next run compares against this one"
    assert res.details["size"] == 9_000_000


@pytest.mark.parametrize(
    ("previous", "size", "status", "pct"),
    [(8_000_000, 9_000_000, "ok", 12.5), (8_000_000, 12_000_000, "warn", 50.0), (8_000_000, 16_000_000, "crit", 100.0), (8_000_000, 6_000_000, "ok", -25.0)],
)
def test_growth_percent_since_baseline(previous, size, status, pct):
    baseline = validate_baseline({"pg.database_size:appdb": {"value": previous, "at": "2026-11-11T06:00:00Z"}})
    [res] = growth_results([("appdb", size)], baseline, THRESHOLDS["database_growth_pct"], NOW)
    assert (res.status, res.value, res.unit, res.warn, res.crit) == (status, pct, "%", 50.0, 100.0)
    assert res.details["days"] == 15.0
    assert res.details["per_30_days"] == pytest.approx(pct * 2)
    assert res.details["previous_at"] == "2026-11-11T06:00:00Z"
    assert res.details["change_bytes"] == size - previous
    assert res.message.startswith("growth of database appdb since 2026-11-11 (7.6 MiB -> ")
    assert "in 15.0 days) is" in res.message


def test_growth_previous_zero_and_several_databases():
    baseline = validate_baseline({"pg.database_size:a": {"value": 0, "at": "2026-11-11T06:00:00Z"},
                                  "pg.database_size:gone": {"value": 10, "at": "2026-11-11T06:00:00Z"}})
    res = growth_results([("a", 100), ("b", 100)], baseline, THRESHOLDS["database_growth_pct"], NOW)
    assert [r.check for r in res] == ["pg.database_growth:a", "pg.database_growth:b"]
    assert res[0].status == "unknown" and "not a usable base" in res[0].message
    assert res[1].status == "unknown"


# -- statements ---------------------------------------------------------------------


def test_statements_missing_messages_say_what_to_do():
    res = statements_missing("appdb", False, False)
    assert (res.check, res.status) == ("pg.statements", "unknown")
    assert res.message == ("pg_stat_statements is not loaded: add it to shared_preload_libraries (postgresql role default) "
                           "and CREATE EXTENSION pg_stat_statements in appdb")
    assert "restart PostgreSQL" in statements_missing("appdb", False, True).message
    assert statements_missing("appdb", True, False).message == (
        "the pg_stat_statements extension is not created in database appdb: CREATE EXTENSION pg_stat_statements in appdb"
        " (the library is in shared_preload_libraries already)")
    assert statements_missing("appdb", None, False).message.startswith("the pg_stat_statements extension is not created")
    assert statements_missing("appdb", None, False).details == {"database": "appdb", "preloaded": None, "extension_created": False}


def test_one_line_query_collapses_and_cuts():
    assert one_line_query("SELECT *\n  FROM t\n\tWHERE x = $1 ") == "SELECT * FROM t WHERE x = $1"
    long = one_line_query("SELECT " + "a, " * 200 + "b")
    assert len(long) == 200 and long.endswith("...")
    assert one_line_query(None) == ""


def _row(queryid, query, calls, mean_ms, total_s, database="appdb", user="app"):
    return {"queryid": queryid, "query": query, "calls": calls, "mean_ms": mean_ms, "total_s": total_s, "rows": calls,
            "database": database, "user": user}


INFO = {"database": "appdb", "statements": 42, "frequent": 30, "all_total_s": 8000.0,
        "since": datetime.datetime(2026, 10, 27, 6, tzinfo=UTC), "now": NOW, "dealloc": 0}


def test_statements_results_mean_and_total():
    by_mean = [_row("-77", "SELECT pg_sleep(0.6)\n FROM   measurements", 12, 612.34, 7.348), _row("5", "SELECT 1", 900, 0.01, 0.009)]
    by_total = [_row("9", "UPDATE jobs SET state = $1", 100000, 40.0, 4000.0, user="worker"), _row("-77", "SELECT pg_sleep(0.6)", 12, 612.34, 7.348)]
    mean, total = statements_results(by_mean, by_total, INFO, THRESHOLDS, 5, True)
    assert (mean.check, mean.status, mean.value, mean.unit, mean.warn, mean.crit) == ("pg.statements_mean", "warn", 612.34, "ms", 500.0, 5000.0)
    assert mean.message == ("highest mean execution time of a statement ('SELECT pg_sleep(0.6) FROM measurements' in appdb, "
                            "12 calls since 2026-10-27) is 612.34 ms (warn >= 500 ms, crit >= 5000 ms)")
    assert mean.details["top"][0]["query"] == "SELECT pg_sleep(0.6) FROM measurements"
    assert mean.details["top"][0]["queryid"] == "-77"
    assert (mean.details["since"], mean.details["period_days"], mean.details["min_calls"]) == ("2026-10-27T06:00:00Z", 30.0, 5)
    assert mean.details["statements"] == 42 and mean.details["frequent"] == 30
    assert (total.check, total.status, total.value, total.unit, total.warn, total.crit) == ("pg.statements_total", "warn", 4000.0, "s", 3600.0, None)
    assert total.details["share_pct"] == 50.0
    assert total.details["top"][0]["user"] == "worker"
    assert "UPDATE jobs SET state = $1" in total.message
    assert by_mean[0]["query"].startswith("SELECT pg_sleep(0.6)\n")  # input rows left alone


def test_statements_results_ok_empty_and_without_visibility():
    fast = [_row("1", "SELECT 1", 10, 0.5, 0.005)]
    mean, total = statements_results(fast, fast, dict(INFO, since=None), THRESHOLDS, 5, False)
    assert (mean.status, total.status) == ("ok", "ok")
    assert mean.details["since"] is None and mean.details["period_days"] is None
    for res in (mean, total):
        assert res.message.endswith("(query texts of other roles' statements are hidden: grant pg_read_all_stats or pg_monitor)")
        assert res.details["sees_all_statements"] is False
    empty_mean, empty_total = statements_results([], [], INFO, THRESHOLDS, 5, True)
    assert (empty_mean.status, empty_mean.value) == ("ok", None)
    assert empty_mean.message == "no statement was called 5 or more times since 2026-10-27"
    assert empty_total.message == "no statements recorded since 2026-10-27"


def test_statements_results_long_query_is_cut_in_details_and_message():
    query = "SELECT " + ", ".join(f"column_{i}" for i in range(100)) + " FROM wide"
    mean, _total = statements_results([_row("1", query, 6, 6000.0, 36.0)], [_row("1", query, 6, 6000.0, 36.0)], INFO, THRESHOLDS, 5, True)
    assert mean.status == "crit"
    assert len(mean.details["top"][0]["query"]) == 200
    assert "('SELECT column_0, column_1, column_2, column_3, column_4, ...' in appdb, 6 calls" in mean.message

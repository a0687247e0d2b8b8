"""pg_check: query coercion, query specs, replication logic, connection options, end to end."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from ansible_collections.opsbook.stack.plugins.module_utils._checks import ABOVE, Threshold, ThresholdError, merge_thresholds
from ansible_collections.opsbook.stack.plugins.module_utils._pg import coerce_number, connect_kwargs, error_text, one_line
from ansible_collections.opsbook.stack.plugins.modules import pg_check
from ansible_collections.opsbook.stack.plugins.modules.pg_check import QuerySpecError, query_result, replication_result, validate_queries

LAG = Threshold(30, 300, ABOVE)


# -- query result coercion ---------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, 1),
        (False, 0),
        (7, 7),
        (Decimal("12"), 12),
        (Decimal("97.5"), 97.5),
        (0.25, 0.25),
    ],
)
def test_coerce_number_accepts_numbers_and_bools(raw, expected):
    number, reason = coerce_number(raw)
    assert reason is None
    assert number == expected
    assert type(number) is type(expected)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (None, "NULL"),
        ("abc", "str 'abc', not a number"),
        (Decimal("NaN"), "not a finite number"),
        (float("inf"), "not a finite number"),
        (datetime.timedelta(hours=3), "extract(epoch FROM"),
        (datetime.datetime(2024, 1, 1), "datetime"),
        ("x" * 200, "..."),
    ],
)
def test_coerce_number_refuses_the_rest_with_a_reason(raw, fragment):
    number, reason = coerce_number(raw)
    assert number is None
    assert fragment in reason


def _spec(**over):
    base = {"name": "failed_jobs", "sql": "SELECT 1", "warn": 1.0, "crit": 5.0, "direction": "above", "unit": "runs", "label": None, "db": None}
    base.update(over)
    return validate_queries([base], "appdb")[0]


def test_query_result_evaluates_first_column_with_label_and_unit():
    res = query_result(_spec(label="failed job executions in 24 h"), (3, "ignored"))
    assert (res.check, res.status, res.value, res.unit) == ("pg.query:failed_jobs", "warn", 3, "runs")
    assert res.message == "failed job executions in 24 h is 3 runs (warn >= 1 runs, crit >= 5 runs)"
    assert res.details == {"database": "appdb"}


def test_query_result_bool_and_below_direction():
    assert query_result(_spec(warn=None, crit=0.5, direction="below"), (False,)).status == "crit"
    assert query_result(_spec(warn=None, crit=0.5, direction="below"), (True,)).status == "ok"


@pytest.mark.parametrize(
    ("row", "has_result", "fragment"),
    [
        (None, True, "returned no rows"),
        ((None,), True, "NULL"),
        (("late",), True, "not a number"),
        ((), True, "no columns"),
        (None, False, "no result set"),
    ],
)
def test_query_result_unknown_cases(row, has_result, fragment):
    res = query_result(_spec(), row, has_result)
    assert res.status == "unknown"
    assert res.value is None
    assert fragment in res.message
    assert res.message.startswith("query failed_jobs:")


# -- query spec validation ---------------------------------------------------


def test_validate_queries_defaults_db_and_label():
    spec = validate_queries([{"name": "q.1-a_b", "sql": " SELECT 1 ", "warn": None, "crit": None, "direction": None}], "appdb")[0]
    assert spec["db"] == "appdb"
    assert spec["label"] == "query q.1-a_b"
    assert spec["sql"] == "SELECT 1"
    assert spec["threshold"] == Threshold(None, None, ABOVE)


@pytest.mark.parametrize(
    ("queries", "error", "fragment"),
    [
        ([{"name": "bad name", "sql": "SELECT 1"}], QuerySpecError, "queries[0]: name 'bad name'"),
        ([{"name": "", "sql": "SELECT 1"}], QuerySpecError, "queries[0]: name ''"),
        ([{"name": "a", "sql": "SELECT 1"}, {"name": "a", "sql": "SELECT 2"}], QuerySpecError, "queries[1]: name 'a' is used twice"),
        ([{"name": "a", "sql": "  "}], QuerySpecError, "query 'a': sql is empty"),
        ([{"name": "rate", "sql": "SELECT 1", "warn": 90, "crit": 95, "direction": "below"}], ThresholdError, "'query rate': warn 90 is beyond crit 95"),
        ([{"name": "jobs", "sql": "SELECT 1", "warn": 10, "crit": 5}], ThresholdError, "'query jobs': warn 10 is beyond crit 5"),
    ],
)
def test_validate_queries_rejects_bad_specs(queries, error, fragment):
    with pytest.raises(error) as exc:
        validate_queries(queries, "postgres")
    assert fragment in str(exc.value)


def test_thresholds_unknown_name_and_warn_beyond_crit():
    with pytest.raises(ThresholdError, match="unknown threshold 'connection_pct'; known thresholds: connections_pct"):
        merge_thresholds(pg_check.DEFAULTS, {"connection_pct": {"warn": 1}})
    with pytest.raises(ThresholdError, match="'wraparound_pct': warn 80 is beyond crit 75"):
        merge_thresholds(pg_check.DEFAULTS, {"wraparound_pct": {"warn": 80}})
    merged = merge_thresholds(pg_check.DEFAULTS, {"database_size_bytes": {"warn": 1e9}})
    assert merged["database_size_bytes"] == Threshold(1e9, None, ABOVE)
    assert merged["idle_in_transaction_seconds"] == Threshold(60, 600, ABOVE)


# -- replication -------------------------------------------------------------


def test_replication_primary_without_standbys():
    res = replication_result(False, [], None, 0, LAG)
    assert (res.status, res.value) == ("ok", None)
    assert "none expected" in res.message
    missing = replication_result(False, [], None, 2, LAG)
    assert missing.status == "crit"
    assert missing.message == "0 of 2 expected standbys are streaming from this primary"


def test_replication_primary_worst_lag_and_catching_up_standby_does_not_count():
    standbys = [
        {"application_name": "a", "state": "streaming", "replay_lag": None},  # caught up and idle: no lag reported
        {"application_name": "b", "state": "streaming", "replay_lag": 45.5},
        {"application_name": "c", "state": "catchup", "replay_lag": 900.0},
    ]
    res = replication_result(False, standbys, None, 2, LAG)
    assert (res.status, res.value, res.unit) == ("warn", 45.5, "s")
    assert res.details["streaming"] == 2
    assert "2 streaming standby(s)" in res.message
    assert replication_result(False, standbys, None, 3, LAG).status == "crit"
    assert replication_result(False, standbys[:1], None, 1, LAG).value == 0.0


@pytest.mark.parametrize(
    ("state", "status", "value"),
    [
        ({"receiver_status": "streaming", "caught_up": True, "replay_age": 5000.0}, "ok", 0.0),
        ({"receiver_status": "streaming", "caught_up": False, "replay_age": 301.0}, "crit", 301.0),
        ({"receiver_status": "streaming", "caught_up": False, "replay_age": None}, "unknown", None),
        ({"receiver_status": None, "caught_up": False, "replay_age": 1.0}, "crit", None),
        ({"receiver_status": "stopping", "caught_up": False, "replay_age": 1.0}, "crit", None),
    ],
)
def test_replication_standby(state, status, value):
    res = replication_result(True, [], state, 0, LAG)
    assert (res.status, res.value) == (status, value)
    assert res.details["role"] == "standby"


# -- connection options and messages -----------------------------------------


def test_connect_kwargs_unix_socket_and_tcp():
    base = {"login_user": "postgres", "login_db": "postgres", "login_port": 5432, "connect_timeout": 5, "ssl_mode": "verify-full", "ca_cert": "/ca.pem"}
    socket_kw = connect_kwargs({**base, "login_host": "", "login_unix_socket": "", "login_password": None}, application_name="t")
    assert socket_kw == {"dbname": "postgres", "user": "postgres", "port": 5432, "connect_timeout": 5, "application_name": "t"}
    custom = connect_kwargs({**base, "login_host": "", "login_unix_socket": "/run/pg", "login_password": ""})
    assert custom["host"] == "/run/pg"
    assert "sslmode" not in custom
    assert "password" not in custom
    tcp = connect_kwargs({**base, "login_host": "db1", "login_unix_socket": "/ignored", "login_password": "s3cret"}, dbname="appdb")
    assert tcp["host"] == "db1"
    assert (tcp["sslmode"], tcp["sslrootcert"], tcp["password"], tcp["dbname"]) == ("verify-full", "/ca.pem", "s3cret", "appdb")


def test_error_text_is_one_line_without_secrets():
    exc = RuntimeError('connection failed: FATAL:  password authentication failed for user "app"\nhint s3cret')
    assert error_text(exc, ["s3cret", None]) == 'connection failed: FATAL: password authentication failed for user "app" hint ********'
    assert one_line("a\n\n  b") == "a b"


def test_argument_spec_matches_documentation_names():
    spec = pg_check.ARGUMENT_SPEC
    assert spec["login_port"]["aliases"] == ["port"]
    assert spec["login_password"]["no_log"] is True
    assert set(spec["queries"]["options"]) == {"name", "sql", "db", "warn", "crit", "direction", "unit", "label"}
    for name in pg_check.CHECKS:
        assert hasattr(pg_check.Checker, name) or name == "connect"

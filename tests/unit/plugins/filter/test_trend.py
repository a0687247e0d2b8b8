"""trend_history / trend_baseline filters: history upkeep and baseline choice."""

from __future__ import annotations

import datetime

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.opsbook.stack.plugins.filter.trend import FilterModule, trend_baseline, trend_history

UTC = datetime.timezone.utc
NOW = "2026-11-26T06:00:00Z"
NOW_DT = datetime.datetime(2026, 11, 26, 6, tzinfo=UTC)


def _check(check, value, status="ok"):
    return {"check": check, "status": status, "value": value, "warn": None, "crit": None, "unit": "", "message": "m", "details": {}}


def _iso(stamp: datetime.datetime) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"trend_history", "trend_baseline"}


def test_new_history_from_nothing_keeps_numeric_values_only():
    results = [_check("pg.database_size:appdb", 9000000), _check("pg.connections", 4.5), _check("pg.replication", None),
               _check("pg.flag", True), _check("pg.text", "streaming"), _check("pg.nan", float("nan"), "unknown")]
    for empty in (None, {}, ""):
        history = trend_history(empty, results, now=NOW)
        assert history == {"version": 1, "series": {
            "pg.connections": [{"at": NOW, "value": 4.5}],
            "pg.database_size:appdb": [{"at": NOW, "value": 9000000}],
        }}


def test_registered_module_results_and_lists_of_them_are_accepted():
    registered = {"changed": False, "checks": [_check("pg.statements_mean", 612.3)], "summary": {}}
    assert trend_history({}, registered, now=NOW)["series"] == {"pg.statements_mean": [{"at": NOW, "value": 612.3}]}
    looped = [registered, {"skipped": True}, {"checks": [_check("host.cpu", 12)]}]
    assert set(trend_history({}, looped, now=NOW)["series"]) == {"pg.statements_mean", "host.cpu"}
    assert trend_history({}, None, now=NOW) == {"version": 1, "series": {}}


def test_appends_sorted_prunes_and_replaces_same_time():
    history = {"version": 1, "series": {
        "pg.database_size:appdb": [
            {"at": "2026-10-26T06:00:00Z", "value": 8000000},
            {"at": "2025-10-01T06:00:00Z", "value": 1000},          # older than 400 days: dropped
            {"at": "2026-11-26T08:00:00+02:00", "value": 1},        # same instant as NOW: replaced
        ],
        "pg.gone": [{"at": "2024-01-01T00:00:00Z", "value": 3}],   # all points too old: series removed
    }}
    new = trend_history(history, [_check("pg.database_size:appdb", 9000000)], now=NOW)
    assert new == {"version": 1, "series": {"pg.database_size:appdb": [
        {"at": "2026-10-26T06:00:00Z", "value": 8000000}, {"at": NOW, "value": 9000000}]}}
    assert len(history["series"]["pg.database_size:appdb"]) == 3  # input not modified
    assert list(trend_history(history, [], now=NOW, keep_days=2000)["series"]) == ["pg.database_size:appdb", "pg.gone"]


def test_now_defaults_to_the_current_time():
    history = trend_history({}, [_check("pg.connections", 1)])
    stamp = datetime.datetime.fromisoformat(history["series"]["pg.connections"][0]["at"].replace("Z", "+00:00"))
    assert abs((datetime.datetime.now(UTC) - stamp).total_seconds()) < 60


@pytest.mark.parametrize(
    ("history", "kwargs", "fragment"),
    [
        ([1], {}, "history must be a mapping"),
        ({"version": 2, "series": {}}, {}, "unsupported history version 2"),
        ({"version": 1, "series": []}, {}, "history.series must be a mapping"),
        ({"version": 1, "series": {"pg.a": {}}}, {}, "history.series['pg.a'] must be a list"),
        ({"version": 1, "series": {"pg.a": [{"at": NOW, "value": "x"}]}}, {}, "history.series['pg.a'][0] must be a mapping with a numeric value"),
        ({"version": 1, "series": {"pg.a": [{"at": "soon", "value": 1}]}}, {}, "history.series['pg.a'][0].at must be an ISO-8601"),
        ({}, {"now": "tomorrow"}, "now must be an ISO-8601"),
        ({}, {"keep_days": -1}, "keep_days must be a number of days"),
    ],
)
def test_trend_history_bad_input_names_the_place(history, kwargs, fragment):
    with pytest.raises(AnsibleFilterError) as exc:
        trend_history(history, [_check("pg.a", 1)], **kwargs)
    assert fragment in str(exc.value)


def test_trend_history_rejects_a_string_of_results():
    with pytest.raises(AnsibleFilterError, match="results must be a list"):
        trend_history({}, "pg.a=1", now=NOW)


def _history(*points):
    return {"version": 1, "series": {"pg.database_size:appdb": [{"at": at, "value": value} for at, value in points]}}


def test_baseline_prefers_the_newest_point_old_enough():
    history = _history(("2026-09-26T06:00:00Z", 7), ("2026-10-26T06:00:00Z", 8), ("2026-11-20T06:00:00Z", 9))
    assert trend_baseline(history, 20, NOW) == {"pg.database_size:appdb": {"value": 8, "at": "2026-10-26T06:00:00Z"}}
    assert trend_baseline(history, min_age_days=40, now=NOW)["pg.database_size:appdb"]["value"] == 7
    assert trend_baseline(history, min_age_days=0, now=NOW)["pg.database_size:appdb"]["value"] == 9


def test_baseline_falls_back_to_the_oldest_point_and_empty_history():
    history = _history(("2026-11-25T06:00:00Z", 2), ("2026-11-20T06:00:00Z", 1))
    assert trend_baseline(history, 20, NOW) == {"pg.database_size:appdb": {"value": 1, "at": "2026-11-20T06:00:00Z"}}
    assert trend_baseline({}, 20, NOW) == {}
    assert trend_baseline(None) == {}
    assert trend_baseline({"version": 1, "series": {}}) == {}
    with pytest.raises(AnsibleFilterError, match="min_age_days must be a number of days"):
        trend_baseline(history, "a month")


def test_history_then_baseline_round_trip_month_over_month():
    history: dict = {}
    for day, size in (("2026-09-26T06:00:00Z", 100), ("2026-10-26T06:00:00Z", 110), ("2026-11-10T06:00:00Z", 111)):
        history = trend_history(history, [_check("pg.database_size:appdb", size)], now=day)
    assert trend_baseline(history, 20, NOW)["pg.database_size:appdb"] == {"value": 110, "at": "2026-10-26T06:00:00Z"}


# -- properties ----------------------------------------------------------------------

OFFSETS = st.lists(st.integers(min_value=0, max_value=800 * 24), min_size=1, max_size=25)  # hours before NOW


@settings(max_examples=150, deadline=None)
@given(offsets=OFFSETS, min_age=st.integers(min_value=0, max_value=400))
def test_property_baseline_is_never_newer_than_min_age_when_older_points_exist(offsets, min_age):
    points = [(_iso(NOW_DT - datetime.timedelta(hours=h)), h) for h in offsets]
    chosen = trend_baseline(_history(*points), min_age, NOW)["pg.database_size:appdb"]
    chosen_at = datetime.datetime.fromisoformat(chosen["at"].replace("Z", "+00:00"))
    limit = NOW_DT - datetime.timedelta(days=min_age)
    stamps = sorted(datetime.datetime.fromisoformat(at.replace("Z", "+00:00")) for at, _value in points)
    old_enough = [s for s in stamps if s <= limit]
    if old_enough:
        assert chosen_at == max(old_enough)  # the newest of those old enough
    else:
        assert chosen_at == stamps[0]  # nothing old enough: the oldest


@settings(max_examples=150, deadline=None)
@given(offsets=OFFSETS, keep=st.integers(min_value=0, max_value=900), value=st.floats(allow_nan=False, allow_infinity=False))
def test_property_history_pruned_sorted_and_ends_with_the_new_point(offsets, keep, value):
    points = [(_iso(NOW_DT - datetime.timedelta(hours=h)), 1) for h in offsets if h > 0]
    new = trend_history(_history(*points), [_check("pg.database_size:appdb", value)], now=NOW, keep_days=keep)
    series = new["series"]["pg.database_size:appdb"]
    stamps = [datetime.datetime.fromisoformat(p["at"].replace("Z", "+00:00")) for p in series]
    assert stamps == sorted(stamps)
    assert all(NOW_DT - s <= datetime.timedelta(days=keep) for s in stamps)
    assert series[-1] == {"at": NOW, "value": value}
    expected_old = {s for s, _value in points if NOW_DT - datetime.datetime.fromisoformat(s.replace("Z", "+00:00")) <= datetime.timedelta(days=keep)}
    assert {p["at"] for p in series[:-1]} == expected_old

"""Property tests of the shared result contract (plugins/module_utils/_checks.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ansible_collections.opsbook.stack.plugins.module_utils._checks import (
    ABOVE,
    BELOW,
    CHECK_ID_RE,
    CRIT,
    OK,
    RANK,
    STATUSES,
    UNKNOWN,
    WARN,
    CheckResult,
    Threshold,
    ThresholdError,
    evaluate,
    merge_thresholds,
    module_output,
    select,
    summarize,
    worst,
)

FINITE = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)
LEVEL = st.one_of(st.none(), FINITE)
DIRECTION = st.sampled_from([ABOVE, BELOW])


@st.composite
def thresholds(draw):
    """Valid thresholds: warn never beyond crit for the direction."""
    direction = draw(DIRECTION)
    warn, crit = draw(LEVEL), draw(LEVEL)
    if warn is not None and crit is not None:
        low, high = sorted((warn, crit))
        warn, crit = (low, high) if direction == ABOVE else (high, low)
    return Threshold(warn, crit, direction)


@given(thresholds(), FINITE, FINITE)
def test_status_of_is_monotonic_in_value(threshold, a, b):
    """Moving the value in the bad direction never makes the status better."""
    low, high = sorted((a, b))
    worse, better = (high, low) if threshold.direction == ABOVE else (low, high)
    assert RANK[threshold.status_of(worse)] >= RANK[threshold.status_of(better)]
    assert threshold.status_of(a) in (OK, WARN, CRIT)


@given(thresholds(), FINITE)
def test_reaching_a_level_counts(threshold, value):
    status = threshold.status_of(value)
    if threshold.crit is not None:
        reached = value >= threshold.crit if threshold.direction == ABOVE else value <= threshold.crit
        assert (status == CRIT) == reached
    if threshold.crit is None and threshold.warn is None:
        assert status == OK


@given(FINITE, FINITE, DIRECTION)
def test_warn_beyond_crit_is_always_rejected(warn, crit, direction):
    beyond = warn > crit if direction == ABOVE else warn < crit
    assume(beyond)
    with pytest.raises(ThresholdError, match="'load': warn .* is beyond crit"):
        Threshold(warn, crit, direction).validated("load")
    with pytest.raises(ThresholdError, match="'load'"):
        Threshold.from_spec({"warn": warn, "crit": crit, "direction": direction}, "load")
    with pytest.raises(ThresholdError, match="'load'"):
        merge_thresholds({"load": Threshold(None, None, direction)}, {"load": {"warn": warn, "crit": crit}})


@given(thresholds())
def test_valid_thresholds_validate(threshold):
    assert threshold.validated("x") is threshold


@given(st.text(min_size=1, max_size=12).filter(lambda key: key not in ("warn", "crit", "direction")))
def test_from_spec_names_unknown_keys(key):
    with pytest.raises(ThresholdError) as info:
        Threshold.from_spec({key: 1}, "disk_pct")
    assert "'disk_pct'" in str(info.value) and str(key) in str(info.value)


@given(st.text(min_size=1, max_size=12))
def test_merge_names_unknown_threshold(name):
    defaults = {"disk_pct": Threshold(85, 95)}
    assume(name not in defaults)
    with pytest.raises(ThresholdError) as info:
        merge_thresholds(defaults, {name: {"warn": 1}})
    assert repr(name) in str(info.value) and "disk_pct" in str(info.value)


@pytest.mark.parametrize("bad", ["abc", True, [1], {"a": 1}, "nan", "inf", float("nan"), float("inf")])
def test_from_spec_rejects_non_numbers_naming_the_level(bad):
    with pytest.raises(ThresholdError, match="threshold 'cpu_pct' warn"):
        Threshold.from_spec({"warn": bad}, "cpu_pct", Threshold(70, 90))


def test_from_spec_keeps_defaults_and_null_switches_off():
    base = Threshold(70.0, 90.0)
    assert Threshold.from_spec({"warn": 50}, "cpu_pct", base) == Threshold(50.0, 90.0)
    assert Threshold.from_spec({"crit": None}, "cpu_pct", base) == Threshold(70.0, None)
    assert Threshold.from_spec({"warn": "60"}, "cpu_pct", base).warn == 60.0
    with pytest.raises(ThresholdError, match="direction must be one of"):
        Threshold.from_spec({"direction": "sideways"}, "cpu_pct", base)
    with pytest.raises(ThresholdError, match="must be a mapping"):
        Threshold.from_spec(5, "cpu_pct", base)


NOT_NUMBERS = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),
)


@given(thresholds(), NOT_NUMBERS)
def test_evaluate_never_ok_without_a_finite_number(threshold, value):
    item = evaluate("host.cpu", value, threshold, unit="%")
    assert item.status == UNKNOWN
    assert item.message


@given(thresholds(), st.one_of(FINITE, st.integers(min_value=-10**9, max_value=10**9)))
def test_evaluate_matches_status_of(threshold, value):
    item = evaluate("host.cpu", value, threshold, unit="%", label="CPU busy")
    assert item.status == threshold.status_of(float(value))
    assert item.message.startswith("CPU busy is ")
    assert (item.warn, item.crit) == (threshold.warn, threshold.crit)


STATUS_LISTS = st.lists(st.sampled_from(STATUSES), max_size=20)


@given(STATUS_LISTS)
def test_worst_is_the_highest_rank(statuses):
    found = worst(statuses)
    assert RANK[found] == max([RANK[status] for status in statuses], default=RANK[OK])


@given(STATUS_LISTS)
def test_summarize_is_consistent(statuses):
    items = [CheckResult(f"host.x:{index}", status) for index, status in enumerate(statuses)]
    summary = summarize(items)
    assert summary["total"] == len(statuses) == sum(summary[status] for status in STATUSES)
    for status in STATUSES:
        assert summary[status] == statuses.count(status)
    assert summary["worst"] == worst(statuses)
    assert summarize([item.as_dict() for item in items]) == summary
    assert module_output(items)["summary"] == summary


@given(st.lists(st.text(max_size=8), max_size=5))
def test_summarize_treats_strange_statuses_as_unknown(statuses):
    summary = summarize([{"status": status} for status in statuses])
    assert summary["unknown"] == sum(1 for status in statuses if status not in STATUSES)
    if any(status not in STATUSES for status in statuses):
        assert RANK[summary["worst"]] >= RANK[UNKNOWN]


def test_select_and_ids():
    assert select(None, ["a", "b"]) == ["a", "b"]
    assert select(["b", "a"], ["a", "b"]) == ["a", "b"]
    with pytest.raises(ValueError, match="'zz'"):
        select(["zz"], ["a"])
    for good in ("host.cpu", "host.disk:/var/lib", "log.errors:svc/a.log"):
        assert CHECK_ID_RE.match(good)
    with pytest.raises(ValueError):
        CheckResult("Host CPU", OK)
    with pytest.raises(ValueError):
        CheckResult("host.cpu", "fine")
    assert not math.isnan(RANK[CRIT])

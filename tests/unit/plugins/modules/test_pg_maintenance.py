"""pg_maintenance: bloat formula, selection, results, options, end to end without a server."""

from __future__ import annotations


import pytest
import yaml

from ansible_collections.opsbook.stack.plugins.module_utils._checks import CHECK_ID_RE
from ansible_collections.opsbook.stack.plugins.module_utils._maintenance import (
    analyze_reason,
    analyze_result,
    bloat_pct,
    bloat_result,
    reclaimable_bytes,
    reindex_result,
    select_for_reindex,
    validate_options,
)
from ansible_collections.opsbook.stack.plugins.modules import pg_maintenance

MIB = 1024 * 1024


# -- the bloat formula --------------------------------------------------------


@pytest.mark.parametrize(
    ("density", "fillfactor", "expected"),
    [
        (90.0, 90, 0.0),  # fresh index at the btree default fillfactor
        (45.0, 90, 50.0),  # half as full as fresh
        (9.0, 90, 90.0),
        (95.0, 90, 0.0),  # denser than the fillfactor: never negative
        (50.0, 100, 50.0),  # the index's own fillfactor counts
        (63.0, None, 30.0),  # no fillfactor -> 90
        (63.0, 0, 30.0),
        (0.0, 90, 100.0),
    ],
)
def test_bloat_pct_formula(density, fillfactor, expected):
    assert bloat_pct(density, fillfactor) == expected


@pytest.mark.parametrize("density", [None, float("nan"), float("inf"), -1.0, "x", True])
def test_bloat_pct_unmeasurable(density):
    assert bloat_pct(density) is None


def test_reclaimable_bytes():
    assert reclaimable_bytes(10 * MIB, 50.0) == 5 * MIB
    assert reclaimable_bytes(10 * MIB, None) == 0
    assert reclaimable_bytes(0, 80.0) == 0


# -- which tables need ANALYZE -------------------------------------------------


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ({"analyze_age_s": None, "live_rows": 0, "changed_rows": 0}, "never analysed"),
        ({"analyze_age_s": 8 * 86400, "live_rows": 100, "changed_rows": 0}, "8.0 days ago"),
        ({"analyze_age_s": 3600, "live_rows": 1000, "changed_rows": 101}, "101 rows changed"),
        ({"analyze_age_s": 3600, "live_rows": 0, "changed_rows": 5}, "no live rows left"),
    ],
)
def test_analyze_reason_flags(row, fragment):
    assert fragment in analyze_reason(row, 7, 10)


@pytest.mark.parametrize(
    "row",
    [
        {"analyze_age_s": 3600, "live_rows": 1000, "changed_rows": 100},  # exactly 10 %: not more
        {"analyze_age_s": 6.9 * 86400, "live_rows": 10, "changed_rows": 0},
        {"analyze_age_s": 0, "live_rows": 0, "changed_rows": 0},
    ],
)
def test_analyze_reason_fresh_tables(row):
    assert analyze_reason(row, 7, 10) is None


# -- selection -----------------------------------------------------------------


def _idx(name, pct, size=20 * MIB, db="appdb"):
    return {"database": db, "schema": "public", "index": name, "table": "t", "size": size,
            "bloat_pct": pct, "reclaimable_bytes": reclaimable_bytes(size, pct)}


def test_select_threshold_is_inclusive_and_biggest_gain_first():
    indexes = [_idx("a", 29.9), _idx("b", 30.0), _idx("c", 80.0, size=11 * MIB), _idx("d", 50.0, size=100 * MIB), _idx("e", None)]
    selected, deferred = select_for_reindex(indexes, 30, 20)
    assert [i["index"] for i in selected] == ["d", "c", "b"]
    assert deferred == []


def test_select_max_reindex_defers_the_rest():
    indexes = [_idx(f"i{n}", 40.0 + n) for n in range(5)]
    selected, deferred = select_for_reindex(indexes, 30, 2)
    assert [i["index"] for i in selected] == ["i4", "i3"]
    assert [i["index"] for i in deferred] == ["i2", "i1", "i0"]
    assert select_for_reindex(indexes, 30, 0) == ([], sorted(deferred + selected, key=lambda i: -i["bloat_pct"]))


# -- results -------------------------------------------------------------------


def test_bloat_result_warns_at_threshold_and_reports_gain():
    res = bloat_result("appdb", [_idx("a", 10.0), _idx("b", 62.5)], 30, min_index_size=10 * MIB)
    assert (res.check, res.status, res.value, res.warn, res.unit) == ("pg_maintenance.bloat:appdb", "warn", 62.5, 30, "%")
    assert "public.b" in res.message and "1 at or above the threshold" in res.message
    assert res.details["reclaimable_bytes"] == reclaimable_bytes(20 * MIB, 62.5)
    assert CHECK_ID_RE.match(res.check)


def test_bloat_result_ok_nothing_measured_and_unknown():
    assert bloat_result("appdb", [_idx("a", 29.9)], 30).status == "ok"
    empty = bloat_result("appdb", [], 30, min_index_size=10 * MIB)
    assert (empty.status, empty.value) == ("ok", 0.0)
    assert "10.0 MiB" in empty.message
    broken = bloat_result("appdb", [], 30, errors=[{"index": "a", "error": "permission denied for function pgstatindex"}])
    assert broken.status == "unknown" and "permission denied" in broken.message


def test_reindex_result_report_only():
    res = reindex_result("appdb", False, [_idx("b", 50.0)], [_idx("c", 40.0)], mode_note=" (report only: apply=false)")
    assert (res.status, res.value, res.unit) == ("ok", 0, "bytes")
    assert res.message.startswith("would REINDEX CONCURRENTLY 1 index(es) in appdb")
    assert "1 more over the threshold" in res.message and res.message.endswith("(report only: apply=false)")
    assert res.details["estimated_reclaimable_bytes"] == 10 * MIB


def test_reindex_result_apply_outcomes():
    done = [{"index": "b", "size_before": 20 * MIB, "size_after": 5 * MIB, "reclaimed_bytes": 15 * MIB}]
    ok = reindex_result("appdb", True, [_idx("b", 75.0)], done=done)
    assert (ok.status, ok.value) == ("ok", 15 * MIB)
    failed = {"index": "c", "error": "canceling statement due to lock timeout", "leftover_dropped": ["public.c_ccnew"]}
    warn = reindex_result("appdb", True, [_idx("b", 75.0), _idx("c", 60.0)], done=done, failures=[failed])
    assert warn.status == "warn" and "public.c_ccnew dropped" in warn.message
    stuck = dict(failed, leftover_dropped=[], leftover_not_dropped=["public.c_ccnew"])
    crit = reindex_result("appdb", True, [_idx("c", 60.0)], failures=[stuck])
    assert crit.status == "crit" and "DROP INDEX CONCURRENTLY public.c_ccnew" in crit.message
    nothing = reindex_result("appdb", True, [])
    assert (nothing.status, nothing.value) == ("ok", 0) and "nothing reindexed" in nothing.message


def test_analyze_result_values():
    cands = [{"schema": "public", "table": "t", "reason": "never analysed"}]
    report = analyze_result("appdb", False, cands, mode_note=" (check mode: report only)")
    assert (report.check, report.status, report.value) == ("pg_maintenance.analyze:appdb", "ok", 1)
    assert "would analyse 1 table(s)" in report.message and "check mode" in report.message
    applied = analyze_result("appdb", True, cands, analyzed=[dict(cands[0], seconds=0.1)], seconds=0.1)
    assert (applied.status, applied.value) == ("ok", 1)
    failed = analyze_result("appdb", True, cands, failures=[dict(cands[0], error="skipping \"t\" --- only table owner")])
    assert (failed.status, failed.value) == ("warn", 0)


# -- options -------------------------------------------------------------------


def _params(**over):
    params = {k: v.get("default") for k, v in pg_maintenance.ARGUMENT_SPEC.items()}
    params.update(over)
    return params


@pytest.mark.parametrize(
    ("over", "name"),
    [
        ({"bloat_threshold_pct": 150}, "bloat_threshold_pct"),
        ({"bloat_threshold_pct": -1}, "bloat_threshold_pct"),
        ({"max_reindex": -1}, "max_reindex"),
        ({"lock_timeout": -5}, "lock_timeout"),
        ({"analyze_changed_pct": 101}, "analyze_changed_pct"),
        ({"databases": ["appdb", " "]}, "databases[1]"),
    ],
)
def test_validate_options_names_the_bad_value(over, name):
    assert name in validate_options(_params(**over))


def test_validate_options_accepts_defaults():
    assert validate_options(_params()) is None


def test_argument_spec_matches_documentation():
    doc = yaml.safe_load(pg_maintenance.DOCUMENTATION)["options"]
    spec = pg_maintenance.ARGUMENT_SPEC
    own = {k: v for k, v in spec.items() if k in doc}
    assert set(doc) == set(own)
    for name, entry in doc.items():
        assert entry["type"] == spec[name]["type"], name
        assert entry.get("default") == spec[name].get("default"), name
    # The connection options come from the shared spec (doc fragment pg_connection).
    assert spec["login_password"]["no_log"] is True and spec["login_port"]["aliases"] == ["port"]

# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of opsbook.stack.pg_maintenance: bloat estimate, selection, results.

Private to the collection. Nothing here talks to a database, so the unit tests
exercise it without PostgreSQL; the module does the I/O.

Index bloat estimate (btree, from pgstattuple's ``pgstatindex``)::

    bloat_pct        = max(0, 100 - avg_leaf_density / fillfactor * 100)
    reclaimable      = index_size * bloat_pct / 100

``fillfactor`` is the index's own (``WITH (fillfactor = N)``), else the btree
default 90: a freshly built btree index packs its leaf pages to the fillfactor,
so a density at the fillfactor is 0 % bloat and half of it is 50 %.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ansible_collections.opsbook.stack.plugins.module_utils._checks import (
    ABOVE,
    CRIT,
    OK,
    WARN,
    CheckResult,
    Threshold,
    evaluate,
    result,
    unknown,
)
from ansible_collections.opsbook.stack.plugins.module_utils._sizes import human_bytes

BTREE_DEFAULT_FILLFACTOR = 90
FAMILY = "pg_maintenance"


def check_id(kind: str, database: str) -> str:
    """``pg_maintenance.<kind>:<database>``."""
    return f"{FAMILY}.{kind}:{database}"


def bloat_pct(avg_leaf_density: Any, fillfactor: Any = BTREE_DEFAULT_FILLFACTOR) -> float | None:
    """Estimated bloat % of a btree index (None when it cannot be estimated).

    ``avg_leaf_density`` is pgstatindex's percentage (NaN for an index without
    leaf pages); ``fillfactor`` the index's fillfactor (None/0 -> 90).
    """
    if avg_leaf_density is None or isinstance(avg_leaf_density, bool):
        return None
    try:
        density = float(avg_leaf_density)
    except (TypeError, ValueError):
        return None
    if math.isnan(density) or math.isinf(density) or density < 0:
        return None
    try:
        fill = float(fillfactor) if fillfactor else float(BTREE_DEFAULT_FILLFACTOR)
    except (TypeError, ValueError):
        fill = float(BTREE_DEFAULT_FILLFACTOR)
    if fill <= 0:
        fill = float(BTREE_DEFAULT_FILLFACTOR)
    return round(max(0.0, 100.0 - density / fill * 100.0), 1)


def reclaimable_bytes(size: int, pct: float | None) -> int:
    """Bytes a rebuild would give back, estimated from the bloat %."""
    if not pct or size <= 0:
        return 0
    return int(size * pct / 100.0)


def analyze_reason(row: Mapping[str, Any], max_age_days: float, changed_pct: float) -> str | None:
    """Why a table needs ANALYZE, or None.

    ``row``: ``analyze_age_s`` (seconds since the last manual or automatic
    analyze, None = never), ``live_rows`` (n_live_tup), ``changed_rows``
    (n_mod_since_analyze).
    """
    age = row.get("analyze_age_s")
    live = int(row.get("live_rows") or 0)
    changed = int(row.get("changed_rows") or 0)
    if age is None:
        return "never analysed"
    if float(age) > max_age_days * 86400:
        return f"last analysed {float(age) / 86400:.1f} days ago (more than {max_age_days:g})"
    if changed > 0 and changed > live * changed_pct / 100.0:
        share = f"{100.0 * changed / live:.0f}% of {live} live rows" if live else "no live rows left"
        return f"{changed} rows changed since the last analyse ({share}; more than {changed_pct:g}%)"
    return None


def select_for_reindex(
    indexes: Iterable[Mapping[str, Any]], threshold_pct: float, max_reindex: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Indexes at or above the threshold, biggest estimated gain first.

    Returns ``(selected, deferred)``: at most ``max_reindex`` selected, the rest
    over the threshold deferred to a later run. Indexes whose bloat could not be
    measured are never selected.
    """
    over = [dict(i) for i in indexes if i.get("bloat_pct") is not None and float(i["bloat_pct"]) >= threshold_pct]
    over.sort(key=lambda i: (-int(i.get("reclaimable_bytes") or 0), -float(i["bloat_pct"]), str(i.get("database")), str(i.get("index"))))
    limit = max(0, int(max_reindex))
    return over[:limit], over[limit:]


def _names(items: Sequence[Mapping[str, Any]], limit: int = 5) -> str:
    shown = [f"{i.get('schema', 'public')}.{i.get('index') or i.get('table')}" for i in items[:limit]]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(shown) + more


def analyze_result(
    database: str,
    apply: bool,
    candidates: Sequence[Mapping[str, Any]],
    analyzed: Sequence[Mapping[str, Any]] = (),
    failures: Sequence[Mapping[str, Any]] = (),
    seconds: float = 0.0,
    mode_note: str = "",
) -> CheckResult:
    """``pg_maintenance.analyze:<db>``: value = tables analysed (apply) or to analyse (report)."""
    cid = check_id("analyze", database)
    details: dict[str, Any] = {"database": database, "candidates": [dict(c) for c in candidates]}
    if not apply:
        if not candidates:
            return result(cid, OK, f"no table in {database} needs ANALYZE{mode_note}", value=0, unit="tables", details=details)
        return result(
            cid,
            OK,
            f"would analyse {len(candidates)} table(s) in {database}: {_names(candidates)}{mode_note}",
            value=len(candidates),
            unit="tables",
            details=details,
        )
    details.update(analyzed=[dict(a) for a in analyzed], failures=[dict(f) for f in failures], seconds=round(seconds, 3))
    if not candidates:
        return result(cid, OK, f"no table in {database} needs ANALYZE", value=0, unit="tables", details=details)
    message = f"analysed {len(analyzed)} table(s) in {database} in {seconds:.1f} s"
    if failures:
        message += f"; {len(failures)} failed: " + "; ".join(f"{f.get('schema')}.{f.get('table')}: {f.get('error')}" for f in failures[:3])
        return result(cid, WARN, message, value=len(analyzed), unit="tables", details=details)
    return result(cid, OK, message, value=len(analyzed), unit="tables", details=details)


def bloat_result(
    database: str,
    measured: Sequence[Mapping[str, Any]],
    threshold_pct: float,
    errors: Sequence[Mapping[str, Any]] = (),
    invalid: Sequence[Mapping[str, Any]] = (),
    min_index_size: int = 0,
    after_reindex: bool = False,
) -> CheckResult:
    """``pg_maintenance.bloat:<db>``: value = worst btree index bloat %.

    ``measured`` carries ``bloat_pct`` (after any reindex of this run when
    ``after_reindex``); warn at ``threshold_pct`` and above.
    """
    cid = check_id("bloat", database)
    threshold = Threshold(threshold_pct, None, ABOVE)
    judged = [m for m in measured if m.get("bloat_pct") is not None]
    details: dict[str, Any] = {
        "database": database,
        "min_index_size": min_index_size,
        "indexes": [dict(m) for m in sorted(judged, key=lambda m: -float(m["bloat_pct"]))],
        "errors": [dict(e) for e in errors],
        "invalid_indexes": [dict(i) for i in invalid],
        "formula": "max(0, 100 - avg_leaf_density / fillfactor(90) * 100)",
    }
    suffix = ""
    if errors:
        suffix += f"; {len(errors)} index(es) not measured: " + "; ".join(f"{e.get('index')}: {e.get('error')}" for e in errors[:3])
    if invalid:
        suffix += f"; {len(invalid)} invalid index(es) skipped (rebuild or drop them): {_names(invalid)}"
    if not judged:
        if errors:
            return unknown(cid, f"index bloat in {database} could not be measured{suffix}", details=details)
        return result(
            cid,
            OK,
            f"no btree index of {human_bytes(min_index_size)} or more in {database}{suffix}",
            value=0.0,
            unit="%",
            threshold=threshold,
            details=details,
        )
    worst_index = max(judged, key=lambda m: float(m["bloat_pct"]))
    over = [m for m in judged if float(m["bloat_pct"]) >= threshold_pct]
    gain = sum(int(m.get("reclaimable_bytes") or 0) for m in over)
    details.update(worst=dict(worst_index), over_threshold=len(over), reclaimable_bytes=gain)
    label = (
        f"worst btree index bloat in {database}{' after maintenance' if after_reindex else ''} "
        f"({worst_index.get('schema')}.{worst_index.get('index')}, {len(judged)} index(es) measured)"
    )
    res = evaluate(cid, float(worst_index["bloat_pct"]), threshold, unit="%", label=label, details=details)
    if over:
        res.message += f"; {len(over)} at or above the threshold, about {human_bytes(gain)} reclaimable"
    res.message += suffix
    return res


def reindex_result(
    database: str,
    apply: bool,
    selected: Sequence[Mapping[str, Any]],
    deferred: Sequence[Mapping[str, Any]] = (),
    done: Sequence[Mapping[str, Any]] = (),
    failures: Sequence[Mapping[str, Any]] = (),
    threshold_pct: float = 30.0,
    mode_note: str = "",
) -> CheckResult:
    """``pg_maintenance.reindex:<db>``: value = bytes reclaimed by this run.

    Report only: ok, value 0, lists what would be rebuilt. Apply: ok, warn when
    a rebuild failed (its leftover was dropped, the old index still serves),
    crit when a failed rebuild left an invalid ``_ccnew`` index that could not
    be dropped.
    """
    cid = check_id("reindex", database)
    details: dict[str, Any] = {
        "database": database,
        "threshold_pct": threshold_pct,
        "deferred": [dict(d) for d in deferred],
    }
    deferred_note = f"; {len(deferred)} more over the threshold left for a later run (max_reindex)" if deferred else ""
    if not apply:
        gain = sum(int(s.get("reclaimable_bytes") or 0) for s in selected)
        details.update(would_reindex=[dict(s) for s in selected], estimated_reclaimable_bytes=gain)
        if not selected:
            return result(cid, OK, f"no index in {database} at or above {threshold_pct:g}% bloat{deferred_note}{mode_note}",
                          value=0, unit="bytes", details=details)
        return result(
            cid,
            OK,
            f"would REINDEX CONCURRENTLY {len(selected)} index(es) in {database} "
            f"(about {human_bytes(gain)} reclaimable): {_names(selected)}{deferred_note}{mode_note}",
            value=0,
            unit="bytes",
            details=details,
        )
    reclaimed = sum(int(d.get("reclaimed_bytes") or 0) for d in done)
    details.update(indexes=[dict(d) for d in done], failures=[dict(f) for f in failures], reclaimed_bytes=reclaimed)
    if not selected:
        return result(cid, OK, f"no index in {database} at or above {threshold_pct:g}% bloat; nothing reindexed{deferred_note}",
                      value=0, unit="bytes", details=details)
    message = f"reindexed {len(done)} index(es) concurrently in {database}, reclaimed {human_bytes(reclaimed)}"
    if done:
        message += ": " + ", ".join(
            f"{d.get('index')} {human_bytes(d.get('size_before') or 0)} -> {human_bytes(d.get('size_after') or 0)}" for d in done[:5]
        )
    status = OK
    if failures:
        stuck = [f for f in failures if f.get("leftover_not_dropped")]
        status = CRIT if stuck else WARN
        message += f"; {len(failures)} failed: " + "; ".join(
            f"{f.get('index')}: {f.get('error')}" + (f" (its leftover {', '.join(f['leftover_dropped'])} dropped)" if f.get("leftover_dropped") else "")
            for f in failures[:3]
        )
        if stuck:
            message += "; invalid leftover index(es) still present, drop them: " + "; ".join(
                f"DROP INDEX CONCURRENTLY {name}" for f in stuck for name in f["leftover_not_dropped"]
            )
    return result(cid, status, message + deferred_note, value=reclaimed, unit="bytes", details=details)


def validate_options(params: Mapping[str, Any]) -> str | None:
    """A message naming the first bad option value, or None."""
    pct = params.get("bloat_threshold_pct")
    if pct is None or not 0 <= float(pct) <= 100:
        return f"bloat_threshold_pct must be between 0 and 100, got {pct}"
    for name in ("min_index_size", "max_reindex", "statement_timeout", "lock_timeout", "analyze_age_days"):
        value = params.get(name)
        if value is None or float(value) < 0:
            return f"{name} must be 0 or more, got {value}"
    changed = params.get("analyze_changed_pct")
    if changed is None or not 0 <= float(changed) <= 100:
        return f"analyze_changed_pct must be between 0 and 100, got {changed}"
    for index, name in enumerate(params.get("databases") or []):
        if not str(name or "").strip():
            return f"databases[{index}] is empty; give database names"
    return None

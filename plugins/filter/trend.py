# -*- coding: utf-8 -*-
# Copyright (c) opsbook.stack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""trend_history / trend_baseline: keep check values over time on the control node (pure, no I/O)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.opsbook.stack.plugins.filter.checks import check_results
from ansible_collections.opsbook.stack.plugins.module_utils._checks import is_number
from ansible_collections.opsbook.stack.plugins.module_utils._timestamps import format_utc, parse_utc

HISTORY_VERSION = 1


def _now(now: Any) -> datetime.datetime:
    if now is None or now == "":
        return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    try:
        return parse_utc(now, "now").replace(microsecond=0)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from None


def _days(value: Any, name: str) -> float:
    if isinstance(value, bool) or not is_number(value) or value < 0:
        raise AnsibleFilterError(f"{name} must be a number of days (0 or more), got {value!r}")
    return float(value)


def _series(history: Any, who: str) -> dict[str, list[tuple[datetime.datetime, float]]]:
    """Validated series of a history document: {check id: [(at, value), ...]} sorted by time."""
    if history is None or history == {} or history == "":
        return {}
    if not isinstance(history, Mapping):
        raise AnsibleFilterError(f"{who}: the history must be a mapping {{version, series}}, got {type(history).__name__}")
    version = history.get("version", HISTORY_VERSION)
    if version != HISTORY_VERSION:
        raise AnsibleFilterError(f"{who}: unsupported history version {version!r} (this collection writes version {HISTORY_VERSION})")
    raw = history.get("series")
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise AnsibleFilterError(f"{who}: history.series must be a mapping of check id to a list of points, got {type(raw).__name__}")
    out: dict[str, list[tuple[datetime.datetime, float]]] = {}
    for check, points in raw.items():
        if not isinstance(points, list):
            raise AnsibleFilterError(f"{who}: history.series[{check!r}] must be a list of {{at, value}} points")
        parsed: list[tuple[datetime.datetime, float]] = []
        for index, point in enumerate(points):
            where = f"history.series[{check!r}][{index}]"
            if not isinstance(point, Mapping) or not is_number(point.get("value")):
                raise AnsibleFilterError(f"{who}: {where} must be a mapping with a numeric value, got {point!r}")
            try:
                at = parse_utc(point.get("at"), f"{where}.at")
            except ValueError as exc:
                raise AnsibleFilterError(f"{who}: {exc}") from None
            parsed.append((at, point["value"]))
        out[str(check)] = sorted(parsed, key=lambda item: item[0])
    return out


def _results(results: Any) -> list[Mapping[str, Any]]:
    """Check results from a list of results, registered module results, or a mix."""
    if results is None:
        return []
    if isinstance(results, Mapping):
        results = [results]
    if not isinstance(results, Iterable) or isinstance(results, (str, bytes)):
        raise AnsibleFilterError(f"trend_history: results must be a list of check results or registered results, got {type(results).__name__}")
    found: list[Mapping[str, Any]] = []
    for item in results:
        if isinstance(item, Mapping) and "check" in item and "status" in item:
            found.append(item)
        else:
            found.extend(check_results([item]))
    return found


def trend_history(history: Any, results: Any, now: Any = None, keep_days: Any = 400) -> dict[str, Any]:
    """Append one point per numeric result at ``now``; drop points older than ``keep_days``.

    Returns a new history ``{"version": 1, "series": {check id: [{"at", "value"}, ...]}}``.
    A point at the very same time as an existing one replaces it (a re-run).
    """
    stamp = _now(now)
    keep = _days(keep_days, "trend_history: keep_days")
    series = _series(history, "trend_history")
    for item in _results(results):
        value = item.get("value")
        if not is_number(value):
            continue
        points = [point for point in series.get(str(item["check"]), []) if point[0] != stamp]
        points.append((stamp, value))
        series[str(item["check"])] = points
    oldest = stamp - datetime.timedelta(days=keep)
    out: dict[str, list[dict[str, Any]]] = {}
    for check in sorted(series):
        kept = sorted((point for point in series[check] if point[0] >= oldest), key=lambda point: point[0])
        if kept:
            out[check] = [{"at": format_utc(at), "value": value} for at, value in kept]
    return {"version": HISTORY_VERSION, "series": out}


def trend_baseline(history: Any, min_age_days: Any = 20, now: Any = None) -> dict[str, dict[str, Any]]:
    """Per series the newest point at least ``min_age_days`` old, else the oldest point.

    The result is the ``baseline`` option of opsbook.stack.pg_check: {check id: {"value", "at"}}.
    """
    stamp = _now(now)
    age = _days(min_age_days, "trend_baseline: min_age_days")
    limit = stamp - datetime.timedelta(days=age)
    out: dict[str, dict[str, Any]] = {}
    for check, points in _series(history, "trend_baseline").items():
        if not points:
            continue
        old_enough = [point for point in points if point[0] <= limit]
        at, value = old_enough[-1] if old_enough else points[0]
        out[check] = {"value": value, "at": format_utc(at)}
    return out


class FilterModule:
    """opsbook.stack trend filters."""

    def filters(self) -> dict[str, Any]:
        return {"trend_history": trend_history, "trend_baseline": trend_baseline}

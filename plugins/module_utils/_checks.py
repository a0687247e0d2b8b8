# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The result contract shared by every opsbook.stack check.

Private to the collection (hence the leading underscore): modules import it as
``ansible_collections.opsbook.stack.plugins.module_utils._checks``.

Every check produces one :class:`CheckResult`::

    check    stable id, "<family>.<name>" or "<family>.<name>:<instance>"
    status   ok | warn | crit | unknown
    value    what was observed (number, string, bool or None)
    warn     warning threshold (or None)
    crit     critical threshold (or None)
    unit     unit of value and thresholds ("%", "s", "ms", "bytes", "days", "")
    message  one human sentence
    details  structured extras (dict)

A check that cannot measure says ``unknown`` with the reason, never ``ok``.
Thresholds have a direction: ``above`` (bad when the value reaches the
threshold from below, e.g. CPU %) or ``below`` (bad when the value falls to
the threshold, e.g. days until a certificate expires).
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.opsbook.stack.plugins.module_utils._timestamps import format_utc

OK = "ok"
WARN = "warn"
CRIT = "crit"
UNKNOWN = "unknown"
STATUSES: tuple[str, ...] = (OK, WARN, CRIT, UNKNOWN)

# How bad a status is, for "worst first" ordering. Not being able to look
# (unknown) is worse than a warning but better than a confirmed failure.
RANK: dict[str, int] = {OK: 0, WARN: 1, UNKNOWN: 2, CRIT: 3}
# Monitoring-plugin exit codes (Nagios convention), used in Prometheus output.
CODE: dict[str, int] = {OK: 0, WARN: 1, CRIT: 2, UNKNOWN: 3}

ABOVE = "above"
BELOW = "below"
DIRECTIONS: tuple[str, ...] = (ABOVE, BELOW)

CHECK_ID_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9_]+(:.+)?$")

# Every module of the collection that returns results in this contract, with the
# family of its check ids. The report callback and the check_results filter turn
# a failure of one of these (bad options, a refused request, a missing library)
# into an `unknown` result `<family>.module`, so it shows in the report and the gate.
CHECK_MODULES: dict[str, str] = {
    "host_check": "host",
    "pg_check": "pg",
    "redis_check": "redis",
    "http_check": "http",
    "log_check": "log",
    "tls_check": "tls",
    "backup_check": "backup",
    "security_check": "security",
    "restore_test": "restore",
    "pg_maintenance": "pg_maintenance",
    "dr_evaluate": "dr",
}


def module_family(action: str) -> str | None:
    """Family of a contract module's check ids (``opsbook.stack.restore_test`` -> ``restore``).

    Modules of the collection come from CHECK_MODULES; any other module named ``*_check`` (a site's own check module)
    gets its name without the suffix. None for every other module.
    """
    short = (action or "").rsplit(".", 1)[-1]
    if short in CHECK_MODULES:
        return CHECK_MODULES[short]
    if short.endswith("_check"):
        return short[: -len("_check")]
    return None


class ThresholdError(ValueError):
    """Thresholds that make no sense (bad type, unknown key, warn beyond crit)."""


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ThresholdError(f"{what} must be a number, got boolean {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ThresholdError(f"{what} must be a number, got {value!r}") from None
    else:
        raise ThresholdError(f"{what} must be a number, got {type(value).__name__} {value!r}")
    if math.isnan(number) or math.isinf(number):
        raise ThresholdError(f"{what} must be a finite number, got {value!r}")
    return number


@dataclass(frozen=True)
class Threshold:
    """Warn and crit levels with a direction; either level may be None."""

    warn: float | None = None
    crit: float | None = None
    direction: str = ABOVE

    def validated(self, name: str) -> Threshold:
        """Return self, or raise ThresholdError naming ``name`` and the bad value."""
        if self.direction not in DIRECTIONS:
            raise ThresholdError(
                f"threshold {name!r}: direction must be one of {', '.join(DIRECTIONS)}, got {self.direction!r}"
            )
        if self.warn is not None and self.crit is not None:
            if self.direction == ABOVE and self.warn > self.crit:
                raise ThresholdError(
                    f"threshold {name!r}: warn {_fmt(self.warn)} is beyond crit {_fmt(self.crit)} "
                    f"(direction above: warn must be <= crit)"
                )
            if self.direction == BELOW and self.warn < self.crit:
                raise ThresholdError(
                    f"threshold {name!r}: warn {_fmt(self.warn)} is beyond crit {_fmt(self.crit)} "
                    f"(direction below: warn must be >= crit)"
                )
        return self

    def status_of(self, value: float) -> str:
        """ok / warn / crit for a numeric value (reaching a level counts)."""
        if self.direction == ABOVE:
            if self.crit is not None and value >= self.crit:
                return CRIT
            if self.warn is not None and value >= self.warn:
                return WARN
            return OK
        if self.crit is not None and value <= self.crit:
            return CRIT
        if self.warn is not None and value <= self.warn:
            return WARN
        return OK

    @classmethod
    def from_spec(cls, spec: Any, name: str, default: Threshold | None = None) -> Threshold:
        """Build from a user mapping ``{warn, crit, direction}`` over ``default``.

        Keys left out keep the default; an explicit ``null`` switches a level off.
        """
        base = default or cls()
        if spec is None:
            return base.validated(name)
        if not isinstance(spec, Mapping):
            raise ThresholdError(
                f"threshold {name!r} must be a mapping with warn/crit/direction, got {type(spec).__name__} {spec!r}"
            )
        unknown_keys = sorted(set(spec) - {"warn", "crit", "direction"})
        if unknown_keys:
            raise ThresholdError(
                f"threshold {name!r}: unknown key(s) {', '.join(map(str, unknown_keys))}; use warn, crit, direction"
            )
        warn = _number(spec["warn"], f"threshold {name!r} warn") if "warn" in spec else base.warn
        crit = _number(spec["crit"], f"threshold {name!r} crit") if "crit" in spec else base.crit
        direction = str(spec.get("direction", base.direction))
        return cls(warn=warn, crit=crit, direction=direction).validated(name)


def merge_thresholds(defaults: Mapping[str, Threshold], overrides: Mapping[str, Any] | None) -> dict[str, Threshold]:
    """Apply user overrides to a module's default thresholds.

    Raises ThresholdError for unknown names or bad values, naming them.
    """
    merged = {name: threshold.validated(name) for name, threshold in defaults.items()}
    for name, spec in (overrides or {}).items():
        if name not in merged:
            raise ThresholdError(
                f"unknown threshold {name!r}; known thresholds: {', '.join(sorted(merged))}"
            )
        merged[name] = Threshold.from_spec(spec, name, merged[name])
    return merged


@dataclass
class CheckResult:
    """One check's outcome, the unit of every report."""

    check: str
    status: str
    value: Any = None
    warn: float | None = None
    crit: float | None = None
    unit: str = ""
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if not CHECK_ID_RE.match(self.check):
            raise ValueError(f"check id {self.check!r} must look like 'family.name' or 'family.name:instance'")

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status,
            "value": self.value,
            "warn": self.warn,
            "crit": self.crit,
            "unit": self.unit,
            "message": self.message,
            "details": dict(self.details),
        }


def _fmt(number: Any, unit: str = "") -> str:
    if isinstance(number, float):
        text = f"{number:.0f}" if number.is_integer() else f"{number:.2f}".rstrip("0").rstrip(".")
    else:
        text = str(number)
    if not unit:
        return text
    return f"{text} {unit}" if unit not in ("%",) else f"{text}{unit}"


def evaluate(
    check: str,
    value: Any,
    threshold: Threshold,
    *,
    unit: str = "",
    label: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> CheckResult:
    """Compare a measured number with a threshold and phrase the result.

    A value that is None, not a number, NaN or infinite gives ``unknown``.
    """
    label = label or check
    extra = dict(details or {})
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return CheckResult(
            check, UNKNOWN, value, threshold.warn, threshold.crit, unit,
            f"{label}: no numeric value to compare (got {value!r})", extra,
        )
    if math.isnan(value) or math.isinf(value):
        return CheckResult(
            check, UNKNOWN, None, threshold.warn, threshold.crit, unit,
            f"{label}: measured value is not finite ({value!r})", extra,
        )
    status = threshold.status_of(float(value))
    levels = []
    if threshold.warn is not None:
        levels.append(f"warn {'>=' if threshold.direction == ABOVE else '<='} {_fmt(threshold.warn, unit)}")
    if threshold.crit is not None:
        levels.append(f"crit {'>=' if threshold.direction == ABOVE else '<='} {_fmt(threshold.crit, unit)}")
    limits = f" ({', '.join(levels)})" if levels else ""
    message = f"{label} is {_fmt(value, unit)}{limits}"
    return CheckResult(check, status, value, threshold.warn, threshold.crit, unit, message, extra)


def result(
    check: str,
    status: str,
    message: str,
    *,
    value: Any = None,
    unit: str = "",
    threshold: Threshold | None = None,
    details: Mapping[str, Any] | None = None,
) -> CheckResult:
    """A result decided by the caller (equality assertions, states, errors)."""
    return CheckResult(
        check,
        status,
        value,
        threshold.warn if threshold else None,
        threshold.crit if threshold else None,
        unit,
        message,
        dict(details or {}),
    )


def unknown(check: str, reason: str, *, details: Mapping[str, Any] | None = None) -> CheckResult:
    """The check could not measure; ``reason`` says why (and how to fix it)."""
    return CheckResult(check, UNKNOWN, None, None, None, "", reason, dict(details or {}))


def worst(statuses: Iterable[str]) -> str:
    """The worst status of a set (``ok`` for an empty set)."""
    found = OK
    for status in statuses:
        if RANK.get(status, RANK[UNKNOWN]) > RANK[found]:
            found = status if status in RANK else UNKNOWN
    return found


def summarize(results: Iterable[CheckResult | Mapping[str, Any]]) -> dict[str, Any]:
    """Counts per status plus the worst one: ``{ok, warn, crit, unknown, total, worst}``."""
    counts = {status: 0 for status in STATUSES}
    for item in results:
        status = item.status if isinstance(item, CheckResult) else str(item.get("status", UNKNOWN))
        counts[status if status in counts else UNKNOWN] += 1
    summary: dict[str, Any] = dict(counts)
    summary["total"] = sum(counts.values())
    summary["worst"] = worst(status for status, count in counts.items() if count)
    return summary


def select(requested: Iterable[str] | None, known: Iterable[str]) -> list[str]:
    """Validate a ``checks`` option: unknown names raise ValueError naming them."""
    known_list = list(known)
    if requested is None:
        return known_list
    wanted = list(requested)
    bad = [name for name in wanted if name not in known_list]
    if bad:
        raise ValueError(
            f"unknown check name(s) {', '.join(map(repr, bad))}; known checks: {', '.join(known_list)}"
        )
    return [name for name in known_list if name in wanted]


def module_output(results: Iterable[CheckResult]) -> dict[str, Any]:
    """The common part of every check module's return value."""
    items = [item.as_dict() for item in results]
    return {"checks": items, "summary": summarize(items)}


# Shared option spec for modules that accept threshold overrides.
THRESHOLDS_SPEC: dict[str, Any] = {"type": "dict", "default": {}}


# -- trends: a value against an earlier reading of the same check


def is_number(value: Any) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def trend_of(value: float, previous: float, previous_at: datetime.datetime, now: datetime.datetime) -> dict[str, Any]:
    """How ``value`` compares with an earlier reading: previous, previous_at, change, change_pct, days.

    ``change_pct`` is None when the previous value is 0 (no meaningful percentage).
    """
    change = value - previous
    return {
        "previous": previous,
        "previous_at": format_utc(previous_at),
        "change": round(change, 6) if isinstance(change, float) else change,
        "change_pct": None if previous == 0 else round(100.0 * change / abs(previous), 2),
        "days": round((now - previous_at).total_seconds() / 86400, 1),
    }


def trend_text(trend: Mapping[str, Any], unit: str = "") -> str:
    """``(+12.3 % since 2026-10-26)`` for a message."""
    since = str(trend["previous_at"])[:10]
    if trend.get("change_pct") is not None:
        return f"({trend['change_pct']:+.1f} % since {since})"
    change = trend["change"]
    shown = f"{change:+.2f}".rstrip("0").rstrip(".") if isinstance(change, float) else f"{change:+d}"
    return f"({shown}{' ' + unit if unit else ''} since {since})"

# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the opsbook.stack.http_check module (private to the collection).

Pure functions, no Ansible imports, so the unit tests can exercise them directly:
dot-path lookup in a decoded JSON body and the evaluation of one JSON assertion
into a :class:`CheckResult` (timestamps are read by ``_timestamps.parse_utc``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ansible_collections.opsbook.stack.plugins.module_utils._checks import (
    ABOVE,
    CRIT,
    OK,
    CheckResult,
    Threshold,
    evaluate,
    result,
    unknown,
)
from ansible_collections.opsbook.stack.plugins.module_utils._timestamps import format_utc, parse_utc, utc_now

# Assertion kinds, in the order they are looked for.
KINDS: tuple[str, ...] = ("equals", "not_equals", "max_age_hours", "numeric")

_MISSING = object()


def lookup(document: Any, path: str) -> Any:
    """Value at a dot path (``scheduler.running``, ``jobs.0.name``); ``_MISSING`` if absent.

    A segment that is an integer indexes a list (negative counts from the end).
    """
    current = document
    for segment in path.split("."):
        if isinstance(current, Mapping):
            if segment not in current:
                return _MISSING
            current = current[segment]
        elif isinstance(current, list):
            try:
                current = current[int(segment)]
            except (ValueError, IndexError):
                return _MISSING
        else:
            return _MISSING
    return current


def is_missing(value: Any) -> bool:
    return value is _MISSING


def show(value: Any, limit: int = 80) -> str:
    """A value as JSON text, trimmed for messages."""
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def same_value(actual: Any, expected: Any) -> bool:
    """JSON-aware equality.

    Booleans only equal booleans (``true`` is not ``1``), numbers compare by value
    (``200`` equals ``200.0``), and a string expectation also matches a number,
    boolean or null whose JSON text is that string (``"true"`` matches ``true``), so
    values that went through templating as strings still compare as meant.
    """
    if isinstance(expected, str) and not isinstance(actual, str):
        try:
            parsed = json.loads(expected)
        except ValueError:
            return False
        return not isinstance(parsed, str) and same_value(actual, parsed)
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual is expected
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
        return float(actual) == float(expected)
    return bool(actual == expected)


def assertion_kind(spec: Mapping[str, Any]) -> str:
    """Which comparison an assertion asks for; ValueError unless exactly one is given."""
    given = [kind for kind in ("equals", "not_equals", "max_age_hours") if spec.get(kind) is not None]
    if spec.get("warn") is not None or spec.get("crit") is not None:
        given.append("numeric")
    if len(given) != 1:
        found = ", ".join(given) if given else "none"
        raise ValueError(
            f"needs exactly one of equals, not_equals, max_age_hours or warn/crit (found: {found})"
        )
    return given[0]


def assertion_id(target: str, spec: Mapping[str, Any]) -> str:
    return f"http.json:{target}.{spec.get('name') or spec['path']}"


def _as_number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


def human_age(hours: float) -> str:
    """An age for messages: seconds, minutes or hours."""
    seconds = hours * 3600.0
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if hours < 72:
        return f"{hours:.1f} h".replace(".0 h", " h")
    return f"{hours / 24:.1f} days"


def _age_hours(value: Any, now: datetime) -> tuple[float, datetime]:
    """Age of a timestamp field in hours; ValueError when it is no timestamp."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a timestamp")
    if isinstance(value, (int, float)):
        stamp = parse_utc(float(value), epoch=True)
    elif isinstance(value, str):
        try:
            stamp = parse_utc(value)
        except ValueError:
            raise ValueError(f"{show(value)} is not an ISO-8601 timestamp") from None
    else:
        raise ValueError(f"{show(value)} is not a timestamp")
    return (now - stamp).total_seconds() / 3600.0, stamp


def evaluate_assertion(
    target: str,
    spec: Mapping[str, Any],
    document: Any,
    now: datetime | None = None,
) -> CheckResult:
    """Evaluate one JSON assertion against a decoded body."""
    check_id = assertion_id(target, spec)
    path = spec["path"]
    kind = assertion_kind(spec)
    severity = spec.get("severity") or CRIT
    label = f"{path} of {target}"
    value = lookup(document, path)
    details: dict[str, Any] = {"path": path, "assertion": kind}
    if is_missing(value):
        return result(check_id, severity, f"field {path} missing from body of {target}", details=details)

    if kind == "equals":
        expected = spec["equals"]
        details["expected"] = expected
        good = same_value(value, expected)
        message = (
            f"{label} is {show(value)}" if good else f"{label} is {show(value)}, expected {show(expected)}"
        )
        return result(check_id, OK if good else severity, message, value=value, details=details)

    if kind == "not_equals":
        forbidden = spec["not_equals"]
        details["not_expected"] = forbidden
        bad = same_value(value, forbidden)
        message = (
            f"{label} is {show(value)}, must not be {show(forbidden)}"
            if bad
            else f"{label} is {show(value)} (not {show(forbidden)})"
        )
        return result(check_id, severity if bad else OK, message, value=value, details=details)

    if kind == "max_age_hours":
        max_age = float(spec["max_age_hours"])
        details["max_age_hours"] = max_age
        details["timestamp"] = value
        if value is None:
            return result(
                check_id, severity, f"{label} is null, no timestamp to be newer than {max_age:g} h", details=details
            )
        moment = now or utc_now()
        try:
            age, stamp = _age_hours(value, moment)
        except (ValueError, OverflowError, OSError) as exc:
            return unknown(check_id, f"{label}: {exc}", details=details)
        details["parsed"] = format_utc(stamp)
        status = severity if age > max_age else OK
        if age < 0:
            text = f"{label} is {human_age(-age)} in the future (max age {max_age:g} h)"
        else:
            text = f"{label} is {human_age(age)} old (max {max_age:g} h)"
        return result(check_id, status, text, value=round(age, 3), unit="h", details=details)

    # numeric
    threshold = Threshold.from_spec(
        {key: spec[key] for key in ("warn", "crit") if spec.get(key) is not None},
        f"{check_id}",
        Threshold(direction=spec.get("direction") or ABOVE),
    )
    return evaluate(check_id, _as_number(value), threshold, unit=spec.get("unit") or "", label=label, details=details)

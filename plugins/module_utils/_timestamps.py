# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ISO-8601 timestamps for opsbook.stack: one parser and one format, always UTC.

Private to the collection. Standard library only and importing nothing else
from the collection: the backup role also installs this file next to the
on-host tool opsbook-backup (``/usr/local/lib/opsbook``), which imports it as
a top-level module.

The parser does not rely on ``datetime.fromisoformat``, which only reads
``Z``, basic formats and fractions of any length from Python 3.11 on, while
modules also run on older interpreters of managed hosts.
"""

from __future__ import annotations

import datetime
import re
from typing import Any, overload

UTC = datetime.timezone.utc

# Extended format (2026-11-26T07:15:00Z, 2026-11-26 09:15:00.5+02:00, 2026-11-26T07:15, 2026-11-26).
_EXTENDED_RE = re.compile(
    r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?)?"
    r"\s*(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?$"
)
# Basic format with seconds, as in backup ids and report folders (20261126T071500Z).
_BASIC_RE = re.compile(
    r"^(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})[Tt](?P<hour>\d{2})(?P<minute>\d{2})(?P<second>\d{2})"
    r"(?:[.,](?P<fraction>\d+))?(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?$"
)

EXAMPLE = "2026-10-26T06:00:00Z"


def utc_now() -> datetime.datetime:
    """The current time, aware, in UTC."""
    return datetime.datetime.now(UTC)


def _offset(text: str | None) -> datetime.tzinfo | None:
    if not text:
        return None
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"invalid UTC offset {text!r}")
    return datetime.timezone(sign * datetime.timedelta(hours=hours, minutes=minutes))


def parse_iso8601(text: str, what: str = "timestamp") -> datetime.datetime:
    """An ISO-8601 date and time as written: aware when it carries ``Z`` or an offset, naive when not.

    Reads the extended format (``T`` or a space between date and time, optional
    seconds and fraction of any length, a date alone is midnight) and the basic
    format with seconds (``20261126T071500Z``). Raises ValueError naming ``what``.
    """
    stripped = text.strip() if isinstance(text, str) else ""
    match = _EXTENDED_RE.match(stripped) or _BASIC_RE.match(stripped)
    if not match:
        raise ValueError(f"{what} must be an ISO-8601 date and time such as {EXAMPLE}, got {text!r}")
    parts = match.groupdict()
    try:
        return datetime.datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            int((parts["fraction"] or "0")[:6].ljust(6, "0")),
            tzinfo=_offset(parts["tz"]),
        )
    except ValueError as exc:
        raise ValueError(f"{what} {text!r} is not a valid ISO-8601 date and time: {exc}") from None


def parse_utc(value: Any, what: str = "timestamp", *, epoch: bool = False) -> datetime.datetime:
    """An ISO-8601 string or a datetime (``epoch``: also seconds since 1970) as an aware UTC datetime.

    A timestamp without an offset is taken as UTC. Raises ValueError naming ``what``.
    """
    if isinstance(value, datetime.datetime):
        moment = value
    elif epoch and isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, UTC)
    else:
        moment = parse_iso8601(value, what)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@overload
def format_utc(moment: datetime.datetime) -> str: ...


@overload
def format_utc(moment: None) -> None: ...


def format_utc(moment: datetime.datetime | None) -> str | None:
    """``2026-11-26T07:15:00Z``: whole seconds in UTC (a naive datetime is taken as UTC; None stays None)."""
    if moment is None:
        return None
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_compact(moment: datetime.datetime) -> str:
    """``20261126T071500Z``: the basic format, for ids and file names (a naive datetime is taken as UTC)."""
    return _utc(moment).strftime("%Y%m%dT%H%M%SZ")


def _utc(moment: datetime.datetime) -> datetime.datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

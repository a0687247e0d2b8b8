# Copyright (c) opsbook.stack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""in_window: is a moment inside a weekly maintenance window such as "Sun 02:00-04:00" (pure, no I/O)."""

from __future__ import annotations

import datetime
import re
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.opsbook.stack.plugins.module_utils._timestamps import parse_iso8601

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WINDOW_RE = re.compile(
    r"^\s*(?P<days>\*|daily|[A-Za-z]{3}(?:-[A-Za-z]{3})?(?:,[A-Za-z]{3}(?:-[A-Za-z]{3})?)*)\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$"
)


def _minutes(text: str, spec: str) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise AnsibleFilterError(f"maintenance window {spec!r}: {text} is not a time of day (00:00 to 24:00)")
    return hours * 60 + minutes


def _days(text: str, spec: str) -> set[int]:
    if text.lower() in ("*", "daily"):
        return set(range(7))
    out: set[int] = set()
    for part in text.lower().split(","):
        first, _sep, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise AnsibleFilterError(f"maintenance window {spec!r}: {part!r} is not a day such as Mon, Sun or Mon-Fri")
        start, end = DAYS.index(first), DAYS.index(last or first)
        day = start
        while True:
            out.add(day)
            if day == end:
                break
            day = (day + 1) % 7
    return out


def parse_window(spec: str) -> tuple[set[int], int, int]:
    """Days (0 = Monday), start and end minute of a window; the end may be on the next day (22:00-02:00)."""
    match = WINDOW_RE.match(str(spec))
    if not match:
        raise AnsibleFilterError(
            f"maintenance window {spec!r} is not like 'Sun 02:00-04:00', 'Mon-Fri 01:00-02:30' or 'daily 23:00-01:00'"
        )
    start, end = _minutes(match["start"], spec), _minutes(match["end"], spec)
    if start == end:
        raise AnsibleFilterError(f"maintenance window {spec!r} is empty (start equals end)")
    return _days(match["days"], spec), start, end


def in_window(windows: Any, now: Any = None) -> bool:
    """True when ``now`` (ISO string or datetime, local time of the host that evaluates; default now) is inside
    any of the windows (a string or a list of strings). An empty window list is never inside."""
    if windows is None or windows == "" or windows == []:
        return False
    specs = [windows] if isinstance(windows, str) else list(windows)
    if now is None or now == "":
        moment = datetime.datetime.now()
    elif isinstance(now, datetime.datetime):
        moment = now
    else:
        try:
            moment = parse_iso8601(str(now), "now")
        except ValueError:
            raise AnsibleFilterError(f"in_window: now {now!r} is not an ISO-8601 date and time") from None
    minute = moment.hour * 60 + moment.minute
    weekday = moment.weekday()
    for spec in specs:
        days, start, end = parse_window(spec)
        if start < end:
            if weekday in days and start <= minute < end:
                return True
        elif (weekday in days and minute >= start) or ((weekday - 1) % 7 in days and minute < end):
            return True
    return False


class FilterModule:
    """Maintenance window filter."""

    def filters(self) -> dict[str, Any]:
        return {"in_window": in_window}

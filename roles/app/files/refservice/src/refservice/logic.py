"""Pure logic shared by the web app and the scheduler (standard library only)."""

from __future__ import annotations

import hmac
import logging
import logging.handlers
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

HEALTHY = "healthy"
DEGRADED = "degraded"
UNHEALTHY = "unhealthy"

JOB_STATUSES = ("SUCCESS", "FAILED")
SENSORS = ("temp-01", "temp-02", "humidity-01", "pressure-01", "flow-01")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


def check_admin_token(authorization: str | None, admin_token: str) -> bool:
    """Return True when ``authorization`` is ``Bearer <admin_token>``.

    An empty configured token never authorises anything. The comparison is
    constant-time (``hmac.compare_digest``).
    """
    if not admin_token or not authorization:
        return False
    scheme, _sep, supplied = authorization.partition(" ")
    if scheme.lower() != "bearer" or not supplied:
        return False
    return hmac.compare_digest(supplied.strip().encode(), admin_token.encode())


def scheduler_running(last_heartbeat: datetime | None, now: datetime, max_age_seconds: int) -> bool:
    """A scheduler is running when its last heartbeat is at most ``max_age_seconds`` old."""
    if last_heartbeat is None:
        return False
    return now - last_heartbeat <= timedelta(seconds=max_age_seconds)


def overall_status(database_ok: bool, redis_ok: bool, scheduler_ok: bool, scheduler_expected: bool = True) -> str:
    """Combine component checks: storage down is unhealthy, a stale scheduler is degraded."""
    if not (database_ok and redis_ok):
        return UNHEALTHY
    if scheduler_expected and not scheduler_ok:
        return DEGRADED
    return HEALTHY


def http_status_for(status: str) -> int:
    """HTTP code of the health endpoint: 200 only when healthy, 503 otherwise."""
    return 200 if status == HEALTHY else 503


def validation_rate(valid_rows: int, total_rows: int) -> float | None:
    """Percentage of valid rows (two decimals), ``None`` when there are no rows."""
    if total_rows <= 0:
        return None
    return round(100.0 * valid_rows / total_rows, 2)


def count_by_status(rows: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Turn ``(status, count)`` rows into a dict that always has every known status."""
    counts = {status: 0 for status in JOB_STATUSES}
    for status, count in rows:
        counts[str(status)] = counts.get(str(status), 0) + int(count)
    return counts


@dataclass(frozen=True)
class Measurement:
    """One synthetic sensor reading."""

    ts: datetime
    sensor: str
    value: float
    valid: bool
    gap: bool


def generate_batch(
    now: datetime,
    size: int,
    rng: random.Random,
    valid_ratio: float = 0.98,
    gap_probability: float = 0.05,
) -> list[Measurement]:
    """Generate ``size`` readings ending at ``now``, one second apart.

    About ``valid_ratio`` of the rows are valid. With ``gap_probability`` the
    batch simulates a time gap: its first row is shifted back by a minute and
    flagged ``gap=True``.
    """
    simulate_gap = rng.random() < gap_probability
    rows: list[Measurement] = []
    for index in range(size):
        ts = now - timedelta(seconds=size - 1 - index)
        gap = simulate_gap and index == 0
        if gap:
            ts -= timedelta(minutes=1)
        sensor = SENSORS[index % len(SENSORS)]
        valid = rng.random() < valid_ratio
        value = round(rng.gauss(20.0, 5.0), 3) if valid else round(rng.uniform(-1000.0, -900.0), 3)
        rows.append(Measurement(ts=ts, sensor=sensor, value=value, valid=valid, gap=gap))
    return rows


def setup_logging(log_file: str | None, level: str = "INFO") -> None:
    """Log to ``log_file`` (reopened after rotation) or stderr, in the standard format."""
    handler: logging.Handler
    if log_file:
        handler = logging.handlers.WatchedFileHandler(log_file)
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)

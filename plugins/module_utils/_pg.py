# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL connection helpers for opsbook.stack modules (psycopg 3).

Private to the collection. The option names follow community.postgresql
(doc fragment ``opsbook.stack.pg_connection``). Nothing here imports psycopg:
the modules import it themselves and report a missing library.
"""

from __future__ import annotations

import datetime
import decimal
import math
from collections.abc import Iterable, Mapping
from typing import Any

SSL_MODES: tuple[str, ...] = ("allow", "disable", "prefer", "require", "verify-ca", "verify-full")

# argument_spec entries matching doc fragment opsbook.stack.pg_connection.
PG_CONNECTION_SPEC: dict[str, dict[str, Any]] = {
    "login_host": {"type": "str", "default": "", "aliases": ["host"]},
    "login_unix_socket": {"type": "str", "default": "", "aliases": ["unix_socket"]},
    "login_port": {"type": "int", "default": 5432, "aliases": ["port"]},
    "login_user": {"type": "str", "default": "postgres", "aliases": ["login"]},
    "login_password": {"type": "str", "no_log": True},
    "login_db": {"type": "str", "default": "postgres"},
    "connect_timeout": {"type": "int", "default": 5},
    "ssl_mode": {"type": "str", "default": "prefer", "choices": list(SSL_MODES)},
    "ca_cert": {"type": "path", "aliases": ["ssl_rootcert"]},
}


def connect_kwargs(params: Mapping[str, Any], dbname: str | None = None, application_name: str = "opsbook.stack") -> dict[str, Any]:
    """Keyword arguments for ``psycopg.connect`` from the module's connection options.

    An empty ``login_host`` means a unix socket: ``login_unix_socket`` if set,
    else libpq's compiled-in socket directory.
    """
    kwargs: dict[str, Any] = {
        "dbname": dbname or params.get("login_db") or "postgres",
        "user": params.get("login_user") or "postgres",
        "port": int(params.get("login_port") or 5432),
        "connect_timeout": int(params.get("connect_timeout") or 5),
        "application_name": application_name,
    }
    if params.get("login_host"):
        kwargs["host"] = params["login_host"]
        kwargs["sslmode"] = params.get("ssl_mode") or "prefer"
        if params.get("ca_cert"):
            kwargs["sslrootcert"] = params["ca_cert"]
    elif params.get("login_unix_socket"):
        kwargs["host"] = params["login_unix_socket"]
    if params.get("login_password"):
        kwargs["password"] = params["login_password"]
    return kwargs


def describe_target(params: Mapping[str, Any], dbname: str | None = None) -> str:
    """Where we connect, for messages: ``user@host:port/db`` (never the password)."""
    where = params.get("login_host") or params.get("login_unix_socket") or "unix socket"
    return f"{params.get('login_user') or 'postgres'}@{where}:{params.get('login_port') or 5432}/{dbname or params.get('login_db') or 'postgres'}"


def one_line(text: Any, secrets: Iterable[str | None] = ()) -> str:
    """Collapse a (multi-line) error into one line and blank out any secret in it."""
    line = " ".join(str(text).split())
    for secret in secrets:
        if secret:
            line = line.replace(secret, "********")
    return line


def error_text(exc: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """The server's (or libpq's) message of a psycopg error, one line, secrets removed."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or str(exc) or type(exc).__name__
    return one_line(text, secrets)


def coerce_number(value: Any) -> tuple[int | float | None, str | None]:
    """A query's first column as a number: ``(number, None)`` or ``(None, reason)``.

    bool -> 1/0; int, float and Decimal pass (Decimal becomes int when integral,
    else float); NULL, text, intervals, timestamps and the rest are refused with
    a reason that says what came back.
    """
    if value is None:
        return None, "first column of the first row is NULL"
    if isinstance(value, bool):
        return int(value), None
    if isinstance(value, int):
        return value, None
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return None, f"first column is not a finite number ({value})"
        return (int(value), None) if value == value.to_integral_value() else (float(value), None)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None, f"first column is not a finite number ({value})"
        return value, None
    if isinstance(value, datetime.timedelta):
        return None, (
            f"first column is an interval ({value}), not a number; "
            "convert it, e.g. extract(epoch FROM ...) / 3600 for hours"
        )
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return None, f"first column is {type(value).__name__} {shown}, not a number (use a numeric or boolean expression)"


def human_bytes(size: float) -> str:
    """1536 -> '1.5 KiB'."""
    units = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")
    number = float(size)
    for unit in units:
        if abs(number) < 1024 or unit == units[-1]:
            return f"{number:.0f} {unit}" if unit == "bytes" else f"{number:.1f} {unit}"
        number /= 1024
    return f"{number:.1f} PiB"  # pragma: no cover


def parse_utc(value: Any, what: str = "timestamp") -> datetime.datetime:
    """An ISO-8601 string (``Z`` or an offset; naive means UTC) or a datetime, as an aware UTC datetime.

    Raises ValueError naming ``what`` when it cannot be read.
    """
    if isinstance(value, datetime.datetime):
        stamp = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text[-1] in "zZ":
            text = text[:-1] + "+00:00"
        try:
            stamp = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{what} must be an ISO-8601 date and time such as 2026-10-26T06:00:00Z, got {value!r}") from None
    else:
        raise ValueError(f"{what} must be an ISO-8601 date and time such as 2026-10-26T06:00:00Z, got {value!r}")
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.astimezone(datetime.timezone.utc)


def iso_utc(stamp: datetime.datetime) -> str:
    """``2026-10-26T06:00:00Z`` (whole seconds, UTC)."""
    return stamp.astimezone(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


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
        "previous_at": iso_utc(previous_at),
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

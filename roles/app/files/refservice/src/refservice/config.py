"""Settings read from environment variables (standard library only)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """Raised when an environment variable holds an invalid value."""


def _conninfo_value(value: str) -> str:
    """Quote a value for a libpq key=value connection string."""
    if value and not any(ch in value for ch in " '\\"):
        return value
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def build_conninfo(host: str, port: int, dbname: str, user: str, password: str) -> str:
    """Build a libpq key=value connection string from its parts."""
    parts = {
        "host": host,
        "port": str(port),
        "dbname": dbname,
        "user": user,
        "password": password,
        "connect_timeout": "5",
        "application_name": "refservice",
    }
    return " ".join(f"{key}={_conninfo_value(val)}" for key, val in parts.items() if val != "")


def parse_bool(name: str, raw: str | None, default: bool) -> bool:
    """Parse a boolean environment value (1/0, true/false, yes/no, on/off)."""
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name} must be a boolean (true/false), got {raw!r}")


def parse_int(name: str, raw: str | None, default: int, minimum: int = 0) -> int:
    """Parse an integer environment value no smaller than ``minimum``."""
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def parse_float(name: str, raw: str | None, default: float, low: float, high: float) -> float:
    """Parse a float environment value within [low, high]."""
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """Runtime settings of the web app, the scheduler and the migration tool."""

    database_url: str
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_username: str | None = None
    redis_password: str | None = None
    redis_db: int = 0
    admin_token: str = ""
    log_file: str | None = None
    log_level: str = "INFO"
    ingest_interval_seconds: int = 30
    ingest_batch_size: int = 10
    ingest_failure_rate: float = 0.0
    status_cache_seconds: int = 5
    scheduler_enabled: bool = True
    key_prefix: str = "refservice"

    @property
    def heartbeat_max_age_seconds(self) -> int:
        """A scheduler heartbeat older than this marks the scheduler as not running."""
        return 3 * self.ingest_interval_seconds

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``env`` (default: ``os.environ``)."""
        env = os.environ if env is None else env
        database_url = env.get("REFSERVICE_DATABASE_URL", "").strip()
        if not database_url:
            database_url = build_conninfo(
                host=env.get("DB_HOST", "127.0.0.1"),
                port=parse_int("DB_PORT", env.get("DB_PORT"), 5432, minimum=1),
                dbname=env.get("DB_NAME", "refservice"),
                user=env.get("DB_USER", "refservice"),
                password=env.get("DB_PASSWORD", ""),
            )
        level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ConfigError(f"LOG_LEVEL must be a logging level name, got {level!r}")
        return cls(
            database_url=database_url,
            redis_host=env.get("REDIS_HOST", "127.0.0.1"),
            redis_port=parse_int("REDIS_PORT", env.get("REDIS_PORT"), 6379, minimum=1),
            redis_username=env.get("REDIS_USERNAME") or None,
            redis_password=env.get("REDIS_PASSWORD") or None,
            redis_db=parse_int("REDIS_DB", env.get("REDIS_DB"), 0),
            admin_token=env.get("ADMIN_TOKEN", ""),
            log_file=env.get("LOG_FILE") or None,
            log_level=level,
            ingest_interval_seconds=parse_int(
                "INGEST_INTERVAL_SECONDS", env.get("INGEST_INTERVAL_SECONDS"), 30, minimum=1
            ),
            ingest_batch_size=parse_int(
                "INGEST_BATCH_SIZE", env.get("INGEST_BATCH_SIZE"), 10, minimum=1
            ),
            ingest_failure_rate=parse_float(
                "INGEST_FAILURE_RATE", env.get("INGEST_FAILURE_RATE"), 0.0, 0.0, 1.0
            ),
            status_cache_seconds=parse_int(
                "STATUS_CACHE_SECONDS", env.get("STATUS_CACHE_SECONDS"), 5
            ),
            scheduler_enabled=parse_bool(
                "SCHEDULER_ENABLED", env.get("SCHEDULER_ENABLED"), True
            ),
            key_prefix=env.get("REDIS_KEY_PREFIX", "refservice") or "refservice",
        )

"""Database and Redis access (psycopg 3 and redis-py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, LiteralString

import psycopg
import redis
from psycopg import sql as pgsql

from .config import Settings
from .logic import Measurement

MIGRATIONS: Sequence[tuple[int, LiteralString]] = (
    (
        1,
        """
        CREATE TABLE IF NOT EXISTS measurements (
            id          bigserial PRIMARY KEY,
            ts          timestamptz NOT NULL,
            sensor      text NOT NULL,
            value       double precision NOT NULL,
            valid       boolean NOT NULL,
            gap         boolean NOT NULL DEFAULT false,
            ingested_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX IF NOT EXISTS measurements_ts_idx ON measurements (ts);
        CREATE TABLE IF NOT EXISTS job_executions (
            id          bigserial PRIMARY KEY,
            job_name    text NOT NULL,
            started_at  timestamptz NOT NULL,
            finished_at timestamptz,
            status      text NOT NULL CHECK (status IN ('SUCCESS', 'FAILED')),
            rows        integer NOT NULL DEFAULT 0,
            error       text
        );
        CREATE INDEX IF NOT EXISTS job_executions_started_idx ON job_executions (started_at);
        CREATE TABLE IF NOT EXISTS jobs (
            name          text PRIMARY KEY,
            enabled       boolean NOT NULL DEFAULT true,
            run_requested boolean NOT NULL DEFAULT false,
            updated_at    timestamptz NOT NULL DEFAULT now()
        );
        INSERT INTO jobs (name) VALUES ('ingest') ON CONFLICT (name) DO NOTHING;
        """,
    ),
)

MIGRATION_LOCK_ID = 7_317_001


def connect(settings: Settings) -> psycopg.Connection[Any]:
    """Open an autocommit connection; use ``conn.transaction()`` for atomic work."""
    return psycopg.connect(settings.database_url, autocommit=True)


def redis_client(settings: Settings) -> redis.Redis:
    """Redis client with short timeouts, returning ``str`` values."""
    return redis.Redis(
        host=settings.redis_host,
        port=settings.redis_port,
        username=settings.redis_username,
        password=settings.redis_password,
        db=settings.redis_db,
        socket_timeout=3,
        socket_connect_timeout=3,
        decode_responses=True,
    )


def key(settings: Settings, name: str) -> str:
    """Namespaced Redis key."""
    return f"{settings.key_prefix}:{name}"


def migrate(conn: psycopg.Connection[Any]) -> tuple[int, list[int]]:
    """Apply pending migrations under an advisory lock; return (version, applied)."""
    applied: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version integer PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        current = int(row[0]) if row else 0
        for version, statement in MIGRATIONS:
            if version <= current:
                continue
            conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
            applied.append(version)
            current = version
    return current, applied


def insert_batch(
    conn: psycopg.Connection[Any],
    job_name: str,
    started_at: datetime,
    rows: Sequence[Measurement],
) -> None:
    """Write ``rows`` and a SUCCESS job execution in one transaction."""
    with conn.transaction():
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO measurements (ts, sensor, value, valid, gap) VALUES (%s, %s, %s, %s, %s)",
                [(m.ts, m.sensor, m.value, m.valid, m.gap) for m in rows],
            )
        conn.execute(
            "INSERT INTO job_executions (job_name, started_at, finished_at, status, rows)"
            " VALUES (%s, %s, clock_timestamp(), 'SUCCESS', %s)",
            (job_name, started_at, len(rows)),
        )


def record_failure(conn: psycopg.Connection[Any], job_name: str, started_at: datetime, error: str) -> None:
    """Record a FAILED job execution."""
    conn.execute(
        "INSERT INTO job_executions (job_name, started_at, finished_at, status, rows, error)"
        " VALUES (%s, %s, clock_timestamp(), 'FAILED', 0, %s)",
        (job_name, started_at, error[:2000]),
    )


def job_enabled(conn: psycopg.Connection[Any], job_name: str) -> bool:
    """Whether ``job_name`` is enabled (unknown jobs are disabled)."""
    row = conn.execute("SELECT enabled FROM jobs WHERE name = %s", (job_name,)).fetchone()
    return bool(row and row[0])


def take_run_requests(conn: psycopg.Connection[Any]) -> list[str]:
    """Return and clear the jobs an operator asked to run now."""
    cur = conn.execute(
        "UPDATE jobs SET run_requested = false, updated_at = now()"
        " WHERE run_requested RETURNING name"
    )
    return [str(r[0]) for r in cur.fetchall()]


def set_job_flag(conn: psycopg.Connection[Any], job_name: str, column: str, value: bool) -> dict[str, Any] | None:
    """Set ``enabled`` or ``run_requested`` of a job; ``None`` if the job is unknown."""
    if column not in {"enabled", "run_requested"}:
        raise ValueError(f"unknown job flag {column!r}")
    query = pgsql.SQL(
        "UPDATE jobs SET {} = %s, updated_at = now() WHERE name = %s"
        " RETURNING name, enabled, run_requested, updated_at"
    ).format(pgsql.Identifier(column))
    row = conn.execute(query, (value, job_name)).fetchone()
    if row is None:
        return None
    return {"name": row[0], "enabled": row[1], "run_requested": row[2], "updated_at": row[3].isoformat()}


def status_counts(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Raw numbers behind ``/api/v1/status``."""
    total, latest = conn.execute("SELECT count(*), max(ts) FROM measurements").fetchone() or (0, None)
    valid_24h, total_24h = conn.execute(
        "SELECT count(*) FILTER (WHERE valid), count(*) FROM measurements"
        " WHERE ts >= now() - interval '24 hours'"
    ).fetchone() or (0, 0)
    gaps = conn.execute("SELECT count(*) FROM measurements WHERE gap").fetchone()
    return {
        "record_count": int(total),
        "latest": latest,
        "valid_24h": int(valid_24h),
        "total_24h": int(total_24h),
        "gaps_flagged": int(gaps[0]) if gaps else 0,
    }


def jobs_summary(conn: psycopg.Connection[Any], limit: int) -> dict[str, Any]:
    """Recent executions, per-status counts over 24 h and job flags."""
    recent = conn.execute(
        "SELECT job_name, started_at, finished_at, status, rows, error FROM job_executions"
        " ORDER BY started_at DESC, id DESC LIMIT %s",
        (limit,),
    ).fetchall()
    counts = conn.execute(
        "SELECT status, count(*) FROM job_executions"
        " WHERE started_at >= now() - interval '24 hours' GROUP BY status"
    ).fetchall()
    jobs = conn.execute("SELECT name, enabled, run_requested FROM jobs ORDER BY name").fetchall()
    return {
        "recent": [
            {
                "name": r[0],
                "started_at": r[1].isoformat(),
                "finished_at": r[2].isoformat() if r[2] else None,
                "status": r[3],
                "rows": r[4],
                "error": r[5],
            }
            for r in recent
        ],
        "counts": [(r[0], r[1]) for r in counts],
        "jobs": [{"name": r[0], "enabled": r[1], "run_requested": r[2]} for r in jobs],
    }


def cache_get(client: redis.Redis, name: str) -> dict[str, Any] | None:
    """Read a JSON value from Redis (``None`` when missing)."""
    raw = client.get(name)
    if not isinstance(raw, (str, bytes)) or not raw:
        return None
    return json.loads(raw)


def cache_set(client: redis.Redis, name: str, value: dict[str, Any], ttl: int) -> None:
    """Store a JSON value in Redis, with a TTL when ``ttl`` > 0."""
    client.set(name, json.dumps(value, default=str), ex=ttl if ttl > 0 else None)

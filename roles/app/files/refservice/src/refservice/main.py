"""FastAPI application: health, status, job summary and admin endpoints."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool

from . import __version__, logic, store
from .config import Settings

log = logging.getLogger("refservice.web")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the connection pool and the Redis client for one worker process."""
    settings = Settings.from_env()
    logic.setup_logging(settings.log_file, settings.log_level)
    pool: ConnectionPool[Any] = ConnectionPool(
        settings.database_url,
        min_size=1,
        max_size=4,
        open=False,
        timeout=5,
        kwargs={"autocommit": True},
        name="refservice",
    )
    pool.open(wait=False)
    app.state.settings = settings
    app.state.pool = pool
    app.state.redis = store.redis_client(settings)
    log.info("web worker started (version %s)", __version__)
    try:
        yield
    finally:
        pool.close()
        app.state.redis.close()
        log.info("web worker stopped")


app = FastAPI(title="opsbook refservice", version=__version__, lifespan=lifespan)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def require_admin(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """Reject the request with 401 unless it carries ``Bearer <ADMIN_TOKEN>``."""
    settings: Settings = request.app.state.settings
    if not logic.check_admin_token(authorization, settings.admin_token):
        log.warning("admin request refused: %s %s", request.method, request.url.path)
        raise HTTPException(status_code=401, detail="invalid or missing admin token",
                            headers={"WWW-Authenticate": "Bearer"})


@app.get("/health")
def health(request: Request) -> JSONResponse:
    """Check PostgreSQL (SELECT 1), Redis (PING) and the scheduler heartbeat."""
    settings: Settings = request.app.state.settings
    database: dict[str, Any] = {"ok": False}
    started = time.monotonic()
    try:
        with request.app.state.pool.connection(timeout=3) as conn:
            conn.execute("SELECT 1").fetchone()
        database = {"ok": True, "latency_ms": round((time.monotonic() - started) * 1000, 1)}
    except Exception as exc:  # any failure means "not ok"; report it
        database = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    redis_state: dict[str, Any] = {"ok": False}
    last_heartbeat: datetime | None = None
    started = time.monotonic()
    try:
        client = request.app.state.redis
        client.ping()
        redis_state = {"ok": True, "latency_ms": round((time.monotonic() - started) * 1000, 1)}
        raw = client.get(store.key(settings, "scheduler:heartbeat"))
        last_heartbeat = datetime.fromisoformat(raw) if raw else None
    except Exception as exc:
        redis_state = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    running = logic.scheduler_running(last_heartbeat, _now(), settings.heartbeat_max_age_seconds)
    status = logic.overall_status(database["ok"], redis_state["ok"], running, settings.scheduler_enabled)
    body = {
        "status": status,
        "version": __version__,
        "database": database,
        "redis": redis_state,
        "scheduler": {
            "running": running,
            "expected": settings.scheduler_enabled,
            "last_heartbeat": last_heartbeat.isoformat() if last_heartbeat else None,
        },
        "checked_at": _now().isoformat(),
    }
    if status != logic.HEALTHY:
        log.warning("health %s: %s", status, body)
    return JSONResponse(body, status_code=logic.http_status_for(status))


@app.get("/api/v1/status")
def api_status(request: Request) -> dict[str, Any]:
    """Record count, latest timestamp, 24 h validation rate and gap count (cached)."""
    settings: Settings = request.app.state.settings
    cache_key = store.key(settings, "status")
    client = request.app.state.redis
    try:
        cached = store.cache_get(client, cache_key)
    except Exception as exc:
        log.warning("status cache unavailable: %s", exc)
        cached = None
    if cached is not None:
        return {**cached, "cached": True}
    try:
        with request.app.state.pool.connection(timeout=3) as conn:
            raw = store.status_counts(conn)
    except Exception as exc:
        log.error("status query failed: %s", exc)
        raise HTTPException(status_code=503, detail="database unavailable") from exc
    body = {
        "record_count": raw["record_count"],
        "latest_data_timestamp": raw["latest"].isoformat() if raw["latest"] else None,
        "validation_rate_pct": logic.validation_rate(raw["valid_24h"], raw["total_24h"]),
        "gaps_flagged": raw["gaps_flagged"],
        "generated_at": _now().isoformat(),
        "version": __version__,
    }
    try:
        store.cache_set(client, cache_key, body, settings.status_cache_seconds)
    except Exception as exc:
        log.warning("status cache not written: %s", exc)
    return {**body, "cached": False}


@app.get("/jobs/summary")
def jobs_summary(request: Request, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> dict[str, Any]:
    """Recent job executions and counts per status over the last 24 hours."""
    try:
        with request.app.state.pool.connection(timeout=3) as conn:
            raw = store.jobs_summary(conn, limit)
    except Exception as exc:
        log.error("jobs summary query failed: %s", exc)
        raise HTTPException(status_code=503, detail="database unavailable") from exc
    return {
        "window_hours": 24,
        "counts": logic.count_by_status(raw["counts"]),
        "jobs": raw["jobs"],
        "recent": raw["recent"],
    }


def _set_flag(request: Request, name: str, column: str, value: bool) -> dict[str, Any]:
    try:
        with request.app.state.pool.connection(timeout=3) as conn:
            job = store.set_job_flag(conn, name, column, value)
    except Exception as exc:
        log.error("admin update of job %s failed: %s", name, exc)
        raise HTTPException(status_code=503, detail="database unavailable") from exc
    if job is None:
        raise HTTPException(status_code=404, detail=f"unknown job {name!r}")
    log.info("admin: job %s %s=%s", name, column, value)
    return job


@app.post("/admin/jobs/{name}/disable", dependencies=[Depends(require_admin)])
def disable_job(request: Request, name: str) -> dict[str, Any]:
    """Stop scheduling a job."""
    return _set_flag(request, name, "enabled", False)


@app.post("/admin/jobs/{name}/enable", dependencies=[Depends(require_admin)])
def enable_job(request: Request, name: str) -> dict[str, Any]:
    """Schedule a job again."""
    return _set_flag(request, name, "enabled", True)


@app.post("/admin/jobs/{name}/run", dependencies=[Depends(require_admin)])
def run_job(request: Request, name: str) -> dict[str, Any]:
    """Ask the scheduler to run a job now (picked up within a second)."""
    return _set_flag(request, name, "run_requested", True)

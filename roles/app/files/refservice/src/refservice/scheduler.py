"""``refservice-scheduler``: runs the ``ingest`` job every INGEST_INTERVAL_SECONDS."""

from __future__ import annotations

import logging
import random
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from types import FrameType
from typing import Any

import psycopg

from . import __version__, logic, store
from .config import ConfigError, Settings

log = logging.getLogger("refservice.scheduler")
INGEST_JOB = "ingest"


class Scheduler:
    """Single-threaded loop: heartbeat every second, ingest when due or requested."""

    def __init__(self, settings: Settings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.rng = rng or random.Random()
        self.stop = threading.Event()
        self.redis = store.redis_client(settings)
        self.conn: psycopg.Connection[Any] | None = None
        self.next_run = 0.0

    def _db(self) -> psycopg.Connection[Any]:
        if self.conn is None or self.conn.closed:
            self.conn = store.connect(self.settings)
        return self.conn

    def _reset_db(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # closing a broken connection may fail too
                pass
        self.conn = None

    def heartbeat(self) -> None:
        """Publish the heartbeat key read by ``/health``."""
        now = datetime.now(timezone.utc).isoformat()
        self.redis.set(
            store.key(self.settings, "scheduler:heartbeat"),
            now,
            ex=self.settings.heartbeat_max_age_seconds,
        )

    def run_ingest(self, reason: str) -> bool:
        """Generate and store one batch; record SUCCESS or FAILED. Returns success."""
        started = datetime.now(timezone.utc)
        t0 = time.monotonic()
        conn = self._db()
        try:
            rows = logic.generate_batch(started, self.settings.ingest_batch_size, self.rng)
            if self.rng.random() < self.settings.ingest_failure_rate:
                raise RuntimeError("simulated ingest failure (INGEST_FAILURE_RATE)")
            store.insert_batch(conn, INGEST_JOB, started, rows)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.error("job %s FAILED (%s): %s", INGEST_JOB, reason, error)
            try:
                store.record_failure(conn, INGEST_JOB, started, error)
            except psycopg.Error as rec_exc:
                log.error("could not record failure of job %s: %s", INGEST_JOB, rec_exc)
                self._reset_db()
            return False
        duration_ms = round((time.monotonic() - t0) * 1000, 1)
        log.info("job %s SUCCESS (%s): rows=%d duration_ms=%s", INGEST_JOB, reason, len(rows), duration_ms)
        try:
            store.cache_set(
                self.redis,
                store.key(self.settings, "ingest:last"),
                {"finished_at": datetime.now(timezone.utc).isoformat(), "rows": len(rows), "status": "SUCCESS"},
                0,
            )
            self.redis.delete(store.key(self.settings, "status"))
        except Exception as exc:
            log.warning("redis cache not updated: %s", exc)
        return True

    def tick(self) -> None:
        """One loop iteration."""
        try:
            self.heartbeat()
        except Exception as exc:
            log.error("heartbeat to redis failed: %s", exc)
        try:
            conn = self._db()
            requested = store.take_run_requests(conn)
            for name in requested:
                if name == INGEST_JOB:
                    self.run_ingest("requested")
                else:
                    log.warning("run requested for unknown job %s; ignored", name)
            if time.monotonic() >= self.next_run:
                self.next_run = time.monotonic() + self.settings.ingest_interval_seconds
                if store.job_enabled(self._db(), INGEST_JOB):
                    self.run_ingest("scheduled")
                else:
                    log.info("job %s is disabled; skipped", INGEST_JOB)
        except psycopg.Error as exc:
            log.error("database error in scheduler loop: %s", exc)
            self._reset_db()

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        """Signal handler: finish the current iteration, then exit."""
        log.info("received signal %d, stopping", signum)
        self.stop.set()

    def run(self) -> None:
        """Loop until SIGTERM/SIGINT."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        log.info(
            "scheduler started (version %s, interval %ss)", __version__, self.settings.ingest_interval_seconds
        )
        while not self.stop.is_set():
            self.tick()
            self.stop.wait(1.0)
        self._reset_db()
        self.redis.close()
        log.info("scheduler stopped")


def main() -> int:
    """Console entry point."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"refservice-scheduler: configuration error: {exc}", file=sys.stderr)
        return 2
    logic.setup_logging(settings.log_file, settings.log_level)
    Scheduler(settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

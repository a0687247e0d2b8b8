"""The fake application the http_check tests probe: JSON health and status documents on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import ssl
import threading
import time
from typing import Any

UTC = dt.timezone.utc
# The moment the documents' timestamps are taken from.
NOW = dt.datetime.now(UTC)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


HEALTHY = {
    "status": "healthy",
    "database": {"ok": True, "latency_ms": 1.2},
    "redis": {"ok": True, "latency_ms": 0.4},
    "scheduler": {"running": True, "expected": True, "last_heartbeat": iso(NOW)},
    "checked_at": NOW.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    "jobs": [{"name": "ingest", "state": "success"}],
}
DEGRADED = {
    "status": "degraded",
    "database": {"ok": True},
    "redis": {"ok": True},
    "scheduler": {"running": False, "expected": True, "last_heartbeat": None},
    "checked_at": iso(NOW),
}
STATUS_API = {
    "latest_data_timestamp": (NOW - dt.timedelta(hours=2)).replace(tzinfo=None).isoformat(),
    "stale_timestamp": (NOW - dt.timedelta(hours=30)).astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat(),
    "epoch": time.time() - 600,
    "validation_rate_pct": 97.5,
    "rate_as_text": "97.5",
    "gaps_flagged": 3,
    "garbage_time": "yesterday-ish",
    "version": "1.2.0",
}

# path -> (status, content type, body, delay seconds)
ROUTES: dict[str, tuple[int, str, bytes, float]] = {
    "/health": (200, "application/json", json.dumps(HEALTHY).encode(), 0),
    "/degraded": (503, "application/json", json.dumps(DEGRADED).encode(), 0),
    "/api/v1/status": (200, "application/json; charset=utf-8", json.dumps(STATUS_API).encode(), 0),
    "/html": (200, "text/html", b"<!DOCTYPE html>\n<html><body>It works, but this is no JSON at all</body></html>", 0),
    "/empty": (204, "text/plain", b"", 0),
    "/slow": (200, "application/json", b'{"ok": true}', 0.3),
    "/slower": (200, "application/json", b'{"ok": true}', 1.5),
}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        status, ctype, body, delay = ROUTES.get(self.path, (404, "text/plain", b"not found", 0))
        if self.headers.get("X-Probe"):
            body = json.dumps({"probe": self.headers["X-Probe"]}).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if delay:
            self.wfile.flush()
            time.sleep(delay)
        if body:
            self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def serve(context: ssl.SSLContext | None = None) -> tuple[http.server.ThreadingHTTPServer, int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]

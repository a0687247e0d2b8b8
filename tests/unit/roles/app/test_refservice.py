"""Unit tests of the reference service's pure logic (no database, no FastAPI needed)."""

from __future__ import annotations

import importlib
import logging
import random
import sys
import tomllib
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from helpers import ROOT

sys.dont_write_bytecode = True  # keep roles/app/files free of __pycache__
SERVICE = ROOT / "roles" / "app" / "files" / "refservice"
sys.path.insert(0, str(SERVICE / "src"))

refservice = importlib.import_module("refservice")
logic = importlib.import_module("refservice.logic")
config = importlib.import_module("refservice.config")
__version__ = refservice.__version__
ConfigError = config.ConfigError
Settings = config.Settings
build_conninfo = config.build_conninfo

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def test_versions_agree():
    meta = tomllib.loads((SERVICE / "pyproject.toml").read_text())
    defaults = yaml.safe_load((ROOT / "roles" / "app" / "defaults" / "main.yml").read_text())
    assert meta["project"]["version"] == __version__ == defaults["app_version"]


def test_settings_from_parts():
    settings = Settings.from_env(
        {
            "DB_HOST": "db.example",
            "DB_PORT": "5433",
            "DB_NAME": "appdb",
            "DB_USER": "app",
            "DB_PASSWORD": "it's a secret",
            "REDIS_PORT": "6380",
            "REDIS_USERNAME": "app",
            "INGEST_INTERVAL_SECONDS": "5",
            "SCHEDULER_ENABLED": "no",
        }
    )
    assert "host=db.example" in settings.database_url
    assert "port=5433" in settings.database_url
    assert "password='it\\'s a secret'" in settings.database_url
    assert settings.redis_port == 6380
    assert settings.redis_username == "app"
    assert settings.redis_password is None
    assert settings.ingest_interval_seconds == 5
    assert settings.heartbeat_max_age_seconds == 15
    assert settings.scheduler_enabled is False


def test_settings_defaults_and_url_override():
    settings = Settings.from_env({"REFSERVICE_DATABASE_URL": "postgresql://u:p@h/d"})
    assert settings.database_url == "postgresql://u:p@h/d"
    assert settings.ingest_interval_seconds == 30
    assert settings.admin_token == ""
    assert settings.log_file is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DB_PORT", "abc"),
        ("INGEST_INTERVAL_SECONDS", "0"),
        ("INGEST_FAILURE_RATE", "2"),
        ("SCHEDULER_ENABLED", "maybe"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_settings_reject_bad_values(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_conninfo_skips_empty_values():
    conninfo = build_conninfo("h", 5432, "d", "u", "")
    assert "password" not in conninfo
    assert conninfo.startswith("host=h port=5432 dbname=d user=u")


@pytest.mark.parametrize(
    ("header", "token", "expected"),
    [
        ("Bearer s3cret", "s3cret", True),
        ("bearer s3cret", "s3cret", True),
        ("Bearer wrong", "s3cret", False),
        ("Basic s3cret", "s3cret", False),
        ("s3cret", "s3cret", False),
        (None, "s3cret", False),
        ("Bearer ", "", False),
        ("Bearer anything", "", False),
    ],
)
def test_check_admin_token(header, token, expected):
    assert logic.check_admin_token(header, token) is expected


def test_scheduler_running():
    assert logic.scheduler_running(NOW - timedelta(seconds=10), NOW, 15)
    assert not logic.scheduler_running(NOW - timedelta(seconds=16), NOW, 15)
    assert not logic.scheduler_running(None, NOW, 15)


@pytest.mark.parametrize(
    ("db", "redis", "sched", "expected_sched", "status", "code"),
    [
        (True, True, True, True, "healthy", 200),
        (True, True, False, True, "degraded", 503),
        (True, True, False, False, "healthy", 200),
        (False, True, True, True, "unhealthy", 503),
        (True, False, True, True, "unhealthy", 503),
    ],
)
def test_overall_status(db, redis, sched, expected_sched, status, code):
    result = logic.overall_status(db, redis, sched, expected_sched)
    assert result == status
    assert logic.http_status_for(result) == code


def test_validation_rate():
    assert logic.validation_rate(98, 100) == 98.0
    assert logic.validation_rate(2, 3) == 66.67
    assert logic.validation_rate(0, 0) is None


def test_count_by_status_has_every_status():
    assert logic.count_by_status([]) == {"SUCCESS": 0, "FAILED": 0}
    assert logic.count_by_status([("SUCCESS", 4), ("FAILED", 1)]) == {"SUCCESS": 4, "FAILED": 1}


def test_generate_batch_shape():
    rows = logic.generate_batch(NOW, 50, random.Random(1), gap_probability=0.0)
    assert len(rows) == 50
    assert rows[-1].ts == NOW
    assert all(a.ts < b.ts for a, b in zip(rows, rows[1:]))
    assert not any(r.gap for r in rows)
    assert sum(r.valid for r in rows) >= 45


def test_generate_batch_gap_is_flagged():
    rows = logic.generate_batch(NOW, 5, random.Random(1), gap_probability=1.0)
    assert rows[0].gap and not any(r.gap for r in rows[1:])
    assert rows[1].ts - rows[0].ts > timedelta(seconds=60)


def test_setup_logging_writes_levels(tmp_path):
    log_file = tmp_path / "app.log"
    logic.setup_logging(str(log_file), "INFO")
    logging.getLogger("refservice.test").error("boom")
    logging.getLogger("refservice.test").debug("hidden")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_file.read_text()
    assert " ERROR refservice.test " in text and "boom" in text
    assert "hidden" not in text
    logging.getLogger().handlers.clear()


def test_pure_modules_do_not_import_web_stack():
    for name in ("config.py", "logic.py"):
        source = (SERVICE / "src" / "refservice" / name).read_text()
        for banned in ("fastapi", "psycopg", "redis."):
            assert f"import {banned}" not in source and f"from {banned}" not in source

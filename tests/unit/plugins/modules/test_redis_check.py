"""redis_check: INFO parsing, error classification, check logic, bad input, missing redis-py."""

from __future__ import annotations

import json

import pytest

from ansible_collections.opsbook.stack.plugins.module_utils._checks import ABOVE, Threshold, ThresholdError, merge_thresholds
from ansible_collections.opsbook.stack.plugins.module_utils._redis import CONNECT, NOPERM, OTHER, classify, error_text, parse_info
from ansible_collections.opsbook.stack.plugins.modules import redis_check
from ansible_collections.opsbook.stack.plugins.modules.redis_check import aof_result, client_kwargs, collect, memory_result, rdb_result

# Trimmed from a real `INFO` reply of Redis 7.0.15 (Debian 12), CRLF line ends kept.
NOW = 1795664367.871331
INFO_7 = "\r\n".join(
    [
        "# Server",
        "redis_version:7.0.15",
        "redis_mode:standalone",
        "os:Linux 6.1.0-28-amd64 x86_64",
        "run_id:4b0d3f4c2a2f8f1ab3d3a4f9c8b7e6d5c4b3a291",
        "uptime_in_seconds:154",
        "server_time_usec:1795664367871331",
        "executable:/usr/bin/redis-server",
        "config_file:",
        "",
        "# Clients",
        "connected_clients:1",
        "maxclients:10000",
        "",
        "# Memory",
        "used_memory:1068024",
        "used_memory_human:1.02M",
        "total_system_memory:25276063744",
        "total_system_memory_human:23.54G",
        "maxmemory:0",
        "maxmemory_human:0B",
        "maxmemory_policy:noeviction",
        "mem_fragmentation_ratio:13.52",
        "",
        "# Persistence",
        "rdb_changes_since_last_save:0",
        "rdb_bgsave_in_progress:0",
        "rdb_last_save_time:1795664213",
        "rdb_last_bgsave_status:ok",
        "rdb_last_bgsave_time_sec:-1",
        "aof_enabled:0",
        "aof_rewrite_in_progress:0",
        "aof_last_bgrewrite_status:ok",
        "aof_last_write_status:ok",
        "",
        "# Stats",
        "total_connections_received:8",
        "rejected_connections:0",
        "evicted_keys:0",
        "",
        "# Replication",
        "role:master",
        "",
        "# Errorstats",
        "errorstat_NOPERM:count=1",
        "",
        "# Keyspace",
        "db0:keys=1,expires=0,avg_ttl=0",
        "",
    ]
)

DEFAULTS = merge_thresholds(redis_check.DEFAULTS, {})
PARAMS = {"login_host": "127.0.0.1", "login_port": 6379, "login_user": "monitor", "login_password": "pw-Secret-42",
          "rdb_expected": False, "aof_expected": False}


def info(**over):
    parsed = parse_info(INFO_7)
    parsed.update(over)
    return parsed


# -- INFO parsing ------------------------------------------------------------


def test_parse_info_real_reply():
    parsed = parse_info(INFO_7)
    assert parsed["redis_version"] == "7.0.15"
    assert parsed["used_memory"] == 1068024
    assert parsed["mem_fragmentation_ratio"] == 13.52
    assert parsed["rdb_last_bgsave_time_sec"] == -1
    assert parsed["os"] == "Linux 6.1.0-28-amd64 x86_64"
    assert parsed["executable"] == "/usr/bin/redis-server"
    assert parsed["config_file"] == ""
    assert parsed["db0"] == {"keys": 1, "expires": 0, "avg_ttl": 0}
    assert parsed["errorstat_NOPERM"] == {"count": 1}
    assert parsed["run_id"] == "4b0d3f4c2a2f8f1ab3d3a4f9c8b7e6d5c4b3a291"
    assert not any(key.startswith("#") for key in parsed)


def test_parse_info_tolerates_junk_and_lf_only():
    assert parse_info("# Memory\nused_memory:5\nno colon here\n\n:empty-key\n") == {"used_memory": 5, "": "empty-key"}
    assert parse_info("") == {}


# -- error classification (redis-py 4.3 and 6.x raise different classes) ------


class RedisError(Exception):
    pass


class ConnectionError(RedisError):  # noqa: A001 - named like redis.exceptions.ConnectionError
    pass


class AuthenticationError(ConnectionError):
    pass


class ResponseError(RedisError):
    pass


class NoPermissionError(ResponseError):
    pass


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused."), CONNECT),
        (AuthenticationError("invalid username-password pair or user is disabled."), CONNECT),  # redis-py 6
        (ResponseError("WRONGPASS invalid username-password pair or user is disabled."), CONNECT),  # redis-py 4.3
        (ResponseError("NOAUTH Authentication required."), CONNECT),
        (ConnectionRefusedError(111, "refused"), CONNECT),
        (TimeoutError("Timeout connecting to server"), CONNECT),
        (NoPermissionError("this user has no permissions to run the 'info' command"), NOPERM),
        (ResponseError("NOPERM User monitor has no permissions to run the 'dbsize' command"), NOPERM),
        (ResponseError("ERR unknown command"), OTHER),
    ],
)
def test_classify(exc, kind):
    assert classify(exc) == kind


def test_error_text_removes_secrets():
    assert error_text(ResponseError("bad\n  pw-Secret-42 here"), ["pw-Secret-42", None]) == "bad ******** here"


# -- check logic -------------------------------------------------------------


def test_memory_of_total_system_memory_when_no_maxmemory():
    res = memory_result(info(), DEFAULTS["memory_pct"])
    assert (res.check, res.status, res.unit) == ("redis.memory", "ok", "%")
    assert res.value == round(100 * 1068024 / 25276063744, 2)
    assert res.details["basis"] == "total_system_memory"
    assert "no maxmemory set" in res.message


def test_memory_of_maxmemory_and_levels():
    res = memory_result(info(used_memory=85 * 2**20, maxmemory=100 * 2**20), DEFAULTS["memory_pct"])
    assert (res.status, res.value, res.details["basis"]) == ("warn", 85.0, "maxmemory")
    assert res.message == "memory used of maxmemory (85.0 MiB of 100.0 MiB) is 85% (warn >= 80%, crit >= 90%)"
    assert memory_result(info(used_memory=95, maxmemory=100), DEFAULTS["memory_pct"]).status == "crit"
    assert memory_result(info(maxmemory=0, total_system_memory=0), DEFAULTS["memory_pct"]).status == "unknown"
    assert memory_result({}, DEFAULTS["memory_pct"]).status == "unknown"


def test_rdb_disabled_ok_unless_expected():
    assert rdb_result(info(), "", None, False, DEFAULTS["rdb_age_hours"], NOW).status == "ok"
    res = rdb_result(info(), "", None, True, DEFAULTS["rdb_age_hours"], NOW)
    assert (res.status, res.value) == ("crit", "disabled")
    assert "rdb_expected" in res.message


def test_rdb_age_only_judged_with_changes():
    old = NOW - 30 * 3600
    quiet = rdb_result(info(rdb_last_save_time=int(old)), "3600 1", None, False, DEFAULTS["rdb_age_hours"], 0)
    assert (quiet.status, quiet.unit) == ("ok", "h")
    assert quiet.value == pytest.approx(30, abs=0.01)  # server_time_usec wins over the local clock (0 here)
    busy = rdb_result(info(rdb_last_save_time=int(old), rdb_changes_since_last_save=12), "3600 1", None, False, DEFAULTS["rdb_age_hours"], 0)
    assert busy.status == "warn"
    assert "12 changes since" in busy.message
    very_old = info(rdb_last_save_time=int(NOW - 100 * 3600), rdb_changes_since_last_save=1, server_time_usec=None)
    assert rdb_result(very_old, "900 1", None, False, DEFAULTS["rdb_age_hours"], NOW).status == "crit"


def test_rdb_failed_save_is_crit_and_unknown_schedule():
    failed = rdb_result(info(rdb_last_bgsave_status="err"), "3600 1", None, False, DEFAULTS["rdb_age_hours"], NOW)
    assert (failed.status, failed.value) == ("crit", "err")
    stale = info(rdb_last_save_time=int(NOW - 30 * 3600), rdb_changes_since_last_save=3)
    blind = rdb_result(stale, None, "NOPERM no permissions to run the 'config|get' command", False, DEFAULTS["rdb_age_hours"], NOW)
    assert blind.status == "unknown"
    assert "+config|get" in blind.message
    renamed = rdb_result(stale, None, "unknown command 'CONFIG', with args beginning with: 'GET' 'save'", False, DEFAULTS["rdb_age_hours"], NOW)
    assert renamed.status == "unknown"
    assert "rename-command" in renamed.message
    fresh = rdb_result(info(rdb_changes_since_last_save=3), None, "NOPERM", False, DEFAULTS["rdb_age_hours"], NOW)
    assert fresh.status == "ok"
    assert rdb_result({}, "3600 1", None, False, DEFAULTS["rdb_age_hours"], NOW).status == "unknown"


@pytest.mark.parametrize(
    ("over", "expected", "status", "fragment"),
    [
        ({}, False, "ok", "AOF is disabled"),
        ({}, True, "crit", "aof_expected is true"),
        ({"aof_enabled": 1}, True, "ok", "last write and last rewrite ok"),
        ({"aof_enabled": 1, "aof_last_write_status": "err"}, False, "crit", "last AOF write failed"),
        ({"aof_enabled": 1, "aof_last_bgrewrite_status": "err"}, False, "crit", "last AOF rewrite failed"),
        ({"aof_enabled": None}, False, "unknown", "no aof_enabled"),
    ],
)
def test_aof(over, expected, status, fragment):
    res = aof_result(info(**over), expected)
    assert res.status == status
    assert fragment in res.message


# -- collect() over a probe ------------------------------------------------------


class FakeProbe:
    """Stands in for redis_check.Probe: replays given replies or raises given errors."""

    def __init__(self, ping=True, info_text=INFO_7, save="3600 1 300 100 60 10000"):
        self._ping, self._info, self._save = ping, info_text, save
        self.calls: list[str] = []

    def _reply(self, name, value):
        self.calls.append(name)
        if isinstance(value, BaseException):
            raise value
        return value

    def ping(self):
        return self._reply("ping", self._ping)

    def info(self):
        return self._reply("info", self._info)

    def save_schedule(self):
        return self._reply("save", self._save)


def statuses(results):
    return {r.check: r.status for r in results}


def test_collect_all_ok_in_order():
    results = collect(FakeProbe(), list(redis_check.CHECKS), DEFAULTS, PARAMS, now=NOW)
    assert [r.check for r in results] == [f"redis.{name}" for name in redis_check.CHECKS]
    assert set(statuses(results).values()) == {"ok"}
    assert results[0].details["redis_version"] == "7.0.15"
    assert results[0].unit == "ms"


@pytest.mark.parametrize(
    "error",
    [
        ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
        ResponseError("WRONGPASS invalid username-password pair or user is disabled."),
    ],
)
def test_collect_cannot_connect(error):
    probe = FakeProbe(ping=error)
    results = collect(probe, ["ping", "memory", "aof"], DEFAULTS, PARAMS, now=NOW)
    assert statuses(results) == {"redis.ping": "crit", "redis.memory": "unknown", "redis.aof": "unknown"}
    assert "cannot talk to Redis at 127.0.0.1:6379 as monitor" in results[0].message
    assert all(r.message.startswith("not measured - cannot connect") for r in results[1:])
    assert probe.calls == ["ping"]


def test_collect_without_ping_selected_still_reports_connection_failure():
    results = collect(FakeProbe(ping=ConnectionError("refused")), ["memory"], DEFAULTS, PARAMS, now=NOW)
    assert statuses(results) == {"redis.memory": "unknown"}


def test_collect_user_without_info_right():
    denied = NoPermissionError("this user has no permissions to run the 'info' command")
    results = collect(FakeProbe(info_text=denied), ["ping", "memory", "rdb"], DEFAULTS, PARAMS, now=NOW)
    assert statuses(results) == {"redis.ping": "ok", "redis.memory": "unknown", "redis.rdb": "unknown"}
    assert "(add +info to its ACL rules)" in results[1].message


def test_collect_user_without_ping_right_continues():
    denied = NoPermissionError("no permissions to run the 'ping' command")
    results = collect(FakeProbe(ping=denied), ["ping", "aof"], DEFAULTS, PARAMS, now=NOW)
    assert statuses(results) == {"redis.ping": "unknown", "redis.aof": "ok"}
    assert "+ping" in results[0].message


def test_collect_only_asks_config_for_rdb_and_never_echoes_the_password():
    probe = FakeProbe()
    collect(probe, ["memory", "aof"], DEFAULTS, PARAMS, now=NOW)
    assert probe.calls == ["ping", "info"]
    leaky = FakeProbe(ping=ConnectionError("auth pw-Secret-42 refused"))
    results = collect(leaky, ["ping"], DEFAULTS, PARAMS, now=NOW)
    assert "pw-Secret-42" not in json.dumps([r.as_dict() for r in results])


def test_thresholds_and_client_kwargs():
    with pytest.raises(ThresholdError, match="'rejected_connections': warn 200 is beyond crit 100"):
        merge_thresholds(redis_check.DEFAULTS, {"rejected_connections": {"warn": 200}})
    assert merge_thresholds(redis_check.DEFAULTS, {"evicted_keys": {"warn": 1}})["evicted_keys"] == Threshold(1, None, ABOVE)
    base = {"login_host": "h", "login_port": 6380, "login_user": "", "login_password": None, "connect_timeout": 2.5,
            "tls": False, "validate_certs": True, "ca_cert": None}
    plain = client_kwargs(base)
    assert plain == {"host": "h", "port": 6380, "socket_connect_timeout": 2.5, "socket_timeout": 2.5, "decode_responses": True}
    tls = client_kwargs({**base, "login_user": "monitor", "login_password": "p", "tls": True, "validate_certs": False, "ca_cert": "/ca"})
    assert (tls["username"], tls["password"], tls["ssl"], tls["ssl_cert_reqs"], tls["ssl_check_hostname"], tls["ssl_ca_certs"]) == (
        "monitor", "p", True, "none", False, "/ca")

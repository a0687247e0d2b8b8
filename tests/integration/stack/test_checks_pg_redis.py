"""pg_check and redis_check against the real PostgreSQL and Redis of the stack.

PostgreSQL: as postgres over the unix socket (peer auth, the daily playbook's way) and as
the app user over TCP with realistic queries on appdb; writes in custom queries are refused.
Redis: the shared server as the app user (no INFO right), and a throwaway redis-server on
127.0.0.1:16379 of the cache host with a monitoring user holding exactly
``-@all +ping +info +config|get`` (the shared server's config is never touched).
"""

from __future__ import annotations

import json
import secrets as pysecrets
import time

import pytest

from testbed.stack import StackHost

pytestmark = pytest.mark.stage("checks")

PG_IDS = {"pg.connect", "pg.connections", "pg.long_running", "pg.idle_in_transaction", "pg.wraparound", "pg.vacuum", "pg.replication"}
MONITOR_RULES = "-@all +ping +info +config|get"
TEMP_PORT = 16379


@pytest.fixture(scope="module")
def db(stack):
    return StackHost(stack, stack.hosts("db")[0])


def by_id(out):
    return {c["check"]: c for c in out["checks"]}


def pg_check(db, args, as_postgres=True):
    kwargs = {"become": True, "become_user": "postgres"} if as_postgres else {}
    return db.ansible("opsbook.stack.pg_check", args, check=False, **kwargs)


def psql(db, sql, dbname="appdb"):
    res = db.run("runuser -u postgres -- psql -XAtq -d %s -c %s", dbname, sql)
    assert res.rc == 0, res.stderr
    return res.stdout.strip()


# -- PostgreSQL ---------------------------------------------------------------------


def test_pg_all_checks_as_postgres_over_the_socket(db):
    out = pg_check(db, {"login_db": "appdb"})
    assert out["changed"] is False, out
    checks = by_id(out)
    assert PG_IDS <= set(checks), out
    assert {"pg.database_size:appdb", "pg.database_size:postgres"} <= set(checks)
    bad = {k: (c["status"], c["message"]) for k, c in checks.items() if c["status"] != "ok"}
    assert not bad, bad
    assert out["summary"]["worst"] == "ok"
    assert checks["pg.connect"]["details"]["login_user"] == "postgres"
    assert checks["pg.connect"]["details"]["sees_all"] is True
    assert checks["pg.replication"]["details"]["role"] == "primary"
    # Values agree with what the server says directly.
    size = int(psql(db, "SELECT pg_database_size('appdb')"))
    assert abs(checks["pg.database_size:appdb"]["value"] - size) < 1024 * 1024
    assert checks["pg.vacuum"]["details"]["database"] == "appdb"


def realistic_queries():
    return [
        {"name": "failed_jobs_24h", "label": "failed job executions in the last 24 h", "unit": "runs", "warn": 1, "crit": 5,
         "sql": "SELECT count(*) FROM job_executions WHERE status = 'FAILED' AND started_at > now() - interval '24 hours'"},
        {"name": "data_freshness_hours", "label": "age of the newest measurement", "unit": "h", "warn": 2, "crit": 6,
         "sql": "SELECT extract(epoch FROM now() - max(ts)) / 3600 FROM measurements"},
        {"name": "valid_pct_24h", "label": "valid measurements in the last 24 h", "unit": "%", "warn": 95, "crit": 80,
         "direction": "below",
         "sql": "SELECT 100.0 * count(*) FILTER (WHERE valid) / nullif(count(*), 0) FROM measurements"
                " WHERE ts > now() - interval '24 hours'"},
        {"name": "gaps_24h", "label": "gap flags in the last 24 h", "unit": "rows", "warn": 10,
         "sql": "SELECT count(*) FROM measurements WHERE gap AND ts > now() - interval '24 hours'"},
    ]


def test_pg_app_user_over_tcp_with_realistic_queries(db, secrets):
    out = pg_check(
        db,
        {"login_host": "127.0.0.1", "login_user": "app", "login_password": secrets["db_app"], "login_db": "appdb",
         "checks": ["connect", "connections", "long_running"], "queries": realistic_queries()},
        as_postgres=False,
    )
    checks = by_id(out)
    assert checks["pg.connect"]["status"] == "ok", checks["pg.connect"]
    assert checks["pg.connect"]["details"]["sees_all"] is False
    assert "grant pg_monitor" in checks["pg.long_running"]["message"]

    failed = int(psql(db, "SELECT count(*) FROM job_executions WHERE status = 'FAILED' AND started_at > now() - interval '24 hours'"))
    q = checks["pg.query:failed_jobs_24h"]
    assert q["value"] == failed
    assert q["status"] == ("ok" if failed < 1 else "warn" if failed < 5 else "crit")
    assert q["message"].startswith(f"failed job executions in the last 24 h is {failed} runs")

    newest = psql(db, "SELECT extract(epoch FROM now() - max(ts)) / 3600 FROM measurements")
    fresh = checks["pg.query:data_freshness_hours"]
    if newest:
        assert fresh["status"] in ("ok", "warn", "crit")
        assert fresh["value"] == pytest.approx(float(newest), abs=0.05)
    else:  # no measurements yet: NULL
        assert fresh["status"] == "unknown" and "NULL" in fresh["message"]

    rate = checks["pg.query:valid_pct_24h"]
    expected = psql(db, "SELECT 100.0 * count(*) FILTER (WHERE valid) / nullif(count(*), 0) FROM measurements WHERE ts > now() - interval '24 hours'")
    if expected:
        assert rate["value"] == pytest.approx(float(expected), abs=1)
        assert rate["warn"] == 95 and rate["crit"] == 80
    else:
        assert rate["status"] == "unknown"
    gaps = int(psql(db, "SELECT count(*) FROM measurements WHERE gap AND ts > now() - interval '24 hours'"))
    assert checks["pg.query:gaps_24h"]["value"] == pytest.approx(gaps, abs=2)  # the ingest job may add rows in between


def test_pg_query_threshold_crossed_warns(db, secrets):
    queries = realistic_queries()[:1]
    queries[0].update(warn=0, crit=None)  # count >= 0 always
    out = pg_check(db, {"login_host": "127.0.0.1", "login_user": "app", "login_password": secrets["db_app"],
                        "login_db": "appdb", "checks": ["connect"], "queries": queries}, as_postgres=False)
    q = by_id(out)["pg.query:failed_jobs_24h"]
    assert q["status"] == "warn", q
    assert out["summary"]["worst"] == "warn"


def test_pg_custom_queries_cannot_write(db):
    table = f"opsbook_probe_{pysecrets.token_hex(4)}"
    ghost = f"{table}_ghost"
    psql(db, f"CREATE TABLE {table} (x int); INSERT INTO {table} VALUES (1), (2), (3)", dbname="postgres")
    try:
        out = pg_check(
            db,
            {"checks": ["connect"], "queries": [
                {"name": "delete", "sql": f"WITH d AS (DELETE FROM {table} RETURNING 1) SELECT count(*) FROM d"},
                {"name": "create", "sql": f"CREATE TABLE {ghost} (x int)"},
                {"name": "escape", "sql": f"SELECT 1; COMMIT; DELETE FROM {table}"},
                {"name": "app_delete", "db": "appdb",
                 "sql": "DELETE FROM job_executions WHERE started_at < now() - interval '100 years'"},
            ]},
        )
        checks = by_id(out)
        for name in ("delete", "create", "app_delete"):
            res = checks[f"pg.query:{name}"]
            assert res["status"] == "unknown", res
            assert "read-only transaction" in res["message"], res
        assert "cannot execute CREATE TABLE in a read-only transaction" in checks["pg.query:create"]["message"]
        assert "multiple commands" in checks["pg.query:escape"]["message"]
        # Nothing changed.
        assert psql(db, f"SELECT count(*) FROM {table}", dbname="postgres") == "3"
        assert psql(db, f"SELECT to_regclass('{ghost}') IS NULL", dbname="postgres") == "t"
    finally:
        psql(db, f"DROP TABLE IF EXISTS {table}, {ghost}", dbname="postgres")


def test_pg_idle_and_long_sessions_are_reported(db):
    """A held-open transaction and a sleeping statement; their backends are terminated at the end
    (the idle psql's feeding `sleep` then exits by itself)."""
    app_name = f"opsbook_probe_{pysecrets.token_hex(3)}"
    db.run(
        "runuser -u postgres -- bash -c \"(printf 'BEGIN;\\nSELECT 1;\\n'; sleep 90) | PGAPPNAME=%s psql -Xq -d postgres\""
        " >/dev/null 2>&1 </dev/null &", app_name,
    )
    db.run("runuser -u postgres -- env PGAPPNAME=%s psql -Xq -d postgres -c 'SELECT pg_sleep(90)' >/dev/null 2>&1 </dev/null &", app_name)
    count = f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app_name}' AND now() - state_change > interval '1 second'"
    try:
        for _attempt in range(40):
            if psql(db, count, dbname="postgres") == "2":
                break
            time.sleep(0.5)
        assert psql(db, count, dbname="postgres") == "2", "the probe sessions did not start"
        out = pg_check(db, {
            "checks": ["connections", "long_running", "idle_in_transaction"],
            "thresholds": {"idle_in_transaction_seconds": {"warn": 1, "crit": 3600},
                           "long_running_seconds": {"warn": 1, "crit": 3600},
                           "connections_pct": {"warn": 1, "crit": 100}},
        })
        checks = by_id(out)
        for check in ("pg.idle_in_transaction", "pg.long_running", "pg.connections"):
            assert checks[check]["status"] == "warn", checks[check]
        idle = checks["pg.idle_in_transaction"]
        assert idle["value"] >= 1
        assert any(s["application_name"] == app_name for s in idle["details"]["top"])
        assert any(s["application_name"] == app_name for s in checks["pg.long_running"]["details"]["top"])
        assert out["summary"]["worst"] == "warn"
    finally:
        psql(db, f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '{app_name}'", dbname="postgres")


def test_pg_wrong_password_is_crit_without_echo(db):
    wrong = f"Wrong-{pysecrets.token_hex(8)}"
    out = pg_check(db, {"login_host": "127.0.0.1", "login_user": "app", "login_password": wrong, "login_db": "appdb",
                        "queries": realistic_queries()[:1]}, as_postgres=False)
    checks = by_id(out)
    assert checks["pg.connect"]["status"] == "crit"
    assert "password authentication failed" in checks["pg.connect"]["message"]
    others = [c for k, c in checks.items() if k != "pg.connect"]
    assert others and all(c["status"] == "unknown" and "cannot connect" in c["message"] for c in others)
    assert wrong not in json.dumps(out)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({"checks": ["connect", "wraparund"]}, "unknown check name(s) 'wraparund'"),
        ({"thresholds": {"long_running_seconds": {"warn": 7200}}}, "threshold 'long_running_seconds': warn 7200 is beyond crit 3600"),
        ({"queries": [{"name": "rate", "sql": "SELECT 1", "warn": 80, "crit": 95, "direction": "below"}]}, "'query rate': warn 80 is beyond crit 95"),
    ],
)
def test_pg_bad_input_fails_naming_it(db, args, fragment):
    out = pg_check(db, args)
    # (ansible --tree keeps no "failed" key: a failed module run has msg and no checks)
    assert "checks" not in out, out
    assert fragment in out["msg"]


# -- Redis --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cache(stack):
    cache = StackHost(stack, stack.hosts("cache")[0])
    lib = cache.run("python3 -c 'import redis'")
    assert lib.rc == 0, f"python3-redis is not installed on {cache.name}: the redis role must install it for redis_check"
    return cache


def redis_check(cache, args):
    return cache.ansible("opsbook.stack.redis_check", args, check=False)


@pytest.fixture(scope="module")
def temp_redis(cache):
    """A throwaway redis-server on 127.0.0.1:16379 with the monitoring user; stopped afterwards."""
    password = pysecrets.token_hex(16)
    workdir = cache.run("mktemp -d /tmp/opsbook-redis-check.XXXXXX").stdout.strip()
    assert workdir.startswith("/tmp/opsbook-redis-check.")
    cache.run("chown redis: %s", workdir)
    start = cache.run(
        "runuser -u redis -- redis-server --port %s --bind 127.0.0.1 --daemonize yes --dir %s --pidfile %s/redis.pid"
        " --logfile %s/redis.log --save '3600 1' --appendonly no --maxmemory 64mb"
        " --user monitor on %s " + " ".join(["%s"] * len(MONITOR_RULES.split())),
        str(TEMP_PORT), workdir, workdir, workdir, f">{password}", *MONITOR_RULES.split(),
    )
    assert start.rc == 0, start.stderr
    for _attempt in range(20):
        if cache.run("redis-cli -p %s ping", str(TEMP_PORT)).stdout.strip() == "PONG":
            break
        time.sleep(0.25)
    yield {"port": TEMP_PORT, "password": password}
    cache.run("kill $(cat %s/redis.pid)", workdir)
    time.sleep(0.5)
    cache.run("rm -rf %s", workdir)


def monitor_args(temp_redis, **extra):
    return {"login_port": temp_redis["port"], "login_user": "monitor", "login_password": temp_redis["password"], **extra}


def test_redis_shared_server_as_app_user(cache, secrets):
    """The app user (+@all -@dangerous) answers PING but may not run INFO: why a monitoring user is needed."""
    out = redis_check(cache, {"login_user": "app", "login_password": secrets["redis_app"]})
    checks = by_id(out)
    assert checks["redis.ping"]["status"] == "ok", checks["redis.ping"]
    for name in ("memory", "evictions", "rejected_connections", "rdb", "aof"):
        res = checks[f"redis.{name}"]
        assert res["status"] == "unknown"
        assert "(add +info to its ACL rules)" in res["message"], res
    assert secrets["redis_app"] not in json.dumps(out)


def test_redis_shared_server_as_monitoring_user(cache, secrets):
    """The inventory's monitoring login (-@all +ping +info +config|get) gets every check measured."""
    user = cache.variables().get("stack_monitor_redis_user")
    assert user and "redis_monitor" in secrets, "the sandbox inventory defines stack_monitor_redis_user and its secret"
    out = redis_check(cache, {"login_user": user, "login_password": secrets["redis_monitor"]})
    checks = by_id(out)
    assert len(checks) == 6, out
    bad = {k: (c["status"], c["message"]) for k, c in checks.items() if c["status"] != "ok"}
    assert not bad, bad
    rdb = checks["redis.rdb"]["details"]
    # The save schedule comes from CONFIG GET save; the redis role may rename CONFIG away.
    assert rdb["save"] is not None or "unknown command" in rdb["save_schedule_error"], rdb
    assert secrets["redis_monitor"] not in json.dumps(out)


def test_redis_monitor_user_has_only_the_needed_rights(cache, temp_redis):
    acl = cache.run("redis-cli -p %s ACL GETUSER monitor", str(temp_redis["port"])).stdout.splitlines()
    assert set(acl[acl.index("commands") + 1].split()) == set(MONITOR_RULES.split()), acl
    denied = cache.run("redis-cli --no-auth-warning -p %s --user monitor --pass %s GET somekey", str(temp_redis["port"]), temp_redis["password"])
    assert "NOPERM" in denied.stdout + denied.stderr
    out = redis_check(cache, monitor_args(temp_redis))
    checks = by_id(out)
    assert [c["check"] for c in out["checks"]] == ["redis.ping", "redis.memory", "redis.evictions", "redis.rejected_connections", "redis.rdb", "redis.aof"]
    bad = {k: (c["status"], c["message"]) for k, c in checks.items() if c["status"] != "ok"}
    assert not bad, bad
    assert checks["redis.memory"]["details"]["basis"] == "maxmemory"
    assert checks["redis.memory"]["details"]["maxmemory"] == 64 * 1024 * 1024
    assert checks["redis.rdb"]["details"]["save"] == "3600 1"
    assert checks["redis.aof"]["value"] == "disabled"


def test_redis_non_ok_results(cache, temp_redis):
    cache.run("redis-cli -p %s SET opsbook:probe 1", str(temp_redis["port"]))  # one change since the last save
    out = redis_check(cache, monitor_args(
        temp_redis,
        checks=["memory", "rdb", "aof"],
        thresholds={"memory_pct": {"warn": 0.01, "crit": 100}, "rdb_age_hours": {"warn": 0}},
        aof_expected=True,
    ))
    checks = by_id(out)
    assert checks["redis.memory"]["status"] == "warn", checks["redis.memory"]
    assert checks["redis.rdb"]["status"] == "warn", checks["redis.rdb"]
    assert "1 changes since" in checks["redis.rdb"]["message"]
    assert checks["redis.aof"]["status"] == "crit"
    assert out["summary"] == {"ok": 0, "warn": 2, "crit": 1, "unknown": 0, "total": 3, "worst": "crit"}


def test_redis_wrong_password_and_refused(cache, temp_redis):
    wrong = f"Wrong-{pysecrets.token_hex(8)}"
    out = redis_check(cache, {"login_port": temp_redis["port"], "login_user": "monitor", "login_password": wrong})
    checks = by_id(out)
    assert checks["redis.ping"]["status"] == "crit"
    assert "invalid username-password pair" in checks["redis.ping"]["message"]
    assert all(c["status"] == "unknown" for k, c in checks.items() if k != "redis.ping")
    assert wrong not in json.dumps(out)
    refused = by_id(redis_check(cache, {"login_port": 1, "checks": ["ping", "memory"]}))
    assert refused["redis.ping"]["status"] == "crit"
    assert "refused" in refused["redis.ping"]["message"].lower()
    assert refused["redis.memory"]["status"] == "unknown"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({"checks": ["ping", "latency"]}, "unknown check name(s) 'latency'"),
        ({"thresholds": {"memory_pct": {"warn": 95}}}, "threshold 'memory_pct': warn 95 is beyond crit 90"),
    ],
)
def test_redis_bad_input_fails_naming_it(cache, args, fragment):
    out = redis_check(cache, args)
    # (ansible --tree keeps no "failed" key: a failed module run has msg and no checks)
    assert "checks" not in out, out
    assert fragment in out["msg"]

"""End-to-end checks of the provisioned stack: real ports, auth, TLS and HTTP through the proxy."""

from __future__ import annotations

import json

import pytest

from testbed.stack import Stack, StackHost


@pytest.fixture(scope="module")
def db(stack: Stack) -> StackHost:
    return StackHost(stack, stack.hosts("db")[0])


@pytest.fixture(scope="module")
def cache(stack: Stack) -> StackHost:
    return StackHost(stack, stack.hosts("cache")[0])


@pytest.fixture(scope="module")
def app(stack: Stack) -> StackHost:
    return StackHost(stack, stack.hosts("app")[0])


def test_services_enabled_and_listening(db: StackHost, cache: StackHost, app: StackHost) -> None:
    assert db.socket("tcp://0.0.0.0:5432").is_listening
    assert cache.socket("tcp://0.0.0.0:6379").is_listening
    assert app.socket("tcp://0.0.0.0:443").is_listening
    assert app.socket("tcp://0.0.0.0:80").is_listening
    assert app.socket("tcp://127.0.0.1:8000").is_listening
    for h, unit in ((cache, "redis-server"), (app, "nginx"), (app, "refservice-web"), (app, "refservice-scheduler")):
        svc = h.service(unit)
        assert svc.is_running, unit
        assert svc.is_enabled, unit
    assert db.run("systemctl is-active 'postgresql@*-main.service'").stdout.strip() == "active"


def test_postgresql_auth_from_app_host(stack: Stack, app: StackHost, db: StackHost) -> None:
    """The app user gets in over the network with its password; a wrong one is refused."""
    py = "/opt/refservice/current/venv/bin/python"
    code = (
        "import sys, psycopg\n"
        "try:\n"
        "    psycopg.connect(host=sys.argv[1], dbname='appdb', user='app', password=sys.argv[2], connect_timeout=5).execute('select 1')\n"
        "    print('OK')\n"
        "except psycopg.OperationalError as e:\n"
        "    print('ERR', e)\n"
    )
    address = stack.address(db.name)
    good = app.run(f"{py} -c \"{code}\" {address} '{stack.secrets['db_app']}'")
    assert good.stdout.strip() == "OK", good.stdout + good.stderr
    bad = app.run(f"{py} -c \"{code}\" {address} wrong-password")
    assert "password authentication failed" in bad.stdout, bad.stdout + bad.stderr


def test_redis_requires_auth(stack: Stack, cache: StackHost) -> None:
    anonymous = cache.run("redis-cli -h 127.0.0.1 ping")
    assert "PONG" not in anonymous.stdout
    assert "NOAUTH" in anonymous.stdout + anonymous.stderr or "NOPERM" in anonymous.stdout + anonymous.stderr
    good = cache.run(f"redis-cli --no-auth-warning -h 127.0.0.1 --user app --pass '{stack.secrets['redis_app']}' ping")
    assert good.stdout.strip() == "PONG"
    wrong = cache.run("redis-cli --no-auth-warning -h 127.0.0.1 --user app --pass nope ping")
    assert "WRONGPASS" in wrong.stdout + wrong.stderr


def test_health_through_nginx(stack: Stack, app: StackHost) -> None:
    body = {}

    def healthy() -> bool:
        nonlocal body
        res = app.run("curl -sk -w '\\n%{http_code}' https://localhost/health")
        text, _sep, code = res.stdout.rpartition("\n")
        body = json.loads(text) if code == "200" else {}
        return code == "200"

    stack.wait_for("/health to answer 200 through nginx", healthy, timeout=60)
    assert body["status"] == "healthy"


def test_http_redirects_to_https(app: StackHost) -> None:
    out = app.run("curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://localhost/health").stdout
    code, url = out.split(" ", 1)
    assert code == "301"
    assert url.startswith("https://")


def test_tls_versions(app: StackHost) -> None:
    for proto in ("-tls1_2", "-tls1_3"):
        res = app.run(f"openssl s_client -connect 127.0.0.1:443 {proto} -brief </dev/null")
        assert res.rc == 0, (proto, res.stderr)
    # SECLEVEL=0 lets the client offer TLS 1.0/1.1, so a refusal is the server's.
    for proto in ("-tls1", "-tls1_1"):
        res = app.run(f"openssl s_client -connect 127.0.0.1:443 {proto} -cipher 'DEFAULT:@SECLEVEL=0' -brief </dev/null")
        assert res.rc != 0, proto


def test_scheduler_wrote_job_executions(stack: Stack) -> None:
    def ran() -> bool:
        out = stack.psql("select count(*) from job_executions where status = 'SUCCESS'")
        return int(out or 0) > 0

    stack.wait_for("a successful job execution", ran, timeout=120, step=3)

"""End-to-end checks of the provisioned stack: real ports, auth, TLS and HTTP."""

from __future__ import annotations

import json
import time

from conftest import hosts_of

DB = hosts_of("db")[0]
CACHE = hosts_of("cache")[0]
APP = hosts_of("app")[0]


def _get_host(host, name):
    return host.get_host(f"ansible://{name}", ansible_inventory=host.backend.ansible_inventory)


def test_services_enabled_and_listening(host):
    db, cache, app = (_get_host(host, h) for h in (DB, CACHE, APP))
    assert db.socket("tcp://0.0.0.0:5432").is_listening
    assert cache.socket("tcp://0.0.0.0:6379").is_listening
    assert app.socket("tcp://0.0.0.0:443").is_listening
    assert app.socket("tcp://0.0.0.0:80").is_listening
    assert app.socket("tcp://127.0.0.1:8000").is_listening
    for h, unit in ((cache, "redis-server"), (app, "nginx"), (app, "refservice-web"), (app, "refservice-scheduler")):
        svc = h.service(unit)
        assert svc.is_running, unit
        assert svc.is_enabled, unit
    assert db.run("systemctl is-active postgresql@*-main.service").stdout.strip() == "active"


def test_postgresql_auth_from_app_host(host, secrets):
    """The app user gets in over the network with its password; a wrong one is refused."""
    app = _get_host(host, APP)
    py = "/opt/refservice/current/venv/bin/python"
    code = (
        "import sys, psycopg\n"
        "try:\n"
        "    psycopg.connect(host=sys.argv[1], dbname='appdb', user='app', password=sys.argv[2], connect_timeout=5).execute('select 1')\n"
        "    print('OK')\n"
        "except psycopg.OperationalError as e:\n"
        "    print('ERR', e)\n"
    )
    good = app.run(f"{py} -c \"{code}\" {DB} '{secrets['db_app']}'")
    assert good.stdout.strip() == "OK", good.stdout + good.stderr
    bad = app.run(f"{py} -c \"{code}\" {DB} wrong-password")
    assert "password authentication failed" in bad.stdout, bad.stdout + bad.stderr


def test_redis_requires_auth(host, secrets):
    cache = _get_host(host, CACHE)
    anonymous = cache.run("redis-cli -h 127.0.0.1 ping")
    assert "PONG" not in anonymous.stdout
    assert "NOAUTH" in anonymous.stdout + anonymous.stderr or "NOPERM" in anonymous.stdout + anonymous.stderr
    good = cache.run(f"redis-cli --no-auth-warning -h 127.0.0.1 --user app --pass '{secrets['redis_app']}' ping")
    assert good.stdout.strip() == "PONG"
    wrong = cache.run("redis-cli --no-auth-warning -h 127.0.0.1 --user app --pass nope ping")
    assert "WRONGPASS" in wrong.stdout + wrong.stderr


def test_health_through_nginx(host):
    app = _get_host(host, APP)
    for _attempt in range(30):
        res = app.run("curl -sk -w '\\n%{http_code}' https://localhost/health")
        body, _sep, code = res.stdout.rpartition("\n")
        if code == "200":
            break
        time.sleep(2)
    assert code == "200", res.stdout
    health = json.loads(body)
    assert health["status"] == "healthy"


def test_http_redirects_to_https(host):
    app = _get_host(host, APP)
    out = app.run("curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://localhost/health").stdout
    code, url = out.split(" ", 1)
    assert code == "301"
    assert url.startswith("https://")


def test_tls_versions(host):
    app = _get_host(host, APP)
    for proto in ("-tls1_2", "-tls1_3"):
        res = app.run(f"openssl s_client -connect 127.0.0.1:443 {proto} -brief </dev/null")
        assert res.rc == 0, (proto, res.stderr)
    # SECLEVEL=0 lets the client offer TLS 1.0/1.1, so a refusal is the server's.
    for proto in ("-tls1", "-tls1_1"):
        res = app.run(f"openssl s_client -connect 127.0.0.1:443 {proto} -cipher 'DEFAULT:@SECLEVEL=0' -brief </dev/null")
        assert res.rc != 0, proto


def test_scheduler_wrote_job_executions(host):
    db = _get_host(host, DB)
    count = 0
    for _attempt in range(40):
        res = db.run("runuser -u postgres -- psql -d appdb -tAc \"select count(*) from job_executions where status = 'SUCCESS'\"")
        count = int(res.stdout.strip() or 0) if res.rc == 0 else 0
        if count > 0:
            break
        time.sleep(3)
    assert count > 0

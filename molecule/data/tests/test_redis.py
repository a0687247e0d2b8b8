"""Verify the opsbook.stack.redis role on the molecule hosts (real behaviour)."""

import shlex

import pytest

ACL_FILE = "/etc/redis/users.acl"


@pytest.fixture(scope="module")
def rvars(host):
    return host.ansible.get_variables()


def _user(rvars, name):
    return next(u for u in rvars["redis_users"] if u["name"] == name)


def cli(host, *args, user=None, password=None):
    cmd = ["redis-cli", "--no-auth-warning", "-h", "127.0.0.1", "-p", "6379"]
    if user:
        cmd += ["--user", user, "--pass", password]
    cmd += list(args)
    return host.run(" ".join(shlex.quote(a) for a in cmd))


def app(host, rvars, *args):
    u = _user(rvars, "app")
    return cli(host, *args, user="app", password=u["password"])


def admin(host, rvars, *args):
    u = _user(rvars, "admin")
    return cli(host, *args, user="admin", password=u["password"])


def test_service_running_and_enabled(host):
    svc = host.service("redis-server")
    assert svc.is_running
    assert svc.is_enabled


def test_listens_on_all_ipv4_addresses(host):
    assert host.socket("tcp://0.0.0.0:6379").is_listening


def test_unauthenticated_ping_is_refused(host):
    out = cli(host, "ping")
    text = (out.stdout + out.stderr).upper()
    assert "PONG" not in text
    assert "NOAUTH" in text or "NOPERM" in text or "AUTHENTICATION REQUIRED" in text


def test_default_user_is_disabled(host):
    out = cli(host, "ping", user="default", password="")
    assert "PONG" not in out.stdout


def test_app_ping_with_password(host, rvars):
    out = app(host, rvars, "ping")
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == "PONG"


def test_wrong_password_is_rejected(host):
    out = cli(host, "ping", user="app", password="definitely-wrong")
    text = out.stdout + out.stderr
    assert "PONG" not in text
    assert "WRONGPASS" in text


def test_set_get_roundtrip_as_app(host, rvars):
    assert app(host, rvars, "SET", "molecule:key", "value-42").stdout.strip() == "OK"
    assert app(host, rvars, "GET", "molecule:key").stdout.strip() == "value-42"
    app(host, rvars, "DEL", "molecule:key")


def test_flushall_unavailable_for_app(host, rvars):
    out = app(host, rvars, "FLUSHALL")
    text = (out.stdout + out.stderr).lower()
    assert "unknown command" in text or "noperm" in text


def test_flushall_disabled_even_for_admin(host, rvars):
    out = admin(host, rvars, "FLUSHALL")
    assert "unknown command" in (out.stdout + out.stderr).lower()


def test_dangerous_commands_denied_for_app(host, rvars):
    out = app(host, rvars, "KEYS", "*")
    assert "NOPERM" in out.stdout + out.stderr


def test_config_is_renamed(host, rvars):
    plain = admin(host, rvars, "CONFIG", "GET", "maxmemory")
    assert "unknown command" in (plain.stdout + plain.stderr).lower()
    renamed = admin(host, rvars, rvars["redis_config_command_name"], "GET", "maxmemory")
    assert renamed.rc == 0, renamed.stderr
    assert renamed.stdout.split() == ["maxmemory", "134217728"]


def test_maxmemory_in_info(host, rvars):
    out = admin(host, rvars, "INFO", "memory")
    assert "maxmemory:134217728" in out.stdout
    assert "maxmemory_policy:allkeys-lru" in out.stdout


def test_aof_enabled(host, rvars):
    out = admin(host, rvars, "INFO", "persistence")
    assert "aof_enabled:1" in out.stdout


def test_save_points(host, rvars):
    out = admin(host, rvars, rvars["redis_config_command_name"], "GET", "save")
    assert out.stdout.split()[1:] == ["3600", "1", "300", "100", "60", "10000"]


def test_acl_file_protected_and_hashed(host, rvars):
    acl = host.file(ACL_FILE)
    assert acl.user == "root"
    assert acl.group == "redis"
    assert acl.mode & 0o007 == 0
    content = acl.content_string
    for user in rvars["redis_users"]:
        assert user["password"] not in content
    assert "user default off" in content


def test_include_is_last_line(host):
    conf = host.file("/etc/redis/redis.conf").content_string
    assert conf.rstrip().splitlines()[-1] == "include /etc/redis/conf.d/opsbook.conf"


def test_config_check_rejects_bad_config(host):
    bad = host.run(
        "f=$(mktemp) && printf 'maxmemory 12xx\\n' > $f && "
        "/usr/local/sbin/redis-config-check conf $f; rc=$?; rm -f $f; exit $rc"
    )
    assert bad.rc == 1
    assert "maxmemory" in bad.stderr
    good = host.run("/usr/local/sbin/redis-config-check conf /etc/redis/redis.conf")
    assert good.rc == 0, good.stderr

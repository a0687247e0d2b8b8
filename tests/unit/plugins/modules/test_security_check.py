"""security_check: ss / nginx -T parsing, cipher strings, pg_hba rows, roles, schemas, file modes, Redis outcomes, options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.opsbook.stack.plugins.module_utils import _security as sec
from ansible_collections.opsbook.stack.plugins.modules import security_check

# -- ss -Hltn ----------------------------------------------------------------------

# Real `ss -Hltn` output of the sandbox hosts (Debian 12, iproute2 6.1), plus lines of other shapes.
SS_APP = """\
LISTEN 0      511          0.0.0.0:80         0.0.0.0:*
LISTEN 0      511          0.0.0.0:443        0.0.0.0:*
LISTEN 0      2048       127.0.0.1:8000       0.0.0.0:*
LISTEN 0      4096      127.0.0.11:44873      0.0.0.0:*
LISTEN 0      511             [::]:80            [::]:*
LISTEN 0      511             [::]:443           [::]:*
"""
SS_CACHE = "LISTEN 0      511          0.0.0.0:6379       0.0.0.0:*\nLISTEN 0      4096   127.0.0.11:44569 0.0.0.0:*\n"
SS_OTHER = """\
LISTEN 0      4096   127.0.0.53%lo:53         0.0.0.0:*
LISTEN 0      128              *:22               *:*
LISTEN 0      511      [::ffff:127.0.0.1]:6380      *:*
LISTEN 0      244            [::1]:5432          [::]:*
LISTEN 0      244       10.1.2.3:5432       0.0.0.0:*
0      128    [fe80::1%eth0]:9100      [::]:*
garbage line
"""


def test_parse_ss_real_lines():
    found = sec.parse_ss(SS_APP)
    assert [(x.address, x.port) for x in found] == [
        ("0.0.0.0", 80), ("0.0.0.0", 443), ("127.0.0.1", 8000), ("127.0.0.11", 44873), ("::", 80), ("::", 443)]
    assert found[4].shown == "[::]:80"
    other = sec.parse_ss(SS_OTHER)
    assert [(x.address, x.port) for x in other] == [
        ("127.0.0.53", 53), ("*", 22), ("::ffff:127.0.0.1", 6380), ("::1", 5432), ("10.1.2.3", 5432), ("fe80::1", 9100)]


@pytest.mark.parametrize(
    ("address", "loopback", "wildcard"),
    [("127.0.0.1", True, False), ("127.0.0.11", True, False), ("::1", True, False), ("::ffff:127.0.0.1", True, False),
     ("0.0.0.0", False, True), ("::", False, True), ("*", False, True), ("10.1.2.3", False, False), ("fe80::1", False, False)],
)
def test_address_kinds(address, loopback, wildcard):
    assert sec.is_loopback(address) is loopback
    assert sec.is_wildcard(address) is wildcard


def test_ports_lists_without_expected_and_ignores_loopback():
    res = sec.ports_result(sec.parse_ss(SS_APP), None)
    assert (res.check, res.status, res.value) == ("security.ports", "ok", 2)
    assert "80 (0.0.0.0:80 [::]:80), 443 (0.0.0.0:443 [::]:443)" in res.message
    assert res.details["loopback_only"] == [8000, 44873]


def test_ports_warns_on_unexpected_names_port_and_address():
    res = sec.ports_result(sec.parse_ss(SS_APP + SS_OTHER), [80, 443, 22])
    assert res.status == "warn"
    assert res.value == 2
    assert "5432 on 10.1.2.3:5432" in res.message and "9100 on [fe80::1]:9100" in res.message
    assert "53" not in res.details["unexpected"] and "6380" not in res.details["unexpected"]
    assert sec.ports_result(sec.parse_ss(SS_APP), [80, 443]).status == "ok"


def test_redis_bind():
    listeners = sec.parse_ss(SS_CACHE)
    warn = sec.redis_bind_result(listeners, 6379, False)
    assert warn.status == "warn" and "0.0.0.0:6379" in warn.message
    ok = sec.redis_bind_result(listeners, 6379, True)
    assert ok.status == "ok" and "accepted by redis_public_ok" in ok.message
    private = sec.redis_bind_result(sec.parse_ss("LISTEN 0 511 10.0.0.5:6379 0.0.0.0:*\nLISTEN 0 511 [::1]:6379 [::]:*"), 6379, False)
    assert private.status == "ok" and private.value == "10.0.0.5:6379, [::1]:6379"
    absent = sec.redis_bind_result(listeners, 6380, False)
    assert absent.status == "unknown" and "nothing listens on TCP port 6380" in absent.message


# -- Redis without credentials ----------------------------------------------------


class AuthenticationError(Exception):  # redis-py's names; the classes differ between 4.3 and 6.x
    pass


# redis-py's ConnectionError, by name (classification goes by class names), without shadowing the builtin.
RedisConnectionError = type("ConnectionError", (Exception,), {})


class ResponseError(Exception):
    pass


class NoPermissionError(ResponseError):
    pass


@pytest.mark.parametrize(
    ("kwargs", "status", "value", "fragment"),
    [
        ({"reply": True}, "crit", "open", "answers without authentication"),
        ({"reply": "PONG"}, "crit", "open", "answers without authentication"),
        ({"error": AuthenticationError("Authentication required.")}, "ok", "closed", "refuses commands"),
        ({"error": ResponseError("NOAUTH Authentication required.")}, "ok", "closed", "NOAUTH"),
        ({"error": ResponseError("WRONGPASS invalid username-password pair or user is disabled.")}, "ok", "closed", "WRONGPASS"),
        ({"error": NoPermissionError("this user has no permissions to run the 'ping' command")}, "warn", "limited", "user default"),
        ({"error": RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")}, "unknown", None, "cannot reach"),
        ({"error": ValueError("odd")}, "unknown", None, "PING to 127.0.0.1:6379 failed"),
    ],
)
def test_redis_auth_outcomes(kwargs, status, value, fragment):
    res = sec.redis_auth_result("127.0.0.1:6379", **kwargs)
    assert res.check == "security.redis_auth"
    assert (res.status, res.value) == (status, value)
    assert fragment in res.message


# -- nginx -T -----------------------------------------------------------------------

# Trimmed from the real `nginx -T` of the sandbox app host (nginx 1.22.1, Debian 12): Debian's
# nginx.conf keeps its http-level ssl_protocols, the site sets its own per server.
NGINX_T = """\
nginx: the configuration file /etc/nginx/nginx.conf syntax is ok
nginx: configuration file /etc/nginx/nginx.conf test is successful
# configuration file /etc/nginx/nginx.conf:
user www-data;
worker_processes auto;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
include /etc/nginx/modules-enabled/*.conf;

events {
\tworker_connections 768;
\t# multi_accept on;
}

http {

\t##
\t# Basic Settings
\t##

\tsendfile on;
\ttcp_nopush on;
\ttypes_hash_max_size 2048;
\t# server_tokens off;

\tinclude /etc/nginx/mime.types;
\tdefault_type application/octet-stream;

\t##
\t# SSL Settings
\t##

\tssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; # Dropping SSLv3, ref: POODLE
\tssl_prefer_server_ciphers on;

\taccess_log /var/log/nginx/access.log;
\tgzip on;

\tinclude /etc/nginx/conf.d/*.conf;
\tinclude /etc/nginx/sites-enabled/*;
}


#mail {
#\tserver {
#\t\tlisten     localhost:110;
#\t\tprotocol   pop3;
#\t}
#}

# configuration file /etc/nginx/mime.types:

types {
    text/html                             html htm shtml;
    text/css                              css;
}

# configuration file /etc/nginx/conf.d/opsbook-hardening.conf:
#
# Ansible managed
#
server_tokens off;

ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
ssl_ecdh_curve X25519:prime256v1:secp384r1;
ssl_session_cache shared:opsbook_tls:10m;
ssl_session_tickets off;

# configuration file /etc/nginx/sites-enabled/opsbook.conf:
#
# Ansible managed
#
upstream app {
    server 127.0.0.1:8000;
    keepalive 16;
}

# Plain HTTP: redirect everything to HTTPS.
server {
    listen 80;
    listen [::]:80;
    server_name localhost opsbook-app1 127.0.0.1;

    location / {
        return 301 https://$host$request_uri;
    }
}

server {
    listen 443 ssl http2;
    listen [::]:443 ssl http2;
    server_name localhost opsbook-app1 127.0.0.1;

    ssl_certificate /etc/nginx/tls/opsbook.crt;
    ssl_certificate_key /etc/nginx/tls/opsbook.key;
    ssl_protocols TLSv1.2 TLSv1.3;

    add_header Content-Security-Policy "default-src 'self'; frame-ancestors 'none'; object-src 'none'" always;

    location / {
        proxy_pass http://app;
        proxy_set_header Connection "";
    }
}
"""
ALLOWED = ["TLSv1.2", "TLSv1.3"]
SITE = "/etc/nginx/sites-enabled/opsbook.conf"


def test_split_nginx_dump_files_in_order():
    files = sec.split_nginx_dump(NGINX_T)
    assert list(files) == ["/etc/nginx/nginx.conf", "/etc/nginx/mime.types", "/etc/nginx/conf.d/opsbook-hardening.conf", SITE]
    assert "syntax is ok" not in files["/etc/nginx/nginx.conf"]


def test_nginx_tree_expands_includes_in_place():
    tree = sec.nginx_tree(NGINX_T)
    http = next(node for node in tree if node.name == "http")
    names = [node.name for node in http.block]
    assert "include" not in names
    assert names.count("server") == 2 and "types" in names and "ssl_ciphers" in names
    protocols = next(node for node in http.block if node.name == "ssl_protocols")
    assert (protocols.file, protocols.line, protocols.args) == ("/etc/nginx/nginx.conf", 30, ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"])
    tls = [node for node in http.block if node.name == "server"][1]
    csp = next(node for node in tls.block if node.name == "add_header")
    assert csp.args[1] == "default-src 'self'; frame-ancestors 'none'; object-src 'none'"  # quoted ; is not a terminator


def test_nginx_sandbox_is_ok_and_shadowed_directive_listed():
    res = sec.nginx_tls_result(NGINX_T, ALLOWED)
    assert (res.check, res.status) == ("security.nginx_tls", "ok")
    assert "TLSv1.2, TLSv1.3" in res.message
    assert res.details["shadowed"] == ["/etc/nginx/nginx.conf:30 ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3"]
    server = res.details["tls_servers"][0]
    assert server["where"] == f"{SITE}:20"
    assert server["protocols_from"] == [f"{SITE}:27"]
    assert server["ciphers_from"] == ["/etc/nginx/conf.d/opsbook-hardening.conf:6"]


def test_nginx_weak_protocol_in_server_is_crit_naming_file():
    dump = NGINX_T.replace("ssl_protocols TLSv1.2 TLSv1.3;", "ssl_protocols TLSv1 TLSv1.2;")
    res = sec.nginx_tls_result(dump, ALLOWED)
    assert res.status == "crit"
    assert f"protocol(s) TLSv1 enabled in {SITE}:27" in res.message


def test_nginx_inherited_http_level_protocols_are_judged():
    dump = NGINX_T.replace("    ssl_protocols TLSv1.2 TLSv1.3;\n", "")
    res = sec.nginx_tls_result(dump, ALLOWED)
    assert res.status == "crit"
    assert "protocol(s) TLSv1, TLSv1.1 enabled in /etc/nginx/nginx.conf:30" in res.message
    assert res.details["shadowed"] == []


def test_nginx_tls_server_without_any_ssl_protocols_warns():
    dump = NGINX_T.replace("\tssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; # Dropping SSLv3, ref: POODLE\n", "").replace(
        "    ssl_protocols TLSv1.2 TLSv1.3;\n", "")
    res = sec.nginx_tls_result(dump, ALLOWED)
    assert res.status == "warn"
    assert f"{SITE}:20" in res.message and "no ssl_protocols applies" in res.message


def test_nginx_weak_cipher_in_http_context_is_crit():
    dump = NGINX_T.replace("ECDHE-RSA-CHACHA20-POLY1305;", "ECDHE-RSA-CHACHA20-POLY1305:RC4-SHA;")
    res = sec.nginx_tls_result(dump, ALLOWED)
    assert res.status == "crit"
    assert "weak cipher(s) RC4-SHA enabled in /etc/nginx/conf.d/opsbook-hardening.conf:6" in res.message


def test_nginx_without_tls_server_and_empty_dump():
    plain = "# configuration file /etc/nginx/nginx.conf:\nhttp {\n ssl_protocols SSLv3;\n server { listen 80; }\n}\n"
    res = sec.nginx_tls_result(plain, ALLOWED)
    assert res.status == "ok" and "no server listening with ssl" in res.message
    assert sec.nginx_tls_result("nginx: [emerg] open() failed", ALLOWED).status == "unknown"


def test_nginx_stream_and_legacy_ssl_on():
    conf = ("# configuration file /etc/nginx/nginx.conf:\n"
            "stream {\n ssl_protocols TLSv1.2;\n server {\n  listen 5433 ssl;\n  proxy_pass db:5432;\n }\n}\n"
            "http {\n server {\n  listen 8443;\n  ssl on;\n  ssl_protocols SSLv3 TLSv1.2;\n }\n}\n")
    res = sec.nginx_tls_result(conf, ALLOWED)
    assert res.status == "crit" and "SSLv3 enabled in /etc/nginx/nginx.conf:12" in res.message
    assert len(res.details["tls_servers"]) == 2


@pytest.mark.parametrize(
    ("ciphers", "weak"),
    [
        ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305", []),
        ("HIGH:!aNULL:!MD5", []),
        ("EECDH+AESGCM:EDH+AESGCM:!3DES:-RC4", []),
        ("HIGH:3DES:!aNULL", ["3DES"]),
        ("HIGH:DES-CBC3-SHA", ["DES-CBC3-SHA"]),
        ("ECDHE-RSA-DES-CBC3-SHA", ["ECDHE-RSA-DES-CBC3-SHA"]),
        ("RC4-SHA:RC4-MD5", ["RC4-SHA", "RC4-MD5"]),
        ("ALL:eNULL", ["eNULL"]),
        ("DEFAULT:aNULL", ["aNULL"]),
        ("kRSA+RC4", ["kRSA+RC4"]),
        ("EXPORT:EXP-RC4-MD5", ["EXPORT", "EXP-RC4-MD5"]),
        ("NULL-SHA256 ADH-AES128-SHA", ["NULL-SHA256", "ADH-AES128-SHA"]),
        ("HIGH:+MD5", []),
    ],
)
def test_weak_ciphers(ciphers, weak):
    assert sec.weak_ciphers(ciphers) == weak


# -- PostgreSQL ----------------------------------------------------------------------

# Real pg_hba_file_rules rows of the sandbox db host (PostgreSQL 15) as psycopg returns them.
HBA_SANDBOX = [
    {"line_number": 1, "type": "local", "database": ["all"], "user_name": ["postgres"], "address": None, "netmask": None,
     "auth_method": "peer", "error": None},
    {"line_number": 2, "type": "local", "database": ["all"], "user_name": ["all"], "address": None, "netmask": None,
     "auth_method": "peer", "error": None},
    {"line_number": 3, "type": "host", "database": ["all"], "user_name": ["all"], "address": "127.0.0.1",
     "netmask": "255.255.255.255", "auth_method": "scram-sha-256", "error": None},
    {"line_number": 4, "type": "host", "database": ["all"], "user_name": ["all"], "address": "::1",
     "netmask": "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "auth_method": "scram-sha-256", "error": None},
    {"line_number": 8, "type": "host", "database": ["appdb"], "user_name": ["app"], "address": "172.30.50.0",
     "netmask": "255.255.255.0", "auth_method": "scram-sha-256", "error": None},
]


def hba(line, kind, address=None, netmask=None, method="scram-sha-256", error=None):
    return {"line_number": line, "type": kind, "database": ["all"], "user_name": ["all"], "address": address,
            "netmask": netmask, "auth_method": method, "error": error}


def test_hba_sandbox_ok():
    res = sec.hba_result(HBA_SANDBOX)
    assert (res.check, res.status, res.value) == ("security.pg_hba", "ok", 0)
    assert "methods peer, scram-sha-256" in res.message


def test_hba_trust_on_host_with_broad_address_is_crit_naming_lines():
    res = sec.hba_result([*HBA_SANDBOX, hba(9, "host", "0.0.0.0", "0.0.0.0", "trust"), hba(10, "host", "10.0.0.0", "255.0.0.0", "md5")])
    assert res.status == "crit"
    assert res.message == ("pg_hba.conf: trust authentication (crit) on line(s) 9; md5/password authentication (warn) on line(s) 10; "
                           "broad address (warn) on line(s) 9")
    kinds = [(f["kind"], f["status"], f["line"]) for f in res.details["findings"]]
    assert kinds == [("trust", "crit", 9), ("address", "warn", 9), ("password", "warn", 10)]


@pytest.mark.parametrize(
    ("row", "status", "kind"),
    [
        (hba(5, "local", method="trust"), "warn", "trust"),
        (hba(5, "hostssl", "192.0.2.1", "255.255.255.255", "trust"), "crit", "trust"),
        (hba(5, "hostnossl", "10.0.0.1", "255.255.255.255", "password"), "warn", "password"),
        (hba(5, "host", "all"), "warn", "address"),
        (hba(5, "host", "::", "::"), "warn", "address"),
        (hba(5, "host", "0.0.0.0", "255.0.0.0"), "ok", None),
        (hba(5, "host", "samenet"), "ok", None),
        (hba(5, "host", method=None, error='invalid authentication method "scram-sha-256host"'), "crit", "error"),
    ],
)
def test_hba_single_rows(row, status, kind):
    res = sec.hba_result([row])
    assert res.status == status
    assert [f["kind"] for f in res.details["findings"]] == ([kind] if kind else [])
    if kind:
        assert "line(s) 5" in res.message


def test_superusers_and_login_roles():
    assert sec.superusers_result(["postgres"], ["postgres"]).status == "ok"
    bad = sec.superusers_result(["evil", "postgres"], ["postgres"])
    assert (bad.status, bad.value) == ("crit", 1) and "evil" in bad.message
    listed = sec.login_roles_result(["app", "postgres"], None)
    assert (listed.status, listed.value) == ("ok", 2) and "app, postgres" in listed.message
    extra = sec.login_roles_result(["app", "evil", "postgres"], ["app", "postgres"])
    assert (extra.status, extra.value) == ("warn", 1) and "unexpected login role(s): evil" in extra.message


def test_password_hashes_never_need_the_hash():
    rows = [{"role": "app", "kind": "scram-sha-256"}, {"role": "postgres", "kind": "none"}, {"role": "pg_monitor", "kind": "none"}]
    ok = sec.password_hashes_result(rows)
    assert ok.status == "ok" and "(1 role(s): app)" in ok.message
    bad = sec.password_hashes_result([*rows, {"role": "oldpw", "kind": "md5"}, {"role": "odd", "kind": "other"}])
    assert (bad.status, bad.value) == ("crit", 2)
    assert "md5: oldpw" in bad.message and "other: odd" in bad.message
    assert "SCRAM-SHA-256$" not in json.dumps(bad.as_dict())
    assert "$" not in security_check.SQL_PASSWORD_KINDS.split("AS kind")[1]  # only the classification is selected


def test_public_schemas():
    base = [{"database": "appdb", "schema": "public", "create": False, "usage": True},
            {"database": "postgres", "schema": "public", "create": False, "usage": True}]
    assert sec.public_schemas_result(base).status == "ok"
    crit = sec.public_schemas_result([*base, {"database": "appdb", "schema": "app", "create": True, "usage": True}])
    assert crit.status == "crit" and "CREATE in schema(s) appdb.app" in crit.message and "USAGE on appdb.app" in crit.message
    warn = sec.public_schemas_result([*base, {"database": "appdb", "schema": "reports", "create": False, "usage": True}])
    assert warn.status == "warn" and "appdb.reports" in warn.message
    failed = sec.public_schemas_result(base, {"shop": "permission denied for database shop"})
    assert failed.status == "unknown" and "shop: permission denied" in failed.message


# -- secret files ---------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "readable"), [(0o600, False), (0o640, False), (0o644, True), (0o604, True), (0o755, True), (0o750, False)])
def test_world_readable(mode, readable):
    assert sec.world_readable(mode) is readable


def test_secret_files_on_disk(tmp_path: Path):
    (tmp_path / "opsbook").mkdir()
    good = tmp_path / "opsbook" / "db.pass"
    good.write_text("x")
    good.chmod(0o600)
    bad = tmp_path / "opsbook" / "redis.pass"
    bad.write_text("x")
    bad.chmod(0o644)
    acl = tmp_path / "users.acl"
    acl.write_text("user default off")
    acl.chmod(0o640)
    patterns = [str(tmp_path / "opsbook" / "*.pass"), str(acl), str(tmp_path / "missing.env"), str(tmp_path / "nodir" / "*.pass")]
    found, missing, blocked = sec.inspect_paths(patterns)
    assert found == [(str(good), 0o600), (str(bad), 0o644), (str(acl), 0o640)]
    assert missing == [str(tmp_path / "missing.env"), str(tmp_path / "nodir" / "*.pass")]
    assert blocked == {}
    res = sec.secret_files_result(found, missing, blocked)
    assert (res.status, res.value) == ("crit", 1)
    assert f"{bad} (0644)" in res.message and str(good) not in res.message
    bad.chmod(0o640)
    healed = sec.secret_files_result(*sec.inspect_paths(patterns))
    assert healed.status == "ok" and healed.details["missing"] == missing


def test_secret_files_not_inspectable_is_unknown():
    def stat(path):
        raise PermissionError(13, "Permission denied", path)

    found, missing, blocked = sec.inspect_paths(["/root/.pgpass", "/root/*.pass"], stat=stat)
    assert (found, missing) == ([], [])
    assert blocked == {"/root/.pgpass": "permission denied", "/root/*.pass": "permission denied"}
    res = sec.secret_files_result(found, missing, blocked)
    assert res.status == "unknown" and "run as root" in res.message


# -- options and the module ------------------------------------------------------------


def params(**over):
    base = {name: spec.get("default") for name, spec in security_check.ARGUMENT_SPEC.items()}
    base.update(over)
    return base


def test_validate_options():
    assert security_check.validate(params()) == list(security_check.CHECKS)
    assert security_check.validate(params(checks=["ports", "pg_hba"])) == ["pg_hba", "ports"]
    with pytest.raises(ValueError, match="unknown check name\\(s\\) 'nginx'; known checks: pg_superusers"):
        security_check.validate(params(checks=["nginx"]))
    with pytest.raises(ValueError, match="unknown protocol\\(s\\) 'TLS1.3'"):
        security_check.validate(params(nginx_allowed_protocols=["TLSv1.2", "TLS1.3"]))
    with pytest.raises(ValueError, match="expected_ports: 70000 is not a TCP port"):
        security_check.validate(params(expected_ports=[22, 70000]))
    with pytest.raises(ValueError, match="no thresholds.*'pg_hba'"):
        security_check.validate(params(thresholds={"pg_hba": {"warn": 1}}))
    with pytest.raises(ValueError, match="redis_port: 0"):
        security_check.validate(params(redis_port=0))


def test_argument_spec_defaults_and_no_log():
    spec = security_check.ARGUMENT_SPEC
    assert spec["login_password"]["no_log"] is True
    assert spec["secret_paths"]["default"] == security_check.DEFAULT_SECRET_PATHS
    assert spec["nginx_allowed_protocols"]["default"] == ["TLSv1.2", "TLSv1.3"]
    assert spec["pg_allowed_superusers"]["default"] == ["postgres"]
    assert "default" not in spec["expected_ports"] and "default" not in spec["pg_allowed_login_roles"]


def test_pg_socket():
    assert security_check.pg_socket(params()) == "/var/run/postgresql/.s.PGSQL.5432"
    assert security_check.pg_socket(params(login_unix_socket="/tmp", login_port=5433)) == "/tmp/.s.PGSQL.5433"
    assert security_check.pg_socket(params(login_host="/run/pg")) == "/run/pg/.s.PGSQL.5432"
    assert security_check.pg_socket(params(login_host="db1")) is None


def test_hba_trust_for_any_address_is_two_findings():
    res = sec.hba_result([hba(7, "hostssl", "all", None, "trust")])
    assert res.status == "crit"
    assert [(f["kind"], f["status"]) for f in res.details["findings"]] == [("trust", "crit"), ("address", "warn")]

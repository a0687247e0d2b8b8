#!/usr/bin/python
# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only security review of a host: PostgreSQL, Redis, nginx TLS, secret files, ports."""

from __future__ import annotations

# Documentation repeats the result contract on purpose (RETURN has no doc fragments): no duplicate-code check.
# pylint: disable=duplicate-code
DOCUMENTATION = r"""
module: security_check
short_description: Read-only security review of PostgreSQL, Redis, nginx TLS, secret files and listening ports
version_added: 0.4.0
author: opsbook.stack contributors (!UNKNOWN)
description:
  - Reviews the security settings of the services of one host and reports them in the opsbook.stack result contract.
    Nothing is changed; the module runs the same in check mode.
  - "PostgreSQL (psycopg 3, connects like M(opsbook.stack.pg_check)): V(security.pg_superusers),
    V(security.pg_login_roles), V(security.pg_password_hashes), V(security.pg_hba), V(security.pg_public_schemas)."
  - "Redis (redis-py): V(security.redis_auth) sends PING without any credentials - an answer (PONG) is C(crit);
    V(security.redis_bind) looks at the listening sockets of O(redis_port)."
  - "nginx: V(security.nginx_tls) reads C(nginx -T) (needs root) and judges every C(ssl_protocols) and C(ssl_ciphers)
    directive a server with C(listen ... ssl) uses: its own, else the nearest enclosing context's. Directives that no
    TLS server uses (for example Debian's http-level C(ssl_protocols) when every server sets its own) are listed in
    details as shadowed and not judged."
  - "Files: V(security.secret_files) - any existing file of O(secret_paths) readable by others (mode C(o+r)) is C(crit)."
  - "Ports: V(security.ports) - TCP listeners from C(ss -Hltn) beyond loopback, judged against O(expected_ports)."
  - A family whose service is absent on the host (no PostgreSQL socket, nothing on the Redis port, no nginx binary)
    or whose client library is missing reports C(unknown) with the reason; the module never fails on a finding.
extends_documentation_fragment:
  - opsbook.stack.checks
  - opsbook.stack.pg_connection
options:
  checks:
    description:
      - "Names of the checks to run: V(pg_superusers), V(pg_login_roles), V(pg_password_hashes), V(pg_hba),
        V(pg_public_schemas), V(redis_auth), V(redis_bind), V(nginx_tls), V(secret_files), V(ports)."
      - Omit to run all of them. An unknown name fails the module with a message listing the known ones.
      - The PostgreSQL checks need the C(postgres) OS user (C(become_user=postgres), peer authentication), while
        V(nginx_tls) and V(secret_files) need root; run the module twice where both are wanted.
    type: list
    elements: str
  thresholds:
    description:
      - Not used - security findings have fixed severities. Any key fails the module with a message naming it.
    type: dict
    default: {}
  connect_timeout:
    description:
      - Seconds to wait for the PostgreSQL and the Redis connection before giving up.
    type: int
    default: 5
  pg_allowed_superusers:
    description:
      - Roles allowed to have C(rolsuper). Any other superuser makes V(security.pg_superusers) C(crit).
    type: list
    elements: str
    default: [postgres]
  pg_allowed_login_roles:
    description:
      - Roles expected to have C(rolcanlogin). When given, any other login role makes V(security.pg_login_roles)
        C(warn); when omitted the check only lists them (value = count).
    type: list
    elements: str
  redis_host:
    description:
      - Address of the Redis server for V(redis_auth). No credentials are ever sent.
    type: str
    default: 127.0.0.1
  redis_port:
    description:
      - TCP port of Redis, for V(redis_auth) and V(redis_bind).
    type: int
    default: 6379
  redis_public_ok:
    description:
      - Redis listening on all addresses (C(0.0.0.0), C([::]), C(*)) is intended (its clients are on other hosts and a
        firewall or private network protects it); V(security.redis_bind) is then C(ok) with the addresses instead of C(warn).
    type: bool
    default: false
  nginx_allowed_protocols:
    description:
      - TLS protocol versions nginx may enable. Any other one in an C(ssl_protocols) directive in use is C(crit).
      - "Each must be one of V(SSLv2), V(SSLv3), V(TLSv1), V(TLSv1.1), V(TLSv1.2), V(TLSv1.3)."
    type: list
    elements: str
    default: [TLSv1.2, TLSv1.3]
  secret_paths:
    description:
      - Files holding secrets (paths or shell globs). An existing regular file readable by others is C(crit);
        paths that do not exist are ignored and listed in details.
    type: list
    elements: str
    default:
      - /etc/refservice/app.env
      - /etc/opsbook/*.pass
      - /etc/opsbook/backup.json
      - /var/lib/postgresql/.pgpass
      - /root/.pgpass
      - /etc/redis/users.acl
  expected_ports:
    description:
      - TCP ports that may listen beyond loopback. Any other such port makes V(security.ports) C(warn), naming port
        and address. Listeners on 127.0.0.0/8 and ::1 never warn.
      - Omit to only list the listening ports (value = number of ports).
    type: list
    elements: int
notes:
  - "Severities: V(pg_superusers) unexpected superuser C(crit); V(pg_login_roles) unexpected login role C(warn);
    V(pg_password_hashes) a stored password that is not SCRAM-SHA-256 C(crit) (hashes are never read into the result);
    V(pg_hba) C(trust) on a C(host*) line or an invalid line C(crit), C(trust) on a C(local) line, C(md5)/C(password)
    and a C(host*) line for C(all), C(0.0.0.0/0) or C(::/0) C(warn) (message names the file line numbers);
    V(pg_public_schemas) PUBLIC C(CREATE) on any non-system schema C(crit), PUBLIC C(USAGE) on a schema other than
    C(public) C(warn), checked in every database that allows connections."
  - "V(redis_auth): PONG C(crit); NOAUTH / WRONGPASS / authentication required C(ok); NOPERM (unauthenticated clients
    are user C(default) with few rights) C(warn); connection refused C(unknown)."
  - "V(nginx_tls): a cipher string element without a leading C(!) or C(-) that names RC4, 3DES / DES-CBC3, DES, MD5,
    NULL, EXPORT, aNULL or eNULL is C(crit); a TLS server without any C(ssl_protocols) is C(warn) (the default
    depends on the build)."
requirements:
  - psycopg >= 3.1 (Debian package C(python3-psycopg)) for the PostgreSQL checks, redis-py (C(python3-redis)) for
    V(redis_auth), C(ss) (iproute2) for V(redis_bind) and V(ports), on the host that runs the module.
    A missing one makes only its checks C(unknown).
"""

EXAMPLES = r"""
- name: Review PostgreSQL as postgres (peer authentication over the socket)
  opsbook.stack.security_check:
    checks: [pg_superusers, pg_login_roles, pg_password_hashes, pg_hba, pg_public_schemas]
    pg_allowed_login_roles: [postgres, app, opsbook_monitor]
  become: true
  become_user: postgres
  register: pg_security

- name: Review Redis, which listens on all addresses on purpose
  opsbook.stack.security_check:
    checks: [redis_auth, redis_bind, ports, secret_files]
    redis_public_ok: true
    expected_ports: [22, 6379]
  become: true

- name: Review nginx TLS, ports and secret files of the application host
  opsbook.stack.security_check:
    checks: [nginx_tls, ports, secret_files]
    expected_ports: [80, 443]
    secret_paths:
      - /etc/refservice/app.env
      - /etc/nginx/tls/*.key
  become: true
  register: app_security

- name: Stop when anything is critical
  ansible.builtin.assert:
    that: app_security.summary.worst != 'crit'
"""

RETURN = r"""
checks:
  description: One result per selected check, in the order of O(checks)' known names.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: Stable check id, for example V(security.pg_hba) or V(security.nginx_tls).
      type: str
    status:
      description: V(ok), V(warn), V(crit) or V(unknown).
      type: str
    value:
      description:
        - Number of findings (or of roles / ports listed), the Redis state (V(open), V(closed), V(limited)) or addresses.
        - Null when nothing could be measured.
      type: raw
    warn:
      description: Always null (no thresholds).
      type: float
    crit:
      description: Always null (no thresholds).
      type: float
    unit:
      description: Unit of value (V(roles), V(findings), V(schemas), V(files), V(ports) or empty).
      type: str
    message:
      description: One human sentence naming what was found (roles, file lines, paths and modes, ports and addresses).
      type: str
    details:
      description: Structured extras (the roles, the pg_hba findings with line numbers, TLS servers and the directives they use, file modes...).
      type: dict
  sample:
    - check: security.pg_hba
      status: crit
      value: 2
      warn: null
      crit: null
      unit: findings
      message: "pg_hba.conf: trust authentication (crit) on line(s) 9; broad address (warn) on line(s) 9"
      details: {rules: 9, findings: [{kind: trust, status: crit, line: 9, rule: host all all 0.0.0.0/0.0.0.0 trust,
                                      reason: line 9 trusts network connections without a password}]}
summary:
  description: Counts per status and the worst status.
  returned: always
  type: dict
  contains:
    ok:
      description: Number of ok results.
      type: int
    warn:
      description: Number of warn results.
      type: int
    crit:
      description: Number of crit results.
      type: int
    unknown:
      description: Number of unknown results.
      type: int
    total:
      description: Number of results.
      type: int
    worst:
      description: Worst status (crit > unknown > warn > ok).
      type: str
  sample: {ok: 5, warn: 0, crit: 0, unknown: 0, total: 5, worst: ok}
"""
# pylint: enable=duplicate-code

import os
from collections.abc import Callable, Mapping
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opsbook.stack.plugins.module_utils._checks import CheckResult, module_output, select, unknown
from ansible_collections.opsbook.stack.plugins.module_utils._checks import THRESHOLDS_SPEC
from ansible_collections.opsbook.stack.plugins.module_utils._pg import (
    PG_CONNECTION_SPEC,
    PSYCOPG_MISSING,
    connect,
    describe_target,
    dict_row,
    error_text,
    psycopg,
)
from ansible_collections.opsbook.stack.plugins.module_utils._redis import REDIS_MISSING, client_kwargs, redis
from ansible_collections.opsbook.stack.plugins.module_utils._redis import client as redis_client
from ansible_collections.opsbook.stack.plugins.module_utils._security import (
    TLS_PROTOCOLS,
    hba_result,
    inspect_paths,
    login_roles_result,
    nginx_tls_result,
    parse_ss,
    password_hashes_result,
    ports_result,
    public_schemas_result,
    redis_auth_result,
    redis_bind_result,
    secret_files_result,
    superusers_result,
)

PG_CHECKS: tuple[str, ...] = ("pg_superusers", "pg_login_roles", "pg_password_hashes", "pg_hba", "pg_public_schemas")
CHECKS: tuple[str, ...] = (*PG_CHECKS, "redis_auth", "redis_bind", "nginx_tls", "secret_files", "ports")
APPLICATION_NAME = "opsbook.stack.security_check"
# Seconds any statement of the review may run.
STATEMENT_TIMEOUT = 30

DEFAULT_SECRET_PATHS: list[str] = [
    "/etc/refservice/app.env",
    "/etc/opsbook/*.pass",
    "/etc/opsbook/backup.json",
    "/var/lib/postgresql/.pgpass",
    "/root/.pgpass",
    "/etc/redis/users.acl",
]

SQL_SUPERUSERS = "SELECT rolname FROM pg_roles WHERE rolsuper ORDER BY rolname"
SQL_LOGIN_ROLES = "SELECT rolname FROM pg_roles WHERE rolcanlogin ORDER BY rolname"
# The hash never leaves the server: only its kind comes back.
SQL_PASSWORD_KINDS = (
    "SELECT rolname AS role, CASE WHEN rolpassword IS NULL THEN 'none'"
    " WHEN rolpassword LIKE 'SCRAM-SHA-256$%' THEN 'scram-sha-256'"
    " WHEN rolpassword ~ '^md5[0-9a-f]{32}$' THEN 'md5' ELSE 'other' END AS kind"
    " FROM pg_authid ORDER BY rolname"
)
SQL_HBA = (
    "SELECT line_number, type, database, user_name, address, netmask, auth_method, error"
    " FROM pg_hba_file_rules ORDER BY line_number"
)
SQL_DATABASES = "SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname"
SQL_SCHEMAS = (
    "SELECT current_database() AS database, nspname AS schema,"
    " has_schema_privilege('public', oid, 'CREATE') AS can_create,"
    " has_schema_privilege('public', oid, 'USAGE') AS can_use"
    " FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema' ORDER BY nspname"
)


def validate(params: Mapping[str, Any]) -> list[str]:
    """Selected check names; raises ValueError naming a bad option value."""
    selected = select(params["checks"], CHECKS)
    if params.get("thresholds"):
        raise ValueError(
            f"security_check has no thresholds (its severities are fixed); remove thresholds "
            f"{', '.join(map(repr, sorted(params['thresholds'])))}"
        )
    bad = [p for p in params.get("nginx_allowed_protocols") or [] if p not in TLS_PROTOCOLS]
    if bad:
        raise ValueError(f"nginx_allowed_protocols: unknown protocol(s) {', '.join(map(repr, bad))}; use {', '.join(TLS_PROTOCOLS)}")
    bad_ports = [p for p in params.get("expected_ports") or [] if not 1 <= int(p) <= 65535]
    if bad_ports:
        raise ValueError(f"expected_ports: {', '.join(map(str, bad_ports))} is not a TCP port (1-65535)")
    if not 1 <= int(params["redis_port"]) <= 65535:
        raise ValueError(f"redis_port: {params['redis_port']} is not a TCP port (1-65535)")
    if int(params["connect_timeout"]) <= 0:
        raise ValueError(f"connect_timeout must be a positive number of seconds, got {params['connect_timeout']}")
    return selected


# -- PostgreSQL -----------------------------------------------------------------


def pg_socket(params: Mapping[str, Any]) -> str | None:
    """The unix socket file a socket connection would use, or None for TCP."""
    host = params.get("login_host") or ""
    if host and not host.startswith("/"):
        return None
    directory = host or params.get("login_unix_socket") or "/var/run/postgresql"
    return os.path.join(directory, f".s.PGSQL.{int(params.get('login_port') or 5432)}")


def _open(params: Mapping[str, Any], dbname: str | None = None) -> Any:
    return connect(params, dbname, APPLICATION_NAME, read_only=True, statement_timeout=STATEMENT_TIMEOUT)


def _rows(conn: Any, sql: str) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def pg_checks(params: Mapping[str, Any], wanted: list[str]) -> list[CheckResult]:
    """The selected PostgreSQL checks over one connection (plus one per database for public schemas)."""
    ids = {name: f"security.{name}" for name in wanted}
    if psycopg is None:
        return [unknown(ids[name], PSYCOPG_MISSING) for name in wanted]
    socket = pg_socket(params)
    if socket is not None and not os.path.exists(socket):
        reason = f"no PostgreSQL socket at {socket}: PostgreSQL does not run on this host (or set login_unix_socket / login_host)"
        return [unknown(ids[name], reason) for name in wanted]
    secrets = [params.get("login_password")]
    try:
        conn = _open(params)
    except psycopg.Error as exc:
        reason = error_text(exc, secrets)
        hint = " (run as the postgres OS user: become_user=postgres)" if "peer authentication" in reason.lower() else ""
        return [unknown(ids[name], f"cannot connect to PostgreSQL as {describe_target(params)}: {reason}{hint}") for name in wanted]
    results: list[CheckResult] = []
    try:
        runners: dict[str, Callable[[], CheckResult]] = {
            "pg_superusers": lambda: superusers_result(
                [r["rolname"] for r in _rows(conn, SQL_SUPERUSERS)], params["pg_allowed_superusers"]
            ),
            "pg_login_roles": lambda: login_roles_result(
                [r["rolname"] for r in _rows(conn, SQL_LOGIN_ROLES)], params.get("pg_allowed_login_roles")
            ),
            "pg_password_hashes": lambda: password_hashes_result(_rows(conn, SQL_PASSWORD_KINDS)),
            "pg_hba": lambda: hba_result(_rows(conn, SQL_HBA)),
            "pg_public_schemas": lambda: public_schemas(conn, params),
        }
        for name in wanted:
            try:
                results.append(runners[name]())
            except psycopg.Error as exc:
                results.append(unknown(ids[name], f"{ids[name]} could not be measured: {error_text(exc, secrets)}"))
    finally:
        conn.close()
    return results


def public_schemas(conn: Any, params: Mapping[str, Any]) -> CheckResult:
    """PUBLIC's CREATE / USAGE on the schemas of every database that allows connections."""
    secrets = [params.get("login_password")]
    rows: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    current = conn.info.dbname
    for name in [r["datname"] for r in _rows(conn, SQL_DATABASES)]:
        if name == current:
            rows.extend(_rows(conn, SQL_SCHEMAS))
            continue
        try:
            other = _open(params, name)
        except psycopg.Error as exc:
            failed[name] = error_text(exc, secrets)
            continue
        try:
            rows.extend(_rows(other, SQL_SCHEMAS))
        except psycopg.Error as exc:
            failed[name] = error_text(exc, secrets)
        finally:
            other.close()
    for row in rows:
        row["create"] = bool(row.pop("can_create"))
        row["usage"] = bool(row.pop("can_use"))
    return public_schemas_result(rows, failed)


# -- Redis, nginx, sockets --------------------------------------------------------


def redis_auth(params: Mapping[str, Any]) -> CheckResult:
    """PING without credentials."""
    target = f"{params['redis_host']}:{params['redis_port']}"
    if redis is None:
        return unknown("security.redis_auth", REDIS_MISSING, details={"target": target})
    client = redis_client(client_kwargs(params["redis_host"], params["redis_port"], timeout=float(params["connect_timeout"])))
    try:
        return redis_auth_result(target, reply=client.ping())
    except Exception as exc:  # redis-py raises several unrelated classes; redis_auth_result sorts them
        return redis_auth_result(target, error=exc)
    finally:
        client.close()


def listening(module: AnsibleModule) -> tuple[str | None, str | None]:
    """``ss -Hltn`` output, or None and the reason."""
    ss = module.get_bin_path("ss", opt_dirs=["/usr/sbin", "/sbin", "/usr/bin"])
    if not ss:
        return None, "ss (iproute2) is not installed on this host"
    rc, out, err = module.run_command([ss, "-Hltn"], environ_update={"LC_ALL": "C"})
    if rc != 0:
        return None, f"ss -Hltn failed (rc {rc}): {' '.join((err or out).split())}"
    return out, None


def nginx_tls(module: AnsibleModule, allowed: list[str]) -> CheckResult:
    """nginx -T, judged."""
    check_id = "security.nginx_tls"
    nginx = module.get_bin_path("nginx", opt_dirs=["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"])
    if not nginx:
        return unknown(check_id, "nginx is not installed on this host (no nginx binary)")
    rc, out, err = module.run_command([nginx, "-T"], environ_update={"LC_ALL": "C"})
    if rc != 0:
        lines = [line.strip() for line in f"{err}\n{out}".splitlines() if line.strip()]
        flagged = [line for line in lines if "[emerg]" in line or "[alert]" in line or "[crit]" in line]
        reason = (flagged or lines or [f"rc {rc}"])[0]
        hint = " (nginx -T needs root: become)" if os.geteuid() != 0 else ""
        return unknown(check_id, f"nginx -T failed: {reason}{hint}")
    return nginx_tls_result(out, allowed)


def run_checks(module: AnsibleModule, selected: list[str]) -> list[CheckResult]:
    params = module.params
    results: list[CheckResult] = []
    pg_wanted = [name for name in selected if name in PG_CHECKS]
    if pg_wanted:
        results.extend(pg_checks(params, pg_wanted))
    ss_text: str | None = None
    ss_error: str | None = None
    if "redis_bind" in selected or "ports" in selected:
        ss_text, ss_error = listening(module)
    listeners = parse_ss(ss_text) if ss_text is not None else []
    for name in selected:
        if name in PG_CHECKS:
            continue
        if name == "redis_auth":
            results.append(redis_auth(params))
        elif name == "redis_bind":
            results.append(
                unknown("security.redis_bind", ss_error) if ss_error
                else redis_bind_result(listeners, params["redis_port"], params["redis_public_ok"])
            )
        elif name == "nginx_tls":
            results.append(nginx_tls(module, params["nginx_allowed_protocols"]))
        elif name == "secret_files":
            results.append(secret_files_result(*inspect_paths(params["secret_paths"])))
        elif name == "ports":
            results.append(unknown("security.ports", ss_error) if ss_error else ports_result(listeners, params.get("expected_ports")))
    return results


ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    **PG_CONNECTION_SPEC,
    "checks": {"type": "list", "elements": "str"},
    "thresholds": THRESHOLDS_SPEC,
    "pg_allowed_superusers": {"type": "list", "elements": "str", "default": ["postgres"]},
    "pg_allowed_login_roles": {"type": "list", "elements": "str"},
    "redis_host": {"type": "str", "default": "127.0.0.1"},
    "redis_port": {"type": "int", "default": 6379},
    "redis_public_ok": {"type": "bool", "default": False},
    "nginx_allowed_protocols": {"type": "list", "elements": "str", "default": ["TLSv1.2", "TLSv1.3"]},
    "secret_paths": {"type": "list", "elements": "str", "default": DEFAULT_SECRET_PATHS, "no_log": False},
    "expected_ports": {"type": "list", "elements": "int"},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        selected = validate(module.params)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **module_output(run_checks(module, selected)))


if __name__ == "__main__":
    main()

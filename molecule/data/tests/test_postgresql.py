"""Verify the opsbook.stack.postgresql role on the molecule hosts."""

import re

import pytest

PORT = 5432


@pytest.fixture(scope="module")
def pgvars(host):
    return host.ansible.get_variables()


@pytest.fixture(scope="module")
def version(host):
    return "15" if host.system_info.codename == "bookworm" else "17"


@pytest.fixture(scope="module")
def app(pgvars):
    return next(u for u in pgvars["postgresql_users"] if u["name"] == "app")


def psql_admin(host, sql, db="postgres"):
    cmd = host.run("runuser -u postgres -- psql -X -At -d %s -c %s", db, sql)
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout.strip()


def psql_tcp(host, conninfo, sql="select 1"):
    return host.run("PGCONNECT_TIMEOUT=5 psql -X -At %s -c %s", conninfo, sql)


def test_service_enabled_and_running(host, version):
    assert host.service("postgresql").is_enabled
    assert host.service("postgresql").is_running
    assert host.service("postgresql@%s-main" % version).is_running


def test_listening_on_all_ipv4(host):
    assert host.socket("tcp://0.0.0.0:%d" % PORT).is_listening


def test_app_login_with_right_password(host, app):
    cmd = psql_tcp(host, "host=127.0.0.1 user=app dbname=appdb password=%s" % app["password"])
    assert cmd.rc == 0, cmd.stderr
    assert cmd.stdout.strip() == "1"


def test_app_login_from_the_network(host, app):
    # The hba entry 0.0.0.0/0 admits the app over the host's non-loopback address.
    addr = host.interface.default().addresses[0]
    cmd = psql_tcp(host, "host=%s user=app dbname=appdb password=%s" % (addr, app["password"]))
    assert cmd.rc == 0, cmd.stderr


def test_app_login_with_wrong_password_fails(host):
    cmd = psql_tcp(host, "host=127.0.0.1 user=app dbname=appdb password=wrong-password")
    assert cmd.rc != 0
    assert "password authentication failed" in cmd.stderr


def test_password_stored_as_scram(host):
    stored = psql_admin(host, "select rolpassword from pg_authid where rolname = 'app'")
    assert stored.startswith("SCRAM-SHA-256$")


def test_runtime_settings(host):
    assert "pg_stat_statements" in psql_admin(host, "SHOW shared_preload_libraries")
    assert psql_admin(host, "SHOW password_encryption") == "scram-sha-256"
    assert psql_admin(host, "SHOW listen_addresses") == "*"
    assert psql_admin(host, "SHOW ssl") == "on"
    assert psql_admin(host, "SHOW ssl_min_protocol_version") == "TLSv1.2"
    # Nothing is waiting for a restart after converge.
    assert psql_admin(host, "select count(*) from pg_settings where pending_restart") == "0"


def test_memory_sized_by_pg_tune(host, pgvars):
    # shared_buffers = 25% of RAM, between 128MB and 8GB (opsbook.stack.pg_tune).
    ram_mb = int(host.run("awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo").stdout)
    expected = max(128, min(8192, ram_mb // 4))
    shown = psql_admin(host, "select setting::bigint * 8 / 1024 from pg_settings where name = 'shared_buffers'")
    assert abs(int(shown) - expected) <= 1


def test_pg_stat_statements_preloaded_and_configured(host):
    libraries = [lib.strip() for lib in psql_admin(host, "SHOW shared_preload_libraries").split(",")]
    assert "pg_stat_statements" in libraries
    # The role's pg_stat_statements settings are live (max needs the restart).
    assert psql_admin(host, "SHOW pg_stat_statements.max") == "5000"
    assert psql_admin(host, "SHOW pg_stat_statements.track") == "top"


def test_pg_stat_statements_view_works_in_app_db(host):
    assert psql_admin(host, "select extname from pg_extension where extname = 'pg_stat_statements'", db="appdb") == "pg_stat_statements"
    # The view answers (it errors when the library is not loaded) and records statements.
    psql_admin(host, "select 4242 as opsbook_marker", db="appdb")
    count = int(psql_admin(host, "SELECT count(*) FROM pg_stat_statements", db="appdb"))
    assert count > 0
    seen = psql_admin(host, "SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%opsbook_marker%'", db="appdb")
    assert int(seen) >= 1


def test_pg_stat_statements_max_in_restart_dropin(host, version):
    confd = "/etc/postgresql/%s/main/conf.d" % version
    assert re.search(r"^pg_stat_statements\.max = 5000$", host.file(confd + "/50-opsbook-restart.conf").content_string, re.M)
    assert re.search(r"^pg_stat_statements\.track = 'top'$", host.file(confd + "/51-opsbook.conf").content_string, re.M)


def test_maintenance_extensions_in_app_db(host):
    names = psql_admin(host, "select string_agg(extname, ',' order by extname) from pg_extension", db="appdb").split(",")
    assert {"amcheck", "pg_stat_statements", "pg_trgm", "pgstattuple"} <= set(names)
    # pgstattuple and amcheck really work on an index of the app database.
    psql_admin(host, "CREATE TABLE IF NOT EXISTS opsbook_molecule_t (id int PRIMARY KEY)", db="appdb")
    psql_admin(host, "INSERT INTO opsbook_molecule_t SELECT g FROM generate_series(1, 1000) g ON CONFLICT DO NOTHING", db="appdb")
    density = float(psql_admin(host, "SELECT avg_leaf_density FROM pgstatindex('opsbook_molecule_t_pkey')", db="appdb"))
    assert 0 < density <= 100
    psql_admin(host, "SELECT bt_index_check('opsbook_molecule_t_pkey'::regclass, true)", db="appdb")
    # Not in the postgres database: only application databases get them.
    assert psql_admin(host, "select count(*) from pg_extension where extname in ('pgstattuple', 'amcheck')") == "0"


def test_tls_connection(host, app):
    cmd = psql_tcp(
        host,
        "host=127.0.0.1 user=app dbname=appdb sslmode=require password=%s" % app["password"],
        "select ssl, version from pg_stat_ssl where pid = pg_backend_pid()",
    )
    assert cmd.rc == 0, cmd.stderr
    ssl, proto = cmd.stdout.strip().split("|")
    assert ssl == "t"
    assert proto in ("TLSv1.2", "TLSv1.3")


def test_tls_files(host, version):
    key = host.file("/etc/postgresql/%s/main/tls/server.key" % version)
    assert key.exists and key.user == "postgres" and key.mode == 0o600
    cert = host.run("openssl x509 -noout -subject -in /etc/postgresql/%s/main/tls/server.crt", version)
    assert cert.rc == 0, cert.stderr


def test_dropins_are_managed(host, version):
    confd = "/etc/postgresql/%s/main/conf.d" % version
    restart = host.file(confd + "/50-opsbook-restart.conf")
    reload_ = host.file(confd + "/51-opsbook.conf")
    for dropin in (restart, reload_):
        assert dropin.exists
        assert "Ansible managed" in "\n".join(dropin.content_string.splitlines()[:3])
    assert re.search(r"^listen_addresses = '\*'$", restart.content_string, re.M)
    assert re.search(r"^shared_preload_libraries = '[^']*pg_stat_statements", restart.content_string, re.M)
    assert re.search(r"^password_encryption = 'scram-sha-256'$", reload_.content_string, re.M)
    assert re.search(r"^ssl = on$", reload_.content_string, re.M)
    # The vendor file is untouched and still includes conf.d.
    vendor = host.file("/etc/postgresql/%s/main/postgresql.conf" % version).content_string
    assert "Ansible managed" not in vendor
    assert re.search(r"^include_dir = 'conf.d'", vendor, re.M)


def test_validator_rejects_bad_dropin(host, version):
    bad = "/tmp/opsbook-bad.conf"
    host.run("printf 'shared_buffers = lots\\nno_such_parameter = 1\\n' > %s", bad)
    cmd = host.run("/usr/bin/python3 /usr/local/lib/opsbook/pg-validate-conf.py --version %s --name 51-opsbook.conf %s", version, bad)
    assert cmd.rc != 0
    good = host.run(
        "/usr/bin/python3 /usr/local/lib/opsbook/pg-validate-conf.py --version %s --name 51-opsbook.conf /etc/postgresql/%s/main/conf.d/51-opsbook.conf",
        version, version,
    )
    assert good.rc == 0, good.stderr


def test_hba_has_no_trust_or_md5(host, version):
    hba = host.file("/etc/postgresql/%s/main/pg_hba.conf" % version)
    assert hba.user == "postgres" and hba.mode == 0o640
    rules = [line.split() for line in hba.content_string.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert ["local", "all", "postgres", "peer"] in rules
    assert ["host", "appdb", "app", "0.0.0.0/0", "scram-sha-256"] in rules
    for rule in rules:
        assert "trust" not in rule and "md5" not in rule and "password" not in rule, rule
    # What the server itself loaded agrees.
    methods = psql_admin(host, "select string_agg(distinct auth_method, ',') from pg_hba_file_rules")
    assert set(methods.split(",")) <= {"peer", "scram-sha-256"}

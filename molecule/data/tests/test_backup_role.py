"""Verify the opsbook.stack.backup role on the molecule host (real state)."""

from __future__ import annotations

import json
import shlex

import pytest

ROOT = "/var/backups/opsbook"
STANZA = "main"
REDIS_BACKUP_USER = "opsbook-backup"  # backup_redis_user's default
KINDS_SCHEDULED = ["full", "incr", "logical", "redis", "config"]
# PostgreSQL's major version per Debian release of the scenario's hosts.
PG_MAJOR = {"12": "15", "13": "17"}


def pg_major(host) -> str:
    """The major version Debian's postgresql package installs on this host's release."""
    return PG_MAJOR[host.system_info.release.split(".")[0]]


@pytest.fixture(scope="module")
def bvars(host):
    return host.ansible.get_variables()


def sh(host, *argv: str):
    return host.run(" ".join(shlex.quote(a) for a in argv))


def as_postgres(host, *argv: str):
    return sh(host, "runuser", "-u", "postgres", "--", *argv)


def psql(host, sql: str) -> str:
    out = as_postgres(host, "psql", "-XAtc", sql)
    assert out.rc == 0, out.stderr
    return out.stdout.strip()


def run_tool(host, *args: str) -> dict:
    out = sh(host, "/usr/local/sbin/opsbook-backup", *args, "--trigger", "manual", "--json")
    assert out.rc == 0, f"rc={out.rc}\n{out.stdout}\n{out.stderr}"
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def full_backup(host) -> dict:
    """One full pgBackRest backup through the tool (the stanza has none before)."""
    return run_tool(host, "run", "full")


def pgbackrest_info(host) -> dict:
    out = as_postgres(host, "pgbackrest", f"--stanza={STANZA}", "info", "--output", "json")
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)[0]


# --- PostgreSQL / WAL archiving -------------------------------------------------


def test_archiving_settings_are_live(host):
    assert psql(host, "SHOW archive_mode") == "on"
    assert psql(host, "SHOW wal_level") == "replica"
    assert psql(host, "SHOW archive_command") == f"pgbackrest --stanza={STANZA} archive-push %p"
    # backup_rpo_minutes 60 -> half the RPO: 1800 s.
    assert psql(host, "SELECT setting FROM pg_settings WHERE name = 'archive_timeout'") == "1800"


def test_pgbackrest_check_archives_wal(host):
    out = as_postgres(host, "pgbackrest", f"--stanza={STANZA}", "check")
    assert out.rc == 0, out.stdout + out.stderr
    # Archiving works now: the newest archive attempt succeeded (fault tests
    # of this scenario may have broken it on purpose earlier).
    ok = psql(
        host,
        "SELECT archived_count > 0 AND last_archived_time >= coalesce(last_failed_time, '-infinity') FROM pg_stat_archiver",
    )
    assert ok == "t", psql(host, "SELECT * FROM pg_stat_archiver")


def test_pgbackrest_config(host):
    conf = host.file("/etc/pgbackrest/pgbackrest.conf")
    assert conf.user == "root" and conf.group == "postgres" and conf.mode == 0o640
    lines = set(conf.content_string.splitlines())
    cpus = int(host.run("nproc").stdout)
    for line in (
        f"repo1-path={ROOT}/pgbackrest",
        "repo1-type=posix",
        "repo1-retention-full-type=time",
        "repo1-retention-full=90",
        "compress-type=zst",
        f"process-max={min(cpus, 4)}",
        "start-fast=y",
        f"[{STANZA}]",
        f"pg1-path=/var/lib/postgresql/{pg_major(host)}/main",
    ):
        assert line in lines, line


def test_full_backup_and_stanza_ok(host, full_backup):
    record = full_backup["records"][0]
    assert record["status"] == "ok", record["message"]
    assert record["checksum_status"] == "verified"
    info = pgbackrest_info(host)
    assert info["status"]["code"] == 0, info["status"]
    labels = [b["label"] for b in info["backup"]]
    assert record["pgbackrest"]["label"] in labels
    saved = json.loads(host.file(f"{ROOT}/records/{record['id']}.json").content_string)
    assert saved["status"] == "ok"


# --- Layout and tool configuration ---------------------------------------------------


@pytest.mark.parametrize(
    "path,user,group,mode",
    [
        (ROOT, "root", "postgres", 0o750),
        (f"{ROOT}/pgbackrest", "postgres", "postgres", 0o750),
        (f"{ROOT}/records", "root", "root", 0o750),
        (f"{ROOT}/config", "root", "root", 0o750),
        (f"{ROOT}/redis", "root", "root", 0o750),
    ],
)
def test_layout(host, path, user, group, mode):
    d = host.file(path)
    assert d.is_directory
    assert (d.user, d.group, d.mode) == (user, group, mode)


def test_backup_root_is_the_small_tmpfs(host):
    out = host.run(f"findmnt -no FSTYPE {ROOT}")
    assert out.stdout.strip() == "tmpfs"


def test_tool_config_is_private_and_complete(host):
    cfg = host.file("/etc/opsbook/backup.json")
    assert (cfg.user, cfg.group, cfg.mode) == ("root", "root", 0o600)
    data = json.loads(cfg.content_string)
    assert data["backup_root"] == ROOT
    assert data["pgbackrest"] == {"enabled": True, "stanza": STANZA, "config": "/etc/pgbackrest/pgbackrest.conf"}
    assert data["postgresql"]["version"] == pg_major(host) and data["postgresql"]["port"] == 5432
    assert data["logical_databases"] == ["appdb"]
    assert data["redis"]["enabled"] is True
    assert data["redis"]["password_file"] == "/etc/opsbook/redis-backup.pass"
    assert "/etc/postgresql" in data["config_paths"]


def test_tool_is_installed(host):
    tool = host.file("/usr/local/sbin/opsbook-backup")
    assert (tool.user, tool.mode) == ("root", 0o755)
    out = host.run("/usr/local/sbin/opsbook-backup run nonsense")
    assert out.rc == 2


# --- Redis ---------------------------------------------------------------------------


def test_redis_password_file(host, bvars):
    pw = host.file("/etc/opsbook/redis-backup.pass")
    assert (pw.user, pw.group, pw.mode) == ("root", "root", 0o600)
    assert pw.content_string.strip() == bvars["backup_redis_password"]
    # The same password is the ACL user's that opsbook.stack.redis created.
    user = next(u for u in bvars["redis_users"] if u["name"] == REDIS_BACKUP_USER)
    assert user["password"] == bvars["backup_redis_password"]


def redis_as_backup(host, bvars, *args: str):
    return sh(
        host, "redis-cli", "--no-auth-warning", "-h", "127.0.0.1", "-p", "6379",
        "--user", REDIS_BACKUP_USER, "--pass", bvars["backup_redis_password"], *args,
    )


def test_redis_backup_user_can_bgsave(host, bvars):
    out = redis_as_backup(host, bvars, "BGSAVE")
    assert "Background saving started" in out.stdout or "already in progress" in out.stdout, out.stdout + out.stderr
    assert redis_as_backup(host, bvars, "LASTSAVE").stdout.strip().isdigit()


@pytest.mark.parametrize("command", [("GET", "anykey"), ("SET", "k", "v"), ("KEYS", "*")])
def test_redis_backup_user_cannot_read_or_write(host, bvars, command):
    out = redis_as_backup(host, bvars, *command)
    assert "NOPERM" in out.stdout + out.stderr


# --- Schedules -----------------------------------------------------------------------


def test_timers_loaded_and_enabled(host):
    listed = host.run("systemctl list-timers --all --no-legend --no-pager").stdout
    for kind in KINDS_SCHEDULED:
        unit = f"opsbook-backup-{kind}.timer"
        assert unit in listed, f"{unit} not in list-timers:\n{listed}"
        assert f"opsbook-backup@{kind}.service" in listed
        assert host.service(unit).is_enabled
        assert host.run(f"systemctl is-active {unit}").stdout.strip() == "active"
    assert "opsbook-backup-diff.timer" not in listed


def test_timer_schedule(host):
    out = host.run("systemctl show -p TimersCalendar opsbook-backup-incr.timer").stdout
    assert "00/6:45:00" in out, out
    unit = host.file("/etc/systemd/system/opsbook-backup-full.timer").content_string
    assert "Persistent=true" in unit


def test_units_pass_systemd_analyze_verify(host):
    out = host.run(
        "systemd-analyze verify /etc/systemd/system/opsbook-backup@config.service "
        + " ".join(f"/etc/systemd/system/opsbook-backup-{k}.timer" for k in KINDS_SCHEDULED)
    )
    assert out.rc == 0, out.stderr
    assert "opsbook-backup" not in out.stderr, out.stderr


def test_service_template(host):
    props = host.run("systemctl show -p Nice -p IOSchedulingClass -p ExecStart opsbook-backup@config.service").stdout
    assert "Nice=10" in props
    assert "IOSchedulingClass=3" in props  # idle
    assert "opsbook-backup run config --trigger timer" in props


# --- The tool through the role's units ----------------------------------------------------


def test_config_snapshot_runs_through_the_unit(host):
    before = set(host.run(f"ls {ROOT}/config").stdout.split())
    out = host.run("systemctl start opsbook-backup@config.service")
    assert out.rc == 0, out.stderr + host.run("journalctl -u opsbook-backup@config.service -n 20 --no-pager").stdout
    new = set(host.run(f"ls {ROOT}/config").stdout.split()) - before
    assert len(new) == 1, new
    manifest = json.loads(host.file(f"{ROOT}/config/{new.pop()}/manifest.json").content_string)
    paths = [f["path"] for f in manifest["files"]]
    assert any(p.startswith(f"etc/postgresql/{pg_major(host)}/main/") for p in paths), paths
    assert "/etc/nginx" in manifest["missing"]


def test_config_snapshot_run_manually(host):
    record = run_tool(host, "run", "config")["records"][0]
    assert record["status"] == "ok", record["message"]
    # Secrets stay private inside the snapshot: never more open than the original.
    for src in ("/etc/redis/users.acl", "/etc/pgbackrest/pgbackrest.conf"):
        original, copy = host.file(src), host.file(f"{record['path']}{src}")
        assert copy.exists, src
        assert copy.mode & 0o007 == 0 and copy.mode & ~original.mode == 0, (src, oct(copy.mode))

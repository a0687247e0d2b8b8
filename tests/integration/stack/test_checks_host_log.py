"""opsbook.stack.host_check and log_check against the real hosts (units, mounts, memory, clock, logs)."""

from __future__ import annotations

from typing import Any

import pytest

from testbed.stack import StackHost

pytestmark = pytest.mark.stage("checks")

# Services each group runs (the PostgreSQL instance unit is looked up, it carries the major version).
GROUP_UNITS = {
    "db": ["postgresql"],
    "cache": ["redis-server"],
    "app": ["refservice-web", "refservice-scheduler"],
    "web": ["nginx"],
}
APP_LOGS = "/var/log/refservice/*.log"


def run(host, module: str, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    return host.ansible(f"opsbook.stack.{module}", args, become=True, check=check)


def failure_message(host, module: str, args: dict[str, Any]) -> str:
    """The module's failure message for bad options."""
    result = run(host, module, args)
    assert result.get("failed") and "checks" not in result, f"{module} did not fail for {args}: {result}"
    return result["msg"]


def by_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["check"]: item for item in result["checks"]}


def groups_of(host) -> list[str]:
    return host.groups


def expected_units(host) -> list[str]:
    units = ["dbus"]
    for group in groups_of(host):
        units += GROUP_UNITS.get(group, [])
    if "db" in groups_of(host):
        listed = host.run("systemctl list-units --no-legend --plain 'postgresql@*.service'").stdout.split()
        units += [name for name in listed if name.startswith("postgresql@")][:1]
    return units


def not_ok(result: dict[str, Any]) -> list[str]:
    return [f"{item['check']}: {item['message']}" for item in result["checks"] if item["status"] != "ok"]


@pytest.fixture
def app(stack):
    """The stack's app host (tests taking `host` run on every host; these only on the app host)."""
    return StackHost(stack, stack.hosts("app")[0])


@pytest.fixture
def scratch(app):
    """A temporary directory on the app host for our own log and state files."""
    directory = app.run("mktemp -d /tmp/opsbook-logcheck.XXXXXX").stdout.strip()
    assert directory.startswith("/tmp/opsbook-logcheck.")
    yield directory
    app.run(f"rm -rf -- {directory}")


# ------------------------------------------------------------------ host_check


def test_host_check_real_state(host):
    units = expected_units(host)
    result = run(host, "host_check", {"units": [{"name": unit} for unit in units], "cpu_sample_seconds": 0.5})
    assert result["changed"] is False
    checks = by_id(result)
    # every service of the host's groups is active and enabled
    for unit in units:
        item = checks[f"host.unit:{unit}"]
        assert item["status"] == "ok", item["message"]
        assert item["details"]["load_state"] == "loaded" and item["value"] == "active"
    assert any(unit.startswith("postgresql@") for unit in units) == ("db" in groups_of(host))
    # mount discovery in a container: "/" (overlay) is kept, bind-mounted /etc/hosts & co. are not
    disks = [check for check in checks if check.startswith("host.disk:")]
    assert "host.disk:/" in disks
    assert not any(check.startswith(("host.disk:/etc/", "host.inodes:/etc/", "host.disk:/proc", "host.disk:/sys")) for check in checks)
    root = checks["host.disk:/"]
    root_fs = host.run("stat -f -c %T /").stdout.strip().replace("overlayfs", "overlay")
    assert root["unit"] == "%" and 0 < root["value"] < 100 and root["details"]["fstype"] == root_fs
    # memory: no cgroup limit on the sandbox containers -> the machine's /proc/meminfo
    memory = checks["host.memory"]
    total_kb = int(host.run("awk '/^MemTotal:/ {print $2}' /proc/meminfo").stdout)
    if memory["details"]["source"].startswith("/proc/meminfo"):
        assert memory["details"]["total_bytes"] == total_kb * 1024
    else:
        assert memory["details"]["total_bytes"] < total_kb * 1024 and "cgroup" in memory["details"]["source"]
    assert checks["host.load"]["details"]["cores"] == int(host.run("nproc").stdout)
    assert 0 <= checks["host.cpu"]["value"] <= 100
    # clock: adjtimex works in the containers (docker's seccomp allows reading); it reports the host kernel's state
    clock = checks["host.clock"]
    assert clock["status"] != "unknown", clock["message"]
    if clock["details"]["synchronised"]:
        assert clock["status"] == "ok" or clock["value"] >= 100
    else:
        assert clock["status"] in ("warn", "crit") and "not synchronised" in clock["message"]
    # nothing else is off on a healthy host (CPU, load and clock sync belong to the machine running the sandbox)
    assert [line for line in not_ok(result) if not line.startswith(("host.clock", "host.cpu", "host.load"))] == [], not_ok(result)


def test_host_check_provoked_findings(host):
    result = run(
        host,
        "host_check",
        {
            "checks": ["disk", "units"],
            "mounts": ["/", "/var/log"],
            "thresholds": {"disk_pct": {"warn": 0.1, "crit": None}},
            "units": [
                {"name": "opsbook-no-such-unit"},
                {"name": "dbus", "active": False, "enabled": True},
            ],
        },
    )
    checks = by_id(result)
    assert checks["host.disk:/"]["status"] == "warn"
    assert checks["host.disk:/"]["message"].endswith("(warn >= 0.1%)")
    assert "is not a mount point" in checks["host.disk:/var/log"]["details"]["note"]
    assert checks["host.unit:opsbook-no-such-unit"]["status"] == "crit"
    assert checks["host.unit:opsbook-no-such-unit"]["message"] == "unit opsbook-no-such-unit not found"
    assert checks["host.unit:dbus"]["status"] == "warn" and "expected inactive" in checks["host.unit:dbus"]["message"]
    assert result["summary"]["worst"] == "crit" and result["summary"]["total"] == 4


def test_host_check_scratch_volume(host):
    """The test stack gives every host a 64 MiB tmpfs at /srv/scratch (tests/testbed/stack.py): an explicit mount checks it (pseudo fs or not)."""
    assert host.mount_point("/srv/scratch").exists, "tests/testbed/stack.py mounts a tmpfs at /srv/scratch on every host"
    item = by_id(run(host, "host_check", {"checks": ["disk"], "mounts": ["/srv/scratch"]}))["host.disk:/srv/scratch"]
    assert item["details"]["fstype"] == "tmpfs" and item["status"] in ("ok", "warn", "crit")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ({"checks": ["cpu", "gpu"]}, "unknown check name(s) 'gpu'"),
        ({"thresholds": {"memory_pct": {"warn": 95, "crit": 90}}}, "threshold 'memory_pct': warn 95 is beyond crit 90"),
        ({"thresholds": {"swap_pct": {"warn": 1}}}, "unknown threshold 'swap_pct'"),
        ({"units": [{"name": "postgresql@*"}]}, "glob characters"),
    ],
)
def test_host_check_bad_input(app, args, needle):
    assert needle in failure_message(app, "host_check", args)


# ------------------------------------------------------------------ log_check


def write(host, path: str, text: str, mode: str = ">>") -> None:
    result = host.run(f"printf %%s %s {mode} %s", text, path)  # testinfra shell-quotes the arguments
    assert result.rc == 0, result.stderr


def test_log_check_real_app_log_in_check_mode(app, scratch):
    """The real app log is scanned (check mode, own state path: the daily run's state is not touched)."""
    state = f"{scratch}/state/never.json"
    result = run(app, "log_check", {"files": [{"path": APP_LOGS}], "state_file": state}, check=True)
    checks = by_id(result)
    logs = app.run(f"sh -c 'ls {APP_LOGS}'").stdout.split()
    assert logs, "the app writes no log"
    for path in logs:
        name = path.rsplit("/", 1)[1]
        item = checks[f"log.errors:{name}"]
        assert item["status"] != "unknown", item["message"]
        assert item["details"]["path"] == path and item["unit"] == "lines"
        assert item["details"]["lines_scanned"] > 0
    assert result["changed"] is True  # first run for this state file: it would be written...
    assert not app.file(state).exists and not app.file(f"{scratch}/state").exists  # ...but check mode did not


def test_log_check_incremental_rotation_and_check_mode(app, scratch):
    host = app
    log = f"{scratch}/test.log"
    state = f"{scratch}/state/log_check.json"
    args = {"files": [{"path": log, "name": "t"}], "state_file": state}
    write(host, log, "2025-01-01 INFO started\n2025-01-01 ERROR old failure\n", ">")
    first = by_id(run(host, "log_check", args))
    assert first["log.errors:t"]["value"] == 1 and "first run" in first["log.errors:t"]["details"]["events"][0]
    assert host.file(state).mode == 0o600 and host.file(f"{scratch}/state").mode == 0o700

    write(host, log, "ERROR a\nERROR b\nall fine\nHTTP 429 Too Many Requests\nERROR c\n")
    result = run(host, "log_check", args)
    checks = by_id(result)
    assert result["changed"] is True
    assert (checks["log.errors:t"]["status"], checks["log.errors:t"]["value"]) == ("warn", 3)
    assert checks["log.errors:t"]["details"]["samples"] == ["ERROR a", "ERROR b", "ERROR c"]
    assert checks["log.rate_limit:t"]["value"] == 1

    quiet = run(host, "log_check", args)
    assert quiet["changed"] is False and quiet["summary"]["worst"] == "ok"

    # check mode: reports the new lines and changed, but leaves the state file alone
    before = host.file(state).sha256sum
    write(host, log, "FATAL x\n" * 12)
    preview = run(host, "log_check", args, check=True)
    assert preview["changed"] is True and by_id(preview)["log.errors:t"]["status"] == "crit"
    assert host.file(state).sha256sum == before
    assert by_id(run(host, "log_check", args))["log.errors:t"]["value"] == 12

    # rename rotation: the rest of the old file is finished, then the new file from the start
    write(host, log, "ERROR late in the old file\n")
    host.run(f"mv {log} {log}.1")
    write(host, log, "ERROR first in the new file\n", ">")
    rotated = by_id(run(host, "log_check", args))["log.errors:t"]
    assert rotated["value"] == 2
    assert any("finished rotated file" in event for event in rotated["details"]["events"])


def test_log_check_missing_file_and_bad_input(app, scratch):
    host = app
    result = run(host, "log_check", {"files": [{"path": f"{scratch}/nope.log"}], "state_file": f"{scratch}/s.json"})
    item = by_id(result)["log.errors:nope.log"]
    assert item["status"] == "unknown" and item["message"] == f"log file {scratch}/nope.log does not exist"
    for args, needle in (
        ({"patterns": [{"name": "bad", "regex": "(unclosed"}]}, "pattern 'bad': invalid regex"),
        ({"patterns": [{"name": "x", "regex": "x", "warn": 10, "crit": 5}]}, "threshold 'x': warn 10 is beyond crit 5"),
        ({"checks": ["errors", "panics"]}, "unknown check name(s) 'panics'"),
    ):
        assert needle in failure_message(host, "log_check", dict(args, files=[{"path": f"{scratch}/x.log"}], state_file=f"{scratch}/s.json"))

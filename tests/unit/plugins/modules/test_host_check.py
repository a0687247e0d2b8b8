"""opsbook.stack.host_check: /proc and cgroup parsing, mounts, units, clock, contract."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.opsbook.stack.plugins.module_utils import _host
from ansible_collections.opsbook.stack.plugins.module_utils._checks import Threshold
from ansible_collections.opsbook.stack.plugins.modules import host_check


# /proc/self/mountinfo inside a sandbox container (docker, overlay root, bind-mounted files, cgroup v1 + unified)
CONTAINER_MOUNTINFO = r"""166 112 0:63 / / rw,relatime master:4 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X,upperdir=/u,workdir=/w
167 166 0:66 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
168 166 0:67 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
169 168 0:68 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666
170 166 0:69 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
171 168 0:65 / /dev/mqueue rw,nosuid,nodev,noexec,relatime - mqueue mqueue rw
172 168 0:70 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k
173 166 0:71 / /run rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw
174 166 254:0 /var/lib/docker/containers/5882/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw,discard
175 166 254:0 /var/lib/docker/containers/5882/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw,discard
176 166 254:0 /var/lib/docker/containers/5882/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw,discard
177 173 0:72 / /run/lock rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw
178 170 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,size=4096k,nr_inodes=1024,mode=755
179 178 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
182 178 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
188 178 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
113 167 0:66 /bus /proc/bus ro,nosuid,nodev,noexec,relatime - proc proc rw
118 167 0:67 /null /proc/keys rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
"""

# A VM: ext4 root, separate data disk, a directory bind mount of it, vfat /boot/efi, snaps, NFS, a path with a space
VM_MOUNTINFO = r"""27 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw
28 27 254:2 / /boot/efi rw,relatime - vfat /dev/vda15 rw
29 27 254:16 / /var/lib/postgresql rw,relatime - xfs /dev/vdb rw
30 27 254:16 /backups /srv/backups rw,relatime - xfs /dev/vdb rw
31 27 0:22 / /sys rw,relatime - sysfs sysfs rw
32 27 0:25 / /run rw,relatime - tmpfs tmpfs rw
33 27 7:0 / /snap/core/1 ro,relatime - squashfs /dev/loop0 ro
34 27 0:40 / /mnt/nfs rw,relatime - nfs4 srv:/export rw
35 27 254:3 / /data\040disk rw,relatime - ext4 /dev/vdc rw
36 27 0:41 / /home/u/.cache/doc rw - fuse.portal portal rw
"""


def test_container_mounts_keep_root_and_skip_bind_mounted_files():
    mounts = _host.parse_mountinfo(CONTAINER_MOUNTINFO)
    files = {"/etc/resolv.conf", "/etc/hostname", "/etc/hosts"}
    chosen = _host.discover_mounts(mounts, isdir=lambda path: path not in files)
    assert [(mount.mountpoint, mount.fstype, others) for mount, others in chosen] == [("/", "overlay", [])]


def test_vm_mounts_real_local_one_per_device():
    mounts = _host.parse_mountinfo(VM_MOUNTINFO)
    chosen = {mount.mountpoint: others for mount, others in _host.discover_mounts(mounts, isdir=lambda path: True)}
    assert chosen == {"/": [], "/boot/efi": [], "/var/lib/postgresql": ["/srv/backups"], "/data disk": []}


def test_mount_of_uses_longest_prefix(tmp_path):
    mounts = _host.parse_mountinfo(VM_MOUNTINFO)
    assert _host.mount_of("/var/lib/postgresql/15/main", mounts).mountpoint == "/var/lib/postgresql"
    assert _host.mount_of("/var/lib/postgresqlx", mounts).mountpoint == "/"
    assert _host.mount_of("/", mounts).mountpoint == "/"


def test_this_machines_mountinfo_parses_and_root_is_found():
    mounts = _host.parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    chosen = [mount.mountpoint for mount, _others in _host.discover_mounts(mounts)]
    assert "/" in chosen
    assert not any(point.startswith(("/proc", "/sys", "/dev", "/run")) for point in chosen)


def test_fs_usage_of_a_real_directory(tmp_path):
    usage = _host.fs_usage(str(tmp_path))
    assert usage.size_bytes > 0 and 0 <= usage.used_pct <= 100
    assert usage.inodes_pct is None or 0 <= usage.inodes_pct <= 100


# ------------------------------------------------------------------ /proc parsers

PROC_STAT = """cpu  100 0 100 700 100 0 0 0 0 0
cpu0 50 0 50 350 50 0 0 0 0 0
cpu1 50 0 50 350 50 0 0 0 0 0
intr 1 2 3
"""


def test_parse_proc_stat_aggregate_and_subset():
    assert _host.parse_proc_stat(PROC_STAT) == _host.CpuTimes(busy=200, total=1000)
    assert _host.parse_proc_stat(PROC_STAT, {1}) == _host.CpuTimes(busy=100, total=500)
    real = _host.parse_proc_stat(Path("/proc/stat").read_text())
    assert 0 < real.busy < real.total
    with pytest.raises(ValueError):
        _host.parse_proc_stat("intr 1\n")


def test_cpu_busy_pct():
    assert _host.cpu_busy_pct(_host.CpuTimes(200, 1000), _host.CpuTimes(275, 1100)) == 75.0
    assert _host.cpu_busy_pct(_host.CpuTimes(200, 1000), _host.CpuTimes(200, 1000)) is None


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 10**6))
def test_cpu_busy_pct_stays_in_range(busy, extra_busy, idle, tick):
    first = _host.CpuTimes(busy, busy + idle)
    second = _host.CpuTimes(busy + extra_busy, busy + idle + extra_busy + tick)
    assert 0 <= _host.cpu_busy_pct(first, second) <= 100


def test_loadavg_and_meminfo():
    assert _host.parse_loadavg("1.76 1.20 1.54 4/228 1946\n") == (1.76, 1.20, 1.54)
    info = _host.parse_meminfo(Path("/proc/meminfo").read_text())
    view = _host.meminfo_memory(info)
    assert view.total_bytes == info["MemTotal"] > 0 and 0 <= view.pct <= 100
    assert "MemAvailable" in view.source
    old = _host.meminfo_memory({"MemTotal": 1000 * 1024, "MemFree": 100 * 1024, "Buffers": 100 * 1024, "Cached": 300 * 1024})
    assert old.pct == 50.0 and "MemFree" in old.source


# ------------------------------------------------------------------ cgroups (fake trees, real files)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_memory_and_cpu_limits(tmp_path):
    base = tmp_path / "sys/fs/cgroup"
    leaf = base / "docker/abc"
    _write(base / "cgroup.controllers", "cpuset cpu io memory pids\n")
    _write(leaf / "memory.max", "536870912\n")
    _write(leaf / "memory.current", "300000000\n")
    _write(leaf / "memory.stat", "anon 1\ninactive_file 31564800\nactive_file 5\n")
    _write(leaf / "cpu.max", "50000 100000\n")
    _write(leaf / "cpu.stat", "usage_usec 2500000\nuser_usec 1\n")
    mounts = _host.parse_mountinfo("41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
    proc = _host.parse_proc_cgroup("0::/docker/abc\n")
    dirs = _host.cgroup_dirs("memory", mounts, proc, str(tmp_path))
    assert dirs == [("v2", str(leaf)), ("v2", str(base / "docker")), ("v2", str(base))]
    view = _host.cgroup_memory(dirs, machine_total=24 * 2**30)
    assert view.total_bytes == 536870912 and view.used_bytes == 300000000 - 31564800
    assert view.source.startswith("cgroup v2 memory.current/memory.max")
    limit = _host.cgroup_cpu_limit(_host.cgroup_dirs("cpu", mounts, proc, str(tmp_path)))
    assert limit.cpus == 0.5 and _host.read_cpu_usage(limit) == 2.5 and "cpu.max" in limit.source
    # "max" = no limit -> no cgroup view (the caller falls back to /proc/meminfo, /proc/stat)
    _write(leaf / "memory.max", "max\n")
    _write(leaf / "cpu.max", "max 100000\n")
    assert _host.cgroup_memory(dirs, 24 * 2**30) is None
    assert _host.cgroup_cpu_limit(dirs) is None
    # a limit set on the parent applies
    _write(base / "docker/memory.max", "1073741824\n")
    _write(base / "docker/memory.current", "107374182\n")
    assert _host.cgroup_memory(dirs, 24 * 2**30).pct == 10.0


def test_cgroup_v2_without_memory_controller_is_ignored(tmp_path):
    base = tmp_path / "sys/fs/cgroup/unified"
    _write(base / "cgroup.controllers", "\n")  # hybrid: controllers live in v1
    _write(base / "memory.max", "1\n")
    mounts = _host.parse_mountinfo("41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n")
    assert _host.cgroup_dirs("memory", mounts, {"": "/"}, str(tmp_path)) == []


def test_cgroup_v1_limits_and_unlimited(tmp_path):
    leaf = tmp_path / "sys/fs/cgroup/memory/docker/abc"
    _write(leaf / "memory.limit_in_bytes", "9223372036854771712\n")
    _write(leaf / "memory.usage_in_bytes", "100\n")
    _write(leaf / "memory.stat", "total_inactive_file 10\n")
    cpu_leaf = tmp_path / "sys/fs/cgroup/cpu/docker/abc"
    acct_leaf = tmp_path / "sys/fs/cgroup/cpuacct/docker/abc"
    _write(cpu_leaf / "cpu.cfs_quota_us", "150000\n")
    _write(cpu_leaf / "cpu.cfs_period_us", "100000\n")
    _write(acct_leaf / "cpuacct.usage", "3000000000\n")
    mounts = _host.parse_mountinfo(CONTAINER_MOUNTINFO + "180 178 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n")
    proc = _host.parse_proc_cgroup("4:memory:/docker/abc\n1:cpu:/docker/abc\n2:cpuacct:/docker/abc\n0::/docker/abc\n")
    mem_dirs = _host.cgroup_dirs("memory", mounts, proc, str(tmp_path))
    assert mem_dirs[0] == ("v1", str(leaf))
    assert _host.cgroup_memory(mem_dirs, 24 * 2**30) is None  # unlimited
    _write(leaf / "memory.limit_in_bytes", "1000\n")
    view = _host.cgroup_memory(mem_dirs, 24 * 2**30)
    assert view.pct == 9.0 and "cgroup v1" in view.source
    assert _host.cgroup_memory(mem_dirs, 500) is None  # a limit above the RAM does not bind
    limit = _host.cgroup_cpu_limit(_host.cgroup_dirs("cpu", mounts, proc, str(tmp_path)), _host.cgroup_dirs("cpuacct", mounts, proc, str(tmp_path)))
    assert limit.cpus == 1.5 and _host.read_cpu_usage(limit) == 3.0


# ------------------------------------------------------------------ units

SHOW = """Id=dbus.service
LoadState=loaded
ActiveState=active
SubState=running
UnitFileState=static

Id=nosuch.service
LoadState=not-found
ActiveState=inactive
SubState=dead
UnitFileState=
"""


def test_parse_systemctl_show_blocks_in_order():
    blocks = _host.parse_systemctl_show(SHOW)
    assert [block["Id"] for block in blocks] == ["dbus.service", "nosuch.service"]
    assert _host.systemctl_show_args(["a", "b"]) == [
        "show", "--no-pager", "--property=Id,LoadState,ActiveState,SubState,UnitFileState", "--", "a", "b",
    ]


def _props(load="loaded", active="active", sub="running", file_state="enabled"):
    return {"LoadState": load, "ActiveState": active, "SubState": sub, "UnitFileState": file_state}


@pytest.mark.parametrize(
    ("props", "want_active", "want_enabled", "status", "needle"),
    [
        (_props(), True, True, "ok", "is active (running), enabled"),
        (_props(file_state="static"), True, True, "ok", "static"),
        (_props(load="not-found", active="inactive", sub="dead", file_state=""), True, True, "crit", "unit x not found"),
        (_props(active="failed", sub="failed"), True, True, "crit", "has failed"),
        (_props(active="failed", sub="failed"), False, False, "crit", "has failed"),
        (_props(active="inactive", sub="dead"), True, True, "crit", "is inactive (dead), expected active"),
        (_props(file_state="disabled"), True, True, "warn", "is disabled, expected enabled"),
        (_props(active="activating", sub="auto-restart"), True, True, "crit", "keeps restarting"),
        (_props(active="activating", sub="start"), True, True, "warn", "still starting"),
        (_props(load="masked", active="inactive", sub="dead", file_state="masked"), True, True, "crit", "masked"),
        (_props(active="inactive", sub="dead", file_state="disabled"), False, False, "ok", "inactive"),
        (_props(), False, True, "warn", "expected inactive"),
        (_props(active="inactive", sub="dead"), False, False, "warn", "expected disabled"),
    ],
)
def test_unit_verdicts(props, want_active, want_enabled, status, needle):
    got_status, message = _host.unit_verdict("x", props, want_active, want_enabled)
    assert got_status == status and needle in message


@pytest.mark.parametrize("name", ["postgresql@*-main", "bad name", "a;b"])
def test_unit_names_rejected(name):
    assert name in _host.unit_name_problem(name)


class ScriptModule:
    """Just enough of AnsibleModule for check_units: runs a real (fake) systemctl script."""

    def __init__(self, script: Path) -> None:
        self.script = script

    def get_bin_path(self, name):
        return str(self.script)

    def run_command(self, args, environ_update=None):
        import subprocess

        proc = subprocess.run(args, capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr


def test_check_units_one_call_for_all(tmp_path):
    calls = tmp_path / "calls"
    script = tmp_path / "systemctl"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\ncat <<'EOF'\n{SHOW}EOF\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    results = host_check.check_units(ScriptModule(script), [
        {"name": "dbus", "active": True, "enabled": True},
        {"name": "nosuch", "active": True, "enabled": True},
    ])
    assert [(item.check, item.status) for item in results] == [("host.unit:dbus", "ok"), ("host.unit:nosuch", "crit")]
    assert results[1].message == "unit nosuch not found"
    assert calls.read_text().count("\n") == 1 and calls.read_text().endswith("dbus nosuch\n")
    script.write_text("#!/bin/sh\necho 'System has not been booted with systemd as init system (PID 1).' >&2\nexit 1\n")
    results = host_check.check_units(ScriptModule(script), [{"name": "dbus", "active": True, "enabled": True}])
    assert results[0].status == "unknown" and "not been booted with systemd" in results[0].message


# ------------------------------------------------------------------ clock


def test_clock_synchronised_is_ok_and_offset_is_evaluated():
    threshold = Threshold(100.0, 1000.0)
    synced = host_check.clock_result(_host.ClockState(0, 0x2001, -2_500_000, 10_000, 500), threshold)  # STA_NANO: ns
    assert synced.status == "ok" and synced.value == 2.5 and synced.unit == "ms"
    assert synced.message.startswith("kernel clock is synchronised")
    far = host_check.clock_result(_host.ClockState(0, 0x0001, 1_500_000, 10_000, 500), threshold)  # usec
    assert far.status == "crit" and far.value == 1500.0


def test_clock_unsynchronised_warns():
    state = _host.ClockState(5, 0x0040, 0, 16_000_000, 16_000_000)
    item = host_check.clock_result(state, Threshold(100.0, 1000.0))
    assert item.status == "warn" and "not synchronised" in item.message and "TIME_ERROR" in item.message
    assert item.details["maxerror_ms"] == 16000.0 and item.details["synchronised"] is False


def test_adjtimex_really_answers_here():
    state = _host.read_adjtimex()
    assert state.state in _host.TIME_STATES
    result = host_check.check_clock(Threshold(100.0, 1000.0))
    assert result.status in ("ok", "warn", "crit") and result.details["source"].startswith("adjtimex")


# ------------------------------------------------------------------ real readers on this machine


def test_readers_on_this_machine():
    reader = host_check.HostReader()
    cpu = host_check.check_cpu(reader, Threshold(70.0, 90.0), 0.2)
    assert cpu.status != "unknown" and 0 <= cpu.value <= 100 and cpu.details["source"]
    load = host_check.check_load(reader, Threshold(2.0, 4.0))
    assert load.value >= 0 and load.details["cores"] >= 1
    mem = host_check.check_memory(reader, Threshold(80.0, 90.0))
    assert 0 <= mem.value <= 100 and mem.details["source"]


def test_explicit_mounts_missing_and_non_mountpoint(tmp_path):
    reader = host_check.HostReader()
    thresholds = dict(host_check.DEFAULTS)
    results = host_check.check_filesystems(reader, ["disk", "inodes"], [str(tmp_path), "/nonexistent/x"], thresholds)
    ids = [item.check for item in results]
    assert ids == [f"host.disk:{tmp_path}", "host.disk:/nonexistent/x", f"host.inodes:{tmp_path}", "host.inodes:/nonexistent/x"]
    assert "is not a mount point; checked the filesystem mounted at" in results[0].details["note"]
    assert results[1].status == "unknown" and "does not exist" in results[1].message
    low = dict(thresholds, disk_pct=Threshold(0.0, None))
    provoked = host_check.check_filesystems(reader, ["disk"], [str(tmp_path)], low)[0]
    assert provoked.status == "warn" and provoked.message.startswith(f"disk usage of {tmp_path} is ")


# ------------------------------------------------------------------ disk growth (weekly)

DAY = 86400.0


def test_growth_rate_uses_the_oldest_sample_of_the_window():
    now = 100 * DAY
    samples = [[now - 20 * DAY, 0], [now - 6 * DAY, 1_000], [now - 3 * DAY, 4_000], [now, 7_000]]
    rate, span = _host.growth_per_day(samples, now, 7)
    assert (rate, span) == (1_000.0, 6.0)
    assert _host.days_until_full(30_000, rate) == 30.0
    assert _host.days_until_full(30_000, -5.0) is None and _host.days_until_full(30_000, None) is None
    assert _host.growth_per_day([[now - 0.5 * DAY, 0], [now, 9]], now, 7) == (None, 0.5)
    assert _host.growth_per_day([[now, 9]], now, 7) == (None, None)


def test_samples_are_capped_in_age_and_count():
    now = 100 * DAY
    old = [[now - 40 * DAY, 1], [now - 10 * DAY, 2], [now + DAY, 3]]  # too old, kept, from the future (clock jump)
    assert _host.add_sample(old, now, 5) == [[now - 10 * DAY, 2], [now, 5]]
    many = [[now - DAY + i, i] for i in range(1000)]
    assert len(_host.add_sample(many, now, 1)) == _host.HISTORY_KEEP_SAMPLES


def _usage(used: int, avail: int) -> _host.FsUsage:
    return _host.FsUsage(used + avail, used, avail, round(100.0 * used / (used + avail), 1), 100, 1, 1.0)


def test_growth_result_statuses():
    threshold = host_check.DEFAULTS["disk_days_left"]
    now = 100 * DAY
    history = {"/srv": [[now - 7 * DAY, 10_000_000_000]]}
    # 7 GB more in 7 days = 1 GB/day; 5 GB free -> 5 days: crit (below 7).
    item = host_check.growth_result("host.disk_growth:/srv", "/srv", _usage(17_000_000_000, 5_000_000_000), history, threshold, 7, {}, now)
    assert (item.status, item.value, item.unit) == ("crit", 5.0, "days")
    assert "growing 1000.0 MB/day over 7 days" in item.message and history["/srv"][-1] == [now, 17_000_000_000]
    item = host_check.growth_result("host.disk_growth:/srv", "/srv", _usage(17_000_000_000, 20_000_000_000),
                                    {"/srv": [[now - 7 * DAY, 10_000_000_000]]}, threshold, 7, {}, now)
    assert (item.status, item.value) == ("warn", 20.0)
    shrinking = host_check.growth_result("host.disk_growth:/srv", "/srv", _usage(5, 5), {"/srv": [[now - 2 * DAY, 9]]}, threshold, 7, {}, now)
    assert shrinking.status == "ok" and "is not growing" in shrinking.message
    first = host_check.growth_result("host.disk_growth:/srv", "/srv", _usage(5, 5), {}, threshold, 7, {}, now)
    assert first.status == "ok" and "first usage sample" in first.message

# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readers and parsers behind opsbook.stack.host_check (stdlib only, Linux).

Private to the collection. Parsers take text so they can be tested with
captured inputs; readers take a ``root`` prefix (default ``/``) so tests can
point them at a fake /proc or /sys/fs/cgroup tree.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
from dataclasses import dataclass, field
from typing import Any

# ---------------------------------------------------------------- small helpers


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def _join(root: str, path: str) -> str:
    """``path`` (absolute) below ``root``."""
    if root in ("", "/"):
        return path
    return os.path.join(root, path.lstrip("/"))


def _unescape(text: str) -> str:
    """Undo the octal escapes of /proc/self/mountinfo (``\\040`` for a space)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), text)


# ---------------------------------------------------------------- /proc/stat


@dataclass(frozen=True)
class CpuTimes:
    """Jiffies spent busy and in total (idle + iowait count as not busy)."""

    busy: int
    total: int


def parse_proc_stat(text: str, cpus: set[int] | None = None) -> CpuTimes:
    """Busy and total jiffies from /proc/stat.

    ``cpus``: only sum these ``cpuN`` lines (a cpuset smaller than the machine);
    None = the aggregate ``cpu`` line.
    """
    busy = total = 0
    found = False
    for line in text.splitlines():
        fields = line.split()
        if not fields or not fields[0].startswith("cpu"):
            continue
        name = fields[0]
        if cpus is None:
            if name != "cpu":
                continue
        else:
            if name == "cpu" or int(name[3:]) not in cpus:
                continue
        # user nice system idle iowait irq softirq steal [guest guest_nice]:
        # guest time is already part of user/nice, so only the first 8 count.
        values = [int(value) for value in fields[1:9]]
        values += [0] * (8 - len(values))
        idle = values[3] + values[4]
        total += sum(values)
        busy += sum(values) - idle
        found = True
    if not found:
        raise ValueError("no cpu line in /proc/stat")
    return CpuTimes(busy, total)


def cpu_busy_pct(first: CpuTimes, second: CpuTimes) -> float | None:
    """Busy % between two samples; None when no time passed."""
    total = second.total - first.total
    if total <= 0:
        return None
    busy = max(0, second.busy - first.busy)
    return round(min(100.0, 100.0 * busy / total), 1)


def online_cpus() -> set[int]:
    """CPUs this process may run on (cpuset / affinity aware)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


# ---------------------------------------------------------------- loadavg / meminfo


def parse_loadavg(text: str) -> tuple[float, float, float]:
    fields = text.split()
    if len(fields) < 3:
        raise ValueError(f"unexpected /proc/loadavg content {text!r}")
    return float(fields[0]), float(fields[1]), float(fields[2])


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo as bytes (``kB`` values are multiplied by 1024)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        parts = rest.split()
        if not parts:
            continue
        try:
            number = int(parts[0])
        except ValueError:
            continue
        if len(parts) > 1 and parts[1].lower() == "kb":
            number *= 1024
        out[key.strip()] = number
    return out


# ---------------------------------------------------------------- mounts


@dataclass(frozen=True)
class Mount:
    """One line of /proc/self/mountinfo."""

    mount_id: int
    parent_id: int
    device: str  # major:minor
    root: str  # path inside the filesystem that is mounted here
    mountpoint: str
    fstype: str
    source: str
    options: str
    super_options: str


def parse_mountinfo(text: str) -> list[Mount]:
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        tail = right.split()
        if len(fields) < 6 or len(tail) < 2:
            continue
        mounts.append(
            Mount(
                mount_id=int(fields[0]),
                parent_id=int(fields[1]),
                device=fields[2],
                root=_unescape(fields[3]),
                mountpoint=_unescape(fields[4]),
                fstype=tail[0],
                source=_unescape(tail[1]),
                options=fields[5],
                super_options=tail[2] if len(tail) > 2 else "",
            )
        )
    return mounts


# Filesystems that hold no user data, or whose usage says nothing useful.
PSEUDO_FS = frozenset(
    """
    autofs binfmt_misc bpf cgroup cgroup2 configfs debugfs devpts devtmpfs efivarfs fusectl hugetlbfs
    mqueue nsfs overlay proc pstore ramfs rpc_pipefs securityfs selinuxfs squashfs sysfs tmpfs tracefs
    iso9660 udf nfsd fuse aufs shm
    """.split()
)
# Remote filesystems are not "local" (their server is checked where it runs).
NETWORK_FS = frozenset("nfs nfs4 cifs smb3 smbfs ceph glusterfs 9p afs lustre sshfs davfs".split())


def is_real_local(mount: Mount) -> bool:
    """A local filesystem worth a disk check ("/" is kept even on overlay)."""
    if mount.mountpoint == "/":
        return True
    fstype = mount.fstype
    base = fstype.split(".", 1)[0]
    if fstype in PSEUDO_FS or base in PSEUDO_FS or fstype.startswith("cgroup"):
        return False
    return fstype not in NETWORK_FS and base not in NETWORK_FS


def discover_mounts(mounts: list[Mount], isdir: Any = os.path.isdir) -> list[tuple[Mount, list[str]]]:
    """Real local filesystems to check, one per device, with the other mount points of that device.

    Skips pseudo and network filesystems and bind-mounted files (docker's
    /etc/hosts, /etc/resolv.conf, /etc/hostname); keeps "/" even on overlay.
    A mount point hidden by a later mount on the same path is replaced by it.
    """
    # Last mount on a path wins (it hides the earlier ones).
    by_point: dict[str, Mount] = {}
    for mount in mounts:
        by_point[mount.mountpoint] = mount
    chosen: dict[str, tuple[Mount, list[str]]] = {}
    # The mount of the filesystem root comes first, then shallower mount points.
    for mount in sorted(by_point.values(), key=lambda item: (item.root != "/", item.mountpoint.count("/"), item.mountpoint)):
        if not is_real_local(mount):
            continue
        if mount.mountpoint != "/" and not isdir(mount.mountpoint):
            continue  # a bind-mounted file
        key = mount.device if mount.fstype != "overlay" else f"overlay:{mount.mountpoint}"
        if key in chosen:
            chosen[key][1].append(mount.mountpoint)
            continue
        chosen[key] = (mount, [])
    return sorted(chosen.values(), key=lambda item: item[0].mountpoint)


def mount_of(path: str, mounts: list[Mount]) -> Mount | None:
    """The mount holding ``path`` (longest mount point prefix, last mount wins)."""
    real = os.path.realpath(path)
    best: Mount | None = None
    for mount in mounts:
        point = mount.mountpoint
        if real == point or point == "/" or real.startswith(point.rstrip("/") + "/"):
            if best is None or len(point) >= len(best.mountpoint):
                best = mount
    return best


@dataclass(frozen=True)
class FsUsage:
    size_bytes: int
    used_bytes: int
    avail_bytes: int
    used_pct: float | None
    inodes: int
    inodes_used: int
    inodes_pct: float | None


def fs_usage(path: str) -> FsUsage:
    """Usage like ``df``: used / (used + available to unprivileged users)."""
    st = os.statvfs(path)
    size = st.f_blocks * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    avail = st.f_bavail * st.f_frsize
    pct = round(100.0 * used / (used + avail), 1) if used + avail > 0 else None
    inodes_used = st.f_files - st.f_ffree
    inodes_pct = round(100.0 * inodes_used / st.f_files, 1) if st.f_files > 0 else None
    return FsUsage(size, used, avail, pct, st.f_files, inodes_used, inodes_pct)


# ---------------------------------------------------------------- disk growth

HISTORY_KEEP_DAYS = 35
HISTORY_KEEP_SAMPLES = 400


def add_sample(samples: list[list[float]], now: float, used_bytes: int) -> list[list[float]]:
    """Samples ([epoch, used_bytes], oldest first) with this one added and old ones dropped."""
    kept = [sample for sample in samples if now - HISTORY_KEEP_DAYS * 86400 <= sample[0] < now]
    kept.append([now, used_bytes])
    return kept[-HISTORY_KEEP_SAMPLES:]


def growth_per_day(samples: list[list[float]], now: float, window_days: float) -> tuple[float | None, float | None]:
    """Bytes per day between the oldest sample inside the window and the newest one.

    Returns (rate, age in days of the oldest sample used); rate is None when the
    samples span less than a day.
    """
    usable = [sample for sample in samples if now - window_days * 86400 <= sample[0] <= now]
    if len(usable) < 2:
        return None, None
    first, last = usable[0], usable[-1]
    span_days = (last[0] - first[0]) / 86400
    if span_days < 1:
        return None, round(span_days, 3)
    return (last[1] - first[1]) / span_days, round(span_days, 2)


def days_until_full(avail_bytes: int, rate_per_day: float | None) -> float | None:
    """Days until the free space is gone at ``rate_per_day``; None when not growing."""
    if rate_per_day is None or rate_per_day <= 0:
        return None
    return round(avail_bytes / rate_per_day, 1)


# ---------------------------------------------------------------- cgroups

CGROUP_V1_UNLIMITED = 2**62  # v1 reports "unlimited" as ~2^63 rounded to pages


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/self/cgroup -> {controller: path}; the v2 unified entry is keyed ``""``."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _hid, controllers, path = parts
        if not controllers:
            out[""] = path
            continue
        for controller in controllers.split(","):
            out[controller.replace("name=", "")] = path
    return out


def cgroup_dirs(controller: str, mounts: list[Mount], proc_cgroup: dict[str, str], root: str = "/") -> list[tuple[str, str]]:
    """Candidate cgroup directories for a controller, leaf first, as (version, dir).

    The process's own cgroup and its ancestors up to the hierarchy's mount point,
    for the v2 hierarchy (when the controller is enabled there) and for a v1
    hierarchy that carries the controller.
    """
    out: list[tuple[str, str]] = []
    for mount in mounts:
        if mount.fstype == "cgroup2" and "" in proc_cgroup:
            version, path = "v2", proc_cgroup[""]
        elif mount.fstype == "cgroup" and controller in mount.super_options.split(",") and controller in proc_cgroup:
            version, path = "v1", proc_cgroup[controller]
        else:
            continue
        base = _join(root, mount.mountpoint)
        if version == "v2":
            controllers_file = os.path.join(base, "cgroup.controllers")
            try:
                if controller not in _read(controllers_file).split():
                    continue
            except OSError:
                continue
        # Path of our cgroup relative to the mount's root (cgroup namespaces).
        mount_root = mount.root.rstrip("/")
        relative = path[len(mount_root):] if mount_root and path.startswith(mount_root) else path
        leaf = os.path.normpath(os.path.join(base, relative.lstrip("/")))
        if not os.path.isdir(leaf):
            leaf = base  # private cgroup namespace with an unexpected path: the mount root is ours
        current = leaf
        while True:
            out.append((version, current))
            if os.path.normpath(current) == os.path.normpath(base):
                break
            current = os.path.dirname(current)
    return out


def _int_file(path: str) -> int | None:
    try:
        text = _read(path).strip()
    except OSError:
        return None
    if not text or text == "max":
        return None
    try:
        return int(text.split()[0])
    except ValueError:
        return None


def _stat_file(path: str) -> dict[str, int]:
    out = {}
    try:
        text = _read(path)
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


@dataclass
class MemoryView:
    used_bytes: int
    total_bytes: int
    source: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def pct(self) -> float:
        return round(100.0 * self.used_bytes / self.total_bytes, 1) if self.total_bytes else float("nan")


def cgroup_memory(candidates: list[tuple[str, str]], machine_total: int) -> MemoryView | None:
    """Memory use against the nearest cgroup memory limit below the machine's RAM, or None."""
    for version, directory in candidates:
        if version == "v2":
            limit = _int_file(os.path.join(directory, "memory.max"))
            current = _int_file(os.path.join(directory, "memory.current"))
            inactive = _stat_file(os.path.join(directory, "memory.stat")).get("inactive_file", 0)
            files = "memory.current/memory.max"
        else:
            limit = _int_file(os.path.join(directory, "memory.limit_in_bytes"))
            current = _int_file(os.path.join(directory, "memory.usage_in_bytes"))
            stat = _stat_file(os.path.join(directory, "memory.stat"))
            inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))
            files = "memory.usage_in_bytes/memory.limit_in_bytes"
        if limit is None or current is None or limit >= CGROUP_V1_UNLIMITED:
            continue
        if machine_total and limit >= machine_total:
            continue  # a limit above the RAM does not bind
        used = max(0, current - inactive)
        return MemoryView(
            used,
            limit,
            f"cgroup {version} {files} minus inactive file cache ({directory})",
            {"cgroup": directory, "limit_bytes": limit, "current_bytes": current, "inactive_file_bytes": inactive},
        )
    return None


def meminfo_memory(meminfo: dict[str, int]) -> MemoryView:
    total = meminfo["MemTotal"]
    if "MemAvailable" in meminfo:
        available = meminfo["MemAvailable"]
        source = "/proc/meminfo MemTotal - MemAvailable"
    else:  # kernels before 3.14
        available = meminfo.get("MemFree", 0) + meminfo.get("Buffers", 0) + meminfo.get("Cached", 0)
        source = "/proc/meminfo MemTotal - (MemFree + Buffers + Cached)"
    return MemoryView(max(0, total - available), total, source, {"available_bytes": available})


@dataclass(frozen=True)
class CpuLimit:
    cpus: float  # quota / period
    usage_file: str  # cumulative usage counter
    usage_scale: float  # counter units per second (usec -> 1e6, nsec -> 1e9)
    source: str


def cgroup_cpu_limit(candidates: list[tuple[str, str]], acct_candidates: list[tuple[str, str]] | None = None) -> CpuLimit | None:
    """The nearest CPU quota (cpu.max / cpu.cfs_quota_us) and the usage counter of that cgroup.

    ``acct_candidates``: the v1 cpuacct directories (same order) when cpuacct is a separate hierarchy.
    """
    v1_dirs = [directory for version, directory in candidates if version == "v1"]
    acct_dirs = [directory for version, directory in (acct_candidates or []) if version == "v1"]
    for version, directory in candidates:
        if version == "v2":
            try:
                quota_text, _sep, period_text = _read(os.path.join(directory, "cpu.max")).strip().partition(" ")
            except OSError:
                continue
            if quota_text == "max" or not period_text:
                continue
            quota, period = int(quota_text), int(period_text)
            return CpuLimit(quota / period, os.path.join(directory, "cpu.stat"), 1e6, f"cgroup v2 cpu.max ({directory})")
        quota = _int_file(os.path.join(directory, "cpu.cfs_quota_us"))
        period = _int_file(os.path.join(directory, "cpu.cfs_period_us"))
        if quota is None or period is None or quota <= 0 or period <= 0:
            continue
        usage = os.path.join(directory, "cpuacct.usage")
        index = v1_dirs.index(directory)
        if not os.path.exists(usage) and index < len(acct_dirs):
            usage = os.path.join(acct_dirs[index], "cpuacct.usage")
        return CpuLimit(quota / period, usage, 1e9, f"cgroup v1 cpu.cfs_quota_us/cpu.cfs_period_us ({directory})")
    return None


def read_cpu_usage(limit: CpuLimit) -> float:
    """Seconds of CPU the limited cgroup has used."""
    text = _read(limit.usage_file)
    if limit.usage_file.endswith("cpu.stat"):
        for line in text.splitlines():
            key, _sep, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / limit.usage_scale
        raise ValueError(f"no usage_usec in {limit.usage_file}")
    return int(text.strip()) / limit.usage_scale


# ---------------------------------------------------------------- systemd units

UNIT_NAME_RE = re.compile(r"^[A-Za-z0-9:_.\\@-]+$")
UNIT_SUFFIXES = (
    ".service", ".socket", ".target", ".timer", ".mount", ".automount", ".path", ".slice", ".scope", ".swap", ".device",
)
UNIT_PROPERTIES = ("Id", "LoadState", "ActiveState", "SubState", "UnitFileState")


def unit_name_problem(name: str) -> str | None:
    """Why ``name`` is not a usable unit name, or None."""
    if any(char in name for char in "*?["):
        return f"unit name {name!r} contains glob characters; list each unit explicitly"
    if not UNIT_NAME_RE.match(name):
        return f"unit name {name!r} is not a valid systemd unit name"
    return None


def systemctl_show_args(names: list[str]) -> list[str]:
    return ["show", "--no-pager", f"--property={','.join(UNIT_PROPERTIES)}", "--", *names]


def parse_systemctl_show(text: str) -> list[dict[str, str]]:
    """Blocks of ``Key=value`` lines separated by blank lines, in argument order."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key] = value
    if current:
        blocks.append(current)
    return blocks


ENABLED_STATES = frozenset(("enabled", "enabled-runtime", "static", "indirect", "generated", "alias", "linked", "linked-runtime", "transient", ""))


def unit_verdict(name: str, props: dict[str, str], want_active: bool, want_enabled: bool) -> tuple[str, str]:
    """(status, message) for one unit's ``systemctl show`` properties."""
    load = props.get("LoadState", "")
    active = props.get("ActiveState", "")
    sub = props.get("SubState", "")
    file_state = props.get("UnitFileState", "")
    state = f"{active} ({sub})" if sub else active
    if load == "not-found":
        if not want_active and not want_enabled:
            return "ok", f"unit {name} not found (neither active nor enabled expected)"
        return "crit", f"unit {name} not found"
    if load == "masked":
        if want_active or want_enabled:
            return "crit", f"unit {name} is masked"
        return "ok", f"unit {name} is masked, as neither active nor enabled is expected"
    if load in ("error", "bad-setting"):
        return "crit", f"unit {name} could not be loaded (LoadState {load})"
    if active == "failed":
        return "crit", f"unit {name} has failed ({sub or 'failed'})"
    if want_active:
        if active == "activating" and sub == "auto-restart":
            return "crit", f"unit {name} keeps restarting ({state})"
        if active == "activating":
            return "warn", f"unit {name} is still starting ({state})"
        if active not in ("active", "reloading"):
            return "crit", f"unit {name} is {state}, expected active"
    elif active in ("active", "reloading", "activating"):
        return "warn", f"unit {name} is {state}, expected inactive"
    if want_enabled and file_state not in ENABLED_STATES:
        return "warn", f"unit {name} is {file_state}, expected enabled"
    if not want_enabled and file_state in ("enabled", "enabled-runtime"):
        return "warn", f"unit {name} is {file_state}, expected disabled"
    enabled_text = f", {file_state}" if file_state else ""
    return "ok", f"unit {name} is {state}{enabled_text}"


# ---------------------------------------------------------------- clock (adjtimex)

TIME_STATES = {0: "TIME_OK", 1: "TIME_INS", 2: "TIME_DEL", 3: "TIME_OOP", 4: "TIME_WAIT", 5: "TIME_ERROR"}
TIME_ERROR = 5
STA_UNSYNC = 0x0040
STA_NANO = 0x2000


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    """struct timex from <sys/timex.h> (Linux)."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_padding", ctypes.c_int * 11),
    ]


@dataclass(frozen=True)
class ClockState:
    state: int
    status: int
    offset: int  # usec, or nsec with STA_NANO
    maxerror_us: int
    esterror_us: int

    @property
    def synchronised(self) -> bool:
        return self.state != TIME_ERROR and not self.status & STA_UNSYNC

    @property
    def offset_ms(self) -> float:
        divisor = 1e6 if self.status & STA_NANO else 1e3
        return round(abs(self.offset) / divisor, 3)

    def details(self) -> dict[str, Any]:
        return {
            "source": "adjtimex(2), read-only",
            "synchronised": self.synchronised,
            "clock_state": TIME_STATES.get(self.state, str(self.state)),
            "status_flags": f"0x{self.status:04x}",
            "unsync_flag": bool(self.status & STA_UNSYNC),
            "offset_ms": self.offset_ms,
            "maxerror_ms": round(self.maxerror_us / 1000.0, 3),
            "esterror_ms": round(self.esterror_us / 1000.0, 3),
        }


def read_adjtimex() -> ClockState:
    """Query the kernel clock discipline (modes=0 changes nothing; allowed in containers)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    timex = _Timex()
    timex.modes = 0
    state = libc.adjtimex(ctypes.byref(timex))
    if state < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return ClockState(state, timex.status, timex.offset, timex.maxerror, timex.esterror)

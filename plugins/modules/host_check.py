#!/usr/bin/python
# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Daily host health checks: CPU, load, memory, disks, inodes, systemd units, clock."""

from __future__ import annotations

# Documentation repeats the result contract on purpose (RETURN has no doc fragments): no duplicate-code check.
# pylint: disable=duplicate-code
DOCUMENTATION = r"""
---
module: host_check
short_description: Check CPU, load, memory, disk, inodes, systemd units and clock sync of a Linux host
version_added: 0.2.0
author: opsbook.stack contributors (!UNKNOWN)
description:
  - Reads C(/proc), C(/sys/fs/cgroup), C(statvfs) and C(systemctl show) and reports each finding as an opsbook.stack check
    result. Uses only the Python standard library; changes nothing on the host.
  - "Check ids: V(host.cpu), V(host.load), V(host.memory), V(host.disk:<mountpoint>), V(host.inodes:<mountpoint>),
    V(host.unit:<name>), V(host.clock), V(host.disk_growth:<mountpoint>)."
  - "V(host.cpu): CPU busy % between two C(/proc/stat) samples O(cpu_sample_seconds) apart. Inside a cgroup with a CPU quota
    (cgroup v2 C(cpu.max), v1 C(cpu.cfs_quota_us)) the cgroup's usage against its quota is used instead; C(details.source)
    names the source."
  - "V(host.load): the 5-minute load average of C(/proc/loadavg) divided by the CPUs this process may use (the 1- and 15-minute
    values are in the details). Load is machine-wide, also inside containers."
  - "V(host.memory): inside a cgroup with a memory limit below the machine's RAM, C(memory.current) (v1 C(memory.usage_in_bytes))
    minus the inactive file cache against C(memory.max) (v1 C(memory.limit_in_bytes)); otherwise C(MemTotal - MemAvailable) of
    C(/proc/meminfo). The details name the source used."
  - "V(host.disk) and V(host.inodes): every real local filesystem (pseudo filesystems such as proc, sysfs, tmpfs, cgroup and
    overlay are skipped except for C(/); network filesystems and bind-mounted files are skipped; one check per device) or
    exactly the paths in O(mounts)."
  - "V(host.disk_growth) (not run unless asked for in O(checks)): days until each filesystem of V(host.disk) is full at the
    growth of the last O(growth_window_days) days. Each run adds a usage sample to O(history_file) (kept 35 days); the growth is
    the change between the oldest sample of the window and now. Less than a day of history, or no growth, is ok and says so."
  - "V(host.unit): state of each unit in O(units), all read with one C(systemctl show) call. A failed unit is crit,
    an inactive unit that should be active is crit, a disabled unit that should be enabled is warn, an unknown unit is crit."
  - "V(host.clock): the kernel clock discipline read with C(adjtimex(2)) (modes 0, read-only, permitted in Docker containers).
    An unsynchronised clock (C(TIME_ERROR) or C(STA_UNSYNC): no NTP daemon disciplines it) is warn; the value is the kernel's
    offset estimate in ms, compared with the O(thresholds) C(clock_offset_ms)."
extends_documentation_fragment:
  - opsbook.stack.checks
options:
  checks:
    description:
      - "Names of the checks to run: V(cpu), V(load), V(memory), V(disk), V(inodes), V(units), V(clock), V(disk_growth)."
      - Omit to run all of them except V(disk_growth), which keeps a history and is meant for a regular (weekly) run.
        An unknown name fails the module with a message listing the known ones.
  thresholds:
    description:
      - Overrides of the default thresholds, keyed by threshold name; each value is a mapping with C(warn), C(crit) and
        optionally C(direction); keys left out keep the default, an explicit C(null) turns that level off.
        A warn level beyond the crit level fails the module with a message naming the threshold.
      - "Threshold names (direction above, default warn/crit): C(cpu_pct) 70/90 (%), C(load_per_core) 2/4,
        C(memory_pct) 80/90 (%), C(disk_pct) 85/95 (%), C(inode_pct) 85/95 (%), C(clock_offset_ms) 100/1000 (ms);
        direction below: C(disk_days_left) 30/7 (days)."
  cpu_sample_seconds:
    description:
      - Seconds between the two CPU samples of the V(cpu) check (more than 0, at most 60).
    type: float
    default: 1.0
  mounts:
    description:
      - Paths whose filesystems the V(disk) and V(inodes) checks look at; empty means every real local filesystem.
      - A path that is not a mount point checks the filesystem holding it (the details say so); the check id keeps the path given.
    type: list
    elements: str
    default: []
  history_file:
    description:
      - Where V(disk_growth) keeps the usage samples (JSON). Its directory is created with mode 0700, the file is written with
        mode 0600; it is not written in check mode.
    type: path
    default: /var/lib/opsbook/disk_history.json
  growth_window_days:
    description:
      - Days of history the growth rate of V(disk_growth) is computed over (more than 0, at most 35).
    type: float
    default: 7
  units:
    description:
      - Systemd units the V(units) check looks at; a name without a suffix means C(.service). Glob patterns are not accepted.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Unit name, for example C(nginx) or C(postgresql@15-main.service).
        type: str
        required: true
      active:
        description: Whether the unit should be active (running). V(false) expects it inactive.
        type: bool
        default: true
      enabled:
        description: Whether the unit should be enabled at boot (C(static) and C(indirect) units count as enabled).
        type: bool
        default: true
notes:
  - Needs read access to C(/proc) and C(/sys/fs/cgroup) (any user); C(systemctl show) works without root.
  - C(changed) is true only when V(disk_growth) adds a sample to O(history_file) (predicted in check mode, where nothing is written).
seealso:
  - module: opsbook.stack.log_check
"""

EXAMPLES = r"""
- name: Check the host
  opsbook.stack.host_check:
    units:
      - name: nginx
      - name: postgresql@15-main
      - name: apt-daily-upgrade.timer
        enabled: false
        active: false
  register: host_health

- name: Only disks, with a tighter warning level, for two paths
  opsbook.stack.host_check:
    checks: [disk, inodes]
    mounts: [/, /var/lib/postgresql]
    thresholds:
      disk_pct: {warn: 75}

- name: Weekly - disk space and days until full at the last week's growth
  opsbook.stack.host_check:
    checks: [disk, inodes, disk_growth]
    growth_window_days: 7
  become: true

- name: Fail the play when something is critical
  ansible.builtin.assert:
    that: host_health.summary.crit == 0
    fail_msg: "{{ host_health.checks | selectattr('status', 'eq', 'crit') | map(attribute='message') | list }}"
"""

RETURN = r"""
checks:
  description: One result per check, in evaluation order (cpu, load, memory, disk, inodes, units, clock).
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: Stable check id, for example V(host.disk:/var).
      type: str
    status:
      description: V(ok), V(warn), V(crit) or V(unknown).
      type: str
    value:
      description: Measured value (%, load per core, ms, days until full; the ActiveState for units), null when unknown.
      type: raw
    warn:
      description: Warning level, or null.
      type: float
    crit:
      description: Critical level, or null.
      type: float
    unit:
      description: Unit of value and levels.
      type: str
    message:
      description: One sentence for humans.
      type: str
    details:
      description: Extras such as the data source, sizes in bytes, mount point, unit states, clock flags.
      type: dict
  sample:
    - check: host.disk:/
      status: ok
      value: 41.3
      warn: 85.0
      crit: 95.0
      unit: "%"
      message: disk usage of / is 41.3% (warn >= 85%, crit >= 95%)
      details: {mountpoint: /, fstype: ext4, source: /dev/vda1, size_bytes: 52521566208}
    - check: host.unit:nginx
      status: ok
      value: active
      warn: null
      crit: null
      unit: ""
      message: unit nginx is active (running), enabled
      details: {id: nginx.service, load_state: loaded, active_state: active, sub_state: running, unit_file_state: enabled}
summary:
  description: Counts per status, the total and the worst status.
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
      description: Worst status (ok < warn < unknown < crit).
      type: str
  sample: {ok: 9, warn: 1, crit: 0, unknown: 0, total: 10, worst: warn}
"""
# pylint: enable=duplicate-code

import errno
import json
import os
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsbook.stack.plugins.module_utils import _host
from ansible_collections.opsbook.stack.plugins.module_utils._atomic import atomic_write, read_json
from ansible_collections.opsbook.stack.plugins.module_utils._checks import (
    THRESHOLDS_SPEC,
    CheckResult,
    Threshold,
    ThresholdError,
    evaluate,
    merge_thresholds,
    module_output,
    result,
    select,
    unknown,
    worst,
)

KNOWN_CHECKS = ("cpu", "load", "memory", "disk", "inodes", "units", "clock", "disk_growth")
# Run when asked for by name only (keeps a history file).
OPT_IN_CHECKS = ("disk_growth",)

DEFAULTS: dict[str, Threshold] = {
    "cpu_pct": Threshold(70.0, 90.0),
    "load_per_core": Threshold(2.0, 4.0),
    "memory_pct": Threshold(80.0, 90.0),
    "disk_pct": Threshold(85.0, 95.0),
    "inode_pct": Threshold(85.0, 95.0),
    "clock_offset_ms": Threshold(100.0, 1000.0),
    "disk_days_left": Threshold(30.0, 7.0, "below"),
}

PROC = "/proc"


class HostReader:
    """Everything host_check reads, with paths that tests can move."""

    def __init__(self, proc: str = PROC, root: str = "/") -> None:
        self.proc = proc
        self.root = root
        self._mounts: list[_host.Mount] | None = None
        self._proc_cgroup: dict[str, str] | None = None

    def text(self, name: str) -> str:
        return _host._read(os.path.join(self.proc, name))

    def mounts(self) -> list[_host.Mount]:
        if self._mounts is None:
            self._mounts = _host.parse_mountinfo(self.text("self/mountinfo"))
        return self._mounts

    def cgroup_dirs(self, controller: str) -> list[tuple[str, str]]:
        if self._proc_cgroup is None:
            try:
                self._proc_cgroup = _host.parse_proc_cgroup(self.text("self/cgroup"))
            except OSError:
                self._proc_cgroup = {}
        return _host.cgroup_dirs(controller, self.mounts(), self._proc_cgroup, self.root)


def check_cpu(reader: HostReader, threshold: Threshold, seconds: float) -> CheckResult:
    check = "host.cpu"
    try:
        cpus = _host.online_cpus()
        stat_text = reader.text("stat")
        all_cpus = {int(line.split()[0][3:]) for line in stat_text.splitlines() if line.startswith("cpu") and line[3:4].isdigit()}
        subset = cpus if cpus and cpus < all_cpus else None
        limit = _host.cgroup_cpu_limit(reader.cgroup_dirs("cpu"), reader.cgroup_dirs("cpuacct"))
        first = _host.parse_proc_stat(stat_text, subset)
        first_usage = _host.read_cpu_usage(limit) if limit else 0.0
        started = time.monotonic()
        time.sleep(seconds)
        second = _host.parse_proc_stat(reader.text("stat"), subset)
        second_usage = _host.read_cpu_usage(limit) if limit else 0.0
        elapsed = time.monotonic() - started
    except (OSError, ValueError) as exc:
        return unknown(check, f"cannot read CPU times: {exc}")
    machine_pct = _host.cpu_busy_pct(first, second)
    details: dict[str, Any] = {"sample_seconds": seconds, "machine_busy_pct": machine_pct}
    if limit and elapsed > 0:
        value: float | None = round(min(100.0, 100.0 * (second_usage - first_usage) / (elapsed * limit.cpus)), 1)
        details.update(source=limit.source, cpu_limit=round(limit.cpus, 3))
        label = "CPU busy (of the cgroup quota)"
    else:
        value = machine_pct
        details.update(
            source="/proc/stat" + (f" (CPUs {','.join(map(str, sorted(subset)))})" if subset else ""),
            cpus=len(subset or all_cpus),
        )
        label = "CPU busy"
    return evaluate(check, value, threshold, unit="%", label=label, details=details)


def check_load(reader: HostReader, threshold: Threshold) -> CheckResult:
    check = "host.load"
    try:
        load1, load5, load15 = _host.parse_loadavg(reader.text("loadavg"))
    except (OSError, ValueError) as exc:
        return unknown(check, f"cannot read the load average: {exc}")
    cores = len(_host.online_cpus()) or 1
    details = {
        "source": "/proc/loadavg (machine-wide)",
        "cores": cores,
        "load1": load1,
        "load5": load5,
        "load15": load15,
        "per_core_1": round(load1 / cores, 2),
        "per_core_15": round(load15 / cores, 2),
    }
    return evaluate(check, round(load5 / cores, 2), threshold, label="5-minute load per core", details=details)


def check_memory(reader: HostReader, threshold: Threshold) -> CheckResult:
    check = "host.memory"
    try:
        meminfo = _host.parse_meminfo(reader.text("meminfo"))
        machine = _host.meminfo_memory(meminfo)
    except (OSError, KeyError, ValueError) as exc:
        return unknown(check, f"cannot read /proc/meminfo: {exc}")
    view = _host.cgroup_memory(reader.cgroup_dirs("memory"), machine.total_bytes) or machine
    details = {"source": view.source, "used_bytes": view.used_bytes, "total_bytes": view.total_bytes, **view.details}
    if view is not machine:
        details["machine_used_pct"] = machine.pct
    return evaluate(check, view.pct, threshold, unit="%", label="memory usage", details=details)


def growth_result(
    check: str, instance: str, usage: _host.FsUsage, history: dict[str, list[list[float]]] | None, threshold: Threshold,
    window_days: float, details: dict[str, Any], now: float | None = None,
) -> CheckResult:
    """host.disk_growth for one filesystem; adds the current sample to ``history``."""
    now = time.time() if now is None else now
    samples = _host.add_sample((history or {}).get(instance, []), now, usage.used_bytes)
    if history is not None:
        history[instance] = samples
    rate, span_days = _host.growth_per_day(samples, now, window_days)
    info = dict(details, used_bytes=usage.used_bytes, avail_bytes=usage.avail_bytes, samples=len(samples),
                window_days=window_days, span_days=span_days,
                growth_bytes_per_day=None if rate is None else round(rate))
    if rate is None:
        reason = "first usage sample" if len(samples) < 2 else f"history spans {span_days:g} days, less than one"
        return result(check, "ok", f"growth of {instance} not known yet ({reason}); the next runs build the history",
                      threshold=threshold, unit="days", details=info)
    days = _host.days_until_full(usage.avail_bytes, rate)
    if days is None:
        return result(check, "ok", f"{instance} is not growing ({rate / 1e6:+.1f} MB/day over {span_days:g} days)",
                      threshold=threshold, unit="days", details=info)
    item = evaluate(check, days, threshold, unit="days", label=f"days until {instance} is full", details=info)
    item.message += f"; growing {rate / 1e6:.1f} MB/day over {span_days:g} days"
    return item


def load_history(path: str) -> tuple[dict[str, list[list[float]]], str | None]:
    """The usage history and a warning when the file was unusable (it then starts over)."""
    data, error = read_json(path, {"filesystems": {}})
    if error:
        return {}, f"history file {path} is unreadable ({error}); the growth history starts over"
    filesystems = data.get("filesystems") if isinstance(data, dict) else None
    if not isinstance(filesystems, dict):
        return {}, f"history file {path} has an unexpected layout; the growth history starts over"
    clean = {
        name: [[float(s[0]), int(s[1])] for s in samples if isinstance(s, list) and len(s) == 2]
        for name, samples in filesystems.items() if isinstance(samples, list)
    }
    return clean, None


def write_history(path: str, history: dict[str, list[list[float]]]) -> None:
    """Save the samples (directory 0700 when created, file 0600)."""
    atomic_write(path, json.dumps({"version": 1, "filesystems": history}, sort_keys=True), 0o600, dir_mode=0o700)


def check_filesystems(
    reader: HostReader, wanted: list[str], mounts_option: list[str], thresholds: dict[str, Threshold],
    history: dict[str, list[list[float]]] | None = None, window_days: float = 7.0,
) -> list[CheckResult]:
    results: list[CheckResult] = []
    try:
        mounts = reader.mounts()
    except OSError as exc:
        for name in wanted:
            results.append(unknown(f"host.{name}:/", f"cannot read the mount table: {exc}"))
        return results
    targets: list[tuple[str, str, dict[str, Any]]] = []  # (instance, path to statvfs, details)
    if mounts_option:
        for path in mounts_option:
            if not os.path.exists(path):
                targets.append((path, "", {"error": f"path {path} does not exist"}))
                continue
            mount = _host.mount_of(path, mounts)
            info: dict[str, Any] = {"path": path}
            if mount is not None:
                info.update(mountpoint=mount.mountpoint, fstype=mount.fstype, source=mount.source)
                if os.path.realpath(path) != mount.mountpoint:
                    info["note"] = f"{path} is not a mount point; checked the filesystem mounted at {mount.mountpoint}"
            targets.append((path, path, info))
    else:
        for mount, others in _host.discover_mounts(mounts):
            info = {"mountpoint": mount.mountpoint, "fstype": mount.fstype, "source": mount.source}
            if others:
                info["also_mounted_at"] = others
            targets.append((mount.mountpoint, mount.mountpoint, info))
    for name in wanted:
        for instance, path, info in targets:
            check = f"host.{name}:{instance}"
            if not path:
                results.append(unknown(check, info["error"]))
                continue
            try:
                usage = _host.fs_usage(path)
            except OSError as exc:
                results.append(unknown(check, f"cannot statvfs {path}: {exc.strerror or exc}", details=info))
                continue
            if name == "disk_growth":
                results.append(growth_result(check, instance, usage, history, thresholds["disk_days_left"], window_days, details=info))
            elif name == "disk":
                details = dict(info, size_bytes=usage.size_bytes, used_bytes=usage.used_bytes, avail_bytes=usage.avail_bytes)
                results.append(evaluate(check, usage.used_pct, thresholds["disk_pct"], unit="%", label=f"disk usage of {instance}", details=details))
            else:
                details = dict(info, inodes=usage.inodes, inodes_used=usage.inodes_used)
                if usage.inodes_pct is None:
                    results.append(result(check, "ok", f"the filesystem of {instance} ({info.get('fstype', '?')}) has no fixed inode count",
                                          threshold=thresholds["inode_pct"], unit="%", details=details))
                else:
                    results.append(evaluate(check, usage.inodes_pct, thresholds["inode_pct"], unit="%",
                                            label=f"inode usage of {instance}", details=details))
    return results


def check_units(module: AnsibleModule, units: list[dict[str, Any]]) -> list[CheckResult]:
    if not units:
        return []
    names = [unit["name"] for unit in units]
    checks = [f"host.unit:{name}" for name in names]
    systemctl = module.get_bin_path("systemctl")
    if not systemctl:
        return [unknown(check, "systemctl not found on this host (not a systemd system?)") for check in checks]
    rc, out, err = module.run_command([systemctl, *_host.systemctl_show_args(names)], environ_update={"LC_ALL": "C"})
    blocks = _host.parse_systemctl_show(out)
    if rc != 0 or len(blocks) != len(names):
        reason = (err or out).strip().splitlines()[0] if (err or out).strip() else f"exit code {rc}"
        return [unknown(check, f"systemctl show failed: {reason}") for check in checks]
    results = []
    for unit, check, props in zip(units, checks, blocks):
        status, message = _host.unit_verdict(unit["name"], props, unit["active"], unit["enabled"])
        details = {
            "id": props.get("Id", ""),
            "load_state": props.get("LoadState", ""),
            "active_state": props.get("ActiveState", ""),
            "sub_state": props.get("SubState", ""),
            "unit_file_state": props.get("UnitFileState", ""),
            "expected_active": unit["active"],
            "expected_enabled": unit["enabled"],
        }
        results.append(result(check, status, message, value=props.get("ActiveState"), details=details))
    return results


def clock_result(state: _host.ClockState, threshold: Threshold) -> CheckResult:
    check = "host.clock"
    details = state.details()
    evaluated = evaluate(check, state.offset_ms, threshold, unit="ms", label="kernel clock offset estimate", details=details)
    if state.synchronised:
        evaluated.message = f"kernel clock is synchronised; {evaluated.message}"
        return evaluated
    evaluated.status = worst([evaluated.status, "warn"])
    evaluated.message = (
        f"kernel clock is not synchronised ({details['clock_state']}{', STA_UNSYNC' if details['unsync_flag'] else ''}: "
        f"no NTP daemon disciplines it); offset estimate {state.offset_ms:g} ms, maximum error {details['maxerror_ms']:g} ms"
    )
    return evaluated


def check_clock(threshold: Threshold) -> CheckResult:
    try:
        state = _host.read_adjtimex()
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES, errno.ENOSYS):
            return unknown("host.clock", f"adjtimex(2) not permitted here ({exc.strerror}); check the clock on the host that runs this one")
        return unknown("host.clock", f"adjtimex(2) failed: {exc}")
    except (AttributeError, TypeError, ValueError) as exc:
        return unknown("host.clock", f"adjtimex(2) is not available: {exc}")
    return clock_result(state, threshold)


def run_checks(module: AnsibleModule, reader: HostReader | None = None) -> tuple[list[CheckResult], bool]:
    """The results, and whether the growth history changed (a sample was added)."""
    params = module.params
    try:
        wanted = select(params["checks"], KNOWN_CHECKS)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    try:
        thresholds = merge_thresholds(DEFAULTS, params["thresholds"])
    except ThresholdError as exc:
        module.fail_json(msg=str(exc))
    seconds = params["cpu_sample_seconds"]
    if not 0 < seconds <= 60:
        module.fail_json(msg=f"cpu_sample_seconds must be more than 0 and at most 60, got {seconds}")
    for unit in params["units"]:
        problem = _host.unit_name_problem(unit["name"])
        if problem:
            module.fail_json(msg=f"units: {problem}")
    window_days = params.get("growth_window_days", 7.0)
    if not 0 < window_days <= _host.HISTORY_KEEP_DAYS:
        module.fail_json(msg=f"growth_window_days must be more than 0 and at most {_host.HISTORY_KEEP_DAYS}, got {window_days}")
    if params["checks"] is None:
        wanted = [name for name in wanted if name not in OPT_IN_CHECKS]
    reader = reader or HostReader()
    results: list[CheckResult] = []
    if "cpu" in wanted:
        results.append(check_cpu(reader, thresholds["cpu_pct"], seconds))
    if "load" in wanted:
        results.append(check_load(reader, thresholds["load_per_core"]))
    if "memory" in wanted:
        results.append(check_memory(reader, thresholds["memory_pct"]))
    fs_checks = [name for name in ("disk", "inodes", "disk_growth") if name in wanted]
    history: dict[str, list[list[float]]] | None = None
    if "disk_growth" in wanted:
        history, warning = load_history(params["history_file"])
        if warning:
            module.warn(warning)
    if fs_checks:
        results.extend(check_filesystems(reader, fs_checks, params["mounts"], thresholds, history, window_days))
    if history is not None and not module.check_mode:
        try:
            write_history(params["history_file"], history)
        except OSError as exc:
            module.fail_json(msg=f"cannot write the history file {params['history_file']}: {exc.strerror or exc}")
    if "units" in wanted:
        results.extend(check_units(module, params["units"]))
    if "clock" in wanted:
        results.append(check_clock(thresholds["clock_offset_ms"]))
    return results, history is not None


ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "checks": {"type": "list", "elements": "str"},
    "thresholds": THRESHOLDS_SPEC,
    "cpu_sample_seconds": {"type": "float", "default": 1.0},
    "mounts": {"type": "list", "elements": "str", "default": []},
    "history_file": {"type": "path", "default": "/var/lib/opsbook/disk_history.json"},
    "growth_window_days": {"type": "float", "default": 7.0},
    "units": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "name": {"type": "str", "required": True},
            "active": {"type": "bool", "default": True},
            "enabled": {"type": "bool", "default": True},
        },
    },
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    results, changed = run_checks(module)
    module.exit_json(changed=changed, **module_output(results))


if __name__ == "__main__":
    main()

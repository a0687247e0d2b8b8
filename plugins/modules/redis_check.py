#!/usr/bin/python
# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only health checks of a Redis server (opsbook.stack result contract)."""

from __future__ import annotations

# Documentation repeats the result contract on purpose (RETURN has no doc fragments): no duplicate-code check.
# pylint: disable=duplicate-code
DOCUMENTATION = r"""
module: redis_check
short_description: Read-only health checks of a Redis server
version_added: 0.2.0
author: opsbook.stack contributors (!UNKNOWN)
description:
  - Connects to Redis with redis-py and reports liveness, memory, evictions, rejected connections and persistence
    (RDB, AOF) in the opsbook.stack result contract.
  - "Check ids: V(redis.ping), V(redis.memory), V(redis.evictions), V(redis.rejected_connections), V(redis.rdb),
    V(redis.aof)."
  - Connection refused, a timeout or a wrong password (C(WRONGPASS)) make V(redis.ping) C(crit) with the reason and
    every other requested check C(unknown).
  - "Works with an ACL user limited to C(+ping +info +config|get) (for example
    C(user monitor on >PASSWORD -@all +ping +info +config|get)). Everything but the RDB save schedule comes from
    INFO; C(CONFIG GET save) tells whether RDB snapshots are enabled. A user without C(+info) gets C(unknown) for the
    INFO-based checks, naming the missing right."
  - "Where C(CONFIG GET save) is not possible (no C(+config|get), or CONFIG renamed away), V(redis.rdb) still reports
    a failed last save and the save age, but turns C(unknown) instead of C(warn)/C(crit) for an old save, because a
    server with snapshots disabled (C(save \"\")) also shows an old save with pending changes."
extends_documentation_fragment:
  - opsbook.stack.checks
options:
  login_host:
    description:
      - Host name or address of the Redis server.
    type: str
    default: 127.0.0.1
  login_port:
    description:
      - TCP port of the Redis server.
    type: int
    default: 6379
  login_user:
    description:
      - ACL user to authenticate as. Empty authenticates with the password only (the C(default) user).
    type: str
    default: ''
  login_password:
    description:
      - Password of O(login_user) (or C(requirepass)). Never echoed in results or messages.
    type: str
  tls:
    description:
      - Connect with TLS.
    type: bool
    default: false
  ca_cert:
    description:
      - CA certificate file that signs the server's certificate (with O(tls)).
    type: path
  validate_certs:
    description:
      - Verify the server's certificate and host name (with O(tls)).
    type: bool
    default: true
  connect_timeout:
    description:
      - Seconds to wait for the connection and for each reply.
    type: float
    default: 5
  rdb_expected:
    description:
      - RDB snapshots must be enabled; disabled (C(save "")) is C(crit) instead of C(ok).
    type: bool
    default: false
  aof_expected:
    description:
      - The append-only file must be enabled; disabled (C(appendonly no)) is C(crit) instead of C(ok).
    type: bool
    default: false
  checks:
    description:
      - "Names of the checks to run: V(ping), V(memory), V(evictions), V(rejected_connections), V(rdb), V(aof)."
      - Omit to run all of them. An unknown name fails the module with a message listing the known ones.
    type: list
    elements: str
  thresholds:
    description:
      - Overrides of the default thresholds, keyed by threshold name.
        Each value is a mapping with C(warn), C(crit) and optionally C(direction) (C(above) or C(below));
        keys left out keep the default, an explicit C(null) turns that level off.
      - A warn level beyond the crit level fails the module with a message naming the threshold.
      - "V(memory_pct): C(used_memory) as % of C(maxmemory), warn 80, crit 90, above. Without C(maxmemory)
        (0) it is % of C(total_system_memory), and the message says so."
      - "V(evicted_keys): keys evicted since the server started, no levels (informational), above."
      - "V(rejected_connections): connections refused because C(maxclients) was reached since the server started,
        warn 1, crit 100, above."
      - "V(rdb_age_hours): hours since the last successful RDB save, judged only when there are changes since it,
        warn 24, crit 72, above."
    type: dict
    default: {}
notes:
  - Counters (C(evicted_keys), C(rejected_connections)) are totals since the server started (C(uptime_in_seconds)
    is in details).
  - A failed last RDB save (C(rdb_last_bgsave_status:err)) or AOF write/rewrite is C(crit).
requirements:
  - redis-py (Debian package C(python3-redis)) on the host that runs the module.
"""

EXAMPLES = r"""
- name: Check the local Redis as the monitoring ACL user
  opsbook.stack.redis_check:
    login_user: monitor
    login_password: "{{ redis_monitor_password }}"
  register: redis

- name: Only liveness and memory, with a lower memory warning
  opsbook.stack.redis_check:
    login_host: cache1.example.org
    login_user: monitor
    login_password: "{{ redis_monitor_password }}"
    tls: true
    ca_cert: /etc/ssl/certs/internal-ca.pem
    checks: [ping, memory]
    thresholds:
      memory_pct: {warn: 70}

- name: Persistence must be on
  opsbook.stack.redis_check:
    login_user: monitor
    login_password: "{{ redis_monitor_password }}"
    checks: [rdb, aof]
    rdb_expected: true
    aof_expected: true
"""

RETURN = r"""
checks:
  description: One result per check, in evaluation order.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: Stable check id, for example V(redis.memory).
      type: str
    status:
      description: V(ok), V(warn), V(crit) or V(unknown).
      type: str
    value:
      description: The measured value (number or state string), or null when nothing could be measured.
      type: raw
    warn:
      description: Warning level in effect, or null.
      type: float
    crit:
      description: Critical level in effect, or null.
      type: float
    unit:
      description: Unit of value and levels (V(%), V(h), V(ms), V(keys), V(connections)).
      type: str
    message:
      description: One human sentence.
      type: str
    details:
      description: Structured extras (INFO fields the check used, the memory basis, the save schedule...).
      type: dict
  sample:
    - check: redis.memory
      status: ok
      value: 1.2
      warn: 80.0
      crit: 90.0
      unit: "%"
      message: memory used of maxmemory (1.2M of 100.0M) is 1.2% (warn >= 80%, crit >= 90%)
      details: {basis: maxmemory, used_memory: 1258291, maxmemory: 104857600, maxmemory_policy: allkeys-lru}
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
  sample: {ok: 6, warn: 0, crit: 0, unknown: 0, total: 6, worst: ok}
"""
# pylint: enable=duplicate-code

import time
from collections.abc import Mapping
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opsbook.stack.plugins.module_utils._checks import (
    ABOVE,
    CRIT,
    OK,
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
)
from ansible_collections.opsbook.stack.plugins.module_utils._redis import (
    CONNECT,
    NOPERM,
    classify,
    client,
    error_text,
    fail_without_redis,
    parse_info,
)
from ansible_collections.opsbook.stack.plugins.module_utils._redis import client_kwargs as redis_client_kwargs
from ansible_collections.opsbook.stack.plugins.module_utils._sizes import human_bytes

CHECKS: tuple[str, ...] = ("ping", "memory", "evictions", "rejected_connections", "rdb", "aof")
INFO_CHECKS = frozenset(CHECKS) - {"ping"}

DEFAULTS: dict[str, Threshold] = {
    "memory_pct": Threshold(80, 90, ABOVE),
    "evicted_keys": Threshold(None, None, ABOVE),
    "rejected_connections": Threshold(1, 100, ABOVE),
    "rdb_age_hours": Threshold(24, 72, ABOVE),
}

NOT_CONNECTED = "not measured - cannot connect"


def _int(info: Mapping[str, Any], key: str) -> int | None:
    value = info.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def memory_result(info: Mapping[str, Any], threshold: Threshold) -> CheckResult:
    """redis.memory: used_memory of maxmemory, or of total_system_memory when maxmemory is 0."""
    used = _int(info, "used_memory")
    maxmemory = _int(info, "maxmemory") or 0
    total = _int(info, "total_system_memory") or 0
    details: dict[str, Any] = {
        "used_memory": used,
        "maxmemory": maxmemory,
        "maxmemory_policy": info.get("maxmemory_policy"),
        "total_system_memory": total,
    }
    if used is None:
        return unknown("redis.memory", "INFO memory reports no used_memory", details=details)
    if maxmemory > 0:
        details["basis"] = "maxmemory"
        label = f"memory used of maxmemory ({human_bytes(used)} of {human_bytes(maxmemory)})"
        limit = maxmemory
    elif total > 0:
        details["basis"] = "total_system_memory"
        label = f"memory used of total system memory, no maxmemory set ({human_bytes(used)} of {human_bytes(total)})"
        limit = total
    else:
        return unknown("redis.memory", "maxmemory is 0 and INFO reports no total_system_memory", details=details)
    return evaluate("redis.memory", round(100.0 * used / limit, 2), threshold, unit="%", label=label, details=details)


def counter_result(info: Mapping[str, Any], key: str, check_id: str, threshold: Threshold, unit: str, label: str) -> CheckResult:
    """A counter since server start (evicted_keys, rejected_connections)."""
    value = _int(info, key)
    details = {"uptime_in_seconds": info.get("uptime_in_seconds")}
    if key == "evicted_keys":
        details["maxmemory_policy"] = info.get("maxmemory_policy")
    else:
        details["maxclients"] = info.get("maxclients")
        details["connected_clients"] = info.get("connected_clients")
    if value is None:
        return unknown(check_id, f"INFO reports no {key}", details=details)
    return evaluate(check_id, value, threshold, unit=unit, label=label, details=details)


def rdb_result(
    info: Mapping[str, Any],
    save_schedule: str | None,
    schedule_error: str | None,
    expected: bool,
    threshold: Threshold,
    now: float,
) -> CheckResult:
    """redis.rdb from INFO persistence and the ``save`` setting (None when CONFIG GET was not allowed)."""
    check_id = "redis.rdb"
    status = info.get("rdb_last_bgsave_status")
    changes = _int(info, "rdb_changes_since_last_save")
    last_save = _int(info, "rdb_last_save_time")
    server_now = info.get("server_time_usec")
    if isinstance(server_now, int) and server_now > 0:
        now = server_now / 1_000_000
    details: dict[str, Any] = {
        "save": save_schedule,
        "rdb_last_bgsave_status": status,
        "rdb_changes_since_last_save": changes,
        "rdb_last_save_time": last_save,
        "rdb_bgsave_in_progress": info.get("rdb_bgsave_in_progress"),
    }
    if schedule_error:
        details["save_schedule_error"] = schedule_error
    if save_schedule is not None and save_schedule.strip() == "":
        if expected:
            return result(check_id, CRIT, 'RDB snapshots are disabled (save "") but rdb_expected is true', value="disabled", details=details)
        return result(check_id, OK, 'RDB snapshots are disabled (save "")', value="disabled", details=details)
    if status is None or changes is None or last_save is None:
        return unknown(check_id, "INFO persistence lacks rdb_last_bgsave_status / rdb_changes_since_last_save / rdb_last_save_time", details=details)
    if status != "ok":
        return result(
            check_id,
            CRIT,
            f"the last RDB save failed (rdb_last_bgsave_status {status}); see the Redis log (disk space, permissions)",
            value=status,
            details=details,
        )
    age = round(max(0.0, now - last_save) / 3600, 2)
    details["age_hours"] = age
    if changes == 0:
        return result(
            check_id,
            OK,
            f"no changes since the last RDB save {age:g} h ago",
            value=age,
            unit="h",
            threshold=threshold,
            details=details,
        )
    judged = evaluate(check_id, age, threshold, unit="h", label=f"age of the last RDB save ({changes} changes since)", details=details)
    if save_schedule is None and judged.status != OK:
        if "unknown command" in str(schedule_error).lower():
            hint = "CONFIG is renamed or disabled on this server (rename-command)"
        else:
            hint = "add +config|get to the ACL user"
        return unknown(
            check_id,
            f"{judged.message}, but whether RDB snapshots are enabled is unknown: "
            f"CONFIG GET save failed ({schedule_error}); {hint}",
            details=details,
        )
    return judged


def aof_result(info: Mapping[str, Any], expected: bool) -> CheckResult:
    """redis.aof from INFO persistence."""
    check_id = "redis.aof"
    enabled = _int(info, "aof_enabled")
    write = info.get("aof_last_write_status")
    rewrite = info.get("aof_last_bgrewrite_status")
    details = {"aof_enabled": enabled, "aof_last_write_status": write, "aof_last_bgrewrite_status": rewrite,
               "aof_rewrite_in_progress": info.get("aof_rewrite_in_progress")}
    if enabled is None:
        return unknown(check_id, "INFO persistence reports no aof_enabled", details=details)
    if not enabled:
        if expected:
            return result(check_id, CRIT, "AOF is disabled (appendonly no) but aof_expected is true", value="disabled", details=details)
        return result(check_id, OK, "AOF is disabled (appendonly no)", value="disabled", details=details)
    if write != "ok":
        return result(check_id, CRIT, f"the last AOF write failed (aof_last_write_status {write}); see the Redis log", value=write, details=details)
    if rewrite != "ok":
        return result(check_id, CRIT, f"the last AOF rewrite failed (aof_last_bgrewrite_status {rewrite}); see the Redis log", value=rewrite, details=details)
    return result(check_id, OK, "AOF is enabled; last write and last rewrite ok", value="ok", details=details)


class Probe:
    """The three read-only commands the checks need, over a redis-py client."""

    def __init__(self, client: Any) -> None:
        self.client = client
        # Keep INFO as text: parse_info() is ours and the same for every redis-py version.
        client.set_response_callback("INFO", lambda response, **_options: response)

    def ping(self) -> Any:
        return self.client.ping()

    def info(self) -> str:
        reply = self.client.execute_command("INFO")
        return reply.decode() if isinstance(reply, bytes) else str(reply)

    def save_schedule(self) -> str:
        reply = self.client.config_get("save")
        value = reply.get("save", "") if isinstance(reply, Mapping) else ""
        return value.decode() if isinstance(value, bytes) else str(value)


def collect(
    probe: Any,
    selected: list[str],
    thresholds: Mapping[str, Threshold],
    params: Mapping[str, Any],
    now: float | None = None,
) -> list[CheckResult]:
    """Run the selected checks through ``probe`` (ping / info / save_schedule)."""
    secrets = [params.get("login_password")]
    target = f"{params.get('login_host')}:{params.get('login_port')}"
    user = params.get("login_user") or "default"
    results: list[CheckResult] = []

    started = time.monotonic()
    try:
        probe.ping()
    except Exception as exc:  # redis-py raises several unrelated classes; classify() sorts them
        reason = error_text(exc, secrets)
        kind = classify(exc)
        if kind == CONNECT:
            if "ping" in selected:
                results.append(result("redis.ping", CRIT, f"cannot talk to Redis at {target} as {user}: {reason}", details={"target": target}))
            results.extend(unknown(f"redis.{name}", f"{NOT_CONNECTED}: {reason}") for name in selected if name != "ping")
            return results
        if "ping" in selected:
            hint = " (add +ping to its ACL rules)" if kind == NOPERM else ""
            results.append(unknown("redis.ping", f"PING as {user} failed: {reason}{hint}", details={"target": target}))
    else:
        ms = (time.monotonic() - started) * 1000
        if "ping" in selected:
            results.append(
                result("redis.ping", OK, f"PONG from {target} as {user} in {ms:.1f} ms", value=round(ms, 1), unit="ms", details={"target": target})
            )

    wanted = [name for name in selected if name in INFO_CHECKS]
    if not wanted:
        return results
    try:
        info = parse_info(probe.info())
    except Exception as exc:
        reason = error_text(exc, secrets)
        hint = " (add +info to its ACL rules)" if classify(exc) == NOPERM else ""
        results.extend(unknown(f"redis.{name}", f"INFO as {user} failed: {reason}{hint}") for name in wanted)
        return results
    if "ping" in selected and results and results[0].check == "redis.ping":
        results[0].details["redis_version"] = info.get("redis_version")

    for name in wanted:
        if name == "memory":
            results.append(memory_result(info, thresholds["memory_pct"]))
        elif name == "evictions":
            results.append(
                counter_result(info, "evicted_keys", "redis.evictions", thresholds["evicted_keys"], "keys", "keys evicted since the server started")
            )
        elif name == "rejected_connections":
            results.append(
                counter_result(
                    info,
                    "rejected_connections",
                    "redis.rejected_connections",
                    thresholds["rejected_connections"],
                    "connections",
                    "connections rejected at maxclients since the server started",
                )
            )
        elif name == "rdb":
            schedule: str | None = None
            schedule_error: str | None = None
            try:
                schedule = probe.save_schedule()
            except Exception as exc:
                schedule_error = error_text(exc, secrets)
            clock = now if now is not None else time.time()
            expected = bool(params.get("rdb_expected"))
            results.append(rdb_result(info, schedule, schedule_error, expected, thresholds["rdb_age_hours"], clock))
        elif name == "aof":
            results.append(aof_result(info, bool(params.get("aof_expected"))))
    return results


def client_kwargs(params: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis`` from this module's options."""
    return redis_client_kwargs(
        params["login_host"],
        params["login_port"],
        timeout=float(params["connect_timeout"]),
        user=params.get("login_user"),
        password=params.get("login_password"),
        tls=bool(params.get("tls")),
        validate_certs=bool(params["validate_certs"]),
        ca_cert=params.get("ca_cert"),
    )


ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "login_host": {"type": "str", "default": "127.0.0.1"},
    "login_port": {"type": "int", "default": 6379},
    "login_user": {"type": "str", "default": ""},
    "login_password": {"type": "str", "no_log": True},
    "tls": {"type": "bool", "default": False},
    "ca_cert": {"type": "path"},
    "validate_certs": {"type": "bool", "default": True},
    "connect_timeout": {"type": "float", "default": 5},
    "rdb_expected": {"type": "bool", "default": False},
    "aof_expected": {"type": "bool", "default": False},
    "checks": {"type": "list", "elements": "str"},
    "thresholds": THRESHOLDS_SPEC,
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        selected = select(params["checks"], CHECKS)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    try:
        thresholds = merge_thresholds(DEFAULTS, params["thresholds"])
    except ThresholdError as exc:
        module.fail_json(msg=str(exc))
    if params["connect_timeout"] <= 0:
        module.fail_json(msg=f"connect_timeout must be a positive number of seconds, got {params['connect_timeout']}")
    fail_without_redis(module, "opsbook.stack.redis_check")
    session = client(client_kwargs(params))
    try:
        results = collect(Probe(session), selected, thresholds, params)
    finally:
        session.close()
    module.exit_json(changed=False, **module_output(results))


if __name__ == "__main__":
    main()

# -*- coding: utf-8 -*-
# Copyright (c) opsbook.stack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_tune: size PostgreSQL memory settings from the host's RAM."""

from __future__ import annotations

DOCUMENTATION = r"""
name: pg_tune
short_description: Size PostgreSQL memory settings from total RAM and max_connections
version_added: 0.1.0
author:
  - opsbook.stack developers
description:
  - Pure function that derives C(shared_buffers), C(effective_cache_size), C(maintenance_work_mem)
    and C(work_mem) from the total RAM of the host (in MB) and C(max_connections).
  - "Rules (all values in MB, rounded down): C(shared_buffers) = 25% of RAM, at least 128MB and at most 8192MB;
    C(effective_cache_size) = 75% of RAM, at least 256MB and never below C(shared_buffers);
    C(maintenance_work_mem) = RAM / 16, at least 64MB and at most 2048MB;
    C(work_mem) = (RAM - shared_buffers) / (max_connections * 3), at least 4MB and at most 256MB."
  - The minimum values are PostgreSQL's own defaults (or close to them), so a tiny host never gets less
    than the stock configuration.
  - Every value is returned as a string with the C(MB) unit, ready to be written to a PostgreSQL configuration file.
positional: max_connections
options:
  _input:
    description: Total RAM of the host in MB, for example C(ansible_memtotal_mb).
    type: int
    required: true
  max_connections:
    description: The C(max_connections) the server is configured with; used to split RAM into C(work_mem).
    type: int
    default: 100
"""

EXAMPLES = r"""
- name: Show the memory settings for this host
  ansible.builtin.debug:
    msg: "{{ ansible_memtotal_mb | opsbook.stack.pg_tune(100) }}"

- name: 4 GB of RAM, 100 connections
  ansible.builtin.debug:
    msg: "{{ 4096 | opsbook.stack.pg_tune(max_connections=100) }}"
  # => {"shared_buffers": "1024MB", "effective_cache_size": "3072MB",
  #     "maintenance_work_mem": "256MB", "work_mem": "10MB"}
"""

RETURN = r"""
_value:
  description: The memory settings, keyed by PostgreSQL parameter name, each value a string with the C(MB) unit.
  type: dict
  contains:
    shared_buffers:
      description: 25% of RAM, between 128MB and 8192MB.
      type: str
      sample: 1024MB
    effective_cache_size:
      description: 75% of RAM, at least 256MB and at least C(shared_buffers).
      type: str
      sample: 3072MB
    maintenance_work_mem:
      description: RAM / 16, between 64MB and 2048MB.
      type: str
      sample: 256MB
    work_mem:
      description: (RAM - shared_buffers) / (max_connections * 3), between 4MB and 256MB.
      type: str
      sample: 10MB
"""

from typing import Any, Callable, Dict

from ansible.errors import AnsibleFilterError

SHARED_BUFFERS_MIN_MB = 128
SHARED_BUFFERS_MAX_MB = 8192
EFFECTIVE_CACHE_MIN_MB = 256
MAINTENANCE_WORK_MEM_MIN_MB = 64
MAINTENANCE_WORK_MEM_MAX_MB = 2048
WORK_MEM_MIN_MB = 4
WORK_MEM_MAX_MB = 256


def _positive_int(value: Any, name: str) -> int:
    """Return value as a positive int or raise AnsibleFilterError naming the argument."""
    if isinstance(value, bool):
        raise AnsibleFilterError("pg_tune: %s must be a positive integer, got a boolean" % name)
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            raise AnsibleFilterError("pg_tune: %s must be a positive integer, got %r" % (name, value))
        value = int(value)
    elif isinstance(value, float):
        if not value.is_integer():
            raise AnsibleFilterError("pg_tune: %s must be a whole number, got %r" % (name, value))
        value = int(value)
    elif not isinstance(value, int):
        raise AnsibleFilterError("pg_tune: %s must be a positive integer, got %s" % (name, type(value).__name__))
    if value <= 0:
        raise AnsibleFilterError("pg_tune: %s must be a positive integer, got %d" % (name, value))
    return value


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def pg_tune(total_mb: Any, max_connections: Any = 100) -> Dict[str, str]:
    """Return PostgreSQL memory settings (strings with MB unit) for total_mb of RAM."""
    ram = _positive_int(total_mb, "total RAM (input)")
    conns = _positive_int(max_connections, "max_connections")

    shared_buffers = _clamp(ram // 4, SHARED_BUFFERS_MIN_MB, SHARED_BUFFERS_MAX_MB)
    effective_cache_size = max(ram * 3 // 4, EFFECTIVE_CACHE_MIN_MB, shared_buffers)
    maintenance_work_mem = _clamp(ram // 16, MAINTENANCE_WORK_MEM_MIN_MB, MAINTENANCE_WORK_MEM_MAX_MB)
    work_mem = _clamp(max(ram - shared_buffers, 0) // (conns * 3), WORK_MEM_MIN_MB, WORK_MEM_MAX_MB)

    return {
        "shared_buffers": "%dMB" % shared_buffers,
        "effective_cache_size": "%dMB" % effective_cache_size,
        "maintenance_work_mem": "%dMB" % maintenance_work_mem,
        "work_mem": "%dMB" % work_mem,
    }


class FilterModule:
    """Ansible filters of opsbook.stack: pg_tune."""

    def filters(self) -> Dict[str, Callable[..., Dict[str, str]]]:
        return {"pg_tune": pg_tune}

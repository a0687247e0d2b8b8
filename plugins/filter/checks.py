# -*- coding: utf-8 -*-
# Copyright (c) opsbook.stack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""check_results / check_gate: gather check results registered by the check modules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.opsbook.stack.plugins.module_utils._checks import RANK, STATUSES, module_family, summarize


def _module_family(result: Mapping[str, Any]) -> str:
    invocation = result.get("invocation") or {}
    name = str(invocation.get("module_name") or result.get("_ansible_module_name") or "")
    return module_family(name) or "check"


def _from_one(result: Any) -> list[dict[str, Any]]:
    if not isinstance(result, Mapping) or result.get("skipped"):
        return []
    # A looped task registers its items under `results`; a module result that
    # has `checks` is never a loop, even when it returns a `results` list of its
    # own (restore_test returns the tool's results there).
    if isinstance(result.get("results"), list) and not isinstance(result.get("checks"), list):
        found: list[dict[str, Any]] = []
        for item in result["results"]:
            found.extend(_from_one(item))
        return found
    checks = result.get("checks")
    if isinstance(checks, list):
        return [dict(item) for item in checks if isinstance(item, Mapping) and "check" in item and "status" in item]
    if result.get("failed"):
        family = _module_family(result)
        return [
            {
                "check": f"{family}.module",
                "status": "unknown",
                "value": None,
                "warn": None,
                "crit": None,
                "unit": "",
                "message": f"the check module failed: {result.get('msg', 'no message')}",
                "details": {},
            }
        ]
    return []


def check_results(registered: Any) -> list[dict[str, Any]]:
    """Flatten registered check-module results into one list of contract dicts."""
    if isinstance(registered, Mapping):
        registered = [registered]
    if not isinstance(registered, Iterable) or isinstance(registered, (str, bytes)):
        raise AnsibleFilterError(
            f"check_results expects a list of registered results, got {type(registered).__name__}"
        )
    found: list[dict[str, Any]] = []
    for item in registered:
        found.extend(_from_one(item))
    return found


def check_gate(results: Any, fail_on: str = "crit") -> dict[str, Any]:
    """Summary of a list of check results plus whether it should stop the run.

    ``fail_on`` is the least bad status that fails: crit (default), unknown, warn or never.
    """
    if fail_on not in STATUSES + ("never",) or fail_on == "ok":
        raise AnsibleFilterError(f"check_gate: fail_on must be one of crit, unknown, warn, never; got {fail_on!r}")
    if not isinstance(results, list):
        raise AnsibleFilterError(f"check_gate expects a list of check results, got {type(results).__name__}")
    summary = summarize(results)
    failing = []
    if fail_on != "never":
        floor = RANK[fail_on]
        failing = [item for item in results if RANK.get(str(item.get("status")), RANK["unknown"]) >= floor]
    summary["failing"] = [
        f"{item.get('check')} {item.get('status')}: {item.get('message')}" for item in failing
    ]
    summary["passed"] = not failing
    return summary


class FilterModule:
    """opsbook.stack check-result filters."""

    def filters(self) -> dict[str, Any]:
        return {"check_results": check_results, "check_gate": check_gate}

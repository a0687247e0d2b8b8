"""check_results / check_gate filters: flattening registered results and gating."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.opsbook.stack.plugins.filter.checks import check_gate, check_results


def _check(check: str, status: str) -> dict:
    return {"check": check, "status": status, "value": 1, "warn": None, "crit": None,
            "unit": "", "message": f"{check} is {status}", "details": {}}


def test_flattens_plain_looped_skipped_and_failed_results() -> None:
    registered = [
        {"changed": False, "checks": [_check("host.cpu", "ok"), _check("host.memory", "warn")]},
        {"skipped": True, "skip_reason": "Conditional result was False"},
        {"results": [
            {"checks": [_check("log.errors:app", "crit")]},
            {"skipped": True},
            {"failed": True, "msg": "unknown check name(s) 'bogus'",
             "invocation": {"module_name": "opsbook.stack.log_check"}},
        ]},
        {"failed": True, "msg": "install python3-redis", "_ansible_module_name": "opsbook.stack.redis_check"},
        None,
    ]
    found = check_results(registered)
    assert [item["check"] for item in found] == [
        "host.cpu", "host.memory", "log.errors:app", "log.module", "redis.module"]
    assert found[3]["status"] == "unknown"
    assert "bogus" in found[3]["message"]
    assert found[4]["status"] == "unknown"


def test_single_registered_result_is_accepted() -> None:
    assert check_results({"checks": [_check("tls.cert:nginx", "ok")]})[0]["check"] == "tls.cert:nginx"


def test_a_module_result_with_its_own_results_list_is_not_a_loop() -> None:
    """restore_test returns the tool's results under `results` next to its `checks`: the gate must see the checks."""
    registered = {"changed": False, "checks": [_check("restore.physical:20261126-150830F", "crit")],
                  "results": [{"kind": "physical", "status": "failed"}]}
    found = check_results([registered])
    assert [item["check"] for item in found] == ["restore.physical:20261126-150830F"]
    assert check_gate(found, "crit")["passed"] is False


def test_a_failed_collection_module_gets_its_own_family() -> None:
    found = check_results([{"failed": True, "msg": "refusing to restore into /var/lib/postgresql/15/main",
                            "invocation": {"module_name": "opsbook.stack.restore_test"}}])
    assert [item["check"] for item in found] == ["restore.module"] and found[0]["status"] == "unknown"


def test_rejects_a_string() -> None:
    with pytest.raises(AnsibleFilterError, match="list of registered results"):
        check_results("oops")


@pytest.mark.parametrize(
    ("fail_on", "statuses", "passed"),
    [
        ("crit", ["ok", "warn", "unknown"], True),
        ("crit", ["ok", "crit"], False),
        ("unknown", ["warn", "unknown"], False),
        ("unknown", ["warn", "ok"], True),
        ("warn", ["warn"], False),
        ("never", ["crit", "unknown"], True),
    ],
)
def test_gate(fail_on: str, statuses: list[str], passed: bool) -> None:
    results = [_check(f"host.x{i}", status) for i, status in enumerate(statuses)]
    gate = check_gate(results, fail_on)
    assert gate["passed"] is passed
    assert gate["total"] == len(statuses)
    if not passed:
        assert gate["failing"] and all(" is " in line for line in gate["failing"])


def test_gate_rejects_bad_fail_on() -> None:
    with pytest.raises(AnsibleFilterError, match="fail_on must be one of"):
        check_gate([], "ok")

"""The stack's own creation: check mode on fresh hosts, converge, idempotence,
check mode on the converged stack (playbooks/site.yml each time)."""

from __future__ import annotations

import pytest

from testbed.stack import PlaybookRun

pytestmark = pytest.mark.stage("lifecycle")


def _summary(run: PlaybookRun) -> str:
    return f"rc={run.rc} recap={run.recap()}\n{run.output[-3000:]}"


def test_check_mode_on_fresh_hosts_does_not_fail(lifecycle: dict[str, PlaybookRun]) -> None:
    run = lifecycle["check_fresh"]
    assert run.rc == 0, _summary(run)
    assert all(counts["failed"] == 0 and counts["unreachable"] == 0 for counts in run.recap().values()), _summary(run)


def test_second_converge_changes_nothing(lifecycle: dict[str, PlaybookRun]) -> None:
    run = lifecycle["idempotence"]
    assert run.rc == 0, _summary(run)
    changed = {host: counts["changed"] for host, counts in run.recap().items() if counts["changed"]}
    assert not changed, f"not idempotent: {changed}\n{_summary(run)}"


def test_check_mode_on_the_converged_stack_predicts_no_change(lifecycle: dict[str, PlaybookRun]) -> None:
    run = lifecycle["check_converged"]
    assert run.rc == 0, _summary(run)
    changed = {host: counts["changed"] for host, counts in run.recap().items() if counts["changed"]}
    assert not changed, f"check mode predicts changes on a converged stack: {changed}\n{_summary(run)}"

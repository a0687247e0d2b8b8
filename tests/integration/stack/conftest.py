"""The shared stack: created and converged once per run, then every suite here.

    pytest tests/integration/stack --stack-debian trixie --stack-connection ssh

The session fixture ``stack`` creates a sandbox-shaped stack (db, cache,
app + web, and the DR host the drill creates) under its own name, runs
playbooks/site.yml in check mode on the fresh hosts, converges it, runs it
again for idempotence and once more in check mode, and hands the converged
stack to every suite. See docs/TESTING.md for how to add a suite.

Markers a suite uses:
- ``stage(name)``: when it runs; lifecycle, state (default), checks, faults,
  destructive (last: tests that could leave the stack unusable if they fail).
  Tests in the faults and destructive stages start from a health gate.
- ``debian(release, ...)``: the releases a test runs on (default: both). The
  fault suites are split between the releases; version-dependent tests run
  on both and say what they expect where.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from testbed.health import assert_green
from testbed.stack import PlaybookRun, Stack, StackHost
from testbed.timing import StageClock

STAGES = ("lifecycle", "state", "checks", "faults", "destructive")
RELEASES = ("bookworm", "trixie")
DEFAULT_SUBNETS = {"bookworm": "172.30.60.0/24", "trixie": "172.30.61.0/24"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stack", "the shared test stack")
    group.addoption("--stack-debian", default=os.environ.get("OPSBOOK_STACK_DEBIAN", "bookworm"), choices=RELEASES)
    group.addoption("--stack-connection", default=os.environ.get("OPSBOOK_STACK_CONNECTION", "docker"), choices=("docker", "ssh"))
    group.addoption("--stack-name", default=None, help="host name prefix and network (default stk12 / stk13)")
    group.addoption("--stack-subnet", default=None, help="a /24 for the stack's network")
    group.addoption("--stack-reuse", action="store_true", help="use the stack of an earlier --stack-keep run as it is")
    group.addoption("--stack-keep", action="store_true", help="leave the stack running after the run")
    group.addoption("--stack-times", default=None, help="write the stage times as JSON to this file")


class _Timing:
    """Adds every test's time to its file's row of the stage clock."""

    def __init__(self, clock: StageClock) -> None:
        self.clock = clock

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.clock.add_test(report.nodeid.split("::")[0], report.duration, report.when, report.outcome)


_CLOCK = pytest.StashKey[StageClock]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "stage(name): when a test runs (" + ", ".join(STAGES) + ")")
    config.addinivalue_line("markers", "debian(*releases): the Debian releases a test runs on (default both)")
    clock = StageClock(f"stack-{config.getoption('--stack-debian')}")
    config.stash[_CLOCK] = clock
    config.pluginmanager.register(_Timing(clock), "opsbook-stack-timing")


def _stage(item: pytest.Item) -> int:
    marker = item.get_closest_marker("stage")
    name = marker.args[0] if marker else "state"
    if name not in STAGES:
        raise pytest.UsageError(f"{item.nodeid}: unknown stage {name!r} (one of {', '.join(STAGES)})")
    return STAGES.index(name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the tests of this release, in stage order (file order within a stage)."""
    debian = config.getoption("--stack-debian")
    keep, other = [], []
    for item in items:
        marker = item.get_closest_marker("debian")
        releases = marker.args if marker else RELEASES
        unknown = set(releases) - set(RELEASES)
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: unknown Debian release(s) {sorted(unknown)}")
        (keep if debian in releases else other).append(item)
    if other:
        config.hook.pytest_deselected(items=other)
    keep.sort(key=_stage)
    items[:] = keep


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Stack:
    config = request.config
    debian = config.getoption("--stack-debian")
    name = config.getoption("--stack-name") or {"bookworm": "stk12", "trixie": "stk13"}[debian]
    the_stack = Stack(
        name=name, debian=debian, connection=config.getoption("--stack-connection"),
        subnet=config.getoption("--stack-subnet") or DEFAULT_SUBNETS[debian],
    )
    clock = config.stash[_CLOCK]
    lifecycle: dict[str, Any] = {}
    if config.getoption("--stack-reuse") and (the_stack.inventory / "hosts.yml").exists():
        the_stack.log(f"[stack] reusing {the_stack.name} ({the_stack.inventory})")
    else:
        with clock.phase("create"):
            the_stack.destroy()
            created = the_stack.create()
        if created.rc != 0:
            pytest.fail(f"creating the stack failed:\n{created.output[-4000:]}", pytrace=False)
        with clock.phase("check mode, fresh hosts"):
            lifecycle["check_fresh"] = the_stack.playbook("site", "--check", report=False, log_name="site-check-fresh")
        with clock.phase("converge"):
            converged = the_stack.playbook("site", report=False, log_name="site-converge")
        if converged.rc != 0:
            pytest.fail(f"converging the stack failed (log {the_stack.dir / 'logs'}):\n{converged.output[-4000:]}", pytrace=False)
        with clock.phase("idempotence"):
            lifecycle["idempotence"] = the_stack.playbook("site", report=False, log_name="site-idempotence")
        with clock.phase("check mode, converged"):
            lifecycle["check_converged"] = the_stack.playbook("site", "--check", report=False, log_name="site-check-converged")
    the_stack.lifecycle = lifecycle  # type: ignore[attr-defined]
    yield the_stack
    if not config.getoption("--stack-keep"):
        with clock.phase("destroy"):
            the_stack.destroy()


@pytest.fixture(scope="session")
def lifecycle(stack: Stack) -> dict[str, PlaybookRun]:
    """The site.yml runs of the stack's creation (empty when --stack-reuse)."""
    runs = stack.lifecycle  # type: ignore[attr-defined]
    if not runs:
        pytest.fail("the stack was reused: its creation was not part of this run (drop --stack-reuse)", pytrace=False)
    return runs


@pytest.fixture(scope="session")
def secrets(stack: Stack) -> dict[str, str]:
    """The secrets the sandbox generated for the stack (name -> value)."""
    return stack.secrets


def _stack_hosts(config: pytest.Config) -> list[str]:
    """Host names of the stack before it exists (the inventory copy is deterministic)."""
    from testbed.inventory import SANDBOX, host_name, InventorySpec  # pylint: disable=import-outside-toplevel
    import yaml  # pylint: disable=import-outside-toplevel

    debian = config.getoption("--stack-debian")
    name = config.getoption("--stack-name") or {"bookworm": "stk12", "trixie": "stk13"}[debian]
    tree = yaml.safe_load((SANDBOX / "hosts.yml").read_text())
    names: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        for host in (node.get("hosts") or {}):
            if host not in names:
                names.append(host)
        for child in (node.get("children") or {}).values():
            walk(child)

    walk(tree["all"]["children"]["sandbox"])
    spec = InventorySpec(name=name, subnet="0.0.0.0/24")
    return [host_name(spec, host) for host in names]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that takes ``host`` runs once per sandbox host of the stack."""
    if "host" in metafunc.fixturenames:
        metafunc.parametrize("host", _stack_hosts(metafunc.config), indirect=True)


@pytest.fixture
def host(request: pytest.FixtureRequest, stack: Stack) -> StackHost:
    return StackHost(stack, request.param)


@pytest.fixture(autouse=True)
def _health_gate(request: pytest.FixtureRequest) -> None:
    """Fault and destructive tests start from a green stack."""
    if _stage(request.node) >= STAGES.index("faults"):
        assert_green(request.getfixturevalue("stack"))


def pytest_sessionfinish(session: pytest.Session) -> None:
    clock = session.config.stash[_CLOCK]
    target = session.config.getoption("--stack-times")
    if target:
        clock.write(Path(target))

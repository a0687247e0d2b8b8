"""A sandbox that cannot start fails at once with one line naming the cause and the fix.

playbooks/sandbox.yml on a throwaway copy of the sandbox inventory (its own
name and network), with the Docker engine the test stacks run on: a
published port that is taken, and a host image that does not exist. Neither
may create anything. (No Docker engine at all is tests/integration/local's.)
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from testbed.inventory import InventorySpec, write
from testbed.stack import ROOT, ansible_env

pytestmark = pytest.mark.debian("bookworm")


def sandbox(inventory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(ROOT / "playbooks" / "sandbox.yml"), *extra],
        capture_output=True, text=True, env=ansible_env(), timeout=300, check=False, cwd=ROOT,
    )


def flat(output: str) -> str:
    """The output with runs of white space as one space (the callback wraps long messages)."""
    return " ".join(output.split())


@pytest.fixture
def throwaway(tmp_path: Path) -> Path:
    """A sandbox copy named sbx-bad-* with the web host's ports published (its containers must never appear)."""
    inventory = write(InventorySpec(name="sbx-bad", subnet="172.30.69.0/24", publish_ports=True), tmp_path / "inventory")
    yield inventory
    leftovers = subprocess.run(["docker", "ps", "-aq", "--filter", "name=sbx-bad-"], capture_output=True, text=True, check=False)
    assert not leftovers.stdout.strip(), "the refused sandbox created containers"


def test_a_taken_port_is_named_with_the_fix(throwaway: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = sandbox(throwaway, "-e", f"sandbox_https_port={port}", "-e", "sandbox_http_port=1")
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-2000:]
    assert f"Port {port} on 127.0.0.1 is already taken: free it or choose another with -e sandbox_https_port=N" in flat(out), out[-2000:]
    networks = subprocess.run(["docker", "network", "ls", "-q", "--filter", "name=sbx-bad"], capture_output=True, text=True, check=False)
    assert not networks.stdout.strip(), "the refused sandbox created its network"


def test_a_missing_image_is_named_with_the_fix(throwaway: Path) -> None:
    done = sandbox(throwaway, "-e", "sandbox_image_repo=opsbook/no-such-image")
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-2000:]
    assert "Image opsbook/no-such-image:bookworm is missing: run 'make images DEBIAN=bookworm' first" in flat(out), out[-2000:]

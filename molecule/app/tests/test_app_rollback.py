"""A release that never turns healthy is rolled back and the run fails."""

import os
import subprocess
import time
from pathlib import Path

SCENARIO = Path(__file__).resolve().parent.parent


def _health(host):
    out = host.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/health")
    return out.stdout.strip()


def test_bad_release_rolls_back(host):
    env = dict(os.environ)
    inventory = env["MOLECULE_INVENTORY_FILE"]
    before = host.file("/opt/refservice/current").linked_to
    assert before == "/opt/refservice/releases/0.1.0"

    run = subprocess.run(
        ["ansible-playbook", "-i", inventory, str(SCENARIO / "bad_release.yml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert "did not turn healthy" in output, output
    assert "bad release: database driver missing" in output, output
    assert "Rolled back to /opt/refservice/releases/0.1.0" in output, output

    assert host.file("/opt/refservice/current").linked_to == before
    assert host.file("/opt/refservice/releases/9.9.9-bad/venv").is_directory

    deadline = time.time() + 60
    while _health(host) != "200" and time.time() < deadline:
        time.sleep(2)
    assert _health(host) == "200"
    assert host.service("refservice-scheduler").is_running

"""opsbook.stack.http_check through ansible-playbook on localhost, against the fake application."""

from __future__ import annotations

import json

import pytest
from helpers import LOCAL_PLAY, PYTHON, ansible_playbook
from helpers.web import serve


@pytest.fixture(scope="module")
def base_url():
    server, port = serve()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


# --- end to end through ansible ------------------------------------------------------------------

PLAY = LOCAL_PLAY + """\
    - name: Check the local server
      opsbook.stack.http_check:
        targets:
          - name: app
            url: {url}/health
            json:
              - path: scheduler.running
                equals: true
          - name: degraded
            url: {url}/degraded
            json:
              - path: scheduler.running
                equals: true
      register: good
    - name: Bad thresholds fail the module
      opsbook.stack.http_check:
        thresholds:
          latency_ms: {{warn: 3000, crit: 100}}
        targets:
          - name: app
            url: {url}/health
      register: bad
      ignore_errors: true
    - name: Save the results
      ansible.builtin.copy:
        content: "{{{{ {{'good': good, 'bad': bad}} | to_json }}}}"
        dest: {out}
        mode: "0600"
"""


def test_end_to_end_through_ansible(tmp_path, base_url):
    out = tmp_path / "out.json"
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY.format(python=PYTHON, url=base_url, out=out))
    proc = ansible_playbook("-i", "localhost,", str(playbook), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    good, bad = data["good"], data["bad"]
    assert good["changed"] is False
    assert [item["check"] for item in good["checks"]] == [
        "http.status:app", "http.latency:app", "http.json:app.scheduler.running",
        "http.status:degraded", "http.latency:degraded", "http.json:degraded.scheduler.running",
    ]
    for item in good["checks"]:
        assert set(item) == {"check", "status", "value", "warn", "crit", "unit", "message", "details"}
    assert good["summary"] == {"ok": 4, "warn": 0, "crit": 2, "unknown": 0, "total": 6, "worst": "crit"}
    assert bad["failed"] is True
    assert "latency_ms" in bad["msg"] and "beyond crit" in bad["msg"]

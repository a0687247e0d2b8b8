"""opsbook.stack.tls_check through ansible-playbook on localhost: certificate files and a TLS endpoint."""

from __future__ import annotations

import json

from helpers import LOCAL_PLAY, PYTHON, ansible_playbook, tls

# helpers.tls's certificate files and TLS servers, as this module's fixtures.
certs = tls.certs
servers = tls.servers


# --- end to end through ansible ------------------------------------------------------------------

PLAY = LOCAL_PLAY + """\
    - name: Check files and an endpoint
      opsbook.stack.tls_check:
        certificates:
          - path: {valid}
          - path: {near}
          - path: {missing}
        endpoints:
          - host: 127.0.0.1
            port: {port}
            server_name: localhost
            name: local
      register: good
    - name: Unknown check name fails the module
      opsbook.stack.tls_check:
        checks: [certificates, chains]
        certificates:
          - path: {valid}
      register: bad
      ignore_errors: true
    - name: Save the results
      ansible.builtin.copy:
        content: "{{{{ {{'good': good, 'bad': bad}} | to_json }}}}"
        dest: {out}
        mode: "0600"
"""


def test_end_to_end_through_ansible(tmp_path, certs, servers):
    out = tmp_path / "out.json"
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        PLAY.format(
            python=PYTHON, valid=certs["valid"], near=certs["near"], missing=tmp_path / "missing.crt",
            port=servers["leaf"].port, out=out,
        )
    )
    proc = ansible_playbook("-i", "localhost,", str(playbook), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    good, bad = data["good"], data["bad"]
    assert good["changed"] is False
    assert [(item["check"], item["status"]) for item in good["checks"]] == [
        ("tls.cert:valid.crt", "ok"),
        ("tls.cert:near.crt", "crit"),
        ("tls.cert:missing.crt", "unknown"),
        ("tls.endpoint:local", "ok"),
    ]
    for item in good["checks"]:
        assert set(item) == {"check", "status", "value", "warn", "crit", "unit", "message", "details"}
    assert good["summary"] == {"ok": 2, "warn": 0, "crit": 1, "unknown": 1, "total": 4, "worst": "crit"}
    assert good["checks"][3]["details"]["backend"] == "cryptography"
    assert bad["failed"] is True
    assert "'chains'" in bad["msg"] and "known checks: certificates, endpoints" in bad["msg"]

"""Safe reload: a configuration nginx rejects is rolled back and reported.

Runs molecule/nginx/bad_config.yml with ansible-playbook from the control node
against molecule's inventory (molecule exports MOLECULE_INVENTORY_FILE,
MOLECULE_SCENARIO_DIRECTORY and its ANSIBLE_CONFIG to the verifier), then
checks on every host that the files are the previous ones and HTTPS still works.
"""

import datetime
import json
import os
import subprocess

import pytest
import testinfra

SITE = "/etc/nginx/sites-available/app.conf"
HARDENING = "/etc/nginx/conf.d/opsbook-hardening.conf"
KEY = "/etc/nginx/tls/app.key"
CERT = "/etc/nginx/tls/app.crt"
FILES = (SITE, HARDENING, KEY, CERT)


def _hosts():
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.get_hosts(["ansible://web"], ansible_inventory=inventory)


def _state(hosts):
    state = {}
    for h in hosts:
        name = h.backend.get_hostname()
        state[name] = {f: h.check_output(f"sha256sum {f}").split()[0] for f in FILES}
        state[name]["served"] = h.check_output(
            "echo | openssl s_client -connect 127.0.0.1:443 -servername localhost 2>/dev/null"
            " | openssl x509 -noout -fingerprint -sha256"
        )
    return state


def _run_bad_playbook(tmp_path, extra_vars):
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(extra_vars))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    playbook = os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "bad_config.yml")
    proc = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], playbook, "-e", f"@{vars_file}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def _mismatched_pair():
    """A valid certificate and a valid key that do not belong together."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key_a = ec.generate_private_key(ec.SECP256R1())
    key_b = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key_a.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key_a, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key_b.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert_pem, key_pem


def _assert_still_good(hosts, before):
    assert _state(hosts) == before
    for h in hosts:
        assert h.run("nginx -t").rc == 0
        out = h.check_output("curl -sk -w ' %{http_code}' https://localhost/health")
        assert out.endswith(" 200")
        assert "healthy" in out
        assert h.run("ls /etc/nginx/sites-available/ /etc/nginx/conf.d/ /etc/nginx/tls/ | grep -q '~$'").rc != 0
        assert h.file("/etc/nginx/sites-enabled/app.conf").is_symlink


@pytest.fixture(scope="module")
def hosts():
    return _hosts()


def test_unknown_directive_is_rejected_with_nginx_message(hosts, tmp_path):
    before = _state(hosts)
    rc, out = _run_bad_playbook(tmp_path, {"nginx_extra_server_config": "opsbook_no_such_directive on;"})
    assert rc != 0, out
    assert "The new nginx configuration was not applied" in out
    assert 'unknown directive "opsbook_no_such_directive"' in out
    assert "/etc/nginx/sites-available/app.conf" in out
    _assert_still_good(hosts, before)


def test_mismatched_certificate_is_rolled_back(hosts, tmp_path):
    """Each file is valid alone, only the full `nginx -t` fails: exercises the restore."""
    before = _state(hosts)
    cert_pem, key_pem = _mismatched_pair()
    rc, out = _run_bad_playbook(
        tmp_path,
        {"nginx_extra_server_config": "", "nginx_tls_cert_content": cert_pem, "nginx_tls_key_content": key_pem},
    )
    assert rc != 0, out
    assert "The new nginx configuration was not applied" in out
    assert "key values mismatch" in out
    assert "BEGIN PRIVATE KEY" not in out  # no_log on the key
    _assert_still_good(hosts, before)

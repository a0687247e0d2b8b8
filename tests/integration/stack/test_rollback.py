"""Changes that must not stick: a release that never turns healthy is rolled
back (app role), a configuration nginx rejects is rolled back and reported
(nginx role), on the stack's app / web host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.tls import make_cert

from testbed.stack import Stack, StackHost

pytestmark = pytest.mark.stage("faults")

FILES_DIR = Path(__file__).resolve().parent / "files"
SITE = "/etc/nginx/sites-available/opsbook.conf"
HARDENING = "/etc/nginx/conf.d/opsbook-hardening.conf"
KEY = "/etc/nginx/tls/opsbook.key"
CERT = "/etc/nginx/tls/opsbook.crt"
NGINX_FILES = (SITE, HARDENING, KEY, CERT)


@pytest.fixture(scope="module")
def web(stack: Stack) -> StackHost:
    return StackHost(stack, stack.hosts("web")[0])


# ------------------------------------------------------------------ app


@pytest.mark.debian("trixie")
def test_bad_release_rolls_back(stack: Stack) -> None:
    app = StackHost(stack, stack.hosts("app")[0])
    before = app.file("/opt/refservice/current").linked_to
    assert before == "/opt/refservice/releases/0.1.0"

    run = stack.playbook(str(FILES_DIR / "bad_release.yml"), report=False)
    assert run.rc != 0, run.output[-3000:]
    assert "did not turn healthy" in run.output, run.output[-3000:]
    assert "bad release: database driver missing" in run.output, run.output[-3000:]
    assert "Rolled back to /opt/refservice/releases/0.1.0" in run.output, run.output[-3000:]

    assert app.file("/opt/refservice/current").linked_to == before
    assert app.file("/opt/refservice/releases/9.9.9-bad/venv").is_directory

    def healthy() -> bool:
        return app.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/health").stdout.strip() == "200"

    stack.wait_for("the previous release to answer 200", healthy, 60)
    assert app.service("refservice-scheduler").is_running


# ------------------------------------------------------------------ nginx


def _state(web: StackHost) -> dict[str, str]:
    state = {f: web.check_output(f"sha256sum {f}").split()[0] for f in NGINX_FILES}
    state["served"] = web.check_output(
        "echo | openssl s_client -connect 127.0.0.1:443 -servername localhost 2>/dev/null"
        " | openssl x509 -noout -fingerprint -sha256"
    )
    return state


def _run_bad_nginx(stack: Stack, tmp_path: Path, extra_vars: dict[str, str]) -> tuple[int, str]:
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(extra_vars))
    run = stack.playbook(str(FILES_DIR / "bad_nginx.yml"), "-e", f"@{vars_file}", report=False, timeout=600)
    return run.rc, " ".join(run.output.split())


def _mismatched_pair(directory: Path) -> tuple[str, str]:
    """A valid certificate and a valid key that do not belong together."""
    cert_a = make_cert(directory, "pair-a", days=1)[0]
    key_b = make_cert(directory, "pair-b", days=1)[1]
    return cert_a.read_text(), key_b.read_text()


def _assert_still_good(web: StackHost, before: dict[str, str]) -> None:
    assert _state(web) == before
    assert web.run("nginx -t").rc == 0
    out = web.check_output("curl -sk -w ' %{http_code}' https://localhost/health")
    assert out.endswith(" 200")
    assert "healthy" in out
    assert web.run("ls /etc/nginx/sites-available/ /etc/nginx/conf.d/ /etc/nginx/tls/ | grep -q '~$'").rc != 0
    assert web.file("/etc/nginx/sites-enabled/opsbook.conf").is_symlink


# nginx 1.22 (Debian 12) and 1.26 (Debian 13) print the same errors for both: both releases.
def test_unknown_directive_is_rejected_with_nginx_message(stack: Stack, web: StackHost, tmp_path: Path) -> None:
    before = _state(web)
    rc, out = _run_bad_nginx(stack, tmp_path, {"nginx_extra_server_config": "opsbook_no_such_directive on;"})
    assert rc != 0, out
    assert "The new nginx configuration was not applied" in out
    assert 'unknown directive "opsbook_no_such_directive"' in out
    assert SITE in out
    _assert_still_good(web, before)


def test_mismatched_certificate_is_rolled_back(stack: Stack, web: StackHost, tmp_path: Path) -> None:
    """Each file is valid alone, only the full `nginx -t` fails: exercises the restore."""
    before = _state(web)
    cert_pem, key_pem = _mismatched_pair(tmp_path)
    rc, out = _run_bad_nginx(
        stack, tmp_path,
        {"nginx_extra_server_config": "", "nginx_tls_cert_content": cert_pem, "nginx_tls_key_content": key_pem},
    )
    assert rc != 0, out
    assert "The new nginx configuration was not applied" in out
    assert "key values mismatch" in out
    assert "BEGIN PRIVATE KEY" not in out  # no_log on the key
    _assert_still_good(web, before)

"""Real-state checks of the nginx reverse proxy (opsbook.stack.nginx)."""

import json

SITE = "/etc/nginx/sites-available/app.conf"
KEY = "/etc/nginx/tls/app.key"
CERT = "/etc/nginx/tls/app.crt"


def test_service_running_and_enabled(host):
    svc = host.service("nginx")
    assert svc.is_running
    assert svc.is_enabled


def test_ports_listening(host):
    assert host.socket("tcp://0.0.0.0:80").is_listening
    assert host.socket("tcp://0.0.0.0:443").is_listening


def test_https_proxies_to_upstream(host):
    out = host.check_output("curl -sk -w '\\n%{http_code}' https://localhost/health")
    body, code = out.rsplit("\n", 1)
    assert code == "200"
    assert json.loads(body) == {"status": "healthy"}


def test_http_redirects_to_https(host):
    out = host.check_output("curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://localhost/health")
    assert out == "301 https://localhost/health"


def test_security_headers_and_no_version(host):
    headers = host.check_output("curl -sk -o /dev/null -D - https://localhost/health").lower()
    assert "strict-transport-security: max-age=31536000" in headers
    assert "x-content-type-options: nosniff" in headers
    assert "x-frame-options: deny" in headers
    assert "referrer-policy:" in headers
    assert "content-security-policy:" in headers
    server = [line for line in headers.splitlines() if line.startswith("server:")]
    assert server == ["server: nginx"]  # server_tokens off: no version
    # Pages nginx generates itself (here the 301) must not show it either.
    page = host.check_output("curl -s http://localhost/health")
    assert "<center>nginx</center>" in page
    assert "nginx/" not in page


def _handshake(host, flag):
    # @SECLEVEL=0 so the *client* is willing to speak old protocols: a failure
    # then comes from the server's configuration.
    return host.run(
        f"echo | timeout 10 openssl s_client -connect 127.0.0.1:443 -servername localhost {flag} -cipher 'DEFAULT:@SECLEVEL=0'"
    )


def test_old_tls_refused(host):
    for flag in ("-tls1", "-tls1_1"):
        res = _handshake(host, flag)
        assert res.rc != 0, f"{flag} handshake unexpectedly succeeded"
        assert "Cipher is (NONE)" in res.stdout or "alert" in res.stderr or "no protocols" in res.stderr


def test_tls12_and_tls13_accepted(host):
    res12 = _handshake(host, "-tls1_2")
    assert res12.rc == 0, res12.stderr
    assert "Protocol  : TLSv1.2" in res12.stdout or "TLSv1.2" in res12.stdout
    res13 = _handshake(host, "-tls1_3")
    assert res13.rc == 0, res13.stderr
    assert "TLSv1.3" in res13.stdout


def test_effective_protocols_only_12_and_13(host):
    dump = host.check_output("nginx -T 2>/dev/null")
    site = dump.split("# configuration file /etc/nginx/sites-enabled/app.conf:", 1)[1]
    protocols = [line.strip() for line in site.splitlines() if line.strip().startswith("ssl_protocols")]
    assert protocols[0] == "ssl_protocols TLSv1.2 TLSv1.3;"


def test_certificate_has_requested_names(host):
    text = host.check_output(f"openssl x509 -in {CERT} -noout -ext subjectAltName")
    assert f"DNS:{host.backend.get_hostname()}" in text
    assert "DNS:localhost" in text
    assert "IP Address:127.0.0.1" in text
    # The served certificate is that file.
    served = host.check_output(
        "echo | openssl s_client -connect 127.0.0.1:443 -servername localhost 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
    )
    on_disk = host.check_output(f"openssl x509 -in {CERT} -noout -fingerprint -sha256")
    assert served == on_disk


def test_private_key_protected(host):
    key = host.file(KEY)
    assert key.user == "root"
    assert key.group == "root"
    assert key.mode == 0o600
    assert host.file("/etc/nginx/tls").mode == 0o750


def test_site_layout(host):
    link = host.file("/etc/nginx/sites-enabled/app.conf")
    assert link.is_symlink
    assert link.linked_to == SITE
    assert not host.file("/etc/nginx/sites-enabled/default").exists
    # Vendor nginx.conf untouched (dpkg's checksum still matches).
    assert host.run("dpkg --verify nginx-common nginx 2>&1 | grep -q nginx.conf").rc != 0
    # No backup leftovers from the safe-reload logic.
    assert host.run("ls /etc/nginx/sites-available/ /etc/nginx/conf.d/ | grep -q '~$'").rc != 0


def test_config_valid(host):
    assert host.run("nginx -t").rc == 0

"""Argument spec of opsbook.stack.nginx rejects bad input, naming the variable."""

import pytest
from helpers import run_role


@pytest.mark.parametrize(
    ("role_vars", "name"),
    [
        ("        nginx_https_port: not-a-port", "nginx_https_port"),
        ("        nginx_tls_protocols: ['TLSv1.1', 'TLSv1.2']", "nginx_tls_protocols"),
        ("        nginx_upstreams: [{servers: ['127.0.0.1:8000']}]", "name"),
    ],
)
def test_argspec_rejects(tmp_path, role_vars, name):
    result = run_role(tmp_path, "nginx", role_vars)
    rc, out = result.returncode, result.stdout + result.stderr
    assert rc != 0, out
    assert "Validating arguments against arg spec" in out or "argument spec" in out.lower(), out
    assert name in out, out

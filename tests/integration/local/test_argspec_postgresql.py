"""The postgresql role's argument spec rejects bad input before any task runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_role


@pytest.mark.parametrize(
    "role_vars, name",
    [
        ("        postgresql_port: not-a-port", "postgresql_port"),
        ("        postgresql_listen_addresses: {a: b}", "postgresql_listen_addresses"),
        ("        postgresql_tls_enabled: maybe", "postgresql_tls_enabled"),
        ("        postgresql_users:\n          - password: secret", "postgresql_users"),
        ("        postgresql_hba_entries:\n          - {database: all, user: all, address: 0.0.0.0/0, method: trust}", "postgresql_hba_entries"),
    ],
)
def test_bad_input_is_rejected(tmp_path: Path, role_vars: str, name: str) -> None:
    result = run_role(tmp_path, "postgresql", role_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "argument" in output.lower() or "validation" in output.lower(), output
    assert name in output, output
    # The password of a rejected entry is never echoed.
    assert "secret" not in output.replace("no_log", "")

"""The app role's argument spec rejects wrong types and names the variable."""

from __future__ import annotations

import pytest
from helpers import run_role


@pytest.mark.parametrize(
    ("variables", "name"),
    [
        ("        app_port: not-a-port\n", "app_port"),
        ("        app_source_type: svn\n", "app_source_type"),
        ("        app_env: [1, 2]\n", "app_env"),
    ],
)
def test_argspec_rejects_bad_input(tmp_path, variables, name):
    result = run_role(tmp_path, "app", variables)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert name in output, output

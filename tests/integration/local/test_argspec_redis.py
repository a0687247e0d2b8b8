"""The redis role's argument spec rejects bad input before any task runs."""

from helpers import run_role


def test_bad_input_is_rejected(tmp_path):
    # One run: argument spec validation reports every offending variable at once.
    result = run_role(
        tmp_path,
        "redis",
        "\n".join(
            [
                "        redis_port: not-a-port",
                "        redis_bind: {a: b}",
                "        redis_users: [{name: app}]",
                "        redis_appendfsync: sometimes",
            ]
        ),
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Validation of arguments failed" in output, output
    # Only the error lines, not the argument_spec_data dump that follows them.
    errors = output.split("Validation of arguments failed", 1)[1].split("Origin:", 1)[0]
    for name in ("redis_port", "redis_bind", "redis_users", "redis_appendfsync"):
        assert name in errors, f"{name} not named in:\n{errors}"
    assert "password" in errors, errors

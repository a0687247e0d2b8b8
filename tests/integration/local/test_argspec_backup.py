"""The backup role rejects bad input before any task changes anything."""

from __future__ import annotations

from helpers import run_role


def _errors(output: str) -> str:
    # Only the error lines, not the argument_spec_data dump that follows them.
    return output.split("Validation of arguments failed", 1)[1].split("Origin:", 1)[0]


def test_wrong_types_and_choices_are_rejected(tmp_path):
    # One run: argument spec validation reports every offending variable at once.
    result = run_role(
        tmp_path,
        "backup",
        "\n".join(
            [
                "        backup_rpo_minutes: soon",
                "        backup_scheduler: anacron",
                "        backup_pgbackrest_compress_type: gzip",
                "        backup_schedules: [daily]",
                "        backup_retention: {full: {max_age_days: forever}}",
            ]
        ),
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Validation of arguments failed" in output, output
    errors = _errors(output)
    for name in (
        "backup_rpo_minutes",
        "backup_scheduler",
        "backup_pgbackrest_compress_type",
        "backup_schedules",
        "max_age_days",
    ):
        assert name in errors, f"{name} not named in:\n{errors}"


def test_retention_that_keeps_nothing_is_refused(tmp_path):
    result = run_role(
        tmp_path,
        "backup",
        "        backup_retention: {full: {max_age_days: 90}, logical: {daily: 0, weekly: 0}}",
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "backup_retention.logical" in output and "would keep nothing" in output, output
    # The good policy passed; the assert stopped the role before any other task.
    assert "Install the backup packages" not in output, output


def test_redis_backup_without_password_is_refused(tmp_path):
    result = run_role(tmp_path, "backup", "        backup_redis_enabled: true")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "backup_redis_password" in output, output

"""opsbook.stack.dr_evaluate: RTO, RPO, phases, tables and consistency from a drill's measurements."""

from __future__ import annotations

import pytest

from ansible_collections.opsbook.stack.plugins.modules import dr_evaluate

T0 = 1_764_160_000.0


def params(**extra):
    base = {
        "started": T0,
        "phases": [
            {"name": "provision", "start": T0, "end": T0 + 90.5, "failed": False, "note": ""},
            {"name": "restore", "start": T0 + 90.5, "end": T0 + 131.0, "failed": False, "note": ""},
            {"name": "app", "start": T0 + 131.0, "end": T0 + 190.2, "failed": False, "note": ""},
        ],
        "healthy_at": T0 + 190.2,
        "rto_target_seconds": 300.0,
        "rpo_target_seconds": 60.0,
        "source_newest": T0 - 10.0,
        "recovered_newest": T0 - 38.0,
        "source_counts": {"public.measurements": 1200, "public.jobs": 5},
        "recovered_counts": {"public.measurements": 1190, "public.jobs": 5},
        "consistency": {"table": "measurements (ts)", "source": 1190, "recovered": 1190},
        "checklist_results": [],
        "restore": {"set": "20261126-142549F"},
    }
    base.update(extra)
    return base


def by_id(out):
    return {item["check"]: item for item in out["checks"]}


def test_a_drill_within_its_targets_passes_with_a_timeline():
    out = dr_evaluate.evaluate(params())
    checks = by_id(out)
    assert out["summary"]["crit"] == 0 and out["summary"]["unknown"] == 0
    assert out["rto_seconds"] == 190.2 and checks["dr.rto"]["status"] == "ok" and checks["dr.rto"]["crit"] == 300.0
    assert out["rpo_seconds"] == 28.0 and checks["dr.rpo"]["status"] == "ok"
    assert [step["name"] for step in out["timeline"]] == ["provision", "restore", "app"]
    assert out["timeline"][1]["offset_s"] == 90.5 and out["timeline"][1]["duration_s"] == 40.5
    assert checks["dr.rto"]["details"]["timeline"] == out["timeline"]
    assert checks["dr.rows:public.measurements"]["details"]["difference"] == 10
    assert checks["dr.consistency"]["status"] == "ok"


def test_missed_targets_are_critical():
    checks = by_id(dr_evaluate.evaluate(params(healthy_at=T0 + 301, recovered_newest=T0 - 75.0)))
    assert checks["dr.rto"]["status"] == "crit" and checks["dr.rto"]["value"] == 301.0
    assert checks["dr.rpo"]["status"] == "crit" and checks["dr.rpo"]["value"] == 65.0


def test_a_failed_phase_names_the_cause_and_the_app_never_became_healthy():
    phases = params()["phases"][:1] + [
        {"name": "restore", "start": T0 + 90.5, "end": T0 + 95.0, "failed": True,
         "note": "Restore: ERROR: [039]: invalid checksum in file 'pg_data/base/1/1259'"},
    ]
    out = dr_evaluate.evaluate(params(phases=phases, healthy_at=None, recovered_newest=None, recovered_counts={}, consistency=None))
    checks = by_id(out)
    assert checks["dr.phase:restore"]["status"] == "crit" and "invalid checksum" in checks["dr.phase:restore"]["message"]
    assert checks["dr.rto"]["status"] == "crit" and "restore" in checks["dr.rto"]["message"] and "invalid checksum" in checks["dr.rto"]["message"]
    assert checks["dr.rpo"]["status"] == "crit"
    # No table comparison without a recovered database.
    assert not [key for key in checks if key.startswith("dr.rows:")]
    assert out["rto_seconds"] is None


def test_tables_missing_or_with_more_rows_than_the_source_are_critical():
    checks = by_id(dr_evaluate.evaluate(params(recovered_counts={"public.measurements": 1300})))
    assert checks["dr.rows:public.measurements"]["status"] == "crit"
    assert checks["dr.rows:public.jobs"]["status"] == "crit" and "missing" in checks["dr.rows:public.jobs"]["message"]


def test_inconsistent_rows_up_to_the_recovery_point_are_critical():
    checks = by_id(dr_evaluate.evaluate(params(consistency={"table": "measurements (ts)", "source": 1190, "recovered": 1187})))
    assert checks["dr.consistency"]["status"] == "crit" and "3 rows differ" in checks["dr.consistency"]["message"]


def test_the_recovered_hosts_checklist_is_judged_by_its_worst_result():
    results = [{"check": "pg.connect", "status": "ok"}, {"check": "host.cpu", "status": "warn"}]
    checks = by_id(dr_evaluate.evaluate(params(checklist_results=results)))
    assert checks["dr.checklist"]["status"] == "warn" and "host.cpu warn" in checks["dr.checklist"]["message"]
    results.append({"check": "http.app_health", "status": "crit"})
    assert by_id(dr_evaluate.evaluate(params(checklist_results=results)))["dr.checklist"]["status"] == "crit"


def test_recovered_data_newer_than_the_source_start_is_no_loss():
    assert dr_evaluate.evaluate(params(recovered_newest=T0 + 5))["rpo_seconds"] == 0.0


def test_the_rpo_is_the_age_of_the_newest_replayed_transaction_when_known():
    out = dr_evaluate.evaluate(params(recovered_transaction=T0 - 42.0))
    rpo = by_id(out)["dr.rpo"]
    assert out["rpo_seconds"] == 42.0 and "newest recovered transaction" in rpo["message"]
    # The data-based loss stays in the details.
    assert rpo["details"]["data_loss_s"] == 28.0
    assert by_id(dr_evaluate.evaluate(params(recovered_transaction=T0 - 61.0)))["dr.rpo"]["status"] == "crit"


def test_without_any_recovery_point_the_rpo_is_unknown_unless_the_drill_failed():
    out = dr_evaluate.evaluate(params(recovered_newest=None))
    assert by_id(out)["dr.rpo"]["status"] == "unknown" and out["rpo_seconds"] is None


@pytest.mark.parametrize(
    "extra, fragment",
    [
        ({"rto_target_seconds": 0.0}, "must be positive"),
        ({"phases": [{"name": "bad name", "start": T0, "end": T0 + 1}]}, "phase name 'bad name'"),
        ({"phases": [{"name": "app", "start": T0 + 5, "end": T0}]}, "ends before it starts"),
    ],
)
def test_bad_input_is_refused_naming_the_value(extra, fragment):
    with pytest.raises(ValueError, match=fragment):
        dr_evaluate.evaluate(params(**extra))


def test_without_replay_or_data_the_rpo_is_the_age_of_the_backup_end():
    out = dr_evaluate.evaluate(params(recovered_newest=None, backup_stop=T0 - 1800.0, rpo_target_seconds=3600.0))
    rpo = by_id(out)["dr.rpo"]
    assert out["rpo_seconds"] == 1800.0 and rpo["status"] == "ok" and "end of the backup" in rpo["message"]


def test_the_rpo_is_at_least_the_archive_lag_of_the_source_at_the_start():
    # The recovery replayed WAL archived after the start (transaction newer than the start) ...
    out = dr_evaluate.evaluate(params(recovered_transaction=T0 + 20.0, source_archived_at=T0 - 25.0))
    rpo = by_id(out)["dr.rpo"]
    # ... but a disaster at the start would have lost what was not archived by then.
    assert out["rpo_seconds"] == 25.0 and rpo["details"]["archive_lag_s"] == 25.0 and "newest WAL" in rpo["message"]
    # A recovery point older than the archive lag stays the measure.
    assert dr_evaluate.evaluate(params(recovered_transaction=T0 - 40.0, source_archived_at=T0 - 25.0))["rpo_seconds"] == 40.0

"""interaction_check on the demo clinic: seeded pairs alerted once, re-alerted when the list changes."""

from __future__ import annotations

from medjobs_tui.clock import iso
from medjobs_tui.store import clinical as store
from medjobs_tui.store.db import transaction
from tests.jobs.conftest import NOW


def _alerts(clinic):
    return clinic.rows("SELECT p.pseudonym, a.rule_id, a.drug_a, a.drug_b, a.severity FROM interaction_alerts a"
                       " JOIN patients p ON p.id = a.patient_id ORDER BY a.id")


def test_seeded_pairs_are_alerted(clinic):
    seeded = clinic.report.interacting_patients
    summary = clinic.run("interaction_check")
    alerts = {(a["pseudonym"], a["drug_a"], a["drug_b"]) for a in _alerts(clinic)}
    assert (seeded["simvastatin20+clarithromycin"], "simvastatin", "clarithromycin") in alerts
    assert (seeded["sertraline+phenelzine"], "sertraline", "phenelzine") in alerts
    assert (seeded["tizanidine+ciprofloxacin"], "tizanidine", "ciprofloxacin") in alerts
    assert summary["alerts_new"] == len(alerts) == 3
    assert summary["by_severity"]["contraindicated"] == 3
    assert summary["pairs_checked"] > summary["patients_checked"]


def test_each_alert_notifies_staff_with_pseudonym_and_no_drug_product_name(clinic):
    clinic.run("interaction_check")
    rows = clinic.rows("SELECT n.audience, n.message, mr.medication_text FROM notifications n"
                       " JOIN medication_requests mr ON mr.id = n.medication_request_id"
                       " WHERE n.kind = 'interaction_alert'")
    assert len(rows) == 3 and {r["audience"] for r in rows} == {"staff"}
    for r in rows:
        assert r["message"].startswith("P-") and "contraindicated" in r["message"]
        assert r["medication_text"] not in r["message"]


def test_rerun_creates_no_new_alerts_or_notices(clinic):
    clinic.run("interaction_check")
    again = clinic.run("interaction_check", run_id=7)
    assert again["alerts_new"] == 0 and again["alerts_existing"] == 3
    assert again["notices_queued"] == 0 and again["notices_already_sent"] == 3
    assert clinic.scalar("SELECT count(*) FROM interaction_alerts") == 3
    assert clinic.scalar("SELECT count(*) FROM notifications WHERE kind = 'interaction_alert'") == 3


def test_changed_medication_list_alerts_again(clinic):
    clinic.run("interaction_check")
    pseudonym = clinic.report.interacting_patients["simvastatin20+clarithromycin"]
    patient_id = clinic.scalar("SELECT id FROM patients WHERE pseudonym = ?", [pseudonym])
    with transaction(clinic.db):
        store.insert_medication_request(
            clinic.db, patient_id=patient_id, status="active", medication_text="lisinopril 10 MG Oral Tablet",
            ingredients=["lisinopril"], schedule_status="scheduled", timing_code="QD", times_of_day=["09:00"],
            doses_per_day=1.0, dose_quantity=1.0, created_at=iso(NOW), updated_at=iso(NOW))
    summary = clinic.run("interaction_check")
    assert summary["alerts_new"] == 1 and summary["alerts_existing"] == 2


def test_acknowledged_alert_is_not_raised_again_for_the_same_list(clinic):
    clinic.run("interaction_check")
    alert_id = clinic.scalar("SELECT min(id) FROM interaction_alerts")
    assert store.acknowledge_interaction_alert(clinic.db, alert_id, iso(NOW))
    again = clinic.run("interaction_check")
    assert again["alerts_new"] == 0 and again["notices_queued"] == 0
    assert len(store.list_interaction_alerts(clinic.db)) == 2


def test_deceased_patients_are_not_checked(clinic):
    summary = clinic.run("interaction_check")
    assert summary["deceased_skipped"] == clinic.report.deceased == 2
    assert summary["patients_checked"] == clinic.report.patients - clinic.report.deceased


def test_a_knowledge_base_that_turned_unreadable_is_a_permanent_error_not_retried(clinic, tmp_path):
    """Checked when the config is loaded; replaced afterwards by a file that cannot be read, it fails every run
    alike: the run ends dead at once instead of spending its retries."""
    import pytest

    from medjobs_tui.jobs import PermanentError

    bad = clinic.settings.base_dir / "changed-kb.yaml"
    bad.write_bytes(b"rules: []\nname: caf\xe9\n")
    with pytest.raises(PermanentError, match="not UTF-8 text"):
        clinic.run("interaction_check", knowledge_base="changed-kb.yaml")

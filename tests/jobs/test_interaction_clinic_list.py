"""The clinic's own interaction list (`medjobs interactions import`, admin, audited) merged with the ONC
baseline by the interaction check; alerts once per patient and pair until the list changes or a clinician
acknowledges them (`medjobs interactions ack`, audited)."""

from __future__ import annotations

import json

import pytest

from medjobs_tui.clock import FixedClock, iso
from medjobs_tui.console import Actor, Console, ConsoleError
from medjobs_tui.console.operations import PermissionDenied
from medjobs_tui.store import clinical as store
from medjobs_tui.store.db import transaction
from tests.jobs.conftest import NOW

ADMIN, NURSE = Actor("ada", "admin"), Actor("nurse", "operator")
HEADER = "drug_a,drug_b,severity,effect,source\n"


@pytest.fixture
def console(clinic):
    c = Console(clinic.settings, clock=FixedClock(NOW))
    yield c
    c.close()


def _two_drugs_of_one_patient(clinic) -> tuple[int, str, str]:
    """A living patient with two orders whose ingredients are on no baseline pair: (patient id, a, b)."""
    by_patient: dict[int, list[str]] = {}
    for o in store.active_orders(clinic.db):
        if not o["deceased"] and o["ingredients"]:
            by_patient.setdefault(o["patient_id"], []).append(o["ingredients"][0])
    interacting = set(clinic.report.interacting_patients.values())
    for pid, drugs in sorted(by_patient.items()):
        pseudonym = clinic.scalar("SELECT pseudonym FROM patients WHERE id = ?", [pid])
        if pseudonym not in interacting and len(set(drugs)) >= 2:
            a, b = sorted(set(drugs))[:2]
            return pid, a, b
    raise AssertionError("the demo clinic has no such patient")


def _audit(db):
    return [(r[0], r[1], json.loads(r[2]) if r[2] else None) for r in
            db.execute("SELECT action, outcome, detail FROM audit_log ORDER BY id")]


def test_clinic_pair_is_alerted_with_its_own_severity_and_source(clinic, console, tmp_path):
    pid, a, b = _two_drugs_of_one_patient(clinic)
    f = tmp_path / "clinic.csv"
    f.write_text(HEADER + f"{b},{a},moderate,Clinic-reviewed effect,Licensed list 2026\n")
    result = console.import_interactions(ADMIN, f)
    assert (result["pairs"], result["added"], result["removed"]) == (1, 1, 0)

    having_both = {p for p in {o["patient_id"] for o in store.active_orders(clinic.db) if not o["deceased"]}
                   if {a, b} <= {i for o in store.active_orders(clinic.db) if o["patient_id"] == p
                                 for i in o["ingredients"]}}

    summary = clinic.run("interaction_check")

    assert pid in having_both
    assert summary["clinic_pairs"] == 1 and summary["alerts_new"] == 3 + len(having_both)  # 3 seeded ONC pairs
    (alert,) = clinic.rows("SELECT rule_id, severity, source, pair_key FROM interaction_alerts"
                           " WHERE patient_id = ?", [pid])
    assert alert == {"rule_id": "CLINIC-1", "severity": "moderate", "source": "Licensed list 2026",
                     "pair_key": "|".join(sorted((a, b)))}
    assert _audit(clinic.db)[-1] == ("interactions.import", "ok", {
        "file": "clinic.csv", "pairs": 1, "added": 1, "removed": 0, "kept": 0, "sha256": result["sha256"]})


def test_a_pair_on_both_lists_is_one_alert_the_most_severe(clinic, console, tmp_path):
    f = tmp_path / "clinic.csv"
    f.write_text(HEADER + "clarithromycin,simvastatin,minor,Myopathy,Clinic list\n")
    console.import_interactions(ADMIN, f)
    summary = clinic.run("interaction_check")
    assert summary["interactions"] == summary["alerts_new"] == 3 and summary["alerts_existing"] == 0
    pseudonym = clinic.report.interacting_patients["simvastatin20+clarithromycin"]
    rows = clinic.rows("SELECT a.rule_id, a.severity FROM interaction_alerts a JOIN patients p ON p.id = a.patient_id"
                       " WHERE p.pseudonym = ?", [pseudonym])
    assert len(rows) == 1 and rows[0]["rule_id"].startswith("ONC-") and rows[0]["severity"] == "contraindicated"


def test_a_bad_file_is_refused_whole_with_every_bad_row_and_audited(clinic, console, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "warfarin,aspirin,major,Bleeding,Clinic list\n")
    console.import_interactions(ADMIN, good)
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "warfarin,aspirin,major,Bleeding,Clinic list\nwarfarin,,major,x,y\n"
                            "a,b,fatal,x,y\n")
    with pytest.raises(ConsoleError) as info:
        console.import_interactions(ADMIN, bad)
    assert str(info.value) == ("bad.csv: 2 bad row(s); nothing imported\n"
                               "  bad.csv:line 3: drug_b is empty\n"
                               "  bad.csv:line 4: severity must be one of contraindicated, major, moderate, minor")
    assert clinic.rows("SELECT drug_a, drug_b FROM clinic_interactions") == [{"drug_a": "warfarin",
                                                                             "drug_b": "aspirin"}]
    assert _audit(clinic.db)[-1] == ("interactions.import", "error", {"file": "bad.csv", "errors": 2})


def test_only_an_admin_imports_the_list(clinic, console, tmp_path):
    f = tmp_path / "clinic.csv"
    f.write_text(HEADER)
    with pytest.raises(PermissionDenied, match="may not import the clinic's interaction list"):
        console.import_interactions(NURSE, f)
    assert _audit(clinic.db)[-1][:2] == ("interactions.import", "denied")


def test_acknowledged_alert_stays_closed_until_the_list_changes(clinic, console):
    clinic.run("interaction_check")
    alert = console.interaction_alerts(NURSE)[-1]
    [major] = clinic.rows("SELECT id, state FROM alerts WHERE kind = 'interaction_major' AND last_ref = ?",
                          [f"interaction alert {alert['id']}"])
    assert major["state"] == "open"
    acked = console.acknowledge_interaction(NURSE, alert["id"])
    assert acked["acknowledged_by"] == "nurse"
    assert _audit(clinic.db)[-1] == ("interactions.ack", "ok", {"rule_id": alert["rule_id"],
                                                                "severity": "contraindicated",
                                                                "alerts_acknowledged": [major["id"]]})
    # the Alerts tab's major-interaction alert is acknowledged with it, by the same clinician
    assert clinic.rows("SELECT state, acknowledged_by FROM alerts WHERE id = ?", [major["id"]]) == [
        {"state": "acknowledged", "acknowledged_by": "nurse"}]
    with pytest.raises(ConsoleError, match="already acknowledged by nurse"):
        console.acknowledge_interaction(NURSE, alert["id"])
    with pytest.raises(PermissionDenied):
        console.acknowledge_interaction(Actor("audrey", "auditor"), alert["id"])

    again = clinic.run("interaction_check")  # same list: not raised again
    assert again["alerts_new"] == 0 and again["notices_queued"] == 0 and again["alerts_superseded"] == 0
    assert alert["id"] not in {a["id"] for a in console.interaction_alerts(NURSE)}

    patient_id = clinic.scalar("SELECT id FROM patients WHERE pseudonym = ?", [alert["patient"]])
    with transaction(clinic.db):
        store.insert_medication_request(
            clinic.db, patient_id=patient_id, status="active", medication_text="lisinopril 10 MG Oral Tablet",
            ingredients=["lisinopril"], schedule_status="scheduled", timing_code="QD", times_of_day=["09:00"],
            doses_per_day=1.0, dose_quantity=1.0, created_at=iso(NOW), updated_at=iso(NOW))
    changed = clinic.run("interaction_check")  # the list changed: raised afresh, once
    assert changed["alerts_new"] == 1 and changed["notices_queued"] == 1
    fresh = [a for a in console.interaction_alerts(NURSE) if a["patient"] == alert["patient"]]
    assert len(fresh) == 1 and fresh[0]["id"] != alert["id"]


def test_open_alerts_of_an_old_list_are_superseded(clinic, console):
    clinic.run("interaction_check")
    before = console.interaction_alerts(NURSE)
    target = before[0]
    patient_id = clinic.scalar("SELECT id FROM patients WHERE pseudonym = ?", [target["patient"]])
    with transaction(clinic.db):
        clinic.db.execute("UPDATE medication_requests SET status = 'stopped' WHERE patient_id = ? AND id IN"
                          " (SELECT id FROM medication_requests WHERE patient_id = ? ORDER BY id DESC LIMIT 1)",
                          [patient_id, patient_id])
    summary = clinic.run("interaction_check")
    assert summary["alerts_superseded"] == 1
    closed = [a for a in console.interaction_alerts(NURSE, open_only=False) if a["id"] == target["id"]][0]
    assert closed["superseded_at"] == iso(NOW) and closed["acknowledged_at"] is None
    with pytest.raises(ConsoleError, match="is closed: the patient's medication list changed"):
        console.acknowledge_interaction(NURSE, target["id"])


def test_cli_interactions_import_list_ack(clinic, tmp_path):
    from click.testing import CliRunner

    from medjobs_tui.cli import main

    clinic.run("interaction_check")
    config = str(clinic.settings.source)
    f = tmp_path / "clinic.csv"
    f.write_text(HEADER + "warfarin,aspirin,major,Bleeding,Clinic list\n")
    from tests.conftest import make_user, password_file

    make_user(clinic.settings, "nurse", "operator")                      # and the first admin, ada.admin
    env = {"MEDJOBS_PASSWORD_FILE": str(password_file(tmp_path))}
    runner = CliRunner()
    r = runner.invoke(main, ["--config", config, "--user", "ada.admin", "interactions", "import", str(f)], env=env)
    assert r.exit_code == 0 and "1 pair(s) in the clinic list (1 added, 0 removed, 0 kept)" in r.output, r.output
    r = runner.invoke(main, ["--config", config, "--user", "nurse", "interactions", "list"], env=env)
    assert r.exit_code == 0 and r.output.count("contraindicated") == 3
    from medjobs_tui.clock import parse_iso

    raised = store.list_interaction_alerts(clinic.db)[0]["created_at"]          # UTC in the store
    assert f"{parse_iso(raised).astimezone(clinic.settings.zone):%Y-%m-%d %H:%M}" in r.output   # clinic time on screen
    assert raised[:16].replace("T", " ") not in r.output
    first = min(a["id"] for a in store.list_interaction_alerts(clinic.db))
    r = runner.invoke(main, ["--config", config, "--user", "nurse", "interactions", "ack", str(first)], env=env)
    assert r.exit_code == 0 and f"interaction alert I-{first} (P-" in r.output and "acknowledged by nurse" in r.output
    r = runner.invoke(main, ["--config", config, "--user", "nurse", "interactions", "import", str(f)], env=env)
    assert r.exit_code == 1 and "needs the admin role" in r.output


def test_interaction_alerts_are_patient_data_the_auditor_does_not_read(clinic, console):
    clinic.run("interaction_check")
    assert console.interaction_alerts(Actor("rita", "reviewer"))             # reviewers see them
    with pytest.raises(PermissionDenied, match="may not see patients' medication data"):
        console.interaction_alerts(Actor("audrey", "auditor"))
    with pytest.raises(PermissionDenied, match="may not see patients' medication data"):
        console.patient_prefs(Actor("audrey", "auditor"), "P-00001")
    assert _audit(clinic.db)[-1][:2] == ("patient.read", "denied")

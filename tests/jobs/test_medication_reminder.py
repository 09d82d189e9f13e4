"""medication_reminder on the demo clinic at 07:55 New York: due doses, idempotency, exclusions, catch-up."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from medjobs_tui.clock import iso
from tests.jobs.conftest import NOW


def _due_doses(clinic, now, window_minutes=15):
    """Independent count: scheduled doses of living, non-opted-out patients in [now - catch-up, now + window)
    with no dose-log entry, computed from the raw rows with plain zoneinfo arithmetic."""
    catch_up = timedelta(minutes=clinic.settings.clinic.thresholds.reminder_catch_up_minutes)
    lo, hi = now - catch_up, now + timedelta(minutes=window_minutes)
    logged = {(r["medication_request_id"], r["dose_instant"]) for r in clinic.rows(
        "SELECT medication_request_id, dose_instant FROM dose_log")}
    due = set()
    for r in clinic.rows(
        "SELECT mr.id, mr.times_of_day, p.timezone FROM medication_requests mr JOIN patients p ON p.id = mr.patient_id"
        " WHERE mr.status = 'active' AND mr.schedule_status = 'scheduled' AND p.deceased = 0"
        " AND p.reminders_opt_out = 0"
    ):
        zone = ZoneInfo(r["timezone"] or clinic.settings.clinic.timezone)
        today = now.astimezone(zone).date()
        for hhmm in json.loads(r["times_of_day"]):
            h, m = map(int, hhmm.split(":"))
            for offset in (-1, 0, 1):
                instant = datetime.combine(today + timedelta(days=offset), time(h, m), tzinfo=zone).astimezone(
                    timezone.utc)
                if lo <= instant < hi and (r["id"], iso(instant)) not in logged:
                    due.add((r["id"], iso(instant)))
    return due


def _reminders(clinic):
    return {(r["medication_request_id"], r["due_at"]) for r in clinic.rows(
        "SELECT medication_request_id, due_at FROM notifications WHERE kind = 'dose_reminder'")}


def test_reminder_count_equals_independent_count_of_due_doses(clinic):
    expected = _due_doses(clinic, NOW)
    summary = clinic.run("medication_reminder")
    assert len(expected) >= 10, "the demo must have 08:00 doses due at 07:55 New York"
    assert summary["reminders_queued"] == summary["doses_due"] == len(expected)
    assert _reminders(clinic) == expected
    assert all(due_at == "2026-11-29T13:00:00+00:00" for _, due_at in expected)   # 08:00 EST


def test_rerun_queues_no_new_reminders(clinic):
    first = clinic.run("medication_reminder")
    again = clinic.run("medication_reminder", run_id=99)
    assert again["reminders_queued"] == 0
    assert again["reminders_already_sent"] == first["reminders_queued"]
    assert again["reminders_missed"] == 0 and again["missed_notices_queued"] == 0
    assert clinic.scalar("SELECT count(*) FROM notifications WHERE kind = 'dose_reminder'") == first["reminders_queued"]


def test_reminder_key_names_the_order_and_dose_instant_and_message_has_no_drug_name(clinic):
    clinic.run("medication_reminder")
    for n in clinic.rows("SELECT n.idempotency_key, n.medication_request_id, n.due_at, n.message, n.audience,"
                         " mr.medication_text FROM notifications n"
                         " JOIN medication_requests mr ON mr.id = n.medication_request_id"
                         " WHERE n.kind = 'dose_reminder'"):
        assert n["idempotency_key"] == f"dose_reminder:{n['medication_request_id']}:{n['due_at']}"
        assert n["audience"] == "patient"
        assert n["medication_text"].split()[0].lower() not in n["message"].lower()
        assert "08:00 local time" in n["message"]


def test_prn_order_gets_no_reminder(clinic):
    summary = clinic.run("medication_reminder")
    assert summary["prn_skipped"] > 0
    assert clinic.scalar(
        "SELECT count(*) FROM notifications n JOIN medication_requests mr ON mr.id = n.medication_request_id"
        " WHERE mr.schedule_status = 'prn'") == 0


def test_deceased_patient_gets_no_reminder(clinic):
    summary = clinic.run("medication_reminder", now=NOW)
    assert summary["deceased_skipped"] > 0
    # their orders are still 'scheduled' and active (as Synthea keeps them): the patient flag must stop them
    assert clinic.scalar("SELECT count(*) FROM medication_requests mr JOIN patients p ON p.id = mr.patient_id"
                         " WHERE p.deceased = 1 AND mr.schedule_status = 'scheduled'") > 0
    assert clinic.scalar("SELECT count(*) FROM notifications n JOIN patients p ON p.id = n.patient_id"
                         " WHERE p.deceased = 1") == 0
    assert clinic.scalar("SELECT count(*) FROM dose_log d JOIN patients p ON p.id = d.patient_id"
                         " WHERE p.deceased = 1") == 0


def test_opted_out_patient_gets_no_reminder(clinic):
    summary = clinic.run("medication_reminder")
    assert summary["opted_out_skipped"] > 0
    assert clinic.scalar("SELECT count(*) FROM notifications n JOIN patients p ON p.id = n.patient_id"
                         " WHERE p.reminders_opt_out = 1") == 0


def test_order_without_schedule_gets_no_reminder(clinic):
    summary = clinic.run("medication_reminder")
    assert summary["no_schedule_skipped"] >= 1
    assert clinic.scalar("SELECT count(*) FROM notifications n JOIN medication_requests mr"
                         " ON mr.id = n.medication_request_id WHERE mr.schedule_status = 'no_schedule'") == 0


def test_dose_past_catch_up_limit_is_recorded_reminder_missed_and_staff_told_not_the_patient(clinic):
    unconfirmed = clinic.report.unconfirmed_orders
    assert unconfirmed
    summary = clinic.run("medication_reminder")
    assert summary["reminders_missed"] > 0
    assert summary["missed_notices_queued"] == summary["reminders_missed"]
    missed = clinic.rows("SELECT medication_request_id, dose_instant FROM dose_log WHERE status = 'reminder_missed'")
    assert {m["medication_request_id"] for m in missed} <= set(unconfirmed)
    limit = NOW - timedelta(minutes=60)
    for m in missed:
        assert m["dose_instant"] < iso(limit)
        assert clinic.scalar("SELECT count(*) FROM notifications WHERE kind = 'dose_reminder' AND"
                             " medication_request_id = ? AND due_at = ?",
                             [m["medication_request_id"], m["dose_instant"]]) == 0
    staff = clinic.rows("SELECT audience, message FROM notifications WHERE kind = 'reminder_missed'")
    assert len(staff) == len(missed) and {s["audience"] for s in staff} == {"staff"}
    assert all(s["message"].startswith("P-") for s in staff)
    again = clinic.run("medication_reminder")
    assert again["reminders_missed"] == 0 and again["missed_notices_queued"] == 0


def test_dose_within_catch_up_limit_is_reminded_late_once(clinic):
    later = NOW + timedelta(minutes=35)        # 08:30 New York: the 08:00 doses are 30 minutes late
    expected = _due_doses(clinic, later)
    summary = clinic.run("medication_reminder", now=later)
    assert summary["late_reminders_queued"] == len([d for d in expected if d[1] < iso(later)]) > 0
    assert summary["reminders_queued"] == len(expected)
    assert clinic.run("medication_reminder", now=later)["reminders_queued"] == 0


def test_reminded_dose_is_not_marked_reminder_missed_later(clinic):
    first = clinic.run("medication_reminder")
    clinic.run("medication_reminder", now=NOW + timedelta(hours=3))    # 10:55 New York, 08:00 doses unconfirmed
    reminded = _reminders(clinic)
    missed = {(r["medication_request_id"], r["dose_instant"]) for r in clinic.rows(
        "SELECT medication_request_id, dose_instant FROM dose_log WHERE status = 'reminder_missed'")}
    assert not (reminded & missed)
    assert clinic.scalar("SELECT count(*) FROM notifications WHERE kind = 'dose_reminder'"
                         " AND due_at = '2026-11-29T13:00:00+00:00'") == first["reminders_queued"]


def test_machine_off_for_hours_does_not_fire_old_reminders_at_once(clinic):
    # nothing ran at 08:00; at 11:00 New York the 08:00 doses are 3 h old: none is reminded to the patient
    summary = clinic.run("medication_reminder", now=datetime(2026, 11, 29, 16, 0, tzinfo=timezone.utc))
    assert clinic.scalar("SELECT count(*) FROM notifications WHERE kind = 'dose_reminder'"
                         " AND due_at = '2026-11-29T13:00:00+00:00'") == 0
    assert summary["reminders_missed"] > 0


def test_dose_on_daylight_saving_change_day_is_reminded_at_local_clock_time(clinic):
    # 2026-11-01 is the fall-back day in New York; 13:50 EST = 18:50 UTC. A 14:00 dose is 19:00 UTC, not 18:00.
    at = datetime(2026, 11, 1, 18, 50, tzinfo=timezone.utc)
    expected = _due_doses(clinic, at)
    clinic.run("medication_reminder", now=at)
    assert _reminders(clinic) == expected
    due = clinic.rows("SELECT n.due_at, p.timezone FROM notifications n JOIN patients p ON p.id = n.patient_id"
                      " WHERE n.kind = 'dose_reminder'")
    ny = [d["due_at"] for d in due if d["timezone"] is None]
    assert ny and set(ny) == {"2026-11-01T19:00:00+00:00"}


def test_doses_before_the_order_entered_the_store_are_not_reminders_missed(clinic):
    # an order imported just now has no missed reminders for its past doses: none could have been sent
    clinic.db.execute("UPDATE medication_requests SET created_at = ?", [iso(NOW)])
    summary = clinic.run("medication_reminder")
    assert summary["reminders_missed"] == 0
    assert summary["reminders_queued"] > 0


# ------------------------------------------------------------------------- the whole Timing, end to end


def _import_orders(clinic, *orders):
    """Import a patient and MedicationRequests (FHIR JSON) into the clinic; return {fhir id: order row id}."""
    from medjobs_tui.fhir import import_paths

    folder = clinic.settings.database_path.parent
    f = folder / "orders.ndjson"
    lines = [{"resourceType": "Patient", "id": "timing-p"}] + [
        {"resourceType": "MedicationRequest", "status": "active", "subject": {"reference": "Patient/timing-p"},
         "medicationCodeableConcept": {"text": "Prednisone 10 MG Oral Tablet"}, **o} for o in orders]
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    report = import_paths(clinic.db, clinic.settings, [f], NOW - timedelta(days=30))
    assert report.skipped == []
    return {r["fhir_id"]: r["id"] for r in clinic.rows("SELECT id, fhir_id FROM medication_requests"
                                                         " WHERE fhir_id IS NOT NULL")}


def _messages(clinic, order_id):
    return [(r["due_at"], r["message"]) for r in clinic.rows(
        "SELECT due_at, message FROM notifications WHERE kind = 'dose_reminder' AND medication_request_id = ?"
        " ORDER BY due_at", [order_id])]


def test_taper_reminders_carry_the_dose_of_the_step_in_force(clinic):
    # 4 tablets a day for 7 days from 2026-11-23 (09:00), then 2 a day for 7 days: on 11-29 (7th day) 4, on
    # 11-30 (8th day) 2. NOW = 07:55 EST on 11-29; the 09:00 dose is 65 min ahead, so the window is 90 min.
    ids = _import_orders(clinic, {"id": "taper", "authoredOn": "2026-11-23", "dosageInstruction": [
        {"sequence": 1, "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d",
                                              "boundsDuration": {"value": 7, "code": "d"}}},
         "doseAndRate": [{"doseQuantity": {"value": 4, "unit": "tablet"}}]},
        {"sequence": 2, "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d",
                                              "boundsDuration": {"value": 7, "code": "d"}}},
         "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "tablet"}}]}]})
    clinic.run("medication_reminder", window_minutes=90)
    clinic.run("medication_reminder", now=NOW + timedelta(days=1), window_minutes=90)
    assert _messages(clinic, ids["taper"]) == [
        ("2026-11-29T14:00:00+00:00", f"Reminder: your scheduled medication dose (order #{ids['taper']}, 4 tablet)"
                                      " is due at 09:00 local time."),
        ("2026-11-30T14:00:00+00:00", f"Reminder: your scheduled medication dose (order #{ids['taper']}, 2 tablet)"
                                      " is due at 09:00 local time.")]


def test_weekly_order_reminds_on_its_day_only(clinic):
    # methotrexate on Mondays at 08:00: NOW is Sunday 11-29 07:55 EST -> nothing; Monday 11-30 07:55 -> one
    ids = _import_orders(clinic, {"id": "mtx", "authoredOn": "2026-11-01", "dosageInstruction": [
        {"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk", "dayOfWeek": ["mon"],
                               "timeOfDay": ["08:00:00"]}},
         "doseAndRate": [{"doseQuantity": {"value": 4, "unit": "tablet"}}]}]})
    clinic.run("medication_reminder")
    assert _messages(clinic, ids["mtx"]) == []
    clinic.run("medication_reminder", now=NOW + timedelta(days=1))
    assert [d for d, _ in _messages(clinic, ids["mtx"])] == ["2026-11-30T13:00:00+00:00"]

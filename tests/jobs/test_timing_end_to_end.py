"""The issue's failing orders, imported as FHIR and run through the jobs: reminders, supply and adherence
agree on the doses per day. Clock: NOW = 2026-11-29 12:55 UTC (07:55 EST, UTC-5). Expected values by hand."""

from __future__ import annotations

import json
from datetime import timedelta

from medjobs_tui.fhir import import_paths
from tests.jobs.conftest import NOW


def _import(clinic, *resources):
    f = clinic.settings.database_path.parent / "issue7.ndjson"
    f.write_text("\n".join(json.dumps(r) for r in [{"resourceType": "Patient", "id": "i7"}, *resources]) + "\n")
    report = import_paths(clinic.db, clinic.settings, [f], NOW - timedelta(days=40))
    assert report.skipped == []
    return report, {r["fhir_id"]: r for r in clinic.rows(
        "SELECT * FROM medication_requests WHERE fhir_id IS NOT NULL")}


def _order(oid, dosage, **extra):
    return {"resourceType": "MedicationRequest", "id": oid, "status": "active", "subject": {"reference": "Patient/i7"},
            "medicationCodeableConcept": {"text": "Methotrexate 2.5 MG Oral Tablet"}, "dosageInstruction": dosage,
            **extra}


def _dispense(did, order, qty, at):
    return {"resourceType": "MedicationDispense", "id": did, "status": "completed",
            "authorizingPrescription": [{"reference": f"MedicationRequest/{order}"}],
            "quantity": {"value": qty}, "whenHandedOver": at}


def test_one_every_four_weeks_is_scheduled_every_28_days_and_its_supply_counts_weeks(clinic):
    report, rows = _import(
        clinic,
        _order("q4wk", [{"timing": {"repeat": {"frequency": 1, "period": 4, "periodUnit": "wk",
                                               "timeOfDay": ["09:00:00"]}},
                         "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}],
               authoredOn="2026-11-02T08:00:00-05:00"),
        _dispense("d1", "q4wk", 3, "2026-11-02T13:00:00Z"))
    row = rows["q4wk"]
    assert row["schedule_status"] == "scheduled" and row["doses_per_day"] == 1 / 28
    assert report.warnings == []
    # never a daily reminder: from 09:55 EST on 11-29, a 24-hour window holds one dose: 11-30 09:00 EST
    clinic.run("medication_reminder", now=NOW + timedelta(hours=2), window_minutes=24 * 60)
    assert [r["due_at"] for r in clinic.rows(
        "SELECT due_at FROM notifications WHERE kind = 'dose_reminder' AND medication_request_id = ?",
        [row["id"]])] == ["2026-11-30T14:00:00+00:00"]
    # 3 tablets from 11-02 08:00: doses 11-02, 11-30, 12-28 09:00; the 2027-01-25 09:00 dose is not covered.
    # Run-out 2027-01-25 14:00Z; from NOW 2026-11-29 12:55Z that is 57 days 1 h 05 min -> 57 (a daily reading: 3)
    clinic.run("supply_monitor")
    s = clinic.rows("SELECT days_remaining, status FROM supply_status WHERE medication_request_id = ?",
                    [row["id"]])[0]
    assert s == {"days_remaining": 57, "status": "ok"}


def test_frequency_one_with_two_times_is_two_a_day_everywhere_and_reported_once(clinic):
    report, rows = _import(
        clinic,
        _order("bid", [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d",
                                              "timeOfDay": ["08:00:00", "20:00:00"]}},
                        "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}],
               authoredOn="2026-11-01"),
        _dispense("d2", "bid", 60, "2026-11-20T12:00:00Z"))
    row = rows["bid"]
    assert row["doses_per_day"] == 2.0 and json.loads(row["times_of_day"]) == ["08:00", "20:00"]
    assert [w.reason for w in report.warnings] == [
        "MedicationRequest dosageInstruction[0].timing.repeat.frequency: frequency 1 but 2 times of day: the times"
        " of day given are followed (reminders, supply and adherence alike)"]
    # 60 tablets from 11-20 07:00 EST: 60 doses 11-20 08:00 .. 12-19 20:00; 12-20 08:00 EST (13:00Z) uncovered.
    # From NOW: 21 days 5 min -> 21 (not 60 - 9 = 51 as "once a day" would say)
    summary = clinic.run("supply_monitor")
    s = clinic.rows("SELECT days_remaining, daily_usage FROM supply_status WHERE medication_request_id = ?",
                    [row["id"]])[0]
    assert s == {"days_remaining": 21, "daily_usage": 2.0}
    assert summary["orders_checked"] == summary["critical"] + summary["low"] + summary["ok"] + summary["unknown"]
    # adherence counts 2 scheduled doses on 11-28
    clinic.run("analytics_rollup")
    a = clinic.rows("SELECT doses_scheduled FROM analytics_adherence WHERE day = '2026-11-28'"
                    " AND medication_request_id = ?", [row["id"]])[0]
    assert a["doses_scheduled"] == 2


def test_two_a_day_for_three_days_stops_and_a_date_end_keeps_its_last_day(clinic):
    _, rows = _import(
        clinic,
        _order("dur", [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d",
                                              "boundsDuration": {"value": 3, "code": "d"}}}}],
               authoredOn="2026-11-25T10:00:00-05:00"),
        _order("end", [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d",
                                              "boundsPeriod": {"start": "2026-11-27", "end": "2026-11-29"}}}}],
               authoredOn="2026-11-27"))
    # "dur": 11-25 10:00 + 3 days = 11-28 10:00: last dose 11-28 08:00; nothing on 11-29
    clinic.run("medication_reminder", window_minutes=24 * 60)
    due = {r["medication_request_id"]: r["n"] for r in clinic.rows(
        "SELECT medication_request_id, count(*) AS n FROM notifications WHERE kind = 'dose_reminder'"
        " GROUP BY medication_request_id")}
    assert rows["dur"]["id"] not in due
    # "end" ends on the date 11-29: its 08:00 and 20:00 doses that day are reminded (the 24-h window ends 11-30 07:55)
    assert due[rows["end"]["id"]] == 2

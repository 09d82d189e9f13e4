"""A date-only ``boundsPeriod`` (and a date-only ``authoredOn`` that starts an order) is that calendar day in the
PATIENT's zone, not the clinic's: FHIR gives a date no zone, and the patient's local day is the clinically meaningful
one. Found by a reviewer: a patient in Los Angeles of a New York clinic got a 23:30 dose the evening before the
order began and lost the 23:30 dose of its last day.

Clinic America/New_York; patient P in America/Los_Angeles (PST, UTC-8 in these weeks), patient N in the clinic's
zone. Hand-worked instants: 23:30 PST on 1 Mar = 07:30 UTC on 2 Mar; 1 Mar 00:00 EST = 05:00 UTC = 28 Feb 21:00 PST.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from medjobs_tui.config import load_settings
from medjobs_tui.fhir import import_paths
from medjobs_tui.jobs.medication_reminder import order_dose_instants
from medjobs_tui.store import connect, transaction
from medjobs_tui.store import clinical as store_clinical
from medjobs_tui.store import dose_log as store_doses
from tests.conftest import STORE_KEY, write_config

NOW = datetime(2026, 2, 20, 12, 0, tzinfo=timezone.utc)
WEEK = (datetime(2026, 2, 26, tzinfo=timezone.utc), datetime(2026, 3, 7, tzinfo=timezone.utc))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def request(oid: str, patient: str, repeat: dict, **extra) -> dict:
    return {"resourceType": "MedicationRequest", "id": oid, "status": "active", "intent": "order",
            "subject": {"reference": f"Patient/{patient}"},
            "medicationCodeableConcept": {"text": "Lisinopril 10 MG Oral Tablet"},
            "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d",
                                                         "timeOfDay": ["23:30:00"], **repeat}},
                                   "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}], **extra}


def import_for_two_zones(tmp_path, *resources):
    """A store with patient 'la' (America/Los_Angeles, set by the clinic before the import) and 'ny' (no zone of
    their own: the clinic's); import ``resources``; return (settings, db, FHIR id -> order row with its patient)."""
    settings = load_settings(write_config(tmp_path))
    assert settings.clinic.timezone == "America/New_York"
    settings.database_path.parent.mkdir(parents=True, exist_ok=True)
    db = connect(settings.database_path, STORE_KEY)
    with transaction(db):
        for n, (fid, zone) in enumerate((("la", "America/Los_Angeles"), ("ny", None)), start=1):
            store_clinical.insert_patient(db, pseudonym=f"P-0000{n}", fhir_id=fid, source="fhir", birth_year=1950,
                                          deceased=False, timezone=zone, reminders_opt_out=False,
                                          created_at="2026-01-01T00:00:00+00:00")
    f = tmp_path / "in.ndjson"
    f.write_text("".join(json.dumps(r) + "\n" for r in resources))
    report = import_paths(db, settings, [f], NOW)
    assert report.skipped == [], report.skipped
    orders = {fid: store_doses.order_for_dose(db, oid)
              for fid, oid in db.execute("SELECT fhir_id, id FROM medication_requests").fetchall()}
    return settings, db, orders


def test_date_only_bounds_are_the_patients_local_days_not_the_clinics(tmp_path):
    bounds = {"boundsPeriod": {"start": "2026-03-01", "end": "2026-03-03"}}
    settings, db, orders = import_for_two_zones(tmp_path, request("la-order", "la", bounds))
    doses = order_dose_instants(orders["la-order"], settings, *WEEK)
    # 23:30 PST on 1, 2 and 3 March; not 28 Feb 23:30 PST (07:30 UTC on 1 Mar, after New York's midnight of 1 Mar
    # but before Los Angeles'), and 3 Mar 23:30 PST (07:30 UTC on 4 Mar) is still the patient's 3 March
    assert doses == [utc(2026, 3, 2, 7, 30), utc(2026, 3, 3, 7, 30), utc(2026, 3, 4, 7, 30)]
    assert orders["la-order"]["bounds_start"] == "2026-03-01T08:00:00+00:00"    # midnight in Los Angeles
    assert orders["la-order"]["bounds_end"] == "2026-03-04T08:00:00+00:00"      # the end day's next local midnight
    db.close()


def test_patients_in_two_zones_with_the_same_instructions_each_get_their_own_days(tmp_path):
    """The import reads each distinct dosageInstruction once (a memo): the reading must be per zone."""
    bounds = {"boundsPeriod": {"start": "2026-03-01", "end": "2026-03-03"}}
    settings, db, orders = import_for_two_zones(tmp_path, request("ny-order", "ny", bounds),
                                                request("la-order", "la", bounds))
    assert order_dose_instants(orders["ny-order"], settings, *WEEK) == [
        utc(2026, 3, 2, 4, 30), utc(2026, 3, 3, 4, 30), utc(2026, 3, 4, 4, 30)]   # 23:30 EST, 1-3 March
    assert order_dose_instants(orders["la-order"], settings, *WEEK) == [
        utc(2026, 3, 2, 7, 30), utc(2026, 3, 3, 7, 30), utc(2026, 3, 4, 7, 30)]   # 23:30 PST, 1-3 March
    db.close()


def test_a_date_only_authored_on_starts_the_order_on_the_patients_day(tmp_path):
    """An order without bounds starts at ``authoredOn``; given as a date, that is the patient's local day too."""
    settings, db, orders = import_for_two_zones(tmp_path, request("la-order", "la", {}, authoredOn="2026-03-01"))
    doses = order_dose_instants(orders["la-order"], settings, *WEEK)
    assert doses[0] == utc(2026, 3, 2, 7, 30)                                    # 1 Mar 23:30 PST, not 28 Feb's
    db.close()


def test_an_end_given_as_an_instant_is_that_instant_whatever_the_zone(tmp_path):
    bounds = {"boundsPeriod": {"start": "2026-03-01", "end": "2026-03-03T23:30:00-08:00"}}   # inclusive
    settings, db, orders = import_for_two_zones(tmp_path, request("la-order", "la", bounds))
    assert order_dose_instants(orders["la-order"], settings, *WEEK)[-1] == utc(2026, 3, 4, 7, 30)
    db.close()

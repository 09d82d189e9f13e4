"""A controlled substance's refill is due later than another drug's: at 85% of its days supply elapsed, not 75%
(DOMAIN.md "Refill due"; DEA schedules II-V, 21 CFR 1308.12-15, packaged in ``clinical.controlled`` and extended
by a clinic's ``controlled_substances``). Found by a clinical reviewer: alprazolam (C-IV) was due at 75.6%."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from medjobs_tui.clinical.controlled import controlled_schedule
from medjobs_tui.clinical.ingredients import ingredients_from_rxnorm_text
from medjobs_tui.config import load_settings
from medjobs_tui.fhir import import_paths
from medjobs_tui.jobs import get_handler
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.store import connect
from tests.conftest import REPO, STORE_KEY, write_config

NOW = datetime(2026, 11, 29, 12, 55, tzinfo=timezone.utc)


def refill_check_after(tmp_path, drug: str, days_since_fill: float, **clinic) -> dict:
    """refill_check's summary for one order of ``drug``, 1 a day, 90 dispensed ``days_since_fill`` days ago."""
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    settings = load_settings(write_config(tmp_path, clinic={**data["clinic"], **clinic}))
    settings.database_path.parent.mkdir(parents=True, exist_ok=True)
    db = connect(settings.database_path, STORE_KEY)
    order = {"resourceType": "MedicationRequest", "id": "m", "status": "active", "intent": "order",
             "subject": {"reference": "Patient/p"}, "authoredOn": "2026-08-01",
             "medicationCodeableConcept": {"text": drug}, "dispenseRequest": {"quantity": {"value": 90},
                                                                           "numberOfRepeatsAllowed": 2},
             "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                                    "doseAndRate": [{"doseQuantity": {"value": 1}}]}]}
    dispense = {"resourceType": "MedicationDispense", "id": "d1", "status": "completed",
                "subject": {"reference": "Patient/p"}, "authorizingPrescription": [{"reference": "MedicationRequest/m"}],
                "quantity": {"value": 90}, "daysSupply": {"value": 90, "unit": "days", "code": "d"},
                "whenHandedOver": (NOW - timedelta(days=days_since_fill)).isoformat()}
    f = tmp_path / "in.ndjson"
    f.write_text("".join(json.dumps(r) + "\n" for r in ({"resourceType": "Patient", "id": "p"}, order, dispense)))
    import_paths(db, settings, [f], NOW)
    job = settings.jobs["refill_check"]
    try:
        return get_handler(job.job_type)(JobContext(db=db, settings=settings, job_name="refill_check", job=job,
                                                    now=NOW))
    finally:
        db.close()


@pytest.mark.parametrize("drug, days, due", [
    ("ALPRAZolam 0.5 MG Oral Tablet", 68, 0),          # C-IV at 75.6%: not yet
    ("ALPRAZolam 0.5 MG Oral Tablet", 77, 1),          # at 85.6%: due
    ("Lisinopril 10 MG Oral Tablet", 68, 1),           # not controlled: due at 75.6%
    ("Acetaminophen 300 MG / Codeine Phosphate 30 MG Oral Tablet", 68, 0),   # a combination's controlled part
])
def test_a_controlled_substances_refill_is_due_at_its_own_share(tmp_path, drug, days, due):
    summary = refill_check_after(tmp_path, drug, days)
    assert (summary["orders_checked"], summary["refill_due"]) == (1, due), summary
    assert summary["controlled"] == int("Lisinopril" not in drug)


def test_a_clinic_schedules_what_its_state_does(tmp_path):
    assert refill_check_after(tmp_path, "Gabapentin 300 MG Oral Capsule", 68)["refill_due"] == 1
    (tmp_path / "state").mkdir()
    summary = refill_check_after(tmp_path / "state", "Gabapentin 300 MG Oral Capsule", 68,
                                 controlled_substances={"gabapentin": "V"})
    assert (summary["refill_due"], summary["controlled"]) == (0, 1)


def test_the_most_restricted_schedule_of_an_orders_ingredients_counts():
    assert controlled_schedule(ingredients_from_rxnorm_text("Zolpidem Tartrate 10 MG Oral Tablet")) == "IV"
    assert controlled_schedule(["pregabalin", "oxycodone"]) == "II"
    assert controlled_schedule(["lisinopril"]) is None
    assert controlled_schedule(["Gabapentin"], {"gabapentin": "V"}) == "V"

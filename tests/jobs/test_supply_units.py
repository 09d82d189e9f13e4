"""A supply quantity whose unit cannot be counted in the dose's (60 tablets against a 10 mg dose: the tablet's
strength is unknown here) is not divided by the dose: the import says so and supply uses the stated days supply
(DOMAIN.md "Supply and refills": daily usage = dose quantity x doses per day, in one unit). Found by a clinical
reviewer: 60 / (10 x 2) = 3 "days" made a fill of the day before critical."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from medjobs_tui.clinical.supply import countable_in, unit_kind
from medjobs_tui.config import load_settings
from medjobs_tui.fhir import import_paths
from medjobs_tui.jobs import get_handler
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.store import connect
from tests.conftest import STORE_KEY, write_config

NOW = datetime(2026, 11, 29, 12, 55, tzinfo=timezone.utc)


def supply_after_fill(tmp_path, dose_unit: str, dispensed_unit: str, stated_days: int | None) -> tuple[dict, list]:
    settings = load_settings(write_config(tmp_path))
    settings.database_path.parent.mkdir(parents=True, exist_ok=True)
    db = connect(settings.database_path, STORE_KEY)
    order = {"resourceType": "MedicationRequest", "id": "m", "status": "active", "intent": "order",
             "subject": {"reference": "Patient/p"}, "authoredOn": "2026-11-01",
             "medicationCodeableConcept": {"text": "Metoprolol Tartrate 10 MG Oral Tablet"},
             "dispenseRequest": {"quantity": {"value": 60, "unit": dispensed_unit}},
             "dosageInstruction": [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                                    "doseAndRate": [{"doseQuantity": {"value": 10 if dose_unit == "mg" else 1,
                                                                      "unit": dose_unit}}]}]}
    dispense = {"resourceType": "MedicationDispense", "id": "d1", "status": "completed",
                "subject": {"reference": "Patient/p"}, "authorizingPrescription": [{"reference": "MedicationRequest/m"}],
                "quantity": {"value": 60, "unit": dispensed_unit},
                "whenHandedOver": (NOW - timedelta(days=1)).isoformat(),
                **({"daysSupply": {"value": stated_days, "unit": "days", "code": "d"}} if stated_days else {})}
    f = tmp_path / "in.ndjson"
    f.write_text("".join(json.dumps(r) + "\n" for r in ({"resourceType": "Patient", "id": "p"}, order, dispense)))
    report = import_paths(db, settings, [f], NOW)
    job = settings.jobs["supply_monitor"]
    get_handler(job.job_type)(JobContext(db=db, settings=settings, job_name="supply_monitor", job=job, now=NOW))
    row = dict(zip(("days_remaining", "status"), db.execute(
        "SELECT days_remaining, status FROM supply_status ORDER BY rowid DESC LIMIT 1").fetchone()))
    db.close()
    return row, [w.reason for w in report.warnings]


def test_tablets_against_a_dose_in_mg_use_the_stated_days_supply(tmp_path):
    row, warnings = supply_after_fill(tmp_path, "mg", "TAB", 30)
    assert row == {"days_remaining": 29, "status": "ok"}                  # 30 stated days, one gone
    assert len([w for w in warnings if "in each while the dose is in mg: not counted in doses" in w]) == 2  # order, fill


def test_without_a_stated_days_supply_the_supply_is_unknown_not_critical(tmp_path):
    row, _ = supply_after_fill(tmp_path, "mg", "TAB", None)
    assert row["status"] == "unknown"


def test_tablets_against_a_dose_in_tablets_are_counted(tmp_path):
    row, warnings = supply_after_fill(tmp_path, "tablet", "TAB", None)
    assert row == {"days_remaining": 29, "status": "ok"} and not [w for w in warnings if "not counted" in w]


@pytest.mark.parametrize("dose, supply, countable", [
    ("mg", "TAB", False), ("mg", "mL", False), ("U", "mL", False), ("tablet", "{tbl}", True), ("mg", "g", False),
    ("mg", "milligrams", True), ("mL", "mL", True), (None, "TAB", True), ("mg", "widget", True),  # unknown: no claim
    ("mg", "tube", False), ("puff", "inhaler", False), ("mEq", "tablet", False), ("{puff}", "actuat", True),
])
def test_which_units_can_be_counted_in_which(dose, supply, countable):
    assert countable_in(dose, supply) is countable
    assert unit_kind("MG") == "mass" and unit_kind("tube") == "container" and unit_kind("widget") is None


def test_a_quantity_is_read_by_its_ucum_code_when_its_text_is_not_a_unit_known_here():
    """Found by a reviewer: {unit: "tablet(s) of 5", code: "TAB"} was read by its text, unknown, so divided by mg."""
    from medjobs_tui.clinical.supply import supply_unit

    assert supply_unit({"value": 60, "unit": "tablets of the blue kind", "code": "TAB"}) == "TAB"
    assert supply_unit({"value": 60, "unit": "mL", "code": "mL"}) == "mL"
    assert supply_unit({"value": 60, "unit": "scoops"}) == "scoops" and supply_unit({"value": 1}) is None

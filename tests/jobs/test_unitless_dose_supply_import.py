"""An imported supply quantity for an order whose dose has no unit (every Synthea order: ``doseQuantity
{"value": 1.0}``) counts doses only when it is in tablets, capsules, each... (or has no unit) of a product counted
one each: 500 mg of a 10 MG tablet is not 500 doses, nor 480 mL of a solution 480 doses, nor 2 bottles 2 doses. Such
a quantity is not divided: supply uses the stated days supply (unknown without one), with an import warning that
names the record by file, line and JSON path only. Found by reviewers of the import after the same rule was given to
staff counts (``clinical.supply.unitless_dose_refused``). DOMAIN.md "Supply and refills"."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from medjobs_tui.clinical.supply import counted_in_doses, not_counted_in_doses
from medjobs_tui.config import load_settings
from medjobs_tui.fhir import import_paths
from medjobs_tui.jobs import get_handler
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.jobs.supply_monitor import fitting_counts
from medjobs_tui.store import connect
from tests.conftest import STORE_KEY, write_config

NOW = datetime(2026, 11, 29, 12, 55, tzinfo=timezone.utc)
TABLET = "Metoprolol Tartrate 10 MG Oral Tablet"
SOLUTION = "Nizatidine 15 MG/ML Oral Solution"
SECRET = "123-45-6789"


def _order(text: str, request_quantity: dict | None) -> dict:
    return {"resourceType": "MedicationRequest", "id": "m", "status": "active", "intent": "order",
            "subject": {"reference": "Patient/p"}, "authoredOn": "2026-11-01",
            "medicationCodeableConcept": {"text": text},
            **({"dispenseRequest": {"quantity": request_quantity}} if request_quantity else {}),
            "dosageInstruction": [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                                   "doseAndRate": [{"doseQuantity": {"value": 1.0}}]}]}   # Synthea: no unit


def _dispense(quantity: dict, stated_days: int | None) -> dict:
    return {"resourceType": "MedicationDispense", "id": "d1", "status": "completed",
            "subject": {"reference": "Patient/p"}, "authorizingPrescription": [{"reference": "MedicationRequest/m"}],
            "quantity": quantity, "whenHandedOver": (NOW - timedelta(days=1)).isoformat(),
            **({"daysSupply": {"value": stated_days, "unit": "days", "code": "d"}} if stated_days else {})}


def _import_and_monitor(tmp_path, resources: list[list[dict]]) -> tuple[dict, list[str], dict]:
    """Import each list of ``resources`` in turn (one import each), run the supply monitor; return the order's
    supply_status row, every import warning and the stored quantities."""
    settings = load_settings(write_config(tmp_path))
    settings.database_path.parent.mkdir(parents=True, exist_ok=True)
    db = connect(settings.database_path, STORE_KEY)
    warnings: list[str] = []
    for i, batch in enumerate(resources):
        f = tmp_path / f"in{i}.ndjson"
        f.write_text("".join(json.dumps(r) + "\n" for r in batch))
        warnings += [str(w) for w in import_paths(db, settings, [f], NOW).warnings]
    job = settings.jobs["supply_monitor"]
    get_handler(job.job_type)(JobContext(db=db, settings=settings, job_name="supply_monitor", job=job, now=NOW))
    row = dict(zip(("days_remaining", "status"), db.execute(
        "SELECT days_remaining, status FROM supply_status ORDER BY rowid DESC LIMIT 1").fetchone()))
    stored = {"dispensed": db.execute("SELECT quantity FROM dispenses").fetchone()[0],
              "requested": db.execute("SELECT dispense_quantity FROM medication_requests").fetchone()[0]}
    db.close()
    return row, warnings, stored


PATIENT = {"resourceType": "Patient", "id": "p"}


@pytest.mark.parametrize("quantity", [{"value": 60}, {"value": 60, "unit": "TAB"},
                                      {"value": 60, "unit": "tablets", "code": "{tbl}"}])
def test_tablets_or_no_unit_of_a_tablet_count_as_doses_of_an_order_with_no_dose_unit(tmp_path, quantity):
    row, warnings, stored = _import_and_monitor(tmp_path, [[PATIENT, _order(TABLET, quantity), _dispense(quantity, None)]])
    assert row == {"days_remaining": 29, "status": "ok"}                 # 60 at 2 a day = 30 days, one gone
    assert stored == {"dispensed": 60, "requested": 60} and not [w for w in warnings if "not counted" in w]


@pytest.mark.parametrize("quantity", [{"value": 500, "unit": "mg"}, {"value": 480, "unit": "mL", "code": "mL"},
                                      {"value": 2, "unit": "bottle"}, {"value": 1, "unit": "package"},
                                      {"value": 60, "unit": SECRET}])
def test_mass_volume_container_or_unknown_unit_is_not_divided_for_an_order_with_no_dose_unit(tmp_path, quantity):
    row, warnings, stored = _import_and_monitor(
        tmp_path, [[PATIENT, _order(TABLET, quantity), _dispense(quantity, 30)]])
    assert row == {"days_remaining": 29, "status": "ok"}                 # the stated 30 days, not 500 / 2 = 250
    assert stored == {"dispensed": None, "requested": None}
    named = [w for w in warnings if "order's dose has no unit MedJobs knows" in w and "not counted in doses" in w]
    assert len(named) == 2                                               # the order's request and the dispense
    assert any("dispenseRequest.quantity" in w for w in named) and any("MedicationDispense quantity" in w for w in named)
    assert all(SECRET not in w and "6789" not in w and TABLET not in w for w in warnings)


def test_without_a_stated_days_supply_such_a_quantity_leaves_supply_unknown_not_critical(tmp_path):
    row, _, _ = _import_and_monitor(tmp_path, [[PATIENT, _order(TABLET, None), _dispense({"value": 500, "unit": "mg"}, None)]])
    assert row["status"] == "unknown" and row["days_remaining"] is None


def test_a_unitless_quantity_of_a_liquid_is_not_doses_of_a_unitless_dose(tmp_path):
    row, warnings, stored = _import_and_monitor(
        tmp_path, [[PATIENT, _order(SOLUTION, {"value": 480}), _dispense({"value": 480}, None)]])
    assert row["status"] == "unknown" and stored == {"dispensed": None, "requested": None}
    assert len([w for w in warnings if "not one counted one each" in w]) == 2
    assert all(SOLUTION not in w for w in warnings)


def test_a_dispense_imported_later_against_a_stored_order_follows_the_same_rule(tmp_path):
    """The order is in the store from an earlier import: its medication text is read from there."""
    row, warnings, stored = _import_and_monitor(
        tmp_path, [[PATIENT, _order(TABLET, None)], [_dispense({"value": 500, "unit": "mg"}, 30)]])
    assert stored["dispensed"] is None and row == {"days_remaining": 29, "status": "ok"}
    assert len([w for w in warnings if "not counted in doses" in w]) == 1


@pytest.mark.parametrize("dose, supply, text, counted", [
    (None, None, TABLET, True), (None, "TAB", TABLET, True), (None, "each", TABLET, True),
    (None, "mg", TABLET, False), (None, "mL", TABLET, False), (None, "bottle", TABLET, False),
    (None, "widget", TABLET, False), (None, None, SOLUTION, False), (None, "tablet", SOLUTION, False),
    (None, None, "Camila 28 Day Pack", False), (None, None, None, False),
    ("{scoop}", "{scoop}", SOLUTION, True), ("{scoop}", "mg", TABLET, False),     # unknown dose unit: its own only
    ("mg", "mg", SOLUTION, True), ("tablet", "TAB", None, True), ("mg", "TAB", TABLET, False),  # known: countable_in
])
def test_which_supply_quantities_count_as_doses(dose, supply, text, counted):
    assert counted_in_doses(dose, supply, text) is counted
    if not counted:
        words = not_counted_in_doses(dose, supply, text)
        assert "not counted in doses" in words and "widget" not in words and "scoop" not in words


def test_a_count_in_mg_kept_for_an_order_with_no_dose_unit_is_not_read_as_doses():
    """A staff count kept before such counts were refused: the supply jobs leave it out (``counts_ignored``)."""
    orders = [{"id": 1, "dose_unit": None, "medication_text": TABLET},
              {"id": 2, "dose_unit": None, "medication_text": TABLET}]
    counts = {1: {"unit": "mg", "quantity": 500}, 2: {"unit": "each", "quantity": 30}}
    kept, ignored = fitting_counts(counts, orders, "supply_monitor")
    assert set(kept) == {2} and ignored == 1

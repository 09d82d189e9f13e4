"""Days of supply are reckoned up to MAX_SUPPLY_DAYS (3,650 days) at most: a figure at that cap says only that the
supply lasts at least that long, so wherever it is shown to people it reads "more than 10 years", never 3650.
Found by a reviewer of the bound (issue: an imported daysSupply of 1e9 showed as 3650 days remaining)."""

from __future__ import annotations

import re

import yaml

from medjobs_tui.clinical.supply import MAX_SUPPLY_DAYS, MAX_SUPPLY_WORDS, shown_days
from medjobs_tui.console import Actor, Console
from medjobs_tui.clock import FixedClock, iso
from medjobs_tui.store import clinical as store
from medjobs_tui.store import transaction
from tests.jobs.conftest import NOW


def test_a_capped_figure_is_shown_in_words_and_every_other_in_whole_days():
    assert shown_days(MAX_SUPPLY_DAYS) == shown_days(MAX_SUPPLY_DAYS + 0.5) == shown_days(1e300) == MAX_SUPPLY_WORDS
    assert MAX_SUPPLY_WORDS == "more than 10 years"
    assert shown_days(MAX_SUPPLY_DAYS - 1) == 3649 and shown_days(29.9) == 29 and shown_days(0) == 0
    assert shown_days(None) is None and shown_days(float("nan")) is None


def test_the_validation_report_shows_a_capped_days_remaining_as_more_than_10_years(clinic):
    order, patient = clinic.db.execute(
        "SELECT mr.id, mr.patient_id FROM medication_requests mr JOIN patients p ON p.id = mr.patient_id"
        " WHERE p.deceased = 0 AND mr.status = 'active' AND mr.schedule_status = 'prn' ORDER BY mr.id").fetchone()
    with transaction(clinic.db):   # an as-needed order: its days come from the dispense's stated days supply
        store.insert_dispense(clinic.db, medication_request_id=order, patient_id=patient, quantity=30.0,
                              days_supply=1e9, handed_over_at=iso(NOW), created_at=iso(NOW))
    clinic.run("supply_monitor")
    row = clinic.rows("SELECT days_remaining FROM supply_status WHERE medication_request_id = ?", [order])[0]
    assert row["days_remaining"] == MAX_SUPPLY_DAYS                      # stored as the bound...
    with transaction(clinic.db):                                          # ...and among the report's 20 rows
        clinic.db.execute("DELETE FROM supply_status WHERE medication_request_id != ?", [order])
    text = Console(clinic.settings, clock=FixedClock(NOW)).validation_report(Actor("rev", "reviewer"))
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    [supply] = [b["supply_monitor"] for b in blocks if "supply_monitor" in b]
    assert supply["medication_id"] == f"order-{order}" and supply["days_remaining"] == "more than 10 years"
    assert "3650" not in text

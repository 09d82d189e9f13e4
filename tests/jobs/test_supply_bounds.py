"""Stored supply quantities far beyond any real supply (a mistyped staff count of millions of tablets, an
imported dispense of 1e12) never make the supply monitor or the refill check fail: days of supply are bounded
(``clinical.supply.MAX_SUPPLY_DAYS``), and an order whose assessment still fails is reported by number in the
run's summary while every other order is assessed. Found by a reviewer: one count of 6,000,000 tablets made both
jobs raise (``date.fromordinal``: year out of range) for every patient."""

from __future__ import annotations

from datetime import timedelta

import pytest

from medjobs_tui.clinical.supply import MAX_SUPPLY_DAYS, RateUsage, days_supply, effective_days_supply
from medjobs_tui.store import clinical as store
from medjobs_tui.store import transaction
from tests.jobs.conftest import NOW

HUGE = [6e6, 1e12, 1e300]


def _scheduled_order(clinic) -> int:
    return clinic.scalar("SELECT id FROM medication_requests WHERE status = 'active' AND schedule_status = 'scheduled'"
                         " AND dose_quantity > 0 ORDER BY id LIMIT 1")


@pytest.mark.parametrize("quantity", HUGE)
@pytest.mark.parametrize("job", ["supply_monitor", "refill_check"])
def test_a_huge_stored_count_does_not_fail_the_job(clinic, job, quantity):
    order = _scheduled_order(clinic)
    with transaction(clinic.db):
        store.insert_supply_count(clinic.db, medication_request_id=order, quantity=quantity,
                                  counted_at=(NOW - timedelta(days=1)).isoformat(), source="staff")
    summary = clinic.run(job)
    assert summary["orders_checked"] > 1
    assert summary.get("orders_failed", 0) == 0
    if job == "supply_monitor":
        row = clinic.rows("SELECT days_remaining, status FROM supply_status WHERE medication_request_id = ?", [order])[0]
        assert row["status"] == "ok" and 0 < row["days_remaining"] <= MAX_SUPPLY_DAYS


@pytest.mark.parametrize("quantity", HUGE)
@pytest.mark.parametrize("job", ["supply_monitor", "refill_check"])
def test_a_huge_imported_dispense_does_not_fail_the_job(clinic, job, quantity):
    order = _scheduled_order(clinic)
    patient = clinic.scalar("SELECT patient_id FROM medication_requests WHERE id = ?", [order])
    with transaction(clinic.db):
        clinic.db.execute("DELETE FROM supply_counts WHERE medication_request_id = ?", [order])
        store.insert_dispense(clinic.db, medication_request_id=order, patient_id=patient, quantity=quantity,
                              days_supply=quantity, handed_over_at=(NOW - timedelta(days=2)).isoformat(),
                              created_at=NOW.isoformat())
    summary = clinic.run(job)
    assert summary["orders_checked"] > 1 and summary.get("orders_failed", 0) == 0


@pytest.mark.parametrize("quantity", HUGE)
def test_days_supply_is_bounded(quantity):
    assert days_supply(quantity, 1.0) == MAX_SUPPLY_DAYS
    assert effective_days_supply(quantity, None) == MAX_SUPPLY_DAYS
    assert RateUsage(2.0).run_out(NOW, quantity) == NOW + timedelta(days=MAX_SUPPLY_DAYS)


@pytest.mark.parametrize("job", ["supply_monitor", "refill_check"])
def test_an_order_whose_assessment_fails_is_named_and_the_others_are_assessed(clinic, job, monkeypatch):
    from medjobs_tui.jobs import refill_check, supply_monitor

    order = _scheduled_order(clinic)
    real = supply_monitor.assess_order

    def assess(o, *args, **kwargs):
        if o["id"] == order:
            raise OverflowError("date value out of range")
        return real(o, *args, **kwargs)

    monkeypatch.setattr(supply_monitor, "assess_order", assess)
    monkeypatch.setattr(refill_check, "assess_order", assess)
    summary = clinic.run(job)
    assert summary["orders_failed"] == 1 and summary["failed_orders"] == [order]
    assert summary["orders_checked"] > 1

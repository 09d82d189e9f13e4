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


# ---- an as-needed order counted empty is out of supply (review 2 item 6) ----------------------------------------

def _prn_order(clinic) -> tuple[int, int]:
    with transaction(clinic.db):
        oid = store.insert_medication_request(
            clinic.db, patient_id=clinic.scalar("SELECT min(id) FROM patients WHERE deceased = 0"), status="active",
            medication_text="Ibuprofen 400 MG Oral Tablet", ingredients=["ibuprofen"], schedule_status="prn",
            times_of_day=[], dose_quantity=1.0, dose_unit="tablet", created_at="2026-01-01T00:00:00+00:00",
            updated_at="2026-01-01T00:00:00+00:00")
    return oid, clinic.scalar("SELECT patient_id FROM medication_requests WHERE id = ?", [oid])


def test_a_prn_order_counted_empty_is_critical_and_staff_are_told(clinic):
    oid, _ = _prn_order(clinic)
    with transaction(clinic.db):
        store.insert_supply_count(clinic.db, medication_request_id=oid, quantity=0, counted_at=NOW.isoformat(),
                                  unit="each")
    clinic.run("supply_monitor")
    row = clinic.rows("SELECT days_remaining, status FROM supply_status WHERE medication_request_id = ?", [oid])[0]
    assert row == {"days_remaining": 0, "status": "critical"}
    assert clinic.scalar("SELECT count(*) FROM notifications WHERE kind = 'supply_critical' AND "
                         "medication_request_id = ?", [oid]) == 1
    assert clinic.scalar("SELECT count(*) FROM alerts WHERE kind = 'supply_critical' AND scope LIKE ?",
                         [f"order {oid} %"]) == 1


def test_a_prn_order_counted_empty_then_dispensed_or_counted_above_zero_is_not_critical(clinic):
    oid, patient = _prn_order(clinic)
    with transaction(clinic.db):
        store.insert_supply_count(clinic.db, medication_request_id=oid, quantity=0,
                                  counted_at=(NOW - timedelta(days=3)).isoformat(), unit="each")
        store.insert_dispense(clinic.db, medication_request_id=oid, patient_id=patient, quantity=30, days_supply=None,
                              handed_over_at=(NOW - timedelta(days=1)).isoformat(), created_at=NOW.isoformat())
    clinic.run("supply_monitor")
    assert clinic.scalar("SELECT status FROM supply_status WHERE medication_request_id = ?", [oid]) == "unknown"


# ---- a count whose unit no longer fits its order is not read (review 2 item 7) ------------------------------------

@pytest.mark.parametrize("job", ["supply_monitor", "refill_check"])
def test_a_count_in_a_unit_that_no_longer_fits_the_order_is_ignored_and_counted(clinic, job, caplog):
    order = _scheduled_order(clinic)
    with transaction(clinic.db):
        clinic.db.execute("DELETE FROM supply_counts")
        clinic.db.execute("UPDATE medication_requests SET dose_unit = 'mg' WHERE id = ?", [order])   # re-imported
        store.insert_supply_count(clinic.db, medication_request_id=order, quantity=0, unit="each",
                                  counted_at=(NOW - timedelta(hours=1)).isoformat())
    summary = clinic.run(job)
    assert summary["counts_ignored"] == 1
    assert "1 supply count(s) ignored" in caplog.text and "P-0" not in caplog.text
    if job == "supply_monitor":     # 0 tablets read as 0 mg would be critical: the count is not read
        assert clinic.scalar("SELECT status FROM supply_status WHERE medication_request_id = ?", [order]) != "critical"

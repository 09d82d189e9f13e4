"""supply_monitor on the demo clinic: days remaining, unknown supply, thresholds, mismatches, notices."""

from __future__ import annotations

import math

from datetime import datetime, timedelta

from medjobs_tui.clock import iso
from medjobs_tui.store import clinical as store
from medjobs_tui.store.db import transaction
from tests.jobs.conftest import NOW


def _status(clinic, order_id):
    rows = clinic.rows("SELECT * FROM supply_status WHERE medication_request_id = ?", [order_id])
    return rows[0] if rows else None


def _living_patient(clinic):
    return clinic.rows("SELECT id FROM patients WHERE deceased = 0 ORDER BY id LIMIT 1")[0]["id"]


def _add_order(clinic, **fields):
    base = dict(patient_id=_living_patient(clinic), status="active", medication_text="Test 1 MG Oral Solution",
                ingredients=["test"], schedule_status="scheduled", timing_code="BID", times_of_day=["08:00", "20:00"],
                doses_per_day=2.0, dose_quantity=1.0, created_at=iso(NOW), updated_at=iso(NOW))
    base.update(fields)
    with transaction(clinic.db):
        return store.insert_medication_request(clinic.db, **base)


def test_thirty_units_at_two_a_day_gives_fifteen_days(clinic):
    order_id = clinic.report.counted_30_bid_order
    assert order_id is not None
    clinic.run("supply_monitor")
    row = _status(clinic, order_id)
    assert row["daily_usage"] == 2.0 and row["current_supply"] == 30.0
    assert row["days_remaining"] == 15 and row["status"] == "ok"


def test_order_without_supply_data_stays_unknown_never_critical(clinic):
    summary = clinic.run("supply_monitor")
    unknown = clinic.rows(
        "SELECT s.* FROM supply_status s WHERE s.medication_request_id NOT IN"
        " (SELECT medication_request_id FROM dispenses) AND s.medication_request_id NOT IN"
        " (SELECT medication_request_id FROM supply_counts)")
    assert unknown and summary["unknown"] >= len(unknown)
    for row in unknown:
        assert row["status"] == "unknown"
        assert row["days_remaining"] is None and row["current_supply"] is None
    assert clinic.scalar("SELECT count(*) FROM notifications n JOIN supply_status s"
                         " ON s.medication_request_id = n.medication_request_id"
                         " WHERE n.kind = 'supply_critical' AND s.status = 'unknown'") == 0


def test_prn_order_supply_comes_from_its_last_dispense_never_a_guessed_rate(clinic):
    summary = clinic.run("supply_monitor")
    rows = clinic.rows(
        "SELECT s.status, s.daily_usage, s.days_remaining, s.current_supply,"
        " (SELECT d.days_supply FROM dispenses d WHERE d.medication_request_id = mr.id"
        "  ORDER BY d.handed_over_at DESC, d.id DESC LIMIT 1) AS stated,"
        " (SELECT d.handed_over_at FROM dispenses d WHERE d.medication_request_id = mr.id"
        "  ORDER BY d.handed_over_at DESC, d.id DESC LIMIT 1) AS handed"
        " FROM supply_status s JOIN medication_requests mr ON mr.id = s.medication_request_id"
        " WHERE mr.schedule_status = 'prn' AND mr.id IN (SELECT medication_request_id FROM dispenses)")
    assert rows and all(r["daily_usage"] is None and r["current_supply"] is None for r in rows)
    for r in rows:
        # days remaining = floor(stated days supply - days since the dispense), at least 0
        elapsed = (NOW - datetime.fromisoformat(r["handed"])).total_seconds() / 86400
        want = None if r["stated"] is None else max(0, math.floor(r["stated"] - elapsed))
        assert r["days_remaining"] == want
    assert summary["from_dispense_history"] == sum(1 for r in rows if r["stated"] is not None)


def test_key_figures_add_up(clinic):
    s = clinic.run("supply_monitor")
    assert s["orders_checked"] == s["critical"] + s["low"] + s["ok"] + s["unknown"]
    assert list(s)[:5] == ["orders_checked", "critical", "low", "ok", "unknown"]  # the CLI shows the first 5


def test_statuses_follow_the_clinic_thresholds(clinic):
    summary = clinic.run("supply_monitor")
    assert summary["critical"] >= 2 and summary["low"] >= 3 and summary["ok"] > 0
    covered = 0
    for row in clinic.rows("SELECT s.days_remaining, s.status, mr.bounds_end FROM supply_status s"
                           " JOIN medication_requests mr ON mr.id = s.medication_request_id"
                           " WHERE s.days_remaining IS NOT NULL"):
        expected = "critical" if row["days_remaining"] <= 3 else "low" if row["days_remaining"] <= 7 else "ok"
        # a short (acute) course whose supply lasts to its end needs no refill: ok, whatever the days left
        if row["bounds_end"] and datetime.fromisoformat(row["bounds_end"]) <= NOW + timedelta(
                days=row["days_remaining"] + 1):
            covered += expected != "ok"
            expected = "ok"
        assert row["status"] == expected
    assert 1 <= covered <= summary["covers_course"]


def test_critical_order_notifies_staff_once_per_day(clinic):
    first = clinic.run("supply_monitor")
    assert first["notices_queued"] == first["critical"] > 0
    again = clinic.run("supply_monitor", now=NOW + timedelta(hours=1))
    assert again["notices_queued"] == 0 and again["notices_already_sent"] == again["critical"]
    rows = clinic.rows("SELECT audience, idempotency_key, message FROM notifications WHERE kind = 'supply_critical'")
    assert {r["audience"] for r in rows} == {"staff"}
    assert all(r["idempotency_key"].endswith(":2026-11-29") for r in rows)
    next_day = clinic.run("supply_monitor", now=NOW + timedelta(days=1))
    assert next_day["notices_queued"] == next_day["critical"] > 0


def test_job_option_overrides_the_critical_threshold(clinic):
    default = clinic.run("supply_monitor")
    wider = clinic.run("supply_monitor", critical_supply_days=7)
    assert wider["critical_supply_days"] == 7
    assert wider["critical"] == default["critical"] + default["low"]
    assert wider["low"] == 0


def test_orders_of_deceased_patients_are_skipped(clinic):
    summary = clinic.run("supply_monitor")
    assert summary["deceased_skipped"] > 0
    assert clinic.scalar("SELECT count(*) FROM supply_status s JOIN patients p ON p.id = s.patient_id"
                         " WHERE p.deceased = 1") == 0


def test_stated_and_computed_days_supply_mismatch_is_flagged_and_smaller_used(clinic):
    baseline = clinic.run("supply_monitor")["mismatches"]
    # US Core shape: 480 mL per fill stated as 30 days, 10 mL twice a day -> 24 days; filled 10 days ago
    order_id = _add_order(clinic, dose_quantity=10.0, dose_unit="mL", dispense_quantity=480.0,
                          expected_supply_days=30.0, repeats_allowed=2)
    with transaction(clinic.db):
        store.insert_dispense(clinic.db, medication_request_id=order_id, patient_id=_living_patient(clinic),
                              quantity=480.0, days_supply=30.0, handed_over_at=iso(NOW - timedelta(days=10)),
                              created_at=iso(NOW))
    summary = clinic.run("supply_monitor")
    assert summary["mismatches"] == baseline + 1
    row = _status(clinic, order_id)
    assert row["days_remaining"] == 14 and row["current_supply"] == 280.0    # 24 - 10 days, not 30 - 10


def test_stopped_order_loses_its_supply_row(clinic):
    clinic.run("supply_monitor")
    order_id = clinic.report.counted_30_bid_order
    with transaction(clinic.db):
        clinic.db.execute("UPDATE medication_requests SET status = 'stopped' WHERE id = ?", [order_id])
    summary = clinic.run("supply_monitor")
    assert summary["rows_pruned"] == 1 and _status(clinic, order_id) is None

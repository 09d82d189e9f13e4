"""analytics_rollup on the demo clinic: the day before now, adherence from the dose log, PDC, re-runs replace."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from medjobs_tui.clock import iso
from tests.jobs.conftest import NOW
from medjobs_tui.store.clinical import analytics_day
from medjobs_tui.store.db import transaction

DAY = "2026-11-28"   # the clinic-local day before 2026-11-29 07:55 New York


def test_rollup_covers_the_clinic_day_before_now(clinic):
    summary = clinic.run("analytics_rollup")
    assert summary["day"] == DAY
    assert summary["orders"] > 0 and summary["doses_scheduled"] >= summary["orders"]
    assert 70 <= summary["adherence_pct"] <= 95          # the demo logs ~85 % of doses taken
    assert clinic.scalar("SELECT count(*) FROM analytics_adherence WHERE day = ?", [DAY]) == summary["orders"]


def test_order_adherence_is_taken_over_scheduled_from_the_dose_log(clinic):
    clinic.run("analytics_rollup")
    row = clinic.rows("SELECT a.*, mr.times_of_day, p.timezone FROM analytics_adherence a"
                      " JOIN medication_requests mr ON mr.id = a.medication_request_id"
                      " JOIN patients p ON p.id = a.patient_id WHERE a.day = ? AND mr.timing_code = 'BID'"
                      " ORDER BY a.medication_request_id LIMIT 1", [DAY])[0]
    zone = ZoneInfo(row["timezone"] or "America/New_York")
    instants = [iso(datetime.combine(date(2026, 11, 28), time(*map(int, t.split(":"))), tzinfo=zone)
                    .astimezone(timezone.utc)) for t in json.loads(row["times_of_day"])]
    taken = clinic.scalar(f"SELECT count(*) FROM dose_log WHERE medication_request_id = ? AND status = 'taken'"
                          f" AND dose_instant IN ({','.join('?' * len(instants))})",
                          [row["medication_request_id"], *instants])
    assert row["doses_scheduled"] == 2 and row["doses_taken"] == taken
    assert row["adherence_pct"] == round(100.0 * taken / 2, 1)


def test_pdc_is_computed_from_fills_where_available(clinic):
    summary = clinic.run("analytics_rollup")
    assert summary["pdc_orders"] > 0
    pdcs = [r["pdc_pct"] for r in analytics_day(clinic.db, DAY)["adherence"] if r["pdc_pct"] is not None]
    assert all(0 < p <= 100 for p in pdcs)
    # orders with fewer than two fills (PQA) have no PDC
    assert clinic.scalar(
        "SELECT count(*) FROM analytics_adherence a WHERE a.day = ? AND a.pdc_pct IS NOT NULL AND"
        " (SELECT count(*) FROM dispenses d WHERE d.medication_request_id = a.medication_request_id) < 2",
        [DAY]) == 0


def test_rerun_replaces_the_days_rows_with_recomputed_values(clinic):
    first = clinic.run("analytics_rollup")
    order_id = clinic.scalar("SELECT medication_request_id FROM analytics_adherence WHERE day = ? AND doses_taken > 0"
                             " ORDER BY medication_request_id LIMIT 1", [DAY])
    before = clinic.rows("SELECT * FROM analytics_adherence WHERE day = ? AND medication_request_id = ?",
                         [DAY, order_id])[0]
    start, end = "2026-11-28T05:00:00+00:00", "2026-11-29T05:00:00+00:00"
    with transaction(clinic.db):
        clinic.db.execute("UPDATE dose_log SET status = 'missed' WHERE medication_request_id = ? AND status = 'taken'"
                          " AND dose_instant >= ? AND dose_instant < ?", [order_id, start, end])
    again = clinic.run("analytics_rollup", run_id=5)
    assert again["orders"] == first["orders"]
    for table in ("analytics_adherence", "analytics_supply", "analytics_safety", "analytics_performance"):
        # every row of the day is the re-run's: the first run's rows were deleted, not left beside them
        assert clinic.scalar(f"SELECT count(*) FROM {table} WHERE day = ? AND run_id IS NOT 5", [DAY]) == 0
    assert clinic.scalar("SELECT count(*) FROM analytics_adherence WHERE day = ?", [DAY]) == first["orders"]
    after = clinic.rows("SELECT * FROM analytics_adherence WHERE day = ? AND medication_request_id = ?",
                        [DAY, order_id])[0]
    assert after["doses_taken"] == 0 < before["doses_taken"] and after["run_id"] == 5
    assert again["doses_taken"] == first["doses_taken"] - before["doses_taken"]


def test_supply_and_safety_are_rolled_up(clinic):
    clinic.run("supply_monitor")
    clinic.run("interaction_check", now=datetime(2026, 11, 28, 15, 0, tzinfo=timezone.utc))
    summary = clinic.run("analytics_rollup")
    assert summary["supply"]["critical"] > 0 and sum(summary["supply"].values()) > 0
    assert summary["safety"]["contraindicated"] == 3 == summary["safety_alerts"]
    assert analytics_day(clinic.db, DAY)["safety"]["contraindicated"] == 3


def test_performance_comes_from_the_runs_table(clinic):
    with transaction(clinic.db):
        for i, (status, duration) in enumerate([("succeeded", 1.0), ("succeeded", 2.0), ("failed", 9.0)]
                                               + [("succeeded", 0.5)] * 17):
            at = iso(datetime(2026, 11, 28, 14, 0, tzinfo=timezone.utc) + timedelta(minutes=i))
            clinic.db.execute(
                "INSERT INTO runs (job_name, job_type, queue, priority, status, attempt, max_attempts, trigger,"
                " scheduled_at, available_at, started_at, finished_at, duration_s, created_by, created_at)"
                " VALUES ('medication_reminder', 'medication_reminder', 'clinical', 2, ?, 1, 3, 'schedule',"
                " ?, ?, ?, ?, ?, 'test', ?)", [status, at, at, at, at, duration, at])
    summary = clinic.run("analytics_rollup")
    perf = analytics_day(clinic.db, DAY)["performance"]
    assert summary["runs"] == 20 and summary["runs_succeeded"] == 19
    assert perf == [{"job_name": "medication_reminder", "runs": 20, "succeeded": 19, "success_rate": 95.0,
                     "p95_duration_s": 2.0}]


def test_day_option_overrides_the_default_day(clinic):
    summary = clinic.run("analytics_rollup", day="2026-11-20")
    assert summary["day"] == "2026-11-20" and summary["orders"] > 0
    assert clinic.scalar("SELECT count(*) FROM analytics_supply WHERE day = '2026-11-20'") == 1


def test_doses_before_the_order_entered_the_store_are_not_counted_as_scheduled(clinic):
    clinic.db.execute("UPDATE medication_requests SET created_at = ?", [iso(NOW)])
    summary = clinic.run("analytics_rollup")
    assert summary["doses_scheduled"] == 0 and summary["orders"] == 0


def test_pdc_is_pinned_to_a_hand_computed_value_when_the_index_date_is_not_the_window_start(clinic):
    """One tablet a day (QD); two fills of 30 tablets, stated 30 days, handed over at 10:00 New York.

    Day rolled up: 2026-11-28. The 90-day window starts 2026-08-31 (11-28 minus 89 days); the first fill,
    2026-09-30 (day - 59), is the index date, so the PQA period is 09-30..11-28 = 60 days (not 90).
    Fill 1 covers 09-30..10-29 (30 days); fill 2 on 11-03 covers 11-03..12-02, clipped to 11-28: 26 days.
    Covered 30 + 26 = 56 days; PDC = 56 / 60 x 100 = 93.333... -> 93.3 (with the window start it would be
    56 / 90 = 62.2). Source: PQA PDC (index date = first fill); DOMAIN.md "Adherence (PQA)".
    """
    from medjobs_tui.store import clinical as store

    ny = ZoneInfo("America/New_York")
    with transaction(clinic.db):
        patient = store.insert_patient(clinic.db, pseudonym="P-PDC01", source="demo", birth_year=1950,
                                       deceased=False, timezone=None, reminders_opt_out=False, created_at=iso(NOW))
        order = store.insert_medication_request(
            clinic.db, patient_id=patient, status="active", medication_text="Lisinopril 10 MG Oral Tablet",
            ingredients=["lisinopril"], schedule_status="scheduled", timing_code="QD", times_of_day=["09:00"],
            doses_per_day=1.0, dose_quantity=1.0, authored_on="2026-09-30T13:00:00+00:00",
            created_at="2026-09-30T13:00:00+00:00", updated_at=iso(NOW))
        for day in (date(2026, 9, 30), date(2026, 11, 3)):
            handed = datetime.combine(day, time(10, 0), tzinfo=ny).astimezone(timezone.utc)
            store.insert_dispense(clinic.db, medication_request_id=order, patient_id=patient, quantity=30.0,
                                  days_supply=30.0, handed_over_at=iso(handed), created_at=iso(NOW))
    clinic.run("analytics_rollup")
    row = clinic.rows("SELECT pdc_pct FROM analytics_adherence WHERE day = ? AND medication_request_id = ?",
                      [DAY, order])[0]
    assert row["pdc_pct"] == round(100 * 56 / 60, 1) == 93.3


def test_a_back_fill_of_days_writes_what_a_run_for_each_day_writes(clinic):
    # the reference: one run per day, oldest first
    days = ["2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27", "2026-11-28"]
    singles = [clinic.run("analytics_rollup", day=d) for d in days]
    table = "SELECT day, medication_request_id, patient_id, doses_scheduled, doses_taken, adherence_pct, pdc_pct" \
            " FROM analytics_adherence WHERE day >= ? ORDER BY day, medication_request_id"
    one_by_one = clinic.rows(table, [days[0]])
    with transaction(clinic.db):
        clinic.db.execute("DELETE FROM analytics_adherence")
    summary = clinic.run("analytics_rollup", days=5)          # ends with the default day, 2026-11-28
    assert clinic.rows(table, [days[0]]) == one_by_one and len(one_by_one) > 0
    assert clinic.scalar("SELECT count(DISTINCT day) FROM analytics_adherence") == 5
    assert summary["days_rolled_up"] == 5
    assert singles[-1]["days_rolled_up"] == 1
    assert {**summary, "days_rolled_up": 1} == singles[-1]


def test_a_back_fill_refuses_a_number_of_days_out_of_range(clinic):
    import pytest

    for bad in (0, -1, 4000, "a week"):
        with pytest.raises(ValueError, match="days"):
            clinic.run("analytics_rollup", days=bad)

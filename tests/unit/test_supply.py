"""Supply and refill rules (clinical/supply.py): units, days, unknowns, thresholds, refills, mismatches."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from medjobs_tui.clinical.supply import (
    Count,
    Fill,
    assess_supply,
    daily_usage,
    days_remaining,
    days_supply,
    effective_days_supply,
    refill_due,
    refills_left,
    supply_duration_mismatch,
    supply_status,
)

NOW = datetime(2026, 11, 29, 12, 55, tzinfo=timezone.utc)


def test_daily_usage_is_dose_quantity_times_doses_per_day():
    assert daily_usage(1, 2) == 2.0
    assert daily_usage(10, 2) == 20.0


def test_daily_usage_is_unknown_without_dose_quantity_or_schedule():
    assert daily_usage(None, 2) is None
    assert daily_usage(1, None) is None
    assert daily_usage(0, 2) is None


def test_thirty_units_at_two_a_day_last_fifteen_days():
    assert days_remaining(30, daily_usage(1, 2)) == 15


def test_days_remaining_rounds_down():
    assert days_remaining(31, 2) == 15
    assert days_remaining(1.9, 2) == 0


def test_no_supply_data_is_unknown_never_zero_nor_critical():
    assert days_remaining(None, 2) is None
    assert supply_status(None, critical_days=3, low_days=7) == "unknown"


def test_status_thresholds_are_inclusive():
    assert supply_status(0, 3, 7) == "critical"
    assert supply_status(3, 3, 7) == "critical"
    assert supply_status(4, 3, 7) == "low"
    assert supply_status(7, 3, 7) == "low"
    assert supply_status(8, 3, 7) == "ok"


def test_us_core_stated_30_days_vs_computed_24_is_a_mismatch_and_24_is_used():
    computed = days_supply(480, daily_usage(10, 2))
    assert computed == 24
    assert supply_duration_mismatch(30, computed)
    assert effective_days_supply(30, computed) == 24


def test_matching_durations_are_not_a_mismatch():
    assert not supply_duration_mismatch(30, days_supply(60, 2))
    assert not supply_duration_mismatch(None, 24)


def test_refill_due_when_days_remaining_within_lead_time():
    assert refill_due(7, lead_days=7)
    assert not refill_due(8, lead_days=7)


def test_refill_due_when_three_quarters_of_last_fill_elapsed():
    assert refill_due(20, lead_days=7, days_since_fill=22.5, fill_days_supply=30)
    assert not refill_due(20, lead_days=7, days_since_fill=22.4, fill_days_supply=30)
    assert refill_due(20, lead_days=7, days_since_fill=25.5, fill_days_supply=30, elapsed_fraction=0.85)


def test_unknown_supply_and_no_fill_is_never_due():
    assert not refill_due(None, lead_days=7)


def test_refills_left_counts_the_first_fill_apart_from_repeats():
    # 30 tablets + 3 repeats = 4 fills
    assert refills_left(3, fills_used=1) == 3
    assert refills_left(3, fills_used=4) == 0
    assert refills_left(3, fills_used=6) == 0
    assert refills_left(3, fills_used=0) == 4
    assert refills_left(None, fills_used=2) is None


def test_staff_count_adds_later_fills_and_subtracts_usage_since_count():
    count = Count(at=NOW - timedelta(days=5), quantity=20)
    fills = [Fill(at=NOW - timedelta(days=40), quantity=60, days_supply=30),
             Fill(at=NOW - timedelta(days=2), quantity=60, days_supply=30)]
    a = assess_supply(now=NOW, dose_quantity=1, doses_per_day=2, fills=fills, count=count)
    assert a.basis == "count"
    assert a.current_supply == 20 + 60 - 2 * 5
    assert a.days_remaining == 35
    assert a.fills_used == 2


def test_last_fill_basis_uses_smaller_of_stated_and_computed_days_supply():
    fills = [Fill(at=NOW - timedelta(days=10), quantity=480, days_supply=30)]
    a = assess_supply(now=NOW, dose_quantity=10, doses_per_day=2, fills=fills)
    assert a.mismatch
    assert a.fill_days_supply == 24
    assert a.days_remaining == 14          # (24 - 10) days, not (30 - 10)
    assert a.current_supply == 14 * 20


def test_supply_is_floored_at_zero_when_fill_long_used_up():
    fills = [Fill(at=NOW - timedelta(days=60), quantity=30, days_supply=30)]
    a = assess_supply(now=NOW, dose_quantity=1, doses_per_day=1, fills=fills)
    assert a.current_supply == 0 and a.days_remaining == 0


def test_no_count_and_no_fill_is_unknown():
    a = assess_supply(now=NOW, dose_quantity=1, doses_per_day=2)
    assert a.current_supply is None and a.days_remaining is None and a.basis is None


def test_prn_order_has_no_daily_usage_so_supply_stays_unknown():
    a = assess_supply(now=NOW, dose_quantity=2, doses_per_day=None,
                      fills=[Fill(at=NOW - timedelta(days=3), quantity=200, days_supply=30)])
    assert a.daily_usage is None and a.days_remaining is None

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
    renewal_needed,
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


def test_refills_left_is_repeats_allowed_minus_refills_used_the_first_fill_not_a_refill():
    # 30 tablets + 3 repeats = 4 fills; refills used = fills - 1 (0 before the first fill)
    assert refills_left(3, fills_used=0) == 3 - 0 == 3     # the first fill is still to come, then 3 refills
    assert refills_left(3, fills_used=1) == 3 - 0 == 3
    assert refills_left(3, fills_used=2) == 3 - 1 == 2
    assert refills_left(3, fills_used=4) == 3 - 3 == 0
    assert refills_left(3, fills_used=6) == 0              # floored
    assert refills_left(None, fills_used=2) is None


def test_renewal_needs_no_refills_left_after_the_first_fill():
    assert renewal_needed(0, fills_used=1)
    assert not renewal_needed(0, fills_used=0)             # the first fill is still authorised
    assert not renewal_needed(1, fills_used=1)
    assert not renewal_needed(None, fills_used=3)          # unknown repeats: we cannot claim it


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


def test_prn_order_supply_comes_from_the_dispensing_history_never_a_guessed_rate():
    # the dispense states 30 days; 3 days later 30 - 3 = 27 days remain; no rate is invented
    a = assess_supply(now=NOW, dose_quantity=2, doses_per_day=None,
                      fills=[Fill(at=NOW - timedelta(days=3), quantity=200, days_supply=30)])
    assert a.daily_usage is None and a.current_supply is None
    assert (a.basis, a.days_remaining) == ("fill_stated", 27)
    # no stated days supply: unknown
    a = assess_supply(now=NOW, dose_quantity=2, doses_per_day=None,
                      fills=[Fill(at=NOW - timedelta(days=3), quantity=200)])
    assert a.days_remaining is None and a.basis is None


# ------------------------------------------------------------------------------ planned use (dose plans)

from medjobs_tui.clinical.dosing import DosePlan, Step, local_to_utc  # noqa: E402
from medjobs_tui.clinical.supply import plan_usage  # noqa: E402
from datetime import date, time  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

NY = ZoneInfo("America/New_York")


def ny(y, mo, d, h=0, mi=0):
    return local_to_utc(date(y, mo, d), time(h, mi), NY)


def _taper() -> DosePlan:
    """Prednisone 4 tablets a day for 7 days, 2 for 7, 1 for 7, at 09:00, from 2026-11-02 (EST)."""
    starts = [ny(2026, 11, 2), ny(2026, 11, 9), ny(2026, 11, 16), ny(2026, 11, 23)]
    return DosePlan(tuple(Step(index=k, sequence=k, cadence="daily", times=("09:00",), start=starts[k],
                               end=starts[k + 1], dose=tabs, dose_unit="tablet")
                          for k, tabs in enumerate((4, 2, 1))))


def test_taper_days_supply_uses_the_planned_total():
    usage = plan_usage(_taper(), NY, ny(2026, 11, 2))
    assert usage.units(ny(2026, 11, 2), ny(2027, 1, 1)) == 7 * 4 + 7 * 2 + 7 * 1 == 49
    # 49 tablets cover the whole course: days supply = 11-02 00:00 to 11-23 00:00 = 21 days
    assert usage.days_supply(49, ny(2026, 11, 2)) == 21
    # 40 tablets: 28 in week 1, then 2 a day for 6 days (12) = 40; the 11-15 09:00 dose is not covered:
    # 13 days 9 hours = 13.375 days
    assert usage.days_supply(40, ny(2026, 11, 2)) == 13 + 9 / 24
    usage = plan_usage(_taper(), NY, ny(2026, 11, 12, 12))   # step 2 (2 a day) is in force on 11-12
    a = assess_supply(now=ny(2026, 11, 12, 12), usage=usage,
                      fills=[Fill(at=ny(2026, 11, 2), quantity=40)])
    # until 11-15 09:00 from 11-12 12:00 = 2 days 21 h -> 2 whole days; planned units left: 13th, 14th = 2 x 2
    assert (a.days_remaining, a.current_supply, a.daily_usage) == (2, 4, 2)
    full = assess_supply(now=ny(2026, 11, 12, 12), usage=usage, fills=[Fill(at=ny(2026, 11, 2), quantity=49)])
    assert full.covers_course and full.days_remaining == 10   # 11-12 12:00 to 11-23 00:00 = 10.5 days


def test_weekly_methotrexate_supply_is_weeks_not_days():
    plan = DosePlan((Step(index=0, sequence=0, cadence="weekly", times=("09:00",), weekdays=(0,),
                          start=ny(2026, 11, 2), dose=4, dose_unit="tablet"),))
    usage = plan_usage(plan, NY, ny(2026, 11, 2, 8))
    assert usage.per_day == 4 / 7
    # 16 tablets from Monday 11-02 08:00: doses 11-02, 11-09, 11-16, 11-23; 11-30 09:00 uncovered:
    # 28 days + 1 hour (a daily reading, 4 a day, would say 4 days)
    assert usage.days_supply(16, ny(2026, 11, 2, 8)) == 28 + 1 / 24
    a = assess_supply(now=ny(2026, 11, 20, 8), usage=usage, order_quantity=16, order_days=28,
                      order_start=ny(2026, 11, 2, 8), fills=[Fill(at=ny(2026, 11, 2, 8), quantity=16, days_supply=28)])
    # stated 28 d and computed 28.04 d agree (tolerance 0.5 d); smaller = 28 d -> until 11-30 08:00 = 10 days
    assert not a.mismatch and a.fill_days_supply == 28 and a.days_remaining == 10


def test_prn_or_doseless_plans_have_no_planned_use():
    assert plan_usage(DosePlan(_taper().steps, prn=True), NY, NOW) is None
    assert plan_usage(DosePlan((Step(index=0, sequence=0, cadence="daily", times=("09:00",)),)), NY, NOW) is None


def test_frequency_range_runs_out_at_the_upper_bound():
    # 1 tablet 2-3 times a day (frequency 2, frequencyMax 3): 30 tablets last 30 / 3 = 10 days, not 15
    plan = DosePlan((Step(index=0, sequence=0, cadence="daily", times=("08:00", "20:00"), dose=1,
                          max_per_day=3.0, start=ny(2026, 11, 2)),))
    usage = plan_usage(plan, NY, ny(2026, 11, 2))
    assert usage.per_day == 3.0
    # each of the 2 daily doses counts 1.5 tablets: 20 doses = 30 tablets; the 21st (11-12 08:00) uncovered
    assert usage.days_supply(30, ny(2026, 11, 2)) == 10 + 8 / 24


def test_days_supply_counts_calendar_days_across_a_clock_change():
    """Found by a clinical reviewer: 30 tablets at 1 a day handed over at 08:30 before the spring change lasted
    29.98 elapsed days, rounded down to 29 (supply, refill and PDC a day short). DOMAIN.md: 30 at 1 a day = 30."""
    from medjobs_tui.clinical.dosing import daily_plan

    plan = daily_plan(["09:00"], start=datetime(2026, 1, 1, tzinfo=timezone.utc), dose=1.0, dose_unit="tablet")
    for handed in (datetime(2026, 3, 7, 8, 30, tzinfo=NY), datetime(2026, 10, 31, 8, 30, tzinfo=NY)):  # both changes
        for closed_form in (True, False):
            usage = plan_usage(plan, NY, handed, closed_form=closed_form)
            assert usage.days_supply(30, handed) == 30 + 0.5 / 24           # to the 09:00 dose 30 days on
            a = assess_supply(now=handed, usage=usage, fills=[Fill(at=handed, quantity=30)])
            assert a.fill_days_supply == 30 + 0.5 / 24 and a.days_remaining == 30

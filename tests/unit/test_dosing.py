"""Dose timing rules of clinical/dosing.py: daylight saving (never skip, never double), timing codes, doses per day.

DST rules: ../shared/DOMAIN.md "Dosing schedules". America/New_York, 2026: spring forward Sunday 2026-03-08
02:00 EST -> 03:00 EDT; fall back Sunday 2026-11-01 02:00 EDT -> 01:00 EST.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest

from medjobs_tui.clinical.dosing import (
    dose_instants,
    doses_per_day,
    local_to_utc,
    parse_clock_time,
    timing_code,
)

NY = ZoneInfo("America/New_York")
SPRING = date(2026, 3, 8)
FALL = date(2026, 11, 1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


# ---------------------------------------------------------------------------------------- DST


def test_dose_at_0230_on_spring_forward_day_is_given_at_0300():
    instant = local_to_utc(SPRING, time(2, 30), NY)
    assert instant == utc(2026, 3, 8, 7, 0)  # 03:00 EDT = 07:00 UTC
    local = instant.astimezone(NY)
    assert (local.hour, local.minute, local.utcoffset().total_seconds()) == (3, 0, -4 * 3600)


def test_dose_at_0230_spring_forward_appears_once_in_a_window():
    # window: 7 March 12:00 UTC .. 9 March 06:00 UTC (9 March 02:30 EDT = 06:30 UTC is outside)
    instants = dose_instants(["02:30"], NY, utc(2026, 3, 7, 12), utc(2026, 3, 9, 6))
    assert instants == [utc(2026, 3, 8, 7, 0)]


def test_dose_at_0130_on_fall_back_day_is_given_once_at_first_occurrence():
    instant = local_to_utc(FALL, time(1, 30), NY)
    assert instant == utc(2026, 11, 1, 5, 30)  # 01:30 EDT (UTC-4), not 01:30 EST (06:30 UTC)
    window = dose_instants(["01:30"], NY, utc(2026, 11, 1, 0), utc(2026, 11, 1, 12))
    assert window == [utc(2026, 11, 1, 5, 30)]


@pytest.mark.parametrize("day, offset_hours", [(SPRING, -4), (FALL, -5)])
def test_a_1400_dose_on_the_change_day_stays_1400_local(day, offset_hours):
    instant = local_to_utc(day, time(14, 0), NY)
    local = instant.astimezone(NY)
    assert (local.date(), local.hour, local.minute) == (day, 14, 0)
    assert local.utcoffset().total_seconds() == offset_hours * 3600
    assert instant == datetime(day.year, day.month, day.day, 14 - offset_hours, tzinfo=timezone.utc)


@pytest.mark.parametrize("first_day", [date(2026, 3, 7), date(2026, 10, 31)])
def test_bid_over_three_days_across_a_change_gives_exactly_six_instants(first_day):
    start = local_to_utc(first_day, time(0, 0), NY)
    end = local_to_utc(date.fromordinal(first_day.toordinal() + 3), time(0, 0), NY)
    instants = dose_instants(["08:00", "20:00"], NY, start, end)
    assert len(instants) == 6 and len(set(instants)) == 6
    assert [(i.astimezone(NY).hour, i.astimezone(NY).minute) for i in instants] == [(8, 0), (20, 0)] * 3
    assert [i.astimezone(NY).date() for i in instants] == [
        date.fromordinal(first_day.toordinal() + k // 2) for k in range(6)]


def test_q4h_on_spring_forward_day_keeps_every_dose():
    times = ["02:00", "06:00", "10:00", "14:00", "18:00", "22:00"]
    day_start, day_end = local_to_utc(SPRING, time(0, 0), NY), local_to_utc(date(2026, 3, 9), time(0, 0), NY)
    instants = dose_instants(times, NY, day_start, day_end)
    assert len(instants) == 6
    assert instants[0].astimezone(NY).hour == 3  # 02:00 does not exist that day: given at 03:00


def test_dose_instants_rejects_a_naive_window():
    with pytest.raises(ValueError):
        dose_instants(["08:00"], NY, datetime(2026, 1, 1), utc(2026, 1, 2))


def test_parse_clock_time():
    assert parse_clock_time("08:05") == time(8, 5)
    for bad in ("8", "25:00", "ab:cd", ""):
        with pytest.raises(ValueError):
            parse_clock_time(bad)


# ------------------------------------------------------------------------ timing code table


@pytest.mark.parametrize(
    "frequency, period, unit, code, per_day",
    [
        (1, 1, "d", "QD", 1.0),
        (2, 1, "d", "BID", 2.0),
        (3, 1, "d", "TID", 3.0),
        (4, 1, "d", "QID", 4.0),
        (1, 8, "h", "Q8H", 3.0),
        (1, 4, "h", "Q4H", 6.0),
        (1, 12, "h", "Q12H", 2.0),
        (1, 24, "h", "QD", 1.0),
        (1, 1, "wk", None, 1 / 7),   # weekly: no institution code, the order has no daily schedule
        (5, 1, "d", None, 5.0),      # five a day: no standard code
        (2, 3, "h", None, 16.0),
        (1, 5, "h", None, 24 / 5),   # 5 does not divide 24
    ],
)
def test_timing_code_and_doses_per_day_table(frequency, period, unit, code, per_day):
    assert timing_code(frequency, period, unit) == code
    assert doses_per_day(frequency, period, unit) == pytest.approx(per_day)


@pytest.mark.parametrize("args", [(None, 1, "d"), (1, None, "d"), (1, 1, None), (1, 0, "d"), (1, 1, "fortnight")])
def test_incomplete_or_unknown_repeat_has_no_code_and_no_rate(args):
    assert timing_code(*args) is None
    assert doses_per_day(*args) is None

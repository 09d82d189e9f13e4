"""Reminder preferences: lead time, quiet hours (held until they end unless the order is time-critical),
and the catch-up limit on held reminders. Expected instants worked by hand for America/New_York
(EST = UTC-5 from 1 Nov 2026, EDT = UTC-4 from 8 Mar 2026)."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from medjobs_tui.clinical.preferences import (
    ReminderPreferences, check_lead_minutes, in_quiet_hours, parse_quiet_hours, reminder_timing, too_late,
)

NY = ZoneInfo("America/New_York")
NIGHT = ReminderPreferences(lead_minutes=30, quiet_start=time(22, 0), quiet_end=time(7, 0))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_no_preferences_send_at_the_dose_instant():
    t = reminder_timing(utc(2026, 11, 30, 13, 0), ReminderPreferences(), NY)
    assert (t.send_at, t.lead_applied, t.held, t.critical_not_held) == (utc(2026, 11, 30, 13, 0), False, False, False)


def test_lead_time_sends_before_the_dose():
    t = reminder_timing(utc(2026, 11, 30, 13, 0), NIGHT, NY)  # 08:00 EST dose -> 07:30 EST, outside quiet hours
    assert (t.send_at, t.lead_applied, t.held) == (utc(2026, 11, 30, 12, 30), True, False)


def test_reminder_in_quiet_hours_is_held_until_they_end():
    t = reminder_timing(utc(2026, 11, 30, 11, 0), NIGHT, NY)  # 06:00 EST dose -> 05:30, quiet -> 07:00 EST
    assert (t.send_at, t.held, t.lead_applied) == (utc(2026, 11, 30, 12, 0), True, True)
    assert not too_late(t, utc(2026, 11, 30, 11, 0), timedelta(minutes=60))  # 60 min after the dose: still sent


def test_time_critical_order_is_never_held():
    t = reminder_timing(utc(2026, 11, 30, 11, 0), NIGHT, NY, critical=True)
    assert (t.send_at, t.held, t.critical_not_held) == (utc(2026, 11, 30, 10, 30), False, True)


def test_a_late_evening_dose_held_to_the_morning_is_too_late_to_send():
    dose = utc(2026, 12, 1, 4, 30)  # 23:30 EST on 30 Nov -> held to 07:00 EST on 1 Dec = 12:00 UTC
    t = reminder_timing(dose, NIGHT, NY)
    assert t.send_at == utc(2026, 12, 1, 12, 0) and too_late(t, dose, timedelta(minutes=60))


def test_quiet_end_on_daylight_saving_mornings():
    quiet = ReminderPreferences(quiet_start=time(22, 0), quiet_end=time(7, 0))
    # fall back 1 Nov 2026: 06:30 EST = 11:30 UTC -> 07:00 EST = 12:00 UTC
    assert reminder_timing(utc(2026, 11, 1, 11, 30), quiet, NY).send_at == utc(2026, 11, 1, 12, 0)
    # spring forward 8 Mar 2026: 06:30 EDT = 10:30 UTC -> 07:00 EDT = 11:00 UTC
    assert reminder_timing(utc(2026, 3, 8, 10, 30), quiet, NY).send_at == utc(2026, 3, 8, 11, 0)
    # a quiet end inside the spring-forward gap (02:30 does not exist) -> the first instant after it, 03:00 EDT
    gap = ReminderPreferences(quiet_start=time(23, 0), quiet_end=time(2, 30))
    assert reminder_timing(utc(2026, 3, 8, 6, 45), gap, NY).send_at == utc(2026, 3, 8, 7, 0)  # 01:45 EST dose


@pytest.mark.parametrize("at, inside", [(time(21, 59), False), (time(22, 0), True), (time(23, 30), True),
                                        (time(0, 0), True), (time(6, 59), True), (time(7, 0), False)])
def test_quiet_hours_wrap_midnight_and_end_exclusive(at, inside):
    assert in_quiet_hours(at, time(22, 0), time(7, 0)) is inside


def test_daytime_quiet_hours_and_empty_window():
    assert in_quiet_hours(time(13, 0), time(12, 0), time(14, 0))
    assert not in_quiet_hours(time(14, 0), time(12, 0), time(14, 0))
    assert not in_quiet_hours(time(3, 0), time(7, 0), time(7, 0))


def test_parse_and_check():
    assert parse_quiet_hours("22:00-07:00") == (time(22, 0), time(7, 0))
    assert parse_quiet_hours("off") is None
    for bad in ("25:00-07:00", "22-7", "22:00"):
        with pytest.raises(ValueError, match="HH:MM-HH:MM"):
            parse_quiet_hours(bad)
    assert check_lead_minutes(180) == 180
    for bad in (181, -1, True, 1.5):
        with pytest.raises(ValueError, match="0 to 180"):
            check_lead_minutes(bad)

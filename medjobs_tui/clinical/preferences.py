"""Reminder preferences of a patient: channel, lead time, quiet hours, opt-out; when a dose reminder is sent.

Pure functions, no I/O. No standard sets these; they are the clinic's and the patient's choice, and the
rules below are what a careful clinic pharmacist expects:

- Opt-out: no dose reminders at all (the patient's right to decline contact; the dose itself is still
  tracked, so a missed dose still reaches staff). Source: DOMAIN.md; VALIDATION.md "user preferences".
- Lead time: the reminder is sent ``lead_minutes`` (0..``MAX_LEAD_MINUTES``) before the dose instant.
- Quiet hours ``[start, end)`` in the patient's local wall-clock time (wrapping midnight when start >
  end; start == end means none): a reminder whose send time falls inside is held until they end (the end's
  local time on the right day, turned into UTC with the zone, so a daylight-saving night is handled as
  the schedule handles it) -- unless the order is marked time-critical, whose reminder is never held
  (ISMP, "Acute Care Guidelines for Timely Administration of Scheduled Medications", 2011: time-critical
  medications are those where a delay of more than 30 minutes may cause harm). The usual reference for a
  quiet window is the TCPA's 8:00-21:00 calling window (47 CFR 64.1200(c)(1)), written for
  telemarketing, not medicine: the clinic sets its own per patient.
- A reminder held past the reminder catch-up limit after its dose instant is not sent at all: a
  reminder long after the dose can cause a double dose (DOMAIN.md "Real-world failures of reminder
  systems"); the dose then takes the ordinary "reminder missed" path and staff are told.
- Channel: the patient's preferred configured channel (or the in-app inbox only); None means the
  clinic's default, every channel serving patients.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from medjobs_tui.clinical.dosing import local_to_utc

MAX_LEAD_MINUTES = 180
"""Longest lead time: three hours before the dose (earlier, and the reminder is about a different moment)."""

_QUIET = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class ReminderPreferences:
    """One patient's reminder preferences. ``channel``: a configured channel name, ``'inbox'``, or None
    (clinic default). ``lead_minutes``: minutes before the dose. ``quiet_start``/``quiet_end``: local
    wall-clock times or None. ``opt_out``: no reminders."""

    channel: str | None = None
    lead_minutes: int = 0
    quiet_start: time | None = None
    quiet_end: time | None = None
    opt_out: bool = False

    @property
    def has_quiet_hours(self) -> bool:
        """True when quiet hours are set and not empty (start != end)."""
        return self.quiet_start is not None and self.quiet_end is not None and self.quiet_start != self.quiet_end


@dataclass(frozen=True)
class ReminderTiming:
    """When one dose's reminder goes out (aware UTC) and what the preferences changed:
    ``lead_applied`` (sent before the dose instant), ``held`` (moved to the end of quiet hours),
    ``critical_not_held`` (inside quiet hours but sent anyway: a time-critical order)."""

    send_at: datetime
    lead_applied: bool = False
    held: bool = False
    critical_not_held: bool = False


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """``'22:00-07:00'`` -> (22:00, 07:00); ``'off'`` -> None. Raises ValueError naming the form."""
    text = text.strip().lower()
    if text in ("off", "none", ""):
        return None
    m = _QUIET.match(text)
    if not m:
        raise ValueError("quiet hours are 'HH:MM-HH:MM' (24-hour local time, e.g. 22:00-07:00) or 'off'")
    return time(int(m.group(1)), int(m.group(2))), time(int(m.group(3)), int(m.group(4)))


def check_lead_minutes(value: int) -> int:
    """``value`` if it is a whole number of minutes 0..MAX_LEAD_MINUTES; else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LEAD_MINUTES:
        raise ValueError(f"lead time is a whole number of minutes from 0 to {MAX_LEAD_MINUTES}")
    return value


def in_quiet_hours(at: time, start: time, end: time) -> bool:
    """True when local wall-clock ``at`` lies in ``[start, end)``; the window wraps midnight when
    start > end (22:00-07:00 holds 23:30 and 06:59, not 07:00); start == end is no window."""
    if start == end:
        return False
    if start < end:
        return start <= at < end
    return at >= start or at < end


def _quiet_end_after(local: datetime, end: time, zone: ZoneInfo) -> datetime:
    """The first local ``end`` at or after the local wall time ``local``, as aware UTC."""
    day: date = local.date() if local.time() < end else local.date() + timedelta(days=1)
    return local_to_utc(day, end, zone)


def reminder_timing(dose_instant: datetime, prefs: ReminderPreferences, zone: ZoneInfo,
                    critical: bool = False) -> ReminderTiming:
    """When the reminder of the dose at ``dose_instant`` (aware) is sent, for a patient in ``zone``.

    send = dose - lead; if send's local time is in quiet hours, it moves to the end of the quiet hours
    (``held``), unless the order is ``critical`` (``critical_not_held``). Opt-out is not decided here
    (no reminder at all). Worked example, America/New_York, quiet 22:00-07:00, lead 30: a 06:00 dose ->
    send 05:30 local, inside -> held to 07:00 local. Raises ValueError for a naive instant.
    """
    if dose_instant.tzinfo is None:
        raise ValueError("reminder_timing needs an aware dose instant")
    lead = prefs.lead_minutes
    send = dose_instant - timedelta(minutes=lead)
    if prefs.has_quiet_hours:
        local = send.astimezone(zone)
        if in_quiet_hours(local.time().replace(tzinfo=None), prefs.quiet_start, prefs.quiet_end):  # type: ignore[arg-type]
            if critical:
                return ReminderTiming(send, lead_applied=lead > 0, critical_not_held=True)
            held = _quiet_end_after(local.replace(tzinfo=None), prefs.quiet_end, zone)  # type: ignore[arg-type]
            return ReminderTiming(held, lead_applied=lead > 0, held=True)
    return ReminderTiming(send, lead_applied=lead > 0)


def too_late(timing: ReminderTiming, dose_instant: datetime, catch_up: timedelta) -> bool:
    """True when the reminder would go out more than ``catch_up`` after its dose: it is not sent."""
    return timing.send_at - dose_instant > catch_up

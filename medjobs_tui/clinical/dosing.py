"""Dose timing: FHIR Timing.repeat -> timing code, doses per day, clock times, and UTC dose instants.

Pure functions, no I/O. Source for the Timing model: HL7 FHIR R4 datatypes, Timing
(hl7.org/fhir/R4/datatypes.html#Timing). ``Timing.code`` abbreviations (QD, BID, ...) mean "at
institution-specified times": the clinic's administration-time table gives the clock times.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

# UCUM units of Timing.repeat.periodUnit, in days. Source: FHIR R4 UnitsOfTime value set.
PERIOD_UNIT_DAYS = {
    "s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.0, "a": 365.0,
}

_DAILY_CODES = {1: "QD", 2: "BID", 3: "TID", 4: "QID"}


def doses_per_day(frequency: float | None, period: float | None, period_unit: str | None) -> float | None:
    """Administrations per day of ``frequency`` per ``period`` ``period_unit`` (BID = 2 per 1 d -> 2.0).

    Returns None when any part is missing, the period is not positive, or the unit is not one of
    FHIR's UnitsOfTime (s, min, h, d, wk, mo, a). q8h (1 per 8 h) -> 3.0; weekly (1 per 1 wk) -> 1/7.
    """
    if frequency is None or period is None or not period_unit or period <= 0 or frequency <= 0:
        return None
    unit_days = PERIOD_UNIT_DAYS.get(period_unit)
    if unit_days is None:
        return None
    return frequency / (period * unit_days)


def timing_code(frequency: float | None, period: float | None, period_unit: str | None) -> str | None:
    """The institution timing code of a Timing.repeat, or None if no standard code fits.

    n per 1 d -> QD, BID, TID, QID (n = 1..4); 1 per k h with k dividing 24 -> Q{k}H (Q4H, Q6H,
    Q8H, Q12H, ...). Anything else (weekly, 5 a day, 2 per 3 h...) has no code: the order is kept,
    marked "no schedule", and staff set its times. Source: HL7 v3 GTSAbbreviation.
    """
    if frequency is None or period is None or not period_unit:
        return None
    if period_unit == "d" and period == 1 and float(frequency).is_integer():
        return _DAILY_CODES.get(int(frequency))
    if period_unit == "h" and frequency == 1 and float(period).is_integer() and period > 0:
        k = int(period)
        if 24 % k == 0 and k < 24:
            return f"Q{k}H"
        if k == 24:
            return "QD"
    return None


def parse_clock_time(text: str) -> time:
    """``'HH:MM'`` -> datetime.time. Raises ValueError naming the text if it is not a 24-hour time."""
    try:
        hh, mm = text.split(":")
        return time(int(hh), int(mm))
    except (ValueError, AttributeError):
        raise ValueError(f"{text!r} is not a clock time 'HH:MM'") from None


def _exists(naive: datetime, zone: ZoneInfo) -> bool:
    aware = naive.replace(tzinfo=zone)
    back = aware.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None)
    return back == naive


def local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock time ``at`` on local date ``day`` in ``zone``.

    Daylight saving, as a careful pharmacist expects (never skip, never double a dose):
    a local time that does not exist (spring forward, 02:30 on 2026-03-08 in America/New_York) is
    given at the first valid instant after the gap (03:00 local); a time that occurs twice (fall back,
    01:30 on 2026-11-01) is given once, at its first occurrence (fold=0).
    Source: ../shared/DOMAIN.md "Dosing schedules"; Python zoneinfo / PEP 495 fold semantics.
    """
    naive = datetime.combine(day, at)
    if not _exists(naive, zone):
        probe = naive.replace(second=0, microsecond=0)
        for _ in range(24 * 60):  # gaps are at most a few hours; walk minute by minute to the gap's end
            probe += timedelta(minutes=1)
            if _exists(probe, zone):
                naive = probe
                break
    return naive.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)


def dose_instants(times_of_day: list[str], zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """Every dose instant (aware UTC) of a daily schedule in the half-open window [start, end).

    ``times_of_day`` are local ``'HH:MM'`` wall-clock times in ``zone``; ``start``/``end`` are aware.
    Each local (date, time) pair yields exactly one instant (see ``local_to_utc`` for DST), sorted.
    Raises ValueError for a naive window or a malformed time.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("dose_instants needs an aware window")
    clock_times = [parse_clock_time(t) for t in times_of_day]
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    out: set[datetime] = set()
    day = first
    while day <= last:
        for at in clock_times:
            instant = local_to_utc(day, at, zone)
            if start <= instant < end:
                out.add(instant)
        day += timedelta(days=1)
    return sorted(out)

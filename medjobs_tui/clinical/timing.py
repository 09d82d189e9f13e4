"""What an order's FHIR ``dosageInstruction`` list means: a ``dosing.DosePlan``, or "no schedule" and why.

Pure rules, no I/O: the input is the parsed JSON (dicts and lists) of ``MedicationRequest.dosageInstruction``,
the clinic's tables and zone, and a parser for FHIR date/dateTime values (the caller's). Sources:
HL7 FHIR R4 Dosage (hl7.org/fhir/R4/dosage.html) and Timing (hl7.org/fhir/R4/datatypes.html#Timing),
EventTiming (hl7.org/fhir/R4/valueset-event-timing.html), TimingAbbreviation
(hl7.org/fhir/R4/valueset-timing-abbreviation.html); ../shared/DOMAIN.md "Dosing schedules".

The rules, as a careful clinic pharmacist reads an order (never a guess):

- **PRN.** An instruction is as-needed when ``asNeededBoolean`` is true, ``asNeededCodeableConcept`` is
  present, or it has no structured timing (no ``timing.repeat``, no ``timing.code``) and its ``text`` says
  "as needed", "as required", "when needed" or "PRN". PRN instructions give no reminders; an order with any
  PRN instruction has no planned rate (supply comes from the dispensing history, else unknown).
- **Cadence** from ``frequency`` per ``period`` ``periodUnit`` (``frequency`` defaults to 1), honoured
  whatever else is given:
  ``d``: n per 1 d -> every day; 1 per k d -> every k-th day from the start; with ``dayOfWeek`` -> weekly
  on those days. ``wk``: 1 per k wk -> every k weeks on the start's weekday, or on the ``dayOfWeek`` days.
  ``mo``: 1 per k mo -> every k months on the start's day of the month (the last day of a shorter month).
  ``h``: 1 per k h -> the clinic's ``Q{k}H`` row of the administration-time table when it has one, else
  every k hours of elapsed time from the first dose (the step's start); more often than hourly is not a
  reminder schedule. ``s``, ``min``, ``a`` and any other
  combination (2 per 3 d, 3 per week without days) are not reminder schedules: no schedule.
- **Clock times**: explicit ``timeOfDay`` win; else ``when`` codes through the clinic's event table
  (``offset`` minutes before the meal for AC codes, after the event for every other code); else the
  administration-time table row of ``Timing.code`` (QOD = every 2nd day, WK weekly, MO monthly, BED = QHS,
  at the QD times) or of the frequency's code (QD, BID, TID, QID). When ``frequency`` and the number of
  times (or ``dayOfWeek`` days) disagree, the explicit times and days win and one warning says so;
  reminders, supply and adherence all use the same doses per day (the times given).
- **Ranges**: with ``frequencyMax`` (or ``periodMax``) reminders follow ``frequency`` per ``period``;
  supply uses the upper bound (``frequencyMax`` per ``period``) and a warning says so. With a ``doseRange``
  the dose is its upper bound (``high``), flagged: run-out is the conservative case.
- **Bounds**: ``boundsPeriod.start`` (a date = local midnight in the patient's zone: a FHIR date has no zone,
  and the patient's day is the clinically meaningful one); ``boundsPeriod.end`` given as a date includes
  that whole local day (up to the patient's next local midnight), given as an instant includes that instant (FHIR
  Period is inclusive). ``boundsDuration`` runs from the step's start (wall-clock days/weeks/months; elapsed
  hours). ``count`` (else ``countMax``) doses at most, from the start. The start of the first instructions
  is their ``boundsPeriod.start``, else ``authoredOn``; nothing is produced before it.
- **Several instructions**: sorted by ``sequence`` (position when absent). Instructions with the same
  sequence apply together; each later sequence starts when the earlier one ends (a taper), so every
  instruction but the last must be bounded. An unbounded one followed by another is not understood.
- Anything not understood (a ``boundsRange``, both ``timeOfDay`` and ``when`` (invariant tim-10), an event
  code the clinic table lacks, a code without a row, a cadence needing a start without one) makes the
  whole order "no schedule" with a warning naming the element: never a schedule on a guess.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

from medjobs_tui.clinical.dosing import (
    WEEKDAYS, DosePlan, Step, local_to_utc, parse_clock_time, step_doses, timing_code,
)

PERIOD_UNITS = ("s", "min", "h", "d", "wk", "mo", "a")
"""FHIR UnitsOfTime."""

PRN_TEXT = re.compile(r"\b(as needed|as required|when needed|if needed|p\.?r\.?n\.?)(?![a-z])", re.IGNORECASE)
"""Free text that makes an instruction without structured timing as-needed."""

CODE_CADENCE = {"QOD": ("daily", 2, "QD"), "WK": ("weekly", 1, "QD"), "MO": ("monthly", 1, "QD"),
                "BED": ("daily", 1, "QHS")}
"""TimingAbbreviation codes whose cadence is not daily, or whose times are another row: code -> (cadence,
every, table row of its clock times)."""

TIMING_ABBREVIATIONS = frozenset({"QD", "BID", "TID", "QID", "QOD", "AM", "PM", "BED", "WK", "MO", "QHS",
                                  "Q1H", "Q2H", "Q3H", "Q4H", "Q6H", "Q8H", "Q12H"})
"""The fixed vocabulary of timing codes a message may name: HL7 v3 TimingAbbreviation (GTSAbbreviation), the
Q{k}H rows ``dosing.timing_code`` derives and the QHS row BED uses. A code outside it came from the input as
free text (it could be anything, even an identifier) and is never repeated in a warning."""


def _no_table_row(row: str | None, from_input: bool) -> str:
    """The reason of a schedule whose clock times the clinic's administration-time table does not hold. The row
    is named when MedJobs derived it from the numbers (``Q5H``) or it is one of TIMING_ABBREVIATIONS; a row that
    is the input's own Timing.code outside that vocabulary is free text and never repeated (the importer's
    warnings hold no values from the data)."""
    table = "the clinic's administration-time table (clinic.administration_times)"
    if row is None:
        return f"no frequency or code to look up in {table}"
    if not from_input or row in TIMING_ABBREVIATIONS:
        return f"no row {row} in {table}"
    return f"a code that is no standard timing abbreviation and no row of {table} (the code is not repeated here)"


AC_EVENTS = {"AC": "C", "ACM": "CM", "ACD": "CD", "ACV": "CV"}
PC_EVENTS = {"PC": "C", "PCM": "CM", "PCD": "CD", "PCV": "CV"}
"""Meal-relative EventTiming codes -> the meal event; with an ``offset`` the dose is that many minutes before
(AC) or after (PC) the meal's time in the event table. Source: FHIR R4 Timing.repeat.offset ("if the event
code does not indicate whether the minutes is before or after the event, then the offset is assumed to be
after the event")."""

MAX_COUNT = 100_000
"""A ``count`` above this is not a dosing schedule."""


class DosageError(ValueError):
    """A value of a dosage instruction is unusable (the record cannot be imported). ``path`` is the JSON path
    inside the resource, ``problem`` what is wrong (never the value)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class _NotUnderstood(Exception):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem


InstantParser = Callable[[Any, str], "tuple[datetime, bool] | None"]
"""Parses a FHIR date/dateTime at a JSON path -> (aware instant, True if it was a date without a time), or None
for a missing value; raises DosageError (or a subclass of ValueError with ``path``) when unreadable."""


@dataclass
class Interpretation:
    """What the instructions mean.

    ``plan``: the scheduled steps (empty when nothing is scheduled); ``prn``: every instruction is as-needed;
    ``any_prn``: at least one is; ``understood``: False when the order must be "no schedule" (the reason is
    among ``warnings``, as (JSON path, problem)); ``summary``: the first step's figures for the order row
    (``timing_code``, ``frequency``, ``period``, ``period_unit``, ``times_of_day``, ``doses_per_day``,
    ``dose_quantity``, ``dose_unit``, ``bounds_start``, ``bounds_end``).
    """

    plan: DosePlan
    prn: bool
    any_prn: bool
    understood: bool
    warnings: list[tuple[str, str]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def _num(value: Any, path: str, *, whole: bool = False, positive: bool = True, zero_ok: bool = False) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DosageError(path, "not a finite number")
    if whole and float(value) != int(value):
        raise DosageError(path, "not a whole number")
    if positive and (value < 0 or (value == 0 and not zero_ok)):
        raise DosageError(path, "must be greater than 0" if not zero_ok else "must not be negative")
    return value


def _hhmm(value: Any, path: str) -> str:
    if not isinstance(value, str) or not re.match(r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", value):
        raise DosageError(path, "not a FHIR time hh:mm:ss")
    try:
        parse_clock_time(value[:5])
    except ValueError:
        raise DosageError(path, "not a valid clock time") from None
    return value[:5]


def is_prn(dosage: Mapping[str, Any]) -> bool:
    """Whether one Dosage is as-needed: ``asNeededBoolean`` true, ``asNeededCodeableConcept`` present, or no
    structured timing (no ``timing.repeat``, no ``timing.code``) with a ``text`` saying as needed / PRN
    (unless ``asNeededBoolean`` is explicitly false). Source: FHIR R4 Dosage.asNeeded[x]; issue 7 item 3."""
    if dosage.get("asNeededBoolean") is True or dosage.get("asNeededCodeableConcept") is not None:
        return True
    if dosage.get("asNeededBoolean") is False:
        return False
    timing = dosage.get("timing") if isinstance(dosage.get("timing"), dict) else {}
    structured = bool(timing.get("repeat")) or bool(timing.get("code"))
    text = dosage.get("text")
    return not structured and isinstance(text, str) and PRN_TEXT.search(text) is not None


def event_clock_time(code: str, offset_minutes: int, event_times: Mapping[str, list[str]]) -> list[str]:
    """Local 'HH:MM' times of one EventTiming ``code`` with ``offset`` minutes, from the clinic's event table.

    Without an offset the code's own row is used (ACM = 07:30 in the default table). With an offset, AC codes
    are that many minutes before the meal's row (ACM -> CM), PC codes after it, every other code after its
    own row. Wall-clock arithmetic on the time of day; a result outside the same day raises _NotUnderstood.
    Raises KeyError when the table has no row for the code (or its meal).
    """
    if not offset_minutes:
        return list(event_times[code])
    if code in AC_EVENTS:
        base, sign = event_times[AC_EVENTS[code]], -1
    elif code in PC_EVENTS:
        base, sign = event_times[PC_EVENTS[code]], 1
    else:
        base, sign = event_times[code], 1
    out = []
    for t in base:
        at = parse_clock_time(t)
        minutes = at.hour * 60 + at.minute + sign * offset_minutes
        if not 0 <= minutes < 24 * 60:
            raise _NotUnderstood("offset", "moves the dose to another day")
        out.append(time(minutes // 60, minutes % 60).strftime("%H:%M"))
    return out


def _add_duration(start: datetime, value: float, unit: str, zone: ZoneInfo) -> datetime:
    """start + a Duration: elapsed time for s/min/h; wall-clock calendar for d/wk/mo/a (DST-safe)."""
    if unit in ("s", "min", "h"):
        return start + timedelta(seconds=value * {"s": 1, "min": 60, "h": 3600}[unit])
    local = start.astimezone(zone)
    days = value * {"d": 1, "wk": 7, "mo": 30, "a": 365}[unit]
    if unit == "mo" and float(value).is_integer():
        y, m = divmod(local.month - 1 + int(value), 12)
        last = calendar.monthrange(local.year + y, m + 1)[1]
        target = date(local.year + y, m + 1, min(local.day, last))
        return local_to_utc(target, local.time().replace(tzinfo=None), zone)
    whole = math.floor(days)
    target_day = local.date() + timedelta(days=whole)
    moved = local_to_utc(target_day, local.time().replace(tzinfo=None), zone)
    return moved + timedelta(days=days - whole)


_UNIT_WORDS = {"day": "d", "days": "d", "week": "wk", "weeks": "wk", "hour": "h", "hours": "h",
               "month": "mo", "months": "mo", "minute": "min", "minutes": "min", "year": "a", "years": "a"}


def _duration(q: Any, path: str) -> tuple[float, str]:
    if not isinstance(q, dict):
        raise DosageError(path, "not a Duration")
    value = _num(q.get("value"), f"{path}.value")
    if value is None:
        raise _NotUnderstood(path, "a duration without a value")
    for key in ("code", "unit"):
        u = q.get(key)
        if isinstance(u, str):
            unit = u if u in PERIOD_UNITS else _UNIT_WORDS.get(u.strip().lower())
            if unit:
                return float(value), unit
    raise _NotUnderstood(path, "a duration without a unit of time")


@dataclass
class _Part:
    index: int
    sequence: int
    path: str
    step: Step                    # start/end not yet placed
    start: datetime | None        # explicit boundsPeriod.start
    end: datetime | None          # explicit boundsPeriod.end (resolved)
    end_inclusive: bool
    duration: tuple[float, str] | None
    needs_start: bool
    summary: dict[str, Any]


def _part(d: Mapping[str, Any], i: int, sequence: int, zone: ZoneInfo, admin_times: Mapping[str, list[str]],
          event_times: Mapping[str, list[str]], parse: InstantParser,
          warnings: list[tuple[str, str]]) -> _Part:
    p = f"dosageInstruction[{i}]"
    timing = d.get("timing")
    if timing is None:
        raise _NotUnderstood(f"{p}.timing", "no timing: when to take it is not stated")
    if not isinstance(timing, dict):
        raise DosageError(f"{p}.timing", "not an object")
    repeat = timing.get("repeat") or {}
    if not isinstance(repeat, dict):
        raise DosageError(f"{p}.timing.repeat", "not an object")
    rp = f"{p}.timing.repeat"

    code = None
    codings = timing.get("code", {}).get("coding") if isinstance(timing.get("code"), dict) else None
    if isinstance(codings, list) and codings and isinstance(codings[0], dict) and isinstance(codings[0].get("code"), str):
        code = codings[0]["code"].strip().upper() or None
    elif timing.get("code") is not None:
        raise _NotUnderstood(f"{p}.timing.code", "a code without a coding.code")

    frequency = _num(repeat.get("frequency"), f"{rp}.frequency", whole=True)
    frequency_max = _num(repeat.get("frequencyMax"), f"{rp}.frequencyMax", whole=True)
    period = _num(repeat.get("period"), f"{rp}.period")
    period_max = _num(repeat.get("periodMax"), f"{rp}.periodMax")
    unit = repeat.get("periodUnit")
    if unit is not None and unit not in PERIOD_UNITS:
        raise DosageError(f"{rp}.periodUnit", "not one of s, min, h, d, wk, mo, a")
    count = _num(repeat.get("count"), f"{rp}.count", whole=True)
    count_max = _num(repeat.get("countMax"), f"{rp}.countMax", whole=True)
    offset = _num(repeat.get("offset"), f"{rp}.offset", whole=True, zero_ok=True)
    for name in ("boundsRange",):
        if repeat.get(name) is not None:
            raise _NotUnderstood(f"{rp}.{name}", "a range of bounds is not a schedule MedJobs can follow")
    if period is not None and unit is None:
        raise _NotUnderstood(f"{rp}.periodUnit", "a period without a unit")
    if frequency is not None and period is None:
        raise _NotUnderstood(f"{rp}.period", "a frequency without a period")
    if period is not None and frequency is None:
        frequency = 1  # FHIR: frequency defaults to 1
    if count is not None and count > MAX_COUNT:
        raise DosageError(f"{rp}.count", f"more than {MAX_COUNT:,} doses")

    # explicit times
    tod = repeat.get("timeOfDay")
    when = repeat.get("when")
    if tod is not None and when:
        raise _NotUnderstood(f"{rp}.when", "timeOfDay and when are both given (FHIR invariant tim-10)")
    times: list[str] | None = None
    when_codes: list[str] = []
    if tod is not None:
        if not isinstance(tod, list):
            raise DosageError(f"{rp}.timeOfDay", "not a list")
        times = sorted({_hhmm(t, f"{rp}.timeOfDay[{k}]") for k, t in enumerate(tod)})
    elif when:
        when_list = when if isinstance(when, list) else [when]
        got: set[str] = set()
        for k, w in enumerate(when_list):
            if not isinstance(w, str) or not w.strip():
                raise DosageError(f"{rp}.when[{k}]", "not an EventTiming code")
            c = w.strip()
            key = c if c in event_times else c.upper()
            try:
                got.update(event_clock_time(key, int(offset or 0), event_times))
            except KeyError:
                raise _NotUnderstood(f"{rp}.when[{k}]", "an event code the clinic's event table (clinic.event_times)"
                                                        " does not hold") from None
            except _NotUnderstood as exc:
                raise _NotUnderstood(f"{rp}.{exc.path}", exc.problem) from None
            when_codes.append(key)
        times = sorted(got)

    days = repeat.get("dayOfWeek")
    weekdays: tuple[int, ...] = ()
    if days:
        if not isinstance(days, list):
            raise DosageError(f"{rp}.dayOfWeek", "not a list")
        wd = set()
        for k, day in enumerate(days):
            if not isinstance(day, str) or day.strip().lower() not in WEEKDAYS:
                raise DosageError(f"{rp}.dayOfWeek[{k}]", "not a day code (mon..sun)")
            wd.add(WEEKDAYS.index(day.strip().lower()))
        weekdays = tuple(sorted(wd))

    # cadence
    cadence, every, hours, table_row = "daily", 1, None, None
    derived = timing_code(frequency, period, unit) if frequency is not None else None
    if unit is None:
        if code in CODE_CADENCE:
            cadence, every, table_row = CODE_CADENCE[code]
        elif code is not None:
            table_row = code
        elif times is None:
            raise _NotUnderstood(rp if repeat else f"{p}.timing",
                                 "no frequency, period, time of day, event or code: when to take it is unknown")
        if weekdays:
            cadence = "weekly"
    elif unit == "d":
        if weekdays:
            if period != 1:
                raise _NotUnderstood(f"{rp}.dayOfWeek", "days of the week with a period other than 1 day")
            cadence = "weekly"
            table_row = derived
        elif period == 1:
            table_row = derived
        elif frequency == 1 and float(period).is_integer():
            every, table_row = int(period), "QD"
        else:
            raise _NotUnderstood(f"{rp}.period", f"{frequency:g} per {period:g} days is not a schedule MedJobs can"
                                                 " remind")
    elif unit == "wk":
        cadence = "weekly"
        if not float(period).is_integer():
            raise _NotUnderstood(f"{rp}.period", "a period of weeks that is not whole")
        every = int(period)
        if not weekdays and frequency != 1:
            raise _NotUnderstood(f"{rp}.dayOfWeek", f"{frequency:g} a week without dayOfWeek: which days is unknown")
        table_row = "QD"
    elif unit == "mo":
        if frequency != 1 or not float(period).is_integer() or weekdays:
            raise _NotUnderstood(f"{rp}.frequency", "only once every whole number of months can be reminded")
        cadence, every, table_row = "monthly", int(period), "QD"
    elif unit == "h":
        if weekdays:
            raise _NotUnderstood(f"{rp}.dayOfWeek", "days of the week with an hourly period")
        gap = float(period) / float(frequency)
        if gap < 1:
            raise _NotUnderstood(f"{rp}.period", "more often than once an hour is not a reminder schedule")
        if times is None:
            row = derived if derived and derived != "QD" else (f"Q{int(gap)}H" if gap.is_integer() else None)
            if gap == 24:
                row = "QD"
            if row and row in admin_times and frequency == 1:
                table_row = row
            else:
                cadence, hours = "interval", gap
    else:
        raise _NotUnderstood(f"{rp}.periodUnit", f"a period in '{unit}' is not a reminder schedule")

    if times is None and cadence != "interval":
        row = table_row or (code if code else None)
        if code and code not in CODE_CADENCE and unit is not None and code in admin_times:
            row = code  # the institution's own times for its code
        if not row or row not in admin_times:
            where = f"{p}.timing.code" if code else (f"{rp}.frequency" if frequency is not None else rp)
            raise _NotUnderstood(where, _no_table_row(row, from_input=row == code))
        times = list(admin_times[row])
        table_row = row

    # frequency vs explicit times/days: explicit wins, said once
    if frequency is not None and cadence != "interval":
        per_period = len(times or []) * (len(weekdays) if cadence == "weekly" and weekdays else 1)
        if unit == "d" and cadence == "weekly":
            per_period = len(times or [])  # n a day on the given days
        if per_period != frequency and (tod is not None or when or (weekdays and unit == "wk")):
            given = "times of day" if (tod is not None or when) else "days of the week"
            warnings.append((f"{rp}.frequency", f"frequency {frequency:g} but {per_period} {given}: the {given} given"
                                                " are followed (reminders, supply and adherence alike)"))
    if unit == "h" and times is not None and tod is not None and frequency is not None:
        want = 24.0 * frequency / float(period)
        if len(times) != want:
            warnings.append((f"{rp}.frequency", f"every {float(period) / frequency:g} h but {len(times)} times of day:"
                                                " the times given are followed"))

    max_per_day = None
    if frequency_max is not None or period_max is not None:
        top = frequency_max if frequency_max is not None else frequency
        if unit and top is not None and period:
            per_unit_days = {"h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.0}.get(unit)
            if per_unit_days:
                max_per_day = top / (float(period) * per_unit_days)
        warnings.append((f"{rp}.{'frequencyMax' if frequency_max is not None else 'periodMax'}",
                         "a range: reminders follow frequency per period; supply uses the upper bound"))

    # dose
    dose = dose_unit = None
    upper = False
    dar = d.get("doseAndRate")
    if isinstance(dar, list) and dar and isinstance(dar[0], dict):
        dq, dr = dar[0].get("doseQuantity"), dar[0].get("doseRange")
        if isinstance(dq, dict):
            dose = _num(dq.get("value"), f"{p}.doseAndRate[0].doseQuantity.value")
            u = dq.get("unit") or dq.get("code")
            dose_unit = u if isinstance(u, str) else None
        elif isinstance(dr, dict):
            high, low = dr.get("high"), dr.get("low")
            chosen = high if isinstance(high, dict) else low if isinstance(low, dict) else None
            if chosen is not None:
                which = "high" if chosen is high else "low"
                dose = _num(chosen.get("value"), f"{p}.doseAndRate[0].doseRange.{which}.value")
                u = chosen.get("unit") or chosen.get("code")
                dose_unit = u if isinstance(u, str) else None
                upper = chosen is high
                if upper:
                    warnings.append((f"{p}.doseAndRate[0].doseRange", "a dose range: reminders and supply use the upper"
                                                                      " bound (run-out is the conservative case)"))

    # bounds
    start = end = None
    end_inclusive = False
    duration = None
    bp = repeat.get("boundsPeriod")
    if bp is not None:
        if not isinstance(bp, dict):
            raise DosageError(f"{rp}.boundsPeriod", "not a Period")
        s = parse(bp.get("start"), f"{rp}.boundsPeriod.start")
        e = parse(bp.get("end"), f"{rp}.boundsPeriod.end")
        start = s[0] if s else None
        if e:
            instant, was_date = e
            if was_date:  # the whole local day is included: up to the next local midnight, exclusive
                local_day = instant.astimezone(zone).date()
                end = local_to_utc(local_day + timedelta(days=1), time(0, 0), zone)
            else:
                end, end_inclusive = instant, True
        if start is not None and end is not None and end < start:
            raise DosageError(f"{rp}.boundsPeriod.end", "before the start")
    if repeat.get("boundsDuration") is not None:
        duration = _duration(repeat["boundsDuration"], f"{rp}.boundsDuration")
    n = int(count) if count is not None else (int(count_max) if count_max is not None else None)
    needs_start = (cadence in ("interval", "monthly") or (cadence == "weekly" and not weekdays)
                   or every > 1 or n is not None or duration is not None or (cadence == "weekly" and every > 1))

    step = Step(index=i, sequence=sequence, cadence=cadence, times=tuple(times or ()), every=every, hours=hours,
                weekdays=weekdays, count=n, dose=dose, dose_unit=dose_unit, dose_is_upper_bound=upper,
                max_per_day=max_per_day)
    code_out = code or derived
    if when_codes:
        code_out = "+".join(when_codes)
    summary = {"timing_code": code_out, "frequency": frequency, "period": period, "period_unit": unit,
               "times_of_day": list(times or []), "doses_per_day": step.doses_per_day(),
               "dose_quantity": dose, "dose_unit": dose_unit}
    return _Part(i, sequence, p, step, start, end, end_inclusive, duration, needs_start, summary)


@dataclass(frozen=True)
class DosageReading:
    """What ``read_dosages`` makes of the instructions before any start is known: either ``done`` (the
    Interpretation does not depend on a start: no instructions, PRN only, not understood) or the scheduled
    ``parts`` with the ``warnings`` so far and ``any_prn``. Depends only on the instructions, the clinic's
    tables and the zone it was read in (the patient's), so one reading serves every order with the same
    instructions in that zone (``place_dosages``)."""

    done: Interpretation | None
    parts: tuple[Any, ...] = ()
    warnings: tuple[tuple[str, str], ...] = ()
    any_prn: bool = False

    @property
    def start_only(self) -> bool:
        """True when the order's start changes nothing of the placing but each step's ``start``: one sequence,
        and no step with a start, a duration or a count of its own. Then ``place_dosages`` with a start gives
        every step that start and the end its bounds give (``_place``), whatever the start."""
        return (self.done is None and len({p.sequence for p in self.parts}) == 1
                and all(p.start is None and p.duration is None and p.step.count is None for p in self.parts))


def interpret_dosages(dosages: Any, *, zone: ZoneInfo, authored_on: datetime | None,
                      admin_times: Mapping[str, list[str]], event_times: Mapping[str, list[str]],
                      parse_instant: InstantParser) -> Interpretation:
    """Interpret ``MedicationRequest.dosageInstruction`` (the JSON list, or None) by the rules of this module.

    ``zone``: where date-only bounds and wall-clock durations are read: the patient's zone, the one their doses
    keep (the clinic's for a patient without one of their own); ``parse_instant`` must read a date-only value
    as local midnight in that same zone; ``authored_on``: the
    order's start when an instruction gives none (aware, or None); ``admin_times``: the clinic's
    administration-time table (code -> 'HH:MM' list); ``event_times``: its EventTiming table.
    Raises DosageError (JSON path, problem) for an unusable value: the record cannot be imported. Anything
    merely not understood gives ``understood=False`` and a warning naming the element.
    Equal to ``place_dosages(read_dosages(...), authored_on, zone)``.
    """
    reading = read_dosages(dosages, zone=zone, admin_times=admin_times, event_times=event_times,
                           parse_instant=parse_instant)
    return place_dosages(reading, authored_on, zone)


def read_dosages(dosages: Any, *, zone: ZoneInfo, admin_times: Mapping[str, list[str]],
                 event_times: Mapping[str, list[str]], parse_instant: InstantParser) -> DosageReading:
    """The part of ``interpret_dosages`` that does not depend on the order's start (``authoredOn``): every
    instruction read into its step, cadence and bounds. Raises DosageError as ``interpret_dosages``."""
    empty = DosePlan()
    if dosages is None or dosages == []:
        return DosageReading(Interpretation(empty, False, False, False, [], _blank()))
    if not isinstance(dosages, list):
        raise DosageError("dosageInstruction", "not a list")
    warnings: list[tuple[str, str]] = []
    parts: list[_Part] = []
    prn_flags = []
    first_dose: tuple[float | None, str | None] = (None, None)
    for i, d in enumerate(dosages):
        if not isinstance(d, dict):
            raise DosageError(f"dosageInstruction[{i}]", "not an object")
        seq = _num(d.get("sequence"), f"dosageInstruction[{i}].sequence", whole=True, zero_ok=True)
        sequence = int(seq) if seq is not None else None
        prn = is_prn(d)
        prn_flags.append(prn)
        if prn:
            dar = d.get("doseAndRate")
            if i == 0 and isinstance(dar, list) and dar and isinstance(dar[0], dict):
                dq = dar[0].get("doseQuantity")
                if isinstance(dq, dict):
                    u = dq.get("unit") or dq.get("code")
                    first_dose = (_num(dq.get("value"), f"dosageInstruction[{i}].doseAndRate[0].doseQuantity.value"),
                                  u if isinstance(u, str) else None)
            continue
        try:
            parts.append(_part(d, i, sequence if sequence is not None else i, zone, admin_times, event_times,
                               parse_instant, warnings))
        except _NotUnderstood as exc:
            return DosageReading(_not_understood(exc, warnings, _blank(), any(prn_flags) or any(
                is_prn(x) for x in dosages if isinstance(x, dict))))
    all_prn, any_prn = all(prn_flags), any(prn_flags)
    if not parts:
        summary = dict(_blank(), dose_quantity=first_dose[0], dose_unit=first_dose[1])
        return DosageReading(Interpretation(DosePlan(prn=True), all_prn, any_prn, True, warnings, summary))
    return DosageReading(None, tuple(parts), tuple(warnings), any_prn)


def place_dosages(reading: DosageReading, authored_on: datetime | None, zone: ZoneInfo) -> Interpretation:
    """The Interpretation of a ``read_dosages`` reading for an order whose start (when no instruction gives
    one) is ``authored_on``. A new Interpretation each call (its lists and dicts are the caller's)."""
    if reading.done is not None:
        got = reading.done
        return Interpretation(got.plan, got.prn, got.any_prn, got.understood, list(got.warnings),
                              dict(got.summary, times_of_day=list(got.summary["times_of_day"])))
    warnings = list(reading.warnings)
    try:
        steps = _place(list(reading.parts), authored_on, zone)
    except _NotUnderstood as exc:
        return _not_understood(exc, warnings, _blank(), reading.any_prn)
    first = reading.parts[0]
    placed0 = steps[0]
    summary = dict(first.summary, times_of_day=list(first.summary["times_of_day"]), bounds_start=placed0.start,
                   bounds_end=placed0.end)
    return Interpretation(DosePlan(tuple(steps), prn=reading.any_prn), False, reading.any_prn, True, warnings,
                          summary)


def _blank() -> dict[str, Any]:
    """The summary of an order with nothing scheduled (a new dict each call)."""
    return {"timing_code": None, "frequency": None, "period": None, "period_unit": None, "times_of_day": [],
            "doses_per_day": None, "dose_quantity": None, "dose_unit": None, "bounds_start": None,
            "bounds_end": None}


def _not_understood(exc: _NotUnderstood, warnings: list[tuple[str, str]], blank: dict[str, Any],
                    any_prn: bool) -> Interpretation:
    warnings.append((exc.path, f"{exc.problem}; not scheduled (staff set the times)"))
    return Interpretation(DosePlan(), False, any_prn, False, warnings, dict(blank))


def _place(parts: list[_Part], authored_on: datetime | None, zone: ZoneInfo) -> list[Step]:
    """Give every part its start and end: the first sequence starts at its own start or ``authored_on``;
    each later sequence starts where the one before it ended (a taper)."""
    groups: dict[int, list[_Part]] = {}
    for part in sorted(parts, key=lambda x: (x.sequence, x.index)):
        groups.setdefault(part.sequence, []).append(part)
    cursor: datetime | None = authored_on
    out: list[Step] = []
    ordered = sorted(groups)
    for gi, seq in enumerate(ordered):
        ends: list[tuple[datetime, bool] | None] = []
        for part in groups[seq]:
            start = part.start or cursor
            if start is None and part.needs_start:
                raise _NotUnderstood(f"{part.path}.timing.repeat.boundsPeriod.start",
                                     "this schedule counts from its start, and neither boundsPeriod.start nor"
                                     " authoredOn gives one")
            end, inclusive = part.end, part.end_inclusive
            if part.duration is not None:
                if start is None:
                    raise _NotUnderstood(f"{part.path}.timing.repeat.boundsDuration",
                                         "a duration without a start (no boundsPeriod.start, no authoredOn)")
                by_duration = _add_duration(start, part.duration[0], part.duration[1], zone)
                if end is None or by_duration < end:
                    end, inclusive = by_duration, False
            step = replace(part.step, start=start, end=end, end_inclusive=inclusive)
            if step.count is not None and start is not None:
                doses = step_doses(step, zone, start, start + timedelta(days=366 * 20))
                if doses:
                    last = doses[-1].at
                    if end is None or last < end:
                        end, inclusive = last, True
            out.append(step)
            ends.append((end, inclusive) if end is not None else None)
        if gi < len(ordered) - 1:
            if any(e is None for e in ends):
                part = groups[seq][[e is None for e in ends].index(True)]
                raise _NotUnderstood(part.path, f"has no end, yet an instruction with a later sequence"
                                                f" ({ordered[gi + 1]}) follows: where this step ends is unknown")
            end, inclusive = max(ends, key=lambda e: e[0])  # type: ignore[arg-type,return-value]
            cursor = end + timedelta(seconds=1) if inclusive else end
    return out

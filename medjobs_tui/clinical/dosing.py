"""Dose timing: FHIR Timing.repeat -> timing code, doses per day, clock times, and UTC dose instants.

Pure functions, no I/O. Source for the Timing model: HL7 FHIR R4 datatypes, Timing
(hl7.org/fhir/R4/datatypes.html#Timing). ``Timing.code`` abbreviations (QD, BID, ...) mean "at
institution-specified times": the clinic's administration-time table gives the clock times.
"""

from __future__ import annotations

import calendar
import json
from bisect import bisect_left
import functools
import math
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterator
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


@functools.lru_cache(maxsize=4096)
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


@functools.lru_cache(maxsize=1 << 17)
def local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock time ``at`` on local date ``day`` in ``zone``.

    Daylight saving, as a careful pharmacist expects (never skip, never double a dose):
    a local time that does not exist (spring forward, 02:30 on 2026-03-08 in America/New_York) is
    given at the first valid instant after the gap (03:00 local); a time that occurs twice (fall back,
    01:30 on 2026-11-01) is given once, at its first occurrence (fold=0).
    Source: ../shared/DOMAIN.md "Dosing schedules"; Python zoneinfo / PEP 495 fold semantics.
    Pure, so memoised (the supply jobs ask for the same local dates and times of every order).
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


# ==============================================================================================
# Dose plans: every FHIR Timing an order can carry, resolved to concrete steps, and its dose instants.
#
# A ``DosePlan`` is what the import understood of an order's ``dosageInstruction`` list: one ``Step``
# per instruction that is scheduled (PRN parts carry no step), with its start and end already placed
# (tapers one after the other). It is stored as JSON with the order, and everything that needs dose
# instants (reminders, the Doses view, adherence, supply) generates them from it with ``plan_doses``,
# so all of them agree on the doses per day.

CADENCES = ("daily", "weekly", "monthly", "interval")
"""How a step repeats: ``daily`` every ``every`` local days at ``times``; ``weekly`` on ``weekdays`` every
``every`` weeks at ``times``; ``monthly`` on the start's day of the month every ``every`` months at ``times``;
``interval`` every ``hours`` hours of elapsed time from the step's start (the first dose)."""

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""FHIR DaysOfWeek codes, Monday first (index = ``date.weekday()``)."""

MAX_DOSES_PER_QUERY = 200_000
"""A guard: one call never generates more dose instants than this (a runaway schedule is a bug, not a plan)."""


@dataclass(frozen=True)
class Step:
    """One scheduled dosageInstruction, placed in time.

    ``index``: its position in ``dosageInstruction[]``; ``sequence``: FHIR ``Dosage.sequence`` (or the
    position when absent); ``dose``/``dose_unit``: units per administration (None = not stated; for a
    ``doseRange`` the upper bound, ``dose_is_upper_bound`` True); ``cadence`` one of CADENCES; ``times``
    local 'HH:MM' (sorted); ``every`` days, weeks or months; ``hours`` (interval); ``weekdays`` 0 = Monday;
    ``start`` first instant a dose may fall on (aware UTC, inclusive; None = no lower bound);
    ``end`` (aware UTC; None = open) excluded unless ``end_inclusive``; ``count``: at most this many doses
    from ``start``; ``max_per_day``: the upper bound of doses per day when the Timing gives a range
    (frequencyMax), else None.
    """

    index: int
    sequence: int
    cadence: str
    times: tuple[str, ...] = ()
    every: int = 1
    hours: float | None = None
    weekdays: tuple[int, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    end_inclusive: bool = False
    count: int | None = None
    dose: float | None = None
    dose_unit: str | None = None
    dose_is_upper_bound: bool = False
    max_per_day: float | None = None

    def doses_per_day(self) -> float:
        """Average administrations per day of this step (weekly 1 per 7 d -> 1/7; q8h -> 3; monthly: per 30 d)."""
        if self.cadence == "interval":
            return 24.0 / float(self.hours or 24.0)
        n = len(self.times)
        if self.cadence == "daily":
            return n / self.every
        if self.cadence == "weekly":
            return n * max(1, len(self.weekdays)) / (7.0 * self.every)
        return n / (30.0 * self.every)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (instants as UTC ISO text); ``Step.from_json`` reads it back."""
        out: dict[str, Any] = {}
        for name in _step_fields():
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.astimezone(timezone.utc).isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Step":
        """The Step of ``to_json``'s dict; raises ValueError/KeyError/TypeError for a malformed one."""
        kw = dict(data)
        for key in ("start", "end"):
            if kw.get(key):
                kw[key] = datetime.fromisoformat(kw[key])
        for key in ("times", "weekdays"):
            kw[key] = tuple(kw.get(key) or ())
        step = cls(**kw)
        if step.cadence not in CADENCES:
            raise ValueError(f"unknown cadence {step.cadence!r}")
        return step


@functools.cache
def _step_fields() -> tuple[str, ...]:
    return tuple(f.name for f in fields(Step))


@dataclass(frozen=True)
class DosePlan:
    """An order's scheduled steps in sequence order (a taper is several steps one after the other; steps
    with the same sequence apply together). ``prn`` True when an instruction is as-needed (then supply is
    not computed from the plan: a PRN part's use is unknown)."""

    steps: tuple[Step, ...] = ()
    prn: bool = False

    def to_json(self) -> str:
        """The plan as JSON text (for the store)."""
        return json.dumps({"steps": [s.to_json() for s in self.steps], "prn": self.prn}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "DosePlan":
        """The plan of ``to_json``; raises ValueError for malformed text."""
        try:
            data = json.loads(text)
            return cls(tuple(Step.from_json(s) for s in data.get("steps", [])), bool(data.get("prn")))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a dose plan: {type(exc).__name__}") from None

    @property
    def end(self) -> datetime | None:
        """The last instant the plan may give a dose (None when it never ends)."""
        if not self.steps or any(s.end is None and s.count is None for s in self.steps):
            return None
        ends = [s.end for s in self.steps if s.end is not None]
        return max(ends) if ends else None


@dataclass(frozen=True)
class Dose:
    """One dose instant of an order: ``at`` (aware UTC), ``dose`` units (None = not stated), its unit, the
    ``step`` index (dosageInstruction position) it belongs to, and ``count``: how many scheduled
    administrations meet at this instant (1, or more where daylight saving moved a time in the spring gap onto
    another dose, or steps of the same sequence coincide; ``dose`` is then their sum)."""

    at: datetime
    dose: float | None
    unit: str | None
    step: int
    count: int = 1


def _in_step(step: Step, at: datetime) -> bool:
    if step.start is not None and at < step.start:
        return False
    if step.end is not None and (at > step.end if step.end_inclusive else at >= step.end):
        return False
    return True


def _add_months(day: date, months: int, dom: int) -> date | None:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    last = calendar.monthrange(year, month)[1]
    try:
        return date(year, month, min(dom, last))
    except ValueError:
        return None


def _local_days(step: Step, zone: ZoneInfo, lo: datetime, hi: datetime) -> Iterator[date]:
    """Local dates (in order) that can hold a dose of a calendar step between lo and hi."""
    first = lo.astimezone(zone).date() - timedelta(days=1)
    last = hi.astimezone(zone).date() + timedelta(days=1)
    anchor = step.start.astimezone(zone).date() if step.start is not None else None
    if step.cadence == "monthly":
        if anchor is None:
            return
        k = max(0, (first.year - anchor.year) * 12 + first.month - anchor.month - 1)
        while True:
            day = _add_months(anchor, k * step.every, anchor.day)
            k += 1
            if day is None:
                continue
            if day > last:
                return
            if day >= first:
                yield day
        return
    if anchor is not None and first < anchor:
        first = anchor
    day = first
    while day <= last:
        if step.cadence == "daily":
            if anchor is None or (day - anchor).days % step.every == 0:
                yield day
        else:  # weekly
            weekdays = step.weekdays or ((anchor.weekday(),) if anchor is not None else ())
            if day.weekday() in weekdays:
                if anchor is None or step.every == 1:
                    yield day
                else:
                    week0 = anchor - timedelta(days=anchor.weekday())
                    if ((day - week0).days // 7) % step.every == 0:
                        yield day
        day += timedelta(days=1)


_EPOCH = date(2000, 1, 3)
"""The day series of a daily step without a start count from here (any date works: every day is a dose day)."""


@functools.lru_cache(maxsize=1024)
def _sorted_clock(times: tuple[str, ...]) -> tuple[time, ...]:
    return tuple(sorted(parse_clock_time(t) for t in times))


class _ClockTable:
    """The dose instants of "every local day at ``clock``" in ``zone``, memoised and shared by every ``DailySeries``
    of those clock times and zone (every order with the same times asks for the same days and instants).

    Global index ``g`` = local day ordinal x n + the clock time's position: instants never decrease with ``g``
    (see ``DailySeries``). ``day(ordinal)``: the day's UTC instants; ``at_or_after(t)`` / ``after(t)``: the
    smallest global index whose instant is >= / > t. Pure memos of ``local_to_utc``; each starts again past
    KEEP entries."""

    __slots__ = ("clock", "zone", "n", "days", "_at_or_after", "_after")

    KEEP = 20_000

    def __init__(self, clock: tuple[time, ...], zone: ZoneInfo) -> None:
        self.clock, self.zone, self.n = clock, zone, len(clock)
        self.days: dict[int, tuple[datetime, ...]] = {}
        self._at_or_after: dict[datetime, int] = {}
        self._after: dict[datetime, int] = {}

    def day(self, ordinal: int) -> tuple[datetime, ...]:
        found = self.days.get(ordinal)
        if found is None:
            if len(self.days) >= self.KEEP:
                self.days.clear()
            day = date.fromordinal(ordinal)
            found = self.days[ordinal] = tuple(local_to_utc(day, at, self.zone) for at in self.clock)
        return found

    def instant(self, g: int) -> datetime:
        q, i = divmod(g, self.n)
        return self.day(q)[i]

    def _guess(self, t: datetime) -> int:
        local = t.astimezone(self.zone)
        return local.toordinal() * self.n + bisect_left(self.clock, local.time())

    def at_or_after(self, t: datetime) -> int:
        g = self._at_or_after.get(t)
        if g is None:
            g = self._guess(t)
            while self.instant(g) < t:
                g += 1
            while self.instant(g - 1) >= t:
                g -= 1
            if len(self._at_or_after) >= self.KEEP:
                self._at_or_after.clear()
            self._at_or_after[t] = g
        return g

    def after(self, t: datetime) -> int:
        g = self._after.get(t)
        if g is None:
            g = self._guess(t)
            while self.instant(g) <= t:
                g += 1
            while self.instant(g - 1) > t:
                g -= 1
            if len(self._after) >= self.KEEP:
                self._after.clear()
            self._after[t] = g
        return g


_CLOCK_TABLES: dict[tuple[tuple[time, ...], ZoneInfo], _ClockTable] = {}


def _clock_table(clock: tuple[time, ...], zone: ZoneInfo) -> _ClockTable:
    key = (clock, zone)
    table = _CLOCK_TABLES.get(key)
    if table is None:
        if len(_CLOCK_TABLES) >= 4096:
            _CLOCK_TABLES.clear()
        table = _CLOCK_TABLES[key] = _ClockTable(clock, zone)
    return table


class DailySeries:
    """The dose instants of a ``daily`` step (every ``every`` local days at its clock times), addressed by index.

    Dose ``p`` is on local day ``base + (p // n) * every`` at the ``p % n``-th clock time (``n`` times a day,
    sorted; ``base`` the start's local date, else a fixed epoch with every day a dose day). Its instant is
    ``local_to_utc`` of that (day, time), so instants never decrease with ``p`` (wall-clock order survives
    daylight saving: a time in the spring gap moves to the gap's end, a repeated time is taken once at its
    first occurrence). Hence "how many doses in [t0, t1)" and "the k-th dose from t0" are arithmetic on
    indices, with no dose enumerated: the same instants ``step_doses`` gives, each scheduled (day, time) one
    index (two indices share an instant where the spring gap moved one time onto another). The step's
    ``start``, ``end`` and ``end_inclusive`` bound it as in ``step_doses``. ``count`` steps are not a series
    (their end is the n-th dose). Raises ValueError for another cadence, a ``count`` or no times.
    """

    __slots__ = ("zone", "clock", "n", "base", "every", "start", "end", "end_inclusive", "_base_ordinal", "_table",
                 "_offset")

    def __init__(self, step: Step, zone: ZoneInfo) -> None:
        if step.cadence != "daily" or step.count is not None or not step.times:
            raise ValueError("DailySeries needs a daily step with times and no count")
        self.zone = zone
        self.clock = _sorted_clock(tuple(step.times))
        self.n = len(self.clock)
        anchor = step.start.astimezone(zone).date() if step.start is not None else None
        self.base = anchor if anchor is not None else _EPOCH
        self.every = max(1, int(step.every)) if anchor is not None else 1
        self.start, self.end, self.end_inclusive = step.start, step.end, step.end_inclusive
        self._base_ordinal = self.base.toordinal()
        # the days and index lookups are the shared table's (every order with these times and zone asks the same);
        # with every == 1, index p here is the table's global index minus _offset
        self._table = _clock_table(self.clock, zone)
        self._offset = self._base_ordinal * self.n

    def _day(self, q: int) -> tuple[datetime, ...]:
        # the UTC instants of the q-th dose day's clock times
        return self._table.day(self._base_ordinal + q * self.every)

    def instant(self, p: int) -> datetime:
        """The UTC instant of dose index ``p`` (bounds not applied)."""
        if self.every == 1:
            return self._table.instant(p + self._offset)
        q, i = divmod(p, self.n)
        return self._day(q)[i]

    def _guess(self, t: datetime) -> int:
        # the index of the first clock time at or after t's local wall time on t's local day (or the next dose
        # day): exact away from clock changes; index_* correct it by a step or two where DST moved an instant
        local = t.astimezone(self.zone)
        q, r = divmod(local.toordinal() - self._base_ordinal, self.every)
        if r:
            return (q + 1) * self.n
        return q * self.n + bisect_left(self.clock, local.time())

    def index_at_or_after(self, t: datetime) -> int:
        """The smallest index whose instant is >= ``t`` (bounds not applied)."""
        if self.every == 1:
            return self._table.at_or_after(t) - self._offset
        p = self._guess(t)
        while self.instant(p) < t:
            p += 1
        while self.instant(p - 1) >= t:
            p -= 1
        return p

    def index_after(self, t: datetime) -> int:
        """The smallest index whose instant is > ``t`` (bounds not applied)."""
        if self.every == 1:
            return self._table.after(t) - self._offset
        p = self._guess(t)
        while self.instant(p) <= t:
            p += 1
        while self.instant(p - 1) > t:
            p -= 1
        return p

    def within_end(self, at: datetime) -> bool:
        """Whether an instant is not past the step's end (``end`` excluded unless ``end_inclusive``)."""
        return self.end is None or (at <= self.end if self.end_inclusive else at < self.end)

    def _first(self, t0: datetime) -> int:
        # the first index of a dose of the step at or after t0 (the step's start applied)
        return self.index_at_or_after(self.start if self.start is not None and self.start > t0 else t0)

    def _stop(self, t1: datetime) -> int:
        # one past the last index of a dose of the step before t1 (the step's end applied)
        if self.end is not None and (self.end < t1 or (self.end == t1 and not self.end_inclusive)):
            return self.index_after(self.end) if self.end_inclusive else self.index_at_or_after(self.end)
        return self.index_at_or_after(t1)

    def span(self, t0: datetime, t1: datetime) -> tuple[int, int]:
        """[first, stop) indices of the step's doses in [t0, t1) (stop <= first: none)."""
        if t1 <= t0:
            return 0, 0
        return self._first(t0), self._stop(t1)

    def count(self, t0: datetime, t1: datetime) -> int:
        """How many scheduled (day, time) doses of the step fall in [t0, t1)."""
        lo, hi = self.span(t0, t1)
        return max(0, hi - lo)

    def nth_from(self, t0: datetime, k: int) -> datetime | None:
        """The instant of the step's ``k``-th dose (0 = the first) at or after ``t0``, None when the step ends
        before it."""
        at = self.instant(self._first(t0) + k)
        return at if self.within_end(at) else None

    def instants(self, t0: datetime, t1: datetime) -> list[datetime]:
        """The step's dose instants in [t0, t1), sorted, one entry per scheduled (day, time)."""
        lo, hi = self.span(t0, t1)
        return [self.instant(p) for p in range(lo, hi)]

    def on_day(self, day: date, start: datetime, end: datetime) -> list[datetime]:
        """The step's dose instants in [start, end), the UTC bounds of local ``day`` (local midnight to the next,
        or narrower), sorted, one per instant: the same as ``sorted(set(instants(start, end)))`` without index
        lookups. Only ``day``'s clock times can fall in it, and those of the day before where daylight saving
        moved one past midnight (a gap only moves a time forward, by less than a day)."""
        if self.start is not None and self.start > start:
            start = self.start
        found: list[datetime] = []
        for d in (day - timedelta(days=1), day):
            q, r = divmod((d - self.base).days, self.every)
            if not r:
                found.extend(at for at in self._day(q) if start <= at < end and self.within_end(at))
        if len(found) > 1:
            found = sorted(set(found))
        return found


def _step_instants(step: Step, zone: ZoneInfo, lo: datetime, hi: datetime) -> list[datetime]:
    """Instants of one step in [lo, hi) before ``count`` is applied, sorted; each scheduled (local day, time)
    gives one entry, so an instant appears twice when the spring gap moved one time onto another."""
    out: list[datetime] = []
    if step.cadence == "interval":
        if step.start is None or not step.hours:
            return []
        gap = timedelta(hours=step.hours)
        k = max(0, math.floor((lo - step.start) / gap))
        at = step.start + k * gap
        while at < hi:
            if at >= lo and _in_step(step, at):
                out.append(at)
            at += gap
            if len(out) > MAX_DOSES_PER_QUERY:
                raise ValueError("dose plan produces too many doses for one query")
        return sorted(out)
    clock = [parse_clock_time(t) for t in step.times]
    for day in _local_days(step, zone, lo, hi):
        for at_time in clock:
            at = local_to_utc(day, at_time, zone)
            if lo <= at < hi and _in_step(step, at):
                out.append(at)
        if len(out) > MAX_DOSES_PER_QUERY:
            raise ValueError("dose plan produces too many doses for one query")
    return sorted(out)


def step_doses(step: Step, zone: ZoneInfo, start: datetime, end: datetime) -> list[Dose]:
    """The doses of one step in the half-open window [start, end) (aware), sorted.

    Local times go through ``local_to_utc`` (daylight saving: a time in the spring gap is given at the first
    valid instant after it, a repeated time once at its first occurrence; never midnight + minutes).
    ``interval`` steps count elapsed hours from the step's start (the first dose): q8h stays 8 hours apart
    across a clock change. With ``count`` only the first ``count`` doses from the start exist.
    Where the spring gap moves a time onto another dose of the same day (02:00 and 02:30 both become 03:00,
    or 02:00 onto an hourly table's 03:00), both administrations are kept as ONE dose instant with their
    summed quantity and ``count`` 2: nothing is skipped, and no reminder or dose-log entry is doubled (one per
    instant). DOMAIN.md's rule places each gap time; this is what it implies when two meet.
    Source: FHIR R4 Timing (hl7.org/fhir/R4/datatypes.html#Timing); DOMAIN.md "Dosing schedules".
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("step_doses needs an aware window")
    if step.count is not None:
        if step.start is None:
            return []
        counted: list[datetime] = []
        lo, limit = step.start, step.start + timedelta(days=366 * 20)
        while len(counted) < step.count and lo < min(end, limit) and (step.end is None or lo <= step.end):
            hi = lo + timedelta(days=31)
            counted.extend(_step_instants(step, zone, lo, hi))
            lo = hi
        instants = [a for a in counted[:step.count] if start <= a < end]
    else:
        lo = start if step.start is None else max(start, step.start)
        instants = _step_instants(step, zone, lo, end) if lo < end else []
    out: list[Dose] = []
    for a in instants:
        if out and out[-1].at == a:  # two local times met at one instant (spring gap): one dose of both
            prev = out[-1]
            total = prev.dose + step.dose if prev.dose is not None and step.dose is not None else None
            out[-1] = Dose(a, total, step.dose_unit, step.index, prev.count + 1)
        else:
            out.append(Dose(a, step.dose, step.dose_unit, step.index))
    return out


def plan_doses(plan: DosePlan, zone: ZoneInfo, start: datetime, end: datetime) -> list[Dose]:
    """Every dose of a plan in [start, end) (aware UTC), sorted by instant, one per instant.

    Steps of the same sequence apply together; when two of them fall on the same instant their doses are
    added (same unit) into one dose, since one reminder and one dose-log entry exist per instant.
    Source: FHIR R4 Dosage.sequence ("dosage instructions with the same sequence number are to be
    followed at the same time"), hl7.org/fhir/R4/dosage.html.
    """
    merged: dict[datetime, Dose] = {}
    for step in plan.steps:
        for d in step_doses(step, zone, start, end):
            prev = merged.get(d.at)
            if prev is None:
                merged[d.at] = d
            else:
                same_unit = prev.unit == d.unit
                total = prev.dose + d.dose if same_unit and prev.dose is not None and d.dose is not None else None
                merged[d.at] = Dose(d.at, total, prev.unit if same_unit else None, prev.step, prev.count + d.count)
    return [merged[k] for k in sorted(merged)]


class WindowDoses:
    """``plan_doses`` of many plans over the same windows, each distinct daily pattern's doses computed once.

    Most orders are one ``daily`` step without ``count`` that began days before the window (every day at the
    same few clock times, in the clinic's zone): their doses in a window are those of the pattern (the times, dose,
    unit and step index, no bounds), computed once per pattern, zone and window, less those past the step's end.
    ``doses(plan, zone, start, end)`` returns exactly what ``plan_doses(plan, zone, start, end)`` does (a new
    list); a plan of any other shape, or a step starting less than two days before ``start`` (its first day could
    fall in the window), goes through ``plan_doses`` itself. Why it is the same: with the step's start at least
    two days before ``start``, ``plan_doses`` looks at the same local days and instants as for the pattern
    (every day is a dose day when ``every`` is 1 or there is no start, and the start's local date is before the
    first day looked at), and the step's bounds only filter whole instants (doses meeting at one instant pass
    or fail together). Source: issue 10 item 2 (dose instants once per pattern, not per order)."""

    LEAD = timedelta(days=2)

    def __init__(self) -> None:
        self._shared: dict[tuple[Any, ...], list[Dose]] = {}

    def doses(self, plan: DosePlan, zone: ZoneInfo, start: datetime, end: datetime) -> list[Dose]:
        """The doses of ``plan`` in [start, end) (aware), as ``plan_doses`` gives them."""
        if len(plan.steps) != 1:
            return plan_doses(plan, zone, start, end)
        step = plan.steps[0]
        if step.cadence != "daily" or step.count is not None or not step.times or start >= end \
                or (step.start is not None and (step.every != 1 or step.start > start - self.LEAD)):
            return plan_doses(plan, zone, start, end)
        key = (step.times, step.index, step.dose, step.dose_unit, zone, start, end)
        found = self._shared.get(key)
        if found is None:
            pattern = Step(index=step.index, sequence=step.sequence, cadence="daily", times=tuple(step.times),
                           dose=step.dose, dose_unit=step.dose_unit)
            found = self._shared[key] = step_doses(pattern, zone, start, end)
        if step.end is None:
            return list(found)
        return [d for d in found if _in_step(step, d.at)]


def step_in_force(plan: DosePlan, at: datetime) -> list[Step]:
    """The steps whose bounds contain instant ``at`` (the taper step in force), in sequence order."""
    return [s for s in plan.steps if _in_step(s, at)]


def daily_plan(times: list[str] | tuple[str, ...], *, start: datetime | None = None, end: datetime | None = None,
               dose: float | None = None, dose_unit: str | None = None) -> DosePlan:
    """The plan of an order stored before dose plans existed (or written by the demo): every day at ``times``
    (local 'HH:MM') from ``start`` (inclusive) to ``end`` (exclusive), one step. Empty plan without times."""
    if not times:
        return DosePlan()
    return DosePlan((Step(index=0, sequence=0, cadence="daily", times=tuple(sorted(times)), start=start, end=end,
                          dose=dose, dose_unit=dose_unit),))


def dose_text(dose: float | None, unit: str | None) -> str:
    """How a dose is written for staff and patients: ``2 tablet``, ``10 ml``, ``0.5``; ``as prescribed`` when
    the order states no dose."""
    if dose is None:
        return "as prescribed"
    amount = f"{dose:g}"
    return f"{amount} {unit}" if unit else amount


DOSE_STATUSES = ("due", "overdue", "reminded", "taken", "missed", "skipped", "refused", "before import")
"""What the Doses view says of a dose instant."""


def dose_status(logged: str | None, reminded: bool, *, at: datetime | None = None, now: datetime | None = None,
                known_since: datetime | None = None) -> str:
    """The status of one dose instant for staff, from its dose-log entry, whether a reminder was queued and
    (given ``at``, the dose instant, and ``now``, aware UTC) whether it has passed.

    A confirmation (taken, skipped, refused) says what happened; a dose-log 'missed' or 'reminder_missed' is
    ``missed``; otherwise ``reminded`` when the patient's reminder is in the outbox. A dose with neither is
    ``due`` while upcoming and ``overdue`` once its instant has passed (never "due": a nurse reads "due" as
    "still to give"), or ``before import`` when it passed before the order entered the store
    (``known_since``): MedJobs never tracked it and the reminder job never counts it missed. Source: issue 7
    item 5 (statuses due, reminded, taken, missed, skipped); DOMAIN.md "Real-world failures of reminder
    systems" (reminder_missed).
    """
    if logged in ("taken", "skipped", "refused"):
        return logged
    if logged in ("missed", "reminder_missed"):
        return "missed"
    if reminded:
        return "reminded"
    if at is not None and now is not None and at < now:
        return "before import" if known_since is not None and at < known_since else "overdue"
    return "due"

"""Adherence measures: PDC (with and without the PQA overlap shift), MPR and dose-level adherence.

Pure functions, no I/O. Dates are calendar dates (``datetime.date``); days supply in whole days;
results are percentages (0-100, MPR may exceed 100) or None when there is nothing to measure.

Sources: Pharmacy Quality Alliance adherence measures (pqaalliance.org/adherence-measures) and the
NCQA FAQ on PDC, as summarised in ../shared/DOMAIN.md "Adherence (PQA)":
- PDC = days covered / days in period x 100. The period runs from the first fill (index date) to the
  end of the measurement period, both days included.
- Overlapping fills of the same drug: the later fill starts the day after the earlier one ends
  (the shift), and coverage never passes the period end.
- Adherent when PDC >= 80 % (90 % for antiretrovirals); the measure needs >= 2 fills on different dates.
- MPR = sum of days supply / days in period x 100 (may exceed 100 %).
Worked example (../shared/data/reference/pdc_worked_example.csv): 2023-01-10..2023-12-31 = 356 days,
PDC 89.3 %, unshifted 85.4 %, MPR 92.7 %.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Iterable, Sequence

PDC_ADHERENT_PCT = 80.0
"""PQA threshold for adherence (percent)."""
PDC_ADHERENT_PCT_ANTIRETROVIRAL = 90.0
"""PQA threshold for antiretrovirals (percent)."""


@dataclass(frozen=True)
class Fill:
    """One fill: the date it was dispensed and its days supply (whole days, > 0)."""

    fill_date: date
    days_supply: int


def days_in_period(period_start: date, period_end: date) -> int:
    """Days from ``period_start`` to ``period_end``, both included (2023-01-10..2023-12-31 -> 356); 0 if reversed."""
    return max(0, (period_end - period_start).days + 1)


def shifted_periods(fills: Iterable[Fill]) -> list[tuple[date, date]]:
    """Each fill's covered (start, end) dates, both included, with the PQA overlap shift applied.

    Fills are taken in date order; a fill that starts while an earlier fill still covers starts the day
    after that coverage ends. Coverage is not clipped here (see ``covered_days``).
    """
    out: list[tuple[date, date]] = []
    cursor: date | None = None
    for f in sorted(fills, key=lambda f: f.fill_date):
        if f.days_supply <= 0:
            continue
        start = f.fill_date if cursor is None or f.fill_date >= cursor else cursor
        end = start + timedelta(days=f.days_supply - 1)
        out.append((start, end))
        cursor = end + timedelta(days=1)
    return out


def covered_days(fills: Sequence[Fill], period_start: date, period_end: date, *, shift: bool = True) -> int:
    """Days in [period_start, period_end] covered by at least one fill (int).

    With ``shift`` (PQA) overlapping fills are moved later; without it a day covered twice counts once.
    Coverage never passes the period end and never counts days before the period start.
    """
    lo, hi = period_start.toordinal(), period_end.toordinal()
    if shift:
        # shifted spans never overlap (each starts after the one before ends): the covered days are the sum of
        # their lengths within the period
        total = 0
        for start, end in shifted_periods(fills):
            a, b = max(lo, start.toordinal()), min(hi, end.toordinal())
            if a <= b:
                total += b - a + 1
        return total
    spans = [(f.fill_date, f.fill_date + timedelta(days=f.days_supply - 1)) for f in fills if f.days_supply > 0]
    days: set[int] = set()
    for start, end in spans:
        a, b = max(lo, start.toordinal()), min(hi, end.toordinal())
        if a <= b:
            days.update(range(a, b + 1))
    return len(days)


def pdc(fills: Sequence[Fill], period_start: date, period_end: date, *, shift: bool = True) -> float | None:
    """Proportion of Days Covered, percent (0-100), or None for an empty period or no fills.

    ``period_start`` should be the index date (first fill) per PQA; the caller chooses it. Fills after the
    period end are ignored. ``shift=False`` gives the unshifted variant (overlaps counted once).
    Source: PQA PDC measure; DOMAIN.md "Adherence (PQA)".
    """
    n = days_in_period(period_start, period_end)
    relevant = [f for f in fills if f.fill_date <= period_end]
    if n == 0 or not relevant:
        return None
    return 100.0 * covered_days(relevant, period_start, period_end, shift=shift) / n


def pdc_unshifted(fills: Sequence[Fill], period_start: date, period_end: date) -> float | None:
    """PDC without the PQA overlap shift (percent): the naive variant, for comparison (85.4 % in the example)."""
    return pdc(fills, period_start, period_end, shift=False)


def mpr(fills: Sequence[Fill], period_start: date, period_end: date) -> float | None:
    """Medication Possession Ratio, percent: sum of days supply of fills dated in the period / days in period.

    Not capped: may exceed 100 %. None for an empty period or no fills in it. Source: DOMAIN.md.
    """
    n = days_in_period(period_start, period_end)
    inside = [f for f in fills if period_start <= f.fill_date <= period_end]
    if n == 0 or not inside:
        return None
    return 100.0 * sum(f.days_supply for f in inside) / n


def pqa_eligible(fills: Iterable[Fill]) -> bool:
    """True when there are at least two fills on different dates (PQA denominator rule)."""
    return len({f.fill_date for f in fills}) >= 2


def is_adherent(pdc_pct: float | None, *, antiretroviral: bool = False) -> bool | None:
    """PDC >= 80 % (>= 90 % for antiretrovirals) -> True; None when PDC is unknown. Source: PQA."""
    if pdc_pct is None:
        return None
    return pdc_pct >= (PDC_ADHERENT_PCT_ANTIRETROVIRAL if antiretroviral else PDC_ADHERENT_PCT)


def dose_adherence(taken: int, scheduled: int) -> float | None:
    """Dose-level adherence, percent = doses taken / doses scheduled x 100 (capped at 100); None if none scheduled.

    Source: DOMAIN.md ("doses taken / doses scheduled, per patient, medication and day").
    """
    if scheduled <= 0:
        return None
    return 100.0 * min(taken, scheduled) / scheduled

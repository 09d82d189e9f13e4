"""Supply and refill rules: daily usage, days supply, days remaining, supply status, refills.

Pure functions, no I/O. Units: quantities are dispensable units (tablets, mL, actuations: whatever
unit the dose quantity is in); usage is units per day; durations are days (float where fractional,
int where the rule rounds down); instants are aware datetimes (UTC).

Sources (see ../shared/DOMAIN.md "Supply and refills"):
- FHIR R4 MedicationRequest.dispenseRequest: ``quantity`` per fill, ``expectedSupplyDuration`` (days),
  ``numberOfRepeatsAllowed`` = refills in addition to the first fill (30 tablets + 3 repeats = 4 fills).
  hl7.org/fhir/R4/medicationrequest-definitions.html#MedicationRequest.dispenseRequest
- Daily usage = dose quantity x doses per day; days supply = quantity / daily usage; days remaining =
  current supply / daily usage rounded down (30 units at 2 a day = 15 days). No supply data means
  "unknown", never 0 and never critical.
- Refill due: days remaining <= refill lead time (default 7), or >= 75 % of the last fill's days supply
  has elapsed (common US payer refill-too-soon rule for non-controlled drugs).
- Critical supply: no standard exists; the threshold is the clinic's choice (config, per job override).
- Where the stated duration and the computed days supply disagree, flag it and use the smaller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence

SECONDS_PER_DAY = 86400.0

STATUSES = ("critical", "low", "ok", "unknown")
"""Supply statuses, most urgent first."""


def daily_usage(dose_quantity: float | None, doses_per_day: float | None) -> float | None:
    """Units used per day = dose quantity (units) x doses per day; None if either is unknown or <= 0.

    A missing dose quantity is not assumed to be 1: an order without one has unknown usage.
    Source: DOMAIN.md "Supply and refills" (daily usage = dose quantity x doses per day).
    """
    if dose_quantity is None or doses_per_day is None or dose_quantity <= 0 or doses_per_day <= 0:
        return None
    return float(dose_quantity) * float(doses_per_day)


def days_supply(quantity: float | None, usage_per_day: float | None) -> float | None:
    """Days a quantity lasts (days, float) = quantity (units) / daily usage (units/day); None if unknown.

    480 mL at 20 mL a day -> 24.0. Source: DOMAIN.md (days supply = quantity / daily usage).
    """
    if quantity is None or usage_per_day is None or usage_per_day <= 0 or quantity < 0:
        return None
    return float(quantity) / float(usage_per_day)


def days_remaining(current_supply: float | None, usage_per_day: float | None) -> int | None:
    """Whole days of supply left = floor(current supply / daily usage); None means unknown (never 0).

    30 units at 2 a day -> 15. A negative supply counts as 0 units. Source: DOMAIN.md, seed example.
    """
    if current_supply is None or usage_per_day is None or usage_per_day <= 0:
        return None
    # a small epsilon keeps 29.999999 (float noise of elapsed-time arithmetic) from losing a whole day
    return int(math.floor(max(0.0, float(current_supply)) / float(usage_per_day) + 1e-9))


def supply_status(remaining_days: int | None, critical_days: int, low_days: int) -> str:
    """``critical`` if days remaining <= critical_days, ``low`` if <= low_days, else ``ok``; ``unknown`` for None.

    Thresholds are days (config ``clinic.thresholds``; no standard sets them, so a job may override the
    critical one). Unknown supply is never critical. Source: DOMAIN.md "Critical supply".
    """
    if remaining_days is None:
        return "unknown"
    if remaining_days <= critical_days:
        return "critical"
    if remaining_days <= low_days:
        return "low"
    return "ok"


def supply_duration_mismatch(stated_days: float | None, computed_days: float | None,
                             tolerance_days: float = 0.5) -> bool:
    """True when a stated supply duration (days) and the computed days supply differ by more than the tolerance.

    US Core example: stated 30 d, 480 mL / (10 mL x 2 a day) = 24 d -> True. Unknown on either side -> False.
    Source: DOMAIN.md "Where stated duration and computed days supply disagree, flag the mismatch".
    """
    if stated_days is None or computed_days is None:
        return False
    return abs(float(stated_days) - float(computed_days)) > tolerance_days


def effective_days_supply(stated_days: float | None, computed_days: float | None) -> float | None:
    """The days supply to rely on: the smaller of stated and computed (days); whichever is known; else None.

    Source: DOMAIN.md ("flag the mismatch and use the smaller").
    """
    known = [float(d) for d in (stated_days, computed_days) if d is not None and d >= 0]
    return min(known) if known else None


def refill_due(remaining_days: int | None, lead_days: int, *, days_since_fill: float | None = None,
               fill_days_supply: float | None = None, elapsed_fraction: float = 0.75) -> bool:
    """Whether a refill is due (bool).

    Due when days remaining <= ``lead_days`` (config ``refill_lead_days``, default 7), or when at least
    ``elapsed_fraction`` (default 0.75; 0.85-0.90 for controlled substances C-III..V) of the last fill's
    days supply has elapsed (``days_since_fill`` >= fraction x ``fill_days_supply``, both in days).
    Unknown days remaining and no fill -> False (no notice on unknown supply).
    Source: DOMAIN.md "Refill due" (common payer rule).
    """
    if remaining_days is not None and remaining_days <= lead_days:
        return True
    if days_since_fill is not None and fill_days_supply is not None and fill_days_supply > 0:
        return days_since_fill >= elapsed_fraction * fill_days_supply
    return False


def refills_left(repeats_allowed: int | None, fills_used: int) -> int | None:
    """Further fills the prescription authorises = repeats_allowed - (fills_used - 1), floored at 0.

    ``repeats_allowed`` is FHIR numberOfRepeatsAllowed (refills in addition to the first fill), so a
    prescription authorises repeats_allowed + 1 fills: 3 repeats and 1 fill dispensed -> 3 left; 4 fills
    dispensed -> 0 left; no fill yet -> repeats_allowed + 1 (the first fill is still to come).
    None when repeats_allowed is unknown. Source: FHIR R4 dispenseRequest.numberOfRepeatsAllowed; DOMAIN.md.
    """
    if repeats_allowed is None:
        return None
    return max(0, int(repeats_allowed) - (int(fills_used) - 1))


@dataclass(frozen=True)
class Fill:
    """One dispense: when it was handed over (aware UTC), units dispensed, and stated days supply (days)."""

    at: datetime
    quantity: float | None
    days_supply: float | None = None


@dataclass(frozen=True)
class Count:
    """A staff count: units on hand at an aware UTC instant."""

    at: datetime
    quantity: float


@dataclass(frozen=True)
class SupplyAssessment:
    """What is known about one order's supply at an instant.

    ``daily_usage`` units/day; ``current_supply`` units (None = unknown); ``days_remaining`` whole days
    (None = unknown); ``basis`` 'count' | 'fill' | None; ``fill_days_supply`` effective days supply of the
    last fill (days); ``days_since_fill`` days (float); ``fills_used`` number of dispenses on record;
    ``mismatch`` True if a stated and a computed days supply disagree (order or last fill).
    """

    daily_usage: float | None
    current_supply: float | None
    days_remaining: int | None
    basis: str | None
    fill_days_supply: float | None
    days_since_fill: float | None
    fills_used: int
    mismatch: bool


def _days_between(earlier: datetime, later: datetime) -> float:
    return max(0.0, (later - earlier).total_seconds() / SECONDS_PER_DAY)


def assess_supply(*, now: datetime, dose_quantity: float | None, doses_per_day: float | None,
                  fills: Sequence[Fill] = (), count: Count | None = None,
                  order_quantity: float | None = None, order_days: float | None = None) -> SupplyAssessment:
    """Current supply of one order at ``now`` from the latest staff count or, failing that, the last fill.

    - With a staff count: units counted + units dispensed after the count - daily usage x days since the
      count, floored at 0.
    - Else with a fill: (effective days supply of the last fill - days since it) x daily usage, floored
      at 0, where the effective days supply is the smaller of its stated days supply and quantity / daily
      usage (units left over from earlier fills are not assumed).
    - Else, or when daily usage is unknown (PRN, no schedule): unknown.
    ``order_quantity``/``order_days`` (dispenseRequest quantity and expectedSupplyDuration) are only
    checked for a mismatch. Elapsed times are in days (seconds / 86400). Sources: DOMAIN.md.
    """
    usage = daily_usage(dose_quantity, doses_per_day)
    ordered = sorted(fills, key=lambda f: f.at)
    last = ordered[-1] if ordered else None

    mismatch = False
    if usage is not None:
        mismatch = supply_duration_mismatch(order_days, days_supply(order_quantity, usage))
        if last is not None:
            mismatch = mismatch or supply_duration_mismatch(last.days_supply, days_supply(last.quantity, usage))

    fill_days = None
    since_fill = None
    if last is not None:
        fill_days = effective_days_supply(last.days_supply, days_supply(last.quantity, usage))
        since_fill = _days_between(last.at, now)

    supply: float | None = None
    basis: str | None = None
    if usage is not None:
        if count is not None:
            added = sum(f.quantity or 0.0 for f in ordered if f.at > count.at)
            supply = max(0.0, count.quantity + added - usage * _days_between(count.at, now))
            basis = "count"
        elif last is not None and fill_days is not None:
            supply = max(0.0, (fill_days - (since_fill or 0.0)) * usage)
            basis = "fill"
    return SupplyAssessment(
        daily_usage=usage, current_supply=supply, days_remaining=days_remaining(supply, usage), basis=basis,
        fill_days_supply=fill_days, days_since_fill=since_fill, fills_used=len(ordered), mismatch=mismatch,
    )


def count_by_status(statuses: Iterable[str]) -> dict[str, int]:
    """Counts of each supply status (all four keys present, zeros included)."""
    out = {s: 0 for s in STATUSES}
    for s in statuses:
        out[s] = out.get(s, 0) + 1
    return out

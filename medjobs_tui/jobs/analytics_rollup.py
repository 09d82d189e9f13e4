"""Analytics roll-up of one clinic-local day: adherence, supply, safety and job performance.

Rules and their sources:
- The day: the clinic-local date before ``ctx.now`` (option ``day`` = 'YYYY-MM-DD' overrides). Day bounds
  are local midnights turned into UTC with the zone (23- and 25-hour days are handled; never
  "midnight + 24 h"). Source: DOMAIN.md "Dosing schedules".
- Dose adherence per order: doses logged 'taken' / doses scheduled that day, for active scheduled orders of
  living patients; doses scheduled before the order entered the store are not counted (nobody tracked them). Each order's day is the patient's local day (its zone, else the clinic's): a dose belongs
  to the day it was scheduled for, not the day it was confirmed ("a dose confirmed after midnight counted
  against the next day" is a known failure). Source: DOMAIN.md "Adherence (PQA)".
- PDC per order over the 90 days ending that day (``clinical.adherence.pdc`` with the PQA overlap shift),
  from dispenses: index date = first fill in the window; stored only when PQA's >= 2 fills on different dates
  holds, else NULL. Each fill's days supply is the smaller of stated and the days its quantity lasts under
  the order's dose plan (``clinical.supply.plan_usage``), whole days rounded down.
- Supply: supply_status rows by status as computed by the last supply_monitor run (a snapshot).
- Safety: interaction alerts by severity created that day or still open at its end.
- Performance: runs of each job that finished that day (``runs`` table): runs, succeeded, success rate,
  p95 duration (nearest-rank, seconds).
- Re-running a day deletes that day's rows and inserts afresh, in ONE transaction.
- A back-fill (option ``days``: N days ending with the target day) rolls each day up as above, one
  transaction per day, reading the orders, plans and fills once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Callable

from medjobs_tui.clinical import adherence
from medjobs_tui.clinical.dosing import DailySeries, DosePlan, local_to_utc, plan_doses
from medjobs_tui.clinical.interactions import SEVERITIES
from medjobs_tui.clinical.supply import effective_days_supply, plan_usage
from medjobs_tui.clock import iso, parse_iso
from medjobs_tui.config import Settings
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.jobs.medication_reminder import known_since, order_plan, order_zone
from medjobs_tui.store import clinical as store

PDC_WINDOW_DAYS = 90


def day_bounds(day: date, zone) -> tuple[datetime, datetime]:
    """[start, end) UTC instants of a local calendar day in ``zone`` (local midnight to next local midnight)."""
    return local_to_utc(day, time(0, 0), zone), local_to_utc(day + timedelta(days=1), time(0, 0), zone)


def p95(values: list[float]) -> float | None:
    """95th percentile by the nearest-rank method (seconds in, seconds out); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _target_day(ctx: JobContext) -> date:
    opt = ctx.option("day", None)
    if opt:
        try:
            return date.fromisoformat(str(opt))
        except ValueError:
            raise ValueError("analytics_rollup: option 'day' must be a date 'YYYY-MM-DD'") from None
    return ctx.now.astimezone(ctx.zone).date() - timedelta(days=1)


@dataclass
class _Order:
    """What a roll-up needs of one active scheduled order of a living patient, read once for every day rolled
    up: the row, its zone and dose plan, when it entered the store, and its fills as (local fill date, whole
    days supply or None when it counts for nothing): ``fills``, worked out from the dispense rows ``dispensed``
    when first asked for (only orders with two fills or more have a PDC, so only theirs are)."""

    row: dict[str, Any]
    zone: Any
    plan: DosePlan
    since: datetime
    dispensed: list[tuple[str, Any, Any]]
    series: DailySeries | None = None     # the plan's one daily step (most orders): its doses by arithmetic
    fills_used: int = 0                   # every fill on record (``dispensed`` may hold only those a PDC window uses)
    usages: dict[Any, Any] | None = None  # the roll-up's planned use per (plan, zone), shared by its orders
    _fills: list[tuple[date, int | None]] | None = None

    @property
    def fills(self) -> list[tuple[date, int | None]]:
        if self._fills is None:
            self._fills = _fills(self.dispensed, self.plan, self.zone, self.usages)
        return self._fills

    def instants(self, day: date, start: datetime, end: datetime,
                 shared: dict[tuple[Any, ...], list[datetime]] | None = None) -> list[datetime]:
        """The plan's dose instants in [start, end) (within local ``day``), sorted, one per instant (as
        ``plan_doses`` gives them). ``shared`` (given when [start, end) is the whole local day): the day's doses
        of daily series by (clock times, zone, day), reused by every order whose series covers the whole day
        (most orders: few distinct times, one zone)."""
        if start >= end:
            return []
        series = self.series
        if series is None:
            return [d.at for d in plan_doses(self.plan, self.zone, start, end)]
        if shared is None or series.every != 1 or (series.start is not None and series.start > start) \
                or (series.end is not None and series.end < end):
            return series.on_day(day, start, end)
        key = (series.clock, series.zone, day)
        found = shared.get(key)
        if found is None:
            found = shared[key] = series.on_day(day, start, end)
        return found


def run(ctx: JobContext) -> dict[str, Any]:
    """Compute and store the day's analytics, replacing any earlier roll-up of that day; return key figures.

    Option ``days`` (default 1): roll up that many days ending with the target day (a back-fill), oldest first,
    each day in its own transaction exactly as a run for that day alone would; orders, plans and fills are
    read once for all of them. The summary is the target day's, plus ``days_rolled_up``.
    Summary: day ('YYYY-MM-DD'), orders (adherence rows), doses_scheduled, doses_taken, adherence_pct
    (overall, percent), pdc_orders (orders with a PDC), pdc_mean_pct, pdc_adherent (PDC >= 80 %),
    supply ({critical, low, ok, unknown}), safety_alerts, safety ({severity: n}), jobs (performance rows),
    runs, runs_succeeded. Raises ValueError for a ``days`` that is not a whole number from 1 to 3660.
    """
    db, settings = ctx.db, ctx.settings
    last = _target_day(ctx)
    try:
        days = int(ctx.option("days", 1))
    except (TypeError, ValueError):
        raise ValueError("analytics_rollup: option 'days' must be a whole number") from None
    if not 1 <= days <= 3660:
        raise ValueError("analytics_rollup: option 'days' must be from 1 to 3660")
    # the dashboard's bar: one day = active orders read (plans and fills: most of the work), a back-fill = days
    first_day = last - timedelta(days=days - 1)
    orders = _prepare(db, settings, ctx.progress if days == 1 else None, fills_since=_fills_since(first_day))
    summary: dict[str, Any] = {}
    for k in range(days - 1, -1, -1):
        if days > 1:
            ctx.progress(days - k, days)
        summary = _roll_up_day(ctx, last - timedelta(days=k), orders)
    summary["days_rolled_up"] = days
    return summary


def _fills_since(first_day: date) -> str:
    """UTC text before every fill whose local date (in any zone: offsets stay within a day of UTC) can fall in the
    PDC window of ``first_day`` or a later day: two days before the window's first date, midnight UTC."""
    window_start = first_day - timedelta(days=PDC_WINDOW_DAYS - 1)
    return iso(datetime.combine(window_start - timedelta(days=2), time(0, 0), tzinfo=timezone.utc))


def _prepare(db, settings: Settings, progress: Callable[[int, int], object] | None = None,
             fills_since: str | None = None) -> list[_Order]:
    """The active scheduled orders of living patients with their plans and fills (fills' days supply under the
    plan: the smaller of stated and computed, whole days rounded down; None when under one day or unknown).
    ``progress(done, total)``: active orders looked at, of all active orders. ``fills_since`` (UTC text): only
    fills handed over then or later are read with their days supply (those a PDC window of the days rolled up can
    use: ``_fills_since``); every fill is counted (``_Order.fills_used``: PQA's two-fill gate)."""
    dispenses = store.fills_for_pdc(db, since=fills_since)
    fills_used = store.fill_counts(db)
    usages: dict[Any, Any] = {}                      # (plan, zone) -> its planned use, read once per distinct plan
    all_series: dict[Any, DailySeries] = {}
    out: list[_Order] = []
    active = store.active_orders(db, store.ORDER_PLAN_COLUMNS)
    for index, order in enumerate(active, start=1):
        if progress is not None:
            progress(index, len(active))
        if order["deceased"] or order["schedule_status"] != "scheduled":
            continue
        zone = order_zone(order, settings)
        plan = order_plan(order, settings)
        steps = plan.steps
        series = None
        if len(steps) == 1 and steps[0].cadence == "daily" and steps[0].count is None and steps[0].times:
            key = (steps[0], zone)                   # orders with the same step share its series (read-only)
            series = all_series.get(key) or all_series.setdefault(key, DailySeries(steps[0], zone))
        dispensed = dispenses.get(order["id"], [])
        out.append(_Order(order, zone, plan, known_since(order), dispensed, series, fills_used.get(order["id"], 0),
                          usages))
    return out


def _fills(dispenses: list[tuple[str, Any, Any]], plan: DosePlan, zone,
           usages: dict[Any, Any] | None = None) -> list[tuple[date, int | None]]:
    # dispenses: (handed_over_at, quantity, stated days supply) of ``store.clinical.fills_for_pdc``
    if not dispenses:
        return []
    handed = [parse_iso(d[0]) for d in dispenses]
    # the days a quantity lasts under the plan do not depend on the day rolled up (only the rate shown does), nor
    # on the instant the use is read at: one use per distinct plan and zone serves every order and fill of it
    key = (plan, zone)
    if usages is None:
        usage = plan_usage(plan, zone, handed[0])
    else:
        usage = usages[key] if key in usages else usages.setdefault(key, plan_usage(plan, zone, handed[0]))
    out: list[tuple[date, int | None]] = []
    for (_, quantity, stated), at in zip(dispenses, handed):
        computed = usage.days_supply(quantity, at) if usage is not None else None
        supply_days = effective_days_supply(stated, computed)
        whole = None if supply_days is None or supply_days < 1 else int(math.floor(supply_days))
        out.append((at.astimezone(zone).date(), whole))
    return out


def _roll_up_day(ctx: JobContext, day: date, orders: list[_Order]) -> dict[str, Any]:
    db = ctx.db
    day_start, day_end = day_bounds(day, ctx.zone)
    # a patient's local day sits in UTC where its zone puts it: the dose log is read over the union of the day's
    # bounds in every zone of the orders (the clinic's when there are none)
    bounds: dict[Any, tuple[datetime, datetime]] = {}      # zone -> the day's bounds there
    for o in orders:
        if o.zone not in bounds:
            bounds[o.zone] = day_bounds(day, o.zone)
    lo = min([b[0] for b in bounds.values()] + [day_start])
    hi = max([b[1] for b in bounds.values()] + [day_end])
    logged = store.dose_log_between(db, iso(lo), iso(hi), status="taken")
    texts: dict[datetime, str] = {}                         # dose instant -> its UTC text, made once
    rows: list[dict[str, Any]] = []
    shared: dict[tuple[Any, ...], Any] = {}                 # whole-day doses of daily series (see _Order.instants)
    for o in orders:
        start, end = bounds[o.zone]
        # doses before the order entered the store were never tracked: not counted as scheduled
        first = o.since if o.since > start else start
        instants = o.instants(day, first, end, shared if first == start else None)
        if not instants:
            continue
        order_id = o.row["id"]
        taken = 0
        if logged:
            for i in instants:
                text = texts.get(i)
                if text is None:
                    text = texts[i] = iso(i)
                taken += (order_id, text) in logged
        rows.append(dict(
            medication_request_id=order_id, patient_id=o.row["patient_id"], doses_scheduled=len(instants),
            doses_taken=taken, adherence_pct=_round(adherence.dose_adherence(taken, len(instants))),
            pdc_pct=_round(_pdc_of(o.fills, day) if o.fills_used > 1 else None),
        ))

    supply = store.supply_status_counts(db)
    found = store.interaction_alert_counts(db, iso(day_start), iso(day_end))
    safety = {s: found.get(s, 0) for s in SEVERITIES}
    safety.update({s: n for s, n in found.items() if s not in safety})
    perf: dict[str, dict[str, Any]] = {}
    for r in store.runs_finished_between(db, iso(day_start), iso(day_end)):
        p = perf.setdefault(r["job_name"], {"job_name": r["job_name"], "runs": 0, "succeeded": 0, "durations": []})
        p["runs"] += 1
        p["succeeded"] += int(r["status"] == "succeeded")
        if r["duration_s"] is not None:
            p["durations"].append(float(r["duration_s"]))
    performance = [dict(job_name=p["job_name"], runs=p["runs"], succeeded=p["succeeded"],
                        success_rate=_round(100.0 * p["succeeded"] / p["runs"]), p95_duration_s=p95(p["durations"]))
                   for p in sorted(perf.values(), key=lambda p: p["job_name"])]

    store.replace_analytics_day(db, day.isoformat(), adherence=rows, supply=supply, safety=safety,
                                performance=performance, run_id=ctx.run_id)

    scheduled = sum(r["doses_scheduled"] for r in rows)
    taken = sum(r["doses_taken"] for r in rows)
    pdcs = [r["pdc_pct"] for r in rows if r["pdc_pct"] is not None]
    return {
        "day": day.isoformat(), "orders": len(rows), "doses_scheduled": scheduled, "doses_taken": taken,
        "adherence_pct": _round(adherence.dose_adherence(taken, scheduled)),
        "pdc_orders": len(pdcs), "pdc_mean_pct": _round(sum(pdcs) / len(pdcs)) if pdcs else None,
        "pdc_adherent": sum(1 for p in pdcs if adherence.is_adherent(p)),
        "safety_alerts": sum(safety.values()), "jobs": len(performance),
        "runs": sum(p["runs"] for p in performance), "runs_succeeded": sum(p["succeeded"] for p in performance),
        "supply": supply, "safety": safety,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _pdc_of(fills: list[tuple[date, int | None]], day: date) -> float | None:
    """PDC (percent) of one order over the PDC_WINDOW_DAYS days ending ``day`` from its fills (local fill date,
    whole days supply); None if PQA-ineligible (fewer than two fills on different dates in the window)."""
    window_start = day - timedelta(days=PDC_WINDOW_DAYS - 1)
    if len(fills) < 2:
        return None                                   # PQA: at least two fills
    chosen = [adherence.Fill(fill_date=f, days_supply=n) for f, n in fills
              if n is not None and window_start <= f <= day]
    if not adherence.pqa_eligible(chosen):
        return None
    return adherence.pdc(chosen, min(f.fill_date for f in chosen), day)

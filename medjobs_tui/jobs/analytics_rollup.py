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
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from typing import Any

from medjobs_tui.clinical import adherence
from medjobs_tui.clinical.dosing import DosePlan, local_to_utc
from medjobs_tui.clinical.interactions import SEVERITIES
from medjobs_tui.clinical.supply import effective_days_supply, plan_usage
from medjobs_tui.clock import iso, parse_iso
from medjobs_tui.config import Settings
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.jobs.medication_reminder import known_since, order_dose_instants, order_plan, order_zone
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


def run(ctx: JobContext) -> dict[str, Any]:
    """Compute and store the day's analytics, replacing any earlier roll-up of that day; return key figures.

    Summary: day ('YYYY-MM-DD'), orders (adherence rows), doses_scheduled, doses_taken, adherence_pct
    (overall, percent), pdc_orders (orders with a PDC), pdc_mean_pct, pdc_adherent (PDC >= 80 %),
    supply ({critical, low, ok, unknown}), safety_alerts, safety ({severity: n}), jobs (performance rows),
    runs, runs_succeeded.
    """
    db, settings = ctx.db, ctx.settings
    day = _target_day(ctx)
    day_start, day_end = day_bounds(day, ctx.zone)
    # a patient's local day can sit up to a day either side of the clinic's in UTC
    logged = store.dose_log_between(db, iso(day_start - timedelta(days=1)), iso(day_end + timedelta(days=1)),
                                    status="taken")
    dispenses = store.dispenses_by_order(db)

    rows: list[dict[str, Any]] = []
    orders = store.active_orders(db, store.ORDER_PLAN_COLUMNS)
    for index, order in enumerate(orders, start=1):
        ctx.progress(index, len(orders))          # orders rolled up, for the dashboard's bar
        if order["deceased"] or order["schedule_status"] != "scheduled":
            continue
        zone = order_zone(order, settings)
        start, end = day_bounds(day, zone)
        # doses before the order entered the store were never tracked: not counted as scheduled
        plan = order_plan(order, settings)
        instants = order_dose_instants(order, settings, max(start, known_since(order)), end, plan)
        if not instants:
            continue
        taken = sum(1 for i in instants if (order["id"], iso(i)) in logged)
        rows.append(dict(
            medication_request_id=order["id"], patient_id=order["patient_id"], doses_scheduled=len(instants),
            doses_taken=taken, adherence_pct=_round(adherence.dose_adherence(taken, len(instants))),
            pdc_pct=_round(_order_pdc(order, dispenses.get(order["id"], []), day, zone, settings, plan)),
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


def _order_pdc(order: dict[str, Any], dispenses: list[dict[str, Any]], day: date, zone,
               settings: Settings, plan: DosePlan | None = None) -> float | None:
    """PDC (percent) of one order over the PDC_WINDOW_DAYS days ending ``day``; None if PQA-ineligible.
    ``plan``: the order's plan when the caller has read it (else ``order_plan``)."""
    window_start = day - timedelta(days=PDC_WINDOW_DAYS - 1)
    fills: list[adherence.Fill] = []
    if not dispenses:
        return None                       # no fill: not PQA-eligible (>= 2 fills), nothing to compute
    usage = plan_usage(plan if plan is not None else order_plan(order, settings), zone,
                       local_to_utc(day, time(0, 0), zone))
    for d in dispenses:
        handed = parse_iso(d["handed_over_at"])
        filled = handed.astimezone(zone).date()
        if not (window_start <= filled <= day):
            continue
        computed = usage.days_supply(d["quantity"], handed) if usage is not None else None
        supply_days = effective_days_supply(d["days_supply"], computed)
        if supply_days is None or supply_days < 1:
            continue
        fills.append(adherence.Fill(fill_date=filled, days_supply=int(math.floor(supply_days))))
    if not adherence.pqa_eligible(fills):
        return None
    index_date = min(f.fill_date for f in fills)
    return adherence.pdc(fills, index_date, day)

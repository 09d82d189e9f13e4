"""Supply monitor: current supply, daily usage and days remaining of every active order; staff told when critical.

Rules and their sources (see ``clinical.supply`` and ../shared/DOMAIN.md "Supply and refills"):
- Planned use comes from the order's dose plan (tapers change the dose, weekly doses skip days): days supply
  is how long a quantity lasts under it; days remaining are whole days (rounded down) until the supply no
  longer covers a dose (30 units at 2 a day -> 15 days). PRN orders have no planned use: their days remaining
  come from a dispense's stated days supply, else unknown (never a guessed rate); but a PRN order whose latest
  staff count is 0, with nothing dispensed since, is out of supply: 0 days, critical (DOMAIN.md: "asNeeded: no
  scheduled reminders (supply still counts)").
- Refills left = repeats allowed - refills used; the first fill is not a refill (``clinical.supply.refills_left``).
- Current supply: the latest staff count plus units dispensed since, minus usage since the count; else the
  last dispense's effective days supply minus the days since it, times usage. No count and no dispense
  (or no daily usage: PRN, no schedule) -> 'unknown': never 0 and never critical.
- Status: critical when days remaining <= the critical threshold, low when <= the low threshold, else ok.
  No standard sets these: the clinic's ``thresholds.critical_supply_days``/``low_supply_days``, which a
  job may override with ``options.critical_supply_days``/``options.low_supply_days``.
- Where a stated duration (expectedSupplyDuration, or a dispense's days supply) and the computed days
  supply (quantity / daily usage) disagree, the mismatch is counted and the smaller is used.
- One 'supply_critical' staff notice per order and clinic-local day (idempotency key).
- One ``supply_critical`` alert per critical order while it stays critical (``notify.alerts``; its count goes
  up once per clinic-local day), resolved by the first run that finds the order's supply no longer
  critical ("supply refilled") or the order no longer active.
Orders of deceased patients are skipped and their supply_status rows removed, as are rows of orders no
longer active.
- One order's data never fails the run for every patient: an order whose assessment raises on its data
  (``ASSESSMENT_ERRORS``) is left as it was (its supply_status row and alert kept, neither updated nor resolved),
  counted in ``orders_failed`` and named by order number in ``failed_orders`` (at most ``FAILED_ORDERS_NAMED``),
  and the run goes on with the other orders; staff are told by the job's ``orders_unassessed`` alert, resolved by
  a later run that assesses every order (``tell_unassessed``), and the job's validation shows it
  (``engine.validation``). Quantities are bounded in ``clinical.supply`` (MAX_SUPPLY_DAYS), so
  this is the second line.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Sequence

from medjobs_tui.clinical.supply import (
    Count, Fill, FillSummary, SupplyAssessment, assess_fill_summary, counted_in_doses, plan_usage, refills_left,
    supply_status,
)
from medjobs_tui.clock import iso, parse_iso
from medjobs_tui.config import Settings
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.jobs.medication_reminder import order_plan, order_zone
from medjobs_tui.notify import outbox
from medjobs_tui.notify.alerts import Observed, alert_orders_unassessed, reconcile, resolve_orders_unassessed
from medjobs_tui.store import clinical as store
from medjobs_tui.store.db import transaction


ASSESSMENT_ERRORS = (ArithmeticError, ValueError)
"""What an order's own data can make ``assess_order`` raise (a date out of the calendar, a number beyond a float):
the order is reported, the run goes on. Anything else (a store error, a bug) still fails the run."""

FAILED_ORDERS_NAMED = 20
"""At most this many order numbers are named in a summary's ``failed_orders`` (``orders_failed`` counts all)."""


log = logging.getLogger(__name__)


def fitting_counts(counts: dict[int, dict[str, Any]], orders: Sequence[dict[str, Any]],
                   job: str) -> tuple[dict[int, dict[str, Any]], int]:
    """The latest counts (``store.clinical.latest_supply_counts``) whose unit still fits their order's dose unit
    (``clinical.supply.counted_in_doses``, with the order's ``medication_text`` when its rows carry it), and how
    many were left out: a count kept in tablets is not read as doses of an order re-imported with a dose in mg, nor
    a count in mg (kept before such counts were refused) as doses of an order with no dose unit. A count with no
    unit (recorded before units were kept) is read as before. One log line with the number left out (no order or
    patient named)."""
    units = {o["id"]: (o.get("dose_unit"), o.get("medication_text")) for o in orders}
    kept = {oid: c for oid, c in counts.items()
            if not c.get("unit") or oid not in units or counted_in_doses(units[oid][0], c["unit"], units[oid][1])}
    ignored = len(counts) - len(kept)
    if ignored:
        log.warning("%s: %d supply count(s) ignored: their unit no longer fits the order's dose unit", job, ignored)
    return kept, ignored


def note_failed(summary: dict[str, Any], order_id: int) -> None:
    """Count an order whose assessment failed in ``summary`` (``orders_failed``) and name its number in
    ``failed_orders`` (the first FAILED_ORDERS_NAMED): order numbers and counts only, never patient data."""
    summary["orders_failed"] = summary.get("orders_failed", 0) + 1
    named = summary.setdefault("failed_orders", [])
    if len(named) < FAILED_ORDERS_NAMED:
        named.append(order_id)


def tell_unassessed(ctx: JobContext, summary: dict[str, Any]) -> None:
    """Staff told when a run could not assess some orders (``orders_failed`` > 0 in ``summary``): the job's
    ``orders_unassessed`` alert opened or bumped for this run, naming it and the orders by number
    (``notify.alerts.alert_orders_unassessed``); a run that assessed every order resolves it. ``summary`` gets
    ``unassessed_alert``: ``opened``, ``bumped``, ``seen``, ``resolved`` or None. Joins the caller's transaction.
    Source: a run that leaves orders unchecked must not pass for a clean success (no supply data is "unknown",
    never fine: DOMAIN.md "Supply and refills")."""
    if summary.get("orders_failed"):
        change = alert_orders_unassessed(ctx.db, job_name=ctx.job_name, run_id=ctx.run_id,
                                         failed=summary["orders_failed"], named=summary["failed_orders"], now=ctx.now)
        summary["unassessed_alert"] = change.what
    else:
        done = resolve_orders_unassessed(ctx.db, job_name=ctx.job_name, run_id=ctx.run_id, now=ctx.now)
        summary["unassessed_alert"] = "resolved" if done else None


def assess_order(order: dict[str, Any], counts: dict[int, dict[str, Any]], fills: dict[int, dict[str, Any]],
                 now: datetime, settings: Settings, usages: dict[Any, Any] | None = None) -> SupplyAssessment:
    """The supply of one order (a row of ``store.clinical.active_orders``) at ``now`` from store rows (``counts``:
    ``store.clinical.latest_supply_counts``; ``fills``: ``store.clinical.fill_summaries``), with its planned use
    from the order's dose plan (``clinical.supply.plan_usage``: tapers, weekly doses, PRN = none). ``usages``: a
    dict the caller keeps for one ``now``, where the planned use of each distinct (plan, zone) is kept (orders
    sharing a plan share its use and its memoised look-ups)."""
    f = fills.get(order["id"])
    if f is None:
        summary = FillSummary(last=None, fills_used=0)
    else:
        summary = FillSummary(
            last=Fill(at=parse_iso(f["handed_over_at"]), quantity=f["quantity"], days_supply=f["days_supply"]),
            fills_used=f["fills"], added_since_count=sum(q or 0.0 for q in f["added"]))
    c = counts.get(order["id"])
    count = Count(at=parse_iso(c["counted_at"]), quantity=float(c["quantity"])) if c else None
    plan = order_plan(order, settings)
    zone = order_zone(order, settings)
    if order["schedule_status"] == "prn":
        usage = None
    elif usages is None:
        usage = plan_usage(plan, zone, now)
    else:
        key = (plan, zone)
        usage = usages[key] if key in usages else usages.setdefault(key, plan_usage(plan, zone, now))
    starts = [s.start for s in plan.steps if s.start is not None]
    return assess_fill_summary(
        now=now, usage=usage, summary=summary, count=count, order_quantity=order["dispense_quantity"],
        order_days=order["expected_supply_days"], order_start=min(starts) if starts else None,
    )


def run(ctx: JobContext) -> dict[str, Any]:
    """Recompute supply_status for every active order of a living patient; return counts.

    Summary (orders_checked = critical + low + ok + unknown, always): orders_checked, critical, low, ok, unknown,
    orders_failed and failed_orders (orders whose assessment raised on their data: not checked, see the module),
    unassessed_alert (what ``tell_unassessed`` did to the job's ``orders_unassessed`` alert),
    counts_ignored (latest counts whose unit no longer fits the order's dose unit: ``fitting_counts``),
    no_daily_usage (no planned use: PRN, unscheduled, no dose), from_dispense_history (PRN orders whose days
    remaining come from a dispense's stated days supply), covers_course (supply lasts to the end of the plan),
    mismatches (stated vs computed days supply), notices_queued, notices_already_sent, deceased_skipped,
    rows_pruned, critical_supply_days, low_supply_days (thresholds used, days).
    Raises ValueError if the critical threshold exceeds the low one.
    """
    db, now = ctx.db, ctx.now
    th = ctx.settings.clinic.thresholds
    critical_days = int(ctx.option("critical_supply_days", th.critical_supply_days))
    low_days = int(ctx.option("low_supply_days", th.low_supply_days))
    if critical_days < 0 or low_days < critical_days:
        raise ValueError("supply_monitor: need 0 <= critical_supply_days <= low_supply_days")
    local_day = now.astimezone(ctx.zone).date().isoformat()
    computed_at = iso(now)

    counts = store.latest_supply_counts(db)
    fills = store.fill_summaries(db)
    usages: dict[Any, Any] = {}
    summary: dict[str, Any] = dict(orders_checked=0, critical=0, low=0, ok=0, unknown=0, no_daily_usage=0, from_dispense_history=0,
                   covers_course=0, mismatches=0,
                   notices_queued=0, notices_already_sent=0, deceased_skipped=0, rows_pruned=0, orders_failed=0,
                   failed_orders=[])
    rows: list[dict[str, Any]] = []
    unassessed: set[int] = set()
    critical: list[tuple[dict[str, Any], int]] = []
    orders = store.active_orders(db, (*store.ORDER_PLAN_COLUMNS, "medication_text"))
    counts, summary["counts_ignored"] = fitting_counts(counts, orders, "supply_monitor")
    for index, order in enumerate(orders, start=1):
        ctx.progress(index, len(orders))          # orders looked at, for the dashboard's bar
        if order["deceased"] or order["schedule_status"] == "deceased":
            summary["deceased_skipped"] += 1
            continue
        try:
            a = assess_order(order, counts, fills, now, ctx.settings, usages)
        except ASSESSMENT_ERRORS:
            note_failed(summary, order["id"])
            unassessed.add(order["id"])       # every one, named or not: its row and alert are kept as they were
            continue
        summary["orders_checked"] += 1
        status = supply_status(a.days_remaining, critical_days, low_days, covers_course=a.covers_course)
        summary[status] += 1
        summary["no_daily_usage"] += int(a.daily_usage is None)
        summary["from_dispense_history"] += int(a.basis == "fill_stated")
        summary["covers_course"] += int(a.covers_course)
        summary["mismatches"] += int(a.mismatch)
        rows.append(dict(
            medication_request_id=order["id"], patient_id=order["patient_id"],
            current_supply=None if a.current_supply is None else round(a.current_supply, 3),
            daily_usage=a.daily_usage, days_remaining=a.days_remaining, status=status,
            refills_left=refills_left(order["repeats_allowed"], a.fills_used), computed_at=computed_at,
            run_id=ctx.run_id,
        ))
        if status == "critical":
            critical.append((order, a.days_remaining))

    with transaction(db):
        store.upsert_supply_status(db, rows)
        kept = [r["medication_request_id"] for r in rows] + sorted(unassessed)
        summary["rows_pruned"] = store.prune_supply_status(db, kept)
        for order, days in critical:
            new = outbox.queue(
                db, kind="supply_critical", key=outbox.supply_critical_key(order["id"], local_day), now=now,
                params={"patient": order["pseudonym"], "order": order["id"], "days_remaining": days,
                        "threshold_days": critical_days},
                patient_id=order["patient_id"], medication_request_id=order["id"], run_id=ctx.run_id,
            )
            summary["notices_queued" if new else "notices_already_sent"] += 1
        changed = reconcile_supply_alerts(db, critical, rows, critical_days, local_day, now,
                                          unassessed=unassessed)
        summary["alerts_opened"], summary["alerts_resolved"] = changed["opened"], changed["resolved"]
        tell_unassessed(ctx, summary)
    summary["critical_supply_days"] = critical_days
    summary["low_supply_days"] = low_days
    return summary


def supply_scope(order_id: int, pseudonym: str) -> str:
    """The scope of an order's ``supply_critical`` alert: ``order 45 (P-00012)`` (ids and pseudonym only)."""
    return f"order {order_id} ({pseudonym})"


def reconcile_supply_alerts(db: Any, critical: list[tuple[dict[str, Any], int]], rows: list[dict[str, Any]],
                            critical_days: int, local_day: str, now: datetime,
                            unassessed: set[int] = frozenset()) -> dict[str, int]:  # type: ignore[assignment]
    """Open (or bump once per clinic-local day) a ``supply_critical`` alert per order in ``critical`` (order
    row, days remaining) and resolve those of orders whose supply_status ``rows`` are no longer critical
    (refilled) or that have none (no longer active). Joins the caller's transaction; returns the counts of
    ``notify.alerts.reconcile``. The staff notice of a new alert is the job's own ``supply_critical`` one. The alerts
    of ``unassessed`` orders (their assessment failed this run) are left as they are."""
    observed = {supply_scope(order["id"], order["pseudonym"]): Observed(
        summary=f"{days} day(s) of supply left (critical at {critical_days} day(s) or less)", ref=local_day)
        for order, days in critical}
    status = {r["medication_request_id"]: r for r in rows}

    def reason(alert: dict[str, Any]) -> str:
        order_id = int(alert["scope"].split()[1])
        r = status.get(order_id)
        if r is None:
            return f"order {order_id} is no longer active"
        if r["days_remaining"] is None:
            return f"order {order_id}: supply no longer known to be critical (now {r['status']})"
        return f"supply refilled: order {order_id} has {r['days_remaining']} day(s) of supply left ({r['status']})"

    return reconcile(db, "supply_critical", observed, now, reason, notify=False,
                     scopes=lambda scope: int(scope.split()[1]) not in unassessed)

"""Refill check: which scheduled orders are due for a refill, and which need a renewal from the prescriber.

Rules and their sources (``clinical.supply``; ../shared/DOMAIN.md "Supply and refills"):
- Only active, scheduled orders of living patients: a daily usage is needed (PRN and unscheduled orders
  have none, so their supply runs out at an unknown date).
- Current supply and days remaining as in the supply monitor (staff count, else last fill; the smaller of
  stated and computed days supply). Unknown supply -> counted as unknown, no notice.
- Refill due when days remaining <= ``thresholds.refill_lead_days`` (default 7) or when
  ``thresholds.refill_elapsed_fraction`` (default 0.75) of the last fill's days supply has elapsed
  (common payer rule for non-controlled drugs); ``thresholds.refill_elapsed_fraction_controlled`` (default
  0.85) for an order with a controlled ingredient (``clinical.controlled``: DEA schedules II-V, 21 CFR
  1308.12-15, and the clinic's ``controlled_substances``), whose lead time cannot make it due before that share
  (``clinical.supply.refill_due``). A schedule II order is never refilled (21 CFR 1306.12(a)): once filled and
  due, it needs a renewal from the prescriber, whatever its numberOfRepeatsAllowed says.
- Refills left = numberOfRepeatsAllowed - refills used, the first fill not being a refill
  (``clinical.supply.refills_left``). Due with none left after the first fill -> 'renewal_needed' to the
  prescriber (``renewal_needed``); a supply lasting to the end of the course is never due; due otherwise -> 'refill_due' to the patient (not to a patient who opted out of reminders:
  counted as opted_out_skipped). Unknown repeats -> treated as a refill (we cannot claim a renewal is needed).
- One notice per order and fill: idempotency key ``<kind>:<order>:fill<n>``, so a daily run does not repeat it.
- An order whose assessment raises on its data is counted in ``orders_failed``, named by number in
  ``failed_orders``, and the run goes on (as in the supply monitor: ``supply_monitor.ASSESSMENT_ERRORS``); staff are
  told by the job's ``orders_unassessed`` alert until a run assesses every order (``supply_monitor.tell_unassessed``).
"""

from __future__ import annotations

from typing import Any

from medjobs_tui.clinical.controlled import controlled_schedule
from medjobs_tui.clinical.supply import refill_due, refills_left, renewal_needed
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.jobs.supply_monitor import (
    ASSESSMENT_ERRORS, assess_order, fitting_counts, note_failed, tell_unassessed,
)
from medjobs_tui.notify import outbox
from medjobs_tui.store import clinical as store
from medjobs_tui.store.db import transaction


def run(ctx: JobContext) -> dict[str, Any]:
    """Queue refill and renewal notices for scheduled orders; return counts.

    Summary: orders_checked, refill_due, renewal_needed (orders found due in each way this run),
    notices_queued (new), notices_already_sent, supply_unknown, not_due, refills_unknown,
    deceased_skipped, not_scheduled_skipped, opted_out_skipped, controlled (orders checked against the
    controlled-substance share, ``thresholds.refill_elapsed_fraction_controlled``), orders_failed and
    failed_orders (orders whose assessment raised on their data, by number; not checked), unassessed_alert
    (``supply_monitor.tell_unassessed``), counts_ignored (latest
    counts whose unit no longer fits the order's dose unit: ``supply_monitor.fitting_counts``).
    """
    db, now = ctx.db, ctx.now
    th = ctx.settings.clinic.thresholds
    lead_days = int(ctx.option("refill_lead_days", th.refill_lead_days))
    fraction = float(ctx.option("refill_elapsed_fraction", th.refill_elapsed_fraction))
    controlled_fraction = float(ctx.option("refill_elapsed_fraction_controlled", th.refill_elapsed_fraction_controlled))
    extra_schedules = ctx.settings.clinic.controlled_substances
    counts = store.latest_supply_counts(db)
    fills = store.fill_summaries(db)
    usages: dict[Any, Any] = {}
    summary: dict[str, Any] = dict(orders_checked=0, refill_due=0, renewal_needed=0, notices_queued=0, notices_already_sent=0,
                   supply_unknown=0, not_due=0, refills_unknown=0, deceased_skipped=0, not_scheduled_skipped=0,
                   opted_out_skipped=0, controlled=0, orders_failed=0, failed_orders=[])
    notices: list[tuple[str, dict[str, Any], int, int | None, int]] = []
    orders = store.active_orders(db, (*store.ORDER_PLAN_COLUMNS, "ingredients", "medication_text"))
    counts, summary["counts_ignored"] = fitting_counts(counts, orders, "refill_check")
    for index, order in enumerate(orders, start=1):
        ctx.progress(index, len(orders))          # orders looked at, for the dashboard's bar
        if order["deceased"] or order["schedule_status"] == "deceased":
            summary["deceased_skipped"] += 1
            continue
        if order["schedule_status"] != "scheduled":
            summary["not_scheduled_skipped"] += 1
            continue
        try:
            a = assess_order(order, counts, fills, now, ctx.settings, usages)
        except ASSESSMENT_ERRORS:
            note_failed(summary, order["id"])
            continue
        summary["orders_checked"] += 1
        if a.days_remaining is None:
            summary["supply_unknown"] += 1
            continue
        schedule = controlled_schedule(order["ingredients"], extra_schedules)
        summary["controlled"] += int(schedule is not None)
        if not refill_due(a.days_remaining, lead_days, days_since_fill=a.days_since_fill,
                          fill_days_supply=a.fill_days_supply,
                          elapsed_fraction=controlled_fraction if schedule else fraction,
                          covers_course=a.covers_course, controlled=schedule is not None):
            summary["not_due"] += 1
            continue
        left = refills_left(order["repeats_allowed"], a.fills_used)
        if schedule == "II" and a.fills_used >= 1:
            left = 0                        # a C-II prescription is never refilled (21 CFR 1306.12(a)): a new one
        if renewal_needed(left, a.fills_used):
            summary["renewal_needed"] += 1
            notices.append(("renewal_needed", order, a.days_remaining, left, a.fills_used))
        else:
            summary["refill_due"] += 1
            summary["refills_unknown"] += int(left is None)
            if order["reminders_opt_out"]:
                summary["opted_out_skipped"] += 1
                continue
            notices.append(("refill_due", order, a.days_remaining, left, a.fills_used))

    with transaction(db):
        for kind, order, days, left, fills_used in notices:
            if kind == "renewal_needed":
                params: dict[str, object] = {"patient": order["pseudonym"], "order": order["id"],
                                             "days_remaining": days}
            else:
                params = {"order": order["id"], "days_remaining": days,
                          "refills_left": "unknown" if left is None else left}
            new = outbox.queue(
                db, kind=kind, key=outbox.refill_key(kind, order["id"], fills_used), now=now, params=params,
                patient_id=order["patient_id"], medication_request_id=order["id"], run_id=ctx.run_id,
            )
            summary["notices_queued" if new else "notices_already_sent"] += 1
        tell_unassessed(ctx, summary)
    return summary

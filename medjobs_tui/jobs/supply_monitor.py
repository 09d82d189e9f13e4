"""Supply monitor: current supply, daily usage and days remaining of every active order; staff told when critical.

Rules and their sources (see ``clinical.supply`` and ../shared/DOMAIN.md "Supply and refills"):
- Daily usage = dose quantity x doses per day; days remaining = floor(current supply / daily usage)
  (30 units at 2 a day -> 15 days).
- Current supply: the latest staff count plus units dispensed since, minus usage since the count; else the
  last dispense's effective days supply minus the days since it, times usage. No count and no dispense
  (or no daily usage: PRN, no schedule) -> 'unknown': never 0 and never critical.
- Status: critical when days remaining <= the critical threshold, low when <= the low threshold, else ok.
  No standard sets these: the clinic's ``thresholds.critical_supply_days``/``low_supply_days``, which a
  job may override with ``options.critical_supply_days``/``options.low_supply_days``.
- Where a stated duration (expectedSupplyDuration, or a dispense's days supply) and the computed days
  supply (quantity / daily usage) disagree, the mismatch is counted and the smaller is used.
- One 'supply_critical' staff notice per order and clinic-local day (idempotency key).
Orders of deceased patients are skipped and their supply_status rows removed, as are rows of orders no
longer active.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from medjobs_tui.clinical.supply import Count, Fill, SupplyAssessment, assess_supply, refills_left, supply_status
from medjobs_tui.clock import iso, parse_iso
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.notify import outbox
from medjobs_tui.store import clinical as store
from medjobs_tui.store.db import transaction


def assess_order(order: dict[str, Any], counts: dict[int, dict[str, Any]], dispenses: dict[int, list[dict[str, Any]]],
                 now: datetime) -> SupplyAssessment:
    """The supply of one order (a row of ``store.clinical.active_orders``) at ``now`` from store rows."""
    fills = [Fill(at=parse_iso(d["handed_over_at"]), quantity=d["quantity"], days_supply=d["days_supply"])
             for d in dispenses.get(order["id"], [])]
    c = counts.get(order["id"])
    count = Count(at=parse_iso(c["counted_at"]), quantity=float(c["quantity"])) if c else None
    return assess_supply(
        now=now, dose_quantity=order["dose_quantity"], doses_per_day=order["doses_per_day"], fills=fills,
        count=count, order_quantity=order["dispense_quantity"], order_days=order["expected_supply_days"],
    )


def run(ctx: JobContext) -> dict[str, Any]:
    """Recompute supply_status for every active order of a living patient; return counts.

    Summary: orders_checked, critical, low, ok, unknown, no_daily_usage (unknown because PRN or unscheduled),
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

    counts = store.latest_supply_counts(db)
    dispenses = store.dispenses_by_order(db)
    summary = dict(orders_checked=0, critical=0, low=0, ok=0, unknown=0, no_daily_usage=0, mismatches=0,
                   notices_queued=0, notices_already_sent=0, deceased_skipped=0, rows_pruned=0)
    rows: list[dict[str, Any]] = []
    critical: list[tuple[dict[str, Any], int]] = []
    for order in store.active_orders(db):
        if order["deceased"] or order["schedule_status"] == "deceased":
            summary["deceased_skipped"] += 1
            continue
        summary["orders_checked"] += 1
        a = assess_order(order, counts, dispenses, now)
        status = supply_status(a.days_remaining, critical_days, low_days)
        summary[status] += 1
        summary["no_daily_usage"] += int(a.daily_usage is None)
        summary["mismatches"] += int(a.mismatch)
        rows.append(dict(
            medication_request_id=order["id"], patient_id=order["patient_id"],
            current_supply=None if a.current_supply is None else round(a.current_supply, 3),
            daily_usage=a.daily_usage, days_remaining=a.days_remaining, status=status,
            refills_left=refills_left(order["repeats_allowed"], a.fills_used), computed_at=iso(now),
            run_id=ctx.run_id,
        ))
        if status == "critical":
            critical.append((order, a.days_remaining))

    with transaction(db):
        store.upsert_supply_status(db, rows)
        summary["rows_pruned"] = store.prune_supply_status(db, [r["medication_request_id"] for r in rows])
        for order, days in critical:
            new = outbox.queue(
                db, kind="supply_critical", key=outbox.supply_critical_key(order["id"], local_day), now=now,
                params={"patient": order["pseudonym"], "order": order["id"], "days_remaining": days,
                        "threshold_days": critical_days},
                patient_id=order["patient_id"], medication_request_id=order["id"], run_id=ctx.run_id,
            )
            summary["notices_queued" if new else "notices_already_sent"] += 1
    summary["critical_supply_days"] = critical_days
    summary["low_supply_days"] = low_days
    return summary

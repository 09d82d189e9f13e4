"""Medication reminder: one patient reminder per dose due in the next window; staff told of doses long past.

Rules and their sources:
- Only active orders with a schedule (``schedule_status`` 'scheduled'): PRN orders (FHIR ``asNeeded``) get
  no scheduled reminders; deceased patients are never reminded, whatever their orders' status (Synthea keeps
  active orders of deceased patients); patients who opted out get none. Source: ../shared/DOMAIN.md.
- Dose instants come from the order's dose plan (``clinical.timing``: every dosageInstruction, tapers,
  weekly and hourly schedules, bounds and count) in the patient's IANA zone (else the clinic's), by
  ``clinical.dosing.plan_doses`` (daylight saving: never skipped, never doubled). Each reminder carries
  the dose of the step in force at its instant. Source: FHIR R4 Timing; DOMAIN.md "Dosing schedules".
- A dose in [now, now + window_minutes) (option, default 15) is reminded; so is a dose that passed less than
  ``thresholds.reminder_catch_up_minutes`` ago with no reminder yet (the runner was off): reminded late,
  once. A dose already in the dose log (confirmed) is not reminded.
- A dose that passed more than the catch-up limit ago (looking back ``lookback_hours``, option, default 24)
  with neither a reminder nor a dose-log entry is NOT reminded (a late reminder can cause a double dose):
  the dose log records 'reminder_missed' and staff get one notice per dose. Source: DOMAIN.md "Real-world
  failures of reminder systems".
- One reminder per dose, ever: idempotency key ``dose_reminder:<order>:<UTC instant>``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from medjobs_tui.clinical.dosing import Dose, DosePlan, daily_plan, dose_text, plan_doses
from medjobs_tui.clock import iso, parse_iso
from medjobs_tui.config import Settings
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.notify import outbox
from medjobs_tui.store import clinical as store
from medjobs_tui.store.db import transaction

DEFAULT_WINDOW_MINUTES = 15
DEFAULT_LOOKBACK_HOURS = 24


def order_zone(order: dict[str, Any], settings: Settings) -> ZoneInfo:
    """The IANA zone of an order's dose times: the patient's zone, else the clinic's."""
    return ZoneInfo(order["patient_timezone"]) if order.get("patient_timezone") else settings.zone


def order_times(order: dict[str, Any], settings: Settings) -> list[str]:
    """Local 'HH:MM' dose times of an order stored without a dose plan: its own ``times_of_day``, else the
    clinic table for its timing code."""
    if order.get("times_of_day"):
        return list(order["times_of_day"])
    code = order.get("timing_code")
    return list(settings.clinic.administration_times.get(code, [])) if code else []


def _instant(text: str | None) -> datetime | None:
    try:
        return parse_iso(text) if text else None
    except ValueError:
        return None


def order_bounds(order: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """(first, end) instants (UTC) a legacy order's doses may fall in: the later of boundsPeriod.start and
    authoredOn, and boundsPeriod.end (exclusive); None where unknown or unparseable."""
    starts = [d for d in (_instant(order.get("bounds_start")), _instant(order.get("authored_on"))) if d]
    return (max(starts) if starts else None), _instant(order.get("bounds_end"))


def known_since(order: dict[str, Any]) -> datetime:
    """When the order entered the store (UTC): doses before it cannot be "reminder missed"."""
    return _instant(order.get("created_at")) or datetime.min.replace(tzinfo=timezone.utc)


def order_plan(order: dict[str, Any], settings: Settings) -> DosePlan:
    """The dose plan of an order row: its stored ``dose_plan`` (the import's reading of every
    dosageInstruction), else, for rows written without one (the demo, older stores), every day at
    ``order_times`` within ``order_bounds``. An unreadable stored plan gives an empty plan (no doses)."""
    if order.get("dose_plan"):
        try:
            return DosePlan.from_json(order["dose_plan"])
        except ValueError:
            return DosePlan()
    first, last = order_bounds(order)
    return daily_plan(order_times(order, settings), start=first, end=last, dose=order.get("dose_quantity"),
                      dose_unit=order.get("dose_unit"))


def order_doses(order: dict[str, Any], settings: Settings, start: datetime, end: datetime) -> list[Dose]:
    """The doses (instant, dose, unit, step) of an order in [start, end), from ``order_plan``."""
    if start >= end:
        return []
    return plan_doses(order_plan(order, settings), order_zone(order, settings), start, end)


def order_dose_instants(order: dict[str, Any], settings: Settings, start: datetime, end: datetime) -> list[datetime]:
    """UTC dose instants of an order in [start, end), within the order's bounds."""
    return [d.at for d in order_doses(order, settings, start, end)]


def run(ctx: JobContext) -> dict[str, Any]:
    """Queue dose reminders for the coming window and record doses past the catch-up limit; return counts.

    Summary (counts of orders or doses): orders_considered (active orders), orders_eligible, doses_due
    (unconfirmed doses in [now - catch-up limit, now + window) = reminders_queued + reminders_already_sent;
    a dose reminded by the previous run is counted again as already sent until it passes the catch-up
    limit), reminders_queued (new, incl. late_reminders_queued),
    reminders_already_sent, late_reminders_queued, doses_already_confirmed, prn_skipped, deceased_skipped,
    opted_out_skipped, no_schedule_skipped, reminders_missed (new 'reminder_missed' dose-log entries),
    missed_notices_queued, window_minutes. Options: window_minutes, lookback_hours.
    """
    settings, db, now = ctx.settings, ctx.db, ctx.now
    window = timedelta(minutes=int(ctx.option("window_minutes", DEFAULT_WINDOW_MINUTES)))
    catch_up_minutes = int(settings.clinic.thresholds.reminder_catch_up_minutes)
    catch_up = timedelta(minutes=catch_up_minutes)
    lookback = timedelta(hours=float(ctx.option("lookback_hours", DEFAULT_LOOKBACK_HOURS)))
    if window <= timedelta(0) or lookback < catch_up:
        raise ValueError("medication_reminder: window_minutes must be > 0 and lookback_hours >= the catch-up limit")
    look_start, due_end = now - lookback, now + window

    counts = dict(orders_considered=0, orders_eligible=0, doses_due=0, reminders_queued=0,
                  reminders_already_sent=0, late_reminders_queued=0, doses_already_confirmed=0, prn_skipped=0,
                  deceased_skipped=0, opted_out_skipped=0, no_schedule_skipped=0, reminders_missed=0,
                  missed_notices_queued=0)
    eligible: list[dict[str, Any]] = []
    for order in store.active_orders(db):
        counts["orders_considered"] += 1
        if order["deceased"] or order["schedule_status"] == "deceased":
            counts["deceased_skipped"] += 1
        elif order["schedule_status"] == "prn":
            counts["prn_skipped"] += 1
        elif order["schedule_status"] != "scheduled" or not order_plan(order, settings).steps:
            counts["no_schedule_skipped"] += 1
        elif order["reminders_opt_out"]:
            counts["opted_out_skipped"] += 1
        else:
            eligible.append(order)
    counts["orders_eligible"] = len(eligible)

    logged = store.dose_log_between(db, iso(look_start), iso(due_end))
    to_remind: list[tuple[dict[str, Any], Dose, bool]] = []   # (order, dose, late)
    past: list[tuple[dict[str, Any], datetime]] = []
    for order in eligible:
        for dose in order_doses(order, settings, look_start, due_end):
            instant = dose.at
            if (order["id"], iso(instant)) in logged:
                if instant >= now - catch_up:
                    counts["doses_already_confirmed"] += 1
                continue
            if instant >= now:
                to_remind.append((order, dose, False))
            elif instant >= now - catch_up:
                to_remind.append((order, dose, True))
            elif instant >= known_since(order):
                past.append((order, instant))
            # else: the dose passed before the order was in the store; no reminder could have been sent

    reminded_before = store.existing_notification_keys(
        db, [outbox.dose_reminder_key(o["id"], i) for o, i in past])

    with transaction(db):
        for order, dose, late in to_remind:
            instant = dose.at
            counts["doses_due"] += 1
            local = instant.astimezone(order_zone(order, settings)).strftime("%H:%M")
            new = outbox.queue(
                db, kind="dose_reminder", key=outbox.dose_reminder_key(order["id"], instant), now=now,
                params={"order": order["id"], "local_time": local, "dose": dose_text(dose.dose, dose.unit)},
                patient_id=order["patient_id"],
                medication_request_id=order["id"], due_at=instant, run_id=ctx.run_id,
            )
            if new:
                counts["reminders_queued"] += 1
                counts["late_reminders_queued"] += int(late)
            else:
                counts["reminders_already_sent"] += 1
        for order, instant in past:
            if outbox.dose_reminder_key(order["id"], instant) in reminded_before:
                continue  # reminded in time; an unconfirmed dose is not a missed reminder
            if store.insert_dose_log(db, medication_request_id=order["id"], patient_id=order["patient_id"],
                                     dose_instant=iso(instant), status="reminder_missed", recorded_at=iso(now)):
                counts["reminders_missed"] += 1
            if outbox.queue(
                db, kind="reminder_missed", key=outbox.reminder_missed_key(order["id"], instant), now=now,
                params={"patient": order["pseudonym"], "order": order["id"], "catch_up_minutes": catch_up_minutes},
                patient_id=order["patient_id"], medication_request_id=order["id"], due_at=instant,
                run_id=ctx.run_id,
            ):
                counts["missed_notices_queued"] += 1
    counts["window_minutes"] = int(window.total_seconds() // 60)
    return counts

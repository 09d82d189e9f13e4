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
- The patient's reminder preferences (``clinical.preferences``): a reminder goes out ``lead_minutes`` before
  its dose; one falling in the patient's quiet hours is held until they end (its notification is due then),
  unless the order is time-critical; one held past the catch-up limit is not sent (the dose then follows
  the reminder-missed rule). The preferred channel is applied at delivery. Summary ``preferences`` counts
  what each preference changed: patients_with_preferences, opted_out_orders, lead_time_applied,
  quiet_hours_held, quiet_hours_not_held_critical, held_past_catch_up, channel ({name: reminders}).
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from medjobs_tui.clinical.dosing import (
    Dose, DosePlan, WindowDoses, daily_plan, dose_text, parse_clock_time, plan_doses,
)
from medjobs_tui.clinical.preferences import ReminderPreferences, ReminderTiming, reminder_timing, too_late
from medjobs_tui.clock import iso, parse_iso
from medjobs_tui.config import Settings
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.notify import outbox
from medjobs_tui.store import clinical as store
from medjobs_tui.store import preferences as store_prefs
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
        return _stored_plan(order["dose_plan"])
    return _legacy_plan(tuple(order_times(order, settings)), order.get("bounds_start"), order.get("authored_on"),
                        order.get("bounds_end"), order.get("dose_quantity"), order.get("dose_unit"))


# Plans are immutable and a function of the row's text: read once per distinct text (most orders share a plan's
# text or a legacy row's times, bounds and dose), so every job reads 25,000 orders' plans in a few thousand reads.
@functools.lru_cache(maxsize=1 << 14)
def _stored_plan(text: str) -> DosePlan:
    try:
        return DosePlan.from_json(text)
    except ValueError:
        return DosePlan()


@functools.lru_cache(maxsize=1 << 14)
def _legacy_plan(times: tuple[str, ...], bounds_start: str | None, authored_on: str | None, bounds_end: str | None,
                 dose: float | None, dose_unit: str | None) -> DosePlan:
    first, last = order_bounds({"bounds_start": bounds_start, "authored_on": authored_on, "bounds_end": bounds_end})
    return daily_plan(list(times), start=first, end=last, dose=dose, dose_unit=dose_unit)


def order_doses(order: dict[str, Any], settings: Settings, start: datetime, end: datetime,
                plan: DosePlan | None = None, shared: WindowDoses | None = None) -> list[Dose]:
    """The doses (instant, dose, unit, step) of an order in [start, end), from ``order_plan`` (or ``plan``, the
    caller's reading of it). ``shared``: the caller's ``WindowDoses`` for many orders over the same windows (the
    same doses, each daily pattern's computed once)."""
    if start >= end:
        return []
    plan = plan if plan is not None else order_plan(order, settings)
    zone = order_zone(order, settings)
    return shared.doses(plan, zone, start, end) if shared is not None else plan_doses(plan, zone, start, end)


def order_dose_instants(order: dict[str, Any], settings: Settings, start: datetime, end: datetime,
                        plan: DosePlan | None = None) -> list[datetime]:
    """UTC dose instants of an order in [start, end), within the order's bounds (``plan`` as in order_doses)."""
    return [d.at for d in order_doses(order, settings, start, end, plan)]


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
    plans: dict[int, DosePlan] = {}          # order id -> its plan, read once
    for order in store.active_orders(db, store.ORDER_PLAN_COLUMNS):
        counts["orders_considered"] += 1
        if order["deceased"] or order["schedule_status"] == "deceased":
            counts["deceased_skipped"] += 1
        elif order["schedule_status"] == "prn":
            counts["prn_skipped"] += 1
        elif order["schedule_status"] != "scheduled" or not plans.setdefault(order["id"],
                                                                            order_plan(order, settings)).steps:
            counts["no_schedule_skipped"] += 1
        elif order["reminders_opt_out"]:
            counts["opted_out_skipped"] += 1
        else:
            eligible.append(order)
    counts["orders_eligible"] = len(eligible)

    prefs_rows = store_prefs.preferences_of(db, {o["patient_id"] for o in eligible})
    prefs_of = {pid: preferences_from_row(row) for pid, row in prefs_rows.items()}
    lead_max = timedelta(minutes=max([p.lead_minutes for p in prefs_of.values()] + [0]))
    logged = store.dose_log_between(db, iso(look_start), iso(due_end + lead_max))
    to_remind: list[tuple[dict[str, Any], Dose, bool, ReminderTiming]] = []   # (order, dose, late, timing)
    past: list[tuple[dict[str, Any], datetime]] = []
    effects = dict(patients_with_preferences=len(prefs_of), opted_out_orders=counts["opted_out_skipped"],
                   lead_time_applied=0, quiet_hours_held=0, quiet_hours_not_held_critical=0,
                   held_past_catch_up=0, channel={})
    shared = WindowDoses()                    # each daily pattern's doses in the window, computed once
    texts: dict[datetime, str] = {}           # dose instant -> its UTC text (the dose log's key), made once
    for index, order in enumerate(eligible, start=1):
        ctx.progress(index, len(eligible))        # eligible orders looked at, for the dashboard's bar
        prefs = prefs_of.get(order["patient_id"], NO_PREFERENCES)
        zone = order_zone(order, settings)
        critical = bool(order.get("time_critical"))
        for dose in order_doses(order, settings, look_start, due_end + timedelta(minutes=prefs.lead_minutes),
                                plans[order["id"]], shared):
            instant = dose.at
            text = texts.get(instant)
            if text is None:
                text = texts[instant] = iso(instant)
            if (order["id"], text) in logged:
                if now - catch_up <= instant < due_end:
                    counts["doses_already_confirmed"] += 1
                continue
            timing = reminder_timing(instant, prefs, zone, critical)
            if too_late(timing, instant, catch_up):
                # held by quiet hours past the catch-up limit: never sent (double-dose risk); once the dose
                # is past that limit it takes the reminder-missed path below and staff are told
                if now <= instant < due_end:
                    effects["held_past_catch_up"] += 1
                if instant < now - catch_up and instant >= known_since(order):
                    past.append((order, instant))
                continue
            if now <= timing.send_at < due_end:
                to_remind.append((order, dose, False, timing))
            elif timing.send_at < now and instant >= now - catch_up:
                to_remind.append((order, dose, True, timing))
            elif instant < now - catch_up and instant >= known_since(order):
                past.append((order, instant))
            # else: its reminder is due after this window (a later run sends it), or the dose passed before
            # the order was in the store (no reminder could have been sent)

    reminded_before = store.existing_notification_keys(
        db, [outbox.dose_reminder_key(o["id"], i) for o, i in past])

    with transaction(db):
        for order, dose, late, timing in to_remind:
            instant = dose.at
            counts["doses_due"] += 1
            local = instant.astimezone(order_zone(order, settings)).strftime("%H:%M")
            new = outbox.queue(
                db, kind="dose_reminder", key=outbox.dose_reminder_key(order["id"], instant), now=now,
                params={"order": order["id"], "local_time": local, "dose": dose_text(dose.dose, dose.unit)},
                patient_id=order["patient_id"], medication_request_id=order["id"],
                due_at=instant if late and not timing.held else timing.send_at, run_id=ctx.run_id,
            )
            if new:
                counts["reminders_queued"] += 1
                counts["late_reminders_queued"] += int(late)
                effects["lead_time_applied"] += int(timing.lead_applied)
                effects["quiet_hours_held"] += int(timing.held)
                effects["quiet_hours_not_held_critical"] += int(timing.critical_not_held)
                channel = prefs_of.get(order["patient_id"], NO_PREFERENCES).channel
                if channel:
                    effects["channel"][channel] = effects["channel"].get(channel, 0) + 1
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
    counts["preferences"] = effects
    return counts


NO_PREFERENCES = ReminderPreferences()


def preferences_from_row(row: dict[str, Any] | None) -> ReminderPreferences:
    """A ``patient_preferences`` row as ReminderPreferences (opt-out is the patients table's; an unreadable
    time leaves the quiet hours off)."""
    if not row:
        return NO_PREFERENCES
    try:
        start = parse_clock_time(row["quiet_start"]) if row.get("quiet_start") else None
        end = parse_clock_time(row["quiet_end"]) if row.get("quiet_end") else None
    except ValueError:
        start = end = None
    return ReminderPreferences(channel=row.get("channel"), lead_minutes=int(row.get("lead_minutes") or 0),
                               quiet_start=start, quiet_end=end)

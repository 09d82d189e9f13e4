"""Dose confirmation rules: which dose-log entry stands. Pure, no I/O.

A dose of an order is identified by its scheduled instant (UTC). Entries about it come from people
(a confirmation: the dose was ``taken``, ``skipped`` or ``refused``) and from the system (the reminder
job's ``reminder_missed``, a ``missed`` dose). Every entry that stands is kept in the dose's history
(the store's ``dose_log_history``); this module only decides which one is the dose's status now. The
dose log is keyed by the scheduled instant, so adherence (the analytics roll-up, which selects doses by
their instants within the patient's local day) credits a dose to the day it was due, never the day it
was confirmed.

Sources: ../shared/DOMAIN.md "Real-world failures of reminder systems" (a dose confirmed after midnight
must not count against the next day) and "Adherence (PQA)" (dose-level adherence = doses taken / doses
scheduled, per patient, medication and day); issue 7 item 4 (a confirmation always wins over
``reminder_missed``, the earlier entry stays in the history).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from medjobs_tui.clinical.refusal import Refusal

CONFIRMATIONS = ("taken", "skipped", "refused")
"""What a person records about a dose: taken (the patient took it), skipped (not given, e.g. held on a
clinician's instruction), refused (the patient declined it)."""

SYSTEM_STATUSES = ("reminder_missed", "missed")
"""What the system records about a dose nobody confirmed."""

STATUSES = CONFIRMATIONS + SYSTEM_STATUSES


def entry_stands(current: str | None, incoming: str) -> bool:
    """True when ``incoming`` becomes the dose's status given its ``current`` status (None: no entry yet).

    - The first entry of a dose always stands.
    - A confirmation always stands: over a system entry (the person knows what happened; a reminder job
      that gave up on the dose does not), and over an earlier confirmation (a correction: "skipped" was
      recorded, then the patient is found to have taken it). The earlier entry stays in the history.
    - A system entry never replaces anything: not a confirmation, and not an earlier system entry (the
      first "reminder missed" is the one staff were told about).

    Raises ValueError for a status that is not one of STATUSES.
    """
    for status in (incoming, current):
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown dose status {status!r}; allowed: {', '.join(STATUSES)}")
    if current is None:
        return True
    return incoming in CONFIRMATIONS



ORDER_STATUSES = ("active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown")
"""FHIR R4 MedicationRequest.status codes (hl7.org/fhir/R4/valueset-medicationrequest-status.html)."""


def order_confirmation_refused(order_id: int, dose_instant: datetime, *, status: str | None, not_to_give: bool,
                               inactive_since: datetime | None = None, deceased: bool = False,
                               deceased_at: datetime | None = None) -> Refusal | None:
    """Why no confirmation (taken, skipped or refused) of the dose of order ``order_id`` due at ``dose_instant`` may
    be recorded, or None when it may. One rule for every confirmation and every caller
    (``console.Console.record_dose``: the CLI's ``medjobs dose taken|skipped|refused`` and the Doses tab's ``d``).

    ``status``: the order's MedicationRequest.status; ``not_to_give``: the request is no order to give the
    medication (``doNotPerform`` or an intent that is no order: ``fhir.mapping.not_to_give``); ``inactive_since``:
    when the order stopped being active (aware; None: unknown, as for an order imported already inactive);
    ``deceased`` / ``deceased_at``: the patient is deceased, and when (aware; None: at an unknown instant).
    Checked in this order (the first that applies is said):
    - An order not to give: nothing of it is given, skipped or refused under it (FHIR R4 MedicationRequest.doNotPerform
      is a modifier element; request-intent: only an order authorises giving).
    - A deceased patient: a dose due at or after the death instant was never due; with no known instant, every
      confirmation is refused (none can be placed before it): ``deceased_refused``, the rule supply counts apply too.
      Source: FHIR R4 Patient.deceased[x].
    - An order whose status is not ``active`` (stopped, on-hold, completed, cancelled, entered-in-error, draft,
      unknown): a dose due before it stopped (``inactive_since``) was due under it and may be documented late
      (``documented_after_stop``); one due at or after it, or any when the instant is unknown, is refused (FHIR R4
      MedicationRequest.status; ISMP: a discontinued or held order is not administered).
    The text names the order number and the reason only: never the patient, the medication or the instants (a date
    of death is an identifier). A status outside FHIR's codes is said as "not active", never repeated. Returns a
    ``Refusal`` (its ``reason``: ``order not to give``, ``patient deceased`` or ``order not active``, for the audit
    trail) or None. Raises ValueError for a naive datetime.
    """
    for at in (dose_instant, inactive_since, deceased_at):
        if at is not None and at.tzinfo is None:
            raise ValueError("order_confirmation_refused: give aware datetimes")
    if not_to_give:
        return Refusal(f"order {order_id} is an order not to give it (doNotPerform, or an intent that is no order): "
                       "a dose of it cannot be recorded", "order not to give")
    died = deceased_refused(order_id, dose_instant, deceased=deceased, deceased_at=deceased_at)
    if died is not None:
        return died
    if status != "active":
        said = status if status in ORDER_STATUSES else "not active"
        if inactive_since is None:
            return Refusal(f"order {order_id} is {said}, not active, since an instant not known: a dose of it cannot "
                           "be recorded", "order not active")
        if dose_instant >= inactive_since:
            return Refusal(f"order {order_id} is {said}, not active, since before this dose was due: it cannot be "
                           "recorded", "order not active")
    return None


def deceased_refused(order_id: int, at: datetime, *, deceased: bool, deceased_at: datetime | None,
                     entry: str = "dose") -> Refusal | None:
    """Why no entry about order ``order_id``'s patient at instant ``at`` (aware) may be recorded because the patient is
    deceased, or None: the patient is deceased (``deceased``) and ``at`` is at or after the instant of death
    (``deceased_at``, aware), or that instant is not known (None: no entry can be placed before it). The one rule of
    every entry about a living patient's medication: a dose's confirmation (``entry="dose"``, ``at`` its scheduled
    instant: ``order_confirmation_refused``) and a staff supply count (``entry="count"``, ``at`` when it was counted:
    ``console.Console.record_supply_count``). Returns a Refusal (category ``patient deceased``) naming the order
    number only, never the instant (a date of death is an identifier). Raises nothing.
    Source: FHIR R4 Patient.deceased[x]; a deceased patient takes no dose and holds no supply to monitor."""
    if not deceased or (deceased_at is not None and at < deceased_at):
        return None
    when = "" if deceased_at is None else (" before this dose was due" if entry == "dose" else " before this count")
    what = "a dose of it cannot be recorded" if entry == "dose" else "no supply count of it is kept"
    return Refusal(f"order {order_id}: the patient is recorded deceased{when}: {what}"
                   + ("" if deceased_at is not None else " (the instant of death is not known)"), "patient deceased")


def documented_after_stop(status: str | None, dose_instant: datetime, inactive_since: datetime | None) -> bool:
    """Whether a confirmation ``order_confirmation_refused`` allows is late documentation of a dose due before its
    order stopped being active (the audit entry says so)."""
    return status != "active" and inactive_since is not None and dose_instant < inactive_since


EARLY_WINDOW = timedelta(hours=2)
"""How long before its scheduled instant a dose may be recorded ``taken``: 2 hours. Source: ISMP Acute Care
Guidelines for Timely Administration of Scheduled Medications (2011), the basis of CMS's revised 42 CFR
482.23(c) guidance: non-time-critical scheduled medications are given within 1 hour (more often than daily)
or 2 hours (daily or less often) before or after the scheduled time; 2 hours is the widest such window. A dose
taken earlier than that is an early dose (a wrong-time event), recorded only when the person says so."""


def confirmation_refused(current: str | None, incoming: str, dose_instant: datetime, occurred_at: datetime, *,
                         early: bool = False) -> Refusal | None:
    """Why a person's ``incoming`` confirmation of a dose is refused (a ``Refusal``, its ``reason`` ``already
    recorded``, ``too early`` or ``entry stands``), or None when it may be recorded.

    ``current``: the dose's status now (None: no entry); ``dose_instant``: its scheduled instant and
    ``occurred_at``: when it happened (aware datetimes); ``early``: the person states the dose was really
    taken before the window.
    - The same confirmation again (``taken`` over ``taken``) changes nothing and is refused: a repeated key
      press or command must not record a dose twice. A different one is a correction and stands.
    - ``taken`` more than EARLY_WINDOW before the scheduled instant is refused unless ``early``: one key
      press hours ahead would otherwise cancel the patient's reminder for a dose not given.
    Raises ValueError for a status that is not one of STATUSES or a naive datetime.
    """
    if not entry_stands(current, incoming):
        return Refusal(f"a {current!r} entry of that dose stands", "entry stands")
    if dose_instant.tzinfo is None or occurred_at.tzinfo is None:
        raise ValueError("confirmation_refused: give aware datetimes")
    if current == incoming:
        return Refusal(f"already recorded {incoming}", "already recorded")
    if incoming == "taken" and not early and occurred_at < dose_instant - EARLY_WINDOW:
        return Refusal(f"a dose is recorded taken at most {EARLY_WINDOW.total_seconds() / 3600:g} h before it is due "
                       "(ISMP timely administration)", "too early")
    return None

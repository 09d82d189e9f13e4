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


def taken_refused_for_order(order_id: int, status: str | None, not_to_give: bool) -> str | None:
    """Why no dose of order ``order_id`` may be recorded ``taken`` now, or None when it may.

    ``status``: the order's MedicationRequest.status; ``not_to_give``: the request is no order to give the
    medication (``doNotPerform`` true or an intent that is no order: ``fhir.mapping.not_to_give``).
    - An order not to give: a dose recorded taken would document giving what the prescriber asked NOT be given
      (FHIR R4 MedicationRequest.doNotPerform is a modifier element; request-intent: only an order authorises it).
    - An order whose status is not ``active`` (stopped, on-hold, completed, cancelled, entered-in-error, draft,
      unknown): it is not in force, so a dose of it cannot be given under it (FHIR R4 MedicationRequest.status;
      ISMP: a discontinued or held order is not administered). A status outside FHIR's codes is said as "not
      active", never repeated (it came from the input).
    The text names the order number and the reason only: never the patient or the medication. Whoever calls it
    (``console.Console.record_dose``: the CLI's ``medjobs dose taken`` and the Doses tab's ``d`` alike) refuses
    before anything is written.
    """
    if not_to_give:
        return (f"order {order_id} is an order not to give it (doNotPerform, or an intent that is no order): "
                "a dose of it cannot be recorded taken")
    if status != "active":
        said = status if status in ORDER_STATUSES else "not active"
        return f"order {order_id} is {said}, not active: a dose of it cannot be recorded taken"
    return None


EARLY_WINDOW = timedelta(hours=2)
"""How long before its scheduled instant a dose may be recorded ``taken``: 2 hours. Source: ISMP Acute Care
Guidelines for Timely Administration of Scheduled Medications (2011), the basis of CMS's revised 42 CFR
482.23(c) guidance: non-time-critical scheduled medications are given within 1 hour (more often than daily)
or 2 hours (daily or less often) before or after the scheduled time; 2 hours is the widest such window. A dose
taken earlier than that is an early dose (a wrong-time event), recorded only when the person says so."""


def confirmation_refused(current: str | None, incoming: str, dose_instant: datetime, occurred_at: datetime, *,
                         early: bool = False) -> str | None:
    """Why a person's ``incoming`` confirmation of a dose is refused, or None when it may be recorded.

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
        return f"a {current!r} entry of that dose stands"
    if dose_instant.tzinfo is None or occurred_at.tzinfo is None:
        raise ValueError("confirmation_refused: give aware datetimes")
    if current == incoming:
        return f"already recorded {incoming}"
    if incoming == "taken" and not early and occurred_at < dose_instant - EARLY_WINDOW:
        return (f"a dose is recorded taken at most {EARLY_WINDOW.total_seconds() / 3600:g} h before it is due "
                "(ISMP timely administration)")
    return None

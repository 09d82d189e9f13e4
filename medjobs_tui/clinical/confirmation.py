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


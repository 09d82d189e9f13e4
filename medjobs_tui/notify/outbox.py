"""The notification outbox as the job handlers use it: idempotency keys, message templates, queueing.

A notification is queued once per idempotency key (``INSERT OR IGNORE`` on the outbox's UNIQUE key), so a
retried, recovered or repeated run never notifies twice. Keys are built here and only here:

- ``dose_reminder:<order id>:<dose instant UTC ISO>``      one per dose
- ``reminder_missed:<order id>:<dose instant UTC ISO>``    one per dose past the catch-up limit
- ``refill_due:<order id>:fill<n>`` / ``renewal_needed:<order id>:fill<n>``   one per order and fill
- ``interaction_alert:<alert id>``                         one per interaction alert row
- ``supply_critical:<order id>:<clinic-local YYYY-MM-DD>`` one per order and day
- ``run_dead:<run id>:attempt<n>``                          one per run and final attempt (engine alerts)
- ``ops_alert:<code>:<scope>``                             one per operational alert and scope (``alerts.queue_alert``)
- ``alert_opened:<alert id>`` / ``alert_resolved:<alert id>``  one notice per alert row and change (``alerts.raise_alert``)

Messages are fixed templates filled with pseudonyms (P-00012), order numbers, clock times and counts:
never names, birth dates, contact details or free text (``render`` refuses a ``patient`` value that is not a
pseudonym). ``notify.delivery`` sends the rows: the in-app inbox always, and the channels of the audience.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING


from medjobs_tui.clock import iso
from medjobs_tui.store import outbox as store_outbox

if TYPE_CHECKING:  # the store's connection type; only store/ talks to SQLite
    import sqlite_utils


@dataclass(frozen=True)
class Template:
    """A message template: its kind, default audience and text with ``{placeholders}``."""

    kind: str
    audience: str
    text: str


TEMPLATES: dict[str, Template] = {t.kind: t for t in (
    Template("dose_reminder", "patient",
             "Reminder: your scheduled medication dose (order #{order}, {dose}) is due at {local_time} local time."),
    Template("reminder_missed", "staff",
             "{patient}: a scheduled dose of order #{order} passed the {catch_up_minutes}-minute catch-up limit "
             "with no reminder sent and no confirmation. The patient was not reminded (double-dose risk); "
             "please follow up."),
    Template("refill_due", "patient",
             "Your medication (order #{order}) is due for a refill: about {days_remaining} day(s) of supply left, "
             "{refills_left} refill(s) left on the prescription."),
    Template("renewal_needed", "prescriber",
             "{patient}: order #{order} is due for a refill ({days_remaining} day(s) of supply left) and has no "
             "fills left. Please review and renew."),
    Template("interaction_alert", "staff",
             "{patient}: {severity} interaction ({rule_id}: {rule_name}) between orders #{object_order} and "
             "#{precipitant_order}. Review the medication list."),
    Template("job_failed", "staff",
             "Job {job} failed: run {run_id} is dead after its last attempt. Review it and retry."),
    Template("ops_alert", "staff",
             "MedJobs alert {code}: {count} item(s) in {area} need attention. Open MedJobs to review."),
    Template("alert_opened", "staff",
             "MedJobs alert {alert} ({severity}): {summary}. Open MedJobs (Alerts) to acknowledge it."),
    Template("alert_resolved", "staff",
             "MedJobs alert {alert} resolved: {reason}."),
    Template("supply_critical", "staff",
             "{patient}: order #{order} has {days_remaining} day(s) of supply left (critical at <= "
             "{threshold_days} day(s))."),
)}
"""Every kind of notification the handlers write, with its default audience."""

_PLACEHOLDER = re.compile(r"{(\w+)}")
PSEUDONYM = re.compile(r"^P-\d{1,12}$")
"""What a ``patient`` parameter must look like: a pseudonym such as ``P-00012``, never a name."""
_SAFE_TEXT = re.compile(r"^[\w .:+()/'-]{0,120}$")


def render(kind: str, **params: object) -> str:
    """The message of ``kind`` filled with ``params``.

    Values must be ints, floats or short plain strings (pseudonyms, rule ids, times); every placeholder
    must be given and no others. Raises KeyError for an unknown kind, ValueError for a missing, extra or
    unsafe value (the error names the parameter, never its value).
    """
    template = TEMPLATES.get(kind)
    if template is None:
        raise KeyError(f"no notification template {kind!r}; known: {', '.join(sorted(TEMPLATES))}")
    wanted = set(_PLACEHOLDER.findall(template.text))
    if set(params) != wanted:
        raise ValueError(f"{kind}: parameters must be exactly {sorted(wanted)}, got {sorted(params)}")
    for name, value in params.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"{kind}: parameter {name} must be a number or short text")
        if isinstance(value, str) and not _SAFE_TEXT.match(value):
            raise ValueError(f"{kind}: parameter {name} is not a short plain value")
        if name == "patient" and not (isinstance(value, str) and PSEUDONYM.match(value)):
            raise ValueError(f"{kind}: parameter patient must be a pseudonym like P-00012")
    return template.text.format(**params)


def dose_reminder_key(order_id: int, dose_instant: datetime) -> str:
    """``dose_reminder:<order id>:<UTC ISO instant>``: one reminder per dose, whatever the run."""
    return f"dose_reminder:{order_id}:{iso(dose_instant)}"


def reminder_missed_key(order_id: int, dose_instant: datetime) -> str:
    """``reminder_missed:<order id>:<UTC ISO instant>``: one staff notice per dose past the catch-up limit."""
    return f"reminder_missed:{order_id}:{iso(dose_instant)}"


def refill_key(kind: str, order_id: int, fills_used: int) -> str:
    """``refill_due|renewal_needed:<order id>:fill<n>``: one notice per order and fill, not per day."""
    if kind not in ("refill_due", "renewal_needed"):
        raise ValueError(f"refill_key: kind must be refill_due or renewal_needed, got {kind!r}")
    return f"{kind}:{order_id}:fill{fills_used}"


def interaction_alert_key(alert_id: int) -> str:
    """``interaction_alert:<alert id>``: one staff notice per alert row."""
    return f"interaction_alert:{alert_id}"


def supply_critical_key(order_id: int, local_day: str) -> str:
    """``supply_critical:<order id>:<YYYY-MM-DD>``: one staff notice per order and clinic-local day."""
    return f"supply_critical:{order_id}:{local_day}"


def queue(db: sqlite_utils.Database, *, kind: str, key: str, now: datetime, params: dict[str, object],
          patient_id: int | None = None, medication_request_id: int | None = None,
          due_at: datetime | None = None, run_id: int | None = None, audience: str | None = None) -> bool:
    """Queue a notification of ``kind`` under idempotency ``key``; True if new, False if the key exists.

    ``now`` (aware UTC) is the run's logical instant (created_at); ``due_at`` defaults to ``now``; the
    audience defaults to the template's. Writes in the caller's transaction. Errors as ``render``.
    """
    message = render(kind, **params)
    return store_outbox.insert_once(
        db, idempotency_key=key, kind=kind, audience=audience or TEMPLATES[kind].audience, message=message,
        created_at=iso(now), patient_id=patient_id, medication_request_id=medication_request_id,
        due_at=iso(due_at or now), run_id=run_id,
    )
